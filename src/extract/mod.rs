//! `extract`: build a livepatch object from a patched object and a list of
//! functions.
//!
//! Steps:
//!
//! 1. **roots**: the listed functions, each with its `.cold`/`.part`
//!    children and its `__pfx_`/`__cfi_` prefix. Each is *changed* (it
//!    exists in the target, and will get a `klp_func`) or *new*.
//! 2. **closure**: every relocation inside an included range is classified.
//!    Its target is either included too (string literals, anonymous rodata,
//!    UBSAN data, uncorrelated static locals, new functions and data), or
//!    left in the target kernel and referenced: a normal relocation to an
//!    undefined global when vmlinux exports it, otherwise a klp relocation.
//! 3. **layout**: included ranges are copied into output sections named like
//!    their input sections, preserving alignment; strings are copied one by
//!    one and deduplicated.
//! 4. **relocations**: each relocation is re-targeted, its site zeroed, and
//!    it is placed in `.rela<sec>` or in `.klp.rela.<obj>.<sec>`.
//!
//! Every decision is recorded for `--explain`.

mod closure;
pub(crate) use closure::never_correlated;
pub mod cross;
pub(crate) mod fnptr;
mod kthread;
mod layout;
mod roots;
mod special;
mod twins;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::arch::x86_64::{self as x86, CodeMap};
use crate::changes::{Change, ChangeKind};
use crate::correlate::Twins;
use crate::elf::consts::*;
use crate::elf::{Elf, RefKind, names};
use crate::error::{Error, ErrorKind, Result, show};
use crate::output::{OutData, OutObject, OutReloc, OutSection, OutSymbol, Place, align_up};
use crate::symvers::Exports;
use crate::target::{Lookup, Target, TargetObject, TuInfo};

/// Longest object name the kernel accepts (`MODULE_NAME_LEN - 1`).
pub const MAX_OBJNAME: usize = 55;
/// Longest symbol name the kernel accepts (`KSYM_NAME_LEN - 1`).
pub const MAX_SYMNAME: usize = 511;
/// Name of the metadata section `extract` writes for `module` and `kbuild`:
/// text lines `klpwrite-patch 1`, `object <objname>`, `rules legacy|current`
/// (the livepatch rules it was written for: before 5.8 or 5.8+), one
/// `func <new symbol> <old name> <sympos>` per patched function, one
/// `callback <slot> <function>` per marked callback and one `needs <name>`
/// per undefined symbol another object of the same patch must define
/// (`--patch-symbols`; `module` links it, see [`cross`]).
pub const META_SECTION: &[u8] = b".klpwrite.patch";

/// The `klp_callbacks` slots, in struct order.
pub const CALLBACK_SLOTS: [&str; 4] = ["pre_patch", "post_patch", "pre_unpatch", "post_unpatch"];

/// What an extract output's `.klpwrite.patch` says.
#[derive(Debug, Clone)]
pub struct PatchMeta {
    /// `vmlinux` or the module the output patches.
    pub objname: String,
    /// (new version, old name, sympos) per patched function; the new
    /// version as [`patched_func_symbol`] reads it (`NAME` or `NAME#K`).
    pub funcs: Vec<(String, String, u64)>,
    /// (slot in [`CALLBACK_SLOTS`], function) per marked callback.
    pub callbacks: Vec<(usize, String)>,
    /// Written for the pre-5.8 rules (`.klp.arch` sections, no klp
    /// relocations in jump labels).
    pub legacy: bool,
    /// The target symbol that decided `legacy` (`rules ... symbol NAME`),
    /// when one did.
    pub rules_symbol: Option<String>,
    /// The release extract was told the target is (`rules ... release R`),
    /// recorded with a symbol-based decision.
    pub rules_release: Option<String>,
    /// Undefined symbols another object of the same patch defines.
    pub needs: Vec<String>,
}

