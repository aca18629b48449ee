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

use crate::arch::x86_64::{ARG_REGS, has_near_branch_operand};
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
    /// `(line, witness)`: argument `line` is the line only at a call where
    /// register argument `witness` was last set, in the straight-line code
    /// right before the call, by a 64-bit copy or load (`mov %r64/m64,
    /// %r64`, `lea`): a pointer, which shows the prototype version that has
    /// the line there (see `wide_at`).
    pub line_if_wide: &'static [(u8, u8)],
    /// A printk: a variadic argument is the line only where the format
    /// prints it as `%s:%d` right after a `__FILE__` argument (see
    /// `file_line_at`).
    pub file_line: bool,
    /// The argument that points at the call's own `__bug_table` entry
    /// (7.x x86 `__WARN_trap(struct bug_entry *bug, ...)`): a variadic
    /// argument is the line where it equals that entry's line. Without it
    /// (`line_args` empty) the entry is the one of a `ud2` right after the
    /// call (`__warn_printk`).
    pub bug_entry_arg: Option<u8>,
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
        line_if_wide: &[],
        file_line: false,
        bug_entry_arg: None,
        cite,
    }
}

/// A printk whose `<__FILE__>:<__LINE__>` pair is recognised by its
/// format (see [`LineCallee::file_line`]).
const fn lc_printk(name: &'static str, cite: &'static str) -> LineCallee {
    LineCallee {
        name,
        line_args: &[],
        varargs_from: Some(1),
        line_if_wide: &[],
        file_line: true,
        bug_entry_arg: None,
        cite,
    }
}

/// [`lc`] with a line slot that depends on the prototype version, told
/// apart by a pointer in `witness` (see [`LineCallee::line_if_wide`]).
const fn lc_wide(
    name: &'static str,
    line_args: &'static [u8],
    line_if_wide: &'static [(u8, u8)],
    cite: &'static str,
) -> LineCallee {
    LineCallee {
        name,
        line_args,
        varargs_from: None,
        line_if_wide,
        file_line: false,
        bug_entry_arg: None,
        cite,
    }
}

/// A WARN with a message on x86-64 7.x: variadic from `varargs_from`, its
/// own bug entry in argument `bug` (see [`LineCallee::bug_entry_arg`]).
const fn lc_bug_entry(name: &'static str, bug: u8, cite: &'static str) -> LineCallee {
    LineCallee {
        name,
        line_args: &[],
        varargs_from: Some(bug + 1),
        line_if_wide: &[],
        file_line: false,
        bug_entry_arg: Some(bug),
        cite,
    }
}

