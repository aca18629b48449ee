//! The target kernel's symbols, and sympos.
//!
//! The livepatch core resolves `.klp.sym.<obj>.<name>,<pos>` by walking the
//! symbols of `<obj>` and taking the `<pos>`-th one named `<name>` (0 means
//! "must be unique"). The walk order is the kernel's, not the file's:
//!
//! * vmlinux: kallsyms index order, which is ascending address order; every
//!   symbol type counts, locals and globals alike;
//! * a module: the module's ELF `.symtab` order, skipping undefined
//!   symbols. Once the module is live only its *core* symbols remain (named,
//!   defined, in an allocated non-init section); while it is loading, init
//!   symbols count too.
//!
//! A [`TargetObject`] holds one object's symbols in exactly that order, from
//! one of: a linked vmlinux (ELF with symbols), a module `.ko`, a plain `.o`
//! standing in for the target (symtab order, as kpatch's unit tests do), or
//! a `/proc/kallsyms` dump (which covers vmlinux and every loaded module).
//!
//! Finding *which* of several same-named symbols a reference means uses the
//! translation unit it comes from: with STT_FILE symbols in the source, the
//! file block of the same name whose locals best match the unit's locals;
//! without them (kallsyms), the candidate whose address-order neighbours
//! are the unit's other locals. A tie is a refusal, settled by `--sympos`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use crate::elf::consts::*;
use crate::elf::load::{Expect, load_file};
use crate::elf::{Elf, names};
use crate::error::{Error, ErrorKind, Result, show};
use crate::symvers::normalize_module;

/// The order symbols are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending address (vmlinux ELF).
    Address,
    /// ELF symtab order (modules, plain objects).
    Symtab,
    /// Line order of a kallsyms dump (the kernel's own order).
    Kallsyms,
}

/// One symbol of a target object.
#[derive(Debug, Clone)]
pub struct TargetSym {
    /// Name.
    pub name: Vec<u8>,
    /// Address (vmlinux, kallsyms) or value (objects).
    pub addr: u64,
    /// Local binding (kallsyms: lower-case type letter).
    pub local: bool,
    /// Whether `local` is the real binding. A module's lines in
    /// /proc/kallsyms are upper case only for exported symbols
    /// (kernel/kallsyms.c `s_show`), so there lower case may be a global.
    pub bind_known: bool,
    /// Type letter as kallsyms would print it.
    pub letter: char,
    /// File block index, when the source has STT_FILE symbols.
    pub file: Option<usize>,
    /// Defined in an init section (freed after boot / after module init).
    pub init: bool,
    /// Section name, when known.
    pub section: Option<Vec<u8>>,
    /// Index in the source ELF's symbol table (ELF sources only).
    pub elf_sym: Option<usize>,
}

/// A block of locals that follow one STT_FILE symbol.
#[derive(Debug, Clone)]
pub struct FileBlock {
    /// The STT_FILE name (`meminfo.c`).
    pub name: Vec<u8>,
    /// Names of the block's local symbols.
    pub locals: HashSet<Vec<u8>>,
}

/// The symbols of one target object (vmlinux or one module).
#[derive(Debug, Clone)]
pub struct TargetObject {
    /// `vmlinux` or the module name.
    pub objname: String,
    /// Where the symbols came from.
    pub source: String,
    /// How they are ordered.
    pub order: Order,
    /// Symbols in counting order.
    pub syms: Vec<TargetSym>,
    /// STT_FILE blocks (empty for kallsyms).
    pub files: Vec<FileBlock>,
    /// Symbols the source itself marks as exported (`__ksymtab_<name>`).
    pub ksymtab: HashSet<Vec<u8>>,
    /// Symbols of a module that only exist while it is loading (init
    /// sections); they shift positions during late patching.
    pub init_only: Vec<TargetSym>,
    /// What the source could not tell (printed once when it is loaded).
    pub warnings: Vec<String>,
    /// The source is an object with objtool's `.ibt_endbr_seal` list (a
    /// `.ko` or `.o` built for a kernel with IBT: the module loader seals
    /// those ENDBRs, kernel/module/main.c → module_finalize() →
    /// apply_ibt_endbr()/apply_seal_endbr()).
    pub ibt_seal_section: bool,
    /// The object's bytes, when the source has them (a `.ko`, a vmlinux
    /// ELF, or the kernel image given with a kallsyms dump): the evidence
    /// [`crate::bytematch`] settles an ambiguous sympos with. See
    /// [`TargetObject::bytes`].
    pub space: Bytes,
    by_name: HashMap<Vec<u8>, Vec<usize>>,
}

/// Where a target object's bytes come from.
#[derive(Debug, Clone, Default)]
pub enum Bytes {
    /// Nowhere (a kallsyms dump without `--image`).
    #[default]
    None,
    /// The symbol source itself.
    Ready(Arc<crate::bytematch::Space>),
    /// A kernel image, read the first time it is needed (most builds never
    /// need it, and a vmlinux is large): its path, and the result.
    Image(Arc<LazyImage>),
}

/// A kernel image's path, and its bytes once read.
pub type LazyImage = (
    String,
    OnceLock<std::result::Result<Arc<crate::bytematch::Space>, Error>>,
);

/// What a translation unit looks like, for picking among duplicates.
#[derive(Debug, Clone, Default)]
pub struct TuInfo {
    /// STT_FILE name of the unit.
    pub file: Option<Vec<u8>>,
    /// Names of the unit's local functions and objects.
    pub locals: HashSet<Vec<u8>>,
    /// Names of the unit's defined global functions and objects.
    pub globals: HashSet<Vec<u8>>,
    /// Which of those names are data objects (the rest are functions).
    pub data: HashSet<Vec<u8>>,
    /// Which of those names live in sections freed after init (vmlinux or
    /// module rules, see `names::is_vmlinux_init_section`): kallsyms of a
    /// live module lacks them, and in vmlinux they sit in the init area, far
    /// from the unit's other symbols, so they never confirm a neighbour.
    pub init: HashSet<Vec<u8>>,
    /// The symbol looked up is a global of hidden (or internal) visibility:
    /// the final link made it local (see `from_elf`), so a kallsyms dump,
    /// which shows no visibility, lists it lower case like a static.
    pub hidden: bool,
    /// The unit's place among the object's units of its STT_FILE base name:
    /// `(k, n)`, the k-th (0-based) of `n`. Only a linked object (a whole
    /// vmlinux.o, a module's pre-link `.o`) has `n > 1`: STT_FILE holds the
    /// base name, so `x/util.c` and `y/util.c` are two blocks `util.c`.
    pub file_nth: Option<(usize, usize)>,
    /// `locals` are the patched unit's (no original object to describe the
    /// unit): some may be new, and a new static can have the name of an
    /// existing one in another unit of the same file name.
    pub locals_may_be_new: bool,
    /// Every named local of the unit, any kind (`__kstrtab_*`, initcall
    /// and other NOTYPE labels included), as [`local_stem`]s with digits
    /// folded ([`fold_digits`]): what a block of the target can be checked
    /// against for locals the unit lacks.
    pub all_locals: HashSet<Vec<u8>>,
    /// Code evidence (crate::bytematch), one entry per local function of
    /// the unit that two or more of the target's blocks of the unit's file
    /// name define and whose bytes exactly one of them has: that block, and
    /// the blocks that define the name (indices into
    /// `TargetObject::files`). `None` when not compared.
    pub code_evidence: Option<CodeEvidence>,
}

/// [`TuInfo::code_evidence`]: per function, its name, the block whose copy
/// has the unit's bytes, and the blocks that define the name.
pub type CodeEvidence = Vec<(Vec<u8>, usize, Vec<usize>)>;

/// Without the original object, the unit's block among the target's
/// blocks of its file's base name must share this many more locals with
/// the unit than any other block: a patch that adds or removes up to two
/// statics named like a sibling unit's cannot reach it.
const TWIN_MARGIN: usize = 3;

