//! Settling an ambiguous sympos by the target's bytes.
//!
//! When several symbols of the target object carry the name a klp
//! relocation needs and neither file blocks nor neighbours tell which one
//! the patched unit means ([`crate::target`]), the original object still
//! holds that unit's own definition. The target's copy of it is the one
//! whose bytes are the original's: the same instructions (a function) or
//! the same contents (data), pointing at the same things. klpwrite compares
//! every candidate with the original's definition and takes the result as
//! evidence only when exactly one candidate matches; none or several leave
//! the refusal in place (an all-zero object, or an inline helper that
//! several files copied, matches every copy).
//!
//! The target's bytes come from the symbol source itself (a module `.ko`
//! or a vmlinux ELF given to `--symbols`), or, for a `/proc/kallsyms`
//! dump, from the kernel image given to `--image` (an uncompressed vmlinux
//! or a bzImage/vmlinuz, [`crate::image`]). A kallsyms address is the
//! running kernel's: the image's link address plus the KASLR offset, which
//! `_text` gives (the per-CPU symbols, zero-based, are not moved). A `.ko`
//! is laid out here at made-up addresses (every allocated section in turn,
//! every undefined name at an address of its own) and its relocations are
//! applied when its bytes are read, so the module and the image are
//! compared the same way.
//!
//! What the comparison tolerates is what the final link changes and
//! nothing else:
//!
//! * a relocated field: its value differs, so instead of its bytes the
//!   thing it points at is compared: the same name (at the same offset in
//!   it), the same string literal, the same merged constant. A name the
//!   target's symbols do not list, or anonymous data, cannot be checked
//!   and is accepted;
//! * the `call __fentry__` at a function's start (a NOP in the image);
//! * direct jumps, conditional jumps and calls: the same mnemonic, not the
//!   same encoding. Debian builds the kernel without
//!   `-ffunction-sections`, so a jump to a nearby function of the same file
//!   is relaxed by the assembler from rel32 to rel8, and the original
//!   object (built with it for livepatching) keeps the rel32 form. A jump
//!   inside the function must land on the same instruction; one outside
//!   must reach the same symbol;
//! * after the last instruction, up to the next symbol of a kallsyms dump
//!   (which gives no sizes), only alignment padding (NOPs, INT3).
//!
//! Everything else must be byte for byte the same: every other
//! instruction, the size (the `.ko`'s `st_size`, or what fits before the
//! next kallsyms symbol), the kind (function or data).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Formatter, GasFormatter, Instruction, Mnemonic,
};

use crate::arch::x86_64 as x86;
use crate::elf::consts::*;
use crate::elf::{Elf, Reloc, names};
use crate::error::{Error, ErrorKind, Result, show};
use crate::target::TargetObject;

/// Where the pseudo-layout of a `.ko` starts (inside the x86-64 module
/// area, so 32-bit sign-extended and PC-relative fields hold it).
const KO_BASE: u64 = 0xffff_ffff_a000_0000;

/// The bytes of one target object and the addresses of its symbols.
pub struct Space {
    kind: Kind,
    /// Address of each symbol of the target object (index into
    /// `TargetObject::syms`), in the space's own addresses.
    addr: Vec<Option<u64>>,
    /// Its size, when the source gives one (ELF `st_size`).
    size: Vec<Option<u64>>,
    /// Distance to the next higher address of any symbol (kallsyms).
    span: Vec<Option<u64>>,
    /// Every name the space knows, with its addresses.
    by_name: HashMap<Vec<u8>, Vec<u64>>,
    /// For messages: where the bytes come from.
    pub what: String,
}

enum Kind {
    /// A linked kernel: section addresses are link addresses; the space's
    /// addresses are the running kernel's (link + `slide` in the upper
    /// half).
    Linked { elf: Arc<Elf>, slide: u64 },
    /// A relocatable object laid out at made-up addresses.
    Rel {
        elf: Arc<Elf>,
        base: Vec<Option<u64>>,
        undef: HashMap<Vec<u8>, u64>,
    },
}

impl fmt::Debug for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Space({})", self.what)
    }
}

fn align_up(v: u64, a: u64) -> u64 {
    if a <= 1 {
        v
    } else {
        v.div_ceil(a).saturating_mul(a)
    }
}

