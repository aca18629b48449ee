//! Benchmark: `extract` over the kpatch unit corpus.
//!
//! `cargo bench --bench corpus` prints, for every `patch` case, the best of
//! N runs of load + extract + encode (in-process, no process start-up), the
//! total over the corpus, and the largest input. Not a test: nothing here
//! can fail on timing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use klpwrite::changes;
use klpwrite::elf::load::{Expect, load_file};
use klpwrite::extract::{self, Inputs, Options};
use klpwrite::symvers::{Export, Exports};
use klpwrite::target::Target;
use klpwrite::write;

const RUNS: usize = 20;

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/kpatch-unit/x86_64");
    let Ok(tsv) = std::fs::read_to_string(dir.join("EXPECTED.tsv")) else {
        eprintln!("corpus not found at {}", dir.display());
        return;
    };
    let mut total = Duration::ZERO;
    let mut largest: Option<(u64, String, Duration)> = None;
    println!("{:<40} {:>10} {:>12}", "case", "ORIG KiB", "extract ms");
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f[1] != "patch" {
            continue;
        }
        let case = f[0];
        let path = |s: &str| dir.join(format!("{case}.{s}")).display().to_string();
        let list_text = f[4].replace(',', "\n");
        let mut best = Duration::MAX;
        for _ in 0..RUNS {
            let t = Instant::now();
            let patched = load_file(&path("PATCHED.o"), Expect::Relocatable).unwrap();
            let orig = load_file(&path("ORIG.o"), Expect::Relocatable).unwrap();
            let mut exports = Exports::default();
            for elf in [&orig, &patched] {
                for s in elf
                    .symbols
                    .iter()
                    .filter(|s| s.is_undef() && !s.name.is_empty())
                {
                    let e = Export {
                        crc: 0,
                        module: "vmlinux".into(),
                        export_type: "EXPORT_SYMBOL".into(),
                        namespace: None,
                    };
                    exports.insert(&s.display_name(), e);
                }
            }
            let mut target = Target::default();
            target.add_source(&path("ORIG.o"), "vmlinux").unwrap();
            let list = changes::parse("list", &list_text).unwrap();
            let inputs = Inputs {
                patched: &patched,
                orig: None,
                changes: &list,
                target: &target,
                exports: &exports,
                have_symvers: true,
            };
            let ex = extract::run(
                &inputs,
                &Options {
                    objname: "vmlinux".into(),
                    ..Default::default()
                },
            )
            .unwrap();
            let bytes = write::to_bytes(&ex.out).unwrap();
            std::hint::black_box(bytes);
            best = best.min(t.elapsed());
        }
        let size = std::fs::metadata(path("ORIG.o"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "{case:<40} {:>10} {:>12.3}",
            size / 1024,
            best.as_secs_f64() * 1e3
        );
        total += best;
        if largest.as_ref().is_none_or(|l| size > l.0) {
            largest = Some((size, case.to_string(), best));
        }
    }
    println!(
        "total (sum of per-case best of {RUNS}): {:.1} ms",
        total.as_secs_f64() * 1e3
    );
    if let Some((size, case, t)) = largest {
        println!(
            "largest patch case: {case} ({} KiB): {:.3} ms",
            size / 1024,
            t.as_secs_f64() * 1e3
        );
    }
}
