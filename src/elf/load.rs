//! Reading an ELF file into the [`Elf`] model. The only file that touches
//! object's reader.
//!
//! Every structural fact the rest of klpwrite relies on is checked here, so
//! later passes can index without re-checking: section data lies inside the
//! file, `sh_link`/`sh_info` of symbol, relocation and group sections point
//! at sections that exist, every symbol's section index is valid, every
//! relocation's symbol exists and its field lies inside its section. All
//! allocations are bounded by the file size, because every table is a slice
//! of the file.

use std::collections::HashMap;

use object::read::elf::{FileHeader, SectionHeader, SectionTable, Sym, SymbolTable};
use object::{Endianness, LittleEndian, SectionIndex, SymbolIndex};

use super::consts::*;
use super::{Elf, Group, Reloc, Section, Symbol};
use crate::arch;
use crate::error::{Error, ErrorKind, Result, show};

type Header = object::elf::FileHeader64<Endianness>;

/// What kind of object the caller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Only ET_REL (patched/orig objects, modules).
    Relocatable,
    /// Any ELF type with a symbol table (vmlinux as a symbol source).
    Any,
}

/// Read `path` from disk and load it.
pub fn load_file(path: &str, expect: Expect) -> Result<Elf> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read file: {e}")).in_file(path))?;
    load(path, bytes, expect)
}

/// Whether a section is DWARF debug information (`.debug_*`, never
/// SHF_ALLOC): nothing klpwrite computes from an input reads it.
fn is_debug_section(name: &[u8], flags: u64) -> bool {
    flags & SHF_ALLOC == 0 && (name.starts_with(b".debug_") || name.starts_with(b".zdebug_"))
}

/// Read `path` for analysis (checksum, diff, extract, build, verify's
/// inputs): like [`load_file`], but the `.debug_*` sections and their
/// relocation sections are neither read nor parsed. In a kernel
/// `vmlinux.o` they are about 85 % of the file and 95 % of the
/// relocations. Their bytes read as zeros and they have no relocations;
/// [`Elf::debug_skipped`] says so, and writers of whole files refuse such
/// a model ([`crate::elf::edit::apply`] keeps the mode).
///
/// Only the ranges of the other sections are read into a zeroed buffer
/// of the file's size, so the pages of the skipped ones are never
/// touched. Anything odd in the headers falls back to [`load_file`],
/// whose checks give the precise error.
pub fn load_file_for_analysis(path: &str, expect: Expect) -> Result<Elf> {
    load_partial(path, expect, Leave::Debug)
}

/// Read `path` for checksums only (`checksum`, `diff`): like
/// [`load_file_for_analysis`], and the ORC tables (`.orc_unwind`,
/// `.orc_unwind_ip`, with their relocations) and the BTF (`.BTF`,
/// `.BTF.ext`) are left out too. Checksums never read them: ORC follows
/// from the code (objtool regenerates it for the patch module), and type
/// information is not code. In a module built without
/// `-ffunction-sections` the ORC relocations are most of the file's
/// (amdgpu.ko: 107k of 172k). `.orc_header` (20 bytes, and the
/// `orc_header` object `ORC_HEADER` defines in every 6.5+ module and in
/// unwind_orc.c) is read. When a symbol or relocation refers into a
/// skipped section anyway, the load falls back to
/// [`load_file_for_analysis`]. Like DWARF's, the skipped relocation
/// sections are not validated: `checksum` and `diff` accept an object
/// whose ORC relocations are malformed, which `extract` and `build`
/// refuse. Extraction and verification read them all.
pub fn load_file_for_checksums(path: &str, expect: Expect) -> Result<Elf> {
    load_partial(path, expect, Leave::DebugOrcBtf)
}

/// Which sections a partial read leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    /// `.debug_*` and their relocations.
    Debug,
    /// Also the ORC tables, the BTF and their relocations.
    DebugOrcBtf,
}

impl Leave {
    fn section(self, name: &[u8], flags: u64) -> bool {
        is_debug_section(name, flags)
            || (self == Leave::DebugOrcBtf
                && matches!(
                    name,
                    b".orc_unwind" | b".orc_unwind_ip" | b".BTF" | b".BTF.ext"
                ))
    }
}

