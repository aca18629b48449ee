//! `klpwrite verify`: every invariant can fire. Each test starts from a
//! clean extract of the embedded example (`examples/data/cmdline`), breaks
//! one thing in the output model the way a bug in extract would, and checks
//! that verify names the invariant, the place and the problem; the clean
//! output passes with every check enabled. The CLI and the refusal message
//! are checked at the end.

mod support;

use klpwrite::changes;
use klpwrite::elf::Elf;
use klpwrite::elf::consts::*;
use klpwrite::elf::load::{Expect, load, load_file};
use klpwrite::extract::{self, Inputs, Options};
use klpwrite::output::{OutData, OutObject, OutReloc, OutSection, OutSymbol, Place};
use klpwrite::symvers::Exports;
use klpwrite::target::Target;
use klpwrite::verify::{self, Context, Report};
use klpwrite::write;
use support::*;

struct Base {
    patched: Elf,
    orig: Elf,
    target: Target,
    exports: Exports,
    out: OutObject,
}

fn ex(name: &str) -> String {
    root()
        .join("examples/data/cmdline")
        .join(name)
        .display()
        .to_string()
}

fn base() -> Base {
    base_from(
        &root().join("examples/data/cmdline"),
        ("cmdline.patched.o", "cmdline.o", "vmlinux.syms"),
        "cmdline_proc_show",
    )
}

/// A case's inputs (`patched`, `orig`, the vmlinux symbol source, and the
/// directory's Module.symvers) and extract's output for `list`, with
/// `--orig`.
fn base_from(dir: &std::path::Path, files: (&str, &str, &str), list: &str) -> Base {
    let Case {
        patched,
        orig,
        target,
        exports,
    } = load_case(dir, files);
    let out = extract_out(&patched, Some(&orig), &target, &exports, list);
    Base {
        patched,
        orig,
        target,
        exports,
        out,
    }
}

/// extract (vmlinux) of `list` from `patched`, with `--orig` when given.
fn extract_out(
    patched: &Elf,
    orig: Option<&Elf>,
    target: &Target,
    exports: &Exports,
    list: &str,
) -> OutObject {
    let list = changes::parse("list", list).unwrap();
    let twins = orig.map(|o| klpwrite::correlate::run(o, patched).unwrap());
    let inputs = Inputs {
        patched,
        orig: orig
            .zip(twins.as_ref())
            .map(|(elf, twins)| extract::Orig { elf, twins }),
        changes: &list,
        target,
        exports,
        have_symvers: true,
    };
    let opts = Options {
        objname: "vmlinux".into(),
        ..Default::default()
    };
    extract::run(&inputs, &opts).unwrap().out
}

impl Base {
    fn ctx(&self) -> Context<'_> {
        Context {
            patched: Some(&self.patched),
            orig: Some(&self.orig),
            twins: None,
            target: Some(&self.target),
            exports: Some(&self.exports),
            objname: None,
        }
    }

    fn verify_with(&self, out: &OutObject, ctx: &Context<'_>) -> Report {
        verify_out(out, ctx)
    }

    fn verify(&self, out: &OutObject) -> Report {
        self.verify_with(out, &self.ctx())
    }
}

fn sec(out: &OutObject, name: &str) -> usize {
    out.sections
        .iter()
        .position(|s| s.name == name.as_bytes())
        .unwrap_or_else(|| panic!("no section {name}"))
}

fn sym(out: &OutObject, name: &str) -> usize {
    out.symbols
        .iter()
        .position(|s| s.name == name.as_bytes())
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

fn relocs<'a>(out: &'a mut OutObject, name: &str) -> &'a mut Vec<OutReloc> {
    let s = sec(out, name);
    match &mut out.sections[s].data {
        OutData::Relocs { relocs, .. } => relocs,
        _ => panic!("{name} is not a relocation section"),
    }
}

fn bytes<'a>(out: &'a mut OutObject, name: &str) -> &'a mut Vec<u8> {
    let s = sec(out, name);
    match &mut out.sections[s].data {
        OutData::Bytes(b) => b,
        _ => panic!("{name} has no bytes"),
    }
}

const TEXT: &str = ".text.cmdline_proc_show";
const RELA: &str = ".rela.text.cmdline_proc_show";
const KLP_RELA: &str = ".klp.rela.vmlinux..text.cmdline_proc_show";
const KLP_SYM: &str = ".klp.sym.vmlinux.saved_command_line,0";

fn klp_symbol(out: &mut OutObject, name: &str) -> usize {
    out.add_symbol(OutSymbol {
        name: name.into(),
        st_info: STB_GLOBAL << 4,
        st_other: 0,
        place: Place::Livepatch,
        value: 0,
        size: 0,
    })
}

/// The findings of invariant `inv`, rendered; panics when there are none.
#[track_caller]
fn expect(rep: &Report, inv: &str, needles: &[&str]) -> String {
    let all: Vec<String> = rep.findings.iter().map(|f| f.to_string()).collect();
    let hits: Vec<&String> = rep
        .findings
        .iter()
        .zip(&all)
        .filter(|(f, _)| f.invariant == inv)
        .map(|(_, s)| s)
        .collect();
    assert!(!hits.is_empty(), "no {inv} finding; findings: {all:#?}");
    let text = hits
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for n in needles {
        assert!(text.contains(n), "{inv} findings lack {n:?}:\n{text}");
    }
    text
}

#[test]
fn clean_output_passes_every_check() {
    let b = base();
    let rep = b.verify(&b.out);
    assert!(rep.is_clean(), "{:#?}", rep.findings);
    for inv in [
        verify::INV_KLP_RELA_FLAGS,
        verify::INV_KLP_RELA_NAME,
        verify::INV_RELA_TARGET,
        verify::INV_KLP_SYMBOL_USE,
        verify::INV_KLP_SYM_NAME,
        verify::INV_KLP_CROSS_OBJECT,
        verify::INV_RELOC_SITE,
        verify::INV_UNDEF_EXPORT,
        verify::INV_SYMPOS,
        verify::INV_INIT,
        verify::INV_COPIED_AND_REFERENCED,
        verify::INV_PATCHED_FUNC_POINTER,
        verify::INV_PROVENANCE,
        verify::INV_SAME_DEST,
        verify::INV_TWIN_COPIED,
        verify::INV_KLP_TWIN_NAME,
        verify::INV_KLP_FUNC,
    ] {
        assert!(rep.ran.contains(&inv), "{inv} did not run: {:?}", rep.ran);
    }
}

