//! Synthetic ELF objects built in the test with object's `write::elf::Writer`
//! (no compiler needed), then patched byte-wise where a test needs a hostile
//! field. They exercise the loader, `inspect` and `extract` on shapes the C
//! fixtures cannot easily produce: more than 65280 sections, COMDAT groups,
//! objects without section symbols, non-UTF-8 names, and corrupt headers.
//!
//! Every load and render runs under `catch_unwind`, so a panic is reported as
//! a test failure naming the case rather than aborting the run.

mod support;

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use object::Endianness;
use object::elf as oelf;
use object::write::elf::{FileHeader, Rel, SectionHeader, SectionIndex, Sym, Writer};

use klpwrite::dump;
use klpwrite::elf::Elf;
use klpwrite::elf::consts::*;
use klpwrite::elf::load::{Expect, load};
use klpwrite::extract::{self, Extracted, Inputs, Options};
use klpwrite::output::{OutData, OutObject, OutReloc, OutSection, OutSymbol, Place as OutPlace};
use klpwrite::symvers::Exports;
use klpwrite::target::{self, Target};
use klpwrite::write;
use klpwrite::{changes, checksum, diff};

// ---------------------------------------------------------------------------
// A tiny object model and its writer
// ---------------------------------------------------------------------------

const R_X86_64_64: u32 = 1;
const R_X86_64_PC64: u32 = 24;
const R_X86_64_PC32: u32 = 2;
const R_X86_64_PLT32: u32 = 4;
const R_X86_64_32S: u32 = 11;

const AX: u64 = SHF_ALLOC | SHF_EXECINSTR;
const WA: u64 = SHF_WRITE | SHF_ALLOC;

#[derive(Clone)]
enum Body {
    Bytes(Vec<u8>),
    Nobits(u64),
    Rela(Vec<R>),
}

/// One relocation: `sym` is an ELF symbol index.
#[derive(Clone, Copy)]
struct R {
    offset: u64,
    sym: u32,
    r_type: u32,
    addend: i64,
}

#[derive(Clone, Copy)]
enum Link {
    Raw(u32),
    Symtab,
}

#[derive(Clone)]
struct Sec {
    name: Vec<u8>,
    sh_type: u32,
    flags: u64,
    body: Body,
    align: u64,
    entsize: u64,
    link: Link,
    info: u32,
}

#[derive(Clone, Copy)]
enum Place {
    /// Defined in this ELF section index (extended indices handled by the writer).
    Sec(u32),
    Undef,
    /// A raw reserved `st_shndx` (SHN_ABS, ...).
    Shndx(u16),
}

#[derive(Clone)]
struct Symb {
    name: Vec<u8>,
    bind: u8,
    kind: u8,
    place: Place,
    value: u64,
    size: u64,
}

/// Sections get ELF indices 1.. in insertion order, symbols 1.. likewise
/// (locals must come first); the writer appends `.symtab`,
/// `[.symtab_shndx]`, `.strtab` and `.shstrtab`.
#[derive(Default, Clone)]
struct Obj {
    secs: Vec<Sec>,
    syms: Vec<Symb>,
    force_shndx: bool,
}

struct Built {
    bytes: Vec<u8>,
    symtab: usize,
    shndx: Option<usize>,
    strtab: usize,
    shstrtab: usize,
}

impl Obj {
    fn sec(&mut self, name: &[u8], sh_type: u32, flags: u64, data: Vec<u8>) -> u32 {
        self.secs.push(Sec {
            name: name.to_vec(),
            sh_type,
            flags,
            body: Body::Bytes(data),
            align: 1,
            entsize: 0,
            link: Link::Raw(0),
            info: 0,
        });
        self.secs.len() as u32
    }

    fn text(&mut self, name: &[u8], code: &[u8]) -> u32 {
        let i = self.sec(name, SHT_PROGBITS, AX, code.to_vec());
        self.secs[i as usize - 1].align = 16;
        i
    }

    fn rela(&mut self, target: u32, relocs: Vec<R>) -> u32 {
        let mut name = b".rela".to_vec();
        name.extend_from_slice(&self.secs[target as usize - 1].name);
        self.secs.push(Sec {
            name,
            sh_type: SHT_RELA,
            flags: SHF_INFO_LINK,
            body: Body::Rela(relocs),
            align: 8,
            entsize: 24,
            link: Link::Symtab,
            info: target,
        });
        self.secs.len() as u32
    }

    fn group(&mut self, name: &[u8], signature: u32, flags: u32, members: &[u32]) -> u32 {
        let mut data = flags.to_le_bytes().to_vec();
        for m in members {
            data.extend_from_slice(&m.to_le_bytes());
        }
        self.secs.push(Sec {
            name: name.to_vec(),
            sh_type: SHT_GROUP,
            flags: 0,
            body: Body::Bytes(data),
            align: 4,
            entsize: 4,
            link: Link::Symtab,
            info: signature,
        });
        self.secs.len() as u32
    }

    fn sym(&mut self, name: &[u8], bind: u8, kind: u8, place: Place, value: u64, size: u64) -> u32 {
        self.syms.push(Symb {
            name: name.to_vec(),
            bind,
            kind,
            place,
            value,
            size,
        });
        self.syms.len() as u32
    }

    fn section_sym(&mut self, sec: u32) -> u32 {
        self.sym(b"", STB_LOCAL, STT_SECTION, Place::Sec(sec), 0, 0)
    }

    fn build(&self) -> Built {
        let mut buf: Vec<u8> = Vec::new();
        let mut w = Writer::new(Endianness::Little, true, &mut buf);
        let names: Vec<_> = self
            .secs
            .iter()
            .map(|s| w.add_section_name(&s.name))
            .collect();
        let snames: Vec<_> = self
            .syms
            .iter()
            .map(|s| (!s.name.is_empty()).then(|| w.add_string(&s.name)))
            .collect();
        w.reserve_file_header();
        w.reserve_null_section_index();
        for _ in &self.secs {
            w.reserve_section_index();
        }
        w.reserve_null_symbol_index();
        for s in &self.syms {
            w.reserve_symbol_index(match s.place {
                Place::Sec(i) => Some(SectionIndex(i)),
                _ => None,
            });
        }
        if self.force_shndx {
            w.require_symtab_shndx();
        }
        let symtab = w.reserve_symtab_section_index().0;
        let shndx = w
            .symtab_shndx_needed()
            .then(|| w.reserve_symtab_shndx_section_index().0 as usize);
        let strtab = w.reserve_strtab_section_index().0 as usize;
        let shstrtab = w.reserve_shstrtab_section_index().0 as usize;
        let offsets: Vec<u64> = self
            .secs
            .iter()
            .map(|s| match &s.body {
                Body::Bytes(b) => w.reserve(b.len() as u64, s.align.max(1)),
                Body::Nobits(_) => 0,
                Body::Rela(r) => w.reserve_relocations(r.len(), true),
            })
            .collect();
        w.reserve_symtab();
        w.reserve_symtab_shndx();
        w.reserve_strtab().unwrap();
        w.reserve_shstrtab().unwrap();
        w.reserve_section_headers();

        w.write_file_header(&FileHeader {
            os_abi: oelf::OsAbi(0),
            abi_version: 0,
            e_type: oelf::FileType(ET_REL),
            e_machine: oelf::Machine(EM_X86_64),
            e_entry: 0,
            e_flags: oelf::FileFlags(0),
        })
        .unwrap();
        for s in &self.secs {
            match &s.body {
                Body::Bytes(b) => {
                    w.write_align(s.align.max(1));
                    w.write(b);
                }
                Body::Nobits(_) => {}
                Body::Rela(list) => {
                    w.write_align_relocation();
                    for r in list {
                        w.write_relocation(
                            true,
                            &Rel {
                                r_offset: r.offset,
                                r_sym: r.sym,
                                r_type: oelf::RelocationType(r.r_type),
                                r_addend: r.addend,
                            },
                        );
                    }
                }
            }
        }
        w.write_null_symbol();
        for (k, s) in self.syms.iter().enumerate() {
            let (section, st_shndx) = match s.place {
                Place::Sec(i) => (Some(i), 0),
                Place::Undef => (None, SHN_UNDEF),
                Place::Shndx(x) => (None, x),
            };
            w.write_symbol(&Sym {
                section,
                st_name: w.string_offset(snames[k]),
                st_info: oelf::SymbolInfo((s.bind << 4) | s.kind),
                st_other: oelf::SymbolOther(0),
                st_shndx: oelf::SymbolSection(st_shndx),
                st_value: s.value,
                st_size: s.size,
            });
        }
        w.write_symtab_shndx();
        w.write_strtab();
        w.write_shstrtab();
        w.write_null_section_header();
        for (k, s) in self.secs.iter().enumerate() {
            let sh_size = match &s.body {
                Body::Bytes(b) => b.len() as u64,
                Body::Nobits(n) => *n,
                Body::Rela(r) => r.len() as u64 * 24,
            };
            w.write_section_header(&SectionHeader {
                sh_name: w.section_name_offset(Some(names[k])),
                sh_type: oelf::SectionType(s.sh_type),
                sh_flags: oelf::SectionFlags(s.flags),
                sh_addr: 0,
                sh_offset: offsets[k],
                sh_size,
                sh_link: match s.link {
                    Link::Raw(x) => x,
                    Link::Symtab => symtab,
                },
                sh_info: s.info,
                sh_addralign: s.align,
                sh_entsize: s.entsize,
            });
        }
        let num_local = 1 + self.syms.iter().take_while(|s| s.bind == STB_LOCAL).count();
        assert!(
            self.syms[num_local - 1..]
                .iter()
                .all(|s| s.bind != STB_LOCAL),
            "test object lists a local after a global"
        );
        w.write_symtab_section_header(num_local as u32);
        w.write_symtab_shndx_section_header();
        w.write_strtab_section_header();
        w.write_shstrtab_section_header();
        drop(w);
        Built {
            bytes: buf,
            symtab: symtab as usize,
            shndx,
            strtab,
            shstrtab,
        }
    }
}

