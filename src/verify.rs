//! `verify`: check a livepatch object (or module) against invariants that
//! do not depend on how it was made.
//!
//! klpwrite runs this on every object it writes, on the bytes it is about
//! to rename into place, re-read by the ordinary loader. A finding there is
//! a klpwrite bug: nothing is written and the message says so. `klpwrite
//! verify` runs the same checks on any file, from any tool (kpatch's
//! `create-klp-module`, klp-build, a hand-made module).
//!
//! The checks only use the output itself and, when given, the patched and
//! original objects and the target's symbols. They recompute everything
//! they need (which input function an output function was copied from, the
//! input relocation behind each output relocation, the twins of the patched
//! symbols) instead of trusting a record that `extract` keeps, so a wrong
//! decision in `extract` cannot hide itself.
//!
//! Not covered yet: relocations of special sections (alternatives, jump
//! labels, exception tables, ORC, ...) and of `.altinstr_replacement`-like
//! auxiliary sections are checked structurally (types, sites, klp rules,
//! patched-function pointers) but not traced back to their input entries,
//! so [`INV_SAME_DEST`] only compares references made from copied
//! functions and objects.
//!
//! Each invariant has a short id (the `INV_*` constants) that appears in
//! every finding; the kernel code each one rests on is cited at the
//! constant. Kernel paths are linux 6.1 (see docs: kernel-abi.md).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::arch::x86_64 as x86;
use crate::correlate;
use crate::elf::consts::*;
use crate::elf::{Elf, Reloc, names};
use crate::error::{Error, ErrorKind, Result, show};
use crate::extract::{MAX_OBJNAME, MAX_SYMNAME};
use crate::symvers::Exports;
use crate::target::Target;

/// A section with `SHF_RELA_LIVEPATCH` must be `SHT_RELA` and `SHF_ALLOC`:
/// the livepatch core applies module-specific sections after load from the
/// section headers `copy_module_elf` (kernel/module/livepatch.c) saved, and
/// only `SHF_ALLOC` sections still have valid contents then
/// (`klp_apply_section_relocs`, kernel/livepatch/core.c).
pub const INV_KLP_RELA_FLAGS: &str = "klp-rela-flags";
/// `.klp.rela.<obj>.…` must parse with the kernel's `".klp.rela.%55[^.]"`
/// (`klp_apply_section_relocs`), else the load fails with -EINVAL.
pub const INV_KLP_RELA_NAME: &str = "klp-rela-name";
/// A relocation section must target an existing `SHF_ALLOC` section:
/// `apply_relocations` (kernel/module/main.c) silently skips it otherwise,
/// leaving zeros where addresses belong.
pub const INV_RELA_TARGET: &str = "rela-target";
/// Every relocation in a klp section is against an `SHN_LIVEPATCH` symbol
/// (`klp_resolve_symbols`: "symbol %s is not marked as a livepatch
/// symbol"), and a normal relocation section never references one (the
/// module loader's `simplify_symbols` leaves `SHN_LIVEPATCH` symbols at 0,
/// so the relocation would silently resolve to address 0).
pub const INV_KLP_SYMBOL_USE: &str = "klp-symbol-use";
/// `.klp.sym.<obj>.<name>,<pos>` must parse with the kernel's
/// `".klp.sym.%55[^.].%511[^,],%lu"` (`klp_resolve_symbols`), and a symbol
/// named like that must be `SHN_LIVEPATCH` (an undefined one makes
/// `simplify_symbols` fail with "Unknown symbol").
pub const INV_KLP_SYM_NAME: &str = "klp-sym-name";
/// A module-specific klp section never references a vmlinux klp symbol
/// (enforced by `klp_resolve_symbols`), and a vmlinux section never
/// references a module's symbol (accepted by the kernel, but resolved at
/// patch-module load with no reference on that module: kernel-abi.md 1.6).
pub const INV_KLP_CROSS_OBJECT: &str = "klp-cross-object";
/// Every klp symbol resolves in the target with a valid sympos, counted
/// the way `klp_find_object_symbol` (kernel/livepatch/core.c) counts:
/// kallsyms order for vmlinux, `.symtab` order for a module; position 0
/// means the name is unique, N means at least N symbols of that name.
pub const INV_SYMPOS: &str = "sympos";
/// No reference to init code or data, which is freed after boot (vmlinux:
/// `free_initmem`) or after the module's init (`do_free_init`,
/// kernel/module/main.c).
pub const INV_INIT: &str = "init-target";
/// A normal relocation against an undefined symbol must name an export
/// (Module.symvers): `simplify_symbols` → `resolve_symbol` fails with
/// "Unknown symbol" otherwise.
pub const INV_UNDEF_EXPORT: &str = "undefined-not-exported";
/// Only the relocation types x86-64 `apply_relocate_add`
/// (arch/x86/kernel/module.c) knows, and zero bytes at every site (it
/// refuses a non-zero site: "existing value is nonzero").
pub const INV_RELOC_SITE: &str = "reloc-type-and-site";
/// Every relocation of a copied function comes from a relocation of the
/// same type at the same place in the patched input, and none of the
/// input's relocations is lost (the site would stay zero).
pub const INV_PROVENANCE: &str = "reloc-provenance";
/// All references to one input object (any offset in `[start, end]`) bind
/// to the same destination: the same klp symbol, the same export, or the
/// same copy. Two destinations mean two copies of one piece of state, or
/// code that calls the old and the new version of one function.
///
/// Also: an offset that is both the end of one object `A` and the start
/// of the next, `B` (objects back to back in one section), binds where
/// both readings lead to the same address (both the kernel's and back to
/// back in the target, or both copied), unless the instruction proves `B`
/// (a call or jump, or an exact load or store with no base or index
/// register): `Elf::resolve_ref`'s tie rule, src/extract/closure.rs.
pub const INV_SAME_DEST: &str = "same-destination";
/// Nothing is both copied into the patch and referenced in the target: a
/// name defined in the output is not also a klp symbol or an undefined
/// reference for the same object.
pub const INV_COPIED_AND_REFERENCED: &str = "copied-and-referenced";
/// An object with a twin in the original build is referenced, not copied,
/// except the changed functions themselves (with their `.cold`/`.part`
/// children and `__pfx_` prefixes), callbacks, and the symbols that are
/// never correlated (`correlate::never_correlated`: string literals,
/// anonymous data, uncorrelated static locals, labels).
pub const INV_TWIN_COPIED: &str = "twin-copied";
/// Code that refers into a table of fixed-size entries (a 7.x WARN site's
/// `lea` of its own `__bug_table` entry, arch/x86/include/asm/bug.h
/// __WARN_bug_entry) refers to an entry of the output's own table whose
/// code field points back into the same function: the entry is the one
/// that describes this code, not another's.
pub const INV_OWN_ENTRY: &str = "own-entry";
/// With the original object: every klp relocation traced to an input
/// symbol `S` names `S`'s twin. If correlation paired `S` with `T`, the
/// klp symbol's name is `T`'s (the livepatch core binds
/// `.klp.sym.<obj>.<name>,<pos>` by that name alone: klp_resolve_symbols()
/// → klp_find_object_symbol() → klp_find_callback(), strcmp of kallsyms
/// names, kernel/livepatch/core.c), so a renumbered static bound by its
/// patched name reaches another object; if `S` has no twin it is new and
/// binds to nothing in the target (any klp symbol for it is someone
/// else's state). A reference to a patched function that reaches the
/// function's original on purpose is [`INV_PATCHED_FUNC_POINTER`]'s.
pub const INV_KLP_TWIN_NAME: &str = "klp-twin-name";
/// A non-branch reference (an address taken) to a patched function from
/// the patch binds to the new copy, or — the explained exception of
/// src/extract/fnptr.rs — to the very start of the original when the
/// inputs show its address is already taken in the target (so IBT did not
/// seal it, and other holders compare equal); ftrace redirects calls
/// through it (`klp_ftrace_handler`, kernel/livepatch/patch.c).
/// A pointer into the middle of the original, or from a special section,
/// is never right. Conversely a pointer to the new copy while the inputs
/// show the original's address taken in the target breaks identity: the
/// kernel holds the original's address, and a comparison with the copy's
/// fails (src/extract/fnptr.rs, rule 1).
pub const INV_PATCHED_FUNC_POINTER: &str = "patched-func-pointer";

/// Every function `.klpwrite.patch` lists as patched has its new version
/// defined here as a named `STT_FUNC` of non-zero size in code: the module
/// writes `klp_func.new_func` from it, and `klp_init_object_loaded`
/// (kernel/livepatch/core.c) looks its size up in the patch module's
/// kallsyms ("kallsyms size lookup failed"); the old name fits
/// `KSYM_NAME_LEN` (`klp_init_func`).
pub const INV_KLP_FUNC: &str = "patched-func-defined";

/// Every `jmp __x86_return_thunk` in loaded code has its `.return_sites`
/// entry, every entry points at one, and likewise for `.retpoline_sites`
/// when the object has that list: the module loader rewrites exactly the
/// listed sites for the selected mitigation (`apply_returns()`,
/// `apply_retpolines()`, arch/x86/kernel/alternative.c, from
/// `module_finalize()`). An unlisted return keeps the default thunk, which
/// on 6.12 WARNs "Unpatched return thunk in use" (`__warn_thunk()`,
/// arch/x86/kernel/cpu/bugs.c) and on 6.1 skips the mitigation; an entry
/// elsewhere WARNs "missing return thunk". objtool lists every site
/// (`add_return_call()`, `annotate_call_site()`, tools/objtool/check.c);
/// the rule is [`crate::objtool::check_sites`].
pub const INV_THUNK_SITES: &str = "thunk-sites";

/// Whether a pointer to the start of a patched function's original may
/// be written at all (src/extract/fnptr.rs: only with evidence that its
/// address is taken in the target, checked by `original_address_is_taken`).
/// false would make every such pointer a finding.
pub const POINTER_TO_ORIGINAL_IS_THE_RULE: bool = true;