#[test]
fn klp_rela_without_alloc() {
    let b = base();
    let mut out = b.out.clone();
    let s = sec(&out, KLP_RELA);
    out.sections[s].sh_flags &= !SHF_ALLOC;
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_RELA_FLAGS,
        &[KLP_RELA, "lack SHF_ALLOC"],
    );
}

#[test]
fn klp_rela_named_without_the_flag() {
    let b = base();
    let mut out = b.out.clone();
    let s = sec(&out, KLP_RELA);
    out.sections[s].sh_flags &= !SHF_RELA_LIVEPATCH;
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_RELA_FLAGS,
        &["lacks SHF_RELA_LIVEPATCH"],
    );
    // ... and its klp symbol is now used by a normal relocation section.
    expect(&rep, verify::INV_KLP_SYMBOL_USE, &["resolves it to 0"]);
}

#[test]
fn klp_rela_bad_object_name() {
    let b = base();
    let mut out = b.out.clone();
    let s = sec(&out, KLP_RELA);
    let long = "x".repeat(56);
    out.sections[s].name = format!(".klp.rela.{long}.text").into_bytes();
    let rep = b.verify(&out);
    expect(&rep, verify::INV_KLP_RELA_NAME, &["does not parse"]);
    out.sections[s].name = b".klp.rela..text.cmdline_proc_show".to_vec();
    let rep = b.verify(&out);
    expect(&rep, verify::INV_KLP_RELA_NAME, &["does not parse"]);
}

#[test]
fn klp_rela_targets_unallocated_section() {
    let b = base();
    let mut out = b.out.clone();
    let meta = sec(&out, ".klpwrite.patch");
    let s = sec(&out, KLP_RELA);
    if let OutData::Relocs { target, relocs } = &mut out.sections[s].data {
        *target = meta;
        relocs.iter_mut().for_each(|r| r.offset = 0);
    }
    let rep = b.verify(&out);
    expect(&rep, verify::INV_RELA_TARGET, &["module loader skips"]);
}

#[test]
fn klp_relocation_against_normal_symbol() {
    let b = base();
    let mut out = b.out.clone();
    let fentry = sym(&out, "__fentry__");
    relocs(&mut out, KLP_RELA)[0].symbol = fentry;
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_SYMBOL_USE,
        &["+0x14", "__fentry__", "not an SHN_LIVEPATCH symbol"],
    );
}

#[test]
fn normal_relocation_against_klp_symbol() {
    let b = base();
    let mut out = b.out.clone();
    let k = sym(&out, KLP_SYM);
    relocs(&mut out, RELA)[1].symbol = k;
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_SYMBOL_USE,
        &[".text.cmdline_proc_show+0x19", "resolves it to 0"],
    );
}

/// klp-build's `objtool klp post-link` leaves the relocations of its
/// `.klp.tombstone.*` symbols in place as R_X86_64_NONE, which
/// apply_relocate_add skips ("nothing to write"): no finding.
#[test]
fn r_none_against_klp_symbol_is_no_use() {
    let b = base();
    let mut out = b.out.clone();
    let k = sym(&out, KLP_SYM);
    let r = &mut relocs(&mut out, RELA)[1];
    r.symbol = k;
    r.r_type = 0; // R_X86_64_NONE
    let rep = b.verify(&out);
    assert!(
        !rep.findings
            .iter()
            .any(|f| f.to_string().contains("resolves it to 0")),
        "{:#?}",
        rep.findings
    );
}

#[test]
fn klp_symbol_names() {
    let b = base();
    let mut out = b.out.clone();
    let k = sym(&out, KLP_SYM);
    out.symbols[k].name = b".klp.sym.vmlinux.saved_command_line".to_vec();
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_SYM_NAME,
        &["saved_command_line", "does not parse"],
    );
    // A klp name left undefined: the module loader would look it up as an
    // export.
    let mut out = b.out.clone();
    let k = sym(&out, KLP_SYM);
    out.symbols[k].place = Place::Undef;
    let rep = b.verify(&out);
    expect(&rep, verify::INV_KLP_SYM_NAME, &["not SHN_LIVEPATCH"]);
}

#[test]
fn klp_cross_object_references() {
    let b = base();
    let mut out = b.out.clone();
    let k = sym(&out, KLP_SYM);
    out.symbols[k].name = b".klp.sym.ext4.saved_command_line,0".to_vec();
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_CROSS_OBJECT,
        &["vmlinux section references module symbol"],
    );
    let mut out = b.out.clone();
    let s = sec(&out, KLP_RELA);
    out.sections[s].name = b".klp.rela.ext4..text.cmdline_proc_show".to_vec();
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_CROSS_OBJECT,
        &["module-specific section references vmlinux symbol"],
    );
}

#[test]
fn relocation_type_and_site() {
    let b = base();
    let mut out = b.out.clone();
    bytes(&mut out, TEXT)[0x15] = 1;
    let rep = b.verify(&out);
    expect(&rep, verify::INV_RELOC_SITE, &["+0x14", "non-zero bytes"]);
    let mut out = b.out.clone();
    relocs(&mut out, KLP_RELA)[0].r_type = 9; // R_X86_64_GOTPCREL
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_RELOC_SITE,
        &["not applied by the module loader"],
    );
}

#[test]
fn undefined_reference_not_exported() {
    let b = base();
    let mut exports = Exports::default();
    for n in ["__fentry__", "seq_puts"] {
        exports.insert(n, b.exports.get(n).unwrap().clone());
    }
    let ctx = Context {
        exports: Some(&exports),
        ..b.ctx()
    };
    let rep = b.verify_with(&b.out, &ctx);
    expect(
        &rep,
        verify::INV_UNDEF_EXPORT,
        &["seq_putc", "neither exported"],
    );
}

