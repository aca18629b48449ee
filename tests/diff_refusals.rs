//! `diff` refusals on small synthetic objects: changed data, a changed
//! size of existing data, and a static local the patched code no longer
//! uses. Each is one clear error naming the symbol; nothing is reported as
//! patchable.

mod support;

use klpwrite::diff;
use klpwrite::elf::consts::*;
use support::build::Obj;
use support::scratch;

const CODE: [u8; 16] = [0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xc3];

fn with_data(value: &[u8], extra_code: bool) -> Obj {
    let mut o = Obj::default();
    o.file("d.c");
    let mut code = CODE.to_vec();
    if extra_code {
        code.insert(15, 0x90);
    }
    o.func("user", true, &code);
    let sec = o.section(".data.limit", SHF_ALLOC | SHF_WRITE, value, 0);
    o.data_symbol("limit", sec, value.len() as u64);
    o.reloc(".text.user", 1, "limit", 2, -4);
    o
}

#[test]
fn changed_initial_value_is_refused() {
    let d = scratch("diff-data");
    let orig = with_data(&[1, 0, 0, 0], false).finish(&d.join("o.o").display().to_string());
    let patched = with_data(&[2, 0, 0, 0], true).finish(&d.join("p.o").display().to_string());
    let e = diff::run(&orig, &patched).unwrap_err().to_string();
    assert!(
        e.contains("changed data: limit") && e.contains("initial value"),
        "{e}"
    );
}

#[test]
fn changed_data_size_is_refused() {
    let d = scratch("diff-size");
    let orig = with_data(&[1, 0, 0, 0], false).finish(&d.join("o.o").display().to_string());
    let patched =
        with_data(&[1, 0, 0, 0, 0, 0, 0, 0], false).finish(&d.join("p.o").display().to_string());
    let e = diff::run(&orig, &patched).unwrap_err().to_string();
    assert!(
        e.contains("changed data: limit") && e.contains("size 4 → 8"),
        "{e}"
    );
}

#[test]
fn unchanged_data_with_changed_code_is_a_patch() {
    let d = scratch("diff-ok");
    let orig = with_data(&[1, 0, 0, 0], false).finish(&d.join("o.o").display().to_string());
    let patched = with_data(&[1, 0, 0, 0], true).finish(&d.join("p.o").display().to_string());
    let r = diff::run(&orig, &patched).unwrap();
    assert_eq!(r.render(&orig, &patched), "changed function: user\n");
}

#[test]
fn dropping_the_last_use_of_a_static_local_is_refused() {
    let d = scratch("diff-static");
    let mut o = Obj::default();
    o.file("s.c").func("tick", true, &CODE).object("count.1");
    o.reloc(".text.tick", 1, "count.1", 2, -4);
    let orig = o.finish(&d.join("o.o").display().to_string());
    let mut p = Obj::default();
    let mut code = CODE.to_vec();
    code[0] = 0x90; // no longer calls/reads count
    p.file("s.c").func("tick", true, &code);
    let patched = p.finish(&d.join("p.o").display().to_string());
    let e = diff::run(&orig, &patched).unwrap_err().to_string();
    assert!(
        e.contains("no longer references static local count.1") && e.contains("tick"),
        "{e}"
    );
}

/// Objects no one compiler built (their `.comment` idents are disjoint):
/// one clear error, not a list of every function (a gcc against a clang
/// vmlinux.o listed 830 lines of changed init code and data). The same
/// ident, or none, is not checked.
#[test]
fn different_compilers_are_refused() {
    let d = scratch("diff-compilers");
    let with_ident = |ident: Option<&[u8]>, path: &str| {
        let mut o = Obj::default();
        o.file("c.c");
        o.func("f", true, &[0xc3]);
        if let Some(i) = ident {
            o.section(".comment", SHF_MERGE | SHF_STRINGS, i, 1);
        }
        o.finish(&d.join(path).display().to_string())
    };
    let gcc = with_ident(Some(b"\0GCC: (Debian 12.2.0-14) 12.2.0\0"), "g.o");
    let clang = with_ident(Some(b"\0Debian clang version 14.0.6\0"), "c.o");
    let gcc2 = with_ident(Some(b"\0GCC: (Debian 12.2.0-14) 12.2.0\0"), "g2.o");
    let none = with_ident(None, "n.o");
    let e = diff::run(&gcc, &clang).unwrap_err().to_string();
    assert!(
        e.contains("different compilers") && e.contains("clang version 14.0.6"),
        "{e}"
    );
    assert!(diff::run(&gcc, &gcc2).is_ok());
    assert!(diff::run(&gcc, &none).is_ok());
}
