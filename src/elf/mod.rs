//! The loaded-object model: one ELF64 relocatable (or linked) object, owned
//! and indexed.
//!
//! Section and symbol indices are the ELF indices of the input, so dumps,
//! diagnostics and `readelf` agree. Relocations are kept per relocation
//! section, in file order, and indexed by the section they apply to. The
//! model never changes after [`load`](load::load) returns (an input objtool
//! has not processed is completed once, by [`edit`] and a second load, see
//! `crate::objtool`); passes keep their
//! results in side tables.

pub mod consts;
pub mod edit;
pub mod load;
pub mod names;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use crate::error::show;
use consts::*;

/// One section header plus what klpwrite derives from it.
#[derive(Debug, Clone)]
pub struct Section {
    /// ELF section index.
    pub index: usize,
    /// Section name (bytes; kernel names are ASCII in practice).
    pub name: Vec<u8>,
    pub sh_type: u32,
    pub sh_flags: u64,
    pub sh_addr: u64,
    pub sh_size: u64,
    pub sh_link: u32,
    pub sh_info: u32,
    pub sh_addralign: u64,
    pub sh_entsize: u64,
    /// Byte range of the section data in the file (empty for NOBITS).
    pub file_range: Range<usize>,
    /// The section's STT_SECTION symbol, if the toolchain emitted one.
    pub symbol: Option<usize>,
    /// Relocation sections whose `sh_info` is this section.
    pub rela_sections: Vec<usize>,
    /// The SHT_GROUP section this section belongs to.
    pub group: Option<usize>,
}

impl Section {
    /// Name for messages.
    pub fn display_name(&self) -> String {
        if self.name.is_empty() {
            format!("section#{}", self.index)
        } else {
            show(&self.name)
        }
    }
    pub fn is_alloc(&self) -> bool {
        self.sh_flags & SHF_ALLOC != 0
    }
    pub fn is_exec(&self) -> bool {
        self.sh_flags & SHF_EXECINSTR != 0
    }
    pub fn is_nobits(&self) -> bool {
        self.sh_type == SHT_NOBITS
    }
    pub fn is_strings(&self) -> bool {
        self.sh_flags & SHF_STRINGS != 0
    }
    pub fn is_rela(&self) -> bool {
        self.sh_type == SHT_RELA
    }
    pub fn is_klp_rela(&self) -> bool {
        self.sh_type == SHT_RELA && self.sh_flags & SHF_RELA_LIVEPATCH != 0
    }
}

/// One symbol table entry.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// Index in `.symtab`.
    pub index: usize,
    pub name: Vec<u8>,
    pub st_info: u8,
    pub st_other: u8,
    /// Raw `st_shndx` (SHN_XINDEX already resolved into `section`).
    pub st_shndx: u16,
    /// The section the symbol is defined in, when it is a regular section.
    pub section: Option<usize>,
    pub value: u64,
    pub size: u64,
    /// The STT_FILE symbol whose block this local belongs to.
    pub file: Option<usize>,
}

impl Symbol {
    pub fn bind(&self) -> u8 {
        self.st_info >> 4
    }
    pub fn kind(&self) -> u8 {
        self.st_info & 0xf
    }
    pub fn is_local(&self) -> bool {
        self.bind() == STB_LOCAL
    }
    pub fn is_undef(&self) -> bool {
        self.st_shndx == SHN_UNDEF
    }
    pub fn is_func(&self) -> bool {
        self.kind() == STT_FUNC
    }
    pub fn is_object(&self) -> bool {
        self.kind() == STT_OBJECT
    }
    pub fn is_section(&self) -> bool {
        self.kind() == STT_SECTION
    }
    pub fn is_file(&self) -> bool {
        self.kind() == STT_FILE
    }
    pub fn is_livepatch(&self) -> bool {
        self.st_shndx == SHN_LIVEPATCH
    }
    /// Name for messages.
    pub fn display_name(&self) -> String {
        if self.name.is_empty() {
            format!("symbol#{}", self.index)
        } else {
            show(&self.name)
        }
    }
}

/// One relocation with its explicit addend.
#[derive(Debug, Clone, Copy)]
pub struct Reloc {
    /// The relocation section this entry came from.
    pub rsec: usize,
    /// The section the relocation applies to (`sh_info` of `rsec`).
    pub section: usize,
    pub offset: u64,
    pub symbol: usize,
    pub r_type: u32,
    pub addend: i64,
}