// ---------------------------------------------------------------------------
// Raw field access for hostile patches
// ---------------------------------------------------------------------------

mod raw {
    pub const SH_NAME: usize = 0;
    pub const SH_TYPE: usize = 4;
    pub const SH_OFFSET: usize = 24;
    pub const SH_SIZE: usize = 32;
    pub const SH_LINK: usize = 40;
    pub const SH_ENTSIZE: usize = 56;
    pub const ST_NAME: usize = 0;
    pub const ST_SHNDX: usize = 6;
    pub const R_OFFSET: usize = 0;
    pub const R_INFO: usize = 8;

    pub fn get(b: &[u8], at: usize, width: usize) -> u64 {
        let mut v = [0u8; 8];
        v[..width].copy_from_slice(&b[at..at + width]);
        u64::from_le_bytes(v)
    }
    pub fn put(b: &mut [u8], at: usize, width: usize, val: u64) {
        b[at..at + width].copy_from_slice(&val.to_le_bytes()[..width]);
    }
    /// Width of a section header field at `off`.
    pub fn sh_width(off: usize) -> usize {
        match off {
            0 | 4 | 40 | 44 => 4,
            _ => 8,
        }
    }
    pub fn shdr(b: &[u8], i: usize) -> usize {
        get(b, 0x28, 8) as usize + i * 64
    }
    pub fn sh(b: &[u8], i: usize, field: usize) -> u64 {
        get(b, shdr(b, i) + field, sh_width(field))
    }
    pub fn set_sh(b: &mut [u8], i: usize, field: usize, val: u64) {
        let at = shdr(b, i) + field;
        put(b, at, sh_width(field), val);
    }
    /// File offset of symbol `j` of the symbol table in section `symtab`.
    pub fn sym(b: &[u8], symtab: usize, j: usize) -> usize {
        sh(b, symtab, SH_OFFSET) as usize + j * 24
    }
    /// File offset of relocation `k` of relocation section `rsec`.
    pub fn rela(b: &[u8], rsec: usize, k: usize) -> usize {
        sh(b, rsec, SH_OFFSET) as usize + k * 24
    }
}

// ---------------------------------------------------------------------------
// Running the library under catch_unwind
// ---------------------------------------------------------------------------

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string panic>".into())
}

/// Load (as ET_REL) without letting a panic escape unnamed.
fn try_load(what: &str, bytes: &[u8]) -> klpwrite::Result<Elf> {
    let b = bytes.to_vec();
    catch_unwind(AssertUnwindSafe(|| {
        load("synthetic.o", b, Expect::Relocatable)
    }))
    .unwrap_or_else(|p| panic!("{what}: loader panicked: {}", panic_text(&*p)))
}

fn render(what: &str, elf: &Elf) -> String {
    catch_unwind(AssertUnwindSafe(|| dump::render(elf)))
        .unwrap_or_else(|p| panic!("{what}: inspect panicked: {}", panic_text(&*p)))
}

/// Load and render; both must succeed.
fn load_ok(what: &str, bytes: &[u8]) -> (Elf, String) {
    let elf = try_load(what, bytes).unwrap_or_else(|e| panic!("{what}: load failed: {e}"));
    let text = render(what, &elf);
    (elf, text)
}

/// The load must fail, and its message must contain every needle.
fn load_err(what: &str, bytes: &[u8], needles: &[&str]) -> String {
    match try_load(what, bytes) {
        Ok(elf) => {
            // Rendering a wrongly accepted object must still not panic.
            let _ = render(what, &elf);
            panic!("{what}: expected a load error, but the object loaded")
        }
        Err(e) => {
            let msg = e.to_string();
            assert_eq!(
                e.kind(),
                klpwrite::ErrorKind::Malformed,
                "{what}: wrong error kind: {msg}"
            );
            for n in needles {
                assert!(
                    msg.contains(n),
                    "{what}: error {msg:?} does not mention {n:?}"
                );
            }
            msg
        }
    }
}

fn run_extract(
    what: &str,
    patched: &Elf,
    funcs: &[&str],
    exports: &Exports,
) -> klpwrite::Result<Extracted> {
    run_extract_with(what, patched, patched, funcs, exports)
}

/// `run_extract` with the target symbols taken from `symbols`.
fn run_extract_with(
    what: &str,
    patched: &Elf,
    symbols: &Elf,
    funcs: &[&str],
    exports: &Exports,
) -> klpwrite::Result<Extracted> {
    let tobj = target::from_elf(symbols, "vmlinux").expect("symbol source");
    let tgt = Target {
        objects: vec![tobj],
    };
    let list = changes::parse("list", &funcs.join("\n")).unwrap();
    let inputs = Inputs {
        patched,
        orig: None,
        changes: &list,
        target: &tgt,
        exports,
        have_symvers: true,
    };
    let opts = Options {
        objname: "vmlinux".into(),
        ..Default::default()
    };
    catch_unwind(AssertUnwindSafe(|| extract::run(&inputs, &opts)))
        .unwrap_or_else(|p| panic!("{what}: extract panicked: {}", panic_text(&*p)))
}

/// Extract, write, re-read with our loader, check the livepatch invariants
/// and binutils' opinion; returns the output and its dump.
fn extract_checked(what: &str, patched: &Elf, funcs: &[&str]) -> (Elf, String) {
    let ex = run_extract(what, patched, funcs, &Exports::default())
        .unwrap_or_else(|e| panic!("{what}: extract failed: {e}"));
    let bytes = catch_unwind(AssertUnwindSafe(|| write::to_bytes(&ex.out)))
        .unwrap_or_else(|p| panic!("{what}: writer panicked: {}", panic_text(&*p)))
        .unwrap_or_else(|e| panic!("{what}: writer failed: {e}"));
    let dir = support::scratch(&format!("synthetic-{what}"));
    let path = dir.join("out.klp.o");
    std::fs::write(&path, &bytes).unwrap();
    let (elf, text) = load_ok(&format!("{what} (output)"), &bytes);
    support::check_livepatch_object(&elf, &HashSet::new());
    support::check_binutils(&path);
    (elf, text)
}

// ---------------------------------------------------------------------------
// Shared shapes
// ---------------------------------------------------------------------------

/// `foo`: `mov $str,%rdi; call bar; mov counter(%rip),%eax;
/// mov cst(%rip),%rax; ret` — one relocation each.
const FOO_CODE: &[u8] = &[
    0x48, 0xc7, 0xc7, 0, 0, 0, 0, // 0x00 mov $0,%rdi        R_X86_64_32S @0x03
    0xe8, 0, 0, 0, 0, // 0x07 call bar                        R_X86_64_PLT32 @0x08
    0x8b, 0x05, 0, 0, 0, 0, // 0x0c mov 0(%rip),%eax          R_X86_64_PC32 @0x0e
    0x48, 0x8b, 0x05, 0, 0, 0, 0,    // 0x12 mov 0(%rip),%rax    R_X86_64_PC32 @0x15
    0xc3, // 0x19 ret
];