/// The symbol name in a `func` line's new-version reference (`NAME` or
/// `NAME#K`, see [`patched_func_symbol`]).
pub fn patched_func_name(new: &str) -> &str {
    match new.rsplit_once('#') {
        Some((name, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => new,
    }
}

/// Why a `func` line's new-version reference names no function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuncRefError {
    /// No defined function of that name (or no K-th one).
    NotFound,
    /// A plain name that this many defined functions have.
    Several(usize),
}

impl FuncRefError {
    /// The message for reference `new`.
    pub fn message(self, new: &str) -> String {
        match self {
            FuncRefError::NotFound => {
                format!(".klpwrite.patch names {new}, which is not a function here")
            }
            FuncRefError::Several(n) => format!(
                ".klpwrite.patch names {new}, which {n} functions here have (NAME#K names one)"
            ),
        }
    }
}

/// The function a `func` line of `.klpwrite.patch` names as the new
/// version: `NAME`, the one defined STT_FUNC of that name in `elf`, or
/// `NAME#K`, the K-th (1-based, .symtab order) of several. An output has
/// several when a patch changes same-named statics of two units of a linked
/// object (a module's pre-link `.o`, a whole vmlinux.o); a plain name is
/// then refused, never taken as the first.
pub fn patched_func_symbol(elf: &Elf, new: &str) -> std::result::Result<usize, FuncRefError> {
    let defined = |name: &str| -> Vec<usize> {
        elf.symbols_named(name.as_bytes())
            .iter()
            .copied()
            .filter(|&s| elf.symbols[s].is_func() && elf.symbols[s].section.is_some())
            .collect()
    };
    let exact = defined(new);
    match exact.len() {
        1 => return Ok(exact[0]),
        0 => {}
        n => return Err(FuncRefError::Several(n)),
    }
    let name = patched_func_name(new);
    if name.len() < new.len() {
        let k: usize = new[name.len() + 1..].parse().unwrap_or(0);
        let all = defined(name);
        if k >= 1 && k <= all.len() && all.len() > 1 {
            return Ok(all[k - 1]);
        }
    }
    Err(FuncRefError::NotFound)
}

/// Read the `.klpwrite.patch` section of an extract output.
pub fn read_patch_meta(p: &Elf) -> Result<PatchMeta> {
    let sec = p.section_by_name(META_SECTION).ok_or_else(|| {
        Error::new(
            ErrorKind::Usage,
            "no .klpwrite.patch section: not an output of `klpwrite extract`",
        )
        .in_file(&p.path)
    })?;
    let bad = |m: String| Error::malformed(format!(".klpwrite.patch: {m}")).in_file(&p.path);
    let text = String::from_utf8_lossy(p.data(sec)).into_owned();
    let mut lines = text.lines();
    if lines.next() != Some("klpwrite-patch 1") {
        return Err(bad("unknown version".into()));
    }
    let mut meta = PatchMeta {
        objname: String::new(),
        funcs: Vec::new(),
        callbacks: Vec::new(),
        legacy: false,
        rules_symbol: None,
        rules_release: None,
        needs: Vec::new(),
    };
    let mut rules = None;
    for l in lines {
        match l.split(' ').collect::<Vec<_>>().as_slice() {
            ["object", o] => meta.objname = o.to_string(),
            ["rules", r @ ("legacy" | "current")] => rules = Some(*r == "legacy"),
            ["rules", r @ ("legacy" | "current"), "symbol", s] => {
                rules = Some(*r == "legacy");
                meta.rules_symbol = Some(s.to_string());
            }
            [
                "rules",
                r @ ("legacy" | "current"),
                "symbol",
                s,
                "release",
                rel,
            ] => {
                rules = Some(*r == "legacy");
                meta.rules_symbol = Some(s.to_string());
                meta.rules_release = Some(rel.to_string());
            }
            ["func", new, old, pos] => {
                let pos = pos
                    .parse()
                    .map_err(|_| bad(format!("bad sympos in {l:?}")))?;
                meta.funcs.push((new.to_string(), old.to_string(), pos));
            }
            ["callback", slot, f] => {
                let slot = CALLBACK_SLOTS
                    .iter()
                    .position(|s| s == slot)
                    .ok_or_else(|| bad(format!("bad callback slot in {l:?}")))?;
                meta.callbacks.push((slot, f.to_string()));
            }
            ["needs", n] if !n.is_empty() => meta.needs.push(n.to_string()),
            _ => return Err(bad(format!("bad line {l:?}"))),
        }
    }
    if meta.objname.is_empty() {
        return Err(bad("no object line".into()));
    }
    meta.legacy = rules.ok_or_else(|| bad("no rules line".into()))?;
    check_objname(&meta.objname).map_err(|e| e.in_file(&p.path))?;
    Ok(meta)
}

/// Whether an object marks livepatch callbacks, in kpatch's form (a
/// `.kpatch.callbacks.<slot>` section) or upstream's (a defined
/// `__klp_<slot>_callback_<obj>` pointer). Such an object is a patch even
/// when no function changed: `build` and `extract` go on with an empty
/// function list.
pub fn marks_callbacks(p: &Elf) -> bool {
    let slot_section = |n: &[u8]| {
        n.strip_prefix(b".kpatch.callbacks.")
            .is_some_and(|s| CALLBACK_SLOTS.iter().any(|c| c.as_bytes() == s))
    };
    p.sections.iter().any(|s| slot_section(&s.name))
        || p.symbols
            .iter()
            .any(|s| s.section.is_some() && callback_pointer(&s.name).is_some())
}

/// Upstream's callback pointer `__klp_<slot>_callback_<obj>`: (slot in
/// [`CALLBACK_SLOTS`], obj).
fn callback_pointer(name: &[u8]) -> Option<(usize, &[u8])> {
    let rest = name.strip_prefix(b"__klp_")?;
    CALLBACK_SLOTS.iter().enumerate().find_map(|(i, n)| {
        rest.strip_prefix(n.as_bytes())?
            .strip_prefix(b"_callback_")
            .map(|o| (i, o))
    })
}

/// Everything `extract` reads.
pub struct Inputs<'a> {
    /// The patched object.
    pub patched: &'a Elf,
    /// The original object and its pairing with the patched object, if
    /// given: then the pairing decides every twin (and diff, extract and
    /// build agree on them).
    pub orig: Option<Orig<'a>>,
    /// The function list.
    pub changes: &'a [Change],
    /// Target symbols.
    pub target: &'a Target,
    /// Exports from Module.symvers (may be empty).
    pub exports: &'a Exports,
    /// Whether a Module.symvers was given at all.
    pub have_symvers: bool,
}

