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
    /// A pointer in a data object to a symbol (both named earlier).
    DataRef(&'static str, &'static str),
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
            It::DataRef(from, to) => {
                o.reloc(&format!(".data.{from}"), 0, to, 1, 0);
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
        // Review r3: never by their numbers (nor their order), which a
        // patch shifts; they are ambiguous (weak_pairings_warn).
        name: "same-named statics that nothing decides stay unpaired",
        orig: &[File("a.c"), Obj("__quirk.1"), Obj("__quirk.2")],
        patched: &[File("a.c"), Obj("__quirk.5"), Obj("__quirk.6")],
        want: &[],
    },
    Case {
        name: "one data-only static of its name pairs by name",
        orig: &[File("a.c"), Obj("__quirk.1")],
        patched: &[File("a.c"), Obj("__quirk.5")],
        want: &[("__quirk.1", "__quirk.5", Demangled)],
    },
    Case {
        // Review r3 (tests/fixtures/x86_64/a2-data-only-static): each
        // `val` is referenced only by its function's holder; the patch
        // swaps the functions, so the numbers cross.
        name: "data-only statics pair through the paired holders that reference them",
        orig: &[
            File("a.c"),
            GFn("f_a"),
            GFn("f_c"),
            Obj("val.0"),
            Obj("hc.1"),
            Obj("val.2"),
            Obj("ha.3"),
            Ref("f_a", "ha.3"),
            Ref("f_c", "hc.1"),
            DataRef("ha.3", "val.2"),
            DataRef("hc.1", "val.0"),
        ],
        patched: &[
            File("a.c"),
            GFn("f_c"),
            GFn("f_a"),
            Obj("val.0"),
            Obj("extra.1"),
            Obj("ha.2"),
            Obj("val.3"),
            Obj("hc.4"),
            Ref("f_a", "ha.2"),
            Ref("f_a", "extra.1"),
            Ref("f_c", "hc.4"),
            DataRef("ha.2", "val.0"),
            DataRef("extra.1", "val.0"),
            DataRef("hc.4", "val.3"),
        ],
        want: &[
            ("f_a", "f_a", Name),
            ("f_c", "f_c", Name),
            ("ha.3", "ha.2", Reference),
            ("hc.1", "hc.4", Reference),
            ("val.0", "val.3", Data),
            ("val.2", "val.0", Data),
        ],
    },
    Case {
        name: "A2: a new function's static shifts the numbers; use pairs, names do not",
        orig: &[
            File("a.c"),
            GFn("tick"),
            GFn("tock"),
            Obj("count.1"),
            Obj("count.0"),
            Ref("tick", "count.1"),
            Ref("tock", "count.0"),
        ],
        patched: &[
            File("a.c"),
            GFn("tick"),
            GFn("tock"),
            GFn("late"),
            Obj("count.2"),
            Obj("count.1"),
            Obj("count.0"),
            Ref("tick", "count.2"),
            Ref("tock", "count.1"),
            Ref("late", "count.0"),
        ],
        want: &[
            ("count.0", "count.1", Reference),
            ("count.1", "count.2", Reference),
            ("tick", "tick", Name),
            ("tock", "tock", Name),
        ],
    },
    Case {
        name: "A2: a static used by the same functions keeps its pair even under the same name",
        orig: &[
            File("a.c"),
            Fn("f"),
            Fn("g"),
            Obj("f.count"),
            Ref("f", "f.count"),
            Ref("g", "f.count"),
        ],
        patched: &[
            File("a.c"),
            Fn("f"),
            Fn("g"),
            Obj("f.count"),
            Ref("f", "f.count"),
            Ref("g", "f.count"),
        ],
        want: &[
            ("f", "f", Name),
            ("f.count", "f.count", Reference),
            ("g", "g", Name),
        ],
    },
    Case {
        name: "A2: a static whose use was dropped is not paired with a new function's namesake",
        orig: &[File("a.c"), GFn("f"), Obj("state.0"), Ref("f", "state.0")],
        patched: &[
            File("a.c"),
            GFn("f"),
            GFn("g"),
            Obj("state.0"),
            Ref("g", "state.0"),
        ],
        want: &[("f", "f", Name)],
    },
    Case {
        name: "A2: an unchanged function with two renumbered same-named statics pairs them by its relocations",
        orig: &[
            File("a.c"),
            GFn("f"),
            Obj("buf.1"),
            Obj("buf.2"),
            Ref("f", "buf.1"),
            Ref("f", "buf.2"),
        ],
        // Same code; its first reference now names buf.5, its second
        // buf.4: the relocations, not the numbers, pair them.
        patched: &[
            File("a.c"),
            GFn("f"),
            Obj("buf.4"),
            Obj("buf.5"),
            Ref("f", "buf.5"),
            Ref("f", "buf.4"),
        ],
        want: &[
            ("buf.1", "buf.5", Reference),
            ("buf.2", "buf.4", Reference),
            ("f", "f", Name),
        ],
    },
    Case {
        name: "A2: an untouched function with two same-named statics keeps their names",
        orig: &[
            File("a.c"),
            GFn("f"),
            Obj("buf.1"),
            Obj("buf.2"),
            Ref("f", "buf.1"),
            Ref("f", "buf.2"),
        ],
        patched: &[
            File("a.c"),
            GFn("f"),
            Obj("buf.1"),
            Obj("buf.2"),
            Ref("f", "buf.1"),
            Ref("f", "buf.2"),
        ],
        want: &[
            ("buf.1", "buf.1", Reference),
            ("buf.2", "buf.2", Reference),
            ("f", "f", Name),
        ],
    },
    Case {
        name: "C15: a static moved into a new static helper called only from its user",
        orig: &[
            File("a.c"),
            GFn("f"),
            GFn("other"),
            Obj("count.1"),
            Obj("count.0"),
            Ref("f", "count.1"),
            Ref("other", "count.0"),
        ],
        patched: &[
            File("a.c"),
            Fn("f_helper"),
            GFn("f"),
            GFn("other"),
            Obj("count.0"),
            Obj("count.1"),
            Ref("f", "f_helper"),
            Ref("f_helper", "count.0"),
            Ref("other", "count.1"),
        ],
        want: &[
            ("count.0", "count.1", Reference),
            ("count.1", "count.0", Moved),
            ("f", "f", Name),
            ("other", "other", Name),
        ],
    },
    Case {
        name: "C15: through two new static helpers",
        orig: &[File("a.c"), GFn("f"), Obj("count.1"), Ref("f", "count.1")],
        patched: &[
            File("a.c"),
            Fn("inner"),
            Fn("outer"),
            GFn("f"),
            Obj("count.3"),
            Ref("f", "outer"),
            Ref("outer", "inner"),
            Ref("inner", "count.3"),
        ],
        want: &[("count.1", "count.3", Moved), ("f", "f", Name)],
    },
    Case {
        name: "C15: not a move when the helper is global",
        orig: &[File("a.c"), GFn("f"), Obj("count.1"), Ref("f", "count.1")],
        patched: &[
            File("a.c"),
            GFn("f_helper"),
            GFn("f"),
            Obj("count.1"),
            Ref("f", "f_helper"),
            Ref("f_helper", "count.1"),
        ],
        want: &[("f", "f", Name)],
    },
    Case {
        name: "C15: not a move when data holds the helper's address",
        orig: &[
            File("a.c"),
            GFn("f"),
            Obj("count.1"),
            Obj("ops"),
            Ref("f", "count.1"),
        ],
        patched: &[
            File("a.c"),
            Fn("f_helper"),
            GFn("f"),
            Obj("count.1"),
            Obj("ops"),
            Ref("f", "f_helper"),
            Ref("f_helper", "count.1"),
            DataRef("ops", "f_helper"),
        ],
        want: &[("f", "f", Name), ("ops", "ops", Name)],
    },
    Case {
        name: "C15: not a move when an unrelated existing function also reaches the helper",
        orig: &[
            File("a.c"),
            GFn("f"),
            GFn("g"),
            Obj("count.1"),
            Ref("f", "count.1"),
        ],
        patched: &[
            File("a.c"),
            Fn("f_helper"),
            GFn("f"),
            GFn("g"),
            Obj("count.1"),
            Ref("f", "f_helper"),
            Ref("g", "f_helper"),
            Ref("f_helper", "count.1"),
        ],
        want: &[("f", "f", Name), ("g", "g", Name)],
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
        tw.warnings.iter().any(|w| w
            .contains("a.c: function-scope statics named __quirk left unpaired")
            && w.contains("__quirk.1, __quirk.2")
            && w.contains("__quirk.5, __quirk.6")),
        "{:?}",
        tw.warnings
    );
    assert_eq!(tw.ambiguous_p.len(), 2, "{:?}", tw.ambiguous_p);
    assert_eq!(tw.ambiguous_o.len(), 2, "{:?}", tw.ambiguous_o);
    assert!(tw.o2p.len() == 1, "only helper pairs: {:?}", tw.o2p);
}

