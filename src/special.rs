//! Special-section entries of an object: entry-size detection and
//! splitting into entries. Shared by `extract` (which keeps entries for
//! extracted code) and `checksum` (which folds entries into the hash of the
//! instruction they describe).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::arch::x86_64::{self as x86, Field, Layout, Role};
use crate::btf::{Btf, StructLayout};
use crate::elf::Elf;
use crate::error::{Error, ErrorKind, Result, show};

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
    if let Some(at) = l.not_file {
        let files = relocs
            .iter()
            .filter(|&&id| elf.relocs[id].offset % l.size == at)
            .map(|&id| string_at(elf, id).is_some_and(|t| is_source_file(&t)))
            .collect::<Vec<bool>>();
        if !files.is_empty() && files.iter().all(|&f| f) {
            return Some(format!(
                "field offset {at} names a source file in every entry, a message in this layout"
            ));
        }
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
    let data = elf.data(sec);
    for k in 0..n {
        for &(a, b) in l.pad {
            let (x, y) = ((k * l.size + a) as usize, (k * l.size + b) as usize);
            if data.get(x..y).is_some_and(|p| p.iter().any(|&c| c != 0)) {
                return Some(format!(
                    "entry {k} (+{:#x}) has non-zero bytes at {a}..{b}, padding in this layout",
                    k * l.size
                ));
            }
        }
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

/// The string relocation `id` points at (a data field, no adjustment).
fn string_at(elf: &Elf, id: usize) -> Option<Vec<u8>> {
    let r = elf.relocs[id];
    let s = &elf.symbols[r.symbol];
    let sec = s.section?;
    if !elf.sections[sec].is_strings() {
        return None;
    }
    let off = crate::elf::uoffset_of(s.value, r.addend, 0)? as usize;
    let tail = elf.data(sec).get(off..)?;
    let end = tail.iter().position(|&b| b == 0)?;
    Some(tail[..end].to_vec())
}

/// Whether `t` looks like `__FILE__` of kernel code.
fn is_source_file(t: &[u8]) -> bool {
    [&b".c"[..], b".h", b".S", b".rs"]
        .iter()
        .any(|e| t.ends_with(e) && t.len() > e.len())
}

fn sizes(layouts: &[Layout]) -> String {
    let mut v: Vec<u64> = layouts.iter().map(|l| l.size).collect();
    v.dedup();
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// The C struct of a special section's entries, as the target kernel's
/// BTF names it (the structs of the table's comments in
/// `arch::x86_64::SPECIAL_SECTIONS`).
pub fn entry_struct(section: &str) -> Option<&'static str> {
    Some(match section {
        "__bug_table" => "bug_entry",
        ".altinstructions" => "alt_instr",
        "__jump_table" => "jump_entry",
        "__ex_table" => "exception_table_entry",
        ".static_call_sites" => "static_call_site",
        ".parainstructions" => "paravirt_patch_site",
        _ => return None,
    })
}

/// What decides special-section entry layouts besides the object itself:
/// `--struct-size` overrides and the target kernel's BTF.
#[derive(Debug, Clone, Default)]
pub struct LayoutHints {
    /// `--struct-size SECTION=N`.
    pub sizes: HashMap<String, u64>,
    /// Entry structs from the target's BTF, by section name.
    pub btf: HashMap<String, (String, StructLayout)>,
    /// Where the BTF came from, for messages.
    pub btf_path: Option<String>,
}

impl LayoutHints {
    /// Whether nothing is hinted (no `--struct-size`, no BTF).
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty() && self.btf.is_empty()
    }

    /// Whether the user or the target's BTF says what `section`'s entries
    /// are (a misfit is then an error, never a warning).
    pub fn decides(&self, section: &[u8]) -> bool {
        let name = show(section);
        self.sizes.contains_key(&name) || self.btf.contains_key(&name)
    }

    /// Hints with the entry structs of `btf` (read from `path`).
    pub fn with_btf(mut self, path: &str, btf: &Btf) -> LayoutHints {
        for spec in x86::SPECIAL_SECTIONS {
            if let Some(st) = entry_struct(spec.name)
                && let Ok(l) = btf.layout(st)
            {
                self.btf
                    .insert(spec.name.to_string(), (st.to_string(), l.clone()));
            }
        }
        self.btf_path = Some(path.to_string());
        self
    }
}

/// Whether `l` is the layout BTF struct `st` describes: same size, and
/// the members the layout names at its offsets.
fn btf_matches(l: &Layout, st: &StructLayout) -> bool {
    l.size == st.size && l.btf.iter().all(|(m, o)| st.members.get(*m) == Some(o))
}

/// An entry layout for a size no table row has (`--struct-size`, BTF),
/// derived from the section's relocations. They must agree with `size`:
/// the section is a whole number of entries; each field offset
/// (relocation offset modulo `size`) carries one relocation type across
/// the section, at most once per entry; every entry has every field,
/// unless a known layout of the section has that field as optional; a
/// field at an offset where no known layout has a code field must not
/// point into code (an entry of twice the real size would). Roles come
/// from the known layouts' fields at the same offset and type, else Data.
/// The unrelocated bytes are all hashed, except a `line` member BTF names.
fn derive_layout(
    elf: &Elf,
    sec: usize,
    known: &[Layout],
    relocs: &[usize],
    size: u64,
    line_at: Option<u64>,
    why: &str,
) -> std::result::Result<&'static Layout, String> {
    let s = &elf.sections[sec];
    if size == 0 || !s.sh_size.is_multiple_of(size) {
        return Err(format!("size {:#x} is not a multiple of {size}", s.sh_size));
    }
    let mut types: BTreeMap<u64, u32> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for &id in relocs {
        let r = elf.relocs[id];
        let (k, fo) = (r.offset / size, r.offset % size);
        let w = x86::reloc_width(r.r_type).unwrap_or(8) as u64;
        if fo + w > size {
            return Err(format!(
                "the {} relocation at +{:#x} crosses the end of its entry",
                x86::reloc_name(r.r_type),
                r.offset
            ));
        }
        match types.get(&fo) {
            Some(&t) if t != r.r_type => {
                return Err(format!(
                    "field offset {fo} carries {} at +{:#x} but {} elsewhere",
                    x86::reloc_name(r.r_type),
                    r.offset,
                    x86::reloc_name(t)
                ));
            }
            _ => {
                types.insert(fo, r.r_type);
            }
        }
        if !seen.insert((k, fo)) {
            return Err(format!("two relocations at +{:#x}", r.offset));
        }
    }
    let known_field = |fo: u64, t: u32| {
        known
            .iter()
            .flat_map(|l| l.fields.iter())
            .find(|f| f.offset == fo && f.types.contains(&t))
    };
    let mut fields: Vec<Field> = Vec::new();
    for (&fo, &t) in &types {
        let kf = known_field(fo, t);
        let role = kf.map_or(Role::Data, |f| f.role);
        let required = !known
            .iter()
            .flat_map(|l| l.fields.iter())
            .any(|f| f.offset == fo && !f.required);
        let tys: &'static [u32] = Box::leak(vec![t].into_boxed_slice());
        fields.push(Field {
            offset: fo,
            types: tys,
            role,
            required,
        });
    }
    if !fields
        .iter()
        .any(|f| matches!(f.role, Role::Code | Role::CodeOrEnd))
    {
        return Err("no relocation sits where the known layouts have the code field".into());
    }
    let n = s.sh_size / size;
    for k in 0..n {
        for f in fields.iter().filter(|f| f.required) {
            if !seen.contains(&(k, f.offset)) {
                return Err(format!(
                    "entry {k} (+{:#x}) has no relocation at field offset {}, which other entries have",
                    k * size,
                    f.offset
                ));
            }
        }
    }
    for &id in relocs {
        let r = elf.relocs[id];
        let fo = r.offset % size;
        let f = fields.iter().find(|f| f.offset == fo).expect("collected");
        if matches!(f.role, Role::Code | Role::CodeOrEnd) {
            continue;
        }
        let ts = &elf.symbols[r.symbol];
        if let Some(tsec) = ts.section
            && elf.sections[tsec].is_exec()
            && !matches!(f.role, Role::Target | Role::Replacement | Role::Fixup)
        {
            return Err(format!(
                "the relocation at +{:#x} (field offset {fo}) points into code ({}), but no known layout has a code field there",
                r.offset,
                elf.sections[tsec].display_name()
            ));
        }
    }
    // A known, smaller layout with the same relocated fields is the
    // struct this one extends with trailing members: its line and its
    // meaningless bytes (padding, which `raw` leaves out) carry over; the
    // bytes past its end count. Otherwise every byte that is neither
    // relocated nor the line counts.
    let base = known.iter().find(|l| {
        l.size < size
            && l.fields.len() == fields.len()
            && l.fields
                .iter()
                .zip(&fields)
                .all(|(a, b)| a.offset == b.offset && a.types.contains(&b.types[0]))
    });
    let line_at = line_at.or(base.and_then(|b| b.line_at));
    let mut raw: Vec<(u64, u64)> = Vec::new();
    let covered = |o: u64| {
        fields.iter().any(|f| {
            let w = x86::reloc_width(f.types[0]).unwrap_or(8) as u64;
            o >= f.offset && o < f.offset + w
        }) || line_at.is_some_and(|l| o >= l && o < l + 2)
            || base.is_some_and(|b| o < b.size && !b.raw.iter().any(|&(x, y)| o >= x && o < y))
    };
    for o in 0..size {
        if covered(o) {
            continue;
        }
        match raw.last_mut() {
            Some(last) if last.1 == o => last.1 = o + 1,
            _ => raw.push((o, o + 1)),
        }
    }
    let fields: &'static [Field] = Box::leak(fields.into_boxed_slice());
    let raw: &'static [(u64, u64)] = Box::leak(raw.into_boxed_slice());
    let kernels: &'static str = Box::leak(why.to_string().into_boxed_str());
    Ok(Box::leak(Box::new(Layout {
        size,
        fields,
        repl_len_at: None,
        raw,
        line_at,
        btf: &[],
        pad: &[],
        not_file: None,
        kernels,
    })))
}

