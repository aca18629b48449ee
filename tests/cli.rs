//! The command line: exit codes, error messages, atomic output, and
//! byte-identical output across runs.

mod support;

use support::*;

fn fx(p: &str) -> String {
    root()
        .join("tests/fixtures/x86_64")
        .join(p)
        .display()
        .to_string()
}

fn example_args(out: &str, changes: &str) -> Vec<String> {
    let d = |f: &str| {
        root()
            .join("examples/data/cmdline")
            .join(f)
            .display()
            .to_string()
    };
    vec![
        "extract".into(),
        d("cmdline.patched.o"),
        "--changes".into(),
        changes.to_string(),
        "--objname".into(),
        "vmlinux".into(),
        "--symbols".into(),
        d("vmlinux.syms"),
        "--symvers".into(),
        d("Module.symvers"),
        "-o".into(),
        out.to_string(),
    ]
}

/// The embedded example's function list.
fn example_changes() -> String {
    root()
        .join("examples/data/cmdline/changes.txt")
        .display()
        .to_string()
}

fn run(args: &[String]) -> std::process::Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    klpwrite(&a)
}

#[test]
fn help_documents_exit_codes() {
    let o = klpwrite(&["--help"]);
    let s = String::from_utf8_lossy(&o.stdout);
    for needle in ["0  done", "1  nothing to do", "2  error"] {
        assert!(s.contains(needle), "--help lacks {needle:?}:\n{s}");
    }
    let o = klpwrite(&["extract", "--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("2  error"));
}

#[test]
fn usage_errors_exit_2() {
    let o = klpwrite(&["extract"]);
    assert_eq!(o.status.code(), Some(2));
    let o = klpwrite(&["no-such-command"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn extract_is_deterministic() {
    let w = scratch("determinism");
    let changes = example_changes();
    let a = w.join("a.o").display().to_string();
    let b = w.join("b.o").display().to_string();
    assert_eq!(run(&example_args(&a, &changes)).status.code(), Some(0));
    assert_eq!(run(&example_args(&b, &changes)).status.code(), Some(0));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // The example's promise: saved_command_line is not exported.
    let elf = reload(std::path::Path::new(&a));
    assert!(klp_symbols(&elf).contains(&".klp.sym.vmlinux.saved_command_line,0".to_string()));
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&w)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn error_leaves_existing_output_untouched() {
    let w = scratch("atomic");
    let out = w.join("out.o");
    std::fs::write(&out, b"previous contents").unwrap();
    let list = w.join("list");
    std::fs::write(&list, "no_such_function\n").unwrap();
    let o = run(&example_args(
        &out.display().to_string(),
        &list.display().to_string(),
    ));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no_such_function") && err.contains("cmdline.patched.o"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");
    assert_eq!(
        std::fs::read_dir(&w).unwrap().count(),
        2,
        "a temporary file was left behind"
    );
}

#[test]
fn missing_listed_function_is_named() {
    let w = scratch("missing-fn");
    let list = w.join("list");
    std::fs::write(&list, "changed function: cmdline_proc_shw\n").unwrap();
    let out = w.join("out.o");
    let o = run(&example_args(
        &out.display().to_string(),
        &list.display().to_string(),
    ));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cmdline_proc_shw") && err.contains("not a function"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn malformed_function_list_names_the_line() {
    let w = scratch("bad-list");
    let list = w.join("list");
    std::fs::write(&list, "changed function: a\nthis is not a change line\n").unwrap();
    let out = w.join("out.o");
    let o = run(&example_args(
        &out.display().to_string(),
        &list.display().to_string(),
    ));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert!(!out.exists());
}

#[test]
fn bad_objname_is_refused() {
    let w = scratch("objname");
    let changes = example_changes();
    let out = w.join("out.o").display().to_string();
    for bad in ["has.dot", &"x".repeat(56)] {
        let mut a = example_args(&out, &changes);
        let i = a.iter().position(|x| x == "vmlinux").unwrap();
        a[i] = bad.to_string();
        let o = run(&a);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("object name"),
            "{bad}"
        );
    }
}

#[test]
fn inspect_bad_inputs_exit_2() {
    for (f, needle) in [
        ("bad-inputs/truncated.o", "truncated.o"),
        ("bad-inputs/not-elf.o", "not an ELF file"),
        ("bad-inputs/wrong-machine-aarch64.o", "EM_AARCH64"),
        ("bad-inputs/wrong-machine-i386.o", "ELF class 1"),
    ] {
        let o = klpwrite(&["inspect", &fx(f)]);
        assert_eq!(o.status.code(), Some(2), "{f}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{f}: {err}");
    }
    let o = klpwrite(&["inspect", "/nonexistent/file.o"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn inspect_is_stable() {
    let o = klpwrite(&["inspect", &fx("bad-inputs/tiny.o")]);
    assert_eq!(o.status.code(), Some(0));
    settings()
        .bind(|| insta::assert_snapshot!("inspect__tiny", String::from_utf8_lossy(&o.stdout)));
}

#[test]
fn explain_prints_decisions() {
    let w = scratch("explain");
    let changes = example_changes();
    let mut a = example_args(&w.join("o.o").display().to_string(), &changes);
    a.push("--explain".into());
    let o = run(&a);
    assert_eq!(o.status.code(), Some(0));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("function cmdline_proc_show [changed]"), "{s}");
    assert!(
        s.contains("klp .klp.sym.vmlinux.saved_command_line,0"),
        "{s}"
    );
    assert!(s.contains("exported by vmlinux"), "{s}");
}

/// The output is a new file renamed over the old one, never the old file
/// rewritten in place: another hard link to the old file keeps the old bytes.
#[test]
fn output_replaces_by_rename() {
    let w = scratch("rename");
    let out = w.join("out.o");
    let other = w.join("other-link");
    std::fs::write(&out, b"previous contents").unwrap();
    std::fs::hard_link(&out, &other).unwrap();
    let changes = example_changes();
    let o = run(&example_args(&out.display().to_string(), &changes));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&other).unwrap(), b"previous contents");
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x7fELF"));
}

/// A destination that cannot take the output (here a non-empty
/// directory) exits 2, leaves the destination as it was and leaves no
/// temporary file.
#[test]
fn failed_rename_leaves_no_temporary() {
    let w = scratch("rename-fails");
    let out = w.join("out.o");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), b"x").unwrap();
    let changes = example_changes();
    let o = run(&example_args(&out.display().to_string(), &changes));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("out.o") && err.contains("is a directory"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("keep")).unwrap(), b"x");
    let names: Vec<_> = std::fs::read_dir(&w)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["out.o"], "a temporary file was left behind");
}