/// One violated invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The invariant's id (an `INV_*` constant).
    pub invariant: &'static str,
    /// Section and offset (or symbol) in the checked file.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: [{}] {}", self.at, self.invariant, self.message)
    }
}

/// What `verify` found, and what it could check.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Violations, in check order.
    pub findings: Vec<Finding>,
    /// The checks that ran.
    pub ran: Vec<&'static str>,
    /// Checks skipped for want of an input, and other remarks.
    pub notes: Vec<String>,
    /// Output relocations traced back to their input relocation.
    pub traced: usize,
}

impl Report {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    fn find(&mut self, invariant: &'static str, at: String, message: String) {
        self.findings.push(Finding {
            invariant,
            at,
            message,
        });
    }

    fn ran(&mut self, inv: &'static str) {
        if !self.ran.contains(&inv) {
            self.ran.push(inv);
        }
    }
}

/// What besides the object itself `verify` may use.
#[derive(Default, Clone, Copy)]
pub struct Context<'a> {
    /// The patched object the output was extracted from.
    pub patched: Option<&'a Elf>,
    /// The original object (for twins).
    pub orig: Option<&'a Elf>,
    /// The pairing of orig and patched, when the caller has it (extract:
    /// the one correlation, with the user's `--pair` pins); otherwise
    /// `correlate::run` computes it.
    pub twins: Option<&'a correlate::Twins>,
    /// The target's symbols (for sympos and init).
    pub target: Option<&'a Target>,
    /// The target's exports (for undefined references).
    pub exports: Option<&'a Exports>,
    /// The object the output patches, when the file does not say
    /// (`.klpwrite.patch`) and its klp sections do not agree on one.
    pub objname: Option<&'a str>,
}

/// Parse `.klp.rela.<obj>…` like `sscanf(name, ".klp.rela.%55[^.]")`;
/// None when the kernel would refuse it or silently truncate the object
/// name (more than 55 characters).
pub fn parse_klp_rela_name(name: &[u8]) -> Option<&[u8]> {
    let rest = name.strip_prefix(b".klp.rela.")?;
    let end = rest.iter().position(|&b| b == b'.').unwrap_or(rest.len());
    let obj = &rest[..end];
    (!obj.is_empty() && obj.len() <= MAX_OBJNAME).then_some(obj)
}

/// Parse `.klp.sym.<obj>.<name>,<pos>` like the kernel's
/// `sscanf(".klp.sym.%55[^.].%511[^,],%lu")` with all three fields; None
/// when the kernel would refuse or truncate it.
pub fn parse_klp_sym_name(name: &[u8]) -> Option<(&[u8], &[u8], u64)> {
    let rest = name.strip_prefix(b".klp.sym.")?;
    let dot = rest.iter().position(|&b| b == b'.')?;
    let obj = &rest[..dot];
    let rest = &rest[dot + 1..];
    let comma = rest.iter().position(|&b| b == b',')?;
    let sym = &rest[..comma];
    let pos = std::str::from_utf8(&rest[comma + 1..]).ok()?;
    // %lu: decimal digits (a sign would be accepted by sscanf, but is never
    // meant); reject anything else so a typo cannot pass.
    if pos.is_empty() || !pos.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pos: u64 = pos.parse().ok()?;
    (!obj.is_empty() && obj.len() <= MAX_OBJNAME && !sym.is_empty() && sym.len() <= MAX_SYMNAME)
        .then_some((obj, sym, pos))
}

/// The finding for a name `parse_klp_rela_name` refuses.
const BAD_KLP_RELA_NAME: &str = "name does not parse as .klp.rela.<object 1-55 chars, no '.'>";

/// Whether a section is a special section (alternatives, jump labels, ...)
/// or an auxiliary one like `.altinstr_replacement`.
fn is_special_or_aux(name: &[u8]) -> bool {
    x86::special_for(name).is_some() || x86::AUX_SECTIONS.iter().any(|a| name == a.as_bytes())
}

/// A function or object the file defines under a name of its own (not a
/// section, file or local label).
fn is_named_definition(s: &crate::elf::Symbol) -> bool {
    s.section.is_some()
        && !s.name.is_empty()
        && (s.is_func() || s.is_object())
        && !names::is_local_label(&s.name)
}

/// Whether the module `out` patches a function named `name`: one of its
/// `klp_func` entries (module.rs writes them to `.data.klpwrite`) has the
/// old_name `name` and, in the next field, new_func = the module's own
/// function `name`. A module carries no patch metadata, so this is how its
/// self-check knows the deliberate exception of the copied-and-referenced
/// check: a changed function whose address the patch takes keeps pointing
/// at the original (klp relocation; ftrace sends calls through it to the
/// new one), while the module defines the new one for its klp_func. The
/// field order, old_name then new_func 8 bytes on, is struct klp_func's
/// (include/linux/livepatch.h) since 4.x.
fn module_patches(out: &Elf, name: &[u8]) -> bool {
    let Some(ds) = out.section_by_name(b".data.klpwrite") else {
        return false;
    };
    let relocs: Vec<&Reloc> = out.relocs_for(ds).collect();
    let string_at = |r: &Reloc| -> Option<&[u8]> {
        let t = &out.symbols[r.symbol];
        let sec = t.section?;
        let d = out.data(sec);
        let at = usize::try_from(t.value.checked_add_signed(r.addend)?).ok()?;
        let rest = d.get(at..)?;
        Some(&rest[..rest.iter().position(|&b| b == 0)?])
    };
    relocs.iter().any(|nf| {
        let f = &out.symbols[nf.symbol];
        f.is_func()
            && f.section.is_some()
            && f.name == name
            && relocs.iter().any(|on| {
                on.offset.checked_add(8) == Some(nf.offset) && string_at(on) == Some(name)
            })
    })
}

/// Whether symbol `d` of `out` is the module's own `struct module`: every
/// module defines `__this_module` in `.gnu.linkonce.this_module` (modpost's
/// `<mod>.mod.c`; the loader finds it there, kernel/module/main.c
/// setup_load_info()), and a livepatch module is no exception. A patched
/// function of a target module that uses `THIS_MODULE` (`&__this_module`,
/// include/linux/init.h) means the target's, which stays a klp relocation to
/// `.klp.sym.<target>.__this_module,0` (the target's symbol: an SHF_ALLOC
/// section, in its kallsyms with CONFIG_KALLSYMS_ALL, kernel/module/kallsyms.c
/// is_core_symbol()). The two share a name but are different objects, not a
/// copy of the target's and a reference to it.
fn is_own_struct_module(out: &Elf, d: usize) -> bool {
    let sym = &out.symbols[d];
    sym.name == b"__this_module"
        && sym
            .section
            .is_some_and(|s| out.sections[s].name == b".gnu.linkonce.this_module")
}

/// The relocations of `sec` whose site is in `[start, start + size)`.
/// What relocation `r` of `elf` refers to, comparable across objects:
/// (name, offset into it). A named symbol by its name (a klp symbol by the
/// name it binds), a section-relative reference by the named symbol that
/// covers it, a string of a merged-strings section by its text, anything
/// else by its section's name. PC-relative types count the 4 bytes to the
/// end of the field (`lea x(%rip)`), which is what an addend of -4 says;
/// both objects are read the same way, so a guess that is off only makes
/// their meanings differ.
fn reloc_meaning(elf: &Elf, r: &Reloc) -> (Vec<u8>, i64) {
    let pc = if matches!(r.r_type, x86::R_X86_64_PC32 | x86::R_X86_64_PLT32) {
        4
    } else {
        0
    };
    let inner = r.addend.wrapping_add(pc);
    let Some(s) = elf.symbols.get(r.symbol) else {
        return (Vec::new(), inner);
    };
    if s.is_livepatch()
        && let Some((_, name, _)) = parse_klp_sym_name(&s.name)
    {
        return (name.to_vec(), inner);
    }
    let anon = s.is_section() || s.name.is_empty() || names::is_local_label(&s.name);
    if !anon || s.is_undef() {
        return (s.name.clone(), inner);
    }
    let Some(sec) = s.section else {
        return (Vec::new(), inner);
    };
    let off = (s.value as i64).wrapping_add(inner);
    let Ok(uoff) = u64::try_from(off) else {
        return (elf.sections[sec].name.clone(), off);
    };
    if elf.sections[sec].is_strings()
        && let Some(rest) = usize::try_from(uoff)
            .ok()
            .and_then(|o| elf.data(sec).get(o..))
    {
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        return (rest[..end].to_vec(), 0);
    }
    match elf.resolve_ref(sec, uoff) {
        Some(c) if !elf.symbols[c.sym].name.is_empty() => {
            let cs = &elf.symbols[c.sym];
            (cs.name.clone(), off.wrapping_sub(cs.value as i64))
        }
        _ => (elf.sections[sec].name.clone(), off),
    }
}

fn relocs_within(elf: &Elf, sec: usize, start: u64, size: u64) -> impl Iterator<Item = &Reloc> {
    elf.relocs_for(sec)
        .filter(move |r| r.offset >= start && r.offset - start < size)
}

/// Run every check that the context allows.
pub fn verify(out: &Elf, ctx: &Context<'_>) -> Report {
    let mut v = V {
        out,
        ctx,
        rep: Report::default(),
        meta: None,
        traced_klp: Vec::new(),
    };
    match crate::extract::read_patch_meta(out) {
        Ok(m) => v.meta = Some(m),
        Err(e) if out.section_by_name(crate::extract::META_SECTION).is_some() => {
            v.find(
                INV_KLP_SYM_NAME,
                show(crate::extract::META_SECTION),
                format!("unreadable metadata: {e}"),
            );
        }
        Err(_) => v
            .rep
            .notes
            .push("no .klpwrite.patch: patched-function checks use the klp sections only".into()),
    }
    v.structure();
    v.patched_funcs_defined();
    v.sympos();
    v.copied_and_referenced();
    v.one_position_per_name();
    v.patched_func_pointers();
    v.own_entries();
    v.thunk_sites();
    if let Some(p) = ctx.patched {
        v.provenance(p);
        v.ties(p);
        if let Some(o) = ctx.orig {
            v.twins(p, o);
        } else {
            v.rep.notes.push(format!(
                "{INV_TWIN_COPIED}, {INV_KLP_TWIN_NAME}: skipped (no original object)"
            ));
        }
    } else {
        v.rep.notes.push(format!(
            "{INV_PROVENANCE}, {INV_SAME_DEST}, {INV_TWIN_COPIED}: skipped (no patched object)"
        ));
    }
    v.rep
}