/// What one source-level local contributes to the comparison of a unit
/// with a block: `name` without a `__pfx_`/`__cfi_` prefix and cut at its
/// first `.` (`report`, `__pfx_report`, `report.cold` and
/// `report.constprop.0` are one static function; `count.3` one static
/// variable). Whether the prefix symbols
/// exist depends on the build, not on the source: with CALL_PADDING objtool
/// adds `__pfx_` per object (`--prefix`, scripts/Makefile.lib) or, with
/// IBT, only on vmlinux.o (scripts/Makefile.vmlinux_o), so an object and its
/// kernel can differ there, and counted on their own they let one new
/// static function count twice toward the twin lead (hostile review of
/// 508deee).
pub fn local_stem(name: &[u8]) -> Vec<u8> {
    let name = names::prefix_target(name).unwrap_or(name);
    let name = match name.iter().position(|&b| b == b'.') {
        Some(p) if p > 0 => &name[..p],
        _ => name,
    };
    name.to_vec()
}

/// `name` with every run of digits replaced by one `#`: the numbers the
/// compiler and the line of a macro put in local names (`count.3`,
/// `__initcall__kmod_inode__439_140_...`) may differ between the object
/// and the kernel built from an earlier version of the source.
pub fn fold_digits(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for &b in name {
        if b.is_ascii_digit() {
            if out.last() != Some(&b'#') {
                out.push(b'#');
            }
        } else {
            out.push(b);
        }
    }
    out
}

impl TuInfo {
    /// The unit a symbol of `elf` belongs to: its STT_FILE block's locals.
    pub fn of(elf: &Elf, sym: usize) -> TuInfo {
        // A global has no FILE block (globals follow every local in a
        // symbol table, and the loader gives them none); in an object of
        // one unit that unit is still its unit. Without it, a static the
        // patch makes global found no FILE block to bind to in a linked
        // target and was copied as new (hostile review of 1220987).
        let file = elf.symbols[sym].file.or_else(|| {
            let mut files = elf.symbols.iter().filter(|s| s.is_file());
            match (files.next(), files.next()) {
                (Some(f), None) if !elf.symbols[sym].is_local() => Some(f.index),
                _ => None,
            }
        });
        let locals = elf
            .symbols
            .iter()
            .filter(|s| {
                s.is_local()
                    && s.file == file
                    && (s.is_func() || s.is_object())
                    && s.section.is_some()
                    && !s.name.is_empty()
                    && !names::is_local_label(&s.name)
                    && !names::is_uncorrelated_static_local(&s.name)
                    && !s.name.starts_with(b"__UNIQUE_ID_")
            })
            .map(|s| s.name.clone())
            .collect();
        let globals = elf
            .symbols
            .iter()
            .filter(|s| !s.is_local() && (s.is_func() || s.is_object()) && s.section.is_some())
            .map(|s| s.name.clone())
            .collect();
        let data = elf
            .symbols
            .iter()
            .filter(|s| s.is_object() && s.section.is_some() && (s.file == file || !s.is_local()))
            .map(|s| s.name.clone())
            .collect();
        let init = elf
            .symbols
            .iter()
            .filter(|s| {
                (s.file == file || !s.is_local())
                    && s.section
                        .is_some_and(|x| names::is_vmlinux_init_section(&elf.sections[x].name))
            })
            .map(|s| s.name.clone())
            .collect();
        let file_nth = file.and_then(|f| {
            let name = base(&elf.symbols[f].name);
            let same: Vec<usize> = elf
                .symbols
                .iter()
                .filter(|s| s.is_file() && base(&s.name) == name)
                .map(|s| s.index)
                .collect();
            same.iter().position(|&i| i == f).map(|k| (k, same.len()))
        });
        let all_locals = elf
            .symbols
            .iter()
            .filter(|s| {
                s.is_local()
                    && s.file == file
                    && !s.is_section()
                    && !s.is_file()
                    && !s.name.is_empty()
                    && !names::is_local_label(&s.name)
            })
            .map(|s| fold_digits(&local_stem(&s.name)))
            .collect();
        TuInfo {
            file: file.map(|f| elf.symbols[f].name.clone()),
            all_locals,
            code_evidence: None,
            locals,
            globals,
            data,
            init,
            hidden: is_link_hidden(&elf.symbols[sym]),
            file_nth,
            locals_may_be_new: false,
        }
    }
}

/// Whether an object's symbol is a global that the final link makes local:
/// hidden or internal visibility (clang LTO builds with -fvisibility=hidden).
pub fn is_link_hidden(s: &crate::elf::Symbol) -> bool {
    !s.is_local() && matches!(s.st_other & 3, 1 | 2)
}

/// The result of a sympos lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Found: the position to write and how it was decided.
    Found {
        /// Value for `,<pos>` (0 = unique).
        sympos: u64,
        /// Index into `syms` of the chosen symbol.
        index: usize,
        /// Why this one.
        how: String,
        /// The unit's own symbols confirmed it (its STT_FILE block, or its
        /// neighbours in kallsyms), not only its name.
        by_unit: bool,
    },
    /// No symbol of this name in this object (for this unit).
    NotFound(String),
    /// Several candidates and nothing decides between them: their
    /// descriptions, and their indices into `syms` (the ones the rules
    /// left: a unit's file block narrows them).
    Ambiguous(Vec<String>, Vec<usize>),
}

/// The base name of an STT_FILE name (`x/util.c` → `util.c`).
pub fn base(name: &[u8]) -> &[u8] {
    name.rsplit(|&b| b == b'/').next().unwrap_or(name)
}

impl TargetObject {
    fn new(objname: String, source: String, order: Order) -> Self {
        TargetObject {
            objname,
            source,
            order,
            syms: Vec::new(),
            files: Vec::new(),
            ksymtab: HashSet::new(),
            init_only: Vec::new(),
            warnings: Vec::new(),
            ibt_seal_section: false,
            space: Bytes::None,
            by_name: HashMap::new(),
        }
    }

    fn finish(&mut self) {
        self.by_name.clear();
        for (i, s) in self.syms.iter().enumerate() {
            self.by_name.entry(s.name.clone()).or_default().push(i);
        }
        for s in &self.syms {
            if let Some(x) = s.name.strip_prefix(b"__ksymtab_") {
                self.ksymtab.insert(x.to_vec());
            }
        }
    }

    /// The object's bytes: None when its source has none; an error when the
    /// kernel image given for it cannot be read or is not its kernel.
    pub fn bytes(&self) -> Result<Option<Arc<crate::bytematch::Space>>> {
        match &self.space {
            Bytes::None => Ok(None),
            Bytes::Ready(s) => Ok(Some(s.clone())),
            Bytes::Image(lazy) => {
                let (path, cell) = &**lazy;
                cell.get_or_init(|| {
                    let bytes = crate::image::elf_bytes(path)?;
                    let elf = Arc::new(crate::elf::load::load(path, bytes, Expect::Any)?);
                    Ok(Arc::new(crate::bytematch::Space::of_image(elf, self)?))
                })
                .clone()
                .map(Some)
            }
        }
    }

    /// Positions (indices into `syms`) of every symbol named `name`.
    pub fn named(&self, name: &[u8]) -> &[usize] {
        self.by_name.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Whether any symbol has this name.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.by_name.contains_key(name)
    }

    /// One line on target symbol `i`: kind letter, name, address, its file
    /// block (`FILE#K` among units of one file name) and its sympos.
    pub fn describe(&self, i: usize) -> String {
        let s = &self.syms[i];
        let mut d = format!("{} {} at {:#x}", s.letter, show(&s.name), s.addr);
        if let Some(f) = s.file {
            d.push_str(&format!(" in {}", show(&self.files[f].name)));
            // Several units of that name: which one (`FILE#K`, as `diff`
            // lists a changed function of a linked object).
            let name = base(&self.files[f].name);
            let same: Vec<usize> = (0..self.files.len())
                .filter(|&b| base(&self.files[b].name) == name)
                .collect();
            if same.len() > 1
                && let Some(k) = same.iter().position(|&b| b == f)
            {
                d.push_str(&format!("#{}", k + 1));
            }
        }
        let same = self.named(&s.name);
        if same.len() > 1
            && let Some(p) = same.iter().position(|&c| c == i)
        {
            d.push_str(&format!(" [sympos {}]", p + 1));
        }
        d
    }

