//! The function list given to `extract --changes`.
//!
//! Three forms are accepted and told apart automatically:
//!
//! * klpwrite's own `diff` output and klp-build's log lines:
//!   `changed function: X`, `new function: X`, `removed function: X`,
//!   each optionally prefixed by `<object>: `;
//! * a plain list of function names, one or more per line, separated by
//!   whitespace or commas.
//!
//! Empty lines and `#` comments are ignored in both forms. The two forms
//! cannot be mixed in one file.

use crate::error::{Error, ErrorKind, Result};

/// Whether the list said a function is changed or new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// `changed function:`: the function exists in the target.
    Changed,
    /// `new function:`: added by the patch.
    New,
    /// A plain name: decided later from the target's symbols.
    Unspecified,
}

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Function name as it appears in the patched object.
    pub name: String,
    /// What the list said about it.
    pub kind: ChangeKind,
    /// 1-based line number, for messages.
    pub line: usize,
}

/// Parse a list. `path` is used in messages only.
pub fn parse(path: &str, text: &str) -> Result<Vec<Change>> {
    let err = |line: usize, msg: String| {
        Error::new(ErrorKind::Usage, msg)
            .in_file(path)
            .at(format!("line {line}"))
    };
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let tagged = |l: &str| {
        ["changed function: ", "new function: ", "removed function: "]
            .iter()
            .find_map(|t| l.find(t).map(|p| (*t, p)))
    };
    let structured = lines.iter().any(|(_, l)| tagged(l).is_some());
    let mut out: Vec<Change> = Vec::new();
    for (no, line) in lines {
        if structured {
            let Some((tag, pos)) = tagged(line) else {
                return Err(err(
                    no,
                    format!(
                        "expected `changed function: NAME` or `new function: NAME`, found {line:?}"
                    ),
                ));
            };
            let prefix = line[..pos].trim_end();
            if !prefix.is_empty() && !prefix.ends_with(':') {
                return Err(err(
                    no,
                    format!("unexpected text before {:?}: {prefix:?}", tag.trim()),
                ));
            }
            let name = line[pos + tag.len()..].trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(no, format!("bad function name {name:?}")));
            }
            let kind = match tag {
                "changed function: " => ChangeKind::Changed,
                "new function: " => ChangeKind::New,
                _ => continue, // removed functions need no code
            };
            push(&mut out, name, kind, no);
        } else {
            for name in line.split(|c: char| c == ',' || c.is_whitespace()) {
                if name.is_empty() {
                    continue;
                }
                // `FILE:NAME` (Elf::listed_name) is the one name with a colon
                if name.contains(':') && !is_file_qualified(name) {
                    return Err(err(no, format!("bad function name {name:?}")));
                }
                push(&mut out, name, ChangeKind::Unspecified, no);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::new(ErrorKind::Usage, "the function list is empty").in_file(path));
    }
    Ok(out)
}

/// `a.c:helper`: a function named by its unit's STT_FILE, as `diff` lists
/// a static whose name other functions of a linked object share.
fn is_file_qualified(name: &str) -> bool {
    match name.rsplit_once(':') {
        Some((file, f)) => {
            // `FILE#K`: the K-th unit of that basename (Elf::listed_name).
            let file = match file.rsplit_once('#') {
                Some((b, k)) if k.parse::<usize>().is_ok_and(|k| k > 0) => b,
                _ => file,
            };
            !f.is_empty()
                && [".c", ".S", ".s", ".o"]
                    .iter()
                    .any(|e| file.len() > e.len() && file.ends_with(e))
        }
        None => false,
    }
}

fn push(out: &mut Vec<Change>, name: &str, kind: ChangeKind, line: usize) {
    if !out.iter().any(|c| c.name == name) {
        out.push(Change {
            name: name.to_string(),
            kind,
            line,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_forms() {
        let a = parse("x", "changed function: foo\nnew function: bar\n").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].kind, ChangeKind::Changed);
        assert_eq!(a[1].kind, ChangeKind::New);
        let b = parse(
            "x",
            "fs/proc/meminfo.o: changed function: meminfo_proc_show\nfs/proc/meminfo.o: new function: x.part.0\n",
        )
        .unwrap();
        assert_eq!(b[0].name, "meminfo_proc_show");
        assert_eq!(b[1].name, "x.part.0");
        let c = parse("x", "# comment\nfoo bar,baz\n\nfoo\n").unwrap();
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["foo", "bar", "baz"]);
        assert!(c.iter().all(|c| c.kind == ChangeKind::Unspecified));
        let d = parse("x", "removed function: old\nchanged function: f\n").unwrap();
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn rejects_mixed_and_empty() {
        let e = parse("x", "changed function: foo\nbar\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(parse("x", "\n# nothing\n").is_err());
        assert!(parse("x", "changed function: \n").is_err());
    }
}
