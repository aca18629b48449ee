//! `module`: a loadable livepatch `.ko` from one or more `extract` outputs.
//!
//! No kbuild, no post-link fix-up: the module is written directly.
//!
//! 1. **merge**: the extract outputs are concatenated section by section
//!    (same-named sections become one, because the module loader finds
//!    `.altinstructions`, `__jump_table`, ... by name and takes the first);
//!    symbols are renumbered, klp symbols and undefined globals shared,
//!    relocations rebased. Outputs for the same target object become one
//!    `klp_object`.
//! 2. **metadata**: `struct klp_patch`, the `klp_object` array and one
//!    `klp_func` array per object, laid out from the target kernel's BTF,
//!    in `.data.klpwrite` with relocations to the names, the new functions
//!    and `__this_module`; `old_sympos` as `extract` decided it.
//! 3. **module glue**: `init_module` (`mov $patch,%rdi; jmp
//!    klp_enable_patch`), `cleanup_module`, `.gnu.linkonce.this_module`
//!    (`struct module` from BTF, checked against the reference module),
//!    `.modinfo` (vermagic of the reference module, `livepatch=Y`,
//!    `license=GPL`, `retpoline=Y` when the kernel has it) and `__versions`
//!    with a CRC from Module.symvers for every undefined symbol plus
//!    `module_layout` from the reference module.
//!
//! A symbol one output needs from another (`needs` in `.klpwrite.patch`,
//! written by `extract --patch-symbols`) is linked to that definition.
//!
//! Anything inconsistent (different vermagic, a missing CRC or BTF type,
//! two outputs defining the same global, the same function patched twice,
//! a needed symbol no output defines) is refused before anything is
//! written.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::btf::Btf;
use crate::elf::Elf;
use crate::elf::consts::*;
use crate::error::{Error, ErrorKind, Result, show};
use crate::extract::{MAX_OBJNAME, META_SECTION, PatchMeta, read_patch_meta};
use crate::kernel;
use crate::output::{OutData, OutObject, OutReloc, OutSection, OutSymbol, Place, align_up};
use crate::symvers::Exports;

const R_64: u32 = 1;
const R_32S: u32 = 11;
const R_PLT32: u32 = 4;
const R_PC32: u32 = 2;

/// Layout facts about the target kernel.
#[derive(Debug, Clone)]
pub struct KernelFacts {
    /// vermagic of the reference module.
    pub vermagic: String,
    /// The kernel version, from the vermagic.
    pub version: kernel::Version,
    /// Whether the kernel uses modversions (the reference has `__versions`).
    pub modversions: bool,
    /// CRC of `module_layout` from the reference module.
    pub module_layout_crc: Option<u32>,
    /// The reference module has `retpoline=Y`.
    pub retpoline: bool,
    /// `sizeof(struct module)` and offsets of name, init, exit.
    pub module: (u64, u64, u64, u64),
    /// `struct klp_func`: size, old_name, new_func, old_sympos.
    pub klp_func: (u64, u64, u64, u64),
    /// `struct klp_object`: size, name, funcs, callbacks.
    pub klp_object: (u64, u64, u64, u64),
    /// `struct klp_callbacks`: pre_patch, post_patch, pre_unpatch, post_unpatch.
    pub klp_callbacks: [u64; 4],
    /// `struct klp_patch`: size, mod, objs, replace.
    pub klp_patch: (u64, u64, u64, u64),
}

fn modinfo_value(elf: &Elf, key: &str) -> Option<String> {
    let sec = elf.section_by_name(b".modinfo")?;
    let prefix = format!("{key}=");
    elf.data(sec)
        .split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// `__versions` entries of a module: (crc, name).
pub fn versions(elf: &Elf) -> Vec<(u32, String)> {
    let Some(sec) = elf.section_by_name(b"__versions") else {
        return Vec::new();
    };
    elf.data(sec)
        .chunks_exact(64)
        .map(|e| {
            let crc = u64::from_le_bytes(e[..8].try_into().expect("8 bytes")) as u32;
            let name = &e[8..];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            (crc, String::from_utf8_lossy(&name[..end]).into_owned())
        })
        .collect()
}

impl KernelFacts {
    /// Gather the facts from a reference module and the kernel's BTF,
    /// cross-checking the two.
    pub fn gather(reference: &Elf, btf: &Btf) -> Result<KernelFacts> {
        let vermagic = kernel::vermagic(reference)?;
        let version = kernel::version_of_module(reference)?;
        let vers = versions(reference);
        let module_layout_crc = vers.iter().find(|v| v.1 == "module_layout").map(|v| v.0);
        let m = btf.layout("module")?;
        let module = (
            m.size,
            m.offset("module", "name")?,
            m.offset("module", "init")?,
            m.offset("module", "exit")?,
        );
        // The reference module's own struct module must agree with BTF.
        let sec = reference
            .section_by_name(b".gnu.linkonce.this_module")
            .ok_or_else(|| {
                Error::malformed("no .gnu.linkonce.this_module: not a kernel module")
                    .in_file(&reference.path)
            })?;
        let ref_size = reference.sections[sec].sh_size;
        if ref_size != module.0 {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "the reference module's struct module is {ref_size} bytes, the BTF says {}: they are not from the same kernel",
                    module.0
                ),
            )
            .in_file(&reference.path));
        }
        for r in reference.relocs_for(sec) {
            let n = &reference.symbols[r.symbol].name;
            let want = if n == b"init_module" {
                module.2
            } else if n == b"cleanup_module" {
                module.3
            } else {
                continue;
            };
            if r.offset != want {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "the reference module puts {} at struct module+{:#x}, the BTF at +{want:#x}: they are not from the same kernel",
                        show(n),
                        r.offset
                    ),
                )
                .in_file(&reference.path));
            }
        }
        let f = btf.layout("klp_func")?;
        let o = btf.layout("klp_object")?;
        let c = btf.layout("klp_callbacks")?;
        let p = btf.layout("klp_patch")?;
        Ok(KernelFacts {
            vermagic,
            version,
            modversions: !vers.is_empty(),
            module_layout_crc,
            retpoline: modinfo_value(reference, "retpoline").is_some(),
            module,
            klp_func: (
                f.size,
                f.offset("klp_func", "old_name")?,
                f.offset("klp_func", "new_func")?,
                f.offset("klp_func", "old_sympos")?,
            ),
            klp_object: (
                o.size,
                o.offset("klp_object", "name")?,
                o.offset("klp_object", "funcs")?,
                o.offset("klp_object", "callbacks")?,
            ),
            klp_callbacks: [
                c.offset("klp_callbacks", "pre_patch")?,
                c.offset("klp_callbacks", "post_patch")?,
                c.offset("klp_callbacks", "pre_unpatch")?,
                c.offset("klp_callbacks", "post_unpatch")?,
            ],
            klp_patch: (
                p.size,
                p.offset("klp_patch", "mod")?,
                p.offset("klp_patch", "objs")?,
                p.offset("klp_patch", "replace")?,
            ),
        })
    }
}

