//! `kbuild` and `post-link`: the livepatch module in a form kbuild links.
//!
//! A linker destroys what makes a livepatch module: `ld -r` turns
//! `.klp.rela.*` sections into opaque sections without relocations and
//! SHN_LIVEPATCH symbols into nothing. So, like upstream's klp-build, the
//! klp relocations cross the link in a neutral form and are restored after:
//!
//! 1. **kbuild** ([`generate`]): each `extract` output becomes a shipped
//!    object `<n>-<obj>.o_shipped`: the same object without its `.klp.rela`
//!    sections, SHN_LIVEPATCH symbols and `.klpwrite.patch`; each klp
//!    relocation becomes a record (see [`records`]); each patched function
//!    and callback gets a GLOBAL alias (`__klpwrite_fn_<n>_<k>`,
//!    `__klpwrite_cb_<i>_<slot>`; the copies are LOCAL) that the generated
//!    `klpwrite_stub.c` references from its `klp_func`/`klp_object`/
//!    `klp_patch` definitions. `Kbuild` links stub and shipped objects into
//!    one module; `Makefile` runs kbuild and then `post-link`. modpost needs
//!    a `.<n>-<obj>.o.cmd` file per object (it reads symbol CRCs from them),
//!    so an empty one is written next to each shipped object.
//! 2. **post-link** ([`post_link`]): the linked `.ko` is copied
//!    ([`copy::copy`]) without the record sections; every record becomes a
//!    RELA entry in `.klp.rela.<obj>.<target section>` against a GLOBAL
//!    SHN_LIVEPATCH `.klp.sym.*` symbol; the stub's marker word is set so
//!    the module's init stops refusing. Everything else (`.modinfo`,
//!    `__versions`, `.gnu.linkonce.this_module`, ...) keeps its bytes,
//!    except where code objtool never processed needs what objtool would
//!    have added ([`complete`]: thunk-site entries, jump-label NOPs). The
//!    generated `Kbuild` has objtool process the stub and keeps it off the
//!    linked module, which it cannot read ([`stub::kbuild`]).
//!
//! Both steps check what they read and refuse, naming the file and the
//! section or record, rather than write a module the kernel would
//! misapply. A module that is already post-linked is left alone.

pub mod complete;
pub mod copy;
pub mod records;
pub mod stub;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::arch::x86_64 as x86;
use crate::elf::consts::*;
use crate::elf::{Elf, uoffset_of};
use crate::error::{Error, ErrorKind, Result, show};
use crate::extract::{MAX_OBJNAME, META_SECTION, PatchMeta, check_objname, read_patch_meta};
use crate::module::{
    CALLBACK_SLOTS, Callback, check_needs_objects, check_split_statics, duplicate_global,
    no_function,
};
use crate::output::{OutData, OutObject, OutReloc, OutSection, OutSymbol, Place};
use crate::write;
use records::{
    LINKED, LINKED_SYMBOL, NAME, NAMES_SECTION, PLACE, RECORD_SIZE, RECORDS_PREFIX, Record,
    UNLINKED, parse_klp_sym,
};
use stub::{StubFunc, StubObject};

/// Options of `kbuild`.
#[derive(Debug, Clone, Default)]
pub struct KbuildOptions {
    /// Module name.
    pub name: String,
    /// `klp_patch.replace`.
    pub replace: bool,
    /// Callbacks given on the command line.
    pub callbacks: Vec<Callback>,
}

