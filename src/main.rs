//! The `klpwrite` command line. Only this file prints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use klpwrite::elf::Elf;
use klpwrite::elf::load::{Expect, load_file};
use klpwrite::{changes, checksum, diff, dump, extract, kernel, symvers, target, write};

/// Exit codes of all commands (`klpwrite --help`).
const EXIT_CODES_ALL: &str = "\
Exit codes:
  0  done (output written, or report printed)
  1  nothing to do (diff and build: no change found; nothing written)
  2  error: bad input, unsupported object, or a refusal; nothing written";

/// Exit codes of `diff` and `build`, the commands that can find nothing to do.
const EXIT_CODES_NO_CHANGE: &str = "\
Exit codes:
  0  done (output written, or report printed)
  1  nothing to do (no change found; nothing written)
  2  error: bad input, unsupported object, or a refusal; nothing written";

/// Exit codes of the other commands (verify has its own).
const EXIT_CODES: &str = "\
Exit codes:
  0  done (output written, or report printed)
  2  error: bad input, unsupported object, or a refusal; nothing written";

/// Write Linux kernel livepatch objects and modules.
#[derive(Parser)]
#[command(name = "klpwrite", version, about, after_help = EXIT_CODES_ALL)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Extract changed/new functions from a patched object into a livepatch object.
    #[command(after_help = EXIT_CODES)]
    Extract(ExtractArgs),
    /// Per-function and per-object checksums of an object.
    #[command(after_help = EXIT_CODES)]
    Checksum {
        /// The object.
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        layouts: LayoutArgs,
    },
    /// List the functions a patch changed: `changed function: X`, `new function: X`, `removed function: X`.
    #[command(after_help = EXIT_CODES_NO_CHANGE)]
    Diff {
        /// The original object.
        orig: PathBuf,
        /// The patched object.
        patched: PathBuf,
        /// Show how symbols were paired and the first difference of each changed function.
        #[arg(long)]
        explain: bool,
        /// Pin a pairing correlation cannot decide: ORIG=PATCHED symbol names, FILE:NAME for a name in several files (repeatable).
        #[arg(long, value_name = "ORIG=PATCHED")]
        pair: Vec<String>,
        #[command(flatten)]
        layouts: LayoutArgs,
    },
    /// diff + extract in one go: write the livepatch object for ORIG → PATCHED.
    #[command(after_help = EXIT_CODES_NO_CHANGE)]
    Build(BuildArgs),
    /// Write a loadable livepatch module (.ko) from extract outputs.
    #[command(after_help = EXIT_CODES)]
    Module(ModuleArgs),
    /// Write a kbuild directory (shipped objects, C stub, Kbuild, Makefile) from extract outputs.
    #[command(after_help = EXIT_CODES)]
    Kbuild(KbuildArgs),
    /// Restore the klp relocations of a module kbuild linked from a `kbuild` directory (in place).
    #[command(after_help = EXIT_CODES)]
    PostLink {
        /// The linked module (NAME.ko); rewritten atomically, left alone if already done.
        module: PathBuf,
    },
    /// Check a livepatch object or module (from klpwrite or any tool) against the kernel's rules and klpwrite's invariants.
    #[command(
        after_help = "Exit codes:\n  0  no problem found\n  2  problems found (listed on stdout), or bad input"
    )]
    Verify(VerifyArgs),
    /// Print a stable text dump of an ELF object.
    #[command(after_help = EXIT_CODES)]
    Inspect {
        /// The object to dump.
        file: PathBuf,
        /// Show the special sections split into entries instead.
        #[arg(long)]
        special: bool,
    },
}

/// Special-section entry layouts, for the commands without `CommonArgs`.
#[derive(clap::Args)]
struct LayoutArgs {
    /// Entry size of a special section: SECTION=N, e.g. __bug_table=16 (repeatable).
    #[arg(long = "struct-size", value_name = "SECTION=N")]
    struct_size: Vec<String>,
    /// The target kernel's types (vmlinux with .BTF, a bzImage/vmlinuz, or raw BTF such as
    /// /sys/kernel/btf/vmlinux): special-section entry layouts (struct bug_entry, alt_instr, ...).
    #[arg(long, value_name = "FILE")]
    btf: Option<PathBuf>,
}