/// A callback of a `klp_object`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// 0 pre_patch, 1 post_patch, 2 pre_unpatch, 3 post_unpatch.
    pub slot: usize,
    /// The function (defined in one of the patch objects).
    pub func: String,
    /// The object it belongs to.
    pub objname: String,
    /// The output symbol, once resolved inside the input that marked it
    /// (None for `--callback`, resolved by name after every input is
    /// merged).
    pub sym: Option<usize>,
}

pub use crate::extract::CALLBACK_SLOTS;

/// Options of `module`.
#[derive(Debug, Clone, Default)]
pub struct ModuleOptions {
    /// Module name.
    pub name: String,
    /// `klp_patch.replace`.
    pub replace: bool,
    /// Callbacks.
    pub callbacks: Vec<Callback>,
}

/// One function to patch, from an extract output's metadata.
#[derive(Debug, Clone)]
struct Func {
    objname: String,
    new_sym: usize,
    old_name: String,
    sympos: u64,
}

fn is_entry_section(name: &[u8]) -> bool {
    crate::arch::x86_64::special_for(name).is_some() || name.starts_with(b".klp.arch.")
}

/// Build the module: merge the patch objects, then add the livepatch
/// structures, init/exit, `struct module`, `.modinfo` and `__versions`.
pub fn build(
    patches: &[Elf],
    facts: &KernelFacts,
    exports: &Exports,
    opts: &ModuleOptions,
) -> Result<OutObject> {
    check_module_name(&opts.name)?;
    check_split_statics(patches)?;
    let mut m = Module::new(opts);
    for p in patches {
        crate::verify::check_input(p)?;
        m.merge(p, facts)?;
    }
    m.link_needs()?;
    let objnames = m.object_names()?;
    let strsec = m.out.add_section(OutSection {
        name: b".rodata.klpwrite.str1.1".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC | SHF_MERGE | SHF_STRINGS,
        sh_addralign: 1,
        sh_entsize: 1,
        link: None,
        data: OutData::Bytes(vec![0]),
        symbol: None,
    });
    let (datasec, data_relocs) = m.klp_structures(facts, &objnames, strsec)?;
    let (init_sym, exit_sym) = m.init_exit(exports, datasec);
    let this_sym = m.this_module(facts, init_sym, exit_sym);
    m.data_relocations(datasec, strsec, this_sym, data_relocs);
    m.modinfo(facts, exports);
    m.versions(facts, exports)?;
    for ((klp_obj, target), list) in std::mem::take(&mut m.relocs) {
        m.out.add_relocations(target, klp_obj.as_deref(), list);
    }
    // Self-check before anyone writes it (crate::verify).
    let file = format!("module {}", opts.name);
    let bytes = crate::write::to_bytes(&m.out).map_err(|e| e.in_file(file.clone()))?;
    let ctx = crate::verify::Context {
        exports: Some(exports),
        ..Default::default()
    };
    crate::verify::self_check(&file, &bytes, &ctx)?;
    Ok(m.out)
}

/// The module name must be a valid kbuild module name.
fn check_module_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_OBJNAME
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || name == "vmlinux"
    {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "module name {name:?}: use 1 to {MAX_OBJNAME} characters of [A-Za-z0-9_] (kbuild turns '-' into '_'), not vmlinux"
            ),
        ));
    }
    Ok(())
}

/// What a relocation in `.data.klpwrite` points at.
#[derive(Clone, Copy)]
enum DataTarget {
    ThisModule,
    Data,
    Str,
    Sym(usize),
}

/// A relocation in `.data.klpwrite`: (offset, target, addend).
type DataReloc = (u64, DataTarget, i64);

/// The module being written: the merged patch objects, and what the later
/// steps need to know about them.
struct Module<'o> {
    opts: &'o ModuleOptions,
    out: OutObject,
    /// Output section by name.
    by_name: HashMap<Vec<u8>, usize>,
    /// Defined globals: output symbol and the file that defines it.
    globals: HashMap<Vec<u8>, (usize, String)>,
    /// Undefined (imported) symbols by name.
    undef: BTreeMap<Vec<u8>, usize>,
    /// SHN_LIVEPATCH symbols by name.
    klp_syms: HashMap<Vec<u8>, usize>,
    /// (klp object, target section) -> relocations.
    relocs: BTreeMap<(Option<Vec<u8>>, usize), Vec<OutReloc>>,
    funcs: Vec<Func>,
    callbacks: Vec<Callback>,
    /// (object, old name, sympos) -> the file that patches it.
    seen_funcs: HashMap<(String, String, u64), String>,
    /// `needs` references (name, file that needs it), linked to another
    /// input's definition once every input is merged; until then a
    /// relocation uses `PENDING + index` as its symbol.
    pending: Vec<(Vec<u8>, String)>,
    /// Input file -> its target object.
    input_obj: HashMap<String, String>,
    /// Objects whose inputs define a symbol another input needs.
    providers: HashSet<String>,
    /// Defined output symbol -> the input file it came from.
    defined_in: HashMap<usize, String>,
    /// The rules of the first input (legacy?) and its file.
    legacy: Option<(bool, String)>,
}

/// Offset of `klp_patch` in `.data.klpwrite` (what `init_module` passes
/// to `klp_enable_patch`).
const PATCH_OFF: u64 = 0;