/// One file of the kbuild directory.
#[derive(Debug, Clone)]
pub struct KbuildFile {
    /// File name (no directory).
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// Parse `SLOT=FUNC[@OBJECT]` (OBJECT defaults to vmlinux).
pub fn parse_callback(spec: &str) -> Result<Callback> {
    let usage = |m: String| Error::new(ErrorKind::Usage, format!("--callback {spec:?}: {m}"));
    let (slot, rest) = spec
        .split_once('=')
        .ok_or_else(|| usage("expected SLOT=FUNC[@OBJECT]".into()))?;
    let slot = CALLBACK_SLOTS
        .iter()
        .position(|s| *s == slot)
        .ok_or_else(|| usage(format!("slot must be one of {}", CALLBACK_SLOTS.join(", "))))?;
    let (func, obj) = rest.split_once('@').unwrap_or((rest, "vmlinux"));
    if func.is_empty() {
        return Err(usage("no function name".into()));
    }
    check_objname(obj)?;
    Ok(Callback {
        slot,
        func: func.to_string(),
        objname: obj.to_string(),
        sym: None,
    })
}

/// The defined FUNC symbol `name` of `p`.
fn defined_func(p: &Elf, name: &str) -> Option<usize> {
    p.symbols_named(name.as_bytes())
        .iter()
        .copied()
        .find(|&s| p.symbols[s].is_func() && p.symbols[s].section.is_some())
}

/// Whether a section of an extract output is a klp relocation section.
fn is_klp_rela_section(s: &crate::elf::Section) -> bool {
    s.is_klp_rela() || (s.is_rela() && s.name.starts_with(b".klp.rela."))
}

/// Names the stub and modpost define; a shipped object must not.
fn reserved_global(name: &[u8]) -> bool {
    name.starts_with(b"__klpwrite_")
        || name.starts_with(b"klpwrite_")
        || matches!(name, b"init_module" | b"cleanup_module" | b"__this_module")
}

/// Add a GLOBAL FUNC alias of output symbol `of`.
fn add_alias(out: &mut OutObject, of: usize, name: &str) {
    let s = out.symbols[of].clone();
    out.add_symbol(OutSymbol {
        name: name.as_bytes().to_vec(),
        st_info: (STB_GLOBAL << 4) | STT_FUNC,
        st_other: 0,
        place: s.place,
        value: s.value,
        size: s.size,
    });
}

/// One shipped object in the making.
struct Shipped {
    file: String,
    out: OutObject,
    /// Klp object names of its records.
    record_objs: Vec<String>,
    /// Input symbol index to output symbol id.
    symbols: Vec<Option<usize>>,
}

/// Turn one extract output into a shipped object: copy it without its klp
/// parts and add the records and the function aliases.
fn ship(p: &Elf, n: usize, meta: &PatchMeta) -> Result<Shipped> {
    let file = p.path.as_str();
    check_not_shipped(p)?;
    let copied = copy::copy(
        p,
        &|s| s.name == META_SECTION || is_klp_rela_section(s),
        &|s| s.is_livepatch(),
    )?;
    let mut out = copied.out;
    if p.section_by_name(b".note.GNU-stack").is_none() {
        // Without it, ld warns and marks the linked module's stack executable.
        out.add_section(OutSection {
            name: b".note.GNU-stack".to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: 0,
            sh_addralign: 1,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(Vec::new()),
            symbol: None,
        });
    }

    // --- records ---------------------------------------------------------------
    let by_obj = collect_records(p, &copied.sections)?;
    let record_objs: Vec<String> = by_obj.keys().cloned().collect();
    add_records(&mut out, by_obj);

    // --- aliases -------------------------------------------------------------------
    for (k, (new, _, _)) in meta.funcs.iter().enumerate() {
        let s = crate::extract::patched_func_symbol(p, new)
            .map_err(|e| Error::malformed(e.message(new)).in_file(file))?;
        let of = copied.symbols[s].expect("defined functions are carried over");
        add_alias(&mut out, of, &format!("__klpwrite_fn_{n}_{k}"));
    }
    Ok(Shipped {
        file: format!("{n}-{}.o", meta.objname),
        out,
        record_objs,
        symbols: copied.symbols,
    })
}

/// An extract output, not something already shipped or in the legacy form.
fn check_not_shipped(p: &Elf) -> Result<()> {
    let file = p.path.as_str();
    for s in &p.sections {
        if s.name.starts_with(RECORDS_PREFIX) || s.name == NAMES_SECTION {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "already has {}: this is a shipped object, not an `extract` output",
                    s.display_name()
                ),
            )
            .in_file(file));
        }
        if s.name.starts_with(b".klp.arch.") {
            return Err(Error::unsupported(format!(
                "{}: the legacy .klp.arch form has no kbuild form",
                s.display_name()
            ))
            .in_file(file));
        }
    }
    Ok(())
}

/// A record in the making: (output target section, offset, klp symbol, record).
type PendingRecord = (usize, u64, Vec<u8>, Record);

