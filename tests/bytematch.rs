//! Settling an ambiguous sympos by bytes (`klpwrite::bytematch`), on the
//! r13-sympos-bytes fixture: every candidate's verdict, not only the
//! outcome the CLI cases check.

use std::path::PathBuf;

use klpwrite::bytematch::{Settle, Verdict, settle};
use klpwrite::elf::load::{Expect, load_file};
use klpwrite::target::Target;

fn fx(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/x86_64/r13-sympos-bytes")
        .join(name)
        .display()
        .to_string()
}

/// Verdicts of every candidate named `name` (in the kernel's order).
fn verdicts(t: &Target, objname: &str, name: &str) -> Vec<Verdict> {
    let orig = load_file(&fx("u.o"), Expect::Relocatable).unwrap();
    let osym = orig.symbols_named(name.as_bytes())[0];
    let o = t.object(objname).unwrap();
    let space = o.bytes().unwrap().expect("bytes");
    o.named(name.as_bytes())
        .iter()
        .map(|&c| space.compare(o, c, &orig, osym))
        .collect()
}

fn settled(t: &Target, objname: &str, name: &str) -> Option<u64> {
    let orig = load_file(&fx("u.o"), Expect::Relocatable).unwrap();
    let osym = orig.symbols_named(name.as_bytes())[0];
    let o = t.object(objname).unwrap();
    let space = o.bytes().unwrap();
    let all = o.named(name.as_bytes()).to_vec();
    match settle(o, space.as_deref(), name.as_bytes(), &all, &orig, osym) {
        Settle::One(i, how) => {
            assert!(how.starts_with("bytes: 1 of "), "{how}");
            Some(
                o.named(name.as_bytes())
                    .iter()
                    .position(|&c| c == i)
                    .unwrap() as u64
                    + 1,
            )
        }
        Settle::Not(_) => None,
    }
}

fn kallsyms(dump: &str, image: Option<&str>) -> Target {
    let mut t = Target::default();
    t.add_source(&fx(dump), "vmlinux").unwrap();
    if let Some(i) = image {
        assert!(t.add_image(&fx(i)).unwrap());
    }
    t
}

#[test]
fn module_candidates_each_judged() {
    let mut t = Target::default();
    t.add_source(&fx("fxmod.ko"), "fxmod").unwrap();
    let v = verdicts(&t, "fxmod", "helper");
    assert!(
        matches!(&v[0], Verdict::Differs(w) if w.contains("xor")),
        "{v:?}"
    );
    assert_eq!(v[1], Verdict::Same);
    let v = verdicts(&t, "fxmod", "ops");
    assert!(
        matches!(&v[0], Verdict::Differs(w) if w.contains("not at u_run")),
        "{v:?}"
    );
    assert_eq!(v[1], Verdict::Same);
    for n in ["helper", "table", "ops"] {
        assert_eq!(settled(&t, "fxmod", n), Some(2), "{n}");
    }
    // Only among the candidates the symbol rules left: when they ruled
    // out the matching copy (another unit's file block), nothing settles.
    {
        let orig = load_file(&fx("u.o"), Expect::Relocatable).unwrap();
        let osym = orig.symbols_named(b"helper")[0];
        let o = t.object("fxmod").unwrap();
        let space = o.bytes().unwrap();
        let first = [o.named(b"helper")[0]];
        assert!(matches!(
            settle(o, space.as_deref(), b"helper", &first, &orig, osym),
            Settle::Not(_)
        ));
    }
    // s.c's helper and table are u.c's: no evidence; its ops is not.
    let mut t = Target::default();
    t.add_source(&fx("fxmod-same.ko"), "fxmod").unwrap();
    assert_eq!(
        verdicts(&t, "fxmod", "helper"),
        [Verdict::Same, Verdict::Same]
    );
    assert_eq!(settled(&t, "fxmod", "helper"), None);
    assert_eq!(settled(&t, "fxmod", "table"), None);
    assert_eq!(settled(&t, "fxmod", "ops"), Some(2));
}

#[test]
fn image_with_kallsyms_and_kaslr() {
    for (dump, image) in [
        ("vmlinux.kallsyms", "vmlinux.elf"),
        ("vmlinux-kaslr.kallsyms", "vmlinux.elf"),
        ("vmlinux.kallsyms", "vmlinux.bzImage"),
    ] {
        let t = kallsyms(dump, Some(image));
        for n in ["helper", "table", "ops"] {
            assert_eq!(settled(&t, "vmlinux", n), Some(2), "{dump} {image} {n}");
        }
    }
    // Without an image there is nothing to compare.
    let t = kallsyms("vmlinux.kallsyms", None);
    assert!(t.object("vmlinux").unwrap().bytes().unwrap().is_none());
    assert_eq!(settled(&t, "vmlinux", "helper"), None);
    // A candidate the image does not hold blocks the decision.
    let t = kallsyms("vmlinux-outside.kallsyms", Some("vmlinux.elf"));
    let v = verdicts(&t, "vmlinux", "helper");
    assert!(matches!(v[2], Verdict::Unknown(_)), "{v:?}");
    assert_eq!(settled(&t, "vmlinux", "helper"), None);
    // An image that is not the dump's kernel is an error, once needed.
    let t = kallsyms("vmlinux-other.kallsyms", Some("vmlinux.elf"));
    let e = t.object("vmlinux").unwrap().bytes().unwrap_err();
    assert!(e.to_string().contains("linux_banner"), "{e}");
}

#[test]
fn image_ignored_for_a_module() {
    let mut t = Target::default();
    t.add_source(&fx("fxmod.ko"), "fxmod").unwrap();
    assert!(!t.add_image(&fx("vmlinux.elf")).unwrap());
}

#[test]
fn kallsyms_without_sizes_tolerates_relaxed_jumps_and_padding() {
    // u.c's helper in the image: `jmp slow` relaxed to rel8 (eb), followed
    // by NOP padding up to slow; u.o has a relocated rel32 jmp (e9).
    let t = kallsyms("vmlinux.kallsyms", Some("vmlinux.elf"));
    let v = verdicts(&t, "vmlinux", "helper");
    assert_eq!(v[1], Verdict::Same, "{v:?}");
    let o = t.object("vmlinux").unwrap();
    let space = o.bytes().unwrap().unwrap();
    let at = o.syms[o.named(b"helper")[1]].addr;
    let code = space.read(at, 0x30).unwrap();
    assert!(
        code.windows(2).any(|w| w[0] == 0xeb),
        "no rel8 jmp in {code:02x?}"
    );
}
