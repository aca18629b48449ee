//! The target kernel image given to `module --vmlinux`: an uncompressed
//! vmlinux (ELF with `.BTF`), a bzImage/vmlinuz (its payload is
//! decompressed), or raw BTF such as a copy of `/sys/kernel/btf/vmlinux`.
//! From it klpwrite takes the BTF and, when present, the kernel release
//! (`Linux version <release> ...`), which the reference module's vermagic
//! must match.

use crate::btf::Btf;
use crate::elf::load::{Expect, load};
use crate::error::{Error, ErrorKind, Result};

/// What was learned from the image.
#[derive(Debug)]
pub struct KernelImage {
    /// Path, for messages.
    pub path: String,
    /// The kernel's BTF.
    pub btf: Btf,
    /// `UTS_RELEASE`, when the image carries it.
    pub release: Option<String>,
}

fn release_in(bytes: &[u8]) -> Option<String> {
    let pat = b"Linux version ";
    let p = bytes.windows(pat.len()).position(|w| w == pat)?;
    let rest = &bytes[p + pat.len()..];
    let end = rest.iter().position(|&b| b == b' ' || b == 0)?;
    std::str::from_utf8(&rest[..end]).ok().map(str::to_string)
}

impl KernelImage {
    /// Read and recognise `path`.
    pub fn load(path: &str) -> Result<KernelImage> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot read kernel image: {e}")).in_file(path)
        })?;
        Self::from_bytes(path, bytes)
    }

    /// Recognise an image already in memory.
    pub fn from_bytes(path: &str, bytes: Vec<u8>) -> Result<KernelImage> {
        if bytes.starts_with(&[0x9f, 0xeb]) {
            return Ok(KernelImage {
                path: path.into(),
                btf: Btf::parse(path, &bytes)?,
                release: None,
            });
        }
        if bytes.starts_with(b"\x7fELF") {
            let release = release_in(&bytes);
            let elf = load(path, bytes, Expect::Any)?;
            let sec = elf.section_by_name(b".BTF").ok_or_else(|| {
                Error::new(
                    ErrorKind::Unsupported,
                    "no .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF?)",
                )
                .in_file(path)
            })?;
            let btf = Btf::parse(path, elf.data(sec))?;
            return Ok(KernelImage {
                path: path.into(),
                btf,
                release,
            });
        }
        if bytes.len() > 0x260 && &bytes[0x202..0x206] == b"HdrS" {
            let elf = decompress_bzimage(&bytes).map_err(|e| e.in_file(path))?;
            return Self::from_bytes(path, elf);
        }
        Err(Error::malformed("neither an ELF vmlinux, a bzImage, nor raw BTF").in_file(path))
    }
}

/// The ELF vmlinux of a kernel image: `path` itself when it is an ELF
/// file, the decompressed payload of a bzImage/vmlinuz.
pub fn elf_bytes(path: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(ErrorKind::Io, format!("cannot read kernel image: {e}")).in_file(path)
    })?;
    if bytes.starts_with(b"\x7fELF") {
        return Ok(bytes);
    }
    if bytes.len() > 0x260 && &bytes[0x202..0x206] == b"HdrS" {
        return decompress_bzimage(&bytes).map_err(|e| e.in_file(path));
    }
    Err(Error::malformed("neither an ELF vmlinux nor a bzImage").in_file(path))
}

/// Largest kernel image klpwrite decompresses.
const MAX_IMAGE: usize = 1 << 30;

