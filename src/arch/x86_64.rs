//! x86-64.
//!
//! Livepatch quirks of this architecture, in short:
//!
//! * Functions start with a 5-byte `call __fentry__` (gcc `-mfentry`), the
//!   site ftrace turns into a NOP and the livepatch core redirects. With
//!   `CONFIG_CALL_PADDING` a `__pfx_<fn>` symbol covers 16 bytes of NOPs
//!   right before the function; with kCFI the prefix is `__cfi_<fn>`. A
//!   prefix travels with its function.
//! * Relocations are RELA. A PC-relative relocation inside an instruction
//!   carries `target - (end of instruction - field)` as its addend, so the
//!   real target offset of `lea .LC0(%rip)` is `addend + 4`, but that of
//!   `cmpl $1, x(%rip)` is `addend + 5`. Finding the target of a
//!   section-symbol reference therefore needs the instruction length; this
//!   file decodes it with iced-x86 (objtool calls the same adjustment
//!   `arch_insn_adjusted_addend`).
//! * The kernel's module loader (`apply_relocate_add`) accepts only NONE, 64,
//!   PC32, PLT32, 32, 32S and PC64, and requires zero bytes at each site.

use iced_x86::{
    ConstantOffsets, Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory,
    OpAccess, OpKind, Register,
};

/// `R_X86_64_NONE`.
pub const R_X86_64_NONE: u32 = 0;
/// `R_X86_64_64`.
pub const R_X86_64_64: u32 = 1;
/// `R_X86_64_PC32`.
pub const R_X86_64_PC32: u32 = 2;
/// `R_X86_64_PLT32`.
pub const R_X86_64_PLT32: u32 = 4;
/// `R_X86_64_32`.
pub const R_X86_64_32: u32 = 10;
/// `R_X86_64_32S`.
pub const R_X86_64_32S: u32 = 11;
/// `R_X86_64_PC64`.
pub const R_X86_64_PC64: u32 = 24;

/// (type, name, field width in bytes, pc-relative)
const RELOCS: &[(u32, &str, u8, bool)] = &[
    (0, "R_X86_64_NONE", 0, false),
    (1, "R_X86_64_64", 8, false),
    (2, "R_X86_64_PC32", 4, true),
    (3, "R_X86_64_GOT32", 4, false),
    (4, "R_X86_64_PLT32", 4, true),
    (5, "R_X86_64_COPY", 0, false),
    (6, "R_X86_64_GLOB_DAT", 8, false),
    (7, "R_X86_64_JUMP_SLOT", 8, false),
    (8, "R_X86_64_RELATIVE", 8, false),
    (9, "R_X86_64_GOTPCREL", 4, true),
    (10, "R_X86_64_32", 4, false),
    (11, "R_X86_64_32S", 4, false),
    (12, "R_X86_64_16", 2, false),
    (13, "R_X86_64_PC16", 2, true),
    (14, "R_X86_64_8", 1, false),
    (15, "R_X86_64_PC8", 1, true),
    (16, "R_X86_64_DTPMOD64", 8, false),
    (17, "R_X86_64_DTPOFF64", 8, false),
    (18, "R_X86_64_TPOFF64", 8, false),
    (19, "R_X86_64_TLSGD", 4, true),
    (20, "R_X86_64_TLSLD", 4, true),
    (21, "R_X86_64_DTPOFF32", 4, false),
    (22, "R_X86_64_GOTTPOFF", 4, true),
    (23, "R_X86_64_TPOFF32", 4, false),
    (24, "R_X86_64_PC64", 8, true),
    (25, "R_X86_64_GOTOFF64", 8, false),
    (26, "R_X86_64_GOTPC32", 4, true),
    (32, "R_X86_64_SIZE32", 4, false),
    (33, "R_X86_64_SIZE64", 8, false),
    (41, "R_X86_64_GOTPCRELX", 4, true),
    (42, "R_X86_64_REX_GOTPCRELX", 4, true),
];

fn info(t: u32) -> Option<&'static (u32, &'static str, u8, bool)> {
    RELOCS.iter().find(|r| r.0 == t)
}

/// Name of a relocation type (`R_X86_64_PC32`), or `R_X86_64_<n>`.
pub fn reloc_name(t: u32) -> String {
    info(t)
        .map(|r| r.1.to_string())
        .unwrap_or_else(|| format!("R_X86_64_<{t}>"))
}

/// Width in bytes of the field a relocation type writes.
pub fn reloc_width(t: u32) -> Option<u8> {
    info(t).map(|r| r.2)
}

