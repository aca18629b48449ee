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
//! - [`check_split`] refuses, up front, an object built without
//!   `-ffunction-sections`.
//! - [`unrelocated_escapes`] finds, in a chunk of code extract copies, a
//!   reference the assembler resolved to a place outside the chunk.

use iced_x86::{Decoder, DecoderOptions, Instruction, OpKind};

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
/// the default `.text` and none in a section of its own). Data needs no
/// such check: a reference to data is always a relocation (the assembler
/// resolves only PC-relative references inside one section, i.e. code to
/// code), and a reference into shared data that no symbol covers is
/// refused by extract where it is found. Assembler sources (an STT_FILE
/// ending in `.S`/`.s`) have no such flag; [`unrelocated_escapes`] guards
/// their code.
pub fn check_split(elf: &Elf) -> Result<()> {
    let asm = elf
        .symbols
        .iter()
        .any(|s| s.is_file() && (s.name.ends_with(b".S") || s.name.ends_with(b".s")));
    if asm {
        return Ok(());
    }
    let (mut shared_f, mut own_f) = (None, false);
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
        }
    }
    let refuse = |sym: usize| {
        let s = &elf.symbols[sym];
        Error::new(
            ErrorKind::Refused,
            format!(
                "the object was built without -ffunction-sections: {} is in {} with the rest of the file's functions, so calls between them carry no relocation and no one of them can be copied alone",
                s.display_name(),
                elf.sections[s.section.expect("defined")].display_name(),
            ),
        )
        .in_file(&elf.path)
        .hint("rebuild the original and the patched object with -ffunction-sections -fdata-sections, e.g. make KCFLAGS=\"-ffunction-sections -fdata-sections\" path/to/file.o (what klp-build and kpatch-build do)")
    };
    match shared_f {
        Some(f) if !own_f => Err(refuse(f)),
        _ => Ok(()),
    }
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
        // Every near branch (call, jmp, jcc, loop, jrcxz, xbegin) has its
        // displacement where iced reports the immediate; a RIP-relative
        // memory operand has it as the displacement.
        let co = d.get_constant_offsets(&insn);
        let (target, field, size) = if matches!(
            insn.op0_kind(),
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
        ) {
            (
                insn.near_branch_target(),
                co.immediate_offset(),
                co.immediate_size(),
            )
        } else if insn.is_ip_rel_memory_operand() {
            (
                insn.ip_rel_memory_address(),
                co.displacement_offset(),
                co.displacement_size(),
            )
        } else {
            continue;
        };
        if (start..end).contains(&target) {
            continue;
        }
        // A relocation on that field decides the target; one elsewhere in
        // the instruction (an immediate) does not.
        let (fs, fe) = (insn.ip() + field as u64, insn.ip() + (field + size) as u64);
        let k = relocs.partition_point(|&o| o < fs);
        if size > 0 && relocs.get(k).is_some_and(|&o| o < fe) {
            continue;
        }
        out.push((insn.ip(), target));
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

#[cfg(test)]
mod tests {
    use super::unrelocated_escapes;

    // 0x00: ret; 0x01..: chunk [1, 0x12)
    //  1: e8 fa ff ff ff      call 0 (rel32 -6)
    //  6: eb f8               jmp 0  (rel8 -8)
    //  8: c7 05 f2 ff ff ff 2a 00 00 00   movl $0x2a, 0(%rip) (disp -14 from 0x12)
    const CODE: &[u8] = &[
        0xc3, 0xe8, 0xfa, 0xff, 0xff, 0xff, 0xeb, 0xf8, 0xc7, 0x05, 0xee, 0xff, 0xff, 0xff, 0x2a,
        0x00, 0x00, 0x00,
    ];

    #[test]
    fn escapes_without_relocations() {
        let e = unrelocated_escapes(CODE, 1, CODE.len() as u64, &[]);
        assert_eq!(e, vec![(1, 0), (6, 0), (8, 0)]);
    }

    #[test]
    fn a_relocation_on_the_operand_decides() {
        // rel32 of the call at 2, disp32 of the mov at 0xa
        let e = unrelocated_escapes(CODE, 1, CODE.len() as u64, &[2, 0xa]);
        assert_eq!(e, vec![(6, 0)]);
    }

    #[test]
    fn a_relocation_on_the_immediate_does_not() {
        // only the mov's imm32 (at 0xe) is relocated: its RIP-relative
        // destination is still the assembler's
        let e = unrelocated_escapes(CODE, 1, CODE.len() as u64, &[0xe]);
        assert_eq!(e, vec![(1, 0), (6, 0), (8, 0)]);
    }

    #[test]
    fn targets_inside_the_chunk_are_fine() {
        assert!(unrelocated_escapes(CODE, 0, CODE.len() as u64, &[]).is_empty());
    }
}