/// A renamed static function's static: only the name would pair it.
const RENAMED_STEP_ORIG: &[It] = &[
    File("a.c"),
    Fn("old_step"),
    GFn("run"),
    Obj("state.0"),
    Ref("run", "old_step"),
    Ref("old_step", "state.0"),
];
const RENAMED_STEP_PATCHED: &[It] = &[
    File("a.c"),
    Fn("new_step"),
    GFn("run"),
    Obj("state.0"),
    Ref("run", "new_step"),
    Ref("new_step", "state.0"),
];

/// What use cannot decide is refused, naming the file and the symbols.
#[test]
fn undecidable_statics_are_refused() {
    let cases: &[(&str, &[It], &[It], &str)] = &[
        (
            "a renamed function's static: only the name would pair it",
            RENAMED_STEP_ORIG,
            RENAMED_STEP_PATCHED,
            "a.c: static local state.0 (used by old_step) in the original and state.0 (used by new_step) in the patched object share a name",
        ),
        (
            "a function that now uses two statics of the old one's name",
            &[File("a.c"), GFn("f"), Obj("buf.1"), Ref("f", "buf.1")],
            &[
                File("a.c"),
                GFn("f"),
                Obj("buf.4"),
                Obj("buf.5"),
                Ref("f", "buf.4"),
                Ref("f", "buf.5"),
            ],
            "a.c: the uses of static locals buf.1 (used by f) in the original and buf.4 (used by f), buf.5 (used by f) in the patched object do not tell which is which",
        ),
    ];
    for (name, o, p, want) in cases {
        let o = build("orig.o", o);
        let p = build("patched.o", p);
        match correlate::run(&o, &p) {
            Ok(tw) => panic!("{name}: paired {:?}", tw.o2p),
            Err(e) => {
                let msg = format!("{e:#}");
                assert!(msg.contains(want), "{name}: {msg}");
            }
        }
    }
}

