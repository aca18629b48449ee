//! Kernel-thread main functions: code that starts a thread running a
//! function of the object.
//!
//! A kernel thread runs its `threadfn` from `kthread()` (kernel/kthread.c)
//! until the thread exits; while it lives, that function is on the
//! thread's stack, whatever the thread sleeps in. The livepatch transition
//! switches a task to the new code only when a reliable stack trace of it
//! holds none of the functions being replaced: `klp_try_switch_task()` →
//! `klp_check_and_switch_task()` → `klp_check_stack()` →
//! `klp_check_stack_func()` (kernel/livepatch/transition.c) returns
//! `-EADDRINUSE` ("is sleeping on function ...") for such a task, and
//! `klp_try_complete_transition()` keeps rescheduling itself until every
//! task switched. So replacing the main function of a thread that lives as
//! long as its subsystem (pktgen's `pktgen_thread_worker`, started by
//! `pg_net_init` through `kthread_run()`) gives a patch whose transition
//! never finishes (update sweep 6.1.190 → 6.1.192, net/core/pktgen.c).
//!
//! [`thread_starts`] finds the sites that pass the address of a function of
//! the object as the first argument (`%rdi`) of a thread-starting entry
//! point ([`THREAD_STARTERS`]): the call (or tail call), and on a path
//! back from it through the function's own code the instruction that
//! loads the address into `%rdi` (`mov $F,%edi` R_X86_64_32, `mov $F,%rdi`
//! R_X86_64_32S, `lea F(%rip),%rdi` R_X86_64_PC32, `movabs $F,%rdi`
//! R_X86_64_64; by name or through the section symbol, resolved with
//! [`Elf::resolve_ref`]), following 64-bit register copies. A path ends at
//! another write of the tracked register, a call that clobbers it, the
//! function's start or anything but straight-line code and jumps inside
//! the function. A thread function handed over in a variable, a structure
//! or a wrapper's own parameter is not seen.

use std::collections::{BTreeSet, HashMap, HashSet};

use iced_x86::{Code, FlowControl, Instruction, InstructionInfoFactory, OpKind, Register};

use crate::arch::x86_64 as x86;
use crate::elf::{Elf, RefKind};

/// Entry points that take the function a new thread runs until it exits
/// (name, where the kernel declares it, the argument registers that may
/// hold it). Matched on the name without a `.constprop.N`/`.isra.N` suffix.
pub const THREAD_STARTERS: &[(&str, &str, &[Register])] = &[
    // kthread_create() and kthread_run() expand to it.
    ("kthread_create_on_node", "include/linux/kthread.h", FIRST),
    // kthread_run_on_cpu() (5.17+) calls it.
    ("kthread_create_on_cpu", "include/linux/kthread.h", FIRST),
    // A static inline of include/linux/kthread.h (5.17+): an out-of-line
    // copy GCC chose not to inline takes threadfn first, like the rest.
    ("kthread_run_on_cpu", "include/linux/kthread.h", FIRST),
    // kernel/kthread.c's own va_list form (static: only kthread.c calls it).
    ("__kthread_create_on_node", "kernel/kthread.c", FIRST),
    // kthreadd starts every kthread this way (fn = kthread()).
    ("kernel_thread", "kernel/fork.c", FIRST),
    // io_uring's io-wq workers and SQPOLL thread (5.12+): they never leave
    // the kernel either.
    ("create_io_thread", "kernel/fork.c", FIRST),
    // SUNRPC services (nfsd's nfsd(), the NFS callback and lockd threads):
    // net/sunrpc/svc.c keeps threadfn in serv->sv_threadfn and starts each
    // pool thread with kthread_create_on_node(serv->sv_threadfn, ...)
    // (hostile review: nfsd/nfssvc.c hands nfsd() to svc_create_pooled()).
    // Its position moved between kernels (include/linux/sunrpc/svc.h: the
    // third argument in 6.1, later after a stats pointer and a program
    // count), and no other argument is a function, so any argument
    // register holding a function's address is the thread's.
    ("svc_create_pooled", "include/linux/sunrpc/svc.h", ARGS),
    ("svc_create", "include/linux/sunrpc/svc.h", ARGS),
];
/// The first argument register (SysV x86-64).
const FIRST: &[Register] = &[Register::RDI];
/// Every integer argument register.
const ARGS: &[Register] = &x86::ARG_REGS;
// Not listed: kthread_create_worker*() (the thread runs
// kthread_worker_fn(), each work item is a call that returns),
// smpboot_register_percpu_thread() (smpboot_thread_fn() calls thread_fn per
// iteration) and user_mode_thread() (the thread execs a user program).

