//! A small builder for synthetic relocatable objects, written with
//! klpwrite's own writer and re-read with its loader.

use std::collections::HashMap;

use klpwrite::elf::Elf;
use klpwrite::elf::consts::*;
use klpwrite::elf::load::{Expect, load};
use klpwrite::output::{OutData, OutObject, OutReloc, OutSection, OutSymbol, Place};
use klpwrite::write;

/// Builder state: sections and symbols by name.
#[derive(Default)]
pub struct Obj {
    out: OutObject,
    syms: HashMap<String, usize>,
    secs: HashMap<String, usize>,
    relocs: Vec<(usize, OutReloc)>,
}

impl Obj {
    /// An STT_FILE symbol; locals added after it belong to it.
    pub fn file(&mut self, name: &str) -> &mut Self {
        self.out.add_symbol(OutSymbol {
            name: name.into(),
            st_info: STT_FILE,
            st_other: 0,
            place: Place::Abs,
            value: 0,
            size: 0,
        });
        self
    }

    /// A section with bytes.
    pub fn section(&mut self, name: &str, flags: u64, bytes: &[u8], entsize: u64) -> usize {
        let id = self.out.add_section(OutSection {
            name: name.into(),
            sh_type: SHT_PROGBITS,
            sh_flags: flags,
            sh_addralign: 1,
            sh_entsize: entsize,
            link: None,
            data: OutData::Bytes(bytes.to_vec()),
            symbol: None,
        });
        self.secs.insert(name.into(), id);
        id
    }

    /// A function `name` in its own `.text.<name>` section.
    pub fn func(&mut self, name: &str, global: bool, bytes: &[u8]) -> &mut Self {
        let sec = self.section(
            &format!(".text.{name}"),
            SHF_ALLOC | SHF_EXECINSTR,
            bytes,
            0,
        );
        let bind = if global { STB_GLOBAL } else { STB_LOCAL };
        let id = self.out.add_symbol(OutSymbol {
            name: name.into(),
            st_info: (bind << 4) | STT_FUNC,
            st_other: 0,
            place: Place::Section(sec),
            value: 0,
            size: bytes.len() as u64,
        });
        self.syms.insert(name.into(), id);
        self
    }

    /// A local 8-byte data object `name` in its own `.data.<name>` section.
    pub fn object(&mut self, name: &str) -> &mut Self {
        let sec = self.section(&format!(".data.{name}"), SHF_ALLOC | SHF_WRITE, &[0; 8], 0);
        let id = self.out.add_symbol(OutSymbol {
            name: name.into(),
            st_info: STT_OBJECT,
            st_other: 0,
            place: Place::Section(sec),
            value: 0,
            size: 8,
        });
        self.syms.insert(name.into(), id);
        self
    }

    /// A global data object over `size` bytes at the start of section `sec`.
    pub fn data_symbol(&mut self, name: &str, sec: usize, size: u64) -> &mut Self {
        let id = self.out.add_symbol(OutSymbol {
            name: name.into(),
            st_info: (STB_GLOBAL << 4) | STT_OBJECT,
            st_other: 0,
            place: Place::Section(sec),
            value: 0,
            size,
        });
        self.syms.insert(name.into(), id);
        self
    }

    /// An undefined global.
    pub fn undef(&mut self, name: &str) -> &mut Self {
        let id = self.out.add_symbol(OutSymbol {
            name: name.into(),
            st_info: STB_GLOBAL << 4,
            st_other: 0,
            place: Place::Undef,
            value: 0,
            size: 0,
        });
        self.syms.insert(name.into(), id);
        self
    }

    /// A relocation in section `sec` against symbol `sym` (a symbol name,
    /// or a section name for its section symbol).
    pub fn reloc(
        &mut self,
        sec: &str,
        offset: u64,
        sym: &str,
        r_type: u32,
        addend: i64,
    ) -> &mut Self {
        let s = self.secs[sec];
        let symbol = match self.syms.get(sym) {
            Some(&i) => i,
            None => self.out.sections[self.secs[sym]]
                .symbol
                .expect("section symbol"),
        };
        self.relocs.push((
            s,
            OutReloc {
                offset,
                symbol,
                r_type,
                addend,
            },
        ));
        self
    }

    /// Write and re-read.
    pub fn finish(&mut self, path: &str) -> Elf {
        let mut out = self.out.clone();
        for target in 0..out.sections.len() {
            let list: Vec<OutReloc> = self
                .relocs
                .iter()
                .filter(|(s, _)| *s == target)
                .map(|r| r.1)
                .collect();
            if !list.is_empty() {
                out.add_relocations(target, None, list);
            }
        }
        let bytes = write::to_bytes(&out).unwrap();
        std::fs::write(path, &bytes).unwrap();
        load(path, bytes, Expect::Relocatable).unwrap()
    }
}
