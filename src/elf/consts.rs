//! Raw ELF constants as plain integers, plus their symbolic names.
//!
//! object 0.40 wraps constants in newtypes; the rest of klpwrite works on the
//! raw values read in `load.rs`, so the constants it needs live here. The two
//! livepatch constants are not in object at all.

#![allow(missing_docs)]

pub const ET_REL: u16 = 1;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const EM_X86_64: u16 = 62;

pub const SHT_NULL: u32 = 0;
pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_RELA: u32 = 4;
pub const SHT_NOBITS: u32 = 8;
pub const SHT_REL: u32 = 9;
pub const SHT_GROUP: u32 = 17;
pub const SHT_SYMTAB_SHNDX: u32 = 18;

pub const SHF_WRITE: u64 = 0x1;
pub const SHF_ALLOC: u64 = 0x2;
pub const SHF_EXECINSTR: u64 = 0x4;
pub const SHF_MERGE: u64 = 0x10;
pub const SHF_STRINGS: u64 = 0x20;
pub const SHF_INFO_LINK: u64 = 0x40;
pub const SHF_LINK_ORDER: u64 = 0x80;
pub const SHF_GROUP: u64 = 0x200;
pub const SHF_TLS: u64 = 0x400;
/// Section flag of a klp relocation section (`include/uapi/linux/elf.h`).
pub const SHF_RELA_LIVEPATCH: u64 = 0x0010_0000;
/// Kernel-internal flag that must never be emitted.
pub const SHF_RO_AFTER_INIT: u64 = 0x0020_0000;

pub const SHN_UNDEF: u16 = 0;
pub const SHN_LORESERVE: u16 = 0xff00;
/// Section index of a klp symbol (`include/uapi/linux/elf.h`).
pub const SHN_LIVEPATCH: u16 = 0xff20;
pub const SHN_ABS: u16 = 0xfff1;
pub const SHN_COMMON: u16 = 0xfff2;
pub const SHN_XINDEX: u16 = 0xffff;

pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;

pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;
pub const STT_FILE: u8 = 4;
pub const STT_COMMON: u8 = 5;
pub const STT_TLS: u8 = 6;

pub const GRP_COMDAT: u32 = 1;

/// Names of `sh_flags` bits, in the order `inspect` prints them.
pub const SECTION_FLAG_NAMES: &[(u64, &str)] = &[
    (SHF_WRITE, "WRITE"),
    (SHF_ALLOC, "ALLOC"),
    (SHF_EXECINSTR, "EXECINSTR"),
    (SHF_MERGE, "MERGE"),
    (SHF_STRINGS, "STRINGS"),
    (SHF_INFO_LINK, "INFO_LINK"),
    (SHF_LINK_ORDER, "LINK_ORDER"),
    (0x100, "OS_NONCONFORMING"),
    (SHF_GROUP, "GROUP"),
    (SHF_TLS, "TLS"),
    (0x800, "COMPRESSED"),
    (SHF_RELA_LIVEPATCH, "RELA_LIVEPATCH"),
    (SHF_RO_AFTER_INIT, "RO_AFTER_INIT"),
    (0x8000_0000, "EXCLUDE"),
];

/// `sh_flags` rendered as `ALLOC|EXECINSTR`, unknown bits as hex.
pub fn section_flags_name(flags: u64) -> String {
    let mut parts = Vec::new();
    let mut rest = flags;
    for &(bit, name) in SECTION_FLAG_NAMES {
        if flags & bit != 0 {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join("|")
    }
}

pub fn section_type_name(t: u32) -> String {
    match t {
        SHT_NULL => "NULL".into(),
        SHT_PROGBITS => "PROGBITS".into(),
        SHT_SYMTAB => "SYMTAB".into(),
        SHT_STRTAB => "STRTAB".into(),
        SHT_RELA => "RELA".into(),
        5 => "HASH".into(),
        6 => "DYNAMIC".into(),
        7 => "NOTE".into(),
        SHT_NOBITS => "NOBITS".into(),
        SHT_REL => "REL".into(),
        11 => "DYNSYM".into(),
        14 => "INIT_ARRAY".into(),
        15 => "FINI_ARRAY".into(),
        16 => "PREINIT_ARRAY".into(),
        SHT_GROUP => "GROUP".into(),
        SHT_SYMTAB_SHNDX => "SYMTAB_SHNDX".into(),
        0x6fff_4c03 => "LLVM_ADDRSIG".into(),
        0x6fff_fff5 => "GNU_ATTRIBUTES".into(),
        0x6fff_fff6 => "GNU_HASH".into(),
        0x7000_0001 => "X86_64_UNWIND".into(),
        _ => format!("{t:#x}"),
    }
}

pub fn bind_name(b: u8) -> String {
    match b {
        STB_LOCAL => "LOCAL".into(),
        STB_GLOBAL => "GLOBAL".into(),
        STB_WEAK => "WEAK".into(),
        10 => "GNU_UNIQUE".into(),
        _ => format!("BIND{b}"),
    }
}

pub fn type_name(t: u8) -> String {
    match t {
        STT_NOTYPE => "NOTYPE".into(),
        STT_OBJECT => "OBJECT".into(),
        STT_FUNC => "FUNC".into(),
        STT_SECTION => "SECTION".into(),
        STT_FILE => "FILE".into(),
        STT_COMMON => "COMMON".into(),
        STT_TLS => "TLS".into(),
        10 => "GNU_IFUNC".into(),
        _ => format!("TYPE{t}"),
    }
}