    fn pos_of(&self, cands: &[usize], chosen: usize) -> u64 {
        if cands.len() == 1 {
            0
        } else {
            cands
                .iter()
                .position(|&c| c == chosen)
                .map_or(0, |p| p as u64 + 1)
        }
    }

    /// Resolve a reference to `name` made from the unit `tu`. `local` says
    /// whether the referencing object binds the name locally.
    ///
    /// `exists` says the caller already knows the unit defines `name` in the
    /// target (from the original object), so a single candidate needs no
    /// further confirmation.
    pub fn resolve(&self, name: &[u8], local: bool, tu: &TuInfo, exists: bool) -> Lookup {
        let cands = self.named(name);
        if cands.is_empty() {
            return Lookup::NotFound(format!("no symbol {} in {}", show(name), self.objname));
        }
        let found = |chosen: usize, how: String| Lookup::Found {
            sympos: self.pos_of(cands, chosen),
            index: chosen,
            how,
            by_unit: false,
        };
        if !local {
            // A global pairs with a global: the linker binds a global name
            // only to a global definition, so another unit's static of the
            // same name is a different symbol (a new global function must
            // not replace it). The one exception, a static of the *same*
            // unit that the patch made global, needs evidence: its
            // neighbours must be the unit's own symbols.
            let globals: Vec<usize> = cands
                .iter()
                .copied()
                .filter(|&c| !self.syms[c].local || !self.syms[c].bind_known)
                .collect();
            return match globals.len() {
                1 if cands.len() == 1 => found(globals[0], "unique name".into()),
                1 => found(globals[0], "the only global of that name".into()),
                0 if tu.hidden && self.order == Order::Kallsyms => {
                    // A hidden global is local in the final link: in a
                    // kallsyms dump (no visibility) it is one of the lower
                    // case symbols of its name. Alone, it is that one;
                    // among statics of the same name, the candidates are
                    // left to the original's bytes (`--image`) or
                    // `--sympos`.
                    if cands.len() == 1 {
                        found(
                            cands[0],
                            "unique name (a hidden global: local in the final link)".into(),
                        )
                    } else {
                        Lookup::Ambiguous(
                            cands.iter().map(|&c| self.describe(c)).collect(),
                            cands.to_vec(),
                        )
                    }
                }
                0 => {
                    let why = format!(
                        "{} has {} local symbol(s) named {} but no global one",
                        self.objname,
                        cands.len(),
                        show(name)
                    );
                    if tu.locals.is_empty() && tu.globals.is_empty() {
                        return Lookup::NotFound(why);
                    }
                    match self.resolve_local(name, cands, tu, false) {
                        Lookup::Found {
                            sympos,
                            index,
                            how,
                            by_unit: true,
                        } => Lookup::Found {
                            sympos,
                            index,
                            how: format!(
                                "a local of the same unit, made global by the patch ({how})"
                            ),
                            by_unit: true,
                        },
                        _ => Lookup::NotFound(why),
                    }
                }
                _ => Lookup::Ambiguous(
                    globals.iter().map(|&c| self.describe(c)).collect(),
                    globals.clone(),
                ),
            };
        }
        self.resolve_local(name, cands, tu, exists)
    }