/// Placeholder symbol ids for `needs` references (see [`Module::link_needs`]).
const PENDING: usize = usize::MAX / 2;

impl<'o> Module<'o> {
    fn new(opts: &'o ModuleOptions) -> Module<'o> {
        Module {
            opts,
            out: OutObject::default(),
            by_name: HashMap::new(),
            globals: HashMap::new(),
            undef: BTreeMap::new(),
            klp_syms: HashMap::new(),
            relocs: BTreeMap::new(),
            funcs: Vec::new(),
            callbacks: opts.callbacks.clone(),
            seen_funcs: HashMap::new(),
            pending: Vec::new(),
            input_obj: HashMap::new(),
            providers: HashSet::new(),
            defined_in: HashMap::new(),
            legacy: None,
        }
    }

    // --- 1. merge -------------------------------------------------------------

    /// Merge one extract output: sections, symbols, relocations, and its
    /// `.klpwrite.patch` (functions and marked callbacks).
    fn merge(&mut self, p: &Elf, facts: &KernelFacts) -> Result<()> {
        let PatchMeta {
            objname,
            funcs: meta,
            callbacks: marked,
            legacy,
            rules_symbol,
            rules_release,
            needs,
        } = read_patch_meta(p)?;
        check_rules(
            p,
            legacy,
            rules_symbol.as_deref(),
            rules_release.as_deref(),
            facts,
        )?;
        // One module, one kernel: every input follows the same rules.
        match &self.legacy {
            None => self.legacy = Some((legacy, p.path.clone())),
            Some((l, first)) if *l != legacy => {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{} was extracted for the {} rules, {first} for the {} rules: one module targets one kernel",
                        p.path,
                        if legacy { "pre-5.8" } else { "5.8+" },
                        if *l { "pre-5.8" } else { "5.8+" }
                    ),
                )
                .hint("extract every object against the same target (symbols and --ref-module)"));
            }
            Some(_) => {}
        }
        self.input_obj.insert(p.path.clone(), objname.clone());
        let sec_map = self.merge_sections(p)?;
        let sym_map = self.merge_symbols(p, &sec_map, &needs)?;
        self.marked_callbacks(p, &objname, marked, &sym_map)?;
        self.merge_relocations(p, &sec_map, &sym_map)?;
        self.patched_functions(p, &objname, meta, &sym_map)
    }

    /// Callbacks marked in input `p` (`.klpwrite.patch` `callback` lines)
    /// belong to `p`'s object and are resolved to `p`'s own definition:
    /// two inputs of one patch may both have a static
    /// `pre_patch_callback`, and each `klp_object` must run its own.
    fn marked_callbacks(
        &mut self,
        p: &Elf,
        objname: &str,
        marked: Vec<(usize, String)>,
        sym_map: &HashMap<usize, (usize, i64)>,
    ) -> Result<()> {
        for (slot, func) in marked {
            let defs: Vec<usize> = p
                .symbols_named(func.as_bytes())
                .iter()
                .copied()
                .filter(|&i| p.symbols[i].is_func() && p.symbols[i].section.is_some())
                .filter_map(|i| sym_map.get(&i).map(|m| m.0))
                .collect();
            let [sym] = defs[..] else {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "callback {} {func}: {} function(s) of that name are defined in this object",
                        CALLBACK_SLOTS[slot],
                        defs.len()
                    ),
                )
                .in_file(&p.path));
            };
            // `self.callbacks` starts as the `--callback` ones.
            if self
                .callbacks
                .iter()
                .any(|c| c.slot == slot && c.objname == objname)
            {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "two {} callbacks for {objname} (one marked in {})",
                        CALLBACK_SLOTS[slot], p.path
                    ),
                ));
            }
            self.callbacks.push(Callback {
                slot,
                func,
                objname: objname.to_string(),
                sym: Some(sym),
            });
        }
        Ok(())
    }

    /// Append the sections of `p` to the same-named output sections (or
    /// new ones); returns input section -> (output section, base offset).
    fn merge_sections(&mut self, p: &Elf) -> Result<HashMap<usize, (usize, u64)>> {
        let out = &mut self.out;
        let mut sec_map: HashMap<usize, (usize, u64)> = HashMap::new();
        for s in &p.sections {
            if s.index == 0
                || matches!(
                    s.sh_type,
                    SHT_SYMTAB | SHT_STRTAB | SHT_RELA | SHT_REL | SHT_GROUP | SHT_SYMTAB_SHNDX
                )
                || s.name == META_SECTION
            {
                continue;
            }
            let packed = is_entry_section(&s.name) || s.name == b".orc_unwind";
            let bytes = p.data(s.index);
            let (os, base) = match self.by_name.get(&s.name) {
                Some(&os) => {
                    let o = &out.sections[os];
                    if o.sh_type != s.sh_type || o.sh_flags != s.sh_flags {
                        return Err(Error::new(
                            ErrorKind::Refused,
                            format!(
                                "section {} has different types or flags in the patch objects",
                                s.display_name()
                            ),
                        )
                        .in_file(&p.path));
                    }
                    let align = if packed { 1 } else { s.sh_addralign.max(1) };
                    let base = if s.is_nobits() {
                        let OutData::Nobits(n) = &mut out.sections[os].data else {
                            unreachable!()
                        };
                        let b = align_up(*n, align);
                        *n = b + s.sh_size;
                        b
                    } else {
                        out.append(os, bytes, align)
                    };
                    if s.sh_addralign > out.sections[os].sh_addralign {
                        out.sections[os].sh_addralign = s.sh_addralign;
                    }
                    (os, base)
                }
                None => {
                    let os = out.add_section(OutSection {
                        name: s.name.clone(),
                        sh_type: s.sh_type,
                        sh_flags: s.sh_flags,
                        sh_addralign: s.sh_addralign.max(1),
                        sh_entsize: s.sh_entsize,
                        link: None,
                        data: if s.is_nobits() {
                            OutData::Nobits(s.sh_size)
                        } else {
                            OutData::Bytes(bytes.to_vec())
                        },
                        symbol: None,
                    });
                    self.by_name.insert(s.name.clone(), os);
                    (os, 0)
                }
            };
            sec_map.insert(s.index, (os, base));
        }
        Ok(sec_map)
    }

    /// Add the symbols of `p`: klp symbols and undefined globals are shared
    /// by name, a global defined twice is refused, and an undefined symbol
    /// `p` needs from another input is left pending. Returns input symbol ->
    /// (output symbol, addend delta).
    fn merge_symbols(
        &mut self,
        p: &Elf,
        sec_map: &HashMap<usize, (usize, u64)>,
        needs: &[String],
    ) -> Result<HashMap<usize, (usize, i64)>> {
        let out = &mut self.out;
        let mut sym_map: HashMap<usize, (usize, i64)> = HashMap::new();
        for s in p.symbols.iter().skip(1) {
            if s.is_section() {
                if let Some(sec) = s.section
                    && let Some(&(os, base)) = sec_map.get(&sec)
                {
                    let sym = out.sections[os].symbol.expect("data sections have symbols");
                    sym_map.insert(s.index, (sym, base as i64));
                }
                continue;
            }
            if s.is_file() {
                out.add_symbol(OutSymbol {
                    name: s.name.clone(),
                    st_info: STT_FILE,
                    st_other: 0,
                    place: Place::Abs,
                    value: 0,
                    size: 0,
                });
                continue;
            }
            let id = if s.is_livepatch() {
                *self.klp_syms.entry(s.name.clone()).or_insert_with(|| {
                    out.add_symbol(OutSymbol {
                        name: s.name.clone(),
                        st_info: s.st_info,
                        st_other: 0,
                        place: Place::Livepatch,
                        value: 0,
                        size: 0,
                    })
                })
            } else if s.is_undef() {
                if s.name.is_empty() {
                    continue;
                }
                if needs.iter().any(|n| n.as_bytes() == &s.name[..]) {
                    self.pending.push((s.name.clone(), p.path.clone()));
                    sym_map.insert(s.index, (PENDING + self.pending.len() - 1, 0));
                    continue;
                }
                *self.undef.entry(s.name.clone()).or_insert_with(|| {
                    out.add_symbol(OutSymbol {
                        name: s.name.clone(),
                        st_info: (STB_GLOBAL << 4) | s.kind(),
                        st_other: 0,
                        place: Place::Undef,
                        value: 0,
                        size: 0,
                    })
                })
            } else if let Some(sec) = s.section {
                let Some(&(os, base)) = sec_map.get(&sec) else {
                    continue;
                };
                if !s.is_local()
                    && let Some((_, other)) = self.globals.get(&s.name)
                {
                    return Err(duplicate_global(&s.display_name(), other, &p.path));
                }
                let id = out.add_symbol(OutSymbol {
                    name: s.name.clone(),
                    st_info: s.st_info,
                    st_other: s.st_other,
                    place: Place::Section(os),
                    value: s.value + base,
                    size: s.size,
                });
                if !s.is_local() {
                    self.globals.insert(s.name.clone(), (id, p.path.clone()));
                }
                self.defined_in.insert(id, p.path.clone());
                id
            } else {
                continue;
            };
            sym_map.insert(s.index, (id, 0));
        }
        Ok(sym_map)
    }

    /// Rebase the relocations of `p`; klp relocation sections keep their
    /// object.
    fn merge_relocations(
        &mut self,
        p: &Elf,
        sec_map: &HashMap<usize, (usize, u64)>,
        sym_map: &HashMap<usize, (usize, i64)>,
    ) -> Result<()> {
        for rs in p.sections.iter().filter(|s| s.is_rela()) {
            let Some(&(os, base)) = sec_map.get(&(rs.sh_info as usize)) else {
                return Err(Error::malformed(format!(
                    "{} applies to a section that was not merged",
                    rs.display_name()
                ))
                .in_file(&p.path));
            };
            let klp_obj: Option<Vec<u8>> = if rs.is_klp_rela() {
                Some(
                    crate::dump::klp_objname(&rs.name, b".klp.rela.").ok_or_else(|| {
                        Error::malformed(format!(
                            "bad klp relocation section name {}",
                            rs.display_name()
                        ))
                        .in_file(&p.path)
                    })?,
                )
            } else {
                None
            };
            for r in p.relocs_of_rsec(rs.index) {
                let Some(&(sym, delta)) = sym_map.get(&r.symbol) else {
                    return Err(Error::malformed(format!(
                        "relocation at {} uses symbol #{} that was not merged",
                        p.locate(r.section, r.offset),
                        r.symbol
                    ))
                    .in_file(&p.path));
                };
                self.relocs
                    .entry((klp_obj.clone(), os))
                    .or_default()
                    .push(OutReloc {
                        offset: r.offset + base,
                        symbol: sym,
                        r_type: r.r_type,
                        addend: r.addend + delta,
                    });
            }
        }
        Ok(())
    }

    /// The `func` lines of `.klpwrite.patch`: one future `klp_func` each; a
    /// function patched by two inputs is refused.
    fn patched_functions(
        &mut self,
        p: &Elf,
        objname: &str,
        meta: Vec<(String, String, u64)>,
        sym_map: &HashMap<usize, (usize, i64)>,
    ) -> Result<()> {
        for (new, old, pos) in meta {
            let s = crate::extract::patched_func_symbol(p, &new)
                .map_err(|e| Error::malformed(e.message(&new)).in_file(&p.path))?;
            // Sympos 0 (a unique name) and 1 bind one function
            // (klp_find_object_symbol() in kernel/livepatch/core.c).
            let key = (objname.to_string(), old.clone(), pos.max(1));
            if let Some(other) = self.seen_funcs.get(&key) {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{old} (sympos {pos}) of {objname} is patched by both {other} and {}",
                        p.path
                    ),
                ));
            }
            self.seen_funcs.insert(key, p.path.clone());
            let new_sym = sym_map[&s].0;
            self.funcs.push(Func {
                objname: objname.to_string(),
                new_sym,
                old_name: old,
                sympos: pos,
            });
        }
        if self.funcs.iter().all(|f| f.objname != objname) {
            // An object with only new functions still needs a klp_object
            // when it carries klp relocations; remember the name.
            self.funcs.push(Func {
                objname: objname.to_string(),
                new_sym: usize::MAX,
                old_name: String::new(),
                sympos: 0,
            });
        }
        Ok(())
    }

    /// Bind every `needs` reference to the global another input defines
    /// (C12: a new symbol of the patch used from another of its objects).
    /// A defined symbol of the module is relocated against its own address
    /// (kernel/module/main.c: simplify_symbols() keeps the st_value of a
    /// defined symbol, apply_relocate_add() uses it); left undefined, the
    /// loader would look it up among the exports and fail.
    fn link_needs(&mut self) -> Result<()> {
        let mut ids = Vec::with_capacity(self.pending.len());
        for (name, needer) in &self.pending {
            let Some((id, path)) = self.globals.get(name) else {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{} is new in the patch and needed here, but no input of the module defines it",
                        show(name)
                    ),
                )
                .in_file(needer)
                .hint("add the extract output of the object that defines it (extract/build it with the function or the code that uses the variable)"));
            };
            ids.push(*id);
            let provider = &self.input_obj[path];
            check_needs_objects(show(name), path, provider, needer, &self.input_obj[needer])?;
            self.providers.insert(provider.clone());
        }
        for r in self.relocs.values_mut().flatten() {
            if r.symbol >= PENDING {
                r.symbol = ids[r.symbol - PENDING];
            }
        }
        Ok(())
    }

    /// A `--callback SLOT=FUNC@OBJ` function: exactly one function of that
    /// name in the merged inputs, and from an input for OBJ or for vmlinux.
    /// A callback runs from the klp core for its object
    /// (kernel/livepatch/core.c: klp_pre_patch_callback() and friends in
    /// klp_patch_object()/klp_module_coming()), which may be vmlinux while a
    /// module is not loaded: code of a module's part has its klp relocations
    /// applied only while that module is loaded (klp_init_object_loaded()),
    /// the same rule as for `needs` (check_needs_objects).
    fn given_callback(&self, cb: &Callback) -> Result<usize> {
        let defs: Vec<usize> = self
            .out
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.name == cb.func.as_bytes()
                    && s.st_info & 0xf == STT_FUNC
                    && matches!(s.place, Place::Section(_))
            })
            .map(|(i, _)| i)
            .collect();
        // Several inputs define it: the one for the callback's own object
        // (as kbuild's callback_input does).
        let same: Vec<usize> = defs
            .iter()
            .copied()
            .filter(|d| {
                self.defined_in
                    .get(d)
                    .and_then(|f| self.input_obj.get(f))
                    .is_some_and(|o| *o == cb.objname)
            })
            .collect();
        let defs = if defs.len() > 1 && same.len() == 1 {
            same
        } else {
            defs
        };
        let sym = match defs[..] {
            [one] => one,
            [] => {
                return Err(Error::new(
                    ErrorKind::Symbol,
                    format!(
                        "callback function {} is not defined in the patch objects",
                        cb.func
                    ),
                ));
            }
            _ => {
                let files: Vec<&str> = defs
                    .iter()
                    .filter_map(|d| self.defined_in.get(d).map(String::as_str))
                    .collect();
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "callback function {} is defined in several patch objects ({}): klpwrite cannot tell which one --callback means",
                        cb.func,
                        files.join(", ")
                    ),
                )
                .hint("give the callback a unique name, or mark it in its source (KLP_*_CALLBACK / KPATCH_*_CALLBACK) so it stays with its object"));
            }
        };
        if let Some(file) = self.defined_in.get(&sym)
            && let Some(provider) = self.input_obj.get(file)
        {
            check_needs_objects(
                format!("callback {}", cb.func),
                file,
                provider,
                &format!(
                    "--callback {}={}@{}",
                    CALLBACK_SLOTS[cb.slot], cb.func, cb.objname
                ),
                &cb.objname,
            )?;
        }
        Ok(sym)
    }

    // --- 2. livepatch structures ------------------------------------------------

    /// The patched objects, in input order; every callback must belong to
    /// one of them.
    fn object_names(&self) -> Result<Vec<String>> {
        let mut objnames: Vec<String> = Vec::new();
        for f in &self.funcs {
            if !objnames.contains(&f.objname) {
                objnames.push(f.objname.clone());
            }
        }
        for cb in &self.callbacks {
            if !objnames.contains(&cb.objname) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "callback {} for object {}, which none of the patch objects patches",
                        cb.func, cb.objname
                    ),
                ));
            }
        }
        Ok(objnames)
    }

    /// `klp_patch`, the `klp_object` array and one `klp_func` array per
    /// object in a new `.data.klpwrite`; returns it and its relocations.
    fn klp_structures(
        &mut self,
        facts: &KernelFacts,
        objnames: &[String],
        strsec: usize,
    ) -> Result<(usize, Vec<DataReloc>)> {
        let mut strings: HashMap<String, u64> = HashMap::new();
        let mut string = |out: &mut OutObject, s: &str| -> u64 {
            *strings.entry(s.to_string()).or_insert_with(|| {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                out.append(strsec, &b, 1)
            })
        };
        let (psize, p_mod, p_objs, p_replace) = facts.klp_patch;
        let (osize, o_name, o_funcs, o_cbs) = facts.klp_object;
        let (fsize, f_old, f_new, f_pos) = facts.klp_func;
        let objs_off = align_up(psize, 8);
        let mut next = objs_off + osize * (objnames.len() as u64 + 1);
        let mut data: Vec<u8> = Vec::new();
        let mut data_relocs: Vec<DataReloc> = Vec::new();
        let mut func_arrays: Vec<(u64, Vec<&Func>)> = Vec::new();
        for on in objnames {
            let fs: Vec<&Func> = self
                .funcs
                .iter()
                .filter(|f| &f.objname == on && f.new_sym != usize::MAX)
                .collect();
            // An object with callbacks and no function gets an empty,
            // terminated funcs array: klp_enable_patch() only requires
            // obj->funcs != NULL (kernel/livepatch/core.c, "if (!obj->funcs)
            // return -EINVAL"), klp_for_each_func_static() stops at the
            // first all-zero klp_func (include/linux/livepatch.h), and a
            // NULL funcs would also end klp_for_each_object_static() early
            // for vmlinux (name NULL). samples/livepatch/
            // livepatch-callbacks-demo.c has such objects (`no_funcs`).
            // So does an object whose new code another object calls (C12).
            if fs.is_empty()
                && !self.callbacks.iter().any(|c| &c.objname == on)
                && !self.providers.contains(on)
            {
                return Err(no_function(on));
            }
            let off = align_up(next, 8);
            next = off + fsize * (fs.len() as u64 + 1);
            func_arrays.push((off, fs));
        }
        data.resize(next as usize, 0);
        data_relocs.push((PATCH_OFF + p_mod, DataTarget::ThisModule, 0));
        data_relocs.push((PATCH_OFF + p_objs, DataTarget::Data, objs_off as i64));
        if self.opts.replace {
            data[(PATCH_OFF + p_replace) as usize] = 1;
        }
        for (i, on) in objnames.iter().enumerate() {
            let base = objs_off + osize * i as u64;
            if on != "vmlinux" {
                let s = string(&mut self.out, on);
                data_relocs.push((base + o_name, DataTarget::Str, s as i64));
            }
            data_relocs.push((base + o_funcs, DataTarget::Data, func_arrays[i].0 as i64));
            for cb in self.callbacks.iter().filter(|c| &c.objname == on) {
                let sym = match cb.sym {
                    Some(s) => s,
                    None => self.given_callback(cb)?,
                };
                data_relocs.push((
                    base + o_cbs + facts.klp_callbacks[cb.slot],
                    DataTarget::Sym(sym),
                    0,
                ));
            }
            for (j, f) in func_arrays[i].1.iter().enumerate() {
                let fb = func_arrays[i].0 + fsize * j as u64;
                let s = string(&mut self.out, &f.old_name);
                data_relocs.push((fb + f_old, DataTarget::Str, s as i64));
                data_relocs.push((fb + f_new, DataTarget::Sym(f.new_sym), 0));
                data[(fb + f_pos) as usize..(fb + f_pos + 8) as usize]
                    .copy_from_slice(&f.sympos.to_le_bytes());
            }
        }
        let datasec = self.out.add_section(OutSection {
            name: b".data.klpwrite".to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC | SHF_WRITE,
            sh_addralign: 64,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(data),
            symbol: None,
        });
        self.out.add_symbol(OutSymbol {
            name: b"klpwrite_patch".to_vec(),
            st_info: STT_OBJECT,
            st_other: 0,
            place: Place::Section(datasec),
            value: PATCH_OFF,
            size: psize,
        });
        Ok((datasec, data_relocs))
    }

    // --- 3. module glue -----------------------------------------------------------

    /// An undefined global, shared by name.
    fn undef_sym(&mut self, n: &str) -> usize {
        let out = &mut self.out;
        *self.undef.entry(n.as_bytes().to_vec()).or_insert_with(|| {
            out.add_symbol(OutSymbol {
                name: n.as_bytes().to_vec(),
                st_info: (STB_GLOBAL << 4) | STT_NOTYPE,
                st_other: 0,
                place: Place::Undef,
                value: 0,
                size: 0,
            })
        })
    }

    /// `init_module` (`mov $patch,%rdi; jmp klp_enable_patch`) and
    /// `cleanup_module` in `.text.klpwrite`; returns their symbols.
    fn init_exit(&mut self, exports: &Exports, datasec: usize) -> (usize, usize) {
        let thunk = exports.get("__x86_return_thunk").is_some();
        let mut text = vec![
            0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0xc7, 0xc7, 0, 0, 0, 0, 0xe9, 0, 0, 0, 0,
        ];
        let exit_off = text.len() as u64;
        text.extend([0xf3, 0x0f, 0x1e, 0xfa]);
        if thunk {
            text.extend([0xe9, 0, 0, 0, 0]);
        } else {
            text.extend([0xc3, 0xcc]);
        }
        let exit_size = text.len() as u64 - exit_off;
        let textsec = self.out.add_section(OutSection {
            name: b".text.klpwrite".to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC | SHF_EXECINSTR,
            sh_addralign: 16,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(text),
            symbol: None,
        });
        let init_sym = self.out.add_symbol(OutSymbol {
            name: b"init_module".to_vec(),
            st_info: (STB_GLOBAL << 4) | STT_FUNC,
            st_other: 0,
            place: Place::Section(textsec),
            value: 0,
            size: exit_off,
        });
        let exit_sym = self.out.add_symbol(OutSymbol {
            name: b"cleanup_module".to_vec(),
            st_info: (STB_GLOBAL << 4) | STT_FUNC,
            st_other: 0,
            place: Place::Section(textsec),
            value: exit_off,
            size: exit_size,
        });
        let enable = self.undef_sym("klp_enable_patch");
        let data_sym = self.out.sections[datasec].symbol.expect("symbol");
        let text_relocs = self.relocs.entry((None, textsec)).or_default();
        text_relocs.push(OutReloc {
            offset: 7,
            symbol: data_sym,
            r_type: R_32S,
            addend: PATCH_OFF as i64,
        });
        text_relocs.push(OutReloc {
            offset: 12,
            symbol: enable,
            r_type: R_PLT32,
            addend: -4,
        });
        if thunk {
            self.return_thunk(textsec, exit_off);
        }
        (init_sym, exit_sym)
    }

    /// `cleanup_module` returns through `__x86_return_thunk`: relocate the
    /// jump and list it in `.return_sites` for `apply_returns`.
    fn return_thunk(&mut self, textsec: usize, exit_off: u64) {
        let t = self.undef_sym("__x86_return_thunk");
        self.relocs
            .entry((None, textsec))
            .or_default()
            .push(OutReloc {
                offset: exit_off + 5,
                symbol: t,
                r_type: R_PLT32,
                addend: -4,
            });
        let rs = match self.by_name.get(&b".return_sites"[..]) {
            Some(&rs) => rs,
            None => {
                let rs = self.out.add_section(OutSection {
                    name: b".return_sites".to_vec(),
                    sh_type: SHT_PROGBITS,
                    sh_flags: SHF_ALLOC,
                    sh_addralign: 1,
                    sh_entsize: 0,
                    link: None,
                    data: OutData::Bytes(Vec::new()),
                    symbol: None,
                });
                self.by_name.insert(b".return_sites".to_vec(), rs);
                rs
            }
        };
        let off = self.out.append(rs, &[0; 4], 1);
        let tsym = self.out.sections[textsec].symbol.expect("symbol");
        self.relocs.entry((None, rs)).or_default().push(OutReloc {
            offset: off,
            symbol: tsym,
            r_type: R_PC32,
            addend: (exit_off + 4) as i64,
        });
    }

    /// `.gnu.linkonce.this_module`: `struct module` with the name, init and
    /// exit set; returns `__this_module`.
    fn this_module(&mut self, facts: &KernelFacts, init_sym: usize, exit_sym: usize) -> usize {
        let name = &self.opts.name;
        let (msize, m_name, m_init, m_exit) = facts.module;
        let mut this = vec![0u8; msize as usize];
        this[m_name as usize..m_name as usize + name.len()].copy_from_slice(name.as_bytes());
        let thissec = self.out.add_section(OutSection {
            name: b".gnu.linkonce.this_module".to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC | SHF_WRITE,
            sh_addralign: 64,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(this),
            symbol: None,
        });
        let this_sym = self.out.add_symbol(OutSymbol {
            name: b"__this_module".to_vec(),
            st_info: (STB_GLOBAL << 4) | STT_OBJECT,
            st_other: 0,
            place: Place::Section(thissec),
            value: 0,
            size: msize,
        });
        self.relocs.entry((None, thissec)).or_default().extend([
            OutReloc {
                offset: m_init,
                symbol: init_sym,
                r_type: R_64,
                addend: 0,
            },
            OutReloc {
                offset: m_exit,
                symbol: exit_sym,
                r_type: R_64,
                addend: 0,
            },
        ]);
        this_sym
    }

    /// The relocations of `.data.klpwrite`, now that every target exists.
    fn data_relocations(
        &mut self,
        datasec: usize,
        strsec: usize,
        this_sym: usize,
        data_relocs: Vec<DataReloc>,
    ) {
        let str_sym = self.out.sections[strsec].symbol.expect("symbol");
        let data_sym = self.out.sections[datasec].symbol.expect("symbol");
        let dr = self.relocs.entry((None, datasec)).or_default();
        for (off, t, add) in data_relocs {
            let (symbol, addend) = match t {
                DataTarget::ThisModule => (this_sym, 0),
                DataTarget::Data => (data_sym, add),
                DataTarget::Str => (str_sym, add),
                DataTarget::Sym(s) => (s, 0),
            };
            dr.push(OutReloc {
                offset: off,
                symbol,
                r_type: R_64,
                addend,
            });
        }
    }

    /// `.modinfo`: livepatch, license, vermagic and the namespaces of the
    /// imported symbols.
    fn modinfo(&mut self, facts: &KernelFacts, exports: &Exports) {
        let mut modinfo = String::from("livepatch=Y\0license=GPL\0depends=\0");
        if facts.retpoline {
            modinfo.push_str("retpoline=Y\0");
        }
        modinfo.push_str(&format!(
            "name={}\0vermagic={}\0",
            self.opts.name, facts.vermagic
        ));
        let mut namespaces: Vec<String> = self
            .undef
            .keys()
            .filter_map(|n| {
                std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| exports.get(n))
                    .and_then(|e| e.namespace.clone())
            })
            .collect();
        namespaces.sort();
        namespaces.dedup();
        for ns in namespaces {
            modinfo.push_str(&format!("import_ns={ns}\0"));
        }
        self.out.add_section(OutSection {
            name: b".modinfo".to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC,
            sh_addralign: 1,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(modinfo.into_bytes()),
            symbol: None,
        });
    }

    /// `__versions`: `module_layout` and every imported symbol with its CRC
    /// (kernels with modversions only).
    fn versions(&mut self, facts: &KernelFacts, exports: &Exports) -> Result<()> {
        if !facts.modversions {
            return Ok(());
        }
        let mut v: Vec<u8> = Vec::new();
        let mut entry = |crc: u32, n: &[u8]| -> Result<()> {
            if n.len() > 55 {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "imported symbol {} is longer than 55 characters and cannot be versioned",
                        show(n)
                    ),
                ));
            }
            v.extend_from_slice(&(crc as u64).to_le_bytes());
            let mut nm = [0u8; 56];
            nm[..n.len()].copy_from_slice(n);
            v.extend_from_slice(&nm);
            Ok(())
        };
        let layout = facts
            .module_layout_crc
            .or_else(|| exports.get("module_layout").map(|e| e.crc))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Refused,
                    "no CRC for module_layout in the reference module or Module.symvers",
                )
            })?;
        entry(layout, b"module_layout")?;
        let mut missing = Vec::new();
        for n in self.undef.keys() {
            match std::str::from_utf8(n).ok().and_then(|s| exports.get(s)) {
                Some(e) if e.module == "vmlinux" => entry(e.crc, n)?,
                Some(e) => {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{} is exported by module {}; livepatch modules reach module symbols through klp relocations",
                            show(n),
                            e.module
                        ),
                    ));
                }
                None => missing.push(show(n)),
            }
        }
        if !missing.is_empty() {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("no CRC in Module.symvers for: {}", missing.join(", ")),
            )
            .hint("the kernel checks every imported symbol's CRC (CONFIG_MODVERSIONS); use the target kernel's Module.symvers"));
        }
        self.out.add_section(OutSection {
            name: b"__versions".to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC,
            sh_addralign: 32,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(v),
            symbol: None,
        });
        Ok(())
    }
}