/// Turn findings into the refusal klpwrite gives instead of writing `file`.
pub fn bug_report(file: &str, rep: &Report) -> Error {
    let mut msg = format!(
        "self-check of the output failed, nothing written ({} problem(s)):",
        rep.findings.len()
    );
    for f in rep.findings.iter().take(20) {
        msg.push_str(&format!("\n  {f}"));
    }
    if rep.findings.len() > 20 {
        msg.push_str(&format!("\n  ... and {} more", rep.findings.len() - 20));
    }
    Error::new(ErrorKind::Refused, msg)
        .in_file(file)
        .hint("this is a klpwrite bug, please report it with the command line, the input objects, the symbol sources and Module.symvers (`klpwrite verify` on a kept copy shows the same findings)")
}

/// Re-read `bytes` (about to become `file`) and verify them; the refusal
/// when anything is wrong.
pub fn self_check(file: &str, bytes: &[u8], ctx: &Context<'_>) -> Result<Report> {
    let elf = crate::elf::load::load(file, bytes.to_vec(), crate::elf::load::Expect::Any)
        .map_err(|e| {
            Error::new(
                ErrorKind::Refused,
                format!("self-check: the output does not read back: {e}"),
            )
            .in_file(file)
            .hint("this is a klpwrite bug, please report it with the command line and the input objects")
        })?;
    let rep = verify(&elf, ctx);
    if rep.is_clean() {
        Ok(rep)
    } else {
        Err(bug_report(file, &rep))
    }
}

/// Check an input that should be a livepatch object (an extract output
/// given to `module` or `kbuild`) with the checks that need nothing else;
/// a finding is the input's fault, said so, and `klpwrite verify` shows it.
pub fn check_input(elf: &Elf) -> Result<()> {
    let rep = verify(elf, &Context::default());
    if rep.is_clean() {
        return Ok(());
    }
    let mut msg = format!(
        "not a valid livepatch object ({} problem(s)):",
        rep.findings.len()
    );
    for f in rep.findings.iter().take(20) {
        msg.push_str(&format!("\n  {f}"));
    }
    Err(Error::new(ErrorKind::Klp, msg)
        .in_file(&elf.path)
        .hint("`klpwrite verify` lists every problem; an output of `klpwrite extract` never has them (if this one is, report it)"))
}

struct V<'a> {
    out: &'a Elf,
    ctx: &'a Context<'a>,
    rep: Report,
    meta: Option<crate::extract::PatchMeta>,
    /// Klp relocations traced by [`INV_PROVENANCE`] to a named input
    /// symbol: (patched symbol, klp symbol name, place), for
    /// [`INV_KLP_TWIN_NAME`].
    traced_klp: Vec<(usize, Vec<u8>, String)>,
}

/// Where a reference goes, in the output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum OutDest {
    Klp(Vec<u8>),
    Export(Vec<u8>),
    Copy(Vec<u8>),
    CopyAnon(Vec<u8>),
}

impl std::fmt::Display for OutDest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutDest::Klp(n) => write!(f, "klp symbol {}", show(n)),
            OutDest::Export(n) => write!(f, "export {}", show(n)),
            OutDest::Copy(n) => write!(f, "the copy {}", show(n)),
            OutDest::CopyAnon(n) => write!(f, "copied data in {}", show(n)),
        }
    }
}

/// What a reference points at, in the patched input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum InDest {
    Sym(usize),
    Undef(usize),
    Anon(usize, u64),
}

impl<'a> V<'a> {
    fn find(&mut self, inv: &'static str, at: String, message: String) {
        self.rep.find(inv, at, message);
    }

    fn ran(&mut self, inv: &'static str) {
        self.rep.ran(inv);
    }

    /// PC-relative adjustment and whether the site is a branch.
    fn insn_facts(&mut self, elf: &Elf, r: &Reloc) -> (i64, bool) {
        if !elf.sections[r.section].is_exec() {
            return (0, false);
        }
        let insn = elf.code_map(r.section).insn_at(r.offset);
        (
            x86::addend_adjustment(r.r_type, r.offset, insn),
            insn.is_some_and(|i| i.is_call || i.is_jump),
        )
    }

    fn here(&self, r: &Reloc) -> String {
        format!(
            "{}+{:#x} ({})",
            self.out.sections[r.section].display_name(),
            r.offset,
            self.out.locate(r.section, r.offset)
        )
    }

    /// The object the klp symbols of this output are for: the metadata's,
    /// the context's, or the single object all klp sections name.
    fn objname(&self) -> Option<Vec<u8>> {
        if let Some(m) = &self.meta {
            return Some(m.objname.clone().into_bytes());
        }
        if let Some(o) = self.ctx.objname {
            return Some(o.as_bytes().to_vec());
        }
        let objs: BTreeSet<&[u8]> = self
            .out
            .sections
            .iter()
            .filter(|s| s.sh_flags & SHF_RELA_LIVEPATCH != 0)
            .filter_map(|s| parse_klp_rela_name(&s.name))
            .collect();
        (objs.len() == 1).then(|| objs.into_iter().next().unwrap().to_vec())
    }

    // ------------------------------------------------------------------
    // Structure
    // ------------------------------------------------------------------

    fn structure(&mut self) {
        for inv in [
            INV_KLP_RELA_FLAGS,
            INV_KLP_RELA_NAME,
            INV_RELA_TARGET,
            INV_KLP_SYMBOL_USE,
            INV_KLP_SYM_NAME,
            INV_KLP_CROSS_OBJECT,
            INV_RELOC_SITE,
        ] {
            self.ran(inv);
        }
        let out = self.out;
        let nsec = out.sections.len();
        for s in &out.sections {
            let klp = s.sh_flags & SHF_RELA_LIVEPATCH != 0;
            let sname = s.display_name();
            if klp {
                if s.sh_type != SHT_RELA {
                    self.find(
                        INV_KLP_RELA_FLAGS,
                        sname.clone(),
                        format!(
                            "SHF_RELA_LIVEPATCH on a section of type {} (must be SHT_RELA)",
                            s.sh_type
                        ),
                    );
                }
                if !s.is_alloc() {
                    self.find(
                        INV_KLP_RELA_FLAGS,
                        sname.clone(),
                        format!(
                            "flags {:#x} lack SHF_ALLOC: the livepatch core would read it from freed memory",
                            s.sh_flags
                        ),
                    );
                }
                if parse_klp_rela_name(&s.name).is_none() {
                    self.find(INV_KLP_RELA_NAME, sname.clone(), BAD_KLP_RELA_NAME.into());
                }
            } else if s.name.starts_with(b".klp.rela.") {
                self.find(
                    INV_KLP_RELA_FLAGS,
                    sname.clone(),
                    "named like a klp relocation section but lacks SHF_RELA_LIVEPATCH".into(),
                );
            }
            if !s.is_rela() {
                continue;
            }
            let tsec = s.sh_info as usize;
            if tsec == 0 || tsec >= nsec || !out.sections[tsec].is_alloc() {
                // Debug sections of an object have non-ALLOC targets; only
                // a klp section or a relocation of loaded code matters.
                if klp || tsec == 0 || tsec >= nsec {
                    self.find(
                        INV_RELA_TARGET,
                        sname.clone(),
                        format!(
                            "sh_info {tsec} is not an allocated section: the module loader skips this relocation section"
                        ),
                    );
                }
                continue;
            }
            let sec_obj = parse_klp_rela_name(&s.name).map(<[u8]>::to_vec);
            for r in out.relocs_of_rsec(s.index).to_vec() {
                self.reloc_structure(&r, klp, sec_obj.as_deref());
            }
        }
        for sym in &out.symbols {
            let named_klp = sym.name.starts_with(b".klp.sym.");
            if sym.is_livepatch() && parse_klp_sym_name(&sym.name).is_none() {
                self.find(
                    INV_KLP_SYM_NAME,
                    format!("symbol {}", sym.display_name()),
                    "SHN_LIVEPATCH symbol whose name does not parse as .klp.sym.<obj>.<name>,<pos>"
                        .into(),
                );
            } else if named_klp && !sym.is_livepatch() {
                self.find(
                    INV_KLP_SYM_NAME,
                    format!("symbol {}", sym.display_name()),
                    format!(
                        "named like a klp symbol but st_shndx is {:#x}, not SHN_LIVEPATCH",
                        sym.st_shndx
                    ),
                );
            }
        }
    }

