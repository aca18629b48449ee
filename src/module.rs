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
//! Anything inconsistent (different vermagic, a missing CRC or BTF type,
//! two outputs defining the same global, the same function patched twice)
//! is refused before anything is written.

use std::collections::{BTreeMap, HashMap};

use crate::btf::Btf;
use crate::elf::consts::*;
use crate::elf::{Elf, names};
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

/// Build the module.
pub fn build(
    patches: &[Elf],
    facts: &KernelFacts,
    exports: &Exports,
    opts: &ModuleOptions,
) -> Result<OutObject> {
    let name = &opts.name;
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
    let mut out = OutObject::default();
    let mut by_name: HashMap<Vec<u8>, usize> = HashMap::new(); // out section by name
    let mut globals: HashMap<Vec<u8>, (usize, String)> = HashMap::new();
    let mut undef: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let mut klp_syms: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut relocs: BTreeMap<(Option<Vec<u8>>, usize), Vec<OutReloc>> = BTreeMap::new(); // (klp object, target) -> relocs
    let mut funcs: Vec<Func> = Vec::new();
    let mut callbacks: Vec<Callback> = opts.callbacks.clone();
    let mut seen_funcs: HashMap<(String, String, u64), String> = HashMap::new();

    for p in patches {
        crate::verify::check_input(p)?;
        let PatchMeta {
            objname,
            funcs: meta,
            callbacks: marked,
            legacy,
        } = read_patch_meta(p)?;
        if legacy != facts.version.is_legacy() {
            let (was, is) = if legacy {
                ("the pre-5.8 rules (.klp.arch sections)", "5.8 or later")
            } else {
                ("the 5.8+ rules", "older than 5.8")
            };
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "extracted for {was}, but the target kernel ({}) is {is}: its special sections would be applied in the wrong order or not at all",
                    facts.version
                ),
            )
            .in_file(&p.path)
            .hint("run extract/build again with --ref-module (the same reference module) or --kernel-version"));
        }
        for (slot, func) in marked {
            if opts
                .callbacks
                .iter()
                .any(|c| c.slot == slot && c.objname == objname)
                || callbacks
                    .iter()
                    .any(|c: &Callback| c.slot == slot && c.objname == objname)
            {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "two {} callbacks for {objname} (one marked in {})",
                        CALLBACK_SLOTS[slot], p.path
                    ),
                ));
            }
            callbacks.push(Callback {
                slot,
                func,
                objname: objname.clone(),
            });
        }
        // Sections.
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
            let (os, base) = match by_name.get(&s.name) {
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
                    by_name.insert(s.name.clone(), os);
                    (os, 0)
                }
            };
            sec_map.insert(s.index, (os, base));
        }
        // Symbols.
        let mut sym_map: HashMap<usize, (usize, i64)> = HashMap::new(); // input sym -> (out sym, addend delta)
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
                *klp_syms.entry(s.name.clone()).or_insert_with(|| {
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
                *undef.entry(s.name.clone()).or_insert_with(|| {
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
                    && let Some((_, other)) = globals.get(&s.name)
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
                    globals.insert(s.name.clone(), (id, p.path.clone()));
                }
                id
            } else {
                continue;
            };
            sym_map.insert(s.index, (id, 0));
        }
        // Relocations.
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
                relocs
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
        // Functions to patch.
        for (new, old, pos) in meta {
            let Some(&s) = p
                .symbols_named(new.as_bytes())
                .iter()
                .find(|&&s| p.symbols[s].is_func() && p.symbols[s].section.is_some())
            else {
                return Err(Error::malformed(format!(
                    ".klpwrite.patch names {new}, which is not a function here"
                ))
                .in_file(&p.path));
            };
            let key = (objname.clone(), old.clone(), pos);
            if let Some(other) = seen_funcs.get(&key) {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{old} (sympos {pos}) of {objname} is patched by both {other} and {}",
                        p.path
                    ),
                ));
            }
            seen_funcs.insert(key, p.path.clone());
            let new_sym = sym_map[&s].0;
            funcs.push(Func {
                objname: objname.clone(),
                new_sym,
                old_name: old,
                sympos: pos,
            });
        }
        if funcs.iter().all(|f| f.objname != objname) {
            // An object with only new functions still needs a klp_object
            // when it carries klp relocations; remember the name.
            funcs.push(Func {
                objname: objname.clone(),
                new_sym: usize::MAX,
                old_name: String::new(),
                sympos: 0,
            });
        }
    }

    // --- livepatch structures --------------------------------------------
    let mut objnames: Vec<String> = Vec::new();
    for f in &funcs {
        if !objnames.contains(&f.objname) {
            objnames.push(f.objname.clone());
        }
    }
    for cb in &callbacks {
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
    let strsec = out.add_section(OutSection {
        name: b".rodata.klpwrite.str1.1".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC | SHF_MERGE | SHF_STRINGS,
        sh_addralign: 1,
        sh_entsize: 1,
        link: None,
        data: OutData::Bytes(vec![0]),
        symbol: None,
    });
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
    let patch_off = 0u64;
    let objs_off = align_up(psize, 8);
    let mut next = objs_off + osize * (objnames.len() as u64 + 1);
    let mut data: Vec<u8> = Vec::new();
    let mut data_relocs: Vec<(u64, Target, i64)> = Vec::new();
    #[derive(Clone, Copy)]
    enum Target {
        ThisModule,
        Data,
        Str,
        Sym(usize),
    }
    let mut func_arrays: Vec<(u64, Vec<&Func>)> = Vec::new();
    for on in &objnames {
        let fs: Vec<&Func> = funcs
            .iter()
            .filter(|f| &f.objname == on && f.new_sym != usize::MAX)
            .collect();
        if fs.is_empty() {
            return Err(Error::new(
                ErrorKind::Usage,
                format!("no function of {on} is patched: a klp_object needs at least one klp_func"),
            )
            .hint("a patch that only adds functions must also change a function that calls them"));
        }
        let off = align_up(next, 8);
        next = off + fsize * (fs.len() as u64 + 1);
        func_arrays.push((off, fs));
    }
    data.resize(next as usize, 0);
    data_relocs.push((patch_off + p_mod, Target::ThisModule, 0));
    data_relocs.push((patch_off + p_objs, Target::Data, objs_off as i64));
    if opts.replace {
        data[(patch_off + p_replace) as usize] = 1;
    }
    let find_func = |out: &OutObject, name: &str| -> Result<usize> {
        out.symbols
            .iter()
            .position(|s| {
                s.name == name.as_bytes()
                    && s.st_info & 0xf == STT_FUNC
                    && matches!(s.place, Place::Section(_))
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Symbol,
                    format!("callback function {name} is not defined in the patch objects"),
                )
            })
    };
    for (i, on) in objnames.iter().enumerate() {
        let base = objs_off + osize * i as u64;
        if on != "vmlinux" {
            let s = string(&mut out, on);
            data_relocs.push((base + o_name, Target::Str, s as i64));
        }
        data_relocs.push((base + o_funcs, Target::Data, func_arrays[i].0 as i64));
        for cb in callbacks.iter().filter(|c| &c.objname == on) {
            let sym = find_func(&out, &cb.func)?;
            data_relocs.push((
                base + o_cbs + facts.klp_callbacks[cb.slot],
                Target::Sym(sym),
                0,
            ));
        }
        for (j, f) in func_arrays[i].1.iter().enumerate() {
            let fb = func_arrays[i].0 + fsize * j as u64;
            let s = string(&mut out, &f.old_name);
            data_relocs.push((fb + f_old, Target::Str, s as i64));
            data_relocs.push((fb + f_new, Target::Sym(f.new_sym), 0));
            data[(fb + f_pos) as usize..(fb + f_pos + 8) as usize]
                .copy_from_slice(&f.sympos.to_le_bytes());
        }
    }
    let datasec = out.add_section(OutSection {
        name: b".data.klpwrite".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC | SHF_WRITE,
        sh_addralign: 64,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(data),
        symbol: None,
    });
    out.add_symbol(OutSymbol {
        name: b"klpwrite_patch".to_vec(),
        st_info: STT_OBJECT,
        st_other: 0,
        place: Place::Section(datasec),
        value: patch_off,
        size: psize,
    });

    // --- init / exit --------------------------------------------------------
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
    let textsec = out.add_section(OutSection {
        name: b".text.klpwrite".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC | SHF_EXECINSTR,
        sh_addralign: 16,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(text),
        symbol: None,
    });
    let init_sym = out.add_symbol(OutSymbol {
        name: b"init_module".to_vec(),
        st_info: (STB_GLOBAL << 4) | STT_FUNC,
        st_other: 0,
        place: Place::Section(textsec),
        value: 0,
        size: exit_off,
    });
    let exit_sym = out.add_symbol(OutSymbol {
        name: b"cleanup_module".to_vec(),
        st_info: (STB_GLOBAL << 4) | STT_FUNC,
        st_other: 0,
        place: Place::Section(textsec),
        value: exit_off,
        size: exit_size,
    });
    let mut undef_sym = |out: &mut OutObject, n: &str| -> usize {
        *undef.entry(n.as_bytes().to_vec()).or_insert_with(|| {
            out.add_symbol(OutSymbol {
                name: n.as_bytes().to_vec(),
                st_info: (STB_GLOBAL << 4) | STT_NOTYPE,
                st_other: 0,
                place: Place::Undef,
                value: 0,
                size: 0,
            })
        })
    };
    let enable = undef_sym(&mut out, "klp_enable_patch");
    let data_sym = out.sections[datasec].symbol.expect("symbol");
    let text_relocs = relocs.entry((None, textsec)).or_default();
    text_relocs.push(OutReloc {
        offset: 7,
        symbol: data_sym,
        r_type: R_32S,
        addend: patch_off as i64,
    });
    text_relocs.push(OutReloc {
        offset: 12,
        symbol: enable,
        r_type: R_PLT32,
        addend: -4,
    });
    if thunk {
        let t = undef_sym(&mut out, "__x86_return_thunk");
        relocs.entry((None, textsec)).or_default().push(OutReloc {
            offset: exit_off + 5,
            symbol: t,
            r_type: R_PLT32,
            addend: -4,
        });
        // The return goes through the thunk, so list it for apply_returns.
        let rs = match by_name.get(&b".return_sites"[..]) {
            Some(&rs) => rs,
            None => {
                let rs = out.add_section(OutSection {
                    name: b".return_sites".to_vec(),
                    sh_type: SHT_PROGBITS,
                    sh_flags: SHF_ALLOC,
                    sh_addralign: 1,
                    sh_entsize: 0,
                    link: None,
                    data: OutData::Bytes(Vec::new()),
                    symbol: None,
                });
                by_name.insert(b".return_sites".to_vec(), rs);
                rs
            }
        };
        let off = out.append(rs, &[0; 4], 1);
        let tsym = out.sections[textsec].symbol.expect("symbol");
        relocs.entry((None, rs)).or_default().push(OutReloc {
            offset: off,
            symbol: tsym,
            r_type: R_PC32,
            addend: (exit_off + 4) as i64,
        });
    }

    // --- struct module --------------------------------------------------------
    let (msize, m_name, m_init, m_exit) = facts.module;
    let mut this = vec![0u8; msize as usize];
    this[m_name as usize..m_name as usize + name.len()].copy_from_slice(name.as_bytes());
    let thissec = out.add_section(OutSection {
        name: b".gnu.linkonce.this_module".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC | SHF_WRITE,
        sh_addralign: 64,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(this),
        symbol: None,
    });
    let this_sym = out.add_symbol(OutSymbol {
        name: b"__this_module".to_vec(),
        st_info: (STB_GLOBAL << 4) | STT_OBJECT,
        st_other: 0,
        place: Place::Section(thissec),
        value: 0,
        size: msize,
    });
    relocs.entry((None, thissec)).or_default().extend([
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
    let str_sym = out.sections[strsec].symbol.expect("symbol");
    let dr = relocs.entry((None, datasec)).or_default();
    for (off, t, add) in data_relocs {
        let (symbol, addend) = match t {
            Target::ThisModule => (this_sym, 0),
            Target::Data => (data_sym, add),
            Target::Str => (str_sym, add),
            Target::Sym(s) => (s, 0),
        };
        dr.push(OutReloc {
            offset: off,
            symbol,
            r_type: R_64,
            addend,
        });
    }

    // --- .modinfo and __versions ------------------------------------------------
    let mut modinfo = String::from("livepatch=Y\0license=GPL\0depends=\0");
    if facts.retpoline {
        modinfo.push_str("retpoline=Y\0");
    }
    modinfo.push_str(&format!("name={name}\0vermagic={}\0", facts.vermagic));
    let mut namespaces: Vec<String> = undef
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
    out.add_section(OutSection {
        name: b".modinfo".to_vec(),
        sh_type: SHT_PROGBITS,
        sh_flags: SHF_ALLOC,
        sh_addralign: 1,
        sh_entsize: 0,
        link: None,
        data: OutData::Bytes(modinfo.into_bytes()),
        symbol: None,
    });
    if facts.modversions {
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
        for n in undef.keys() {
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
        out.add_section(OutSection {
            name: b"__versions".to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC,
            sh_addralign: 32,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(v),
            symbol: None,
        });
    }

    // --- relocation sections --------------------------------------------------------
    for ((klp_obj, target), list) in relocs {
        out.add_relocations(target, klp_obj.as_deref(), list);
    }
    let _ = names::demangle;
    // Self-check before anyone writes it (crate::verify).
    let file = format!("module {name}");
    let bytes = crate::write::to_bytes(&out).map_err(|e| e.in_file(file.clone()))?;
    let ctx = crate::verify::Context {
        exports: Some(exports),
        ..Default::default()
    };
    crate::verify::self_check(&file, &bytes, &ctx)?;
    Ok(out)
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