/// Whether a relocation type is PC-relative.
pub fn reloc_is_pcrel(t: u32) -> bool {
    info(t).is_some_and(|r| r.3)
}

/// Relocation types the kernel's `apply_relocate_add` accepts in a module.
pub fn reloc_allowed_in_module(t: u32) -> bool {
    matches!(
        t,
        R_X86_64_NONE
            | R_X86_64_64
            | R_X86_64_PC32
            | R_X86_64_PLT32
            | R_X86_64_32
            | R_X86_64_32S
            | R_X86_64_PC64
    )
}

/// The instruction that holds a relocated field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsnAt {
    /// Offset of the instruction in its section.
    pub start: u64,
    /// Length in bytes.
    pub len: u32,
    /// The relocated field is the displacement of a direct call.
    pub is_call: bool,
    /// The relocated field is the displacement of a direct jump.
    pub is_jump: bool,
}

/// Instruction boundaries of one code section, decoded once.
///
/// Linear decoding tiles the section: each instruction starts where the
/// previous one ended (iced advances by the length it consumed, also for
/// an invalid instruction), and the last one ends at the section's end. So
/// one bit per byte for "an instruction starts here" gives every
/// boundary, and two more bits say whether that instruction is a direct
/// call or jump: 3/8 of a byte per byte of code, where a vector of
/// (start, length, kind) took 16 bytes per instruction (four times the
/// code; 19 MB for amdgpu.ko's `.text`, a quarter of `diff`'s page faults).
#[derive(Debug, Default)]
pub struct CodeMap {
    /// Length of the decoded code in bytes.
    len: u64,
    /// Bit `i`: an instruction starts at offset `i`.
    starts: Vec<u64>,
    /// Bit `i`: the instruction at `i` is a direct near call.
    calls: Vec<u64>,
    /// Bit `i`: the instruction at `i` is a direct near jump.
    jumps: Vec<u64>,
}

fn bit(words: &[u64], i: u64) -> bool {
    words[(i / 64) as usize] >> (i % 64) & 1 != 0
}

fn set_bit(words: &mut [u64], i: u64) {
    words[(i / 64) as usize] |= 1 << (i % 64);
}

impl CodeMap {
    /// Decode `code` linearly from offset 0. Undecodable bytes become
    /// pseudo-instructions of the length iced consumed, so decoding always
    /// makes progress and covers every byte.
    pub fn decode(code: &[u8]) -> CodeMap {
        let words = code.len().div_ceil(64);
        let mut map = CodeMap {
            len: code.len() as u64,
            starts: vec![0; words],
            calls: vec![0; words],
            jumps: vec![0; words],
        };
        let mut d = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
        let mut insn = Instruction::default();
        while d.can_decode() {
            d.decode_out(&mut insn);
            let ip = insn.ip();
            set_bit(&mut map.starts, ip);
            if insn.is_invalid() {
                continue;
            }
            let branch = matches!(
                insn.op0_kind(),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            );
            match insn.flow_control() {
                FlowControl::Call if branch => set_bit(&mut map.calls, ip),
                FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch if branch => {
                    set_bit(&mut map.jumps, ip)
                }
                _ => {}
            }
        }
        map
    }

    /// The start of the instruction that contains `off` (`off < len`):
    /// the highest start bit at or below `off`. Offset 0 always starts one.
    fn start_at_or_before(&self, off: u64) -> u64 {
        let mut w = (off / 64) as usize;
        let mut word = self.starts[w] & (u64::MAX >> (63 - off % 64));
        while word == 0 {
            w -= 1;
            word = self.starts[w];
        }
        w as u64 * 64 + 63 - word.leading_zeros() as u64
    }

    /// The end of the instruction that starts at `start`: the next start
    /// bit, or the end of the code.
    fn end_after(&self, start: u64) -> u64 {
        let b = start % 64;
        let mut w = (start / 64) as usize;
        let mut word = if b == 63 {
            0
        } else {
            self.starts[w] & (u64::MAX << (b + 1))
        };
        while word == 0 {
            w += 1;
            match self.starts.get(w) {
                Some(&x) => word = x,
                None => return self.len,
            }
        }
        (w as u64 * 64 + word.trailing_zeros() as u64).min(self.len)
    }

    fn at(&self, start: u64) -> InsnAt {
        InsnAt {
            start,
            len: (self.end_after(start) - start) as u32,
            is_call: bit(&self.calls, start),
            is_jump: bit(&self.jumps, start),
        }
    }