/// An object with neither a function nor a callback: its klp_object would
/// do nothing (shared with `kbuild`).
pub(crate) fn no_function(objname: &str) -> Error {
    Error::new(
        ErrorKind::Usage,
        format!(
            "no function of {objname} is patched and it has no callback: its klp_object would do nothing"
        ),
    )
    .hint("a patch that only adds functions must also change a function that calls them")
}

/// Code of a module's part of the patch may only be used by the parts for
/// the same object, or be vmlinux's: the klp relocations of a module's part
/// are applied only while that module is loaded (kernel/livepatch/core.c:
/// klp_init_object_loaded() → klp_apply_object_relocs(), called from
/// klp_init_object() and klp_module_coming() only for a loaded object), so
/// calling it from elsewhere could run it unrelocated. vmlinux's are
/// applied when the patch module loads (kernel/module/main.c:
/// apply_relocations() → klp_apply_section_relocs(..., NULL), which only
/// takes `.klp.rela.vmlinux.*`).
pub(crate) fn check_needs_objects(
    name: String,
    provider_file: &str,
    provider: &str,
    needer_file: &str,
    needer: &str,
) -> Result<()> {
    if provider == needer || provider == "vmlinux" {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Refused,
        format!(
            "{name} is defined by {provider_file}, the part for {provider}, but used by the part for {needer}: it could run while {provider} is not loaded and its klp relocations are not applied"
        ),
    )
    .in_file(needer_file)
    .hint("define the new code in the object that uses it, or in vmlinux"))
}