/// One site that starts a thread running a function of the object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ThreadStart {
    /// The function that contains the call.
    pub caller: usize,
    /// Its section.
    pub section: usize,
    /// Offset of the call (or tail-call jump) in the section.
    pub call: u64,
    /// Offset of the instruction that loads the thread function's address.
    pub load: u64,
    /// The entry point called (`kthread_create_on_node`).
    pub callee: Vec<u8>,
    /// The thread function: a function symbol of the object.
    pub threadfn: usize,
    /// A tail call (`jmp`) rather than a call.
    pub tail: bool,
    /// The argument register that carries it (`rdi`, ...).
    pub reg: String,
}

impl ThreadStart {
    /// `pg_net_init+0x183`.
    pub fn call_site(&self, elf: &Elf) -> String {
        elf.locate(self.section, self.call)
    }

    /// `pg_net_init+0x178`.
    pub fn load_site(&self, elf: &Elf) -> String {
        elf.locate(self.section, self.load)
    }
}

/// Whether `name` (possibly with a `.constprop.N`-like suffix) is one of
/// [`THREAD_STARTERS`].
pub fn is_thread_starter(name: &[u8]) -> bool {
    starter_args(name).is_some()
}

/// The argument registers of starter `name` that may hold the thread
/// function, if `name` is one of [`THREAD_STARTERS`].
pub fn starter_args(name: &[u8]) -> Option<&'static [Register]> {
    let base = name.split(|&b| b == b'.').next().unwrap_or(name);
    THREAD_STARTERS
        .iter()
        .find(|(n, _, _)| n.as_bytes() == base)
        .map(|t| t.2)
}

/// The symbol a relocation of a code field names, with the offset into it:
/// the named symbol itself, or, through a section symbol, the object
/// [`Elf::resolve_ref`] finds (`adj`: the PC-relative adjustment).
fn reloc_target(elf: &Elf, r: &crate::elf::Reloc, adj: i64) -> Option<(usize, i64)> {
    let s = &elf.symbols[r.symbol];
    if s.is_section() {
        let sec = s.section?;
        let off = crate::elf::uoffset_of(s.value, r.addend, adj)?;
        let rt = elf.resolve_ref(sec, off)?;
        if rt.kind == RefKind::End {
            return None;
        }
        return Some((rt.sym, rt.offset as i64));
    }
    Some((r.symbol, r.addend.checked_add(adj)?))
}