    /// The instruction containing `off`, if decoding reached it.
    pub fn insn_at(&self, off: u64) -> Option<InsnAt> {
        if off >= self.len {
            return None;
        }
        Some(self.at(self.start_at_or_before(off)))
    }

    /// The instruction containing `off`, decoded in full from `code` (the
    /// bytes this map was decoded from), with the offsets of its constant
    /// fields.
    pub fn decode_at(&self, code: &[u8], off: u64) -> Option<(Instruction, ConstantOffsets)> {
        let at = self.insn_at(off)?;
        let bytes = code.get(at.start as usize..(at.start + at.len as u64) as usize)?;
        let mut d = Decoder::with_ip(64, bytes, at.start, DecoderOptions::NONE);
        let insn = d.decode();
        let offs = d.get_constant_offsets(&insn);
        Some((insn, offs))
    }

    /// Iterate (start, len, is_call, is_jump) of every decoded instruction.
    pub fn iter(&self) -> impl Iterator<Item = InsnAt> + '_ {
        let mut next = if self.len == 0 { None } else { Some(0) };
        std::iter::from_fn(move || {
            let start = next?;
            let insn = self.at(start);
            let end = start + insn.len as u64;
            next = (end < self.len).then_some(end);
            Some(insn)
        })
    }
}

/// For a PC-relative relocation of type `r_type` at `r_offset` inside the
/// instruction `insn`, the amount to add to the addend to get the offset
/// the instruction really refers to: `end of instruction - field`. Zero for
/// absolute relocations and for relocations outside code.
pub fn addend_adjustment(r_type: u32, r_offset: u64, insn: Option<InsnAt>) -> i64 {
    if !reloc_is_pcrel(r_type) {
        return 0;
    }
    match insn {
        Some(i) => (i.start + i.len as u64) as i64 - r_offset as i64,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloc_table_is_consistent() {
        for &(t, name, width, pcrel) in RELOCS {
            assert!(name.starts_with("R_X86_64_"));
            assert!(width <= 8);
            assert_eq!(reloc_name(t), name);
            assert_eq!(reloc_is_pcrel(t), pcrel);
        }
        assert_eq!(reloc_name(99), "R_X86_64_<99>");
        for t in [0, 1, 2, 4, 10, 11, 24] {
            assert!(reloc_allowed_in_module(t));
        }
        assert!(!reloc_allowed_in_module(9));
    }

    #[test]
    fn adjustment_follows_instruction_length() {
        // 48 8d 3d 00 00 00 00   lea 0x0(%rip),%rdi    (field at +3, len 7)
        // 83 3d 00 00 00 00 01   cmpl $1,0x0(%rip)     (field at +2, len 7)
        // e8 00 00 00 00         call                  (field at +1, len 5)
        let code = [
            0x48, 0x8d, 0x3d, 0, 0, 0, 0, 0x83, 0x3d, 0, 0, 0, 0, 0x01, 0xe8, 0, 0, 0, 0,
        ];
        let map = CodeMap::decode(&code);
        assert_eq!(addend_adjustment(2, 3, map.insn_at(3)), 4);
        assert_eq!(addend_adjustment(2, 9, map.insn_at(9)), 5);
        let call = map.insn_at(15).unwrap();
        assert!(call.is_call);
        assert_eq!(addend_adjustment(4, 15, Some(call)), 4);
        assert_eq!(addend_adjustment(11, 3, map.insn_at(3)), 0);
    }

    /// The bitmap map against a plain list of (start, len, kind) from the
    /// same linear decode, at every offset: random bytes (many invalid
    /// instructions, lengths up to 15, starts in every bit position of a
    /// word) and real code (the embedded example's object).
    #[test]
    fn code_map_matches_a_plain_decode() {
        fn plain(code: &[u8]) -> Vec<InsnAt> {
            let mut d = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
            let mut out = Vec::new();
            while d.can_decode() {
                let insn = d.decode();
                let branch = !insn.is_invalid()
                    && matches!(
                        insn.op0_kind(),
                        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
                    );
                let fc = insn.flow_control();
                out.push(InsnAt {
                    start: insn.ip(),
                    len: insn.len() as u32,
                    is_call: branch && fc == FlowControl::Call,
                    is_jump: branch
                        && matches!(
                            fc,
                            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
                        ),
                });
            }
            out
        }
        let mut inputs: Vec<Vec<u8>> = vec![vec![], vec![0x90], vec![0x0f], vec![0xc3; 64]];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in [1usize, 63, 64, 65, 127, 128, 129, 1000, 4099] {
            inputs.push(
                (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect(),
            );
        }
        let example = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/data/cmdline/cmdline.patched.o"
        ))
        .unwrap();
        let elf = crate::elf::load::load("example", example, crate::elf::load::Expect::Relocatable)
            .unwrap();
        for (i, s) in elf.sections.iter().enumerate() {
            if s.name.starts_with(b".text") {
                inputs.push(elf.data(i).to_vec());
            }
        }
        for code in &inputs {
            let want = plain(code);
            let map = CodeMap::decode(code);
            assert_eq!(map.iter().collect::<Vec<_>>(), want);
            let mut k = 0;
            for off in 0..code.len() as u64 + 20 {
                while k < want.len() && want[k].start + want[k].len as u64 <= off {
                    k += 1;
                }
                assert_eq!(map.insn_at(off), want.get(k).copied(), "offset {off}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Special sections
// ---------------------------------------------------------------------------

/// What a relocated field of a special-section entry means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Points at the instruction the entry is about; decides whether the
    /// entry is kept (it is kept when this points into extracted code).
    Code,
    /// Like `Code`, but may point one past the end of a function (ORC
    /// terminators).
    CodeOrEnd,
    /// A branch target inside code.
    Target,
    /// A static key or static-call key.
    Key,
    /// An alternative replacement in `.altinstr_replacement`.
    Replacement,
    /// Exception fixup code (a function, or `.fixup` on old kernels).
    Fixup,
    /// Any other pointer (file name string, handler).
    Data,
}

/// One relocated field of an entry.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Offset of the field in the entry.
    pub offset: u64,
    /// Relocation types the field may carry.
    pub types: &'static [u32],
    /// Meaning.
    pub role: Role,
    /// Whether every entry must have a relocation here.
    pub required: bool,
}

/// One possible entry layout (layouts change between kernel versions).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Entry size in bytes.
    pub size: u64,
    /// Relocated fields.
    pub fields: &'static [Field],
    /// Offset of the `replacementlen` byte (alternatives only).
    pub repl_len_at: Option<u64>,
    /// Unrelocated byte ranges `[a, b)` that carry meaning and are folded
    /// into the checksum of the code the entry describes (flags, feature
    /// numbers, exception types).
    pub raw: &'static [(u64, u64)],
    /// Offset of a 16-bit `__LINE__` field (`struct bug_entry::line`):
    /// not hashed, but recorded so the line a WARN passes is masked like
    /// the other `__LINE__`s.
    pub line_at: Option<u64>,
    /// Members (name, offset) the target's BTF struct must have for this
    /// layout to be the one it describes, when several layouts of a
    /// section have the same size; empty: the size decides.
    pub btf: &'static [(&'static str, u64)],
    /// Padding `[a, b)` that `.org` fills with zeros in every entry of this
    /// layout: an entry with other bytes there is not of this layout
    /// (tells apart rows of one size whose relocations agree).
    pub pad: &'static [(u64, u64)],
    /// A relocated string field that holds a message, never a source file
    /// name: when the field names a source file (`*.c`, `*.h`, `*.S`,
    /// `*.rs`) in every entry, the section is not of this layout (the same
    /// place held `__FILE__` in another layout of the same size).
    pub not_file: Option<u64>,
    /// Which kernels use it.
    pub kernels: &'static str,
}