/// A section group (SHT_GROUP).
#[derive(Debug, Clone)]
pub struct Group {
    pub section: usize,
    pub flags: u32,
    pub signature: Option<usize>,
    pub members: Vec<usize>,
}

/// `base + addend + adj` without overflow: relocation addends come from the
/// file and may be anything. None when the result does not fit an i64.
pub fn offset_of(base: u64, addend: i64, adj: i64) -> Option<i64> {
    let v = base as i128 + addend as i128 + adj as i128;
    i64::try_from(v).ok()
}

/// Like [`offset_of`], but only for results that are valid offsets (>= 0).
pub fn uoffset_of(base: u64, addend: i64, adj: i64) -> Option<u64> {
    offset_of(base, addend, adj).and_then(|v| u64::try_from(v).ok())
}

/// How a reference relates to the object [`Elf::resolve_ref`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `off` lies inside the object.
    Inside,
    /// The object has size 0 and sits at `off`.
    ZeroSize,
    /// `off` is one past the object's last byte (`value + size`).
    End,
}

/// The object a section-relative reference belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefTarget {
    /// The symbol.
    pub sym: usize,
    /// `off - value`: in `[0, size]`.
    pub offset: u64,
    pub kind: RefKind,
    /// Another object that ends exactly at `off`, when the tie rule chose
    /// `sym` over it.
    pub also_end_of: Option<usize>,
}

/// Why a listed function name picks no function
/// ([`Elf::listed_function`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlisted {
    /// Several functions fit: the message says how to list one of them.
    Ambiguous(String),
    /// No list entry can name the function apart: a refusal.
    Refused(String),
}

/// A loaded ELF object.
#[derive(Debug)]
pub struct Elf {
    /// Path used in diagnostics.
    pub path: String,
    bytes: Vec<u8>,
    pub e_type: u16,
    pub e_machine: u16,
    pub e_flags: u32,
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
    /// All relocations of all REL/RELA sections, grouped by relocation
    /// section in section order, in file order within each.
    pub relocs: Vec<Reloc>,
    /// For each relocation section index, its range in `relocs`.
    pub rsec_relocs: HashMap<usize, Range<usize>>,
    pub groups: Vec<Group>,
    /// Index of `.symtab`, if any.
    pub symtab: Option<usize>,
    /// `sh_info` of `.symtab`: index of the first non-local symbol.
    pub first_global: usize,
    by_name: HashMap<Vec<u8>, Vec<usize>>,
    /// Per section: defined symbols (not SECTION/FILE) sorted by value.
    sec_symbols: Vec<Vec<usize>>,
    /// Per section: running maximum of `value + size` over `sec_symbols`.
    sec_maxend: Vec<Vec<u64>>,
    /// Per section: the values of `sec_symbols` (searched contiguously).
    sec_values: Vec<Vec<u64>>,
    /// What klpwrite did to an input objtool had not processed
    /// ([`crate::objtool::complete`]); None for every other object.
    pub completion: Option<crate::objtool::Completion>,
    /// Per section, computed on first use: the linear decode of its code
    /// ([`Elf::code_map`]) and its relocations sorted by offset
    /// ([`Elf::sorted_relocs`]). Every pass shares them; a whole
    /// `vmlinux.o` used to decode one big section once per question.
    caches: Vec<SectionCache>,
    /// Per section: not read (`.debug_*` and their relocation sections,
    /// [`load::load_file_for_analysis`]); their bytes read as zeros and
    /// they have no relocations. Empty when everything was read.
    pub(crate) skipped: Vec<bool>,
}

/// A section's relocations in offset order, indexed for range queries.
#[derive(Debug, Default)]
struct SortedRelocs {
    ids: Vec<usize>,
    /// `offs[k]` is the offset of `ids[k]` (searched contiguously).
    offs: Vec<u64>,
    /// `pages[n]`: the first k with `offs[k] >= n << PAGE_SHIFT`; a range
    /// query searches one page's entries, not the whole section's (a
    /// linked module's `.text` has half a million relocations).
    pages: Vec<usize>,
}

const PAGE_SHIFT: u32 = 12;

