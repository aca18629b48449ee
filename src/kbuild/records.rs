//! The linker-proof form of a klp relocation.
//!
//! `ld -r` destroys `.klp.rela.*` sections and SHN_LIVEPATCH symbols, so a
//! shipped object carries each klp relocation as a 32-byte record in
//! `.klpwrite.klp_relocs.<obj>` (`<obj>` is the `<obj>` of the
//! `.klp.rela.<obj>.` section it came from):
//!
//! | offset | size | field | how it survives the link |
//! |---|---|---|---|
//! | 0 | 8 | place | zero; R_X86_64_64 against the target section's symbol, addend = offset |
//! | 8 | 8 | name | zero; R_X86_64_64 into `.klpwrite.klp_names`, where the full `.klp.sym.<obj>.<name>,<pos>` string sits, NUL-terminated |
//! | 16 | 4 | r_type | the klp relocation's type |
//! | 20 | 4 | info | bits 0-7: `st_info` of the klp symbol (its type); the rest zero |
//! | 24 | 8 | addend | the klp relocation's addend |
//!
//! Both sections are SHF_ALLOC PROGBITS, like upstream's `__klp_relocs`: a
//! linker keeps allocated sections and their relocations whatever the
//! script, and rebases the two relocations when it merges sections. Records
//! are 8-aligned and 32 bytes, so records of several objects concatenate
//! without padding. `post-link` reads the two relocations back (never the
//! field bytes) and removes both sections.
//!
//! The stub defines [`LINKED_SYMBOL`], a 4-byte word that holds
//! [`UNLINKED`] until `post-link` writes [`LINKED`]; the module's init
//! refuses to enable the patch before that.

use crate::elf::consts::*;

/// Prefix of a records section; the klp object name follows.
pub const RECORDS_PREFIX: &[u8] = b".klpwrite.klp_relocs.";
/// The section of the `.klp.sym` names the records point at.
pub const NAMES_SECTION: &[u8] = b".klpwrite.klp_names";
/// Size of one record.
pub const RECORD_SIZE: u64 = 32;
/// Offset of the place field.
pub const PLACE: u64 = 0;
/// Offset of the name field.
pub const NAME: u64 = 8;
/// The stub's marker word.
pub const LINKED_SYMBOL: &[u8] = b"__klpwrite_linked";
/// Marker value before `post-link` (bytes `PLKN`).
pub const UNLINKED: u32 = 0x4e4b_4c50;
/// Marker value after `post-link` (bytes `PLKY`).
pub const LINKED: u32 = 0x594b_4c50;

/// One klp relocation, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The relocation type.
    pub r_type: u32,
    /// `st_info` of the klp symbol in the low byte.
    pub info: u32,
    /// The addend.
    pub addend: i64,
}

impl Record {
    /// The 32 bytes, place and name zero (their relocations fill them).
    pub fn encode(&self) -> [u8; RECORD_SIZE as usize] {
        let mut b = [0u8; RECORD_SIZE as usize];
        b[16..20].copy_from_slice(&self.r_type.to_le_bytes());
        b[20..24].copy_from_slice(&self.info.to_le_bytes());
        b[24..32].copy_from_slice(&self.addend.to_le_bytes());
        b
    }

    /// Read the non-relocated fields of a record.
    pub fn decode(b: &[u8]) -> Record {
        Record {
            r_type: u32::from_le_bytes(b[16..20].try_into().expect("4 bytes")),
            info: u32::from_le_bytes(b[20..24].try_into().expect("4 bytes")),
            addend: i64::from_le_bytes(b[24..32].try_into().expect("8 bytes")),
        }
    }
}

/// `st_info` for a klp symbol of type `info & 0xf`: always GLOBAL.
pub fn klp_st_info(info: u32) -> u8 {
    (STB_GLOBAL << 4) | (info as u8 & 0xf)
}

/// Parse `.klp.sym.<obj>.<name>,<pos>` as the kernel's
/// `sscanf(".klp.sym.%55[^.].%511[^,],%lu")` does, but strictly: the
/// position must be decimal digits up to the end (`verify::parse_klp_sym_name`),
/// and no NUL.
pub fn parse_klp_sym(name: &[u8]) -> Option<(String, String, u64)> {
    if name.contains(&0) {
        return None;
    }
    let (obj, sym, pos) = crate::verify::parse_klp_sym_name(name)?;
    Some((
        String::from_utf8_lossy(obj).into_owned(),
        String::from_utf8_lossy(sym).into_owned(),
        pos,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let r = Record {
            r_type: 2,
            info: 1,
            addend: -4,
        };
        assert_eq!(Record::decode(&r.encode()), r);
        assert_eq!(&r.encode()[..16], &[0u8; 16]);
    }

    #[test]
    fn klp_sym_names() {
        assert_eq!(
            parse_klp_sym(b".klp.sym.vmlinux.foo.isra.0,2"),
            Some(("vmlinux".into(), "foo.isra.0".into(), 2))
        );
        for bad in [
            &b".klp.sym.vmlinux.foo"[..],
            b".klp.sym..foo,0",
            b".klp.sym.vmlinux.,0",
            b".klp.sym.vmlinux.foo,",
            b".klp.sym.vmlinux.foo,0x1",
            b".klp.sym.vmlinux.foo,1,2",
            b".klp.rela.vmlinux.foo,0",
        ] {
            assert_eq!(parse_klp_sym(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let long = format!(".klp.sym.{}.f,0", "m".repeat(56));
        assert_eq!(parse_klp_sym(long.as_bytes()), None);
    }

    #[test]
    fn markers_read_as_text() {
        assert_eq!(&UNLINKED.to_le_bytes(), b"PLKN");
        assert_eq!(&LINKED.to_le_bytes(), b"PLKY");
    }
}
