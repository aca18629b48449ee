//! Just enough BTF to lay out the kernel's livepatch structures.
//!
//! The target kernel describes its own types in BTF (`/sys/kernel/btf/vmlinux`,
//! or the `.BTF` section of vmlinux). `klpwrite module` reads the sizes and
//! member offsets of `struct klp_patch`, `klp_object`, `klp_func` and
//! `klp_callbacks` from it, so the module matches the kernel it is for
//! instead of one hard-coded build.
//!
//! Format (`include/uapi/linux/btf.h`): a header (magic 0xeb9f, version 1,
//! flags, header length, then offset and length of the type and string
//! sections), a sequence of variable-length type records, and a string table.

use std::collections::HashMap;

use crate::error::{Error, ErrorKind, Result};

const BTF_MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// A struct's layout: size and member offsets in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructLayout {
    /// `sizeof`.
    pub size: u64,
    /// Member name → byte offset (bitfields excluded).
    pub members: HashMap<String, u64>,
}

impl StructLayout {
    /// Offset of a member, or an error naming the struct and member.
    pub fn offset(&self, strukt: &str, member: &str) -> Result<u64> {
        self.members.get(member).copied().ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("BTF: struct {strukt} has no member {member}"),
            )
        })
    }
}

/// Parsed BTF: the named structs.
#[derive(Debug, Clone, Default)]
pub struct Btf {
    structs: HashMap<String, StructLayout>,
}

fn rd32(d: &[u8], o: usize) -> Option<u32> {
    d.get(o..o + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl Btf {
    /// Parse raw BTF bytes. `what` names the source in errors.
    pub fn parse(what: &str, d: &[u8]) -> Result<Btf> {
        let bad = |m: &str| Error::malformed(format!("BTF: {m}")).in_file(what);
        if d.len() < 24 || u16::from_le_bytes([d[0], d[1]]) != BTF_MAGIC {
            return Err(bad("bad magic (big-endian or not BTF)"));
        }
        let hdr_len = rd32(d, 4).ok_or_else(|| bad("truncated header"))? as usize;
        let type_off = rd32(d, 8).ok_or_else(|| bad("truncated header"))? as usize;
        let type_len = rd32(d, 12).ok_or_else(|| bad("truncated header"))? as usize;
        let str_off = rd32(d, 16).ok_or_else(|| bad("truncated header"))? as usize;
        let str_len = rd32(d, 20).ok_or_else(|| bad("truncated header"))? as usize;
        let types = hdr_len
            .checked_add(type_off)
            .and_then(|s| Some(s..s.checked_add(type_len)?))
            .and_then(|r| d.get(r))
            .ok_or_else(|| bad("type section outside the data"))?;
        let strs = hdr_len
            .checked_add(str_off)
            .and_then(|s| Some(s..s.checked_add(str_len)?))
            .and_then(|r| d.get(r))
            .ok_or_else(|| bad("string section outside the data"))?;
        let name = |off: u32| -> Option<&str> {
            let s = strs.get(off as usize..)?;
            let end = s.iter().position(|&b| b == 0)?;
            std::str::from_utf8(&s[..end]).ok()
        };
        let mut structs = HashMap::new();
        let mut o = 0usize;
        while o < types.len() {
            let name_off = rd32(types, o).ok_or_else(|| bad("truncated type"))?;
            let info = rd32(types, o + 4).ok_or_else(|| bad("truncated type"))?;
            let size = rd32(types, o + 8).ok_or_else(|| bad("truncated type"))?;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            o += 12;
            let extra = match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
                k => return Err(bad(&format!("unknown type kind {k}"))),
            };
            if o + extra > types.len() {
                return Err(bad("truncated type record"));
            }
            if kind == KIND_STRUCT
                && name_off != 0
                && let Some(n) = name(name_off)
            {
                let mut members = HashMap::new();
                for m in 0..vlen {
                    let mo = o + 12 * m;
                    let mname = rd32(types, mo).unwrap_or(0);
                    let moff = rd32(types, mo + 8).unwrap_or(0);
                    let (bit_off, bitfield) = if kind_flag {
                        (moff & 0x00ff_ffff, moff >> 24 != 0)
                    } else {
                        (moff, false)
                    };
                    if !bitfield
                        && bit_off % 8 == 0
                        && let Some(mn) = name(mname)
                        && !mn.is_empty()
                    {
                        members.insert(mn.to_string(), (bit_off / 8) as u64);
                    }
                }
                // Keep the first complete definition of a name.
                structs.entry(n.to_string()).or_insert(StructLayout {
                    size: size as u64,
                    members,
                });
            }
            o += extra;
        }
        Ok(Btf { structs })
    }

    /// The layout of `struct name`, or an error.
    pub fn layout(&self, name: &str) -> Result<&StructLayout> {
        self.structs.get(name).ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("BTF: no struct {name} in the target kernel's BTF"),
            )
            .hint("is CONFIG_LIVEPATCH enabled in the target kernel?")
        })
    }

    /// Whether `struct name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.structs.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-made BTF: int, `struct pair { int a; int b; }` (size 8).
    fn sample() -> Vec<u8> {
        let strs = b"\0int\0pair\0a\0b\0";
        let mut types = Vec::new();
        let push = |t: &mut Vec<u8>, v: u32| t.extend_from_slice(&v.to_le_bytes());
        // [1] int
        push(&mut types, 1);
        push(&mut types, KIND_INT << 24);
        push(&mut types, 4);
        push(&mut types, 32);
        // [2] struct pair, 2 members
        push(&mut types, 5);
        push(&mut types, (KIND_STRUCT << 24) | 2);
        push(&mut types, 8);
        for (n, off) in [(10u32, 0u32), (12, 32)] {
            push(&mut types, n);
            push(&mut types, 1);
            push(&mut types, off);
        }
        let mut d = Vec::new();
        d.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        d.push(1);
        d.push(0);
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strs.len() as u32,
        ] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(&types);
        d.extend_from_slice(strs);
        d
    }

    #[test]
    fn parses_struct_layouts() {
        let b = Btf::parse("t", &sample()).unwrap();
        let l = b.layout("pair").unwrap();
        assert_eq!(l.size, 8);
        assert_eq!(l.offset("pair", "b").unwrap(), 4);
        assert!(b.layout("missing").is_err());
    }

    #[test]
    fn rejects_garbage() {
        let mut d = sample();
        assert!(Btf::parse("t", &d[..10]).is_err());
        d[0] = 0;
        assert!(Btf::parse("t", &d).is_err());
        let mut d = sample();
        d[12] = 0xff; // type_len past the end
        assert!(Btf::parse("t", &d).is_err());
    }
}
