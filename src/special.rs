//! Special-section entries of an object: entry-size detection and
//! splitting into entries. Shared by `extract` (which keeps entries for
//! extracted code) and `checksum` (which folds entries into the hash of the
//! instruction they describe).

use std::collections::BTreeSet;

use crate::arch::x86_64::{self as x86, Field, Layout};
use crate::elf::Elf;
use crate::error::{Error, ErrorKind, Result, show};

/// Relocation ids of `sec` (klp relocation sections excluded), sorted by
/// offset.
pub fn sorted_relocs(elf: &Elf, sec: usize) -> Vec<usize> {
    let mut v: Vec<usize> = Vec::new();
    for &rs in &elf.sections[sec].rela_sections {
        if elf.sections[rs].is_klp_rela() {
            continue;
        }
        if let Some(r) = elf.rsec_relocs.get(&rs) {
            v.extend(r.clone());
        }
    }
    v.sort_by_key(|&i| (elf.relocs[i].offset, i));
    v
}

/// Why `l` does not fit section `sec`, or None if it fits: the size must
/// be a multiple of the entry size (`.parainstructions` may end in a short
/// entry), every relocation must sit on a relocated field with a type the
/// field takes, and every entry must have all its required relocations.
pub fn misfit(elf: &Elf, sec: usize, l: &Layout, relocs: &[usize]) -> Option<String> {
    let s = &elf.sections[sec];
    let short_last = s.name == b".parainstructions" && s.sh_size % l.size == l.size - 4;
    if !s.sh_size.is_multiple_of(l.size) && !short_last {
        return Some(format!(
            "size {:#x} is not a multiple of {}",
            s.sh_size, l.size
        ));
    }
    let mut seen = BTreeSet::new();
    for &id in relocs {
        let r = elf.relocs[id];
        let k = r.offset / l.size;
        let fo = r.offset % l.size;
        let Some(f) = l.fields.iter().find(|f| f.offset == fo) else {
            return Some(format!(
                "a relocation at +{:#x} is at field offset {fo}, which has no relocated field",
                r.offset
            ));
        };
        if !f.types.contains(&r.r_type) {
            return Some(format!(
                "the relocation at +{:#x} is {}, field {fo} takes {}",
                r.offset,
                x86::reloc_name(r.r_type),
                f.types
                    .iter()
                    .map(|t| x86::reloc_name(*t))
                    .collect::<Vec<_>>()
                    .join("/")
            ));
        }
        if !seen.insert((k, fo)) {
            return Some(format!("two relocations at +{:#x}", r.offset));
        }
    }
    let n = s.sh_size.div_ceil(l.size);
    for k in 0..n {
        for f in l.fields.iter().filter(|f| f.required) {
            if !seen.contains(&(k, f.offset)) {
                return Some(format!(
                    "entry {k} (+{:#x}) has no relocation at field offset {}",
                    k * l.size,
                    f.offset
                ));
            }
        }
    }
    None
}

fn sizes(layouts: &[Layout]) -> String {
    layouts
        .iter()
        .map(|l| l.size.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The entry layout of special section `sec`: `override_size` (from
/// `--struct-size`) if given, else `sh_entsize` if set, else the single
/// known layout that fits. Anything else is an error naming the section.
pub fn detect_layout(
    elf: &Elf,
    sec: usize,
    layouts: &'static [Layout],
    relocs: &[usize],
    override_size: Option<u64>,
) -> Result<&'static Layout> {
    let s = &elf.sections[sec];
    let name = show(&s.name);
    let err = |msg: String| Error::new(ErrorKind::Malformed, msg).in_file(&elf.path);
    if let Some(n) = override_size {
        let l = layouts.iter().find(|l| l.size == n).ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                format!(
                    "--struct-size {name}={n}: known entry sizes are {}",
                    sizes(layouts)
                ),
            )
        })?;
        if let Some(why) = misfit(elf, sec, l, relocs) {
            return Err(err(format!(
                "{name}: --struct-size {n} does not fit: {why}"
            )));
        }
        return Ok(l);
    }
    if s.sh_entsize != 0 {
        let Some(l) = layouts.iter().find(|l| l.size == s.sh_entsize) else {
            return Err(err(format!(
                "{name}: sh_entsize {} is not a known entry size ({})",
                s.sh_entsize,
                sizes(layouts)
            )));
        };
        if let Some(why) = misfit(elf, sec, l, relocs) {
            return Err(err(format!(
                "{name}: sh_entsize {} contradicts the relocations: {why}",
                s.sh_entsize
            ))
            .hint(format!(
                "override with --struct-size {name}=N if the object is right"
            )));
        }
        return Ok(l);
    }
    let ok: Vec<&'static Layout> = layouts
        .iter()
        .filter(|l| misfit(elf, sec, l, relocs).is_none())
        .collect();
    match ok.len() {
        1 => Ok(ok[0]),
        0 => {
            let reasons: Vec<String> = layouts
                .iter()
                .map(|l| {
                    format!(
                        "{} bytes: {}",
                        l.size,
                        misfit(elf, sec, l, relocs).unwrap_or_default()
                    )
                })
                .collect();
            Err(err(format!(
                "{name}: no known entry layout fits ({})",
                reasons.join("; ")
            ))
            .hint(format!(
                "pass --struct-size {name}=N with the kernel's sizeof of the entry struct"
            )))
        }
        _ => Err(err(format!(
            "{name}: several entry sizes fit ({})",
            ok.iter()
                .map(|l| l.size.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint(format!("pass --struct-size {name}=N"))),
    }
}

/// One entry of a special section.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Entry number.
    pub index: u64,
    /// Byte range in the section.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
    /// Relocated fields present, with their relocation ids.
    pub fields: Vec<(&'static Field, usize)>,
}

/// Split `sec` into entries of `layout`.
pub fn entries(elf: &Elf, sec: usize, layout: &'static Layout, relocs: &[usize]) -> Vec<Entry> {
    let size = elf.sections[sec].sh_size;
    let n = size.div_ceil(layout.size);
    let mut out: Vec<Entry> = (0..n)
        .map(|k| Entry {
            index: k,
            start: k * layout.size,
            end: ((k + 1) * layout.size).min(size),
            fields: Vec::new(),
        })
        .collect();
    for &id in relocs {
        let r = elf.relocs[id];
        let k = (r.offset / layout.size) as usize;
        if let Some(f) = layout
            .fields
            .iter()
            .find(|f| f.offset == r.offset % layout.size)
            && let Some(e) = out.get_mut(k)
        {
            e.fields.push((f, id));
        }
    }
    out
}