/// A unit with `foo` referencing a string literal, a global function, a
/// static variable and anonymous constant data. With `section_syms`, the
/// data are referenced through STT_SECTION symbols (GCC style); without,
/// the object has no STT_SECTION symbol at all and references go through
/// the named variable and `.L` labels (clang style).
fn reloc_unit(section_syms: bool) -> Obj {
    let mut o = Obj::default();
    let text = o.text(b".text.foo", FOO_CODE);
    let bar = o.text(b".text.bar", &[0xc3]);
    let strs = o.sec(
        b".rodata.str1.1",
        SHT_PROGBITS,
        SHF_ALLOC | SHF_MERGE | SHF_STRINGS,
        b"hello\0world\0".to_vec(),
    );
    o.secs[strs as usize - 1].entsize = 1;
    let data = o.sec(b".data.counter", SHT_PROGBITS, WA, vec![0; 8]);
    o.secs[data as usize - 1].align = 4;
    let cst = o.sec(
        b".rodata.cst16",
        SHT_PROGBITS,
        SHF_ALLOC | SHF_MERGE,
        (0u8..16).collect(),
    );
    o.secs[cst as usize - 1].entsize = 16;
    o.secs[cst as usize - 1].align = 16;
    // Symbols: locals first.
    o.sym(b"foo.c", STB_LOCAL, STT_FILE, Place::Shndx(SHN_ABS), 0, 0);
    let (str_sym, str_add, cnt_sym, cst_sym);
    if section_syms {
        o.section_sym(text);
        str_sym = o.section_sym(strs);
        str_add = 6;
        cnt_sym = o.section_sym(data);
        cst_sym = o.section_sym(cst);
        o.sym(b"counter", STB_LOCAL, STT_OBJECT, Place::Sec(data), 0, 4);
    } else {
        cnt_sym = o.sym(b"counter", STB_LOCAL, STT_OBJECT, Place::Sec(data), 0, 4);
        cst_sym = o.sym(b".LCPI0_0", STB_LOCAL, STT_NOTYPE, Place::Sec(cst), 0, 0);
        str_sym = o.sym(b".L.str.1", STB_LOCAL, STT_NOTYPE, Place::Sec(strs), 6, 0);
        str_add = 0;
    }
    o.sym(
        b"foo",
        STB_GLOBAL,
        STT_FUNC,
        Place::Sec(text),
        0,
        FOO_CODE.len() as u64,
    );
    let bar_sym = o.sym(b"bar", STB_GLOBAL, STT_FUNC, Place::Sec(bar), 0, 1);
    o.rela(
        text,
        vec![
            R {
                offset: 0x03,
                sym: str_sym,
                r_type: R_X86_64_32S,
                addend: str_add,
            },
            R {
                offset: 0x08,
                sym: bar_sym,
                r_type: R_X86_64_PLT32,
                addend: -4,
            },
            R {
                offset: 0x0e,
                sym: cnt_sym,
                r_type: R_X86_64_PC32,
                addend: -4,
            },
            R {
                offset: 0x15,
                sym: cst_sym,
                r_type: R_X86_64_PC32,
                addend: -4,
            },
        ],
    );
    o
}

/// A minimal valid unit: `f` in `.text.f` calling undefined `g`, with one
/// data word pointing at `f`, used as the base of the hostile-field tests.
/// Section indices: 1 .text.f, 2 .rela.text.f, 3 .data.p, 4 .rela.data.p,
/// 5 .symtab, then the string tables.
fn small_unit() -> Obj {
    let mut o = Obj::default();
    let text = o.text(b".text.f", &[0xe8, 0, 0, 0, 0, 0xc3]);
    o.sym(b"u.c", STB_LOCAL, STT_FILE, Place::Shndx(SHN_ABS), 0, 0);
    let tsym = o.section_sym(text);
    let f = o.sym(b"f", STB_GLOBAL, STT_FUNC, Place::Sec(text), 0, 6);
    let g = o.sym(b"g", STB_GLOBAL, STT_NOTYPE, Place::Undef, 0, 0);
    let _ = f;
    o.rela(
        text,
        vec![R {
            offset: 1,
            sym: g,
            r_type: R_X86_64_PLT32,
            addend: -4,
        }],
    );
    let data = o.sec(b".data.p", SHT_PROGBITS, WA, vec![0; 8]);
    o.secs[data as usize - 1].align = 8;
    o.rela(
        data,
        vec![R {
            offset: 0,
            sym: tsym,
            r_type: R_X86_64_64,
            addend: 0,
        }],
    );
    o
}

// ---------------------------------------------------------------------------
// Many sections: SHN_XINDEX, SHT_SYMTAB_SHNDX, e_shnum = 0
// ---------------------------------------------------------------------------

/// Number of filler sections: enough that the interesting ones land above
/// SHN_LORESERVE (0xff00 = 65280).
const FILLERS: usize = 65_300;

/// An object whose `.text.hi` (calling `lo` and `hi2`) sits at an index
/// above SHN_LORESERVE; returns it with the indices of `.text.hi` and
/// `.text.hi2`.
fn many_sections_unit() -> (Obj, u32, u32) {
    let mut o = Obj::default();
    let lo_text = o.text(b".text.lo", &[0xc3]);
    for _ in 0..FILLERS {
        o.sec(b".data.filler", SHT_PROGBITS, WA, Vec::new());
    }
    // call lo; call hi2; ret
    let code = [0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xc3];
    let hi = o.text(b".text.hi", &code);
    let hi2 = o.text(b".text.hi2", &[0xc3]);
    o.sym(b"many.c", STB_LOCAL, STT_FILE, Place::Shndx(SHN_ABS), 0, 0);
    let hi_sec = o.section_sym(hi);
    let _ = hi_sec;
    let lo = o.sym(b"lo", STB_LOCAL, STT_FUNC, Place::Sec(lo_text), 0, 1);
    o.sym(
        b"hi_func",
        STB_GLOBAL,
        STT_FUNC,
        Place::Sec(hi),
        0,
        code.len() as u64,
    );
    let h2 = o.sym(b"hi2_func", STB_GLOBAL, STT_FUNC, Place::Sec(hi2), 0, 1);
    o.rela(
        hi,
        vec![
            R {
                offset: 1,
                sym: lo,
                r_type: R_X86_64_PLT32,
                addend: -4,
            },
            R {
                offset: 6,
                sym: h2,
                r_type: R_X86_64_PLT32,
                addend: -4,
            },
        ],
    );
    (o, hi, hi2)
}

/// Test that an object with more than 65280 sections (e_shnum 0, SHN_XINDEX, SHT_SYMTAB_SHNDX) loads and renders with the right high section.
#[test]
fn many_sections_xindex_load_and_inspect() {
    let (o, hi, hi2) = many_sections_unit();
    assert!(hi as usize > 0xff00);
    let b = o.build();
    // The writer really used the extended forms.
    assert_eq!(raw::get(&b.bytes, 0x3c, 2), 0, "e_shnum");
    assert_eq!(raw::get(&b.bytes, 0x3e, 2), SHN_XINDEX as u64, "e_shstrndx");
    let shndx = b.shndx.expect("SHT_SYMTAB_SHNDX written");
    let (elf, text) = load_ok("many-sections", &b.bytes);
    assert_eq!(elf.sections.len(), b.shstrtab + 1);
    assert_eq!(elf.sections[shndx].sh_type, SHT_SYMTAB_SHNDX);
    assert_eq!(elf.sections[b.shstrtab].name, b".shstrtab");
    let f = elf.find_function(b"hi_func").expect("hi_func");
    let s = &elf.symbols[f];
    assert_eq!(s.st_shndx, SHN_XINDEX);
    assert_eq!(s.section, Some(hi as usize));
    assert_eq!(elf.sections[hi as usize].name, b".text.hi");
    assert!(
        elf.sections[hi as usize].symbol.is_some(),
        "section symbol resolved"
    );
    let f2 = elf.find_function(b"hi2_func").unwrap();
    assert_eq!(elf.symbols[f2].section, Some(hi2 as usize));
    assert_eq!(elf.symbol_containing(hi as usize, 3), Some(f));
    let relocs: Vec<_> = elf.relocs_for(hi as usize).collect();
    assert_eq!(relocs.len(), 2);
    assert_eq!(elf.symbols[relocs[1].symbol].name, b"hi2_func");
    assert!(
        text.contains(&format!("[{hi:>3}] .text.hi PROGBITS")),
        "section line"
    );
    assert!(
        text.contains("GLOBAL FUNC    .text.hi+0x0 size=0xb hi_func"),
        "{}",
        tail(&text)
    );
    assert!(text.contains(".rela.text.hi -> .text.hi (2):"));
    assert!(text.contains("0x6 R_X86_64_PLT32 hi2_func-0x4"));
}

fn tail(s: &str) -> &str {
    &s[s.len().saturating_sub(3000)..]
}

/// Test that extract handles a function in a section above SHN_LORESERVE.
#[test]
fn many_sections_xindex_extract() {
    let (o, _, _) = many_sections_unit();
    let b = o.build();
    let (elf, _) = load_ok("many-sections", &b.bytes);
    let (out, text) = extract_checked("many-sections", &elf, &["hi_func"]);
    let f = out.find_function(b"hi_func").expect("hi_func in output");
    assert!(out.symbols[f].is_local(), "changed function becomes local");
    assert!(text.contains(".klp.sym.vmlinux.lo,0"), "{text}");
    assert!(text.contains(".klp.sym.vmlinux.hi2_func,0"), "{text}");
}