/// The original object with the pairing `correlate::run(orig, patched)`
/// made. Twins come from nowhere else: `diff`, `extract --orig` and
/// `build` compute the same `Twins` and use them as they are.
#[derive(Debug, Clone, Copy)]
pub struct Orig<'a> {
    /// The original object.
    pub elf: &'a Elf,
    /// Its pairing with the patched object.
    pub twins: &'a Twins,
}

impl<'a> Orig<'a> {
    /// The orig twin of patched symbol `sym`.
    pub fn twin_of(&self, sym: usize) -> Option<usize> {
        self.twins.p2o.get(&sym).copied()
    }

    /// The patched twin of orig symbol `sym`.
    pub fn patched_twin_of(&self, sym: usize) -> Option<usize> {
        self.twins.o2p.get(&sym).copied()
    }
}

/// Options of `extract`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `vmlinux` or the module name of the patched object.
    pub objname: String,
    /// `--sympos NAME=N` overrides.
    pub sympos: HashMap<String, u64>,
    /// `--struct-size SECTION=N` overrides of special-section entry sizes
    /// and the target's entry structs from BTF (`--btf`).
    pub layouts: crate::special::LayoutHints,
    /// The target kernel's livepatch rules, when known (None: 5.8+ rules).
    pub kernel: Option<crate::kernel::Rules>,
    /// `--patch-symbols`: globals defined by the other objects of the same
    /// patch (name → the file that defines it), see [`cross`].
    pub patch_symbols: BTreeMap<Vec<u8>, String>,
    /// The target's release (first word of `--kernel-version` or of the
    /// reference module's vermagic), when given: recorded next to a rules
    /// decision made from a target symbol.
    pub release: Option<String>,
    /// `--allow-missing-orc`: accept code from an object objtool has not
    /// processed, which has no ORC data, on a kernel that unwinds with ORC
    /// (see [`crate::objtool`]).
    pub allow_missing_orc: bool,
    /// `--allow-kthread-loop`: replace the main function of a kernel
    /// thread anyway (a warning instead of a refusal; see
    /// [`crate::kthread`]).
    pub allow_kthread_loop: bool,
    /// `--allow-symbol-mismatch`: build against a symbol source whose
    /// bytes say it is not the original object's kernel (a warning
    /// instead of a refusal; see [`crate::bytematch::belongs`]).
    pub allow_symbol_mismatch: bool,
}

