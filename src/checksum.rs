//! Per-symbol checksums: XXH3-64 over what a function or data object *means*,
//! not over its position.
//!
//! For each instruction of a function (decoded with iced-x86):
//!
//! * its bytes, with relocated fields (zero in a relocatable object) and the
//!   displacement of unrelocated direct branches left out;
//! * for each relocation: the field's place, the type, and the target by
//!   *demangled* name plus offset, or by content for string literals,
//!   constant-pool entries and read-only data that is never correlated
//!   (B9: `CSWTCH.N` switch tables, `__func__`, anonymous `.rodata` such as
//!   local-array initialisers and jump tables reached through the section
//!   symbol). Content means the bytes up to the next referenced offset and
//!   the targets of the relocations inside, recursively, with cycle
//!   protection. Named `static const` objects stay by name: they are
//!   correlated, and diff refuses a change to them as changed data;
//! * for an unrelocated direct branch: the target as function-relative
//!   offset, or as another symbol's demangled name plus offset;
//! * the special-section entries that describe the instruction: the
//!   alternative's feature and replacement code, the jump label's key and
//!   polarity and target, the static call's key, the exception-table fixup
//!   and type/data, the bug-table flags. (objtool misses the key identity
//!   and the exception type.)
//!
//! A `.cold` part is hashed as part of its parent. Data objects hash their
//! size, bytes (not for NOBITS) and relocations by offset and target.
//!
//! Inputs are read without their DWARF (`load_file_for_analysis`), so
//! nothing here depends on `-g`: the item boundaries of anonymous
//! read-only data come from code and data references only (before, a
//! `.debug_*` relocation could split an item, so an object's checksums
//! changed with its debug information). `checksum` and `diff` also leave
//! out ORC and BTF (`load_file_for_checksums`): nothing here reads them
//! (ORC is skipped in [`Ctx`]'s special-section index on purpose).
//!
//! Each function also gets a *line-masked* checksum (B10) in which
//! `__LINE__` values are left out: an immediate that reaches only the
//! argument a known callee declares as its line (see [`crate::linemask`]
//! for the table and the data-flow walk), and the digits of
//! `<source file>:<line>` inside string literals. Two functions whose
//! checksums differ but whose masked checksums agree differ only by moved
//! line numbers.

use std::collections::HashMap;

use iced_x86::{
    ConstantOffsets, Decoder, DecoderOptions, FlowControl, Formatter, GasFormatter, Instruction,
    OpKind,
};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::arch::x86_64::{self as x86, Role, Treatment};
use crate::elf::{Elf, names};
use crate::error::{Result, show};
use crate::linemask;
use crate::special::{self, LayoutHints};

pub use crate::linemask::{LINE_CALLEES, LineCallee};

/// What a checksum is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A function (with its `.cold` parts).
    Func,
    /// A data object.
    Object,
}

/// The checksums of one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymChecksum {
    /// Function or object.
    pub kind: Kind,
    /// Everything counts.
    pub strict: u64,
    /// `__LINE__` immediates masked (equal to `strict` for data).
    pub masked: u64,
}

/// Checksums of an object.
#[derive(Debug, Clone, Default)]
pub struct Checksums {
    /// By symbol index.
    pub by_sym: HashMap<usize, SymChecksum>,
    /// objtool's own checksums (`.discard.sym_checksum`), by symbol index.
    pub objtool: Option<HashMap<usize, u64>>,
    /// Problems that did not stop the computation.
    pub warnings: Vec<String>,
}

/// One instruction's contribution, for `diff --explain`.
#[derive(Debug, Clone)]
pub struct InsnSig {
    /// Offset from the function start.
    pub offset: u64,
    /// Its hash, `__LINE__` arguments masked.
    pub hash: u64,
    /// Disassembly (AT&T) with relocation targets.
    pub text: String,
}

/// The context of hashing one relocation target.
#[derive(Default)]
struct Tcx {
    /// Mask the line digits of `<source file>:<line>` in strings.
    mask: bool,
    /// Such a string was hashed (so the masked hash must be computed).
    saw_line_string: bool,
    /// Constant-data ranges being hashed (cycle protection).
    visited: Vec<(usize, u64)>,
    /// Constant-data ranges hashed so far (a bound on the work).
    steps: u32,
}

/// Read-only data that code reads *by content* (B9): allocated, not
/// writable, not code, with bytes, named `.rodata*`. Strings and the
/// constant pools (`.rodata.cst*`) are handled before this is asked.
fn is_const_data_section(ps: &crate::elf::Section) -> bool {
    use crate::elf::consts::SHF_WRITE;
    ps.is_alloc()
        && !ps.is_exec()
        && !ps.is_nobits()
        && ps.sh_flags & SHF_WRITE == 0
        && ps.name.starts_with(b".rodata")
}

/// A named local object in read-only data that is never correlated, and
/// so never diffed as data: GCC's switch conversion tables (`CSWTCH.N`)
/// and `__func__` strings (in `.rodata.__func__.N`, not a string section).
/// Named `static const` objects are correlated and refused by diff when
/// they change, so they stay hashed by name.
fn is_compiler_constant(elf: &Elf, sym: usize) -> bool {
    let s = &elf.symbols[sym];
    s.is_object() && s.is_local() && crate::correlate::never_correlated(elf, sym)
}

/// Precomputed per-object state.
pub struct Ctx<'a> {
    elf: &'a Elf,
    /// Line numbers of verbose `__bug_table` entries, by (section, code
    /// offset).
    bug_lines: HashMap<(usize, u64), i64>,
    /// Per constant-data section: the offsets anything refers to, sorted
    /// (they delimit anonymous items).
    ro_bounds: HashMap<usize, Vec<u64>>,
    /// The object's source file name (its first STT_FILE), without
    /// directories.
    src_base: Option<Vec<u8>>,
    /// Per section: (code offset, entry hash), sorted.
    meta: HashMap<usize, Vec<(u64, u64)>>,
    /// The entry layout of each special section split into entries.
    entry_layouts: HashMap<usize, &'static x86::Layout>,
    /// A layout given by `--struct-size` or BTF that the object
    /// contradicts: an error, not a warning.
    fatal: Option<crate::error::Error>,
    children: HashMap<usize, Vec<usize>>,
    warnings: Vec<String>,
}

