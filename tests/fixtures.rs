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
            if let Some(n) = names.iter().find(|n| n.starts_with(no.as_str())) {
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
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
