//! The kpatch unit corpus (`../shared/corpus/kpatch-unit/x86_64`, or
//! `$KLPWRITE_CORPUS`; without it each test prints `corpus: SKIPPED` and
//! passes, except in CI, where it fails).
//!
//! For every `patch` case: run extract with kpatch's function list,
//! `--objname vmlinux` and ORIG as the symbol source, then check the output
//! structurally (our re-read, readelf, objdump), snapshot its `inspect`
//! dump, and compare its klp symbols with kpatch's. Every difference must
//! be explained in docs/compat.md.
//!
//! Module.symvers: kpatch's unit tests run without one; the harness here
//! declares every symbol ORIG or PATCHED imports (UNDEF) a vmlinux export,
//! which is what kpatch assumes for names it cannot find (see compat.md).

mod support;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use klpwrite::changes;
use klpwrite::elf::load::{Expect, load_file};
use klpwrite::extract::{self, Inputs, Options};
use klpwrite::symvers::{Export, Exports};
use klpwrite::target::Target;
use klpwrite::{dump, write};
use support::*;

pub struct CorpusCase {
    pub name: String,
    pub outcome: String,
    pub funcs: Vec<String>,
}

pub fn cases(dir: &Path) -> Vec<CorpusCase> {
    let text = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            CorpusCase {
                name: f[0].to_string(),
                outcome: f[1].to_string(),
                funcs: f[4]
                    .split(',')
                    .filter(|s| *s != "-")
                    .map(str::to_string)
                    .collect(),
            }
        })
        .collect()
}

/// The harness's Module.symvers: every imported name is a vmlinux export.
pub fn harness_exports(orig: &klpwrite::elf::Elf, patched: &klpwrite::elf::Elf) -> Exports {
    let mut e = Exports::default();
    for elf in [orig, patched] {
        for s in &elf.symbols {
            if s.is_undef() && !s.name.is_empty() {
                e.insert(
                    &s.display_name(),
                    Export {
                        crc: 0,
                        module: "vmlinux".into(),
                        export_type: "EXPORT_SYMBOL".into(),
                        namespace: None,
                    },
                );
            }
        }
    }
    e
}

/// A corpus case loaded for extract: kpatch's function list, ORIG as the
/// symbol source, the harness's Module.symvers.
pub struct Loaded {
    pub orig: klpwrite::elf::Elf,
    pub patched: klpwrite::elf::Elf,
    pub list: Vec<changes::Change>,
    pub target: Target,
    pub exports: Exports,
}

impl Loaded {
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            patched: &self.patched,
            orig: None,
            changes: &self.list,
            target: &self.target,
            exports: &self.exports,
            have_symvers: true,
        }
    }
}

pub fn load_case(dir: &Path, c: &CorpusCase) -> Loaded {
    let f = |s: &str| dir.join(format!("{}.{s}", c.name)).display().to_string();
    let orig = load_file(&f("ORIG.o"), Expect::Relocatable).unwrap();
    let patched = load_file(&f("PATCHED.o"), Expect::Relocatable).unwrap();
    let list = changes::parse("list", &c.funcs.join("\n")).unwrap();
    let mut target = Target::default();
    target.add_source(&f("ORIG.o"), "vmlinux").unwrap();
    let exports = harness_exports(&orig, &patched);
    Loaded {
        orig,
        patched,
        list,
        target,
        exports,
    }
}