    fn reloc_structure(&mut self, r: &Reloc, klp: bool, sec_obj: Option<&[u8]>) {
        let out = self.out;
        let sym = &out.symbols[r.symbol];
        let here = self.here(r);
        if !x86::reloc_allowed_in_module(r.r_type) {
            self.find(
                INV_RELOC_SITE,
                here.clone(),
                format!(
                    "{} is not applied by the module loader",
                    x86::reloc_name(r.r_type)
                ),
            );
        } else if let Some(w) = x86::reloc_width(r.r_type) {
            let t = &out.sections[r.section];
            if !t.is_nobits() {
                let data = out.data(r.section);
                let site = usize::try_from(r.offset)
                    .ok()
                    .and_then(|o| data.get(o..o.checked_add(w as usize)?));
                match site {
                    None => self.find(
                        INV_RELOC_SITE,
                        here.clone(),
                        "relocation site outside its section".into(),
                    ),
                    Some(b) if b.iter().any(|&x| x != 0) => self.find(
                        INV_RELOC_SITE,
                        here.clone(),
                        format!(
                            "non-zero bytes {b:02x?} at the site of {}: apply_relocate_add refuses them",
                            x86::reloc_name(r.r_type)
                        ),
                    ),
                    _ => {}
                }
            }
        }
        if klp {
            if !sym.is_livepatch() {
                self.find(
                    INV_KLP_SYMBOL_USE,
                    here,
                    format!(
                        "klp relocation against {}, which is not an SHN_LIVEPATCH symbol",
                        sym.display_name()
                    ),
                );
                return;
            }
            let (Some(sobj), Some(secobj)) = (parse_klp_sym_name(&sym.name), sec_obj) else {
                return;
            };
            let sobj = sobj.0;
            if secobj != b"vmlinux" && sobj == b"vmlinux" {
                self.find(
                    INV_KLP_CROSS_OBJECT,
                    here,
                    format!(
                        "module-specific section references vmlinux symbol {} (the kernel refuses it)",
                        sym.display_name()
                    ),
                );
            } else if secobj == b"vmlinux" && sobj != b"vmlinux" {
                self.find(
                    INV_KLP_CROSS_OBJECT,
                    here,
                    format!(
                        "vmlinux section references module symbol {}: resolved at patch load without a reference on the module",
                        sym.display_name()
                    ),
                );
            }
        } else if sym.is_livepatch() && r.r_type != x86::R_X86_64_NONE {
            // An R_X86_64_NONE writes nothing (apply_relocate_add:
            // "nothing to write"); klp-build's post-link leaves the
            // relocations of its .klp.tombstone.* symbols so.
            self.find(
                INV_KLP_SYMBOL_USE,
                here,
                format!(
                    "normal relocation against klp symbol {}: the module loader resolves it to 0",
                    sym.display_name()
                ),
            );
        } else if sym.is_undef()
            && r.symbol != 0
            && let Some(e) = self.ctx.exports
        {
            self.ran(INV_UNDEF_EXPORT);
            // A `needs` name is new code of another object of the same
            // patch (`--patch-symbols`): `module` links it inside the
            // module and refuses when no input defines it.
            let needed = self
                .meta
                .as_ref()
                .is_some_and(|m| m.needs.iter().any(|n| n.as_bytes() == &sym.name[..]));
            if !needed && e.get(&show(&sym.name)).is_none() {
                self.find(
                    INV_UNDEF_EXPORT,
                    here,
                    format!(
                        "undefined {} is neither exported (Module.symvers) nor a klp symbol",
                        sym.display_name()
                    ),
                );
            }
        }
    }

    fn thunk_sites(&mut self) {
        self.ran(INV_THUNK_SITES);
        let out = self.out;
        let c = crate::objtool::check_sites(out);
        for &(sec, off) in &c.missing_rets {
            self.find(
                INV_THUNK_SITES,
                out.locate(sec, off),
                "jmp __x86_return_thunk that .return_sites does not list: apply_returns() never rewrites it (6.12: the first return through it WARNs \"Unpatched return thunk in use\"; 6.1: it skips the return mitigation)".into(),
            );
        }
        for &(sec, off) in &c.missing_rps {
            self.find(
                INV_THUNK_SITES,
                out.locate(sec, off),
                "call or jump to an __x86_indirect_* thunk that .retpoline_sites does not list: apply_retpolines() never rewrites it".into(),
            );
        }
        for s in &c.stray {
            self.find(
                INV_THUNK_SITES,
                format!("{}+{:#x}", s.list, s.entry),
                format!("{}: the module loader WARNs about this entry", s.why),
            );
        }
    }

    fn patched_funcs_defined(&mut self) {
        let Some(m) = self.meta.clone() else { return };
        self.ran(INV_KLP_FUNC);
        let out = self.out;
        // One old function, one klp_func: a second one for the same (name,
        // sympos) shares the first's ftrace ops (klp_find_ops() in
        // kernel/livepatch/patch.c) and only the one on top of its
        // func_stack runs (klp_ftrace_handler), so one new version is dead
        // code and its twin's callers run the other's. Sympos 0 and 1 are
        // one function: 0 resolves only a unique name, which 1 resolves too
        // (klp_find_object_symbol() in kernel/livepatch/core.c accepts
        // `sympos == count` for any count).
        let mut seen: std::collections::HashMap<(&str, u64), &str> = Default::default();
        for (new, old, pos) in &m.funcs {
            if let Some(first) = seen.insert((old.as_str(), (*pos).max(1)), new.as_str()) {
                self.find(
                    INV_KLP_FUNC,
                    show(crate::extract::META_SECTION),
                    format!("patched function {old} (sympos {pos}) has two new versions, {first} and {new}"),
                );
            }
        }
        for (new, old, _) in &m.funcs {
            let ok = crate::extract::patched_func_symbol(out, new).map(|i| {
                let s = &out.symbols[i];
                s.is_func() && s.size > 0 && s.section.is_some_and(|x| out.sections[x].is_exec())
            });
            match ok {
                Ok(true) => {}
                // Several functions of that name and no `#K`: which one
                // the klp_func gets would be a guess.
                Err(e @ crate::extract::FuncRefError::Several(_)) => self.find(
                    INV_KLP_FUNC,
                    show(crate::extract::META_SECTION),
                    format!("patched function {old}: {}", e.message(new)),
                ),
                _ => self.find(
                    INV_KLP_FUNC,
                    show(crate::extract::META_SECTION),
                    format!("patched function {old}: its new version {new} is not a function defined in code here"),
                ),
            }
            if old.is_empty() || old.len() > MAX_SYMNAME {
                self.find(
                    INV_KLP_FUNC,
                    show(crate::extract::META_SECTION),
                    format!("patched function name {old:?} is not 1 to 511 characters"),
                );
            }
        }
    }

    // ------------------------------------------------------------------
    // Target symbols
    // ------------------------------------------------------------------

    fn sympos(&mut self) {
        let Some(target) = self.ctx.target else {
            self.rep
                .notes
                .push(format!("{INV_SYMPOS}: skipped (no target symbols)"));
            return;
        };
        let out = self.out;
        let mut used: BTreeMap<Vec<u8>, String> = BTreeMap::new();
        for s in &out.sections {
            if s.sh_flags & SHF_RELA_LIVEPATCH == 0 {
                continue;
            }
            for r in out.relocs_of_rsec(s.index) {
                let sym = &out.symbols[r.symbol];
                if sym.is_livepatch() {
                    used.entry(sym.name.clone()).or_insert_with(|| self.here(r));
                }
            }
        }
        // The patched functions' own positions (klp_func.old_sympos) follow
        // the same rules.
        if let Some(m) = &self.meta {
            for (_, old, pos) in &m.funcs {
                used.entry(format!(".klp.sym.{}.{old},{pos}", m.objname).into_bytes())
                    .or_insert_with(|| {
                        format!("{} (patched function)", show(crate::extract::META_SECTION))
                    });
            }
        }
        check_target_symbols(&used, target, &mut self.rep);
    }

    // ------------------------------------------------------------------
    // Copied and referenced
    // ------------------------------------------------------------------

    /// Names defined in the output that the patch owns (functions and
    /// objects, not sections, files or labels).
    fn defined_names(&self) -> HashMap<Vec<u8>, usize> {
        self.out
            .symbols
            .iter()
            .filter(|s| is_named_definition(s))
            .map(|s| (s.name.clone(), s.index))
            .collect()
    }

    /// Whether `old,pos` is a function this output patches.
    fn patched_original(&self, obj: &[u8], old: &[u8], pos: u64) -> Option<String> {
        let m = self.meta.as_ref()?;
        if m.objname.as_bytes() != obj {
            return None;
        }
        m.funcs
            .iter()
            .find(|(_, o, p)| o.as_bytes() == old && *p == pos)
            .map(|(n, _, _)| crate::extract::patched_func_name(n).to_string())
    }

    fn own_entries(&mut self) {
        use crate::arch::x86_64::{Role, Treatment};
        let out = self.out;
        let mut layouts: HashMap<usize, Option<&'static x86::Layout>> = HashMap::new();
        let mut ran = false;
        for r in &out.relocs {
            if !out.sections[r.section].is_exec() {
                continue;
            }
            let ts = &out.symbols[r.symbol];
            let Some(tsec) = ts.section else { continue };
            let Some(spec) = x86::special_for(&out.sections[tsec].name) else {
                continue;
            };
            let Treatment::Entries(rows) = spec.treatment else {
                continue;
            };
            let relocs = out.sorted_relocs(tsec);
            let layout = *layouts.entry(tsec).or_insert_with(|| {
                crate::special::detect_layout(out, tsec, rows, relocs, &Default::default()).ok()
            });
            let here = self.here(r);
            let Some(layout) = layout else {
                self.rep.notes.push(format!(
                    "{INV_OWN_ENTRY}: {here}: entries of {} not recognised, not checked",
                    out.sections[tsec].display_name()
                ));
                continue;
            };
            ran = true;
            let (adj, _) = self.insn_facts(out, r);
            let Some(off) = crate::elf::uoffset_of(ts.value, r.addend, adj) else {
                continue;
            };
            let start = off - off % layout.size;
            let code = layout
                .fields
                .iter()
                .find(|f| matches!(f.role, Role::Code | Role::CodeOrEnd))
                .and_then(|f| {
                    relocs
                        .iter()
                        .find(|&&i| out.relocs[i].offset == start + f.offset)
                });
            let back = code.and_then(|&i| {
                let cr = &out.relocs[i];
                let cs = &out.symbols[cr.symbol];
                let csec = cs.section?;
                let coff = crate::elf::uoffset_of(cs.value, cr.addend, 0)?;
                Some((csec, coff))
            });
            let func = |sec: usize, o: u64| {
                out.symbols.iter().position(|s| {
                    s.is_func() && s.section == Some(sec) && o >= s.value && o <= s.value + s.size
                })
            };
            let ok = match back {
                Some((csec, coff)) => {
                    csec == r.section
                        && func(csec, coff).is_some()
                        && func(csec, coff) == func(r.section, r.offset)
                }
                None => false,
            };
            if !ok {
                self.find(
                    INV_OWN_ENTRY,
                    here,
                    format!(
                        "refers to {} entry +{start:#x}, which describes {}",
                        out.sections[tsec].display_name(),
                        match back {
                            Some((s, o)) => out.locate(s, o),
                            None => "no code".into(),
                        }
                    ),
                );
            }
        }
        if ran {
            self.ran(INV_OWN_ENTRY);
        }
    }

