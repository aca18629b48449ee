//! Architecture knowledge. Each architecture is one file of const tables and
//! a few small functions; there is no trait hierarchy. Only x86-64 exists so
//! far.

pub mod x86_64;

/// Human name of an `e_machine` value.
pub fn machine_name(m: u16) -> String {
    match m {
        3 => "EM_386 (3)".into(),
        20 => "EM_PPC (20)".into(),
        21 => "EM_PPC64 (21)".into(),
        22 => "EM_S390 (22)".into(),
        40 => "EM_ARM (40)".into(),
        62 => "EM_X86_64 (62)".into(),
        183 => "EM_AARCH64 (183)".into(),
        243 => "EM_RISCV (243)".into(),
        258 => "EM_LOONGARCH (258)".into(),
        _ => format!("e_machine {m}"),
    }
}