/// `--struct-size` and `--btf` as layout hints.
fn layout_hints(sizes: &[String], btf: Option<&Path>) -> Result<klpwrite::special::LayoutHints> {
    let hints = klpwrite::special::LayoutHints {
        sizes: parse_pairs(sizes, "--struct-size", false)?,
        ..Default::default()
    };
    Ok(match btf {
        Some(p) => {
            let path = path_str(p);
            let image = klpwrite::image::KernelImage::load(&path)?;
            hints.with_btf(&path, &image.btf)
        }
        None => hints,
    })
}

#[derive(clap::Args)]
struct ExtractArgs {
    /// The patched object (ET_REL, built with -ffunction-sections -fdata-sections).
    patched: PathBuf,
    /// Function list: `klpwrite diff` output, klp-build log lines, or plain names.
    #[arg(long, value_name = "LIST")]
    changes: PathBuf,
    /// The original object (pairs renamed symbols and describes the unit for sympos).
    #[arg(long, value_name = "ORIG")]
    orig: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
struct BuildArgs {
    /// The original object.
    orig: PathBuf,
    /// The patched object.
    patched: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
struct CommonArgs {
    /// Target object: `vmlinux` or the module name (at most 55 chars, no '.').
    #[arg(long, value_name = "NAME")]
    objname: String,
    /// Target symbols: vmlinux, a module .ko, the original .o, or a /proc/kallsyms dump.
    /// Several after one flag (`--symbols A B`: every value up to the next option, so positional
    /// arguments go before it) or the flag repeated (`--symbols A --symbols B`).
    #[arg(long, value_name = "SYMSRC", required = true, num_args = 1..)]
    symbols: Vec<PathBuf>,
    /// The target kernel's image (vmlinux ELF, or a bzImage/vmlinuz) for a kallsyms dump given to
    /// --symbols: of several same-named vmlinux symbols that nothing else tells apart, the one
    /// whose bytes alone match the original object's definition is taken. Ignored for other
    /// symbol sources (a .ko or a vmlinux ELF has its bytes already).
    #[arg(long, value_name = "VMLINUX")]
    image: Option<PathBuf>,
    /// Module.symvers of the target kernel (decides which references are exports).
    #[arg(long, value_name = "FILE")]
    symvers: Option<PathBuf>,
    /// Pin a pairing with the original object (with ORIG): ORIG=PATCHED symbol names, FILE:NAME for a name in several files (repeatable).
    #[arg(long, value_name = "ORIG=PATCHED")]
    pair: Vec<String>,
    /// Settle an ambiguous symbol: NAME=N, the kernel's sympos: the 1-based position among the
    /// target object's symbols named NAME, in kallsyms (address) order for vmlinux, .symtab order
    /// for a module; 0 only for a unique name (repeatable). FILE:NAME=N gives the local of one
    /// file its own value; units of one file name (a/core.c, b/core.c) need --orig instead.
    #[arg(long, value_name = "NAME=N")]
    sympos: Vec<String>,
    /// Entry size of a special section: SECTION=N, e.g. .altinstructions=12 (repeatable).
    #[arg(long = "struct-size", value_name = "SECTION=N")]
    struct_size: Vec<String>,
    /// The target kernel's types (vmlinux with .BTF, a bzImage/vmlinuz, or raw BTF such as
    /// /sys/kernel/btf/vmlinux): special-section entry layouts (struct bug_entry, alt_instr, ...).
    #[arg(long, value_name = "FILE")]
    btf: Option<PathBuf>,
    /// Target kernel release (MAJOR.MINOR[...]); decides the livepatch rules when the target's symbols do not (5.8+ unless given).
    #[arg(
        long = "kernel-version",
        value_name = "X.Y",
        conflicts_with = "ref_module"
    )]
    kernel_version: Option<String>,
    /// Any module built for the target kernel: its vermagic gives the kernel release (fallback for the livepatch rules).
    #[arg(long = "ref-module", value_name = "REF.ko")]
    ref_module: Option<PathBuf>,
    /// Another object of the same patch (its extract output or patched .o): its new globals
    /// that this object uses are linked inside the module (repeatable).
    #[arg(long = "patch-symbols", value_name = "OBJ")]
    patch_symbols: Vec<PathBuf>,
    /// Accept code from an object objtool has not processed (no ORC unwind data) for a kernel
    /// that unwinds with ORC: a task sleeping in patched code then stalls the transition.
    #[arg(long = "allow-missing-orc")]
    allow_missing_orc: bool,
    /// Replace a function that the object starts as a kernel thread's main function
    /// (kthread_run() & co.): the transition then finishes only once every such thread has exited.
    #[arg(long = "allow-kthread-loop")]
    allow_kthread_loop: bool,
    /// Build against a symbol source (vmlinux, .ko, or kallsyms + --image) whose bytes say it is
    /// not the original object's kernel (a function the patch replaces differs, or two of the
    /// sampled functions, or all compared): klpwrite refuses it otherwise, because sympos and klp
    /// symbols read from another build of the kernel can be wrong.
    #[arg(long = "allow-symbol-mismatch")]
    allow_symbol_mismatch: bool,
    /// Print how each function, sympos and relocation decision was made.
    #[arg(long)]
    explain: bool,
    /// Output object.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: PathBuf,
}

