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
//!   (`create_ibt_endbr_seal_sections()`); at boot `apply_ibt_endbr()` in
//!   `arch/x86/kernel/alternative.c` (`apply_seal_endbr()` from 6.5)
//!   overwrites each listed ENDBR through `poison_endbr()` and, with
//!   FineIBT, poisons the kCFI hash before it (`poison_endbr(addr - 16)`
//!   in 6.2, `poison_hash()`/`poison_cfi()` later). An indirect call to a sealed original raises #CP;
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
//! 2. Without `--orig` and without such evidence klpwrite **refuses**: the
//!    old versions of the changed functions are not in the patched object,
//!    and one of them may well have stored the original's address in
//!    kernel state (a registration function the patch rewrites), so a
//!    pointer to the copy could break identity (`hook == cb` fails) while
//!    one to the original could be sealed.
//! 3. Otherwise, for a **static** function: no code outside its unit can
//!    hold its address, and its unit never took it, so identity cannot be
//!    observed; the original may be sealed. Point at the **copy**, with a
//!    warning for every such reference: the copy lives in the patch module,
//!    and a pointer that reaches kernel state (stored directly, or loaded
//!    into a register and stored later, which klpwrite does not follow)
//!    dangles once the module is gone (an atomic-replace patch frees the
//!    replaced patches and their modules can be removed:
//!    `klp_free_replaced_patches_async()`, kernel/livepatch/core.c).
//! 4. Otherwise (a global whose address the unit never takes): other units
//!    may hold the original's address (identity matters, and then it is not
//!    sealed) or none may (then it may be sealed): klpwrite cannot tell
//!    which destination is safe and **refuses**.
//!
//! The same sealing applies to functions the patch does *not* change: a
//! new pointer to an unchanged function of the target (a klp relocation to
//! the original) traps when that original was sealed. So every non-branch
//! reference to the start of a function that stays in the target is
//! checked the same way ([`Ex::pointer_to_kept_function`]), but only when
//! the target kernel seals at all: built with `CONFIG_X86_KERNEL_IBT`,
//! recognised by symbols that only such a kernel has ([`IBT_MARKERS`]).
//! An exported function is never sealed: its `__ksymtab` entry is a data
//! relocation to it, which objtool counts as an address taken.
//!
//! Kernel code: the seal list is built by objtool (`tools/objtool/check.c`:
//! `validate_ibt()`, `validate_ibt_insn()`, `validate_ibt_data_reloc()`,
//! `create_ibt_endbr_seal_sections()`) and applied at boot and module load
//! by `apply_ibt_endbr()` in arch/x86/kernel/alternative.c (6.1 to 6.4; the
//! same function is `apply_seal_endbr()` from 6.5, "x86/alternative: Rename
//! apply_ibt_endbr()", which with "x86/cfi: Extend ENDBR sealing to kCFI"
//! also poisons the kCFI hash of sealed functions).

use iced_x86::{Mnemonic, OpKind};

use super::*;