/// An output directory that does not exist is an error, not a panic, and
/// creates nothing.
#[test]
fn missing_output_directory_exits_2() {
    let w = scratch("no-dir");
    let out = w.join("missing/out.o");
    let changes = example_changes();
    let o = run(&example_args(&out.display().to_string(), &changes));
    assert_eq!(o.status.code(), Some(2));
    assert!(!w.join("missing").exists());
}

/// `-o` naming something that is not a regular file (`/dev/stdout`, here a
/// link to /dev/null) is written to as it is: renaming over it would
/// replace the link with a file. A link to a regular file replaces the
/// file it names and stays a link.
#[test]
fn output_through_links_and_devices() {
    use std::os::unix::fs::symlink;
    let w = scratch("out-links");
    let changes = example_changes();
    let dev = w.join("stdout");
    symlink("/dev/null", &dev).unwrap();
    let o = run(&example_args(&dev.display().to_string(), &changes));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = std::fs::symlink_metadata(&dev).unwrap();
    assert!(m.file_type().is_symlink(), "the device link was replaced");
    let real = w.join("real.o");
    std::fs::write(&real, b"old").unwrap();
    let link = w.join("link.o");
    symlink(&real, &link).unwrap();
    let o = run(&example_args(&link.display().to_string(), &changes));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::read(&real).unwrap().starts_with(b"\x7fELF"));
}

/// The README's example, as written there: run from the repository root,
/// it writes under `target/` (which git ignores, so `git status` stays
/// clean), and `inspect` of that output shows the klp symbol.
#[test]
fn readme_example_writes_under_target() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let cmds: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("cargo run -- extract "))
        .collect();
    assert_eq!(cmds.len(), 1, "the README's example command: {cmds:?}");
    let args: Vec<&str> = cmds[0]
        .strip_prefix("cargo run -- ")
        .unwrap()
        .split_whitespace()
        .collect();
    let out = args[args.iter().position(|a| *a == "-o").unwrap() + 1];
    assert!(
        out.starts_with("target/"),
        "the README's example writes {out}, outside the ignored target/"
    );
    let gitignore = std::fs::read_to_string(root().join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == "/target"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_klpwrite"))
        .current_dir(root())
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mention = format!("`cargo run -- inspect {out}`");
    assert!(readme.contains(&mention), "README should say {mention}");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_klpwrite"))
        .current_dir(root())
        .args(["inspect", out])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains(".klp.sym.vmlinux.saved_command_line,0"));
}