/// Where hashed bytes go: a streaming XXH3 state, or a buffer hashed in
/// one go (cheaper for the many short per-instruction inputs).
trait Sink {
    fn update(&mut self, bytes: &[u8]);
}

impl Sink for Xxh3 {
    fn update(&mut self, bytes: &[u8]) {
        Xxh3::update(self, bytes);
    }
}

impl Sink for Vec<u8> {
    fn update(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn h_u64(h: &mut impl Sink, v: u64) {
    h.update(&v.to_le_bytes());
}

fn h_i64(h: &mut impl Sink, v: i64) {
    h.update(&v.to_le_bytes());
}

fn h_str(h: &mut impl Sink, tag: &[u8], s: &[u8]) {
    h.update(tag);
    h_u64(h, s.len() as u64);
    h.update(s);
}

impl<'a> Ctx<'a> {
    /// Index `elf` for checksumming.
    pub fn new(elf: &'a Elf) -> Ctx<'a> {
        Ctx::with_hints(elf, &LayoutHints::default())
    }

    /// [`Self::new`] with special-section entry layouts from
    /// `--struct-size` and the target's BTF.
    pub fn with_hints(elf: &'a Elf, hints: &LayoutHints) -> Ctx<'a> {
        let mut ctx = Ctx {
            entry_layouts: HashMap::new(),
            fatal: None,
            elf,
            ro_bounds: HashMap::new(),
            bug_lines: HashMap::new(),
            src_base: elf
                .symbols
                .iter()
                .find(|s| s.is_file() && !s.name.is_empty())
                .map(|s| {
                    let n = &s.name;
                    let p = n.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
                    n[p..].to_vec()
                }),
            meta: HashMap::new(),
            children: HashMap::new(),
            warnings: Vec::new(),
        };
        // .cold parts belong to their parent (same file block).
        for s in &elf.symbols {
            if !s.is_func() || s.section.is_none() || !names::is_cold_child(&s.name) {
                continue;
            }
            let Some(pname) = names::child_parent(&s.name) else {
                continue;
            };
            let parent = elf.symbols_named(pname).iter().copied().find(|&p| {
                elf.symbols[p].is_func()
                    && elf.symbols[p].section.is_some()
                    && (elf.symbols[p].file == s.file || !elf.symbols[p].is_local())
            });
            if let Some(p) = parent {
                ctx.children.entry(p).or_default().push(s.index);
            }
        }
        for v in ctx.children.values_mut() {
            v.sort_by_key(|&c| (names::demangle(&elf.symbols[c].name), c));
        }
        ctx.build_ro_bounds();
        ctx.build_meta(hints);
        for v in ctx.meta.values_mut() {
            v.sort_unstable();
        }
        ctx
    }

    fn relocs_in(&self, sec: usize, start: u64, end: u64) -> &[usize] {
        self.elf.relocs_between(sec, start, end)
    }

    /// Hash what relocation `id` points at. `adj` turns a PC-relative
    /// addend into the target offset.
    fn hash_target(&self, h: &mut impl Sink, id: usize, adj: i64, func: Option<(usize, u64, u64)>) {
        self.hash_target_cx(h, id, adj, func, &mut Tcx::default());
    }

    /// [`Self::hash_target`] with its context: line masking of strings,
    /// and the constant data already being hashed (cycle protection).
    fn hash_target_cx(
        &self,
        h: &mut impl Sink,
        id: usize,
        adj: i64,
        func: Option<(usize, u64, u64)>,
        cx: &mut Tcx,
    ) {
        let elf = self.elf;
        let r = elf.relocs[id];
        h_u64(h, r.r_type as u64);
        if r.symbol == 0 {
            h.update(b"0");
            h_i64(h, r.addend);
            return;
        }
        let s = &elf.symbols[r.symbol];
        let Some(sec) = s.section else {
            h_str(h, b"U", &s.name);
            h_i64(h, r.addend);
            return;
        };
        let Some(off) = crate::elf::offset_of(s.value, r.addend, adj) else {
            h.update(b"overflow");
            return;
        };
        let ps = &elf.sections[sec];
        let data = elf.data(sec);
        if ps.is_strings() && off >= 0 && (off as usize) <= data.len() {
            let tail = &data[off as usize..];
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            let text = &tail[..end];
            match self.mask_file_lines(text) {
                Some(masked) => {
                    cx.saw_line_string = true;
                    h_str(h, b"S", if cx.mask { &masked } else { text });
                }
                None => h_str(h, b"S", text),
            }
            return;
        }
        if ps.name.starts_with(b".rodata.cst") && off >= 0 {
            let n = ps.sh_entsize.max(1) as usize;
            let o = off as usize;
            h_str(h, b"C", data.get(o..o + n).unwrap_or(&[]));
            return;
        }
        if names::is_anonymous_data_section(&ps.name) {
            // UBSAN and Clang's unnamed data: numbered, and their content
            // records source lines.
            h_str(h, b"A", &strip_digits(&ps.name));
            return;
        }
        if let Some((fsec, fstart, fend)) = func
            && fsec == sec
            && off >= fstart as i64
            && off < fend as i64
        {
            h.update(b"self");
            h_i64(h, off - fstart as i64);
            return;
        }
        let unnamed = s.is_section() || s.name.is_empty() || names::is_local_label(&s.name);
        if unnamed
            && off >= 0
            && (off as u64) < ps.sh_size
            && let Some(&layout) = self.entry_layouts.get(&sec)
        {
            // A reference into a table of fixed-size entries (7.x WARN
            // sites load their own `__bug_table` entry: `lea 2f(%rip)` of
            // __WARN_bug_entry, arch/x86/include/asm/bug.h) is a reference
            // to that entry, not to its place: one WARN added earlier in
            // the object moves every later entry.
            self.hash_entry(h, sec, layout, off as u64, func, cx);
            return;
        }
        let named = if unnamed {
            (off >= 0)
                .then(|| elf.resolve_ref(sec, off as u64).map(|t| t.sym))
                .flatten()
        } else {
            Some(r.symbol)
        };
        match named {
            Some(t) if is_const_data_section(ps) && is_compiler_constant(elf, t) => {
                // B9: a switch table (`CSWTCH.*`) is never correlated, so
                // diff never compares it as data: its bytes are part of
                // the code that reads it.
                let ts = &elf.symbols[t];
                let (a, b) = if ts.size > 0 {
                    (ts.value, ts.value.saturating_add(ts.size))
                } else {
                    (ts.value, self.const_extent_end(sec, ts.value))
                };
                h_str(h, b"K", &strip_digits(&names::demangle(&ts.name)));
                h_i64(h, off - ts.value as i64);
                self.hash_const_bytes(h, sec, a, b, func, cx);
            }
            Some(t) => {
                let ts = &elf.symbols[t];
                h_str(h, b"N", &names::demangle(&ts.name));
                h_i64(h, off - ts.value as i64);
            }
            None if off >= 0 && (off as u64) < ps.sh_size && is_const_data_section(ps) => {
                // B9: anonymous constant data (`.LC` initialisers of local
                // arrays, jump tables, ...) reached through a section
                // symbol: no symbol, no correlation, no data diff; hash
                // what the code reads, from the referenced offset to the
                // next referenced offset.
                let o = off as u64;
                h.update(b"R");
                self.hash_const_bytes(h, sec, o, self.const_extent_end(sec, o), func, cx);
            }
            None if is_const_data_section(ps) => {
                // Before the section or past its end: a table whose first
                // index was folded into the displacement. Which item is
                // meant is unknown, so the whole section counts.
                h.update(b"R*");
                h_i64(h, off);
                self.hash_const_bytes(h, sec, 0, ps.sh_size, func, cx);
            }
            None => {
                h_str(h, b"A", &names::demangle(&ps.name));
                if !ps.is_exec() {
                    h_i64(h, off);
                }
            }
        }
    }

    /// Entry `off / size` of special section `sec` by content: the offset
    /// into it, its meaningful unrelocated bytes (the table's `raw`; a bug
    /// entry's line is left out like every `__LINE__`) and the targets of
    /// its relocations (code by function and offset, strings by text).
    fn hash_entry(
        &self,
        h: &mut impl Sink,
        sec: usize,
        layout: &x86::Layout,
        off: u64,
        func: Option<(usize, u64, u64)>,
        cx: &mut Tcx,
    ) {
        let start = off - off % layout.size;
        let end = (start + layout.size).min(self.elf.sections[sec].sh_size);
        h_str(h, b"E", &self.elf.sections[sec].name);
        h_u64(h, off - start);
        // An entry whose relocation refers into its own table (a malformed
        // object: a mutated section symbol made an `__mcount_loc` entry
        // point at `__mcount_loc`) recursed without end; the same guard as
        // constant data.
        if cx.visited.contains(&(sec, start)) || cx.visited.len() >= 64 || cx.steps >= 4096 {
            h.update(b"cycle");
            return;
        }
        cx.visited.push((sec, start));
        cx.steps += 1;
        let here = self.relocs_in(sec, start, end);
        let d = self.elf.data(sec);
        for &(a, b) in layout.raw {
            let relocated = here.iter().any(|&id| {
                let o = self.elf.relocs[id].offset - start;
                o >= a && o < b
            });
            if !relocated {
                let (x, y) = ((start + a) as usize, (start + b) as usize);
                h.update(d.get(x..y.min(d.len())).unwrap_or(&[]));
            }
        }
        for &id in here {
            h_u64(h, self.elf.relocs[id].offset - start);
            self.hash_target_cx(h, id, 0, func, cx);
        }
        cx.visited.pop();
    }

    /// The end of the constant-data item starting at `off` in `sec`: the
    /// next offset anything refers to (a symbol start or end, a relocation
    /// target), or the end of the section.
    fn const_extent_end(&self, sec: usize, off: u64) -> u64 {
        let end = self.elf.sections[sec].sh_size;
        match self.ro_bounds.get(&sec) {
            Some(b) => {
                let i = b.partition_point(|&x| x <= off);
                b.get(i).copied().unwrap_or(end).min(end)
            }
            None => end,
        }
    }

    /// Hash the bytes `[a, b)` of constant-data section `sec` and the
    /// targets of the relocations inside (recursively, by name or
    /// content). A range already being hashed is hashed by its place only.
    fn hash_const_bytes(
        &self,
        h: &mut impl Sink,
        sec: usize,
        a: u64,
        b: u64,
        func: Option<(usize, u64, u64)>,
        cx: &mut Tcx,
    ) {
        let b = b.max(a);
        if cx.visited.contains(&(sec, a)) || cx.visited.len() >= 64 || cx.steps >= 4096 {
            h.update(b"cycle");
            h_u64(h, b.saturating_sub(a));
            return;
        }
        cx.visited.push((sec, a));
        cx.steps += 1;
        let d = self.elf.data(sec);
        let (x, y) = ((a as usize).min(d.len()), (b as usize).min(d.len()));
        h_str(h, b"B", &d[x..y.max(x)]);
        for &id in self.relocs_in(sec, a, b) {
            h_u64(h, self.elf.relocs[id].offset - a);
            self.hash_target_cx(h, id, 0, func, cx);
        }
        cx.visited.pop();
    }

    /// The offsets that delimit items of constant-data sections: symbol
    /// starts and ends, and every relocation target (code relocations
    /// with the exact PC-relative adjustment of their instruction).
    fn build_ro_bounds(&mut self) {
        let elf = self.elf;
        let ro: Vec<bool> = elf
            .sections
            .iter()
            .map(|ps| is_const_data_section(ps) && !ps.is_strings())
            .collect();
        if !ro.iter().any(|&b| b) {
            return;
        }
        let mut b: HashMap<usize, Vec<u64>> = HashMap::new();
        for s in &elf.symbols {
            if let Some(sec) = s.section
                && ro[sec]
                && !s.is_section()
            {
                let e = b.entry(sec).or_default();
                e.push(s.value);
                if s.size > 0 {
                    e.push(s.value.saturating_add(s.size));
                }
            }
        }
        for rsec in elf.sections.iter().map(|s| s.index) {
            if elf.sections[rsec].rela_sections.is_empty() {
                continue;
            }
            for &id in elf.sorted_relocs(rsec) {
                let r = elf.relocs[id];
                let ts = &elf.symbols[r.symbol];
                let Some(tsec) = ts.section else { continue };
                if !ro[tsec] {
                    continue;
                }
                let rs = &elf.sections[rsec];
                let insn = if rs.is_exec() {
                    elf.code_map(rsec).insn_at(r.offset)
                } else {
                    None
                };
                let adj = x86::addend_adjustment(r.r_type, r.offset, insn);
                if let Some(o) = crate::elf::uoffset_of(ts.value, r.addend, adj) {
                    b.entry(tsec).or_default().push(o);
                }
            }
        }
        for v in b.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        self.ro_bounds = b;
    }

    /// `text` with the digits after `<source file>:` replaced, if it names
    /// the object's own source file with a line (`__FILE__ ":"
    /// __stringify(__LINE__)`, as in `FILE_LINE` of
    /// sound/pci/asihpi/hpidebug.h or the timer lockdep names of
    /// include/linux/timer.h before v4.15); None when there is nothing to
    /// mask.
    fn mask_file_lines(&self, text: &[u8]) -> Option<Vec<u8>> {
        let base = self.src_base.as_deref()?;
        if base.is_empty() || text.len() <= base.len() {
            return None;
        }
        let mut out: Vec<u8> = Vec::with_capacity(text.len());
        let mut hit = false;
        let mut i = 0;
        while i < text.len() {
            let at_word = i == 0 || text[i - 1] == b'/' || !text[i - 1].is_ascii_alphanumeric();
            if at_word
                && text[i..].starts_with(base)
                && text.get(i + base.len()) == Some(&b':')
                && text.get(i + base.len() + 1).is_some_and(u8::is_ascii_digit)
            {
                out.extend_from_slice(&text[i..i + base.len() + 1]);
                i += base.len() + 1;
                while i < text.len() && text[i].is_ascii_digit() {
                    i += 1;
                }
                out.extend_from_slice(b"#LINE");
                hit = true;
                continue;
            }
            out.push(text[i]);
            i += 1;
        }
        hit.then_some(out)
    }

    /// Index the special-section entries by the code they describe.
    fn build_meta(&mut self, hints: &LayoutHints) {
        let elf = self.elf;
        for sec in 0..elf.sections.len() {
            let s = &elf.sections[sec];
            let Some(spec) = x86::special_for(&s.name) else {
                continue;
            };
            let Treatment::Entries(layouts) = spec.treatment else {
                continue;
            };
            if s.name == b".orc_unwind_ip"
                || s.sh_size == 0
                || s.sh_type != crate::elf::consts::SHT_PROGBITS
            {
                continue; // ORC follows from the code itself
            }
            let relocs = elf.sorted_relocs(sec);
            let layout = match special::detect_layout(elf, sec, layouts, relocs, hints) {
                Ok(l) => l,
                Err(e) if hints.decides(&s.name) => {
                    // The user's --struct-size or the target's BTF says
                    // what the entries are, and the object disagrees.
                    self.fatal.get_or_insert(e);
                    continue;
                }
                Err(e) => {
                    self.warnings.push(format!(
                        "{}: not folded into checksums: {}",
                        s.display_name(),
                        e.message()
                    ));
                    continue;
                }
            };
            self.entry_layouts.insert(sec, layout);
            let data = elf.data(sec);
            for e in special::entries(elf, sec, layout, relocs) {
                let Some(&(_, code)) = e
                    .fields
                    .iter()
                    .find(|(f, _)| matches!(f.role, Role::Code | Role::CodeOrEnd))
                else {
                    continue;
                };
                let cr = elf.relocs[code];
                let cs = &elf.symbols[cr.symbol];
                let Some(csec) = cs.section else { continue };
                let Some(coff) = crate::elf::offset_of(cs.value, cr.addend, 0) else {
                    continue;
                };
                if coff < 0 {
                    continue;
                }
                let mut h = Xxh3::new();
                h.update(&s.name);
                let Some(bytes) = data.get(e.start as usize..e.end as usize) else {
                    continue;
                };
                // The line of a verbose bug entry (`struct bug_entry` of
                // include/asm-generic/bug.h with CONFIG_DEBUG_BUGVERBOSE),
                // for the __LINE__ a WARN passes to __warn_printk; never
                // hashed (a moved WARN is no change).
                if let Some(at) = layout.line_at
                    && let Some(l) = bytes.get(at as usize..at as usize + 2)
                {
                    self.bug_lines
                        .insert((csec, coff as u64), u16::from_le_bytes([l[0], l[1]]) as i64);
                }
                // Unrelocated bytes that carry meaning (the table's `raw`:
                // the bug flags BUGFLAG_WARNING/ONCE/NO_CUT_HERE/ARGS and
                // the taint, the alternative's feature, the exception
                // type; WARN_ON -> WARN_ON_ONCE only changes bug flags,
                // review F4).
                let raw = layout.raw;
                for &(a, b) in raw {
                    let reloc_here = e.fields.iter().any(|(f, _)| f.offset >= a && f.offset < b);
                    if !reloc_here {
                        h.update(bytes.get(a as usize..b as usize).unwrap_or(&[]));
                    }
                }
                for &(f, id) in &e.fields {
                    if matches!(f.role, Role::Code | Role::CodeOrEnd) {
                        continue;
                    }
                    h_u64(&mut h, f.offset);
                    if f.role == Role::Replacement {
                        let rr = elf.relocs[id];
                        let rs = &elf.symbols[rr.symbol];
                        let len = layout
                            .repl_len_at
                            .and_then(|at| bytes.get(at as usize))
                            .copied()
                            .unwrap_or(0) as u64;
                        if let Some(rsec) = rs.section {
                            let roff = crate::elf::uoffset_of(rs.value, rr.addend, 0).unwrap_or(0);
                            let mut sub = Xxh3::new();
                            self.hash_code(
                                &mut sub,
                                None,
                                rsec,
                                roff,
                                roff + len,
                                None,
                                None,
                                false,
                            );
                            h_u64(&mut h, sub.digest());
                            continue;
                        }
                    }
                    // Jump-label targets are relative to the code location.
                    let func = elf.symbol_containing(csec, coff as u64).map(|fs| {
                        (
                            csec,
                            elf.symbols[fs].value,
                            elf.symbols[fs].value.saturating_add(elf.symbols[fs].size),
                        )
                    });
                    self.hash_target(&mut h, id, 0, func);
                }
                self.meta
                    .entry(csec)
                    .or_default()
                    .push((coff as u64, h.digest()));
            }
        }
    }

    /// Hash the instructions in `[start, end)` of `sec` into `h`, and, if
    /// given, the line-masked variant into `hm` (one decoding pass).
    #[allow(clippy::too_many_arguments)]
    fn hash_code(
        &self,
        h: &mut Xxh3,
        mut hm: Option<&mut Xxh3>,
        sec: usize,
        start: u64,
        end: u64,
        func: Option<(usize, u64, u64)>,
        mut detail: Option<&mut Vec<InsnSig>>,
        with_meta: bool,
    ) {
        let elf = self.elf;
        let data = elf.data(sec);
        let (s, e) = (start as usize, (end as usize).min(data.len()));
        if s >= e {
            return;
        }
        // The line-masked pass looks at neighbouring instructions (the
        // `__LINE__` data flow) and needs them all decoded first; the
        // strict pass decodes as it hashes, without a vector of
        // instructions or their constant offsets for every one.
        let decoded = hm.is_some().then(|| self.decode(sec, start, end));
        let line_flags: Vec<Option<linemask::Site>> = match &decoded {
            Some(insns) => self.line_sites(insns, sec, start, end),
            None => Vec::new(),
        };
        let mut stream = match decoded {
            Some(_) => None,
            None => Some(Decoder::with_ip(
                64,
                &data[s..e],
                start,
                DecoderOptions::NONE,
            )),
        };
        let mut next = 0usize;
        let mut insn_buf = Instruction::default();
        let mut fmt = detail.as_ref().map(|_| GasFormatter::new());
        let relocs = self.relocs_in(sec, start, end);
        let mut rc = 0;
        let metas: &[(u64, u64)] = if with_meta {
            self.meta_in(sec, start, end)
        } else {
            &[]
        };
        let mut mc = 0;
        let mut ih: Vec<u8> = Vec::with_capacity(64);
        let mut ihm: Vec<u8> = Vec::with_capacity(64);
        loop {
            let k = next;
            next += 1;
            let (insn, imm_off, imm_size): (Instruction, usize, usize) =
                match (&decoded, &mut stream) {
                    (Some(v), _) => match v.get(k) {
                        Some(&t) => t,
                        None => break,
                    },
                    (None, Some(d)) => {
                        if !d.can_decode() {
                            break;
                        }
                        d.decode_out(&mut insn_buf);
                        // Only an unrelocated branch needs the place of its
                        // displacement here (iced reports it as the
                        // immediate).
                        let co = if is_near_branch(&insn_buf) {
                            d.get_constant_offsets(&insn_buf)
                        } else {
                            ConstantOffsets::default()
                        };
                        if co.has_immediate() {
                            (insn_buf, co.immediate_offset(), co.immediate_size())
                        } else {
                            (insn_buf, 0, 0)
                        }
                    }
                    (None, None) => break,
                };
            let (insn, imm_off, imm_size) = (&insn, &imm_off, &imm_size);
            let ip = insn.ip();
            let len = insn.len() as u64;
            let bytes = &data[ip as usize..(ip + len) as usize];
            while rc < relocs.len() && elf.relocs[relocs[rc]].offset < ip {
                rc += 1;
            }
            let r0 = rc;
            while rc < relocs.len() && elf.relocs[relocs[rc]].offset < ip + len {
                rc += 1;
            }
            let here = &relocs[r0..rc];
            while mc < metas.len() && metas[mc].0 < ip {
                mc += 1;
            }
            let m0 = mc;
            while mc < metas.len() && metas[mc].0 == ip {
                mc += 1;
            }
            let meta = &metas[m0..mc];
            let branch = is_near_branch(insn);
            let line = line_flags.get(k).is_some_and(Option::is_some);
            ih.clear();
            let mut saw = self.insn_input(
                &mut ih, insn, bytes, here, meta, func, sec, branch, *imm_off, *imm_size, false,
                false,
            );
            if hm.is_some() && (line || saw) {
                ihm.clear();
                saw = self.insn_input(
                    &mut ihm, insn, bytes, here, meta, func, sec, branch, *imm_off, *imm_size,
                    line, true,
                );
            }
            let ihm = if hm.is_some() && (line || saw) {
                Some(&ihm)
            } else {
                None
            };
            let ihash = xxh3_64(&ih);
            h_u64(h, ihash);
            let mhash = ihm.map_or(ihash, |m| xxh3_64(m));
            if let Some(hm) = hm.as_deref_mut() {
                h_u64(hm, mhash);
            }
            if let Some(dv) = detail.as_deref_mut() {
                let mut text = self.insn_text(fmt.as_mut(), insn, here);
                if line {
                    text.push_str("  [__LINE__ masked]");
                }
                dv.push(InsnSig {
                    offset: ip - func.map_or(start, |f| f.1),
                    hash: mhash,
                    text,
                });
            }
        }
    }

    /// The special-section metadata of `[start, end)` of `sec`.
    fn meta_in(&self, sec: usize, start: u64, end: u64) -> &[(u64, u64)] {
        self.meta
            .get(&sec)
            .map(|v| {
                let lo = v.partition_point(|m| m.0 < start);
                let hi = v.partition_point(|m| m.0 < end);
                &v[lo..hi]
            })
            .unwrap_or(&[])
    }

    /// An instruction as a difference is explained: disassembly, then each
    /// relocation's type and target.
    fn insn_text(
        &self,
        fmt: Option<&mut GasFormatter>,
        insn: &Instruction,
        here: &[usize],
    ) -> String {
        let elf = self.elf;
        let mut text = String::new();
        if let Some(f) = fmt {
            f.format(insn, &mut text);
        }
        for &id in here {
            let r = elf.relocs[id];
            text.push_str(&format!(
                "  [{} {}]",
                x86::reloc_name(r.r_type),
                crate::dump::reloc_target(elf, &r)
            ));
        }
        text
    }

    /// One instruction's hash input: its bytes (immediate replaced when
    /// `mask_imm`), its relocation targets (line digits of
    /// `<file>:<line>` strings masked when `mask_str`), its special-section
    /// entries. Returns whether a maskable string was among the targets.
    #[allow(clippy::too_many_arguments)]
    fn insn_input(
        &self,
        ih: &mut Vec<u8>,
        insn: &Instruction,
        bytes: &[u8],
        here: &[usize],
        meta: &[(u64, u64)],
        func: Option<(usize, u64, u64)>,
        sec: usize,
        branch: bool,
        imm_off: usize,
        imm_size: usize,
        mask_imm: bool,
        mask_str: bool,
    ) -> bool {
        let elf = self.elf;
        let ip = insn.ip();
        let len = insn.len() as u64;
        if here.is_empty() && branch && imm_size > 0 {
            ih.update(&bytes[..imm_off]);
            ih.update(&bytes[imm_off + imm_size..]);
            let target = insn.near_branch_target();
            match func {
                Some((fsec, fs, fe)) if fsec == sec && target >= fs && target < fe => {
                    ih.update(b"self");
                    h_u64(ih, target - fs);
                }
                _ => match elf.symbol_containing(sec, target) {
                    Some(t) => {
                        h_str(ih, b"N", &names::demangle(&elf.symbols[t].name));
                        h_u64(ih, target - elf.symbols[t].value);
                    }
                    None => {
                        h_str(ih, b"A", &names::demangle(&elf.sections[sec].name));
                    }
                },
            }
        } else if mask_imm && imm_size > 0 {
            ih.update(&bytes[..imm_off]);
            ih.update(b"LINE");
            ih.update(&bytes[(imm_off + imm_size).min(bytes.len())..]);
        } else {
            ih.update(bytes);
        }
        let mut saw = false;
        for &id in here {
            let r = elf.relocs[id];
            let adj = x86::addend_adjustment(
                r.r_type,
                r.offset,
                Some(x86::InsnAt {
                    start: ip,
                    len: len as u32,
                    is_call: false,
                    is_jump: false,
                }),
            );
            h_u64(ih, r.offset - ip);
            let mut cx = Tcx {
                mask: mask_str,
                ..Default::default()
            };
            self.hash_target_cx(ih, id, adj, func, &mut cx);
            saw |= cx.saw_line_string;
        }
        for &(_, v) in meta {
            h_u64(ih, v);
        }
        saw
    }

    /// Which instructions load a `__LINE__` argument of a [`LINE_CALLEES`]
    /// callee (see [`crate::linemask`]), for the code `[start, end)` of
    /// `sec`.
    fn line_sites(
        &self,
        insns: &[(Instruction, usize, usize)],
        sec: usize,
        start: u64,
        end: u64,
    ) -> Vec<Option<linemask::Site>> {
        let elf = self.elf;
        let data = elf.data(sec);
        let code = &data[(start as usize).min(data.len())..(end as usize).min(data.len())];
        // This code's relocations: the lookups below search these, not
        // the whole section's (a vmlinux.o `.text` has hundreds of
        // thousands).
        let own = self.relocs_in(sec, start, end);
        let relocs_in = |a: u64, b: u64| -> &[usize] {
            let lo = own.partition_point(|&i| elf.relocs[i].offset < a);
            let hi = lo + own[lo..].partition_point(|&i| elf.relocs[i].offset < b);
            &own[lo..hi]
        };
        let callee_of = |k: usize| -> Option<Vec<u8>> {
            let insn = &insns[k].0;
            let ip = insn.ip();
            if let Some(&id) = relocs_in(ip, ip + insn.len() as u64).first() {
                let r = elf.relocs[id];
                let s = &elf.symbols[r.symbol];
                if !s.is_section() {
                    return Some(s.name.clone());
                }
                let adj = x86::addend_adjustment(
                    r.r_type,
                    r.offset,
                    Some(x86::InsnAt {
                        start: ip,
                        len: insn.len() as u32,
                        is_call: true,
                        is_jump: false,
                    }),
                );
                let tsec = s.section?;
                let off = crate::elf::uoffset_of(s.value, r.addend, adj)?;
                return elf
                    .symbol_containing(tsec, off)
                    .filter(|&t| elf.symbols[t].value == off)
                    .map(|t| elf.symbols[t].name.clone());
            }
            if !matches!(
                insn.op0_kind(),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            ) {
                return None;
            }
            let t = insn.near_branch_target();
            elf.symbol_containing(sec, t)
                .filter(|&x| elf.symbols[x].value == t)
                .map(|x| elf.symbols[x].name.clone())
        };
        // The line of the bug entry of the instruction right after `k`
        // (linemask checks which instruction that must be).
        let bug_line = |k: usize| -> Option<i64> {
            let next = &insns.get(k + 1)?.0;
            self.bug_lines.get(&(sec, next.ip())).copied()
        };
        let relocated = |k: usize| {
            let (insn, io, is) = &insns[k];
            let a = insn.ip() + *io as u64;
            *is > 0 && !relocs_in(a, a + *is as u64).is_empty()
        };
        // The string constant an instruction's relocated immediate points
        // at (`mov $.LC0,%rdi`), for a printk's format and `__FILE__`.
        let string_of = |k: usize| -> Option<Vec<u8>> {
            let (insn, io, is) = &insns[k];
            if *is == 0 {
                return None;
            }
            let a = insn.ip() + *io as u64;
            let &id = relocs_in(a, a + *is as u64).first()?;
            let r = elf.relocs[id];
            let s = &elf.symbols[r.symbol];
            let tsec = s.section?;
            let ps = &elf.sections[tsec];
            if !ps.is_strings() {
                return None;
            }
            let off = crate::elf::uoffset_of(s.value, r.addend, 0)? as usize;
            let tail = elf.data(tsec).get(off..)?;
            let end = tail.iter().position(|&b| b == 0)?;
            Some(tail[..end].to_vec())
        };
        linemask::sites(
            insns,
            code,
            start,
            &linemask::Facts {
                callee_of: &callee_of,
                bug_line: &bug_line,
                relocated: &relocated,
                string_of: &string_of,
                own_file: self.src_base.as_deref(),
            },
        )
    }

    /// What the line-masked checksum of function `sym` leaves out, one
    /// line each, for `diff --explain`.
    pub fn line_masks(&self, sym: usize) -> Vec<String> {
        let elf = self.elf;
        let mut out = Vec::new();
        let mut parts = vec![sym];
        parts.extend(self.children.get(&sym).into_iter().flatten().copied());
        for p in parts {
            let s = &elf.symbols[p];
            let Some(sec) = s.section else { continue };
            let (start, end) = (s.value, s.value.saturating_add(s.size));
            let insns = self.decode(sec, start, end);
            let sites = self.line_sites(&insns, sec, start, end);
            let mut fmt = GasFormatter::new();
            for (k, site) in sites.iter().enumerate() {
                let Some(site) = site else { continue };
                let insn = &insns[k].0;
                let mut text = String::new();
                fmt.format(insn, &mut text);
                out.push(format!(
                    "{}+{:#x}: masked `{}`: {} of {} (argument {}, 0-based: {})",
                    s.display_name(),
                    insn.ip() - start,
                    text,
                    if site.variadic {
                        "a variadic argument equal to the line"
                    } else {
                        "the line argument"
                    },
                    site.callee,
                    site.arg,
                    linemask::arg_place(site.arg)
                ));
            }
            for (k, (insn, _, _)) in insns.iter().enumerate() {
                let ip = insn.ip();
                for &id in self.relocs_in(sec, ip, ip + insn.len() as u64) {
                    let mut sink: Vec<u8> = Vec::new();
                    let mut cx = Tcx::default();
                    self.hash_target_cx(&mut sink, id, 0, None, &mut cx);
                    if cx.saw_line_string {
                        out.push(format!(
                            "{}+{:#x}: masked the line digits of a `{}:<line>` string ({}, instruction {k})",
                            s.display_name(),
                            ip - start,
                            show(self.src_base.as_deref().unwrap_or_default()),
                            crate::dump::reloc_target(elf, &elf.relocs[id]),
                        ));
                    }
                }
            }
        }
        out
    }

    fn decode(&self, sec: usize, start: u64, end: u64) -> Vec<(Instruction, usize, usize)> {
        let data = self.elf.data(sec);
        let (s, e) = (start as usize, (end as usize).min(data.len()));
        if s >= e {
            return Vec::new();
        }
        let mut d = Decoder::with_ip(64, &data[s..e], start, DecoderOptions::NONE);
        let mut insns = Vec::with_capacity((e - s) / 4);
        let mut insn = Instruction::default();
        while d.can_decode() {
            d.decode_out(&mut insn);
            let co = d.get_constant_offsets(&insn);
            let (io, is) = if co.has_immediate() {
                (co.immediate_offset(), co.immediate_size())
            } else {
                (0, 0)
            };
            insns.push((insn, io, is));
        }
        insns
    }

    /// The object this context indexes.
    pub fn elf_ref(&self) -> &'a Elf {
        self.elf
    }

    /// The strict checksum of function `sym` (equal to
    /// `self.function(sym).0`, without the `__LINE__` analysis).
    pub fn strict_function(&self, sym: usize) -> u64 {
        let mut h = Xxh3::new();
        self.function_into(&mut h, None, sym, None);
        h.digest()
    }

    /// The checksums of function `sym` (strict, masked).
    pub fn function(&self, sym: usize) -> (u64, u64) {
        let mut h = Xxh3::new();
        let mut hm = Xxh3::new();
        self.function_into(&mut h, Some(&mut hm), sym, None);
        (h.digest(), hm.digest())
    }

    fn function_into(
        &self,
        h: &mut Xxh3,
        mut hm: Option<&mut Xxh3>,
        sym: usize,
        mut detail: Option<&mut Vec<InsnSig>>,
    ) {
        let elf = self.elf;
        let s = &elf.symbols[sym];
        let Some(sec) = s.section else { return };
        let (start, end) = (s.value, s.value.saturating_add(s.size));
        self.hash_code(
            h,
            hm.as_deref_mut(),
            sec,
            start,
            end,
            Some((sec, start, end)),
            detail.as_deref_mut(),
            true,
        );
        if let Some(children) = self.children.get(&sym) {
            for &c in children {
                let cs = &elf.symbols[c];
                let Some(csec) = cs.section else { continue };
                for x in std::iter::once(&mut *h).chain(hm.as_deref_mut()) {
                    x.update(b"child");
                    h_str(x, b"N", &names::demangle(&cs.name));
                }
                let range = Some((csec, cs.value, cs.value.saturating_add(cs.size)));
                self.hash_code(
                    h,
                    hm.as_deref_mut(),
                    csec,
                    cs.value,
                    cs.value.saturating_add(cs.size),
                    range,
                    detail.as_deref_mut(),
                    true,
                );
            }
        }
    }

    /// Per-instruction signatures of function `sym` (with its `.cold`
    /// parts), for explaining a difference. The hashes are the line-masked
    /// ones, which decide whether a function changed, so the first
    /// differing signature is the first difference that remains after
    /// masking.
    pub fn function_detail(&self, sym: usize) -> Vec<InsnSig> {
        let mut v = Vec::new();
        let mut h = Xxh3::new();
        let mut hm = Xxh3::new();
        self.function_into(&mut h, Some(&mut hm), sym, Some(&mut v));
        v
    }

    /// The checksum of data object `sym`.
    pub fn object(&self, sym: usize) -> u64 {
        let elf = self.elf;
        let s = &elf.symbols[sym];
        let mut h = Xxh3::new();
        h_u64(&mut h, s.size);
        let Some(sec) = s.section else {
            return h.digest();
        };
        let ps = &elf.sections[sec];
        if !ps.is_nobits() {
            let d = elf.data(sec);
            let a = (s.value as usize).min(d.len());
            let b = ((s.value.saturating_add(s.size)) as usize).min(d.len());
            h.update(&d[a..b]);
        }
        for &id in self.relocs_in(sec, s.value, s.value.saturating_add(s.size)) {
            h_u64(&mut h, elf.relocs[id].offset - s.value);
            self.hash_target(&mut h, id, 0, None);
        }
        h.digest()
    }
}

/// A near branch (call, jump, conditional jump, loop) with its target as a
/// displacement in the instruction.
fn is_near_branch(insn: &Instruction) -> bool {
    matches!(
        insn.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    ) && insn.flow_control() != FlowControl::Next
}

fn strip_digits(name: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = name.to_vec();
    while v.last().is_some_and(|b| b.is_ascii_digit()) {
        v.pop();
    }
    v
}

/// Whether a symbol gets a checksum of its own: functions (not prefixes,
/// not `.cold` parts) and data objects, defined and non-empty.
pub fn is_checksummed(elf: &Elf, sym: usize) -> Option<Kind> {
    let s = &elf.symbols[sym];
    if s.section.is_none() || s.name.is_empty() {
        return None;
    }
    if s.is_func() {
        if s.size == 0 || names::prefix_target(&s.name).is_some() || names::is_cold_child(&s.name) {
            return None;
        }
        return Some(Kind::Func);
    }
    if s.is_object() {
        return Some(Kind::Object);
    }
    None
}

/// Compute every checksum of `elf`.
pub fn run(elf: &Elf) -> Result<Checksums> {
    run_with(elf, &LayoutHints::default())
}

/// [`run`] with special-section entry layouts from `--struct-size` and
/// the target's BTF.
pub fn run_with(elf: &Elf, hints: &LayoutHints) -> Result<Checksums> {
    run_ctx(elf, hints).map(|(c, _)| c)
}

/// [`run_with`]: every checksum, and the context that computed them.
fn run_ctx<'a>(elf: &'a Elf, hints: &LayoutHints) -> Result<(Checksums, Ctx<'a>)> {
    let mut ctx = Ctx::with_hints(elf, hints);
    if let Some(e) = ctx.fatal.take() {
        return Err(e);
    }
    let mut out = Checksums::default();
    for s in &elf.symbols {
        match is_checksummed(elf, s.index) {
            Some(Kind::Func) => {
                let (strict, masked) = ctx.function(s.index);
                out.by_sym.insert(
                    s.index,
                    SymChecksum {
                        kind: Kind::Func,
                        strict,
                        masked,
                    },
                );
            }
            Some(Kind::Object) => {
                let v = ctx.object(s.index);
                out.by_sym.insert(
                    s.index,
                    SymChecksum {
                        kind: Kind::Object,
                        strict: v,
                        masked: v,
                    },
                );
            }
            None => {}
        }
    }
    out.objtool = read_objtool_checksums(elf);
    out.warnings = std::mem::take(&mut ctx.warnings);
    Ok((out, ctx))
}

/// The strict checksums of an object, for `diff`.
#[derive(Debug, Default)]
pub struct Strict {
    /// By symbol index: what it is and its strict checksum.
    pub by_sym: HashMap<usize, (Kind, u64)>,
    /// Problems that did not stop the computation.
    pub warnings: Vec<String>,
}

/// The checksum context of `elf`, or the error that makes its
/// checksums meaningless (a special section the user's `--struct-size` or
/// the target's BTF describes, and the object contradicts).
pub fn context<'a>(elf: &'a Elf, hints: &LayoutHints) -> Result<Ctx<'a>> {
    let mut ctx = Ctx::with_hints(elf, hints);
    match ctx.fatal.take() {
        Some(e) => Err(e),
        None => Ok(ctx),
    }
}

