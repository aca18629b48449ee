//! Special sections, negative cases: keys owned by a module, an unknown
//! special section, and an `sh_entsize` the relocations contradict. Each
//! must be a clear refusal naming the place; a module-owned tracepoint key
//! is dropped with a warning instead. And `inspect --special` on an
//! output whose entries are relocated partly by klp relocations.

mod support;

use klpwrite::changes;
use klpwrite::elf::Elf;
use klpwrite::elf::consts::*;
use klpwrite::extract::{self, Extracted, Inputs, Options};
use klpwrite::symvers::Exports;
use klpwrite::target::Target;
use support::build::Obj;
use support::*;

const PC32: u32 = 2;
const PC64: u32 = 24;
const PLT32: u32 = 4;

/// `f`: call __fentry__; 5-byte nop (a jump-label site); call target; ret.
fn code() -> Vec<u8> {
    let mut c = vec![0xe8, 0, 0, 0, 0];
    c.extend([0x0f, 0x1f, 0x44, 0x00, 0x00]);
    c.extend([0xe8, 0, 0, 0, 0]);
    c.push(0xc3);
    c
}

fn base() -> Obj {
    let mut o = Obj::default();
    o.file("m.c").func("f", true, &code()).undef("__fentry__");
    o.reloc(".text.f", 1, "__fentry__", PLT32, -4);
    o
}

fn run(dir: &std::path::Path, name: &str, o: &mut Obj) -> (Elf, klpwrite::Result<Extracted>) {
    let path = dir.join(format!("{name}.o")).display().to_string();
    let elf = o.finish(&path);
    let kallsyms = dir.join("kallsyms");
    std::fs::write(
        &kallsyms,
        "ffffffff81000000 T __fentry__\nffffffff81200000 D vmlinux_key\nffffffffc0000000 T f\t[mymod]\n",
    )
    .unwrap();
    let symvers = "0x1\t__fentry__\tvmlinux\tEXPORT_SYMBOL\n0x2\tother_key\tdrivers/x/othermod\tEXPORT_SYMBOL\n0x3\t__SCK__other_call\tdrivers/x/othermod\tEXPORT_SYMBOL\n0x4\t__tracepoint_other_event\tdrivers/x/othermod\tEXPORT_SYMBOL\n";
    let exports = Exports::parse("Module.symvers", symvers).unwrap();
    let mut target = Target::default();
    target
        .add_source(&kallsyms.display().to_string(), "mymod")
        .unwrap();
    let list = changes::parse("l", "f").unwrap();
    let r = {
        let inputs = Inputs {
            patched: &elf,
            orig: None,
            changes: &list,
            target: &target,
            exports: &exports,
            have_symvers: true,
        };
        extract::run(
            &inputs,
            &Options {
                objname: "mymod".into(),
                ..Default::default()
            },
        )
    };
    (elf, r)
}

#[test]
fn baseline_without_special_sections_works() {
    let d = scratch("special-base");
    let (_, r) = run(&d, "base", &mut base());
    r.unwrap();
}

#[test]
fn static_key_owned_by_a_module_is_refused() {
    let d = scratch("special-key");
    let mut o = base();
    o.undef("other_key");
    o.section("__jump_table", SHF_ALLOC | SHF_WRITE, &[0; 16], 0);
    o.reloc("__jump_table", 0, ".text.f", PC32, 5)
        .reloc("__jump_table", 4, ".text.f", PC32, 10 + 4)
        .reloc("__jump_table", 8, "other_key", PC64, 8 + 1);
    let (_, r) = run(&d, "key", &mut o);
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("unsupported static branch key other_key")
            && e.contains("othermod")
            && e.contains("f+0x5"),
        "{e}"
    );
    assert!(e.contains("static_key_enabled"), "{e}");
}

#[test]
fn tracepoint_key_owned_by_a_module_is_dropped() {
    let d = scratch("special-tp");
    let mut o = base();
    o.undef("__tracepoint_other_event");
    o.section("__jump_table", SHF_ALLOC | SHF_WRITE, &[0; 16], 0);
    o.reloc("__jump_table", 0, ".text.f", PC32, 5)
        .reloc("__jump_table", 4, ".text.f", PC32, 14)
        .reloc("__jump_table", 8, "__tracepoint_other_event", PC64, 16);
    let (_, r) = run(&d, "tp", &mut o);
    let ex = r.unwrap();
    assert!(
        ex.warnings
            .iter()
            .any(|w| w.contains("disabling static branch on __tracepoint_other_event")),
        "{:?}",
        ex.warnings
    );
    assert!(
        !ex.out.sections.iter().any(|s| s.name == b"__jump_table"),
        "the dropped entry leaves no __jump_table"
    );
}

