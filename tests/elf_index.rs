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
use klpwrite::elf::load::{Expect, load_file, load_file_for_analysis, load_file_for_checksums};

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

/// Whether a partial load leaves out section `sec`: DWARF, and for the
/// checksum load (`orc_btf`) the ORC and BTF sections, each with its
/// relocation sections.
fn left_out(e: &Elf, sec: usize, orc_btf: bool) -> bool {
    let s = &e.sections[sec];
    let own = |s: &klpwrite::elf::Section| {
        (s.name.starts_with(b".debug_") && !s.is_alloc())
            || (orc_btf
                && [&b".orc_unwind"[..], b".orc_unwind_ip", b".BTF", b".BTF.ext"]
                    .contains(&s.name.as_slice()))
    };
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
    partial_load_leaves_out(false);
}

/// The checksum load (`checksum`, `diff`) leaves out ORC and BTF too, and
/// nothing else.
#[test]
fn checksum_load_leaves_out_debug_orc_and_btf_only() {
    partial_load_leaves_out(true);
}

fn partial_load_leaves_out(orc_btf: bool) {
    let load = if orc_btf {
        load_file_for_checksums
    } else {
        load_file_for_analysis
    };
    let objs = objects();
    assert!(!objs.is_empty(), "no objects found");
    let (mut with_debug, mut queries) = (0, 0);
    for p in &objs {
        let ps = p.to_string_lossy();
        let Ok(full) = load_file(&ps, Expect::Relocatable) else {
            // Bad-input fixtures: the analysis load must fail too.
            assert!(load(&ps, Expect::Relocatable).is_err(), "{ps}");
            continue;
        };
        let part = load(&ps, Expect::Relocatable).unwrap_or_else(|e| panic!("{ps}: {e}"));
        assert_eq!(full.sections.len(), part.sections.len(), "{ps}");
        assert_eq!(full.symbols.len(), part.symbols.len(), "{ps}");
        let mut skipped_any = false;
        for sec in 0..full.sections.len() {
            let debug = left_out(&full, sec, orc_btf);
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

/// Assemble `src` into `out` with `as`.
fn assemble(src: &str, out: &Path) {
    let s = out.with_extension("s");
    std::fs::write(&s, src).unwrap();
    let st = std::process::Command::new("as")
        .args(["--64", "-o"])
        .arg(out)
        .arg(&s)
        .status()
        .unwrap();
    assert!(st.success(), "as failed on {}", s.display());
}

/// An object with more than 0xff00 sections keeps its section-name table
/// index in section 0's `sh_link` (e_shstrndx = SHN_XINDEX). The analysis
/// load must read the names from there: taking them from elsewhere named
/// sections from the first bytes of the file, skipped `.text.f2` as
/// "debug" when those bytes read `.debug_`, and diff lost f2's change
/// (hostile review of ea7488e).
#[test]
fn many_sections_analysis_load() {
    if !support::have("as") {
        eprintln!("elf_index: SKIPPED many_sections_analysis_load (no `as`)");
        return;
    }
    let d = support::scratch("elf-index-many");
    const N: usize = 32_800; // two sections each: .text.fN and .rela.text.fN
    let source = |changed: Option<usize>| {
        let mut s = String::from(".text\n.rept 4000\n.ascii \".debug_\\0\"\n.endr\n");
        for i in 0..N {
            let t = if changed == Some(i) {
                format!("other{i}")
            } else {
                format!("ext{i}")
            };
            s.push_str(&format!(
                ".section .text.f{i},\"ax\",@progbits\n.globl f{i}\n.type f{i},@function\nf{i}:\n call {t}\n ret\n.size f{i},.-f{i}\n"
            ));
        }
        s
    };
    let (o, p) = (d.join("orig.o"), d.join("patched.o"));
    assemble(&source(None), &o);
    assemble(&source(Some(2)), &p);
    let load =
        |x: &Path| load_file_for_analysis(&x.to_string_lossy(), Expect::Relocatable).unwrap();
    let (eo, ep) = (load(&o), load(&p));
    assert!(eo.sections.len() > 0xff00);
    assert!(!eo.debug_skipped() && !ep.debug_skipped());
    let full = load_file(&p.to_string_lossy(), Expect::Relocatable).unwrap();
    let f2 = full.find_function(b"f2").unwrap();
    let sec = full.symbols[f2].section.unwrap();
    assert_eq!(ep.data(sec), full.data(sec));
    assert_eq!(ep.relocs_for(sec).count(), 1);
    let rep = klpwrite::diff::run(&eo, &ep).unwrap();
    let changed: Vec<String> = rep
        .changed
        .iter()
        .map(|&s| ep.symbols[s].display_name())
        .collect();
    assert_eq!(changed, ["f2"]);
}

/// A relocation far inside a huge NOBITS section (nonsense, but a file
/// can say it): the relocation index must not be sized by the offset
/// (the first page index allocated 2^50 entries and aborted).
#[test]
fn huge_offset_does_not_size_the_index() {
    if !support::have("as") {
        eprintln!("elf_index: SKIPPED huge_offset_does_not_size_the_index (no `as`)");
        return;
    }
    let d = support::scratch("elf-index-nobits");
    let o = d.join("nb.o");
    assemble(
        ".text\n.globl f\n.type f,@function\nf:\n ret\n.size f,.-f\n.section .mydata,\"aw\",@progbits\n.quad f\n",
        &o,
    );
    // Turn .mydata into NOBITS of size 2^62 and move its relocation to
    // 2^62 - 8.
    let mut b = std::fs::read(&o).unwrap();
    let rd = |b: &[u8], at: usize, n: usize| {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&b[at..at + n]);
        u64::from_le_bytes(v)
    };
    let shoff = rd(&b, 0x28, 8) as usize;
    let shnum = rd(&b, 0x3c, 2) as usize;
    let stridx = rd(&b, 0x3e, 2) as usize;
    let stroff = rd(&b, shoff + stridx * 64 + 0x18, 8) as usize;
    let name = |b: &[u8], i: usize| {
        let at = stroff + rd(b, shoff + i * 64, 4) as usize;
        let end = b[at..].iter().position(|&c| c == 0).unwrap();
        String::from_utf8_lossy(&b[at..at + end]).into_owned()
    };
    let find = |b: &[u8], n: &str| (0..shnum).find(|&i| name(b, i) == n).unwrap();
    let (data, rela) = (find(&b, ".mydata"), find(&b, ".rela.mydata"));
    let h = shoff + data * 64;
    b[h + 4..h + 8].copy_from_slice(&8u32.to_le_bytes()); // SHT_NOBITS
    b[h + 0x20..h + 0x28].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let r = rd(&b, shoff + rela * 64 + 0x18, 8) as usize;
    b[r..r + 8].copy_from_slice(&((1u64 << 62) - 8).to_le_bytes());
    std::fs::write(&o, &b).unwrap();
    let e = load_file_for_analysis(&o.to_string_lossy(), Expect::Relocatable).unwrap();
    let sec = e.section_by_name(b".mydata").unwrap();
    assert_eq!(e.relocs_between(sec, 0, u64::MAX).len(), 1);
    assert_eq!(e.relocs_between(sec, (1 << 62) - 8, (1 << 62) - 7).len(), 1);
    assert!(e.relocs_between(sec, 0, (1 << 62) - 8).is_empty());
    klpwrite::checksum::run(&e).unwrap();
}

/// The checksum load leaves ORC out only when nothing read refers into it:
/// code that takes the address of a label in `.orc_unwind` (or a symbol
/// defined there) must see its real bytes, so the load falls back to the
/// analysis load, which still leaves out DWARF. An object with plain ORC
/// tables, or with `ORC_HEADER`'s `orc_header` object in `.orc_header`
/// (every module of a 6.5+ kernel), skips them.
#[test]
fn checksum_load_reads_orc_that_code_refers_to() {
    if !support::have("as") {
        eprintln!("elf_index: SKIPPED checksum_load_reads_orc_that_code_refers_to (no `as`)");
        return;
    }
    let d = support::scratch("elf-index-orc");
    let body = |refer: &str, label: &str| {
        format!(
            ".section .text.f,\"ax\",@progbits\n.globl f\n.type f,@function\nf:\n{refer}\n ret\n.size f,.-f\n\
             .section .orc_unwind,\"a\",@progbits\n{label}:\n.quad 0x1122334455667788\n\
             .section .orc_unwind_ip,\"a\",@progbits\n.long f - .\n\
             .section .orc_header,\"a\",@progbits\n.type orc_header,@object\norc_header:\n.byte 1,2,3,4\n.size orc_header,4\n\
             .section .debug_info,\"\",@progbits\n.quad f\n"
        )
    };
    for (name, refer, label, skipped) in [
        ("plain", " nop", ".Lorc_first", true),
        ("unused-label", " nop", "orc_first", false),
        ("label", " lea orc_first(%rip), %rax", "orc_first", false),
        (
            "section",
            " lea .orc_unwind+0(%rip), %rax",
            ".Lorc_first",
            false,
        ),
    ] {
        let o = d.join(format!("{name}.o"));
        assemble(&body(refer, label), &o);
        let ps = o.to_string_lossy();
        let e = load_file_for_checksums(&ps, Expect::Relocatable).unwrap();
        let full = load_file(&ps, Expect::Relocatable).unwrap();
        let orc = full.section_by_name(b".orc_unwind").unwrap();
        let ip = full.section_by_name(b".orc_unwind_ip").unwrap();
        let dbg = full.section_by_name(b".debug_info").unwrap();
        assert_eq!(full.relocs_for(dbg).count(), 1, "{name}");
        // DWARF is left out in every case, the fallback included.
        assert!(e.debug_skipped(), "{name}");
        assert_eq!(e.relocs_for(dbg).count(), 0, "{name}");
        let hdr = full.section_by_name(b".orc_header").unwrap();
        assert_eq!(e.data(hdr), full.data(hdr), "{name}");
        if skipped {
            // (Its bytes may still be read: ranges closer than 64 KiB are
            // read in one go.)
            assert_eq!(e.relocs_for(ip).count(), 0, "{name}");
        } else {
            assert_eq!(e.data(orc), full.data(orc), "{name}");
            assert_eq!(e.relocs_for(ip).count(), 1, "{name}");
        }
    }
}

/// `diff`'s strict checksums (decoded as they are hashed) equal the strict
/// half of `checksum`'s (decoded in full for the `__LINE__` analysis), for
/// every function and object of every fixture and corpus object, loaded
/// the way each command loads it.
#[test]
fn strict_checksums_match_full_pass() {
    let hints = klpwrite::special::LayoutHints::default();
    let (mut objs, mut funcs) = (0, 0);
    for p in objects() {
        let ps = p.to_string_lossy();
        let Ok(e) = load_file_for_checksums(&ps, Expect::Relocatable) else {
            continue;
        };
        let Ok(full) = klpwrite::checksum::run_with(&e, &hints) else {
            continue;
        };
        let ctx = klpwrite::checksum::context(&e, &hints).unwrap();
        let strict = klpwrite::checksum::strict(&ctx);
        assert_eq!(strict.by_sym.len(), full.by_sym.len(), "{ps}");
        for (sym, c) in &full.by_sym {
            assert_eq!(
                strict.by_sym.get(sym),
                Some(&(c.kind, c.strict)),
                "{ps}: {}",
                e.symbols[*sym].display_name()
            );
            funcs += usize::from(c.kind == klpwrite::checksum::Kind::Func);
        }
        objs += 1;
    }
    assert!(funcs > 0);
    eprintln!("elf_index: strict == full on {objs} objects, {funcs} functions");
}

/// A special-section entry whose relocation refers into its own table:
/// l2's b.o with the section symbol of `.text.lto_value` moved to
/// `__mcount_loc`, so the `__mcount_loc` entry points into `__mcount_loc`.
/// checksum followed entry to entry until the stack overflowed (an abort,
/// found by the mutation sweep); now it is a clean result.
#[test]
fn special_entry_that_refers_to_its_own_table_is_no_recursion() {
    let path = support::root().join("tests/fixtures/x86_64/l2-lto-hidden-global/b.o");
    let e = load_file(&path.display().to_string(), Expect::Relocatable).unwrap();
    let symtab = e.sections.iter().find(|s| s.name == b".symtab").unwrap();
    let text = e.section_by_name(b".text.lto_value").unwrap();
    let mcount = e.section_by_name(b"__mcount_loc").unwrap();
    let s = e
        .symbols
        .iter()
        .find(|s| s.is_section() && s.section == Some(text))
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // Elf64_Sym: st_shndx at offset 6 of each 24-byte entry.
    let at = symtab.file_range.start + s.index * 24 + 6;
    bytes[at..at + 2].copy_from_slice(&(mcount as u16).to_le_bytes());
    let out = support::scratch("self-referring-entry").join("b.o");
    std::fs::write(&out, &bytes).unwrap();
    let o = support::klpwrite(&["checksum", &out.display().to_string()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = support::klpwrite(&[
        "diff",
        &path.display().to_string(),
        &out.display().to_string(),
    ]);
    assert!(matches!(o.status.code(), Some(0..=2)), "{:?}", o.status);
}
