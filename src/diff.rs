//! `diff`: which functions a patch really changed.
//!
//! Both objects are checksummed and correlated. A function is *changed*
//! when its checksum differs from its twin's, unless the line-masked
//! checksums agree (only `__LINE__` moved); *new* when it has no twin;
//! *removed* when an original function has none. The names of one
//! function (aliases, [`Elf::function_aliases`]) are one function: only
//! the preferred one is compared and reported, the others are listed in
//! [`DiffReport::aliases`] (and as `#` comments in the report).
//!
//! Refused, all reported together: a change inside init code; a change to
//! existing data (size or content); a static local the original code used
//! that the patched code no longer references, directly or through a new
//! static helper it moved into (its state would silently be dropped); two
//! names of one original function that became two functions.

use crate::special::LayoutHints;
use std::collections::HashSet;

use crate::checksum::{self, Ctx, Kind};
use crate::correlate::{self, Twins};
use crate::elf::{Elf, names};
use crate::error::{Error, ErrorKind, Result, show};

/// The result of a diff.
#[derive(Debug, Clone, Default)]
pub struct DiffReport {
    /// Changed functions (patched symbol indices).
    pub changed: Vec<usize>,
    /// New functions (patched symbol indices).
    pub new: Vec<usize>,
    /// Removed functions (orig symbol indices).
    pub removed: Vec<usize>,
    /// Functions whose only difference is `__LINE__` (patched indices).
    pub line_only: Vec<usize>,
    /// Aliases folded into the function they name (patched indices:
    /// alias, the function it is reported and replaced as).
    pub aliases: Vec<(usize, usize)>,
    /// The pairing.
    pub twins: Twins,
    /// Explanations for `--explain`.
    pub explain: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
}

impl DiffReport {
    /// Whether there is anything to patch.
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty() || !self.new.is_empty()
    }

    /// The report lines: `changed function: X`, `new function: X`,
    /// `removed function: X` — valid input for `extract --changes`.
    pub fn render(&self, orig: &Elf, patched: &Elf) -> String {
        let mut o = String::new();
        for &s in &self.changed {
            o.push_str(&format!("changed function: {}\n", patched.listed_name(s)));
        }
        for &s in &self.new {
            o.push_str(&format!("new function: {}\n", patched.listed_name(s)));
        }
        for &s in &self.removed {
            o.push_str(&format!("removed function: {}\n", orig.listed_name(s)));
        }
        // A comment: `extract --changes` skips it.
        for &(a, r) in &self.aliases {
            if self.changed.contains(&r) || self.new.contains(&r) {
                o.push_str(&format!(
                    "# {}: an alias of {} (same address), patched as {}\n",
                    patched.symbols[a].display_name(),
                    patched.symbols[r].display_name(),
                    patched.symbols[r].display_name()
                ));
            }
        }
        o
    }
}

/// kpatch's `KPATCH_IGNORE_FUNCTION(f)` and `KPATCH_IGNORE_SECTION("s")`
/// annotations: pointers to functions in `.kpatch.ignore.functions`, to
/// section-name strings in `.kpatch.ignore.sections`. Honoured so existing
/// kpatch patches keep working.
fn kpatch_ignores(elf: &Elf) -> (HashSet<usize>, HashSet<Vec<u8>>) {
    let mut funcs = HashSet::new();
    let mut secs = HashSet::new();
    if let Some(s) = elf.section_by_name(b".kpatch.ignore.functions") {
        for r in elf.relocs_for(s) {
            let t = &elf.symbols[r.symbol];
            if t.is_func() {
                funcs.insert(r.symbol);
            } else if let Some(sec) = t.section
                && let Some(f) = elf.resolve_ref(
                    sec,
                    crate::elf::uoffset_of(t.value, r.addend, 0).unwrap_or(0),
                )
            {
                funcs.insert(f.sym);
            }
        }
    }
    if let Some(s) = elf.section_by_name(b".kpatch.ignore.sections") {
        for r in elf.relocs_for(s) {
            let t = &elf.symbols[r.symbol];
            if let Some(sec) = t.section {
                let d = elf.data(sec);
                let off = (crate::elf::uoffset_of(t.value, r.addend, 0).unwrap_or(0) as usize)
                    .min(d.len());
                let end = d[off..]
                    .iter()
                    .position(|&b| b == 0)
                    .map_or(d.len(), |n| off + n);
                secs.insert(d[off..end].to_vec());
            }
        }
    }
    (funcs, secs)
}