/// One function the patch replaces (a future `klp_func`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchedFunc {
    /// Symbol of the new function in the output, as `.klpwrite.patch`
    /// names it (`NAME#K` when the output has several of that name).
    pub new_name: String,
    /// Name of the function in the target.
    pub old_name: String,
    /// Its sympos in the target.
    pub sympos: u64,
}

/// The result of `extract`.
#[derive(Debug)]
pub struct Extracted {
    /// The output object.
    pub out: OutObject,
    /// Functions to patch.
    pub funcs: Vec<PatchedFunc>,
    /// Decisions, for `--explain`.
    pub explain: Vec<String>,
    /// Warnings for stderr.
    pub warnings: Vec<String>,
    /// Every twin lookup extract made: patched symbol → orig twin (with
    /// `--orig`) or None (new, or no `--orig`).
    pub twins_used: BTreeMap<usize, Option<usize>>,
}

/// Check the kernel's limits on an object name.
pub fn check_objname(objname: &str) -> Result<()> {
    if objname.is_empty() || objname.len() > MAX_OBJNAME || objname.contains('.') {
        return Err(Error::new(
            ErrorKind::Klp,
            format!(
                "object name {objname:?} is not usable: the kernel requires 1 to {MAX_OBJNAME} characters and no '.'"
            ),
        )
        .hint("use `vmlinux` or the module name as the kernel knows it (e.g. nf_conntrack)"));
    }
    Ok(())
}

/// Why a range was included (the payloads document the reason in debug
/// output).
#[derive(Debug, Clone)]
#[allow(dead_code)]
enum Why {
    Changed,
    New,
    Child(usize),
    Prefix(usize),
    Referenced(String),
}

/// What a relocation points at, once classified.
#[derive(Debug, Clone)]
enum Dest {
    /// A named clone in the output: (patched symbol, addend).
    Clone(usize, i64),
    /// An offset inside an included patched section: (section, offset,
    /// adjustment) — the output addend is `map(offset) - adjustment`.
    Anon(usize, u64, i64),
    /// A string literal: (input section, input offset, adjustment).
    Str(usize, u64, i64),
    /// A normal relocation to an exported symbol.
    Undef(Vec<u8>, u8, i64),
    /// A klp relocation: (symbol's object, name, sympos, st_type, addend).
    Klp(String, Vec<u8>, u64, u8, i64),
    /// Nothing to do (R_X86_64_NONE).
    Drop,
}

struct Pending {
    reloc: usize,
    dest: Dest,
}

struct Ex<'a> {
    p: &'a Elf,
    inp: &'a Inputs<'a>,
    opts: &'a Options,
    /// Included named symbols, in inclusion order, with the reason.
    included: Vec<(usize, Why)>,
    included_set: HashSet<usize>,
    /// Included ranges per section: (start, end).
    ranges: BTreeMap<usize, Vec<(u64, u64)>>,
    /// Ranges queued for relocation processing.
    queue: VecDeque<(usize, u64, u64, String)>,
    processed_relocs: HashSet<usize>,
    pending: Vec<Pending>,
    /// Listed changed functions (patched symbol) → (old name, sympos).
    changed: BTreeMap<usize, (Vec<u8>, u64)>,
    /// Patched symbols known to be new.
    new_syms: HashSet<usize>,
    twin_cache: HashMap<usize, Option<Vec<u8>>>,
    /// Every twin lookup with `--orig`, for [`Extracted::twins_used`].
    twins_used: BTreeMap<usize, Option<usize>>,
    sympos_cache: HashMap<(Vec<u8>, bool, usize), u64>,
    /// Each `--sympos` key used, and the patched symbols it gave a
    /// position to.
    sympos_used: HashMap<String, std::collections::BTreeSet<usize>>,
    /// Per target object and patched unit (its STT_FILE symbol): the
    /// target file block its statics were found in, and the first decision
    /// that found it there (what, and the target symbol).
    unit_blocks: HashMap<(String, usize), (usize, String, usize)>,
    /// Per target object and patched unit: its code evidence
    /// (`twins::code_evidence`).
    code_cache: HashMap<(String, usize), crate::target::CodeEvidence>,
    /// Special sections: entry size per section.
    entry_sizes: HashMap<usize, &'static x86::Layout>,
    /// Special-section entries already decided: (section, entry index).
    decided: HashSet<(usize, u64)>,
    /// Kept alternatives: (code section, offset, instrlen).
    kept_alts: Vec<(usize, u64, u64)>,
    /// Code relocations into .altinstr_aux that were dropped: (section, offset).
    aux_drops: Vec<(usize, u64)>,
    /// References from copied code into a special section's entries
    /// (section, offset, where): each must land in a kept entry.
    entry_refs: Vec<(usize, u64, String)>,
    /// Errors found where returning one was not convenient.
    deferred: Vec<Error>,
    /// Callbacks marked in the patched object: (slot, function, object).
    callbacks: Vec<(usize, usize, String)>,
    /// Undefined symbols left for another object of the patch to define.
    needs: BTreeSet<Vec<u8>>,
    explain: Vec<String>,
    warnings: Vec<String>,
    /// Whether the target seals ENDBRs (fnptr.rs), once decided.
    ibt: Option<Option<String>>,
    /// Sites that take a function's address (fnptr.rs), per (patched
    /// symbol, name), once scanned.
    address_sites: HashMap<(Option<usize>, Vec<u8>), fnptr::Sites>,
}