#[derive(clap::Args)]
struct ModuleArgs {
    /// Outputs of `klpwrite extract` (or `build`); several for the same or different targets.
    #[arg(required = true)]
    patches: Vec<PathBuf>,
    /// Module name (also the sysfs name under /sys/kernel/livepatch).
    #[arg(long)]
    name: String,
    /// The target kernel's types: vmlinux (ELF with .BTF), a bzImage/vmlinuz, or raw BTF (/sys/kernel/btf/vmlinux).
    #[arg(long, value_name = "FILE")]
    vmlinux: PathBuf,
    /// Module.symvers of the target kernel (CRCs for __versions).
    #[arg(long, value_name = "FILE")]
    symvers: PathBuf,
    /// Any module built for the target kernel (vermagic, struct module, module_layout CRC).
    #[arg(long = "ref-module", value_name = "REF.ko")]
    ref_module: PathBuf,
    /// Atomic replace: the new patch replaces all earlier ones.
    #[arg(long)]
    replace: bool,
    /// A callback: SLOT=FUNC[@OBJECT], SLOT one of pre_patch, post_patch, pre_unpatch, post_unpatch (repeatable).
    #[arg(long, value_name = "SLOT=FUNC[@OBJ]")]
    callback: Vec<String>,
    /// Output module.
    #[arg(short = 'o', long = "output", value_name = "NAME.ko")]
    output: PathBuf,
}

fn run_module(a: &ModuleArgs) -> Result<u8> {
    let mut patches = Vec::new();
    for p in &a.patches {
        patches.push(load_file(&path_str(p), Expect::Relocatable)?);
    }
    let reference = load_file(&path_str(&a.ref_module), Expect::Relocatable)?;
    let image = klpwrite::image::KernelImage::load(&path_str(&a.vmlinux))?;
    let vermagic = kernel::vermagic(&reference)?;
    if let Some(release) = &image.release {
        let rel = vermagic.split(' ').next().unwrap_or("");
        if rel != release {
            bail!(
                "{}: vermagic {vermagic:?} is for kernel {rel}, but {} is {release}; use a module built for the target kernel",
                reference.path,
                image.path
            );
        }
    } else {
        eprintln!(
            "klpwrite: warning: {} carries no kernel release; the reference module's vermagic is not checked against it",
            image.path
        );
    }
    let facts = klpwrite::module::KernelFacts::gather(&reference, &image.btf)?;
    let exports = symvers::Exports::load(&path_str(&a.symvers))?;
    let mut callbacks = Vec::new();
    for c in &a.callback {
        let Some((slot, rest)) = c.split_once('=') else {
            bail!("--callback {c:?}: expected SLOT=FUNC[@OBJECT]")
        };
        let Some(slot) = klpwrite::module::CALLBACK_SLOTS
            .iter()
            .position(|s| *s == slot)
        else {
            bail!(
                "--callback {c:?}: slot must be one of {}",
                klpwrite::module::CALLBACK_SLOTS.join(", ")
            );
        };
        let (func, obj) = rest.split_once('@').unwrap_or((rest, "vmlinux"));
        callbacks.push(klpwrite::module::Callback {
            slot,
            func: func.to_string(),
            objname: obj.to_string(),
            sym: None,
        });
    }
    let opts = klpwrite::module::ModuleOptions {
        name: a.name.clone(),
        replace: a.replace,
        callbacks,
    };
    let out = klpwrite::module::build(&patches, &facts, &exports, &opts)?;
    let bytes = write::to_bytes(&out).map_err(|e| e.in_file(path_str(&a.output)))?;
    write::write_atomic(&a.output, &bytes)?;
    Ok(0)
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The livepatch object or module to check.
    file: PathBuf,
    /// The patched object it was extracted from (provenance, same-destination, twin checks).
    #[arg(long, value_name = "P.o")]
    patched: Option<PathBuf>,
    /// The original object (twin check; needs --patched).
    #[arg(long, value_name = "O.o", requires = "patched")]
    orig: Option<PathBuf>,
    /// Target symbols, as for extract (sympos and init checks): `--symbols A B` or `--symbols A --symbols B`.
    #[arg(long, value_name = "SYMSRC", num_args = 1..)]
    symbols: Vec<PathBuf>,
    /// Module.symvers of the target kernel (undefined references must be exports).
    #[arg(long, value_name = "FILE")]
    symvers: Option<PathBuf>,
    /// The target object, when the file does not say (default: the one its klp sections name).
    #[arg(long, value_name = "NAME")]
    objname: Option<String>,
}

