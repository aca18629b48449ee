//! Per-symbol checksums: XXH3-64 over what a function or data object *means*,
//! not over its position.
//!
//! For each instruction of a function (decoded with iced-x86):
//!
//! * its bytes, with relocated fields (zero in a relocatable object) and the
//!   displacement of unrelocated direct branches left out;
//! * for each relocation: the field's place, the type, and the target by
//!   *demangled* name plus offset, or by content for string literals and
//!   constant-pool entries;
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
//! Each function also gets a *line-masked* checksum in which the immediate
//! of `mov $imm, %esi/%edx/%ecx` feeding a call to a function that takes
//! `__LINE__` (`__might_sleep`, `lockdep_rcu_suspicious`, ...) is left out:
//! two functions whose checksums differ but whose masked checksums agree
//! differ only by a moved line number.

use std::collections::HashMap;

use iced_x86::{
    Code, Decoder, DecoderOptions, FlowControl, Formatter, GasFormatter, Instruction, OpKind,
    Register,
};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::arch::x86_64::{self as x86, Role, Treatment};
use crate::elf::{Elf, names};
use crate::error::{Result, show};
use crate::special;

/// Functions whose second, third or fourth argument is `__LINE__` when
/// called from the kernel's debugging macros. `printk` is deliberately not
/// here (kpatch has it): a constant argument of a plain `printk` is as
/// likely to be a real change as a line number, and missing a real change
/// is worse than patching a function whose only change is a line.
pub const LINE_CONSUMERS: &[&str] = &[
    "__might_sleep",
    "___might_sleep",
    "__might_resched",
    "__might_fault",
    "__cant_sleep",
    "__cant_migrate",
    "warn_slowpath_fmt",
    "warn_slowpath_null",
    "__warn_printk",
    "lockdep_rcu_suspicious",
    "__btrfs_abort_transaction",
    "__btrfs_handle_fs_error",
    "__btrfs_panic",
    "__ext4_error",
    "__ext4_error_inode",
    "__ext4_error_file",
    "__ext4_std_error",
    "__ext4_abort",
    "__ext4_warning",
    "__ext4_warning_inode",
    "__xfs_printk",
];

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
    /// Its hash.
    pub hash: u64,
    /// Disassembly (AT&T) with relocation targets.
    pub text: String,
}