    fn copied_and_referenced(&mut self) {
        let Some(obj) = self.objname() else {
            self.rep.notes.push(format!(
                "{INV_COPIED_AND_REFERENCED}: skipped (no single target object)"
            ));
            return;
        };
        self.ran(INV_COPIED_AND_REFERENCED);
        let defined = self.defined_names();
        let out = self.out;
        let mut seen = HashSet::new();
        for r in &out.relocs {
            let sym = &out.symbols[r.symbol];
            let name: &[u8] = if sym.is_livepatch() {
                match parse_klp_sym_name(&sym.name) {
                    Some((o, n, pos)) if o == obj.as_slice() => {
                        // The deliberate exception: the start of a patched
                        // function's original (checked on its own below).
                        if self.patched_original(o, n, pos).is_some()
                            || (self.meta.is_none() && module_patches(out, n))
                        {
                            continue;
                        }
                        n
                    }
                    _ => continue,
                }
            } else if sym.is_undef() && r.symbol != 0 {
                &sym.name
            } else {
                continue;
            };
            // A numbered function-scope static name (`count.12`) may stand
            // for two objects: a new static of the patch and another,
            // renumbered one the target has under the same name. Whether
            // one *input* object is both copied and referenced is
            // [`INV_SAME_DEST`]'s traced check; by name only names without
            // a compiler-added `.N` are one object of the unit.
            if let Some(&d) = defined.get(name)
                && !(out.symbols[d].is_local() && names::demangle(name) != name)
                && !is_own_struct_module(out, d)
                && seen.insert(name.to_vec())
            {
                let here = self.here(r);
                self.find(
                    INV_COPIED_AND_REFERENCED,
                    here,
                    format!(
                        "{} is defined in the patch ({}) and also referenced in the target as {}",
                        show(name),
                        out.locate(out.symbols[d].section.unwrap_or(0), out.symbols[d].value),
                        sym.display_name()
                    ),
                );
            }
        }
    }

    /// Within one translation unit a name means one symbol, so every klp
    /// symbol for one object and name carries the same position: two
    /// positions are two different target symbols for what the unit sees
    /// as one ([`INV_SAME_DEST`] at the name level; unlike the traced check
    /// it also covers special sections). Outputs made from several units
    /// (more than one STT_FILE) are not checked.
    fn one_position_per_name(&mut self) {
        let out = self.out;
        if out.symbols.iter().filter(|s| s.is_file()).count() > 1 {
            return;
        }
        self.ran(INV_SAME_DEST);
        let mut pos: BTreeMap<(Vec<u8>, Vec<u8>), BTreeSet<u64>> = BTreeMap::new();
        for s in &out.symbols {
            if let Some((o, n, p)) = s
                .is_livepatch()
                .then(|| parse_klp_sym_name(&s.name))
                .flatten()
            {
                pos.entry((o.to_vec(), n.to_vec())).or_default().insert(p);
            }
        }
        for ((o, n), ps) in pos {
            if ps.len() > 1 {
                let list: Vec<String> = ps.iter().map(u64::to_string).collect();
                self.find(
                    INV_SAME_DEST,
                    format!("symbol .klp.sym.{}.{}", show(&o), show(&n)),
                    format!(
                        "one name of the unit, several target symbols: positions {}",
                        list.join(", ")
                    ),
                );
            }
        }
    }

    // ------------------------------------------------------------------
    // Pointers to patched functions
    // ------------------------------------------------------------------

    /// Whether a reference to the original of a patched function is the
    /// deliberate exception: an address taken (not a branch), of the very
    /// start, from ordinary code or data (not a special section).
    fn pointer_exception(&mut self, r: &Reloc) -> std::result::Result<(), String> {
        let out = self.out;
        let sec = &out.sections[r.section];
        let (adj, branch) = self.insn_facts(out, r);
        let off = r.addend as i128 + adj as i128;
        if branch {
            // A call or jump to the entry of the original goes through ftrace
            // to the new code; anywhere else it runs the old body.
            return if off == 0 {
                Ok(())
            } else {
                Err(format!(
                    "a branch into the original of a patched function at {off:+#x}: ftrace only redirects its entry"
                ))
            };
        }
        if off != 0 {
            return Err(format!(
                "a pointer into the original of a patched function at {off:+#x}: ftrace only redirects its entry"
            ));
        }
        if is_special_or_aux(&sec.name) {
            return Err(format!(
                "{} entry refers to the original of a patched function instead of the new code",
                sec.display_name()
            ));
        }
        if !POINTER_TO_ORIGINAL_IS_THE_RULE {
            return Err(
                "an address taken of a patched function binds to the original, not the new copy"
                    .into(),
            );
        }
        self.original_address_is_taken(r)
    }

    /// The explained exception to "pointers bind to the new copy"
    /// (src/extract/fnptr.rs): the original may be the pointer's target
    /// only when its address is already taken in the target, so the
    /// kernel keeps its ENDBR (objtool seals only functions whose address
    /// is never taken: `create_ibt_endbr_seal_sections()`, applied by
    /// `apply_ibt_endbr()` in arch/x86/kernel/alternative.c, named
    /// `apply_seal_endbr()` from 6.5) and other
    /// holders of that address compare equal. Recomputed here from the
    /// inputs: an address-taking site of the function in the original
    /// object, or, without it, in code or data of the patched object that
    /// the output did not copy.
    fn original_address_is_taken(&mut self, r: &Reloc) -> std::result::Result<(), String> {
        let out = self.out;
        let Some((_, name, _)) = parse_klp_sym_name(&out.symbols[r.symbol].name) else {
            return Ok(());
        };
        match self.address_taken_in_target(name, name) {
            Some(false) => Err("an address taken of a patched function binds to the original, but nothing in the inputs takes the original's address (IBT may have sealed it): it must bind to the new copy".into()),
            _ => Ok(()),
        }
    }

    /// Whether the inputs show the address of a patched function taken in
    /// the target: in the original object (named `old` there), or, without
    /// it, in code or data of the patched object (named `new`) that this
    /// output did not copy. None when there is nothing to recompute it from.
    fn address_taken_in_target(&self, old: &[u8], new: &[u8]) -> Option<bool> {
        let out = self.out;
        let taking = |elf: &Elf, name: &[u8], skip: &dyn Fn(usize) -> bool| -> bool {
            elf.symbols_named(name).iter().any(|&f| {
                elf.symbols[f].is_func()
                    && crate::extract::fnptr::address_taking_sites(elf, f)
                        .into_iter()
                        .any(|(s, off)| !elf.symbol_containing(s, off).is_some_and(skip))
            })
        };
        if let Some(o) = self.ctx.orig {
            Some(taking(o, old, &|_| false))
        } else if let Some(p) = self.ctx.patched {
            let copied: HashSet<&[u8]> = out
                .symbols
                .iter()
                .filter(|s| s.section.is_some() && !s.name.is_empty())
                .map(|s| &s.name[..])
                .collect();
            Some(taking(p, new, &|owner| {
                copied.contains(&p.symbols[owner].name[..])
            }))
        } else {
            None
        }
    }

    /// Pointers to the new copy of a patched function (non-branch, offset 0,
    /// from copied code or data, not a special section) while the inputs
    /// show the original's address taken in the target: the kernel holds
    /// the original's address, the patch compares or hands out another one.
    fn copy_pointers_break_identity(&mut self) {
        let (Some(m), Some(p)) = (self.meta.as_ref(), self.ctx.patched) else {
            return;
        };
        let out = self.out;
        let funcs: HashMap<Vec<u8>, Vec<u8>> = m
            .funcs
            .iter()
            .map(|(n, o, _)| {
                (
                    crate::extract::patched_func_name(n).as_bytes().to_vec(),
                    o.clone().into_bytes(),
                )
            })
            .collect();
        let mut found = Vec::new();
        for r in &out.relocs {
            let rs = &out.sections[r.rsec];
            if rs.is_klp_rela() || !crate::extract::fnptr::counts_for_ibt(out, r.section) {
                continue;
            }
            let sec = &out.sections[r.section];
            if is_special_or_aux(&sec.name) {
                continue;
            }
            // Only references made by copied code or data (a module's own
            // tables, klp_func.new_func, are not pointers of the patch).
            let Some(owner) = out.symbol_containing(r.section, r.offset) else {
                continue;
            };
            if p.symbols_named(&out.symbols[owner].name).is_empty() {
                continue;
            }
            let s = &out.symbols[r.symbol];
            let Some(tsec) = s.section else { continue };
            let (adj, branch) = self.insn_facts(out, r);
            if branch {
                continue;
            }
            let Some(off) = crate::elf::uoffset_of(s.value, r.addend, adj) else {
                continue;
            };
            let t = if s.is_section() {
                match out.symbol_containing(tsec, off) {
                    Some(t) if out.symbols[t].value == off => t,
                    _ => continue,
                }
            } else if off == s.value {
                r.symbol
            } else {
                continue;
            };
            let ts = &out.symbols[t];
            if !ts.is_func() {
                continue;
            }
            let Some(old) = funcs.get(&ts.name) else {
                continue;
            };
            if self.address_taken_in_target(old, &ts.name) == Some(true) {
                found.push((self.here(r), ts.display_name()));
            }
        }
        for (here, name) in found {
            self.find(
                INV_PATCHED_FUNC_POINTER,
                here,
                format!(
                    "a pointer binds to the new copy {name}, but the inputs show the original's address taken in the target: the kernel holds the original's address, so identity is broken (a comparison with it fails); it must bind to the start of the original"
                ),
            );
        }
    }

    fn patched_func_pointers(&mut self) {
        if self.meta.is_none() {
            return;
        }
        self.ran(INV_PATCHED_FUNC_POINTER);
        let out = self.out;
        for r in &out.relocs {
            let sym = &out.symbols[r.symbol];
            if !sym.is_livepatch() {
                continue;
            }
            let Some((o, n, pos)) = parse_klp_sym_name(&sym.name) else {
                continue;
            };
            let Some(new) = self.patched_original(o, n, pos) else {
                continue;
            };
            if let Err(why) = self.pointer_exception(r) {
                let here = self.here(r);
                self.find(
                    INV_PATCHED_FUNC_POINTER,
                    here,
                    format!("{why}; {} has the new copy {new}", sym.display_name()),
                );
            }
        }
        self.copy_pointers_break_identity();
    }

