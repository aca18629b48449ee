//! Correlation: pair each symbol of the original object with its *twin* in
//! the patched object.
//!
//! The funnel, from strongest to weakest evidence; each level only looks at
//! symbols the levels before left unpaired, and pairs only when the match is
//! one-to-one:
//!
//! 1. **name**: same name, same scope, same kind; locals also in the same
//!    STT_FILE block (blocks are paired in step, by name);
//! 2. **demangled**: same name once `.isra.N`, `.constprop.N`, `.part.N`,
//!    `.cold.N`, `.llvm.<hash>` and `__UNIQUE_ID_` counters are dropped;
//! 3. **use**: a function-scope static (`count.3`, Clang `f.count`) pairs
//!    through the functions that use it, never by name while a function
//!    uses it: GCC numbers every function-scope static of a unit with one
//!    counter, so a patch that adds a `count` elsewhere in the file shifts
//!    the numbers and an exact name match is a coincidence. A static the
//!    patch moved into a new static helper pairs across the move;
//!    read-only statics use cannot tell apart pair by identical content
//!    when that singles out one pair each (`constant_by_content`); what
//!    is left undecided is refused (see `StaticsByUse`). Statics that no
//!    function uses pair through the paired data that references them
//!    (`pair_by_data`), else by levels 1 and 2 when their name is unique
//!    in the file on both sides; several of one name that nothing decides
//!    are never paired by number or order: `Twins::ambiguous_p` records
//!    them and extract refuses a reference to one (`mark_ambiguous`);
//! 4. **scope**: a symbol that became global (or local) pairs by name, with a
//!    warning (function-scope statics never change binding);
//! 5. **position**: N same-named candidates on each side pair in order, with
//!    a warning.
//!
//! Symbols that must never be correlated (string literals, anonymous and
//! special-section data, prefix symbols, the uncorrelated static locals,
//! assembler labels, initcall stubs) are left out entirely: a reference to
//! one always gets a fresh copy.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::arch::x86_64 as x86;
use crate::elf::{Elf, names};
use crate::error::{Error, ErrorKind, Result, show};

/// How a pair was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Given by the user (`--pair ORIG=PATCHED`).
    Pinned,
    /// Same name.
    Name,
    /// Same demangled name.
    Demangled,
    /// Function-scope static, through the functions that use it.
    Reference,
    /// Read-only function-scope statics use could not tell apart, through
    /// their identical content (bytes and relocation targets).
    Content,
    /// Function-scope static moved by the patch into a new static helper.
    Moved,
    /// Function-scope static no function uses, through the paired data
    /// that references it.
    Data,
    /// Binding changed.
    Scope,
    /// Last resort: order.
    Position,
}

impl Level {
    /// Word used in reports.
    pub fn word(self) -> &'static str {
        match self {
            Level::Pinned => "given by --pair",
            Level::Name => "name",
            Level::Demangled => "demangled name",
            Level::Reference => "referencing function",
            Level::Content => "referencing function, read-only content",
            Level::Moved => "use moved into a new static function",
            Level::Data => "referencing data",
            Level::Scope => "name, binding changed",
            Level::Position => "position (last resort)",
        }
    }
}

/// The pairing.
#[derive(Debug, Clone, Default)]
pub struct Twins {
    /// orig symbol → patched symbol.
    pub o2p: HashMap<usize, usize>,
    /// patched symbol → orig symbol.
    pub p2o: HashMap<usize, usize>,
    /// How each orig symbol was paired.
    pub level: HashMap<usize, Level>,
    /// Warnings (weak pairings, unpaired symbols).
    pub warnings: Vec<String>,
    /// Function-scope statics of the patched object that neither use nor
    /// data references could pair while their file has several statics of
    /// that name: patched symbol → why. Left unpaired, but never new:
    /// extract refuses any reference to one (`--pair` settles it).
    pub ambiguous_p: BTreeMap<usize, String>,
    /// The same, original side.
    pub ambiguous_o: BTreeSet<usize>,
}

impl Twins {
    fn pair(&mut self, o: usize, p: usize, level: Level) {
        self.o2p.insert(o, p);
        self.p2o.insert(p, o);
        self.level.insert(o, level);
    }
}

