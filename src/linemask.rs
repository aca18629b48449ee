//! Which immediates of a function are `__LINE__` arguments (B10).
//!
//! A line number is masked only where it is passed in the argument a
//! known callee declares as the line. The table below lists each such
//! callee with the kernel prototype that defines the argument. An
//! immediate (`mov $imm, %reg`, `push $imm`, `movl $imm, off(%rsp)`) is
//! followed through the function's control flow (both edges of a
//! conditional branch, jumps inside the function, register copies and
//! pushes) until it is consumed; it is masked only when *every* use is
//! the line argument of a table callee (or a variadic argument of that
//! call equal to its line argument, e.g. `WARN(1, "at %d", __LINE__)` on
//! kernels whose WARN passes `__FILE__, __LINE__` to `warn_slowpath_fmt`).
//! A direct (conditional) tail jump to a table callee counts as its call.
//! Any other read, a call to another function, an indirect call or jump, a
//! jump out of the function part, or a stack manipulation the walk does
//! not model keeps the immediate; so does a relocated immediate (an
//! address). A `push $imm8` line that becomes `push $imm32` (line 127 →
//! 128) changes the code layout and is reported as a change.
//!
//! Arguments follow the x86-64 SysV ABI the kernel uses: %rdi, %rsi,
//! %rdx, %rcx, %r8, %r9, then the stack (`(%rsp)` at the call is the
//! seventh).

use iced_x86::{
    Code, FlowControl, Instruction, InstructionInfoFactory, OpAccess, OpKind, Register,
};

/// A callee one of whose arguments is `__LINE__`.
#[derive(Debug, Clone, Copy)]
pub struct LineCallee {
    /// Its symbol name (exact: a `.constprop` clone has other arguments).
    pub name: &'static str,
    /// The 0-based index of the line argument (several where kernel
    /// versions differ and the other versions' slot can never hold a plain
    /// immediate: a pointer, or no argument at all); empty if none.
    pub line_args: &'static [u8],
    /// The 0-based index of the first variadic argument, if variadic.
    pub varargs_from: Option<u8>,
    /// The kernel declaration that says so.
    pub cite: &'static str,
}

const fn lc(
    name: &'static str,
    line_args: &'static [u8],
    varargs_from: Option<u8>,
    cite: &'static str,
) -> LineCallee {
    LineCallee {
        name,
        line_args,
        varargs_from,
        cite,
    }
}