fn load_partial(path: &str, expect: Expect, leave: Leave) -> Result<Elf> {
    use std::os::unix::fs::FileExt;
    let io = |e: std::io::Error| {
        Error::new(ErrorKind::Io, format!("cannot read file: {e}")).in_file(path)
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let Some(plan) = read_plan(&f, len, leave).map_err(io)? else {
        return load_file(path, expect);
    };
    let mut bytes = vec![0u8; len as usize];
    for r in &plan.ranges {
        f.read_exact_at(&mut bytes[r.clone()], r.start as u64)
            .map_err(io)?;
    }
    match load_with(path, bytes, expect, &plan.skip) {
        // The checked model must agree with the plan's reading of the
        // headers: only the sections `leave` names and their relocation
        // sections were left out. Anything else (or any error, which the
        // full load words from complete data) reads the whole file.
        Ok(elf) if skipped_only(&elf, &plan.skip, leave) => Ok(elf),
        // Something refers into ORC or BTF: read them, still without DWARF.
        Ok(_) if leave == Leave::DebugOrcBtf => load_partial(path, expect, Leave::Debug),
        _ => load_file(path, expect),
    }
}

/// Whether every section `skip` marks is one `leave` names or a
/// relocation section that applies to one, by the loaded section headers;
/// and, for more than DWARF, that nothing read refers into a skipped
/// section: no symbol but a section symbol is defined there, and no
/// relocation targets a symbol there (its bytes would read as zeros).
fn skipped_only(elf: &Elf, skip: &[bool], leave: Leave) -> bool {
    let left = |i: usize| {
        elf.sections
            .get(i)
            .is_some_and(|s| leave.section(&s.name, s.sh_flags))
    };
    let headers_agree = skip.len() == elf.sections.len()
        && skip.iter().enumerate().all(|(i, &k)| {
            let s = &elf.sections[i];
            !k || left(i)
                || ((s.sh_type == SHT_RELA || s.sh_type == SHT_REL) && left(s.sh_info as usize))
        });
    if !headers_agree || leave == Leave::Debug {
        // DWARF refers to code and data, never the other way round.
        return headers_agree;
    }
    let in_skipped = |sym: usize| {
        elf.symbols[sym]
            .section
            .is_some_and(|sec| skip.get(sec).copied().unwrap_or(false))
    };
    let symbols_ok =
        (0..elf.symbols.len()).all(|i| elf.symbols[i].kind() == STT_SECTION || !in_skipped(i));
    symbols_ok && elf.relocs.iter().all(|r| !in_skipped(r.symbol))
}

/// What [`load_file_for_analysis`] reads: merged file ranges, and the
/// sections left out.
struct ReadPlan {
    ranges: Vec<std::ops::Range<usize>>,
    skip: Vec<bool>,
}

/// Plan the partial read from the file and section headers; None when
/// they are not plainly well formed (the full load reports why).
fn read_plan(f: &std::fs::File, len: u64, leave: Leave) -> std::io::Result<Option<ReadPlan>> {
    use std::os::unix::fs::FileExt;
    let rd = |off: u64, n: usize| -> std::io::Result<Option<Vec<u8>>> {
        match off.checked_add(n as u64) {
            Some(end) if end <= len => {
                let mut b = vec![0u8; n];
                f.read_exact_at(&mut b, off)?;
                Ok(Some(b))
            }
            _ => Ok(None),
        }
    };
    let Some(eh) = rd(0, 64)? else {
        return Ok(None);
    };
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return Ok(None);
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u64;
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    let (shoff, shentsize) = (u64_at(&eh, 0x28), u16_at(&eh, 0x3a));
    let (mut shnum, mut shstrndx) = (u16_at(&eh, 0x3c), u16_at(&eh, 0x3e));
    if shoff == 0 || shentsize != 64 {
        return Ok(None);
    }
    if shnum == 0 || shstrndx == SHN_XINDEX as u64 {
        let Some(s0) = rd(shoff, 64)? else {
            return Ok(None);
        };
        if shnum == 0 {
            shnum = u64_at(&s0, 0x20);
        }
        if shstrndx == SHN_XINDEX as u64 {
            // The real index is section 0's sh_link (ELF gABI).
            shstrndx = u32_at(&s0, 0x28) as u64;
        }
    }
    let Some(table_len) = shnum.checked_mul(64).filter(|&n| n <= len) else {
        return Ok(None);
    };
    let Some(tab) = rd(shoff, table_len as usize)? else {
        return Ok(None);
    };
    let n = shnum as usize;
    let sh = |i: usize| &tab[i * 64..i * 64 + 64];
    // (name, type, flags, offset, size, info)
    let hdr = |i: usize| {
        let h = sh(i);
        (
            u32_at(h, 0) as u64,
            u32_at(h, 4),
            u64_at(h, 8),
            u64_at(h, 0x18),
            u64_at(h, 0x20),
            u32_at(h, 0x2c) as usize,
        )
    };
    if shstrndx as usize >= n {
        return Ok(None);
    }
    let (_, _, _, stroff, strsize, _) = hdr(shstrndx as usize);
    let Some(strtab) = rd(stroff, strsize as usize)? else {
        return Ok(None);
    };
    let name_of = |off: u64| -> &[u8] {
        let t = strtab.get(off as usize..).unwrap_or(&[]);
        &t[..t.iter().position(|&b| b == 0).unwrap_or(t.len())]
    };
    let mut skip = vec![false; n];
    for (i, k) in skip.iter_mut().enumerate() {
        let (name, _, flags, ..) = hdr(i);
        *k = leave.section(name_of(name), flags);
    }
    for i in 0..n {
        let (_, ty, _, _, _, info) = hdr(i);
        if (ty == SHT_RELA || ty == SHT_REL) && info < n && skip[info] {
            skip[i] = true;
        }
    }
    let mut want: Vec<(u64, u64)> = vec![(0, 64), (shoff, shoff + table_len)];
    for (i, &skipped) in skip.iter().enumerate() {
        let (_, ty, _, off, size, _) = hdr(i);
        if skipped || ty == SHT_NOBITS || ty == SHT_NULL || size == 0 {
            continue;
        }
        match off.checked_add(size) {
            Some(end) if end <= len => want.push((off, end)),
            _ => return Ok(None),
        }
    }
    want.sort_unstable();
    // Merge ranges closer than 64 KiB: fewer reads, few extra pages.
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for (a, b) in want {
        match ranges.last_mut() {
            Some(r) if a <= r.end as u64 + (64 << 10) => r.end = r.end.max(b as usize),
            _ => ranges.push(a as usize..b as usize),
        }
    }
    Ok(Some(ReadPlan { ranges, skip }))
}

fn obj_err(e: object::read::Error) -> Error {
    Error::malformed(format!("{e}"))
}

/// Load an ELF image already in memory. `path` is only used in messages.
pub fn load(path: &str, bytes: Vec<u8>, expect: Expect) -> Result<Elf> {
    load_inner(path, bytes, expect).map_err(|e| e.in_file(path))
}

fn load_inner(path: &str, bytes: Vec<u8>, expect: Expect) -> Result<Elf> {
    load_skipping(path, bytes, expect, &[])
}

/// [`load`] of a buffer whose sections `skip` (debug information, see
/// [`load_file_for_analysis`]) were not read: their relocations are not
/// parsed.
pub fn load_with(path: &str, bytes: Vec<u8>, expect: Expect, skip: &[bool]) -> Result<Elf> {
    load_skipping(path, bytes, expect, skip).map_err(|e| e.in_file(path))
}

fn load_skipping(path: &str, bytes: Vec<u8>, expect: Expect, skip: &[bool]) -> Result<Elf> {
    check_ident(&bytes)?;
    let data: &[u8] = &bytes;
    let r = Reader::new(data, expect)?;
    let mut sections = r.sections()?;
    let (symtab, symbols, first_global) = r.symbols(&sections)?;
    check_unique_names(&sections)?;
    let (relocs, rsec_relocs) = r.relocations(&mut sections, symtab, &symbols, skip)?;
    let groups = r.groups(&mut sections, &symbols)?;
    let (by_name, sec_symbols, sec_maxend) = indexes(&mut sections, &symbols);
    let sec_values = sec_symbols
        .iter()
        .map(|l| l.iter().map(|&i| symbols[i].value).collect())
        .collect();
    let (e_type, e_machine, e_flags) = (r.e_type, r.e_machine, r.e_flags);
    let _ = LittleEndian; // x86-64 only; endianness was checked above
    Ok(Elf {
        path: path.to_string(),
        bytes,
        e_type,
        e_machine,
        e_flags,
        sections,
        symbols,
        relocs,
        rsec_relocs,
        groups,
        symtab,
        first_global,
        by_name,
        sec_symbols,
        sec_maxend,
        sec_values,
        completion: None,
        caches: Vec::new(),
        skipped: if skip.iter().any(|&k| k) {
            skip.to_vec()
        } else {
            Vec::new()
        },
    }
    .with_caches())
}

/// The identification bytes: ELF magic, 64-bit, little-endian.
fn check_ident(bytes: &[u8]) -> Result<()> {
    // LLVM bitcode (raw, or in the wrapper that starts 0x0b17c0de): what
    // kbuild leaves as a per-file .o with CONFIG_LTO_CLANG.
    if bytes.starts_with(b"BC\xc0\xde") || bytes.starts_with(&[0xde, 0xc0, 0x17, 0x0b]) {
        return Err(Error::unsupported(
            "LLVM bitcode, not machine code: with clang LTO (CONFIG_LTO_CLANG) a per-file .o is compiler IR; the first machine code is vmlinux.o (or the module's linked .o)",
        ));
    }
    if bytes.len() < 16 || &bytes[..4] != b"\x7fELF" {
        return Err(Error::malformed(if bytes.len() < 4 {
            format!("not an ELF file (only {} bytes)", bytes.len())
        } else {
            "not an ELF file (bad magic)".to_string()
        }));
    }
    if bytes[4] != 2 {
        return Err(Error::unsupported(format!(
            "ELF class {} is not supported: klpwrite reads 64-bit objects (ELFCLASS64)",
            bytes[4]
        )));
    }
    if bytes[5] != 1 {
        return Err(Error::unsupported(
            "big-endian ELF is not supported: klpwrite reads little-endian x86-64 objects",
        ));
    }
    Ok(())
}

/// The checked file header and section header table, shared by the
/// passes that read sections, symbols, relocations and groups.
struct Reader<'a> {
    data: &'a [u8],
    expect: Expect,
    endian: Endianness,
    table: SectionTable<'a, Header, &'a [u8]>,
    shnum: usize,
    e_type: u16,
    e_machine: u16,
    e_flags: u32,
}