    // ------------------------------------------------------------------
    // Ties: the end of one object is the start of the next
    // ------------------------------------------------------------------

    /// [`INV_SAME_DEST`] for ties: every section-relative reference of a
    /// copied function or object whose offset is both the end of `A` and
    /// the start of `B` in the patched object. The output bound it to one
    /// of them; the other reading must reach the same address, unless the
    /// input instruction proves `B`.
    fn ties(&mut self, p: &Elf) {
        let out = self.out;
        // Patched symbols copied into the output, and their copies.
        let mut copies: HashMap<usize, usize> = HashMap::new();
        for s in &out.symbols {
            if s.section.is_some()
                && !s.name.is_empty()
                && (s.is_func() || s.is_object())
                && let Some(i) = self.source_of(p, s.index)
            {
                copies.insert(i, s.index);
            }
        }
        let mut found = Vec::new();
        for (&i, &o) in &copies {
            let (is, os) = (&p.symbols[i], &out.symbols[o]);
            let (Some(isec), Some(osec)) = (is.section, os.section) else {
                continue;
            };
            let ins: Vec<Reloc> = relocs_within(p, isec, is.value, is.size).copied().collect();
            for irl in ins {
                let ts = &p.symbols[irl.symbol];
                let Some(tsec) = ts.section else { continue };
                if !ts.is_section() || p.sections[tsec].is_strings() {
                    continue;
                }
                let (adj, branch) = self.insn_facts(p, &irl);
                let Some(off) = crate::elf::uoffset_of(ts.value, irl.addend, adj) else {
                    continue;
                };
                let Some(rt) = p.resolve_ref(tsec, off) else {
                    continue;
                };
                let Some(a) = rt.also_end_of else { continue };
                let b = rt.sym;
                let exact = p.sections[irl.section].is_exec() && {
                    let map = p.code_map(irl.section);
                    crate::extract::fnptr::accesses_exactly(p, irl.section, irl.offset, map)
                };
                if branch || exact {
                    continue;
                }
                let rel = irl.offset - is.value;
                let Some(orl) = out
                    .relocs_for(osec)
                    .find(|r| r.offset == os.value + rel)
                    .copied()
                else {
                    continue;
                };
                let Some(od) = self.out_dest(&orl) else {
                    continue;
                };
                let b_copied = matches!(od, OutDest::Copy(_) | OutDest::CopyAnon(_));
                // An object that never stays in the kernel (extract gives
                // every reference to it a fresh copy: dyndbg descriptors,
                // lockdep keys, once-flags, ..., extract's never_correlated)
                // has no "kernel's" end: read as its end, the reference
                // would go to its copy, laid out before `b`'s as in the
                // input section, the address `b` was bound to. Extract's
                // tie rule (check_tie) counts it the same way. The case:
                // pr_debug() descriptors are back to back in __dyndbg
                // (include/linux/dynamic_debug.h,
                // DEFINE_DYNAMIC_DEBUG_METADATA), and the call site passes
                // `&descriptor` to __dynamic_pr_debug() with a `mov $imm`.
                let a_copied = copies.contains_key(&a) || crate::extract::never_correlated(p, a);
                let an = p.symbols[a].display_name();
                let bn = p.symbols[b].display_name();
                let why = if a_copied != b_copied {
                    Some(format!(
                        "{} is copied, {} is the kernel's",
                        if a_copied { &an } else { &bn },
                        if a_copied { &bn } else { &an }
                    ))
                } else if !a_copied {
                    // Both the kernel's: back to back in the target?
                    self.kernel_gap(
                        &od,
                        &p.symbols[a].name,
                        p.symbols[a].size,
                        &p.symbols[b].name,
                    )
                } else {
                    None
                };
                if let Some(why) = why {
                    found.push((
                        self.here(&orl),
                        format!(
                            "{}{off:+#x} of the patched object is both the end of {an} and the start of {bn}, bound to {od}, but the two readings reach different places ({why}) and the instruction does not prove {bn}",
                            p.sections[tsec].display_name()
                        ),
                    ));
                }
            }
        }
        found.sort();
        for (here, msg) in found {
            self.find(INV_SAME_DEST, here, msg);
        }
    }

    /// For a tie whose `B` reading is the kernel's `od`: why the end of the
    /// kernel's `a` (named `a_name`, `a_size` bytes) is not `od` in the
    /// target, or None when it is or the target's symbols cannot tell.
    fn kernel_gap(
        &self,
        od: &OutDest,
        a_name: &[u8],
        a_size: u64,
        b_input: &[u8],
    ) -> Option<String> {
        let target = self.ctx.target?;
        let (obj, b_name, b_pos) = match od {
            OutDest::Klp(n) => {
                let (o, n, pos) = parse_klp_sym_name(n)?;
                (std::str::from_utf8(o).ok()?.to_string(), n.to_vec(), pos)
            }
            OutDest::Export(n) => ("vmlinux".to_string(), n.clone(), 0),
            _ => return None,
        };
        let tobj = target.object(&obj)?;
        let addr = |name: &[u8], pos: u64| -> Option<u64> {
            let c = tobj.named(name);
            let i = if pos == 0 {
                match c {
                    [i] => *i,
                    _ => return None,
                }
            } else {
                *c.get(pos as usize - 1)?
            };
            Some(tobj.syms[i].addr)
        };
        // Bound to A's end (`A+size`): the other reading is B.
        let (b_name, b_pos) = if b_name == a_name {
            (b_input.to_vec(), 0)
        } else {
            (b_name, b_pos)
        };
        let b_addr = addr(&b_name, b_pos)?;
        // The A reading: the output's own klp symbol for it, else the
        // unique target symbol of that name.
        let a_pos = self
            .out
            .symbols
            .iter()
            .filter(|s| s.is_livepatch())
            .filter_map(|s| parse_klp_sym_name(&s.name))
            .find(|(o, n, _)| *o == obj.as_bytes() && *n == a_name)
            .map_or(0, |(_, _, pos)| pos);
        let a_addr = addr(a_name, a_pos)?;
        (a_addr.checked_add(a_size) != Some(b_addr)).then(|| {
            format!(
                "in the target {} ends at {:#x}, {} starts at {b_addr:#x}",
                show(a_name),
                a_addr.wrapping_add(a_size),
                show(&b_name)
            )
        })
    }

    // ------------------------------------------------------------------
    // Provenance and destinations (needs the patched object)
    // ------------------------------------------------------------------

    /// The patched symbol an output function or object was copied from:
    /// same name, kind and size, in a section of the same name.
    fn source_of(&self, p: &Elf, o: usize) -> Option<usize> {
        // Same-named symbols of several units (twin units `a/core.c` and
        // `b/core.c` of a linked object, each with a static state_show):
        // what the output's copy is must not be taken from extract's own
        // bookkeeping. First its bytes and relocation sites, then, for what
        // bytes cannot tell (data, identical code), the unit: the output's
        // FILE block whose functions were traced to one patched unit.
        if let Some(i) = self.source_by_code(p, o) {
            return Some(i);
        }
        let c = self.sources_by_name(p, o);
        let unit = self.unit_of_out_file(p, self.out.symbols[o].file?)?;
        let c: Vec<usize> = c
            .into_iter()
            .filter(|&i| p.symbols[i].file == Some(unit))
            .collect();
        (c.len() == 1).then(|| c[0])
    }

    /// Output symbol `o`'s source when its name, or else its code
    /// ([`Self::same_code`]), leaves exactly one candidate.
    fn source_by_code(&self, p: &Elf, o: usize) -> Option<usize> {
        let c = self.sources_by_name(p, o);
        if c.len() <= 1 {
            return c.first().copied();
        }
        let b: Vec<usize> = c.into_iter().filter(|&i| self.same_code(p, o, i)).collect();
        (b.len() == 1).then(|| b[0])
    }

    /// The symbols of `p` that may be output symbol `o`'s source: same
    /// name, section name, kind and size.
    fn sources_by_name(&self, p: &Elf, o: usize) -> Vec<usize> {
        let os = &self.out.symbols[o];
        let Some(osec) = os.section.map(|x| &self.out.sections[x]) else {
            return Vec::new();
        };
        p.symbols_named(&os.name)
            .iter()
            .copied()
            .filter(|&i| {
                let s = &p.symbols[i];
                s.section
                    .is_some_and(|sec| p.sections[sec].name == osec.name)
                    && s.kind() == os.kind()
                    && s.size == os.size
            })
            .collect()
    }

    /// Output symbol `o` and patched symbol `i` have the same bytes
    /// (NOBITS: never, there is nothing to compare) and relocations at
    /// the same offsets with the same types.
    fn same_code(&self, p: &Elf, o: usize, i: usize) -> bool {
        let (os, is) = (&self.out.symbols[o], &p.symbols[i]);
        let (Some(osec), Some(isec)) = (os.section, is.section) else {
            return false;
        };
        let range = |elf: &Elf, sec: usize, start: u64| -> Option<Vec<u8>> {
            let d = elf.data(sec);
            let a = usize::try_from(start).ok()?;
            let b = a.checked_add(usize::try_from(os.size).ok()?)?;
            d.get(a..b).map(<[u8]>::to_vec)
        };
        if self.out.sections[osec].is_nobits() || p.sections[isec].is_nobits() {
            return false;
        }
        let (Some(ob), Some(ib)) = (range(self.out, osec, os.value), range(p, isec, is.value))
        else {
            return false;
        };
        // Each relocation: its site, type, and what it means by name (a
        // klp symbol by the name it binds, a string by its text), so that
        // twins whose code differs only in a string or a callee differ.
        let sites = |elf: &Elf, sec: usize, start: u64| -> Vec<(u64, u32, Vec<u8>, i64)> {
            let mut v: Vec<(u64, u32, Vec<u8>, i64)> = relocs_within(elf, sec, start, os.size)
                .filter(|r| r.r_type != x86::R_X86_64_NONE)
                .map(|r| {
                    let (what, inner) = reloc_meaning(elf, r);
                    (r.offset - start, r.r_type, what, inner)
                })
                .collect();
            v.sort_unstable();
            v
        };
        ob == ib && sites(self.out, osec, os.value) == sites(p, isec, is.value)
    }

