//! Table-driven tests of symbol correlation: small objects are built with
//! klpwrite's own writer from a list of files, functions, objects and
//! references, then `correlate::run` must pair exactly the expected
//! symbols, at the expected level.

mod support;

use klpwrite::correlate::{self, Level};
use klpwrite::elf::Elf;
use support::build::Obj;

/// One item of an object description.
#[derive(Clone, Copy)]
enum It {
    /// An STT_FILE symbol; the locals after it belong to it.
    File(&'static str),
    /// A local function.
    Fn(&'static str),
    /// A global function.
    GFn(&'static str),
    /// A local object.
    Obj(&'static str),
    /// A reference from a function to a symbol (both named earlier).
    Ref(&'static str, &'static str),
}

fn build(name: &str, items: &[It]) -> Elf {
    // call rel32 x3; ret: room for three references per function
    let code = [0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xc3];
    let mut o = Obj::default();
    let mut slots: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for it in items {
        match *it {
            It::File(f) => {
                o.file(f);
            }
            It::Fn(n) => {
                o.func(n, false, &code);
            }
            It::GFn(n) => {
                o.func(n, true, &code);
            }
            It::Obj(n) => {
                o.object(n);
            }
            It::Ref(from, to) => {
                let slot = slots.entry(from).or_default();
                o.reloc(&format!(".text.{from}"), 1 + 5 * *slot, to, 2, -4);
                *slot += 1;
            }
        }
    }
    let path =
        std::env::temp_dir().join(format!("klpwrite-correlate-{}-{name}", std::process::id()));
    let elf = o.finish(&path.display().to_string());
    let _ = std::fs::remove_file(&path);
    elf
}

/// Pairs as (orig name, patched name, level), sorted.
fn pairs(orig: &Elf, patched: &Elf) -> Vec<(String, String, Level)> {
    let tw = correlate::run(orig, patched).unwrap();
    let mut v: Vec<_> = tw
        .o2p
        .iter()
        .map(|(&o, &p)| {
            (
                orig.symbols[o].display_name(),
                patched.symbols[p].display_name(),
                tw.level[&o],
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    v
}

struct Case {
    name: &'static str,
    orig: &'static [It],
    patched: &'static [It],
    want: &'static [(&'static str, &'static str, Level)],
}

use It::*;
use Level::*;

const CASES: &[Case] = &[
    Case {
        name: "same names pair by name",
        orig: &[File("a.c"), Fn("helper"), GFn("entry")],
        patched: &[File("a.c"), Fn("helper"), GFn("entry")],
        want: &[("entry", "entry", Name), ("helper", "helper", Name)],
    },
    Case {
        name: "compiler clones pair by demangled name",
        orig: &[
            File("a.c"),
            Fn("foo.isra.0"),
            Fn("bar.constprop.2"),
            Fn("baz.llvm.111"),
            Obj("__UNIQUE_ID_quirk12"),
        ],
        patched: &[
            File("a.c"),
            Fn("foo.isra.3"),
            Fn("bar.constprop.0"),
            Fn("baz.llvm.999"),
            Obj("__UNIQUE_ID_quirk15"),
        ],
        want: &[
            ("__UNIQUE_ID_quirk12", "__UNIQUE_ID_quirk15", Demangled),
            ("bar.constprop.2", "bar.constprop.0", Demangled),
            ("baz.llvm.111", "baz.llvm.999", Demangled),
            ("foo.isra.0", "foo.isra.3", Demangled),
        ],
    },
    Case {
        name: "the same static name in two files pairs within each file",
        orig: &[
            File("a.c"),
            Fn("show"),
            Fn("a_only"),
            File("b.c"),
            Fn("show"),
        ],
        patched: &[
            File("a.c"),
            Fn("show"),
            Fn("a_only"),
            File("b.c"),
            Fn("show"),
        ],
        want: &[
            ("a_only", "a_only", Name),
            ("show", "show", Name),
            ("show", "show", Name),
        ],
    },
    Case {
        name: "static locals pair through the functions that use them",
        orig: &[
            File("a.c"),
            Fn("f"),
            Fn("g"),
            Obj("count.1"),
            Obj("count.2"),
            Ref("f", "count.1"),
            Ref("g", "count.2"),
        ],
        patched: &[
            File("a.c"),
            Fn("f"),
            Fn("g"),
            Obj("count.7"),
            Obj("count.4"),
            Ref("f", "count.7"),
            Ref("g", "count.4"),
        ],
        want: &[
            ("count.1", "count.7", Reference),
            ("count.2", "count.4", Reference),
            ("f", "f", Name),
            ("g", "g", Name),
        ],
    },
    Case {
        name: "uncorrelated statics, prefixes and labels are never paired",
        orig: &[
            File("a.c"),
            Fn("f"),
            Obj("__key.3"),
            Obj("_rs.1"),
            Fn("__pfx_f"),
            Obj("CSWTCH.9"),
            Obj("f.__already_done"),
        ],
        patched: &[
            File("a.c"),
            Fn("f"),
            Obj("__key.3"),
            Obj("_rs.1"),
            Fn("__pfx_f"),
            Obj("CSWTCH.9"),
            Obj("f.__already_done"),
        ],
        want: &[("f", "f", Name)],
    },
    Case {
        name: "a function that became global pairs with a warning",
        orig: &[File("a.c"), Fn("helper")],
        patched: &[File("a.c"), GFn("helper")],
        want: &[("helper", "helper", Scope)],
    },
    Case {
        name: "same-named unreferenced statics pair by position as a last resort",
        orig: &[File("a.c"), Obj("__quirk.1"), Obj("__quirk.2")],
        patched: &[File("a.c"), Obj("__quirk.5"), Obj("__quirk.6")],
        want: &[
            ("__quirk.1", "__quirk.5", Position),
            ("__quirk.2", "__quirk.6", Position),
        ],
    },
    Case {
        name: "a new and a removed function stay unpaired",
        orig: &[File("a.c"), Fn("old_fn"), Fn("kept")],
        patched: &[File("a.c"), Fn("new_fn"), Fn("kept")],
        want: &[("kept", "kept", Name)],
    },
];

#[test]
fn correlation_table() {
    let mut failures = Vec::new();
    for c in CASES {
        let o = build("orig.o", c.orig);
        let p = build("patched.o", c.patched);
        let got = pairs(&o, &p);
        let mut want: Vec<(String, String, Level)> = c
            .want
            .iter()
            .map(|(a, b, l)| (a.to_string(), b.to_string(), *l))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        if got != want {
            failures.push(format!("{}:\n  got  {got:?}\n  want {want:?}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn weak_pairings_warn() {
    let o = build(
        "o",
        &[
            File("a.c"),
            Fn("helper"),
            Obj("__quirk.1"),
            Obj("__quirk.2"),
        ],
    );
    let p = build(
        "p",
        &[
            File("a.c"),
            GFn("helper"),
            Obj("__quirk.5"),
            Obj("__quirk.6"),
        ],
    );
    let tw = correlate::run(&o, &p).unwrap();
    assert!(
        tw.warnings.iter().any(|w| w.contains("changed binding")),
        "{:?}",
        tw.warnings
    );
    assert!(
        tw.warnings
            .iter()
            .any(|w| w.contains("by position") && w.contains("__quirk (2)")),
        "{:?}",
        tw.warnings
    );
}
