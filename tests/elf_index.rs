//! The loader's analysis mode and the per-section indexes, against the
//! plain model on every fixture and corpus object:
//!
//! * `load_file_for_analysis` leaves out exactly the `.debug_*` sections
//!   and their relocation sections, and everything else (sections, bytes,
//!   symbols, relocations) is identical to `load_file`'s;
//! * `Elf::relocs_between` answers like a linear filter of the section's
//!   relocations, for every function's range and for ranges around page
//!   boundaries, empty ranges and ranges past the end.

mod support;

use std::path::{Path, PathBuf};

use klpwrite::elf::Elf;
use klpwrite::elf::load::{Expect, load_file, load_file_for_analysis};

fn objects() -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut dirs = vec![support::root().join("tests/fixtures/x86_64")];
    if let Some(c) = support::corpus_dir() {
        dirs.push(c);
    }
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "o" || x == "ko") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

fn is_debug(e: &Elf, sec: usize) -> bool {
    let s = &e.sections[sec];
    let own = |s: &klpwrite::elf::Section| s.name.starts_with(b".debug_") && !s.is_alloc();
    own(s)
        || (s.is_rela()
            && (s.sh_info as usize) < e.sections.len()
            && own(&e.sections[s.sh_info as usize]))
}

fn naive(e: &Elf, sec: usize, a: u64, b: u64) -> Vec<usize> {
    let mut v: Vec<usize> = e.sections[sec]
        .rela_sections
        .iter()
        .filter(|&&rs| !e.sections[rs].is_klp_rela())
        .flat_map(|&rs| {
            let r = e.rsec_relocs.get(&rs).cloned().unwrap_or(0..0);
            r.filter(|&i| e.relocs[i].offset >= a && e.relocs[i].offset < b)
        })
        .collect();
    v.sort_by_key(|&i| (e.relocs[i].offset, i));
    v
}

fn check_ranges(path: &Path, e: &Elf) -> usize {
    let mut n = 0;
    for sec in 0..e.sections.len() {
        if e.sections[sec].rela_sections.is_empty() {
            continue;
        }
        let size = e.sections[sec].sh_size;
        let mut ranges: Vec<(u64, u64)> =
            vec![(0, size), (0, 0), (size, size + 1), (size + 5000, u64::MAX)];
        for &s in e.section_symbols(sec) {
            let sym = &e.symbols[s];
            ranges.push((sym.value, sym.value.saturating_add(sym.size)));
        }
        for page in (0..size + 8192).step_by(4096) {
            for d in [0u64, 1, 7] {
                ranges.push((page.saturating_sub(d), page + d + 1));
                ranges.push((page + d, page + 4096 + d));
            }
        }
        for (a, b) in ranges {
            assert_eq!(
                e.relocs_between(sec, a, b),
                naive(e, sec, a, b).as_slice(),
                "{}: {} [{a:#x}, {b:#x})",
                path.display(),
                e.sections[sec].display_name()
            );
            n += 1;
        }
    }
    n
}

#[test]
fn analysis_load_leaves_out_debug_sections_only() {
    let objs = objects();
    assert!(!objs.is_empty(), "no objects found");
    let (mut with_debug, mut queries) = (0, 0);
    for p in &objs {
        let ps = p.to_string_lossy();
        let Ok(full) = load_file(&ps, Expect::Relocatable) else {
            // Bad-input fixtures: the analysis load must fail too.
            assert!(
                load_file_for_analysis(&ps, Expect::Relocatable).is_err(),
                "{ps}"
            );
            continue;
        };
        let part = load_file_for_analysis(&ps, Expect::Relocatable)
            .unwrap_or_else(|e| panic!("{ps}: {e}"));
        assert_eq!(full.sections.len(), part.sections.len(), "{ps}");
        assert_eq!(full.symbols.len(), part.symbols.len(), "{ps}");
        let mut skipped_any = false;
        for sec in 0..full.sections.len() {
            let debug = is_debug(&full, sec);
            skipped_any |= debug && full.sections[sec].sh_size > 0;
            if debug {
                assert!(
                    part.relocs_for(sec).next().is_none(),
                    "{ps}: #{sec} has relocations"
                );
                continue;
            }
            assert_eq!(full.data(sec), part.data(sec), "{ps}: section #{sec} bytes");
            let a: Vec<_> = full
                .relocs_for(sec)
                .map(|r| (r.offset, r.symbol, r.r_type, r.addend))
                .collect();
            let b: Vec<_> = part
                .relocs_for(sec)
                .map(|r| (r.offset, r.symbol, r.r_type, r.addend))
                .collect();
            assert_eq!(a, b, "{ps}: relocations of #{sec}");
        }
        for (x, y) in full.symbols.iter().zip(&part.symbols) {
            assert_eq!(
                (&x.name, x.value, x.size, x.section),
                (&y.name, y.value, y.size, y.section),
                "{ps}"
            );
        }
        assert_eq!(part.debug_skipped(), skipped_any, "{ps}");
        with_debug += usize::from(skipped_any);
        queries += check_ranges(p, &full);
    }
    eprintln!(
        "elf_index: {} objects, {with_debug} with debug sections, {queries} range queries",
        objs.len()
    );
}