    /// [`resolve`](Self::resolve) for a name the unit binds locally.
    fn resolve_local(&self, name: &[u8], cands: &[usize], tu: &TuInfo, exists: bool) -> Lookup {
        let found = |chosen: usize, how: String| Lookup::Found {
            sympos: self.pos_of(cands, chosen),
            index: chosen,
            how,
            by_unit: false,
        };
        // A local reference: find the unit's own copy.
        if !self.files.is_empty()
            && let Some(file) = &tu.file
        {
            let blocks: Vec<usize> = (0..self.files.len())
                .filter(|&b| base(&self.files[b].name) == base(file))
                .collect();
            if !blocks.is_empty() {
                let with: Vec<usize> = blocks
                    .iter()
                    .copied()
                    .filter(|&b| self.files[b].locals.contains(name))
                    .collect();
                if with.is_empty() {
                    return Lookup::NotFound(format!(
                        "{} has no local {} in file {}",
                        self.objname,
                        show(name),
                        show(file)
                    ));
                }
                // The candidates that are locals of file block `block`.
                let locals_in = |block: usize| -> Vec<usize> {
                    cands
                        .iter()
                        .copied()
                        .filter(|&c| self.syms[c].file == Some(block) && self.syms[c].local)
                        .collect()
                };
                // The unit's block is `block`: its one local of the name,
                // or the candidates there when it has several.
                let settle_in = |block: usize, how: String| -> Lookup {
                    let in_block = locals_in(block);
                    match in_block[..] {
                        [c] => Lookup::Found {
                            sympos: self.pos_of(cands, c),
                            index: c,
                            how,
                            by_unit: true,
                        },
                        _ => Lookup::Ambiguous(
                            in_block.iter().map(|&c| self.describe(c)).collect(),
                            in_block,
                        ),
                    }
                };
                let score = |b: usize| tu.locals.intersection(&self.files[b].locals).count();
                // Without the original object the twin rule below counts
                // source-level locals ([`local_stem`]): a new static
                // function must add one to a sibling's score however many
                // symbols (`__pfx_`, `.cold`) it brings.
                let tu_stems: HashSet<Vec<u8>> = if tu.locals_may_be_new && blocks.len() > 1 {
                    tu.locals.iter().map(|n| local_stem(n)).collect()
                } else {
                    HashSet::new()
                };
                let block_stems = |b: usize| -> HashSet<Vec<u8>> {
                    self.files[b].locals.iter().map(|n| local_stem(n)).collect()
                };
                let stem_score = |b: usize| tu_stems.intersection(&block_stems(b)).count();
                // The locals of block `b` the unit lacks: any kind (the
                // block's names are of every kind, `__kstrtab_*` and
                // initcall labels too), as stems (a numbered static or a
                // `__LINE__` in a name may differ from the kernel's, and
                // the kernel may have `__pfx_` symbols the object has not).
                let lacking = |b: usize| {
                    block_stems(b)
                        .iter()
                        .map(|n| fold_digits(n))
                        .collect::<HashSet<_>>()
                        .iter()
                        .filter(|n| !tu.all_locals.contains(*n))
                        .count()
                };
                // Several units of the file's base name (a vmlinux has a
                // dozen `core.c`): which block is the unit's is decided over
                // all of them, not only those that have the name. One that
                // lacks it may be the unit (the name is then new, or another
                // unit's), and a unit described by the patched object may
                // have new locals named like another unit's existing ones,
                // which raise that unit's score (a/core.c has `seen`, the
                // patch adds `seen` to b/core.c: a's block matched 2 of 2,
                // b's 1; the patch replaced a's state_show and bound b's new
                // counter to a's, hostile review of e78855d). So the unit's
                // block is the one with strictly the most locals in common
                // and, when new locals are possible, also strictly the
                // fewest locals the unit lacks among the blocks that share
                // any (new locals cannot lower that count for another
                // block).
                if blocks.len() > 1 {
                    let mut all: Vec<(usize, usize)> = blocks
                        .iter()
                        .map(|&b| {
                            if tu.locals_may_be_new {
                                (stem_score(b), b)
                            } else {
                                (score(b), b)
                            }
                        })
                        .collect();
                    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                    let best = all[0].1;
                    // Described by the patched object, the unit's locals
                    // are the kernel's plus new ones minus removed ones, and
                    // names alone cannot undo that for near twins (p and q
                    // both with a, b, state_show; p also seen, q old; the
                    // patch renames q's old to seen: p's block matches all
                    // of the unit's names, hostile review of 1220987). So
                    // the winner must lead every other block by
                    // `TWIN_MARGIN` shared locals (a unit without statics,
                    // whose own block shares none, never gets there through
                    // one new name) and lack strictly fewer than every
                    // block that shares any; otherwise `--orig` decides.
                    //
                    // A block that shares nothing is still a candidate: the
                    // unit may have had no statics the patch kept (q had
                    // none, the patch adds nr_seen, last_val and enabled, all
                    // three p's names: p's block led by three and q's was
                    // never compared, hostile review of 508deee). It rules
                    // the winner out when it lacks fewer of the unit's
                    // locals than the winner does.
                    //
                    // The lacking rules refuse a unit whose patch removed
                    // a static (its own block then lacks one) next to a
                    // sibling that lacks fewer. Code settles that
                    // (`TuInfo::code_evidence`): a function of the unit
                    // that the winner and such a sibling both define, with
                    // the unit's bytes in the winner's copy only, is the
                    // winner's. Every sibling the lacking rules prefer must
                    // be answered so: a sibling that does not define the
                    // name proves nothing, since the patch may have added
                    // the function as a copy of the winner's (hostile
                    // review of baea46d). Code never stands in for the
                    // lead, and code pointing to any block other than the
                    // winner refuses, even a winner the names confirm.
                    let mut by_code = false;
                    let mut code_note: Option<String> = None;
                    let confirmed = if tu.locals_may_be_new {
                        let best_lacks = lacking(best);
                        // Siblings the lacking rules prefer to the winner.
                        let rivals: Vec<usize> = all
                            .iter()
                            .filter(|&&(sc, b)| {
                                b != best
                                    && if sc == 0 {
                                        lacking(b) < best_lacks
                                    } else {
                                        lacking(b) <= best_lacks
                                    }
                            })
                            .map(|&(_, b)| b)
                            .collect();
                        let ev = tu.code_evidence.as_deref().unwrap_or(&[]);
                        // Against: the unit's bytes are in another block's
                        // copy of a function the winner defines too. (One the
                        // winner lacks may be new, copied from a sibling.)
                        let against: Vec<&(Vec<u8>, usize, Vec<usize>)> = ev
                            .iter()
                            .filter(|(_, m, d)| *m != best && d.contains(&best))
                            .collect();
                        code_note = against.first().map(|(n, m, _)| {
                            let k = blocks.iter().position(|x| x == m).map_or(0, |k| k + 1);
                            format!(
                                "; the unit's {} has its bytes in {}#{k}'s copy, not in the block its names point to",
                                show(n),
                                show(&self.files[*m].name)
                            )
                        });
                        let code_against = !against.is_empty();
                        let code_ok = rivals.iter().all(|r| {
                            ev.iter()
                                .any(|(_, m, defined)| *m == best && defined.contains(r))
                        });
                        by_code = !rivals.is_empty() && code_ok;
                        all[0].0 >= all[1].0 + TWIN_MARGIN && !code_against && code_ok
                    } else {
                        all[0].0 > all[1].0
                    };
                    if confirmed && !self.files[best].locals.contains(name) {
                        return Lookup::NotFound(format!(
                            "{} has no local {} in the unit's file {} (block {} of {}; another file of that name has one)",
                            self.objname,
                            show(name),
                            show(file),
                            blocks.iter().position(|&b| b == best).map_or(0, |k| k + 1),
                            blocks.len()
                        ));
                    }
                    // Confirmed over all blocks: that block is the unit's,
                    // whatever a narrower count over the blocks having the
                    // name says (the exact-name score counts `.cold` and
                    // `__pfx_` forms, which let another block win there,
                    // hostile review of 8da5879).
                    if confirmed {
                        return settle_in(
                            best,
                            format!(
                                "file {} ({} of the unit's locals in common{}; {} files of that name{})",
                                show(&self.files[best].name),
                                all[0].0,
                                if tu.locals_may_be_new {
                                    format!(", {} lacking", lacking(best))
                                } else {
                                    String::new()
                                },
                                blocks.len(),
                                if by_code {
                                    "; a sibling lacks fewer, but functions of the unit have their bytes only here"
                                } else {
                                    ""
                                }
                            ),
                        );
                    }
                    if tu.locals_may_be_new {
                        let idx: Vec<usize> = with.iter().flat_map(|&b| locals_in(b)).collect();
                        let mut desc: Vec<String> = idx.iter().map(|&c| self.describe(c)).collect();
                        // Why: the blocks of the unit's file name, the
                        // locals each shares with the unit and lacks.
                        let blocks_desc: Vec<String> = all
                            .iter()
                            .take(6)
                            .map(|&(sc, b)| {
                                let k = blocks.iter().position(|&x| x == b).map_or(0, |k| k + 1);
                                format!(
                                    "{}#{k} shares {sc}, lacks {}",
                                    show(&self.files[b].name),
                                    lacking(b)
                                )
                            })
                            .collect();
                        desc.push(format!(
                            "(the unit's own block among the {} files named {} is not clear from its locals, one may be new: {}{}{})",
                            blocks.len(),
                            show(base(file)),
                            blocks_desc.join("; "),
                            if all.len() > 6 { "; ..." } else { "" },
                            code_note.as_deref().unwrap_or("")
                        ));
                        return Lookup::Ambiguous(desc, idx);
                    }
                }
                let mut scored: Vec<(usize, usize)> = with.iter().map(|&b| (score(b), b)).collect();
                scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                if scored.len() == 1 || scored[0].0 > scored[1].0 {
                    let block = scored[0].1;
                    return settle_in(
                        block,
                        format!(
                            "file {} ({} of {} locals match)",
                            show(&self.files[block].name),
                            scored[0].0,
                            self.files[block].locals.len()
                        ),
                    );
                }
                // Several units of the file's name tie on their locals
                // (copies of one file in two directories: same names, often
                // the same bytes). In a module their order decides when the
                // original object is the module's pre-link object: the .ko
                // is `ld -r` of that one object and the .mod.o
                // (scripts/Makefile.modfinal cmd_ld_ko_o), and a link writes
                // one input file's locals in that file's own order. So with
                // as many blocks of that name on both sides, the unit's
                // k-th is the target's k-th. A plain unit's object (one
                // block) says nothing.
                //
                // Not for vmlinux: without LTO_CLANG or X86_KERNEL_IBT it is
                // linked from vmlinux.a, many inputs, and GNU ld writes an
                // input's locals when the output layout first meets one of
                // its sections (the linker script's .text.hot and
                // .text.unlikely come first), so two units of one name can
                // swap against vmlinux.o (review of d7efcb0: a unit with a
                // hot function took the other's sympos, and the patch
                // replaced the wrong state_show). The tie stays a refusal
                // there, with the candidates listed for --sympos.
                if let Some((k, n)) = tu.file_nth
                    && self.objname != "vmlinux"
                    && n > 1
                    && n == blocks.len()
                    && scored
                        .iter()
                        .any(|&(sc, b)| sc == scored[0].0 && b == blocks[k])
                {
                    let block = blocks[k];
                    let in_block = locals_in(block);
                    if in_block.len() == 1 {
                        return Lookup::Found {
                            sympos: self.pos_of(cands, in_block[0]),
                            index: in_block[0],
                            how: format!(
                                "file {}#{} (place {} of the {n} files of that name, here as in the original object; {} of {} locals match, a tie)",
                                show(&self.files[block].name),
                                k + 1,
                                k + 1,
                                scored[0].0,
                                self.files[block].locals.len(),
                            ),
                            by_unit: true,
                        };
                    }
                }
                let tied: Vec<usize> = scored
                    .iter()
                    .filter(|s| s.0 == scored[0].0)
                    .flat_map(|&(_, b)| {
                        cands
                            .iter()
                            .copied()
                            .filter(move |&c| self.syms[c].file == Some(b))
                    })
                    .collect();
                return Lookup::Ambiguous(tied.iter().map(|&c| self.describe(c)).collect(), tied);
            }
        }
        if exists && cands.len() == 1 {
            return found(cands[0], "unique name".into());
        }
        self.resolve_by_neighbours(name, cands, tu)
    }

