//! Lowering an [`OutObject`] into ELF bytes with object's two-phase
//! `write::elf::Writer`, and writing files atomically. The only file that
//! touches the writer.
//!
//! Layout: ELF header, then section data in model order (relocation
//! sections included), then `.symtab`, `.strtab`, `.shstrtab` and the
//! section headers. Symbols are emitted locals first (stable), and
//! `.symtab`'s `sh_info` is the number of locals. Same model, same bytes.

use std::io::Write as _;
use std::path::Path;

use object::Endianness;
use object::elf as oelf;
use object::write::StringId;
use object::write::elf::{FileHeader, Rel, SectionHeader, SectionIndex, Sym, Writer};

use crate::elf::consts::*;
use crate::error::{Error, ErrorKind, Result};
use crate::output::{OutData, OutObject, Place};

/// Sections the writer makes itself.
const WRITER_SECTIONS: &[&[u8]] = &[b".symtab", b".strtab", b".shstrtab", b".symtab_shndx"];

/// Refuse an object whose section names would make a file that does not
/// read back: a section named like one the writer makes itself, or two
/// sections of a name that is looked up by name (`.modinfo`, ...). Both come
/// from input sections copied under names they should not have had.
fn check_names(obj: &OutObject) -> Result<()> {
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    for s in &obj.sections {
        let name = s.name.as_slice();
        let clash = if WRITER_SECTIONS.contains(&name) {
            "the writer makes that section itself"
        } else if crate::elf::load::found_by_name(name) && !seen.insert(name) {
            "a second section of that name"
        } else {
            continue;
        };
        return Err(Error::new(
            ErrorKind::Malformed,
            format!(
                "output section {}: {clash}; an input section was copied under a name it should not have",
                crate::error::show(name)
            ),
        ));
    }
    Ok(())
}

/// File-offset alignment of a section's data: its sh_addralign, at most a
/// page (a relocatable object's file offsets need no more).
fn file_align(sh_addralign: u64) -> u64 {
    sh_addralign.clamp(1, 4096)
}

/// Encode the object.
pub fn to_bytes(obj: &OutObject) -> Result<Vec<u8>> {
    check_names(obj)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut w = Writer::new(Endianness::Little, true, &mut buf);
    let r = reserve(&mut w, obj)?;

    // --- write --------------------------------------------------------------
    write_data(&mut w, obj, &r)?;
    write_symbols(&mut w, obj, &r);
    write_section_headers(&mut w, obj, &r);
    Ok(buf)
}

/// An error of the ELF writer.
fn werr(e: object::write::Error) -> Error {
    Error::new(ErrorKind::Io, format!("ELF writer: {e}"))
}

/// What the reserve phase hands to the write phase.
struct Reserved {
    /// Output order of the model's symbols: locals, then globals.
    order: Vec<usize>,
    /// `.symtab`'s `sh_info`: the null symbol and the locals.
    num_local: u32,
    /// Model symbol → `.symtab` index.
    sym_index: Vec<u32>,
    sec_names: Vec<StringId>,
    sym_names: Vec<Option<StringId>>,
    /// Model section → section header index.
    sec_index: Vec<SectionIndex>,
    symtab_index: SectionIndex,
    need_shndx: bool,
    /// File offset of each section's data.
    offsets: Vec<u64>,
}