/// Symbols of a kallsyms dump, for sympos and init.
fn kallsyms_target(text: &str) -> Target {
    Target {
        objects: klpwrite::target::parse_kallsyms("kallsyms", text).unwrap(),
    }
}

#[test]
fn sympos_must_resolve() {
    let b = base();
    let t = kallsyms_target(
        "ffffffff81000000 T cmdline_proc_show\n\
         ffffffff82000000 d saved_command_line\n\
         ffffffff82000100 d saved_command_line\n",
    );
    let ctx = Context {
        target: Some(&t),
        ..b.ctx()
    };
    let rep = b.verify_with(&b.out, &ctx);
    expect(
        &rep,
        verify::INV_SYMPOS,
        &["sympos 0 needs a unique name, the target has 2"],
    );
    let mut out = b.out.clone();
    let k = sym(&out, KLP_SYM);
    out.symbols[k].name = b".klp.sym.vmlinux.saved_command_line,3".to_vec();
    let rep = b.verify_with(&out, &ctx);
    expect(
        &rep,
        verify::INV_SYMPOS,
        &["position 3 but the target has only 2"],
    );
    out.symbols[k].name = b".klp.sym.vmlinux.saved_command_line,2".to_vec();
    let rep = b.verify_with(&out, &ctx);
    assert!(
        !rep.findings
            .iter()
            .any(|f| f.invariant == verify::INV_SYMPOS),
        "{:#?}",
        rep.findings
    );
    out.symbols[k].name = b".klp.sym.vmlinux.no_such_symbol,0".to_vec();
    let rep = b.verify_with(&out, &ctx);
    expect(&rep, verify::INV_SYMPOS, &["no symbol of that name"]);
}

#[test]
fn klp_symbol_in_init_section() {
    let b = base();
    let mut t = kallsyms_target(
        "ffffffff81000000 T cmdline_proc_show\nffffffff83000000 d saved_command_line\n",
    );
    let o = &mut t.objects[0];
    let i = o.named(b"saved_command_line")[0];
    o.syms[i].init = true;
    let ctx = Context {
        target: Some(&t),
        ..b.ctx()
    };
    let rep = b.verify_with(&b.out, &ctx);
    expect(&rep, verify::INV_INIT, &["freed after boot"]);
}

#[test]
fn reference_into_init_section_of_the_input() {
    // Patched input: foo calls the static bar, which sits in .init.bar.
    let dir = scratch("verify-init");
    let path = dir.join("init.o").display().to_string();
    let mut o = build::Obj::default();
    o.file("init.c")
        .func("foo", true, &[0xe8, 0, 0, 0, 0, 0xc3])
        .func("bar", false, &[0xc3])
        .reloc(".text.foo", 1, "bar", 4, -4);
    o.finish(&path);
    let mut raw = std::fs::read(&path).unwrap();
    let at = raw.windows(10).position(|w| w == b".text.bar\0").unwrap();
    raw[at..at + 9].copy_from_slice(b".init.bar");
    let patched = load(&path, raw, Expect::Relocatable).unwrap();
    // Output: the copy of foo calls bar in the target.
    let mut out = OutObject::default();
    let t = out.add_section(OutSection {
        name: b".text.foo".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC | SHF_EXECINSTR,
        sh_addralign: 16,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(vec![0xe8, 0, 0, 0, 0, 0xc3]),
        symbol: None,
    });
    out.add_symbol(OutSymbol {
        name: b"foo".to_vec(),
        st_info: (STB_GLOBAL << 4) | STT_FUNC,
        st_other: 0,
        place: Place::Section(t),
        value: 0,
        size: 6,
    });
    let k = klp_symbol(&mut out, ".klp.sym.vmlinux.bar,0");
    out.add_relocations(
        t,
        Some(b"vmlinux"),
        vec![OutReloc {
            offset: 1,
            symbol: k,
            r_type: 4,
            addend: -4,
        }],
    );
    let elf = load("init-klp.o", write::to_bytes(&out).unwrap(), Expect::Any).unwrap();
    let rep = verify::verify(
        &elf,
        &Context {
            patched: Some(&patched),
            ..Default::default()
        },
    );
    expect(
        &rep,
        verify::INV_INIT,
        &[".text.foo+0x1", "bar is in .init.bar, freed after boot"],
    );
}

#[test]
fn reloc_provenance() {
    let b = base();
    // An extra relocation the input does not have.
    let mut out = b.out.clone();
    let seq = sym(&out, "seq_puts");
    relocs(&mut out, RELA).push(OutReloc {
        offset: 0x6,
        symbol: seq,
        r_type: 2,
        addend: -4,
    });
    bytes(&mut out, TEXT)[6..10].fill(0);
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_PROVENANCE,
        &[
            ".text.cmdline_proc_show+0x6",
            "no relocation at cmdline_proc_show+0x6",
        ],
    );
    // A lost relocation.
    let mut out = b.out.clone();
    relocs(&mut out, RELA).retain(|r| r.offset != 0x28);
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_PROVENANCE,
        &["cmdline_proc_show+0x28", "seq_puts", "is missing"],
    );
    // A different type.
    let mut out = b.out.clone();
    relocs(&mut out, RELA)
        .iter_mut()
        .find(|r| r.offset == 0x28)
        .unwrap()
        .r_type = 2;
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_PROVENANCE,
        &["R_X86_64_PC32 here, R_X86_64_PLT32 in the patched object"],
    );
}

#[test]
fn same_input_object_two_destinations() {
    let b = base();
    let mut out = b.out.clone();
    // The second call to seq_puts goes to a klp symbol, the first to the
    // export: one input object, two destinations.
    let k = klp_symbol(&mut out, ".klp.sym.vmlinux.seq_puts,0");
    let r = relocs(&mut out, RELA);
    let i = r.iter().position(|r| r.offset == 0x28).unwrap();
    let moved = OutReloc { symbol: k, ..r[i] };
    r.remove(i);
    let t = sec(&out, TEXT);
    out.add_relocations(t, Some(b"vmlinux"), vec![moved]);
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_SAME_DEST,
        &[
            "+0x28",
            "seq_puts of the patched object is referenced as klp symbol .klp.sym.vmlinux.seq_puts,0 here but as export seq_puts",
        ],
    );
}