/// The entry layout of special section `sec`, in this order: `--struct-size`
/// (a table layout of that size that fits, else one derived from the
/// relocations, see [`derive_layout`]); the target's BTF struct (the same,
/// with the table layout whose members BTF confirms); `sh_entsize`; the
/// single known size that fits (the first row of that size when several
/// rows share it). Anything else, and a size the relocations contradict,
/// is an error naming the section.
pub fn detect_layout(
    elf: &Elf,
    sec: usize,
    layouts: &'static [Layout],
    relocs: &[usize],
    hints: &LayoutHints,
) -> Result<&'static Layout> {
    let s = &elf.sections[sec];
    let name = show(&s.name);
    let err = |msg: String| Error::new(ErrorKind::Malformed, msg).in_file(&elf.path);
    let btf = hints.btf.get(&name);
    if let Some(&n) = hints.sizes.get(&name) {
        let rows: Vec<&'static Layout> = layouts.iter().filter(|l| l.size == n).collect();
        let preferred = rows
            .iter()
            .copied()
            .filter(|l| btf.is_none_or(|(_, st)| btf_matches(l, st)))
            .chain(rows.iter().copied());
        let mut why_not = None;
        for l in preferred {
            match misfit(elf, sec, l, relocs) {
                None => return Ok(l),
                Some(w) => why_not = why_not.or(Some(w)),
            }
        }
        if let Some(why) = why_not {
            return Err(err(format!(
                "{name}: --struct-size {n} does not fit: {why}"
            )));
        }
        let line_at = btf
            .filter(|(_, st)| st.size == n)
            .and_then(|(_, st)| st.members.get("line").copied());
        return derive_layout(
            elf,
            sec,
            layouts,
            relocs,
            n,
            line_at,
            &format!("--struct-size {n}, fields from the relocations"),
        )
        .map_err(|why| {
            err(format!(
                "{name}: --struct-size {n} is not a known entry size ({}) and the relocations do not agree with it: {why}",
                sizes(layouts)
            ))
        });
    }
    if let Some((st_name, st)) = btf {
        let bpath = hints.btf_path.as_deref().unwrap_or("BTF");
        let rows: Vec<&'static Layout> = layouts.iter().filter(|l| btf_matches(l, st)).collect();
        if let Some(l) = rows.first() {
            return match misfit(elf, sec, l, relocs) {
                None => Ok(l),
                Some(why) => Err(err(format!(
                    "{name}: the target's struct {st_name} is {} bytes ({bpath}), but the object's relocations say otherwise: {why}",
                    st.size
                ))
                .hint(format!(
                    "is {} built for the kernel {bpath} describes? --struct-size {name}=N overrides",
                    elf.path
                ))),
            };
        }
        return derive_layout(
            elf,
            sec,
            layouts,
            relocs,
            st.size,
            st.members.get("line").copied(),
            &format!("struct {st_name} from BTF, fields from the relocations"),
        )
        .map_err(|why| {
            err(format!(
                "{name}: the target's struct {st_name} is {} bytes ({bpath}), but the object's relocations say otherwise: {why}",
                st.size
            ))
            .hint(format!(
                "is {} built for the kernel {bpath} describes? --struct-size {name}=N overrides",
                elf.path
            ))
        });
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
                "pass --struct-size {name}=N with the kernel's sizeof of the entry struct, or --btf with the target's BTF"
            )))
        }
        _ if ok.iter().all(|l| l.size == ok[0].size) => Ok(ok[0]),
        _ => Err(err(format!(
            "{name}: several entry sizes fit ({})",
            ok.iter()
                .map(|l| l.size.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint(format!(
            "pass --struct-size {name}=N, or --btf with the target's BTF"
        ))),
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