/// Whether `sym` must never be correlated with the other build.
pub fn never_correlated(elf: &Elf, sym: usize) -> bool {
    let s = &elf.symbols[sym];
    if sym == 0 || s.is_file() || s.is_section() || s.name.is_empty() {
        return true;
    }
    let Some(sec) = s.section else { return true };
    let ps = &elf.sections[sec];
    if names::prefix_target(&s.name).is_some() || names::is_local_label(&s.name) {
        return true;
    }
    if s.is_local() && names::is_uncorrelated_static_local(&s.name) {
        return true;
    }
    if s.name.starts_with(b"__initcall__") || s.name.starts_with(b"__initstub__") {
        return true;
    }
    if ps.is_strings()
        || names::is_anonymous_data_section(&ps.name)
        || names::is_once_section(&ps.name)
        || ps.name == b".discard.addressable"
        || x86::special_for(&ps.name).is_some()
        || x86::AUX_SECTIONS.iter().any(|a| ps.name == a.as_bytes())
    {
        return true;
    }
    if ps.name.starts_with(b".rodata") && !s.is_object() && !s.is_func() {
        return true;
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Class {
    Func,
    Object,
    Other,
}

fn class(elf: &Elf, sym: usize) -> Class {
    let s = &elf.symbols[sym];
    if s.is_func() {
        Class::Func
    } else if s.is_object() {
        Class::Object
    } else {
        Class::Other
    }
}

/// Grouping key: (local, file block, class).
type Key = (bool, Option<usize>, Class);
/// Candidates on each side: (orig, patched).
type Sides = (Vec<usize>, Vec<usize>);

/// Block number of locals that follow no STT_FILE symbol.
const NO_FILE: usize = usize::MAX;

/// STT_FILE block number of every symbol.
fn blocks(elf: &Elf) -> (Vec<Option<usize>>, Vec<Vec<u8>>) {
    let mut names_ = Vec::new();
    let mut index: HashMap<usize, usize> = HashMap::new();
    for s in &elf.symbols {
        if s.is_file() {
            index.insert(s.index, names_.len());
            names_.push(s.name.clone());
        }
    }
    // Locals before any STT_FILE (or in an object without them, such as a
    // stripped module) form one unnamed block.
    let of = elf
        .symbols
        .iter()
        .map(|s| {
            Some(
                s.file
                    .and_then(|f| index.get(&f).copied())
                    .unwrap_or(NO_FILE),
            )
        })
        .collect();
    (of, names_)
}

/// Correlate `orig` with `patched`.
pub fn run(orig: &Elf, patched: &Elf) -> Result<Twins> {
    run_with(orig, patched, &[])
}

/// A pair the user pins (`--pair ORIG=PATCHED`): symbol names, each
/// optionally `FILE:NAME` to pick a local of one STT_FILE block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The original object's symbol.
    pub orig: String,
    /// The patched object's symbol.
    pub patched: String,
}

impl Pin {
    /// Parse `ORIG=PATCHED`.
    pub fn parse(s: &str) -> Result<Pin> {
        match s.split_once('=') {
            Some((o, p)) if !o.is_empty() && !p.is_empty() => Ok(Pin {
                orig: o.to_string(),
                patched: p.to_string(),
            }),
            _ => Err(Error::new(
                ErrorKind::Usage,
                format!("--pair {s:?}: expected ORIG=PATCHED (symbol names, optionally FILE:NAME)"),
            )),
        }
    }
}

/// The one correlatable symbol `spec` (`NAME` or `FILE:NAME`) names.
fn pinned_symbol(elf: &Elf, cands: &[usize], spec: &str) -> Result<usize> {
    let (file, name) = match spec.split_once(':') {
        Some((f, n)) => (Some(f.as_bytes()), n.as_bytes()),
        None => (None, spec.as_bytes()),
    };
    let found: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&i| {
            elf.symbols[i].name == name
                && file.is_none_or(|f| {
                    elf.file_name_of(i)
                        .is_some_and(|g| g == f || g.rsplit(|&b| b == b'/').next() == Some(f))
                })
        })
        .collect();
    match found[..] {
        [i] => Ok(i),
        [] => Err(Error::new(
            ErrorKind::Usage,
            format!("--pair: no symbol {spec} that could be paired"),
        )
        .in_file(&elf.path)),
        _ => Err(Error::new(
            ErrorKind::Usage,
            format!(
                "--pair: {spec} names {} symbols, in files {}",
                found.len(),
                found
                    .iter()
                    .map(|&i| elf.file_name_of(i).map_or("(none)".into(), show))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .in_file(&elf.path)
        .hint("write FILE:NAME")),
    }
}

/// Correlate `orig` with `patched`, with pairs the user pinned first.
pub fn run_with(orig: &Elf, patched: &Elf, pins: &[Pin]) -> Result<Twins> {
    run_inner(orig, patched, pins, None)
}

/// [`run_with`], comparing code with checksum contexts the caller already
/// built for the two objects (`diff` builds them for its checksums; a
/// context of a whole `vmlinux.o` costs a pass over every special
/// section).
pub fn run_using<'e>(
    orig: &'e Elf,
    patched: &'e Elf,
    pins: &[Pin],
    ctx: (&'e crate::checksum::Ctx<'e>, &'e crate::checksum::Ctx<'e>),
) -> Result<Twins> {
    run_inner(orig, patched, pins, Some(ctx))
}

fn run_inner<'e>(
    orig: &'e Elf,
    patched: &'e Elf,
    pins: &[Pin],
    given: Option<(&'e crate::checksum::Ctx<'e>, &'e crate::checksum::Ctx<'e>)>,
) -> Result<Twins> {
    crate::objtool::check_pair(orig, patched)?;
    let mut tw = Twins::default();
    let (ob, onames) = blocks(orig);
    let (pb, pnames) = blocks(patched);
    let block_map = match_blocks(&onames, &pnames, &mut tw);
    // Key of a symbol: (local, block as orig block number, class).
    let pblock_to_o: HashMap<usize, usize> = block_map.iter().map(|(&o, &p)| (p, o)).collect();
    let okey = |i: usize| -> Option<(bool, Option<usize>, Class)> {
        let s = &orig.symbols[i];
        let b = if s.is_local() { Some(ob[i]?) } else { None };
        Some((s.is_local(), b, class(orig, i)))
    };
    let pkey = |i: usize| -> Option<(bool, Option<usize>, Class)> {
        let s = &patched.symbols[i];
        let b = if s.is_local() {
            Some(pblock_to_o.get(&pb[i]?).copied()?)
        } else {
            None
        };
        Some((s.is_local(), b, class(patched, i)))
    };
    let ocands: Vec<usize> = (1..orig.symbols.len())
        .filter(|&i| !never_correlated(orig, i))
        .collect();
    let pcands: Vec<usize> = (1..patched.symbols.len())
        .filter(|&i| !never_correlated(patched, i))
        .collect();

    // Pairs the user pinned come first; nothing else pairs them again.
    pin_pairs(orig, patched, &ocands, &pcands, pins, &mut tw)?;

    // Function-scope statics are paired by use (level 3), never by a
    // name alone while a function uses them: their counters are a
    // coincidence of the unit's numbering.
    let fss_o: HashSet<usize> = ocands
        .iter()
        .copied()
        .filter(|&i| is_function_static(orig, i) && !tw.o2p.contains_key(&i))
        .collect();
    let fss_p: HashSet<usize> = pcands
        .iter()
        .copied()
        .filter(|&i| is_function_static(patched, i) && !tw.p2o.contains_key(&i))
        .collect();

    // Levels 1 and 2, for everything but function-scope statics.
    name_levels(
        orig,
        patched,
        &mut tw,
        &ocands,
        &pcands,
        &okey,
        &pkey,
        |o| !fss_o.contains(&o),
        |p| !fss_p.contains(&p),
    );

    // Same-named functions of one block that names cannot tell apart (a
    // linked module without STT_FILE symbols, where two units each have a
    // static `hpf_info`): in order, when each pair is the same code
    // (line-masked checksum), so their statics can be paired by use below.
    let code = SameCode {
        orig,
        patched,
        given,
        ctx_o: OnceCell::new(),
        ctx_p: OnceCell::new(),
    };
    identical_in_order(
        orig,
        patched,
        &mut tw,
        (&ocands, &pcands),
        (&okey, &pkey),
        &code,
    );

    // Level 3: function-scope statics through the functions that use them.
    let mut use_free_o: HashSet<usize> = HashSet::new();
    let mut use_free_p: HashSet<usize> = HashSet::new();
    if !fss_o.is_empty() || !fss_p.is_empty() {
        let su = StaticsByUse::new(orig, patched, &fss_o, &fss_p, &okey, &pkey);
        su.pair(&mut tw, &code)?;
        use_free_o = su.free_o;
        use_free_p = su.free_p;
        // Statics no function uses (referenced from data only, such as
        // `__quirk.N` or a static published through a static holder):
        // first through the paired data that references them (level 3c),
        // then, when the name is unique in its file on both sides so that
        // the numbering cannot matter, by name like any symbol; several
        // of one name left over are ambiguous, never paired by number.
        pair_by_data(
            orig,
            patched,
            &mut tw,
            &use_free_o,
            &use_free_p,
            &su.key_o,
            &su.key_p,
        );
        mark_ambiguous(
            orig,
            patched,
            &mut tw,
            &mut use_free_o,
            &mut use_free_p,
            &su.key_o,
            &su.key_p,
        );
        name_levels(
            orig,
            patched,
            &mut tw,
            &ocands,
            &pcands,
            &okey,
            &pkey,
            |o| use_free_o.contains(&o),
            |p| use_free_p.contains(&p),
        );
    }
    // Symbols that only use may pair from here on are left out.
    let name_ok_o = |o: usize| !fss_o.contains(&o) || use_free_o.contains(&o);
    let name_ok_p = |p: usize| !fss_p.contains(&p) || use_free_p.contains(&p);

    // Level 4: binding changed.
    scope_level(orig, patched, &ocands, &pcands, &fss_o, &fss_p, &mut tw);

    // Level 5: position.
    position_level(
        orig,
        patched,
        &mut tw,
        (&ocands, &pcands),
        (&okey, &pkey),
        (&name_ok_o, &name_ok_p),
    );
    Ok(tw)
}

/// FILE blocks in step: each orig block takes the next patched block of
/// the same name. Returns orig block → patched block.
fn match_blocks(onames: &[Vec<u8>], pnames: &[Vec<u8>], tw: &mut Twins) -> HashMap<usize, usize> {
    let mut block_map: HashMap<usize, usize> = HashMap::from([(NO_FILE, NO_FILE)]);
    let mut next = 0;
    for (i, n) in onames.iter().enumerate() {
        if let Some(j) = (next..pnames.len()).find(|&j| &pnames[j] == n) {
            block_map.insert(i, j);
            next = j + 1;
        } else {
            tw.warnings.push(format!(
                "file {} has no counterpart in the patched object",
                show(n)
            ));
        }
    }
    block_map
}

/// Pairs the user pinned (`--pair`), before any other level.
fn pin_pairs(
    orig: &Elf,
    patched: &Elf,
    ocands: &[usize],
    pcands: &[usize],
    pins: &[Pin],
    tw: &mut Twins,
) -> Result<()> {
    for pin in pins {
        let o = pinned_symbol(orig, ocands, &pin.orig)?;
        let p = pinned_symbol(patched, pcands, &pin.patched)?;
        if tw.o2p.contains_key(&o) || tw.p2o.contains_key(&p) || class(orig, o) != class(patched, p)
        {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "--pair {}={}: a symbol is pinned twice, or the two are not the same kind",
                    pin.orig, pin.patched
                ),
            ));
        }
        tw.pair(o, p, Level::Pinned);
    }
    Ok(())
}

/// Level 4: the same (demangled) name and kind, binding changed; one
/// candidate of the opposite binding. Function-scope statics (`fss_o`,
/// `fss_p`) are left to use.
fn scope_level(
    orig: &Elf,
    patched: &Elf,
    ocands: &[usize],
    pcands: &[usize],
    fss_o: &HashSet<usize>,
    fss_p: &HashSet<usize>,
    tw: &mut Twins,
) {
    let mut by_name: HashMap<(Vec<u8>, Class), Vec<usize>> = HashMap::new();
    for &p in pcands
        .iter()
        .filter(|&&p| !tw.p2o.contains_key(&p) && !fss_p.contains(&p))
    {
        by_name
            .entry((names::demangle(&patched.symbols[p].name), class(patched, p)))
            .or_default()
            .push(p);
    }
    let unpaired: Vec<usize> = ocands
        .iter()
        .copied()
        .filter(|o| !tw.o2p.contains_key(o) && !fss_o.contains(o))
        .collect();
    for o in unpaired {
        let key = (names::demangle(&orig.symbols[o].name), class(orig, o));
        if let Some(ps) = by_name.get(&key) {
            let opposite: Vec<usize> = ps
                .iter()
                .copied()
                .filter(|&p| {
                    patched.symbols[p].is_local() != orig.symbols[o].is_local()
                        && !tw.p2o.contains_key(&p)
                })
                .collect();
            if opposite.len() == 1 {
                tw.pair(o, opposite[0], Level::Scope);
                tw.warnings.push(format!(
                    "{} changed binding ({} in the original, {} in the patched object)",
                    orig.symbols[o].display_name(),
                    if orig.symbols[o].is_local() {
                        "local"
                    } else {
                        "global"
                    },
                    if patched.symbols[opposite[0]].is_local() {
                        "local"
                    } else {
                        "global"
                    }
                ));
            }
        }
    }
}