impl Space {
    /// The bytes of an ELF symbol source (`obj` was read from `elf`): a
    /// `.ko` (or plain `.o`) laid out here, or a linked vmlinux.
    pub fn of_elf(elf: Arc<Elf>, obj: &TargetObject) -> Space {
        let mut by_name: HashMap<Vec<u8>, Vec<u64>> = HashMap::new();
        let n = obj.syms.len();
        let size: Vec<Option<u64>> = obj
            .syms
            .iter()
            .map(|s| s.elf_sym.map(|e| elf.symbols[e].size))
            .collect();
        if elf.e_type == ET_REL {
            let mut base = vec![None; elf.sections.len()];
            let mut next = KO_BASE;
            for s in &elf.sections {
                if s.is_alloc() && s.sh_size > 0 {
                    next = align_up(next, s.sh_addralign.max(1));
                    base[s.index] = Some(next);
                    next = next.saturating_add(s.sh_size);
                }
            }
            next = align_up(next.saturating_add(0x1000), 0x1000);
            let mut undef = HashMap::new();
            let sym_addr = |s: &crate::elf::Symbol| -> Option<u64> {
                if s.st_shndx == SHN_ABS {
                    return Some(s.value);
                }
                s.section
                    .and_then(|x| base[x])
                    .map(|b| b.wrapping_add(s.value))
            };
            for s in &elf.symbols {
                if s.name.is_empty() || s.is_section() || s.is_file() {
                    continue;
                }
                if s.is_undef() {
                    let a = *undef.entry(s.name.clone()).or_insert_with(|| {
                        next = next.wrapping_add(16);
                        next
                    });
                    by_name.entry(s.name.clone()).or_default().push(a);
                } else if let Some(a) = sym_addr(s) {
                    by_name.entry(s.name.clone()).or_default().push(a);
                }
            }
            let addr = obj
                .syms
                .iter()
                .map(|s| s.elf_sym.and_then(|e| sym_addr(&elf.symbols[e])))
                .collect();
            let what = elf.path.clone();
            return Space {
                kind: Kind::Rel { elf, base, undef },
                addr,
                size,
                span: vec![None; n],
                by_name,
                what,
            };
        }
        for s in &elf.symbols {
            if !s.name.is_empty() && !s.is_section() && !s.is_file() && !s.is_undef() {
                by_name.entry(s.name.clone()).or_default().push(s.value);
            }
        }
        let addr = obj.syms.iter().map(|s| Some(s.addr)).collect();
        let what = elf.path.clone();
        Space {
            kind: Kind::Linked { elf, slide: 0 },
            addr,
            size,
            span: spans(obj),
            by_name,
            what,
        }
    }