/// The ELF vmlinux inside a bzImage: the setup header gives the payload's
/// offset and length (`payload_offset`/`payload_length`, boot protocol
/// 2.08+), relative to the protected-mode code after the setup sectors.
pub fn decompress_bzimage(b: &[u8]) -> Result<Vec<u8>> {
    let rd32 = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
    let version = u16::from_le_bytes([b[0x206], b[0x207]]);
    if version < 0x208 {
        return Err(Error::unsupported(format!(
            "bzImage boot protocol {:#x} has no payload fields (need 2.08+)",
            version
        )));
    }
    let setup_sects = match b[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let start = (setup_sects + 1) * 512 + rd32(0x248);
    let len = rd32(0x24c);
    let payload = start
        .checked_add(len)
        .and_then(|end| b.get(start..end))
        .ok_or_else(|| Error::malformed("bzImage payload lies outside the file"))?;
    if payload.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return xz::decode(payload);
    }
    if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return zstd_decode(payload);
    }
    let kind = match payload.get(..4) {
        Some([0x1f, 0x8b, ..]) => "gzip",
        Some([0x28, 0xb5, 0x2f, 0xfd]) => "zstd",
        Some([0x02, 0x21, 0x4c, 0x18]) => "lz4",
        Some([0x5d, 0, 0, ..]) => "lzma",
        _ => "unknown",
    };
    Err(Error::unsupported(format!(
        "bzImage payload is {kind}-compressed; klpwrite decompresses XZ (Debian's 6.1) and zstd (Debian's 6.12) only"
    ))
    .hint("pass the uncompressed vmlinux (scripts/extract-vmlinux) or /sys/kernel/btf/vmlinux"))
}

/// zstd as the kernel writes it (`cmd_zstd22_with_size`,
/// scripts/Makefile.lib, v6.12; Debian's 6.12 uses CONFIG_KERNEL_ZSTD): one
/// frame, then the uncompressed size as 4 little-endian bytes
/// (`size_append`), which is checked against the frame's content.
fn zstd_decode(payload: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut src = payload;
    let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut src)
        .map_err(|e| Error::malformed(format!("zstd: frame header: {e}")))?;
    let mut out = Vec::new();
    (&mut dec)
        .take(MAX_IMAGE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::malformed(format!("zstd: {e}")))?;
    if out.len() > MAX_IMAGE {
        return Err(Error::malformed(
            "zstd: the kernel image is larger than 1 GiB",
        ));
    }
    drop(dec);
    if let Some(t) = payload.len().checked_sub(4).and_then(|o| payload.get(o..))
        && u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize != out.len()
    {
        return Err(Error::malformed(format!(
            "zstd: {} bytes decompressed, the size appended to the payload says {}",
            out.len(),
            u32::from_le_bytes([t[0], t[1], t[2], t[3]])
        )));
    }
    Ok(out)
}

/// XZ as the kernel writes it (`scripts/xz_wrap.sh`): one stream, one
/// block, the x86 BCJ filter in front of LZMA2. LZMA2 itself is decoded by
/// lzma-rs; the container and the BCJ filter are handled here.
mod xz {
    use super::MAX_IMAGE;
    use crate::error::{Error, Result};

    const FILTER_X86: u64 = 0x04;
    const FILTER_LZMA2: u64 = 0x21;