/// An extract output must be written for the target kernel's set of rules.
///
/// When extract decided the rules from a symbol of the target's vmlinux
/// (`arch_klp_init_object_loaded` or `klp_apply_section_relocs`, see
/// [`kernel::RULE_MARKERS`]) *and* recorded the release it was told the
/// target is, that decision stands if the release is the reference
/// module's: the symbols are the kernel itself, the release string only a
/// proxy (RHEL 8 backports the 5.8 rework). A stale or foreign output (its
/// release is another kernel's) is refused. Otherwise the release of the
/// reference module decides, with the table of known backports
/// ([`kernel::Rules::from_release`]: RHEL 8 from 4.18.0-284 has the 5.8
/// rules).
fn check_rules(
    p: &Elf,
    legacy: bool,
    rules_symbol: Option<&str>,
    rules_release: Option<&str>,
    facts: &KernelFacts,
) -> Result<()> {
    let ref_release = facts.vermagic.split_whitespace().next().unwrap_or("");
    let marker = rules_symbol.is_some_and(|s| {
        kernel::RULE_MARKERS
            .iter()
            .any(|(m, l)| *m == s && *l == legacy)
    });
    // A decision made from a target symbol stands for the kernel extract
    // was told it was: only when that release is this module's.
    if marker && let Some(rel) = rules_release {
        if rel == ref_release {
            return Ok(());
        }
        return Err(Error::new(
            ErrorKind::Refused,
            format!(
                "extracted for kernel {rel} (rules from its symbol {}), but the reference module is for {ref_release}",
                rules_symbol.unwrap_or("")
            ),
        )
        .in_file(&p.path)
        .hint("extract again against this kernel's symbols and reference module"));
    }
    let target_legacy = kernel::Rules::from_release(&facts.vermagic)
        .map(|r| r.is_legacy())
        .unwrap_or_else(|_| facts.version.is_legacy());
    if legacy == target_legacy {
        return Ok(());
    }
    let (was, is) = if legacy {
        ("the pre-5.8 rules (.klp.arch sections)", "5.8 or later")
    } else {
        ("the 5.8+ rules", "older than 5.8")
    };
    Err(Error::new(
        ErrorKind::Refused,
        format!(
            "extracted for {was}, but the target kernel ({}) is {is}: its special sections would be applied in the wrong order or not at all",
            facts.version
        ),
    )
    .in_file(&p.path)
    .hint("run extract/build again with --ref-module (the same reference module): with the target's symbols that also records the release, for kernels whose backports the release table does not know"))
}