/// Every strict checksum of `ctx`'s object. The context computes a
/// function's line-masked checksum on demand ([`Ctx::function`]): `diff`
/// needs it only where the strict ones differ, so the `__LINE__`
/// analysis ([`crate::linemask`]) runs on a few functions instead of
/// every function of a `vmlinux.o`. The strict checksum is the same as
/// [`run_with`]'s (one hashing pass feeds both).
pub fn strict(ctx: &Ctx<'_>) -> Strict {
    let elf = ctx.elf;
    let mut out = Strict::default();
    for s in &elf.symbols {
        match is_checksummed(elf, s.index) {
            Some(Kind::Func) => {
                out.by_sym
                    .insert(s.index, (Kind::Func, ctx.strict_function(s.index)));
            }
            Some(Kind::Object) => {
                out.by_sym
                    .insert(s.index, (Kind::Object, ctx.object(s.index)));
            }
            None => {}
        }
    }
    out.warnings = ctx.warnings.clone();
    out
}

/// objtool's `.discard.sym_checksum`: 16-byte entries, an absolute
/// relocation to the symbol and the 64-bit checksum.
pub fn read_objtool_checksums(elf: &Elf) -> Option<HashMap<usize, u64>> {
    let sec = elf.section_by_name(b".discard.sym_checksum")?;
    let data = elf.data(sec);
    let mut map = HashMap::new();
    for r in elf.relocs_for(sec) {
        let o = r.offset as usize;
        if !o.is_multiple_of(16) {
            continue;
        }
        if let Some(b) = data.get(o + 8..o + 16) {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            map.insert(r.symbol, u64::from_le_bytes(a));
        }
    }
    Some(map)
}