/// Kernel rules that restrict an entry beyond keep/drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// No rule.
    None,
    /// `__jump_table`: the key must not be owned by a module (late klp
    /// relocations run after jump labels are initialised); tracepoint and
    /// dynamic-debug keys are dropped instead, with a warning.
    JumpLabel,
    /// `.static_call_sites`: same for static-call keys; tracepoint static
    /// calls are dropped.
    StaticCall,
}

/// How a special section is treated.
#[derive(Debug, Clone, Copy)]
pub enum Treatment {
    /// Split into entries; keep those that point into extracted code.
    Entries(&'static [Layout]),
    /// Parallel array to another special section (ORC data to ORC IPs):
    /// entries of this size are kept with the companion's entries.
    Companion(&'static str, u64),
    /// Never copied, for the stated reason.
    Drop(&'static str),
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Special {
    /// Exact section name, or a prefix when it ends with `*`.
    pub name: &'static str,
    /// Entries or drop.
    pub treatment: Treatment,
    /// Extra rule.
    pub restriction: Restriction,
}

const PC32: &[u32] = &[R_X86_64_PC32];
const ABS64: &[u32] = &[R_X86_64_64];
const PC64: &[u32] = &[R_X86_64_PC64];

const fn field(offset: u64, types: &'static [u32], role: Role) -> Field {
    Field {
        offset,
        types,
        role,
        required: true,
    }
}

const fn optional(offset: u64, types: &'static [u32], role: Role) -> Field {
    Field {
        offset,
        types,
        role,
        required: false,
    }
}

const ONE_PC32: &[Layout] = &[Layout {
    size: 4,
    fields: &[field(0, PC32, Role::Code)],
    repl_len_at: None,
    raw: &[],
    line_at: None,
    btf: &[],
    pad: &[],
    not_file: None,
    kernels: "all",
}];

/// The x86-64 special sections. Entry layouts are from the kernel headers
/// (`struct alt_instr`, `struct jump_entry`, `struct static_call_site`,
/// `struct exception_table_entry`, `struct bug_entry`,
/// `struct paravirt_patch_site`, ORC) across the versions klpwrite knows.
/// The actual size of a given object is derived from the object itself
/// (`sh_entsize`, or the spacing of its relocations) and must match one of
/// these layouts.
pub const SPECIAL_SECTIONS: &[Special] = &[
    Special {
        name: ".altinstructions",
        treatment: Treatment::Entries(&[
            Layout {
                size: 12,
                fields: &[
                    field(0, PC32, Role::Code),
                    optional(4, PC32, Role::Replacement),
                ],
                repl_len_at: Some(11),
                // cpuid/ft_flags, instrlen, replacementlen
                raw: &[(8, 12)],
                line_at: None,
                btf: &[],
                pad: &[],
                not_file: None,
                kernels: "5.14-6.4 (u16 cpuid, instrlen, replacementlen)",
            },
            Layout {
                size: 13,
                fields: &[
                    field(0, PC32, Role::Code),
                    optional(4, PC32, Role::Replacement),
                ],
                repl_len_at: Some(11),
                // cpuid/ft_flags, instrlen, replacementlen
                raw: &[(8, 13)],
                line_at: None,
                btf: &[],
                pad: &[],
                not_file: None,
                kernels: "4.x-5.13 (with padlen)",
            },
            Layout {
                size: 14,
                fields: &[
                    field(0, PC32, Role::Code),
                    optional(4, PC32, Role::Replacement),
                ],
                repl_len_at: Some(13),
                // cpuid/ft_flags, instrlen, replacementlen
                raw: &[(8, 14)],
                line_at: None,
                btf: &[],
                pad: &[],
                not_file: None,
                kernels: "6.5+ (u32 ft_flags)",
            },
        ]),
        restriction: Restriction::None,
    },
    Special {
        name: "__jump_table",
        treatment: Treatment::Entries(&[
            Layout {
                size: 16,
                fields: &[
                    field(0, PC32, Role::Code),
                    field(4, PC32, Role::Target),
                    field(8, PC64, Role::Key),
                ],
                repl_len_at: None,
                raw: &[],
                line_at: None,
                btf: &[],
                pad: &[],
                not_file: None,
                kernels: "5.0+ (relative entries)",
            },
            Layout {
                size: 24,
                fields: &[
                    field(0, ABS64, Role::Code),
                    field(8, ABS64, Role::Target),
                    field(16, ABS64, Role::Key),
                ],
                repl_len_at: None,
                raw: &[],
                line_at: None,
                btf: &[],
                pad: &[],
                not_file: None,
                kernels: "before 5.0 (absolute entries)",
            },
        ]),
        restriction: Restriction::JumpLabel,
    },
    Special {
        name: ".static_call_sites",
        treatment: Treatment::Entries(&[Layout {
            size: 8,
            fields: &[field(0, PC32, Role::Code), field(4, PC32, Role::Key)],
            repl_len_at: None,
            raw: &[],
            line_at: None,
            btf: &[],
            pad: &[],
            not_file: None,
            kernels: "5.10+",
        }]),
        restriction: Restriction::StaticCall,
    },
    Special {
        name: "__ex_table",
        treatment: Treatment::Entries(&[Layout {
            size: 12,
            fields: &[
                field(0, PC32, Role::Code),
                field(4, PC32, Role::Fixup),
                optional(8, PC32, Role::Data),
            ],
            repl_len_at: None,
            // type/data (EX_TYPE_*, arch/x86/include/asm/extable_fixup_types.h)
            // when not a relocated handler (old kernels)
            raw: &[(8, 12)],
            line_at: None,
            btf: &[],
            pad: &[],
            not_file: None,
            kernels: "4.6+ (insn, fixup, handler/data)",
        }]),
        restriction: Restriction::None,
    },
    // `struct bug_entry` (include/asm-generic/bug.h; x86 has
    // GENERIC_BUG_RELATIVE_POINTERS, so every pointer is a `_disp` int),
    // emitted by __BUG_ENTRY/_BUG_FLAGS_ASM in arch/x86/include/asm/bug.h
    // and padded to sizeof by `.org 2b + size`:
    //
    // * before 7.x: {bug_addr_disp, file_disp, line, flags} = 12 bytes with
    //   CONFIG_DEBUG_BUGVERBOSE; {bug_addr_disp, flags} + 2 bytes of padding
    //   = 8 without (6.1: `.long 1b - .`, `.word flags`).
    // * 7.x x86-64 (HAVE_ARCH_BUG_FORMAT, checked in Debian's 7.2.13
    //   linux-source): a `format_disp` follows bug_addr_disp, so
    //   {bug_addr_disp, format_disp, file_disp, line, flags} = 16 bytes with
    //   DEBUG_BUGVERBOSE and {bug_addr_disp, format_disp, flags} + 2 = 12
    //   without. The latter has the relocations of the older verbose
    //   12-byte entry (PC32 at 0 and 4). The target's BTF (member offsets,
    //   `btf` below) tells them apart; without it the content does: bytes
    //   10..12 are zero in every 7.x entry (`.org`), while the older
    //   entry's flags are there, non-zero for every WARN (BUGFLAG_WARNING);
    //   and the older entry's field at 4 is `__FILE__` (a `*.c`/`*.h`
    //   name) in every entry, the 7.x one a message ("" for WARN_ON and
    //   BUG, WARN_CONDITION_STR without DEBUG_BUGVERBOSE_DETAILED). A table
    //   of older BUG()s only (flags 0) is therefore still read as the older
    //   layout.
    //
    // The unrelocated line and flags are used by src/checksum.rs
    // build_meta: flags hashed, the line recorded to mask __LINE__.
    Special {
        name: "__bug_table",
        treatment: Treatment::Entries(&[
            Layout {
                size: 16,
                fields: &[
                    field(0, PC32, Role::Code),
                    field(4, PC32, Role::Data),
                    field(8, PC32, Role::Data),
                ],
                repl_len_at: None,
                raw: &[(14, 16)],
                line_at: Some(12),
                btf: &[
                    ("format_disp", 4),
                    ("file_disp", 8),
                    ("line", 12),
                    ("flags", 14),
                ],
                pad: &[],
                not_file: None,
                kernels: "7.x x86-64 with DEBUG_BUGVERBOSE (addr, format, file, line, flags)",
            },
            Layout {
                size: 12,
                fields: &[field(0, PC32, Role::Code), field(4, PC32, Role::Data)],
                repl_len_at: None,
                raw: &[(8, 10)],
                line_at: None,
                btf: &[("format_disp", 4), ("flags", 8)],
                pad: &[(10, 12)],
                not_file: Some(4),
                kernels: "7.x x86-64 without DEBUG_BUGVERBOSE (addr, format, flags)",
            },
            Layout {
                size: 12,
                fields: &[field(0, PC32, Role::Code), field(4, PC32, Role::Data)],
                repl_len_at: None,
                raw: &[(10, 12)],
                line_at: Some(8),
                btf: &[("file_disp", 4), ("line", 8), ("flags", 10)],
                pad: &[],
                not_file: None,
                kernels: "before 7.x with DEBUG_BUGVERBOSE (addr, file, line, flags)",
            },
            Layout {
                size: 8,
                fields: &[field(0, PC32, Role::Code)],
                repl_len_at: None,
                raw: &[(4, 6)],
                line_at: None,
                btf: &[("flags", 4)],
                pad: &[],
                not_file: None,
                kernels: "before 7.x without DEBUG_BUGVERBOSE (addr, flags)",
            },
        ]),
        restriction: Restriction::None,
    },
    Special {
        name: ".smp_locks",
        treatment: Treatment::Entries(ONE_PC32),
        restriction: Restriction::None,
    },
    Special {
        name: ".parainstructions",
        treatment: Treatment::Entries(&[Layout {
            size: 16,
            fields: &[field(0, ABS64, Role::Code)],
            repl_len_at: None,
            // type, len
            raw: &[(8, 10)],
            line_at: None,
            btf: &[],
            pad: &[],
            not_file: None,
            kernels: "up to 6.7 (instr pointer, type, len)",
        }]),
        restriction: Restriction::None,
    },
    Special {
        name: "__mcount_loc",
        treatment: Treatment::Entries(&[Layout {
            size: 8,
            fields: &[field(0, ABS64, Role::Code)],
            repl_len_at: None,
            raw: &[],
            line_at: None,
            btf: &[],
            pad: &[],
            not_file: None,
            kernels: "all",
        }]),
        restriction: Restriction::None,
    },
    Special {
        name: ".orc_unwind_ip",
        treatment: Treatment::Entries(&[Layout {
            size: 4,
            fields: &[field(0, PC32, Role::CodeOrEnd)],
            repl_len_at: None,
            raw: &[],
            line_at: None,
            btf: &[],
            pad: &[],
            not_file: None,
            kernels: "all (ORC unwinder)",
        }]),
        restriction: Restriction::None,
    },
    Special {
        name: ".orc_unwind",
        treatment: Treatment::Companion(".orc_unwind_ip", 6),
        restriction: Restriction::None,
    },
    Special {
        name: ".retpoline_sites",
        treatment: Treatment::Entries(ONE_PC32),
        restriction: Restriction::None,
    },
    Special {
        name: ".return_sites",
        treatment: Treatment::Entries(ONE_PC32),
        restriction: Restriction::None,
    },
    Special {
        name: ".call_sites",
        treatment: Treatment::Entries(ONE_PC32),
        restriction: Restriction::None,
    },
    Special {
        name: ".ibt_endbr_seal",
        treatment: Treatment::Entries(ONE_PC32),
        restriction: Restriction::None,
    },
    Special {
        name: ".kcfi_traps",
        treatment: Treatment::Entries(ONE_PC32),
        restriction: Restriction::None,
    },
    Special {
        name: "__patchable_function_entries",
        treatment: Treatment::Drop(
            "x86 ftrace uses __mcount_loc; the module loader does not read patchable-entry records",
        ),
        restriction: Restriction::None,
    },
    Special {
        name: ".printk_index",
        treatment: Treatment::Drop(
            "entries point at printk-index records, not at code; only debugfs's printk index loses the patched call sites",
        ),
        restriction: Restriction::None,
    },
    Special {
        name: "__tracepoints_ptrs",
        treatment: Treatment::Drop("tracepoint definitions stay in the target kernel"),
        restriction: Restriction::None,
    },
    Special {
        name: ".discard.*",
        treatment: Treatment::Drop(
            "objtool annotations; klpwrite writes the final object and no objtool pass follows",
        ),
        restriction: Restriction::None,
    },
];

/// Sections that only exist to serve a special section: copied piecewise,
/// as the entries that keep them require.
pub const AUX_SECTIONS: &[&str] = &[".altinstr_replacement", ".fixup", ".altinstr_aux"];

/// The table row for a section name.
pub fn special_for(name: &[u8]) -> Option<&'static Special> {
    SPECIAL_SECTIONS
        .iter()
        .find(|s| match s.name.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix.as_bytes()),
            None => name == s.name.as_bytes(),
        })
}

/// Tables the kernel keeps and reads only from its own image (or from the
/// module that defines them), whose entries point into code: (name or
/// `prefix*`, why a patch leaves them alone). The running kernel's entries
/// keep pointing at the original functions, which ftrace redirects to the
/// patched ones, so the patch owns none of them; a reference to such an
/// entry is a reference to existing kernel data (a klp relocation, like any
/// other kernel object). An entry in the patched object for a function the
/// target does not have cannot take effect and is reported.
///
/// * `__<name>_sched_class`: include/asm-generic/vmlinux.lds.h SCHED_DATA
///   (5.9+, kernel/sched/sched.h DEFINE_SCHED_CLASS): one `struct
///   sched_class` per section, ordered by address, which is the classes'
///   priority (sched_class_above). A copy would be a class the scheduler
///   never walks.
/// * `.pci_fixup_*`: vmlinux.lds.h RO_DATA `.pci_fixup` output section,
///   walked by drivers/pci/quirks.c pci_fixup_device between the
///   `__start_pci_fixups_<pass>` bounds of vmlinux only (a module's
///   `.pci_fixup_*` is never read, kernel/module/main.c has no such table).
/// * `__param`/`__ksymtab*`/`__ex_table` and the other data tables are in
///   [`ORDINARY_PREFIXES`] or the special table.
pub const KERNEL_TABLES: &[(&str, &str)] = &[
    (
        "__*_sched_class",
        "scheduler classes are ordered by address in the kernel's own SCHED_DATA; the patch keeps using the kernel's",
    ),
    (
        ".pci_fixup_*",
        "PCI quirks are read from vmlinux's own .pci_fixup tables; the kernel's entries keep calling the original, which the patch redirects",
    ),
];

/// The [`KERNEL_TABLES`] row for a section name.
pub fn kernel_table_for(name: &[u8]) -> Option<&'static str> {
    KERNEL_TABLES.iter().find_map(|&(pat, why)| {
        let hit = match pat.split_once('*') {
            Some((pre, suf)) => {
                name.len() >= pre.len() + suf.len()
                    && name.starts_with(pre.as_bytes())
                    && name.ends_with(suf.as_bytes())
            }
            None => name == pat.as_bytes(),
        };
        hit.then_some(why)
    })
}