fn kpatch_klp_syms(dir: &Path, case: &str) -> BTreeSet<String> {
    let p = dir.join(format!("kpatch-output/{case}.txt"));
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("sym "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(str::to_string)
        .collect()
}

#[test]
fn corpus_extract() {
    let Some(dir) = corpus_dir() else { return };
    let work = scratch("corpus");
    let compat = std::fs::read_to_string(root().join("docs/compat.md")).unwrap_or_default();
    let mut failures = Vec::new();
    let mut n = 0;
    for c in cases(&dir).into_iter().filter(|c| c.outcome == "patch") {
        n += 1;
        let l = load_case(&dir, &c);
        let (orig, patched, target, exports) = (&l.orig, &l.patched, &l.target, &l.exports);
        let inputs = l.inputs();
        let opts = Options {
            objname: "vmlinux".into(),
            ..Default::default()
        };
        let ex = match extract::run(&inputs, &opts) {
            Ok(ex) => ex,
            Err(e) => {
                failures.push(format!("{}: extract failed: {e}", c.name));
                continue;
            }
        };
        let bytes = write::to_bytes(&ex.out).unwrap();
        let again = write::to_bytes(&extract::run(&inputs, &opts).unwrap().out).unwrap();
        assert_eq!(bytes, again, "{}: output is not deterministic", c.name);
        let out = work.join(format!("{}.klp.o", c.name));
        std::fs::write(&out, &bytes).unwrap();
        let elf = reload(&out);
        let names: HashSet<String> = exports_names(exports, orig, patched);
        check_livepatch_object(&elf, &names);
        // And with everything verify can use: the inputs, the original
        // (twins) and the target's symbols.
        verify_output(
            &elf,
            &klpwrite::verify::Context {
                patched: Some(patched),
                orig: Some(orig),
                twins: None,
                target: Some(target),
                exports: Some(exports),
                objname: Some("vmlinux"),
            },
        );
        check_binutils(&out);
        // Every listed function is defined in the output.
        for func in &c.funcs {
            assert!(
                elf.symbols
                    .iter()
                    .any(|s| s.section.is_some() && s.display_name() == *func),
                "{}: {func} missing from the output",
                c.name
            );
        }
        settings().bind(|| {
            insta::assert_snapshot!(format!("corpus__x86_64__{}", c.name), dump::render(&elf));
            insta::assert_snapshot!(
                format!("special__x86_64__{}", c.name),
                dump::render_special(&elf)
            );
        });
        // Compare klp symbols with kpatch's.
        let ours: BTreeSet<String> = klp_symbols(&elf).into_iter().collect();
        let theirs = kpatch_klp_syms(&dir, &c.name);
        let key = |s: &String| parse_klp_sym(s).map(|(o, n, _)| format!(".klp.sym.{o}.{n}"));
        let ours_k: BTreeSet<String> = ours.iter().filter_map(key).collect();
        let theirs_k: BTreeSet<String> = theirs.iter().filter_map(key).collect();
        for only in ours_k.symmetric_difference(&theirs_k) {
            let row_ok = compat
                .lines()
                .any(|l| l.contains(&format!("`{}`", c.name)) && l.contains(only.as_str()));
            if !row_ok {
                let side = if ours_k.contains(only) {
                    "klpwrite only"
                } else {
                    "kpatch only"
                };
                failures.push(format!(
                    "{}: {side}: {only} (not explained in docs/compat.md)",
                    c.name
                ));
            }
        }
        // Same symbols: sympos must agree, except kpatch's `,1` for names
        // that are unique (klpwrite writes 0, see compat.md).
        for o in &ours {
            let (obj, name, pos) = parse_klp_sym(o).unwrap();
            if let Some(t) = theirs
                .iter()
                .find(|t| parse_klp_sym(t).is_some_and(|(to, tn, _)| to == obj && tn == name))
            {
                let (_, _, tpos) = parse_klp_sym(t).unwrap();
                let unique = target
                    .object("vmlinux")
                    .unwrap()
                    .named(name.as_bytes())
                    .len()
                    == 1;
                if tpos != pos && !(unique && pos == 0 && tpos == 1) {
                    failures.push(format!("{}: sympos differs: ours {o}, kpatch {t}", c.name));
                }
            }
        }
    }
    println!("{}", verify_summary());
    assert!(n >= 38, "expected the corpus patch cases, found {n}");
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn exports_names(
    e: &Exports,
    orig: &klpwrite::elf::Elf,
    patched: &klpwrite::elf::Elf,
) -> HashSet<String> {
    let mut v = HashSet::new();
    for elf in [orig, patched] {
        for s in &elf.symbols {
            let n = s.display_name();
            if e.get(&n).is_some() {
                v.insert(n);
            }
        }
    }
    v
}

/// `--kernel-version 5.7`: alternatives and paravirt entries move to
/// `.klp.arch.vmlinux..<section>` (and the plain sections are gone), jump
/// labels with keys outside the patch are refused, objects with static
/// calls (5.10+) are refused with that reason.
#[test]
fn corpus_legacy_kernel() {
    let Some(dir) = corpus_dir() else { return };
    let work = scratch("corpus-legacy");
    let mut failures = Vec::new();
    let arch: &[(&str, &str)] = &[
        ("altinstr_aux", ".klp.arch.vmlinux..altinstructions"),
        ("convert-global-local", ".klp.arch.vmlinux..altinstructions"),
        ("fixup-section", ".klp.arch.vmlinux..altinstructions"),
        ("special-static", ".klp.arch.vmlinux..parainstructions"),
    ];
    let refused: &[(&str, &str)] = &[
        ("jump-label-issue-946", "memcg_kmem_enabled_key"),
        ("static-call-issue-1165", "devmap_managed_key"),
        (
            "static-call-pr-1315",
            "static calls first appeared in Linux 5.10",
        ),
    ];
    for c in cases(&dir).into_iter().filter(|c| c.outcome == "patch") {
        let l = load_case(&dir, &c);
        let inputs = l.inputs();
        let opts = Options {
            objname: "vmlinux".into(),
            kernel: Some(klpwrite::kernel::Rules::from_release("5.7").unwrap()),
            ..Default::default()
        };
        let result = extract::run(&inputs, &opts);
        if let Some((_, why)) = refused.iter().find(|r| r.0 == c.name) {
            match result {
                Err(e) if e.to_string().contains(why) => {}
                Err(e) => failures.push(format!("{}: refused for another reason: {e}", c.name)),
                Ok(_) => failures.push(format!("{}: must be refused for 5.7", c.name)),
            }
            continue;
        }
        let ex = match result {
            Ok(ex) => ex,
            Err(e) => {
                // Objects from 5.10+ kernels carry static calls: a clear refusal is right.
                if !e.to_string().contains("static calls first appeared") {
                    failures.push(format!("{}: {e}", c.name));
                }
                continue;
            }
        };
        let out = work.join(format!("{}.o", c.name));
        std::fs::write(&out, write::to_bytes(&ex.out).unwrap()).unwrap();
        let elf = reload(&out);
        check_binutils(&out);
        let names: Vec<String> = elf.sections.iter().map(|s| s.display_name()).collect();
        for plain in [".altinstructions", ".parainstructions"] {
            if names.iter().any(|n| n == plain) {
                failures.push(format!("{}: plain {plain} left in 5.7 output", c.name));
            }
        }
        if let Some((_, want)) = arch.iter().find(|a| a.0 == c.name)
            && !names.iter().any(|n| n == want)
        {
            failures.push(format!("{}: missing {want}; sections {names:?}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// kpatch's own outputs (`kpatch-output/<case>.txt`, the `.klp.rela`
/// sections and `.klp.sym` symbols `create-klp-module` wrote) through
/// verify's name-level checks, with ORIG as the target's symbols (as
/// kpatch's unit tests use it) and kpatch's function list as what it
/// copied. Findings are kpatch's, not ours: they are listed, and the set is
/// pinned so a change is noticed.
#[test]
fn kpatch_outputs_verify() {
    let Some(dir) = corpus_dir() else { return };
    let mut lines = Vec::new();
    let mut checked = 0;
    for c in cases(&dir).into_iter().filter(|c| c.outcome == "patch") {
        let p = dir.join(format!("kpatch-output/{}.txt", c.name));
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        checked += 1;
        let mut l = klpwrite::verify::Listing::parse_kpatch_summary(&text);
        l.copied = c.funcs.clone();
        let mut target = Target::default();
        target
            .add_source(
                &dir.join(format!("{}.ORIG.o", c.name)).display().to_string(),
                "vmlinux",
            )
            .unwrap();
        let rep = klpwrite::verify::verify_listing(&l, Some(&target));
        for f in &rep.findings {
            lines.push(format!("{}: {f}", c.name));
        }
    }
    println!(
        "verify: {checked} kpatch outputs checked, {} with findings, {} finding(s)",
        lines
            .iter()
            .map(|l| l.split(':').next().unwrap())
            .collect::<BTreeSet<_>>()
            .len(),
        lines.len()
    );
    for l in &lines {
        println!("  {l}");
    }
    // Both are kpatch copying more than the changed code and referencing
    // the __init function it came with (see docs/compat.md, where klpwrite
    // differs): check_bugs (all of .altinstr_aux copied) and reboot_setup
    // (all of .rodata copied, a switch table of it).
    let got: BTreeSet<String> = lines
        .iter()
        .map(|l| {
            let case = l.split(':').next().unwrap();
            let inv = l
                .split('[')
                .nth(1)
                .and_then(|x| x.split(']').next())
                .unwrap();
            format!("{case} {inv}")
        })
        .collect();
    let want: BTreeSet<String> = [
        "altinstr_aux init-target",
        "gcc-static-local-var-3 init-target",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(got, want, "verify's findings on kpatch's outputs changed");
}

/// Without the corpus, its tests say so on stderr past libtest's capture
/// (a `corpus: SKIPPED` line in plain `cargo test` output) and fail in CI.
/// Runs this test binary again on one corpus test with `KLPWRITE_CORPUS`
/// pointing at a directory that does not exist.
#[test]
fn missing_corpus_is_reported() {
    let missing = scratch("corpus-missing").join("nothing-here");
    let run = |ci: &str| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "kpatch_outputs_verify"])
            .env("KLPWRITE_CORPUS", &missing)
            .env("CI", ci)
            .output()
            .unwrap()
    };
    let o = run("");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let want = format!(
        "corpus: SKIPPED in kpatch_outputs_verify, {} not found",
        missing.display()
    );
    assert!(err.contains(&want), "stderr lacks {want:?}:\n{err}");
    let o = run("true");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "CI=true must fail without the corpus");
    assert!(
        all.contains("corpus: MISSING in kpatch_outputs_verify") && all.contains("required in CI"),
        "{all}"
    );
}