/// The records of every `.klp.rela` section, per klp object, each
/// relocation checked as the kernel would apply it.
fn collect_records(
    p: &Elf,
    copied_sections: &[Option<usize>],
) -> Result<BTreeMap<String, Vec<PendingRecord>>> {
    let file = p.path.as_str();
    // Per klp object: (output target section, offset, klp symbol, record).
    let mut by_obj: BTreeMap<String, Vec<PendingRecord>> = BTreeMap::new();
    for rs in p.sections.iter().filter(|s| is_klp_rela_section(s)) {
        let at = |m: String| {
            Error::new(ErrorKind::Klp, m)
                .in_file(file)
                .at(rs.display_name())
        };
        if !rs.is_klp_rela() {
            return Err(at(
                "named like a klp relocation section but lacks SHF_RELA_LIVEPATCH".into(),
            ));
        }
        let obj = crate::dump::klp_objname(&rs.name, b".klp.rela.")
            .map(|o| String::from_utf8_lossy(&o).into_owned())
            .ok_or_else(|| at("not named .klp.rela.<obj>.<section>".into()))?;
        check_objname(&obj).map_err(|e| e.in_file(file))?;
        let tsec = rs.sh_info as usize;
        let target = copied_sections[tsec]
            .ok_or_else(|| at("applies to a section that is not carried over".into()))?;
        let data = p.data(tsec);
        for (k, r) in p.relocs_of_rsec(rs.index).iter().enumerate() {
            let sym = &p.symbols[r.symbol];
            let where_ = p.locate(tsec, r.offset);
            let rel = |m: String| at(format!("relocation #{k} at {where_}: {m}"));
            if !sym.is_livepatch() {
                return Err(rel(format!(
                    "symbol {} is not a klp symbol (SHN_LIVEPATCH)",
                    sym.display_name()
                )));
            }
            let (sobj, _, _) = parse_klp_sym(&sym.name).ok_or_else(|| {
                rel(format!(
                    "{} is not .klp.sym.<obj>.<name>,<pos>",
                    sym.display_name()
                ))
            })?;
            if (obj == "vmlinux") != (sobj == "vmlinux") {
                return Err(rel(format!(
                    "{} in a section for {obj}: the kernel resolves vmlinux and module symbols in their own sections",
                    sym.display_name()
                )));
            }
            let width = match x86::reloc_width(r.r_type) {
                Some(w) if x86::reloc_allowed_in_module(r.r_type) && w > 0 => w as u64,
                _ => {
                    return Err(rel(format!(
                        "type {} is not one the kernel applies",
                        x86::reloc_name(r.r_type)
                    )));
                }
            };
            let site = data.get(r.offset as usize..(r.offset + width) as usize);
            if site.is_none_or(|b| b.iter().any(|&x| x != 0)) {
                return Err(rel(
                    "non-zero relocation site: the kernel refuses to apply a klp relocation over non-zero bytes".into(),
                ));
            }
            by_obj.entry(obj.clone()).or_default().push((
                target,
                r.offset,
                sym.name.clone(),
                Record {
                    r_type: r.r_type,
                    info: sym.kind() as u32,
                    addend: r.addend,
                },
            ));
        }
    }
    Ok(by_obj)
}

/// The names section and one records section per klp object, with the
/// relocations that fill in each record's place and name.
fn add_records(out: &mut OutObject, by_obj: BTreeMap<String, Vec<PendingRecord>>) {
    if !by_obj.is_empty() {
        let names = out.add_section(OutSection {
            name: NAMES_SECTION.to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC,
            sh_addralign: 1,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(Vec::new()),
            symbol: None,
        });
        let names_sym = out.sections[names]
            .symbol
            .expect("byte sections have symbols");
        let mut name_off: HashMap<Vec<u8>, u64> = HashMap::new();
        for (obj, list) in by_obj {
            let mut sec_name = RECORDS_PREFIX.to_vec();
            sec_name.extend_from_slice(obj.as_bytes());
            let rsec = out.add_section(OutSection {
                name: sec_name,
                sh_type: SHT_PROGBITS,
                sh_flags: SHF_ALLOC,
                sh_addralign: 8,
                sh_entsize: RECORD_SIZE,
                link: None,
                data: OutData::Bytes(Vec::new()),
                symbol: None,
            });
            let mut relocs = Vec::with_capacity(list.len() * 2);
            for (target, offset, name, rec) in list {
                let noff = match name_off.get(&name) {
                    Some(&o) => o,
                    None => {
                        let mut z = name.clone();
                        z.push(0);
                        let o = out.append(names, &z, 1);
                        name_off.insert(name, o);
                        o
                    }
                };
                let at = out.append(rsec, &rec.encode(), 8);
                relocs.push(OutReloc {
                    offset: at + PLACE,
                    symbol: out.sections[target]
                        .symbol
                        .expect("klp relocation targets are byte sections"),
                    r_type: x86::R_X86_64_64,
                    addend: offset as i64,
                });
                relocs.push(OutReloc {
                    offset: at + NAME,
                    symbol: names_sym,
                    r_type: x86::R_X86_64_64,
                    addend: noff as i64,
                });
            }
            out.add_relocations(rsec, None, relocs);
        }
    }
}

/// Build the files of the kbuild directory from `extract` outputs.
pub fn generate(patches: &[Elf], opts: &KbuildOptions) -> Result<Vec<KbuildFile>> {
    let name = &opts.name;
    check_module_name(name)?;
    if patches.is_empty() {
        return Err(Error::new(ErrorKind::Usage, "no patch objects"));
    }
    check_split_statics(patches)?;
    let mut g = Generated::ship_all(patches)?;

    // --- callbacks: marked in the objects, then given on the command line ----------
    g.callbacks(patches, opts)?;

    // --- every klp_object has functions or callbacks; every module record has an object
    g.check_objects(patches)?;

    // --- files ------------------------------------------------------------------------
    g.files(name, opts)
}

/// The module name: a C identifier kbuild keeps as it is.
fn check_module_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_OBJNAME
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || name == "vmlinux"
        || name == "klpwrite_stub"
    {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "module name {name:?}: use 1 to {MAX_OBJNAME} characters of [A-Za-z0-9_] (kbuild turns '-' into '_'), not vmlinux or klpwrite_stub"
            ),
        ));
    }
    Ok(())
}

