//! `klpwrite inspect`: a stable text rendering of any ELF object.
//!
//! The dump never shows file offsets or string-table offsets, which change
//! whenever layout changes; it shows names, flags, link/info by name,
//! symbols with their section or `LIVEPATCH`, relocations as
//! `offset TYPE target±addend`, a content hash per section, and a "klp"
//! view that groups klp relocations by object name. Snapshot tests compare
//! this text, so its format is part of the interface.

use std::fmt::Write as _;

use crate::arch::x86_64 as x86;
use crate::elf::consts::*;
use crate::elf::{Elf, Reloc};
use crate::error::show;

/// Render the whole dump.
pub fn render(elf: &Elf) -> String {
    let mut o = String::new();
    let ty = match elf.e_type {
        ET_REL => "ET_REL".to_string(),
        ET_EXEC => "ET_EXEC".to_string(),
        ET_DYN => "ET_DYN".to_string(),
        t => format!("type {t}"),
    };
    let _ = writeln!(
        o,
        "ELF64 {ty} {} e_flags={:#x}",
        crate::arch::machine_name(elf.e_machine),
        elf.e_flags
    );
    render_sections(elf, &mut o);
    render_symbols(elf, &mut o);
    render_relocs(elf, &mut o);
    render_data(elf, &mut o);
    render_klp(elf, &mut o);
    o
}

fn sec_ref(elf: &Elf, idx: u32) -> String {
    match elf.sections.get(idx as usize) {
        Some(s) if idx != 0 => s.display_name(),
        _ => format!("#{idx}"),
    }
}

fn render_sections(elf: &Elf, o: &mut String) {
    let _ = writeln!(o, "sections ({}):", elf.sections.len().saturating_sub(1));
    for s in elf.sections.iter().skip(1) {
        let _ = write!(
            o,
            "  [{:>3}] {} {} {} size={:#x} align={}",
            s.index,
            s.display_name(),
            section_type_name(s.sh_type),
            section_flags_name(s.sh_flags),
            s.sh_size,
            s.sh_addralign
        );
        if s.sh_entsize != 0 {
            let _ = write!(o, " entsize={}", s.sh_entsize);
        }
        match s.sh_type {
            SHT_RELA | SHT_REL => {
                let _ = write!(
                    o,
                    " link={} info={}",
                    sec_ref(elf, s.sh_link),
                    sec_ref(elf, s.sh_info)
                );
            }
            SHT_SYMTAB => {
                let _ = write!(
                    o,
                    " link={} first_global={}",
                    sec_ref(elf, s.sh_link),
                    s.sh_info
                );
            }
            SHT_GROUP => {
                let sig = elf
                    .symbols
                    .get(s.sh_info as usize)
                    .map(|y| y.display_name())
                    .unwrap_or_else(|| format!("#{}", s.sh_info));
                let _ = write!(o, " signature={sig}");
            }
            _ => {
                if s.sh_link != 0 {
                    let _ = write!(o, " link={}", sec_ref(elf, s.sh_link));
                }
                if s.sh_info != 0 {
                    let _ = write!(o, " info={}", s.sh_info);
                }
            }
        }
        if s.sh_addr != 0 {
            let _ = write!(o, " addr={:#x}", s.sh_addr);
        }
        o.push('\n');
    }
    for g in &elf.groups {
        let members: Vec<String> = g
            .members
            .iter()
            .map(|&m| elf.sections[m].display_name())
            .collect();
        let _ = writeln!(
            o,
            "  group {} flags={:#x}: {}",
            elf.sections[g.section].display_name(),
            g.flags,
            members.join(" ")
        );
    }
}

fn place(elf: &Elf, idx: usize) -> String {
    let s = &elf.symbols[idx];
    match s.st_shndx {
        SHN_UNDEF => "UNDEF".to_string(),
        SHN_ABS => format!("ABS {:#x}", s.value),
        SHN_COMMON => format!("COMMON align={}", s.value),
        SHN_LIVEPATCH => "LIVEPATCH".to_string(),
        _ => match s.section {
            Some(sec) => format!("{}+{:#x}", elf.sections[sec].display_name(), s.value),
            None => format!("shndx={:#x} value={:#x}", s.st_shndx, s.value),
        },
    }
}