/// r11-shared-zero-size-key: three references to one zero-size lockdep key
/// (`.bss.__key.0+0`, from two changed functions) all name the copy
/// `__key.0`, and the output is clean; one of them sent to the kernel's key
/// instead is still one object with two destinations: a zero-size object
/// is compared like any other (`Elf::resolve_ref` maps `.bss.__key.0+0` to
/// it), so the self-check stays strict.
#[test]
fn shared_zero_size_key_one_destination() {
    let c = fixture(
        "r11-shared-zero-size-key",
        "keys.patched.o",
        "keys.o",
        "vmlinux.elf",
    );
    let mut out = c.extract("flush_start\nwork_start", true);
    let rep = verify_out(&out, &c.ctx(&c.target));
    assert!(rep.is_clean(), "{:#?}", rep.findings);
    let key = sym(&out, "__key.0");
    let to_key: usize = [".rela.text.flush_start", ".rela.text.work_start"]
        .iter()
        .map(|r| {
            relocs(&mut out, r)
                .iter()
                .filter(|x| x.symbol == key)
                .count()
        })
        .sum();
    assert_eq!(to_key, 3, "every reference names the copy");
    let k = klp_symbol(&mut out, ".klp.sym.vmlinux.__key.0,0");
    let r = relocs(&mut out, ".rela.text.work_start");
    let i = r.iter().position(|r| r.offset == 0x36).unwrap();
    let moved = OutReloc { symbol: k, ..r[i] };
    r.remove(i);
    let t = sec(&out, ".text.work_start");
    out.add_relocations(t, Some(b"vmlinux"), vec![moved]);
    let rep = verify_out(&out, &c.ctx(&c.target));
    expect(
        &rep,
        verify::INV_SAME_DEST,
        &[
            "work_start+0x36",
            "__key.0 of the patched object is referenced as klp symbol .klp.sym.vmlinux.__key.0,0 here but as the copy __key.0",
        ],
    );
}

#[test]
fn copied_and_referenced() {
    let b = base();
    let mut out = b.out.clone();
    // A copy of saved_command_line in the patch while the code references
    // the target's.
    let d = out.add_section(OutSection {
        name: b".data.saved_command_line".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC | SHF_WRITE,
        sh_addralign: 8,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(vec![0; 8]),
        symbol: None,
    });
    out.add_symbol(OutSymbol {
        name: b"saved_command_line".to_vec(),
        st_info: STT_OBJECT,
        st_other: 0,
        place: Place::Section(d),
        value: 0,
        size: 8,
    });
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_COPIED_AND_REFERENCED,
        &[
            "saved_command_line is defined in the patch",
            "referenced in the target as .klp.sym.vmlinux.saved_command_line,0",
        ],
    );
}

/// Replace the `.klpwrite.patch` text.
fn set_meta(out: &mut OutObject, f: impl Fn(&str) -> String) {
    let m = bytes(out, ".klpwrite.patch");
    let text = String::from_utf8(m.clone()).unwrap();
    *m = f(&text).into_bytes();
}

#[test]
fn twin_copied() {
    let b = base();
    let mut out = b.out.clone();
    // Without the `func` line, cmdline_proc_show is an unexplained copy of
    // a function the original has.
    set_meta(&mut out, |t| {
        t.lines()
            .filter(|l| !l.starts_with("func "))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_TWIN_COPIED,
        &[
            "cmdline_proc_show",
            "has a twin in the original",
            "paired by name",
        ],
    );
}

/// A data section holding one pointer (R_X86_64_64) to `target` + `addend`.
fn add_pointer(out: &mut OutObject, name: &str, target: usize, addend: i64) {
    let d = out.add_section(OutSection {
        name: name.into(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC | SHF_WRITE,
        sh_addralign: 8,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(vec![0; 8]),
        symbol: None,
    });
    let klp = out.symbols[target].place == Place::Livepatch;
    out.add_relocations(
        d,
        klp.then_some(b"vmlinux".as_slice()),
        vec![OutReloc {
            offset: 0,
            symbol: target,
            r_type: 1,
            addend,
        }],
    );
}

#[test]
fn pointer_to_patched_function() {
    let b = base();
    // Today's rule: a pointer to the start of the original is the
    // deliberate exception and passes.
    let mut out = b.out.clone();
    let k = klp_symbol(&mut out, ".klp.sym.vmlinux.cmdline_proc_show,0");
    add_pointer(&mut out, ".data.ops", k, 0);
    let rep = b.verify(&out);
    assert!(
        verify::POINTER_TO_ORIGINAL_IS_THE_RULE == rep.is_clean(),
        "{:#?}",
        rep.findings
    );
    // A pointer into the middle of the original never is.
    let mut out = b.out.clone();
    let k = klp_symbol(&mut out, ".klp.sym.vmlinux.cmdline_proc_show,0");
    add_pointer(&mut out, ".data.ops", k, 8);
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_PATCHED_FUNC_POINTER,
        &[
            "+0x8",
            "ftrace only redirects its entry",
            "new copy cmdline_proc_show",
        ],
    );
    // Nor is a special-section entry about the original.
    let mut out = b.out.clone();
    let k = klp_symbol(&mut out, ".klp.sym.vmlinux.cmdline_proc_show,0");
    let m = sec(&out, "__mcount_loc");
    let ml = sec(&out, ".rela__mcount_loc");
    out.sections[ml].data = OutData::Relocs {
        target: m,
        relocs: vec![],
    };
    out.add_relocations(
        m,
        Some(b"vmlinux"),
        vec![OutReloc {
            offset: 0,
            symbol: k,
            r_type: 1,
            addend: 0,
        }],
    );
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_PATCHED_FUNC_POINTER,
        &["__mcount_loc entry refers to the original"],
    );
}

