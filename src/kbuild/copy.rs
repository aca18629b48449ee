//! Copying a loaded [`Elf`] into an [`OutObject`], so a pass can drop or
//! add a few sections and symbols and write the rest back unchanged.
//!
//! What is kept, and how:
//!
//! - every section but `.symtab`, its string table, `.shstrtab` and
//!   SHT_SYMTAB_SHNDX (the writer rebuilds those), in input order, with its
//!   type, flags, alignment, entry size and bytes (NOBITS: its size);
//! - every RELA section whose target is kept, with its flags; the writer
//!   sets `sh_link`/`sh_info`;
//! - `sh_link` of SHF_LINK_ORDER sections, remapped;
//! - every symbol, in input order (the writer puts locals first and keeps
//!   their relative order), with name, info, other, value and size; section
//!   symbols become the output section's own symbol.
//!
//! What cannot be carried is refused rather than dropped: SHT_GROUP (and
//! SHF_GROUP members), SHT_REL, SHN_COMMON and other reserved section
//! indices, another `sh_link`/`sh_info` the model does not represent, and a
//! relocation against the null symbol or against something dropped.

use crate::elf::consts::*;
use crate::elf::{Elf, Section, Symbol};
use crate::error::{Error, ErrorKind, Result};
use crate::output::{OutData, OutObject, OutReloc, OutSection, OutSymbol, Place};

/// The copy and where each input section and symbol went.
#[derive(Debug)]
pub struct Copied {
    /// The output model.
    pub out: OutObject,
    /// Input section index to output section id (None: dropped or rebuilt).
    pub sections: Vec<Option<usize>>,
    /// Input symbol index to output symbol id (None: dropped, or index 0).
    pub symbols: Vec<Option<usize>>,
}

/// Index of `.shstrtab` (`e_shstrndx`, or section 0's `sh_link` when it is
/// SHN_XINDEX).
fn shstrndx(elf: &Elf) -> usize {
    let b = elf.bytes();
    let raw = b
        .get(0x3e..0x40)
        .map_or(0, |v| u16::from_le_bytes([v[0], v[1]]));
    if raw == SHN_XINDEX {
        elf.sections.first().map_or(0, |s| s.sh_link as usize)
    } else {
        raw as usize
    }
}

/// Copy `elf`, leaving out the sections for which `drop_section` and the
/// symbols for which `drop_symbol` return true. RELA sections of a dropped
/// section are dropped with it; symbols defined in a dropped section are
/// dropped too. A kept relocation that uses a dropped symbol is an error.
pub fn copy(
    elf: &Elf,
    drop_section: &dyn Fn(&Section) -> bool,
    drop_symbol: &dyn Fn(&Symbol) -> bool,
) -> Result<Copied> {
    // A model read for analysis has zeros for its debug sections and none
    // of their relocations: copying it would write corrupt DWARF.
    if elf.debug_skipped() {
        return Err(Error::malformed(
            "internal: copying an object whose debug sections were not read",
        )
        .in_file(&elf.path));
    }
    // --- which sections stay --------------------------------------------------
    let ids = kept_sections(elf, drop_section)?;
    let next = ids.iter().flatten().count();

    let mut c = Copier {
        elf,
        file: elf.path.as_str(),
        out: OutObject {
            e_flags: elf.e_flags,
            ..OutObject::default()
        },
        sec_sym: vec![None; next],
        syms: vec![None; elf.symbols.len()],
        ids,
    };

    // --- symbols, in input order ------------------------------------------------------
    // Section symbols are made here, where the input has them, so that the
    // output keeps the input's symbol order; sections without one get one
    // after the others.
    c.symbols(drop_symbol)?;

    // --- sections ---------------------------------------------------------------
    c.sections()?;

    // --- relocations ------------------------------------------------------------------
    c.relocations()?;
    Ok(Copied {
        out: c.out,
        sections: c.ids,
        symbols: c.syms,
    })
}