/// Read-only statics that use cannot pair (r12-const-statics-by-content):
/// paired by content, at [`Level::Content`], when each orig static has
/// exactly one patched static with its bytes and relocation targets (here
/// against the names, which GCC swapped); identical contents, a changed
/// content and writable statics are refused.
#[test]
fn read_only_statics_pair_by_content() {
    let dir = support::root().join("tests/fixtures/x86_64/r12-const-statics-by-content");
    let load = |n: &str| {
        klpwrite::elf::load::load_file(
            &dir.join(n).display().to_string(),
            klpwrite::elf::load::Expect::Relocatable,
        )
        .unwrap()
    };
    let (o, p) = (load("tables.o"), load("tables.patched.o"));
    let got: Vec<_> = pairs(&o, &p)
        .into_iter()
        .filter(|x| x.0.starts_with("_args"))
        .collect();
    assert_eq!(
        got,
        [
            ("_args.0".to_string(), "_args.1".to_string(), Content),
            ("_args.1".to_string(), "_args.0".to_string(), Content),
        ]
    );
    // Equal message strings (no pointers) pair in symbol order.
    let (o, p) = (load("msg.o"), load("msg.patched.o"));
    let got: Vec<_> = pairs(&o, &p)
        .into_iter()
        .filter(|x| x.0.starts_with("__msg"))
        .collect();
    assert_eq!(
        got,
        [
            ("__msg.0".to_string(), "__msg.0".to_string(), Content),
            ("__msg.1".to_string(), "__msg.1".to_string(), Content),
        ]
    );
    let cases = [
        (
            "same.o",
            "same.patched.o",
            "they are read-only, but their contents do not single out a pair either: 2 patched statics have the content of _args.1 (_args.1, _args.0); 2 patched statics have the content of _args.0",
        ),
        (
            "tables.o",
            "changed.patched.o",
            "their contents do not single out a pair either: no patched static has the content of _args.0",
        ),
        ("rw.o", "rw.patched.o", "do not tell which is which\n"),
    ];
    for (orig, patched, want) in cases {
        let msg = match correlate::run(&load(orig), &load(patched)) {
            Ok(tw) => panic!("{patched}: paired {:?}", tw.o2p),
            Err(e) => format!("{e:#}\n"),
        };
        assert!(msg.contains(want), "{patched}: {msg}");
    }
}