    /// The patched object's unit (its STT_FILE symbol) that the output's
    /// FILE block `file` was copied from: every function of the block
    /// whose source is unique by name or bytes comes from it, and at least
    /// one does.
    fn unit_of_out_file(&self, p: &Elf, file: usize) -> Option<usize> {
        let mut unit = None;
        for s in &self.out.symbols {
            if s.file != Some(file) || !s.is_func() || s.size == 0 || s.section.is_none() {
                continue;
            }
            let Some(one) = self.source_by_code(p, s.index) else {
                continue;
            };
            let f = p.symbols[one].file?;
            match unit {
                None => unit = Some(f),
                Some(u) if u != f => return None,
                _ => {}
            }
        }
        unit
    }

    /// Innermost named symbol covering `off`, `[start, end]` end included.
    /// The object `sec+off` belongs to: the one reference primitive
    /// (`Elf::resolve_ref`: inside, a zero-size object there, e.g. a
    /// `__key.N` of a kernel without lockdep, or one ending there).
    fn covering(elf: &Elf, sec: usize, off: u64) -> Option<usize> {
        elf.resolve_ref(sec, off).map(|r| r.sym)
    }

    fn in_dest(&mut self, p: &Elf, r: &Reloc) -> Option<InDest> {
        let s = &p.symbols[r.symbol];
        if s.is_undef() {
            return Some(InDest::Undef(r.symbol));
        }
        let sec = s.section?;
        let anon = s.is_section()
            || (s.kind() == STT_NOTYPE
                && s.is_local()
                && (names::is_local_label(&s.name) || s.name.is_empty()));
        if !anon {
            return Some(InDest::Sym(r.symbol));
        }
        let (adj, _) = self.insn_facts(p, r);
        let off = crate::elf::uoffset_of(s.value, r.addend, adj)?;
        if p.sections[sec].is_strings() {
            return Some(InDest::Anon(sec, off));
        }
        Some(match Self::covering(p, sec, off) {
            Some(t) => InDest::Sym(t),
            None => InDest::Anon(sec, u64::MAX),
        })
    }

    fn out_dest(&mut self, r: &Reloc) -> Option<OutDest> {
        let out = self.out;
        let s = &out.symbols[r.symbol];
        if s.is_livepatch() {
            if let Some((o, n, pos)) = parse_klp_sym_name(&s.name)
                && let Some(new) = self.patched_original(o, n, pos)
                && self.pointer_exception(r).is_ok()
            {
                // The deliberate pointer to the original counts as the
                // patched function itself.
                return Some(OutDest::Copy(new.into_bytes()));
            }
            return Some(OutDest::Klp(s.name.clone()));
        }
        if s.is_undef() {
            return Some(OutDest::Export(s.name.clone()));
        }
        let sec = s.section?;
        let anon = s.is_section() || s.name.is_empty() || names::is_local_label(&s.name);
        if !anon {
            return Some(OutDest::Copy(s.name.clone()));
        }
        let (adj, _) = self.insn_facts(out, r);
        let off = crate::elf::uoffset_of(s.value, r.addend, adj)?;
        Some(match Self::covering(out, sec, off) {
            Some(t) if !out.symbols[t].name.is_empty() => {
                OutDest::Copy(out.symbols[t].name.clone())
            }
            _ => OutDest::CopyAnon(out.sections[sec].name.clone()),
        })
    }

    fn provenance(&mut self, p: &Elf) {
        self.ran(INV_PROVENANCE);
        self.ran(INV_SAME_DEST);
        let out = self.out;
        let mut dests: BTreeMap<InDest, (OutDest, String)> = BTreeMap::new();
        let copied: Vec<usize> = out
            .symbols
            .iter()
            .filter(|s| {
                s.section.is_some()
                    && s.size > 0
                    && !s.name.is_empty()
                    && (s.is_func() || s.is_object())
            })
            .map(|s| s.index)
            .collect();
        let mut unmatched = Vec::new();
        for o in copied {
            let Some(i) = self.source_of(p, o) else {
                unmatched.push(out.symbols[o].display_name());
                continue;
            };
            let os = &out.symbols[o];
            let is = &p.symbols[i];
            let (Some(osec), Some(isec)) = (os.section, is.section) else {
                continue;
            };
            let size = os.size;
            let outs: BTreeMap<u64, Reloc> = relocs_within(out, osec, os.value, size)
                .map(|r| (r.offset - os.value, *r))
                .collect();
            let ins: BTreeMap<u64, Reloc> = relocs_within(p, isec, is.value, size)
                .filter(|r| r.r_type != x86::R_X86_64_NONE)
                .map(|r| (r.offset - is.value, *r))
                .collect();
            for (rel, orl) in &outs {
                let Some(irl) = ins.get(rel) else {
                    let here = self.here(orl);
                    self.find(
                        INV_PROVENANCE,
                        here,
                        format!(
                            "no relocation at {}+{rel:#x} in {} ({})",
                            is.display_name(),
                            p.path,
                            p.sections[isec].display_name()
                        ),
                    );
                    continue;
                };
                if irl.r_type != orl.r_type {
                    let here = self.here(orl);
                    self.find(
                        INV_PROVENANCE,
                        here,
                        format!(
                            "{} here, {} in the patched object",
                            x86::reloc_name(orl.r_type),
                            x86::reloc_name(irl.r_type)
                        ),
                    );
                    continue;
                }
                let (Some(id), Some(od)) = (self.in_dest(p, irl), self.out_dest(orl)) else {
                    continue;
                };
                self.rep.traced += 1;
                if let (InDest::Sym(t), Some(rsym)) = (id, out.symbols.get(orl.symbol))
                    && rsym.is_livepatch()
                {
                    let here = self.here(orl);
                    self.traced_klp.push((t, rsym.name.clone(), here));
                }
                self.check_target(p, id, &od, orl);
                let here = self.here(orl);
                match dests.get(&id) {
                    None => {
                        dests.insert(id, (od, here));
                    }
                    Some((first, at)) if *first != od => {
                        let what = match id {
                            InDest::Sym(t) | InDest::Undef(t) => p.symbols[t].display_name(),
                            InDest::Anon(s, _) => p.sections[s].display_name(),
                        };
                        let msg = format!(
                            "{what} of the patched object is referenced as {od} here but as {first} at {at}"
                        );
                        self.find(INV_SAME_DEST, here, msg);
                    }
                    _ => {}
                }
            }
            self.missing_relocs(p, os, &outs, &ins);
        }
        if !unmatched.is_empty() {
            self.rep.notes.push(format!(
                "{INV_PROVENANCE}: no unique source in {} for {} (not traced)",
                p.path,
                unmatched.join(", ")
            ));
        }
    }

    /// What a traced reference must not bind to: a patched function other
    /// than through its new copy, init code or data left in the target.
    fn check_target(&mut self, p: &Elf, id: InDest, od: &OutDest, orl: &Reloc) {
        // A reference to a function this output patches binds to
        // its new copy (or the deliberate original, which out_dest
        // already counts as the copy).
        if let InDest::Sym(t) = id
            && let Some(m) = &self.meta
            && let Some((new, _, _)) = m.funcs.iter().find(|(n, _, _)| {
                crate::extract::patched_func_name(n).as_bytes() == p.symbols[t].name.as_slice()
            })
            && *od != OutDest::Copy(crate::extract::patched_func_name(new).as_bytes().to_vec())
        {
            let msg = format!(
                "reference to patched function {} binds to {od}, neither its new copy nor the start of its original",
                p.symbols[t].display_name()
            );
            let here = self.here(orl);
            self.find(INV_PATCHED_FUNC_POINTER, here, msg);
        }
        // References to init code or data left in the target.
        if let InDest::Sym(t) = id
            && matches!(*od, OutDest::Klp(_) | OutDest::Export(_))
            && let Some(ts) = p.symbols[t].section
            && names::is_init_section(&p.sections[ts].name)
        {
            self.ran(INV_INIT);
            let here = self.here(orl);
            self.find(
                INV_INIT,
                here,
                format!(
                    "{} is in {}, freed after boot, and is referenced as {od}",
                    p.symbols[t].display_name(),
                    p.sections[ts].display_name()
                ),
            );
        }
    }

    /// Relocations of the patched object's copy that the output lacks.
    fn missing_relocs(
        &mut self,
        p: &Elf,
        os: &crate::elf::Symbol,
        outs: &BTreeMap<u64, Reloc>,
        ins: &BTreeMap<u64, Reloc>,
    ) {
        for (rel, irl) in ins {
            if outs.contains_key(rel) {
                continue;
            }
            let t = &p.symbols[irl.symbol];
            // A jump into .altinstr_aux is dropped when the alternative
            // that rewrites it is kept (extract checks that).
            if t.section.is_some_and(|s| {
                x86::AUX_SECTIONS
                    .iter()
                    .any(|a| p.sections[s].name == a.as_bytes())
            }) {
                continue;
            }
            self.find(
                INV_PROVENANCE,
                format!("{}+{rel:#x}", os.display_name()),
                format!(
                    "the {} against {} at this place in the patched object is missing: the site stays zero",
                    x86::reloc_name(irl.r_type),
                    t.display_name()
                ),
            );
        }
    }

    // ------------------------------------------------------------------
    // Twins (needs the patched and the original object)
    // ------------------------------------------------------------------