/// The kbuild form in the making: the stub's objects and the shipped
/// objects, with what the later steps check against.
struct Generated {
    objects: Vec<StubObject>,
    shipped: Vec<Shipped>,
    /// Defining input of each global.
    globals: HashMap<Vec<u8>, String>,
    metas: Vec<PatchMeta>,
    /// Where each set callback came from (4 slots per object).
    cb_from: Vec<String>,
}

impl Generated {
    /// Ship every input and collect the stub's objects and functions.
    fn ship_all(patches: &[Elf]) -> Result<Generated> {
        let mut objects: Vec<StubObject> = Vec::new();
        let mut shipped: Vec<Shipped> = Vec::new();
        let mut seen_funcs: HashMap<(String, String, u64), String> = HashMap::new();
        let mut globals: HashMap<Vec<u8>, String> = HashMap::new();
        let mut metas: Vec<PatchMeta> = Vec::new();
        let mut cb_from: Vec<String> = Vec::new(); // where each set callback came from
        for (i, p) in patches.iter().enumerate() {
            let n = i + 1;
            crate::verify::check_input(p)?;
            let meta = read_patch_meta(p)?;
            if meta.legacy {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "extracted for the pre-5.8 rules (.klp.arch sections); the kbuild form targets 5.8 and later",
                )
                .in_file(&p.path)
                .hint("use `klpwrite module` for older kernels"));
            }
            for s in p.symbols.iter().skip(1) {
                if s.is_local() || s.section.is_none() {
                    continue;
                }
                if reserved_global(&s.name) {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "defines {}, a name the generated module uses",
                            s.display_name()
                        ),
                    )
                    .in_file(&p.path));
                }
                if let Some(other) = globals.insert(s.name.clone(), p.path.clone()) {
                    return Err(duplicate_global(&s.display_name(), &other, &p.path));
                }
            }
            let sh = ship(p, n, &meta)?;
            let oi = match objects.iter().position(|o| o.objname == meta.objname) {
                Some(oi) => oi,
                None => {
                    objects.push(StubObject {
                        objname: meta.objname.clone(),
                        funcs: Vec::new(),
                        callbacks: Default::default(),
                    });
                    cb_from.extend(std::iter::repeat_n(String::new(), 4));
                    objects.len() - 1
                }
            };
            for (k, (_, old, pos)) in meta.funcs.iter().enumerate() {
                // Sympos 0 (a unique name) and 1 bind one function
                // (klp_find_object_symbol() in kernel/livepatch/core.c).
                let key = (meta.objname.clone(), old.clone(), (*pos).max(1));
                if let Some(other) = seen_funcs.insert(key, p.path.clone()) {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{old} (sympos {pos}) of {} is patched by both {other} and {}",
                            meta.objname, p.path
                        ),
                    ));
                }
                objects[oi].funcs.push(StubFunc {
                    alias: format!("__klpwrite_fn_{n}_{k}"),
                    old_name: old.clone(),
                    sympos: *pos,
                });
            }
            shipped.push(sh);
            metas.push(meta);
        }
        Ok(Generated {
            objects,
            shipped,
            globals,
            metas,
            cb_from,
        })
    }

    /// Callbacks marked in the objects, then those given on the command
    /// line: each gets an alias in the object that defines it.
    fn callbacks(&mut self, patches: &[Elf], opts: &KbuildOptions) -> Result<()> {
        let Generated {
            objects,
            shipped,
            metas,
            cb_from,
            ..
        } = self;
        let mut wanted: Vec<(Callback, Option<usize>, String)> = Vec::new(); // callback, input, origin
        for (i, m) in metas.iter().enumerate() {
            for (slot, func) in &m.callbacks {
                let cb = Callback {
                    slot: *slot,
                    func: func.clone(),
                    objname: m.objname.clone(),
                    sym: None,
                };
                wanted.push((cb, Some(i), format!("marked in {}", patches[i].path)));
            }
        }
        for cb in &opts.callbacks {
            wanted.push((cb.clone(), None, "--callback".to_string()));
        }
        for (cb, input, origin) in wanted {
            let slot_name = CALLBACK_SLOTS[cb.slot];
            let oi = objects
                .iter()
                .position(|o| o.objname == cb.objname)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Usage,
                        format!(
                            "callback {} for object {}, which none of the patch objects patches",
                            cb.func, cb.objname
                        ),
                    )
                })?;
            if objects[oi].callbacks[cb.slot].is_some() {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "two {slot_name} callbacks for {} ({} and {origin})",
                        cb.objname,
                        cb_from[oi * 4 + cb.slot]
                    ),
                ));
            }
            let input = match input {
                Some(i) => i,
                None => callback_input(patches, metas, &cb)?,
            };
            // A module's part runs relocated only while that module is
            // loaded (see module::Module::given_callback).
            check_needs_objects(
                format!("callback {}", cb.func),
                &patches[input].path,
                &metas[input].objname,
                &origin,
                &cb.objname,
            )?;
            let p = &patches[input];
            let s = defined_func(p, &cb.func).ok_or_else(|| {
                Error::new(
                    ErrorKind::Symbol,
                    format!("callback function {} is not defined here", cb.func),
                )
                .in_file(&p.path)
            })?;
            let sh = &mut shipped[input];
            let of = sh.symbols[s].expect("defined functions are carried over");
            let alias = format!("__klpwrite_cb_{oi}_{slot_name}");
            add_alias(&mut sh.out, of, &alias);
            objects[oi].callbacks[cb.slot] = Some(alias);
            cb_from[oi * 4 + cb.slot] = origin;
        }
        Ok(())
    }

    /// Every klp_object has functions or callbacks; every module record has
    /// an object.
    fn check_objects(&self, patches: &[Elf]) -> Result<()> {
        let Generated {
            objects,
            shipped,
            globals,
            metas,
            ..
        } = self;
        // A symbol one input needs from another (C12) is resolved by the
        // kbuild link; it must be defined by one of the inputs, whose object
        // then has a reason to exist even without functions.
        let mut providers: HashSet<&str> = HashSet::new();
        for (m, p) in metas.iter().zip(patches) {
            for n in &m.needs {
                let Some(path) = globals.get(n.as_bytes()) else {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{n} is new in the patch and needed here, but no input of the module defines it"
                        ),
                    )
                    .in_file(&p.path)
                    .hint("add the extract output of the object that defines it"));
                };
                if let Some(i) = patches.iter().position(|q| &q.path == path) {
                    check_needs_objects(n.clone(), path, &metas[i].objname, &p.path, &m.objname)?;
                    providers.insert(&metas[i].objname);
                }
            }
        }
        // An object with only callbacks gets `klp_func [] = { { } }`, as in
        // samples/livepatch/livepatch-callbacks-demo.c (see module.rs).
        for o in objects.iter() {
            if o.funcs.is_empty()
                && o.callbacks.iter().all(Option::is_none)
                && !providers.contains(o.objname.as_str())
            {
                return Err(no_function(&o.objname));
            }
        }
        for (sh, p) in shipped.iter().zip(patches) {
            for obj in &sh.record_objs {
                if obj != "vmlinux" && !objects.iter().any(|o| &o.objname == obj) {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "has klp relocations for {obj}, but no patch object patches {obj}: the kernel would never apply them"
                        ),
                    )
                    .in_file(&p.path));
                }
            }
        }
        Ok(())
    }

    /// The files: shipped objects with their empty .cmd files, stub, Kbuild
    /// and Makefile.
    fn files(self, name: &str, opts: &KbuildOptions) -> Result<Vec<KbuildFile>> {
        let Generated {
            objects, shipped, ..
        } = self;
        let mut files = Vec::new();
        let names: Vec<String> = shipped.iter().map(|s| s.file.clone()).collect();
        for sh in &shipped {
            files.push(KbuildFile {
                name: format!("{}_shipped", sh.file),
                bytes: write::to_bytes(&sh.out)?,
            });
            files.push(KbuildFile {
                name: format!(".{}.cmd", sh.file),
                bytes: Vec::new(),
            });
        }
        files.push(KbuildFile {
            name: stub::STUB_C.to_string(),
            bytes: stub::stub_c(name, opts.replace, &objects).into_bytes(),
        });
        files.push(KbuildFile {
            name: "Kbuild".to_string(),
            bytes: stub::kbuild(name, &names).into_bytes(),
        });
        files.push(KbuildFile {
            name: "Makefile".to_string(),
            bytes: stub::makefile(name, &names).into_bytes(),
        });
        Ok(files)
    }
}