fn run_verify(a: &VerifyArgs) -> Result<u8> {
    let file = path_str(&a.file);
    let elf = load_file(&file, Expect::Any)?;
    let patched = match &a.patched {
        Some(p) => Some(load_input(&path_str(p))?),
        None => None,
    };
    let orig = match &a.orig {
        Some(p) => Some(load_input(&path_str(p))?),
        None => None,
    };
    // The object symbol sources default to: --objname, the file's own
    // metadata, or the single object its klp sections name.
    let objname = match &a.objname {
        Some(o) => o.clone(),
        None => klpwrite::extract::read_patch_meta(&elf)
            .map(|m| m.objname)
            .ok()
            .or_else(|| {
                let objs: std::collections::BTreeSet<String> = elf
                    .sections
                    .iter()
                    .filter(|s| s.is_klp_rela())
                    .filter_map(|s| klpwrite::verify::parse_klp_rela_name(&s.name))
                    .map(|o| String::from_utf8_lossy(o).into_owned())
                    .collect();
                (objs.len() == 1).then(|| objs.into_iter().next().unwrap())
            })
            .unwrap_or_else(|| "vmlinux".into()),
    };
    let mut tgt = target::Target::default();
    for s in &a.symbols {
        tgt.add_source(&path_str(s), &objname)?;
    }
    let exports = match &a.symvers {
        Some(s) => Some(symvers::Exports::load(&path_str(s))?),
        None => None,
    };
    let ctx = klpwrite::verify::Context {
        patched: patched.as_ref(),
        orig: orig.as_ref(),
        twins: None,
        target: (!a.symbols.is_empty()).then_some(&tgt),
        exports: exports.as_ref(),
        objname: a.objname.as_deref(),
    };
    let rep = klpwrite::verify::verify(&elf, &ctx);
    for n in &rep.notes {
        eprintln!("klpwrite: note: {n}");
    }
    for f in &rep.findings {
        emit(&format!("{file}: {f}\n"))?;
    }
    emit(&format!(
        "{file}: {} problem(s); checks run: {}{}\n",
        rep.findings.len(),
        rep.ran.join(", "),
        if rep.traced > 0 {
            format!(
                "; {} relocation(s) traced to the patched object",
                rep.traced
            )
        } else {
            String::new()
        }
    ))?;
    Ok(if rep.is_clean() { 0 } else { 2 })
}

#[derive(clap::Args)]
struct KbuildArgs {
    /// Outputs of `klpwrite extract` (or `build`); several for the same or different targets.
    #[arg(required = true)]
    patches: Vec<PathBuf>,
    /// Module name (also the sysfs name under /sys/kernel/livepatch).
    #[arg(long)]
    name: String,
    /// Atomic replace: the new patch replaces all earlier ones.
    #[arg(long)]
    replace: bool,
    /// A callback: SLOT=FUNC[@OBJECT], SLOT one of pre_patch, post_patch, pre_unpatch, post_unpatch (repeatable).
    #[arg(long, value_name = "SLOT=FUNC[@OBJ]")]
    callback: Vec<String>,
    /// Output directory (created if missing); build it with `make KDIR=<kernel build tree>`.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
}