    /// The bytes of the kernel image `elf` (link addresses, any symbols
    /// ignored) for the vmlinux symbols `obj` of a kallsyms dump. The
    /// KASLR offset is `_text` in the dump minus `_text` in the image (its
    /// symbol, else the start of `.text`); `linux_banner`, when the dump
    /// has it, must read "Linux version " in the image, or the image is not
    /// the dump's kernel.
    pub fn of_image(elf: Arc<Elf>, obj: &TargetObject) -> Result<Space> {
        if elf.e_type == ET_REL {
            return Err(Error::new(
                ErrorKind::Usage,
                "a relocatable object, not a linked kernel image",
            )
            .in_file(&elf.path)
            .hint("pass the vmlinux or vmlinuz of the kernel the kallsyms dump was read from"));
        }
        let find = |n: &[u8]| obj.named(n).first().map(|&i| obj.syms[i].addr);
        let run_text = find(b"_text").or_else(|| find(b"_stext"));
        let link_text = elf
            .symbols_named(b"_text")
            .iter()
            .chain(elf.symbols_named(b"_stext"))
            .map(|&i| &elf.symbols[i])
            .find(|s| !s.is_undef())
            .map(|s| s.value)
            .or_else(|| {
                elf.section_by_name(b".text")
                    .map(|t| elf.sections[t].sh_addr)
            });
        let slide = match (run_text, link_text) {
            (Some(r), Some(l)) => r.wrapping_sub(l),
            _ => 0,
        };
        let mut by_name: HashMap<Vec<u8>, Vec<u64>> = HashMap::new();
        for s in &obj.syms {
            by_name.entry(s.name.clone()).or_default().push(s.addr);
        }
        let n = obj.syms.len();
        let space = Space {
            kind: Kind::Linked { elf, slide },
            addr: obj.syms.iter().map(|s| Some(s.addr)).collect(),
            size: vec![None; n],
            span: spans(obj),
            by_name,
            what: String::new(),
        };
        let path = match &space.kind {
            Kind::Linked { elf, .. } => elf.path.clone(),
            Kind::Rel { elf, .. } => elf.path.clone(),
        };
        if let Some(b) = find(b"linux_banner") {
            let want = b"Linux version ";
            if space.read(b, want.len()).as_deref() != Some(&want[..]) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "the image is not the kernel of kallsyms dump {}: its linux_banner ({:#x}, KASLR offset {:#x} from _text) does not read \"Linux version\" there",
                        obj.source, b, slide
                    ),
                )
                .in_file(&path)
                .hint("pass the vmlinux or vmlinuz of the kernel the kallsyms dump was read from"));
            }
        }
        Ok(Space {
            what: format!("{path} (KASLR offset {slide:#x})"),
            ..space
        })
    }

    fn elf(&self) -> &Elf {
        match &self.kind {
            Kind::Linked { elf, .. } | Kind::Rel { elf, .. } => elf,
        }
    }

    /// A runtime address (upper half) moved by the KASLR offset, for an
    /// absolute value read from the image.
    fn slid(&self, v: u64) -> u64 {
        match self.kind {
            Kind::Linked { slide, .. } if v >> 63 == 1 => v.wrapping_add(slide),
            _ => v,
        }
    }

    /// Where a PC-relative field of value `v` read at (or relative to)
    /// space address `from` points. The image holds link-time values: the
    /// target is computed at link addresses and then moved like an
    /// absolute value. A zero-based per-CPU symbol (x86-64 before 6.15:
    /// `%gs:sym(%rip)`) is not moved by KASLR: the kernel's boot-time
    /// relocation subtracts the offset again from such fields
    /// (arch/x86/tools/relocs.c do_reloc64: PC32 to a per-CPU symbol goes
    /// to relocs32neg), and kallsyms lists it zero-based; taking `from`
    /// as it runs would put the target `slide` bytes off (review of
    /// d5eafcc: the right kernel refused from a KASLR kallsyms dump).
    fn pcrel(&self, from: u64, v: u64) -> u64 {
        match self.kind {
            Kind::Linked { slide, .. } if from >> 63 == 1 => {
                self.slid(from.wrapping_sub(slide).wrapping_add(v))
            }
            _ => from.wrapping_add(v),
        }
    }

    /// The section holding `addr`, and the offset of `addr` in it.
    fn locate(&self, addr: u64) -> Option<(usize, u64)> {
        let elf = self.elf();
        let (addr, base): (u64, Box<dyn Fn(usize) -> Option<u64>>) = match &self.kind {
            Kind::Linked { slide, .. } => {
                let link = if addr >> 63 == 1 {
                    addr.wrapping_sub(*slide)
                } else {
                    addr
                };
                (
                    link,
                    Box::new(|i: usize| {
                        let s = &elf.sections[i];
                        (s.is_alloc() && !s.is_rela()).then_some(s.sh_addr)
                    }),
                )
            }
            Kind::Rel { base, .. } => (addr, Box::new(|i: usize| base[i])),
        };
        elf.sections.iter().find_map(|s| {
            let b = base(s.index)?;
            (addr >= b && addr - b < s.sh_size).then_some((s.index, addr - b))
        })
    }

    /// How many bytes the section holding `addr` has from there on.
    fn room(&self, addr: u64) -> u64 {
        self.locate(addr)
            .map_or(0, |(sec, off)| self.elf().sections[sec].sh_size - off)
    }

    /// `len` bytes at `addr`, relocated (a `.ko`) or as linked (an image);
    /// zeros for NOBITS. None when the range is not inside one section.
    pub fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let elf = self.elf();
        let (sec, start) = self.locate(addr)?;
        if start + len as u64 > elf.sections[sec].sh_size {
            return None;
        }
        let s = &elf.sections[sec];
        let mut out = if s.is_nobits() {
            vec![0u8; len]
        } else {
            elf.data(sec)
                .get(start as usize..start as usize + len)?
                .to_vec()
        };
        if let Kind::Rel { base, undef, .. } = &self.kind {
            let end = start + len as u64;
            for r in elf.relocs_for(sec) {
                let Some(w) = x86::reloc_width(r.r_type).filter(|&w| w > 0) else {
                    continue;
                };
                if r.offset + w as u64 <= start || r.offset >= end {
                    continue;
                }
                let sym = &elf.symbols[r.symbol];
                let s_addr = if sym.is_undef() {
                    undef.get(&sym.name).copied()
                } else if sym.st_shndx == SHN_ABS {
                    Some(sym.value)
                } else {
                    sym.section
                        .and_then(|x| base[x])
                        .map(|b| b.wrapping_add(sym.value))
                };
                let Some(s_addr) = s_addr else { continue };
                let p = base[sec].unwrap_or(0) + r.offset;
                let mut v = s_addr.wrapping_add(r.addend as u64);
                if x86::reloc_is_pcrel(r.r_type) {
                    v = v.wrapping_sub(p);
                }
                let bytes = v.to_le_bytes();
                for k in 0..w as u64 {
                    let at = r.offset + k;
                    if at >= start && at < end {
                        out[(at - start) as usize] = bytes[k as usize];
                    }
                }
            }
        }
        Some(out)
    }

    /// Compare candidate `cand` (index into the target object's symbols)
    /// with the original object's definition `osym`.
    pub fn compare(&self, t: &TargetObject, cand: usize, orig: &Elf, osym: usize) -> Verdict {
        let o = &orig.symbols[osym];
        let letter = t.syms[cand].letter;
        let text = matches!(letter, 't' | 'T' | 'w' | 'W');
        let Some(addr) = self.addr.get(cand).copied().flatten() else {
            return Verdict::Unknown("its address is not in the target's bytes".into());
        };
        let Some(sec) = o.section else {
            return Verdict::Unknown("the original does not define it".into());
        };
        if o.size == 0 {
            return Verdict::Unknown("the original's definition has size 0".into());
        }
        if o.size > MAX_SIZE
            || o.value
                .checked_add(o.size)
                .is_none_or(|e| e > orig.sections[sec].sh_size)
        {
            return Verdict::Unknown("the original's definition lies outside its section".into());
        }
        if o.is_func() != text {
            return Verdict::Differs(format!(
                "a {} in the target, a {} in the original",
                if text { "function" } else { "data object" },
                if o.is_func() {
                    "function"
                } else {
                    "data object"
                }
            ));
        }
        let size = self.size.get(cand).copied().flatten();
        let span = self.span.get(cand).copied().flatten();
        if o.is_func() {
            self.compare_func(orig, osym, sec, addr, size, span)
        } else if o.is_object() {
            if let Some(s) = size
                && s != o.size
            {
                return Verdict::Differs(format!("size {s}, the original's {}", o.size));
            }
            // kallsyms has no sizes: the next symbol may start inside the
            // original's length, a shorter object, or a label inside one.
            let fits = span.map_or(o.size, |s| s.min(o.size));
            self.compare_data(orig, sec, o.value, o.size, addr, fits)
        } else {
            Verdict::Unknown("the original's symbol is neither a function nor an object".into())
        }
    }

    /// Data: the same bytes outside relocated fields, and relocated fields
    /// that point at the same things. Only the first `fits` bytes are the
    /// candidate's for sure: a difference there is one, a difference past
    /// it is no evidence, and no difference at all is evidence only when
    /// the whole original fits.
    fn compare_data(
        &self,
        orig: &Elf,
        sec: usize,
        value: u64,
        size: u64,
        addr: u64,
        fits: u64,
    ) -> Verdict {
        let os = &orig.sections[sec];
        let obytes = if os.is_nobits() {
            vec![0u8; size as usize]
        } else {
            match orig.data(sec).get(value as usize..(value + size) as usize) {
                Some(b) => b.to_vec(),
                None => return Verdict::Unknown("the original's bytes are cut short".into()),
            }
        };
        let Some(cbytes) = self
            .read(addr, size as usize)
            .or_else(|| self.read(addr, fits as usize))
        else {
            return Verdict::Unknown(format!("{addr:#x} is not in {}", self.what));
        };
        let have = cbytes.len() as u64;
        let relocs = relocs_in(orig, sec, value, value + size);
        let mut masked = vec![false; size as usize];
        for r in &relocs {
            let w = x86::reloc_width(r.r_type).unwrap_or(0) as u64;
            for k in r.offset..(r.offset + w).min(value + size) {
                masked[(k - value) as usize] = true;
            }
        }
        // The first difference: (offset, why).
        let mut first: Option<(u64, String)> = (0..have as usize)
            .find(|&k| !masked[k] && obytes[k] != cbytes[k])
            .map(|k| {
                (
                    k as u64,
                    format!(
                        "byte {k} is {:#04x}, the original's {:#04x}",
                        cbytes[k], obytes[k]
                    ),
                )
            });
        for r in &relocs {
            let at = r.offset - value;
            if first.as_ref().is_some_and(|f| f.0 <= at) {
                break;
            }
            let Some(v) = self.field(&cbytes, at as usize, r.r_type) else {
                continue;
            };
            let target = if x86::reloc_is_pcrel(r.r_type) {
                self.pcrel(addr + at, v)
            } else {
                self.slid(v)
            };
            let want = orig_ref(orig, r, 0);
            if let Err(why) = self.check_ref(&want, target, r.r_type) {
                first = Some((at, format!("at +{at}: {why}")));
            }
        }
        match first {
            Some((at, why)) if at < fits => Verdict::Differs(why),
            _ if fits < size => Verdict::Unknown(format!(
                "another symbol starts at +{fits}, inside the original's {size} bytes"
            )),
            Some((_, why)) => Verdict::Differs(why),
            None => Verdict::Same,
        }
    }

    /// The sign-extended (or, `R_X86_64_32`, zero-extended) value of a
    /// relocated field of `bytes`.
    fn field(&self, bytes: &[u8], at: usize, r_type: u32) -> Option<u64> {
        let w = x86::reloc_width(r_type)? as usize;
        let b = bytes.get(at..at + w)?;
        Some(match w {
            8 => u64::from_le_bytes(b.try_into().ok()?),
            4 => {
                let v = u32::from_le_bytes(b.try_into().ok()?);
                if r_type == x86::R_X86_64_32 {
                    v as u64
                } else {
                    v as i32 as i64 as u64
                }
            }
            2 => i16::from_le_bytes(b.try_into().ok()?) as i64 as u64,
            1 => b[0] as i8 as i64 as u64,
            _ => return None,
        })
    }

    /// Whether `target` is what the original's relocation meant.
    fn check_ref(&self, want: &Ref, target: u64, r_type: u32) -> std::result::Result<(), String> {
        let narrow = !x86::reloc_is_pcrel(r_type) && x86::reloc_width(r_type) == Some(4);
        let same = |a: u64, b: u64| {
            if narrow { a as u32 == b as u32 } else { a == b }
        };
        match want {
            Ref::Any => Ok(()),
            Ref::Sym(name, off) => match self.by_name.get(name) {
                None => Ok(()), // the target does not list it: nothing to check
                Some(addrs) => {
                    if addrs
                        .iter()
                        .any(|&a| same(a.wrapping_add(*off as u64), target))
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "points at {target:#x}, not at {}{}",
                            show(name),
                            if *off != 0 {
                                format!("{off:+}")
                            } else {
                                String::new()
                            }
                        ))
                    }
                }
            },
            Ref::Bytes(b, what) => match self.read(target, b.len()) {
                Some(c) if c == *b => Ok(()),
                _ => Err(format!(
                    "points at {target:#x}, not at the same {what} as the original"
                )),
            },
        }
    }

    fn compare_func(
        &self,
        orig: &Elf,
        osym: usize,
        sec: usize,
        addr: u64,
        size: Option<u64>,
        span: Option<u64>,
    ) -> Verdict {
        let o = &orig.symbols[osym];
        let Some(code) = orig
            .data(sec)
            .get(o.value as usize..(o.value + o.size) as usize)
        else {
            return Verdict::Unknown("the original's bytes are cut short".into());
        };
        // Without a size, up to the next symbol (or the section's end).
        // (Alignment padding is shorter than a page.)
        let Some(room) = size.or(span.map(|s| s.min(self.room(addr)).min(o.size + 4096))) else {
            return Verdict::Unknown("its size is not known (the last symbol)".into());
        };
        // The linked function is never longer than the original: relaxed
        // jumps only make it shorter.
        if let Some(s) = size
            && s > o.size
        {
            return Verdict::Differs(format!("size {s}, the original's {}", o.size));
        }
        let Some(cbytes) = self.read(addr, room as usize) else {
            return Verdict::Unknown(format!("{addr:#x} is not in {}", self.what));
        };
        let oins = crate::arch::x86_64::decode_all(code, o.value);
        if oins.iter().any(|i| i.is_invalid()) {
            return Verdict::Unknown("the original's code does not decode".into());
        }
        // As many instructions as the original has, or as fit.
        let mut cins = Vec::with_capacity(oins.len());
        let mut d = Decoder::with_ip(64, &cbytes, addr, DecoderOptions::NONE);
        // Whether the bytes ran out (rather than stopped decoding) before
        // the original's last instruction: an instruction is at most 15
        // bytes, a shorter rest may hold a cut one.
        let mut ran_out = false;
        while cins.len() < oins.len() {
            if !d.can_decode() {
                ran_out = true;
                break;
            }
            let i = d.decode();
            if i.is_invalid() {
                ran_out = room - (i.ip() - addr) < 15;
                break;
            }
            cins.push(i);
        }
        let cend = d.position() as u64;
        let oidx: HashMap<u64, usize> = oins.iter().enumerate().map(|(k, i)| (i.ip(), k)).collect();
        let cidx: HashMap<u64, usize> = cins.iter().enumerate().map(|(k, i)| (i.ip(), k)).collect();
        let relocs = relocs_in(orig, sec, o.value, o.value + o.size);
        let mut ri = 0;
        for (k, (oi, ci)) in oins.iter().zip(&cins).enumerate() {
            let (ostart, oend) = (oi.ip(), oi.ip() + oi.len() as u64);
            while ri < relocs.len() && relocs[ri].offset < ostart {
                ri += 1;
            }
            let mine: Vec<&Reloc> = relocs[ri..]
                .iter()
                .take_while(|r| r.offset < oend)
                .copied()
                .collect();
            let at = |i: &Instruction| format!("instruction {k} (+{:#x})", i.ip() - addr);
            // Only the call: ftrace's own code also loads __fentry__'s
            // address (ftrace_make_nop: `cmp $__fentry__,%rdx`), and the
            // image keeps that as it is.
            if oi.mnemonic() == Mnemonic::Call
                && mine
                    .iter()
                    .any(|r| orig.symbols[r.symbol].name == b"__fentry__")
            {
                if ci.len() != oi.len() || !matches!(ci.mnemonic(), Mnemonic::Call | Mnemonic::Nop)
                {
                    return Verdict::Differs(format!(
                        "{}: {} where the original calls __fentry__",
                        at(ci),
                        text(ci)
                    ));
                }
                continue;
            }
            if is_near_branch(oi) {
                if !is_near_branch(ci) || ci.mnemonic() != oi.mnemonic() {
                    return Verdict::Differs(format!(
                        "{}: {} where the original has {}",
                        at(ci),
                        text(ci),
                        text(oi)
                    ));
                }
                let ot = oi.near_branch_target();
                let ct = ci.near_branch_target();
                if let Some(r) = mine.first() {
                    let want = orig_ref(orig, r, oend as i64 - r.offset as i64);
                    if let Err(why) = self.check_ref(&want, ct, r.r_type) {
                        return Verdict::Differs(format!("{}: {why}", at(ci)));
                    }
                } else if let Some(&ok) = oidx.get(&ot) {
                    if cidx.get(&ct) != Some(&ok) {
                        return Verdict::Differs(format!(
                            "{}: {} to another instruction than the original's",
                            at(ci),
                            text(ci)
                        ));
                    }
                } else if ct.wrapping_sub(addr) != ot.wrapping_sub(o.value) {
                    return Verdict::Differs(format!(
                        "{}: {} to another place than the original's",
                        at(ci),
                        text(ci)
                    ));
                }
                continue;
            }
            if oi.code() != ci.code() || oi.len() != ci.len() {
                return Verdict::Differs(format!(
                    "{}: {} where the original has {}",
                    at(ci),
                    text(ci),
                    text(oi)
                ));
            }
            let ob = &code[(ostart - o.value) as usize..(oend - o.value) as usize];
            let coff = (ci.ip() - addr) as usize;
            let cb = &cbytes[coff..coff + ci.len()];
            let mut masked = vec![false; ob.len()];
            for r in &mine {
                let w = x86::reloc_width(r.r_type).unwrap_or(0) as u64;
                for b in r.offset..(r.offset + w).min(oend) {
                    masked[(b - ostart) as usize] = true;
                }
            }
            if (0..ob.len()).any(|b| !masked[b] && ob[b] != cb[b]) {
                return Verdict::Differs(format!(
                    "{}: {} differs from the original's",
                    at(ci),
                    text(ci)
                ));
            }
            for r in &mine {
                let f = (r.offset - ostart) as usize;
                let Some(v) = self.field(cb, f, r.r_type) else {
                    continue;
                };
                let target = if x86::reloc_is_pcrel(r.r_type) {
                    self.pcrel(ci.ip() + ci.len() as u64, v)
                } else {
                    self.slid(v)
                };
                let want = orig_ref(orig, r, oend as i64 - r.offset as i64);
                if let Err(why) = self.check_ref(&want, target, r.r_type) {
                    return Verdict::Differs(format!("{}: {why}", at(ci)));
                }
            }
        }
        if cins.len() < oins.len() && size.is_none() && ran_out {
            // The next kallsyms symbol may be a label inside the function.
            return Verdict::Unknown(format!(
                "another symbol starts at +{room}, after {} of the original's {} instructions",
                cins.len(),
                oins.len()
            ));
        }
        if cins.len() < oins.len() {
            return Verdict::Differs(format!(
                "ends after {} of the original's {} instructions",
                cins.len(),
                oins.len()
            ));
        }
        if let Some(s) = size
            && cend != s
        {
            return Verdict::Differs(format!(
                "the original's instructions take {cend} of its {s} bytes"
            ));
        }
        // Up to the next symbol (a kallsyms dump: with a size the loop
        // has nothing left) only alignment padding. Code there is no proof
        // of a difference: kallsyms does not list every body in .text (a
        // __weak definition that a strong one overrides keeps its bytes
        // and loses its symbol; 6.1: arch_cpu_idle_prepare after
        // build_policy.o's functions), so it leaves the candidate unknown,
        // which never settles a sympos.
        while d.can_decode() {
            let i = d.decode();
            if !(matches!(i.mnemonic(), Mnemonic::Nop | Mnemonic::Int3)) {
                return Verdict::Unknown(format!(
                    "code follows the original's last instruction (at +{:#x}) before the next kallsyms symbol: a body kallsyms does not list, or a longer function",
                    i.ip() - addr
                ));
            }
        }
        Verdict::Same
    }
}