/// Two inputs for the same object that both copy a static variable of the
/// same unit (same STT_FILE, same name): each would get its own copy and
/// the unit's functions would no longer share it (round-3 review:
/// `--changes fa` and `--changes fb` extracted apart, `fa` counting in one
/// copy of a new `static int seen` and `fb` reading the other). A unit's
/// functions must be extracted together; shared with `kbuild`.
///
/// Only statics of *different* inputs are compared. One input never holds
/// one static twice (extract copies a symbol once), so two of one key in
/// one input are statics of twin units, two units of one base name (a
/// module's a/core.c and b/core.c, STT_FILE "core.c" both): each function
/// keeps its own (fixture l7-twin-new-static). Across inputs the base name
/// cannot tell twin units from one unit extracted twice, so that stays
/// refused.
pub(crate) fn check_split_statics(patches: &[Elf]) -> Result<()> {
    let mut seen: HashMap<(String, Vec<u8>, Vec<u8>), String> = HashMap::new();
    for p in patches {
        let Ok(meta) = read_patch_meta(p) else {
            continue; // reported by the caller's own reading
        };
        let mut own: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
        for s in &p.symbols {
            let Some(sec) = s.section else { continue };
            if !s.is_local() || !s.is_object() || s.name.is_empty() {
                continue;
            }
            let ps = &p.sections[sec];
            if ps.sh_flags & SHF_WRITE == 0 {
                continue; // constant data has no state to share
            }
            let file = s
                .file
                .map(|f| p.symbols[f].name.clone())
                .unwrap_or_default();
            let key = (meta.objname.clone(), file, s.name.clone());
            if let Some(first) = seen.get(&key) {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{} and {first} both copy the static {} of {} (object {}): each function would use its own copy of its state",
                        p.path,
                        s.display_name(),
                        show(&key.1),
                        meta.objname
                    ),
                )
                .hint("extract all changed functions of one source file together (one --changes list, or klpwrite build)"));
            }
            own.push(key);
        }
        for key in own {
            seen.insert(key, p.path.clone());
        }
    }
    Ok(())
}

/// Two patch objects define the same global: the module (or the kbuild
/// link) would have to pick one.
pub(crate) fn duplicate_global(name: &str, first: &str, second: &str) -> Error {
    Error::new(
        ErrorKind::Refused,
        format!("global {name} is defined in both {first} and {second}"),
    )
    .hint("two patch objects cannot both define the same global symbol")
}