impl<'a> Reader<'a> {
    /// Parse and check the file header (type, machine, e_shentsize) and
    /// the section header table.
    fn new(data: &'a [u8], expect: Expect) -> Result<Reader<'a>> {
        let header = Header::parse(data)
            .map_err(|e| Error::malformed(format!("truncated or invalid ELF header ({e})")))?;
        let endian = header.endian().map_err(obj_err)?;
        let e_type = header.e_type(endian).0;
        let e_machine = header.e_machine(endian).0;
        let e_flags = header.e_flags(endian).0;
        if expect == Expect::Relocatable && e_type != ET_REL {
            let what = match e_type {
                ET_EXEC => "an executable (ET_EXEC)".to_string(),
                ET_DYN => "a shared object (ET_DYN)".to_string(),
                4 => "a core file (ET_CORE)".to_string(),
                t => format!("ELF type {t}"),
            };
            return Err(
                Error::unsupported(format!("{what}, not a relocatable object (ET_REL)"))
                    .hint("pass the .o file of the compilation unit, or a .ko module"),
            );
        }
        if e_machine != EM_X86_64 {
            return Err(Error::unsupported(format!(
                "machine {} is not supported; this build of klpwrite handles {}",
                arch::machine_name(e_machine),
                arch::machine_name(EM_X86_64)
            )));
        }
        if header.e_shentsize(endian) as usize != 64 && header.e_shnum(endian) != 0 {
            return Err(Error::malformed(format!(
                "e_shentsize is {}, expected 64",
                header.e_shentsize(endian)
            )));
        }
        let table: SectionTable<'_, Header, &[u8]> = header
            .sections(endian, data)
            .map_err(|e| Error::malformed(format!("section header table: {e}")))?;
        let shnum = table.len();
        Ok(Reader {
            data,
            expect,
            endian,
            table,
            shnum,
            e_type,
            e_machine,
            e_flags,
        })
    }

    /// The section headers: names, file ranges inside the file, alignment.
    fn sections(&self) -> Result<Vec<Section>> {
        let (endian, data, table, shnum, e_type) =
            (self.endian, self.data, &self.table, self.shnum, self.e_type);
        let mut sections = Vec::with_capacity(shnum);
        for (i, sh) in table.iter().enumerate() {
            let name = if i == 0 {
                Vec::new()
            } else {
                table
                    .section_name(endian, sh)
                    .map_err(|_| {
                        Error::malformed(format!(
                            "section #{i}: sh_name {:#x} is outside the section name table or not NUL-terminated",
                            sh.sh_name(endian)
                        ))
                    })?
                    .to_vec()
            };
            let sh_type = sh.sh_type(endian).0;
            let sh_size = sh.sh_size(endian);
            let sh_offset = sh.sh_offset(endian);
            let file_range = if sh_type == SHT_NOBITS || sh_type == SHT_NULL {
                0..0
            } else {
                let end = sh_offset.checked_add(sh_size);
                match end {
                    Some(end) if end <= data.len() as u64 => sh_offset as usize..end as usize,
                    _ => {
                        return Err(Error::malformed(format!(
                            "section #{i} ({}): data at offset {sh_offset:#x} size {sh_size:#x} runs past the end of the file ({:#x} bytes)",
                            show(&name),
                            data.len()
                        )));
                    }
                }
            };
            let sh_addralign = sh.sh_addralign(endian);
            if e_type == ET_REL
                && i > 0
                && sh_addralign > 1
                && (!sh_addralign.is_power_of_two() || sh_addralign > MAX_ALIGN)
            {
                return Err(Error::malformed(format!(
                    "section #{i} ({}): sh_addralign {sh_addralign:#x} is not a power of two up to {MAX_ALIGN:#x}",
                    show(&name)
                )));
            }
            sections.push(Section {
                index: i,
                name,
                sh_type,
                sh_flags: sh.sh_flags(endian).0,
                sh_addr: sh.sh_addr(endian),
                sh_size,
                sh_link: sh.sh_link(endian),
                sh_info: sh.sh_info(endian),
                sh_addralign,
                sh_entsize: sh.sh_entsize(endian),
                file_range,
                symbol: None,
                rela_sections: Vec::new(),
                group: None,
            });
        }
        if let Some(s) = sections.first()
            && (s.sh_type != SHT_NULL || s.sh_size != 0 && shnum < 0xff00)
        {
            // sh_size of section 0 holds e_shnum when it overflows; object
            // handles that. Anything else in section 0 is corrupt.
            if s.sh_type != SHT_NULL {
                return Err(Error::malformed("section #0 is not SHT_NULL"));
            }
            return Err(Error::malformed(format!(
                "section #0 has sh_size {:#x}, but e_shnum ({shnum}) did not overflow",
                s.sh_size
            )));
        }
        Ok(sections)
    }

    /// The one symbol table: its symbols with their STT_FILE blocks, and
    /// the index of the first global.
    fn symbols(&self, sections: &[Section]) -> Result<(Option<usize>, Vec<Symbol>, usize)> {
        let (endian, data, table, shnum) = (self.endian, self.data, &self.table, self.shnum);
        let symtabs: Vec<usize> = sections
            .iter()
            .filter(|s| s.sh_type == SHT_SYMTAB)
            .map(|s| s.index)
            .collect();
        if symtabs.len() > 1 {
            return Err(Error::malformed(format!(
                "{} symbol tables (sections {:?}); expected one .symtab",
                symtabs.len(),
                symtabs
            )));
        }
        let symtab = symtabs.first().copied();
        let mut symbols: Vec<Symbol> = Vec::new();
        let mut first_global = 0;
        if let Some(st) = symtab {
            let sh = table.section(SectionIndex(st)).map_err(obj_err)?;
            let link = sections[st].sh_link as usize;
            if link == 0 || link >= shnum || sections[link].sh_type != SHT_STRTAB {
                return Err(Error::malformed(format!(
                    "section #{st} (.symtab): sh_link {link} is not a string table"
                )));
            }
            if sections[st].sh_entsize != 24 {
                return Err(Error::malformed(format!(
                    "section #{st} (.symtab): sh_entsize {} is not 24",
                    sections[st].sh_entsize
                )));
            }
            let symtab_t: SymbolTable<'_, Header, &[u8]> =
                SymbolTable::parse(endian, data, table, SectionIndex(st), sh)
                    .map_err(|e| Error::malformed(format!("section #{st} (.symtab): {e}")))?;
            let nsyms = symtab_t.len();
            // An extended index table must cover every symbol.
            if let Some(x) = sections
                .iter()
                .find(|s| s.sh_type == SHT_SYMTAB_SHNDX && s.sh_link as usize == st)
            {
                let n = x.sh_size / 4;
                if n as usize != nsyms || x.sh_size % 4 != 0 {
                    return Err(Error::malformed(format!(
                        "section #{} (SHT_SYMTAB_SHNDX): {} entries for {} symbols",
                        x.index, n, nsyms
                    )));
                }
            }
            first_global = sections[st].sh_info as usize;
            if first_global > nsyms {
                return Err(Error::malformed(format!(
                    "section #{st} (.symtab): sh_info {first_global} (first global) exceeds the {nsyms} symbols"
                )));
            }
            symbols.reserve(nsyms);
            let mut current_file: Option<usize> = None;
            for (i, sym) in symtab_t.iter().enumerate() {
                let name = symtab_t
                    .symbol_name(endian, sym)
                    .map_err(|_| {
                        Error::malformed(format!(
                            "symbol #{i}: st_name {:#x} is outside the string table or not NUL-terminated",
                            sym.st_name(endian)
                        ))
                    })?
                    .to_vec();
                let st_shndx = sym.st_shndx(endian).0;
                let section = symtab_t
                    .symbol_section(endian, sym, SymbolIndex(i))
                    .map_err(|e| Error::malformed(format!("symbol #{i} ({}): {e}", show(&name))))?
                    .map(|s| s.0);
                if let Some(s) = section
                    && s >= shnum
                {
                    return Err(Error::malformed(format!(
                        "symbol #{i} ({}): section index {s} is out of range ({shnum} sections)",
                        show(&name)
                    )));
                }
                let st_info = sym.st_info().0;
                let kind = st_info & 0xf;
                let bind = st_info >> 4;
                if kind == STT_FILE {
                    current_file = Some(i);
                }
                let file = if bind == STB_LOCAL && kind != STT_FILE {
                    current_file
                } else {
                    None
                };
                symbols.push(Symbol {
                    index: i,
                    name,
                    st_info,
                    st_other: sym.st_other().0,
                    st_shndx,
                    section: if st_shndx == SHN_UNDEF { None } else { section },
                    value: sym.st_value(endian),
                    size: sym.st_size(endian),
                    file,
                });
            }
        }
        Ok((symtab, symbols, first_global))
    }

    /// The RELA sections: every relocation's symbol and field checked.
    #[allow(clippy::type_complexity)]
    fn relocations(
        &self,
        sections: &mut [Section],
        symtab: Option<usize>,
        symbols: &[Symbol],
        skip: &[bool],
    ) -> Result<(Vec<Reloc>, HashMap<usize, std::ops::Range<usize>>)> {
        let (endian, data, table, shnum, e_type, expect) = (
            self.endian,
            self.data,
            &self.table,
            self.shnum,
            self.e_type,
            self.expect,
        );
        // Sized exactly: a growing vector of 48-byte entries would copy
        // itself into fresh pages at each doubling (amdgpu.ko: 172k).
        let total: u64 = (0..shnum)
            .filter(|&i| sections[i].sh_type == SHT_RELA && !skip.get(i).copied().unwrap_or(false))
            .map(|i| sections[i].sh_size / 24)
            .sum();
        let mut relocs = Vec::with_capacity(total.min(data.len() as u64 / 24) as usize);
        let mut rsec_relocs = HashMap::new();
        for i in 0..shnum {
            let s = &sections[i];
            if s.sh_type != SHT_RELA && s.sh_type != SHT_REL {
                continue;
            }
            if skip.get(i).copied().unwrap_or(false) {
                continue;
            }
            let what = format!("section #{i} ({})", s.display_name());
            if s.sh_type == SHT_REL {
                if expect == Expect::Relocatable {
                    return Err(Error::unsupported(format!(
                        "{what}: SHT_REL relocations (implicit addends) are not used on x86-64"
                    )));
                }
                continue;
            }
            let target = s.sh_info as usize;
            if target == 0 || target >= shnum {
                if e_type != ET_REL && target == 0 {
                    continue; // dynamic relocations of a linked image
                }
                return Err(Error::malformed(format!(
                    "{what}: sh_info {target} is not a valid target section ({shnum} sections)"
                )));
            }
            if e_type == ET_REL
                && matches!(
                    sections[target].sh_type,
                    SHT_NULL
                        | SHT_SYMTAB
                        | SHT_STRTAB
                        | SHT_RELA
                        | SHT_REL
                        | SHT_GROUP
                        | SHT_SYMTAB_SHNDX
                )
            {
                return Err(Error::malformed(format!(
                    "{what}: sh_info {target} is section #{target} ({}) of type {}, which cannot take relocations",
                    sections[target].display_name(),
                    section_type_name(sections[target].sh_type)
                )));
            }
            if symtab.is_none() || s.sh_link as usize != symtab.unwrap_or(0) {
                if e_type != ET_REL {
                    continue;
                }
                return Err(Error::malformed(format!(
                    "{what}: sh_link {} is not the symbol table",
                    s.sh_link
                )));
            }
            if s.sh_entsize != 24 {
                return Err(Error::malformed(format!(
                    "{what}: sh_entsize {} is not 24 (Elf64_Rela)",
                    s.sh_entsize
                )));
            }
            let sh = table.section(SectionIndex(i)).map_err(obj_err)?;
            let (rela, _) = sh
                .rela(endian, data)
                .map_err(|e| Error::malformed(format!("{what}: {e}")))?
                .ok_or_else(|| Error::malformed(format!("{what}: not a RELA section")))?;
            let target_size = sections[target].sh_size;
            let start = relocs.len();
            for (k, r) in rela.iter().enumerate() {
                let sym = r.r_sym(endian, false) as usize;
                let r_type = r.r_type(endian, false).0;
                let offset = r.r_offset.get(endian);
                if sym >= symbols.len() {
                    return Err(Error::malformed(format!(
                        "{what}: relocation #{k} refers to symbol {sym}, but .symtab has {} entries",
                        symbols.len()
                    )));
                }
                let width = arch::x86_64::reloc_width(r_type).unwrap_or(0) as u64;
                if e_type == ET_REL
                    && sections[target].sh_type != SHT_NOBITS
                    && offset
                        .checked_add(width)
                        .is_none_or(|end| end > target_size)
                {
                    return Err(Error::malformed(format!(
                        "{what}: relocation #{k} at offset {offset:#x} ({}) lies outside {} (size {target_size:#x})",
                        arch::x86_64::reloc_name(r_type),
                        sections[target].display_name()
                    )));
                }
                relocs.push(Reloc {
                    rsec: i,
                    section: target,
                    offset,
                    symbol: sym,
                    r_type,
                    addend: r.r_addend.get(endian),
                });
            }
            rsec_relocs.insert(i, start..relocs.len());
            sections[target].rela_sections.push(i);
        }
        Ok((relocs, rsec_relocs))
    }

    /// The section groups (COMDAT): members in range, each in one group.
    fn groups(&self, sections: &mut [Section], symbols: &[Symbol]) -> Result<Vec<Group>> {
        let (endian, data, table, shnum) = (self.endian, self.data, &self.table, self.shnum);
        let mut groups = Vec::new();
        for i in 0..shnum {
            if sections[i].sh_type != SHT_GROUP {
                continue;
            }
            let what = format!("section #{i} ({})", sections[i].display_name());
            let sh = table.section(SectionIndex(i)).map_err(obj_err)?;
            let (flags, members) = sh
                .group(endian, data)
                .map_err(|e| Error::malformed(format!("{what}: {e}")))?
                .ok_or_else(|| Error::malformed(format!("{what}: not a group")))?;
            let mut list = Vec::with_capacity(members.len());
            for m in members {
                let m = m.get(endian) as usize;
                if m == 0 || m >= shnum {
                    return Err(Error::malformed(format!(
                        "{what}: member section index {m} is out of range ({shnum} sections)"
                    )));
                }
                if sections[m].sh_type == SHT_GROUP {
                    return Err(Error::malformed(format!(
                        "{what}: member #{m} is itself a group section (cyclic group)"
                    )));
                }
                if let Some(g) = sections[m].group {
                    return Err(Error::malformed(format!(
                        "{what}: member #{m} ({}) already belongs to group section #{g}",
                        sections[m].display_name()
                    )));
                }
                sections[m].group = Some(i);
                list.push(m);
            }
            let sig = sections[i].sh_info as usize;
            groups.push(Group {
                section: i,
                flags: flags.0,
                signature: (sig < symbols.len()).then_some(sig),
                members: list,
            });
        }
        Ok(groups)
    }
}

/// The lookup indexes: section symbols, symbols by name, each section's
/// symbols by address with their running maximum end.
#[allow(clippy::type_complexity)]
fn indexes(
    sections: &mut [Section],
    symbols: &[Symbol],
) -> (HashMap<Vec<u8>, Vec<usize>>, Vec<Vec<usize>>, Vec<Vec<u64>>) {
    let shnum = sections.len();
    let mut by_name: HashMap<Vec<u8>, Vec<usize>> = HashMap::with_capacity(symbols.len());
    let mut sec_symbols: Vec<Vec<usize>> = vec![Vec::new(); shnum];
    for s in symbols {
        if s.is_section() {
            if let Some(sec) = s.section
                && sections[sec].symbol.is_none()
            {
                sections[sec].symbol = Some(s.index);
            }
            continue;
        }
        if s.index == 0 || s.is_file() {
            continue;
        }
        if !s.name.is_empty() {
            by_name.entry(s.name.clone()).or_default().push(s.index);
        }
        if let Some(sec) = s.section {
            sec_symbols[sec].push(s.index);
        }
    }
    let mut sec_maxend = Vec::with_capacity(shnum);
    for list in &mut sec_symbols {
        list.sort_by_key(|&i| (symbols[i].value, i));
        let mut m = 0u64;
        sec_maxend.push(
            list.iter()
                .map(|&i| {
                    m = m.max(symbols[i].value.saturating_add(symbols[i].size));
                    m
                })
                .collect::<Vec<u64>>(),
        );
    }
    (by_name, sec_symbols, sec_maxend)
}

/// Largest section alignment accepted in a relocatable object (kernel
/// objects use at most a page; every copy pads to it).
const MAX_ALIGN: u64 = 1 << 16;

/// Sections that klpwrite finds by name (besides the special-section table).
const FOUND_BY_NAME: &[&[u8]] = &[
    b".symtab",
    b".strtab",
    b".shstrtab",
    b".modinfo",
    b"__versions",
    b".gnu.linkonce.this_module",
    b".BTF",
    b".discard.sym_checksum",
    b".kpatch.ignore.functions",
    b".kpatch.ignore.sections",
    b".klpwrite.patch",
];

/// Whether klpwrite looks a section up by this name (so it must be unique).
pub fn found_by_name(name: &[u8]) -> bool {
    FOUND_BY_NAME.contains(&name) || name.starts_with(b".kpatch.callbacks.")
}

/// A section that klpwrite looks up by name must be the only one with that
/// name: with two, one of them would be silently ignored (`.modinfo` or
/// `__versions` read from the wrong place). Other names may repeat
/// (`__patchable_function_entries` comes once per function); extract
/// refuses duplicate special sections itself.
fn check_unique_names(sections: &[Section]) -> Result<()> {
    let by_name = found_by_name;
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for (i, s) in sections.iter().enumerate() {
        if s.name.is_empty()
            || matches!(s.sh_type, SHT_NULL | SHT_GROUP | SHT_RELA | SHT_REL)
            || !by_name(&s.name)
        {
            continue;
        }
        if let Some(first) = seen.insert(&s.name, i) {
            return Err(Error::malformed(format!(
                "section #{i} ({}): a second section of that name (the first is #{first}); klpwrite finds it by name and cannot tell which one is meant",
                s.display_name()
            )));
        }
    }
    Ok(())
}
