//! The `klpwrite` command line. Only this file prints.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use klpwrite::elf::load::{Expect, load_file};
use klpwrite::{changes, dump, extract, symvers, target, write};

const EXIT_CODES: &str = "\
Exit codes:
  0  done (output written, or report printed)
  1  nothing to do (no change found; nothing written)
  2  error: bad input, unsupported object, or a refusal; nothing written";

/// Write Linux kernel livepatch objects and modules.
#[derive(Parser)]
#[command(name = "klpwrite", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Extract changed/new functions from a patched object into a livepatch object.
    #[command(after_help = EXIT_CODES)]
    Extract(ExtractArgs),
    /// Print a stable text dump of an ELF object.
    #[command(after_help = EXIT_CODES)]
    Inspect {
        /// The object to dump.
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct ExtractArgs {
    /// The patched object (ET_REL, built with -ffunction-sections -fdata-sections).
    patched: PathBuf,
    /// Function list: `klpwrite diff` output, klp-build log lines, or plain names.
    #[arg(long, value_name = "LIST")]
    changes: PathBuf,
    /// Target object: `vmlinux` or the module name (at most 55 chars, no '.').
    #[arg(long, value_name = "NAME")]
    objname: String,
    /// Target symbols: vmlinux, a module .ko, the original .o, or a /proc/kallsyms dump (repeatable).
    #[arg(long, value_name = "SYMSRC", required = true)]
    symbols: Vec<PathBuf>,
    /// Module.symvers of the target kernel (decides which references are exports).
    #[arg(long, value_name = "FILE")]
    symvers: Option<PathBuf>,
    /// The original object (pairs renamed symbols and describes the unit for sympos).
    #[arg(long, value_name = "ORIG")]
    orig: Option<PathBuf>,
    /// Settle an ambiguous symbol: NAME=N, the 1-based position in kallsyms order (repeatable).
    #[arg(long, value_name = "NAME=N")]
    sympos: Vec<String>,
    /// Entry size of a special section: SECTION=N, e.g. .altinstructions=12 (repeatable).
    #[arg(long = "struct-size", value_name = "SECTION=N")]
    struct_size: Vec<String>,
    /// Print how each function, sympos and relocation decision was made.
    #[arg(long)]
    explain: bool,
    /// Output object.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: PathBuf,
}

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

fn run_extract(a: &ExtractArgs) -> Result<u8> {
    let patched = load_file(&path_str(&a.patched), Expect::Relocatable)?;
    let orig = match &a.orig {
        Some(o) => Some(load_file(&path_str(o), Expect::Relocatable)?),
        None => None,
    };
    let list_path = path_str(&a.changes);
    let text = std::fs::read_to_string(&a.changes)
        .with_context(|| format!("{list_path}: cannot read the function list"))?;
    let list = changes::parse(&list_path, &text)?;
    let mut tgt = target::Target::default();
    for s in &a.symbols {
        tgt.add_source(&path_str(s), &a.objname)?;
    }
    let exports = match &a.symvers {
        Some(s) => symvers::Exports::load(&path_str(s))?,
        None => symvers::Exports::default(),
    };
    let mut sympos = HashMap::new();
    for s in &a.sympos {
        let Some((name, n)) = s.split_once('=') else {
            bail!("--sympos {s:?}: expected NAME=N");
        };
        let n: u64 = n
            .parse()
            .with_context(|| format!("--sympos {s:?}: N must be a non-negative integer"))?;
        sympos.insert(name.to_string(), n);
    }
    let mut struct_sizes = HashMap::new();
    for s in &a.struct_size {
        let Some((name, n)) = s.split_once('=') else {
            bail!("--struct-size {s:?}: expected SECTION=N");
        };
        let n: u64 = n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("--struct-size {s:?}: N must be a positive integer"))?;
        struct_sizes.insert(name.to_string(), n);
    }
    let inputs = extract::Inputs {
        patched: &patched,
        orig: orig.as_ref(),
        changes: &list,
        target: &tgt,
        exports: &exports,
        have_symvers: a.symvers.is_some(),
    };
    let opts = extract::Options {
        objname: a.objname.clone(),
        sympos,
        struct_sizes,
    };
    let ex = extract::run(&inputs, &opts)?;
    for w in &ex.warnings {
        eprintln!("klpwrite: warning: {w}");
    }
    if a.explain {
        for line in &ex.explain {
            println!("{line}");
        }
    }
    let bytes = write::to_bytes(&ex.out)?;
    write::write_atomic(&a.output, &bytes)?;
    Ok(0)
}

fn run() -> Result<u8> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Extract(a) => run_extract(a),
        Command::Inspect { file } => {
            let elf = load_file(&path_str(file), Expect::Any)?;
            print!("{}", dump::render(&elf));
            Ok(0)
        }
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