/// The callees and their line arguments. `printk` is deliberately absent
/// (kpatch has it): a constant argument of a plain `printk` is as likely a
/// real change as a line number. Callees whose line position moved between
/// kernel versions so that an older kernel would put a real value in the
/// slot (`__ext4_journal_start_sb`, `__ext4_new_inode`) are absent too:
/// masking too little reports a change, masking too much hides one.
pub const LINE_CALLEES: &[LineCallee] = &[
    lc(
        "__might_sleep",
        &[1],
        None,
        "include/linux/kernel.h: __might_sleep(const char *file, int line[, int preempt_offset])",
    ),
    lc(
        "___might_sleep",
        &[1],
        None,
        "include/linux/kernel.h (<= v5.15): ___might_sleep(const char *file, int line, int preempt_offset)",
    ),
    lc(
        "__might_resched",
        &[1],
        None,
        "include/linux/kernel.h: __might_resched(const char *file, int line, unsigned int offsets)",
    ),
    lc(
        "__might_fault",
        &[1],
        None,
        "include/linux/kernel.h, mm/memory.c: __might_fault(const char *file, int line)",
    ),
    lc(
        "__cant_sleep",
        &[1],
        None,
        "include/linux/kernel.h: __cant_sleep(const char *file, int line, int preempt_offset)",
    ),
    lc(
        "__cant_migrate",
        &[1],
        None,
        "include/linux/kernel.h: __cant_migrate(const char *file, int line)",
    ),
    lc(
        "warn_slowpath_fmt",
        &[1],
        Some(3),
        "include/asm-generic/bug.h: warn_slowpath_fmt(const char *file, const int line, unsigned taint, const char *fmt, ...) (before v5.6: (file, line, fmt, ...))",
    ),
    lc(
        "warn_slowpath_fmt_taint",
        &[1],
        Some(4),
        "include/asm-generic/bug.h (<= v5.5): warn_slowpath_fmt_taint(const char *file, const int line, unsigned taint, const char *fmt, ...)",
    ),
    lc(
        "warn_slowpath_null",
        &[1],
        None,
        "include/asm-generic/bug.h (<= v5.5): warn_slowpath_null(const char *file, const int line)",
    ),
    lc(
        "__warn_printk",
        &[],
        Some(1),
        "include/asm-generic/bug.h: __warn_printk(const char *fmt, ...); the line is in the __bug_table entry, which checksums leave out",
    ),
    lc(
        "lockdep_rcu_suspicious",
        &[1],
        None,
        "include/linux/lockdep.h: lockdep_rcu_suspicious(const char *file, const int line, const char *s)",
    ),
    lc(
        "__btrfs_abort_transaction",
        &[2],
        None,
        "fs/btrfs/messages.h (ctree.h before v6.2): __btrfs_abort_transaction(struct btrfs_trans_handle *trans, const char *function, unsigned int line, int error, bool first_hit)",
    ),
    lc(
        "__btrfs_handle_fs_error",
        &[2],
        Some(5),
        "fs/btrfs/messages.h: __btrfs_handle_fs_error(struct btrfs_fs_info *fs_info, const char *function, unsigned int line, int error, const char *fmt, ...)",
    ),
    lc(
        "__btrfs_panic",
        &[2],
        Some(5),
        "fs/btrfs/messages.h: __btrfs_panic(struct btrfs_fs_info *fs_info, const char *function, unsigned int line, int error, const char *fmt, ...)",
    ),
    lc(
        "__ext4_error",
        &[2],
        Some(7),
        "fs/ext4/ext4.h: __ext4_error(struct super_block *, const char *, unsigned int, bool, int, __u64, const char *, ...)",
    ),
    lc(
        "__ext4_error_inode",
        &[2],
        Some(6),
        "fs/ext4/ext4.h: __ext4_error_inode(struct inode *, const char *, unsigned int, ext4_fsblk_t, int, const char *, ...)",
    ),
    lc(
        "__ext4_error_file",
        &[2],
        Some(5),
        "fs/ext4/ext4.h: __ext4_error_file(struct file *, const char *, unsigned int, ext4_fsblk_t, const char *, ...)",
    ),
    lc(
        "__ext4_std_error",
        &[2],
        None,
        "fs/ext4/ext4.h: __ext4_std_error(struct super_block *, const char *, unsigned int, int); the int (errno) is real",
    ),
    lc(
        "__ext4_abort",
        &[2],
        Some(4),
        "fs/ext4/ext4.h (<= v5.9): __ext4_abort(struct super_block *, const char *, unsigned int, [int,] const char *, ...)",
    ),
    lc(
        "__ext4_warning",
        &[2],
        Some(4),
        "fs/ext4/ext4.h: __ext4_warning(struct super_block *, const char *, unsigned int, const char *, ...)",
    ),
    lc(
        "__ext4_warning_inode",
        &[2],
        Some(4),
        "fs/ext4/ext4.h: __ext4_warning_inode(const struct inode *inode, const char *function, unsigned int line, const char *fmt, ...)",
    ),
    lc(
        "__ext4_grp_locked_error",
        &[1],
        Some(7),
        "fs/ext4/ext4.h: __ext4_grp_locked_error(const char *, unsigned int, struct super_block *, ext4_group_t, unsigned long, ext4_fsblk_t, const char *, ...)",
    ),
    lc(
        "__ext4_journal_stop",
        &[1],
        None,
        "fs/ext4/ext4_jbd2.h: __ext4_journal_stop(const char *where, unsigned int line, handle_t *handle)",
    ),
    lc(
        "__ext4_journal_get_write_access",
        &[1],
        None,
        "fs/ext4/ext4_jbd2.h: __ext4_journal_get_write_access(const char *where, unsigned int line, handle_t *handle, ...)",
    ),
    lc(
        "__ext4_handle_dirty_metadata",
        &[1],
        None,
        "fs/ext4/ext4_jbd2.h: __ext4_handle_dirty_metadata(const char *where, unsigned int line, handle_t *handle, struct inode *inode, struct buffer_head *bh)",
    ),
    lc(
        "__ext4_forget",
        &[1],
        None,
        "fs/ext4/ext4_jbd2.h: __ext4_forget(const char *where, unsigned int line, handle_t *handle, int is_metadata, struct inode *inode, struct buffer_head *bh, ext4_fsblk_t blocknr)",
    ),
    lc(
        "assfail",
        &[3, 2],
        None,
        "fs/xfs/xfs_message.h: assfail(struct xfs_mount *mp, char *expr, char *f, int l); before mp was added: assfail(char *expr, char *f, int l), where slot 3 is no argument and slot 2 (now f) a pointer",
    ),
    lc(
        "asswarn",
        &[3, 2],
        None,
        "fs/xfs/xfs_message.h: asswarn(struct xfs_mount *mp, char *expr, char *f, int l); older asswarn(char *expr, char *f, int l) as assfail",
    ),
    lc(
        "xfs_error_report",
        &[4],
        None,
        "fs/xfs/xfs_error.h: xfs_error_report(const char *tag, int level, struct xfs_mount *mp, const char *filename, int linenum, xfs_failaddr_t failaddr)",
    ),
    lc(
        "xfs_corruption_error",
        &[6, 5],
        None,
        "fs/xfs/xfs_error.h: xfs_corruption_error(const char *tag, int level, struct xfs_mount *mp, const void *buf, size_t bufsize, const char *filename, int linenum, xfs_failaddr_t failaddr); older (tag, level, mp, void *p, const char *filename, int linenum, inst_t *ra), where slot 6 is a return address and slot 5 (now filename) a pointer",
    ),
];