    /// Without file blocks: the candidate that sits inside a contiguous run
    /// of the unit's own symbols. A translation unit's functions are
    /// adjacent in the kernel's text, and its variables adjacent in data;
    /// starting at each candidate, walk outwards over symbols of the same
    /// kind (text or data) while they belong to the unit (compiler-generated
    /// names are
    /// skipped: clones and numbered statics are renamed between builds),
    /// and count the unit's names met on each side. Only a candidate with
    /// unit members on *both* sides is confirmed (one at the run's edge is
    /// indistinguishable from the neighbouring file's symbol); the one with
    /// the strictly largest count wins. A unique name the original object
    /// shows the unit defines is settled before this (`exists`).
    fn resolve_by_neighbours(&self, name: &[u8], cands: &[usize], tu: &TuInfo) -> Lookup {
        let is_text = |c: char| matches!(c, 't' | 'T' | 'w' | 'W');
        let want_text = is_text(self.syms[cands[0]].letter);
        let members: HashSet<&[u8]> = tu
            .locals
            .iter()
            .chain(tu.globals.iter())
            .map(|v| v.as_slice())
            .filter(|n| *n != name && tu.data.contains(*n) != want_text)
            .collect();
        // Only symbols kallsyms keeps next to the candidate can confirm it:
        // init symbols are gone from a live module's kallsyms
        // (kernel/module/kallsyms.c `is_core_symbol`) and in vmlinux they sit
        // in the init area (vmlinux.lds.h INIT_TEXT/INIT_DATA, between
        // `__init_begin` and `__init_end`), never next to the unit's text or
        // data.
        let freed = members.iter().filter(|n| tu.init.contains(**n)).count();
        let members: HashSet<&[u8]> = members
            .into_iter()
            .filter(|n| !tu.init.contains(*n))
            .collect();
        if cands.len() == 1 && (members.is_empty() || self.order != Order::Kallsyms) {
            return Lookup::Found {
                sympos: 0,
                index: cands[0],
                how: if members.is_empty() && self.order == Order::Kallsyms {
                    if freed > 0 {
                        format!(
                            "unique name (nothing to confirm it with: the unit's {freed} other symbol(s) of its kind are init symbols, which kallsyms does not keep next to it)"
                        )
                    } else {
                        "unique name (the unit has no other symbols of its kind to confirm it)"
                            .into()
                    }
                } else {
                    "unique name".into()
                },
                by_unit: false,
            };
        }
        // Walk each side separately: a unit's symbols are contiguous, so
        // its own copy of `name` has unit members on both sides, or sits
        // at one edge of the run. Only the first is evidence. A symbol
        // right before or after the run (the last static of the previous
        // file, the first of the next one) sees the whole unit on one side
        // and nothing on the other: exactly what another file's
        // same-named static looks like when the patch makes a formerly
        // inlined (or `.constprop`/`.isra`-renamed) static of this unit
        // out-of-line under its plain name. Without the original object we
        // cannot know whether the patched symbol is new, so an edge never
        // confirms (review F3: `helper` of cp.c bound to other.c's).
        // Per side: how many of the unit's members are there (any name), and
        // which of them have a name the target has only once. Only the
        // latter are this unit's for sure and count as evidence; a
        // duplicated member name (`read_reg` of a copy-pasted sibling
        // driver) may be the other file's, so it only shows that the run
        // goes on (round-2 review: a new static was bound to the sibling's
        // same-named static by such neighbours).
        let sides = |c: usize| -> (usize, usize, usize) {
            let class = is_text(self.syms[c].letter);
            let mut seen: HashSet<&[u8]> = HashSet::new();
            let mut side = [0usize; 2];
            for (k, dir) in [-1i64, 1].into_iter().enumerate() {
                let mut i = c as i64;
                let mut here: HashSet<&[u8]> = HashSet::new();
                let mut present = 0usize;
                loop {
                    i += dir;
                    if i < 0 || i as usize >= self.syms.len() {
                        break;
                    }
                    let s = &self.syms[i as usize];
                    if is_text(s.letter) != class {
                        continue; // other kind of symbol: neither hit nor miss
                    }
                    if members.contains(s.name.as_slice()) {
                        present += 1;
                        if self.named(&s.name).len() == 1 {
                            here.insert(s.name.as_slice());
                        }
                    } else if !compiler_generated(&s.name) {
                        break;
                    }
                }
                side[k] = present;
                seen.extend(here);
            }
            (seen.len(), side[0], side[1])
        };
        // (score, index, left, right); only a candidate inside the run
        // scores, but every candidate's total competes against it.
        let mut scored: Vec<(usize, usize, usize, usize, usize)> = cands
            .iter()
            .map(|&c| {
                let (total, l, r) = sides(c);
                let inside = if l > 0 && r > 0 { total } else { 0 };
                (inside, c, l, r, total)
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.4.cmp(&a.4)).then(a.1.cmp(&b.1)));
        let best = scored[0];
        // Weak evidence is no evidence: hot/cold placement can put a lone
        // symbol of one file next to another file's functions.
        let second = scored.iter().skip(1).map(|s| s.4).max().unwrap_or(0);
        let clear = if scored.len() == 1 {
            best.0 >= 1 // only "is it the unit's own?" is in question
        } else {
            best.0 >= 2 && best.0 >= second + 2
        };
        if clear {
            return Lookup::Found {
                sympos: self.pos_of(cands, best.1),
                index: best.1,
                how: format!(
                    "neighbours: {} of the unit's {} other symbols next to it, {} before and {} after (next best {})",
                    best.0,
                    members.len(),
                    best.2,
                    best.3,
                    second
                ),
                by_unit: true,
            };
        }
        Lookup::Ambiguous(
            scored
                .iter()
                .map(|&(_, c, l, r, total)| {
                    let edge = if total > 0 && (l == 0 || r == 0) {
                        format!(
                            ", all {} on one side: at the edge of the unit's run, which another file's symbol next to it looks the same as",
                            if l == 0 { "after it" } else { "before it" }
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        "{} ({} of the unit's symbols next to it{})",
                        self.describe(c),
                        total,
                        edge
                    )
                })
                .collect(),
            scored.iter().map(|s| s.1).collect(),
        )
    }
}

/// Names the compiler makes up (clones, numbered statics, unique ids),
/// which may differ between the object and the target build.
fn compiler_generated(name: &[u8]) -> bool {
    name.contains(&b'.')
        || name.starts_with(b"__UNIQUE_ID_")
        || name.starts_with(b"__pfx_")
        || name.starts_with(b"__cfi_")
}

/// All target objects known from the `--symbols` sources.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// One entry per object name.
    pub objects: Vec<TargetObject>,
}

impl Target {
    /// The object named `objname`.
    pub fn object(&self, objname: &str) -> Option<&TargetObject> {
        self.objects.iter().find(|o| o.objname == objname)
    }

    /// Attach the kernel image `path` (an uncompressed vmlinux or a
    /// bzImage/vmlinuz) to the vmlinux symbols of a kallsyms dump: their
    /// bytes, for [`crate::bytematch`]. Nothing to do (false) when there
    /// are none: a module's `.ko` and a vmlinux ELF have their own bytes, so
    /// a script may pass the image whatever the target.
    pub fn add_image(&mut self, path: &str) -> Result<bool> {
        let Some(v) = self
            .objects
            .iter_mut()
            .find(|o| o.objname == "vmlinux" && o.order == Order::Kallsyms)
        else {
            return Ok(false);
        };
        std::fs::metadata(path).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot read kernel image: {e}")).in_file(path)
        })?;
        v.space = Bytes::Image(Arc::new((path.to_string(), OnceLock::new())));
        Ok(true)
    }

    /// Load a symbol source. `default_objname` names a plain `.o` source
    /// (one without `.modinfo`).
    pub fn add_source(&mut self, path: &str, default_objname: &str) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot read symbol source: {e}")).in_file(path)
        })?;
        let objs = if bytes.starts_with(b"\x7fELF") {
            drop(bytes);
            let elf = Arc::new(load_file(path, Expect::Any)?);
            let mut obj = from_elf(&elf, default_objname)?;
            obj.space = Bytes::Ready(Arc::new(crate::bytematch::Space::of_elf(elf.clone(), &obj)));
            vec![obj]
        } else {
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::malformed("neither an ELF file nor a UTF-8 kallsyms dump").in_file(path)
            })?;
            parse_kallsyms(path, &text)?
        };
        for o in objs {
            for w in &o.warnings {
                eprintln!("klpwrite: warning: {w}");
            }
            if let Some(prev) = self.object(&o.objname) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "two symbol sources for {}: {} and {}",
                        o.objname, prev.source, o.source
                    ),
                ));
            }
            self.objects.push(o);
        }
        Ok(())
    }
}