/// The input that defines a `--callback` function: the one for the
/// callback's object when several define it.
fn callback_input(patches: &[Elf], metas: &[PatchMeta], cb: &Callback) -> Result<usize> {
    let defining: Vec<usize> = (0..patches.len())
        .filter(|&i| defined_func(&patches[i], &cb.func).is_some())
        .collect();
    let same: Vec<usize> = defining
        .iter()
        .copied()
        .filter(|&i| metas[i].objname == cb.objname)
        .collect();
    let pick = if same.is_empty() { defining } else { same };
    match pick.as_slice() {
        [i] => Ok(*i),
        [] => Err(Error::new(
            ErrorKind::Symbol,
            format!(
                "callback function {} is not defined in the patch objects",
                cb.func
            ),
        )),
        many => Err(Error::new(
            ErrorKind::Symbol,
            format!(
                "callback function {} is defined in several patch objects: {}",
                cb.func,
                many.iter()
                    .map(|&i| patches[i].path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Write the files into `dir` (created if missing), each atomically.
pub fn write_dir(dir: &Path, files: &[KbuildFile]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::new(ErrorKind::Io, format!("cannot create directory: {e}"))
            .in_file(dir.display().to_string())
    })?;
    for f in files {
        write::write_atomic(&dir.join(&f.name), &f.bytes)?;
    }
    Ok(())
}

/// The result of [`post_link`].
#[derive(Debug)]
pub enum PostLinked {
    /// The rewritten module.
    Rewritten {
        /// The module to write.
        out: OutObject,
        /// Number of klp relocations restored.
        relocs: usize,
        /// Number of `.klp.rela` sections written.
        sections: usize,
        /// What was done in place of objtool's run on the linked module
        /// ([`complete`]), one line each.
        completed: Vec<String>,
    },
    /// The module was post-linked before; nothing to do.
    AlreadyDone,
}

/// The marker word: (section, offset, value).
fn marker(elf: &Elf) -> Result<(usize, u64, u32)> {
    let file = elf.path.as_str();
    let syms: Vec<usize> = elf
        .symbols_named(LINKED_SYMBOL)
        .iter()
        .copied()
        .filter(|&s| elf.symbols[s].section.is_some())
        .collect();
    let [s] = syms.as_slice() else {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "{} definitions of {}: not a module built from `klpwrite kbuild` output",
                syms.len(),
                show(LINKED_SYMBOL)
            ),
        )
        .in_file(file));
    };
    let sym = &elf.symbols[*s];
    let sec = sym.section.expect("filtered");
    let data = elf.data(sec);
    let word = data
        .get(sym.value as usize..)
        .and_then(|d| d.get(..4))
        .filter(|_| !elf.sections[sec].is_nobits());
    let Some(word) = word else {
        return Err(Error::malformed(format!(
            "{} does not hold a 4-byte word in {}",
            show(LINKED_SYMBOL),
            elf.sections[sec].display_name()
        ))
        .in_file(file));
    };
    Ok((
        sec,
        sym.value,
        u32::from_le_bytes(word.try_into().expect("4 bytes")),
    ))
}

/// A klp relocation read back from a record.
struct Restored {
    obj: String,
    /// Input section the relocation applies to.
    target: usize,
    offset: u64,
    name: Vec<u8>,
    rec: Record,
}

/// Read every record of the linked module, checking each.
fn read_records(elf: &Elf) -> Result<Vec<Restored>> {
    let mut reader = RecordReader::new(elf);
    let mut out = Vec::new();
    for rs in &elf.sections {
        let Some(obj) = rs.name.strip_prefix(RECORDS_PREFIX) else {
            continue;
        };
        if rs.is_rela() {
            continue;
        }
        reader.section(rs, obj, &mut out)?;
    }
    Ok(out)
}

/// What reading the records checks each one against.
struct RecordReader<'e> {
    elf: &'e Elf,
    file: &'e str,
    /// The names section.
    names: Option<usize>,
    /// Sites that normal relocations write, per section: (offset, width).
    normal: HashMap<usize, Vec<(u64, u64)>>,
    /// Places that already have a record.
    places: HashSet<(usize, u64)>,
}