/// Reserve every index, string and file range, in the order they are
/// written.
fn reserve<'a>(w: &mut Writer<'a>, obj: &'a OutObject) -> Result<Reserved> {
    // Symbol order: null, locals, globals; remember the mapping.
    let mut order: Vec<usize> = (0..obj.symbols.len())
        .filter(|&i| obj.symbols[i].is_local())
        .collect();
    let num_local = order.len() as u32 + 1;
    order.extend((0..obj.symbols.len()).filter(|&i| !obj.symbols[i].is_local()));
    let mut sym_index = vec![0u32; obj.symbols.len()];

    // --- reserve ------------------------------------------------------------
    let sec_names: Vec<_> = obj
        .sections
        .iter()
        .map(|s| w.add_section_name(&s.name))
        .collect();
    let sym_names: Vec<_> = obj
        .symbols
        .iter()
        .map(|s| (!s.name.is_empty()).then(|| w.add_string(&s.name)))
        .collect();
    w.reserve_file_header();
    w.reserve_null_section_index();
    let sec_index: Vec<SectionIndex> = obj
        .sections
        .iter()
        .map(|_| w.reserve_section_index())
        .collect();
    let symtab_index = w.reserve_symtab_section_index();
    // Section indices past SHN_LORESERVE need SHT_SYMTAB_SHNDX; its header
    // is written right after .symtab's, so its index is reserved there too.
    let need_shndx = obj.sections.len() + 5 >= SHN_LORESERVE as usize;
    if need_shndx {
        w.require_symtab_shndx();
        w.reserve_symtab_shndx_section_index();
    }
    w.reserve_strtab_section_index();
    w.reserve_shstrtab_section_index();
    w.reserve_null_symbol_index();
    for &i in &order {
        let section = match obj.symbols[i].place {
            Place::Section(s) => Some(sec_index[s]),
            _ => None,
        };
        sym_index[i] = w.reserve_symbol_index(section).0;
    }
    let mut offsets = Vec::with_capacity(obj.sections.len());
    for s in &obj.sections {
        let off = match &s.data {
            // A relocatable object's file offsets need no alignment beyond
            // what tools expect; sh_addralign itself is kept as it is.
            OutData::Bytes(b) => w.reserve(b.len() as u64, file_align(s.sh_addralign)),
            OutData::Nobits(_) => 0,
            OutData::Relocs { relocs, .. } => w.reserve_relocations(relocs.len(), true),
        };
        offsets.push(off);
    }
    w.reserve_symtab();
    if need_shndx {
        w.reserve_symtab_shndx();
    }
    w.reserve_strtab().map_err(werr)?;
    w.reserve_shstrtab().map_err(werr)?;
    w.reserve_section_headers();
    Ok(Reserved {
        order,
        num_local,
        sym_index,
        sec_names,
        sym_names,
        sec_index,
        symtab_index,
        need_shndx,
        offsets,
    })
}

/// The file header and every section's data.
fn write_data(w: &mut Writer<'_>, obj: &OutObject, r: &Reserved) -> Result<()> {
    let sym_index = &r.sym_index;
    w.write_file_header(&FileHeader {
        os_abi: oelf::OsAbi(0),
        abi_version: 0,
        e_type: oelf::FileType(ET_REL),
        e_machine: oelf::Machine(EM_X86_64),
        e_entry: 0,
        e_flags: oelf::FileFlags(obj.e_flags),
    })
    .map_err(werr)?;
    for s in &obj.sections {
        match &s.data {
            OutData::Bytes(b) => {
                w.write_align(file_align(s.sh_addralign));
                w.write(b);
            }
            OutData::Nobits(_) => {}
            OutData::Relocs { relocs, .. } => {
                w.write_align_relocation();
                for rel in relocs {
                    w.write_relocation(
                        true,
                        &Rel {
                            r_offset: rel.offset,
                            r_sym: sym_index[rel.symbol],
                            r_type: oelf::RelocationType(rel.r_type),
                            r_addend: rel.addend,
                        },
                    );
                }
            }
        }
    }
    Ok(())
}