/// A3: `extract --orig` reaches exactly the pairing `diff` reports: every
/// twin extract looked up (changed functions, the targets of their
/// relocations, sympos) is diff's twin, on every corpus pair and every
/// fixture pair. extract gets its twins the way `klpwrite extract --orig`
/// does (its own `correlate::run`); diff's come from `diff::run`.
#[test]
fn extract_reaches_diffs_pairing() {
    use klpwrite::elf::load::{Expect, load_file};
    use klpwrite::symvers::{Export, Exports};
    use klpwrite::{changes, diff, extract};

    let mut pairs: Vec<(std::path::PathBuf, std::path::PathBuf)> = Vec::new();
    if let Some(dir) = support::corpus_dir() {
        let tsv = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
        for line in tsv.lines().skip(1) {
            let case = line.split('\t').next().unwrap();
            let mut p = dir.join(format!("{case}.PATCHED.o"));
            if !p.exists() {
                p = dir.join(format!("{case}.PATCHED.FAIL.o"));
            }
            pairs.push((dir.join(format!("{case}.ORIG.o")), p));
        }
    }
    let fx = support::root().join("tests/fixtures/x86_64");
    let mut dirs: Vec<_> = std::fs::read_dir(&fx)
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    dirs.sort();
    for d in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let n = f.file_name().unwrap().to_string_lossy().to_string();
            if let Some(stem) = n.strip_suffix(".patched.o") {
                let o = d.join(format!("{stem}.o"));
                if o.exists() {
                    pairs.push((o, f.clone()));
                }
            }
        }
    }
    assert!(pairs.len() >= 10, "found {} pairs", pairs.len());
    let (mut lookups, mut extracted) = (0, 0);
    let mut failures = Vec::new();
    for (op, pp) in &pairs {
        let name = pp.display().to_string();
        let o = load_file(&op.display().to_string(), Expect::Relocatable).unwrap();
        let p = load_file(&pp.display().to_string(), Expect::Relocatable).unwrap();
        let rep = match diff::run(&o, &p) {
            Ok(r) => r,
            Err(e) => {
                // A refusal of the pairing itself must refuse extract too.
                let pairing_refused = correlate::run(&o, &p).is_err();
                let says_so = format!("{e}").contains("cannot pair function-scope static locals");
                if pairing_refused != says_so {
                    failures.push(format!("{name}: diff and correlate disagree: {e}"));
                }
                continue;
            }
        };
        let twins = correlate::run(&o, &p).unwrap();
        if twins.o2p != rep.twins.o2p {
            failures.push(format!("{name}: correlate is not deterministic"));
            continue;
        }
        if !rep.has_changes() {
            continue;
        }
        let list = changes::parse("diff", &rep.render(&o, &p)).unwrap();
        let mut target = klpwrite::target::Target::default();
        target
            .add_source(&op.display().to_string(), "vmlinux")
            .unwrap();
        let mut exports = Exports::default();
        for elf in [&o, &p] {
            for s in elf
                .symbols
                .iter()
                .filter(|s| s.is_undef() && !s.name.is_empty())
            {
                exports.insert(
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
        let inputs = extract::Inputs {
            patched: &p,
            orig: Some(extract::Orig {
                elf: &o,
                twins: &twins,
            }),
            changes: &list,
            target: &target,
            exports: &exports,
            have_symvers: true,
        };
        let opts = extract::Options {
            objname: "vmlinux".into(),
            ..Default::default()
        };
        let ex = match extract::run(&inputs, &opts) {
            Ok(ex) => ex,
            // A deliberate refusal (a rule of the kernel, e.g. a pointer to
            // a changed global that may be sealed) is not a pairing
            // disagreement; anything else is.
            Err(e) if e.kind() == klpwrite::error::ErrorKind::Refused => continue,
            // So is an ambiguous sympos (l6's twin units, read here as
            // vmlinux: their order is no evidence in a vmlinux).
            Err(e)
                if e.kind() == klpwrite::error::ErrorKind::Symbol
                    && e.to_string().contains("ambiguous") =>
            {
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: extract --orig failed: {e}"));
                continue;
            }
        };
        extracted += 1;
        for (&ps, &os) in &ex.twins_used {
            lookups += 1;
            let want = rep.twins.p2o.get(&ps).copied();
            if want != os {
                let n = |e: &Elf, i: Option<usize>| {
                    i.map_or("none".into(), |i| e.symbols[i].display_name())
                };
                failures.push(format!(
                    "{name}: extract paired {} with {}, diff with {}",
                    p.symbols[ps].display_name(),
                    n(&o, os),
                    n(&o, want)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        extracted >= 5 && lookups >= 20,
        "{extracted} extracts, {lookups} lookups"
    );
}

/// `--pair` pins what use cannot decide; a pin must name one symbol.
#[test]
fn pins_settle_refusals() {
    let o = build("o", RENAMED_STEP_ORIG);
    let p = build("p", RENAMED_STEP_PATCHED);
    let pin = correlate::Pin::parse("a.c:state.0=state.0").unwrap();
    let tw = correlate::run_with(&o, &p, &[pin]).unwrap();
    let s = o
        .symbols
        .iter()
        .find(|s| s.name == b"state.0")
        .unwrap()
        .index;
    assert_eq!(tw.level[&s], Pinned);
    assert!(correlate::Pin::parse("state.0").is_err());
    let bad = correlate::Pin::parse("b.c:state.0=state.0").unwrap();
    assert!(correlate::run_with(&o, &p, &[bad]).is_err());
}
