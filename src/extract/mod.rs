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

mod special;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::arch::x86_64::{self as x86, CodeMap};
use crate::changes::{Change, ChangeKind};
use crate::elf::consts::*;
use crate::elf::{Elf, names};
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
/// `func <new symbol> <old name> <sympos>` per patched function and one
/// `callback <slot> <function>` per marked callback.
pub const META_SECTION: &[u8] = b".klpwrite.patch";

/// The `klp_callbacks` slots, in struct order.
pub const CALLBACK_SLOTS: [&str; 4] = ["pre_patch", "post_patch", "pre_unpatch", "post_unpatch"];

/// What an extract output's `.klpwrite.patch` says.
#[derive(Debug, Clone)]
pub struct PatchMeta {
    /// `vmlinux` or the module the output patches.
    pub objname: String,
    /// (new symbol, old name, sympos) per patched function.
    pub funcs: Vec<(String, String, u64)>,
    /// (slot in [`CALLBACK_SLOTS`], function) per marked callback.
    pub callbacks: Vec<(usize, String)>,
    /// Written for the pre-5.8 rules (`.klp.arch` sections, no klp
    /// relocations in jump labels).
    pub legacy: bool,
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
    };
    let mut rules = None;
    for l in lines {
        match l.split(' ').collect::<Vec<_>>().as_slice() {
            ["object", o] => meta.objname = o.to_string(),
            ["rules", r @ ("legacy" | "current")] => rules = Some(*r == "legacy"),
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

/// Everything `extract` reads.
pub struct Inputs<'a> {
    /// The patched object.
    pub patched: &'a Elf,
    /// The original object, if given (improves twin matching).
    pub orig: Option<&'a Elf>,
    /// The function list.
    pub changes: &'a [Change],
    /// Target symbols.
    pub target: &'a Target,
    /// Exports from Module.symvers (may be empty).
    pub exports: &'a Exports,
    /// Whether a Module.symvers was given at all.
    pub have_symvers: bool,
}

/// Options of `extract`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `vmlinux` or the module name of the patched object.
    pub objname: String,
    /// `--sympos NAME=N` overrides.
    pub sympos: HashMap<String, u64>,
    /// `--struct-size SECTION=N` overrides of special-section entry sizes.
    pub struct_sizes: HashMap<String, u64>,
    /// The target kernel's version, when known (None: 5.8+ rules).
    pub kernel: Option<crate::kernel::Version>,
}

/// One function the patch replaces (a future `klp_func`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchedFunc {
    /// Symbol of the new function in the output.
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
    code_maps: HashMap<usize, CodeMap>,
    sorted_relocs: HashMap<usize, Vec<usize>>,
    twin_cache: HashMap<usize, Option<Vec<u8>>>,
    sympos_cache: HashMap<(Vec<u8>, bool, usize), u64>,
    /// Special sections: entry size per section.
    entry_sizes: HashMap<usize, &'static x86::Layout>,
    /// Special-section entries already decided: (section, entry index).
    decided: HashSet<(usize, u64)>,
    /// Kept alternatives: (code section, offset, instrlen).
    kept_alts: Vec<(usize, u64, u64)>,
    /// Code relocations into .altinstr_aux that were dropped: (section, offset).
    aux_drops: Vec<(usize, u64)>,
    /// Errors found where returning one was not convenient.
    deferred: Vec<Error>,
    /// Callbacks marked in the patched object: (slot, function, object).
    callbacks: Vec<(usize, usize, String)>,
    explain: Vec<String>,
    warnings: Vec<String>,
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
        code_maps: HashMap::new(),
        sorted_relocs: HashMap::new(),
        twin_cache: HashMap::new(),
        sympos_cache: HashMap::new(),
        entry_sizes: HashMap::new(),
        decided: HashSet::new(),
        kept_alts: Vec::new(),
        aux_drops: Vec::new(),
        deferred: Vec::new(),
        callbacks: Vec::new(),
        explain: Vec::new(),
        warnings: Vec::new(),
    };
    check_section_names(inp.patched)?;
    if !inp.have_symvers {
        ex.warnings.push(
            "no --symvers given: exports are only known from __ksymtab_ symbols of the symbol source"
                .into(),
        );
    }
    ex.roots()?;
    ex.callbacks()?;
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
    ex.check_unknown_sections()?;
    ex.layout()
}