/// Section-name prefixes of ordinary code and data, which may point at
/// extracted code without being special (function pointers in ops tables).
/// An allocated section outside this list and outside the special table
/// that points into extracted code is refused: klpwrite would not know how
/// to keep it consistent.
pub const ORDINARY_PREFIXES: &[&str] = &[
    ".text",
    ".data",
    ".rodata",
    ".bss",
    ".init.",
    ".exit.",
    ".ref.",
    ".meminit",
    ".noinstr.text",
    ".entry.text",
    ".irqentry.text",
    ".softirqentry.text",
    ".kprobes.text",
    ".spinlock.text",
    ".sched.text",
    ".cpuidle.text",
    ".head.text",
    ".static_call.text",
    ".modinfo",
    ".gnu.linkonce",
    "__ksymtab",
    "__kcrctab",
    "__param",
    "__dyndbg",
    "__verbose",
    "__tracepoints",
    ".export_symbol",
    ".init_array",
    ".fini_array",
    // Audited against include/asm-generic/vmlinux.lds.h and
    // arch/x86/kernel/vmlinux.lds.S: `.init.`, `.exit.`, `.init_array`,
    // `.initcall*`, `.con_initcall`, `.security_initcall`, `__setup`,
    // `.x86_cpu_dev.init`, `.apicdrivers` are init-area data (freed after
    // boot, never reached by a patch); `.ref.`, `.meminit` are kept code or
    // data like `.text`/`.data` (MEM_KEEP with CONFIG_MEMORY_HOTPLUG); the
    // `__ksymtab`/`__kcrctab`/`__param`/`__dyndbg`/`__tracepoint*`/
    // `_ftrace_*`/`__bpf_raw_tp_map`/`__kprobe_blacklist` tables belong to
    // the object that defines them and are never copied for a patch.
    ".ctors",
    ".initcall",
    ".con_initcall",
    ".security_initcall",
    "___ksymtab",
    ".note",
    ".comment",
    ".eh_frame",
    ".debug",
    "__bpf_raw_tp_map",
    "_ftrace_events",
    "_ftrace_eval_map",
    "__syscalls_metadata",
    "__kprobe_blacklist",
    "_error_injection_whitelist",
    "__ex_table",
    ".orc_header",
    "__tracepoint_str",
    ".klp",
    "__klp",
    ".kpatch",
    "__initcall",
    "__early_initcall",
    "__setup",
    ".x86_cpu_dev.init",
    ".apicdrivers",
    "__reservedmem_of_table",
    "__param",
    ".smp_locks",
    ".llvm",
    ".BTF",
    ".sframe",
    ".gnu",
    ".altinstr_",
];

