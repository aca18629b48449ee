//! Facts about the target kernel: its version (which decides the livepatch
//! rules that apply) and its vermagic, from `--kernel-version` or from any
//! module built for it (`--ref-module`).
//!
//! Version-dependent rules klpwrite applies:
//!
//! * **5.8 and later**: vmlinux klp relocations are applied while the patch
//!   module loads, before its special sections are processed; module klp
//!   relocations later, when the target module is present. So special
//!   sections may use vmlinux klp symbols but never module ones.
//! * **4.9 to 5.7**: every klp relocation is applied late, after the patch
//!   module's alternatives, paravirt patches and jump labels were
//!   processed. Alternatives and paravirt entries go into
//!   `.klp.arch.<obj>..altinstructions` / `..parainstructions`, which the
//!   livepatch core applies after the relocations; jump labels are refused
//!   (tracepoint and dynamic-debug sites are dropped); static calls do not
//!   exist yet.
//! * **before 4.9**: not supported (no `.klp.arch`; kpatch dropped those
//!   kernels too).

use crate::elf::Elf;
use crate::error::{Error, ErrorKind, Result};

/// A kernel version, major and minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl Version {
    /// Parse `6.1`, `6.1.0-48-amd64`, `5.7.19`, `4.18.0-305.el8.x86_64`.
    pub fn parse(s: &str) -> Result<Version> {
        let err = || {
            Error::new(
                ErrorKind::Usage,
                format!("bad kernel version {s:?}: expected MAJOR.MINOR[...]"),
            )
        };
        let mut it = s.split(['.', '-', ' ']);
        let major: u32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
        let minor: u32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
        if !(2..=99).contains(&major) {
            return Err(err());
        }
        Ok(Version(major, minor))
    }

    /// Whether this kernel uses the legacy (pre-5.8) livepatch rules.
    pub fn is_legacy(self) -> bool {
        self < Version(5, 8)
    }

    /// Refuse kernels klpwrite cannot target.
    pub fn check_supported(self) -> Result<()> {
        if self < Version(4, 9) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "kernel {self}: klpwrite targets 4.9 and later (before 4.9 there is no .klp.arch, so alternatives in patched code would be applied before its klp relocations)"
                ),
            ));
        }
        Ok(())
    }
}

/// The `vermagic=` string of a module's `.modinfo`.
pub fn vermagic(elf: &Elf) -> Result<String> {
    let sec = elf.section_by_name(b".modinfo").ok_or_else(|| {
        Error::malformed("no .modinfo section: not a kernel module").in_file(&elf.path)
    })?;
    elf.data(sec)
        .split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(b"vermagic="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .ok_or_else(|| Error::malformed("no vermagic in .modinfo").in_file(&elf.path))
}

/// The kernel version of a reference module, from its vermagic.
pub fn version_of_module(elf: &Elf) -> Result<Version> {
    let v = vermagic(elf)?;
    Version::parse(&v).map_err(|e| {
        Error::malformed(format!("vermagic {v:?}: {}", e.message())).in_file(&elf.path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for (s, v) in [
            ("6.1", Version(6, 1)),
            (
                "6.1.0-48-amd64 SMP preempt mod_unload modversions ",
                Version(6, 1),
            ),
            ("5.7.19", Version(5, 7)),
            ("4.18.0-305.el8.x86_64", Version(4, 18)),
        ] {
            assert_eq!(Version::parse(s).unwrap(), v, "{s}");
        }
        for bad in ["", "6", "x.1", "6.x", "1.0", "100.1"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert!(Version(5, 7).is_legacy());
        assert!(!Version(5, 8).is_legacy());
        assert!(Version(4, 8).check_supported().is_err());
        assert!(Version(4, 9).check_supported().is_ok());
    }
}