/// Distance from each symbol to the next higher symbol address.
fn spans(obj: &TargetObject) -> Vec<Option<u64>> {
    let mut addrs: Vec<u64> = obj.syms.iter().map(|s| s.addr).collect();
    addrs.sort_unstable();
    addrs.dedup();
    obj.syms
        .iter()
        .map(|s| {
            let i = addrs.partition_point(|&a| a <= s.addr);
            addrs.get(i).map(|&n| n - s.addr)
        })
        .collect()
}

/// An instruction in AT&T syntax, for messages.
fn text(i: &Instruction) -> String {
    let mut f = GasFormatter::new();
    let mut out = String::new();
    f.format(i, &mut out);
    out
}

fn is_near_branch(i: &Instruction) -> bool {
    matches!(
        i.flow_control(),
        FlowControl::Call | FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
    ) && crate::arch::x86_64::has_near_branch_operand(i)
}

/// The relocations of `sec` in `[from, to)`, by offset.
fn relocs_in(elf: &Elf, sec: usize, from: u64, to: u64) -> Vec<&Reloc> {
    let mut v: Vec<&Reloc> = elf
        .relocs_for(sec)
        .filter(|r| r.offset >= from && r.offset < to && r.r_type != x86::R_X86_64_NONE)
        .collect();
    v.sort_by_key(|r| r.offset);
    v
}