/// Why a section cannot be carried over.
fn unsupported(file: &str, s: &Section, why: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("section {} {why}", s.display_name()),
    )
    .in_file(file)
    .hint("klpwrite rewrites kernel modules and objects as kbuild and gcc produce them")
}

/// The output index of every kept section (None: dropped or rebuilt).
fn kept_sections(elf: &Elf, drop_section: &dyn Fn(&Section) -> bool) -> Result<Vec<Option<usize>>> {
    let file = elf.path.as_str();
    let unsupported = |s: &Section, why: &str| unsupported(file, s, why);
    let n = elf.sections.len();
    let shstr = shstrndx(elf);
    let strtab = elf.symtab.map(|s| elf.sections[s].sh_link as usize);
    let mut keep = vec![false; n];
    for s in elf.sections.iter().skip(1) {
        keep[s.index] = match s.sh_type {
            SHT_SYMTAB | SHT_SYMTAB_SHNDX => false,
            SHT_STRTAB if s.index == shstr || Some(s.index) == strtab => false,
            SHT_GROUP => return Err(unsupported(s, "is a section group (SHT_GROUP)")),
            SHT_REL => return Err(unsupported(s, "has REL relocations")),
            _ => !drop_section(s),
        };
        if keep[s.index] && s.sh_flags & SHF_GROUP != 0 {
            return Err(unsupported(s, "belongs to a section group"));
        }
    }
    for s in elf.sections.iter().skip(1) {
        if s.is_rela() && keep[s.index] {
            keep[s.index] = keep[s.sh_info as usize];
        }
    }
    let mut ids: Vec<Option<usize>> = vec![None; n];
    let mut next = 0;
    for i in 0..n {
        if keep[i] {
            ids[i] = Some(next);
            next += 1;
        }
    }
    Ok(ids)
}

/// The copy in the making.
struct Copier<'e> {
    elf: &'e Elf,
    file: &'e str,
    out: OutObject,
    /// Input section index to output section id.
    ids: Vec<Option<usize>>,
    /// Output section symbol of each output section.
    sec_sym: Vec<Option<usize>>,
    /// Input symbol index to output symbol id.
    syms: Vec<Option<usize>>,
}

