//! The committed C fixtures (tests/fixtures/x86_64/<case>/case*.txt): run
//! `klpwrite extract` as a user would and check the promised properties:
//! klp symbols with their sympos, normal exported references, copied
//! symbols, or a clear error with exit code 2 and no output file.

mod support;

use std::collections::HashSet;

use support::*;

#[test]
fn fixture_cases() {
    let base = root().join("tests/fixtures/x86_64");
    let mut cases: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with("case")
                && p.extension().is_some_and(|e| e == "txt")
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected the fixture cases, found {}",
        cases.len()
    );
    let work = scratch("fixtures");
    let mut failures = Vec::new();
    let (mut self_checked, mut self_refused) = (0, 0);
    for file in &cases {
        let c = Case::parse(file);
        let name = format!(
            "{}-{}",
            c.dir.file_name().unwrap().to_string_lossy(),
            file.file_stem().unwrap().to_string_lossy()
        );
        let list = match &c.changes_file {
            Some(f) => c.dir.join(f),
            None => {
                let l = work.join(format!("{name}.list"));
                std::fs::write(&l, c.changes.join("\n")).unwrap();
                l
            }
        };
        let out = work.join(format!("{name}.o"));
        let args = c.args(&list, &out);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = klpwrite(&args);
        let stderr = String::from_utf8_lossy(&o.stderr).to_string();
        let stdout = String::from_utf8_lossy(&o.stdout).to_string();
        let code = o.status.code();
        // Every extract/build run self-checks its output (src/verify.rs).
        if c.command != "diff" {
            if code == Some(0) {
                self_checked += 1;
            }
            if stderr.contains("this is a klpwrite bug") {
                self_refused += 1;
                failures.push(format!("{name}: self-check refused the output\n{stderr}"));
            }
        }
        for want in &c.expect_stdout {
            if !stdout.contains(want.as_str()) {
                failures.push(format!("{name}: stdout lacks {want:?}\n{stdout}\n{stderr}"));
            }
        }
        for no in &c.expect_no_stdout {
            if stdout.contains(no.as_str()) {
                failures.push(format!("{name}: stdout must not have {no:?}\n{stdout}"));
            }
        }
        for want in &c.expect_stderr {
            if !stderr.contains(want.as_str()) {
                failures.push(format!("{name}: stderr lacks {want:?}\n{stderr}"));
            }
        }
        for no in &c.expect_no_stderr {
            if stderr.contains(no.as_str()) {
                failures.push(format!("{name}: stderr must not have {no:?}\n{stderr}"));
            }
        }
        if let Some(want) = c.expect_exit
            && want != 0
        {
            if code != Some(want) || out.exists() {
                failures.push(format!(
                    "{name}: want exit {want} and no output; got {code:?}\n{stdout}\n{stderr}"
                ));
            }
            continue;
        }
        if c.command == "diff"
            && let Some(want) = &c.expect_error
        {
            if code != Some(2) || !stderr.contains(want.as_str()) {
                failures.push(format!(
                    "{name}: want exit 2 mentioning {want:?}; got {code:?}\n{stderr}"
                ));
            }
            continue;
        }
        if c.command == "diff" {
            if code != Some(0) {
                failures.push(format!("{name}: diff exit {code:?}\n{stdout}\n{stderr}"));
            }
            continue;
        }
        if let Some(want) = &c.expect_error {
            if code != Some(2) || !stderr.contains(want.as_str()) || out.exists() {
                failures.push(format!("{name}: want exit 2 mentioning {want:?} and no output; got {code:?}, output exists: {}\n{stderr}", out.exists()));
            }
            continue;
        }
        if code != Some(0) {
            failures.push(format!("{name}: exit {code:?}\n{stderr}"));
            continue;
        }
        let elf = reload(&out);
        let mut exports: HashSet<String> = c.expect_undef.iter().cloned().collect();
        if let Some(sv) = &c.symvers {
            let text = std::fs::read_to_string(c.dir.join(sv)).unwrap();
            exports.extend(
                text.lines()
                    .filter_map(|l| l.split('\t').nth(1))
                    .map(str::to_string),
            );
        }
        check_livepatch_object(&elf, &exports);
        check_binutils(&out);
        let klp = klp_symbols(&elf);
        for want in &c.expect_klp_sym {
            if !klp.contains(want) {
                failures.push(format!("{name}: missing klp symbol {want}; have {klp:?}"));
            }
        }
        for no in &c.expect_no_klp_sym {
            if klp
                .iter()
                .any(|k| parse_klp_sym(k).is_some_and(|(_, s, _)| &s == no))
            {
                failures.push(format!(
                    "{name}: {no} must not be a klp symbol; have {klp:?}"
                ));
            }
        }
        for u in &c.expect_undef {
            if !elf
                .symbols
                .iter()
                .any(|s| s.is_undef() && s.display_name() == *u)
            {
                failures.push(format!(
                    "{name}: {u} should be an undefined (exported) symbol"
                ));
            }
        }
        let names: Vec<String> = elf.sections.iter().map(|s| s.display_name()).collect();
        for want in &c.expect_section {
            if !names.iter().any(|n| n.starts_with(want.as_str())) {
                failures.push(format!(
                    "{name}: no section starts with {want}; have {names:?}"
                ));
            }
        }
        for no in &c.expect_no_section {
            // The name itself, or a name it is the dotted prefix of
            // (`.klp.arch` covers `.klp.arch.vmlinux..altinstructions`).
            if let Some(n) = names
                .iter()
                .find(|n| *n == no || n.starts_with(&format!("{no}.")))
            {
                failures.push(format!("{name}: section {n} must not be written"));
            }
        }
        for d in &c.expect_defined {
            if !elf
                .symbols
                .iter()
                .any(|s| s.section.is_some() && s.display_name() == *d)
            {
                failures.push(format!("{name}: {d} should be defined in the output"));
            }
        }
        for d in &c.expect_not_defined {
            if elf
                .symbols
                .iter()
                .any(|s| s.section.is_some() && s.display_name() == *d)
            {
                failures.push(format!(
                    "{name}: {d} must not be defined (copied) in the output"
                ));
            }
        }
        if let Some(want) = &c.expect_funcs {
            let have: Vec<String> = klpwrite::extract::read_patch_meta(&elf)
                .map(|m| m.funcs.into_iter().map(|f| f.1).collect())
                .unwrap_or_default();
            if &have != want {
                failures.push(format!(
                    "{name}: want patched functions {want:?} (one klp_func each), have {have:?}"
                ));
            }
        }
        for (sym, want) in &c.expect_relocs_to {
            let have = elf
                .relocs
                .iter()
                .filter(|r| elf.symbols[r.symbol].display_name() == *sym)
                .count();
            if have != *want {
                failures.push(format!(
                    "{name}: want {want} relocations against {sym}, have {have}"
                ));
            }
        }
    }
    println!(
        "verify: {self_checked} fixture outputs self-checked by extract before writing, {self_refused} refused; {}",
        verify_summary()
    );
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// `Elf::resolve_ref` on real GCC output (a1-end-of-object): inside, one
/// past the end, zero-size objects, and the tie rule when objects share a
/// section (packed.c: `.data..shared` holds last [0,8), second [8,0x10),
/// first [0x10,0x20) and the zero-size marker at 0x20; readelf -sW).
#[test]
fn resolve_ref_rules() {
    use klpwrite::elf::RefKind;
    let dir = root().join("tests/fixtures/x86_64/a1-end-of-object");
    let name = |elf: &klpwrite::elf::Elf, i: usize| elf.symbols[i].display_name();

    let t = reload(&dir.join("table.patched.o"));
    let sec = |n: &str| t.section_by_name(n.as_bytes()).unwrap();
    let r = t.resolve_ref(sec(".rodata.table"), 0x8).unwrap();
    assert_eq!(
        (name(&t, r.sym).as_str(), r.offset, r.kind),
        ("table", 8, RefKind::Inside)
    );
    let r = t.resolve_ref(sec(".rodata.table"), 0x30).unwrap();
    assert_eq!(
        (name(&t, r.sym).as_str(), r.offset, r.kind),
        ("table", 0x30, RefKind::End)
    );
    assert!(t.resolve_ref(sec(".rodata.table"), 0x31).is_none());
    let r = t.resolve_ref(sec(".bss.__key.0"), 0).unwrap();
    assert_eq!(
        (name(&t, r.sym).as_str(), r.kind),
        ("__key.0", RefKind::ZeroSize)
    );
    let r = t.resolve_ref(sec(".bss.hits"), 0x30).unwrap();
    assert_eq!((name(&t, r.sym).as_str(), r.kind), ("hits", RefKind::End));
    // symbol_containing still locates bytes only.
    assert!(t.symbol_containing(sec(".rodata.table"), 0x30).is_none());

    let p = reload(&dir.join("packed.o"));
    let s = p.section_by_name(b".data..shared").unwrap();
    let get = |off: u64| {
        let r = p.resolve_ref(s, off).unwrap();
        (
            name(&p, r.sym),
            r.offset,
            r.kind,
            r.also_end_of.map(|e| name(&p, e)),
        )
    };
    assert_eq!(get(0), ("last".into(), 0, RefKind::Inside, None));
    // The end of `last` is the start of `second`: the containing one wins.
    assert_eq!(
        get(8),
        ("second".into(), 0, RefKind::Inside, Some("last".into()))
    );
    assert_eq!(
        get(0x10),
        ("first".into(), 0, RefKind::Inside, Some("second".into()))
    );
    // The end of `first` is the zero-size `marker`: the object at `off` wins.
    assert_eq!(
        get(0x20),
        ("marker".into(), 0, RefKind::ZeroSize, Some("first".into()))
    );
    assert!(p.resolve_ref(s, 0x21).is_none());
}