fn render_symbols(elf: &Elf, o: &mut String) {
    let _ = writeln!(
        o,
        "symbols ({}, first global {}):",
        elf.symbols.len().saturating_sub(1),
        elf.first_global
    );
    for s in elf.symbols.iter().skip(1) {
        let name = if s.is_section() && s.name.is_empty() {
            String::new()
        } else {
            s.display_name()
        };
        let _ = write!(
            o,
            "  [{:>4}] {:<6} {:<7} {}",
            s.index,
            bind_name(s.bind()),
            type_name(s.kind()),
            place(elf, s.index)
        );
        if s.size != 0 {
            let _ = write!(o, " size={:#x}", s.size);
        }
        if s.st_other != 0 {
            let _ = write!(o, " other={:#x}", s.st_other);
        }
        if !name.is_empty() {
            let _ = write!(o, " {name}");
        }
        o.push('\n');
    }
}

/// `target±addend` of a relocation, with section symbols shown by section.
pub fn reloc_target(elf: &Elf, r: &Reloc) -> String {
    let s = &elf.symbols[r.symbol];
    let base = if r.symbol == 0 {
        "*ABS*".to_string()
    } else if s.is_section() {
        s.section
            .map(|sec| elf.sections[sec].display_name())
            .unwrap_or_else(|| s.display_name())
    } else {
        s.display_name()
    };
    format!("{base}{}", addend_str(r.addend))
}

/// `+0x10`, `-0x4`, or nothing for 0.
pub fn addend_str(a: i64) -> String {
    match a {
        0 => String::new(),
        a if a < 0 => format!("-{:#x}", a.unsigned_abs()),
        a => format!("+{a:#x}"),
    }
}

fn render_relocs(elf: &Elf, o: &mut String) {
    let _ = writeln!(o, "relocations:");
    for s in &elf.sections {
        if s.sh_type != SHT_RELA || s.is_klp_rela() {
            continue;
        }
        let list = elf.relocs_of_rsec(s.index);
        let _ = writeln!(
            o,
            "  {} -> {} ({}):",
            s.display_name(),
            sec_ref(elf, s.sh_info),
            list.len()
        );
        for r in list {
            let _ = writeln!(
                o,
                "    {:#x} {} {}",
                r.offset,
                x86::reloc_name(r.r_type),
                reloc_target(elf, r)
            );
        }
    }
}

fn render_data(elf: &Elf, o: &mut String) {
    let _ = writeln!(o, "data:");
    for s in elf.sections.iter().skip(1) {
        if s.is_nobits()
            || s.sh_type == SHT_RELA
            || s.sh_type == SHT_SYMTAB
            || s.sh_type == SHT_STRTAB
        {
            continue;
        }
        let d = elf.data(s.index);
        if d.is_empty() {
            continue;
        }
        if s.is_strings() && d.len() <= 256 {
            let strs: Vec<String> = d
                .split(|&b| b == 0)
                .take(d.split(|&b| b == 0).count().saturating_sub(1).max(1))
                .map(|x| format!("\"{}\"", show(x)))
                .collect();
            let _ = writeln!(o, "  {}: {}", s.display_name(), strs.join(" "));
        } else if d.len() <= 32 {
            let hex: Vec<String> = d.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(o, "  {}: {}", s.display_name(), hex.join(""));
        } else {
            let _ = writeln!(
                o,
                "  {}: {} bytes xxh3={:016x}",
                s.display_name(),
                d.len(),
                xxhash_rust::xxh3::xxh3_64(d)
            );
        }
    }
}

/// The object name of a klp rela section or klp symbol name.
pub fn klp_objname(name: &[u8], prefix: &[u8]) -> Option<Vec<u8>> {
    let rest = name.strip_prefix(prefix)?;
    let end = rest.iter().position(|&b| b == b'.')?;
    Some(rest[..end].to_vec())
}

fn render_klp(elf: &Elf, o: &mut String) {
    let mut objs: Vec<Vec<u8>> = Vec::new();
    for s in &elf.sections {
        if s.is_klp_rela()
            && let Some(obj) = klp_objname(&s.name, b".klp.rela.")
            && !objs.contains(&obj)
        {
            objs.push(obj);
        }
    }
    for s in &elf.symbols {
        if s.is_livepatch()
            && let Some(obj) = klp_objname(&s.name, b".klp.sym.")
            && !objs.contains(&obj)
        {
            objs.push(obj);
        }
    }
    if objs.is_empty() {
        let _ = writeln!(o, "klp: none");
        return;
    }
    objs.sort();
    let _ = writeln!(o, "klp:");
    for obj in objs {
        let _ = writeln!(o, "  object {}:", show(&obj));
        for s in &elf.symbols {
            if s.is_livepatch() && klp_objname(&s.name, b".klp.sym.").as_deref() == Some(&obj[..]) {
                let _ = writeln!(
                    o,
                    "    symbol {} {} {}",
                    bind_name(s.bind()),
                    type_name(s.kind()),
                    s.display_name()
                );
            }
        }
        for s in &elf.sections {
            if !s.is_klp_rela() || klp_objname(&s.name, b".klp.rela.").as_deref() != Some(&obj[..])
            {
                continue;
            }
            let list = elf.relocs_of_rsec(s.index);
            let _ = writeln!(
                o,
                "    {} -> {} ({}):",
                s.display_name(),
                sec_ref(elf, s.sh_info),
                list.len()
            );
            for r in list {
                let _ = writeln!(
                    o,
                    "      {:#x} {} {}",
                    r.offset,
                    x86::reloc_name(r.r_type),
                    reloc_target(elf, r)
                );
            }
        }
    }
}