impl<'e> RecordReader<'e> {
    fn new(elf: &'e Elf) -> RecordReader<'e> {
        let file = elf.path.as_str();
        let names = elf
            .sections
            .iter()
            .find(|s| s.name == NAMES_SECTION && !s.is_rela())
            .map(|s| s.index);
        // Sites that normal relocations write, per section: (offset, width).
        let mut normal: HashMap<usize, Vec<(u64, u64)>> = HashMap::new();
        for r in &elf.relocs {
            let w = x86::reloc_width(r.r_type).unwrap_or(0) as u64;
            normal.entry(r.section).or_default().push((r.offset, w));
        }
        RecordReader {
            elf,
            file,
            names,
            normal,
            places: HashSet::new(),
        }
    }

    /// One records section (for klp object `obj`): its relocations, then
    /// each record.
    fn section(
        &mut self,
        rs: &crate::elf::Section,
        obj: &[u8],
        out: &mut Vec<Restored>,
    ) -> Result<()> {
        let (elf, file) = (self.elf, self.file);
        let sec_err = |m: String| {
            Error::new(ErrorKind::Malformed, m)
                .in_file(file)
                .at(rs.display_name())
        };
        let obj = String::from_utf8_lossy(obj).into_owned();
        check_objname(&obj).map_err(|e| e.in_file(file).at(rs.display_name()))?;
        if rs.sh_type != SHT_PROGBITS || !rs.sh_size.is_multiple_of(RECORD_SIZE) {
            return Err(sec_err(format!(
                "not a PROGBITS section of {RECORD_SIZE}-byte records (size {:#x})",
                rs.sh_size
            )));
        }
        let count = rs.sh_size / RECORD_SIZE;
        let mut fields: HashMap<u64, &crate::elf::Reloc> = HashMap::new();
        for r in elf.relocs_for(rs.index) {
            let field = r.offset % RECORD_SIZE;
            if (field != PLACE && field != NAME) || r.r_type != x86::R_X86_64_64 {
                return Err(sec_err(format!(
                    "unexpected {} at +{:#x} (record #{})",
                    x86::reloc_name(r.r_type),
                    r.offset,
                    r.offset / RECORD_SIZE
                )));
            }
            if fields.insert(r.offset, r).is_some() {
                return Err(sec_err(format!(
                    "two relocations at +{:#x} (record #{})",
                    r.offset,
                    r.offset / RECORD_SIZE
                )));
            }
        }
        for k in 0..count {
            out.push(self.record(rs, &obj, &fields, k)?);
        }
        Ok(())
    }

    /// Record #`k` of `rs`, checked as the kernel would apply it.
    fn record(
        &mut self,
        rs: &crate::elf::Section,
        obj: &str,
        fields: &HashMap<u64, &crate::elf::Reloc>,
        k: u64,
    ) -> Result<Restored> {
        let (elf, file, names) = (self.elf, self.file, self.names);
        let data = elf.data(rs.index);
        let base = k * RECORD_SIZE;
        let refuse = |m: String| {
            Error::new(ErrorKind::Refused, m)
                .in_file(file)
                .at(format!("record #{k} of {}", rs.display_name()))
        };
        let place = fields
            .get(&(base + PLACE))
            .ok_or_else(|| refuse("the place field has no relocation".into()))?;
        let name = fields
            .get(&(base + NAME))
            .ok_or_else(|| refuse("the name field has no relocation".into()))?;
        // Place: a defined symbol in an allocated section with bytes.
        let ps = &elf.symbols[place.symbol];
        let target = ps
            .section
            .filter(|&t| {
                let t = &elf.sections[t];
                t.is_alloc()
                    && !t.is_nobits()
                    && !t.is_rela()
                    && !t.name.starts_with(RECORDS_PREFIX)
                    && t.name != NAMES_SECTION
            })
            .ok_or_else(|| {
                refuse(format!(
                    "the place relocation uses {}, which is not in an allocated section of the module",
                    ps.display_name()
                ))
            })?;
        let offset = uoffset_of(ps.value, place.addend, 0)
            .ok_or_else(|| refuse("the place offset overflows".into()))?;
        // Name: a NUL-terminated string in the names section.
        let ns = &elf.symbols[name.symbol];
        if ns.section.is_none() || ns.section != names {
            return Err(refuse(format!(
                "the name relocation uses {}, not a string in {}",
                ns.display_name(),
                show(NAMES_SECTION)
            )));
        }
        let nd = elf.data(ns.section.expect("checked"));
        let noff = uoffset_of(ns.value, name.addend, 0)
            .map(|o| o as usize)
            .filter(|&o| o < nd.len())
            .ok_or_else(|| refuse("the name offset lies outside the names section".into()))?;
        let len = nd[noff..]
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| refuse("the name is not NUL-terminated".into()))?;
        let sym_name = nd[noff..noff + len].to_vec();
        let (sobj, _, _) = parse_klp_sym(&sym_name).ok_or_else(|| {
            refuse(format!(
                "{} is not .klp.sym.<obj>.<name>,<pos>",
                show(&sym_name)
            ))
        })?;
        if (obj == "vmlinux") != (sobj == "vmlinux") {
            return Err(refuse(format!(
                "{} in the records for {obj}: the kernel resolves vmlinux and module symbols in their own sections",
                show(&sym_name)
            )));
        }
        let rec = Record::decode(&data[base as usize..(base + RECORD_SIZE) as usize]);
        if rec.info >> 8 != 0 {
            return Err(refuse(format!("unknown info bits {:#x}", rec.info)));
        }
        let width = match x86::reloc_width(rec.r_type) {
            Some(w) if x86::reloc_allowed_in_module(rec.r_type) && w > 0 => w as u64,
            _ => {
                return Err(refuse(format!(
                    "type {} is not one the kernel applies",
                    x86::reloc_name(rec.r_type)
                )));
            }
        };
        let where_ = elf.locate(target, offset);
        let site = elf
            .data(target)
            .get(offset as usize..)
            .and_then(|d| d.get(..width as usize))
            .ok_or_else(|| {
                refuse(format!(
                    "the place {where_} lies outside {}",
                    elf.sections[target].display_name()
                ))
            })?;
        if site.iter().any(|&b| b != 0) {
            return Err(refuse(format!(
                "non-zero relocation site at {where_}: the kernel refuses to apply a klp relocation over non-zero bytes"
            )));
        }
        if self.normal.get(&target).is_some_and(|v| {
            v.iter()
                .any(|&(o, w)| o < offset + width && offset < o + w.max(1))
        }) {
            return Err(refuse(format!("a normal relocation also writes {where_}")));
        }
        if !self.places.insert((target, offset)) {
            return Err(refuse(format!("a second record for {where_}")));
        }
        Ok(Restored {
            obj: obj.to_string(),
            target,
            offset,
            name: sym_name,
            rec,
        })
    }
}