fn run_kbuild(a: &KbuildArgs) -> Result<u8> {
    let mut patches = Vec::new();
    for p in &a.patches {
        patches.push(load_file(&path_str(p), Expect::Relocatable)?);
    }
    let mut callbacks = Vec::new();
    for c in &a.callback {
        callbacks.push(klpwrite::kbuild::parse_callback(c)?);
    }
    let opts = klpwrite::kbuild::KbuildOptions {
        name: a.name.clone(),
        replace: a.replace,
        callbacks,
    };
    let files = klpwrite::kbuild::generate(&patches, &opts)?;
    klpwrite::kbuild::write_dir(&a.output, &files)?;
    Ok(0)
}

fn run_post_link(module: &Path) -> Result<u8> {
    let elf = load_file(&path_str(module), Expect::Relocatable)?;
    match klpwrite::kbuild::post_link(&elf)? {
        klpwrite::kbuild::PostLinked::AlreadyDone => {
            eprintln!(
                "klpwrite: {}: already post-linked; left unchanged",
                elf.path
            );
        }
        klpwrite::kbuild::PostLinked::Rewritten {
            out,
            relocs,
            sections,
            completed,
        } => {
            let bytes = write::to_bytes(&out).map_err(|e| e.in_file(path_str(module)))?;
            write::write_atomic(module, &bytes)?;
            eprintln!(
                "klpwrite: {}: {relocs} klp relocation(s) restored in {sections} section(s)",
                elf.path
            );
            for c in &completed {
                eprintln!("klpwrite: {}: in objtool's place: {c}", elf.path);
            }
        }
    }
    Ok(0)
}

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

fn parse_pairs(values: &[String], flag: &str, allow_zero: bool) -> Result<HashMap<String, u64>> {
    let mut map = HashMap::new();
    for s in values {
        let Some((name, n)) = s.split_once('=') else {
            bail!("{flag} {s:?}: expected NAME=N");
        };
        let n: u64 = n
            .parse()
            .ok()
            .filter(|&n| allow_zero || n > 0)
            .with_context(|| {
                format!(
                    "{flag} {s:?}: N must be a {} integer",
                    if allow_zero {
                        "non-negative"
                    } else {
                        "positive"
                    }
                )
            })?;
        // `core.c#2:NAME`, the way diff and the candidate lists tell units
        // of one file name apart, is not a key: the patched object's
        // numbering of those units need not be the kernel's, so it could
        // not be honoured safely, and an ignored pin would only warn.
        if flag == "--sympos"
            && let Some((file, _)) = name.rsplit_once(':')
            && let Some((_, k)) = file.rsplit_once('#')
            && !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_digit())
        {
            bail!(
                "{flag} {s:?}: FILE#K (one of several units of one file name) cannot be pinned; pass --orig ORIG.o, whose units tell the kernel's apart, or FILE:NAME=N where the file name is unique"
            );
        }
        map.insert(name.to_string(), n);
    }
    Ok(map)
}

/// `--patch-symbols`: the globals each named object defines (first wins).
fn patch_symbols(files: &[PathBuf]) -> Result<std::collections::BTreeMap<Vec<u8>, String>> {
    let mut map = std::collections::BTreeMap::new();
    for f in files {
        let elf = load_file(&path_str(f), Expect::Relocatable)?;
        for name in extract::cross::defined_globals(&elf) {
            map.entry(name).or_insert_with(|| elf.path.clone());
        }
    }
    Ok(map)
}