/// A key in vmlinux that is not exported: the patch's `__jump_table` entry
/// keeps its code and target relocations in `.rela__jump_table` and gets
/// its key relocation in `.klp.rela.vmlinux.__jump_table`. `inspect
/// --special` decodes the entry from both.
#[test]
fn inspect_special_reads_klp_relocations() {
    let d = scratch("special-klp-key");
    let mut o = base();
    o.undef("vmlinux_key");
    o.section("__jump_table", SHF_ALLOC | SHF_WRITE, &[0; 16], 0);
    o.reloc("__jump_table", 0, ".text.f", PC32, 5)
        .reloc("__jump_table", 4, ".text.f", PC32, 10 + 4)
        .reloc("__jump_table", 8, "vmlinux_key", PC64, 8 + 1);
    let (_, r) = run(&d, "klp-key", &mut o);
    let ex = r.unwrap();
    let out = d.join("klp-key.klp.o");
    std::fs::write(&out, klpwrite::write::to_bytes(&ex.out).unwrap()).unwrap();
    let elf = reload(&out);
    assert!(
        elf.sections
            .iter()
            .any(|s| s.name == b".klp.rela.vmlinux.__jump_table"),
        "the key must be a klp relocation"
    );
    let o = klpwrite(&["inspect", "--special", &out.display().to_string()]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("key=.klp.sym.vmlinux.vmlinux_key,0"),
        "{text}"
    );
    settings().bind(|| insta::assert_snapshot!("special__klp_key", text));
}

#[test]
fn static_call_key_owned_by_a_module_is_refused() {
    let d = scratch("special-sc");
    let mut o = base();
    o.undef("__SCK__other_call");
    o.section(".static_call_sites", SHF_ALLOC | SHF_WRITE, &[0; 8], 0);
    o.reloc(".static_call_sites", 0, ".text.f", PC32, 10).reloc(
        ".static_call_sites",
        4,
        "__SCK__other_call",
        PC32,
        4,
    );
    let (_, r) = run(&d, "sc", &mut o);
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("unsupported static call key __SCK__other_call") && e.contains("othermod"),
        "{e}"
    );
}

#[test]
fn unknown_special_section_is_refused() {
    let d = scratch("special-unknown");
    let mut o = base();
    o.section(".my_site_table", SHF_ALLOC, &[0; 4], 0);
    o.reloc(".my_site_table", 0, ".text.f", PC32, 5);
    let (_, r) = run(&d, "unknown", &mut o);
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("unknown special section .my_site_table") && e.contains("f+0x5"),
        "{e}"
    );
}

#[test]
fn sh_entsize_contradicting_relocations_is_refused() {
    let d = scratch("special-entsize");
    let mut o = base();
    o.section(
        ".altinstr_replacement",
        SHF_ALLOC | SHF_EXECINSTR,
        &[0x90; 10],
        0,
    );
    // Two 12-byte alt_instr entries, but sh_entsize claims 13.
    let mut alt = vec![0u8; 24];
    alt[10] = 5;
    alt[11] = 5;
    alt[22] = 5;
    alt[23] = 5;
    o.section(".altinstructions", SHF_ALLOC, &alt, 13);
    o.reloc(".altinstructions", 0, ".text.f", PC32, 5)
        .reloc(".altinstructions", 4, ".altinstr_replacement", PC32, 0)
        .reloc(".altinstructions", 12, ".text.f", PC32, 5)
        .reloc(".altinstructions", 16, ".altinstr_replacement", PC32, 5);
    let (_, r) = run(&d, "entsize", &mut o);
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains(".altinstructions: sh_entsize 13 contradicts the relocations"),
        "{e}"
    );
    // Without the lie, the same entries are kept with their replacements.
    let mut o2 = base();
    o2.section(
        ".altinstr_replacement",
        SHF_ALLOC | SHF_EXECINSTR,
        &[0x90; 10],
        0,
    );
    o2.section(".altinstructions", SHF_ALLOC, &alt, 0);
    o2.reloc(".altinstructions", 0, ".text.f", PC32, 5)
        .reloc(".altinstructions", 4, ".altinstr_replacement", PC32, 0)
        .reloc(".altinstructions", 12, ".text.f", PC32, 5)
        .reloc(".altinstructions", 16, ".altinstr_replacement", PC32, 5);
    let (_, r) = run(&d, "entsize-ok", &mut o2);
    let ex = r.unwrap();
    let alt_out = ex
        .out
        .sections
        .iter()
        .find(|s| s.name == b".altinstructions")
        .unwrap();
    assert_eq!(alt_out.size(), 24);
    let repl = ex
        .out
        .sections
        .iter()
        .find(|s| s.name == b".altinstr_replacement")
        .unwrap();
    assert_eq!(repl.size(), 10);
}

#[test]
fn duplicate_special_section_names_are_refused() {
    let d = scratch("special-dup");
    let mut o = base();
    o.section(".smp_locks", SHF_ALLOC, &[0; 4], 0);
    o.section(".smp_locks", SHF_ALLOC, &[0; 4], 0);
    let (_, r) = run(&d, "dup", &mut o);
    let e = r.unwrap_err().to_string();
    assert!(e.contains("are both named .smp_locks"), "{e}");
}

#[test]
fn unnamed_allocated_section_is_refused() {
    let d = scratch("special-noname");
    let mut o = base();
    o.section("", SHF_ALLOC, &[0; 4], 0);
    let (_, r) = run(&d, "noname", &mut o);
    let e = r.unwrap_err().to_string();
    assert!(e.contains("an allocated section without a name"), "{e}");
}