/// What the instruction or data at a pointer site does with the address.
fn pointer_use(p: &Elf, sec: usize, off: u64, map: &CodeMap) -> &'static str {
    if !p.sections[sec].is_exec() {
        return "stored in data";
    }
    let Some((insn, _)) = map.decode_at(p.data(sec), off) else {
        return "used by code klpwrite cannot decode";
    };
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
pub(crate) fn counts_for_ibt(elf: &Elf, sec: usize) -> bool {
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

/// For a relocation that may take an address: None when it is a direct
/// call or jump (not an address taken), else the adjustment of its addend
/// (PC-relative fields in code).
fn address_adjustment(elf: &Elf, r: &crate::elf::Reloc) -> Option<i64> {
    let exec = elf.sections[r.section].is_exec();
    let insn = if exec {
        elf.code_map(r.section).insn_at(r.offset)
    } else {
        None
    };
    if insn.is_some_and(|i| i.is_call || i.is_jump) {
        return None;
    }
    Some(if exec && x86::reloc_is_pcrel(r.r_type) {
        x86::addend_adjustment(r.r_type, r.offset, insn)
    } else {
        0
    })
}

/// Relocation sites, as (section, offset).
pub(crate) type Sites = Vec<(usize, u64)>;

/// The sites of `elf` whose relocations take the address of function `f`
/// (offset 0; not a direct call or jump), as (section, offset).
pub(crate) fn address_taking_sites(elf: &Elf, f: usize) -> Vec<(usize, u64)> {
    let fs = &elf.symbols[f];
    let Some(fsec) = fs.section else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in &elf.relocs {
        if elf.sections[r.rsec].is_klp_rela() || !counts_for_ibt(elf, r.section) {
            continue;
        }
        let t = &elf.symbols[r.symbol];
        if t.section != Some(fsec) {
            continue;
        }
        let Some(adj) = address_adjustment(elf, r) else {
            continue;
        };
        let Some(off) = crate::elf::uoffset_of(t.value, r.addend, adj) else {
            continue;
        };
        if off == fs.value
            && (elf.same_function(r.symbol, f)
                || elf
                    .resolve_ref(fsec, off)
                    .is_some_and(|rt| elf.same_function(rt.sym, f)))
        {
            out.push((r.section, r.offset));
        }
    }
    out
}

/// Whether the relocation at `sec+off` (code) is the displacement of a
/// memory operand with no base (or RIP) and no index register, in an
/// instruction other than `lea`: it reads or writes exactly the address the
/// relocation gives, so that address is inside an object, never one past
/// an end. (With a base or index register GCC may well write
/// `a+sizeof(a)(,%rax,4)` with a negative index: induction-variable-
/// optimised loops.) The tie rule's proof (`Elf::resolve_ref`), shared by
/// extract and verify.
pub(crate) fn accesses_exactly(elf: &Elf, sec: usize, off: u64, map: &CodeMap) -> bool {
    use iced_x86::Register;
    let Some((insn, offs)) = map.decode_at(elf.data(sec), off) else {
        return false;
    };
    insn.mnemonic() != Mnemonic::Lea
        && (0..insn.op_count()).any(|i| insn.op_kind(i) == OpKind::Memory)
        && matches!(insn.memory_base(), Register::None | Register::RIP)
        && insn.memory_index() == Register::None
        && offs.has_displacement()
        && insn.ip() + offs.displacement_offset() as u64 == off
}

/// Symbols only a kernel built with `CONFIG_X86_KERNEL_IBT` has, so only a
/// kernel that seals ENDBRs: `__ibt_endbr_seal`/`__ibt_endbr_seal_end`
/// bound objtool's seal list in arch/x86/kernel/vmlinux.lds.S (inside
/// `#ifdef CONFIG_X86_KERNEL_IBT`); `ibt_selftest` and its label
/// `ibt_selftest_ip` (6.1: arch/x86/kernel/traps.c, later cet.c, then
/// `ibt_selftest_noendbr` in ibt_selftest.S) are built only with IBT.
/// `apply_ibt_endbr` is no marker: 6.1 defines an empty stub of it without
/// IBT (arch/x86/kernel/alternative.c, the `#else` branch).
pub(crate) const IBT_MARKERS: &[&str] = &[
    "__ibt_endbr_seal",
    "__ibt_endbr_seal_end",
    "ibt_selftest",
    "ibt_selftest_ip",
    "ibt_selftest_noendbr",
];

/// The sites of `elf` that take the address of the function named `name`,
/// defined there (offset 0, [`address_taking_sites`]) or undefined (a
/// non-branch relocation against the undefined symbol, addend 0 after the
/// PC-relative adjustment).
pub(crate) fn address_taking_sites_named(elf: &Elf, name: &[u8]) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    for &f in elf.symbols_named(name) {
        let fs = &elf.symbols[f];
        if fs.section.is_some() {
            if fs.is_func() {
                out.extend(address_taking_sites(elf, f));
            }
            continue;
        }
        if !fs.is_undef() {
            continue;
        }
        for r in &elf.relocs {
            if r.symbol != f
                || elf.sections[r.rsec].is_klp_rela()
                || !counts_for_ibt(elf, r.section)
            {
                continue;
            }
            let Some(adj) = address_adjustment(elf, r) else {
                continue;
            };
            if crate::elf::offset_of(0, r.addend, adj) == Some(0) {
                out.push((r.section, r.offset));
            }
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
        let usage = self.pointer_use(id);
        // 1. Is the original's address taken in the target?
        let evidence = self.address_taken_in_target(Some(t), &old);
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
        // 2. Without --orig the old versions of the changed functions, which
        // may have stored the original's address, were not looked at.
        if self.inp.orig.is_none() {
            return Err(err_at(
                p,
                r.section,
                r.offset,
                ErrorKind::Refused,
                format!(
                    "pointer to changed function {fname} ({usage}): no unchanged code or data of the patched object takes its address, but without --orig the old versions of the changed functions cannot be checked: if one of them stored the original's address in kernel state, a pointer to the patch's copy would not compare equal to it, and if none did, the original may be sealed under IBT"
                ),
            )
            .hint("pass --orig with the original object (or use `klpwrite build`), so klpwrite can see whether the original's address is taken"));
        }
        let checked = "the original object never takes its address";
        // 3. A static nobody else can name: the copy.
        if ts.is_local() {
            self.explain.push(format!(
                "reloc {here} → {fname} of the patch [pointer to changed static function {fname} ({usage}): {checked}, so with IBT the kernel sealed the original's ENDBR and an indirect call to it would trap; no other code can hold the original's address, so the patch's own copy is used]"
            ));
            // Whether the pointer reaches kernel state is not followed
            // (`mov $f,%rax` and a later store of %rax), so every
            // reference gets the warning, not only a direct store.
            self.warnings.push(format!(
                "{here}: a pointer to the patch's copy of {fname} ({usage}) is only valid while the patch module is loaded: if it reaches kernel state, it dangles once an atomic-replace patch has replaced this one and its module is removed"
            ));
            return Ok(Dest::Clone(t, addend));
        }
        // 4. A global: neither destination is known to be safe.
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

    /// What the pointer site of relocation `id` does with the address.
    fn pointer_use(&mut self, id: usize) -> &'static str {
        let p = self.p;
        let r = p.relocs[id];
        let map = self.code_map(r.section);
        pointer_use(p, r.section, r.offset, map)
    }

    /// Where the inputs show that the target takes the address of function
    /// `name` (patched symbol `t` when defined there): a site in the
    /// original object (`--orig`: the target's code as it is), or, without
    /// it, in code or data of the patched object that the patch neither
    /// replaces nor adds. None without evidence.
    pub(super) fn address_taken_in_target(
        &mut self,
        t: Option<usize>,
        name: &[u8],
    ) -> Option<String> {
        let p = self.p;
        let orig = self.inp.orig;
        // The scan depends only on the inputs: once per function.
        let sites = self
            .address_sites
            .entry((t, name.to_vec()))
            .or_insert_with(|| match orig {
                Some(orig) => match t.and_then(|t| orig.twin_of(t)) {
                    Some(o) => address_taking_sites(orig.elf, o),
                    None => address_taking_sites_named(orig.elf, name),
                },
                None => match t {
                    Some(t) => address_taking_sites(p, t),
                    None => address_taking_sites_named(p, name),
                },
            })
            .clone();
        if let Some(orig) = orig {
            return sites
                .first()
                .map(|&(s, off)| format!("{} in {}", orig.elf.locate(s, off), orig.elf.path));
        }
        for (s, off) in sites {
            let Some(owner) = p.symbol_containing(s, off) else {
                continue;
            };
            if self.changed.contains_key(&owner)
                || self.included_alias(owner).is_some()
                || self.new_syms.contains(&owner)
            {
                continue;
            }
            // An ambiguous twin is no evidence (and no reason to fail).
            if matches!(self.twin_name(owner), Ok(Some(_))) {
                return Some(format!("{} (unchanged, in the target)", p.locate(s, off)));
            }
        }
        None
    }

    /// Whether the target kernel seals ENDBRs (built with IBT): the first
    /// [`IBT_MARKERS`] symbol found in the target's symbols, and where.
    pub(super) fn target_seals(&mut self) -> Option<String> {
        if let Some(c) = &self.ibt {
            return c.clone();
        }
        let found = self
            .inp
            .target
            .objects
            .iter()
            .find_map(|o| {
                IBT_MARKERS
                    .iter()
                    .find(|m| o.contains(m.as_bytes()))
                    .map(|m| format!("{m} in {}", o.source))
                    .or_else(|| {
                        o.ibt_seal_section
                            .then(|| format!(".ibt_endbr_seal in {}", o.source))
                    })
            })
            // objtool writes the seal list into objects built for an IBT
            // kernel (the patched object itself, when it is a module's).
            .or_else(|| {
                self.p
                    .section_by_name(b".ibt_endbr_seal")
                    .map(|_| format!(".ibt_endbr_seal in {}", self.p.path))
            });
        self.explain.push(match &found {
            Some(m) => format!(
                "target kernel built with IBT ({m}): objtool's seal list may hold any function whose address the kernel never takes, so new pointers to functions left in the target need evidence that their address is taken"
            ),
            None => format!(
                "target kernel without IBT (none of {} in its symbols): nothing is sealed, pointers to unchanged functions of the target need no evidence",
                IBT_MARKERS.join(", ")
            ),
        });
        self.ibt = Some(found.clone());
        found
    }

    /// A non-branch reference (relocation `id`) to the start of function
    /// `name`, which stays in the target (patched symbol `t`, or None for
    /// an undefined symbol), unchanged by the patch: see the module
    /// comment. `exported`: the target exports it (never sealed).
    pub(super) fn pointer_to_kept_function(
        &mut self,
        id: usize,
        t: Option<usize>,
        name: &[u8],
        exported: bool,
        here: &str,
    ) -> Result<()> {
        let Some(ibt) = self.target_seals() else {
            return Ok(());
        };
        let p = self.p;
        let r = p.relocs[id];
        let fname = show(name);
        let usage = self.pointer_use(id);
        if exported {
            self.explain.push(format!(
                "  {here}: pointer to {fname} ({usage}): exported, so its __ksymtab entry takes its address and objtool never sealed it"
            ));
            return Ok(());
        }
        if let Some(at) = self.address_taken_in_target(t, name) {
            self.explain.push(format!(
                "  {here}: pointer to {fname} ({usage}): its address is already taken at {at}, so the kernel kept its ENDBR"
            ));
            return Ok(());
        }
        let local = t.is_some_and(|t| p.symbols[t].is_local());
        let checked = if self.inp.orig.is_some() {
            "the original object never takes its address"
        } else {
            "no unchanged code or data of the patched object takes its address (without --orig the old versions of the changed functions were not checked)"
        };
        let whom = if t.is_none() {
            "defined in another unit, whose references klpwrite cannot see"
        } else if local {
            "static"
        } else {
            "global, not exported"
        };
        Err(err_at(
            p,
            r.section,
            r.offset,
            ErrorKind::Refused,
            format!(
                "pointer to {fname} ({usage}), a function the patch leaves in the target ({whom}): the target kernel is built with IBT ({ibt}) and {checked}, so objtool may have put it on the seal list and the kernel overwrote its ENDBR at boot (apply_ibt_endbr(), apply_seal_endbr() from 6.5): an indirect call through this pointer would trap (#CP)"
            ),
        )
        .hint(if local {
            format!(
                "take the address of a new wrapper function that calls {fname}, or list {fname} as changed (with --orig the patch then points at its own copy)"
            )
        } else {
            format!("take the address of a new wrapper function that calls {fname} (the patch's own functions keep their ENDBR)")
        }))
    }
}