#[test]
fn self_check_refusal_names_file_and_asks_for_a_report() {
    let b = base();
    let mut out = b.out.clone();
    let s = sec(&out, KLP_RELA);
    out.sections[s].sh_flags &= !SHF_ALLOC;
    let bytes = write::to_bytes(&out).unwrap();
    let e = verify::self_check("cmdline-klp.o", &bytes, &b.ctx()).unwrap_err();
    let msg = e.to_string();
    for n in [
        "cmdline-klp.o: ",
        "self-check of the output failed, nothing written",
        KLP_RELA,
        "[klp-rela-flags]",
        "this is a klpwrite bug, please report it with",
    ] {
        assert!(msg.contains(n), "{n:?} missing from:\n{msg}");
    }
    assert!(verify::self_check("ok.o", &write::to_bytes(&b.out).unwrap(), &b.ctx()).is_ok());
}

#[test]
fn cli_verify() {
    let b = base();
    let dir = scratch("verify-cli");
    let good = dir.join("good.o");
    std::fs::write(&good, write::to_bytes(&b.out).unwrap()).unwrap();
    let mut out = b.out.clone();
    bytes(&mut out, TEXT)[0x15] = 1;
    let bad = dir.join("bad.o");
    std::fs::write(&bad, write::to_bytes(&out).unwrap()).unwrap();
    let args = |f: &std::path::Path| {
        vec![
            "verify".to_string(),
            f.display().to_string(),
            "--patched".into(),
            ex("cmdline.patched.o"),
            "--orig".into(),
            ex("cmdline.o"),
            "--symbols".into(),
            ex("vmlinux.syms"),
            "--symvers".into(),
            ex("Module.symvers"),
        ]
    };
    let run = |a: Vec<String>| klpwrite(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let o = run(args(&good));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("0 problem(s); checks run: klp-rela-flags"),
        "{stdout}"
    );
    assert!(stdout.contains("twin-copied"), "{stdout}");
    let o = run(args(&bad));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("[reloc-type-and-site] non-zero bytes"),
        "{stdout}"
    );
}

#[test]
fn kbuild_refuses_an_invalid_input_and_blames_it() {
    let b = base();
    let opts = klpwrite::kbuild::KbuildOptions {
        name: "livepatch_cmdline".into(),
        replace: false,
        callbacks: Vec::new(),
    };
    let good = load(
        "good.o",
        write::to_bytes(&b.out).unwrap(),
        Expect::Relocatable,
    )
    .unwrap();
    klpwrite::kbuild::generate(&[good], &opts).unwrap();
    let mut out = b.out.clone();
    let k = sym(&out, KLP_SYM);
    out.symbols[k].name = b".klp.sym.vmlinux.saved_command_line".to_vec();
    let bad = load("bad.o", write::to_bytes(&out).unwrap(), Expect::Relocatable).unwrap();
    let e = klpwrite::kbuild::generate(&[bad], &opts)
        .unwrap_err()
        .to_string();
    for n in [
        "bad.o: not a valid livepatch object",
        "[klp-sym-name]",
        "`klpwrite verify` lists every problem",
    ] {
        assert!(e.contains(n), "{n:?} missing from:\n{e}");
    }
}

#[test]
fn patched_function_must_be_defined() {
    let b = base();
    let mut out = b.out.clone();
    set_meta(&mut out, |t| {
        t.replace("func cmdline_proc_show ", "func cmdline_proc_show_v2 ")
    });
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_FUNC,
        &["new version cmdline_proc_show_v2 is not a function defined in code here"],
    );
}

#[test]
fn reference_to_patched_function_binds_to_the_original_export() {
    // Patched input: bar (new) takes the address of foo (changed).
    let dir = scratch("verify-ptr");
    let path = dir.join("ptr.o").display().to_string();
    let mut o = build::Obj::default();
    o.file("ptr.c")
        .func("foo", true, &[0xc3])
        .func("bar", true, &[0x48, 0xc7, 0xc7, 0, 0, 0, 0, 0xc3])
        .reloc(".text.bar", 3, "foo", 11, 0);
    let patched = o.finish(&path);
    // Output: both copied, but bar's pointer goes to the export foo, the
    // original, through a normal relocation.
    let mut out = OutObject::default();
    let func = |out: &mut OutObject, name: &str, code: &[u8]| {
        let t = out.add_section(OutSection {
            name: format!(".text.{name}").into_bytes(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC | SHF_EXECINSTR,
            sh_addralign: 16,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(code.to_vec()),
            symbol: None,
        });
        out.add_symbol(OutSymbol {
            name: name.into(),
            st_info: STT_FUNC,
            st_other: 0,
            place: Place::Section(t),
            value: 0,
            size: code.len() as u64,
        });
        t
    };
    func(&mut out, "foo", &[0xc3]);
    let bar = func(&mut out, "bar", &[0x48, 0xc7, 0xc7, 0, 0, 0, 0, 0xc3]);
    out.add_section(OutSection {
        name: b".klpwrite.patch".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: 0,
        sh_addralign: 1,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(
            b"klpwrite-patch 1\nobject vmlinux\nrules current\nfunc foo foo 0\n".to_vec(),
        ),
        symbol: None,
    });
    let ext = out.add_symbol(OutSymbol {
        name: b"foo".to_vec(),
        st_info: STB_GLOBAL << 4,
        st_other: 0,
        place: Place::Undef,
        value: 0,
        size: 0,
    });
    out.add_relocations(
        bar,
        None,
        vec![OutReloc {
            offset: 3,
            symbol: ext,
            r_type: 11,
            addend: 0,
        }],
    );
    let elf = load("ptr-klp.o", write::to_bytes(&out).unwrap(), Expect::Any).unwrap();
    let rep = verify::verify(
        &elf,
        &Context {
            patched: Some(&patched),
            ..Default::default()
        },
    );
    expect(
        &rep,
        verify::INV_PATCHED_FUNC_POINTER,
        &[
            ".text.bar+0x3",
            "reference to patched function foo binds to export foo, neither its new copy nor the start of its original",
        ],
    );
    expect(
        &rep,
        verify::INV_COPIED_AND_REFERENCED,
        &["foo is defined in the patch"],
    );
}

#[test]
fn one_name_two_positions() {
    let b = base();
    let mut out = b.out.clone();
    // The __mcount_loc entry (a special section, not traced) references
    // another saved_command_line than the code does.
    let k = klp_symbol(&mut out, ".klp.sym.vmlinux.saved_command_line,2");
    let m = sec(&out, "__mcount_loc");
    let ml = sec(&out, ".rela__mcount_loc");
    out.sections[ml].data = OutData::Relocs {
        target: m,
        relocs: vec![],
    };
    out.add_relocations(
        m,
        Some(b"vmlinux"),
        vec![OutReloc {
            offset: 0,
            symbol: k,
            r_type: 1,
            addend: 0,
        }],
    );
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_SAME_DEST,
        &[
            "symbol .klp.sym.vmlinux.saved_command_line",
            "several target symbols: positions 0, 2",
        ],
    );
}

