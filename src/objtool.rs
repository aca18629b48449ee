//! Inputs objtool has not processed.
//!
//! kbuild runs objtool on every object right after the compiler
//! (`cmd_objtool` in scripts/Makefile.lib, 6.1), except when it postpones
//! it to the link: `delay-objtool := $(or $(CONFIG_LTO_CLANG),
//! $(CONFIG_X86_KERNEL_IBT))` (scripts/Makefile.lib), and then objtool runs
//! only on `vmlinux.o` (scripts/Makefile.vmlinux_o) and on the module
//! object (`$(multi-obj-m): objtool-enabled := $(delay-objtool)` in
//! scripts/Makefile.build). `OBJECT_FILES_NON_STANDARD` skips it for a
//! file. On those kernels (and upstream's `CONFIG_KLP_BUILD`) a per-file
//! `.o` is raw compiler output, and objtool's edits are missing:
//!
//! - `--hacks=jump_label` (`CONFIG_HAVE_JUMP_LABEL_HACK`): x86's
//!   `arch_static_branch()` (arch/x86/include/asm/jump_label.h) emits
//!   `jmp l_yes # objtool NOPs this` with `2 | branch` in the key field of
//!   its `__jump_table` entry, and objtool's `handle_jump_alt()`
//!   (tools/objtool/check.c) overwrites the jump with a NOP of the same
//!   length (`arch_nop_insn()`, tools/objtool/arch/x86/decode.c) and turns
//!   its relocation, if any, into `R_NONE`. The kernel never does this
//!   itself: `__jump_label_patch()` (arch/x86/kernel/jump_label.c) expects
//!   `x86_nops[size]` at the site before it enables the key and `BUG()`s on
//!   anything else, so a module with the compiler's jump takes the branch
//!   while the key is false and panics when the key flips.
//! - `--rethunk` / `--retpoline`: `.return_sites` and `.retpoline_sites`
//!   list every `jmp __x86_return_thunk` and every call or jump to an
//!   `__x86_indirect_*` thunk (`add_return_call()`, `add_retpoline_call()`,
//!   `annotate_call_site()`, which skips `.altinstr_replacement`;
//!   `create_return_sites_sections()`, `create_retpoline_sites_sections()`:
//!   one `s32` per site, `R_X86_64_PC32` to the instruction). The module
//!   loader rewrites them for the selected mitigation (`apply_returns()`,
//!   `apply_retpolines()` in arch/x86/kernel/alternative.c, from
//!   `module_finalize()`); unlisted sites keep the default thunk, which
//!   silently loses e.g. the return-thunk mitigation.
//! - `--orc`: the ORC unwind tables. They come out of objtool's stack
//!   validation of every instruction; klpwrite cannot derive them exactly.
//! - `--static-call`: `.static_call_sites` (calls through a trampoline
//!   still work, they are only not inlined), `--ibt`: `.ibt_endbr_seal`
//!   (the patch's ENDBRs stay unsealed), `--hacks=skylake` (6.2+):
//!   `.call_sites` (call-depth accounting).
//!
//! [`complete`] recognises such an object from the object itself (a
//! jump-label site that still holds the compiler's jump; return or
//! retpoline thunk sites without their section) and does exactly what
//! objtool does for the first two items, on the bytes of the input, so
//! `checksum`, `diff` and `extract` all see the object as objtool would
//! have left it. ORC is checked by `extract` (refused, or accepted with
//! `--allow-missing-orc`); the rest is reported.

use crate::arch::x86_64::{self as x86, Treatment};
use crate::elf::Elf;
use crate::elf::consts::*;
use crate::elf::edit::{self, Edits, NewSection};
use crate::elf::load::Expect;
use crate::error::{Error, ErrorKind, Result};

/// What [`complete`] found and did.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// Why the object is taken as not processed by objtool.
    pub evidence: Vec<String>,
    /// What klpwrite did in objtool's place.
    pub done: Vec<String>,
}

/// Sections only objtool writes into an object (`create_*_sections()` and
/// `orc_create()` in tools/objtool).
pub const OBJTOOL_SECTIONS: &[&str] = &[
    ".orc_unwind_ip",
    ".orc_unwind",
    ".return_sites",
    ".retpoline_sites",
    ".call_sites",
    ".static_call_sites",
    ".ibt_endbr_seal",
];

/// x86-64 `BYTES_NOP2` and `BYTES_NOP5` (arch/x86/include/asm/nops.h):
/// what objtool writes (`arch_nop_insn()`) and what the kernel compares a
/// disabled site with (`x86_nops[]`, arch/x86/kernel/alternative.c).
pub const NOP2: [u8; 2] = [0x66, 0x90];
/// See [`NOP2`].
pub const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];

