//! Benchmark: `diff` and `extract` over the kpatch unit corpus.
//!
//! `cargo bench --bench corpus` prints, for every case, the best of N
//! in-process runs (no process start-up) of
//!
//! * diff: load ORIG and PATCHED, checksum both, correlate, classify;
//! * extract: load, extract the listed functions, encode the object;
//! * build: diff followed by extract of what diff found (what
//!   `klpwrite build` does),
//!
//! then totals over the corpus and the figures for the largest input.
//! Not a test: nothing here can fail on timing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use klpwrite::changes;
use klpwrite::diff;
use klpwrite::elf::Elf;
use klpwrite::elf::load::{Expect, load_file};
use klpwrite::extract::{self, Inputs, Options};
use klpwrite::symvers::{Export, Exports};
use klpwrite::target::Target;
use klpwrite::write;

const RUNS: usize = 15;

fn best(mut f: impl FnMut()) -> Duration {
    let mut b = Duration::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed());
    }
    b
}

fn exports(orig: &Elf, patched: &Elf) -> Exports {
    let mut e = Exports::default();
    for elf in [orig, patched] {
        for s in elf
            .symbols
            .iter()
            .filter(|s| s.is_undef() && !s.name.is_empty())
        {
            let x = Export {
                crc: 0,
                module: "vmlinux".into(),
                export_type: "EXPORT_SYMBOL".into(),
                namespace: None,
            };
            e.insert(&s.display_name(), x);
        }
    }
    e
}

fn extract_once(
    orig_path: &str,
    orig: &Elf,
    patched: &Elf,
    list: &[changes::Change],
    with_orig: bool,
) {
    let mut target = Target::default();
    target.add_source(orig_path, "vmlinux").unwrap();
    let ex = exports(orig, patched);
    let twins = with_orig.then(|| klpwrite::correlate::run(orig, patched).unwrap());
    let inputs = Inputs {
        patched,
        orig: twins
            .as_ref()
            .map(|twins| extract::Orig { elf: orig, twins }),
        changes: list,
        target: &target,
        exports: &ex,
        have_symvers: true,
    };
    let out = extract::run(
        &inputs,
        &Options {
            objname: "vmlinux".into(),
            ..Default::default()
        },
    )
    .unwrap();
    std::hint::black_box(write::to_bytes(&out.out).unwrap());
}

fn main() {
    let dir = match std::env::var_os("KLPWRITE_CORPUS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/kpatch-unit/x86_64"),
    };
    let Ok(tsv) = std::fs::read_to_string(dir.join("EXPECTED.tsv")) else {
        eprintln!("corpus not found at {}", dir.display());
        return;
    };
    let (mut td, mut te, mut tb) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut largest: Option<(u64, String, Duration, Duration)> = None;
    println!(
        "{:<38} {:>8} {:>9} {:>10} {:>9}",
        "case", "KiB", "diff ms", "extract ms", "build ms"
    );
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (case, outcome) = (f[0], f[1]);
        let path = |s: &str| dir.join(format!("{case}.{s}")).display().to_string();
        let opath = path("ORIG.o");
        let ppath = if dir.join(format!("{case}.PATCHED.o")).exists() {
            path("PATCHED.o")
        } else {
            path("PATCHED.FAIL.o")
        };
        let size = std::fs::metadata(&opath).map(|m| m.len()).unwrap_or(0);
        let d = best(|| {
            let o = load_file(&opath, Expect::Relocatable).unwrap();
            let p = load_file(&ppath, Expect::Relocatable).unwrap();
            let _ = std::hint::black_box(diff::run(&o, &p));
        });
        let mut e = Duration::ZERO;
        let b;
        if outcome == "patch" {
            let list = changes::parse("list", &f[4].replace(',', "\n")).unwrap();
            e = best(|| {
                let o = load_file(&opath, Expect::Relocatable).unwrap();
                let p = load_file(&ppath, Expect::Relocatable).unwrap();
                extract_once(&opath, &o, &p, &list, false);
            });
            b = best(|| {
                let o = load_file(&opath, Expect::Relocatable).unwrap();
                let p = load_file(&ppath, Expect::Relocatable).unwrap();
                let rep = diff::run(&o, &p).unwrap();
                let l = changes::parse("diff", &rep.render(&o, &p)).unwrap();
                extract_once(&opath, &o, &p, &l, true);
            });
        } else {
            b = d;
        }
        println!(
            "{case:<38} {:>8} {:>9.3} {:>10.3} {:>9.3}",
            size / 1024,
            ms(d),
            ms(e),
            ms(b)
        );
        td += d;
        te += e;
        tb += b;
        if largest.as_ref().is_none_or(|l| size > l.0) {
            largest = Some((size, case.to_string(), d, b));
        }
    }
    println!(
        "total over the corpus (sum of per-case best of {RUNS}): diff {:.1} ms, extract {:.1} ms, build (diff+extract) {:.1} ms",
        ms(td),
        ms(te),
        ms(tb)
    );
    if let Some((size, case, d, b)) = largest {
        println!(
            "largest input: {case} ({} KiB): diff {:.2} ms, build {:.2} ms",
            size / 1024,
            ms(d),
            ms(b)
        );
    }
    println!(
        "kpatch baseline (docs/kpatch-unit-baseline.md): ~1100 ms for the corpus, 330-530 ms for the largest case"
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
