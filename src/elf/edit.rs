//! Byte-level edits of a loaded relocatable object, for inputs klpwrite
//! completes before any pass reads them (`crate::objtool`): same-size
//! rewrites of section bytes, relocations turned into `R_X86_64_NONE`, and
//! new sections appended after the existing ones. Existing section and
//! symbol indices never change. The edited bytes are loaded again, so every
//! pass sees one consistent model, and the usual checks of
//! [`load`](super::load::load) run on the result.

use super::Elf;
use super::consts::*;
use super::load::Expect;
use crate::error::{Error, Result};

/// A section to append.
#[derive(Debug, Clone)]
pub struct NewSection {
    pub name: Vec<u8>,
    pub sh_type: u32,
    pub sh_flags: u64,
    /// Section index (an existing one, or `elf.sections.len() + i` for the
    /// i-th new one).
    pub sh_link: u32,
    pub sh_info: u32,
    pub sh_addralign: u64,
    pub sh_entsize: u64,
    pub data: Vec<u8>,
}

/// What to change.
#[derive(Debug, Default)]
pub struct Edits {
    /// (section, offset, new bytes): same-size rewrites.
    pub patches: Vec<(usize, u64, Vec<u8>)>,
    /// Relocation ids whose type becomes `R_X86_64_NONE` (the symbol and
    /// addend stay, as objtool leaves them).
    pub none_relocs: Vec<usize>,
    /// Sections appended in order.
    pub sections: Vec<NewSection>,
}

impl Edits {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty() && self.none_relocs.is_empty() && self.sections.is_empty()
    }
}

/// One `Elf64_Rela`.
pub fn rela(offset: u64, sym: usize, r_type: u32, addend: i64) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0..8].copy_from_slice(&offset.to_le_bytes());
    b[8..16].copy_from_slice(&(((sym as u64) << 32) | r_type as u64).to_le_bytes());
    b[16..24].copy_from_slice(&addend.to_le_bytes());
    b
}

fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn rd32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn rd64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn wr32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn wr64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn pad_to(out: &mut Vec<u8>, align: u64) {
    let a = align.max(1) as usize;
    while !out.len().is_multiple_of(a) {
        out.push(0);
    }
}

/// Apply `edits` to `elf` and load the result. `elf` has been loaded (so
/// its header and section table are valid ELF64 little-endian).
pub fn apply(elf: &Elf, edits: &Edits, expect: Expect) -> Result<Elf> {
    let internal = |m: String| Error::malformed(format!("internal: editing the object: {m}"));
    let mut out = elf.bytes().to_vec();
    for (sec, off, bytes) in &edits.patches {
        let r = &elf.sections[*sec].file_range;
        let at = r.start + *off as usize;
        if *off as usize + bytes.len() > r.len() {
            return Err(internal(format!(
                "patch at {}+{off:#x} is outside the section",
                elf.sections[*sec].display_name()
            )));
        }
        out[at..at + bytes.len()].copy_from_slice(bytes);
    }
    for &id in &edits.none_relocs {
        let r = elf.relocs[id];
        let rs = &elf.sections[r.rsec];
        let range = elf.rsec_relocs.get(&r.rsec).cloned().unwrap_or(0..0);
        if rs.sh_type != SHT_RELA || rs.sh_entsize != 24 || !range.contains(&id) {
            return Err(internal(format!(
                "relocation #{id} is not in a 24-byte RELA section"
            )));
        }
        let at = rs.file_range.start + (id - range.start) * 24;
        if rd64(&out, at) != r.offset {
            return Err(internal(format!(
                "relocation #{id} is not where the model says"
            )));
        }
        // r_info: symbol in the high 32 bits, type in the low 32.
        wr32(&mut out, at + 8, crate::arch::x86_64::R_X86_64_NONE);
    }
    if !edits.sections.is_empty() {
        append_sections(&mut out, elf, &edits.sections)?;
    }
    // Sections the input did not read stay unread (zeros, no relocations).
    let mut e = super::load::load_with(&elf.path, out, expect, &elf.skipped)?;
    e.completion = elf.completion.clone();
    Ok(e)
}

/// Append `new` after the file's data, with a new `.shstrtab` copy (the
/// old one extended by the new names) and a new section header table;
/// the ELF header and, for extended numbering, section 0 are updated.
fn append_sections(out: &mut Vec<u8>, elf: &Elf, new: &[NewSection]) -> Result<()> {
    let shoff = rd64(out, 0x28) as usize;
    let e_shnum = rd16(out, 0x3c) as usize;
    let e_shstrndx = rd16(out, 0x3e) as usize;
    let shnum = if e_shnum == 0 {
        rd64(out, shoff + 32) as usize
    } else {
        e_shnum
    };
    let shstrndx = if e_shstrndx == SHN_XINDEX as usize {
        rd32(out, shoff + 40) as usize
    } else {
        e_shstrndx
    };
    if shnum != elf.sections.len() || shstrndx >= shnum {
        return Err(Error::malformed(
            "internal: editing the object: section table mismatch",
        ));
    }
    let mut headers: Vec<u8> = out[shoff..shoff + 64 * shnum].to_vec();
    // Names: the old string table plus the new names.
    let str_hdr = 64 * shstrndx;
    let str_off = rd64(&headers, str_hdr + 24) as usize;
    let str_size = rd64(&headers, str_hdr + 32) as usize;
    let mut strtab = out[str_off..str_off + str_size].to_vec();
    let mut name_offs = Vec::new();
    for s in new {
        name_offs.push(strtab.len() as u32);
        strtab.extend_from_slice(&s.name);
        strtab.push(0);
    }
    for (s, name_off) in new.iter().zip(&name_offs) {
        pad_to(out, s.sh_addralign.max(1));
        let at = out.len() as u64;
        out.extend_from_slice(&s.data);
        let mut h = [0u8; 64];
        wr32(&mut h, 0, *name_off);
        wr32(&mut h, 4, s.sh_type);
        wr64(&mut h, 8, s.sh_flags);
        wr64(&mut h, 24, at);
        wr64(&mut h, 32, s.data.len() as u64);
        wr32(&mut h, 40, s.sh_link);
        wr32(&mut h, 44, s.sh_info);
        wr64(&mut h, 48, s.sh_addralign);
        wr64(&mut h, 56, s.sh_entsize);
        headers.extend_from_slice(&h);
    }
    let new_str_off = out.len() as u64;
    out.extend_from_slice(&strtab);
    wr64(&mut headers, str_hdr + 24, new_str_off);
    wr64(&mut headers, str_hdr + 32, strtab.len() as u64);
    let total = shnum + new.len();
    if total >= SHN_LORESERVE as usize {
        wr16(out, 0x3c, 0);
        wr64(&mut headers, 32, total as u64);
    } else {
        wr16(out, 0x3c, total as u16);
    }
    pad_to(out, 8);
    let new_shoff = out.len() as u64;
    out.extend_from_slice(&headers);
    wr64(out, 0x28, new_shoff);
    Ok(())
}