/// The unpaired candidates of each side that `take` accepts, grouped by
/// key and `name`; candidates without a key are left out.
#[allow(clippy::type_complexity)]
fn unpaired_groups(
    (orig, patched): (&Elf, &Elf),
    tw: &Twins,
    (ocands, pcands): (&[usize], &[usize]),
    (okey, pkey): (&dyn Fn(usize) -> Option<Key>, &dyn Fn(usize) -> Option<Key>),
    (take_o, take_p): (&dyn Fn(usize) -> bool, &dyn Fn(usize) -> bool),
    name: &dyn Fn(&Elf, usize) -> Vec<u8>,
) -> BTreeMap<(Key, Vec<u8>), Sides> {
    let mut groups: BTreeMap<(Key, Vec<u8>), Sides> = BTreeMap::new();
    for &o in ocands
        .iter()
        .filter(|&&o| !tw.o2p.contains_key(&o) && take_o(o))
    {
        if let Some(k) = okey(o) {
            groups.entry((k, name(orig, o))).or_default().0.push(o);
        }
    }
    for &p in pcands
        .iter()
        .filter(|&&p| !tw.p2o.contains_key(&p) && take_p(p))
    {
        if let Some(k) = pkey(p) {
            groups.entry((k, name(patched, p))).or_default().1.push(p);
        }
    }
    groups
}

#[allow(clippy::type_complexity)]
/// Unpaired same-named functions with the same key, as many on each
/// side: paired in symbol order when every pair has the same line-masked
/// checksum (the same code), at [`Level::Position`]. Anything else is left
/// to the later levels.
fn identical_in_order(
    orig: &Elf,
    patched: &Elf,
    tw: &mut Twins,
    (ocands, pcands): (&[usize], &[usize]),
    (okey, pkey): (&dyn Fn(usize) -> Option<Key>, &dyn Fn(usize) -> Option<Key>),
    code: &SameCode<'_>,
) {
    let groups = unpaired_groups(
        (orig, patched),
        tw,
        (ocands, pcands),
        (okey, pkey),
        (&|o| orig.symbols[o].is_func(), &|p| {
            patched.symbols[p].is_func()
        }),
        &|elf, i| elf.symbols[i].name.clone(),
    );
    let groups: Vec<Sides> = groups
        .into_values()
        .filter(|(os, ps)| os.len() > 1 && os.len() == ps.len())
        .collect();
    if groups.is_empty() {
        return;
    }
    for (os, ps) in groups {
        if os.iter().zip(&ps).all(|(&o, &p)| code.same(o, p)) {
            for (o, p) in os.into_iter().zip(ps) {
                tw.pair(o, p, Level::Position);
            }
        }
    }
}

/// Level 5: position, the last resort: same-named symbols of one key, as
/// many on each side, paired in order; `name_ok` leaves out what only use
/// may pair.
#[allow(clippy::type_complexity)]
fn position_level(
    orig: &Elf,
    patched: &Elf,
    tw: &mut Twins,
    (ocands, pcands): (&[usize], &[usize]),
    (okey, pkey): (&dyn Fn(usize) -> Option<Key>, &dyn Fn(usize) -> Option<Key>),
    (name_ok_o, name_ok_p): (&dyn Fn(usize) -> bool, &dyn Fn(usize) -> bool),
) {
    let groups = unpaired_groups(
        (orig, patched),
        tw,
        (ocands, pcands),
        (okey, pkey),
        (name_ok_o, name_ok_p),
        &|elf, i| names::demangle(&elf.symbols[i].name),
    );
    let mut by_position: Vec<String> = Vec::new();
    for ((_, name), (os, ps)) in groups {
        if os.len() > 1 && os.len() == ps.len() {
            for (o, p) in os.iter().zip(ps.iter()) {
                tw.pair(*o, *p, Level::Position);
            }
            by_position.push(format!("{} ({})", show(&name), os.len()));
        }
    }
    if !by_position.is_empty() {
        let shown: Vec<&str> = by_position.iter().take(5).map(String::as_str).collect();
        tw.warnings.push(format!(
            "paired same-named symbols by position (last resort), {} name(s): {}{}",
            by_position.len(),
            shown.join(", "),
            if by_position.len() > 5 {
                format!(" and {} more", by_position.len() - 5)
            } else {
                String::new()
            }
        ));
    }
}

/// Whether a function of the original is the same code as one of the
/// patched object (line-masked checksum), with each object's checksum
/// context built on first use and shared by the levels that ask.
struct SameCode<'e> {
    orig: &'e Elf,
    patched: &'e Elf,
    /// Contexts the caller built (diff's, without layout hints).
    given: Option<(&'e crate::checksum::Ctx<'e>, &'e crate::checksum::Ctx<'e>)>,
    ctx_o: OnceCell<crate::checksum::Ctx<'e>>,
    ctx_p: OnceCell<crate::checksum::Ctx<'e>>,
}

impl SameCode<'_> {
    fn same(&self, fo: usize, fp: usize) -> bool {
        if let Some((co, cp)) = self.given {
            return co.function(fo).1 == cp.function(fp).1;
        }
        let co = self
            .ctx_o
            .get_or_init(|| crate::checksum::Ctx::new(self.orig));
        let cp = self
            .ctx_p
            .get_or_init(|| crate::checksum::Ctx::new(self.patched));
        co.function(fo).1 == cp.function(fp).1
    }
}

/// Key of a function-scope static: (file block as orig block, demangled
/// name).
type StaticKey = (Option<Key>, Vec<u8>);

/// For every data symbol (an object, or any named symbol of a
/// non-executable section) the symbols its relocations reach: named
/// targets as they are, section-relative ones through `Elf::resolve_ref`.
fn data_references(elf: &Elf) -> HashMap<usize, BTreeSet<usize>> {
    let mut out: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    for r in &elf.relocs {
        let sec = &elf.sections[r.section];
        if sec.is_exec() || !sec.is_alloc() {
            continue;
        }
        let Some(h) = elf.symbol_containing(r.section, r.offset) else {
            continue;
        };
        let t = &elf.symbols[r.symbol];
        let target = if t.is_section() {
            t.section
                .and_then(|ts| Some((ts, crate::elf::uoffset_of(t.value, r.addend, 0)?)))
                .and_then(|(ts, off)| elf.resolve_ref(ts, off))
                .map(|rt| rt.sym)
        } else if t.section.is_some() {
            Some(r.symbol)
        } else {
            None
        };
        if let Some(t) = target
            && t != h
        {
            out.entry(h).or_default().insert(t);
        }
    }
    out
}

/// One side of [`pair_by_data`].
struct DataSide<'k> {
    /// Data symbols referencing each free static.
    holders: BTreeMap<usize, BTreeSet<usize>>,
    /// Every data symbol's references.
    refs: HashMap<usize, BTreeSet<usize>>,
    keys: &'k BTreeMap<usize, StaticKey>,
    free: &'k HashSet<usize>,
}

impl DataSide<'_> {
    /// Candidates of static `s` of this side on the `other`: the
    /// intersection, over its holders with a twin (`twin`), of the
    /// unpaired (`other_paired`) free same-key statics the twin
    /// references; None when no holder gives evidence.
    fn cands(
        &self,
        s: usize,
        other: &DataSide<'_>,
        twin: &HashMap<usize, usize>,
        other_paired: &HashMap<usize, usize>,
    ) -> Option<BTreeSet<usize>> {
        let key = self.keys.get(&s)?;
        key.0?;
        let mut among: Option<BTreeSet<usize>> = None;
        for h in self.holders.get(&s)? {
            let Some(ht) = twin.get(h) else { continue };
            let here: BTreeSet<usize> = other
                .refs
                .get(ht)
                .into_iter()
                .flatten()
                .copied()
                .filter(|c| {
                    other.free.contains(c)
                        && !other_paired.contains_key(c)
                        && other.keys.get(c) == Some(key)
                })
                .collect();
            if here.is_empty() {
                continue;
            }
            among = Some(match among {
                None => here,
                Some(a) => a.intersection(&here).copied().collect(),
            });
        }
        among
    }
}