/// `.symtab` (with `.symtab_shndx`), `.strtab` and `.shstrtab`.
fn write_symbols(w: &mut Writer<'_>, obj: &OutObject, r: &Reserved) {
    let (order, sec_index, sym_names) = (&r.order, &r.sec_index, &r.sym_names);
    w.write_null_symbol();
    for &i in order {
        let s = &obj.symbols[i];
        let (section, st_shndx) = match s.place {
            Place::Section(sec) => (Some(sec_index[sec].0), 0),
            Place::Undef => (None, SHN_UNDEF),
            Place::Livepatch => (None, SHN_LIVEPATCH),
            Place::Abs => (None, SHN_ABS),
        };
        w.write_symbol(&Sym {
            section,
            st_name: w.string_offset(sym_names[i]),
            st_info: oelf::SymbolInfo(s.st_info),
            st_other: oelf::SymbolOther(s.st_other),
            st_shndx: oelf::SymbolSection(st_shndx),
            st_value: s.value,
            st_size: s.size,
        });
    }
    if r.need_shndx {
        w.write_symtab_shndx();
    }
    w.write_strtab();
    w.write_shstrtab();
}

/// The section headers.
fn write_section_headers(w: &mut Writer<'_>, obj: &OutObject, r: &Reserved) {
    let (sec_index, sec_names, symtab_index, offsets) =
        (&r.sec_index, &r.sec_names, r.symtab_index, &r.offsets);
    w.write_null_section_header();
    for (k, s) in obj.sections.iter().enumerate() {
        let (sh_size, sh_link, sh_info, sh_entsize, sh_align) = match &s.data {
            OutData::Bytes(b) => (
                b.len() as u64,
                s.link.map_or(0, |l| sec_index[l].0),
                0,
                s.sh_entsize,
                s.sh_addralign.max(1),
            ),
            OutData::Nobits(n) => (*n, 0, 0, s.sh_entsize, s.sh_addralign.max(1)),
            OutData::Relocs { target, relocs } => (
                relocs.len() as u64 * 24,
                symtab_index.0,
                sec_index[*target].0,
                24,
                8,
            ),
        };
        w.write_section_header(&SectionHeader {
            sh_name: w.section_name_offset(Some(sec_names[k])),
            sh_type: oelf::SectionType(s.sh_type),
            sh_flags: oelf::SectionFlags(s.sh_flags),
            sh_addr: 0,
            sh_offset: offsets[k],
            sh_size,
            sh_link,
            sh_info,
            sh_addralign: sh_align,
            sh_entsize,
        });
    }
    w.write_symtab_section_header(r.num_local);
    if r.need_shndx {
        w.write_symtab_shndx_section_header();
    }
    w.write_strtab_section_header();
    w.write_shstrtab_section_header();
}

/// Write `bytes` to `path` atomically: a temporary file in the same
/// directory, flushed, then renamed over `path`. On any error the
/// destination is untouched and the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error, what: &str| {
        Error::new(ErrorKind::Io, format!("{what}: {e}")).in_file(shown.clone())
    };
    // A destination that is not a regular file (`-o /dev/stdout`, a FIFO):
    // write to it as it is; renaming over it would replace the device
    // link with a file (seen: /dev/stdout became a regular file). The
    // whole output is in memory, so nothing partial is left by an error
    // klpwrite could have foreseen.
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_file()
    {
        if m.is_dir() {
            return Err(Error::new(ErrorKind::Io, "the output path is a directory").in_file(shown));
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io(e, "cannot open output"))?;
        return f.write_all(bytes).map_err(|e| io(e, "cannot write output"));
    }
    // A symbolic link to a regular file: replace the file it names, not
    // the link.
    let resolved;
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved =
                std::fs::canonicalize(path).map_err(|e| io(e, "cannot resolve output link"))?;
            resolved.as_path()
        }
        _ => path,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        Error::new(ErrorKind::Usage, "output path has no file name").in_file(shown.clone())
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".klpwrite-tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f =
            std::fs::File::create(&tmp).map_err(|e| io(e, "cannot create temporary output"))?;
        f.write_all(bytes)
            .map_err(|e| io(e, "cannot write output"))?;
        f.sync_all().map_err(|e| io(e, "cannot flush output"))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| io(e, "cannot rename output into place"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