/// What a relocated field of the original points at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ref {
    /// A named symbol, at an offset in it.
    Sym(Vec<u8>, i64),
    /// Bytes that must be there: a string literal, a merged constant.
    Bytes(Vec<u8>, &'static str),
    /// Anonymous data: not checked.
    Any,
}

/// What the original's relocation `r` refers to; `adj` is the distance from
/// the field to the end of its instruction for a PC-relative field in code
/// (the instruction refers to symbol + addend + adj).
///
/// A named symbol is compared by name, except a local label (`.LC3`: its
/// number is the file's own, the target's copy may have another) and
/// anything in a merged section (string literals, `.rodata.cst8`
/// constants: the link may share them between files), which are compared
/// by content.
fn orig_ref(orig: &Elf, r: &Reloc, adj: i64) -> Ref {
    let s = &orig.symbols[r.symbol];
    let adj = if x86::reloc_is_pcrel(r.r_type) {
        adj
    } else {
        0
    };
    let off = r.addend + adj;
    let merged = s
        .section
        .is_some_and(|x| orig.sections[x].sh_flags & SHF_MERGE != 0);
    if !s.is_section() && !merged && !names::is_local_label(&s.name) {
        return Ref::Sym(s.name.clone(), off);
    }
    let Some(sec) = s.section else {
        return Ref::Any;
    };
    let Ok(at) = u64::try_from(s.value as i64 + off) else {
        return Ref::Any;
    };
    let x = &orig.sections[sec];
    if x.sh_flags & SHF_STRINGS != 0 {
        let data = orig.data(sec);
        // A label's string ends at its NUL: an offset past it is an end
        // pointer the compiler folded (lib/vsprintf.c resource_string:
        // `cmp $.LC41+0xa,%rdx` where .LC41 is " flags"), and the linker's
        // string merging puts anything after the string. It cannot be
        // checked.
        if names::is_local_label(&s.name)
            && let Some(label) = data.get(s.value as usize..)
            && let Some(len) = label.iter().position(|&b| b == 0)
            && off > len as i64
        {
            return Ref::Any;
        }
        if let Some(rest) = data.get(at as usize..)
            && let Some(n) = rest.iter().position(|&b| b == 0)
        {
            return Ref::Bytes(rest[..=n].to_vec(), "string");
        }
        return Ref::Any;
    }
    if x.sh_flags & SHF_MERGE != 0 && x.sh_entsize > 0 {
        // The constant the instruction loads: from `at` to the end of its
        // entry (an offset into an entry reads the rest of it).
        let end = (at / x.sh_entsize + 1) * x.sh_entsize;
        if let Some(b) = orig.data(sec).get(at as usize..end as usize) {
            return Ref::Bytes(b.to_vec(), "constant");
        }
        return Ref::Any;
    }
    let named = |t: &crate::elf::Symbol| !t.name.is_empty() && !names::is_local_label(&t.name);
    match orig.symbol_containing(sec, at) {
        Some(i) if named(&orig.symbols[i]) => {
            let t = &orig.symbols[i];
            Ref::Sym(t.name.clone(), (at - t.value) as i64)
        }
        _ => {
            // The start of a named symbol of size 0, or nothing named.
            match orig
                .section_symbols(sec)
                .iter()
                .map(|&i| &orig.symbols[i])
                .find(|t| t.value == at && named(t))
            {
                Some(t) => Ref::Sym(t.name.clone(), 0),
                None => Ref::Any,
            }
        }
    }
}

