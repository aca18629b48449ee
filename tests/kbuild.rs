//! `kbuild` and `post-link`: the generated directory, a simulated kbuild
//! link (`ld -r` of the shipped object after a dummy object that shifts
//! every section), the restored `.klp.rela`/`.klp.sym`, idempotence, the
//! refusals, and the generic copy that post-link is built on.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use klpwrite::elf::Elf;
use klpwrite::elf::consts::*;
use klpwrite::elf::load::{Expect, load_file};
use klpwrite::kbuild::copy::copy;
use klpwrite::kbuild::records::{LINKED, LINKED_SYMBOL, NAMES_SECTION, Record, UNLINKED};
use klpwrite::output::{OutData, OutObject};
use klpwrite::write;
use support::build::Obj;
use support::*;

fn example(f: &str) -> String {
    root()
        .join("examples/data/cmdline")
        .join(f)
        .display()
        .to_string()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `klpwrite extract` of the embedded example into `dir/ex.o`.
fn extract_example(dir: &Path) -> PathBuf {
    extract_example_with(dir, "ex.o", &[])
}

fn extract_example_with(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args: Vec<String> = vec![
        "extract".into(),
        example("cmdline.patched.o"),
        "--changes".into(),
        example("changes.txt"),
        "--objname".into(),
        "vmlinux".into(),
        "--symbols".into(),
        example("vmlinux.syms"),
        "--symvers".into(),
        example("Module.symvers"),
        "-o".into(),
        s(&out),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = klpwrite(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn exports() -> HashSet<String> {
    std::fs::read_to_string(example("Module.symvers"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split('\t').nth(1).map(str::to_string))
        .collect()
}

fn sym_named<'a>(elf: &'a Elf, name: &str) -> &'a klpwrite::elf::Symbol {
    let i = elf.symbols_named(name.as_bytes())[0];
    &elf.symbols[i]
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// kbuild + a simulated kbuild link: `ld -r dummy.o shipped.o`, where the
/// dummy defines the stub's marker and puts 0x30 bytes in front of the
/// shipped `.text.cmdline_proc_show` and 4 in front of its names.
/// Returns (dir, linked module path) or None without `ld`.
fn linked(name: &str) -> Option<(PathBuf, PathBuf)> {
    linked_with(name, |_| {}, &[])
}

/// [`linked`] with more in the dummy object (`extra`) and more objects
/// linked after the shipped one (`after`): stand-ins for the stub.
fn linked_with(
    name: &str,
    extra: impl Fn(&mut Obj),
    after: &[PathBuf],
) -> Option<(PathBuf, PathBuf)> {
    if !have("ld") {
        eprintln!("note: no ld; link simulation skipped");
        return None;
    }
    let d = scratch(name);
    let ex = extract_example(&d);
    let kdir = d.join("kb");
    let o = klpwrite(&["kbuild", &s(&ex), "--name", "klpw_ex", "-o", &s(&kdir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut dummy = Obj::default();
    dummy.section(
        ".text.cmdline_proc_show",
        SHF_ALLOC | SHF_EXECINSTR,
        &[0xcc; 0x30],
        0,
    );
    let data = dummy.section(".data", SHF_ALLOC | SHF_WRITE, &UNLINKED.to_le_bytes(), 0);
    dummy.data_symbol("__klpwrite_linked", data, 4);
    dummy.section(".klpwrite.klp_names", SHF_ALLOC, b"pad\0", 0);
    dummy.section(".note.GNU-stack", 0, &[], 0);
    extra(&mut dummy);
    let dummy_o = d.join("dummy.o");
    dummy.finish(&s(&dummy_o));
    let ko = d.join("klpw_ex.ko");
    let o = Command::new("ld")
        .arg("-r")
        .arg("-o")
        .arg(&ko)
        .arg(&dummy_o)
        .arg(kdir.join("1-vmlinux.o_shipped"))
        .args(after)
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "ld: {}",
        stderr(&o)
    );
    Some((d, ko))
}

#[test]
fn kbuild_writes_stub_kbuild_makefile_and_shipped_object() {
    let d = scratch("kbuild-files");
    let ex = extract_example(&d);
    let kdir = d.join("kb");
    let o = klpwrite(&["kbuild", &s(&ex), "--name", "klpw_ex", "-o", &s(&kdir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut names: Vec<String> = std::fs::read_dir(&kdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".1-vmlinux.o.cmd",
            "1-vmlinux.o_shipped",
            "Kbuild",
            "Makefile",
            "klpwrite_stub.c"
        ]
    );
    assert!(
        std::fs::read(kdir.join(".1-vmlinux.o.cmd"))
            .unwrap()
            .is_empty()
    );
    let kb = std::fs::read_to_string(kdir.join("Kbuild")).unwrap();
    assert!(kb.contains("obj-m := klpw_ex.o\n"), "{kb}");
    assert!(
        kb.contains("klpw_ex-y := klpwrite_stub.o 1-vmlinux.o\n"),
        "{kb}"
    );
    let mk = std::fs::read_to_string(kdir.join("Makefile")).unwrap();
    for needle in [
        "KLPWRITE ?= klpwrite\n",
        "KDIR ?= ",
        "SHIPPED := 1-vmlinux.o\n",
        "\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n",
        "\t$(KLPWRITE) post-link $(CURDIR)/klpw_ex.ko\n",
        ".$$o.cmd",
    ] {
        assert!(mk.contains(needle), "Makefile lacks {needle:?}:\n{mk}");
    }
    let c = std::fs::read_to_string(kdir.join("klpwrite_stub.c")).unwrap();
    for needle in [
        "#include <linux/module.h>",
        "#include <linux/livepatch.h>",
        "extern void __klpwrite_fn_1_0(void);",
        ".old_name = \"cmdline_proc_show\",",
        ".new_func = __klpwrite_fn_1_0,",
        ".old_sympos = 0,",
        ".name = NULL /* vmlinux */,",
        ".mod = THIS_MODULE,",
        ".replace = false,",
        "volatile unsigned int __klpwrite_linked = 0x4e4b4c50;",
        "if (__klpwrite_linked != 0x594b4c50)",
        "return klp_enable_patch(&klpwrite_patch);",
        "module_init(klpwrite_init);",
        "module_exit(klpwrite_exit);",
        "MODULE_LICENSE(\"GPL\");",
        "MODULE_INFO(livepatch, \"Y\");",
    ] {
        assert!(c.contains(needle), "stub lacks {needle:?}:\n{c}");
    }

    // The shipped object: no klp parts, one record, an alias.
    let sh = kdir.join("1-vmlinux.o_shipped");
    check_binutils(&sh);
    let e = reload(&sh);
    assert!(e.sections.iter().all(|x| !x.is_klp_rela()
        && !x.name.starts_with(b".klp.")
        && x.name != b".klpwrite.patch"));
    assert!(e.symbols.iter().all(|x| !x.is_livepatch()));
    let rs = e
        .section_by_name(b".klpwrite.klp_relocs.vmlinux")
        .expect("records");
    assert_eq!(e.sections[rs].sh_flags, SHF_ALLOC);
    assert_eq!(e.sections[rs].sh_size, 32);
    let rec = Record::decode(e.data(rs));
    assert_eq!((rec.r_type, rec.addend), (2, -4));
    let relocs: Vec<_> = e.relocs_for(rs).copied().collect();
    assert_eq!(relocs.len(), 2);
    let place = &relocs[0];
    assert_eq!((place.offset, place.r_type, place.addend), (0, 1, 0x14));
    let target = e.symbols[place.symbol].section.unwrap();
    assert_eq!(e.sections[target].name, b".text.cmdline_proc_show");
    let name = &relocs[1];
    assert_eq!((name.offset, name.r_type), (8, 1));
    let ns = e.symbols[name.symbol].section.unwrap();
    assert_eq!(e.sections[ns].name, NAMES_SECTION);
    let text = &e.data(ns)[name.addend as usize..];
    let end = text.iter().position(|&b| b == 0).unwrap();
    assert_eq!(&text[..end], b".klp.sym.vmlinux.saved_command_line,0");
    let f = sym_named(&e, "cmdline_proc_show");
    let a = sym_named(&e, "__klpwrite_fn_1_0");
    assert!(f.is_local() && a.bind() == STB_GLOBAL && a.is_func());
    assert_eq!((a.section, a.value, a.size), (f.section, f.value, f.size));
}

#[test]
fn kbuild_options_reach_the_stub() {
    let d = scratch("kbuild-options");
    let ex = extract_example(&d);
    let kdir = d.join("kb");
    let o = klpwrite(&[
        "kbuild",
        &s(&ex),
        "--name",
        "klpw_ex",
        "--replace",
        "--callback",
        "post_patch=cmdline_proc_show",
        "-o",
        &s(&kdir),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = std::fs::read_to_string(kdir.join("klpwrite_stub.c")).unwrap();
    assert!(c.contains(".replace = true,"), "{c}");
    assert!(
        c.contains("extern void __klpwrite_cb_0_post_patch(struct klp_object *obj);"),
        "{c}"
    );
    assert!(
        c.contains(".post_patch = __klpwrite_cb_0_post_patch,"),
        "{c}"
    );
    let e = reload(&kdir.join("1-vmlinux.o_shipped"));
    assert!(sym_named(&e, "__klpwrite_cb_0_post_patch").is_func());
}

#[test]
fn kbuild_refusals_write_nothing() {
    let d = scratch("kbuild-refusals");
    let ex = extract_example(&d);
    let legacy = extract_example_with(&d, "legacy.o", &["--kernel-version", "5.7"]);
    // Sympos 1 of a unique name is the function sympos 0 names
    // (klp_find_object_symbol() in kernel/livepatch/core.c).
    let pos1 = extract_example_with(&d, "pos1.o", &["--sympos", "cmdline_proc_show=1"]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![example("cmdline.o"), "--name".into(), "klpw_x".into()],
            "not an output of `klpwrite extract`",
        ),
        (
            vec![s(&ex), "--name".into(), "klpw-x".into()],
            "module name",
        ),
        (
            vec![
                s(&ex),
                "--name".into(),
                "klpw_x".into(),
                "--callback".into(),
                "pre_patch=nope".into(),
            ],
            "callback function nope is not defined",
        ),
        (
            vec![
                s(&ex),
                "--name".into(),
                "klpw_x".into(),
                "--callback".into(),
                "pre_patch=cmdline_proc_show@klpw_target".into(),
            ],
            "which none of the patch objects patches",
        ),
        (
            vec![s(&ex), s(&ex), "--name".into(), "klpw_x".into()],
            "is patched by both",
        ),
        (
            vec![s(&ex), s(&pos1), "--name".into(), "klpw_x".into()],
            "is patched by both",
        ),
        (
            vec![s(&legacy), "--name".into(), "klpw_x".into()],
            "extracted for the pre-5.8 rules",
        ),
    ];
    for (k, (args, want)) in cases.into_iter().enumerate() {
        let out = d.join(format!("out{k}"));
        let mut a = vec!["kbuild".to_string()];
        a.extend(args);
        a.extend(["-o".to_string(), s(&out)]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = klpwrite(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{a:?}: {}", stderr(&o));
        assert!(!out.exists(), "{a:?} wrote {}", out.display());
    }
}

#[test]
fn post_link_restores_klp_relocations_after_ld_r() {
    let Some((_d, ko)) = linked("kbuild-link") else {
        return;
    };
    let before = reload(&ko);
    // The link kept the records and rebased both relocations.
    let rs = before
        .section_by_name(b".klpwrite.klp_relocs.vmlinux")
        .unwrap();
    let place = before.relocs_for(rs).find(|r| r.offset == 0).unwrap();
    assert_eq!(place.addend, 0x30 + 0x14, "ld did not rebase the place");
    let o = klpwrite(&["post-link", &s(&ko)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 klp relocation(s) restored in 1 section(s)"));
    check_binutils(&ko);
    let e = reload(&ko);
    check_livepatch_object(&e, &exports());

    // The klp relocation, where the link put the function.
    let kr: Vec<_> = e.sections.iter().filter(|x| x.is_klp_rela()).collect();
    assert_eq!(kr.len(), 1);
    let kr = kr[0];
    assert_eq!(kr.name, b".klp.rela.vmlinux..text.cmdline_proc_show");
    assert_eq!(kr.sh_flags, SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH);
    let target = kr.sh_info as usize;
    assert_eq!(e.sections[target].name, b".text.cmdline_proc_show");
    let rl = e.relocs_of_rsec(kr.index);
    assert_eq!(rl.len(), 1);
    let r = rl[0];
    assert_eq!((r.offset, r.r_type, r.addend), (0x44, 2, -4));
    assert_eq!(&e.data(target)[0x44..0x48], &[0; 4]);
    let ks = &e.symbols[r.symbol];
    assert_eq!(ks.name, b".klp.sym.vmlinux.saved_command_line,0");
    assert!(ks.is_livepatch() && ks.bind() == STB_GLOBAL);
    // The function the site lies in is the copy, reached by its alias.
    let f = sym_named(&e, "cmdline_proc_show");
    assert_eq!((f.section, f.value), (Some(target), 0x30));
    assert_eq!(sym_named(&e, "__klpwrite_fn_1_0").value, 0x30);

    // No records left; the marker says linked; everything else unchanged.
    assert!(
        e.sections
            .iter()
            .all(|x| !x.name.starts_with(b".klpwrite.klp_"))
    );
    let m = sym_named(&e, "__klpwrite_linked");
    let ms = m.section.unwrap();
    assert_eq!(
        &e.data(ms)[m.value as usize..m.value as usize + 4],
        &LINKED.to_le_bytes()
    );
    for x in &before.sections {
        if x.name.starts_with(b".klpwrite.klp_")
            || x.name.starts_with(b".rela.klpwrite.klp_")
            || x.name == b".data"
            || matches!(x.sh_type, SHT_SYMTAB | SHT_STRTAB | SHT_RELA | SHT_NULL)
        {
            continue;
        }
        let y = e.section_by_name(&x.name).unwrap();
        assert_eq!(before.data(x.index), e.data(y), "{}", x.display_name());
        assert_eq!(
            (x.sh_type, x.sh_flags, x.sh_size),
            (
                e.sections[y].sh_type,
                e.sections[y].sh_flags,
                e.sections[y].sh_size
            ),
            "{}",
            x.display_name()
        );
    }
    let normal = |el: &Elf| -> Vec<(u64, u32, i64, Vec<u8>)> {
        let t = el.section_by_name(b".text.cmdline_proc_show").unwrap();
        el.relocs_for(t)
            .filter(|r| !el.sections[r.rsec].is_klp_rela())
            .map(|r| {
                (
                    r.offset,
                    r.r_type,
                    r.addend,
                    el.symbols[r.symbol].name.clone(),
                )
            })
            .collect()
    };
    assert_eq!(normal(&before), normal(&e));

    // Twice: a no-op.
    let bytes = std::fs::read(&ko).unwrap();
    let o = klpwrite(&["post-link", &s(&ko)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("already post-linked"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&ko).unwrap(), bytes);
}

/// Write a mutated copy of `ko` to `dst`.
fn mutate(ko: &Path, dst: &Path, f: impl Fn(&Elf, &mut OutObject)) {
    let elf = load_file(&s(ko), Expect::Relocatable).unwrap();
    let mut c = copy(&elf, &|_| false, &|_| false).unwrap();
    f(&elf, &mut c.out);
    std::fs::write(dst, write::to_bytes(&c.out).unwrap()).unwrap();
}

fn section_id(out: &OutObject, name: &[u8]) -> usize {
    out.sections.iter().position(|x| x.name == name).unwrap()
}

#[test]
fn post_link_refuses_bad_records() {
    let Some((d, ko)) = linked("kbuild-refuse") else {
        return;
    };
    let drop_reloc = |offset: u64| {
        move |_: &Elf, out: &mut OutObject| {
            let rs = section_id(out, b".rela.klpwrite.klp_relocs.vmlinux");
            if let OutData::Relocs { relocs, .. } = &mut out.sections[rs].data {
                relocs.retain(|r| r.offset != offset);
            }
        }
    };
    type Mutation = Box<dyn Fn(&Elf, &mut OutObject)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "no-place",
            Box::new(drop_reloc(0)),
            "the place field has no relocation",
        ),
        (
            "no-name",
            Box::new(drop_reloc(8)),
            "the name field has no relocation",
        ),
        (
            "bad-name",
            Box::new(|_, out| {
                let ns = section_id(out, NAMES_SECTION);
                if let OutData::Bytes(b) = &mut out.sections[ns].data {
                    let at = b.windows(2).position(|w| w == b",0").unwrap();
                    b[at + 1] = b'x';
                }
            }),
            "is not .klp.sym.<obj>.<name>,<pos>",
        ),
        (
            "nonzero-site",
            Box::new(|_, out| {
                let t = section_id(out, b".text.cmdline_proc_show");
                if let OutData::Bytes(b) = &mut out.sections[t].data {
                    b[0x45] = 1;
                }
            }),
            "non-zero relocation site",
        ),
    ];
    for (name, f, want) in cases {
        let bad = d.join(format!("{name}.ko"));
        mutate(&ko, &bad, f);
        let bytes = std::fs::read(&bad).unwrap();
        let o = klpwrite(&["post-link", &s(&bad)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            err.contains(&s(&bad)) && err.contains("record #0 of .klpwrite.klp_relocs.vmlinux"),
            "{name}: {err}"
        );
        assert_eq!(std::fs::read(&bad).unwrap(), bytes, "{name}: file changed");
    }
}

#[test]
fn post_link_refuses_what_kbuild_did_not_make() {
    let d = scratch("kbuild-not-ours");
    let ex = extract_example(&d);
    let o = klpwrite(&["post-link", &s(&ex)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!(
            "0 definitions of {}",
            String::from_utf8_lossy(LINKED_SYMBOL)
        )),
        "{}",
        stderr(&o)
    );
    // A signed module is left alone.
    if let Some((_, ko)) = linked("kbuild-signed") {
        let mut b = std::fs::read(&ko).unwrap();
        b.extend_from_slice(b"\0\0\0\0~Module signature appended~\n");
        std::fs::write(&ko, &b).unwrap();
        let o = klpwrite(&["post-link", &s(&ko)]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("signed"), "{}", stderr(&o));
        assert_eq!(std::fs::read(&ko).unwrap(), b);
    }
}

/// Everything the copy must preserve, by name.
fn fingerprint(e: &Elf) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut secs = Vec::new();
    for x in &e.sections[1..] {
        if matches!(x.sh_type, SHT_SYMTAB | SHT_STRTAB | SHT_SYMTAB_SHNDX) {
            continue;
        }
        let link = if x.is_rela() {
            show(&e.sections[x.sh_info as usize].name)
        } else if x.sh_flags & SHF_LINK_ORDER != 0 {
            show(&e.sections[x.sh_link as usize].name)
        } else {
            String::new()
        };
        secs.push(format!(
            "{} {} {:#x} {:#x} {} {} {:?}",
            show(&x.name),
            x.sh_type,
            x.sh_flags,
            x.sh_size,
            x.sh_addralign.max(1),
            link,
            if x.is_rela() || x.is_nobits() {
                &[][..]
            } else {
                e.data(x.index)
            }
        ));
    }
    let place = |i: usize| {
        let y = &e.symbols[i];
        match y.section {
            Some(sec) => show(&e.sections[sec].name),
            None => format!("{:#x}", y.st_shndx),
        }
    };
    // Section symbols are made for every section; the others must match.
    let mut syms: Vec<String> = e.symbols[1..]
        .iter()
        .filter(|y| !y.is_section())
        .map(|y| {
            format!(
                "{} {:#x} {:#x} {} {} {}",
                show(&y.name),
                y.st_info,
                y.st_other,
                place(y.index),
                y.value,
                y.size
            )
        })
        .collect();
    syms.sort();
    let mut relocs: Vec<String> = e
        .relocs
        .iter()
        .map(|r| {
            let y = &e.symbols[r.symbol];
            let who = if y.is_section() {
                format!("section {}", place(r.symbol))
            } else {
                show(&y.name)
            };
            format!(
                "{} {:#x} {} {} {}",
                show(&e.sections[r.section].name),
                r.offset,
                r.r_type,
                who,
                r.addend
            )
        })
        .collect();
    relocs.sort();
    (secs, syms, relocs)
}

fn show(b: &[u8]) -> String {
    klpwrite::error::show(b)
}

fn objects_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            objects_under(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "o" || x == "ko" || x == "o_shipped")
        {
            out.push(p);
        }
    }
}

/// The copy under post-link keeps every section, symbol and relocation of
/// every object in the repository (and of `KLPWRITE_COPY_DIR`, if set,
/// e.g. a kernel's module tree).
#[test]
fn copy_round_trips_objects() {
    let mut files = Vec::new();
    objects_under(&root().join("tests/fixtures"), &mut files);
    objects_under(&root().join("examples"), &mut files);
    if let Some(d) = std::env::var_os("KLPWRITE_COPY_DIR") {
        objects_under(Path::new(&d), &mut files);
    }
    files.sort();
    let d = scratch("kbuild-copy");
    let (mut copied, mut refused) = (0, 0);
    for f in &files {
        let Ok(e) = load_file(&s(f), Expect::Relocatable) else {
            continue;
        };
        let c = match copy(&e, &|_| false, &|_| false) {
            Ok(c) => c,
            Err(err) => {
                assert_eq!(
                    err.kind(),
                    klpwrite::ErrorKind::Unsupported,
                    "{}: {err}",
                    f.display()
                );
                refused += 1;
                continue;
            }
        };
        let out = d.join("copy.o");
        std::fs::write(&out, write::to_bytes(&c.out).unwrap()).unwrap();
        let back = reload(&out);
        let (a, b) = (fingerprint(&e), fingerprint(&back));
        assert_eq!(a.0, b.0, "{}: sections differ", f.display());
        assert_eq!(a.1, b.1, "{}: symbols differ", f.display());
        assert_eq!(a.2, b.2, "{}: relocations differ", f.display());
        copied += 1;
    }
    eprintln!("copy round trip: {copied} objects, {refused} refused");
    assert!(copied >= 5, "only {copied} objects copied");
}

/// Test that post-link refuses a module linked for a pre-5.8 kernel (its
/// vermagic): the shipped objects follow the 5.8+ rules.
#[test]
fn post_link_refuses_a_pre_5_8_link() {
    let Some((d, ko)) = linked("kbuild-link-legacy") else {
        return;
    };
    let mut mi = Obj::default();
    mi.section(
        ".modinfo",
        SHF_ALLOC,
        b"vermagic=5.4.0-42-generic SMP mod_unload \0",
        0,
    );
    mi.section(".note.GNU-stack", 0, &[], 0);
    let mi_o = d.join("modinfo.o");
    mi.finish(&s(&mi_o));
    let old = d.join("klpw_old.ko");
    let o = Command::new("ld")
        .arg("-r")
        .arg("-o")
        .arg(&old)
        .arg(&ko)
        .arg(&mi_o)
        .output()
        .unwrap();
    assert!(o.status.success(), "ld: {}", stderr(&o));
    let before = std::fs::read(&old).unwrap();
    let o = klpwrite(&["post-link", &s(&old)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("linked for kernel 5.4, but its patch objects follow the 5.8+"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&old).unwrap(), before, "post-link touched it");
}

// --- objtool's part on kernels that run it on the linked module ----------------
//
// On 6.12 (CONFIG_X86_KERNEL_IBT: delay-objtool) kbuild runs objtool on the
// linked module and on no single object, so the stub reaches the link raw;
// the generated Kbuild turns that run off (it cannot read the shipped
// objects' held-back klp relocations) and post-link lists the stub's sites.
// Stand-ins for the raw stub: tests/fixtures/x86_64/o1-objtool-skipped's
// jl.o (return and retpoline thunks, jump labels), whose objtool output
// jl.objtool.o is the oracle, and a one-instruction `cleanup_module`.

fn o1(name: &str) -> PathBuf {
    root()
        .join("tests/fixtures/x86_64/o1-objtool-skipped")
        .join(name)
}

/// (section name, offset) of each entry of a site list, sorted.
fn listed(elf: &Elf, list: &str) -> Vec<(String, u64)> {
    let Some(sec) = elf.section_by_name(list.as_bytes()) else {
        return Vec::new();
    };
    let mut v: Vec<(String, u64)> = elf
        .relocs_for(sec)
        .map(|r| {
            assert_eq!(r.r_type, 2, "{list}: PC32 entries");
            let y = &elf.symbols[r.symbol];
            (
                elf.sections[y.section.unwrap()].display_name(),
                (y.value as i64 + r.addend) as u64,
            )
        })
        .collect();
    assert_eq!(v.len() as u64 * 4, elf.sections[sec].sh_size, "{list}");
    v.sort();
    v
}

/// The stub's exit as gcc emits it with `-mfunction-return=thunk-extern`:
/// `endbr64; jmp __x86_return_thunk`, in `.text.cleanup_module`.
fn raw_exit(o: &mut Obj) {
    o.func(
        "cleanup_module",
        true,
        &[0xf3, 0x0f, 0x1e, 0xfa, 0xe9, 0, 0, 0, 0],
    );
    o.undef("__x86_return_thunk");
    o.reloc(".text.cleanup_module", 5, "__x86_return_thunk", 4, -4);
}

/// Test that post-link lists every return-thunk site of code objtool did
/// not process (the raw stub), as objtool lists them. Before, the
/// post-linked module kept an unlisted `jmp __x86_return_thunk`: on 6.12
/// `Unpatched return thunk in use` (__warn_thunk) from the stub's init,
/// scenario9/dmesg_clean and scenario9/taint FAIL.
#[test]
fn post_link_lists_the_raw_stub_return_site() {
    let Some((_d, ko)) = linked_with("kbuild-stub-rethunk", raw_exit, &[]) else {
        return;
    };
    let before = reload(&ko);
    assert!(listed(&before, ".return_sites").is_empty());
    let o = klpwrite(&["post-link", &s(&ko)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("in objtool's place: listed 1 return-thunk site(s) in .return_sites"),
        "{}",
        stderr(&o)
    );
    check_binutils(&ko);
    let e = reload(&ko);
    assert_eq!(
        listed(&e, ".return_sites"),
        [(".text.cleanup_module".to_string(), 4)]
    );
    let rs = &e.sections[e.section_by_name(b".return_sites").unwrap()];
    assert_eq!((rs.sh_flags, rs.sh_entsize), (SHF_ALLOC, 4));
    assert!(klpwrite::objtool::check_sites(&e).is_clean());
    let v = klpwrite(&["verify", &s(&ko)]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// Test that the stub's site joins the `.return_sites` the shipped code
/// already has (objtool would have skipped the section: "file already has
/// .return_sites, skipping"), and that the shipped entries stay as they are.
#[test]
fn post_link_merges_stub_sites_into_the_shipped_lists() {
    let Some((_d, ko)) = linked_with("kbuild-stub-merge", raw_exit, &[o1("jl.objtool.o")]) else {
        return;
    };
    let theirs = reload(&o1("jl.objtool.o"));
    let before = reload(&ko);
    assert_eq!(
        listed(&before, ".return_sites"),
        listed(&theirs, ".return_sites")
    );
    let o = klpwrite(&["post-link", &s(&ko)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = reload(&ko);
    let mut want = listed(&theirs, ".return_sites");
    want.push((".text.cleanup_module".to_string(), 4));
    want.sort();
    assert_eq!(listed(&e, ".return_sites"), want);
    assert_eq!(
        listed(&e, ".retpoline_sites"),
        listed(&theirs, ".retpoline_sites")
    );
    assert_eq!(
        e.sections
            .iter()
            .filter(|x| x.name == b".return_sites")
            .count(),
        1
    );
    assert!(klpwrite::objtool::check_sites(&e).is_clean());
}

/// Test that post-link does for a raw object in the module exactly what
/// objtool does (the oracle: jl.objtool.o): the same code bytes (jump-label
/// NOPs), the same relocation types (R_X86_64_NONE in a NOPed jump to
/// another section), the same `.return_sites` and `.retpoline_sites`.
#[test]
fn post_link_completes_raw_code_as_objtool_does() {
    let Some((_d, ko)) = linked_with("kbuild-stub-raw", |_| {}, &[o1("jl.o")]) else {
        return;
    };
    let o = klpwrite(&["post-link", &s(&ko)]);
    assert!(o.status.success(), "{}", stderr(&o));
    for what in [".return_sites", ".retpoline_sites", "jump-label site(s)"] {
        assert!(stderr(&o).contains(what), "{what}: {}", stderr(&o));
    }
    check_binutils(&ko);
    let e = reload(&ko);
    let theirs = reload(&o1("jl.objtool.o"));
    for list in [".return_sites", ".retpoline_sites"] {
        assert!(!listed(&theirs, list).is_empty());
        assert_eq!(listed(&e, list), listed(&theirs, list), "{list}");
    }
    let types = |el: &Elf, sec: usize| -> Vec<(u64, u32)> {
        let mut v: Vec<_> = el.relocs_for(sec).map(|r| (r.offset, r.r_type)).collect();
        v.sort();
        v
    };
    let mut nops = 0;
    for x in theirs
        .sections
        .iter()
        .filter(|x| x.is_exec() && x.sh_size > 0)
    {
        let y = e.section_by_name(&x.name).unwrap();
        assert_eq!(theirs.data(x.index), e.data(y), "{}", x.display_name());
        assert_eq!(
            types(&theirs, x.index),
            types(&e, y),
            "{}",
            x.display_name()
        );
        if theirs.data(x.index) != reload(&o1("jl.o")).data(x.index) {
            nops += 1;
        }
    }
    assert!(nops >= 2, "the jump-label sites were NOPed ({nops})");
    assert!(klpwrite::objtool::check_sites(&e).is_clean());
}

/// Test that `verify` (and so post-link's self-check) finds a post-linked
/// module with a return site missing from `.return_sites`, and an entry
/// that points at no site.
#[test]
fn verify_finds_unlisted_and_stray_return_sites() {
    let Some((d, ko)) = linked_with("kbuild-verify-sites", raw_exit, &[o1("jl.objtool.o")]) else {
        return;
    };
    let o = klpwrite(&["post-link", &s(&ko)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = klpwrite(&["verify", &s(&ko)]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let exit_entry = |elf: &Elf, out: &mut OutObject| {
        let rs = elf.section_by_name(b".return_sites").unwrap();
        let ts = elf.section_by_name(b".text.cleanup_module").unwrap();
        let r = elf
            .relocs_for(rs)
            .find(|r| elf.symbols[r.symbol].section == Some(ts))
            .copied()
            .unwrap();
        let rela = section_id(out, b".rela.return_sites");
        (rela, r.offset)
    };
    let unlisted = d.join("unlisted.ko");
    mutate(&ko, &unlisted, |elf, out| {
        let (rela, off) = exit_entry(elf, out);
        if let OutData::Relocs { relocs, .. } = &mut out.sections[rela].data {
            relocs.retain(|r| r.offset != off);
            for r in relocs.iter_mut().filter(|r| r.offset > off) {
                r.offset -= 4;
            }
        }
        let rs = section_id(out, b".return_sites");
        if let OutData::Bytes(b) = &mut out.sections[rs].data {
            b.truncate(b.len() - 4);
        }
    });
    let stray = d.join("stray.ko");
    mutate(&ko, &stray, |elf, out| {
        let (rela, off) = exit_entry(elf, out);
        if let OutData::Relocs { relocs, .. } = &mut out.sections[rela].data {
            for r in relocs.iter_mut().filter(|r| r.offset == off) {
                r.addend -= 4;
            }
        }
    });
    for (f, want) in [
        (
            &unlisted,
            "cleanup_module+0x4: [thunk-sites] jmp __x86_return_thunk that .return_sites does not list",
        ),
        (
            &stray,
            ": [thunk-sites] cleanup_module+0x0 is not a jmp to __x86_return_thunk: the module loader WARNs",
        ),
    ] {
        let v = klpwrite(&["verify", &s(f)]);
        let text = String::from_utf8_lossy(&v.stdout).into_owned() + &stderr(&v);
        assert_eq!(v.status.code(), Some(2), "{text}");
        assert!(text.contains(want), "{want}: {text}");
    }
}

/// Test that post-link refuses a linked module whose `.return_sites` names
/// something that is not a return-thunk jump (the loader would WARN
/// "missing return thunk"), and leaves it alone.
#[test]
fn post_link_refuses_a_stray_site_entry() {
    let Some((d, ko)) = linked_with("kbuild-stray", |_| {}, &[o1("jl.objtool.o")]) else {
        return;
    };
    let bad = d.join("stray.ko");
    mutate(&ko, &bad, |_, out| {
        let rela = section_id(out, b".rela.return_sites");
        if let OutData::Relocs { relocs, .. } = &mut out.sections[rela].data {
            relocs[0].addend += 1;
        }
    });
    let bytes = std::fs::read(&bad).unwrap();
    let o = klpwrite(&["post-link", &s(&bad)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(".return_sites entry at +0x0:")
            && stderr(&o).contains("is not a jmp to __x86_return_thunk"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&bad).unwrap(), bytes);
}

/// Test the generated Kbuild against kbuild's own rules for objtool in a
/// composite module on kernels with delay-objtool (scripts/Makefile.build,
/// 6.12: target- and pattern-specific `objtool-enabled`, set after the
/// Kbuild file is read), with GNU make: objtool runs on the stub, as on a
/// single-object module, and not on the linked module; with
/// `CONFIG_LTO_CLANG` (bitcode) on neither. `$(obj)` a directory (6.12) or
/// `.` (6.13+).
#[test]
fn kbuild_file_runs_objtool_on_the_stub_not_the_link() {
    if !have("make") {
        eprintln!("note: no make; skipped");
        return;
    }
    let d = scratch("kbuild-objtool-where");
    let ex = extract_example(&d);
    let kdir = d.join("kb");
    let o = klpwrite(&["kbuild", &s(&ex), "--name", "klpw_ex", "-o", &s(&kdir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kb = std::fs::read_to_string(kdir.join("Kbuild")).unwrap();
    for line in [
        "klpw_ex.o $(obj)/klpw_ex.o: private override objtool-enabled :=\n",
        "klpwrite_stub.o $(obj)/klpwrite_stub.o: private override objtool-enabled := y\n",
    ] {
        assert!(kb.contains(line), "{line:?}: {kb}");
    }
    for (obj, lto, stub) in [("/abs/dir", "", "y"), (".", "", "y"), ("/abs/dir", "y", "")] {
        let pre = if obj == "." { "" } else { "/abs/dir/" };
        // kbuild's rules, in kbuild's order: the default goal (7.2:
        // `$(obj)/:`), the Kbuild file, then the rest.
        let mk = format!(
            "CONFIG_LTO_CLANG := {lto}\n\
             obj := {obj}\n\
             src := {kdir}\n\
             delay-objtool := y\n\
             all: {pre}klpw_ex.o\n\
             include {kbuild}\n\
             multi-obj-m := {pre}klpw_ex.o\n\
             is-single-obj-m = $(filter $@,$(multi-obj-m)-single)\n\
             {pre}%.o: private objtool-enabled = $(if $(delay-objtool),$(is-single-obj-m),y)\n\
             $(multi-obj-m): private objtool-enabled := $(delay-objtool)\n\
             {pre}klpw_ex.o: {pre}klpwrite_stub.o {pre}1-vmlinux.o\n\
             \t@echo '$@ [$(objtool-enabled)]'\n\
             {pre}klpwrite_stub.o {pre}1-vmlinux.o:\n\
             \t@echo '$@ [$(objtool-enabled)]'\n",
            kbuild = kdir.join("Kbuild").display(),
            kdir = kdir.display()
        );
        let f = d.join("Makefile.test");
        std::fs::write(&f, mk).unwrap();
        let o = Command::new("make")
            .arg("-s")
            .arg("-f")
            .arg(&f)
            .arg("-C")
            .arg(&d)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{obj}: {}{out}", stderr(&o));
        for want in [
            format!("{pre}klpw_ex.o []"),
            format!("{pre}klpwrite_stub.o [{stub}]"),
            format!("{pre}1-vmlinux.o []"),
        ] {
            assert!(out.contains(&want), "{obj} lto={lto:?}: {want:?} in {out}");
        }
    }
}

/// Test the generated Kbuild's copy rules for the shipped objects against
/// kbuild's own (scripts/Makefile.lib `$(obj)/%: $(src)/%_shipped`), with
/// GNU make: once an external module is built from its own directory
/// (6.13+: `obj := .`, `src := $(srcroot)/$(obj)`, here 7.2's `./.`) that
/// pattern rule matches no object (make strips `./` from file names, not
/// from patterns: "No rule to make target '1-vmlinux.o'", found on a
/// self-built 7.2.13); the Kbuild's explicit rules make the object there
/// and where `$(obj)` is the module's directory (6.1, 6.12).
#[test]
fn kbuild_file_copies_shipped_objects_when_obj_is_dot() {
    if !have("make") {
        eprintln!("note: no make; skipped");
        return;
    }
    let d = scratch("kbuild-shipped-copy");
    let ex = extract_example(&d);
    let kdir = d.join("kb");
    let o = klpwrite(&["kbuild", &s(&ex), "--name", "klpw_ex", "-o", &s(&kdir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shipped = std::fs::read(kdir.join("1-vmlinux.o_shipped")).unwrap();
    let abs = kdir.display().to_string();
    for (obj, src, with_kbuild, ok) in [
        (".", "./.", false, false),
        (".", "./.", true, true),
        (abs.as_str(), abs.as_str(), false, true),
        (abs.as_str(), abs.as_str(), true, true),
    ] {
        let _ = std::fs::remove_file(kdir.join("1-vmlinux.o"));
        let inc = if with_kbuild { "include Kbuild\n" } else { "" };
        let mk = format!(
            "obj := {obj}\n\
             src := {src}\n\
             {inc}\
             all: $(obj)/1-vmlinux.o\n\
             $(obj)/%: $(src)/%_shipped\n\
             \tcat $< > $@\n"
        );
        let f = d.join("Makefile.test");
        std::fs::write(&f, mk).unwrap();
        let o = Command::new("make")
            .arg("-s")
            .arg("-f")
            .arg(&f)
            .arg("-C")
            .arg(&kdir)
            .output()
            .unwrap();
        assert_eq!(
            o.status.success(),
            ok,
            "obj={obj} kbuild={with_kbuild}: {}",
            stderr(&o)
        );
        if ok {
            assert_eq!(std::fs::read(kdir.join("1-vmlinux.o")).unwrap(), shipped);
        }
    }
}