/// Largest section whose relocations get a page index (4 GiB: a
/// million entries at most).
const MAX_INDEXED: u64 = 1 << 32;

/// Lazily computed per-section facts ([`Elf::code_map`],
/// [`Elf::sorted_relocs`]).
#[derive(Debug, Default)]
pub struct SectionCache {
    code: OnceLock<crate::arch::x86_64::CodeMap>,
    /// Relocations sorted by (offset, id).
    sorted: OnceLock<SortedRelocs>,
}

impl SortedRelocs {
    /// The first index whose offset is `>= at`.
    fn first_at(&self, at: u64) -> usize {
        if self.pages.is_empty() {
            return self.offs.partition_point(|&o| o < at);
        }
        let n = (at >> PAGE_SHIFT) as usize;
        let (a, b) = match (self.pages.get(n), self.pages.get(n + 1)) {
            (Some(&a), Some(&b)) => (a, b),
            // Past the last relocation's page.
            _ => return self.offs.len(),
        };
        a + self.offs[a..b].partition_point(|&o| o < at)
    }
}

impl Elf {
    /// One empty cache per section (after loading).
    pub(crate) fn with_caches(mut self) -> Elf {
        self.caches = (0..self.sections.len())
            .map(|_| SectionCache::default())
            .collect();
        self
    }

    /// Whether some sections (debug information) were not read
    /// ([`load::load_file_for_analysis`]).
    pub fn debug_skipped(&self) -> bool {
        self.skipped.iter().any(|&k| k)
    }

    /// Bytes of a section (empty for NOBITS).
    pub fn data(&self, sec: usize) -> &[u8] {
        &self.bytes[self.sections[sec].file_range.clone()]
    }

    /// The linear decode of section `sec`'s bytes from offset 0, computed
    /// once.
    pub fn code_map(&self, sec: usize) -> &crate::arch::x86_64::CodeMap {
        self.caches[sec]
            .code
            .get_or_init(|| crate::arch::x86_64::CodeMap::decode(self.data(sec)))
    }

    /// The relocations applying to `sec` (not klp relocations), sorted by
    /// offset then index, computed once.
    pub fn sorted_relocs(&self, sec: usize) -> &[usize] {
        &self.sorted(sec).ids
    }

    /// The relocations applying to `sec` (not klp relocations) whose
    /// offset is in `[start, end)`, sorted by offset then index.
    pub fn relocs_between(&self, sec: usize, start: u64, end: u64) -> &[usize] {
        let s = self.sorted(sec);
        let lo = s.first_at(start);
        let hi = if end <= start { lo } else { s.first_at(end) };
        &s.ids[lo..hi.max(lo)]
    }

    fn sorted(&self, sec: usize) -> &SortedRelocs {
        self.caches[sec].sorted.get_or_init(|| {
            let ranges: Vec<std::ops::Range<usize>> = self.sections[sec]
                .rela_sections
                .iter()
                .filter(|&&rs| !self.sections[rs].is_klp_rela())
                .filter_map(|rs| self.rsec_relocs.get(rs).cloned())
                .collect();
            let n = ranges.iter().map(|r| r.len()).sum();
            let mut ids = Vec::with_capacity(n);
            ids.extend(ranges.into_iter().flatten());
            // Assemblers write relocations in offset order: sort only
            // when they are not. Vectors sized exactly and no temporary
            // of pairs: a linked module's `.text` has 10^5 relocations,
            // and every fresh page costs a fault and a clear.
            let offset = |i: usize| self.relocs[i].offset;
            if !ids.is_sorted_by_key(|&i| offset(i)) {
                ids.sort_unstable_by_key(|&i| (offset(i), i));
            }
            let offs: Vec<u64> = ids.iter().map(|&i| offset(i)).collect();
            // One entry per page up to the last relocation's page, and
            // one past it; none (a plain binary search) when an offset
            // lies past the section's size (a NOBITS target, a linked
            // image's addresses), so a bogus offset cannot size it.
            let size = self.sections[sec].sh_size;
            let npages = match offs.last() {
                Some(&o) if o <= size && size <= MAX_INDEXED => (o >> PAGE_SHIFT) as usize + 2,
                _ => 0,
            };
            let mut pages = Vec::with_capacity(npages);
            let mut k = 0usize;
            for n in 0..npages {
                let at = (n as u64) << PAGE_SHIFT;
                while k < offs.len() && offs[k] < at {
                    k += 1;
                }
                pages.push(k);
            }
            SortedRelocs { ids, offs, pages }
        })
    }