/// Build a target object from an ELF symbol table.
pub fn from_elf(elf: &Elf, default_objname: &str) -> Result<TargetObject> {
    if elf.symtab.is_none() {
        return Err(Error::malformed("no symbol table (stripped?)")
            .in_file(&elf.path)
            .hint("use an unstripped vmlinux, the module .ko, or a /proc/kallsyms dump"));
    }
    let modname = modinfo_name(elf);
    let (objname, order) = if elf.e_type == ET_REL {
        let name = modname.unwrap_or_else(|| {
            if elf.path.ends_with(".ko") {
                normalize_module(&elf.path)
            } else {
                default_objname.to_string()
            }
        });
        (name, Order::Symtab)
    } else {
        ("vmlinux".to_string(), Order::Address)
    };
    let is_module = elf.e_type == ET_REL;
    // vmlinux: what lies between __init_begin and __init_end is freed by
    // free_initmem() (include/asm-generic/vmlinux.lds.h, x86
    // arch/x86/kernel/vmlinux.lds.S); section names decide when those
    // symbols are missing. A module frees its `.init*` sections
    // (kernel/module/main.c module_init_layout_section). A plain object
    // standing in for a vmlinux unit follows the vmlinux names.
    let vmlinux_names = !is_module || objname == "vmlinux";
    let (init_range, percpu) = if is_module {
        (None, None)
    } else {
        let addr = |n: &[u8]| {
            elf.symbols
                .iter()
                .find(|s| s.name == n && !s.is_undef())
                .map(|s| s.value)
        };
        let init = addr(b"__init_begin")
            .zip(addr(b"__init_end"))
            .filter(|(b, e)| b < e);
        (init, percpu_range(addr))
    };
    let mut obj = TargetObject::new(objname, elf.path.clone(), order);
    obj.ibt_seal_section = elf.section_by_name(b".ibt_endbr_seal").is_some();
    let mut current_file: Option<usize> = None;
    let mut file_of_symfile: HashMap<usize, usize> = HashMap::new();
    let mut rows: Vec<(u64, usize, TargetSym)> = Vec::new();
    for s in elf.symbols.iter().skip(1) {
        if s.is_file() {
            obj.files.push(FileBlock {
                name: s.name.clone(),
                locals: HashSet::new(),
            });
            current_file = Some(obj.files.len() - 1);
            file_of_symfile.insert(s.index, obj.files.len() - 1);
            continue;
        }
        if s.is_section() || s.name.is_empty() || s.is_undef() || s.is_livepatch() {
            continue;
        }
        if names::is_local_label(&s.name) {
            continue;
        }
        let sec = s.section.map(|i| &elf.sections[i]);
        if !is_module && s.st_shndx == SHN_ABS {
            continue; // kallsyms leaves out absolute symbols
        }
        // A global of hidden (or internal) visibility is made local by the
        // final link (ELF gABI: "converted to STB_LOCAL binding by the
        // link-editor"), where it keeps its st_other and follows every
        // file's locals. Clang LTO builds every unit with -fvisibility=hidden
        // (CC_FLAGS_LTO, top Makefile), so there every global of vmlinux.o
        // but the exported ones (and ThinLTO's promoted statics,
        // `name.llvm.<hash>`) is a `LOCAL HIDDEN` symbol of vmlinux. It is
        // still the one global of its name: it resolves as one, and belongs
        // to no file block (the last STT_FILE before it is not its unit).
        // A static is never hidden (compilers give locals STV_DEFAULT).
        let link_global = !is_module && s.is_local() && matches!(s.st_other & 3, 1 | 2);
        let file = if s.is_local() && !link_global {
            s.file
                .and_then(|f| file_of_symfile.get(&f).copied())
                .or(current_file)
        } else {
            None
        };
        // Prefix symbols say nothing about a unit: with IBT objtool adds
        // them to vmlinux.o only, each created local going after the last
        // local of the symbol table (tools/objtool/elf.c
        // __elf_create_symbol() moves the first global, at sh_info, to make
        // room), so in the final link all of them sit in the last file's
        // block (hostile review of 8da5879).
        if let Some(f) = file
            && names::prefix_target(&s.name).is_none()
        {
            obj.files[f].locals.insert(s.name.clone());
        }
        let init = sec.is_some_and(|x| {
            if vmlinux_names {
                names::is_vmlinux_init_section(&x.name)
            } else {
                names::is_init_section(&x.name)
            }
        }) || (init_range.is_some_and(|(b, e)| (b..e).contains(&s.value))
            && !sec.is_some_and(|x| x.name.starts_with(b".data..percpu"))
            && !percpu.is_some_and(|(b, e)| (b..e).contains(&s.value)));
        let letter = kallsyms_letter(s.kind(), s.bind(), sec.map(|x| x.sh_flags));
        let row = TargetSym {
            name: s.name.clone(),
            addr: s.value,
            local: s.is_local() && !link_global,
            bind_known: true,
            letter,
            file,
            init,
            section: sec.map(|x| x.name.clone()),
            elf_sym: Some(s.index),
        };
        if is_module {
            // A live module keeps only core symbols (kernel/module/kallsyms.c
            // is_core_symbol): named, defined in an allocated non-init section.
            let core = sec.is_some_and(|x| x.is_alloc() && !names::is_init_section(&x.name));
            if !core {
                if sec.is_some_and(|x| x.is_alloc()) {
                    obj.init_only.push(row);
                }
                continue;
            }
        }
        rows.push((s.value, s.index, row));
    }
    if order == Order::Address {
        rows.sort_by_key(|r| (r.0, r.1));
    }
    obj.syms = rows.into_iter().map(|r| r.2).collect();
    obj.finish();
    Ok(obj)
}

/// The per-CPU variables' range, `__per_cpu_start` .. `__per_cpu_end`.
/// On x86-64 their load image lies between `__init_begin` and
/// `__init_end` (arch/x86/kernel/vmlinux.lds.S PERCPU_VADDR or
/// PERCPU_SECTION inside the init area) and is freed after being copied to
/// each CPU's area, but the symbols name per-CPU offsets that stay valid:
/// never init. (Zero-based per-CPU symbols lie outside the init range
/// anyway.)
fn percpu_range(addr: impl Fn(&[u8]) -> Option<u64>) -> Option<(u64, u64)> {
    addr(b"__per_cpu_start")
        .zip(addr(b"__per_cpu_end"))
        .filter(|(b, e)| b < e)
}

fn kallsyms_letter(kind: u8, bind: u8, flags: Option<u64>) -> char {
    let c = match flags {
        Some(f) if f & SHF_EXECINSTR != 0 => 't',
        Some(f) if f & SHF_WRITE != 0 => 'd',
        Some(f) if f & SHF_ALLOC != 0 => 'r',
        Some(_) => 'n',
        None => 'a',
    };
    let c = if kind == STT_OBJECT && c == 'n' {
        'd'
    } else {
        c
    };
    if bind == STB_WEAK {
        if c == 't' { 'W' } else { 'V' }
    } else if bind == STB_LOCAL {
        c
    } else {
        c.to_ascii_uppercase()
    }
}