/// objtool's output sections present in `elf`.
pub fn objtool_sections(elf: &Elf) -> Vec<&'static str> {
    OBJTOOL_SECTIONS
        .iter()
        .copied()
        .filter(|n| elf.section_by_name(n.as_bytes()).is_some())
        .collect()
}

/// A jump-label site that still holds the compiler's jump.
#[derive(Debug)]
pub(crate) struct JumpSite {
    pub(crate) sec: usize,
    pub(crate) off: u64,
    pub(crate) len: usize,
    /// Relocations inside the jump (a jump to another section).
    pub(crate) relocs: Vec<usize>,
}

/// The `__jump_table` entries whose key carries objtool's "NOP this" bit
/// (`2 | branch`, arch/x86/include/asm/jump_label.h) and whose site is
/// still a jump. A site that is neither a 2- or 5-byte jump nor the NOP
/// objtool writes is an error, as in objtool's `handle_jump_alt()`.
pub(crate) fn jump_sites(elf: &Elf) -> Result<Vec<JumpSite>> {
    let Some(sec) = elf.section_by_name(b"__jump_table") else {
        return Ok(Vec::new());
    };
    let s = &elf.sections[sec];
    if s.sh_type != SHT_PROGBITS || s.sh_size == 0 {
        return Ok(Vec::new());
    }
    if s.rela_sections
        .iter()
        .any(|&r| elf.sections[r].is_klp_rela())
    {
        return Ok(Vec::new()); // a livepatch object, not a compiler's
    }
    let Some(Treatment::Entries(layouts)) = x86::special_for(b"__jump_table").map(|s| s.treatment)
    else {
        return Ok(Vec::new());
    };
    let relocs = elf.sorted_relocs(sec);
    // The layout is checked again, with --struct-size, by the passes that
    // use the table; an object whose table fits nothing gets their error.
    let Ok(layout) = crate::special::detect_layout(elf, sec, layouts, relocs, &Default::default())
    else {
        return Ok(Vec::new());
    };
    if layout.size != 16 {
        return Ok(Vec::new()); // absolute entries (before 5.0): no hack
    }
    let mut out = Vec::new();
    for e in crate::special::entries(elf, sec, layout, relocs) {
        let field = |o: u64| e.fields.iter().find(|(f, _)| f.offset == o).map(|x| x.1);
        let (Some(code), Some(key)) = (field(0), field(8)) else {
            continue;
        };
        let kr = elf.relocs[key];
        let ks = &elf.symbols[kr.symbol];
        let kval = if ks.section.is_some() { ks.value } else { 0 };
        if kval.wrapping_add(kr.addend as u64) & 2 == 0 {
            continue;
        }
        let cr = elf.relocs[code];
        let cs = &elf.symbols[cr.symbol];
        let Some(csec) = cs.section else { continue };
        let Some(off) = crate::elf::uoffset_of(cs.value, cr.addend, 0) else {
            continue;
        };
        let data = elf.data(csec);
        let at = |n: usize| data.get(off as usize..off as usize + n);
        let len = match at(1) {
            Some([0xeb]) => 2,
            Some([0xe9]) => 5,
            _ if at(2) == Some(&NOP2[..]) || at(5) == Some(&NOP5[..]) => continue,
            _ => {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "__jump_table entry {} (+{:#x}): the site {} is neither a jump nor a NOP (objtool's rule: a jump label is a 2- or 5-byte jmp or NOP)",
                        e.index,
                        e.start,
                        elf.locate(csec, off)
                    ),
                )
                .in_file(&elf.path));
            }
        };
        if at(len).is_none() {
            continue;
        }
        let relocs = elf
            .sorted_relocs(csec)
            .iter()
            .copied()
            .filter(|&i| (off..off + len as u64).contains(&elf.relocs[i].offset))
            .collect();
        out.push(JumpSite {
            sec: csec,
            off,
            len,
            relocs,
        });
    }
    out.sort_by_key(|j| (j.sec, j.off));
    out.dedup_by_key(|j| (j.sec, j.off));
    Ok(out)
}

/// Code sites: (section, instruction offset).
pub type Sites = Vec<(usize, u64)>;