/// Every site of `elf` that starts a thread running one of its own
/// functions (see the module comment), sorted.
pub fn thread_starts(elf: &Elf) -> Vec<ThreadStart> {
    // Calls and jumps to a starter, per function: (section, offset).
    let mut by_func: HashMap<usize, Vec<(u64, Vec<u8>)>> = HashMap::new();
    for r in &elf.relocs {
        if elf.sections[r.rsec].is_klp_rela()
            || !elf.sections[r.section].is_exec()
            || !matches!(r.r_type, x86::R_X86_64_PLT32 | x86::R_X86_64_PC32)
        {
            continue;
        }
        // A call's field is the instruction's last 4 bytes: the target is
        // the addend + 4 (checked against the decoded call below).
        let Some((t, off)) = reloc_target(elf, r, 4) else {
            continue;
        };
        let name = &elf.symbols[t].name;
        if off != 0 || !is_thread_starter(name) {
            continue;
        }
        let Some(f) = elf.symbol_containing(r.section, r.offset) else {
            continue;
        };
        if !elf.symbols[f].is_func() {
            continue;
        }
        by_func.entry(f).or_default().push((r.offset, name.clone()));
    }
    let mut out: BTreeSet<ThreadStart> = BTreeSet::new();
    let mut funcs: Vec<usize> = by_func.keys().copied().collect();
    funcs.sort_unstable();
    for f in funcs {
        let fs = &elf.symbols[f];
        let sec = fs.section.expect("containing symbols are defined");
        let data = elf.data(sec);
        let (Some(start), Some(end)) = (
            usize::try_from(fs.value).ok(),
            usize::try_from(fs.value.saturating_add(fs.size)).ok(),
        ) else {
            continue;
        };
        let Some(code) = data.get(start..end.min(data.len())) else {
            continue;
        };
        let func = Func::decode(elf, sec, code, fs.value);
        for (call_off, callee) in &by_func[&f] {
            let Some(k) = func.index_containing(*call_off) else {
                continue;
            };
            let insn = &func.insns[k];
            let tail = match insn.flow_control() {
                FlowControl::Call => false,
                FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch => true,
                _ => continue,
            };
            if insn.next_ip() != call_off + 4 {
                continue; // not the branch displacement
            }
            let regs = starter_args(callee).unwrap_or(FIRST);
            for &reg in regs {
                for (load, threadfn) in func.loads_reaching(k, reg) {
                    out.insert(ThreadStart {
                        caller: f,
                        section: sec,
                        call: insn.ip(),
                        load,
                        callee: callee.clone(),
                        threadfn,
                        tail,
                        reg: format!("{reg:?}").to_lowercase(),
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Registers a call leaves intact (x86-64 SysV, which the kernel uses).
const CALLEE_SAVED: [Register; 6] = [
    Register::RBX,
    Register::RBP,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];

/// One function's decoded instructions (IPs are section offsets) and the
/// relocations that apply to it.
struct Func<'a> {
    elf: &'a Elf,
    insns: Vec<Instruction>,
    /// Relocations inside the function, by offset.
    relocs: Vec<&'a crate::elf::Reloc>,
    /// Jumps inside the function, by target IP: the jumping instructions.
    joins: HashMap<u64, Vec<usize>>,
}

impl<'a> Func<'a> {
    fn decode(elf: &'a Elf, sec: usize, code: &[u8], base: u64) -> Func<'a> {
        let insns = x86::decode_all(code, base);
        let end = base + code.len() as u64;
        let mut relocs: Vec<&crate::elf::Reloc> = elf
            .relocs_for(sec)
            .filter(|r| r.offset >= base && r.offset < end && !elf.sections[r.rsec].is_klp_rela())
            .collect();
        relocs.sort_by_key(|r| r.offset);
        let mut f = Func {
            elf,
            insns,
            relocs,
            joins: HashMap::new(),
        };
        for (k, i) in f.insns.iter().enumerate() {
            let near = matches!(
                i.op0_kind(),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            );
            if near
                && matches!(
                    i.flow_control(),
                    FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
                )
                && f.reloc_in(i).is_none()
                && (base..end).contains(&i.near_branch_target())
            {
                f.joins.entry(i.near_branch_target()).or_default().push(k);
            }
        }
        f
    }

    fn index_containing(&self, off: u64) -> Option<usize> {
        let i = self.insns.partition_point(|x| x.ip() <= off);
        (i > 0 && off < self.insns[i - 1].next_ip()).then(|| i - 1)
    }

    /// The (first) relocation inside instruction `i`.
    fn reloc_in(&self, i: &Instruction) -> Option<&'a crate::elf::Reloc> {
        let k = self.relocs.partition_point(|r| r.offset < i.ip());
        self.relocs
            .get(k)
            .copied()
            .filter(|r| r.offset < i.next_ip())
    }

    /// Instructions that may run right before instruction `k`.
    fn preds(&self, k: usize) -> Vec<usize> {
        let mut p = self
            .joins
            .get(&self.insns[k].ip())
            .cloned()
            .unwrap_or_default();
        if k > 0
            && matches!(
                self.insns[k - 1].flow_control(),
                FlowControl::Next
                    | FlowControl::ConditionalBranch
                    | FlowControl::Call
                    | FlowControl::IndirectCall
            )
        {
            p.push(k - 1);
        }
        p
    }

    /// The function whose address instruction `i` loads into its
    /// destination register, if it is such a load.
    fn function_address(&self, i: &Instruction) -> Option<usize> {
        let r = self.reloc_in(i)?;
        let adj = match (i.code(), r.r_type) {
            (Code::Mov_r32_imm32, x86::R_X86_64_32)
            | (Code::Mov_rm64_imm32, x86::R_X86_64_32S)
            | (Code::Mov_r64_imm64, x86::R_X86_64_64) => 0,
            (Code::Lea_r64_m, x86::R_X86_64_PC32)
                if i.memory_base() == Register::RIP && i.memory_index() == Register::None =>
            {
                i.next_ip() as i64 - r.offset as i64
            }
            _ => return None,
        };
        if i.op0_kind() != OpKind::Register {
            return None;
        }
        let (t, off) = reloc_target(self.elf, r, adj)?;
        let ts = &self.elf.symbols[t];
        (off == 0 && ts.is_func() && ts.section.is_some()).then_some(t)
    }

    /// The loads of a function's address that reach instruction `k` in
    /// register `reg` along some path (see the module comment): (offset of
    /// the load, function).
    fn loads_reaching(&self, k: usize, reg: Register) -> Vec<(u64, usize)> {
        let mut factory = InstructionInfoFactory::new();
        let mut found = Vec::new();
        let mut seen: HashSet<(usize, Register)> = HashSet::new();
        let mut todo = vec![(k, reg)];
        let mut budget = 4096;
        while let Some((i, reg)) = todo.pop() {
            for p in self.preds(i) {
                if !seen.insert((p, reg)) {
                    continue;
                }
                budget -= 1;
                if budget == 0 {
                    return found;
                }
                let insn = &self.insns[p];
                match insn.flow_control() {
                    FlowControl::Call | FlowControl::IndirectCall => {
                        if CALLEE_SAVED.contains(&reg) {
                            todo.push((p, reg));
                        }
                        continue;
                    }
                    FlowControl::Next
                    | FlowControl::ConditionalBranch
                    | FlowControl::UnconditionalBranch => {}
                    _ => continue,
                }
                let writes = x86::writes_register(&mut factory, insn, reg);
                if !writes {
                    todo.push((p, reg));
                    continue;
                }
                if insn.op0_kind() != OpKind::Register || insn.op0_register().full_register() != reg
                {
                    continue;
                }
                if let Some(f) = self.function_address(insn) {
                    found.push((insn.ip(), f));
                    continue;
                }
                // A 64-bit register copy: follow the source.
                if matches!(insn.code(), Code::Mov_r64_rm64 | Code::Mov_rm64_r64)
                    && insn.op1_kind() == OpKind::Register
                {
                    todo.push((p, insn.op1_register().full_register()));
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_names() {
        assert!(is_thread_starter(b"kthread_create_on_node"));
        assert!(is_thread_starter(b"kthread_run_on_cpu.constprop.0"));
        assert!(!is_thread_starter(b"kthread_create_worker"));
        assert!(!is_thread_starter(b"kthread_create_on_node_x"));
    }
}