    /// The raw file bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Symbols with exactly this name, in symtab order.
    pub fn symbols_named(&self, name: &[u8]) -> &[usize] {
        self.by_name.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// The defined FUNC (or, failing that, any defined non-local) symbol
    /// with this name.
    pub fn find_function(&self, name: &[u8]) -> Option<usize> {
        self.symbols_named(name)
            .iter()
            .copied()
            .find(|&i| self.symbols[i].is_func() && self.symbols[i].section.is_some())
    }

    /// Defined FUNC symbols with this name.
    pub fn functions_named(&self, name: &[u8]) -> Vec<usize> {
        self.symbols_named(name)
            .iter()
            .copied()
            .filter(|&i| self.symbols[i].is_func() && self.symbols[i].section.is_some())
            .collect()
    }

    /// How a change list names function `sym`: its name, or `FILE:NAME`
    /// (its STT_FILE) for a local whose name other functions of the object
    /// share (a whole `vmlinux.o` or a module's linked `.o`: every unit's
    /// `static int show()`). `listed_function` reads both forms back.
    pub fn listed_name(&self, sym: usize) -> String {
        let s = &self.symbols[sym];
        let named = self.functions_named(&s.name);
        if s.is_local()
            && named.len() > 1
            && let Some(f) = self.file_name_of(sym)
        {
            // Units of one basename (a vmlinux.o has a dozen `core.c`):
            // `FILE#K:NAME`, the K-th of them in symbol-table order.
            let same: Vec<usize> = named
                .iter()
                .copied()
                .filter(|&i| self.symbols[i].is_local() && self.file_name_of(i) == Some(f))
                .collect();
            if same.len() > 1
                && let Some(k) = same.iter().position(|&i| i == sym)
            {
                return format!("{}#{}:{}", show(f), k + 1, s.display_name());
            }
            return format!("{}:{}", show(f), s.display_name());
        }
        s.display_name()
    }

    /// The names `--sympos` may give `sym` by, most specific first:
    /// `FILE:NAME` for a local with an STT_FILE block, then `NAME`.
    /// `target_name` is the name the target knows it by (a ThinLTO
    /// `.llvm.<hash>` suffix dropped): each form is given with the object's
    /// name and with that one. No `FILE#K` form: K counts units of one
    /// base name in this object, and the target's order of those units
    /// (the candidates of an ambiguity) can differ (vmlinux.o against
    /// vmlinux), so a K could name another unit than the user read.
    pub fn sympos_keys(&self, sym: usize, target_name: &[u8]) -> Vec<String> {
        let s = &self.symbols[sym];
        let mut names = vec![s.display_name()];
        if target_name != s.name.as_slice() {
            names.push(show(target_name));
        }
        let mut keys = Vec::new();
        if s.is_local()
            && let Some(f) = self.file_name_of(sym)
        {
            keys.extend(names.iter().map(|n| format!("{}:{n}", show(f))));
        }
        keys.extend(names);
        keys
    }

    /// The defined function a change list means by `name` (`NAME` or
    /// `FILE:NAME`, see `listed_name`). `Ok(None)`: no function of that
    /// name. A plain name that several functions have means the one global
    /// among them (the locals are listed as `FILE:NAME`); with none or
    /// several globals it is an error naming the candidates, never the
    /// first one in symbol order (which at whole-vmlinux.o scale is another
    /// unit's static of the same name).
    pub fn listed_function(&self, name: &[u8]) -> std::result::Result<Option<usize>, Unlisted> {
        // The last ':' splits: a function name has none, a file name may.
        if let Some(c) = name.iter().rposition(|&b| b == b':') {
            let (mut file, fname) = (&name[..c], &name[c + 1..]);
            // `FILE#K`: the K-th unit of that basename (`listed_name`).
            let mut nth: Option<usize> = None;
            if let Some(h) = file.iter().rposition(|&b| b == b'#')
                && let Ok(k) = std::str::from_utf8(&file[h + 1..])
                    .unwrap_or("")
                    .parse::<usize>()
                && k > 0
            {
                nth = Some(k);
                file = &file[..h];
            }
            let cands: Vec<usize> = self
                .functions_named(fname)
                .into_iter()
                .filter(|&i| self.symbols[i].is_local() && self.file_name_of(i) == Some(file))
                .collect();
            if let Some(k) = nth {
                return match cands.get(k - 1) {
                    Some(&i) => Ok(Some(i)),
                    None => Err(Unlisted::Ambiguous(format!(
                        "{} has {} local function(s) {} in files named {}, not {k}",
                        show(name),
                        cands.len(),
                        show(fname),
                        show(file)
                    ))),
                };
            }
            return match cands.len() {
                1 => Ok(Some(cands[0])),
                0 => Err(Unlisted::Ambiguous(format!(
                    "no local function {} in file {} of this object",
                    show(fname),
                    show(file)
                ))),
                n => Err(Unlisted::Ambiguous(format!(
                    "{n} local functions {} in files named {}: list one as {}",
                    show(fname),
                    show(file),
                    cands
                        .iter()
                        .map(|&i| self.listed_name(i))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            };
        }
        let cands = self.functions_named(name);
        if cands.len() <= 1 {
            return Ok(cands.first().copied().or_else(|| self.find_function(name)));
        }
        let globals: Vec<usize> = cands
            .iter()
            .copied()
            .filter(|&i| !self.symbols[i].is_local())
            .collect();
        // The one global, when every local of the name has a unit (so a
        // change to one of them is listed as `FILE:NAME`). A local without
        // STT_FILE (`ld.lld -r` gives assembly units none) listed as a
        // plain name could be the changed one: never bind the global then.
        if globals.len() == 1
            && cands
                .iter()
                .all(|&i| !self.symbols[i].is_local() || self.file_name_of(i).is_some())
        {
            return Ok(Some(globals[0]));
        }
        let fileless = cands
            .iter()
            .filter(|&&i| self.symbols[i].is_local() && self.file_name_of(i).is_none())
            .count();
        if fileless > 0 {
            return Err(Unlisted::Refused(format!(
                "{} functions of this object are named {}, {fileless} of them local to a unit with no STT_FILE symbol (an assembly unit linked by ld.lld -r), which a function list cannot name apart: refused",
                cands.len(),
                show(name)
            )));
        }
        Err(Unlisted::Ambiguous(format!(
            "{} functions of this object are named {}: list one as {}",
            cands.len(),
            show(name),
            cands
                .iter()
                .map(|&i| self.listed_name(i))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Defined, named symbols of a section sorted by value (no SECTION/FILE).
    pub fn section_symbols(&self, sec: usize) -> &[usize] {
        self.sec_symbols
            .get(sec)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// Relocations applying to `sec`, all relocation sections, in order.
    pub fn relocs_for(&self, sec: usize) -> impl Iterator<Item = &Reloc> + '_ {
        self.sections[sec]
            .rela_sections
            .iter()
            .flat_map(move |r| self.relocs_of_rsec(*r).iter())
    }

    /// The relocations of one relocation section.
    pub fn relocs_of_rsec(&self, rsec: usize) -> &[Reloc] {
        match self.rsec_relocs.get(&rsec) {
            Some(r) => &self.relocs[r.clone()],
            None => &[],
        }
    }

    /// The FUNC/OBJECT symbol whose `[value, value+size)` contains `off`
    /// in `sec`. With several candidates, the innermost (latest start) wins;
    /// FUNC/OBJECT beat NOTYPE.
    pub fn symbol_containing(&self, sec: usize, off: u64) -> Option<usize> {
        let syms = self.section_symbols(sec);
        let maxend = &self.sec_maxend[sec];
        let mut j = self.sec_values[sec].partition_point(|&v| v <= off);
        let mut best: Option<usize> = None;
        // Walk back while some earlier symbol could still reach past `off`.
        while j > 0 && maxend[j - 1] > off {
            j -= 1;
            let s = &self.symbols[syms[j]];
            if s.size == 0 || off >= s.value.saturating_add(s.size) {
                continue;
            }
            let typed = s.is_func() || s.is_object();
            match best {
                None => best = Some(syms[j]),
                Some(b) => {
                    let bs = &self.symbols[b];
                    if typed && !(bs.is_func() || bs.is_object()) {
                        best = Some(syms[j]);
                    }
                }
            }
            if typed {
                break;
            }
        }
        best
    }

    /// The object a section-relative reference `sec+off` belongs to: the
    /// one primitive every pass that maps a reference to a symbol uses
    /// (extract's classification, correlation's reference sets, checksum's
    /// naming of relocation targets, kpatch ignore lists).
    ///
    /// Unlike [`symbol_containing`](Self::symbol_containing), which locates
    /// a byte, this resolves an *address as the compiler wrote it*:
    ///
    /// 1. **Inside**: a symbol whose `[value, value+size)` contains `off`
    ///    (innermost, FUNC/OBJECT before NOTYPE, as `symbol_containing`).
    /// 2. **Zero-size**: otherwise a FUNC/OBJECT of size 0 at exactly `off`
    ///    (lockdep's `struct lock_class_key` without `CONFIG_LOCKDEP` is an
    ///    empty struct: GCC gives `__key.N` size 0, in its own zero-size
    ///    `.bss.__key.N` with -fdata-sections).
    /// 3. **End**: otherwise a FUNC/OBJECT of non-zero size that ends at
    ///    exactly `off` (`value + size == off`; the latest-starting one).
    ///    GCC writes `&a[N]` for `a[N]` (loop end pointers, `a +
    ///    ARRAY_SIZE(a)` bounds, induction-variable-optimised index loops)
    ///    as `a+sizeof(a)`, and GAS turns a reference to a local symbol into
    ///    the section symbol plus offset, so `.rodata.a+0x30` is `a`'s end.
    ///
    /// Tie rule: when `off` is both the end of one object and the start of
    /// another (objects packed in one section: no -fdata-sections, or a
    /// shared `__section()` such as `.data..read_mostly`), the object that
    /// contains `off` wins and the end-of-object reading applies only when
    /// nothing contains it. The relocation alone cannot tell `&a[N]` from
    /// `&b`; every load, store or call of `b` is written `b+0`, while `a`'s
    /// end only appears as a bound that is never dereferenced, so the
    /// start of `b` is by far the likelier meaning. Both readings give the
    /// same address whenever `a` and `b` end up in the same place (both
    /// left in the kernel's section and back to back there, or both copied
    /// together); the other object is reported in
    /// [`RefTarget::also_end_of`], and extract refuses when the two
    /// readings would reach different places and the instruction does not
    /// prove `b` (`Ex::check_tie`, src/extract/closure.rs; verify checks
    /// the same in `INV_SAME_DEST`). Equally, a zero-size object at `off` wins over an object ending
    /// there. Offsets past every object resolve to nothing.
    pub fn resolve_ref(&self, sec: usize, off: u64) -> Option<RefTarget> {
        let syms = self.section_symbols(sec);
        let typed = |i: usize| self.symbols[i].is_func() || self.symbols[i].is_object();
        // The latest-starting typed object of non-zero size ending at `off`.
        let end_of = || -> Option<usize> {
            let maxend = &self.sec_maxend[sec];
            let mut j = self.sec_values[sec].partition_point(|&v| v < off);
            while j > 0 && maxend[j - 1] >= off {
                j -= 1;
                let s = &self.symbols[syms[j]];
                if s.size > 0 && typed(syms[j]) && s.value.checked_add(s.size) == Some(off) {
                    return Some(syms[j]);
                }
            }
            None
        };
        if let Some(t) = self.symbol_containing(sec, off) {
            return Some(RefTarget {
                sym: t,
                offset: off - self.symbols[t].value,
                kind: RefKind::Inside,
                also_end_of: end_of(),
            });
        }
        let lo = syms.partition_point(|&i| self.symbols[i].value < off);
        let zero = syms[lo..]
            .iter()
            .copied()
            .take_while(|&i| self.symbols[i].value == off)
            .filter(|&i| self.symbols[i].size == 0 && typed(i))
            // OBJECT before FUNC, then symtab order (sec_symbols is sorted
            // by (value, index)).
            .min_by_key(|&i| (!self.symbols[i].is_object(), i));
        if let Some(z) = zero {
            return Some(RefTarget {
                sym: z,
                offset: 0,
                kind: RefKind::ZeroSize,
                also_end_of: end_of(),
            });
        }
        end_of().map(|e| RefTarget {
            sym: e,
            offset: self.symbols[e].size,
            kind: RefKind::End,
            also_end_of: None,
        })
    }

    /// Whether `a` and `b` are the same function: the same symbol, or two
    /// defined STT_FUNC symbols of the same size at the same section and
    /// offset (aliases).
    pub fn same_function(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.symbols[a], &self.symbols[b]);
        a == b
            || (x.is_func()
                && y.is_func()
                && x.section.is_some()
                && x.section == y.section
                && x.value == y.value
                && x.size == y.size)
    }

    /// Function `f` and its aliases: the named, defined STT_FUNC symbols of
    /// its size at the same section and offset, as
    /// `__attribute__((alias))` makes them
    /// (include/linux/module.h: `module_init(fn)` defines `init_module`
    /// and `module_exit(fn)` `cleanup_module` as aliases of `fn` in a
    /// module), in the order of [`alias_preference`](Self::alias_preference)
    /// (the preferred name first). Just `[f]` for a function without
    /// aliases or a symbol that is not a defined function.
    pub fn function_aliases(&self, f: usize) -> Vec<usize> {
        let s = &self.symbols[f];
        // A weak name is never an alias here: `__weak __alias(x)` (lib/crypto's
        // blake2s_compress, mm/hugetlb.c) is a default another file may
        // override with a strong definition, and then the kernel's function
        // of that name is a different one at another address (review: a call
        // through the weak name was sent to the patch's copy of x). It stays
        // its own function; the weak-definition rule (a6) decides about it.
        let Some(sec) = s.section.filter(|_| s.is_func() && s.bind() != STB_WEAK) else {
            return vec![f];
        };
        let syms = self.section_symbols(sec);
        let lo = syms.partition_point(|&i| self.symbols[i].value < s.value);
        let mut v: Vec<usize> = syms[lo..]
            .iter()
            .copied()
            .take_while(|&i| self.symbols[i].value == s.value)
            .filter(|&i| {
                let m = &self.symbols[i];
                m.is_func() && !m.name.is_empty() && m.size == s.size && m.bind() != STB_WEAK
            })
            .collect();
        if !v.contains(&f) {
            v.push(f);
        }
        v.sort_by_key(|&i| self.alias_preference(i));
        v
    }

    /// The order in which klpwrite prefers the names of one function
    /// ([`function_aliases`](Self::function_aliases)), smallest first:
    /// a name other than `init_module`/`cleanup_module` (module_init()'s
    /// and module_exit()'s aliases: the function is the driver's own, the
    /// alias a name the module loader looks up); then the name the
    /// function's section is named after (with -ffunction-sections GCC
    /// names the section `.text[.unlikely|.hot|...].<name>` after the
    /// function it defines, never after an alias); then a local symbol
    /// before a global before a weak one (`__attribute__((alias))` mostly
    /// gives a static function a global name); then `.symtab` order.
    /// Deterministic, and the same in both builds of a unit.
    pub fn alias_preference(&self, f: usize) -> (bool, bool, u8, usize) {
        let s = &self.symbols[f];
        let module_alias = s.name == b"init_module" || s.name == b"cleanup_module";
        let named_section = s.section.is_some_and(|sec| {
            let n = &self.sections[sec].name;
            n.len() > s.name.len() && n.ends_with(&s.name) && n[n.len() - s.name.len() - 1] == b'.'
        });
        let bind = match s.bind() {
            STB_LOCAL => 0,
            STB_GLOBAL => 1,
            _ => 2,
        };
        (module_alias, !named_section, bind, f)
    }

    /// A human location: `func+0x12` when inside a function or object,
    /// otherwise `section+0x12`.
    pub fn locate(&self, sec: usize, off: u64) -> String {
        if let Some(s) = self.symbol_containing(sec, off) {
            let sym = &self.symbols[s];
            format!("{}+{:#x}", sym.display_name(), off - sym.value)
        } else {
            format!("{}+{:#x}", self.sections[sec].display_name(), off)
        }
    }

    /// Name of the STT_FILE block a symbol belongs to.
    pub fn file_name_of(&self, sym: usize) -> Option<&[u8]> {
        self.symbols[sym]
            .file
            .map(|f| self.symbols[f].name.as_slice())
    }

    /// Find a section by exact name.
    pub fn section_by_name(&self, name: &[u8]) -> Option<usize> {
        self.sections.iter().position(|s| s.name == name)
    }
}