/// Test that write::to_bytes output needing more than 65280 sections reloads.
#[test]
fn many_sections_writer_output_reloads() {
    let mut out = OutObject::default();
    let mut last = 0;
    for _ in 0..FILLERS {
        last = out.add_section(OutSection {
            name: b".rodata.cst8".to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC,
            sh_addralign: 8,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(vec![1; 8]),
            symbol: None,
        });
    }
    let text = out.add_section(OutSection {
        name: b".text.hi".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: AX,
        sh_addralign: 16,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(vec![0x48, 0x8b, 0x05, 0, 0, 0, 0, 0xc3]),
        symbol: None,
    });
    out.add_symbol(OutSymbol {
        name: b"hi_func".to_vec(),
        st_info: (STB_GLOBAL << 4) | STT_FUNC,
        st_other: 0,
        place: OutPlace::Section(text),
        value: 0,
        size: 8,
    });
    let target = out.sections[last].symbol.unwrap();
    out.add_section(OutSection {
        name: b".rela.text.hi".to_vec(),
        sh_type: SHT_RELA,
        sh_flags: SHF_INFO_LINK,
        sh_addralign: 8,
        sh_entsize: 24,
        link: None,
        data: OutData::Relocs {
            target: text,
            relocs: vec![OutReloc {
                offset: 3,
                symbol: target,
                r_type: R_X86_64_PC32,
                addend: -4,
            }],
        },
        symbol: None,
    });
    let bytes = write::to_bytes(&out).expect("to_bytes");
    let (elf, _) = load_ok("writer-many-sections", &bytes);
    let f = elf.find_function(b"hi_func").expect("hi_func");
    let sec = elf.symbols[f].section.expect("defined");
    assert_eq!(elf.sections[sec].name, b".text.hi");
    let r: Vec<_> = elf.relocs_for(sec).collect();
    assert_eq!(r.len(), 1);
    let rs = &elf.symbols[r[0].symbol];
    assert!(rs.is_section());
    assert_eq!(
        rs.section,
        Some(last + 1),
        "relocation against the last filler's section symbol"
    );
}

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

/// A COMDAT group of `.text.inl` and its relocations, with signature `inl`;
/// then `extra` groups appended by the caller. Returns the object and the
/// group section index.
fn comdat_unit() -> (Obj, u32) {
    let mut o = Obj::default();
    let text = o.text(b".text.inl", &[0xe8, 0, 0, 0, 0, 0xc3]);
    o.secs[0].flags |= SHF_GROUP;
    o.sym(b"g.c", STB_LOCAL, STT_FILE, Place::Shndx(SHN_ABS), 0, 0);
    o.section_sym(text);
    let inl = o.sym(b"inl", STB_WEAK, STT_FUNC, Place::Sec(text), 0, 6);
    let ext = o.sym(b"ext", STB_GLOBAL, STT_NOTYPE, Place::Undef, 0, 0);
    let rela = o.rela(
        text,
        vec![R {
            offset: 1,
            sym: ext,
            r_type: R_X86_64_PLT32,
            addend: -4,
        }],
    );
    o.secs[rela as usize - 1].flags |= SHF_GROUP;
    let grp = o.group(b".group", inl, GRP_COMDAT, &[text, rela]);
    (o, grp)
}

/// Test that a COMDAT group loads with members and signature and inspect shows it.
#[test]
fn comdat_group_loads_and_shows() {
    let (o, grp) = comdat_unit();
    let b = o.build();
    let (elf, text) = load_ok("comdat", &b.bytes);
    assert_eq!(elf.groups.len(), 1);
    let g = &elf.groups[0];
    assert_eq!(g.section, grp as usize);
    assert_eq!(g.flags, GRP_COMDAT);
    assert_eq!(g.members, vec![1, 2]);
    assert_eq!(elf.symbols[g.signature.unwrap()].name, b"inl");
    assert_eq!(elf.sections[1].group, Some(grp as usize));
    assert_eq!(elf.sections[2].group, Some(grp as usize));
    assert!(text.contains("] .group GROUP"), "{text}");
    assert!(text.contains("signature=inl"), "{text}");
    assert!(
        text.contains("group .group flags=0x1: .text.inl .rela.text.inl"),
        "{text}"
    );
}

/// Test that a group signature index past .symtab loads and inspect shows the raw index.
#[test]
fn group_signature_out_of_range_is_shown_raw() {
    let (mut o, grp) = comdat_unit();
    o.secs[grp as usize - 1].info = 999;
    let (elf, text) = load_ok("group-sig", &o.build().bytes);
    assert_eq!(elf.groups[0].signature, None);
    assert!(text.contains("signature=#999"), "{text}");
}

/// Test that a group member index past the section table is an error naming the group and index.
#[test]
fn group_member_out_of_range() {
    let (mut o, _) = comdat_unit();
    let g = o.group(b".group.bad", 3, GRP_COMDAT, &[4242]);
    load_err(
        "group-oob",
        &o.build().bytes,
        &[&format!("section #{g}"), "4242", "out of range"],
    );
}

/// Test that a group member 0 (SHN_UNDEF) is an error naming the group.
#[test]
fn group_member_zero() {
    let (mut o, _) = comdat_unit();
    let g = o.group(b".group.zero", 3, 0, &[0]);
    load_err(
        "group-zero",
        &o.build().bytes,
        &[&format!("section #{g}"), "member section index 0"],
    );
}

/// Test that a group listing itself (a cycle) is an error naming it.
#[test]
fn group_lists_itself() {
    let (mut o, _) = comdat_unit();
    let me = o.secs.len() as u32 + 1;
    let g = o.group(b".group.self", 3, GRP_COMDAT, &[me]);
    assert_eq!(g, me);
    load_err(
        "group-self",
        &o.build().bytes,
        &[&format!("section #{g}"), "itself a group"],
    );
}

/// Test that a group listing another group section is an error naming both.
#[test]
fn group_lists_group() {
    let (mut o, first) = comdat_unit();
    let g = o.group(b".group.outer", 3, GRP_COMDAT, &[first]);
    load_err(
        "group-of-group",
        &o.build().bytes,
        &[
            &format!("section #{g}"),
            &format!("member #{first}"),
            "itself a group",
        ],
    );
}

/// Test that a section claimed by two groups is an error naming both groups.
#[test]
fn group_member_in_two_groups() {
    let (mut o, first) = comdat_unit();
    let g = o.group(b".group.dup", 3, GRP_COMDAT, &[1]);
    load_err(
        "group-dup",
        &o.build().bytes,
        &[
            &format!("section #{g}"),
            "member #1",
            &format!("group section #{first}"),
        ],
    );
}

/// Test that a group with a ragged or empty body is an error naming the group.
#[test]
fn group_bad_size() {
    for (what, data) in [
        ("group-odd", vec![1u8, 0, 0, 0, 1, 0]),
        ("group-empty", Vec::new()),
    ] {
        let (mut o, _) = comdat_unit();
        o.secs.push(Sec {
            name: b".group.bad".to_vec(),
            sh_type: SHT_GROUP,
            flags: 0,
            body: Body::Bytes(data),
            align: 4,
            entsize: 4,
            link: Link::Symtab,
            info: 3,
        });
        let g = o.secs.len();
        load_err(what, &o.build().bytes, &[&format!("section #{g}")]);
    }
}

// ---------------------------------------------------------------------------
// Section symbols vs named symbols
// ---------------------------------------------------------------------------

/// Test that relocations through section, named and .L symbols load and render with the right targets.
#[test]
fn relocations_section_vs_named_symbols() {
    let b = reloc_unit(true).build();
    let (elf, text) = load_ok("reloc-secsym", &b.bytes);
    let r: Vec<_> = elf.relocs_for(1).copied().collect();
    assert_eq!(r.len(), 4);
    assert!(elf.symbols[r[0].symbol].is_section());
    assert_eq!(elf.symbols[r[1].symbol].name, b"bar");
    assert!(
        text.contains("0x3 R_X86_64_32S .rodata.str1.1+0x6"),
        "{text}"
    );
    assert!(text.contains("0x8 R_X86_64_PLT32 bar-0x4"), "{text}");
    assert!(
        text.contains("0xe R_X86_64_PC32 .data.counter-0x4"),
        "{text}"
    );
    assert!(
        text.contains("0x15 R_X86_64_PC32 .rodata.cst16-0x4"),
        "{text}"
    );
    assert_eq!(
        elf.sections[3].symbol.map(|s| elf.symbols[s].is_section()),
        Some(true)
    );

    let b = reloc_unit(false).build();
    let (elf, text) = load_ok("reloc-named", &b.bytes);
    assert!(
        elf.symbols.iter().all(|s| !s.is_section()),
        "no STT_SECTION symbols"
    );
    assert!(elf.sections.iter().all(|s| s.symbol.is_none()));
    assert!(text.contains("0x3 R_X86_64_32S .L.str.1"), "{text}");
    assert!(text.contains("0xe R_X86_64_PC32 counter-0x4"), "{text}");
    assert!(text.contains("0x15 R_X86_64_PC32 .LCPI0_0-0x4"), "{text}");
}