fn err_at(p: &Elf, sec: usize, off: u64, kind: ErrorKind, msg: String) -> Error {
    Error::new(kind, msg)
        .in_file(&p.path)
        .at(p.locate(sec, off))
}

/// Run `extract`.
pub fn run(inp: &Inputs<'_>, opts: &Options) -> Result<Extracted> {
    check_objname(&opts.objname)?;
    if let Some(k) = opts.kernel {
        k.check_supported()?;
    }
    if inp.target.object(&opts.objname).is_none() {
        let known: Vec<&str> = inp
            .target
            .objects
            .iter()
            .map(|o| o.objname.as_str())
            .collect();
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "no symbol source for object {}: --symbols gave {}",
                opts.objname,
                if known.is_empty() { "nothing".to_string() } else { known.join(", ") }
            ),
        )
        .hint("pass --symbols with vmlinux, the target .ko, or a /proc/kallsyms dump of the target kernel"));
    }
    let mut ex = Ex {
        p: inp.patched,
        inp,
        opts,
        included: Vec::new(),
        included_set: HashSet::new(),
        ranges: BTreeMap::new(),
        queue: VecDeque::new(),
        processed_relocs: HashSet::new(),
        pending: Vec::new(),
        changed: BTreeMap::new(),
        new_syms: HashSet::new(),
        twin_cache: HashMap::new(),
        twins_used: BTreeMap::new(),
        sympos_cache: HashMap::new(),
        sympos_used: HashMap::new(),
        unit_blocks: HashMap::new(),
        code_cache: HashMap::new(),
        entry_sizes: HashMap::new(),
        decided: HashSet::new(),
        kept_alts: Vec::new(),
        aux_drops: Vec::new(),
        entry_refs: Vec::new(),
        deferred: Vec::new(),
        callbacks: Vec::new(),
        needs: BTreeSet::new(),
        explain: Vec::new(),
        warnings: Vec::new(),
        ibt: None,
        address_sites: HashMap::new(),
    };
    check_section_names(inp.patched)?;
    crate::sections::check_split(inp.patched)?;
    if let Some(o) = inp.orig {
        crate::sections::check_split(o.elf)?;
    }
    ex.check_belongs()?;
    ex.check_objtool()?;
    if !inp.have_symvers {
        ex.warnings.push(
            "no --symvers given: exports are only known from __ksymtab_ symbols of the symbol source"
                .into(),
        );
    }
    ex.roots()?;
    ex.check_kthread_loops()?;
    ex.callbacks()?;
    if inp.changes.is_empty() && ex.callbacks.is_empty() {
        return Err(Error::new(
            ErrorKind::Usage,
            "the function list is empty and the object marks no livepatch callback: nothing to extract",
        )
        .in_file(&inp.patched.path)
        .hint("list the changed functions (`klpwrite diff` output)"));
    }
    loop {
        ex.closure()?;
        if let Some(e) = ex.deferred.pop() {
            return Err(e);
        }
        if !ex.special_pass()? {
            break;
        }
    }
    ex.check_aux_drops()?;
    ex.check_entry_refs()?;
    ex.check_unknown_sections()?;
    let mut unused: Vec<&String> = opts
        .sympos
        .keys()
        .filter(|k| !ex.sympos_used.contains_key(*k))
        .collect();
    unused.sort();
    for k in unused {
        ex.warnings.push(format!(
            "--sympos {k}={} was not used: no symbol of that name needed a position in {}",
            opts.sympos[k], opts.objname
        ));
    }
    let done = ex.layout()?;
    self_check(&done, inp, opts)?;
    Ok(done)
}

