//! `diff` on the kpatch unit corpus: the outcome matches EXPECTED.tsv
//! (exit 0 patch, 1 nochange, 2 refuse), the changed+new functions equal
//! kpatch's output functions (`.cold` parts counted as their parent,
//! `__pfx_` dropped) except where docs/compat.md explains why, and each
//! case's report is snapshotted. `build` (diff + extract) must write a
//! valid livepatch object for every `patch` case.

mod support;

use std::collections::BTreeSet;

use support::*;

fn normalize(funcs: &str) -> BTreeSet<String> {
    funcs
        .split(',')
        .filter(|f| !f.is_empty() && *f != "-" && !f.starts_with("__pfx_"))
        .map(|f| match f.find(".cold") {
            Some(p) => f[..p].to_string(),
            None => f.to_string(),
        })
        .collect()
}

#[test]
fn corpus_diff() {
    let Some(dir) = corpus_dir() else { return };
    let compat = std::fs::read_to_string(root().join("docs/compat.md")).unwrap_or_default();
    let tsv = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (case, outcome, funcs) = (f[0], f[1], f[4]);
        n += 1;
        let orig = dir.join(format!("{case}.ORIG.o"));
        let mut patched = dir.join(format!("{case}.PATCHED.o"));
        if !patched.exists() {
            patched = dir.join(format!("{case}.PATCHED.FAIL.o"));
        }
        let o = klpwrite(&[
            "diff",
            &orig.display().to_string(),
            &patched.display().to_string(),
        ]);
        let code = o.status.code();
        let want = match outcome {
            "patch" => 0,
            "nochange" => 1,
            _ => 2,
        };
        let stdout = String::from_utf8_lossy(&o.stdout).to_string();
        let stderr =
            String::from_utf8_lossy(&o.stderr).replace(&dir.display().to_string(), "<corpus>");
        if code != Some(want) {
            failures.push(format!(
                "{case}: exit {code:?}, want {want} ({outcome})\n{stderr}"
            ));
            continue;
        }
        let report = format!(
            "exit {}\n--- stdout\n{stdout}--- stderr (errors)\n{}",
            want,
            if want == 2 {
                stderr.clone()
            } else {
                String::new()
            }
        );
        settings().bind(|| insta::assert_snapshot!(format!("diff__x86_64__{case}"), report));
        if want != 0 {
            continue;
        }
        let got: BTreeSet<String> = stdout
            .lines()
            .filter(|l| l.starts_with("changed function: ") || l.starts_with("new function: "))
            .map(|l| l.split(": ").nth(1).unwrap().to_string())
            .collect();
        let expected = normalize(funcs);
        for d in got.symmetric_difference(&expected) {
            let explained = compat.lines().any(|l| {
                l.contains(&format!("`{case}`"))
                    && l.contains(&format!("`{d}`"))
                    && l.contains("diff")
            });
            if !explained {
                let side = if got.contains(d) {
                    "klpwrite only"
                } else {
                    "kpatch only"
                };
                failures.push(format!(
                    "{case}: {side}: {d} (not explained in docs/compat.md)"
                ));
            }
        }
        // build = diff + extract, with ORIG as the symbol source.
        let w = scratch(&format!("build-{case}"));
        let symvers = w.join("Module.symvers");
        let mut sv = String::new();
        for obj in [&orig, &patched] {
            let elf = reload(obj);
            for s in elf
                .symbols
                .iter()
                .filter(|s| s.is_undef() && !s.name.is_empty())
            {
                sv.push_str(&format!(
                    "0x00000000\t{}\tvmlinux\tEXPORT_SYMBOL\n",
                    s.display_name()
                ));
            }
        }
        std::fs::write(&symvers, sv).unwrap();
        let out = w.join("out.o");
        let b = klpwrite(&[
            "build",
            &orig.display().to_string(),
            &patched.display().to_string(),
            "--objname",
            "vmlinux",
            "--symbols",
            &orig.display().to_string(),
            "--symvers",
            &symvers.display().to_string(),
            "-o",
            &out.display().to_string(),
        ]);
        if b.status.code() != Some(0) {
            failures.push(format!(
                "{case}: build failed: {}",
                String::from_utf8_lossy(&b.stderr)
            ));
            continue;
        }
        let elf = reload(&out);
        let names: std::collections::HashSet<String> = std::fs::read_to_string(&symvers)
            .unwrap()
            .lines()
            .map(|l| l.split('\t').nth(1).unwrap().to_string())
            .collect();
        check_livepatch_object(&elf, &names);
    }
    assert!(n >= 40, "expected all corpus cases, found {n}");
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