/// Test that extract follows section-symbol relocations into a valid output (loader, readelf, objdump).
#[test]
fn extract_through_section_symbols() {
    let b = reloc_unit(true).build();
    let (elf, _) = load_ok("extract-secsym", &b.bytes);
    let (out, text) = extract_checked("extract-secsym", &elf, &["foo"]);
    check_reloc_unit_output(&out, &text);
}

/// Test that extract gives the same valid output when the input has no STT_SECTION symbols.
#[test]
fn extract_without_section_symbols() {
    let b = reloc_unit(false).build();
    let (elf, _) = load_ok("extract-nosecsym", &b.bytes);
    let (out, text) = extract_checked("extract-nosecsym", &elf, &["foo"]);
    check_reloc_unit_output(&out, &text);
    let b2 = reloc_unit(true).build();
    let (elf2, _) = load_ok("extract-secsym2", &b2.bytes);
    let (_, text2) = extract_checked("extract-secsym2", &elf2, &["foo"]);
    assert_eq!(
        text, text2,
        "section-symbol and named-symbol inputs give different outputs"
    );
}

fn check_reloc_unit_output(out: &Elf, text: &str) {
    let klp = support::klp_symbols(out);
    assert_eq!(
        klp,
        vec![".klp.sym.vmlinux.bar,0", ".klp.sym.vmlinux.counter,0"],
        "{text}"
    );
    // The string and the constant are copied and referenced through the
    // output's section symbols.
    let strs = out
        .section_by_name(b".rodata.str1.1")
        .expect(".rodata.str1.1 copied");
    assert_eq!(out.data(strs), b"world\0");
    let cst = out
        .section_by_name(b".rodata.cst16")
        .expect(".rodata.cst16 copied");
    assert_eq!(out.data(cst), &(0u8..16).collect::<Vec<_>>()[..]);
    let text_sec = out.section_by_name(b".text.foo").unwrap();
    let normal: Vec<_> = out
        .relocs_for(text_sec)
        .filter(|r| !out.sections[r.rsec].is_klp_rela())
        .copied()
        .collect();
    assert_eq!(normal.len(), 2, "{text}");
    for r in &normal {
        let s = &out.symbols[r.symbol];
        assert!(
            s.is_section(),
            "normal relocation against {}",
            s.display_name()
        );
        assert!(s.section == Some(strs) || s.section == Some(cst));
    }
}

// ---------------------------------------------------------------------------
// Non-UTF-8 names
// ---------------------------------------------------------------------------

/// Test that inspect escapes non-UTF-8 bytes and control characters in names and strings.
#[test]
fn non_utf8_names_are_escaped() {
    let mut o = Obj::default();
    let t = o.text(b".text.\xc3\x28bad", &[0xc3]);
    let d = o.sec(
        b".rodata.\x1b[31mred",
        SHT_PROGBITS,
        SHF_ALLOC | SHF_STRINGS,
        b"a\xffb\0".to_vec(),
    );
    o.sym(
        b"\xfe\xff.c",
        STB_LOCAL,
        STT_FILE,
        Place::Shndx(SHN_ABS),
        0,
        0,
    );
    o.sym(b"bad\xff\xfename", STB_LOCAL, STT_FUNC, Place::Sec(t), 0, 1);
    o.sym(b"tab\there\nnl", STB_LOCAL, STT_OBJECT, Place::Sec(d), 0, 4);
    o.sym(
        b"ok_\xe2\x82\xac",
        STB_GLOBAL,
        STT_FUNC,
        Place::Sec(t),
        0,
        1,
    );
    let b = o.build();
    let (elf, text) = load_ok("non-utf8", &b.bytes);
    assert_eq!(elf.symbols[2].name, b"bad\xff\xfename");
    assert!(text.contains("bad\\xff\\xfename"), "{text}");
    assert!(text.contains(".text.\\xc3(bad"), "{text}");
    assert!(text.contains("\\xfe\\xff.c"), "{text}");
    assert!(text.contains("tab\\there\\nnl"), "{text}");
    assert!(text.contains("ok_€"), "valid UTF-8 stays readable: {text}");
    assert!(text.contains("\"a\\xffb\""), "string data escaped: {text}");
    assert!(!text.contains('\x1b'), "raw ESC in the dump");
    assert!(text.contains(".rodata.\\u{1b}[31mred"), "{text}");
    // Every line is still one line.
    assert!(!text.contains("\tpanic"));
    assert_eq!(text.lines().filter(|l| l.contains("tab\\there")).count(), 1);
}

/// Test that extract keeps a non-UTF-8 target name's raw bytes in its .klp.sym symbol.
#[test]
fn extract_non_utf8_klp_symbol_name() {
    let mut o = Obj::default();
    let t = o.text(b".text.caller", &[0xe8, 0, 0, 0, 0, 0xc3]);
    let w = o.text(b".text.weird", &[0xc3]);
    o.sym(b"w.c", STB_LOCAL, STT_FILE, Place::Shndx(SHN_ABS), 0, 0);
    let weird = o.sym(b"weird\xff", STB_LOCAL, STT_FUNC, Place::Sec(w), 0, 1);
    o.sym(b"caller", STB_GLOBAL, STT_FUNC, Place::Sec(t), 0, 6);
    o.rela(
        t,
        vec![R {
            offset: 1,
            sym: weird,
            r_type: R_X86_64_PLT32,
            addend: -4,
        }],
    );
    let b = o.build();
    let (elf, _) = load_ok("klp-non-utf8", &b.bytes);
    match run_extract("klp-non-utf8", &elf, &["caller"], &Exports::default()) {
        Err(_) => {} // refusing is acceptable
        Ok(ex) => {
            let names: Vec<&[u8]> = ex
                .out
                .symbols
                .iter()
                .filter(|s| s.place == OutPlace::Livepatch)
                .map(|s| s.name.as_slice())
                .collect();
            assert_eq!(names, vec![&b".klp.sym.vmlinux.weird\xff,0"[..]]);
        }
    }
}

// ---------------------------------------------------------------------------
// Hostile fields: each must be an Err naming the field/index, never a panic
// ---------------------------------------------------------------------------

/// Test that section data past EOF (or an overflowing offset) is an error naming the section.
#[test]
fn hostile_section_past_eof() {
    let b = small_unit().build();
    let len = b.bytes.len() as u64;
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, 1, raw::SH_SIZE, len);
    load_err(
        "size-past-eof",
        &m,
        &["section #1", ".text.f", "runs past the end"],
    );
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, 3, raw::SH_OFFSET, u64::MAX - 2);
    load_err("offset-overflow", &m, &["section #3", "runs past the end"]);
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, b.symtab, raw::SH_OFFSET, len - 8);
    load_err(
        "symtab-past-eof",
        &m,
        &[&format!("section #{}", b.symtab), "runs past the end"],
    );
}

/// Test that .symtab sh_link out of range or not a string table is an error naming sh_link.
#[test]
fn hostile_symtab_link() {
    let b = small_unit().build();
    for (link, what) in [
        (9999u64, "link-oob"),
        (0, "link-zero"),
        (1, "link-not-strtab"),
    ] {
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, b.symtab, raw::SH_LINK, link);
        load_err(
            what,
            &m,
            &[
                &format!("section #{}", b.symtab),
                &format!("sh_link {link}"),
            ],
        );
    }
}

/// Test that an out-of-range st_shndx or extended index is an error naming the symbol.
#[test]
fn hostile_symbol_shndx() {
    let b = small_unit().build();
    // Symbol 3 is `f` in .text.f.
    let at = raw::sym(&b.bytes, b.symtab, 3) + raw::ST_SHNDX;
    for (v, needle) in [(77u64, "section index 77"), (0xfeff, "section index 65279")] {
        let mut m = b.bytes.clone();
        raw::put(&mut m, at, 2, v);
        load_err(
            "shndx-oob",
            &m,
            &["symbol #3", "(f)", needle, "out of range"],
        );
    }
    let mut m = b.bytes.clone();
    raw::put(&mut m, at, 2, SHN_XINDEX as u64);
    load_err("xindex-missing", &m, &["symbol #3", "(f)"]);

    // With an extended index table: the entry itself out of range.
    let mut o = small_unit();
    o.force_shndx = true;
    let b = o.build();
    let x = b.shndx.unwrap();
    let mut m = b.bytes.clone();
    raw::put(
        &mut m,
        raw::sym(&b.bytes, b.symtab, 3) + raw::ST_SHNDX,
        2,
        SHN_XINDEX as u64,
    );
    let entry = raw::sh(&m, x, raw::SH_OFFSET) as usize + 3 * 4;
    raw::put(&mut m, entry, 4, 0x7fff_ffff);
    load_err("xindex-oob", &m, &["symbol #3", "(f)", "out of range"]);
}