/// Render checksums as text (`checksum` without `--json`).
pub fn render_text(elf: &Elf, c: &Checksums) -> String {
    let mut o = String::new();
    if let Some(ot) = &c.objtool {
        o.push_str(&format!(
            "# object carries objtool checksums (.discard.sym_checksum, {} entries)\n",
            ot.len()
        ));
    }
    for s in &elf.symbols {
        if let Some(v) = c.by_sym.get(&s.index) {
            let kind = match v.kind {
                Kind::Func => "FUNC  ",
                Kind::Object => "OBJECT",
            };
            o.push_str(&format!("{:016x} {kind} {}", v.strict, s.display_name()));
            if v.masked != v.strict {
                o.push_str(&format!(" (line-masked {:016x})", v.masked));
            }
            o.push('\n');
        }
    }
    o
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Render checksums as JSON (`checksum --json`).
pub fn render_json(elf: &Elf, c: &Checksums) -> String {
    let mut items = Vec::new();
    for s in &elf.symbols {
        if let Some(v) = c.by_sym.get(&s.index) {
            let sec = s
                .section
                .map(|x| elf.sections[x].display_name())
                .unwrap_or_default();
            let mut item = format!(
                "{{\"name\":{},\"kind\":\"{}\",\"section\":{},\"checksum\":\"{:016x}\",\"line_masked\":\"{:016x}\"",
                json_str(&show(&s.name)),
                if v.kind == Kind::Func {
                    "function"
                } else {
                    "object"
                },
                json_str(&sec),
                v.strict,
                v.masked
            );
            if let Some(ot) = c.objtool.as_ref().and_then(|m| m.get(&s.index)) {
                item.push_str(&format!(",\"objtool\":\"{ot:016x}\""));
            }
            item.push('}');
            items.push(item);
        }
    }
    format!(
        "{{\"file\":{},\"objtool_checksums\":{},\"symbols\":[{}]}}\n",
        json_str(&elf.path),
        c.objtool.is_some(),
        items.join(",")
    )
}