impl<'a> Ex<'a> {
    fn target(&self) -> &'a TargetObject {
        self.inp
            .target
            .object(&self.opts.objname)
            .expect("checked in run()")
    }

    // ------------------------------------------------------------------
    // 1. roots
    // ------------------------------------------------------------------

    fn roots(&mut self) -> Result<()> {
        let p = self.p;
        let mut listed: Vec<(usize, ChangeKind, usize)> = Vec::new();
        for c in self.inp.changes {
            let Some(sym) = p.find_function(c.name.as_bytes()) else {
                let similar: Vec<String> = p
                    .symbols
                    .iter()
                    .filter(|s| {
                        s.is_func()
                            && names::demangle(&s.name) == names::demangle(c.name.as_bytes())
                    })
                    .map(|s| s.display_name())
                    .collect();
                let mut e = Error::new(
                    ErrorKind::Symbol,
                    format!(
                        "listed function {} is not a function defined in this object",
                        c.name
                    ),
                )
                .in_file(&p.path);
                if !similar.is_empty() {
                    e = e.hint(format!("did you mean {}?", similar.join(", ")));
                }
                return Err(e);
            };
            listed.push((sym, c.kind, c.line));
        }
        // Children and prefixes listed on their own travel with their parent.
        let listed_set: HashSet<usize> = listed.iter().map(|l| l.0).collect();
        for &(sym, kind, _) in &listed {
            let s = &p.symbols[sym];
            let sec = s.section.expect("find_function returns defined symbols");
            if names::is_init_section(&p.sections[sec].name) {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{} is in {}: init code runs once at boot and is freed, it cannot be live patched",
                        s.display_name(),
                        p.sections[sec].display_name()
                    ),
                )
                .in_file(&p.path)
                .hint("move the change out of the __init function, or apply it with a callback"));
            }
            if names::prefix_target(&s.name).is_some() {
                continue; // included with its function
            }
            if names::is_cold_child(&s.name) {
                let parent = names::child_parent(&s.name).and_then(|n| p.find_function(n));
                match parent {
                    Some(par) if listed_set.contains(&par) => continue,
                    Some(par) => {
                        self.warnings.push(format!(
                            "{} is a .cold part of {}; patching the parent instead",
                            s.display_name(),
                            p.symbols[par].display_name()
                        ));
                        self.add_function_root(par, ChangeKind::Changed)?;
                        continue;
                    }
                    None => {
                        return Err(Error::new(
                            ErrorKind::Symbol,
                            format!("{} has no parent function in this object", s.display_name()),
                        )
                        .in_file(&p.path));
                    }
                }
            }
            self.add_function_root(sym, kind)?;
        }
        Ok(())
    }

    /// Livepatch callbacks marked in the patched object, in either
    /// convention: kpatch's `KPATCH_*_CALLBACK()` (16-byte records in
    /// `.kpatch.callbacks.<slot>`: function pointer, object-name pointer
    /// or NULL for this object) or upstream's `KLP_*_CALLBACK()` (a pointer
    /// variable `__klp_<slot>_callback_<obj>`). The functions are copied
    /// and recorded for `klpwrite module`.
    fn callbacks(&mut self) -> Result<()> {
        let p = self.p;
        let mut found: Vec<(usize, usize, String, String)> = Vec::new(); // slot, func, obj, where
        let target_of = |id: usize| -> Option<usize> {
            let r = p.relocs[id];
            let s = &p.symbols[r.symbol];
            let sec = s.section?;
            let off = crate::elf::uoffset_of(s.value, r.addend, 0)?;
            p.symbols[..]
                .iter()
                .find(|f| {
                    f.is_func() && f.section == Some(sec) && f.value == off && !f.name.is_empty()
                })
                .map(|f| f.index)
        };
        for (slot, name) in CALLBACK_SLOTS.iter().enumerate() {
            let Some(sec) = p.section_by_name(format!(".kpatch.callbacks.{name}").as_bytes())
            else {
                continue;
            };
            for id in crate::special::sorted_relocs(p, sec) {
                let r = p.relocs[id];
                if !r.offset.is_multiple_of(16) {
                    continue;
                }
                let obj = crate::special::sorted_relocs(p, sec)
                    .into_iter()
                    .find(|&j| p.relocs[j].offset == r.offset + 8)
                    .and_then(|j| {
                        let t = &p.symbols[p.relocs[j].symbol];
                        let d = p.data(t.section?);
                        let o = crate::elf::uoffset_of(t.value, p.relocs[j].addend, 0)? as usize;
                        let end = d.get(o..)?.iter().position(|&b| b == 0)? + o;
                        Some(String::from_utf8_lossy(&d[o..end]).into_owned())
                    })
                    .unwrap_or_else(|| self.opts.objname.clone());
                let f = target_of(id).ok_or_else(|| {
                    err_at(
                        p,
                        sec,
                        r.offset,
                        ErrorKind::Malformed,
                        "callback record does not point at a function".into(),
                    )
                })?;
                found.push((slot, f, obj, format!(".kpatch.callbacks.{name}")));
            }
        }
        for s in &p.symbols {
            let Some(rest) = s.name.strip_prefix(b"__klp_") else {
                continue;
            };
            let Some((slot, obj)) = CALLBACK_SLOTS.iter().enumerate().find_map(|(i, n)| {
                rest.strip_prefix(n.as_bytes())
                    .and_then(|r| r.strip_prefix(b"_callback_"))
                    .map(|o| (i, String::from_utf8_lossy(o).into_owned()))
            }) else {
                continue;
            };
            let Some(sec) = s.section else { continue };
            let id = crate::special::sorted_relocs(p, sec)
                .into_iter()
                .find(|&j| p.relocs[j].offset == s.value);
            let f = id.and_then(target_of).ok_or_else(|| {
                Error::malformed(format!("{} does not point at a function", s.display_name()))
                    .in_file(&p.path)
            })?;
            found.push((slot, f, obj, s.display_name()));
        }
        for (slot, f, obj, from) in found {
            if obj != self.opts.objname {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "callback {} ({from}) is for object {obj}, but this patch is for {}",
                        p.symbols[f].display_name(),
                        self.opts.objname
                    ),
                )
                .in_file(&p.path));
            }
            if self.callbacks.iter().any(|c| c.0 == slot) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("two {} callbacks for {obj}", CALLBACK_SLOTS[slot]),
                )
                .in_file(&p.path));
            }
            self.explain.push(format!(
                "callback {} = {} [{from}]",
                CALLBACK_SLOTS[slot],
                p.symbols[f].display_name()
            ));
            if !self.included_set.contains(&f) {
                self.new_syms.insert(f);
                self.include(f, Why::New);
            }
            self.callbacks.push((slot, f, obj));
        }
        Ok(())
    }

    fn add_function_root(&mut self, sym: usize, kind: ChangeKind) -> Result<()> {
        if self.changed.contains_key(&sym) {
            return Ok(());
        }
        let p = self.p;
        let name = p.symbols[sym].name.clone();
        // Changed or new? A function the target knows is changed.
        let twin = self.twin_name(sym)?;
        let is_changed = match (kind, &twin) {
            (ChangeKind::New, _) => false,
            (_, Some(_)) => true,
            (ChangeKind::Changed, None) => {
                return Err(Error::new(
                    ErrorKind::Symbol,
                    format!(
                        "changed function {} does not exist in the target ({})",
                        show(&name),
                        self.target().source
                    ),
                )
                .in_file(&p.path)
                .hint("check --objname and --symbols; list it as `new function:` if the patch adds it"));
            }
            (ChangeKind::Unspecified, None) => false,
        };
        if is_changed {
            let old = twin.expect("changed has a twin");
            let sympos = self.sympos_for(sym, &old, p.symbols[sym].is_local())?;
            self.changed.insert(sym, (old.clone(), sympos));
            self.include(sym, Why::Changed);
            self.explain.push(format!(
                "function {} [changed] replaces {}{}",
                show(&name),
                show(&old),
                if sympos != 0 {
                    format!(" (sympos {sympos})")
                } else {
                    String::new()
                }
            ));
            if let Some(orig) = self.inp.orig
                && let Some(o) = orig.find_function(&old)
                && !has_fentry(orig, o)
            {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{} has no `call __fentry__` at its start in the original object, so ftrace cannot redirect it",
                        show(&old)
                    ),
                )
                .in_file(&orig.path)
                .hint("notrace/inline functions cannot be live patched; patch their callers instead"));
            }
        } else {
            self.new_syms.insert(sym);
            self.include(sym, Why::New);
            self.explain.push(format!("function {} [new]", show(&name)));
        }
        Ok(())
    }

    /// Include a named symbol and what travels with it.
    fn include(&mut self, sym: usize, why: Why) {
        if !self.included_set.insert(sym) {
            return;
        }
        let p = self.p;
        let s = &p.symbols[sym];
        let Some(sec) = s.section else { return };
        let st = p.sections[sec].sh_type;
        if st != SHT_PROGBITS
            && st != SHT_NOBITS
            && !(0x7000_0000..=0x7fff_ffff).contains(&st)
            && st != 14
            && st != 15
        {
            self.deferred.push(
                Error::malformed(format!(
                    "symbol {} is defined in {}, a {} section, which holds no code or data",
                    s.display_name(),
                    p.sections[sec].display_name(),
                    section_type_name(st)
                ))
                .in_file(&p.path),
            );
            return;
        }
        let sh_size = p.sections[sec].sh_size;
        if s.value > sh_size || s.value.saturating_add(s.size) > sh_size {
            self.deferred.push(
                Error::malformed(format!(
                    "symbol {} (value {:#x}, size {:#x}) lies outside {} (size {sh_size:#x})",
                    s.display_name(),
                    s.value,
                    s.size,
                    p.sections[sec].display_name()
                ))
                .in_file(&p.path),
            );
            return;
        }
        self.add_range(
            sec,
            s.value,
            s.value.saturating_add(s.size),
            s.display_name(),
        );
        let is_func = s.is_func();
        self.included.push((sym, why));
        if !is_func {
            return;
        }
        // Prefix: a __pfx_/__cfi_ symbol ending exactly at the function.
        for &o in p.section_symbols(sec) {
            let os = &p.symbols[o];
            if os.is_func()
                && names::prefix_target(&os.name) == Some(&s.name[..])
                && os.value.saturating_add(os.size) == s.value
            {
                self.explain.push(format!(
                    "  prefix {} of {}",
                    os.display_name(),
                    s.display_name()
                ));
                self.include(o, Why::Prefix(sym));
            }
        }
        // Children: foo.cold[.N], foo.part.N (and their own children).
        let name = s.name.clone();
        let children: Vec<usize> = p
            .symbols
            .iter()
            .filter(|c| {
                c.is_func()
                    && c.section.is_some()
                    && names::child_parent(&c.name) == Some(&name[..])
            })
            .map(|c| c.index)
            .collect();
        for c in children {
            if !self.included_set.contains(&c) {
                self.explain.push(format!(
                    "  child {} of {}",
                    p.symbols[c].display_name(),
                    show(&name)
                ));
                self.include(c, Why::Child(sym));
            }
        }
    }

    fn add_range(&mut self, sec: usize, start: u64, end: u64, why: String) {
        let list = self.ranges.entry(sec).or_default();
        if list.iter().any(|&(s, e)| s <= start && end <= e) {
            return;
        }
        list.push((start, end));
        self.queue.push_back((sec, start, end, why));
    }

    // ------------------------------------------------------------------
    // twins, sympos
    // ------------------------------------------------------------------

    /// The name of `sym`'s counterpart in the target, or None if `sym` is
    /// new. With --orig, the orig twin decides; otherwise the target's
    /// symbols (exact name, then demangled name in the same unit).
    fn twin_name(&mut self, sym: usize) -> Result<Option<Vec<u8>>> {
        if let Some(t) = self.twin_cache.get(&sym) {
            return Ok(t.clone());
        }
        let r = self.twin_name_uncached(sym)?;
        self.twin_cache.insert(sym, r.clone());
        Ok(r)
    }

    fn twin_name_uncached(&mut self, sym: usize) -> Result<Option<Vec<u8>>> {
        let p = self.p;
        let s = &p.symbols[sym];
        if let Some(orig) = self.inp.orig {
            return Ok(orig_twin(p, orig, sym).map(|o| orig.symbols[o].name.clone()));
        }
        let t = self.target();
        let tu = TuInfo::of(p, sym);
        match t.resolve(&s.name, s.is_local(), &tu, false) {
            Lookup::Found { .. } => return Ok(Some(s.name.clone())),
            Lookup::Ambiguous(_) => return Ok(Some(s.name.clone())), // sympos decides later
            Lookup::NotFound(_) => {}
        }
        // Renumbered clones and static locals: same demangled name, same unit.
        let d = names::demangle(&s.name);
        if d == s.name {
            return Ok(None);
        }
        let file = tu.file.as_deref();
        let mut cands: Vec<Vec<u8>> = t
            .syms
            .iter()
            .filter(|ts| ts.local == s.is_local() && names::demangle(&ts.name) == d)
            .filter(|ts| match (ts.file, file) {
                (Some(f), Some(file)) => {
                    t.files[f].name.rsplit(|&b| b == b'/').next()
                        == file.rsplit(|&b| b == b'/').next()
                }
                _ => true,
            })
            .map(|ts| ts.name.clone())
            .collect();
        cands.sort();
        cands.dedup();
        match cands.len() {
            0 => Ok(None),
            1 => {
                self.explain.push(format!(
                    "  twin of {} in the target is {} (same demangled name)",
                    s.display_name(),
                    show(&cands[0])
                ));
                Ok(Some(cands.pop().expect("one")))
            }
            _ => Err(Error::new(
                ErrorKind::Symbol,
                format!(
                    "{} matches several target symbols by demangled name: {}",
                    s.display_name(),
                    cands.iter().map(|c| show(c)).collect::<Vec<_>>().join(", ")
                ),
            )
            .in_file(&p.path)
            .hint("pass --orig ORIG.o so klpwrite can pair symbols with the original build")),
        }
    }

    /// sympos of `name` (the target's name for patched `sym`).
    fn sympos_for(&mut self, sym: usize, name: &[u8], local: bool) -> Result<u64> {
        let ckey = (
            name.to_vec(),
            local,
            self.p.symbols[sym].file.unwrap_or(usize::MAX),
        );
        if let Some(&n) = self.sympos_cache.get(&ckey) {
            return Ok(n);
        }
        let n = self.sympos_uncached(sym, name, local)?;
        self.sympos_cache.insert(ckey, n);
        Ok(n)
    }

    fn sympos_uncached(&mut self, sym: usize, name: &[u8], local: bool) -> Result<u64> {
        let key = String::from_utf8_lossy(name).into_owned();
        let t = self.target();
        if let Some(&n) = self.opts.sympos.get(&key) {
            let count = t.named(name).len() as u64;
            if n > count || (n == 0 && count > 1) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "--sympos {key}={n}: {} has {count} symbol(s) named {key}",
                        t.objname
                    ),
                ));
            }
            self.explain
                .push(format!("  sympos {key},{n}: given by --sympos"));
            return Ok(n);
        }
        // Describe the unit with the original object when we have it.
        let tu = match self
            .inp
            .orig
            .and_then(|o| orig_twin(self.p, o, sym).map(|i| (o, i)))
        {
            Some((o, i)) => TuInfo::of(o, i),
            None => TuInfo::of(self.p, sym),
        };
        match t.resolve(name, local, &tu, self.inp.orig.is_some()) {
            Lookup::Found { sympos, index, how } => {
                let ts = &t.syms[index];
                if ts.init {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{} in {} is init code or data: it is freed after boot and cannot be patched or referenced",
                            show(name),
                            t.objname
                        ),
                    )
                    .in_file(&self.p.path));
                }
                if t.init_only.iter().any(|i| i.name == name) {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{} also names init symbols in module {}: its position differs while the module loads and once it is live",
                            show(name),
                            t.objname
                        ),
                    )
                    .in_file(&self.p.path)
                    .hint("rename one of the symbols in the target, or avoid referencing it"));
                }
                self.explain.push(format!(
                    "  sympos {},{} in {}: {}",
                    show(name),
                    sympos,
                    t.objname,
                    how
                ));
                Ok(sympos)
            }
            Lookup::NotFound(why) => Err(Error::new(ErrorKind::Symbol, why)
                .in_file(&self.p.path)
                .hint(format!("symbols come from {}", t.source))),
            Lookup::Ambiguous(c) => Err(Error::new(
                ErrorKind::Symbol,
                format!(
                    "ambiguous: cannot tell which {} in {} is meant; candidates in kallsyms order:\n    {}",
                    show(name),
                    t.objname,
                    c.join("\n    ")
                ),
            )
            .in_file(&self.p.path)
            .hint(format!(
                "pass --sympos {}=N (1-based position in that order){}",
                show(name),
                if self.inp.orig.is_none() {
                    ", or --orig ORIG.o"
                } else {
                    ""
                }
            ))),
        }
    }

    // ------------------------------------------------------------------
    // 2. closure
    // ------------------------------------------------------------------

    fn code_map(&mut self, sec: usize) -> &CodeMap {
        let p = self.p;
        self.code_maps
            .entry(sec)
            .or_insert_with(|| CodeMap::decode(p.data(sec)))
    }

    fn relocs_sorted(&mut self, sec: usize) -> &[usize] {
        let p = self.p;
        self.sorted_relocs.entry(sec).or_insert_with(|| {
            let mut v: Vec<usize> = Vec::new();
            for &rs in &p.sections[sec].rela_sections {
                if p.sections[rs].is_klp_rela() {
                    continue;
                }
                if let Some(r) = p.rsec_relocs.get(&rs) {
                    v.extend(r.clone());
                }
            }
            v.sort_by_key(|&i| (p.relocs[i].offset, i));
            v
        })
    }

    fn closure(&mut self) -> Result<()> {
        while let Some((sec, start, end, _why)) = self.queue.pop_front() {
            let ids: Vec<usize> = {
                let p = self.p;
                let all = self.relocs_sorted(sec);
                let lo = all.partition_point(|&i| p.relocs[i].offset < start);
                all[lo..]
                    .iter()
                    .copied()
                    .take_while(|&i| p.relocs[i].offset < end)
                    .collect()
            };
            for id in ids {
                if !self.processed_relocs.insert(id) {
                    continue;
                }
                let r = self.p.relocs[id];
                let width = x86::reloc_width(r.r_type).unwrap_or(0) as u64;
                if r.offset + width > end {
                    return Err(err_at(
                        self.p,
                        sec,
                        r.offset,
                        ErrorKind::Malformed,
                        format!(
                            "{} field runs past the end of the copied range ({}+{end:#x}): the symbol's size cuts an instruction",
                            x86::reloc_name(r.r_type),
                            self.p.sections[sec].display_name()
                        ),
                    ));
                }
                let dest = self.classify(id)?;
                self.check_special_klp(id, &dest)?;
                self.pending.push(Pending { reloc: id, dest });
            }
        }
        Ok(())
    }

    /// Adjustment of a PC-relative relocation inside code.
    fn adjustment(&mut self, id: usize) -> i64 {
        let p = self.p;
        let r = p.relocs[id];
        if !x86::reloc_is_pcrel(r.r_type) || !p.sections[r.section].is_exec() {
            return 0;
        }
        let insn = self.code_map(r.section).insn_at(r.offset);
        x86::addend_adjustment(r.r_type, r.offset, insn)
    }

    fn is_branch(&mut self, id: usize) -> bool {
        let p = self.p;
        let r = p.relocs[id];
        if !p.sections[r.section].is_exec() {
            return false;
        }
        self.code_map(r.section)
            .insn_at(r.offset)
            .is_some_and(|i| i.is_call || i.is_jump)
    }

    fn classify(&mut self, id: usize) -> Result<Dest> {
        let p = self.p;
        let r = p.relocs[id];
        if r.r_type == x86::R_X86_64_NONE {
            return Ok(Dest::Drop);
        }
        let here = p.locate(r.section, r.offset);
        if !x86::reloc_allowed_in_module(r.r_type) {
            return Err(err_at(
                p,
                r.section,
                r.offset,
                ErrorKind::Unsupported,
                format!(
                    "relocation {} cannot be applied by the kernel's module loader (it accepts NONE, 64, PC32, PLT32, 32, 32S and PC64)",
                    x86::reloc_name(r.r_type)
                ),
            )
            .hint("build with the kernel's flags (-mcmodel=kernel, no -fPIC)"));
        }
        let s = &p.symbols[r.symbol];
        if r.symbol == 0 {
            return Err(err_at(
                p,
                r.section,
                r.offset,
                ErrorKind::Malformed,
                "relocation against symbol 0".into(),
            ));
        }
        let adj = self.adjustment(id);
        let anon_ref = s.is_section()
            || (s.kind() == STT_NOTYPE
                && s.is_local()
                && s.section.is_some()
                && (names::is_local_label(&s.name) || s.name.is_empty()));
        if anon_ref {
            let sec = s.section.ok_or_else(|| {
                err_at(
                    p,
                    r.section,
                    r.offset,
                    ErrorKind::Malformed,
                    "section symbol without a section".into(),
                )
            })?;
            let off = crate::elf::offset_of(s.value, r.addend, adj).unwrap_or(-1);
            if off < 0 || off as u64 > p.sections[sec].sh_size {
                return Err(err_at(
                    p,
                    r.section,
                    r.offset,
                    ErrorKind::Unsupported,
                    format!(
                        "{} refers to {}{:+#x}, outside the section",
                        x86::reloc_name(r.r_type),
                        p.sections[sec].display_name(),
                        off
                    ),
                ));
            }
            let off = off as u64;
            if is_char_strings(&p.sections[sec]) {
                return Ok(Dest::Str(sec, off, adj));
            }
            if let Some(t) = p.symbol_containing(sec, off) {
                let toff = off - p.symbols[t].value;
                return self.classify_named(id, t, toff as i64 - adj, true, &here);
            }
            return self.classify_anon(id, sec, off, adj, &here);
        }
        if s.is_undef() {
            return self.external(id, &s.name.clone(), s.kind(), r.addend, &here);
        }
        if s.section.is_none() {
            return Err(err_at(
                p,
                r.section,
                r.offset,
                ErrorKind::Unsupported,
                format!(
                    "relocation against {} which has no section (st_shndx {:#x})",
                    s.display_name(),
                    s.st_shndx
                ),
            ));
        }
        self.classify_named(id, r.symbol, r.addend, false, &here)
    }

    /// An offset in a section that no named symbol covers.
    fn classify_anon(
        &mut self,
        id: usize,
        sec: usize,
        off: u64,
        adj: i64,
        here: &str,
    ) -> Result<Dest> {
        let p = self.p;
        let ps = &p.sections[sec];
        if !ps.is_alloc() {
            return Err(err_at(
                p,
                p.relocs[id].section,
                p.relocs[id].offset,
                ErrorKind::Unsupported,
                format!("reference to non-allocated section {}", ps.display_name()),
            ));
        }
        if names::is_init_section(&ps.name) {
            return Err(self.init_ref_error(id, &ps.display_name()));
        }
        if let Some(d) = self.aux_target(id, sec, off, adj, here)? {
            return Ok(d);
        }
        let writable = ps.sh_flags & SHF_WRITE != 0;
        if writable
            && !names::is_anonymous_data_section(&ps.name)
            && !names::is_once_section(&ps.name)
        {
            return Err(err_at(
                p,
                p.relocs[id].section,
                p.relocs[id].offset,
                ErrorKind::Refused,
                format!(
                    "reference to {}+{:#x}, which no symbol covers: klpwrite cannot tell whether it is existing kernel state",
                    ps.display_name(),
                    off
                ),
            )
            .hint("make the object a named variable, or rebuild with -fdata-sections"));
        }
        // Anonymous read-only data, code without symbols, UBSAN data: copy
        // the whole section.
        if !self
            .ranges
            .get(&sec)
            .is_some_and(|v| v.iter().any(|&(s, e)| s == 0 && e == ps.sh_size))
        {
            self.explain.push(format!(
                "include {} [anonymous, referenced at {here}]",
                ps.display_name()
            ));
            self.add_range(
                sec,
                0,
                ps.sh_size,
                format!("anonymous {}", ps.display_name()),
            );
        }
        Ok(Dest::Anon(sec, off, adj))
    }

    fn init_ref_error(&self, id: usize, what: &str) -> Error {
        let p = self.p;
        let r = p.relocs[id];
        err_at(
            p,
            r.section,
            r.offset,
            ErrorKind::Refused,
            format!("reference to init code or data ({what}), which is freed after boot"),
        )
        .hint("patched code may not call __init functions or use __initdata")
    }

    /// A defined, named target `t` at `off` (relative to `t`'s start, as
    /// the relocation's own addend would express it).
    fn classify_named(
        &mut self,
        id: usize,
        t: usize,
        addend: i64,
        via_section: bool,
        here: &str,
    ) -> Result<Dest> {
        let p = self.p;
        let ts = &p.symbols[t];
        let sec = ts.section.expect("named targets are defined");
        let psec = &p.sections[sec];
        if is_char_strings(psec) {
            let adj = self.adjustment(id);
            let off = crate::elf::uoffset_of(ts.value, addend, adj).unwrap_or(0);
            return Ok(Dest::Str(sec, off, adj));
        }
        let self_ref_ok = self.included_set.contains(&t);
        if self_ref_ok {
            // Function pointer to a changed function: point at the original,
            // which ftrace redirects while the patch is active and which
            // stays valid after the patch is removed.
            if let Some((old, pos)) = self.changed.get(&t).cloned() {
                let adj = self.adjustment(id);
                if crate::elf::offset_of(0, addend, adj) == Some(0)
                    && !self.is_branch(id)
                    && !self.is_special_or_aux(p.relocs[id].section)
                {
                    let target_name = self.klp_target_name(&old, self.opts.objname.clone())?;
                    self.explain.push(format!(
                        "reloc {here} → klp {} [pointer to changed function {} keeps pointing at the original]",
                        target_name,
                        ts.display_name()
                    ));
                    return Ok(Dest::Klp(
                        self.opts.objname.clone(),
                        old,
                        pos,
                        ts.kind(),
                        addend,
                    ));
                }
            }
            return Ok(Dest::Clone(t, addend));
        }
        if names::is_init_section(&psec.name) {
            return Err(self.init_ref_error(id, &ts.display_name()));
        }
        // Never correlated: always a fresh copy.
        let fresh = (ts.is_local() && names::is_uncorrelated_static_local(&ts.name))
            || names::is_once_section(&psec.name)
            || names::is_anonymous_data_section(&psec.name)
            || names::is_local_label(&ts.name)
            || (ts.kind() == STT_NOTYPE && ts.is_local());
        if fresh {
            self.explain.push(format!(
                "include {} [uncorrelated static, referenced at {here}]",
                ts.display_name()
            ));
            self.include(t, Why::Referenced(here.to_string()));
            return Ok(if via_section {
                let adj = self.adjustment(id);
                Dest::Anon(
                    sec,
                    crate::elf::uoffset_of(ts.value, addend, adj).unwrap_or(u64::MAX),
                    adj,
                )
            } else {
                Dest::Clone(t, addend)
            });
        }
        // Does the target kernel have it?
        match self.twin_name(t)? {
            None => {
                let what = if ts.is_func() {
                    "new function"
                } else {
                    "new data"
                };
                self.explain.push(format!(
                    "include {} [{what}, referenced at {here}]",
                    ts.display_name()
                ));
                if ts.is_func() {
                    self.new_syms.insert(t);
                }
                self.include(t, Why::Referenced(here.to_string()));
                Ok(if via_section {
                    let adj = self.adjustment(id);
                    Dest::Anon(
                        sec,
                        crate::elf::uoffset_of(ts.value, addend, adj).unwrap_or(u64::MAX),
                        adj,
                    )
                } else {
                    Dest::Clone(t, addend)
                })
            }
            Some(old) => {
                // Existing in the target: normal if exported by vmlinux and
                // global, else klp.
                if !ts.is_local()
                    && let Some(e) = self.export_of(&old)
                    && e == "vmlinux"
                {
                    self.explain.push(format!(
                        "reloc {here} → normal {} [exported by vmlinux]",
                        show(&old)
                    ));
                    return Ok(Dest::Undef(old, ts.kind(), addend));
                }
                let pos = self.sympos_for(t, &old, ts.is_local())?;
                let name = self.klp_target_name(&old, self.opts.objname.clone())?;
                self.explain.push(format!(
                    "reloc {here} → klp {name},{pos} [{} {} of {}]",
                    if ts.is_local() {
                        "local"
                    } else {
                        "unexported global"
                    },
                    if ts.is_func() { "function" } else { "object" },
                    self.opts.objname
                ));
                Ok(Dest::Klp(
                    self.opts.objname.clone(),
                    old,
                    pos,
                    ts.kind(),
                    addend,
                ))
            }
        }
    }

    fn klp_target_name(&self, name: &[u8], obj: String) -> Result<String> {
        Ok(format!(".klp.sym.{}.{}", obj, show(name)))
    }

    /// The module that exports `name`, from Module.symvers or the symbol
    /// source's `__ksymtab_` symbols.
    fn export_of(&self, name: &[u8]) -> Option<String> {
        let key = std::str::from_utf8(name).ok()?;
        if let Some(e) = self.inp.exports.get(key) {
            return Some(e.module.clone());
        }
        if self.inp.have_symvers {
            return None;
        }
        if let Some(v) = self.inp.target.object("vmlinux")
            && v.ksymtab.contains(name)
        {
            return Some("vmlinux".into());
        }
        None
    }

    /// An undefined symbol of the patched object.
    fn external(
        &mut self,
        id: usize,
        name: &[u8],
        kind: u8,
        addend: i64,
        here: &str,
    ) -> Result<Dest> {
        let p = self.p;
        let r = p.relocs[id];
        let objname = self.opts.objname.clone();
        if let Some(module) = self.export_of(name) {
            if module == "vmlinux" {
                self.explain.push(format!(
                    "reloc {here} → normal {} [exported by vmlinux]",
                    show(name)
                ));
                return Ok(Dest::Undef(name.to_vec(), kind, addend));
            }
            if objname == "vmlinux" {
                return Err(err_at(
                    p,
                    r.section,
                    r.offset,
                    ErrorKind::Klp,
                    format!(
                        "vmlinux code refers to {} exported by module {module}: vmlinux cannot depend on a module",
                        show(name)
                    ),
                ));
            }
            // Module exports become klp relocations: the patch may load
            // before the exporting module (late module patching).
            self.explain.push(format!(
                "reloc {here} → klp .klp.sym.{module}.{},0 [exported by module {module}]",
                show(name)
            ));
            if module != objname {
                self.warnings.push(format!(
                    "{here}: {} comes from module {module}; it must be loaded before {objname} is patched",
                    show(name)
                ));
            }
            return Ok(Dest::Klp(module, name.to_vec(), 0, kind, addend));
        }
        // Not exported: an unexported global of the target (another unit of
        // the same module, or vmlinux).
        let tu = TuInfo::default();
        let mut tried: Vec<String> = Vec::new();
        let mut objs: Vec<&TargetObject> = Vec::new();
        if let Some(o) = self.inp.target.object(&objname) {
            objs.push(o);
        }
        if objname != "vmlinux"
            && let Some(v) = self.inp.target.object("vmlinux")
        {
            objs.push(v);
        }
        for o in objs {
            tried.push(format!("{} ({})", o.objname, o.source));
            match o.resolve(name, false, &tu, false) {
                Lookup::Found { sympos, how, .. } => {
                    self.explain.push(format!(
                        "reloc {here} → klp .klp.sym.{}.{},{} [unexported global: {}]",
                        o.objname,
                        show(name),
                        sympos,
                        how
                    ));
                    return Ok(Dest::Klp(
                        o.objname.clone(),
                        name.to_vec(),
                        sympos,
                        kind,
                        addend,
                    ));
                }
                Lookup::Ambiguous(c) => {
                    return Err(err_at(
                        p,
                        r.section,
                        r.offset,
                        ErrorKind::Symbol,
                        format!(
                            "{} is ambiguous in {}: {}",
                            show(name),
                            o.objname,
                            c.join("; ")
                        ),
                    ));
                }
                Lookup::NotFound(_) => {}
            }
        }
        Err(err_at(
            p,
            r.section,
            r.offset,
            ErrorKind::Symbol,
            format!(
                "undefined symbol {} is neither exported (Module.symvers) nor defined in the target symbols [{}]",
                show(name),
                tried.join(", ")
            ),
        )
        .hint(if self.inp.have_symvers {
            "pass --symbols for the object that defines it (vmlinux or a /proc/kallsyms dump)"
        } else {
            "pass --symvers Module.symvers of the target kernel"
        }))
    }

    // ------------------------------------------------------------------
    // 3./4. layout and relocations
    // ------------------------------------------------------------------

    fn layout(mut self) -> Result<Extracted> {
        let p = self.p;
        let mut out = OutObject {
            e_flags: p.e_flags,
            ..Default::default()
        };
        // FILE symbols of the units we copy locals from.
        let mut files: Vec<usize> = self
            .included
            .iter()
            .filter_map(|&(s, _)| p.symbols[s].file)
            .collect();
        files.sort_unstable();
        files.dedup();
        for f in files {
            out.add_symbol(OutSymbol {
                name: p.symbols[f].name.clone(),
                st_info: STT_FILE,
                st_other: 0,
                place: Place::Abs,
                value: 0,
                size: 0,
            });
        }
        // Chunks: merged ranges per section, in section order.
        // chunk_map[sec] = [(in_start, in_end, out_sec, out_start)]
        let mut chunk_map: HashMap<usize, Vec<(u64, u64, usize, u64)>> = HashMap::new();
        let ranges = std::mem::take(&mut self.ranges);
        for (&sec, list) in &ranges {
            let ps = &p.sections[sec];
            let sec_align = checked_align(p, sec)?;
            let mut list = list.clone();
            list.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for (s, e) in list {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            let flags = ps.sh_flags & !(SHF_GROUP | SHF_LINK_ORDER | SHF_INFO_LINK);
            // Kernels before 5.8 apply the patch's own alternatives and
            // paravirt patches after its klp relocations only when they sit
            // in .klp.arch.<obj>.<section>.
            let legacy = self.opts.kernel.is_some_and(|k| k.is_legacy());
            let name =
                if legacy && (ps.name == b".altinstructions" || ps.name == b".parainstructions") {
                    let mut n = format!(".klp.arch.{}.", self.opts.objname).into_bytes();
                    n.extend_from_slice(&ps.name);
                    n
                } else {
                    ps.name.clone()
                };
            let out_sec = out.add_section(OutSection {
                name,
                sh_type: ps.sh_type,
                sh_flags: flags,
                sh_addralign: sec_align,
                sh_entsize: ps.sh_entsize,
                link: None,
                data: if ps.is_nobits() {
                    OutData::Nobits(0)
                } else {
                    OutData::Bytes(Vec::new())
                },
                symbol: None,
            });
            let data = p.data(sec);
            let mut chunks = Vec::new();
            // Special-section entries are packed: padding would be read as
            // an entry.
            let entry = self.entry_sizes.get(&sec).map(|l| l.size);
            let packed = entry.is_some() || x86::special_for(&ps.name).is_some();
            for (s, e) in merged {
                let align = if packed { 1 } else { chunk_align(s, sec_align) };
                let bytes: &[u8] = if ps.is_nobits() {
                    &[]
                } else {
                    data.get(s as usize..e as usize).ok_or_else(|| {
                        Error::malformed(format!(
                            "{}: range {s:#x}..{e:#x} lies outside the section's data",
                            ps.display_name()
                        ))
                        .in_file(&p.path)
                    })?
                };
                let o = if ps.is_nobits() {
                    let OutData::Nobits(n) = &mut out.sections[out_sec].data else {
                        unreachable!()
                    };
                    let o = align_up(*n, align);
                    *n = o + (e - s);
                    o
                } else {
                    out.append(out_sec, bytes, align)
                };
                chunks.push((s, e, out_sec, o));
            }
            if let Some(n) = entry
                && let OutData::Bytes(b) = &mut out.sections[out_sec].data
            {
                let len = align_up(b.len() as u64, n) as usize;
                b.resize(len, 0);
            }
            chunk_map.insert(sec, chunks);
        }
        let map = |sec: usize, off: u64| -> Option<(usize, u64)> {
            chunk_map.get(&sec)?.iter().find_map(|&(s, e, os, o)| {
                (off >= s && (off < e || (off == e && e > s) || (s == e && off == s)))
                    .then_some((os, o + off - s))
            })
        };
        // Clones of included named symbols.
        let mut clone_of: HashMap<usize, usize> = HashMap::new();
        let mut order: Vec<(usize, Why)> = self.included.clone();
        // Locals first is the writer's job; keep inclusion order here.
        order.sort_by_key(|(s, _)| if p.symbols[*s].is_func() { 0 } else { 1 });
        for (s, why) in &order {
            let ps = &p.symbols[*s];
            let sec = ps.section.expect("included symbols are defined");
            let Some((os, o)) = map(sec, ps.value) else {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "internal: {} was included but not laid out",
                        ps.display_name()
                    ),
                )
                .in_file(&p.path));
            };
            let mut bind = ps.bind();
            // Changed functions become local: nothing else may bind to the
            // copy of a function the kernel already has.
            if matches!(why, Why::Changed | Why::Child(_) | Why::Prefix(_))
                && !self.new_syms.contains(s)
            {
                bind = STB_LOCAL;
            }
            let id = out.add_symbol(OutSymbol {
                name: ps.name.clone(),
                st_info: (bind << 4) | ps.kind(),
                st_other: ps.st_other,
                place: Place::Section(os),
                value: o,
                size: ps.size,
            });
            clone_of.insert(*s, id);
        }
        // String sections: one output section per input string section name.
        let mut str_out: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut str_dedup: HashMap<(usize, Vec<u8>), u64> = HashMap::new();
        let mut str_pos: HashMap<(usize, u64), (usize, u64)> = HashMap::new();
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|pe| {
            let r = p.relocs[pe.reloc];
            (r.section, r.offset, pe.reloc)
        });
        for pe in &pending {
            if let Dest::Str(sec, off, _) = pe.dest {
                if str_pos.contains_key(&(sec, off)) {
                    continue;
                }
                let ps = &p.sections[sec];
                let data = p.data(sec);
                let off_us = off as usize;
                let end = data[off_us.min(data.len())..]
                    .iter()
                    .position(|&b| b == 0)
                    .map(|n| off_us + n + 1)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Malformed,
                            format!(
                                "string at {}+{off:#x} is not NUL-terminated",
                                ps.display_name()
                            ),
                        )
                        .in_file(&p.path)
                    })?;
                let bytes = data[off_us..end].to_vec();
                let str_align = checked_align(p, sec)?;
                let os = *str_out.entry(ps.name.clone()).or_insert_with(|| {
                    out.add_section(OutSection {
                        name: ps.name.clone(),
                        sh_type: SHT_PROGBITS,
                        sh_flags: ps.sh_flags & !(SHF_GROUP | SHF_LINK_ORDER),
                        sh_addralign: str_align,
                        sh_entsize: ps.sh_entsize,
                        link: None,
                        data: OutData::Bytes(Vec::new()),
                        symbol: None,
                    })
                });
                let o = match str_dedup.get(&(os, bytes.clone())) {
                    Some(&o) => o,
                    None => {
                        let o = out.append(os, &bytes, 1);
                        str_dedup.insert((os, bytes.clone()), o);
                        o
                    }
                };
                str_pos.insert((sec, off), (os, o));
            }
        }
        // Relocations.
        let mut undef: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut klp_syms: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut normal: BTreeMap<usize, Vec<OutReloc>> = BTreeMap::new();
        let mut klp: BTreeMap<(String, usize), Vec<OutReloc>> = BTreeMap::new();
        for pe in &pending {
            let r = p.relocs[pe.reloc];
            let Some((os, oo)) = map(r.section, r.offset) else {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "internal: relocation at {} outside copied ranges",
                        p.locate(r.section, r.offset)
                    ),
                )
                .in_file(&p.path));
            };
            let here = p.locate(r.section, r.offset);
            let (symbol, addend, klp_obj) = match &pe.dest {
                Dest::Drop => continue,
                Dest::Clone(t, a) => (clone_of[t], *a, None),
                Dest::Anon(sec, off, adj) => {
                    let (tos, too) = map(*sec, *off).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Malformed,
                            format!(
                                "internal: {} target {}+{off:#x} not copied",
                                here,
                                p.sections[*sec].display_name()
                            ),
                        )
                    })?;
                    let sym = out.sections[tos]
                        .symbol
                        .expect("data sections have symbols");
                    (sym, too as i64 - adj, None)
                }
                Dest::Str(sec, off, adj) => {
                    let (tos, too) = str_pos[&(*sec, *off)];
                    let sym = out.sections[tos]
                        .symbol
                        .expect("data sections have symbols");
                    (sym, too as i64 - adj, None)
                }
                Dest::Undef(name, kind, a) => {
                    let id = *undef.entry(name.clone()).or_insert_with(|| {
                        out.add_symbol(OutSymbol {
                            name: name.clone(),
                            st_info: (STB_GLOBAL << 4)
                                | if *kind == STT_SECTION {
                                    STT_NOTYPE
                                } else {
                                    *kind
                                },
                            st_other: 0,
                            place: Place::Undef,
                            value: 0,
                            size: 0,
                        })
                    });
                    (id, *a, None)
                }
                Dest::Klp(symobj, name, pos, kind, a) => {
                    check_objname(symobj)?;
                    if name.len() > MAX_SYMNAME || name.contains(&b',') || name.is_empty() {
                        return Err(Error::new(
                            ErrorKind::Klp,
                            format!(
                                "symbol {} cannot be a klp symbol: the kernel requires 1 to {MAX_SYMNAME} characters and no ','",
                                show(name)
                            ),
                        )
                        .in_file(&p.path)
                        .at(here));
                    }
                    let mut full = format!(".klp.sym.{symobj}.").into_bytes();
                    full.extend_from_slice(name);
                    full.extend_from_slice(format!(",{pos}").as_bytes());
                    let id = *klp_syms.entry(full.clone()).or_insert_with(|| {
                        out.add_symbol(OutSymbol {
                            name: full,
                            st_info: (STB_GLOBAL << 4)
                                | match *kind {
                                    STT_FUNC | STT_OBJECT => *kind,
                                    _ => STT_NOTYPE,
                                },
                            st_other: 0,
                            place: Place::Livepatch,
                            value: 0,
                            size: 0,
                        })
                    });
                    // vmlinux symbols are resolved in a vmlinux section;
                    // everything else when the patched object loads.
                    let secobj = if symobj == "vmlinux" {
                        "vmlinux".to_string()
                    } else {
                        self.opts.objname.clone()
                    };
                    (id, *a, Some(secobj))
                }
            };
            // Zero the site: the kernel refuses non-zero relocation targets.
            let width = x86::reloc_width(r.r_type).unwrap_or(0) as usize;
            if let OutData::Bytes(b) = &mut out.sections[os].data {
                let o = oo as usize;
                if o + width <= b.len() {
                    b[o..o + width].fill(0);
                }
            }
            let rel = OutReloc {
                offset: oo,
                symbol,
                r_type: r.r_type,
                addend,
            };
            match klp_obj {
                None => normal.entry(os).or_default().push(rel),
                Some(obj) => klp.entry((obj, os)).or_default().push(rel),
            }
        }
        // Relocation sections after all data sections.
        let nsec = out.sections.len();
        for target in 0..nsec {
            if let Some(list) = normal.remove(&target) {
                out.add_relocations(target, None, list);
            }
        }
        let mut klp_list: Vec<((String, usize), Vec<OutReloc>)> = klp.into_iter().collect();
        klp_list.sort_by(|a, b| (a.0.1, &a.0.0).cmp(&(b.0.1, &b.0.0)));
        for ((obj, target), list) in klp_list {
            check_objname(&obj)?;
            out.add_relocations(target, Some(obj.as_bytes()), list);
        }
        // Metadata for `klpwrite module`.
        let mut funcs = Vec::new();
        let rules = match self.opts.kernel {
            Some(k) if k.is_legacy() => "legacy",
            _ => "current",
        };
        let mut meta = format!(
            "klpwrite-patch 1\nobject {}\nrules {rules}\n",
            self.opts.objname
        );
        for (&sym, (old, pos)) in &self.changed {
            let f = PatchedFunc {
                new_name: show(&p.symbols[sym].name),
                old_name: show(old),
                sympos: *pos,
            };
            meta.push_str(&format!(
                "func {} {} {}\n",
                f.new_name, f.old_name, f.sympos
            ));
            funcs.push(f);
        }
        for (slot, f, _) in &self.callbacks {
            meta.push_str(&format!(
                "callback {} {}\n",
                CALLBACK_SLOTS[*slot],
                show(&p.symbols[*f].name)
            ));
        }
        out.add_section(OutSection {
            name: META_SECTION.to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: 0,
            sh_addralign: 1,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(meta.into_bytes()),
            symbol: None,
        });
        Ok(Extracted {
            out,
            funcs,
            explain: self.explain,
            warnings: self.warnings,
        })
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

/// The symbol in `orig` that corresponds to `sym` of `patched`: same name
/// and type (locals in the same file), else a unique same-demangled-name
/// symbol in the same file.
pub fn orig_twin(patched: &Elf, orig: &Elf, sym: usize) -> Option<usize> {
    let s = &patched.symbols[sym];
    let file = patched.file_name_of(sym);
    let same_place = |o: usize| {
        let os = &orig.symbols[o];
        os.section.is_some()
            && os.kind() == s.kind()
            && os.is_local() == s.is_local()
            && (!s.is_local() || orig.file_name_of(o) == file)
    };
    if let Some(&o) = orig.symbols_named(&s.name).iter().find(|&&o| same_place(o)) {
        return Some(o);
    }
    let d = names::demangle(&s.name);
    if d == s.name {
        return None;
    }
    let cands: Vec<usize> = orig
        .symbols
        .iter()
        .filter(|o| same_place(o.index) && names::demangle(&o.name) == d)
        .map(|o| o.index)
        .collect();
    (cands.len() == 1).then(|| cands[0])
}
