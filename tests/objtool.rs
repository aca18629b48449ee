//! Inputs objtool has not processed (src/objtool.rs), against the kernel's
//! own objtool as the oracle: tests/fixtures/x86_64/o1-objtool-skipped has
//! each object raw (`jl.o`) and after Debian 6.1's objtool
//! (`jl.objtool.o`, see its build.sh). What klpwrite completes must be what
//! objtool wrote: the same code bytes (the jump-label NOPs), the same
//! relocation types (R_X86_64_NONE on a NOPed jump into another section),
//! and the same `.return_sites`/`.retpoline_sites` sites. The extract
//! outputs of the raw and of the processed pair must have the same code.

mod support;

use klpwrite::elf::Elf;
use klpwrite::elf::load::{Expect, load_file};
use support::*;

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/x86_64/o1-objtool-skipped")
        .join(name)
        .display()
        .to_string()
}

/// (section name, offset) of each entry of a site list, in order.
fn sites(elf: &Elf, name: &str) -> Vec<(String, u64)> {
    let Some(sec) = elf.section_by_name(name.as_bytes()) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, String, u64)> = elf
        .relocs_for(sec)
        .map(|r| {
            let s = &elf.symbols[r.symbol];
            let tsec = s.section.expect("sites point at defined code");
            (
                r.offset,
                elf.sections[tsec].display_name(),
                (s.value as i64 + r.addend) as u64,
            )
        })
        .collect();
    v.sort();
    assert_eq!(
        v.len() as u64 * 4,
        elf.sections[sec].sh_size,
        "{name}: one PC32 per 4-byte entry"
    );
    v.into_iter().map(|(_, s, o)| (s, o)).collect()
}

/// (offset, type, target name, addend) of each relocation of `sec`.
fn relocs(elf: &Elf, sec: usize) -> Vec<(u64, u32, String, i64)> {
    let mut v: Vec<_> = elf
        .relocs_for(sec)
        .map(|r| {
            let s = &elf.symbols[r.symbol];
            let name = if s.is_section() {
                elf.sections[s.section.unwrap()].display_name()
            } else {
                s.display_name()
            };
            (r.offset, r.r_type, name, r.addend)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn completion_is_what_objtool_writes() {
    for (raw, done) in [
        ("jl.o", "jl.objtool.o"),
        ("jl.patched.o", "jl.patched.objtool.o"),
    ] {
        let plain = load_file(&fixture(raw), Expect::Relocatable).unwrap();
        let ours = klpwrite::objtool::load_input(&fixture(raw)).unwrap();
        let theirs = load_file(&fixture(done), Expect::Relocatable).unwrap();
        assert!(plain.completion.is_none(), "a plain load changes nothing");
        let c = ours
            .completion
            .as_ref()
            .unwrap_or_else(|| panic!("{raw}: not recognised as raw"));
        assert!(c.evidence.iter().any(|e| e.contains("jump-label")), "{c:?}");
        assert!(
            klpwrite::objtool::load_input(&fixture(done))
                .unwrap()
                .completion
                .is_none(),
            "{done}: objtool's output is not completed again"
        );
        let mut nops = 0;
        for (i, s) in ours.sections.iter().enumerate() {
            if !s.is_exec() {
                continue;
            }
            let j = theirs
                .section_by_name(&s.name)
                .unwrap_or_else(|| panic!("{done} lacks {}", s.display_name()));
            assert_eq!(
                ours.data(i),
                theirs.data(j),
                "{raw}: {} differs from objtool's",
                s.display_name()
            );
            if ours.data(i) != plain.data(i) {
                nops += 1;
            }
            assert_eq!(
                relocs(&ours, i),
                relocs(&theirs, j),
                "{raw}: relocations of {}",
                s.display_name()
            );
        }
        assert!(nops >= 2, "{raw}: the jump-label sites changed ({nops})");
        for list in [".return_sites", ".retpoline_sites"] {
            let (a, b) = (sites(&ours, list), sites(&theirs, list));
            assert!(!b.is_empty(), "{done} has {list}");
            assert_eq!(a, b, "{raw}: {list}");
            let (sa, sb) = (
                &ours.sections[ours.section_by_name(list.as_bytes()).unwrap()],
                &theirs.sections[theirs.section_by_name(list.as_bytes()).unwrap()],
            );
            assert_eq!(
                (sa.sh_flags, sa.sh_entsize),
                (sb.sh_flags, sb.sh_entsize),
                "{list} header"
            );
        }
    }
}

#[test]
fn extract_from_raw_equals_extract_from_processed() {
    let work = scratch("objtool");
    let list = work.join("changes");
    std::fs::write(&list, "jl_show\njl_cold\njl_call\n").unwrap();
    let mut outs = Vec::new();
    for (orig, patched, extra) in [
        ("jl.o", "jl.patched.o", Some("--allow-missing-orc")),
        ("jl.objtool.o", "jl.patched.objtool.o", None),
    ] {
        let out = work.join(format!("{patched}.klp.o"));
        let (o, p, s, v) = (
            fixture(orig),
            fixture(patched),
            fixture("vmlinux.kallsyms"),
            fixture("Module.symvers"),
        );
        let mut args = vec![
            "extract",
            &p,
            "--orig",
            &o,
            "--changes",
            list.to_str().unwrap(),
            "--objname",
            "vmlinux",
            "--symbols",
            &s,
            "--symvers",
            &v,
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let r = klpwrite(&args);
        assert_eq!(
            r.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&r.stderr)
        );
        outs.push(reload(&out));
    }
    let (raw, done) = (&outs[0], &outs[1]);
    let mut compared = 0;
    for (i, s) in raw.sections.iter().enumerate() {
        let name = s.display_name();
        if name.starts_with(".orc") || name.starts_with(".rela.orc") {
            panic!("the raw extract has {name}");
        }
        let j = done
            .section_by_name(&s.name)
            .unwrap_or_else(|| panic!("the processed extract lacks {name}"));
        if !s.is_rela() && (s.is_exec() || name == "__jump_table" || name.ends_with("_sites")) {
            assert_eq!(raw.data(i), done.data(j), "{name}");
            assert_eq!(relocs(raw, i), relocs(done, j), "{name} relocations");
            compared += 1;
        }
    }
    assert!(compared >= 5, "compared {compared} sections");
    // The jump-label sites of the output are the NOPs the kernel expects
    // (x86_nops[], arch/x86/kernel/jump_label.c __jump_label_patch()).
    let jt = raw.section_by_name(b"__jump_table").unwrap();
    let mut sites = 0;
    for r in raw.relocs_for(jt).filter(|r| r.offset % 16 == 0) {
        let s = &raw.symbols[r.symbol];
        let sec = s.section.unwrap();
        let off = (s.value as i64 + r.addend) as usize;
        let code = &raw.data(sec)[off..];
        assert!(
            code.starts_with(&klpwrite::objtool::NOP2)
                || code.starts_with(&klpwrite::objtool::NOP5),
            "site {}+{off:#x} holds {:02x?}",
            raw.sections[sec].display_name(),
            &code[..5.min(code.len())]
        );
        sites += 1;
    }
    assert_eq!(sites, 2, "two jump-label sites kept");
}
