//! klpwrite: write Linux kernel livepatch objects and modules.
//!
//! The pipeline, in order:
//!
//! 1. **load** ([`elf::load`]): read and check an ELF object into an owned,
//!    indexed model.
//! 2. **target** ([`target`]): the target kernel's symbols (vmlinux, a
//!    module, or `/proc/kallsyms`) and exports (`Module.symvers`), used to
//!    decide sympos and normal-versus-klp relocations; [`bytematch`] settles
//!    a sympos that only the original object's bytes can decide.
//! 3. **checksum / correlate / diff** ([`checksum`], [`correlate`],
//!    [`diff`]): per-function checksums of both builds, symbol pairing, and
//!    the list of changed, new and removed functions.
//! 4. **extract** ([`extract`]): pull the changed and new functions out of
//!    the patched object with everything they need, classify every
//!    relocation, and build the output object.
//! 5. **write** ([`write`]): lay the output model out as ELF bytes.
//! 6. **inspect** ([`dump`]): a stable text dump of any object.
//!
//! Vocabulary: *orig*, *patched*, *out* are the three objects; a *twin* is
//! the correlated counterpart in the other input; a *clone* is the copy of a
//! patched symbol in the output; *klp symbol*, *klp rela*, *sympos* and
//! *objname* are the kernel's livepatch terms.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod arch;
pub mod btf;
pub mod bytematch;
pub mod changes;
pub mod checksum;
pub mod correlate;
pub mod diff;
pub mod dump;
#[allow(missing_docs)]
pub mod elf;
pub mod error;
pub mod extract;
pub mod image;
pub mod kbuild;
pub mod kernel;
pub mod kthread;
pub mod linemask;
pub mod module;
pub mod objtool;
#[allow(missing_docs)]
pub mod output;
pub mod sections;
pub mod special;
pub mod symvers;
pub mod target;
pub mod verify;
pub mod write;

pub use error::{Error, ErrorKind, Result};

/// Phase timings on stderr when `KLPWRITE_TIMING` is set (for the
/// benchmarks; never part of any output a test or user relies on).
pub mod timing {
    use std::time::Instant;

    /// Whether timings are printed.
    pub fn enabled() -> bool {
        std::env::var_os("KLPWRITE_TIMING").is_some()
    }

    /// Run `f`, printing `what` and its wall time when enabled.
    pub fn time<T>(what: &str, f: impl FnOnce() -> T) -> T {
        if !enabled() {
            return f();
        }
        let t = Instant::now();
        let v = f();
        eprintln!("timing: {what}: {:.3} s", t.elapsed().as_secs_f64());
        v
    }
}

/// Two independent jobs on two threads, when the inputs are big enough
/// for a thread to pay (a whole `vmlinux.o`); in sequence otherwise (a
/// single object of a few hundred KiB takes a millisecond, about what
/// starting a thread costs).
pub mod par {
    /// Inputs of at least this many bytes together are worth a thread.
    pub const THRESHOLD: u64 = 8 << 20;

    /// Whether work on these two objects is worth a second thread.
    pub fn worth(a: &crate::elf::Elf, b: &crate::elf::Elf) -> bool {
        (a.bytes().len() + b.bytes().len()) as u64 >= THRESHOLD
    }

    /// Run `a` and `b`, `a` on a second thread when `parallel`. A panic in
    /// either is re-raised (a bug, never turned into a half result).
    pub fn join<A: Send, B>(
        parallel: bool,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B,
    ) -> (A, B) {
        if !parallel {
            let x = a();
            return (x, b());
        }
        std::thread::scope(|sc| {
            let h = sc.spawn(a);
            let y = b();
            match h.join() {
                Ok(x) => (x, y),
                Err(e) => std::panic::resume_unwind(e),
            }
        })
    }
}