/// Return-thunk and retpoline sites: the start of each branch instruction
/// (with its prefixes: `-mindirect-branch-cs-prefix`, arch/x86/Makefile,
/// puts a CS prefix before calls to the r8-r15 thunks, and objtool lists the
/// instruction from that prefix) whose rel32 is relocated against the thunk.
fn thunk_sites(elf: &Elf, want_rets: bool, want_rps: bool) -> (Sites, Sites) {
    let (mut rets, mut rps) = (Vec::new(), Vec::new());
    for r in &elf.relocs {
        let s = &elf.sections[r.section];
        if !s.is_exec() || elf.sections[r.rsec].is_klp_rela() {
            continue;
        }
        if r.r_type != x86::R_X86_64_PC32 && r.r_type != x86::R_X86_64_PLT32 {
            continue;
        }
        let sym = &elf.symbols[r.symbol];
        // objtool marks global symbols only (`classify_symbols()`).
        if sym.bind() != STB_GLOBAL {
            continue;
        }
        let ret = want_rets && sym.name == b"__x86_return_thunk";
        let rp = want_rps
            && sym.name.starts_with(b"__x86_indirect_")
            && s.name != b".altinstr_replacement";
        if !ret && !rp {
            continue;
        }
        let map = elf.code_map(r.section);
        // Only a branch whose operand is the relocated field is a site.
        let Some(i) = map.insn_at(r.offset) else {
            continue;
        };
        if !(i.is_jump || (rp && i.is_call)) || i.start + i.len as u64 != r.offset + 4 {
            continue;
        }
        if ret {
            rets.push((r.section, i.start));
        } else {
            rps.push((r.section, i.start));
        }
    }
    for v in [&mut rets, &mut rps] {
        v.sort_unstable();
        v.dedup();
    }
    (rets, rps)
}

/// An entry of a site list that does not point at a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    /// The list (`.return_sites`, `.retpoline_sites`).
    pub list: &'static str,
    /// Offset of the entry in the list.
    pub entry: u64,
    /// What it points at instead.
    pub why: String,
}

/// An object's thunk sites against its site lists: what the module loader
/// would leave alone, and what it would complain about.
///
/// `apply_returns()` and `apply_retpolines()` (arch/x86/kernel/alternative.c,
/// from `module_finalize()`, arch/x86/kernel/module.c) rewrite only the
/// sites their list names, each entry an `s32` with the site at
/// `(void *)s + *s`. An unlisted `jmp __x86_return_thunk` keeps the
/// default thunk: on 6.12 (`CONFIG_MITIGATION_RETHUNK` with SRSO/UNRET or
/// call-depth tracking) that is `__x86_return_thunk`'s `jmp warn_thunk_thunk`
/// (arch/x86/lib/retpoline.S), so the first return through it WARNs
/// "Unpatched return thunk in use. This should not happen!" (`__warn_thunk()`,
/// arch/x86/kernel/cpu/bugs.c) and taints the kernel; on 6.1 the return
/// silently skips the selected mitigation. An entry that points elsewhere
/// makes `apply_returns()` WARN "missing return thunk".
#[derive(Debug, Clone, Default)]
pub struct SiteCheck {
    /// `jmp __x86_return_thunk` sites that `.return_sites` does not list.
    pub missing_rets: Sites,
    /// Calls and jumps to `__x86_indirect_*` thunks that `.retpoline_sites`
    /// does not list; looked for only when the object has that list or
    /// misses return sites (objtool wrote no list before 5.16, see
    /// [`complete`]).
    pub missing_rps: Sites,
    /// Entries that point at no site.
    pub stray: Vec<Stray>,
}

impl SiteCheck {
    /// Whether the lists are complete and exact.
    pub fn is_clean(&self) -> bool {
        self.missing_rets.is_empty() && self.missing_rps.is_empty() && self.stray.is_empty()
    }
}

/// The sites list `name` of `elf` names (None: no such list), and its
/// entries that name no code.
fn listed_sites(
    elf: &Elf,
    name: &'static str,
    stray: &mut Vec<Stray>,
) -> Option<std::collections::BTreeMap<(usize, u64), u64>> {
    let sec = elf.section_by_name(name.as_bytes())?;
    let s = &elf.sections[sec];
    let mut out = std::collections::BTreeMap::new();
    let mut covered = std::collections::BTreeSet::new();
    for r in elf.relocs_for(sec) {
        covered.insert(r.offset);
        let sym = &elf.symbols[r.symbol];
        let at = match (r.r_type, sym.section) {
            (x86::R_X86_64_PC32, Some(t)) => {
                crate::elf::uoffset_of(sym.value, r.addend, 0).map(|o| (t, o))
            }
            _ => None,
        };
        match at {
            Some(at) if r.offset.is_multiple_of(4) => {
                out.insert(at, r.offset);
            }
            _ => stray.push(Stray {
                list: name,
                entry: r.offset,
                why: format!(
                    "{} against {}, not a PC32 to code in the module",
                    x86::reloc_name(r.r_type),
                    sym.display_name()
                ),
            }),
        }
    }
    if !s.is_nobits() {
        for e in (0..s.sh_size / 4).map(|k| 4 * k) {
            if !covered.contains(&e) {
                stray.push(Stray {
                    list: name,
                    entry: e,
                    why: "no relocation: the entry would point into the list itself".into(),
                });
            }
        }
    }
    Some(out)
}

