//! Kernel-thread main loops (crate::kthread): a changed function that a
//! site of the patched or the original object starts as a kernel thread is
//! refused, unless `--allow-kthread-loop`.
//!
//! The rule rests on kernel/livepatch/transition.c. A kthread never
//! returns to user space, where `klp_update_patch_state()` switches other
//! tasks, so it is switched to the patched state only by
//! `klp_try_switch_task()`, which (through `klp_check_and_switch_task()` and
//! `klp_check_stack()`) saves its stack trace and lets
//! `klp_check_stack_func()` look for the address range of every function
//! being replaced; a hit leaves the task unswitched (`-EADDRINUSE`, "is
//! sleeping on function"). A kthread never leaves its main function while
//! it lives (`kthread()` in kernel/kthread.c calls `threadfn` and exits
//! with its return value), so the old main function stays on its stack and
//! `klp_try_complete_transition()` retries every second without end: the
//! patch never finishes its transition (writing 0 to `enabled` can only
//! reverse it, `klp_reverse_transition()`). Only the thread's exit or
//! `klp_force_transition()` (sysfs `force`, which marks every task switched
//! without checking: the thread goes on running the old loop, whose calls
//! then reach the new code, the break of the consistency model that
//! function's comment warns about) ends it.
//!
//! A function the patch adds is fine: a thread new code starts runs the new
//! function, and no thread runs it yet.

use super::*;
use crate::kthread::{ThreadStart, thread_starts};

impl<'a> Ex<'a> {
    /// The changed function (patched symbol) at the same place as `f`
    /// (itself, or an alias of it).
    fn changed_at(&self, f: usize) -> Option<usize> {
        let p = self.p;
        if self.changed.contains_key(&f) {
            return Some(f);
        }
        let fs = &p.symbols[f];
        self.changed.keys().copied().find(|&c| {
            let cs = &p.symbols[c];
            cs.section == fs.section && cs.value == fs.value
        })
    }

    /// Why the thread function `f` (patched symbol) is fine, for
    /// `--explain`.
    fn not_replaced(&self, f: usize) -> &'static str {
        if self.new_syms.contains(&f) {
            "is new: a thread the new code starts runs it, none runs it yet"
        } else {
            "is not one the patch replaces"
        }
    }

    /// Refuse a changed function that a site of the patched or the
    /// original object starts as a kernel thread (see the module comment).
    pub(super) fn check_kthread_loops(&mut self) -> Result<()> {
        let p = self.p;
        // (changed function, description of the site), deduplicated by
        // (function, caller name, callee).
        let mut found: Vec<(usize, String)> = Vec::new();
        let mut seen: HashSet<(usize, Vec<u8>, Vec<u8>)> = HashSet::new();
        let describe = |elf: &Elf, st: &ThreadStart, orig: bool| {
            format!(
                "{}{} {} {}({}{}, ...) (the address loaded into %{} at {})",
                st.call_site(elf),
                if orig { " in the original object" } else { "" },
                if st.tail { "tail-calls" } else { "calls" },
                show(&st.callee),
                if st.reg == "rdi" { "" } else { "..., " },
                elf.symbols[st.threadfn].display_name(),
                st.reg,
                st.load_site(elf),
            )
        };
        for st in thread_starts(p) {
            let line = describe(p, &st, false);
            match self.changed_at(st.threadfn) {
                Some(c) => {
                    if seen.insert((c, p.symbols[st.caller].name.clone(), st.callee.clone())) {
                        found.push((c, line));
                    }
                }
                None => {
                    let why = self.not_replaced(st.threadfn);
                    self.explain.push(format!(
                        "kthread: {line}; {} {why}",
                        p.symbols[st.threadfn].display_name()
                    ))
                }
            }
        }
        if let Some(orig) = self.inp.orig {
            for st in thread_starts(orig.elf) {
                let Some(t) = orig.patched_twin_of(st.threadfn) else {
                    continue;
                };
                let line = describe(orig.elf, &st, true);
                match self.changed_at(t) {
                    Some(c) => {
                        if seen.insert((
                            c,
                            orig.elf.symbols[st.caller].name.clone(),
                            st.callee.clone(),
                        )) {
                            found.push((c, line));
                        }
                    }
                    None => {
                        let why = self.not_replaced(t);
                        self.explain.push(format!(
                            "kthread: {line}; {} {why}",
                            orig.elf.symbols[st.threadfn].display_name()
                        ))
                    }
                }
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        found.sort();
        let lines: Vec<String> = found
            .iter()
            .map(|(c, site)| {
                format!(
                    "{} is the main function of a kernel thread: {site}",
                    p.symbols[*c].display_name()
                )
            })
            .collect();
        let names: Vec<String> = {
            let mut v: Vec<String> = found
                .iter()
                .map(|(c, _)| p.symbols[*c].display_name())
                .collect();
            v.dedup();
            v
        };
        if self.opts.allow_kthread_loop {
            for l in &lines {
                self.warnings.push(format!(
                    "{}: --allow-kthread-loop: {l}; the livepatch transition finishes only once every such thread has exited (a thread sleeping in it keeps the old function on its stack: kernel/livepatch/transition.c klp_check_stack_func()), or when forced with `echo 1 > /sys/kernel/livepatch/<patch>/force`, which is unsafe (klp_force_transition() marks the thread switched while it goes on running the old loop, whose calls then reach the new code)",
                    p.path
                ));
            }
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Refused,
            format!(
                "cannot replace the main function of a kernel thread:\n  {}\n  a kthread runs its main function until it exits, so the old {} stays on the thread's stack; the livepatch transition switches a task only when its stack holds none of the functions being replaced (kernel/livepatch/transition.c: klp_try_switch_task() → klp_check_stack() → klp_check_stack_func()) and retries forever otherwise (klp_try_complete_transition()): the patch would never finish its transition",
                lines.join("\n  "),
                names.join(", ")
            ),
        )
        .in_file(&p.path)
        .hint(format!(
            "patch the functions the loop calls instead (the loop itself cannot be replaced while the thread lives), or pass --allow-kthread-loop to write it anyway: the transition then finishes only once every thread running {} has exited, or with `echo 1 > /sys/kernel/livepatch/<patch>/force`, which is unsafe (the thread goes on running the old loop)",
            names.join(", ")
        )))
    }
}