/// `elf`'s checksum context and its strict checksums.
fn checksums<'a>(elf: &'a Elf, hints: &LayoutHints) -> Result<(checksum::Strict, Ctx<'a>)> {
    let ctx = checksum::context(elf, hints)?;
    Ok((checksum::strict(&ctx), ctx))
}

/// The compiler identifications of an object: the strings of `.comment`
/// (`GCC: (Debian 12.2.0-14) 12.2.0`, `Debian clang version 14.0.6`;
/// the linker merges equal ones, so a whole vmlinux.o has one or two).
fn compilers(elf: &Elf) -> std::collections::BTreeSet<Vec<u8>> {
    elf.section_by_name(b".comment")
        .map(|s| {
            elf.data(s)
                .split(|&b| b == 0)
                .filter(|x| !x.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default()
}

/// Refuse objects that no compiler built both of: code generation
/// differs everywhere (a gcc against a clang vmlinux.o listed 830 lines
/// of changed init code and data), and a patch must be built by the
/// compiler that built the kernel (kpatch-build refuses a mismatch too).
/// Objects without `.comment` (-fno-ident) are not checked.
fn check_compilers(orig: &Elf, patched: &Elf) -> Result<()> {
    let (a, b) = (compilers(orig), compilers(patched));
    if a.is_empty() || b.is_empty() || !a.is_disjoint(&b) {
        return Ok(());
    }
    let list = |s: &std::collections::BTreeSet<Vec<u8>>| {
        s.iter().map(|x| show(x)).collect::<Vec<_>>().join("; ")
    };
    Err(Error::new(
        ErrorKind::Usage,
        format!(
            "the two objects were built by different compilers: {} by {}, {} by {}",
            orig.path,
            list(&a),
            patched.path,
            list(&b)
        ),
    )
    .hint("build the patched object with the compiler (and config) that built the original kernel"))
}

fn in_init(elf: &Elf, sym: usize) -> bool {
    elf.symbols[sym]
        .section
        .is_some_and(|s| names::is_init_section(&elf.sections[s].name))
}

/// Diff two objects.
pub fn run(orig: &Elf, patched: &Elf) -> Result<DiffReport> {
    run_with(orig, patched, &[])
}

/// Diff two objects, with pairs the user pinned (`--pair`).
pub fn run_with(orig: &Elf, patched: &Elf, pins: &[correlate::Pin]) -> Result<DiffReport> {
    run_hinted(orig, patched, pins, &LayoutHints::default(), true)
}

/// [`run_with`], with special-section entry layouts from `--struct-size`
/// and the target's BTF (both objects are for the same kernel). Without
/// `explain` the report leaves out the disassembly of each change's first
/// differing instruction and of the masked `__LINE__` sites (building the
/// disassembler's tables is most of the cost of a small object's diff).
pub fn run_hinted(
    orig: &Elf,
    patched: &Elf,
    pins: &[correlate::Pin],
    hints: &LayoutHints,
    explain: bool,
) -> Result<DiffReport> {
    if orig.e_machine != patched.e_machine {
        return Err(Error::new(
            ErrorKind::Refused,
            "the two objects are for different machines",
        )
        .in_file(&patched.path));
    }
    check_compilers(orig, patched)?;
    // The two checksum passes are independent: one thread each for big
    // inputs (a whole vmlinux.o takes about a second per pass).
    // Correlation then compares some functions' code with their contexts.
    // Running correlation as a third thread measured slower on two cores.
    let (o_res, p_res) = crate::par::join(
        crate::par::worth(orig, patched),
        || crate::timing::time("checksum orig", || checksums(orig, hints)),
        || crate::timing::time("checksum patched", || checksums(patched, hints)),
    );
    let ((oc, ctx_o), (pc, ctx_p)) = (o_res?, p_res?);
    let (ctx_o, ctx_p) = (&ctx_o, &ctx_p);
    // Correlation compares code with default entry layouts wherever it
    // runs (`extract --orig` and verify's twin check have no hints): with
    // hints, it builds its own contexts, so every command pairs alike.
    let twins = crate::timing::time("correlate", || {
        if hints.is_empty() {
            correlate::run_using(orig, patched, pins, (ctx_o, ctx_p))
        } else {
            correlate::run_with(orig, patched, pins)
        }
    })?;
    let mut rep = DiffReport {
        warnings: twins.warnings.clone(),
        ..Default::default()
    };
    rep.warnings
        .extend(oc.warnings.iter().map(|w| format!("{}: {w}", orig.path)));
    rep.warnings
        .extend(pc.warnings.iter().map(|w| format!("{}: {w}", patched.path)));
    let mut refusals: Vec<String> = Vec::new();

    // Pairing, for --explain.
    let mut pairs: Vec<(usize, usize)> = twins.o2p.iter().map(|(&o, &p)| (o, p)).collect();
    pairs.sort_unstable();
    for &(o, p) in &pairs {
        let level = twins.level[&o];
        if level != correlate::Level::Name {
            rep.explain.push(format!(
                "pair {} ↔ {} [{}]",
                orig.symbols[o].display_name(),
                patched.symbols[p].display_name(),
                level.word()
            ));
        }
    }

    let (ignored_funcs, ignored_secs) = kpatch_ignores(patched);
    // Functions and data, in patched symtab order.
    for s in &patched.symbols {
        let p = s.index;
        let Some(kind) = checksum::is_checksummed(patched, p) else {
            continue;
        };
        if ignored_funcs.contains(&p)
            || s.section
                .is_some_and(|x| ignored_secs.contains(&patched.sections[x].name))
        {
            rep.explain.push(format!(
                "{}: ignored (KPATCH_IGNORE_FUNCTION/SECTION)",
                s.display_name()
            ));
            continue;
        }
        if kind == Kind::Func
            && let Some(r) = alias_rep(orig, patched, &twins, p)
        {
            rep.aliases.push((p, r));
            rep.explain.push(format!(
                "{}: an alias of {} at {}+{:#x} ({}): one function, compared and reported as {}",
                s.display_name(),
                patched.symbols[r].display_name(),
                patched.sections[s.section.unwrap_or(0)].display_name(),
                s.value,
                match twins.p2o.get(&p) {
                    Some(_) => "aliases in the original too",
                    None => "a name the original does not have",
                },
                patched.symbols[r].display_name()
            ));
            continue;
        }
        let Some(&o) = twins.p2o.get(&p) else {
            if kind == Kind::Func && !correlate::never_correlated(patched, p) {
                if in_init(patched, p) {
                    rep.warnings.push(format!(
                        "new init function {} ignored: init code is not live patched",
                        s.display_name()
                    ));
                } else {
                    rep.new.push(p);
                }
            }
            continue;
        };
        let (Some(&(_, a)), Some(&(_, b))) = (oc.by_sym.get(&o), pc.by_sym.get(&p)) else {
            continue;
        };
        if a == b {
            continue;
        }
        match kind {
            Kind::Func => {
                if ctx_o.function(o).1 == ctx_p.function(p).1 {
                    rep.line_only.push(p);
                    rep.explain.push(format!(
                        "{}: only __LINE__ arguments moved; not a change",
                        s.display_name()
                    ));
                    if explain {
                        for m in ctx_p.line_masks(p) {
                            rep.explain.push(format!("  {m}"));
                        }
                    }
                    continue;
                }
                if in_init(orig, o) || in_init(patched, p) {
                    refusals.push(format!(
                        "{} changed, but it is init code ({}): it ran at boot and was freed; a live patch cannot change it",
                        s.display_name(),
                        patched.sections[s.section.unwrap_or(0)].display_name()
                    ));
                    continue;
                }
                rep.changed.push(p);
                if explain {
                    rep.explain.push(first_difference(ctx_o, ctx_p, o, p));
                }
            }
            Kind::Object => {
                // .modinfo is the module's metadata (MODULE_AUTHOR,
                // MODULE_ALIAS, ...: include/linux/moduleparam.h
                // __MODULE_INFO), read from the module file when that
                // module loads (kernel/module/main.c get_modinfo) and by
                // depmod/modinfo; no code refers to it and a live patch
                // cannot change the loaded module's. Its entries are named
                // __UNIQUE_ID_<tag><__COUNTER__>, so any new __COUNTER__
                // user in the file (READ_ONCE's compiletime_assert) pairs
                // different strings by name. Not a refusal: a warning that
                // the metadata change is not applied.
                if patched.sections[s.section.unwrap_or(0)].name == b".modinfo" {
                    rep.warnings.push(format!(
                        "{} in .modinfo differs (module metadata, or a renumbered __UNIQUE_ID): not live patched",
                        s.display_name()
                    ));
                    continue;
                }
                let os = &orig.symbols[o];
                let what = if os.size != s.size {
                    format!("size {} → {}", os.size, s.size)
                } else {
                    "initial value or relocations".to_string()
                };
                refusals.push(format!(
                    "changed data: {} in {} ({what}); existing data cannot be changed by a live patch",
                    s.display_name(),
                    patched.sections[s.section.unwrap_or(0)].display_name()
                ));
            }
        }
    }
    for s in &orig.symbols {
        if checksum::is_checksummed(orig, s.index) == Some(Kind::Func)
            && !correlate::never_correlated(orig, s.index)
            && !twins.o2p.contains_key(&s.index)
        {
            // A removed alias of a function that stays (or of another
            // removed name of it) is not a removed function.
            let group = orig.function_aliases(s.index);
            if group.len() > 1
                && (group.iter().any(|m| twins.o2p.contains_key(m)) || group[0] != s.index)
            {
                rep.explain.push(format!(
                    "{}: an alias of {} in the original, gone from the patched object",
                    s.display_name(),
                    group
                        .iter()
                        .find(|&&m| m != s.index)
                        .map_or_else(String::new, |&m| orig.symbols[m].display_name())
                ));
                continue;
            }
            rep.removed.push(s.index);
        }
    }
    check_split_aliases(orig, patched, &twins, &rep, &mut refusals);
    check_static_locals(orig, &twins, &rep, &mut refusals);
    if !refusals.is_empty() {
        return Err(Error::new(
            ErrorKind::Refused,
            format!("cannot make a live patch:\n  {}", refusals.join("\n  ")),
        )
        .in_file(&patched.path));
    }
    rep.twins = twins;
    Ok(rep)
}

/// The function a patched alias `p` is folded into, when `p` is a
/// function symbol with aliases ([`Elf::function_aliases`]) and not the
/// one reported: the group's first name with an original twin (the
/// function the target has), else its first name. `p` is folded only
/// when it stands for the same function in the original too: its twin is
/// an alias of the chosen one's twin there, or it has no twin (a new name
/// for the function). Two functions of the original that the patched
/// object merged stay apart: the target has both, each needs its klp_func.
fn alias_rep(orig: &Elf, patched: &Elf, twins: &Twins, p: usize) -> Option<usize> {
    let group = patched.function_aliases(p);
    if group.len() < 2 {
        return None;
    }
    let r = group
        .iter()
        .copied()
        .find(|m| twins.p2o.contains_key(m))
        .unwrap_or(group[0]);
    if r == p {
        return None;
    }
    match (twins.p2o.get(&p), twins.p2o.get(&r)) {
        (None, _) => Some(r),
        (Some(&a), Some(&b)) if orig.same_function(a, b) => Some(r),
        _ => None,
    }
}

/// Aliases in the original (one function, one address in the target) whose
/// twins are two different functions in the patched object: a live patch
/// replaces the one original function with one new function, so callers
/// through one of the names would run the other's code. Refused when
/// either changed.
fn check_split_aliases(
    orig: &Elf,
    patched: &Elf,
    twins: &Twins,
    rep: &DiffReport,
    refusals: &mut Vec<String>,
) {
    let patched_as = |p: usize| {
        rep.aliases
            .iter()
            .find(|&&(a, _)| a == p)
            .map_or(p, |&(_, r)| r)
    };
    let touched = |p: usize| {
        let p = patched_as(p);
        rep.changed.contains(&p) || rep.new.contains(&p)
    };
    let mut seen = HashSet::new();
    for s in &orig.symbols {
        if !s.is_func() || s.section.is_none() || !seen.insert((s.section, s.value)) {
            continue;
        }
        let group = orig.function_aliases(s.index);
        let mapped: Vec<(usize, usize)> = group
            .iter()
            .filter_map(|&o| twins.o2p.get(&o).map(|&p| (o, p)))
            .collect();
        let Some(&(o0, p0)) = mapped.first() else {
            continue;
        };
        for &(o, p) in &mapped[1..] {
            if !patched.same_function(p0, p) && (touched(p0) || touched(p)) {
                refusals.push(format!(
                    "{} and {} are one function in the original (aliases at {}+{:#x}) but two in the patched object: a live patch replaces that function with one new function, so calls through one of the names would run the other's code",
                    orig.symbols[o0].display_name(),
                    orig.symbols[o].display_name(),
                    orig.sections[s.section.unwrap_or(0)].display_name(),
                    s.value
                ));
            }
        }
    }
}

/// A static local used by an original function that the patched twin no
/// longer references: refused (its state would be dropped without notice).
fn check_static_locals(orig: &Elf, twins: &Twins, rep: &DiffReport, refusals: &mut Vec<String>) {
    let changed_orig: HashSet<usize> = rep
        .changed
        .iter()
        .filter_map(|p| twins.p2o.get(p).copied())
        .collect();
    let removed: HashSet<usize> = rep.removed.iter().copied().collect();
    let refs =
        correlate::references_of(orig, |f| changed_orig.contains(&f) || removed.contains(&f));
    let mut seen = HashSet::new();
    let mut funcs: Vec<&usize> = refs.keys().collect();
    funcs.sort_unstable();
    for f in funcs {
        if !changed_orig.contains(f) && !removed.contains(f) {
            continue;
        }
        // Init code ran at boot and was freed (init/main.c
        // free_initmem): the state of its statics is no live code's. A
        // static that live code also uses is checked through that code.
        if in_init(orig, *f) {
            continue;
        }
        let mut targets: Vec<&usize> = refs[f].iter().collect();
        targets.sort_unstable();
        for &t in targets {
            let ts = &orig.symbols[t];
            // The statics correlate pairs by use; one it left unpaired was
            // neither used by the patched twin nor moved into a new static
            // helper reached only from it (correlate's level 3b).
            if correlate::is_function_static(orig, t)
                && !twins.o2p.contains_key(&t)
                && seen.insert(t)
            {
                refusals.push(format!(
                    "the patched code no longer references static local {} (used by {} in the original): its state would be lost (a static moved into a new helper keeps it only when the helper is a static function called from nothing but the functions that used it)",
                    ts.display_name(),
                    orig.symbols[*f].display_name()
                ));
            }
        }
    }
}

/// "F+0x1a: `insn` → `insn`" for the first instruction that differs.
fn first_difference(co: &Ctx<'_>, cp: &Ctx<'_>, o: usize, p: usize) -> String {
    let a = co.function_detail(o);
    let b = cp.function_detail(p);
    let name = |c: &Ctx<'_>, s: usize| c.symbol_name(s);
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        if x.hash != y.hash {
            return format!(
                "{}: changed at instruction {i}: {}+{:#x} `{}` → {}+{:#x} `{}`{}",
                name(cp, p),
                name(co, o),
                x.offset,
                x.text,
                name(cp, p),
                y.offset,
                y.text,
                if x.text == y.text {
                    " (what it refers to differs: string, constant data or special-section entry)"
                } else {
                    ""
                }
            );
        }
    }
    if a.len() != b.len() {
        return format!(
            "{}: {} instructions in the original, {} in the patched version (same up to the shorter)",
            name(cp, p),
            a.len(),
            b.len()
        );
    }
    format!(
        "{}: instructions equal; its special-section entries or .cold part differ",
        name(cp, p)
    )
}

impl Ctx<'_> {
    /// Display name of a symbol of this context's object.
    pub fn symbol_name(&self, sym: usize) -> String {
        show(&self.elf_ref().symbols[sym].name)
    }
}