/// Verify the output before anyone writes it (crate::verify): checks that
/// do not depend on how the decisions above were made. A finding is a
/// klpwrite bug; the refusal says so.
fn self_check(done: &Extracted, inp: &Inputs<'_>, opts: &Options) -> Result<()> {
    let file = format!("output of {}", inp.patched.path);
    let bytes = crate::write::to_bytes(&done.out).map_err(|e| e.in_file(file.clone()))?;
    let ctx = crate::verify::Context {
        patched: Some(inp.patched),
        orig: inp.orig.map(|o| o.elf),
        twins: inp.orig.map(|o| o.twins),
        target: Some(inp.target),
        exports: inp.have_symvers.then_some(inp.exports),
        objname: Some(&opts.objname),
    };
    crate::verify::self_check(&file, &bytes, &ctx).map(|_| ())
}

/// Symbols only a kernel unwinding with ORC has: arch/x86/kernel/unwind_orc.c
/// is built for `CONFIG_UNWINDER_ORC` only (arch/x86/kernel/Makefile) and
/// defines `unwind_module_init` (a static inline stub otherwise,
/// arch/x86/include/asm/unwind.h), `__orc_find` and `orc_sort_cmp`.
pub const ORC_MARKERS: &[&str] = &["unwind_module_init", "__orc_find", "orc_sort_cmp"];

/// Whether the target kernel unwinds with ORC, from vmlinux's symbols:
/// Some(marker) / None (no ORC: vmlinux symbols with `unwind_next_frame`,
/// which every x86 unwinder defines, but no marker) / Err(()) (unknown: no
/// vmlinux symbols).
fn target_orc(target: &Target) -> std::result::Result<Option<String>, ()> {
    let Some(v) = target.object("vmlinux") else {
        return Err(());
    };
    if let Some(m) = ORC_MARKERS.iter().find(|m| v.contains(m.as_bytes())) {
        return Ok(Some(format!("{m} in {}", v.source)));
    }
    if v.contains(b"unwind_next_frame") {
        Ok(None)
    } else {
        Err(())
    }
}