impl Copier<'_> {
    /// The kept symbols, in input order.
    fn symbols(&mut self, drop_symbol: &dyn Fn(&Symbol) -> bool) -> Result<()> {
        let Copier {
            elf,
            file,
            out,
            ids,
            sec_sym,
            syms,
        } = self;
        let (elf, file) = (*elf, *file);
        for s in elf.symbols.iter().skip(1) {
            if drop_symbol(s) {
                continue;
            }
            if s.is_section() {
                let Some(sec) = s.section else { continue };
                let Some(id) = ids[sec].filter(|_| !elf.sections[sec].is_rela()) else {
                    continue;
                };
                syms[s.index] = Some(*sec_sym[id].get_or_insert_with(|| {
                    out.add_symbol(OutSymbol {
                        name: Vec::new(),
                        st_info: s.st_info,
                        st_other: s.st_other,
                        place: Place::Section(id),
                        value: 0,
                        size: 0,
                    })
                }));
                continue;
            }
            let place = match s.section {
                Some(sec) => match ids[sec] {
                    Some(id) if !elf.sections[sec].is_rela() => Place::Section(id),
                    _ => continue,
                },
                None => match s.st_shndx {
                    SHN_UNDEF => Place::Undef,
                    SHN_ABS => Place::Abs,
                    SHN_LIVEPATCH => Place::Livepatch,
                    x => {
                        return Err(Error::new(
                            ErrorKind::Unsupported,
                            format!(
                                "symbol {} has section index {x:#x} (SHN_COMMON or another reserved index)",
                                s.display_name()
                            ),
                        )
                        .in_file(file)
                        .hint("build with -fno-common, as the kernel does"));
                    }
                },
            };
            syms[s.index] = Some(out.add_symbol(OutSymbol {
                name: s.name.clone(),
                st_info: s.st_info,
                st_other: s.st_other,
                place,
                value: s.value,
                size: s.size,
            }));
        }
        Ok(())
    }

    /// The kept sections, in input order.
    fn sections(&mut self) -> Result<()> {
        let Copier {
            elf,
            file,
            out,
            ids,
            sec_sym,
            ..
        } = self;
        let (elf, file) = (*elf, *file);
        let unsupported = |s: &Section, why: &str| unsupported(file, s, why);
        for s in &elf.sections {
            let Some(id) = ids[s.index] else { continue };
            let link_order = s.sh_flags & SHF_LINK_ORDER != 0;
            let link = if s.is_rela() {
                None
            } else {
                if s.sh_info != 0 || (s.sh_link != 0 && !link_order) {
                    return Err(unsupported(
                        s,
                        &format!(
                            "has sh_link {} / sh_info {}, which klpwrite cannot carry over",
                            s.sh_link, s.sh_info
                        ),
                    ));
                }
                match (link_order, s.sh_link) {
                    (true, l) if l != 0 => {
                        Some(ids.get(l as usize).copied().flatten().ok_or_else(|| {
                            unsupported(s, "is SHF_LINK_ORDER with a section that is not kept")
                        })?)
                    }
                    _ => None,
                }
            };
            let (data, symbol) = if s.is_rela() {
                let target = ids[s.sh_info as usize].expect("target of a kept RELA is kept");
                (
                    OutData::Relocs {
                        target,
                        relocs: Vec::new(),
                    },
                    None,
                )
            } else {
                let data = if s.is_nobits() {
                    OutData::Nobits(s.sh_size)
                } else {
                    OutData::Bytes(elf.data(s.index).to_vec())
                };
                let sym = *sec_sym[id].get_or_insert_with(|| {
                    out.add_symbol(OutSymbol {
                        name: Vec::new(),
                        st_info: STT_SECTION,
                        st_other: 0,
                        place: Place::Section(id),
                        value: 0,
                        size: 0,
                    })
                });
                (data, Some(sym))
            };
            debug_assert_eq!(out.sections.len(), id);
            out.sections.push(OutSection {
                name: s.name.clone(),
                sh_type: s.sh_type,
                sh_flags: s.sh_flags,
                sh_addralign: s.sh_addralign.max(1),
                sh_entsize: s.sh_entsize,
                link,
                data,
                symbol,
            });
        }
        Ok(())
    }

    /// The relocations of the kept RELA sections.
    fn relocations(&mut self) -> Result<()> {
        let Copier {
            elf,
            file,
            out,
            ids,
            syms,
            ..
        } = self;
        let (elf, file) = (*elf, *file);
        for s in elf.sections.iter().filter(|s| s.is_rela()) {
            let Some(id) = ids[s.index] else { continue };
            let mut list = Vec::with_capacity(elf.relocs_of_rsec(s.index).len());
            for (k, r) in elf.relocs_of_rsec(s.index).iter().enumerate() {
                let symbol = match syms[r.symbol] {
                    Some(x) => x,
                    None => {
                        let why = if r.symbol == 0 {
                            "uses the null symbol".to_string()
                        } else {
                            format!(
                                "uses symbol {}, which is not carried over",
                                elf.symbols[r.symbol].display_name()
                            )
                        };
                        return Err(Error::new(
                            ErrorKind::Unsupported,
                            format!("relocation #{k} of {} {why}", s.display_name()),
                        )
                        .in_file(file)
                        .at(elf.locate(r.section, r.offset)));
                    }
                };
                list.push(OutReloc {
                    offset: r.offset,
                    symbol,
                    r_type: r.r_type,
                    addend: r.addend,
                });
            }
            if let OutData::Relocs { relocs, .. } = &mut out.sections[id].data {
                *relocs = list;
            }
        }
        Ok(())
    }
}
