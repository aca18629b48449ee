//! What klpwrite needs from how an input object is split into sections.
//!
//! klp-build and kpatch-build compile with `-ffunction-sections
//! -fdata-sections`: every function and data object has its own section, so
//! every reference from one to another is a relocation, and a function can
//! be copied alone. Without those flags the compiler puts a file's
//! functions together in `.text` (and its data in `.data`, `.bss`,
//! `.rodata`), and the assembler resolves calls and jumps between them, and
//! RIP-relative references to data of the same section, without a
//! relocation: a function copied out of such a section calls whatever lies
//! at the old distance. The same happens, with the flags, between functions
//! that an attribute puts in one named section (`__sched` → `.sched.text`,
//! `noinstr`, `__lockfunc`, `__kprobes`, ...; include/linux/sched/debug.h,
//! include/linux/compiler_types.h, include/linux/spinlock.h).
//!
//! - [`check_split`] refuses, up front, an object built without the flags.
//! - [`unrelocated_escapes`] finds, in a chunk of code extract copies, a
//!   reference the assembler resolved to a place outside the chunk.

use iced_x86::{Decoder, DecoderOptions, Instruction};

use crate::elf::Elf;
use crate::error::{Error, ErrorKind, Result, show};

/// The section GCC and Clang put code or data in without
/// `-ffunction-sections`/`-fdata-sections` (the flag-less defaults, with the
/// hot/cold/startup/exit variants GCC uses).
const DEFAULT_TEXT: &[&str] = &[
    ".text",
    ".text.unlikely",
    ".text.hot",
    ".text.startup",
    ".text.exit",
];
const DEFAULT_DATA: &[&str] = &[".data", ".bss", ".rodata"];

fn in_named(elf: &Elf, sec: usize, prefixes: &[&str], name: &[u8]) -> bool {
    let sname = &elf.sections[sec].name;
    prefixes.iter().any(|p| {
        let mut want = p.as_bytes().to_vec();
        want.push(b'.');
        want.extend_from_slice(name);
        *sname == want
    })
}

/// Refuse an object compiled without `-ffunction-sections` (functions in
/// the default `.text` and none in a section of its own) or without
/// `-fdata-sections` (data objects likewise). `what` says which command
/// refuses.
pub fn check_split(elf: &Elf) -> Result<()> {
    let (mut shared_f, mut own_f, mut shared_d, mut own_d) = (None, false, None, false);
    for (i, s) in elf.symbols.iter().enumerate() {
        let Some(sec) = s.section else { continue };
        if s.name.is_empty() || crate::elf::names::prefix_target(&s.name).is_some() {
            continue;
        }
        let sname = show(&elf.sections[sec].name);
        if s.is_func() {
            if DEFAULT_TEXT.contains(&sname.as_str()) {
                shared_f.get_or_insert(i);
            } else {
                let base = crate::elf::names::child_parent(&s.name).unwrap_or(&s.name);
                own_f |= in_named(elf, sec, DEFAULT_TEXT, base);
            }
        } else if s.is_object() && s.size > 0 {
            if DEFAULT_DATA.contains(&sname.as_str()) {
                shared_d.get_or_insert(i);
            } else {
                own_d |= in_named(elf, sec, DEFAULT_DATA, &s.name);
            }
        }
    }
    let refuse = |flag: &str, sym: usize| {
        let s = &elf.symbols[sym];
        Error::new(
            ErrorKind::Refused,
            format!(
                "the object was built without {flag}: {} is in {} with the rest of the file's {}, so references between them carry no relocation and no one of them can be copied alone",
                s.display_name(),
                elf.sections[s.section.expect("defined")].display_name(),
                if flag == "-ffunction-sections" { "functions" } else { "data" }
            ),
        )
        .in_file(&elf.path)
        .hint("rebuild the original and the patched object with -ffunction-sections -fdata-sections, e.g. make KCFLAGS=\"-ffunction-sections -fdata-sections\" path/to/file.o (what klp-build and kpatch-build do)")
    };
    if let Some(f) = shared_f
        && !own_f
    {
        return Err(refuse("-ffunction-sections", f));
    }
    if let Some(d) = shared_d
        && !own_d
    {
        return Err(refuse("-fdata-sections", d));
    }
    Ok(())
}

/// In the code `data[start..end]` of a section, the instructions that refer
/// to a place outside `[start, end)` with no relocation (a branch the
/// assembler resolved, a RIP-relative operand): (instruction offset, target
/// offset). `relocs` are the offsets of the section's relocations, sorted.
pub fn unrelocated_escapes(data: &[u8], start: u64, end: u64, relocs: &[u64]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let Some(code) = data.get(start as usize..end as usize) else {
        return out;
    };
    let mut d = Decoder::with_ip(64, code, start, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    while d.can_decode() {
        d.decode_out(&mut insn);
        if insn.is_invalid() {
            continue;
        }
        let target = if insn.is_call_near()
            || insn.is_jmp_short_or_near()
            || insn.is_jcc_short_or_near()
            || insn.is_jcx_short()
            || insn.is_loop()
            || insn.is_loopcc()
        {
            insn.near_branch_target()
        } else if insn.is_ip_rel_memory_operand() {
            insn.ip_rel_memory_address()
        } else {
            continue;
        };
        if (start..end).contains(&target) {
            continue;
        }
        let (ip, next) = (insn.ip(), insn.next_ip());
        let k = relocs.partition_point(|&o| o < ip);
        if relocs.get(k).is_some_and(|&o| o < next) {
            continue; // the relocation decides the target
        }
        out.push((ip, target));
    }
    out
}

/// The error for [`unrelocated_escapes`]'s finding in a function copied from
/// `sec`.
pub fn escape_error(elf: &Elf, sec: usize, at: u64, target: u64) -> Error {
    Error::new(
        ErrorKind::Refused,
        format!(
            "{}: the instruction refers to {} in the same section {} without a relocation (the assembler resolved it): copied out of the section, it would reach whatever lies at the old distance",
            elf.locate(sec, at),
            elf.locate(sec, target),
            elf.sections[sec].display_name()
        ),
    )
    .in_file(&elf.path)
    .hint("functions that share a section (built without -ffunction-sections, or put together by an attribute such as __sched or noinstr) can only be patched when their references to each other are relocations; patch the callers of the shared-section function instead, or move the changed code out of the attribute section")
}