/// Test that bad relocation offsets, symbols, sh_info and sh_link are errors naming the relocation.
#[test]
fn hostile_relocation_fields() {
    let b = small_unit().build();
    let r0 = raw::rela(&b.bytes, 2, 0);
    for (off, what) in [(3u64, "partial"), (6, "at-end"), (u64::MAX - 1, "overflow")] {
        let mut m = b.bytes.clone();
        raw::put(&mut m, r0 + raw::R_OFFSET, 8, off);
        load_err(
            what,
            &m,
            &[
                "section #2",
                "relocation #0",
                &format!("offset {off:#x}"),
                "lies outside .text.f",
            ],
        );
    }
    let mut m = b.bytes.clone();
    let info = raw::get(&m, r0 + raw::R_INFO, 8);
    raw::put(
        &mut m,
        r0 + raw::R_INFO,
        8,
        (1234u64 << 32) | (info & 0xffff_ffff),
    );
    load_err(
        "rsym-oob",
        &m,
        &["section #2", "relocation #0", "symbol 1234"],
    );
    // sh_info of a relocation section out of range.
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, 4, 44, 500);
    load_err("rinfo-oob", &m, &["section #4", "sh_info 500"]);
    // sh_link of a relocation section not the symbol table.
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, 4, raw::SH_LINK, 1);
    load_err("rlink", &m, &["section #4", "sh_link 1"]);
}

/// Test that unterminated .strtab/.shstrtab and name offsets past them are errors naming the entry.
#[test]
fn hostile_string_tables() {
    let b = small_unit().build();
    // .strtab: the last name loses its NUL.
    let mut m = b.bytes.clone();
    let (off, size) = (
        raw::sh(&m, b.strtab, raw::SH_OFFSET) as usize,
        raw::sh(&m, b.strtab, raw::SH_SIZE) as usize,
    );
    m[off + size - 1] = b'X';
    let last = last_name_user(
        &b.bytes,
        off,
        size,
        |j| raw::get(&b.bytes, raw::sym(&b.bytes, b.symtab, j) + raw::ST_NAME, 4) as usize,
        1..5,
    );
    load_err(
        "strtab-unterminated",
        &m,
        &[&format!("symbol #{last}"), "st_name", "not NUL-terminated"],
    );
    // st_name past the table.
    let mut m = b.bytes.clone();
    raw::put(
        &mut m,
        raw::sym(&b.bytes, b.symtab, 4) + raw::ST_NAME,
        4,
        0xffff_fff0,
    );
    load_err("st_name-oob", &m, &["symbol #4", "st_name 0xfffffff0"]);

    // .shstrtab: the last section name loses its NUL.
    let mut m = b.bytes.clone();
    let (off, size) = (
        raw::sh(&m, b.shstrtab, raw::SH_OFFSET) as usize,
        raw::sh(&m, b.shstrtab, raw::SH_SIZE) as usize,
    );
    m[off + size - 1] = b'X';
    let last = last_name_user(
        &b.bytes,
        off,
        size,
        |i| raw::sh(&b.bytes, i, raw::SH_NAME) as usize,
        1..b.shstrtab + 1,
    );
    load_err(
        "shstrtab-unterminated",
        &m,
        &[&format!("section #{last}"), "sh_name", "not NUL-terminated"],
    );
    // sh_name past the table.
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, 3, raw::SH_NAME, 0x7fff_ffff);
    load_err("sh_name-oob", &m, &["section #3", "sh_name 0x7fffffff"]);
}

/// The first entry (in `range`) whose name ends at the table's final NUL.
fn last_name_user(
    bytes: &[u8],
    off: usize,
    size: usize,
    name_of: impl Fn(usize) -> usize,
    range: std::ops::Range<usize>,
) -> usize {
    range
        .filter(|&j| {
            let n = name_of(j);
            n != 0
                && n < size
                && bytes[off + n..off + size].iter().position(|&c| c == 0) == Some(size - 1 - n)
        })
        .min()
        .expect("some name ends at the table's end")
}

/// Test that an SHT_SYMTAB_SHNDX of the wrong length is an error naming it.
#[test]
fn hostile_symtab_shndx_length() {
    let mut o = small_unit();
    o.force_shndx = true;
    let b = o.build();
    let x = b.shndx.unwrap();
    let size = raw::sh(&b.bytes, x, raw::SH_SIZE);
    for (delta, what) in [(-4i64, "short"), (4, "long"), (2, "ragged")] {
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, x, raw::SH_SIZE, (size as i64 + delta) as u64);
        let msg = load_err(what, &m, &[]);
        assert!(
            msg.contains(&format!("section #{x}")) && msg.contains("SHT_SYMTAB_SHNDX")
                || msg.contains("symtab_shndx"),
            "{what}: error {msg:?} does not name the SHT_SYMTAB_SHNDX section"
        );
    }
}

/// Test that a wrong sh_entsize (0 included) on .symtab or .rela is an error naming sh_entsize.
#[test]
fn hostile_entsize() {
    let b = small_unit().build();
    for v in [0u64, 1, 16, 0xffff_ffff] {
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, b.symtab, raw::SH_ENTSIZE, v);
        load_err(
            "symtab-entsize",
            &m,
            &[
                &format!("section #{}", b.symtab),
                &format!("sh_entsize {v}"),
            ],
        );
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, 2, raw::SH_ENTSIZE, v);
        load_err(
            "rela-entsize",
            &m,
            &["section #2", &format!("sh_entsize {v}")],
        );
    }
}

/// Test that a ragged .symtab or a first-global index past it is an error naming .symtab.
#[test]
fn hostile_symtab_size_and_info() {
    let b = small_unit().build();
    let size = raw::sh(&b.bytes, b.symtab, raw::SH_SIZE);
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, b.symtab, raw::SH_SIZE, size - 5);
    load_err("symtab-ragged", &m, &[&format!("section #{}", b.symtab)]);
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, b.symtab, 44, 100);
    load_err(
        "symtab-info",
        &m,
        &[&format!("section #{}", b.symtab), "sh_info 100"],
    );
}

/// Test that corrupt e_shoff, e_shnum, e_shentsize and e_shstrndx are clean errors.
#[test]
fn hostile_file_header() {
    let b = small_unit().build();
    let len = b.bytes.len() as u64;
    let cases: &[(&str, usize, usize, u64)] = &[
        ("e_shoff-past-eof", 0x28, 8, len),
        ("e_shoff-huge", 0x28, 8, u64::MAX - 63),
        ("e_shnum-huge", 0x3c, 2, 0xfeff),
        ("e_shentsize", 0x3a, 2, 32),
        ("e_shstrndx-oob", 0x3e, 2, 0xfe00),
        ("e_shstrndx-not-strtab", 0x3e, 2, 1),
    ];
    for &(what, at, width, v) in cases {
        let mut m = b.bytes.clone();
        raw::put(&mut m, at, width, v);
        let msg = load_err(what, &m, &[]);
        assert!(!msg.is_empty());
    }
}

/// Test that section #0 with a non-zero sh_size while e_shnum did not
/// overflow is refused (found by the structure refactor: the check was a
/// no-op).
#[test]
fn hostile_section_zero_size() {
    let b = small_unit().build();
    let mut m = b.bytes.clone();
    let shoff = u64::from_le_bytes(m[0x28..0x30].try_into().unwrap()) as usize;
    raw::put(&mut m, shoff + 0x20, 8, 0x40); // section #0 sh_size
    load_err("sh0-size", &m, &["section #0 has sh_size 0x40"]);
}

/// Test that every truncation of a small object is an error (or loads), never a panic.
#[test]
fn hostile_every_truncation() {
    let b = small_unit().build();
    for n in 0..b.bytes.len() {
        let r = try_load(&format!("truncated at {n}"), &b.bytes[..n]);
        match r {
            Ok(elf) => {
                // Only a truncation inside trailing padding may still load.
                let _ = render("truncated", &elf);
            }
            Err(e) => assert!(e.to_string().starts_with("synthetic.o: "), "{e}"),
        }
    }
}

/// Test that extract of a function whose value lies past its section is an error, not a panic.
#[test]
fn hostile_symbol_value_past_section_extract() {
    let mut o = small_unit();
    o.syms[2].value = 0x1000; // `f` at 0x1000 in a 6-byte section
    let b = o.build();
    let (elf, text) = load_ok("value-past-section", &b.bytes);
    assert!(text.contains(".text.f+0x1000"));
    let r = run_extract("value-past-section", &elf, &["f"], &Exports::default());
    assert!(
        r.is_err(),
        "extract accepted a function outside its section"
    );
}