/// The table entry for `name`.
pub fn callee(name: &[u8]) -> Option<&'static LineCallee> {
    LINE_CALLEES.iter().find(|c| c.name.as_bytes() == name)
}

/// One masked immediate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The callee that receives it (the first, if several).
    pub callee: &'static str,
    /// The 0-based argument index there.
    pub arg: u8,
    /// A variadic argument equal to the call's line argument.
    pub variadic: bool,
}

/// Where a tracked value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Loc {
    /// In a 64-bit register (its full register).
    Reg(Register),
    /// On the stack, at this offset from the current %rsp.
    Stack(i64),
}

const ARG_REGS: [Register; 6] = [
    Register::RDI,
    Register::RSI,
    Register::RDX,
    Register::RCX,
    Register::R8,
    Register::R9,
];

fn arg_index(loc: Loc, tail: bool) -> Option<u8> {
    match loc {
        Loc::Reg(r) => ARG_REGS.iter().position(|&a| a == r).map(|i| i as u8),
        Loc::Stack(o) => {
            // At a call, (%rsp) is the 7th argument; at a tail jump the
            // return address is there and the 7th is at 8(%rsp).
            let o = if tail { o - 8 } else { o };
            (o >= 0 && o % 8 == 0 && o / 8 < 32).then(|| 6 + (o / 8) as u8)
        }
    }
}

/// Where argument `arg` (0-based) is passed: `%rdi`, ..., `%r9`, then
/// `stack+0`, `stack+8`, ... (relative to %rsp at the call).
pub fn arg_place(arg: u8) -> String {
    const NAMES: [&str; 6] = ["%rdi", "%rsi", "%rdx", "%rcx", "%r8", "%r9"];
    match NAMES.get(arg as usize) {
        Some(n) => n.to_string(),
        None => format!("stack+{}", (arg as usize - 6) * 8),
    }
}

