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
//! 3. **reference**: a static local (`count.3`) pairs with the patched
//!    static of the same demangled name that the *twin* of a function
//!    referencing it references;
//! 4. **scope**: a symbol that became global (or local) pairs by name, with a
//!    warning;
//! 5. **position**: N same-named candidates on each side pair in order, with
//!    a warning.
//!
//! Symbols that must never be correlated (string literals, anonymous and
//! special-section data, prefix symbols, the uncorrelated static locals,
//! assembler labels, initcall stubs) are left out entirely: a reference to
//! one always gets a fresh copy.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::arch::x86_64::{self as x86, CodeMap};
use crate::elf::{Elf, names};
use crate::error::{Result, show};

/// How a pair was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Same name.
    Name,
    /// Same demangled name.
    Demangled,
    /// Static local, through its referencing functions.
    Reference,
    /// Binding changed.
    Scope,
    /// Last resort: order.
    Position,
}

impl Level {
    /// Word used in reports.
    pub fn word(self) -> &'static str {
        match self {
            Level::Name => "name",
            Level::Demangled => "demangled name",
            Level::Reference => "referencing function",
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
    let mut tw = Twins::default();
    let (ob, onames) = blocks(orig);
    let (pb, pnames) = blocks(patched);
    // FILE blocks in step: each orig block takes the next patched block of
    // the same name.
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

    // Levels 1 and 2.
    for level in [Level::Name, Level::Demangled] {
        let name = |elf: &Elf, i: usize| -> Vec<u8> {
            if level == Level::Name {
                elf.symbols[i].name.clone()
            } else {
                names::demangle(&elf.symbols[i].name)
            }
        };
        let mut groups: BTreeMap<(Option<Key>, Vec<u8>), Sides> = BTreeMap::new();
        for &o in ocands.iter().filter(|o| !tw.o2p.contains_key(o)) {
            if let Some(k) = okey(o) {
                groups
                    .entry((Some(k), name(orig, o)))
                    .or_default()
                    .0
                    .push(o);
            }
        }
        for &p in pcands.iter().filter(|p| !tw.p2o.contains_key(p)) {
            if let Some(k) = pkey(p) {
                groups
                    .entry((Some(k), name(patched, p)))
                    .or_default()
                    .1
                    .push(p);
            }
        }
        for (os, ps) in groups.values() {
            if os.len() == 1 && ps.len() == 1 {
                tw.pair(os[0], ps[0], level);
            }
        }
    }

    // Level 3: static locals through their referencing functions.
    let unpaired_statics: Vec<usize> = ocands
        .iter()
        .copied()
        .filter(|o| {
            !tw.o2p.contains_key(o) && orig.symbols[*o].is_local() && orig.symbols[*o].is_object()
        })
        .collect();
    if !unpaired_statics.is_empty() {
        let orefs = references(orig);
        let prefs = references(patched);
        for s in unpaired_statics {
            let d = names::demangle(&orig.symbols[s].name);
            let mut cands: Option<HashSet<usize>> = None;
            for (f, targets) in &orefs {
                if !targets.contains(&s) {
                    continue;
                }
                let Some(fp) = tw.o2p.get(f) else { continue };
                let here: HashSet<usize> = prefs
                    .get(fp)
                    .map(|t| {
                        t.iter()
                            .copied()
                            .filter(|&p| {
                                !tw.p2o.contains_key(&p)
                                    && patched.symbols[p].is_local()
                                    && patched.symbols[p].is_object()
                                    && names::demangle(&patched.symbols[p].name) == d
                                    && !never_correlated(patched, p)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                cands = Some(match cands {
                    None => here,
                    Some(c) => c.intersection(&here).copied().collect(),
                });
            }
            if let Some(c) = cands
                && c.len() == 1
            {
                let p = *c.iter().next().expect("one");
                tw.pair(s, p, Level::Reference);
            }
        }
    }

    // Level 4: binding changed.
    {
        let mut by_name: HashMap<(Vec<u8>, Class), Vec<usize>> = HashMap::new();
        for &p in pcands.iter().filter(|p| !tw.p2o.contains_key(p)) {
            by_name
                .entry((names::demangle(&patched.symbols[p].name), class(patched, p)))
                .or_default()
                .push(p);
        }
        let unpaired: Vec<usize> = ocands
            .iter()
            .copied()
            .filter(|o| !tw.o2p.contains_key(o))
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

    // Level 5: position.
    {
        let mut groups: BTreeMap<(Key, Vec<u8>), Sides> = BTreeMap::new();
        for &o in ocands.iter().filter(|o| !tw.o2p.contains_key(o)) {
            if let Some(k) = okey(o) {
                groups
                    .entry((k, names::demangle(&orig.symbols[o].name)))
                    .or_default()
                    .0
                    .push(o);
            }
        }
        for &p in pcands.iter().filter(|p| !tw.p2o.contains_key(p)) {
            if let Some(k) = pkey(p) {
                groups
                    .entry((k, names::demangle(&patched.symbols[p].name)))
                    .or_default()
                    .1
                    .push(p);
            }
        }
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
    Ok(tw)
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
    let mut maps: HashMap<usize, CodeMap> = HashMap::new();
    let mut sorted: HashMap<usize, Vec<usize>> = HashMap::new();
    for s in &elf.symbols {
        if !s.is_func() || s.size == 0 || !want(s.index) {
            continue;
        }
        let Some(sec) = s.section else { continue };
        let mut set = HashSet::new();
        let ids = sorted
            .entry(sec)
            .or_insert_with(|| crate::special::sorted_relocs(elf, sec));
        let end = s.value.saturating_add(s.size);
        let lo = ids.partition_point(|&i| elf.relocs[i].offset < s.value);
        for &id in ids[lo..]
            .iter()
            .take_while(|&&i| elf.relocs[i].offset < end)
        {
            let r = &elf.relocs[id];
            let t = &elf.symbols[r.symbol];
            if t.is_section() || names::is_local_label(&t.name) {
                let Some(tsec) = t.section else { continue };
                let adj = if x86::reloc_is_pcrel(r.r_type) {
                    let map = maps
                        .entry(sec)
                        .or_insert_with(|| CodeMap::decode(elf.data(sec)));
                    x86::addend_adjustment(r.r_type, r.offset, map.insn_at(r.offset))
                } else {
                    0
                };
                let off = crate::elf::offset_of(t.value, r.addend, adj).unwrap_or(-1);
                if off >= 0
                    && let Some(c) = elf.resolve_ref(tsec, off as u64)
                {
                    set.insert(c.sym);
                }
            } else {
                set.insert(r.symbol);
            }
        }
        out.insert(s.index, set);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_words_are_distinct() {
        let all = [
            Level::Name,
            Level::Demangled,
            Level::Reference,
            Level::Scope,
            Level::Position,
        ];
        let words: HashSet<&str> = all.iter().map(|l| l.word()).collect();
        assert_eq!(words.len(), all.len());
    }
}
