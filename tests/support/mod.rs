//! Shared test helpers: fixture discovery, insta settings, running the
//! binary, and the structural checks every livepatch object must pass.

#![allow(dead_code)]

pub mod build;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use klpwrite::arch::x86_64 as x86;
use klpwrite::elf::Elf;
use klpwrite::elf::consts::*;
use klpwrite::elf::load::{Expect, load_file};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the kpatch corpus is: `$KLPWRITE_CORPUS` when set, else
/// `../shared/corpus/kpatch-unit/x86_64` next to the repository.
pub fn corpus_path() -> PathBuf {
    match std::env::var_os("KLPWRITE_CORPUS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => root().join("../shared/corpus/kpatch-unit/x86_64"),
    }
}

/// Whether this is CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The corpus directory ([`corpus_path`]), or None when it is absent. Its
/// absence fails the test in CI ([`in_ci`]); elsewhere the test goes on
/// without it and says so with a `corpus: SKIPPED` line on stderr.
///
/// libtest captures what `print!`/`eprint!` write from a test and shows it
/// only for failing tests, so the line is written to the stderr handle
/// itself, which is not captured: a plain `cargo test` shows it.
pub fn corpus_dir() -> Option<PathBuf> {
    let d = corpus_path();
    if d.join("EXPECTED.tsv").exists() {
        return Some(d);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a corpus test")
        .to_string();
    let why = format!(
        "{test}, {} not found (KLPWRITE_CORPUS=DIR names another place)",
        d.display()
    );
    if in_ci() {
        panic!("corpus: MISSING in {why}: the corpus suite is required in CI");
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "corpus: SKIPPED in {why}");
    None
}

/// insta settings: snapshots live in the top-level `snapshots/`.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

/// Run the klpwrite binary.
pub fn klpwrite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_klpwrite"))
        .args(args)
        .output()
        .expect("run klpwrite")
}

