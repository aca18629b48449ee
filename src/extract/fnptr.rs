//! Pointers to changed functions (issue class A5): new code that takes the
//! address of a function the patch replaces.
//!
//! Two destinations are possible, and each can be wrong:
//!
//! - **The original** (kpatch's choice, `.klp.sym` relocation): the pointer
//!   keeps the original's identity (code that compares it against the
//!   address the unpatched kernel stored still matches), outlives the patch
//!   module, and calls through it reach the new code because ftrace
//!   redirects the original while the patch is active. But with IBT the
//!   kernel *seals* functions whose address is never taken: objtool
//!   (`tools/objtool/check.c`) removes from its ENDBR list every ENDBR that
//!   a relocation reaches other than a direct call or jump
//!   (`validate_ibt_insn()`, `validate_ibt_data_reloc()`, called from
//!   `validate_ibt()`, which skips `.discard.*` except
//!   `.discard.ibt_endbr_noseal` (`IBT_NOSEAL()` in
//!   `arch/x86/include/asm/ibt.h`), `.debug*`, `.orc*` and the special
//!   tables) and writes the rest to `.ibt_endbr_seal`
//!   (`create_ibt_endbr_seal_sections()`); at boot `apply_seal_endbr()` in
//!   `arch/x86/kernel/alternative.c` overwrites each listed ENDBR through
//!   `poison_endbr()` and, with FineIBT, poisons the kCFI hash before it
//!   (`poison_cfi()`). An indirect call to a sealed original raises #CP;
//!   kCFI likewise traps on a function that never got a type hash.
//! - **The patch's own copy** (what upstream klp-build does for any
//!   included function): it was compiled with its address taken, so it has
//!   its ENDBR and hash, and nothing seals it (no objtool seal list is
//!   copied into the patch). But it is a different address than the one
//!   the unpatched kernel knows, and it disappears with the module.
//!
//! The rule klpwrite applies, per pointer site (a non-branch reference to
//! offset 0 of a changed function, outside special sections):
//!
//! 1. The original's address is provably taken in the target: a relocation
//!    of the kind objtool counts reaches it in the original object
//!    (`--orig`), or, without `--orig`, in code or data of the patched
//!    object that the patch does not replace (the target has it as it is).
//!    Then its ENDBR and hash were kept: point at the **original** (klp
//!    relocation), which also keeps identity and lifetime.
//! 2. Otherwise, for a **static** function: no code outside its unit can
//!    hold its address, and its unit never took it, so identity cannot be
//!    observed; the original may be sealed. Point at the **copy**. An
//!    instruction that stores the pointer to memory gets a warning: the
//!    stored pointer dies with the patch module. (Only the instruction
//!    carrying the relocation is looked at: `mov $f, %rax` followed by a
//!    store of `%rax` is not seen as a store.)
//! 3. Otherwise (a global whose address the unit never takes): other units
//!    may hold the original's address (identity matters, and then it is not
//!    sealed) or none may (then it may be sealed): klpwrite cannot tell
//!    which destination is safe and **refuses**.

use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind};

use super::*;

/// What the instruction or data at a pointer site does with the address.
fn pointer_use(p: &Elf, sec: usize, off: u64, map: &CodeMap) -> &'static str {
    if !p.sections[sec].is_exec() {
        return "stored in data";
    }
    let Some(at) = map.insn_at(off) else {
        return "used by code klpwrite cannot decode";
    };
    let data = p.data(sec);
    let Some(bytes) = data.get(at.start as usize..(at.start + at.len as u64) as usize) else {
        return "used by code klpwrite cannot decode";
    };
    let mut d = Decoder::with_ip(64, bytes, at.start, DecoderOptions::NONE);
    let insn = d.decode();
    match insn.mnemonic() {
        Mnemonic::Cmp | Mnemonic::Test => "compared",
        Mnemonic::Mov if insn.op0_kind() == OpKind::Memory => "stored to memory",
        Mnemonic::Push => "stored to memory",
        _ => "loaded into a register",
    }
}

/// Sections whose references to code objtool's IBT pass ignores
/// (`tools/objtool/check.c`, `validate_ibt()`: they "reference text
/// addresses, but not with the intent to indirect branch to them"), the
/// union over kernel versions. Skipping more than a given kernel does only
/// makes klpwrite find less evidence, which is the safe direction.
const IBT_IGNORED: &[&str] = &[
    ".altinstructions",
    ".ibt_endbr_seal",
    ".orc_unwind_ip",
    ".parainstructions",
    ".retpoline_sites",
    ".return_sites",
    ".call_sites",
    ".smp_locks",
    ".static_call_sites",
    "_error_injection_whitelist",
    "_kprobe_blacklist",
    "__bug_table",
    "__ex_table",
    "__jump_table",
    "__mcount_loc",
    ".kcfi_traps",
    ".llvm.call-graph-profile",
    ".llvm_bb_addr_map",
];

/// Whether a relocation in section `sec` of `elf` takes an address the way
/// objtool's IBT pass counts it (`validate_ibt_insn()` for code,
/// `validate_ibt_data_reloc()` for the rest; a reached ENDBR is removed
/// from the list that `create_ibt_endbr_seal_sections()` writes).
fn counts_for_ibt(elf: &Elf, sec: usize) -> bool {
    let s = &elf.sections[sec];
    let name = &s.name;
    if name.starts_with(b".discard") {
        // IBT_NOSEAL() (arch/x86/include/asm/ibt.h) exists to count.
        return name == b".discard.ibt_endbr_noseal";
    }
    if name.starts_with(b".debug")
        || name.starts_with(b".orc")
        || name
            .windows(28)
            .any(|w| w == b"__patchable_function_entries")
        || IBT_IGNORED.iter().any(|n| name == n.as_bytes())
        || !s.is_alloc()
        || s.is_klp_rela()
    {
        return false;
    }
    x86::special_for(name).is_none() && !x86::AUX_SECTIONS.iter().any(|a| name == a.as_bytes())
}