fn extract_and_write(
    patched: &klpwrite::elf::Elf,
    orig: Option<extract::Orig<'_>>,
    list: &[changes::Change],
    c: &CommonArgs,
) -> Result<u8> {
    let mut tgt = target::Target::default();
    for s in &c.symbols {
        tgt.add_source(&path_str(s), &c.objname)?;
    }
    if let Some(i) = &c.image {
        tgt.add_image(&path_str(i))?; // false: not needed for these symbols
    }
    let exports = match &c.symvers {
        Some(s) => symvers::Exports::load(&path_str(s))?,
        None => symvers::Exports::default(),
    };
    // The livepatch rules: from the target's vmlinux symbols when they
    // tell, else from --kernel-version / the reference module's vermagic.
    let release = match (&c.kernel_version, &c.ref_module) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(r)) => Some(kernel::vermagic(&load_file(
            &path_str(r),
            Expect::Relocatable,
        )?)?),
        (None, None) => None,
    };
    let vmlinux = tgt.object("vmlinux");
    let has = |name: &str| vmlinux.is_some_and(|v| v.contains(name.as_bytes()));
    let (rules, rules_why) = kernel::Rules::decide(
        vmlinux.map(|_| &has as &dyn Fn(&str) -> bool),
        release.as_deref(),
    )?;
    let inputs = extract::Inputs {
        patched,
        orig,
        changes: list,
        target: &tgt,
        exports: &exports,
        have_symvers: c.symvers.is_some(),
    };
    let opts = extract::Options {
        objname: c.objname.clone(),
        sympos: parse_pairs(&c.sympos, "--sympos", true)?,
        layouts: layout_hints(&c.struct_size, c.btf.as_deref())?,
        kernel: rules,
        patch_symbols: patch_symbols(&c.patch_symbols)?,
        // The release the rules were decided for, recorded with a
        // symbol-based decision so `module` can check it names its kernel.
        release: release
            .as_deref()
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string),
        allow_missing_orc: c.allow_missing_orc,
        allow_kthread_loop: c.allow_kthread_loop,
        allow_symbol_mismatch: c.allow_symbol_mismatch,
    };
    let ex = extract::run(&inputs, &opts)?;
    if let (Some(r), Some(rel)) = (rules, &release)
        && let Ok(by_release) = kernel::Rules::from_release(rel)
        && by_release.is_legacy() != r.is_legacy()
    {
        eprintln!("klpwrite: warning: {rules_why}");
    }
    for w in &ex.warnings {
        eprintln!("klpwrite: warning: {w}");
    }
    if c.explain {
        emit(&format!("{rules_why}\n"))?;
        for line in &ex.explain {
            emit(&format!("{line}\n"))?;
        }
    }
    let bytes = write::to_bytes(&ex.out).map_err(|e| e.in_file(patched.path.clone()))?;
    write::write_atomic(&c.output, &bytes)?;
    Ok(0)
}

fn run_extract(a: &ExtractArgs) -> Result<u8> {
    let patched = load_input(&path_str(&a.patched))?;
    let orig = match &a.orig {
        Some(o) => Some(load_input(&path_str(o))?),
        None => None,
    };
    let list_path = path_str(&a.changes);
    let text = std::fs::read_to_string(&a.changes)
        .with_context(|| format!("{list_path}: cannot read the function list"))?;
    // An empty list is fine for an object that only marks callbacks;
    // extract refuses it otherwise.
    let empty = text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    });
    let list = if empty && extract::marks_callbacks(&patched) {
        Vec::new()
    } else {
        changes::parse(&list_path, &text)?
    };
    // The same pairing diff makes (and build passes on): correlate is the
    // only source of twins.
    let pins = parse_pins(&a.common.pair)?;
    if orig.is_none() && !pins.is_empty() {
        bail!("--pair needs --orig: it pins a pairing with the original object");
    }
    let twins = match &orig {
        Some(o) => {
            let tw = klpwrite::correlate::run_with(o, &patched, &pins)?;
            for w in &tw.warnings {
                eprintln!("klpwrite: warning: {w}");
            }
            Some(tw)
        }
        None => None,
    };
    let orig = orig
        .as_ref()
        .zip(twins.as_ref())
        .map(|(elf, twins)| extract::Orig { elf, twins });
    extract_and_write(&patched, orig, &list, &a.common)
}

/// Load an input object (`klpwrite::objtool::load_input`) and say what
/// klpwrite completed in objtool's place.
fn load_input(path: &str) -> Result<Elf> {
    let elf = klpwrite::objtool::load_input(path)?;
    say_completed(&elf);
    Ok(elf)
}

fn say_completed(elf: &Elf) {
    if let Some(d) = klpwrite::objtool::describe(elf) {
        eprintln!("klpwrite: warning: {d}");
    }
}

fn parse_pins(values: &[String]) -> Result<Vec<klpwrite::correlate::Pin>> {
    Ok(values
        .iter()
        .map(|v| klpwrite::correlate::Pin::parse(v))
        .collect::<klpwrite::error::Result<Vec<_>>>()?)
}