/// A use of a tracked immediate.
#[derive(Debug, Clone, Copy)]
enum Use {
    /// The line argument of a call (instruction index).
    Line(usize, &'static LineCallee, u8),
    /// A variadic argument of a call.
    Var(usize, &'static LineCallee, u8),
}

/// Decoded instruction with its immediate's place (offset, size).
pub type Decoded = (Instruction, usize, usize);

/// The immediate that instruction `insn` stores into a tracked place,
/// with that place after the instruction.
fn origin(insn: &Instruction, imm_size: usize) -> Option<Loc> {
    if imm_size == 0 {
        return None;
    }
    match insn.code() {
        Code::Mov_r32_imm32 | Code::Mov_rm32_imm32 | Code::Mov_rm64_imm32 | Code::Mov_r64_imm64 => {
            match insn.op0_kind() {
                OpKind::Register => {
                    let r = insn.op0_register().full_register();
                    ARG_REGS.contains(&r).then_some(Loc::Reg(r))
                }
                OpKind::Memory
                    if insn.memory_base() == Register::RSP
                        && insn.memory_index() == Register::None =>
                {
                    Some(Loc::Stack(insn.memory_displacement64() as i64))
                }
                _ => None,
            }
        }
        Code::Pushq_imm32 | Code::Pushq_imm8 => Some(Loc::Stack(0)),
        _ => None,
    }
}

fn imm_value(bytes: &[u8], off: usize, size: usize) -> i64 {
    let b = &bytes[off.min(bytes.len())..(off + size).min(bytes.len())];
    match b.len() {
        1 => b[0] as i8 as i64,
        2 => i16::from_le_bytes([b[0], b[1]]) as i64,
        4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        8 => i64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        _ => 0,
    }
}

/// For each instruction of `insns` (one function part, in address order,
/// `code` its bytes from `base`): the line argument it loads, if masked.
/// `callee_of(i)` names the callee of call/jump instruction `i` when it is
/// a direct call or jump outside the part.
pub fn sites(
    insns: &[Decoded],
    code: &[u8],
    base: u64,
    callee_of: &dyn Fn(usize) -> Option<Vec<u8>>,
    bug_line: &dyn Fn(usize) -> Option<i64>,
    relocated: &dyn Fn(usize) -> bool,
) -> Vec<Option<Site>> {
    let mut out: Vec<Option<Site>> = vec![None; insns.len()];
    // A relocated immediate (`mov $__func__, %rsi`) is an address, never a
    // line.
    let origins: Vec<(usize, Loc)> = insns
        .iter()
        .enumerate()
        .filter(|&(k, _)| !relocated(k))
        .filter_map(|(k, (i, _, is))| origin(i, *is).map(|l| (k, l)))
        .collect();
    if origins.is_empty() {
        return out;
    }
    // Only worth walking if a table callee is called at all.
    let calls: Vec<Option<&'static LineCallee>> = (0..insns.len())
        .map(|k| {
            let fc = insns[k].0.flow_control();
            if matches!(
                fc,
                FlowControl::Call
                    | FlowControl::UnconditionalBranch
                    | FlowControl::ConditionalBranch
            ) {
                callee_of(k).and_then(|n| callee(&n))
            } else {
                None
            }
        })
        .collect();
    if calls.iter().all(Option::is_none) {
        return out;
    }
    let mut factory = InstructionInfoFactory::new();
    let mut results: Vec<(usize, i64, Vec<Use>)> = Vec::new();
    for &(k, loc) in &origins {
        let (insn, io, is) = &insns[k];
        let at = (insn.ip() - base) as usize;
        let bytes = &code[at.min(code.len())..(at + insn.len()).min(code.len())];
        let value = imm_value(bytes, *io, *is);
        if let Some(uses) = walk(insns, &calls, k, loc, &mut factory) {
            results.push((k, value, uses));
        }
    }
    // Line values per call (all origins reaching its line argument).
    let mut line_vals: std::collections::HashMap<usize, Vec<i64>> = Default::default();
    for (_, v, uses) in &results {
        for u in uses {
            match u {
                Use::Line(c, _, _) => line_vals.entry(*c).or_default().push(*v),
                // No line argument (`__warn_printk`): the WARN's own line
                // is in the bug entry of the `ud2` that follows the call
                // (`__WARN_printf` in include/asm-generic/bug.h, then
                // `__WARN_FLAGS` of arch/x86/include/asm/bug.h).
                Use::Var(c, lc, _) if lc.line_args.is_empty() => {
                    if let Some(l) = bug_line(*c) {
                        let e = line_vals.entry(*c).or_default();
                        if !e.contains(&l) {
                            e.push(l);
                        }
                    }
                }
                Use::Var(..) => {}
            }
        }
    }
    for (k, v, uses) in &results {
        let ok = uses.iter().all(|u| match u {
            Use::Line(..) => true,
            Use::Var(c, _, _) => line_vals
                .get(c)
                .is_some_and(|vals| !vals.is_empty() && vals.iter().all(|x| x == v)),
        });
        if !ok {
            continue;
        }
        out[*k] = uses.first().map(|u| match *u {
            Use::Line(_, c, a) => Site {
                callee: c.name,
                arg: a,
                variadic: false,
            },
            Use::Var(_, c, a) => Site {
                callee: c.name,
                arg: a,
                variadic: true,
            },
        });
    }
    out
}

/// Follow the value stored by instruction `k` into `loc`. None when some
/// use is not a line argument of a table callee (or cannot be modelled);
/// otherwise its uses (at least one).
fn walk(
    insns: &[Decoded],
    calls: &[Option<&'static LineCallee>],
    k: usize,
    loc: Loc,
    factory: &mut InstructionInfoFactory,
) -> Option<Vec<Use>> {
    let index_of = |ip: u64| -> Option<usize> {
        let i = insns.partition_point(|(x, _, _)| x.ip() < ip);
        (i < insns.len() && insns[i].0.ip() == ip).then_some(i)
    };
    let mut uses = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![(k + 1, loc)];
    let mut budget = 512;
    while let Some((i, loc)) = todo.pop() {
        if !seen.insert((i, loc)) {
            continue;
        }
        budget -= 1;
        if budget == 0 {
            return None;
        }
        let (insn, _, _) = insns.get(i)?;
        let fc = insn.flow_control();
        let target_in = || {
            matches!(
                insn.op0_kind(),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            )
            .then(|| index_of(insn.near_branch_target()))
            .flatten()
        };
        match fc {
            FlowControl::Call | FlowControl::IndirectCall => {
                let c = if fc == FlowControl::Call {
                    calls[i]
                } else {
                    None
                };
                let c = c?;
                let a = arg_index(loc, false)?;
                if c.line_args.contains(&a) {
                    uses.push(Use::Line(i, c, a));
                } else if c.varargs_from.is_some_and(|v| a >= v) {
                    uses.push(Use::Var(i, c, a));
                } else {
                    return None;
                }
                continue;
            }
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch => {
                if fc == FlowControl::ConditionalBranch {
                    todo.push((i + 1, loc));
                }
                if let Some(t) = target_in() {
                    todo.push((t, loc));
                    continue;
                }
                // A (conditional) tail call.
                let c = calls[i]?;
                let a = arg_index(loc, true)?;
                if c.line_args.contains(&a) {
                    uses.push(Use::Line(i, c, a));
                } else if c.varargs_from.is_some_and(|v| a >= v) {
                    uses.push(Use::Var(i, c, a));
                } else {
                    return None;
                }
                continue;
            }
            FlowControl::Return => {
                if matches!(loc, Loc::Stack(_)) {
                    return None;
                }
                continue;
            }
            FlowControl::Exception | FlowControl::Interrupt => continue,
            FlowControl::IndirectBranch | FlowControl::XbeginXabortXend => return None,
            FlowControl::Next => {}
        }
        match step(insn, loc, factory) {
            Step::Keep => todo.push((i + 1, loc)),
            Step::Move(l) => todo.push((i + 1, l)),
            Step::Fork(a, b) => {
                todo.push((i + 1, a));
                todo.push((i + 1, b));
            }
            Step::Dead => {}
            Step::Bad => return None,
        }
    }
    (!uses.is_empty()).then_some(uses)
}

enum Step {
    Keep,
    Move(Loc),
    Fork(Loc, Loc),
    Dead,
    Bad,
}

/// What a non-branch instruction does to a tracked value.
fn step(insn: &Instruction, loc: Loc, factory: &mut InstructionInfoFactory) -> Step {
    match loc {
        Loc::Reg(r) => {
            // Copies: `mov %esi,%edx`, `push %rsi`.
            let reg_mov = matches!(
                insn.code(),
                Code::Mov_r32_rm32 | Code::Mov_rm32_r32 | Code::Mov_r64_rm64 | Code::Mov_rm64_r64
            ) && insn.op0_kind() == OpKind::Register
                && insn.op1_kind() == OpKind::Register;
            if reg_mov && insn.op1_register().full_register() == r {
                let d = insn.op0_register().full_register();
                if d == r {
                    return Step::Keep;
                }
                return Step::Fork(loc, Loc::Reg(d));
            }
            if insn.code() == Code::Push_r64 && insn.op0_register() == r {
                return Step::Fork(loc, Loc::Stack(0));
            }
            let info = factory.info(insn);
            let mut killed = false;
            for u in info.used_registers() {
                if u.register().full_register() != r {
                    continue;
                }
                match u.access() {
                    OpAccess::Write if u.register() == r || u.register().size() == 4 => {
                        killed = true
                    }
                    OpAccess::None | OpAccess::NoMemAccess => {}
                    _ => return Step::Bad,
                }
            }
            if killed { Step::Dead } else { Step::Keep }
        }
        Loc::Stack(o) => {
            match insn.code() {
                Code::Push_r64 | Code::Pushq_imm32 | Code::Pushq_imm8 | Code::Push_rm64 => {
                    if insn.op0_kind() == OpKind::Memory && insn.memory_base() == Register::RSP {
                        return Step::Bad;
                    }
                    return Step::Move(Loc::Stack(o + 8));
                }
                Code::Pop_r64 => {
                    return if o == 0 {
                        Step::Bad
                    } else {
                        Step::Move(Loc::Stack(o - 8))
                    };
                }
                Code::Sub_rm64_imm8
                | Code::Sub_rm64_imm32
                | Code::Add_rm64_imm8
                | Code::Add_rm64_imm32
                    if insn.op0_kind() == OpKind::Register
                        && insn.op0_register() == Register::RSP =>
                {
                    let n = insn.immediate(1) as i64;
                    let d = if matches!(insn.code(), Code::Sub_rm64_imm8 | Code::Sub_rm64_imm32) {
                        n
                    } else {
                        -n
                    };
                    let no = o + d;
                    return if no < 0 {
                        Step::Dead
                    } else {
                        Step::Move(Loc::Stack(no))
                    };
                }
                Code::Leaveq => return Step::Dead,
                _ => {}
            }
            let info = factory.info(insn);
            for u in info.used_registers() {
                if u.register() == Register::RSP
                    && !matches!(
                        u.access(),
                        OpAccess::Read | OpAccess::None | OpAccess::NoMemAccess
                    )
                {
                    return Step::Bad;
                }
            }
            for m in info.used_memory() {
                if m.base() != Register::RSP {
                    continue;
                }
                if m.index() != Register::None {
                    return Step::Bad;
                }
                let d = m.displacement() as i64;
                let sz = m.memory_size().size() as i64;
                if d + sz <= o || d >= o + 8 {
                    continue;
                }
                return match m.access() {
                    OpAccess::Write if d == o && sz >= 4 => Step::Dead,
                    OpAccess::NoMemAccess | OpAccess::None => Step::Keep,
                    _ => Step::Bad,
                };
            }
            Step::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    fn run(code: &[u8], callee: &'static str) -> Vec<Option<Site>> {
        let mut d = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
        let mut insns = Vec::new();
        while d.can_decode() {
            let i = d.decode();
            let co = d.get_constant_offsets(&i);
            let (io, is) = if co.has_immediate() {
                (co.immediate_offset(), co.immediate_size())
            } else {
                (0, 0)
            };
            insns.push((i, io, is));
        }
        let calls: Vec<bool> = insns
            .iter()
            .map(|(i, _, _)| i.flow_control() == FlowControl::Call)
            .collect();
        sites(
            &insns,
            code,
            0,
            &|k| calls[k].then(|| callee.as_bytes().to_vec()),
            &|_| None,
            &|_| false,
        )
    }

    #[test]
    fn only_the_declared_line_argument() {
        // mov $0x2a,%esi; mov $-5,%ecx; mov $0x2a,%edx; call __ext4_std_error
        let code = [
            0xbe, 0x2a, 0, 0, 0, 0xb9, 0xfb, 0xff, 0xff, 0xff, 0xba, 0x2a, 0, 0, 0, 0xe8, 0, 0, 0,
            0,
        ];
        let s = run(&code, "__ext4_std_error");
        assert_eq!(s[0], None, "%esi is the function name slot");
        assert_eq!(s[1], None, "%ecx is the errno");
        assert_eq!(
            s[2],
            Some(Site {
                callee: "__ext4_std_error",
                arg: 2,
                variadic: false
            })
        );
        // The same code calling a function that is not in the table.
        assert!(run(&code, "consume").iter().all(Option::is_none));
    }

    #[test]
    fn stack_argument() {
        // push $0x5d; call xfs_corruption_error; pop %rax
        let code = [0x6a, 0x5d, 0xe8, 0, 0, 0, 0, 0x58];
        let s = run(&code, "xfs_corruption_error");
        assert_eq!(s[0].as_ref().map(|x| x.arg), Some(6));
    }

    #[test]
    fn other_reads_keep_the_immediate() {
        // mov $0x2a,%esi; add %esi,%eax; call __might_sleep
        let code = [0xbe, 0x2a, 0, 0, 0, 0x01, 0xf0, 0xe8, 0, 0, 0, 0];
        assert_eq!(run(&code, "__might_sleep")[0], None);
        // mov $0x2a,%esi; call __might_sleep
        let code = [0xbe, 0x2a, 0, 0, 0, 0xe8, 0, 0, 0, 0];
        assert!(run(&code, "__might_sleep")[0].is_some());
    }
}
