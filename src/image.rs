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
        if bytes.len() > 0x210 && &bytes[0x202..0x206] == b"HdrS" {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "compressed kernel images (bzImage/vmlinuz) are not supported yet",
            )
            .in_file(path)
            .hint("pass the uncompressed vmlinux (scripts/extract-vmlinux) or /sys/kernel/btf/vmlinux of the target"));
        }
        Err(Error::malformed("neither an ELF vmlinux, a bzImage, nor raw BTF").in_file(path))
    }
}