impl<'a> Ex<'a> {
    /// An input objtool had not processed (crate::objtool): say what
    /// klpwrite completed, and refuse code without ORC data for a kernel
    /// that unwinds with ORC unless `--allow-missing-orc`. Without ORC
    /// entries, `unwind_next_frame()` (arch/x86/kernel/unwind_orc.c) finds
    /// no entry for the patch's code, so a reliable stack trace of a task
    /// inside it fails and `klp_check_stack()` (kernel/livepatch/
    /// transition.c) keeps that task from switching: the transition (and
    /// later the disable) waits until no task sleeps in patched code, and
    /// oops traces through it are unreliable.
    fn check_objtool(&mut self) -> Result<()> {
        let p = self.p;
        if let Some(d) = crate::objtool::describe(p) {
            self.explain.push(format!(
                "{d}; not done: ORC (see below), .static_call_sites (calls go through the static-call trampoline), .ibt_endbr_seal (the patch's ENDBRs stay unsealed), .call_sites (6.2+ call-depth accounting), .cfi_sites (6.2+ FineIBT), __pfx_ symbols (6.2+ --prefix), __mcount_loc for FTRACE_MCOUNT_USE_OBJTOOL kernels (the patch's calls to __fentry__ stay calls), --hacks=noinstr (KCOV/sanitizer calls in .noinstr.text stay)"
            ));
        }
        let has_code = p.symbols.iter().any(|s| {
            s.is_func() && s.size > 0 && s.section.is_some_and(|x| p.sections[x].is_exec())
        });
        if !has_code || p.section_by_name(b".orc_unwind_ip").is_some() {
            return Ok(());
        }
        let target = target_orc(self.inp.target);
        // Without other evidence, an object without ORC only counts for a
        // kernel known to unwind with ORC (objtool's --orc writes entries
        // for every function of every object it processes).
        let why = match (&p.completion, &target) {
            (Some(c), _) => format!(
                "objtool has not processed it: {}",
                c.evidence.first().cloned().unwrap_or_default()
            ),
            (None, Ok(Some(_))) => "objtool has not processed it, or the kernel builds this file without objtool (OBJECT_FILES_NON_STANDARD)".to_string(),
            (None, _) => return Ok(()),
        };
        let orc = match target {
            Ok(None) => {
                self.explain.push(format!(
                    "target kernel without the ORC unwinder (vmlinux symbols have unwind_next_frame but none of {}): no ORC data needed",
                    ORC_MARKERS.join(", ")
                ));
                return Ok(());
            }
            Ok(Some(m)) => format!("the target kernel unwinds with ORC ({m})"),
            Err(()) => format!(
                "the symbols given do not show whether the target kernel unwinds with ORC (no vmlinux symbols with {})",
                ORC_MARKERS.join("/")
            ),
        };
        let what = format!("the object has no ORC unwind data ({why}), and {orc}");
        if self.opts.allow_missing_orc {
            self.warnings.push(format!(
                "{what}; --allow-missing-orc: the patched functions have no ORC entries, so a task sleeping in them blocks the livepatch transition and the disable until it leaves them, and stack traces through them are unreliable"
            ));
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Refused,
            format!("{what}: klpwrite cannot write ORC data exactly"),
        )
        .in_file(&p.path)
        .hint("run the kernel's objtool on the object with the build's options (without --link/--ibt), diff vmlinux.o or the module's .o that objtool processed at link time, or pass --allow-missing-orc to accept that a task sleeping in patched code stalls the transition"))
    }

    /// The symbol source must be the kernel (or module) the original
    /// object was built for: sympos is counted in its symbol table, and a
    /// vmlinux of another build of the same source has the same names in
    /// another order. When the source has bytes (a vmlinux or `.ko`, or a
    /// kallsyms dump with `--image`), a sample of the original's functions
    /// must have them ([`crate::bytematch::belongs`]).
    fn check_belongs(&mut self) -> Result<()> {
        let Some(o) = self.inp.orig else {
            return Ok(());
        };
        let t = self.target();
        let Some(space) = t.bytes().map_err(|e| e.in_file(&o.elf.path))? else {
            self.warnings.push(format!(
                "symbol source {}: a kallsyms dump without --image has no bytes, so nothing shows it is the kernel {} was built for (another build's names may fit and give other sympos); pass the kernel's vmlinux or vmlinuz with --image",
                t.source, o.elf.path
            ));
            return Ok(());
        };
        // The functions the patch replaces, as the original has them (a
        // listed name that does not resolve is roots()' error to report).
        let focus: Vec<usize> = self
            .inp
            .changes
            .iter()
            .filter_map(|c| self.p.listed_function(c.name.as_bytes()).ok().flatten())
            .filter_map(|p| o.twin_of(p))
            .collect();
        let b =
            crate::bytematch::belongs(t, &space, o.elf, &focus, crate::bytematch::BELONGS_SAMPLE);
        let replaced = if b.focus_differs.is_empty() {
            String::new()
        } else {
            format!(
                "{} of the functions the patch replaces ({}) {} other code there (is it the patched build?); ",
                b.focus_differs.len(),
                b.focus_differs
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if b.focus_differs.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            )
        };
        let summary = format!(
            "{replaced}{} of {} functions of {} differ in {} ({} compared of {} defined once on each side{})",
            b.differs.len(),
            b.compared(),
            o.elf.path,
            space.what,
            b.compared(),
            b.eligible,
            if b.unknown > 0 {
                format!(", {} more not comparable", b.unknown)
            } else {
                String::new()
            }
        );
        if !b.refuses() {
            self.explain
                .push(format!("symbol source {}: {summary}", t.source));
            if !b.differs.is_empty() {
                self.warnings.push(format!(
                    "symbol source {}: {summary}: {}",
                    t.source,
                    b.detail(3)
                ));
            }
            return Ok(());
        }
        let what = format!(
            "{} is not the {} that {} was built for: {summary}: {}",
            t.source,
            if t.objname == "vmlinux" {
                "kernel".to_string()
            } else {
                format!("module {}", t.objname)
            },
            o.elf.path,
            b.detail(3)
        );
        if self.opts.allow_symbol_mismatch {
            self.warnings.push(format!(
                "{what}; --allow-symbol-mismatch: sympos values and klp symbols are read from it anyway"
            ));
            return Ok(());
        }
        Err(Error::new(ErrorKind::Usage, what)
            .hint("pass the symbols (and --image) of the kernel the original objects were built from, i.e. the one the patch will be loaded into; if the original objects are the odd ones out, rebuild them from that kernel's source, config and compiler"))
    }

    fn target(&self) -> &'a TargetObject {
        self.inp
            .target
            .object(&self.opts.objname)
            .expect("checked in run()")
    }
}

