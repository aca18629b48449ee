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
//!
//! Which set applies is read from the target itself when its vmlinux
//! symbols are given ([`RULE_MARKERS`]); the version number, corrected by a
//! table of known backports ([`BACKPORTS`]), is only the fallback. See
//! [`Rules::decide`].

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

/// Which set of livepatch rules the target kernel follows, and how that
/// was decided.
///
/// The rules are a property of the kernel's livepatch core, not of its
/// version number: distributions backport the 5.8 rework (RHEL 8 from
/// 4.18.0-284 carries it), so the target's own symbols decide first and a
/// version only when the symbols cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The pre-5.8 rules (`.klp.arch`, late vmlinux relocations).
    pub legacy: bool,
    /// The kernel version, when given (`--kernel-version`, `--ref-module`).
    pub version: Option<Version>,
    /// What decided `legacy`.
    pub basis: Basis,
}

/// What decided the livepatch rules of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// A symbol of the target's vmlinux that exists only under one set of
    /// rules.
    Symbol(&'static str),
    /// The release string matched a known backport of the 5.8 rework.
    Backport(&'static str),
    /// The version number alone.
    Version,
}

/// vmlinux symbols that exist only under one set of rules (x86-64 with
/// CONFIG_LIVEPATCH), with whether they mean the legacy rules.
///
/// * `arch_klp_init_object_loaded`: defined in arch/x86/kernel/livepatch.c
///   (v4.9 to v5.7), the function that applied `.klp.arch.<obj>..<section>`
///   alternatives and paravirt patches after the klp relocations (called
///   from kernel/livepatch/core.c `klp_init_object_loaded`). The whole file
///   is deleted by "livepatch: Remove .klp.arch" (1d05334d2899, v5.8).
/// * `klp_apply_section_relocs`: kernel/livepatch/core.c, added by
///   "livepatch: Apply vmlinux-specific KLP relocations early"
///   (7c8e2bdd5f0d, v5.8) and called by the module loader
///   (kernel/module.c `apply_relocations`, later kernel/module/main.c
///   `load_module`) for every SHF_RELA_LIVEPATCH section. A global function,
///   so it is in every kallsyms and vmlinux symbol table.
///
/// Checked in this order, so a backport that kept an old name still counts
/// as reworked. Kernels before 4.9 have neither (and are refused by
/// version).
pub const RULE_MARKERS: &[(&str, bool)] = &[
    ("klp_apply_section_relocs", false),
    ("arch_klp_init_object_loaded", true),
];

/// Distribution kernels whose version number is below 5.8 but which carry
/// the 5.8 livepatch rework: (release prefix, first build number with it,
/// release tag). RHEL 8 took the series in 4.18.0-284 (RHEL 8.4).
pub const BACKPORTS: &[(&str, u32, &str)] = &[("4.18.0-", 284, ".el8")];

impl Rules {
    /// Whether the legacy (pre-5.8) rules apply.
    pub fn is_legacy(self) -> bool {
        self.legacy
    }

    /// Refuse kernels klpwrite cannot target (by version, when known).
    pub fn check_supported(self) -> Result<()> {
        match self.version {
            Some(v) => v.check_supported(),
            None => Ok(()),
        }
    }

    /// Rules from a release string alone (`--kernel-version`, a reference
    /// module's vermagic): a known backport, else the version number.
    pub fn from_release(release: &str) -> Result<Rules> {
        let version = Version::parse(release)?;
        let rel = release.split(' ').next().unwrap_or("");
        for &(prefix, first, tag) in BACKPORTS {
            if let Some(rest) = rel.strip_prefix(prefix)
                && rel.contains(tag)
                && let Some(build) = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|b| b.parse::<u32>().ok())
                && build >= first
            {
                return Ok(Rules {
                    legacy: false,
                    version: Some(version),
                    basis: Basis::Backport(tag),
                });
            }
        }
        Ok(Rules {
            legacy: version.is_legacy(),
            version: Some(version),
            basis: Basis::Version,
        })
    }

    /// Decide the rules: the target's vmlinux symbols first (`has` answers
    /// whether vmlinux has a symbol of that name), the release as fallback.
    /// Returns the rules (None: nothing known, the 5.8+ rules apply) and a
    /// sentence for `--explain`.
    pub fn decide(
        has: Option<&dyn Fn(&str) -> bool>,
        release: Option<&str>,
    ) -> Result<(Option<Rules>, String)> {
        let from_release = release.map(Rules::from_release).transpose()?;
        let marker = has.and_then(|has| RULE_MARKERS.iter().find(|(m, _)| has(m)));
        if let Some(&(m, legacy)) = marker {
            let r = Rules {
                legacy,
                version: from_release.and_then(|r| r.version),
                basis: Basis::Symbol(m),
            };
            let mut why = format!(
                "livepatch rules: {} (the target's vmlinux has {m}{})",
                r.describe(),
                if legacy {
                    ", which exists only before the 5.8 rework"
                } else {
                    ", added by the 5.8 rework"
                }
            );
            if let Some(fr) = from_release
                && fr.legacy != legacy
            {
                why.push_str(&format!(
                    "; the release {} alone would have meant {}",
                    release.unwrap_or(""),
                    fr.describe()
                ));
            }
            return Ok((Some(r), why));
        }
        match from_release {
            Some(r) => {
                let why = match r.basis {
                    Basis::Backport(tag) => format!(
                        "livepatch rules: {} (release {}: a {tag} kernel that carries the 5.8 rework; the target's symbols do not tell)",
                        r.describe(),
                        release.unwrap_or("")
                    ),
                    _ => format!(
                        "livepatch rules: {} (from the version number {}; the target's symbols do not tell)",
                        r.describe(),
                        release.unwrap_or("")
                    ),
                };
                Ok((Some(r), why))
            }
            None => Ok((
                None,
                "livepatch rules: 5.8+ (default: no version given and the target's symbols do not tell)"
                    .into(),
            )),
        }
    }

    fn describe(self) -> &'static str {
        if self.legacy {
            "pre-5.8 (.klp.arch sections, late vmlinux relocations)"
        } else {
            "5.8+ (the module loader applies vmlinux klp relocations)"
        }
    }
}

