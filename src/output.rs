//! The output model: an append-only description of the object klpwrite
//! writes. Passes add sections, symbols and relocations; [`crate::write`]
//! turns the model into bytes. Ids are positions in the vectors.

use crate::elf::consts::*;

/// Where an output symbol is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// SHN_UNDEF.
    Undef,
    /// In an output section (index into [`OutObject::sections`]).
    Section(usize),
    /// SHN_LIVEPATCH: a klp symbol resolved by the livepatch core.
    Livepatch,
    /// SHN_ABS.
    Abs,
}

/// An output symbol.
#[derive(Debug, Clone)]
pub struct OutSymbol {
    pub name: Vec<u8>,
    pub st_info: u8,
    pub st_other: u8,
    pub place: Place,
    pub value: u64,
    pub size: u64,
}

impl OutSymbol {
    pub fn is_local(&self) -> bool {
        self.st_info >> 4 == STB_LOCAL
    }
}

/// An output relocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutReloc {
    pub offset: u64,
    /// Index into [`OutObject::symbols`].
    pub symbol: usize,
    pub r_type: u32,
    pub addend: i64,
}

/// What an output section holds.
#[derive(Debug, Clone)]
pub enum OutData {
    /// Bytes.
    Bytes(Vec<u8>),
    /// SHT_NOBITS of this size.
    Nobits(u64),
    /// A RELA section: its relocations and the section they apply to.
    Relocs {
        target: usize,
        relocs: Vec<OutReloc>,
    },
}

/// An output section (never `.symtab`/`.strtab`/`.shstrtab`, which the
/// writer builds).
#[derive(Debug, Clone)]
pub struct OutSection {
    pub name: Vec<u8>,
    pub sh_type: u32,
    pub sh_flags: u64,
    pub sh_addralign: u64,
    pub sh_entsize: u64,
    /// `sh_link` to another output section (SHF_LINK_ORDER), if any.
    pub link: Option<usize>,
    pub data: OutData,
    /// This section's STT_SECTION symbol.
    pub symbol: Option<usize>,
}

impl OutSection {
    /// Current size in bytes.
    pub fn size(&self) -> u64 {
        match &self.data {
            OutData::Bytes(b) => b.len() as u64,
            OutData::Nobits(n) => *n,
            OutData::Relocs { relocs, .. } => relocs.len() as u64 * 24,
        }
    }
}

/// The whole output object.
#[derive(Debug, Clone, Default)]
pub struct OutObject {
    pub sections: Vec<OutSection>,
    /// Symbols; the writer puts locals first, keeping relative order.
    pub symbols: Vec<OutSymbol>,
    pub e_flags: u32,
}

impl OutObject {
    /// Add a section and its section symbol; returns the section id.
    pub fn add_section(&mut self, mut sec: OutSection) -> usize {
        let id = self.sections.len();
        if !matches!(sec.data, OutData::Relocs { .. }) {
            let sym = self.add_symbol(OutSymbol {
                name: Vec::new(),
                st_info: STT_SECTION,
                st_other: 0,
                place: Place::Section(id),
                value: 0,
                size: 0,
            });
            sec.symbol = Some(sym);
        }
        self.sections.push(sec);
        id
    }

    /// Add the relocation section for `target`: `.rela<name>` when `klp`
    /// is None, else `.klp.rela.<klp>.<name>` (flags ALLOC|INFO_LINK|
    /// RELA_LIVEPATCH, as the livepatch core requires). Relocations are
    /// sorted by offset (stable). Returns the section id.
    pub fn add_relocations(
        &mut self,
        target: usize,
        klp: Option<&[u8]>,
        mut relocs: Vec<OutReloc>,
    ) -> usize {
        relocs.sort_by_key(|r| r.offset);
        let (mut name, flags) = match klp {
            None => (b".rela".to_vec(), SHF_INFO_LINK),
            Some(obj) => {
                let mut n = b".klp.rela.".to_vec();
                n.extend_from_slice(obj);
                n.push(b'.');
                (n, SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH)
            }
        };
        name.extend_from_slice(&self.sections[target].name);
        self.add_section(OutSection {
            name,
            sh_type: SHT_RELA,
            sh_flags: flags,
            sh_addralign: 8,
            sh_entsize: 24,
            link: None,
            data: OutData::Relocs { target, relocs },
            symbol: None,
        })
    }

    /// Add a symbol; returns its id.
    pub fn add_symbol(&mut self, sym: OutSymbol) -> usize {
        self.symbols.push(sym);
        self.symbols.len() - 1
    }

    /// Append `bytes` to a byte section at `align`; returns the offset.
    pub fn append(&mut self, sec: usize, bytes: &[u8], align: u64) -> u64 {
        let s = &mut self.sections[sec];
        s.sh_addralign = s.sh_addralign.max(align.max(1));
        match &mut s.data {
            OutData::Bytes(b) => {
                let off = align_up(b.len() as u64, align);
                b.resize(off as usize, pad_byte(s.sh_flags));
                b.extend_from_slice(bytes);
                off
            }
            OutData::Nobits(n) => {
                let off = align_up(*n, align);
                *n = off + bytes.len() as u64;
                off
            }
            OutData::Relocs { .. } => unreachable!("append to a relocation section"),
        }
    }
}

/// Code sections are padded with int3 (0xcc) like the assembler does for
/// alignment between functions; data with zeros.
fn pad_byte(flags: u64) -> u8 {
    if flags & SHF_EXECINSTR != 0 { 0xcc } else { 0 }
}

/// Round `v` up to a multiple of `align` (0 and 1 mean no alignment).
pub fn align_up(v: u64, align: u64) -> u64 {
    if align <= 1 {
        v
    } else {
        v.div_ceil(align) * align
    }
}