    fn vli(b: &[u8], pos: &mut usize) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..9 {
            let byte = *b
                .get(*pos)
                .ok_or_else(|| Error::malformed("xz: truncated number"))?;
            *pos += 1;
            v |= ((byte & 0x7f) as u64) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::malformed("xz: number too long"))
    }

    /// A writer that refuses to grow past [`MAX_IMAGE`].
    struct Bounded(Vec<u8>);

    impl std::io::Write for Bounded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + buf.len() > MAX_IMAGE {
                return Err(std::io::Error::other(
                    "decompressed image larger than 1 GiB",
                ));
            }
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    pub fn decode(d: &[u8]) -> Result<Vec<u8>> {
        if d.len() < 12 + 8 {
            return Err(Error::malformed("xz: truncated stream"));
        }
        // Stream header: magic (6), flags (2), CRC32 (4).
        let mut pos = 12;
        let hsize = (*d.get(pos).ok_or_else(|| Error::malformed("xz: no block"))? as usize + 1) * 4;
        let header = d
            .get(pos..pos + hsize)
            .ok_or_else(|| Error::malformed("xz: truncated block header"))?;
        let flags = header[1];
        let nfilters = (flags & 3) as usize + 1;
        let mut hp = 2;
        if flags & 0x40 != 0 {
            vli(header, &mut hp)?;
        }
        if flags & 0x80 != 0 {
            vli(header, &mut hp)?;
        }
        let mut filters = Vec::new();
        for _ in 0..nfilters {
            let id = vli(header, &mut hp)?;
            let psize = vli(header, &mut hp)? as usize;
            let props = header
                .get(hp..hp + psize)
                .ok_or_else(|| Error::malformed("xz: truncated filter"))?;
            hp += psize;
            filters.push((id, props.to_vec()));
        }
        let (bcj, start) = match filters.as_slice() {
            [(FILTER_LZMA2, _)] => (false, 0u32),
            [(FILTER_X86, p), (FILTER_LZMA2, _)] => {
                let start = match p.as_slice() {
                    [] => 0,
                    [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
                    _ => return Err(Error::malformed("xz: bad x86 filter properties")),
                };
                (true, start)
            }
            other => {
                let ids: Vec<String> = other.iter().map(|f| format!("{:#x}", f.0)).collect();
                return Err(Error::unsupported(format!(
                    "xz: filter chain [{}] is not x86+LZMA2",
                    ids.join(", ")
                )));
            }
        };
        pos += hsize;
        let mut out = Bounded(Vec::new());
        let mut input = &d[pos..];
        lzma_rs::lzma2_decompress(&mut input, &mut out)
            .map_err(|e| Error::malformed(format!("xz: LZMA2 data: {e}")))?;
        let mut data = out.0;
        if bcj {
            x86_decode(&mut data, start);
        }
        Ok(data)
    }

    /// Undo the x86 branch-call-jump filter: the encoder turned the rel32
    /// of E8/E9 instructions into absolute targets so they compress well.
    fn x86_decode(buf: &mut [u8], start: u32) {
        const ALLOWED: [bool; 8] = [true, true, true, false, true, false, false, false];
        const BIT: [u32; 8] = [0, 1, 2, 2, 3, 3, 3, 3];
        let ms = |b: u8| b == 0 || b == 0xff;
        if buf.len() < 5 {
            return;
        }
        let mut mask: u32 = 0;
        let mut prev = start.wrapping_sub(5);
        let mut i = 0usize;
        while i + 5 <= buf.len() {
            if buf[i] != 0xe8 && buf[i] != 0xe9 {
                i += 1;
                continue;
            }
            let here = start.wrapping_add(i as u32);
            let gap = here.wrapping_sub(prev);
            prev = here;
            if gap > 5 {
                mask = 0;
            } else {
                for _ in 0..gap {
                    mask &= 0x77;
                    mask <<= 1;
                }
            }
            let b4 = buf[i + 4];
            if ms(b4) && ALLOWED[((mask >> 1) & 7) as usize] && (mask >> 1) < 0x10 {
                let mut src = u32::from_le_bytes([buf[i + 1], buf[i + 2], buf[i + 3], b4]);
                let mut dest;
                loop {
                    dest = src.wrapping_sub(here.wrapping_add(5));
                    if mask == 0 {
                        break;
                    }
                    let k = BIT[(mask >> 1) as usize];
                    if !ms((dest >> (24 - k * 8)) as u8) {
                        break;
                    }
                    src = dest ^ ((1u32 << (32 - k * 8)) - 1);
                }
                let v = (dest & 0x01ff_ffff)
                    | if dest & 0x0100_0000 != 0 {
                        0xff00_0000
                    } else {
                        0
                    };
                buf[i + 1..i + 5].copy_from_slice(&v.to_le_bytes());
                i += 5;
                mask = 0;
            } else {
                i += 1;
                mask |= 1;
                if ms(b4) {
                    mask |= 0x10;
                }
            }
        }
    }
}