/// Test that group members above SHN_LORESERVE load as plain 32-bit indices.
#[test]
fn group_member_above_loreserve() {
    let (mut o, hi, hi2) = many_sections_unit();
    let g = o.group(b".group", 4, GRP_COMDAT, &[hi, hi2]);
    let b = o.build();
    let (elf, text) = load_ok("group-high", &b.bytes);
    let grp = elf.groups.iter().find(|x| x.section == g as usize).unwrap();
    assert_eq!(grp.members, vec![hi as usize, hi2 as usize]);
    assert!(
        text.contains("group .group flags=0x1: .text.hi .text.hi2"),
        "{}",
        tail(&text)
    );
}

/// Test that a NOBITS section larger than the file loads and renders.
#[test]
fn nobits_larger_than_file() {
    let mut o = small_unit();
    o.secs.push(Sec {
        name: b".bss.big".to_vec(),
        sh_type: SHT_NOBITS,
        flags: WA,
        body: Body::Nobits(1 << 40),
        align: 64,
        entsize: 0,
        link: Link::Raw(0),
        info: 0,
    });
    let bss = o.secs.len() as u32;
    o.syms.insert(
        2,
        Symb {
            name: b"big".to_vec(),
            bind: STB_LOCAL,
            kind: STT_OBJECT,
            place: Place::Sec(bss),
            value: (1 << 40) - 8,
            size: 8,
        },
    );
    // Symbol indices after `big` moved up by one: fix the relocations.
    for s in &mut o.secs {
        if let Body::Rela(list) = &mut s.body {
            for r in list {
                if r.sym >= 3 {
                    r.sym += 1;
                }
            }
        }
    }
    let (elf, text) = load_ok("nobits", &o.build().bytes);
    assert_eq!(elf.data(bss as usize), b"");
    assert_eq!(elf.symbol_containing(bss as usize, (1 << 40) - 1), Some(3));
    assert!(
        text.contains(".bss.big NOBITS WRITE|ALLOC size=0x10000000000 align=64"),
        "{text}"
    );
    assert!(
        text.contains("LOCAL  OBJECT  .bss.big+0xfffffffff8 size=0x8 big"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Regressions from the mutation sweep (tests/mutation_sweep.rs)
// ---------------------------------------------------------------------------

/// Extract `foo` from a patched `reloc_unit` object and, when it succeeds,
/// write the output: no panic, and an output must re-load and stay small.
fn extract_sane(what: &str, bytes: &[u8]) {
    let Ok(elf) = try_load(what, bytes) else {
        return; // rejected by the loader: fine
    };
    let Ok(ex) = run_extract(what, &elf, &["foo"], &Exports::default()) else {
        return; // clean refusal: fine
    };
    let out = catch_unwind(AssertUnwindSafe(|| write::to_bytes(&ex.out)))
        .unwrap_or_else(|p| panic!("{what}: writer panicked: {}", panic_text(&*p)));
    let Ok(out) = out else { return };
    assert!(
        out.len() < 1 << 20,
        "{what}: output is {} bytes for a 26-byte function",
        out.len()
    );
    let _ = load_ok(&format!("{what} (output)"), &out);
}

/// Test that a non-power-of-two or huge sh_addralign never makes extract panic, balloon or write a bad object.
#[test]
fn hostile_addralign_extract() {
    let b = reloc_unit(true).build();
    // Section 5 is .rodata.cst16, copied whole; 1 is .text.foo.
    for sec in [5usize, 1] {
        for align in [3u64, 24, 1 << 24, 0x7fff_ffff_ffff_ffff, u64::MAX] {
            let mut m = b.bytes.clone();
            raw::set_sh(&mut m, sec, 48, align);
            extract_sane(&format!("addralign-{sec}-{align:#x}"), &m);
        }
    }
}

/// Test that a huge sh_entsize on a string section never makes extract pad the output to it.
#[test]
fn hostile_string_entsize_extract() {
    let b = reloc_unit(true).build();
    // Section 3 is .rodata.str1.1.
    for v in [3u64, 1 << 20, 0x7fff_ffff_ffff_ffff] {
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, 3, raw::SH_ENTSIZE, v);
        extract_sane(&format!("str-entsize-{v:#x}"), &m);
    }
}

/// Test that a referenced section turned into SHT_NULL never makes extract slice past its data.
#[test]
fn hostile_null_type_extract() {
    let b = reloc_unit(true).build();
    for sec in [1usize, 3, 5] {
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, sec, 4, SHT_NULL as u64);
        extract_sane(&format!("null-type-{sec}"), &m);
    }
}

/// Test that a special section turned into SHT_NULL never makes checksum slice past its data.
#[test]
fn hostile_null_type_checksum() {
    let mut o = small_unit();
    // A __mcount_loc entry pointing at f.
    let mc = o.sec(b"__mcount_loc", SHT_PROGBITS, SHF_ALLOC, vec![0; 8]);
    o.rela(
        mc,
        vec![R {
            offset: 0,
            sym: 2,
            r_type: R_X86_64_64,
            addend: 0,
        }],
    );
    let b = o.build();
    let (elf, _) = load_ok("mcount", &b.bytes);
    catch_unwind(AssertUnwindSafe(|| {
        klpwrite::checksum::run(&elf).map(|_| ())
    }))
    .unwrap_or_else(|p| panic!("checksum panicked on a valid object: {}", panic_text(&*p)))
    .expect("checksum of a valid object");
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, mc as usize, 4, SHT_NULL as u64);
    if let Ok(elf) = try_load("mcount-null", &m) {
        let r = catch_unwind(AssertUnwindSafe(|| {
            klpwrite::checksum::run(&elf).map(|_| ())
        }));
        assert!(
            r.is_ok(),
            "checksum panicked: {}",
            r.err().map(|p| panic_text(&*p)).unwrap_or_default()
        );
    }
}

/// Test that a symbol defined in a .rela/.symtab/.strtab section is never copied out as an output section of that type.
#[test]
fn hostile_symbol_in_metadata_section_extract() {
    let b = reloc_unit(false).build();
    // Symbol 2 is `counter` (referenced by name); section 6 is
    // .rela.text.foo.
    for sec in [6u64, b.symtab as u64, b.strtab as u64] {
        let mut m = b.bytes.clone();
        raw::put(
            &mut m,
            raw::sym(&b.bytes, b.symtab, 2) + raw::ST_SHNDX,
            2,
            sec,
        );
        extract_sane(&format!("counter-in-{sec}"), &m);
    }
}

/// Test that a function size ending inside a relocated field never yields a relocation past its output section.
#[test]
fn hostile_symbol_size_cuts_relocation_extract() {
    let b = reloc_unit(true).build();
    // Symbol 7 is `foo`; its call to bar is relocated at 0x08..0x0c.
    for size in [0x0au64, 0x0b, 0x10] {
        let mut m = b.bytes.clone();
        raw::put(&mut m, raw::sym(&b.bytes, b.symtab, 7) + 16, 8, size);
        extract_sane(&format!("foo-size-{size:#x}"), &m);
    }
}