/// Restore the klp relocations of a kbuild-linked module.
pub fn post_link(elf: &Elf) -> Result<PostLinked> {
    let file = elf.path.as_str();
    if elf.bytes().ends_with(b"~Module signature appended~\n") {
        return Err(Error::new(
            ErrorKind::Refused,
            "the module is signed; rewriting it would break the signature",
        )
        .in_file(file)
        .hint("run post-link before signing (sign-file, modules_install)"));
    }
    let (msec, moff, mval) = marker(elf)?;
    let leftovers = elf
        .sections
        .iter()
        .any(|s| s.name.starts_with(RECORDS_PREFIX) || s.name == NAMES_SECTION);
    match mval {
        LINKED if !leftovers => return Ok(PostLinked::AlreadyDone),
        LINKED => {
            return Err(Error::malformed(format!(
                "marked as post-linked ({}) but still has klp relocation records",
                show(LINKED_SYMBOL)
            ))
            .in_file(file));
        }
        UNLINKED => {}
        v => {
            return Err(Error::malformed(format!(
                "{} holds {v:#010x}, neither the unlinked nor the linked marker",
                show(LINKED_SYMBOL)
            ))
            .in_file(file));
        }
    }
    // kbuild only accepts objects extracted for the 5.8+ rules.
    // The release decides, with the known backports of the 5.8 rework
    // (kernel::Rules::from_release): RHEL 8 4.18.0-284+ is not legacy.
    if let Ok(v) = crate::kernel::version_of_module(elf)
        && crate::kernel::vermagic(elf)
            .and_then(|m| crate::kernel::Rules::from_release(&m))
            .map_or(v.is_legacy(), |r| r.is_legacy())
    {
        return Err(Error::new(
            ErrorKind::Refused,
            format!(
                "linked for kernel {v}, but its patch objects follow the 5.8+ livepatch rules"
            ),
        )
        .in_file(file)
        .hint("use `klpwrite module` with objects extracted for that kernel (--kernel-version or --ref-module)"));
    }
    if let Some(s) = elf.sections.iter().find(|s| s.is_klp_rela()) {
        return Err(Error::malformed(format!(
            "already has the klp relocation section {} but is not marked as post-linked",
            s.display_name()
        ))
        .in_file(file));
    }
    if let Some(s) = elf.symbols.iter().find(|s| s.is_livepatch()) {
        return Err(Error::malformed(format!(
            "already has the klp symbol {} but is not marked as post-linked",
            s.display_name()
        ))
        .in_file(file));
    }
    let restored = read_records(elf)?;
    let copied = copy::copy(
        elf,
        &|s| s.name.starts_with(RECORDS_PREFIX) || s.name == NAMES_SECTION,
        &|_| false,
    )?;
    let mut out = copied.out;
    let mid = copied.sections[msec].expect("the marker's section is kept");
    if let OutData::Bytes(b) = &mut out.sections[mid].data {
        b[moff as usize..moff as usize + 4].copy_from_slice(&LINKED.to_le_bytes());
    }
    let mut klp_syms: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut groups: BTreeMap<(usize, String), Vec<OutReloc>> = BTreeMap::new();
    let count = restored.len();
    for r in restored {
        let sym = *klp_syms.entry(r.name.clone()).or_insert_with(|| {
            out.add_symbol(OutSymbol {
                name: r.name.clone(),
                st_info: records::klp_st_info(r.rec.info),
                st_other: 0,
                place: Place::Livepatch,
                value: 0,
                size: 0,
            })
        });
        let target = copied.sections[r.target].expect("record targets are kept");
        groups.entry((target, r.obj)).or_default().push(OutReloc {
            offset: r.offset,
            symbol: sym,
            r_type: r.rec.r_type,
            addend: r.rec.addend,
        });
    }
    let sections = groups.len();
    for ((target, obj), list) in groups {
        out.add_relocations(target, Some(obj.as_bytes()), list);
    }
    // What objtool would have done to code it never processed (the stub
    // under clang LTO, where it is bitcode until the link; complete.rs).
    let completed = complete::complete(elf, &copied.sections, &mut out)?;
    // Self-check before anyone writes it (crate::verify): structure only,
    // the linked module carries no inputs to compare with.
    let bytes = crate::write::to_bytes(&out).map_err(|e| e.in_file(&elf.path))?;
    crate::verify::self_check(&elf.path, &bytes, &crate::verify::Context::default())?;
    Ok(PostLinked::Rewritten {
        out,
        relocs: count,
        sections,
        completed,
    })
}