    fn twins(&mut self, p: &Elf, o: &Elf) {
        let computed;
        let tw = match self.ctx.twins {
            Some(t) => t,
            None => match correlate::run(o, p) {
                Ok(t) => {
                    computed = t;
                    &computed
                }
                Err(e) => {
                    self.rep.notes.push(format!(
                        "{INV_TWIN_COPIED}: skipped (correlation failed: {e})"
                    ));
                    return;
                }
            },
        };
        self.ran(INV_TWIN_COPIED);
        self.klp_twin_names(p, o, tw);
        let out = self.out;
        let mut allowed: HashSet<Vec<u8>> = HashSet::new();
        if let Some(m) = &self.meta {
            for (new, _, _) in &m.funcs {
                allowed.insert(crate::extract::patched_func_name(new).as_bytes().to_vec());
            }
            for (_, f) in &m.callbacks {
                allowed.insert(f.clone().into_bytes());
            }
        }
        for os in &out.symbols {
            if !is_named_definition(os) {
                continue;
            }
            let Some(pi) = self.source_of(p, os.index) else {
                continue;
            };
            let Some(&oi) = tw.p2o.get(&pi) else {
                continue;
            };
            let explained = allowed.contains(&os.name)
                || correlate::never_correlated(p, pi)
                || names::child_parent(&os.name).is_some_and(|par| allowed.contains(par))
                || names::prefix_target(&os.name).is_some_and(|t| {
                    allowed.contains(t)
                        || names::child_parent(t).is_some_and(|par| allowed.contains(par))
                });
            if explained {
                continue;
            }
            let level = tw.level.get(&oi).map_or("?", |l| l.word());
            self.find(
                INV_TWIN_COPIED,
                format!("symbol {}", os.display_name()),
                format!(
                    "copied into the patch, but it has a twin in the original ({} in {}, paired by {level}): the target already has it and it must be referenced",
                    o.symbols[oi].display_name(),
                    o.path
                ),
            );
        }
    }
}

impl V<'_> {
    /// [`INV_KLP_TWIN_NAME`] over the klp relocations provenance traced.
    fn klp_twin_names(&mut self, p: &Elf, o: &Elf, tw: &correlate::Twins) {
        self.ran(INV_KLP_TWIN_NAME);
        for (s, klp, here) in std::mem::take(&mut self.traced_klp) {
            let Some((_, name, _)) = parse_klp_sym_name(&klp) else {
                continue; // INV_KLP_SYM_NAME's finding
            };
            let msg = match tw.p2o.get(&s) {
                Some(&t) if o.symbols[t].name != name => format!(
                    "{} of the patched object is paired with {} in the original ({}), but its klp symbol {} names {}",
                    p.symbols[s].display_name(),
                    o.symbols[t].display_name(),
                    tw.level.get(&t).map_or("?", |l| l.word()),
                    show(&klp),
                    show(name)
                ),
                Some(_) => continue,
                None => format!(
                    "{} of the patched object has no twin in the original (it is new), but it is bound to the target as {}",
                    p.symbols[s].display_name(),
                    show(&klp)
                ),
            };
            self.find(INV_KLP_TWIN_NAME, here, msg);
        }
    }
}

/// Check klp symbol names (name → where it is used) against the target:
/// [`INV_SYMPOS`] and [`INV_INIT`].
fn check_target_symbols(used: &BTreeMap<Vec<u8>, String>, target: &Target, rep: &mut Report) {
    for (name, at) in used {
        let at = at.clone();
        let Some((obj, sym, pos)) = parse_klp_sym_name(name) else {
            continue;
        };
        let Some(tobj) = target.object(&show(obj)) else {
            rep.notes.push(format!(
                "{INV_SYMPOS}: no symbols for object {}; {} not checked",
                show(obj),
                show(name)
            ));
            continue;
        };
        rep.ran(INV_SYMPOS);
        let cands = tobj.named(sym);
        let what = format!("{} (object {} from {})", show(name), show(obj), tobj.source);
        let chosen = match (pos, cands.len()) {
            (_, 0) if tobj.init_only.iter().any(|t| t.name == sym) => {
                // A module's init symbols are gone once it is live
                // (kernel/module/kallsyms.c is_core_symbol).
                rep.ran(INV_INIT);
                rep.find(
                    INV_INIT,
                    at,
                    format!(
                        "{what}: the target has that name only in init code or data, freed after boot"
                    ),
                );
                continue;
            }
            (_, 0) => {
                rep.find(
                    INV_SYMPOS,
                    at,
                    format!("{what}: no symbol of that name in the target"),
                );
                continue;
            }
            (0, 1) => cands[0],
            (0, n) => {
                rep.find(
                    INV_SYMPOS,
                    at,
                    format!(
                        "{what}: sympos 0 needs a unique name, the target has {n}: the kernel reports an unresolvable ambiguity"
                    ),
                );
                continue;
            }
            (p, n) if p as usize > n => {
                rep.find(
                    INV_SYMPOS,
                    at,
                    format!("{what}: position {p} but the target has only {n}"),
                );
                continue;
            }
            (p, _) => cands[p as usize - 1],
        };
        let init = tobj.syms[chosen].init || in_init_range(tobj, tobj.syms[chosen].addr);
        rep.ran(INV_INIT);
        if init {
            rep.find(
                INV_INIT,
                at,
                format!("{what}: resolves to init code or data, freed after boot"),
            );
        }
    }
}

/// Whether `addr` lies in vmlinux's init area, `[__init_begin, __init_end)`
/// (arch/x86/kernel/vmlinux.lds.S: init text and data, freed by
/// `free_initmem`), or `[_sinittext, _einittext)`; this is how a kallsyms
/// dump, which has no sections, shows init symbols.
fn in_init_range(tobj: &crate::target::TargetObject, addr: u64) -> bool {
    if tobj.objname != "vmlinux" {
        return false;
    }
    let at = |n: &[u8]| tobj.named(n).first().map(|&i| tobj.syms[i].addr);
    [
        (&b"__init_begin"[..], &b"__init_end"[..]),
        (b"_sinittext", b"_einittext"),
    ]
    .iter()
    .any(|(b, e)| matches!((at(b), at(e)), (Some(b), Some(e)) if b < e && (b..e).contains(&addr)))
}

/// What another tool's output says about its klp content, as a listing
/// (kpatch's unit-test summaries: `relasec <name>:<count>`, `sym <bind>
/// <type> <name>`), plus the functions it copied.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// klp relocation section names.
    pub klp_sections: Vec<String>,
    /// klp symbol names.
    pub klp_symbols: Vec<String>,
    /// Names of the functions copied into the output.
    pub copied: Vec<String>,
}

impl Listing {
    /// Parse kpatch's summary format (unknown lines are ignored).
    pub fn parse_kpatch_summary(text: &str) -> Listing {
        let mut l = Listing::default();
        for line in text.lines() {
            if let Some(r) = line.strip_prefix("relasec ") {
                let name = r.rsplit_once(':').map_or(r, |(n, _)| n);
                l.klp_sections.push(name.to_string());
            } else if let Some(r) = line.strip_prefix("sym ")
                && let Some(n) = r.split_whitespace().nth(2)
            {
                l.klp_symbols.push(n.to_string());
            }
        }
        l
    }
}

/// The name-level checks for an output known only by its listing: klp
/// section and symbol names ([`INV_KLP_RELA_NAME`], [`INV_KLP_SYM_NAME`]),
/// one object for sections and symbols ([`INV_KLP_CROSS_OBJECT`]: a listing
/// does not say which symbol each section uses, so every symbol must belong
/// to an object some section names and vmlinux sections cannot use module
/// symbols when there is no module section), sympos and init against
/// `target`, and [`INV_COPIED_AND_REFERENCED`].
pub fn verify_listing(l: &Listing, target: Option<&Target>) -> Report {
    let mut rep = Report::default();
    let mut objs: BTreeSet<Vec<u8>> = BTreeSet::new();
    rep.ran.extend([
        INV_KLP_RELA_NAME,
        INV_KLP_SYM_NAME,
        INV_KLP_CROSS_OBJECT,
        INV_COPIED_AND_REFERENCED,
    ]);
    for s in &l.klp_sections {
        match parse_klp_rela_name(s.as_bytes()) {
            Some(o) => {
                objs.insert(o.to_vec());
            }
            None => rep.find(INV_KLP_RELA_NAME, s.clone(), BAD_KLP_RELA_NAME.into()),
        }
    }
    let mut used = BTreeMap::new();
    for s in &l.klp_symbols {
        let Some((o, n, _)) = parse_klp_sym_name(s.as_bytes()) else {
            rep.find(
                INV_KLP_SYM_NAME,
                format!("symbol {s}"),
                "does not parse as .klp.sym.<obj>.<name>,<pos>".into(),
            );
            continue;
        };
        if !objs.contains(o) {
            rep.find(
                INV_KLP_CROSS_OBJECT,
                format!("symbol {s}"),
                format!(
                    "object {} has no klp relocation section here ({} do)",
                    show(o),
                    objs.iter().map(|x| show(x)).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        if l.copied.iter().any(|c| c.as_bytes() == n) {
            rep.find(
                INV_COPIED_AND_REFERENCED,
                format!("symbol {s}"),
                format!(
                    "{} is copied into the output and referenced in the target",
                    show(n)
                ),
            );
        }
        used.insert(s.as_bytes().to_vec(), format!("symbol {s}"));
    }
    // One name of the unit, one position (see one_position_per_name).
    let mut pos: BTreeMap<(Vec<u8>, Vec<u8>), BTreeSet<u64>> = BTreeMap::new();
    for s in &l.klp_symbols {
        if let Some((o, n, p)) = parse_klp_sym_name(s.as_bytes()) {
            pos.entry((o.to_vec(), n.to_vec())).or_default().insert(p);
        }
    }
    rep.ran.push(INV_SAME_DEST);
    for ((o, n), ps) in pos {
        if ps.len() > 1 {
            rep.find(
                INV_SAME_DEST,
                format!("symbol .klp.sym.{}.{}", show(&o), show(&n)),
                format!("one name of the unit, several target symbols: positions {ps:?}"),
            );
        }
    }
    match target {
        Some(t) => check_target_symbols(&used, t, &mut rep),
        None => rep
            .notes
            .push(format!("{INV_SYMPOS}: skipped (no target symbols)")),
    }
    rep
}