/// The sites of `elf` whose relocations take the address of function `f`
/// (offset 0; not a direct call or jump), as (section, offset).
pub(crate) fn address_taking_sites(elf: &Elf, f: usize) -> Vec<(usize, u64)> {
    let fs = &elf.symbols[f];
    let Some(fsec) = fs.section else {
        return Vec::new();
    };
    let mut maps: HashMap<usize, CodeMap> = HashMap::new();
    let mut out = Vec::new();
    for r in &elf.relocs {
        if elf.sections[r.rsec].is_klp_rela() || !counts_for_ibt(elf, r.section) {
            continue;
        }
        let t = &elf.symbols[r.symbol];
        if t.section != Some(fsec) {
            continue;
        }
        let pcrel = x86::reloc_is_pcrel(r.r_type);
        let exec = elf.sections[r.section].is_exec();
        let insn = if exec {
            maps.entry(r.section)
                .or_insert_with(|| CodeMap::decode(elf.data(r.section)))
                .insn_at(r.offset)
        } else {
            None
        };
        if insn.is_some_and(|i| i.is_call || i.is_jump) {
            continue;
        }
        let adj = if pcrel && exec {
            x86::addend_adjustment(r.r_type, r.offset, insn)
        } else {
            0
        };
        let Some(off) = crate::elf::uoffset_of(t.value, r.addend, adj) else {
            continue;
        };
        if off == fs.value
            && (r.symbol == f || elf.resolve_ref(fsec, off).is_some_and(|rt| rt.sym == f))
        {
            out.push((r.section, r.offset));
        }
    }
    out
}

impl<'a> Ex<'a> {
    /// A pointer to changed function `t` (patched symbol; `old`,`pos` its
    /// target name and sympos) at relocation `id`: see the module comment.
    pub(super) fn pointer_to_changed(
        &mut self,
        id: usize,
        t: usize,
        old: Vec<u8>,
        pos: u64,
        addend: i64,
        here: &str,
    ) -> Result<Dest> {
        let p = self.p;
        let r = p.relocs[id];
        let ts = &p.symbols[t];
        let fname = ts.display_name();
        let usage = {
            let map = self.code_map(r.section);
            pointer_use(p, r.section, r.offset, map)
        };
        // 1. Is the original's address taken in the target?
        let evidence: Option<String> = if let Some(orig) = self.inp.orig {
            orig.twin_of(t)
                .or_else(|| orig.elf.find_function(&old))
                .and_then(|o| address_taking_sites(orig.elf, o).first().copied())
                .map(|(s, off)| format!("{} in {}", orig.elf.locate(s, off), orig.elf.path))
        } else {
            let mut found = None;
            for (s, off) in address_taking_sites(p, t) {
                let Some(owner) = p.symbol_containing(s, off) else {
                    continue;
                };
                if self.changed.contains_key(&owner)
                    || self.included_set.contains(&owner)
                    || self.new_syms.contains(&owner)
                {
                    continue;
                }
                // An ambiguous twin is no evidence (and no reason to fail).
                if matches!(self.twin_name(owner), Ok(Some(_))) {
                    found = Some(format!("{} (unchanged, in the target)", p.locate(s, off)));
                    break;
                }
            }
            found
        };
        if let Some(at) = evidence {
            let target_name = self.klp_target_name(&old, self.opts.objname.clone())?;
            self.explain.push(format!(
                "reloc {here} → klp {target_name},{pos} [pointer to changed function {fname} ({usage}): the original's address is already taken at {at}, so the kernel keeps its ENDBR and kCFI hash; the pointer keeps the original's identity and ftrace sends calls to the new code]"
            ));
            return Ok(Dest::Klp(
                self.opts.objname.clone(),
                old,
                pos,
                ts.kind(),
                addend,
            ));
        }
        let checked = if self.inp.orig.is_some() {
            "the original object never takes its address"
        } else {
            "no unchanged code or data of the patched object takes its address (without --orig the old versions of the changed functions were not checked)"
        };
        // 2. A static nobody else can name: the copy.
        if ts.is_local() {
            self.explain.push(format!(
                "reloc {here} → {fname} of the patch [pointer to changed static function {fname} ({usage}): {checked}, so with IBT the kernel sealed the original's ENDBR and an indirect call to it would trap; no other code can hold the original's address, so the patch's own copy is used]"
            ));
            // A copy stored in the patch's own data lives exactly as long
            // as that data; one stored by code may land in kernel state.
            if usage == "stored to memory" {
                self.warnings.push(format!(
                    "{here}: a pointer to the patch's copy of {fname} is {usage}; it is only valid while the patch module is loaded"
                ));
            }
            return Ok(Dest::Clone(t, addend));
        }
        // 3. A global: neither destination is known to be safe.
        Err(err_at(
            p,
            r.section,
            r.offset,
            ErrorKind::Refused,
            format!(
                "pointer to changed global function {fname} ({usage}): {checked}, so with IBT or kCFI the kernel may have sealed the original (an indirect call to it would trap), while other units may hold the original's address (a pointer to the patch's copy would not compare equal to it); klpwrite cannot tell which is safe"
            ),
        )
        .hint(format!(
            "call {fname} directly, or take the address of a new wrapper function that calls it"
        )))
    }
}