/// Level 3c: function-scope statics no function uses, paired through the
/// paired data that references them. A holder `H` paired with `H'`, `H`
/// referencing the static `x` and `H'` the same-named `y` (both unpaired),
/// is evidence for `x ↔ y`; each holder narrows the candidates as in
/// [`StaticsByUse`], and a pair needs agreement from both sides. Repeated
/// until nothing changes: a paired static may itself hold others.
///
/// Why: such a static is reached by the patch only through data (a new
/// holder the patch copies, `static struct holder extra = { &val }`); the
/// copy must point at the running kernel's object, so its pair decides
/// the klp symbol, and its `.N` number is only GCC's unit-wide counter.
fn pair_by_data(
    orig: &Elf,
    patched: &Elf,
    tw: &mut Twins,
    free_o: &HashSet<usize>,
    free_p: &HashSet<usize>,
    key_o: &BTreeMap<usize, StaticKey>,
    key_p: &BTreeMap<usize, StaticKey>,
) {
    if free_o.is_empty() || free_p.is_empty() {
        return;
    }
    let big = (orig.bytes().len() + patched.bytes().len()) as u64 >= crate::par::THRESHOLD;
    let (refs_o, refs_p) =
        crate::par::join(big, || data_references(orig), || data_references(patched));
    // Holders of each free static.
    let holders = |refs: &HashMap<usize, BTreeSet<usize>>, free: &HashSet<usize>| {
        let mut h: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for (&d, ts) in refs {
            for t in ts.iter().filter(|t| free.contains(t)) {
                h.entry(*t).or_default().insert(d);
            }
        }
        h
    };
    let side_o = DataSide {
        holders: holders(&refs_o, free_o),
        refs: refs_o,
        keys: key_o,
        free: free_o,
    };
    let side_p = DataSide {
        holders: holders(&refs_p, free_p),
        refs: refs_p,
        keys: key_p,
        free: free_p,
    };
    loop {
        let mut found: Vec<(usize, usize)> = Vec::new();
        for &s in free_o.iter().filter(|s| !tw.o2p.contains_key(s)) {
            let Some(cs) = side_o.cands(s, &side_p, &tw.o2p, &tw.p2o) else {
                continue;
            };
            let [c] = cs.iter().copied().collect::<Vec<_>>()[..] else {
                continue;
            };
            let back = side_p.cands(c, &side_o, &tw.p2o, &tw.o2p);
            if back.is_some_and(|b| b.len() == 1 && b.contains(&s)) {
                found.push((s, c));
            }
        }
        found.sort();
        found.dedup();
        let mut progress = false;
        for (s, c) in found {
            if !tw.o2p.contains_key(&s) && !tw.p2o.contains_key(&c) {
                tw.pair(s, c, Level::Data);
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
}

/// Function-scope statics that no function uses and no paired data
/// decided (after [`pair_by_data`]): when their file has several statics
/// of that name on either side, a name or position match would rest on
/// GCC's unit-wide `.N` counter alone (a patch that adds or moves one
/// renumbers the rest), so they are not paired but recorded as ambiguous
/// and taken out of `free_o`/`free_p` (the later name levels). extract
/// refuses any reference to one; diff of other functions goes on.
fn mark_ambiguous(
    orig: &Elf,
    patched: &Elf,
    tw: &mut Twins,
    free_o: &mut HashSet<usize>,
    free_p: &mut HashSet<usize>,
    key_o: &BTreeMap<usize, StaticKey>,
    key_p: &BTreeMap<usize, StaticKey>,
) {
    let mut count: BTreeMap<&StaticKey, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (s, k) in key_o {
        count.entry(k).or_default().0.push(*s);
    }
    for (c, k) in key_p {
        count.entry(k).or_default().1.push(*c);
    }
    for (k, (os, ps)) in count {
        if k.0.is_none() || (os.len() < 2 && ps.len() < 2) {
            continue;
        }
        let left_o: Vec<usize> = os
            .iter()
            .copied()
            .filter(|s| free_o.contains(s) && !tw.o2p.contains_key(s))
            .collect();
        let left_p: Vec<usize> = ps
            .iter()
            .copied()
            .filter(|c| free_p.contains(c) && !tw.p2o.contains_key(c))
            .collect();
        if left_o.is_empty() && left_p.is_empty() {
            continue;
        }
        let names = |elf: &Elf, v: &[usize]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(|&i| elf.symbols[i].display_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let file = left_o
            .first()
            .and_then(|&s| orig.file_name_of(s))
            .or_else(|| left_p.first().and_then(|&c| patched.file_name_of(c)))
            .map_or_else(String::new, |f| format!("{}: ", show(f)));
        let tail = format!(
            "no function uses it and no paired data decides, and the file has {} static(s) named {} in the original ({}; unpaired: {}) and {} in the patched object ({}; unpaired: {}), so a name match would rest on GCC's .N counter alone",
            os.len(),
            show(&k.1),
            names(orig, &os),
            names(orig, &left_o),
            ps.len(),
            names(patched, &ps),
            names(patched, &left_p),
        );
        for &s in &left_o {
            free_o.remove(&s);
            tw.ambiguous_o.insert(s);
        }
        for &c in &left_p {
            free_p.remove(&c);
            tw.ambiguous_p.insert(
                c,
                format!(
                    "{file}function-scope static {} cannot be paired: {tail}",
                    patched.symbols[c].display_name()
                ),
            );
        }
        tw.warnings.push(format!(
            "{file}function-scope statics named {} left unpaired (a reference to one from extracted code is refused): {tail}",
            show(&k.1)
        ));
    }
}

/// Levels 1 (name) and 2 (demangled name) over the candidates `use_o` /
/// `use_p` accept: one-to-one matches within (scope, file block, kind).
#[allow(clippy::too_many_arguments)]
fn name_levels(
    orig: &Elf,
    patched: &Elf,
    tw: &mut Twins,
    ocands: &[usize],
    pcands: &[usize],
    okey: &dyn Fn(usize) -> Option<Key>,
    pkey: &dyn Fn(usize) -> Option<Key>,
    use_o: impl Fn(usize) -> bool,
    use_p: impl Fn(usize) -> bool,
) {
    for level in [Level::Name, Level::Demangled] {
        let name = |elf: &Elf, i: usize| -> Vec<u8> {
            if level == Level::Name {
                elf.symbols[i].name.clone()
            } else {
                names::demangle(&elf.symbols[i].name)
            }
        };
        let groups = unpaired_groups(
            (orig, patched),
            tw,
            (ocands, pcands),
            (okey, pkey),
            (&use_o, &use_p),
            &name,
        );
        for (os, ps) in groups.values() {
            if os.len() == 1 && ps.len() == 1 {
                tw.pair(os[0], ps[0], level);
            }
        }
    }
}

/// Whether `sym` is a function-scope static: a local data object the
/// compiler named after its scope, `count.3` (GCC appends the unit's
/// counter to every function-scope static) or `f.count` (Clang prefixes the
/// function). Both spellings contain a `.` that no C identifier has; file
/// statics and globals keep their plain C name. `.L` labels and the
/// never-correlated statics (`__key.N`, `_rs.N`, ...) are not candidates.
/// kpatch draws the same line (kpatch.md, "Normal static locals").
pub fn is_function_static(elf: &Elf, sym: usize) -> bool {
    let s = &elf.symbols[sym];
    s.is_local()
        && s.is_object()
        && s.name.contains(&b'.')
        && !s.name.starts_with(b".")
        && !never_correlated(elf, sym)
}

/// What the uses of one function-scope static say about its twin.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Evidence {
    /// No function uses it (only data does, or nothing).
    Free,
    /// Functions use it, but none of them has a twin (removed functions on
    /// the orig side, new functions on the patched side).
    Orphan,
    /// Functions with twins use it, and none of those twins uses a static
    /// of the same name: the use was dropped (or moved, level 3b).
    Dropped,
    /// The same-named statics every twin of a user agrees on (those twins
    /// that use one at all). Empty: the twins disagree.
    Among(BTreeSet<usize>),
}

/// Level 3, function-scope statics paired by use.
///
/// The rule, for an orig static `s` with demangled name `d` in file block
/// `B`:
///
/// - its *users* are the functions whose relocations reach it (directly or
///   through a section symbol); the *evidence* of a user `f` that has a twin
///   `f'` is the set of unpaired patched statics named `d` in `B` that `f'`
///   uses; users whose twin uses none give no evidence, and all the other
///   users' evidence is intersected;
/// - the same is done from the patched side; `s` and `c` are joined when
///   each is in the other's evidence. A component of exactly one `s` and
///   one `c` is a pair. Components with the same number n > 1 on each side
///   in which every member of one side is joined with every member of the
///   other (a function with n same-named statics in separate blocks) pair
///   by their references when every user is the same code as its twin
///   (`aligned_by_identical_users`); a component of read-only statics
///   pairs by content when each orig static has exactly one patched static
///   with its bytes and relocation targets (`constant_by_content`,
///   [`Level::Content`]); any other component is refused, naming the
///   symbols;
/// - **moved** (3b): an orig static whose users' twins all dropped it pairs
///   with the one patched static `c` of the same name whose users are all
///   new, static (`STB_LOCAL`) functions not referenced from data, reached
///   only from twins of `s`'s users (through other such new functions; a
///   `.cold` part counts as its parent), when `s` is the only orig static
///   that qualifies for `c`;
/// - an orig static used only by functions without a twin (removed) and a
///   same-named patched static used only by functions without a twin (new)
///   that nothing of the above paired: the name alone would be a guess (a
///   renamed function keeps the state, new code that reuses a name must
///   not); refused, `--pair` settles it.
///
/// Statics no function uses are left to [`pair_by_data`],
/// [`mark_ambiguous`] and the name levels.
///
/// Why it matters: a paired static becomes a klp relocation to the
/// original's name, which the livepatch core binds to the running kernel's
/// object (klp_resolve_symbols() → klp_find_object_symbol() in
/// kernel/livepatch/core.c; static locals are in kallsyms as data symbols
/// with CONFIG_KALLSYMS_ALL, which `config LIVEPATCH` depends on in
/// kernel/livepatch/Kconfig). A wrong pair makes the patched code share
/// another function's state; a missed pair gives it a private copy while
/// the kernel keeps using the real one.
struct StaticsByUse<'e> {
    orig: &'e Elf,
    patched: &'e Elf,
    /// (file block as orig block, demangled name) of every static.
    key_o: BTreeMap<usize, StaticKey>,
    key_p: BTreeMap<usize, StaticKey>,
    /// Users (functions) of each static.
    users_o: BTreeMap<usize, BTreeSet<usize>>,
    users_p: BTreeMap<usize, BTreeSet<usize>>,
    /// Every function's references.
    refs_o: HashMap<usize, HashSet<usize>>,
    refs_p: HashMap<usize, HashSet<usize>>,
    /// Statics no function uses, on each side.
    free_o: HashSet<usize>,
    free_p: HashSet<usize>,
}

impl<'e> StaticsByUse<'e> {
    fn new(
        orig: &'e Elf,
        patched: &'e Elf,
        fss_o: &HashSet<usize>,
        fss_p: &HashSet<usize>,
        okey: &dyn Fn(usize) -> Option<Key>,
        pkey: &dyn Fn(usize) -> Option<Key>,
    ) -> Self {
        let big = (orig.bytes().len() + patched.bytes().len()) as u64 >= crate::par::THRESHOLD;
        let (refs_o, refs_p) = crate::par::join(big, || references(orig), || references(patched));
        let users = |refs: &HashMap<usize, HashSet<usize>>, fss: &HashSet<usize>| {
            let mut u: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
            for (&f, ts) in refs {
                for t in ts.iter().filter(|t| fss.contains(t)) {
                    u.entry(*t).or_default().insert(f);
                }
            }
            u
        };
        let users_o = users(&refs_o, fss_o);
        let users_p = users(&refs_p, fss_p);
        let key_o = fss_o
            .iter()
            .map(|&s| (s, (okey(s), names::demangle(&orig.symbols[s].name))))
            .collect();
        let key_p = fss_p
            .iter()
            .map(|&s| (s, (pkey(s), names::demangle(&patched.symbols[s].name))))
            .collect();
        let free_o = fss_o
            .iter()
            .copied()
            .filter(|s| !users_o.contains_key(s))
            .collect();
        let free_p = fss_p
            .iter()
            .copied()
            .filter(|s| !users_p.contains_key(s))
            .collect();
        StaticsByUse {
            orig,
            patched,
            key_o,
            key_p,
            users_o,
            users_p,
            refs_o,
            refs_p,
            free_o,
            free_p,
        }
    }

    /// Evidence for every static of one side. `twin` maps a function of
    /// this side to the other; `other_refs`, `other_key` describe the other.
    fn evidence(
        keys: &BTreeMap<usize, (Option<Key>, Vec<u8>)>,
        users: &BTreeMap<usize, BTreeSet<usize>>,
        twin: &HashMap<usize, usize>,
        other_refs: &HashMap<usize, HashSet<usize>>,
        other_keys: &BTreeMap<usize, (Option<Key>, Vec<u8>)>,
    ) -> BTreeMap<usize, Evidence> {
        let mut out = BTreeMap::new();
        for (&s, key) in keys {
            let Some(us) = users.get(&s) else {
                out.insert(s, Evidence::Free);
                continue;
            };
            let twins: Vec<usize> = us.iter().filter_map(|f| twin.get(f).copied()).collect();
            if twins.is_empty() {
                out.insert(s, Evidence::Orphan);
                continue;
            }
            let mut among: Option<BTreeSet<usize>> = None;
            for ft in twins {
                let here: BTreeSet<usize> = other_refs
                    .get(&ft)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|c| other_keys.get(c) == Some(key) && key.0.is_some())
                    .collect();
                if here.is_empty() {
                    continue;
                }
                among = Some(match among {
                    None => here,
                    Some(a) => a.intersection(&here).copied().collect(),
                });
            }
            out.insert(s, among.map_or(Evidence::Dropped, Evidence::Among));
        }
        out
    }

    /// `file.c: ` of an orig static (its STT_FILE), for messages.
    fn file_o(&self, s: usize) -> String {
        self.orig
            .file_name_of(s)
            .map_or_else(String::new, |f| format!("{}: ", show(f)))
    }

    fn describe_o(&self, s: usize) -> String {
        self.describe(self.orig, s, self.users_o.get(&s))
    }

    fn describe_p(&self, c: usize) -> String {
        self.describe(self.patched, c, self.users_p.get(&c))
    }

    fn describe(&self, elf: &Elf, s: usize, users: Option<&BTreeSet<usize>>) -> String {
        let users: Vec<String> = users
            .into_iter()
            .flatten()
            .map(|&f| elf.symbols[f].display_name())
            .collect();
        format!(
            "{} (used by {})",
            elf.symbols[s].display_name(),
            if users.is_empty() {
                "no function".to_string()
            } else {
                users.join(", ")
            }
        )
    }

    fn pair(&self, tw: &mut Twins, code: &SameCode<'_>) -> Result<()> {
        let ev_o = Self::evidence(
            &self.key_o,
            &self.users_o,
            &tw.o2p,
            &self.refs_p,
            &self.key_p,
        );
        let ev_p = Self::evidence(
            &self.key_p,
            &self.users_p,
            &tw.p2o,
            &self.refs_o,
            &self.key_o,
        );
        let mut refusals: Vec<String> = Vec::new();
        let (edges_o, edges_p) = Self::edges(&ev_o, &ev_p);
        self.components(tw, &edges_o, &edges_p, code, &mut refusals);
        self.disagreeing(&ev_o, &ev_p, &mut refusals);
        // 3b: moved into new static functions.
        self.moved(tw, &ev_o, &ev_p);
        self.orphans_of_a_name(tw, &ev_o, &ev_p, &mut refusals);
        if refusals.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Refused,
            format!(
                "cannot pair function-scope static locals (their state must be the kernel's, so a wrong pair corrupts it):\n  {}",
                refusals.join("\n  ")
            ),
        )
        .in_file(&self.patched.path)
        .hint(
            "pin the pairing with --pair ORIG=PATCHED (FILE:NAME for a name in several files), or keep each static local in the function that used it in the original (or move it into a new static helper called only from there)",
        ))
    }

    /// Join s and c when each is in the other's evidence: the edges from
    /// each side.
    #[allow(clippy::type_complexity)]
    fn edges(
        ev_o: &BTreeMap<usize, Evidence>,
        ev_p: &BTreeMap<usize, Evidence>,
    ) -> (
        BTreeMap<usize, BTreeSet<usize>>,
        BTreeMap<usize, BTreeSet<usize>>,
    ) {
        let among = |e: Option<&Evidence>| match e {
            Some(Evidence::Among(a)) => a.clone(),
            _ => BTreeSet::new(),
        };
        let mut edges_o: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let mut edges_p: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for (&s, e) in ev_o {
            for c in among(Some(e)) {
                if among(ev_p.get(&c)).contains(&s) {
                    edges_o.entry(s).or_default().insert(c);
                    edges_p.entry(c).or_default().insert(s);
                }
            }
        }
        (edges_o, edges_p)
    }

    /// Components of the edges: one static on each side pairs; complete
    /// components of equal size pair in order; anything else is refused.
    fn components(
        &self,
        tw: &mut Twins,
        edges_o: &BTreeMap<usize, BTreeSet<usize>>,
        edges_p: &BTreeMap<usize, BTreeSet<usize>>,
        code: &SameCode<'_>,
        refusals: &mut Vec<String>,
    ) {
        let mut done_o: HashSet<usize> = HashSet::new();
        for &start in edges_o.keys() {
            if done_o.contains(&start) {
                continue;
            }
            let (mut os, mut ps) = (BTreeSet::from([start]), BTreeSet::new());
            let mut todo = vec![start];
            while let Some(s) = todo.pop() {
                for &c in &edges_o[&s] {
                    if ps.insert(c) {
                        for &s2 in &edges_p[&c] {
                            if os.insert(s2) {
                                todo.push(s2);
                            }
                        }
                    }
                }
            }
            done_o.extend(os.iter().copied());
            let complete = os.iter().all(|s| edges_o[s].len() == ps.len());
            if os.len() == 1 && ps.len() == 1 {
                let (s, c) = (start, *ps.iter().next().expect("one"));
                tw.pair(s, c, Level::Reference);
            } else if let Some(pairs) = (complete && os.len() == ps.len())
                .then(|| {
                    let users: BTreeSet<usize> = os
                        .iter()
                        .flat_map(|s| self.users_o.get(s).into_iter().flatten().copied())
                        .collect();
                    let same_code = |fo: usize, fp: usize| code.same(fo, fp);
                    aligned_by_identical_users(
                        self.orig,
                        self.patched,
                        &tw.o2p,
                        &users,
                        &os,
                        &ps,
                        &same_code,
                    )
                })
                .flatten()
            {
                // Used by exactly the same functions, each byte-identical
                // to its twin: the k-th reference of one is the k-th of
                // the other, whatever the names say.
                for (s, c) in pairs {
                    tw.pair(s, c, Level::Reference);
                }
            } else {
                // Read-only statics hold no state: what a reference to one
                // means is its content (constant_by_content has the rule).
                match constant_by_content(self.orig, self.patched, &tw.o2p, &os, &ps) {
                    Ok(pairs) => {
                        for (s, c) in pairs {
                            tw.pair(s, c, Level::Content);
                        }
                    }
                    Err(content) => refusals.push(format!(
                        "{}the uses of static locals {} in the original and {} in the patched object do not tell which is which{}",
                        self.file_o(start),
                        os.iter().map(|&s| self.describe_o(s)).collect::<Vec<_>>().join(", "),
                        ps.iter().map(|&c| self.describe_p(c)).collect::<Vec<_>>().join(", "),
                        content.map_or_else(String::new, |why| format!(
                            "; they are read-only, but their contents do not single out a pair either: {why}"
                        ))
                    )),
                }
            }
        }
    }

    /// Twins that disagree.
    fn disagreeing(
        &self,
        ev_o: &BTreeMap<usize, Evidence>,
        ev_p: &BTreeMap<usize, Evidence>,
        refusals: &mut Vec<String>,
    ) {
        for (&s, e) in ev_o {
            if matches!(e, Evidence::Among(a) if a.is_empty()) {
                refusals.push(format!(
                    "{}static local {}: the twins of its users use different statics of that name",
                    self.file_o(s),
                    self.describe_o(s)
                ));
            }
        }
        for (&c, e) in ev_p {
            if matches!(e, Evidence::Among(a) if a.is_empty()) {
                refusals.push(format!(
                    "{}static local {}: the originals of its users use different statics of that name",
                    self.patched
                        .file_name_of(c)
                        .map_or_else(String::new, |f| format!("{}: ", show(f))),
                    self.describe_p(c)
                ));
            }
        }
    }

    /// What is left of the same name on both sides, used on each side only
    /// by functions without a twin, is refused.
    fn orphans_of_a_name(
        &self,
        tw: &Twins,
        ev_o: &BTreeMap<usize, Evidence>,
        ev_p: &BTreeMap<usize, Evidence>,
        refusals: &mut Vec<String>,
    ) {
        // What is left of the same name on both sides, used on each side
        // only by functions without a twin (a removed one and a new one):
        // whether the new code continues the old state (a rename) or starts
        // its own, only a name match could say, and that would be a guess.
        // (A static used only by new functions and nothing of its name in
        // the original is simply new.)
        //
        // Users that are never correlated by design are not removed or new
        // code: clang LTO's initcall stubs
        // (`__initstub__kmod_<mod>__<counter>_<line>_<fn><level>`,
        // include/linux/init.h, CONFIG_LTO_CLANG) wrap the init function,
        // which ThinLTO inlines into them with its static locals (arch/x86/
        // kernel/apic/hw_nmi.c: `register_nmi_cpu_backtrace_handler.
        // nmi_cpu_backtrace_handler_na`, used only by its stub). Such code
        // is never extracted, so a static that only it uses, on both sides,
        // cannot be reached from the patch: no pair is needed and there is
        // nothing to guess (a patch that starts using one gives it a user
        // that is new or has a twin, and the rules above apply).
        let inert = |elf: &Elf, users: Option<&BTreeSet<usize>>| {
            users.is_some_and(|us| us.iter().all(|&f| never_correlated(elf, f)))
        };
        let unpaired_o: Vec<usize> = ev_o
            .iter()
            .filter(|(s, e)| !tw.o2p.contains_key(s) && **e == Evidence::Orphan)
            .map(|(&s, _)| s)
            .collect();
        for s in unpaired_o {
            let key = &self.key_o[&s];
            if key.0.is_none() {
                continue;
            }
            let others: Vec<usize> = ev_p
                .iter()
                .filter(|(c, e)| {
                    !tw.p2o.contains_key(c) && &self.key_p[c] == key && **e == Evidence::Orphan
                })
                .map(|(&c, _)| c)
                .collect();
            // Likewise a static used only by init code on both sides: its
            // state belongs to boot code that is freed after boot
            // (init/main.c free_initmem) and that a live patch never runs.
            // Left unpaired; extract refuses any reference to an unpaired
            // static local.
            let init_only = |elf: &Elf, users: Option<&BTreeSet<usize>>| {
                users.is_some_and(|u| {
                    !u.is_empty()
                        && u.iter().all(|&f| {
                            elf.symbols[f].section.is_some_and(|x| {
                                names::is_vmlinux_init_section(&elf.sections[x].name)
                            })
                        })
                })
            };
            let unreachable = |elf: &Elf, users: Option<&BTreeSet<usize>>| {
                inert(elf, users) || init_only(elf, users)
            };
            if unreachable(self.orig, self.users_o.get(&s))
                && others
                    .iter()
                    .all(|&c| unreachable(self.patched, self.users_p.get(&c)))
            {
                continue;
            }
            if !others.is_empty() {
                refusals.push(format!(
                    "{}static local {} in the original and {} in the patched object share a name, but no function with a twin uses them: pairing them by name would be a guess",
                    self.file_o(s),
                    self.describe_o(s),
                    others
                        .iter()
                        .map(|&c| self.describe_p(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }

    /// Level 3b: a static the patch moved from changed functions into new
    /// helpers (see the type's rule).
    fn moved(
        &self,
        tw: &mut Twins,
        ev_o: &BTreeMap<usize, Evidence>,
        ev_p: &BTreeMap<usize, Evidence>,
    ) {
        let p = self.patched;
        if !ev_o
            .iter()
            .any(|(s, e)| *e == Evidence::Dropped && !tw.o2p.contains_key(s))
        {
            return;
        }
        // New static functions referenced from data other than special
        // sections (function pointers in an ops table...) may be called by
        // anyone: they never carry a moved static.
        let from_data = functions_referenced_from_data(p);
        // A `.cold` part stands for its parent: the parent's twin is the
        // function that used the static.
        let root = |elf: &Elf, f: usize| -> usize {
            let n = &elf.symbols[f].name;
            if names::is_cold_child(n)
                && let Some(par) = names::child_parent(n).and_then(|pn| elf.find_function(pn))
            {
                return par;
            }
            f
        };
        // Callers of each patched function.
        let mut callers: HashMap<usize, BTreeSet<usize>> = HashMap::new();
        for (&f, ts) in &self.refs_p {
            for &t in ts {
                if p.symbols[t].is_func() && t != f {
                    callers.entry(t).or_default().insert(f);
                }
            }
        }
        // Functions with a twin that reach c only through new static
        // functions; None if some new function on the way does not qualify.
        let entries = |c: usize| -> Option<BTreeSet<usize>> {
            let mut out = BTreeSet::new();
            let mut seen: HashSet<usize> = HashSet::new();
            let mut todo: Vec<usize> = self.users_p.get(&c)?.iter().copied().collect();
            while let Some(f) = todo.pop() {
                if !seen.insert(f) {
                    continue;
                }
                if tw.p2o.contains_key(&f) {
                    out.insert(root(p, f));
                    continue;
                }
                if !p.symbols[f].is_local() || from_data.contains(&f) {
                    return None;
                }
                let cs = callers.get(&f)?;
                todo.extend(cs.iter().copied());
            }
            (!out.is_empty()).then_some(out)
        };
        let mut proposals: Vec<(usize, usize)> = Vec::new();
        for (&s, e) in ev_o {
            if *e != Evidence::Dropped || tw.o2p.contains_key(&s) {
                continue;
            }
            let user_twins: BTreeSet<usize> = self.users_o[&s]
                .iter()
                .filter_map(|f| tw.o2p.get(f).copied())
                .map(|f| root(p, f))
                .collect();
            let key = &self.key_o[&s];
            let cands: Vec<usize> = ev_p
                .iter()
                .filter(|(c, e)| {
                    **e == Evidence::Orphan && !tw.p2o.contains_key(c) && &self.key_p[c] == key
                })
                .filter(|(c, _)| entries(**c).is_some_and(|a| a.is_subset(&user_twins)))
                .map(|(&c, _)| c)
                .collect();
            if let [c] = cands[..] {
                proposals.push((s, c));
            }
        }
        for &(s, c) in &proposals {
            if proposals.iter().filter(|(_, c2)| *c2 == c).count() == 1 {
                tw.pair(s, c, Level::Moved);
            }
        }
    }
}

/// Functions whose address a data section takes (a relocation from an
/// allocated, non-executable section that is not special-section metadata).
fn functions_referenced_from_data(elf: &Elf) -> HashSet<usize> {
    let mut out = HashSet::new();
    for r in &elf.relocs {
        let sec = &elf.sections[r.section];
        if sec.is_exec()
            || !sec.is_alloc()
            || x86::special_for(&sec.name).is_some()
            || x86::AUX_SECTIONS.iter().any(|a| sec.name == a.as_bytes())
        {
            continue;
        }
        let t = &elf.symbols[r.symbol];
        if t.is_func() {
            out.insert(r.symbol);
        } else if t.is_section()
            && let Some(ts) = t.section
            && let Some(off) = crate::elf::uoffset_of(t.value, r.addend, 0)
            && let Some(f) = elf.symbol_containing(ts, off)
            && elf.symbols[f].is_func()
        {
            out.insert(f);
        }
    }
    out
}

/// For every function, the symbols its relocations point at (section
/// references resolved to the containing symbol).
pub fn references(elf: &Elf) -> HashMap<usize, HashSet<usize>> {
    references_of(elf, |_| true)
}

/// [`references`] for the functions `want` accepts. Each section's
/// relocations are sorted once and every function looks at its own range
/// only, so a linked module with thousands of functions in one `.text`
/// stays linear.
pub fn references_of(elf: &Elf, want: impl Fn(usize) -> bool) -> HashMap<usize, HashSet<usize>> {
    let mut out: HashMap<usize, HashSet<usize>> = HashMap::new();
    for s in &elf.symbols {
        if !s.is_func() || s.size == 0 || !want(s.index) {
            continue;
        }
        let Some(sec) = s.section else { continue };
        let set = elf
            .relocs_between(sec, s.value, s.value.saturating_add(s.size))
            .iter()
            .filter_map(|&id| ref_target(elf, id))
            .collect();
        out.insert(s.index, set);
    }
    out
}

/// The relocations of `ids` (sorted by offset) in `[start, end)`.
fn relocs_in<'a>(
    elf: &'a Elf,
    ids: &'a [usize],
    start: u64,
    end: u64,
) -> impl Iterator<Item = usize> + 'a {
    let lo = ids.partition_point(|&i| elf.relocs[i].offset < start);
    ids[lo..]
        .iter()
        .copied()
        .take_while(move |&i| elf.relocs[i].offset < end)
}

/// The symbol relocation `id` refers to: its own symbol, or for a section
/// symbol or local label the object at that offset (`Elf::resolve_ref`).
fn ref_target(elf: &Elf, id: usize) -> Option<usize> {
    let r = &elf.relocs[id];
    let t = &elf.symbols[r.symbol];
    if !(t.is_section() || names::is_local_label(&t.name)) {
        return Some(r.symbol);
    }
    let tsec = t.section?;
    let adj = if x86::reloc_is_pcrel(r.r_type) {
        x86::addend_adjustment(
            r.r_type,
            r.offset,
            elf.code_map(r.section).insn_at(r.offset),
        )
    } else {
        0
    };
    let off = crate::elf::offset_of(t.value, r.addend, adj)?;
    (off >= 0)
        .then(|| elf.resolve_ref(tsec, off as u64))
        .flatten()
        .map(|c| c.sym)
}

/// What a relocation inside a read-only static points at, in terms the two
/// builds share (the orig side's symbols through the pairing made so far).
#[derive(Debug, Clone, PartialEq, Eq)]
enum ConstTarget {
    /// A string literal: its bytes from the offset up to the NUL.
    Str(Vec<u8>),
    /// A paired symbol (as the patched object's index) and the offset into
    /// it.
    Sym(usize, i64),
    /// An undefined symbol (an export or another unit's global) by name.
    Undef(Vec<u8>, i64),
    /// A never-correlated read-only object without relocations of its own
    /// (`__func__.N`, a switch table): its bytes, and the offset into it.
    Bytes(Vec<u8>, i64),
}

/// The bytes and relocations of a read-only static, for
/// [`constant_by_content`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConstContent {
    bytes: Vec<u8>,
    /// (offset in the object, type, target), by offset.
    relocs: Vec<(u64, u32, ConstTarget)>,
}

/// Whether `i` is read-only data: an object in an allocated `.rodata*`
/// section without SHF_WRITE, with bytes in the file.
fn is_read_only_object(e: &Elf, i: usize) -> bool {
    let s = &e.symbols[i];
    s.section.is_some_and(|sec| {
        let ps = &e.sections[sec];
        ps.is_alloc()
            && !ps.is_nobits()
            && !ps.is_exec()
            && ps.sh_flags & crate::elf::consts::SHF_WRITE == 0
            && ps.name.starts_with(b".rodata")
    })
}

/// The bytes of `[start, end)` of `sec`, None when out of the data.
fn bytes_of(e: &Elf, sec: usize, start: u64, end: u64) -> Option<Vec<u8>> {
    e.data(sec)
        .get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
        .map(<[u8]>::to_vec)
}

/// The content of read-only static `i`; `twin` names a symbol of this
/// object in the patched object's terms (the identity on the patched side,
/// the pairing on the orig side). None when a relocation's target cannot be
/// named in those terms (unpaired, anonymous, ...): such a static matches
/// nothing.
fn const_content(e: &Elf, i: usize, twin: &dyn Fn(usize) -> Option<usize>) -> Option<ConstContent> {
    let s = &e.symbols[i];
    let sec = s.section?;
    let (start, end) = (s.value, s.value.checked_add(s.size)?);
    let bytes = bytes_of(e, sec, start, end)?;
    let mut relocs = Vec::new();
    for r in e
        .relocs_for(sec)
        .filter(|r| r.offset >= start && r.offset < end)
    {
        relocs.push((r.offset - start, r.r_type, const_target(e, r, twin)?));
    }
    relocs.sort_by_key(|x| x.0);
    Some(ConstContent { bytes, relocs })
}

/// What relocation `r` of a read-only static points at (data relocations:
/// no PC adjustment, the target is `S + A`).
fn const_target(
    e: &Elf,
    r: &crate::elf::Reloc,
    twin: &dyn Fn(usize) -> Option<usize>,
) -> Option<ConstTarget> {
    let t = &e.symbols[r.symbol];
    if r.symbol == 0 {
        return None;
    }
    if t.is_undef() {
        return Some(ConstTarget::Undef(t.name.clone(), r.addend));
    }
    let sec = t.section?;
    let off = crate::elf::uoffset_of(t.value, r.addend, 0)?;
    if e.sections[sec].is_strings() {
        let data = e.data(sec).get(usize::try_from(off).ok()?..)?;
        let len = data.iter().position(|&b| b == 0)?;
        return Some(ConstTarget::Str(data[..len].to_vec()));
    }
    let anon = t.is_section() || names::is_local_label(&t.name) || t.name.is_empty();
    let (sym, delta) = if anon {
        let rt = e.resolve_ref(sec, off)?;
        (rt.sym, i64::try_from(rt.offset).ok()?)
    } else {
        (r.symbol, r.addend)
    };
    if let Some(p) = twin(sym) {
        return Some(ConstTarget::Sym(p, delta));
    }
    // Never matched with the other build, so compared by what it holds:
    // read-only and without relocations of its own, or not at all.
    if never_correlated(e, sym) && is_read_only_object(e, sym) {
        let ts = &e.symbols[sym];
        let tsec = ts.section?;
        let tend = ts.value.checked_add(ts.size)?;
        if e.relocs_for(tsec)
            .any(|x| x.offset >= ts.value && x.offset < tend)
        {
            return None;
        }
        return Some(ConstTarget::Bytes(
            bytes_of(e, tsec, ts.value, tend)?,
            delta,
        ));
    }
    None
}

/// Read-only function-scope statics `os` and `ps` that use could not tell
/// apart (several `static const struct dm_arg _args[]` of one function,
/// NL_SET_ERR_MSG's `__msg.N` strings), paired by content: each orig
/// static takes the one patched static with the same bytes and the same
/// relocations (same offsets and types; targets compared through the
/// pairing made so far, string literals and never-correlated read-only
/// objects by their bytes). Err(None) unless every static of both sides is
/// read-only (`.rodata*`, no SHF_WRITE); Err(Some(why)) when the contents
/// do not single out one pair for every orig static: none or several
/// patched statics with its content, or two orig statics with the same
/// one. A patched static left over (a new table) stays unpaired, new.
///
/// Why content may decide here and nowhere else: read-only data holds no
/// state. The kernel maps it read-only (vmlinux's .rodata after
/// mark_rodata_ro(); a module's SHF_ALLOC sections without SHF_WRITE go to
/// the read-only part of its layout, kernel/module/main.c layout_sections(),
/// which module_enable_ro() in kernel/module/strict_rwx.c write-protects),
/// so the patched code bound to the running kernel's static reads exactly
/// the bytes its own copy would hold (pointers included: their targets are
/// the pairs'). What content cannot vouch for is the object's address: if
/// some code compares a pointer with `&_args[0]`, it is the address of the
/// kernel object with that content, which is the right one unless the
/// patch swapped the contents of two statics. Identical contents with
/// pointers decide nothing (which of two equal tables a kernel pointer
/// points at is exactly what neither use nor content shows), so they are
/// refused like any other ambiguity; `--pair` settles them. Identical
/// plain bytes (the same message string twice) pair in symbol order, as
/// this rule did before pointers were compared. Writable statics never come
/// here: a wrong pair of stateful statics shares the wrong state.
fn constant_by_content(
    orig: &Elf,
    patched: &Elf,
    o2p: &HashMap<usize, usize>,
    os: &BTreeSet<usize>,
    ps: &BTreeSet<usize>,
) -> std::result::Result<Vec<(usize, usize)>, Option<String>> {
    if !os.iter().all(|&s| is_read_only_object(orig, s))
        || !ps.iter().all(|&c| is_read_only_object(patched, c))
    {
        return Err(None);
    }
    let twin_o = |o: usize| o2p.get(&o).copied();
    let twin_p = |p: usize| Some(p);
    let cont_p: Vec<(usize, Option<ConstContent>)> = ps
        .iter()
        .map(|&c| (c, const_content(patched, c, &twin_p)))
        .collect();
    let mut pairs = Vec::new();
    let mut why: Vec<String> = Vec::new();
    let cont_o: Vec<(usize, Option<ConstContent>)> = os
        .iter()
        .map(|&s| (s, const_content(orig, s, &twin_o)))
        .collect();
    for &(s, ref co) in &cont_o {
        let name = orig.symbols[s].display_name();
        let Some(co) = co else {
            why.push(format!(
                "{name} points at something not paired with the patched object"
            ));
            continue;
        };
        let same: Vec<usize> = cont_p
            .iter()
            .filter(|(_, cp)| cp.as_ref() == Some(co))
            .map(|(c, _)| *c)
            .collect();
        // Plain bytes without pointers (NL_SET_ERR_MSG's `__msg.N` with one
        // text used twice): n equal strings on each side pair in symbol
        // order (GCC's declaration order). Any pairing reads the same
        // bytes, and no pointer inside them can lead elsewhere; only a
        // comparison of a stored pointer with the string's address could
        // tell, which message strings never see. Equal tables that hold
        // pointers stay refused below (an ops table's address is its
        // identity).
        let twins_o: Vec<usize> = cont_o
            .iter()
            .filter(|(_, c)| c.as_ref() == Some(co))
            .map(|(s, _)| *s)
            .collect();
        if co.relocs.is_empty() && same.len() > 1 && twins_o.len() == same.len() {
            let rank = twins_o
                .iter()
                .position(|&x| x == s)
                .expect("s has its own content");
            pairs.push((s, same[rank]));
            continue;
        }
        match same[..] {
            [c] => pairs.push((s, c)),
            [] => why.push(format!("no patched static has the content of {name}")),
            _ => why.push(format!(
                "{} patched statics have the content of {name} ({})",
                same.len(),
                same.iter()
                    .map(|&c| patched.symbols[c].display_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    for &(s, c) in &pairs {
        if let Some(&s0) = taken.get(&c) {
            why.push(format!(
                "{} and {} have the same content ({})",
                orig.symbols[s0].display_name(),
                orig.symbols[s].display_name(),
                patched.symbols[c].display_name()
            ));
        }
        taken.insert(c, s);
    }
    if why.is_empty() {
        Ok(pairs)
    } else {
        Err(Some(why.join("; ")))
    }
}

/// For same-named statics `os` (orig) and `ps` (patched) used by the same
/// functions: the pairing their users' code shows, when every user is
/// the same code as its twin, `__LINE__` arguments aside, with the same
/// relocations at the same offsets (so the k-th relocation of one is the
/// k-th of the other) and the group's references line up one to one. None when
/// a user changed: then the names and the declaration order are only a
/// guess (round-3 review: swapping two blocks that each have a
/// `static int cnt` swaps GCC's `cnt.0`/`cnt.1`, and pairing by name
/// swapped their kernel state).
fn aligned_by_identical_users(
    orig: &Elf,
    patched: &Elf,
    o2p: &HashMap<usize, usize>,
    users: &BTreeSet<usize>,
    os: &BTreeSet<usize>,
    ps: &BTreeSet<usize>,
    same_code: &dyn Fn(usize, usize) -> bool,
) -> Option<Vec<(usize, usize)>> {
    let mut map: BTreeMap<usize, usize> = BTreeMap::new();
    for &fo in users {
        let fp = *o2p.get(&fo)?;
        let (so, sp) = (&orig.symbols[fo], &patched.symbols[fp]);
        let (seco, secp) = (so.section?, sp.section?);
        if so.size != sp.size {
            return None;
        }
        // The same code but for `__LINE__` arguments (the line-masked
        // checksum, which names relocation targets by demangled name, so
        // `cnt.0` and `cnt.1` hash alike): the relocations then line up.
        if !same_code(fo, fp) {
            return None;
        }
        let ids_o = orig.sorted_relocs(seco);
        let ids_p = patched.sorted_relocs(secp);
        let ro: Vec<usize> = relocs_in(orig, ids_o, so.value, so.value + so.size).collect();
        let rp: Vec<usize> = relocs_in(patched, ids_p, sp.value, sp.value + sp.size).collect();
        if ro.len() != rp.len() {
            return None;
        }
        for (&a, &b) in ro.iter().zip(&rp) {
            let (x, y) = (&orig.relocs[a], &patched.relocs[b]);
            if x.offset - so.value != y.offset - sp.value || x.r_type != y.r_type {
                return None;
            }
            let to = ref_target(orig, a);
            let tp = ref_target(patched, b);
            match (to.filter(|t| os.contains(t)), tp.filter(|t| ps.contains(t))) {
                (None, None) => {}
                (Some(s), Some(c)) => {
                    if *map.entry(s).or_insert(c) != c {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }
    let pairs: Vec<(usize, usize)> = map.into_iter().collect();
    let distinct: BTreeSet<usize> = pairs.iter().map(|p| p.1).collect();
    (pairs.len() == os.len() && distinct.len() == ps.len() && ps.len() == os.len()).then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_words_are_distinct() {
        let all = [
            Level::Pinned,
            Level::Name,
            Level::Demangled,
            Level::Reference,
            Level::Content,
            Level::Moved,
            Level::Data,
            Level::Scope,
            Level::Position,
        ];
        let words: HashSet<&str> = all.iter().map(|l| l.word()).collect();
        assert_eq!(words.len(), all.len());
    }
}
