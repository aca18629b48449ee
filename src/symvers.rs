//! `Module.symvers`: which symbols are exported, by whom, with which CRC.
//!
//! Lines are tab-separated. Kernels since 5.10 write
//! `CRC<TAB>symbol<TAB>module<TAB>export-type<TAB>namespace`; 5.4–5.9 wrote
//! `CRC<TAB>symbol<TAB>namespace<TAB>module<TAB>export-type`; older ones
//! have four fields. The export-type column (`EXPORT_SYMBOL...`) tells the
//! two five-column layouts apart. Module paths are normalised the way the
//! kernel names modules: `drivers/kvm/kvm-intel` → `kvm_intel`.

use std::collections::HashMap;

use crate::error::{Error, ErrorKind, Result};

/// One exported symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// CRC (modversions), low 32 bits.
    pub crc: u32,
    /// `vmlinux` or the normalised module name.
    pub module: String,
    /// `EXPORT_SYMBOL`, `EXPORT_SYMBOL_GPL`, ...
    pub export_type: String,
    /// Symbol namespace, if any.
    pub namespace: Option<String>,
}

/// All exports of one `Module.symvers`.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    map: HashMap<String, Export>,
}

/// Kernel module name from a path: basename, extension removed, `-` → `_`.
pub fn normalize_module(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let base = base
        .strip_suffix(".ko")
        .or_else(|| base.strip_suffix(".o"))
        .unwrap_or(base);
    base.replace('-', "_")
}

impl Exports {
    /// Parse the text of a `Module.symvers`.
    pub fn parse(path: &str, text: &str) -> Result<Exports> {
        let mut map: HashMap<String, Export> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let no = i + 1;
            let err = |msg: String| {
                Error::malformed(msg)
                    .in_file(path)
                    .at(format!("line {no}"))
                    .hint("expected `CRC<TAB>symbol<TAB>module<TAB>EXPORT_SYMBOL[_GPL][<TAB>namespace]`")
            };
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 4 || f.len() > 5 {
                return Err(err(format!(
                    "{} tab-separated fields, expected 4 or 5",
                    f.len()
                )));
            }
            let crc_s = f[0];
            let crc = crc_s
                .strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .filter(|&c| c <= u32::MAX as u64)
                .ok_or_else(|| err(format!("bad CRC {crc_s:?}")))? as u32;
            let sym = f[1];
            if sym.is_empty() || sym.contains(char::is_whitespace) {
                return Err(err(format!("bad symbol name {sym:?}")));
            }
            let (module, export_type, namespace) = if f[3].starts_with("EXPORT_") {
                (f[2], f[3], f.get(4).copied())
            } else if f.len() == 5 && f[4].starts_with("EXPORT_") {
                (f[3], f[4], Some(f[2]))
            } else {
                return Err(err(format!(
                    "no EXPORT_* export type in column 4 or 5 of {line:?}"
                )));
            };
            if module.is_empty() {
                return Err(err("empty module column".into()));
            }
            let export = Export {
                crc,
                module: normalize_module(module),
                export_type: export_type.to_string(),
                namespace: namespace.filter(|n| !n.is_empty()).map(str::to_string),
            };
            if let Some(prev) = map.get(sym)
                && prev.module != export.module
            {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "symbol {sym} is exported by both {} and {}",
                        prev.module, export.module
                    ),
                )
                .in_file(path)
                .at(format!("line {no}")));
            }
            map.insert(sym.to_string(), export);
        }
        Ok(Exports { map })
    }

    /// Read and parse a file.
    pub fn load(path: &str) -> Result<Exports> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot read Module.symvers: {e}")).in_file(path)
        })?;
        Self::parse(path, &text)
    }

    /// The export of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Export> {
        self.map.get(name)
    }

    /// Number of exports.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no exports.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Add an export (used by tools that synthesise a symvers).
    pub fn insert(&mut self, name: &str, export: Export) {
        self.map.insert(name.to_string(), export);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let t = "0x92997ed8\t_printk\tvmlinux\tEXPORT_SYMBOL\t\n\
                 0x12345678\tkvm_foo\tarch/x86/kvm/kvm-intel\tEXPORT_SYMBOL_GPL\tKVM\n\
                 0x00000001\told_ns\tNS\tfs/ext4/ext4\tEXPORT_SYMBOL\n\
                 0x00000002\tfour\tvmlinux\tEXPORT_SYMBOL_GPL\n";
        let e = Exports::parse("s", t).unwrap();
        assert_eq!(e.get("_printk").unwrap().module, "vmlinux");
        assert_eq!(e.get("_printk").unwrap().crc, 0x92997ed8);
        assert_eq!(e.get("_printk").unwrap().namespace, None);
        assert_eq!(e.get("kvm_foo").unwrap().module, "kvm_intel");
        assert_eq!(e.get("kvm_foo").unwrap().namespace.as_deref(), Some("KVM"));
        assert_eq!(e.get("old_ns").unwrap().module, "ext4");
        assert_eq!(e.get("four").unwrap().export_type, "EXPORT_SYMBOL_GPL");
        assert_eq!(e.len(), 4);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for bad in [
            "0x1\tsym\n",
            "zz\tsym\tvmlinux\tEXPORT_SYMBOL\n",
            "0x1\tsym\tvmlinux\tNOT_AN_EXPORT\n",
            "0x100000000\tsym\tvmlinux\tEXPORT_SYMBOL\n",
        ] {
            let e = Exports::parse("s", &format!("0x1\tok\tvmlinux\tEXPORT_SYMBOL\n{bad}"))
                .unwrap_err();
            assert!(e.to_string().contains("line 2"), "{e}");
            assert_eq!(e.kind(), ErrorKind::Malformed);
        }
    }
}