/// Precomputed per-object state.
pub struct Ctx<'a> {
    elf: &'a Elf,
    relocs: HashMap<usize, Vec<usize>>,
    /// Per section: (code offset, entry hash), sorted.
    meta: HashMap<usize, Vec<(u64, u64)>>,
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
        let mut ctx = Ctx {
            elf,
            relocs: HashMap::new(),
            meta: HashMap::new(),
            children: HashMap::new(),
            warnings: Vec::new(),
        };
        for s in &elf.sections {
            if !s.rela_sections.is_empty() {
                ctx.relocs
                    .insert(s.index, special::sorted_relocs(elf, s.index));
            }
        }
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
        ctx.build_meta();
        for v in ctx.meta.values_mut() {
            v.sort_unstable();
        }
        ctx
    }

    fn relocs_in(&self, sec: usize, start: u64, end: u64) -> &[usize] {
        let Some(all) = self.relocs.get(&sec) else {
            return &[];
        };
        let lo = all.partition_point(|&i| self.elf.relocs[i].offset < start);
        let hi = all.partition_point(|&i| self.elf.relocs[i].offset < end);
        &all[lo..hi]
    }

    /// Hash what relocation `id` points at. `adj` turns a PC-relative
    /// addend into the target offset.
    fn hash_target(&self, h: &mut impl Sink, id: usize, adj: i64, func: Option<(usize, u64, u64)>) {
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
            h_str(h, b"S", &tail[..end]);
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
        let named = if s.is_section() || s.name.is_empty() || names::is_local_label(&s.name) {
            (off >= 0)
                .then(|| elf.resolve_ref(sec, off as u64).map(|t| t.sym))
                .flatten()
        } else {
            Some(r.symbol)
        };
        match named {
            Some(t) => {
                let ts = &elf.symbols[t];
                h_str(h, b"N", &names::demangle(&ts.name));
                h_i64(h, off - ts.value as i64);
            }
            None => {
                h_str(h, b"A", &names::demangle(&ps.name));
                if !ps.is_exec() {
                    h_i64(h, off);
                }
            }
        }
    }

    /// Index the special-section entries by the code they describe.
    fn build_meta(&mut self) {
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
            let relocs = self.relocs.get(&sec).cloned().unwrap_or_default();
            let layout = match special::detect_layout(elf, sec, layouts, &relocs, None) {
                Ok(l) => l,
                Err(e) => {
                    self.warnings.push(format!(
                        "{}: not folded into checksums: {}",
                        s.display_name(),
                        e.message()
                    ));
                    continue;
                }
            };
            let data = elf.data(sec);
            for e in special::entries(elf, sec, layout, &relocs) {
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
                // Unrelocated bytes that carry meaning.
                let raw: &[(u64, u64)] = match (&s.name[..], layout.size) {
                    (b".altinstructions", _) => &[(8, 0)],
                    (b"__bug_table", 12) => &[(10, 12)],
                    (b"__ex_table", _) => &[(8, 12)],
                    (b".parainstructions", _) => &[(8, 10)],
                    _ => &[],
                };
                for &(a, b) in raw {
                    let b = if b == 0 { layout.size } else { b };
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
        let code = &data[s..e];
        let mut d = Decoder::with_ip(64, code, start, DecoderOptions::NONE);
        let mut insns: Vec<(Instruction, usize, usize)> = Vec::with_capacity(code.len() / 4);
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
        let line_flags: Vec<bool> = if hm.is_some() {
            self.line_sites(&insns, sec)
        } else {
            Vec::new()
        };
        let mut fmt = detail.as_ref().map(|_| GasFormatter::new());
        let relocs = self.relocs_in(sec, start, end);
        let mut rc = 0;
        let metas: &[(u64, u64)] = if with_meta {
            self.meta
                .get(&sec)
                .map(|v| {
                    let lo = v.partition_point(|m| m.0 < start);
                    let hi = v.partition_point(|m| m.0 < end);
                    &v[lo..hi]
                })
                .unwrap_or(&[])
        } else {
            &[]
        };
        let mut mc = 0;
        let mut ih: Vec<u8> = Vec::with_capacity(64);
        let mut ihm: Vec<u8> = Vec::with_capacity(64);
        for (k, (insn, imm_off, imm_size)) in insns.iter().enumerate() {
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
            let branch = matches!(
                insn.op0_kind(),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            ) && insn.flow_control() != FlowControl::Next;
            let line = line_flags.get(k).copied().unwrap_or(false);
            ih.clear();
            ihm.clear();
            let mut ihm = if line { Some(&mut ihm) } else { None };
            if here.is_empty() && branch && *imm_size > 0 {
                ih.update(&bytes[..*imm_off]);
                ih.update(&bytes[imm_off + imm_size..]);
                let target = insn.near_branch_target();
                match func {
                    Some((fsec, fs, fe)) if fsec == sec && target >= fs && target < fe => {
                        ih.update(b"self");
                        h_u64(&mut ih, target - fs);
                    }
                    _ => match elf.symbol_containing(sec, target) {
                        Some(t) => {
                            h_str(&mut ih, b"N", &names::demangle(&elf.symbols[t].name));
                            h_u64(&mut ih, target - elf.symbols[t].value);
                        }
                        None => {
                            h_str(&mut ih, b"A", &names::demangle(&elf.sections[sec].name));
                        }
                    },
                }
            } else {
                ih.update(bytes);
                if let Some(m) = ihm.as_deref_mut() {
                    m.update(&bytes[..*imm_off]);
                    m.update(b"LINE");
                }
            }
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
                h_u64(&mut ih, r.offset - ip);
                self.hash_target(&mut ih, id, adj, func);
                if let Some(m) = ihm.as_deref_mut() {
                    h_u64(m, r.offset - ip);
                    self.hash_target(m, id, adj, func);
                }
            }
            for &(_, v) in meta {
                h_u64(&mut ih, v);
                if let Some(m) = ihm.as_deref_mut() {
                    h_u64(m, v);
                }
            }
            let ihash = xxh3_64(&ih);
            h_u64(h, ihash);
            if let Some(hm) = hm.as_deref_mut() {
                h_u64(hm, ihm.map_or(ihash, |m| xxh3_64(m)));
            }
            if let Some(dv) = detail.as_deref_mut() {
                let mut text = String::new();
                if let Some(f) = fmt.as_mut() {
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
                dv.push(InsnSig {
                    offset: ip - func.map_or(start, |f| f.1),
                    hash: ihash,
                    text,
                });
            }
        }
    }

    /// Which instructions load a `__LINE__` argument: `mov $imm32` into
    /// esi/edx/ecx, followed (before any other call) by a call to a
    /// `LINE_CONSUMERS` function.
    fn line_sites(&self, insns: &[(Instruction, usize, usize)], sec: usize) -> Vec<bool> {
        let elf = self.elf;
        let mut flags = vec![false; insns.len()];
        for (k, (insn, _, imm_size)) in insns.iter().enumerate() {
            let is_mov = matches!(insn.code(), Code::Mov_r32_imm32 | Code::Mov_rm32_imm32)
                && insn.op0_kind() == OpKind::Register
                && matches!(
                    insn.op0_register(),
                    Register::ESI | Register::EDX | Register::ECX
                )
                && *imm_size == 4;
            if !is_mov {
                continue;
            }
            for (next, _, _) in insns.iter().skip(k + 1).take(16) {
                if next.flow_control() != FlowControl::Call {
                    continue;
                }
                let ip = next.ip();
                let callee = self
                    .relocs_in(sec, ip, ip + next.len() as u64)
                    .iter()
                    .map(|&id| elf.symbols[elf.relocs[id].symbol].name.as_slice())
                    .next();
                if let Some(name) = callee
                    && LINE_CONSUMERS.iter().any(|c| c.as_bytes() == name)
                {
                    flags[k] = true;
                }
                break;
            }
        }
        flags
    }

    /// The object this context indexes.
    pub fn elf_ref(&self) -> &'a Elf {
        self.elf
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
    /// parts), for explaining a difference.
    pub fn function_detail(&self, sym: usize) -> Vec<InsnSig> {
        let mut v = Vec::new();
        let mut h = Xxh3::new();
        self.function_into(&mut h, None, sym, Some(&mut v));
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
    let ctx = Ctx::new(elf);
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
    out.warnings = ctx.warnings;
    Ok(out)
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