/// Check `elf`'s thunk sites against its `.return_sites` and
/// `.retpoline_sites` ([`SiteCheck`]). Only relocated branches are sites,
/// as objtool finds them (`add_return_call()`, `annotate_call_site()`,
/// tools/objtool/check.c); klp relocations never name a thunk.
pub fn check_sites(elf: &Elf) -> SiteCheck {
    let mut c = SiteCheck::default();
    let listed_rets = listed_sites(elf, ".return_sites", &mut c.stray);
    let listed_rps = listed_sites(elf, ".retpoline_sites", &mut c.stray);
    let (rets, rps) = thunk_sites(elf, true, true);
    let empty = Default::default();
    let lr = listed_rets.as_ref().unwrap_or(&empty);
    let lp = listed_rps.as_ref().unwrap_or(&empty);
    c.missing_rets = rets
        .iter()
        .copied()
        .filter(|s| !lr.contains_key(s))
        .collect();
    if listed_rps.is_some() || !c.missing_rets.is_empty() {
        c.missing_rps = rps
            .iter()
            .copied()
            .filter(|s| !lp.contains_key(s))
            .collect();
    }
    for (list, listed, sites, what) in [
        (".return_sites", lr, &rets, "a jmp to __x86_return_thunk"),
        (
            ".retpoline_sites",
            lp,
            &rps,
            "a call or jump to an __x86_indirect_* thunk",
        ),
    ] {
        for (&(sec, off), &entry) in listed {
            if sites.binary_search(&(sec, off)).is_err() {
                c.stray.push(Stray {
                    list,
                    entry,
                    why: format!("{} is not {what}", elf.locate(sec, off)),
                });
            }
        }
    }
    c.stray
        .sort_by(|a, b| (a.list, a.entry).cmp(&(b.list, b.entry)));
    c
}

/// A site list section (`s32` per site, PC32 to the instruction) and its
/// relocation section, as objtool's `create_*_sites_sections()` write them.
fn site_sections(
    elf: &Elf,
    name: &str,
    sites: &[(usize, u64)],
    first_new: usize,
) -> Result<[NewSection; 2]> {
    let symtab = elf
        .symtab
        .ok_or_else(|| Error::malformed("no symbol table").in_file(&elf.path))?;
    let mut rela = Vec::with_capacity(sites.len() * 24);
    for (k, &(sec, off)) in sites.iter().enumerate() {
        // The section symbol, as objtool uses (it creates one when the
        // assembler left it out, tools/objtool/elf.c
        // elf_add_reloc_to_insn()); else the symbol around the site. A weak
        // one is fine here: the completed object is only read by klpwrite,
        // which resolves the site by address, never linked.
        let (sym, addend) = match elf.sections[sec].symbol {
            Some(s) => (s, off as i64),
            None => match elf.symbol_containing(sec, off) {
                Some(f) => (f, (off - elf.symbols[f].value) as i64),
                _ => {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "{}: no section symbol and no function names the site for {name}",
                            elf.locate(sec, off)
                        ),
                    )
                    .in_file(&elf.path));
                }
            },
        };
        rela.extend_from_slice(&edit::rela(4 * k as u64, sym, x86::R_X86_64_PC32, addend));
    }
    Ok([
        NewSection {
            name: name.as_bytes().to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 1,
            sh_entsize: 4,
            data: vec![0; 4 * sites.len()],
        },
        NewSection {
            name: format!(".rela{name}").into_bytes(),
            sh_type: SHT_RELA,
            sh_flags: SHF_INFO_LINK,
            sh_link: symtab as u32,
            sh_info: first_new as u32,
            sh_addralign: 8,
            sh_entsize: 24,
            data: rela,
        },
    ])
}