/// Relocation ids of special section `sec` from every relocation section
/// that applies to it (`sh_info`), sorted by offset: the normal ones and
/// the klp ones. In a livepatch object or module, an entry's fields that
/// refer to another object (a vmlinux static key, say) are relocated by
/// `.klp.rela.<obj>.<section>` (SHF_RELA_LIVEPATCH), the rest by
/// `.rela<section>`; an entry is only whole with both.
fn special_relocs(elf: &Elf, sec: usize) -> Vec<usize> {
    let mut v: Vec<usize> = elf.sections[sec]
        .rela_sections
        .iter()
        .filter_map(|rs| elf.rsec_relocs.get(rs))
        .flat_map(|r| r.clone())
        .collect();
    v.sort_by_key(|&i| (elf.relocs[i].offset, i));
    v
}

/// The special-section view (`inspect --special`): every special section
/// split into entries with the object's own entry size, each relocated
/// field shown with its role and target (normal and klp relocations).
pub fn render_special(elf: &Elf) -> String {
    use crate::arch::x86_64::{Role, Treatment, special_for};
    let mut o = String::new();
    let mut any = false;
    for s in &elf.sections {
        let name: Vec<u8> = match s.name.strip_prefix(b".klp.arch.") {
            Some(rest) => rest
                .iter()
                .position(|&b| b == b'.')
                .map(|p| rest[p + 1..].to_vec())
                .unwrap_or_default(),
            None => s.name.clone(),
        };
        let Some(spec) = special_for(&name) else {
            continue;
        };
        if s.sh_type != SHT_PROGBITS {
            continue;
        }
        any = true;
        let Treatment::Entries(layouts) = spec.treatment else {
            let _ = writeln!(
                o,
                "{}: {} bytes (not split: {})",
                s.display_name(),
                s.sh_size,
                match spec.treatment {
                    Treatment::Companion(c, n) => format!("{n}-byte entries parallel to {c}"),
                    Treatment::Drop(why) => why.to_string(),
                    Treatment::Entries(_) => unreachable!(),
                }
            );
            continue;
        };
        let relocs = special_relocs(elf, s.index);
        let layout = match crate::special::detect_layout(
            elf,
            s.index,
            layouts,
            &relocs,
            &Default::default(),
        ) {
            Ok(l) => l,
            Err(e) => {
                let _ = writeln!(
                    o,
                    "{}: {} bytes, entries not recognised: {}",
                    s.display_name(),
                    s.sh_size,
                    e.message()
                );
                continue;
            }
        };
        let entries = crate::special::entries(elf, s.index, layout, &relocs);
        let _ = writeln!(
            o,
            "{}: {} entries of {} bytes ({})",
            s.display_name(),
            entries.len(),
            layout.size,
            layout.kernels
        );
        let data = elf.data(s.index);
        for e in &entries {
            let _ = write!(o, "  #{} +{:#x}:", e.index, e.start);
            for &(f, id) in &e.fields {
                let role = match f.role {
                    Role::Code | Role::CodeOrEnd => "code",
                    Role::Target => "target",
                    Role::Key => "key",
                    Role::Replacement => "replacement",
                    Role::Fixup => "fixup",
                    Role::Data => "data",
                };
                let r = &elf.relocs[id];
                let _ = write!(o, " {role}={}", reloc_target(elf, r));
            }
            let bytes = data.get(e.start as usize..e.end as usize).unwrap_or(&[]);
            let raw: Vec<String> = bytes
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    !e.fields.iter().any(|(f, id)| {
                        let w = x86::reloc_width(elf.relocs[*id].r_type).unwrap_or(0) as u64;
                        (*i as u64) >= f.offset && (*i as u64) < f.offset + w
                    })
                })
                .map(|(_, b)| format!("{b:02x}"))
                .collect();
            if raw.iter().any(|b| b != "00") {
                let _ = write!(o, " bytes={}", raw.join(""));
            }
            o.push('\n');
        }
    }
    if !any {
        o.push_str("no special sections\n");
    }
    o
}