/// `checksums_only`: the caller uses the loaded objects for nothing but
/// the diff (`diff`, not `build`), so their ORC and BTF are not read.
fn run_diff(
    orig: &Path,
    patched: &Path,
    explain: bool,
    pair: &[String],
    hints: &klpwrite::special::LayoutHints,
    checksums_only: bool,
) -> Result<(diff::DiffReport, Elf, Elf)> {
    let pins = parse_pins(pair)?;
    let load = |p: &Path| {
        if checksums_only {
            klpwrite::objtool::load_input_for_checksums(&path_str(p))
        } else {
            klpwrite::objtool::load_input(&path_str(p))
        }
    };
    // The two reads are independent (a whole vmlinux.o each).
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    // Warnings are printed after both loads, orig first, whatever the
    // threads' timing.
    let (o, p) = klpwrite::par::join(
        size(orig) + size(patched) >= klpwrite::par::THRESHOLD,
        || klpwrite::timing::time("load orig", || load(orig)),
        || klpwrite::timing::time("load patched", || load(patched)),
    );
    let o = o?;
    say_completed(&o);
    let p = p?;
    say_completed(&p);
    // Functions sharing a section still diff (callers of a function that
    // moved may show up as changed); extract refuses to copy them.
    for e in [&o, &p] {
        if let Err(err) = klpwrite::sections::check_split(e) {
            eprintln!("klpwrite: warning: {err}; extract will refuse it");
        }
    }
    let rep = klpwrite::timing::time("diff", || diff::run_hinted(&o, &p, &pins, hints, explain))?;
    for w in &rep.warnings {
        eprintln!("klpwrite: warning: {w}");
    }
    if explain {
        for l in &rep.explain {
            eprintln!("{l}");
        }
    }
    Ok((rep, o, p))
}

fn run_build(a: &BuildArgs) -> Result<u8> {
    let hints = layout_hints(&a.common.struct_size, a.common.btf.as_deref())?;
    let (rep, o, p) = run_diff(
        &a.orig,
        &a.patched,
        a.common.explain,
        &a.common.pair,
        &hints,
        false,
    )?;
    emit(&rep.render(&o, &p))?;
    let list = if rep.has_changes() {
        changes::parse("diff", &rep.render(&o, &p))?
    } else if extract::marks_callbacks(&p) {
        // A patch that only adds callbacks (to existing functions).
        eprintln!(
            "klpwrite: no functional change between {} and {}, but {} marks livepatch callbacks",
            o.path, p.path, p.path
        );
        Vec::new()
    } else {
        eprintln!(
            "klpwrite: no functional change between {} and {}; nothing written",
            o.path, p.path
        );
        return Ok(1);
    };
    // extract works with diff's own pairing.
    let orig = extract::Orig {
        elf: &o,
        twins: &rep.twins,
    };
    extract_and_write(&p, Some(orig), &list, &a.common)
}

fn run() -> Result<u8> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Extract(a) => run_extract(a),
        Command::Build(a) => run_build(a),
        Command::Module(a) => run_module(a),
        Command::Kbuild(a) => run_kbuild(a),
        Command::PostLink { module } => run_post_link(module),
        Command::Verify(a) => run_verify(a),
        Command::Checksum {
            file,
            json,
            layouts,
        } => {
            let elf = klpwrite::objtool::load_input_for_checksums(&path_str(file))?;
            say_completed(&elf);
            let hints = layout_hints(&layouts.struct_size, layouts.btf.as_deref())?;
            let c = checksum::run_with(&elf, &hints)?;
            for w in &c.warnings {
                eprintln!("klpwrite: warning: {}: {w}", elf.path);
            }
            if *json {
                emit(&checksum::render_json(&elf, &c))?;
            } else {
                emit(&checksum::render_text(&elf, &c))?;
            }
            Ok(0)
        }
        Command::Diff {
            orig,
            patched,
            explain,
            pair,
            layouts,
        } => {
            let hints = layout_hints(&layouts.struct_size, layouts.btf.as_deref())?;
            let (rep, o, p) = run_diff(orig, patched, *explain, pair, &hints, true)?;
            emit(&rep.render(&o, &p))?;
            if rep.has_changes() {
                Ok(0)
            } else {
                eprintln!(
                    "klpwrite: no functional change between {} and {}",
                    o.path, p.path
                );
                Ok(1)
            }
        }
        Command::Inspect { file, special } => {
            let elf = load_file(&path_str(file), Expect::Any)?;
            if *special {
                emit(&dump::render_special(&elf))?;
            } else {
                emit(&dump::render(&elf))?;
            }
            Ok(0)
        }
    }
}

/// Writes to stdout. A reader that went away (`klpwrite inspect X | head`)
/// is not an error: the rest is dropped and the exit code stays the one the
/// command earned. `print!` would panic there.
fn emit(s: &str) -> Result<()> {
    use std::io::{ErrorKind, Write};
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to standard output"),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("klpwrite: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