/// Complete an object objtool has not processed, as far as klpwrite can do
/// exactly what objtool does (module comment). Objects with no sign of
/// being raw are returned unchanged; a completed one carries
/// [`Elf::completion`].
pub fn complete(elf: Elf) -> Result<Elf> {
    if elf.e_type != ET_REL {
        return Ok(elf);
    }
    let jumps = jump_sites(&elf)?;
    let has = |n: &[u8]| elf.section_by_name(n).is_some();
    // Objects objtool processed have their lists: nothing to decode.
    let (rets, _) = thunk_sites(&elf, !has(b".return_sites"), false);
    let want_rets = !rets.is_empty();
    // `.retpoline_sites` is newer (5.16) than retpolines: an object objtool
    // processed for an older kernel has thunk calls and no list, so their
    // absence is no evidence by itself. Once other evidence shows the object
    // is raw, the list is written: a kernel that predates it ignores the
    // section (the module loader only looks it up by name,
    // arch/x86/kernel/module.c module_finalize()).
    let raw = !jumps.is_empty() || want_rets;
    let (_, rps) = thunk_sites(&elf, false, raw && !has(b".retpoline_sites"));
    let want_rps = !rps.is_empty();
    let mut c = Completion::default();
    if let Some(j) = jumps.first() {
        c.evidence.push(format!(
            "{} jump-label site(s) still hold the compiler's jmp (`# objtool NOPs this`), first at {}",
            jumps.len(),
            elf.locate(j.sec, j.off)
        ));
    }
    if want_rets {
        c.evidence.push(format!(
            "{} jump(s) to __x86_return_thunk but no .return_sites, first at {}",
            rets.len(),
            elf.locate(rets[0].0, rets[0].1)
        ));
    }
    if c.evidence.is_empty() {
        return Ok(elf);
    }
    let mut edits = Edits::default();
    for j in &jumps {
        let nop: &[u8] = if j.len == 2 { &NOP2 } else { &NOP5 };
        edits.patches.push((j.sec, j.off, nop.to_vec()));
        edits.none_relocs.extend(&j.relocs);
    }
    if !jumps.is_empty() {
        c.done.push(format!(
            "NOPed {} jump-label site(s) (objtool --hacks=jump_label)",
            jumps.len()
        ));
    }
    let mut next = elf.sections.len();
    if want_rps {
        edits
            .sections
            .extend(site_sections(&elf, ".retpoline_sites", &rps, next)?);
        next += 2;
        c.done.push(format!(
            "listed {} site(s) in .retpoline_sites (objtool --retpoline)",
            rps.len()
        ));
    }
    if want_rets {
        edits
            .sections
            .extend(site_sections(&elf, ".return_sites", &rets, next)?);
        c.done.push(format!(
            "listed {} site(s) in .return_sites (objtool --rethunk)",
            rets.len()
        ));
    }
    let mut out = edit::apply(&elf, &edits, Expect::Relocatable)?;
    out.completion = Some(c);
    Ok(out)
}

/// Load a kernel object that klpwrite reads as an input (checksum, diff,
/// extract, build, verify's `--patched`/`--orig`) and complete it if
/// objtool has not processed it.
pub fn load_input(path: &str) -> Result<Elf> {
    complete(crate::elf::load::load_file_for_analysis(
        path,
        Expect::Relocatable,
    )?)
}

/// [`load_input`] for checksums only (`checksum`, `diff`): the ORC and BTF
/// sections are not read either ([`crate::elf::load::load_file_for_checksums`]).
pub fn load_input_for_checksums(path: &str) -> Result<Elf> {
    complete(crate::elf::load::load_file_for_checksums(
        path,
        Expect::Relocatable,
    )?)
}

/// One line for users: what was found and done.
pub fn describe(elf: &Elf) -> Option<String> {
    let c = elf.completion.as_ref()?;
    Some(format!(
        "{}: not processed by objtool ({}); klpwrite did what objtool does: {}",
        elf.path,
        c.evidence.join("; "),
        c.done.join(", ")
    ))
}

/// Refuse an orig/patched pair of which only one went through objtool:
/// the other's ORC and site lists would make every function differ.
pub fn check_pair(orig: &Elf, patched: &Elf) -> Result<()> {
    for (a, b) in [(orig, patched), (patched, orig)] {
        if a.completion.is_some() && b.completion.is_none() {
            let marks = objtool_sections(b);
            if !marks.is_empty() {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "{} was processed by objtool (it has {}), {} was not ({})",
                        b.path,
                        marks.join(", "),
                        a.path,
                        a.completion
                            .as_ref()
                            .map(|c| c.evidence.join("; "))
                            .unwrap_or_default()
                    ),
                )
                .hint("build both objects the same way: both with objtool, or both without"));
            }
        }
    }
    Ok(())
}