/// Whether `insn` writes `reg` (any width of it: the full register is
/// compared), by iced-x86's register use information.
pub fn writes_register(
    factory: &mut InstructionInfoFactory,
    insn: &Instruction,
    reg: Register,
) -> bool {
    factory.info(insn).used_registers().iter().any(|u| {
        u.register().full_register() == reg
            && !matches!(
                u.access(),
                OpAccess::Read | OpAccess::CondRead | OpAccess::None | OpAccess::NoMemAccess
            )
    })
}

/// The integer argument registers of the SysV x86-64 calling convention,
/// in order.
pub const ARG_REGS: [Register; 6] = [
    Register::RDI,
    Register::RSI,
    Register::RDX,
    Register::RCX,
    Register::R8,
    Register::R9,
];

/// Decode `code` (at address `ip`) linearly, every instruction (invalid
/// bytes come out as invalid instructions).
pub fn decode_all(code: &[u8], ip: u64) -> Vec<Instruction> {
    let mut d = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut v = Vec::with_capacity(code.len() / 4);
    while d.can_decode() {
        v.push(d.decode());
    }
    v
}

/// Whether the first operand of `insn` is a near branch target (call,
/// jmp, jcc, loop, jrcxz, xbegin).
pub fn has_near_branch_operand(insn: &Instruction) -> bool {
    matches!(
        insn.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    )
}