/// The callees and their line arguments. `printk` is deliberately absent
/// (kpatch has it): a constant argument of a plain `printk` is as likely a
/// real change as a line number. Where the line moved between kernel
/// versions so that another version puts a real value in the slot
/// (`__ext4_journal_start_sb`, `__ext4_new_inode`), that slot is the line
/// only where the call itself shows the version (`line_if_wide`): masking
/// too little reports a change, masking too much hides one.
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
    lc_bug_entry(
        "__SCT__WARN_trap",
        0,
        "arch/x86/include/asm/bug.h (7.x, HAVE_ARCH_BUG_FORMAT_ARGS): __WARN_print_arg calls static_call_mod(WARN_trap)(__WARN_bug_entry(flags, format), args...), i.e. the trampoline of `void __WARN_trap(struct bug_entry *bug, ...)`; `lea (2f)(%rip)` loads the site's own entry, whose line (bug_entry::line) is the WARN's __LINE__, e.g. ASSERT_RTNL's WARN_ONCE(..., \"RTNL: assertion failed at %s (%d)\\n\", __FILE__, __LINE__) (include/linux/rtnetlink.h)",
    ),
    lc_bug_entry(
        "__WARN_trap",
        0,
        "arch/x86/include/asm/bug.h (7.x): void __WARN_trap(struct bug_entry *bug, ...), called directly; as __SCT__WARN_trap",
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
    lc_wide(
        "__ext4_journal_start_sb",
        &[1],
        &[(2, 1)],
        "fs/ext4/ext4_jbd2.h <= v6.1: __ext4_journal_start_sb(struct super_block *sb, unsigned int line, int type, int blocks, int rsv_blocks, int revoke_creds) (4.x: no revoke_creds); v6.2+: __ext4_journal_start_sb(struct inode *inode, struct super_block *sb, unsigned int line, int type, ...). Slot 1 is the line or `sb`, a pointer, never an immediate; slot 2 is the line only when slot 1 holds a pointer (v6.2+), else it is the real `type`",
    ),
    lc(
        "__ext4_journal_start_reserved",
        &[1],
        None,
        "fs/ext4/ext4_jbd2.h: __ext4_journal_start_reserved(handle_t *handle, unsigned int line, int type)",
    ),
    lc(
        "__ext4_journal_get_create_access",
        &[1],
        None,
        "fs/ext4/ext4_jbd2.h: __ext4_journal_get_create_access(const char *where, unsigned int line, handle_t *handle, struct super_block *sb, struct buffer_head *bh, enum ext4_journal_trigger_type trigger_type) (older: (where, line, handle, bh))",
    ),
    lc(
        "__ext4_mark_inode_dirty",
        &[3],
        None,
        "fs/ext4/ext4_jbd2.h (v5.8+): __ext4_mark_inode_dirty(handle_t *handle, struct inode *inode, const char *func, unsigned int line); before, ext4_mark_inode_dirty(handle, inode) had no slot 3",
    ),
    lc(
        "__ext4_iget",
        &[4],
        None,
        "fs/ext4/ext4.h (v5.0+): __ext4_iget(struct super_block *sb, unsigned long ino, ext4_iget_flags flags, const char *function, unsigned int line)",
    ),
    lc_wide(
        "__ext4_new_inode",
        &[],
        &[(9, 2)],
        "fs/ext4/ext4.h v5.12+: __ext4_new_inode(struct user_namespace * (v6.3+: struct mnt_idmap *), handle_t *, struct inode *dir, umode_t, const struct qstr *, __u32 goal, uid_t *owner, __u32 i_flags, int handle_type, unsigned int line_no, int nblocks); before: (handle_t *, struct inode *dir, umode_t mode, qstr, goal, owner, i_flags, handle_type, line_no, nblocks), where slot 9 is the real nblocks and slot 2 the 16-bit mode. Slot 9 is the line only when slot 2 holds a pointer (dir); the older slot 8 (the newer handle_type) is never masked",
    ),
    lc(
        "__ext4_check_dir_entry",
        &[1],
        None,
        "fs/ext4/ext4.h: __ext4_check_dir_entry(const char *, unsigned int, struct inode *, struct file *, struct ext4_dir_entry_2 *, struct buffer_head *, char *, int, unsigned int)",
    ),
    lc(
        "ext4_check_blockref",
        &[1],
        None,
        "fs/ext4/ext4.h: ext4_check_blockref(const char *, unsigned int, struct inode *, __le32 *, unsigned int)",
    ),
    lc(
        "__dump_mmp_msg",
        &[3],
        None,
        "fs/ext4/ext4.h: __dump_mmp_msg(struct super_block *, struct mmp_struct *mmp, const char *, unsigned int, const char *)",
    ),
    lc(
        "__ext4_read_dirblock",
        &[4],
        None,
        "fs/ext4/namei.c (static): __ext4_read_dirblock(struct inode *inode, ext4_lblk_t block, dirblock_type_t type, const char *func, unsigned int line)",
    ),
    lc(
        "__xattr_check_inode",
        &[4],
        None,
        "fs/ext4/xattr.h: __xattr_check_inode(struct inode *inode, struct ext4_xattr_ibody_header *header, void *end, const char *function, unsigned int line)",
    ),
    lc_printk(
        "_printk",
        "include/linux/printk.h (v5.15+): _printk(const char *fmt, ...); only an argument printed as `%s:%d` right after a `.c`/`.h` string constant, e.g. ext4's ASSERT (fs/ext4/ext4.h: printk(KERN_EMERG \"Assertion failure in %s() at %s:%d: '%s'\\n\", __func__, __FILE__, __LINE__, #assert))",
    ),
    lc_printk(
        "printk",
        "include/linux/printk.h (<= v5.14): printk(const char *fmt, ...); as _printk",
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

/// Where a jump goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// Inside the part (or unknown: its displacement decides).
    Inside,
    /// Out of it, to a named symbol (a tail call).
    Out,
    /// To the return thunk: a `ret`.
    Return,
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

/// What [`sites`] asks of the object about one function's instructions
/// (indexes into its `insns`).
pub struct Facts<'a> {
    /// The callee of a call or relocated jump.
    pub callee_of: &'a dyn Fn(usize) -> Option<Vec<u8>>,
    /// The line of the `__bug_table` entry whose address (`bug_addr`) is
    /// the instruction right after instruction k (a WARN's `ud2` after a
    /// `__warn_printk` call, the 7.x `lea` of `__WARN_bug_entry`).
    pub bug_line: &'a dyn Fn(usize) -> Option<i64>,
    /// Whether instruction k's immediate is relocated (an address).
    pub relocated: &'a dyn Fn(usize) -> bool,
    /// The string constant instruction k's relocated immediate names.
    pub string_of: &'a dyn Fn(usize) -> Option<Vec<u8>>,
    /// The unit's own source file (STT_FILE), for `__FILE__`.
    pub own_file: Option<&'a [u8]>,
}

/// For each instruction of `insns` (one function part, in address order,
/// `code` its bytes from `base`): the line argument it loads, if masked.
/// `facts.callee_of(i)` names the callee of call/jump instruction `i` when it is
/// a direct call or jump outside the part.
pub fn sites(insns: &[Decoded], code: &[u8], base: u64, facts: &Facts<'_>) -> Vec<Option<Site>> {
    let Facts {
        callee_of,
        bug_line,
        relocated,
        string_of,
        own_file,
    } = *facts;
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
    // Where each jump goes. A relocated jump leaves the part whatever its
    // unrelocated displacement says (a tail call `jmp __ext4_journal_stop`
    // reads as a jump to the next instruction); `jmp __x86_return_thunk`
    // is the `ret` of a kernel built with CONFIG_RETHUNK
    // (arch/x86/include/asm/linkage.h RET).
    let names: Vec<Option<Vec<u8>>> = (0..insns.len())
        .map(|k| {
            let fc = insns[k].0.flow_control();
            if matches!(
                fc,
                FlowControl::Call
                    | FlowControl::UnconditionalBranch
                    | FlowControl::ConditionalBranch
            ) {
                callee_of(k)
            } else {
                None
            }
        })
        .collect();
    let dests: Vec<Dest> = names
        .iter()
        .map(|n| match n.as_deref() {
            None => Dest::Inside,
            Some(b"__x86_return_thunk") => Dest::Return,
            Some(_) => Dest::Out,
        })
        .collect();
    let calls: Vec<Option<&'static LineCallee>> = names
        .iter()
        .map(|n| n.as_deref().and_then(callee))
        .collect();
    // Only worth walking if a table callee is called at all.
    if calls.iter().all(Option::is_none) {
        return out;
    }
    let mut factory = InstructionInfoFactory::new();
    // Branch targets inside the part, for `wide_at` (a merge point ends
    // the straight-line code it looks at); with an indirect jump (a jump
    // table) the targets are unknown and no call shows a version.
    let indirect = insns
        .iter()
        .any(|(i, _, _)| i.flow_control() == FlowControl::IndirectBranch);
    let mut targets = Joins::new();
    for (k, ((i, _, _), d)) in insns.iter().zip(&dests).enumerate() {
        if matches!(d, Dest::Inside)
            && matches!(
                i.flow_control(),
                FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
            )
            && has_near_branch_operand(i)
        {
            targets.entry(i.near_branch_target()).or_default().push(k);
        }
    }
    let wide = |call: usize, arg: u8| !indirect && wide_at(insns, &targets, call, arg);
    let file_line = |call: usize, arg: u8| {
        !indirect
            && file_line_at(arg, own_file, &|a| {
                let k = last_write(insns, &targets, call, a)?;
                string_of(k)
            })
    };
    let mut results: Vec<(usize, i64, Vec<Use>)> = Vec::new();
    for &(k, loc) in &origins {
        let (insn, io, is) = &insns[k];
        let at = (insn.ip() - base) as usize;
        let bytes = &code[at.min(code.len())..(at + insn.len()).min(code.len())];
        let value = imm_value(bytes, *io, *is);
        if let Some(uses) = walk(
            insns,
            &calls,
            &dests,
            k,
            loc,
            &mut factory,
            &wide,
            &file_line,
        ) {
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
                // `__WARN_FLAGS` of arch/x86/include/asm/bug.h). 7.x
                // `__WARN_trap`: the entry its bug argument points at;
                // `lea (2f)(%rip), %reg` right before label `1:`, the
                // entry's bug_addr (`__WARN_bug_entry`,
                // arch/x86/include/asm/bug.h), so the entry is the one of
                // the instruction after the `lea`.
                Use::Var(c, lc, _) if lc.line_args.is_empty() => {
                    let entry_of = match lc.bug_entry_arg {
                        Some(a) if !indirect => last_write(insns, &targets, *c, a)
                            .filter(|&w| insns[w].0.code() == Code::Lea_r64_m),
                        Some(_) => None,
                        None => insns
                            .get(*c + 1)
                            .is_some_and(|n| n.0.code() == Code::Ud2)
                            .then_some(*c),
                    };
                    if let Some(l) = entry_of.and_then(bug_line) {
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
#[allow(clippy::too_many_arguments)]
fn walk(
    insns: &[Decoded],
    calls: &[Option<&'static LineCallee>],
    dests: &[Dest],
    k: usize,
    loc: Loc,
    factory: &mut InstructionInfoFactory,
    wide: &dyn Fn(usize, u8) -> bool,
    file_line: &dyn Fn(usize, u8) -> bool,
) -> Option<Vec<Use>> {
    let is_line = |c: &LineCallee, call: usize, a: u8| {
        c.line_args.contains(&a)
            || (c.file_line && file_line(call, a))
            || c.line_if_wide.iter().any(|&(l, w)| l == a && wide(call, w))
    };
    // A value reaching argument `a` of table callee `c` at call `call`: a
    // line argument, or a variadic one of a callee that takes no file and
    // line (where any value is fine); anything else is not modelled.
    let use_at = |call: usize, c: &'static LineCallee, a: u8| -> Option<Use> {
        if is_line(c, call, a) {
            Some(Use::Line(call, c, a))
        } else if !c.file_line && c.varargs_from.is_some_and(|v| a >= v) {
            Some(Use::Var(call, c, a))
        } else {
            None
        }
    };
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
                uses.push(use_at(i, c?, arg_index(loc, false)?)?);
                continue;
            }
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch => {
                if fc == FlowControl::ConditionalBranch {
                    todo.push((i + 1, loc));
                }
                if dests[i] == Dest::Return {
                    if matches!(loc, Loc::Stack(_)) {
                        return None;
                    }
                    continue;
                }
                if dests[i] == Dest::Inside
                    && let Some(t) = target_in()
                {
                    todo.push((t, loc));
                    continue;
                }
                // A (conditional) tail call.
                uses.push(use_at(i, calls[i]?, arg_index(loc, true)?)?);
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

/// Branches inside the part, by target address: the indexes of the jumps
/// and conditional jumps that go there.
pub(crate) type Joins = std::collections::HashMap<u64, Vec<usize>>;

/// The instructions whose write of register argument `arg` reaches call
/// `call`, found by walking back along every path into the call (the
/// instruction before, when it falls through, and every jump to it, from
/// `joins`); None when some path reaches the start of the part, a call
/// (which clobbers the argument registers) or anything but straight-line
/// code and jumps before a write. A path ends at its first write.
fn reaching_writes(insns: &[Decoded], joins: &Joins, call: usize, arg: u8) -> Option<Vec<usize>> {
    let &reg = ARG_REGS.get(arg as usize)?;
    let mut factory = InstructionInfoFactory::new();
    let mut seen = vec![false; insns.len()];
    let mut todo = vec![call];
    let mut found = Vec::new();
    while let Some(i) = todo.pop() {
        // predecessors of instruction i
        let mut preds: Vec<usize> = joins.get(&insns[i].0.ip()).cloned().unwrap_or_default();
        if i == 0 {
            return None; // the start of the part: the caller's value
        }
        match insns[i - 1].0.flow_control() {
            FlowControl::Next | FlowControl::ConditionalBranch => preds.push(i - 1),
            FlowControl::UnconditionalBranch
            | FlowControl::Return
            | FlowControl::Exception
            | FlowControl::Interrupt => {}
            _ => return None,
        }
        for p in preds {
            if std::mem::replace(&mut seen[p], true) {
                continue;
            }
            let insn = &insns[p].0;
            match insn.flow_control() {
                FlowControl::Next => {}
                FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
                    if has_near_branch_operand(insn) => {}
                _ => return None,
            }
            let writes = crate::arch::x86_64::writes_register(&mut factory, insn, reg);
            if writes {
                found.push(p);
            } else {
                todo.push(p);
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    (!found.is_empty()).then_some(found)
}

/// The one instruction whose write of register argument `arg` reaches call
/// `call` on every path ([`reaching_writes`]); None if there are several
/// or it is not known.
fn last_write(insns: &[Decoded], joins: &Joins, call: usize, arg: u8) -> Option<usize> {
    match reaching_writes(insns, joins, call, arg)?.as_slice() {
        &[w] => Some(w),
        _ => None,
    }
}

/// Whether register argument `arg` holds a 64-bit value at call `call`:
/// the [`last_write`] of the register is a 64-bit register copy, a 64-bit
/// load or a `lea` into its full 64-bit form. A line number is an
/// `unsigned int` constant: GCC materializes it with 32-bit moves (`mov
/// $imm,%esi`, `mov %ebx,%esi`, a 32-bit reload of a spill), never as a
/// 64-bit copy or load, so such a write is a pointer (`sb`, `dir`).
/// Anything else, or not finding the write, is no evidence.
///
/// Every write that reaches the call must be such ([`reaching_writes`]):
/// GCC 12 for 6.12 loads `sb` (`mov 0x28(%rdi),%rsi`) above an `if`
/// whose arms join right before `__ext4_journal_start_sb`'s line argument,
/// one arm coming back from the end of the function (fs/ext4/super.c
/// `ext4_acquire_dquot`, `ext4_release_dquot`); straight-line code alone
/// showed no pointer there.
fn wide_at(insns: &[Decoded], joins: &Joins, call: usize, arg: u8) -> bool {
    let Some(ws) = reaching_writes(insns, joins, call, arg) else {
        return false;
    };
    ws.iter().all(|&j| {
        let insn = &insns[j].0;
        insn.op0_kind() == OpKind::Register
            && insn.op0_register() == ARG_REGS[arg as usize]
            && matches!(
                insn.code(),
                Code::Mov_r64_rm64 | Code::Mov_rm64_r64 | Code::Lea_r64_m
            )
    })
}

/// Whether variadic argument `arg` of a printk is a `__LINE__`: the format
/// (argument 0, a string constant) prints argument `arg - 1` and `arg`
/// as `%s:%d`, the conversions counted from the start (any `*` width or
/// precision gives up), and argument `arg - 1` is a string constant that
/// names a C source or header (`__FILE__`). `string_arg(a)` is the string
/// constant register argument `a` holds at the call.
pub fn file_line_at(
    arg: u8,
    own_file: Option<&[u8]>,
    string_arg: &dyn Fn(u8) -> Option<Vec<u8>>,
) -> bool {
    if !(2..=6).contains(&arg) {
        return false;
    }
    let Some(file) = string_arg(arg - 1) else {
        return false;
    };
    // `__FILE__` of this unit (the object's STT_FILE, or a path ending in
    // it): a macro such as ext4's ASSERT expands `__FILE__` where it is
    // used, so it names the .c file. Any other file name is a real string
    // argument, and the number printed after it a real value (round-2
    // review: `"config %s:%d", "fs/ext4/ext4.h", v`).
    let Some(own) = own_file.filter(|o| !o.is_empty()) else {
        return false;
    };
    let is_own = file == own
        || (file.len() > own.len()
            && file.ends_with(own)
            && file[file.len() - own.len() - 1] == b'/');
    let is_file = (file.ends_with(b".c") || file.ends_with(b".h"))
        && file.len() > 2
        && is_own
        && file
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'%' && b != b':');
    if !is_file {
        return false;
    }
    let Some(fmt) = string_arg(0) else {
        return false;
    };
    // Conversions: (start of '%', one past the conversion character).
    let mut convs: Vec<(usize, usize, u8)> = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            i += 1;
            continue;
        }
        if fmt.get(i + 1) == Some(&b'%') {
            i += 2;
            continue;
        }
        let start = i;
        i += 1;
        while i < fmt.len() && b"-+ #0123456789.hlLzjtq".contains(&fmt[i]) {
            i += 1;
        }
        match fmt.get(i) {
            None | Some(b'*') => return false,
            Some(&c) => {
                i += 1;
                if c == b'p' {
                    // %p extensions (lib/vsprintf.c pointer()): letters.
                    while i < fmt.len() && fmt[i].is_ascii_alphanumeric() {
                        i += 1;
                    }
                }
                convs.push((start, i, c));
            }
        }
    }
    let (f, l) = (arg as usize - 2, arg as usize - 1);
    let (Some(&(_, fend, fc)), Some(&(lstart, lend, lc))) = (convs.get(f), convs.get(l)) else {
        return false;
    };
    fc == b's'
        && fmt.get(fend) == Some(&b':')
        && lstart == fend + 1
        && matches!(lc, b'd' | b'u' | b'i')
        && lend == lstart + 2
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
            &Facts {
                callee_of: &|k| calls[k].then(|| callee.as_bytes().to_vec()),
                bug_line: &|_| None,
                relocated: &|_| false,
                string_of: &|_| None,
                own_file: None,
            },
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

    #[test]
    fn file_line_needs_the_format_and_a_file_name() {
        let strs = |fmt: &'static str, file: &'static str| {
            move |a: u8| match a {
                0 => Some(fmt.as_bytes().to_vec()),
                2 => Some(file.as_bytes().to_vec()),
                _ => Some(b"f".to_vec()),
            }
        };
        // ext4 ASSERT: "%s() at %s:%d" with __func__, __FILE__, __LINE__.
        let ok = strs(
            "\u{1}0Assertion failure in %s() at %s:%d: '%s'\n",
            "fs/ext4/super.c",
        );
        let own = Some(&b"super.c"[..]);
        assert!(file_line_at(3, own, &ok));
        assert!(!file_line_at(2, own, &ok), "the file itself");
        assert!(!file_line_at(4, own, &ok), "the expression string");
        // Not this unit's file (a real string and a real number), or the
        // unit's file unknown: no.
        assert!(!file_line_at(3, Some(b"inode.c"), &ok));
        assert!(!file_line_at(3, None, &ok));
        let hdr = strs("config %s:%d", "fs/ext4/ext4.h");
        assert!(!file_line_at(2, own, &hdr));
        // Not a file name, or not `%s:%d`, or a `*` width: no.
        assert!(!file_line_at(3, own, &strs("%s() at %s:%d", "super")));
        assert!(!file_line_at(
            3,
            own,
            &strs("%s() at %s %d", "fs/ext4/super.c")
        ));
        assert!(!file_line_at(
            3,
            own,
            &strs("%s() at %s:%5d", "fs/ext4/super.c")
        ));
        assert!(!file_line_at(3, own, &strs("%*s %s:%d", "fs/ext4/super.c")));
        // `%%` is no conversion.
        assert!(file_line_at(
            3,
            Some(b"a.h"),
            &strs("100%% %s at %s:%d", "a.h")
        ));
    }

    #[test]
    fn a_version_dependent_slot_needs_a_pointer_in_the_witness() {
        // mov %rdi,%rsi; mov $0x2a,%edx; call __ext4_journal_start_sb
        // (v6.2: slot 1 is sb, slot 2 the line)
        let code = [0x48, 0x89, 0xfe, 0xba, 0x2a, 0, 0, 0, 0xe8, 0, 0, 0, 0];
        let s = run(&code, "__ext4_journal_start_sb");
        assert_eq!(s[1].as_ref().map(|x| x.arg), Some(2));
        // mov $0x2a,%esi; mov $0x8,%edx; call __ext4_journal_start_sb
        // (v6.1: slot 1 the line, slot 2 the real type)
        let code = [0xbe, 0x2a, 0, 0, 0, 0xba, 8, 0, 0, 0, 0xe8, 0, 0, 0, 0];
        let s = run(&code, "__ext4_journal_start_sb");
        assert_eq!(s[0].as_ref().map(|x| x.arg), Some(1));
        assert_eq!(s[1], None, "the type");
        // 6.12 (gcc-12, ext4_acquire_dquot): the other arm comes back
        // from below: mov 0x28(%rdi),%rsi; jne M; L: mov $0x2a,%edx;
        // call; ret; M: xor %r9d,%r9d; jmp L
        let code = [
            0x48, 0x8b, 0x77, 0x28, 0x75, 0x0b, 0xba, 0x2a, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xc3, 0x45,
            0x31, 0xc9, 0xeb, 0xf0,
        ];
        let s = run(&code, "__ext4_journal_start_sb");
        assert_eq!(s[2].as_ref().map(|x| x.arg), Some(2), "the 3rd instruction");
        // 6.12 (gcc-12, ext4_release_dquot): the pointer is loaded above
        // an `if` whose arms join before the line: mov 0x28(%rdi),%rsi;
        // test %eax,%eax; jne L; xor %r9d,%r9d; L: mov $0x2a,%edx; call
        let code = [
            0x48, 0x8b, 0x77, 0x28, 0x85, 0xc0, 0x75, 0x03, 0x45, 0x31, 0xc9, 0xba, 0x2a, 0, 0, 0,
            0xe8, 0, 0, 0, 0,
        ];
        let s = run(&code, "__ext4_journal_start_sb");
        assert_eq!(s[4].as_ref().map(|x| x.arg), Some(2), "the 5th instruction");
        // ... but not when another path joins from above the load: jne L;
        // mov 0x28(%rdi),%rsi; L: mov $0x2a,%edx; call (%rsi unknown on
        // the jump's path)
        let code = [
            0x75, 0x04, 0x48, 0x8b, 0x77, 0x28, 0xba, 0x2a, 0, 0, 0, 0xe8, 0, 0, 0, 0,
        ];
        assert!(
            run(&code, "__ext4_journal_start_sb")
                .iter()
                .all(Option::is_none)
        );
        // mov %edi,%esi (32-bit: could be a line) ; mov $8,%edx: no.
        let code = [0x89, 0xfe, 0xba, 8, 0, 0, 0, 0xe8, 0, 0, 0, 0];
        assert!(
            run(&code, "__ext4_journal_start_sb")
                .iter()
                .all(Option::is_none)
        );
    }
}