#[test]
fn klp_symbol_in_the_init_area_of_a_kallsyms_dump() {
    let b = base();
    let t = kallsyms_target(
        "ffffffff81000000 T cmdline_proc_show\n\
         ffffffff83000000 D __init_begin\n\
         ffffffff83000100 d saved_command_line\n\
         ffffffff83100000 D __init_end\n",
    );
    let ctx = Context {
        target: Some(&t),
        ..b.ctx()
    };
    let rep = b.verify_with(&b.out, &ctx);
    expect(
        &rep,
        verify::INV_INIT,
        &["saved_command_line", "freed after boot"],
    );
}

/// A unit that walks a static array up to its end: `arr` at the start
/// (through its symbol) and `arr + sizeof(arr)` (through the section
/// symbol, one past the end). Both mean the same object, so extract must
/// bind both to the target's `arr` (or both to one copy); an output that
/// mixes them is never written: the self-check refuses it as a klpwrite
/// bug. (Found on the Debian e2e objects: fs/proc/base.c `lnames` in
/// proc_pid_limits.)
#[test]
fn end_of_object_reference_is_never_written_inconsistently() {
    let dir = scratch("verify-end");
    let unit = |path: &str, ret: u8| {
        let mut o = build::Obj::default();
        o.file("u.c");
        let code = [
            0xe8, 0, 0, 0, 0, // call __fentry__
            0x48, 0x8d, 0x05, 0, 0, 0, 0, // lea arr(%rip),%rax
            0x48, 0x8d, 0x15, 0, 0, 0, 0, // lea arr+16(%rip),%rdx
            0xb8, ret, 0, 0, 0, // mov $ret,%eax
            0xc3,
        ];
        o.func("foo", true, &code);
        let s = o.section(".rodata.arr", SHF_ALLOC, &[7; 16], 0);
        o.data_symbol("arr", s, 16)
            .undef("__fentry__")
            .reloc(".text.foo", 1, "__fentry__", 4, -4)
            .reloc(".text.foo", 8, "arr", 2, -4)
            .reloc(".text.foo", 15, ".rodata.arr", 2, 12);
        o.finish(path)
    };
    let orig = dir.join("u.o").display().to_string();
    let patched = dir.join("u.patched.o").display().to_string();
    unit(&orig, 1);
    unit(&patched, 2);
    let list = dir.join("list");
    std::fs::write(&list, "foo\n").unwrap();
    let symvers = dir.join("Module.symvers");
    std::fs::write(
        &symvers,
        "0x00000000\t__fentry__\tvmlinux\tEXPORT_SYMBOL\t\n",
    )
    .unwrap();
    let out = dir.join("u.klp.o");
    let o = klpwrite(&[
        "extract",
        &patched,
        "--changes",
        &list.display().to_string(),
        "--objname",
        "vmlinux",
        "--symbols",
        &orig,
        "--orig",
        &orig,
        "--symvers",
        &symvers.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(0) {
        let elf = reload(&out);
        let p = load_file(&patched, Expect::Relocatable).unwrap();
        let og = load_file(&orig, Expect::Relocatable).unwrap();
        let rep = verify::verify(
            &elf,
            &Context {
                patched: Some(&p),
                orig: Some(&og),
                ..Default::default()
            },
        );
        assert!(rep.is_clean(), "{:#?}", rep.findings);
        assert!(rep.traced >= 2, "{rep:?}");
        println!("end reference: extract wrote a consistent object");
    } else {
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(!out.exists());
        assert!(
            stderr.contains("[same-destination] arr of the patched object")
                && stderr.contains("this is a klpwrite bug"),
            "{stderr}"
        );
        println!("end reference: extract's output refused by the self-check:\n{stderr}");
    }
}

/// A pointer to the original of a patched function is the explained
/// exception only when the inputs show the original's address is taken in
/// the target (IBT leaves it unsealed): in the a5 fixture `step_fn`'s
/// address is never taken in the original object, so a pointer to its
/// original is a finding, while `hooked_fn` (taken in `hooked_ops`) passes.
#[test]
fn pointer_to_sealable_original() {
    let b = base_from(
        &root().join("tests/fixtures/x86_64/a5-patched-function-pointer"),
        ("fnptr.patched.o", "fnptr.o", "vmlinux.elf"),
        "step_fn\nhooked_fn\nsetup",
    );
    let out = b.out.clone();
    let ctx = b.ctx();
    let check = |out: &OutObject| {
        let bytes = write::to_bytes(out).unwrap();
        let elf = load("out.o", bytes, Expect::Relocatable).unwrap();
        verify::verify(&elf, &ctx)
    };
    let rep = check(&out);
    assert!(rep.is_clean(), "{:#?}", rep.findings);
    let mut bad = out.clone();
    let k = klp_symbol(&mut bad, ".klp.sym.vmlinux.step_fn,0");
    add_pointer(&mut bad, ".data.ops", k, 0);
    expect(
        &check(&bad),
        verify::INV_PATCHED_FUNC_POINTER,
        &["nothing in the inputs takes the original's address"],
    );
    let mut ok = out.clone();
    let k = klp_symbol(&mut ok, ".klp.sym.vmlinux.hooked_fn,0");
    add_pointer(&mut ok, ".data.ops", k, 0);
    let rep = check(&ok);
    assert!(rep.is_clean(), "{:#?}", rep.findings);
}

/// The A2 fixture (tests/fixtures/x86_64/a2-static-renumbered): tick's
/// `count.2` is the kernel's `count.1` (paired by use), new `late`'s
/// `count.0` is new state (copied), the original's `count.0` is tock's.
fn renumbered_base() -> Base {
    base_from(
        &root().join("tests/fixtures/x86_64/a2-static-renumbered"),
        ("counter.patched.o", "counter.o", "vmlinux.elf"),
        "tick\nlate",
    )
}

#[test]
fn klp_symbol_names_the_twin() {
    let b = renumbered_base();
    let rep = b.verify(&b.out);
    assert!(rep.is_clean(), "{:#?}", rep.findings);
    assert!(
        rep.ran.contains(&verify::INV_KLP_TWIN_NAME),
        "{:?}",
        rep.ran
    );
    // tick's static bound by a number instead of its twin's name: the
    // kernel has a count.0 (tock's), so only this invariant can tell.
    let mut out = b.out.clone();
    let k = sym(&out, ".klp.sym.vmlinux.count.1,0");
    out.symbols[k].name = b".klp.sym.vmlinux.count.0,0".to_vec();
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_TWIN_NAME,
        &[
            ".text.tick+0x",
            "count.2 of the patched object is paired with count.1 in the original (referencing function)",
            "names count.0",
        ],
    );
    // late's new static bound to the kernel's same-named object.
    let mut out = b.out.clone();
    let k = klp_symbol(&mut out, ".klp.sym.vmlinux.count.0,0");
    let r = relocs(&mut out, ".rela.text.late");
    let i = r.iter().position(|r| r.offset == 0x1d).unwrap();
    let moved = OutReloc { symbol: k, ..r[i] };
    r.remove(i);
    let t = sec(&out, ".text.late");
    out.add_relocations(t, Some(b"vmlinux"), vec![moved]);
    let rep = b.verify(&out);
    expect(
        &rep,
        verify::INV_KLP_TWIN_NAME,
        &[
            ".text.late+0x1d",
            "count.0 of the patched object has no twin in the original (it is new), but it is bound to the target as .klp.sym.vmlinux.count.0,0",
        ],
    );
    // Without the original object the invariant cannot run.
    let ctx = Context {
        orig: None,
        ..b.ctx()
    };
    let rep = b.verify_with(&b.out, &ctx);
    assert!(!rep.ran.contains(&verify::INV_KLP_TWIN_NAME));
}

/// A fixture case's inputs (tests/fixtures/x86_64/<dir>) and the output of
/// extract for them.
struct Case {
    patched: Elf,
    orig: Elf,
    target: Target,
    exports: Exports,
}

/// A case's inputs (`patched`, `orig`, the vmlinux symbol source, and the
/// directory's Module.symvers).
fn load_case(dir: &std::path::Path, files: (&str, &str, &str)) -> Case {
    let f = |n: &str| dir.join(n).display().to_string();
    let mut target = Target::default();
    target.add_source(&f(files.2), "vmlinux").unwrap();
    Case {
        patched: load_file(&f(files.0), Expect::Relocatable).unwrap(),
        orig: load_file(&f(files.1), Expect::Relocatable).unwrap(),
        target,
        exports: Exports::load(&f("Module.symvers")).unwrap(),
    }
}

fn fixture(dir: &str, patched: &str, orig: &str, symbols: &str) -> Case {
    load_case(
        &root().join("tests/fixtures/x86_64").join(dir),
        (patched, orig, symbols),
    )
}

impl Case {
    fn extract(&self, list: &str, with_orig: bool) -> OutObject {
        let orig = with_orig.then_some(&self.orig);
        extract_out(&self.patched, orig, &self.target, &self.exports, list)
    }

    fn ctx<'a>(&'a self, target: &'a Target) -> Context<'a> {
        Context {
            patched: Some(&self.patched),
            orig: Some(&self.orig),
            twins: None,
            target: Some(target),
            exports: Some(&self.exports),
            objname: None,
        }
    }
}

fn verify_out(out: &OutObject, ctx: &Context<'_>) -> Report {
    let bytes = write::to_bytes(out).unwrap();
    let elf = load("broken.o", bytes, Expect::Any).unwrap();
    verify::verify(&elf, ctx)
}

#[test]
fn pointer_to_copy_while_original_address_taken() {
    // a5-fnptr-oldonly: hook.o's reg stores cb's address in hook, so new
    // code that compares hook with cb must use the original (klp symbol).
    let c = fixture(
        "a5-fnptr-oldonly",
        "hook.patched.o",
        "hook.o",
        "vmlinux.kallsyms",
    );
    let good = c.extract("cb\nreg\nis_registered\n", true);
    let rep = verify_out(&good, &c.ctx(&c.target));
    assert!(rep.is_clean(), "{:#?}", rep.findings);
    // The bug of the old extract without --orig: both pointers bound to the
    // patch's copy of cb.
    let mut out = good.clone();
    let k = sym(&out, ".klp.sym.vmlinux.cb,0");
    let cb = sym(&out, "cb");
    for (klp, rela) in [
        (".klp.rela.vmlinux..text.reg", ".rela.text.reg"),
        (
            ".klp.rela.vmlinux..text.is_registered",
            ".rela.text.is_registered",
        ),
    ] {
        let r = relocs(&mut out, klp);
        let i = r.iter().position(|r| r.symbol == k).unwrap();
        let moved = OutReloc {
            symbol: cb,
            ..r.remove(i)
        };
        relocs(&mut out, rela).push(moved);
    }
    let rep = verify_out(&out, &c.ctx(&c.target));
    let text = expect(
        &rep,
        verify::INV_PATCHED_FUNC_POINTER,
        &[
            "reg+0x1f",
            "is_registered+0xf",
            "a pointer binds to the new copy cb, but the inputs show the original's address taken in the target",
        ],
    );
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn tie_bound_to_objects_not_back_to_back_in_the_target() {
    // a1-tie: tie_sum's loop bound `first + 4` is .data..shared+0x10, the
    // start of second in the patched object. Extracted for a target laid
    // out like the patched object (vmlinux-contig.elf) it binds to
    // .klp.sym.vmlinux.second,0, which is right there...
    let c = fixture("a1-tie", "tie.patched.o", "tie.o", "vmlinux-contig.elf");
    let out = c.extract("tie_sum", false);
    let rep = verify_out(&out, &c.ctx(&c.target));
    assert!(rep.is_clean(), "{:#?}", rep.findings);
    // ...and wrong for the real target, where second comes before first.
    let mut real = Target::default();
    let path = root().join("tests/fixtures/x86_64/a1-tie/vmlinux.elf");
    real.add_source(&path.display().to_string(), "vmlinux")
        .unwrap();
    let rep = verify_out(&out, &c.ctx(&real));
    expect(
        &rep,
        verify::INV_SAME_DEST,
        &[
            "tie_sum+0x35",
            ".data..shared+0x10 of the patched object is both the end of first and the start of second",
            "in the target first ends at 0xffffffff81000120, second starts at 0xffffffff81000100",
        ],
    );
    // The exact load of second[0] (tie_second) is proof: no finding.
    let out = c.extract("tie_second", false);
    let rep = verify_out(&out, &c.ctx(&real));
    assert!(rep.is_clean(), "{:#?}", rep.findings);
}

#[test]
fn tie_bound_to_a_copy_and_the_kernel() {
    // a1-end-of-object/pre-fix-shared.o: the output of klpwrite before the
    // tie fix (main at d37ad48) for case.shared.txt: the loop starts at the
    // kernel's `first` and ends at the patch's copy of `extra`.
    let c = fixture(
        "a1-end-of-object",
        "shared.patched.o",
        "shared.o",
        "vmlinux-shared.elf",
    );
    let path = root().join("tests/fixtures/x86_64/a1-end-of-object/pre-fix-shared.o");
    let elf = load_file(&path.display().to_string(), Expect::Any).unwrap();
    let rep = verify::verify(&elf, &c.ctx(&c.target));
    expect(
        &rep,
        verify::INV_SAME_DEST,
        &[
            "shared_sum+0x32",
            "both the end of first and the start of extra, bound to the copy extra",
            "extra is copied, first is the kernel's",
        ],
    );
}

/// `own-entry`: f_first's `lea` of its own 7.x `__bug_table` entry
/// (r7-bug-table-7x) is clean; pointed at f_d's entry it is found.
#[test]
fn own_bug_table_entry() {
    let c = fixture("r7-bug-table-7x", "warn.patched.o", "warn.o", "warn.o");
    let mut out = c.extract("f_first\nf_d", true);
    let t = Target::default();
    let rep = verify_out(&out, &c.ctx(&t));
    assert!(
        !rep.findings
            .iter()
            .any(|f| f.invariant == verify::INV_OWN_ENTRY),
        "{:#?}",
        rep.findings
    );
    assert!(rep.ran.contains(&verify::INV_OWN_ENTRY));
    let bug = sec(&out, "__bug_table");
    let bug_sym = out.sections[bug].symbol.unwrap();
    let r = relocs(&mut out, ".rela.text.f_first")
        .iter_mut()
        .find(|r| r.symbol == bug_sym)
        .expect("f_first's lea of its own entry");
    // Entry 2 of the output (f_first has entries 0 and 1) is f_d's.
    r.addend = 0x20 - 4;
    let rep = verify_out(&out, &c.ctx(&t));
    expect(
        &rep,
        verify::INV_OWN_ENTRY,
        &["__bug_table entry +0x20", "f_d"],
    );
}

/// Twin units of one module (l8-twin-static-elsewhere: x/core.c and
/// y/core.c link into twinex.o as two units `core.c`, each with a static
/// state_show; the patch gives y's a new static `seen`, a name x's unit
/// has). Provenance finds the source of each copy by its code and its
/// unit, not by extract's bookkeeping: before, both state_show were "not
/// traced", and an output that bound y's new counter to x's `seen` (what
/// extract wrote for --sympos core.c:state_show=2 --sympos core.c:seen=1
/// before 8da5879) passed.
#[test]
fn twin_units_are_traced_by_code_and_unit() {
    let c = fixture(
        "l8-twin-static-elsewhere",
        "twinex.patched.o",
        "twinex.o",
        "twinex.ko",
    );
    let list = changes::parse("list", "core.c#2:state_show").unwrap();
    let twins = klpwrite::correlate::run(&c.orig, &c.patched).unwrap();
    let inputs = Inputs {
        patched: &c.patched,
        orig: Some(extract::Orig {
            elf: &c.orig,
            twins: &twins,
        }),
        changes: &list,
        target: &c.target,
        exports: &c.exports,
        have_symvers: true,
    };
    let opts = Options {
        objname: "twinex".into(),
        ..Default::default()
    };
    let out = extract::run(&inputs, &opts).unwrap().out;
    let ctx = Context {
        objname: Some("twinex"),
        ..c.ctx(&c.target)
    };
    let rep = verify_out(&out, &ctx);
    assert!(rep.is_clean(), "{:#?}", rep.findings);
    assert!(rep.traced >= 3, "traced {}: {:?}", rep.traced, rep.notes);
    assert!(
        !rep.notes.iter().any(|n| n.contains("not traced")),
        "{:?}",
        rep.notes
    );
    // y's new counter bound to x's seen.
    let mut bad = out.clone();
    let k = klp_symbol(&mut bad, ".klp.sym.twinex.seen,1");
    let seen = sym(&bad, "seen");
    let r = relocs(&mut bad, ".rela.text.state_show");
    let moved: Vec<OutReloc> = r
        .iter()
        .filter(|x| x.symbol == seen)
        .map(|x| OutReloc { symbol: k, ..*x })
        .collect();
    assert!(!moved.is_empty());
    r.retain(|x| x.symbol != seen);
    let t = sec(&bad, ".text.state_show");
    bad.add_relocations(t, Some(b"twinex"), moved);
    expect(
        &verify_out(&bad, &ctx),
        verify::INV_KLP_TWIN_NAME,
        &[
            "seen of the patched object has no twin in the original (it is new), but it is bound to the target as .klp.sym.twinex.seen,1",
        ],
    );
}