/// A string-literal section klpwrite copies string by string: SHF_STRINGS
/// with 1-byte characters (wider strings are copied as a whole section).
fn is_char_strings(s: &crate::elf::Section) -> bool {
    s.is_strings() && s.sh_entsize <= 1
}

/// The alignment of a section, checked: a power of two no larger than
/// 64 KiB (kernel objects use at most a page). A hostile value must not
/// make klpwrite pad gigabytes.
fn checked_align(p: &Elf, sec: usize) -> Result<u64> {
    let a = p.sections[sec].sh_addralign.max(1);
    if !a.is_power_of_two() || a > 1 << 16 {
        return Err(Error::malformed(format!(
            "section {}: sh_addralign {a:#x} is not a power of two up to 64 KiB",
            p.sections[sec].display_name()
        ))
        .in_file(&p.path));
    }
    Ok(a)
}

/// Section names extract relies on must be unambiguous: a section named
/// like one extract writes (the input is already an output), a special or
/// auxiliary section that appears twice (which one pairs with which
/// `.orc_unwind`, which `.fixup` an exception entry means?) and an allocated
/// section without a name are refused. Other duplicates are legal ELF
/// (`__patchable_function_entries` comes once per function) and fine.
fn check_section_names(p: &Elf) -> Result<()> {
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for s in p.sections.iter().skip(1) {
        if s.name == META_SECTION
            || s.name.starts_with(b".klp.rela.")
            || s.name.starts_with(b".klp.arch.")
        {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "section #{} is named {}, a name klpwrite writes itself: the input is already a livepatch object",
                    s.index,
                    s.display_name()
                ),
            )
            .in_file(&p.path)
            .hint("extract reads the patched object as the compiler wrote it"));
        }
        if s.name.is_empty() && s.is_alloc() {
            return Err(Error::malformed(format!(
                "section #{}: an allocated section without a name",
                s.index
            ))
            .in_file(&p.path));
        }
        let special = x86::special_for(&s.name)
            .is_some_and(|sp| !matches!(sp.treatment, x86::Treatment::Drop(_)))
            || x86::AUX_SECTIONS.iter().any(|a| s.name == a.as_bytes());
        if !special || s.sh_type != SHT_PROGBITS {
            continue;
        }
        if let Some(first) = seen.insert(&s.name, s.index) {
            return Err(Error::malformed(format!(
                "sections #{first} and #{} are both named {}: klpwrite cannot tell which entries belong together",
                s.index,
                s.display_name()
            ))
            .in_file(&p.path));
        }
    }
    Ok(())
}

/// Alignment for a chunk starting at `start` in a section aligned to
/// `align`: keep whatever alignment the input offset had.
fn chunk_align(start: u64, align: u64) -> u64 {
    let align = align.max(1);
    if start == 0 {
        align
    } else {
        (1u64 << start.trailing_zeros()).min(align)
    }
}

/// Whether function `f` of `elf` starts with `call __fentry__` (or has the
/// NOP that `-mrecord-mcount -mnop-mcount` leaves, recorded in
/// `__mcount_loc`).
pub fn has_fentry(elf: &Elf, f: usize) -> bool {
    let s = &elf.symbols[f];
    let Some(sec) = s.section else { return false };
    let start = s.value;
    let end = start + 16;
    let direct = elf.relocs_for(sec).any(|r| {
        r.offset >= start && r.offset < end && elf.symbols[r.symbol].name == b"__fentry__"
    });
    if direct {
        return true;
    }
    // __mcount_loc entries pointing at the function start.
    elf.sections
        .iter()
        .filter(|x| x.name == b"__mcount_loc")
        .any(|ml| {
            elf.relocs_for(ml.index).any(|r| {
                let t = &elf.symbols[r.symbol];
                let off = crate::elf::offset_of(t.value, r.addend, 0).unwrap_or(-1);
                t.section == Some(sec) && off >= start as i64 && off < end as i64
            })
        })
}