/// A fresh scratch directory under target/.
pub fn scratch(name: &str) -> PathBuf {
    let d = root().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether a tool exists on PATH.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// readelf -aW and objdump -dr must read `path` without a warning.
pub fn check_binutils(path: &Path) {
    for (tool, args) in [("readelf", vec!["-aW"]), ("objdump", vec!["-dr"])] {
        if !have(tool) {
            continue;
        }
        let out = Command::new(tool).args(&args).arg(path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "{tool} {} complained about {}:\n{err}",
            args.join(" "),
            path.display()
        );
    }
}

/// Name parse of `.klp.sym.<obj>.<name>,<pos>` the way the kernel's sscanf
/// does (`%55[^.].%511[^,],%lu`).
pub fn parse_klp_sym(name: &str) -> Option<(String, String, u64)> {
    let rest = name.strip_prefix(".klp.sym.")?;
    let dot = rest.find('.')?;
    let obj = &rest[..dot];
    let rest = &rest[dot + 1..];
    let comma = rest.find(',')?;
    let sym = &rest[..comma];
    let pos: u64 = rest[comma + 1..].parse().ok()?;
    (!obj.is_empty() && obj.len() <= 55 && !sym.is_empty() && sym.len() <= 511)
        .then(|| (obj.into(), sym.into(), pos))
}

/// The structural invariants of a livepatch object, checked on our own
/// re-read of the bytes, then `klpwrite verify` with the exports.
/// `exports` are the names that may stay undefined.
pub fn check_livepatch_object(elf: &Elf, exports: &HashSet<String>) {
    check_structure(elf, exports);
    let e = exports_of(exports);
    verify_output(
        elf,
        &klpwrite::verify::Context {
            exports: Some(&e),
            ..Default::default()
        },
    );
}

fn check_structure(elf: &Elf, exports: &HashSet<String>) {
    let path = &elf.path;
    // Locals first, sh_info right.
    let first_global = elf.first_global;
    for s in &elf.symbols[1..] {
        assert_eq!(
            s.is_local(),
            s.index < first_global,
            "{path}: symbol {} out of locals-first order",
            s.display_name()
        );
    }
    for s in &elf.sections {
        if s.is_klp_rela() {
            assert_eq!(
                s.sh_flags,
                SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH,
                "{path}: {} flags",
                s.display_name()
            );
            assert_eq!(
                Some(s.sh_link as usize),
                elf.symtab,
                "{path}: {} sh_link",
                s.display_name()
            );
            let target = &elf.sections[s.sh_info as usize];
            assert!(
                target.is_alloc(),
                "{path}: {} targets non-ALLOC {}",
                s.display_name(),
                target.display_name()
            );
            let name = String::from_utf8_lossy(&s.name);
            let obj = name
                .strip_prefix(".klp.rela.")
                .and_then(|r| r.split('.').next())
                .unwrap_or("");
            assert!(
                !obj.is_empty() && obj.len() <= 55,
                "{path}: bad klp rela name {name}"
            );
            for r in elf.relocs_of_rsec(s.index) {
                let sym = &elf.symbols[r.symbol];
                assert!(
                    sym.is_livepatch(),
                    "{path}: {name} references non-klp symbol {}",
                    sym.display_name()
                );
                let (sobj, _, _) = parse_klp_sym(&sym.display_name())
                    .unwrap_or_else(|| panic!("{path}: bad klp symbol {}", sym.display_name()));
                if obj != "vmlinux" {
                    assert_ne!(
                        sobj, "vmlinux",
                        "{path}: module section {name} references a vmlinux klp symbol"
                    );
                } else {
                    assert_eq!(
                        sobj, "vmlinux",
                        "{path}: vmlinux section {name} references a module symbol"
                    );
                }
            }
        } else if s.is_rela() {
            for r in elf.relocs_of_rsec(s.index) {
                let sym = &elf.symbols[r.symbol];
                assert!(
                    !sym.is_livepatch(),
                    "{path}: normal {} references klp symbol {}",
                    s.display_name(),
                    sym.display_name()
                );
                if sym.is_undef() {
                    let n = sym.display_name();
                    assert!(
                        exports.contains(&n),
                        "{path}: {} references undefined {n}, which is not an export",
                        s.display_name()
                    );
                }
            }
        }
        if s.is_rela() {
            let target = &elf.sections[s.sh_info as usize];
            for r in elf.relocs_of_rsec(s.index) {
                assert!(
                    x86::reloc_allowed_in_module(r.r_type),
                    "{path}: {} type {}",
                    s.display_name(),
                    r.r_type
                );
                let w = x86::reloc_width(r.r_type).unwrap() as usize;
                if !target.is_nobits() && w > 0 {
                    let d = elf.data(target.index);
                    let site = &d[r.offset as usize..r.offset as usize + w];
                    assert!(
                        site.iter().all(|&b| b == 0),
                        "{path}: non-zero relocation site at {}+{:#x}",
                        target.display_name(),
                        r.offset
                    );
                }
            }
        }
    }
    for s in &elf.symbols {
        if s.is_livepatch() {
            assert!(
                parse_klp_sym(&s.display_name()).is_some(),
                "{path}: klp symbol name {}",
                s.display_name()
            );
            assert!(
                !s.is_local(),
                "{path}: klp symbol {} is local",
                s.display_name()
            );
        }
        if s.name.starts_with(b".klp.sym.") {
            assert!(
                s.is_livepatch(),
                "{path}: {} lacks SHN_LIVEPATCH",
                s.display_name()
            );
        }
    }
    // Special sections: whole entries, one relocation per required field.
    for s in &elf.sections {
        let Some(spec) = x86::special_for(&s.name) else {
            continue;
        };
        let x86::Treatment::Entries(layouts) = spec.treatment else {
            assert!(
                matches!(spec.treatment, x86::Treatment::Companion(..)),
                "{path}: dropped special section {} present",
                s.display_name()
            );
            continue;
        };
        let relocs: Vec<_> = elf.relocs_for(s.index).copied().collect();
        let fits = |l: &x86::Layout| {
            s.sh_size % l.size == 0
                && relocs.iter().all(|r| {
                    l.fields
                        .iter()
                        .any(|f| f.offset == r.offset % l.size && f.types.contains(&r.r_type))
                })
                && (0..s.sh_size / l.size).all(|k| {
                    l.fields.iter().filter(|f| f.required).all(|f| {
                        relocs
                            .iter()
                            .filter(|r| r.offset == k * l.size + f.offset)
                            .count()
                            == 1
                    })
                })
        };
        let ok = layouts.iter().any(fits);
        assert!(
            ok,
            "{path}: special section {} does not consist of whole, fully relocated entries",
            s.display_name()
        );
        // Every entry describes code of the output: its code field points
        // into (or, for ORC, just past) a function defined here.
        let l = layouts.iter().find(|l| fits(l)).unwrap();
        for r in &relocs {
            let Some(f) = l.fields.iter().find(|f| f.offset == r.offset % l.size) else {
                continue;
            };
            if !matches!(f.role, x86::Role::Code | x86::Role::CodeOrEnd) {
                continue;
            }
            let t = &elf.symbols[r.symbol];
            let sec = t.section.unwrap_or_else(|| {
                panic!(
                    "{path}: {} entry points at undefined {}",
                    s.display_name(),
                    t.display_name()
                )
            });
            let off = t.value as i64 + r.addend;
            let inside = elf.symbols.iter().any(|fs| {
                fs.is_func()
                    && fs.section == Some(sec)
                    && off >= fs.value as i64
                    && off <= (fs.value + fs.size) as i64
            });
            assert!(
                inside,
                "{path}: {} entry at +{:#x} points outside the extracted functions",
                s.display_name(),
                r.offset
            );
        }
    }
}

/// Outputs `klpwrite verify` checked in this test binary, and how many it
/// refused (a refusal also fails the test that made the output).
pub static VERIFY_CHECKED: AtomicUsize = AtomicUsize::new(0);
/// See [`VERIFY_CHECKED`].
pub static VERIFY_REFUSED: AtomicUsize = AtomicUsize::new(0);
/// Output relocations verify traced back to the patched object.
pub static VERIFY_TRACED: AtomicUsize = AtomicUsize::new(0);

/// The summary line tests print (`--nocapture`): `verify: N outputs
/// checked, M refused`.
pub fn verify_summary() -> String {
    format!(
        "verify: {} outputs checked, {} refused, {} relocations traced to their input",
        VERIFY_CHECKED.load(Ordering::Relaxed),
        VERIFY_REFUSED.load(Ordering::Relaxed),
        VERIFY_TRACED.load(Ordering::Relaxed)
    )
}

/// Run `klpwrite verify` (the library) on an output with whatever context
/// the caller has; panic with the findings on any.
pub fn verify_output(elf: &Elf, ctx: &klpwrite::verify::Context<'_>) -> klpwrite::verify::Report {
    let rep = klpwrite::verify::verify(elf, ctx);
    VERIFY_CHECKED.fetch_add(1, Ordering::Relaxed);
    VERIFY_TRACED.fetch_add(rep.traced, Ordering::Relaxed);
    if !rep.is_clean() {
        VERIFY_REFUSED.fetch_add(1, Ordering::Relaxed);
        let lines: Vec<String> = rep.findings.iter().map(|f| f.to_string()).collect();
        panic!("{}: verify found:\n{}", elf.path, lines.join("\n"));
    }
    rep
}

/// `exports` (names) as a Module.symvers for verify.
pub fn exports_of(names: &HashSet<String>) -> klpwrite::symvers::Exports {
    let mut e = klpwrite::symvers::Exports::default();
    for n in names {
        e.insert(
            n,
            klpwrite::symvers::Export {
                crc: 0,
                module: "vmlinux".into(),
                export_type: "EXPORT_SYMBOL".into(),
                namespace: None,
            },
        );
    }
    e
}

/// Load an output object with our own loader.
pub fn reload(path: &Path) -> Elf {
    load_file(&path.display().to_string(), Expect::Relocatable)
        .unwrap_or_else(|e| panic!("re-read {}: {e}", path.display()))
}

/// klp symbol names of an object.
pub fn klp_symbols(elf: &Elf) -> Vec<String> {
    let mut v: Vec<String> = elf
        .symbols
        .iter()
        .filter(|s| s.is_livepatch())
        .map(|s| s.display_name())
        .collect();
    v.sort();
    v
}

/// One `case*.txt` of tests/fixtures.
#[derive(Debug, Default, Clone)]
pub struct Case {
    pub file: PathBuf,
    pub dir: PathBuf,
    pub patched: String,
    pub orig: Option<String>,
    pub changes: Vec<String>,
    pub changes_file: Option<String>,
    pub objname: String,
    pub symbols: Vec<String>,
    pub symvers: Option<String>,
    pub sympos: Vec<String>,
    /// `--patch-symbols` files (relative to the case directory).
    pub patch_symbols: Vec<String>,
    pub expect_klp_sym: Vec<String>,
    pub expect_no_klp_sym: Vec<String>,
    pub expect_undef: Vec<String>,
    pub expect_defined: Vec<String>,
    /// Names that must not be defined (copied) in the output.
    pub expect_not_defined: Vec<String>,
    /// `SYMBOL COUNT`: exactly COUNT relocations of the output (all
    /// relocation sections) target SYMBOL.
    pub expect_relocs_to: Vec<(String, usize)>,
    pub expect_error: Option<String>,
    /// `extract` (default), `build` (diff + extract; needs `orig`) or
    /// `diff` (needs `orig`; no output object).
    pub command: String,
    /// Extra arguments, one per `arg =` line, passed as they are.
    pub extra: Vec<String>,
    /// Exit code the run must give (default 0, or 2 with `expect_error`).
    pub expect_exit: Option<i32>,
    /// Substrings that must be in stdout.
    pub expect_stdout: Vec<String>,
    /// Substrings that must not be in stdout.
    pub expect_no_stdout: Vec<String>,
    /// Substrings that must be in stderr.
    pub expect_stderr: Vec<String>,
    /// Substrings stderr must not contain.
    pub expect_no_stderr: Vec<String>,
    /// Section-name prefixes some output section must start with.
    pub expect_section: Vec<String>,
    /// Section-name prefixes no output section may start with.
    pub expect_no_section: Vec<String>,
    /// The old names of the output's patched functions (its
    /// `.klpwrite.patch` `func` lines, one `klp_func` each), in order.
    pub expect_funcs: Option<Vec<String>>,
}

impl Case {
    pub fn parse(file: &Path) -> Case {
        let text = std::fs::read_to_string(file).unwrap();
        let mut c = Case {
            file: file.to_path_buf(),
            dir: file.parent().unwrap().to_path_buf(),
            ..Default::default()
        };
        for line in text.lines() {
            // A comment is a whole line: values may hold '#'
            // (`core.c#2:event_show`, `# cleanup_module: an alias ...`).
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: bad line {line}", file.display()));
            let (k, v) = (k.trim(), v.trim().to_string());
            match k {
                "patched" => c.patched = v,
                "orig" => c.orig = Some(v),
                "changes" => c.changes.push(v),
                "changes_file" => c.changes_file = Some(v),
                "objname" => c.objname = v,
                "symbols" => c.symbols.push(v),
                "symvers" => c.symvers = Some(v),
                "sympos" => c.sympos.push(v),
                "patch_symbols" => c.patch_symbols.push(v),
                "expect_klp_sym" => c.expect_klp_sym.push(v),
                "expect_no_klp_sym" => c.expect_no_klp_sym.push(v),
                "expect_undef" => c.expect_undef.push(v),
                "expect_defined" => c.expect_defined.push(v),
                "expect_not_defined" => c.expect_not_defined.push(v),
                "expect_no_section" => c.expect_no_section.push(v),
                "expect_relocs_to" => {
                    let (sym, n) = v.rsplit_once(' ').unwrap_or_else(|| {
                        panic!("{}: expect_relocs_to SYMBOL COUNT", file.display())
                    });
                    c.expect_relocs_to.push((
                        sym.trim().to_string(),
                        n.parse().expect("expect_relocs_to count"),
                    ));
                }
                "expect_error" => c.expect_error = Some(v),
                "command" => {
                    assert!(
                        matches!(v.as_str(), "extract" | "build" | "diff"),
                        "{}: command must be extract, build or diff",
                        file.display()
                    );
                    c.command = v
                }
                "arg" => c.extra.push(v),
                "expect_exit" => c.expect_exit = Some(v.parse().expect("expect_exit")),
                "expect_stdout" => c.expect_stdout.push(v),
                "expect_no_stdout" => c.expect_no_stdout.push(v),
                "expect_stderr" => c.expect_stderr.push(v),
                "expect_no_stderr" => c.expect_no_stderr.push(v),
                "expect_section" => c.expect_section.push(v),
                "expect_funcs" => {
                    c.expect_funcs = Some(v.split_whitespace().map(str::to_string).collect())
                }
                _ => panic!("{}: unknown key {k}", file.display()),
            }
        }
        if c.command.is_empty() {
            c.command = "extract".into();
        }
        if c.command != "extract" {
            assert!(
                c.orig.is_some(),
                "{}: {} needs orig",
                file.display(),
                c.command
            );
        }
        c
    }

    /// Command-line arguments for the case's command, writing to `out`.
    pub fn args(&self, list: &Path, out: &Path) -> Vec<String> {
        // An `arg` naming a file of the case directory (`--btf bug16.btf`)
        // is passed with the directory.
        let extra: Vec<String> = self
            .extra
            .iter()
            .map(|a| {
                let p = self.dir.join(a);
                if !a.starts_with('-') && p.is_file() {
                    p.display().to_string()
                } else {
                    a.clone()
                }
            })
            .collect();
        let p = |f: &str| self.dir.join(f).display().to_string();
        let mut a: Vec<String> = match self.command.as_str() {
            "diff" => {
                let mut a = vec![
                    "diff".to_string(),
                    p(self.orig.as_deref().expect("checked")),
                    p(&self.patched),
                ];
                a.extend(extra.iter().cloned());
                return a;
            }
            "build" => vec![
                "build".to_string(),
                p(self.orig.as_deref().expect("checked")),
                p(&self.patched),
                "--objname".into(),
                self.objname.clone(),
            ],
            _ => vec![
                "extract".to_string(),
                p(&self.patched),
                "--changes".into(),
                list.display().to_string(),
                "--objname".into(),
                self.objname.clone(),
            ],
        };
        for s in &self.symbols {
            a.push("--symbols".into());
            a.push(p(s));
        }
        if let Some(s) = &self.symvers {
            a.push("--symvers".into());
            a.push(p(s));
        }
        for s in &self.patch_symbols {
            a.push("--patch-symbols".into());
            a.push(p(s));
        }
        if let Some(o) = &self.orig
            && self.command == "extract"
        {
            a.push("--orig".into());
            a.push(p(o));
        }
        a.extend(extra.iter().cloned());
        for s in &self.sympos {
            a.push("--sympos".into());
            a.push(s.clone());
        }
        a.push("-o".into());
        a.push(out.display().to_string());
        a
    }
}
