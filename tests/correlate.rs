//! Table-driven tests of symbol correlation: small objects are built with
//! klpwrite's own writer from a list of files, functions, objects and
//! references, then `correlate::run` must pair exactly the expected
//! symbols, at the expected level.

use klpwrite::correlate::{self, Level};
use klpwrite::elf::Elf;
use klpwrite::elf::consts::*;
use klpwrite::elf::load::{Expect, load};
use klpwrite::output::{OutData, OutObject, OutReloc, OutSection, OutSymbol, Place};
use klpwrite::write;

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
    let mut o = OutObject::default();
    let mut ids: Vec<(&str, usize, usize)> = Vec::new(); // (name, symbol, section)
    let mut relocs: Vec<(usize, OutReloc)> = Vec::new();
    for it in items {
        match *it {
            It::File(f) => {
                o.add_symbol(OutSymbol {
                    name: f.into(),
                    st_info: STT_FILE,
                    st_other: 0,
                    place: Place::Abs,
                    value: 0,
                    size: 0,
                });
            }
            It::Fn(n) | It::GFn(n) => {
                let sec = o.add_section(OutSection {
                    name: format!(".text.{n}").into_bytes(),
                    sh_type: SHT_PROGBITS,
                    sh_flags: SHF_ALLOC | SHF_EXECINSTR,
                    sh_addralign: 16,
                    sh_entsize: 0,
                    link: None,
                    // call rel32; call rel32; call rel32; ret
                    data: OutData::Bytes(vec![
                        0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xc3,
                    ]),
                    symbol: None,
                });
                let bind = if matches!(it, It::GFn(_)) {
                    STB_GLOBAL
                } else {
                    STB_LOCAL
                };
                let s = o.add_symbol(OutSymbol {
                    name: n.into(),
                    st_info: (bind << 4) | STT_FUNC,
                    st_other: 0,
                    place: Place::Section(sec),
                    value: 0,
                    size: 16,
                });
                ids.push((n, s, sec));
            }
            It::Obj(n) => {
                let sec = o.add_section(OutSection {
                    name: format!(".data.{n}").into_bytes(),
                    sh_type: SHT_PROGBITS,
                    sh_flags: SHF_ALLOC | SHF_WRITE,
                    sh_addralign: 8,
                    sh_entsize: 0,
                    link: None,
                    data: OutData::Bytes(vec![0; 8]),
                    symbol: None,
                });
                let s = o.add_symbol(OutSymbol {
                    name: n.into(),
                    st_info: STT_OBJECT,
                    st_other: 0,
                    place: Place::Section(sec),
                    value: 0,
                    size: 8,
                });
                ids.push((n, s, sec));
            }
            It::Ref(from, to) => {
                let (_, _, fsec) = *ids.iter().find(|i| i.0 == from).expect("from");
                let (_, tsym, _) = *ids.iter().find(|i| i.0 == to).expect("to");
                let slot = relocs.iter().filter(|(s, _)| *s == fsec).count() as u64;
                relocs.push((
                    fsec,
                    OutReloc {
                        offset: 1 + 5 * slot,
                        symbol: tsym,
                        r_type: 2,
                        addend: -4,
                    },
                ));
            }
        }
    }
    let nsec = o.sections.len();
    for target in 0..nsec {
        let list: Vec<OutReloc> = relocs
            .iter()
            .filter(|(s, _)| *s == target)
            .map(|r| r.1)
            .collect();
        if !list.is_empty() {
            let mut n = b".rela".to_vec();
            n.extend_from_slice(&o.sections[target].name);
            o.add_section(OutSection {
                name: n,
                sh_type: SHT_RELA,
                sh_flags: SHF_INFO_LINK,
                sh_addralign: 8,
                sh_entsize: 24,
                link: None,
                data: OutData::Relocs {
                    target,
                    relocs: list,
                },
                symbol: None,
            });
        }
    }
    let bytes = write::to_bytes(&o).unwrap();
    load(name, bytes, Expect::Relocatable).unwrap()
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
        tw.warnings.iter().any(|w| w.contains("by position")),
        "{:?}",
        tw.warnings
    );
}