/// Test duplicate and empty section names: ordinary sections may repeat a
/// name or have none (the object is still usable and every command copes),
/// but a section klpwrite finds by name (a special section, `.orc_unwind`,
/// ...) must be unique, and a second one is an error naming both indices.
#[test]
fn hostile_duplicate_and_empty_section_names() {
    // Ordinary duplicates and an empty name: loads, renders, checksums,
    // self-diffs clean and extracts.
    let mut o = small_unit();
    o.sec(b".data.p", SHT_PROGBITS, WA, vec![1; 8]);
    let empty = o.sec(b"", SHT_PROGBITS, WA, vec![2; 8]);
    let b = o.build();
    let (elf, text) = load_ok("dup-ordinary", &b.bytes);
    assert!(text.contains(".data.p"), "{text}");
    let sums = checksum::run(&elf).expect("checksum");
    assert!(!checksum::render_text(&elf, &sums).is_empty());
    let d = diff::run(&elf, &elf).expect("self-diff");
    assert!(
        !d.has_changes() && d.warnings.is_empty(),
        "self-diff: {}",
        d.render(&elf, &elf)
    );
    let Err(e) = run_extract("dup-ordinary", &elf, &["f"], &Exports::default()) else {
        panic!("an allocated section without a name must be refused");
    };
    assert!(
        e.to_string().contains(&format!(
            "section #{empty}: an allocated section without a name"
        )),
        "{e}"
    );
    // Without the nameless one, the duplicate .data.p extracts normally.
    let mut o = reloc_unit(true);
    o.sec(b".text.foo", SHT_PROGBITS, AX, vec![0xc3]);
    let (elf, _) = load_ok("dup-only", &o.build().bytes);
    let (out, text) = extract_checked("dup-only", &elf, &["foo"]);
    check_reloc_unit_output(&out, &text);

    // A special section twice (here with a kept entry in each): extract
    // refuses, naming both.
    let mut o = Obj::default();
    let text = o.text(b".text.f", &[0x66, 0x90, 0x66, 0x90, 0xc3]);
    let key = o.sec(b".data.k", SHT_PROGBITS, WA, vec![0; 16]);
    let j1 = o.sec(b"__jump_table", SHT_PROGBITS, WA, vec![0; 16]);
    let j2 = o.sec(b"__jump_table", SHT_PROGBITS, WA, vec![0; 16]);
    o.sym(b"u.c", STB_LOCAL, STT_FILE, Place::Shndx(SHN_ABS), 0, 0);
    let tsym = o.section_sym(text);
    let k = o.sym(b"k", STB_LOCAL, STT_OBJECT, Place::Sec(key), 0, 16);
    o.sym(b"f", STB_GLOBAL, STT_FUNC, Place::Sec(text), 0, 5);
    for (j, site) in [(j1, 0), (j2, 2)] {
        o.secs[j as usize - 1].align = 8;
        o.rela(
            j,
            vec![
                R {
                    offset: 0,
                    sym: tsym,
                    r_type: R_X86_64_PC32,
                    addend: site,
                },
                R {
                    offset: 4,
                    sym: tsym,
                    r_type: R_X86_64_PC32,
                    addend: 4,
                },
                R {
                    offset: 8,
                    sym: k,
                    r_type: R_X86_64_PC64,
                    addend: site / 2,
                },
            ],
        );
    }
    let (elf, text) = load_ok("dup-special", &o.build().bytes);
    assert!(text.contains("__jump_table"), "{text}");
    let Err(e) = run_extract("dup-special", &elf, &["f"], &Exports::default()) else {
        panic!("duplicate special sections must be refused");
    };
    assert!(
        e.to_string().contains(&format!(
            "sections #{j1} and #{j2} are both named __jump_table"
        )),
        "{e}"
    );

    // A section found by name twice: refused at load time, naming both.
    let mut o = small_unit();
    let first = o.sec(b".modinfo", SHT_PROGBITS, SHF_ALLOC, b"a=b\0".to_vec());
    let second = o.sec(b".modinfo", SHT_PROGBITS, SHF_ALLOC, b"c=d\0".to_vec());
    load_err(
        "dup-by-name",
        &o.build().bytes,
        &[
            &format!("section #{second} (.modinfo)"),
            &format!("the first is #{first}"),
        ],
    );
}

/// Test that an object without a section table (e_shoff or e_shnum 0)
/// is a clean error for extract, never a panic (mutation sweep find:
/// extract sliced the section list from index 1).
#[test]
fn no_section_table_extract() {
    let b = reloc_unit(true).build();
    let (intact, _) = load_ok("intact", &b.bytes);
    for (what, at, width) in [("e_shoff-0", 0x28, 8), ("e_shnum-0", 0x3c, 2)] {
        let mut m = b.bytes.clone();
        raw::put(&mut m, at, width, 0);
        if let Ok(elf) = try_load(what, &m)
            && let Ok(ex) = run_extract_with(what, &elf, &intact, &["foo"], &Exports::default())
        {
            panic!(
                "{what}: extract succeeded on an object without sections ({} sections out)",
                ex.out.sections.len()
            );
        }
    }
}

/// Test that extract refuses an input that has a section named like one it
/// writes (fuzz find: a function in a section called `.klpwrite.patch` gave
/// an output with two metadata sections), instead of writing an output
/// that does not load.
#[test]
fn reserved_section_names_extract() {
    for name in [
        &b".klpwrite.patch"[..],
        b".klp.rela.vmlinux..text.f",
        b".klp.arch.vmlinux..altinstructions",
    ] {
        let mut o = Obj::default();
        let text = o.text(name, &[0x90, 0xc3]);
        o.sym(b"u.c", STB_LOCAL, STT_FILE, Place::Shndx(SHN_ABS), 0, 0);
        o.section_sym(text);
        o.sym(b"f", STB_GLOBAL, STT_FUNC, Place::Sec(text), 0, 2);
        let what = String::from_utf8_lossy(name).into_owned();
        let (elf, _) = load_ok(&what, &o.build().bytes);
        let Err(e) = run_extract(&what, &elf, &["f"], &Exports::default()) else {
            panic!("{what}: extract accepted a reserved section name");
        };
        assert!(
            e.to_string().contains(&format!(
                "section #{text} is named {what}, a name klpwrite writes itself"
            )),
            "{what}: {e}"
        );
    }
}

/// Test that the writer refuses section names that would not read back: a
/// section named like one it makes itself, or a second `.modinfo` (fuzz
/// find: post-link copied a table whose type had been corrupted, and its
/// output had two `.shstrtab`).
#[test]
fn writer_refuses_clashing_section_names() {
    let sec = |name: &[u8]| OutSection {
        name: name.to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC,
        sh_addralign: 1,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(b"x=y\0".to_vec()),
        symbol: None,
    };
    let cases: [(&[&str], &str); 3] = [
        (
            &[".shstrtab"],
            "output section .shstrtab: the writer makes that section itself",
        ),
        (
            &[".symtab"],
            "output section .symtab: the writer makes that section itself",
        ),
        (
            &[".modinfo", ".modinfo"],
            "output section .modinfo: a second section of that name",
        ),
    ];
    for (names, want) in cases {
        let mut out = OutObject::default();
        for n in names {
            out.add_section(sec(n.as_bytes()));
        }
        let e = write::to_bytes(&out).expect_err("clashing names must be refused");
        assert!(e.to_string().contains(want), "{e}");
    }
    // One .modinfo and two ordinary duplicates are fine.
    let mut out = OutObject::default();
    for n in [&b".modinfo"[..], b".data.x", b".data.x"] {
        out.add_section(sec(n));
    }
    let bytes = write::to_bytes(&out).unwrap();
    load_ok("writer-names", &bytes);
}

/// Test that a relocation section whose target is a NULL, symbol-table,
/// string-table, relocation or group section is an error naming both
/// (fuzz find: post-link copied a relocated SHT_NULL section as empty and
/// wrote relocations outside it).
#[test]
fn hostile_relocation_target_type() {
    let b = small_unit().build();
    // Section 1 is .text.f, the target of .rela.text.f (2).
    for t in [SHT_NULL, SHT_STRTAB] {
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, 1, raw::SH_TYPE, t as u64);
        load_err(
            &format!("reloc-target-type-{t}"),
            &m,
            &["section #2", "sh_info 1", "cannot take relocations"],
        );
    }
    // As a RELA or GROUP section, .text.f fails its own checks first.
    for t in [SHT_RELA, SHT_GROUP] {
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, 1, raw::SH_TYPE, t as u64);
        load_err(&format!("reloc-target-type-{t}"), &m, &["section #1"]);
    }
    // .rela.text.f pointed at .symtab.
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, 2, 44, b.symtab as u64);
    load_err(
        "reloc-target-symtab",
        &m,
        &["section #2", "type SYMTAB", "cannot take relocations"],
    );
}

/// Test that a relocatable object with an sh_addralign that is not a power
/// of two, or above 64 KiB, is refused at load time (fuzz find: post-link
/// copied a 4 GiB alignment into the writer, which padded the file to it).
#[test]
fn hostile_addralign_load() {
    let b = small_unit().build();
    for v in [3u64, 24, 1 << 17, 1 << 32, u64::MAX] {
        let mut m = b.bytes.clone();
        raw::set_sh(&mut m, 3, 48, v);
        load_err(
            &format!("addralign-{v:#x}"),
            &m,
            &["section #3", &format!("sh_addralign {v:#x}")],
        );
    }
    // 64 KiB is still fine, and the writer keeps it without padding the
    // file to it.
    let mut m = b.bytes.clone();
    raw::set_sh(&mut m, 3, 48, 1 << 16);
    load_ok("addralign-64k", &m);
    let mut out = OutObject::default();
    for align in [1u64 << 16, 8] {
        out.add_section(OutSection {
            name: format!(".data.a{align}").into_bytes(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC | SHF_WRITE,
            sh_addralign: align,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(vec![1; 24]),
            symbol: None,
        });
    }
    let bytes = write::to_bytes(&out).expect("64 KiB alignment encodes");
    assert!(bytes.len() < 1 << 16, "{} bytes", bytes.len());
    let (elf, _) = load_ok("addralign-64k-out", &bytes);
    let s = &elf.sections[elf.section_by_name(b".data.a65536").unwrap()];
    assert_eq!(s.sh_addralign, 1 << 16);
    assert_eq!(elf.data(s.index), &[1; 24][..]);
}