fn modinfo_name(elf: &Elf) -> Option<String> {
    let sec = elf.section_by_name(b".modinfo")?;
    elf.data(sec)
        .split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(b"name="))
        .map(|n| String::from_utf8_lossy(n).into_owned())
}

/// Parse a `/proc/kallsyms` dump: `ADDR TYPE NAME[\t[MODULE]]` per line.
/// vmlinux lines keep their order (the kernel's); each module's lines
/// become that module's object, in order.
pub fn parse_kallsyms(path: &str, text: &str) -> Result<Vec<TargetObject>> {
    let mut objs: Vec<TargetObject> = vec![TargetObject::new(
        "vmlinux".into(),
        path.to_string(),
        Order::Kallsyms,
    )];
    let mut index: HashMap<String, usize> = HashMap::new();
    index.insert("vmlinux".into(), 0);
    for (i, line) in text.lines().enumerate() {
        let no = i + 1;
        let err = |msg: String| {
            Error::malformed(msg)
                .in_file(path)
                .at(format!("line {no}"))
                .hint("expected `<hex address> <type letter> <name>[\\t[<module>]]` as in /proc/kallsyms")
        };
        if line.trim().is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(addr), Some(ty), Some(name)) = (it.next(), it.next(), it.next()) else {
            return Err(err(format!("too few fields in {line:?}")));
        };
        let module = match it.next() {
            None => None,
            Some(m) => {
                let Some(m) = m.strip_prefix('[').and_then(|m| m.strip_suffix(']')) else {
                    return Err(err(format!("bad module field {m:?}")));
                };
                if m.is_empty() {
                    return Err(err("empty module name".into()));
                }
                Some(m)
            }
        };
        if it.next().is_some() {
            return Err(err(format!("too many fields in {line:?}")));
        }
        if addr.len() > 16 || addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(format!("bad address {addr:?}")));
        }
        let addr =
            u64::from_str_radix(addr, 16).map_err(|_| err(format!("bad address {addr:?}")))?;
        let mut tc = ty.chars();
        let (Some(letter), None) = (tc.next(), tc.next()) else {
            return Err(err(format!("bad type {ty:?}")));
        };
        if !letter.is_ascii_alphabetic() && letter != '?' {
            return Err(err(format!("bad type {ty:?}")));
        }
        if letter == 'U' || letter == 'u' || letter == 'N' || letter == 'n' {
            continue;
        }
        let objname = module.unwrap_or("vmlinux");
        let oi = match index.get(objname) {
            Some(&oi) => oi,
            None => {
                objs.push(TargetObject::new(
                    objname.to_string(),
                    path.to_string(),
                    Order::Kallsyms,
                ));
                index.insert(objname.to_string(), objs.len() - 1);
                objs.len() - 1
            }
        };
        objs[oi].syms.push(TargetSym {
            name: name.as_bytes().to_vec(),
            addr,
            local: letter.is_ascii_lowercase(),
            bind_known: module.is_none(),
            letter,
            file: None,
            init: false,
            section: None,
            elf_sym: None,
        });
    }
    if objs.iter().all(|o| o.syms.is_empty()) {
        return Err(Error::malformed("no symbols in kallsyms dump").in_file(path));
    }
    // /proc/kallsyms prints every address as 0 to a reader who may not see
    // them: s_show() prints `iter->show_value ? iter->value : NULL`, and
    // kallsyms_show_value() (kernel/kallsyms.c in 6.1, kernel/ksyms_common.c
    // later) allows them only with kptr_restrict 0 and perf_event_paranoid
    // <= 1, or CAP_SYSLOG with kptr_restrict <= 1. Such a dump keeps the
    // kernel's order, but the init area (__init_begin .. __init_end) and
    // the per-CPU range cannot be read from it: every init symbol would
    // pass as patchable (review F2). Refuse it.
    if objs.iter().flat_map(|o| o.syms.iter()).all(|s| s.addr == 0) {
        return Err(Error::new(
            ErrorKind::Usage,
            "every address in this kallsyms dump is 0: it was read without permission to see kernel addresses (kernel/kallsyms.c kallsyms_show_value: kptr_restrict, CAP_SYSLOG), so init code and data cannot be told apart".to_string(),
        )
        .in_file(path)
        .hint("read /proc/kallsyms as root (and with kernel.kptr_restrict below 2), or pass the target's vmlinux"));
    }
    // vmlinux init symbols stay in kallsyms after boot (the table is built
    // at link time, scripts/kallsyms), but their memory is freed: mark what
    // lies between __init_begin and __init_end (the range free_initmem()
    // releases), or at least the init text between _sinittext and
    // _einittext (kernel/kallsyms.c is_kernel_inittext) when the dump lacks
    // the former. A live module's kallsyms has no init symbols at all.
    let v = &mut objs[0];
    let addr = |v: &TargetObject, n: &[u8]| v.syms.iter().find(|s| s.name == n).map(|s| s.addr);
    let ranges: Vec<(u64, u64)> = [
        (&b"__init_begin"[..], &b"__init_end"[..]),
        (b"_sinittext", b"_einittext"),
    ]
    .iter()
    .filter_map(|(b, e)| addr(v, b).zip(addr(v, e)))
    .filter(|(b, e)| b < e)
    .collect();
    // Every real vmlinux has both pairs (include/asm-generic/vmlinux.lds.h
    // and arch/x86/kernel/vmlinux.lds.S define them; scripts/kallsyms keeps
    // them, kernel/kallsyms.c is_kernel_inittext() uses the latter). A
    // dump of a real kernel (it has `_stext`) without them was cut or
    // filtered: refuse. A small hand-made dump gets a warning, because its
    // init symbols, if any, cannot be recognised.
    let has = |n: &[u8]| v.syms.iter().any(|s| s.name == n);
    let markers = has(b"__init_begin") && has(b"__init_end");
    if !v.syms.is_empty() && !markers {
        let why = format!(
            "the vmlinux part of kallsyms dump {path} has no __init_begin/__init_end{}: init code and data of vmlinux cannot be recognised",
            if ranges.is_empty() {
                " nor _sinittext/_einittext"
            } else {
                " (only _sinittext/_einittext: init data cannot be recognised)"
            }
        );
        if has(b"_stext") {
            return Err(Error::new(ErrorKind::Usage, why)
                .in_file(path)
                .hint("use the complete /proc/kallsyms of the target, read as root"));
        }
        v.warnings.push(why);
    }
    let percpu = percpu_range(|n| addr(v, n));
    for sym in &mut v.syms {
        if percpu.is_some_and(|(b, e)| (b..e).contains(&sym.addr)) {
            continue;
        }
        // The boundary symbols themselves are not init code.
        if [
            &b"__init_begin"[..],
            b"__init_end",
            b"_sinittext",
            b"_einittext",
        ]
        .contains(&sym.name.as_slice())
        {
            continue;
        }
        sym.init = ranges.iter().any(|&(b, e)| (b..e).contains(&sym.addr));
    }
    objs.retain(|o| !o.syms.is_empty());
    for o in &mut objs {
        o.finish();
    }
    Ok(objs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tu(file: &str, locals: &[&str], globals: &[&str]) -> TuInfo {
        TuInfo {
            file: Some(file.as_bytes().to_vec()),
            locals: locals.iter().map(|s| s.as_bytes().to_vec()).collect(),
            globals: globals.iter().map(|s| s.as_bytes().to_vec()).collect(),
            data: HashSet::new(),
            init: HashSet::new(),
            hidden: false,
            file_nth: None,
            locals_may_be_new: false,
            all_locals: HashSet::new(),
            code_evidence: None,
        }
    }

    #[test]
    fn kallsyms_neighbours_pick_the_right_duplicate() {
        let dump = "\
ffffffff81000000 T _stext
ffffffff81000008 T __init_begin
ffffffff81000008 T __init_end
ffffffff81000010 t a_helper
ffffffff81000020 t dup_show
ffffffff81000030 T a_entry
ffffffff81000040 t b_helper
ffffffff81000050 t dup_show
ffffffff81000060 t b_other
ffffffff81000070 T b_entry
ffffffff81000080 t klpt_x\t[mod]
";
        let objs = parse_kallsyms("k", dump).unwrap();
        assert_eq!(objs.len(), 2);
        let v = &objs[0];
        match v.resolve(
            b"dup_show",
            true,
            &tu("b.c", &["dup_show", "b_helper", "b_other"], &["b_entry"]),
            false,
        ) {
            Lookup::Found { sympos, .. } => assert_eq!(sympos, 2),
            other => panic!("{other:?}"),
        }
        match v.resolve(
            b"dup_show",
            true,
            &tu("a.c", &["dup_show", "a_helper"], &["a_entry"]),
            false,
        ) {
            Lookup::Found { sympos, .. } => assert_eq!(sympos, 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            v.resolve(
                b"dup_show",
                true,
                &tu("c.c", &["dup_show", "zzz"], &[]),
                false
            ),
            Lookup::Ambiguous(..)
        ));
        match v.resolve(b"a_entry", false, &TuInfo::default(), false) {
            Lookup::Found { sympos, .. } => assert_eq!(sympos, 0),
            other => panic!("{other:?}"),
        }
        assert_eq!(objs[1].objname, "mod");
    }

    #[test]
    fn a_global_never_pairs_with_another_units_static() {
        let dump = "\
ffffffff81000000 t helper_calc
ffffffff81000010 T other_entry
ffffffff81000030 t feat_pre
ffffffff81000038 t feat_step
ffffffff81000040 T feat_fn
ffffffff81000060 T printk
ffffffff81000080 t modhelper\t[mod]
";
        let objs = parse_kallsyms("k", dump).unwrap();
        let v = &objs[0];
        // A new global of feat.c: other.c's static is no match.
        let feat = tu(
            "feat.c",
            &["feat_pre"],
            &["feat_fn", "helper_calc", "feat_step"],
        );
        assert!(matches!(
            v.resolve(b"helper_calc", false, &feat, false),
            Lookup::NotFound(_)
        ));
        // An undefined reference (no unit to confirm with) neither.
        assert!(matches!(
            v.resolve(b"helper_calc", false, &TuInfo::default(), false),
            Lookup::NotFound(_)
        ));
        // feat.c's own static made global: its neighbours feat_pre and
        // feat_fn, one on each side, confirm.
        match v.resolve(b"feat_step", false, &feat, false) {
            Lookup::Found { sympos, how, .. } => {
                assert_eq!(sympos, 0);
                assert!(how.contains("made global"), "{how}");
            }
            other => panic!("{other:?}"),
        }
        // A module's lower-case kallsyms line may be a global (only exports
        // are upper case there).
        assert!(matches!(
            objs[1].resolve(b"modhelper", false, &TuInfo::default(), false),
            Lookup::Found { .. }
        ));
    }

    #[test]
    fn kallsyms_neighbours_an_edge_is_no_proof() {
        // cp.c's `helper` was `helper.constprop.0` in the kernel; other.c's
        // static `helper` follows cp.c's run. It sees all of cp.c on one
        // side, nothing on the other: not confirmed (review F3).
        let dump = "\
ffffffff81000000 t helper.constprop.0
ffffffff81000050 T caller_a
ffffffff81000060 T caller_b
ffffffff81000080 t helper
ffffffff810000a0 T other_user
";
        let objs = parse_kallsyms("k", dump).unwrap();
        let cp = tu("cp.c", &["helper"], &["caller_a", "caller_b"]);
        match objs[0].resolve(b"helper", true, &cp, false) {
            Lookup::Ambiguous(c, _) => assert!(c[0].contains("edge"), "{c:?}"),
            other => panic!("{other:?}"),
        }
        // The same as a global (static made global, or a new global): no.
        assert!(matches!(
            objs[0].resolve(b"helper", false, &cp, false),
            Lookup::NotFound(_)
        ));
        // The original object defines it: the unique name is the unit's.
        assert!(matches!(
            objs[0].resolve(b"helper", true, &cp, true),
            Lookup::Found { sympos: 0, .. }
        ));
        // Inside the run it is confirmed.
        let dump = "\
ffffffff81000050 T caller_a
ffffffff81000080 t helper
ffffffff81000060 T caller_b
ffffffff810000a0 T other_user
";
        let objs = parse_kallsyms("k", dump).unwrap();
        assert!(matches!(
            objs[0].resolve(b"helper", true, &cp, false),
            Lookup::Found { sympos: 0, .. }
        ));
    }

    #[test]
    fn kallsyms_init_range() {
        let dump = "\
0000000000000000 D fixed_percpu_data
ffffffff81000000 T caller_fn
ffffffff81001000 T __init_begin
ffffffff81001000 T _sinittext
ffffffff81001000 T setup_limits
ffffffff81001013 T _einittext
ffffffff81001014 D boot_limit
ffffffff81001100 D __per_cpu_start
ffffffff81001100 D pcpu_thing
ffffffff81001200 D __per_cpu_end
ffffffff81002000 D __init_end
ffffffff81002000 D panic_timeout
";
        let objs = parse_kallsyms("k", dump).unwrap();
        let v = &objs[0];
        let init = |n: &str| v.syms[v.named(n.as_bytes())[0]].init;
        assert!(init("setup_limits"));
        assert!(init("boot_limit"));
        assert!(!init("caller_fn"));
        assert!(!init("panic_timeout"));
        assert!(!init("__init_begin"));
        assert!(!init("fixed_percpu_data"));
        assert!(!init("pcpu_thing"));
    }

    #[test]
    fn kallsyms_neighbours_leave_out_init_symbols() {
        let dump = "\
ffffffff81000000 T big_a
ffffffff81000020 t small_show
ffffffff81000030 T big_c
ffffffff81000070 T small_init
";
        let objs = parse_kallsyms("k", dump).unwrap();
        let mut small = tu("small.c", &["small_show"], &["small_init"]);
        // Without knowing small_init is init code, nothing confirms.
        assert!(matches!(
            objs[0].resolve(b"small_show", true, &small, false),
            Lookup::Ambiguous(..)
        ));
        small.init.insert(b"small_init".to_vec());
        match objs[0].resolve(b"small_show", true, &small, false) {
            Lookup::Found { sympos, how, .. } => {
                assert_eq!(sympos, 0);
                assert!(how.contains("init symbols"), "{how}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kallsyms_zeroed_or_without_init_markers() {
        // A non-root read with kptr_restrict set (review F2).
        let zero = "\
0000000000000000 T _stext
0000000000000000 D __init_begin
0000000000000000 T setup_limits
0000000000000000 D __init_end
0000000000000000 t klpt_x\t[mod]
";
        let e = parse_kallsyms("k", zero).unwrap_err();
        assert!(e.to_string().contains("kptr_restrict"), "{e}");
        // A real kernel's dump without the init markers: refused.
        let cut = "\
ffffffff81000000 T _stext
ffffffff81001000 T setup_limits
";
        let e = parse_kallsyms("k", cut).unwrap_err();
        assert!(e.to_string().contains("__init_begin"), "{e}");
        // A hand-made one: a warning.
        let small = "ffffffff81001000 T setup_limits\n";
        let objs = parse_kallsyms("k", small).unwrap();
        assert!(objs[0].warnings[0].contains("cannot be recognised"));
        // A module-only dump says nothing about vmlinux.
        let objs = parse_kallsyms("k", "ffffffffc0000000 t x\t[mod]\n").unwrap();
        assert!(objs[0].warnings.is_empty());
    }

    #[test]
    fn kallsyms_malformed_lines() {
        for bad in [
            "ffffffff81000000 T\n",
            "zzzz T foo\n",
            "ffffffff81000000 TT foo\n",
            "ffffffff81000000 T foo [mod\n",
            "ffffffff81000000 T foo [mod] extra\n",
        ] {
            let e = parse_kallsyms("k", &format!("ffffffff81000000 T ok\n{bad}")).unwrap_err();
            assert!(e.to_string().contains("line 2"), "{bad}: {e}");
        }
    }
}