impl std::fmt::Display for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(v) => write!(f, "{v}"),
            None if self.legacy => write!(f, "pre-5.8"),
            None => write!(f, "5.8+"),
        }
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

    #[test]
    fn rules_from_release_and_backports() {
        let r = |s: &str| Rules::from_release(s).unwrap();
        assert!(r("5.7.19").is_legacy());
        assert!(!r("5.8").is_legacy());
        assert!(!r("6.1.0-48-amd64 SMP preempt mod_unload modversions ").is_legacy());
        // RHEL 8: the rework arrived in 4.18.0-284.
        assert!(r("4.18.0-240.el8.x86_64").is_legacy());
        assert!(!r("4.18.0-284.el8.x86_64").is_legacy());
        assert!(!r("4.18.0-305.el8.x86_64 SMP mod_unload modversions ").is_legacy());
        assert!(!r("4.18.0-553.5.1.el8_10.x86_64").is_legacy());
        assert_eq!(r("4.18.0-305.el8.x86_64").basis, Basis::Backport(".el8"));
        // Same numbers without the RHEL tag: the version decides.
        assert!(r("4.18.0-305-generic").is_legacy());
        assert!(Rules::from_release("x").is_err());
    }

    #[test]
    fn rules_from_the_target_first() {
        let rework = |n: &str| n == "klp_apply_section_relocs";
        let legacy = |n: &str| n == "arch_klp_init_object_loaded";
        let none = |_: &str| false;
        let (r, why) = Rules::decide(Some(&rework), Some("4.18.0-240.el8.x86_64")).unwrap();
        let r = r.unwrap();
        assert!(!r.is_legacy());
        assert_eq!(r.basis, Basis::Symbol("klp_apply_section_relocs"));
        assert_eq!(r.version, Some(Version(4, 18)));
        assert!(why.contains("klp_apply_section_relocs"), "{why}");
        assert!(why.contains("alone would have meant"), "{why}");
        let (r, _) = Rules::decide(Some(&legacy), None).unwrap();
        assert!(r.unwrap().is_legacy());
        assert_eq!(r.unwrap().to_string(), "pre-5.8");
        let (r, why) = Rules::decide(Some(&none), Some("5.4.0")).unwrap();
        assert!(r.unwrap().is_legacy());
        assert!(why.contains("version number"), "{why}");
        let (r, why) = Rules::decide(None, None).unwrap();
        assert!(r.is_none());
        assert!(why.contains("default"), "{why}");
        // Unsupported versions stay refused even when the symbols tell.
        let (r, _) = Rules::decide(Some(&legacy), Some("4.4.0")).unwrap();
        assert!(r.unwrap().check_supported().is_err());
    }
}