/// How one candidate compares with the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its bytes are the original's.
    Same,
    /// They differ (why).
    Differs(String),
    /// It cannot be compared (why): no evidence either way.
    Unknown(String),
}

/// Largest definition compared (nothing in a kernel comes near it).
const MAX_SIZE: u64 = 1 << 24;

/// How many candidates a message describes.
const MAX_DETAIL: usize = 12;

/// The result of settling by bytes.
#[derive(Debug, Clone)]
pub enum Settle {
    /// Exactly one candidate matches: its index into the object's symbols,
    /// and the explanation.
    One(usize, String),
    /// Nothing settled; why, for the refusal.
    Not(String),
}

/// Compare the candidates `left` (symbols of `t` named `name` the symbol
/// rules could not tell apart) with the original's definition `osym`, in
/// `space` (`t`'s bytes); settle only when every one of them could be
/// compared and exactly one is the original. Positions are counted among
/// all of `t`'s symbols named `name`, as the kernel counts them.
pub fn settle(
    t: &TargetObject,
    space: Option<&Space>,
    name: &[u8],
    left: &[usize],
    orig: &Elf,
    osym: usize,
) -> Settle {
    let Some(space) = space else {
        return Settle::Not(format!(
            "bytes: {} has no bytes to compare with the original object's{}",
            t.source,
            if t.objname == "vmlinux" {
                " (--image gives the kernel image's)"
            } else {
                ""
            }
        ));
    };
    let cands = t.named(name);
    let verdicts: Vec<(usize, Verdict)> = cands
        .iter()
        .filter(|c| left.contains(c))
        .map(|&c| (c, space.compare(t, c, orig, osym)))
        .collect();
    let same: Vec<usize> = verdicts
        .iter()
        .filter(|v| v.1 == Verdict::Same)
        .map(|v| v.0)
        .collect();
    let unknown = verdicts
        .iter()
        .filter(|v| matches!(v.1, Verdict::Unknown(_)))
        .count();
    let pos = |c: usize| cands.iter().position(|&x| x == c).map_or(0, |p| p + 1);
    // The candidates that matched or could not be compared first; at most
    // a dozen (__msg.0 has dozens of copies in a kernel).
    let detail = |v: &[(usize, Verdict)]| {
        let mut v: Vec<&(usize, Verdict)> = v.iter().collect();
        v.sort_by_key(|(c, v)| (matches!(v, Verdict::Differs(_)), pos(*c)));
        let more = v.len().saturating_sub(MAX_DETAIL);
        let mut d = v
            .iter()
            .take(MAX_DETAIL)
            .map(|(c, v)| {
                format!(
                    "sympos {} at {:#x}: {}",
                    pos(*c),
                    t.syms[*c].addr,
                    match v {
                        Verdict::Same => "same".to_string(),
                        Verdict::Differs(w) => format!("differs: {w}"),
                        Verdict::Unknown(w) => format!("not compared: {w}"),
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        if more > 0 {
            d.push_str(&format!("; {more} more differ"));
        }
        d
    };
    let n = verdicts.len();
    if same.len() == 1 && unknown == 0 {
        let others: Vec<(usize, Verdict)> = verdicts
            .iter()
            .filter(|v| v.0 != same[0])
            .cloned()
            .collect();
        return Settle::One(
            same[0],
            format!(
                "bytes: 1 of {n} candidates matches the original object ({} in {}; {})",
                show(name),
                space.what,
                detail(&others)
            ),
        );
    }
    Settle::Not(format!(
        "bytes: {} of {n} candidates match the original object{} ({})",
        same.len(),
        if unknown > 0 {
            format!(", {unknown} could not be compared")
        } else {
            String::new()
        },
        detail(&verdicts)
    ))
}

/// How many of the original object's functions [`belongs`] compares at
/// most (spread over the object; a whole `vmlinux.o` has ~40,000).
pub const BELONGS_SAMPLE: usize = 256;

/// What comparing the original object's functions with the target's
/// copies found ([`belongs`]).
#[derive(Debug, Clone, Default)]
pub struct Belongs {
    /// Functions eligible: one definition of the name in the original
    /// object and one symbol of the name in the target.
    pub eligible: usize,
    /// Of those sampled: bytes the same.
    pub same: usize,
    /// Of those sampled: bytes differ (name, why).
    pub differs: Vec<(String, String)>,
    /// Of those sampled: not comparable (no evidence either way).
    pub unknown: usize,
    /// The functions the patch replaces (`focus`) whose original differs
    /// from the target's (name, why): the target is not the kernel they
    /// are replaced in (the patched build, or another one).
    pub focus_differs: Vec<(String, String)>,
}

impl Belongs {
    /// Functions compared (same or differing).
    pub fn compared(&self) -> usize {
        self.same + self.differs.len()
    }

    /// Whether the target's bytes are not the original object's kernel:
    /// a function the patch replaces differs, or two sampled functions
    /// differ, or every one compared does. The original object is what the
    /// running kernel was built from, so in the right kernel every one of
    /// its functions has its bytes, up to what the final link changes,
    /// which [`Space::compare`] tolerates (measured: 0 differences in the
    /// e2e objects of Debian's 6.1 and 6.12 and of the 7.2 kernel built
    /// here, 1 of 17,616 functions in the lto.sh gcc `vmlinux.o`, 0 of
    /// 16,919 in the clang one). A stable update's `fs/pipe.o` against the
    /// previous update's kernel: 3 of 40 differ. A single sampled
    /// difference among several may be a blind spot of the comparison and
    /// is only reported; a replaced function is what the patch is about,
    /// and the patched build's vmlinux differs from the original there
    /// only.
    pub fn refuses(&self) -> bool {
        let d = self.differs.len();
        !self.focus_differs.is_empty() || d >= 2 || (d >= 1 && d == self.compared())
    }

    /// The first few differences, for a message.
    pub fn detail(&self, max: usize) -> String {
        let all: Vec<&(String, String)> = self.focus_differs.iter().chain(&self.differs).collect();
        let mut s = all
            .iter()
            .take(max)
            .map(|(n, w)| format!("{n}: {w}"))
            .collect::<Vec<_>>()
            .join("; ");
        if all.len() > max {
            s.push_str(&format!("; {} more", all.len() - max));
        }
        s
    }
}

/// Compare the original object's functions with their copies in the
/// target (`space`, the bytes of `t`): does the symbol source belong to
/// the kernel the original object was built for? Names alone do not tell:
/// a vmlinux of another configuration or another build of the same source
/// has the same names, in another order, and its sympos would be wrong.
///
/// Only functions whose name the original object defines once and the
/// target holds once are compared (a duplicated name is what sympos
/// settles, not evidence); init and exit code is left out (the kernel
/// frees or discards it), and `__weak` definitions (a strong one may
/// override them). Every one of `focus` (the original twins of the
/// functions the patch replaces) that qualifies is compared, and at most
/// `limit` others, spread evenly over the original's symbol table, in its
/// order (deterministic).
pub fn belongs(
    t: &TargetObject,
    space: &Space,
    orig: &Elf,
    focus: &[usize],
    limit: usize,
) -> Belongs {
    let qualifies = |s: &crate::elf::Symbol| {
        // A __weak definition may be overridden by a strong one of the
        // same name elsewhere: the target's symbol is then other code
        // (kernel/bpf/core.c's bpf_event_output).
        s.is_func()
            && s.bind() != STB_WEAK
            && s.size > 0
            && !s.name.is_empty()
            && s.section.is_some_and(|x| {
                let n = &orig.sections[x].name;
                !(n.starts_with(b".init") || n.starts_with(b".exit"))
            })
            && orig
                .symbols_named(&s.name)
                .iter()
                .filter(|&&i| orig.symbols[i].section.is_some())
                .count()
                == 1
            && t.named(&s.name).len() == 1
    };
    let mut out = Belongs::default();
    let mut focused = std::collections::BTreeSet::new();
    for &osym in focus {
        let s = &orig.symbols[osym];
        if !qualifies(s) || !focused.insert(osym) {
            continue;
        }
        if let Verdict::Differs(why) = space.compare(t, t.named(&s.name)[0], orig, osym) {
            out.focus_differs.push((show(&s.name), why));
        }
    }
    let eligible: Vec<usize> = orig
        .symbols
        .iter()
        .filter(|s| qualifies(s) && !focused.contains(&s.index))
        .map(|s| s.index)
        .collect();
    let n = eligible.len();
    let take = n.min(limit);
    out.eligible = n;
    for k in 0..take {
        let osym = eligible[k * n / take];
        let name = &orig.symbols[osym].name;
        let cand = t.named(name)[0];
        match space.compare(t, cand, orig, osym) {
            Verdict::Same => out.same += 1,
            Verdict::Differs(why) => out.differs.push((show(name), why)),
            Verdict::Unknown(_) => out.unknown += 1,
        }
    }
    out
}