/// `--symbols A B` and `--symbols A --symbols B` mean the same, for
/// extract, build and verify (the README's `--symbols SYMSRC...`). Values
/// run up to the next option, so a positional argument after them is
/// taken for a symbol source and the missing positional is reported.
#[test]
fn symbols_takes_several_values_or_repeats() {
    let w = scratch("symbols-forms");
    let m = |f: &str| fx(&format!("module-ref/{f}"));
    let (vmlinux, ko) = (m("vmlinux.elf"), m("fxmod.ko"));
    let list = w.join("changes").display().to_string();
    std::fs::write(&list, "fxmod_handle\n").unwrap();
    let tail = |out: &str| -> Vec<String> {
        [
            "--objname",
            "fxmod",
            "--symvers",
            &m("Module.symvers"),
            "-o",
            out,
        ]
        .map(String::from)
        .to_vec()
    };
    let one = |v: &mut Vec<String>| v.extend(["--symbols".into(), vmlinux.clone(), ko.clone()]);
    let rep = |v: &mut Vec<String>| {
        v.extend([
            "--symbols".into(),
            vmlinux.clone(),
            "--symbols".into(),
            ko.clone(),
        ])
    };
    let mut outs = Vec::new();
    for (cmd, head) in [
        (
            "extract",
            vec![
                "extract".to_string(),
                m("mod_main.patched.o"),
                "--changes".into(),
                list.clone(),
                "--orig".into(),
                m("mod_main.o"),
            ],
        ),
        (
            "build",
            vec![
                "build".to_string(),
                m("mod_main.o"),
                m("mod_main.patched.o"),
            ],
        ),
    ] {
        let mut got = Vec::new();
        for (form, add) in [("one", &one as &dyn Fn(&mut Vec<String>)), ("rep", &rep)] {
            let out = w.join(format!("{cmd}-{form}.o")).display().to_string();
            let mut a = head.clone();
            add(&mut a);
            a.extend(tail(&out));
            let o = run(&a);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{cmd} {form}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            got.push(std::fs::read(&out).unwrap());
            outs.push(out);
        }
        assert_eq!(got[0], got[1], "{cmd}: both forms give the same output");
    }
    for (form, add) in [("one", &one as &dyn Fn(&mut Vec<String>)), ("rep", &rep)] {
        let mut a = vec!["verify".to_string(), outs[0].clone()];
        add(&mut a);
        a.extend(["--objname".into(), "fxmod".into()]);
        let o = run(&a);
        let s = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "verify {form}: {s}");
        assert!(s.contains("0 problem(s)"), "verify {form}: {s}");
    }
    // A positional after the values is one more value: PATCHED is missing.
    let mut a = vec!["extract".to_string()];
    one(&mut a);
    a.extend([m("mod_main.patched.o"), "--changes".into(), list]);
    a.extend(tail(&w.join("late.o").display().to_string()));
    let o = run(&a);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("<PATCHED>"));
}

/// `--sympos` help and the README give the kernel's numbering
/// (`klp_find_object_symbol`): 0 for a unique name, else 1-based among
/// the object's symbols of that name, in kallsyms order for vmlinux and
/// `.symtab` order for a module.
#[test]
fn sympos_help_and_readme_agree() {
    let readme = std::fs::read_to_string(root().join("README.md"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for cmd in ["extract", "build"] {
        let o = klpwrite(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for fact in [
            "1-based position among the",
            "kallsyms (address) order for vmlinux, .symtab order for a module",
            "0 only for a unique name",
        ] {
            assert!(help.contains(fact), "{cmd} --help lacks {fact:?}:\n{help}");
            let fact = fact.replace(".symtab", "`.symtab`");
            assert!(readme.contains(&fact), "README lacks {fact:?}");
        }
    }
}

/// Exit code 1 ("nothing to do") is listed only by the commands that
/// return it: diff and build (no functional change). The others list 0
/// and 2.
#[test]
fn exit_code_1_only_where_it_can_happen() {
    for cmd in [
        "extract",
        "checksum",
        "diff",
        "build",
        "module",
        "kbuild",
        "post-link",
        "verify",
        "inspect",
    ] {
        let o = klpwrite(&[cmd, "--help"]);
        let s = String::from_utf8_lossy(&o.stdout);
        let lists_1 = s.lines().any(|l| l.trim_start().starts_with("1  "));
        assert_eq!(
            lists_1,
            matches!(cmd, "diff" | "build"),
            "{cmd} --help and exit code 1:\n{s}"
        );
        assert!(s.contains("2  "), "{cmd} --help lacks exit code 2:\n{s}");
    }
    // diff does return 1 for an object against itself.
    let f = fx("new-function/feature.o");
    let o = klpwrite(&["diff", &f, &f]);
    assert_eq!(o.status.code(), Some(1));
}

/// `klpwrite inspect X | head -1`: the reader leaves early. The write fails
/// with EPIPE (Rust ignores SIGPIPE); that is no panic and no error, and the
/// exit code is the command's own.
#[test]
fn reader_that_goes_away_is_no_error() {
    use std::process::{Command, Stdio};
    let obj = root().join("examples/data/cmdline/cmdline.patched.o");
    for sub in ["inspect", "checksum"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_klpwrite"))
            .arg(sub)
            .arg(&obj)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{sub}: {err}");
        assert!(err.is_empty(), "{sub} wrote to stderr: {err}");
    }
}
