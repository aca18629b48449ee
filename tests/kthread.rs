//! `klpwrite::kthread::thread_starts` on small synthetic objects: each way
//! GCC loads a function's address into `%rdi` before calling a
//! thread-starting entry point, register copies across a call, and the
//! cases that are not a thread start (another value in `%rdi` by the call,
//! a clobbering call in between, an entry point without a thread function).

mod support;

use klpwrite::kthread::thread_starts;
use support::build::Obj;
use support::scratch;

const R_64: u32 = 1;
const R_PC32: u32 = 2;
const R_PLT32: u32 = 4;
const R_32: u32 = 10;
const R_32S: u32 = 11;

/// `call rel32` and `jmp rel32` (relocated with PLT32 at +1).
const CALL: [u8; 5] = [0xe8, 0, 0, 0, 0];
const JMP: [u8; 5] = [0xe9, 0, 0, 0, 0];

/// One caller `starter` whose code is `load` followed by `tail`, with the
/// load's relocation (offset in `load`, type, addend, against `target`)
/// and a call/jump at the start of `tail` to `callee`, plus `middle` bytes
/// (and their calls to `other`) in between. Returns the starts found as
/// (caller, callee, thread function, call offset, load offset, tail).
#[allow(clippy::too_many_arguments)]
fn starts(
    name: &str,
    load: &[u8],
    reloc: (u64, u32, i64),
    target: &str,
    middle: &[u8],
    middle_calls: &[u64],
    callee: &str,
    tail: bool,
) -> Vec<(String, String, String, u64, u64, bool)> {
    let mut o = Obj::default();
    o.file("t.c");
    o.func("loop_fn", false, &[0xc3]);
    o.undef(callee);
    o.undef("other");
    let mut code = load.to_vec();
    code.extend_from_slice(middle);
    let call_at = code.len() as u64;
    code.extend_from_slice(if tail { &JMP } else { &CALL });
    code.push(0xc3);
    o.func("starter", true, &code);
    o.reloc(".text.starter", reloc.0, target, reloc.1, reloc.2);
    for &m in middle_calls {
        o.reloc(
            ".text.starter",
            load.len() as u64 + m + 1,
            "other",
            R_PLT32,
            -4,
        );
    }
    o.reloc(".text.starter", call_at + 1, callee, R_PLT32, -4);
    // scratch() empties its directory: one per object (tests run in
    // parallel).
    let d = scratch(&format!("kthread-{name}"));
    let elf = o.finish(&d.join("t.o").display().to_string());
    thread_starts(&elf)
        .into_iter()
        .map(|s| {
            (
                elf.symbols[s.caller].display_name(),
                String::from_utf8_lossy(&s.callee).into_owned(),
                elf.symbols[s.threadfn].display_name(),
                s.call,
                s.load,
                s.tail,
            )
        })
        .collect()
}

fn one(call: u64, tail: bool) -> Vec<(String, String, String, u64, u64, bool)> {
    vec![(
        "starter".into(),
        "kthread_create_on_node".into(),
        "loop_fn".into(),
        call,
        0,
        tail,
    )]
}

#[test]
fn every_load_form() {
    // mov $loop_fn,%edi (bf imm32): R_X86_64_32.
    let mov32 = [0xbf, 0, 0, 0, 0];
    assert_eq!(
        starts(
            "mov32",
            &mov32,
            (1, R_32, 0),
            "loop_fn",
            &[],
            &[],
            "kthread_create_on_node",
            false
        ),
        one(5, false)
    );
    // mov $loop_fn,%rdi (48 c7 c7 imm32): R_X86_64_32S, by name and
    // through the section symbol.
    let mov32s = [0x48, 0xc7, 0xc7, 0, 0, 0, 0];
    assert_eq!(
        starts(
            "mov32s",
            &mov32s,
            (3, R_32S, 0),
            "loop_fn",
            &[],
            &[],
            "kthread_create_on_node",
            false
        ),
        one(7, false)
    );
    assert_eq!(
        starts(
            "mov32s-section",
            &mov32s,
            (3, R_32S, 0),
            ".text.loop_fn",
            &[],
            &[],
            "kthread_create_on_node",
            false
        ),
        one(7, false)
    );
    // lea loop_fn(%rip),%rdi (48 8d 3d disp32): R_X86_64_PC32 - 4.
    let lea = [0x48, 0x8d, 0x3d, 0, 0, 0, 0];
    assert_eq!(
        starts(
            "lea",
            &lea,
            (3, R_PC32, -4),
            ".text.loop_fn",
            &[],
            &[],
            "kthread_create_on_node",
            false
        ),
        one(7, false)
    );
    // movabs $loop_fn,%rdi (48 bf imm64): R_X86_64_64.
    let movabs = [0x48, 0xbf, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        starts(
            "movabs",
            &movabs,
            (2, R_64, 0),
            "loop_fn",
            &[],
            &[],
            "kthread_create_on_node",
            false
        ),
        one(10, false)
    );
    // A tail call: mov ...; pop %rbp; jmp kthread_create_on_node.
    assert_eq!(
        starts(
            "tail",
            &mov32s,
            (3, R_32S, 0),
            "loop_fn",
            &[0x5d],
            &[],
            "kthread_create_on_node",
            true
        ),
        one(8, true)
    );
}

#[test]
fn other_entry_points() {
    let mov32s = [0x48, 0xc7, 0xc7, 0, 0, 0, 0];
    for callee in [
        "kthread_create_on_cpu",
        "kthread_run_on_cpu.constprop.0",
        "create_io_thread",
        "kernel_thread",
    ] {
        let s = starts(
            callee,
            &mov32s,
            (3, R_32S, 0),
            "loop_fn",
            &[],
            &[],
            callee,
            false,
        );
        assert_eq!(s.len(), 1, "{callee}: {s:?}");
        assert_eq!(s[0].1, callee);
    }
    // svc_create_pooled(prog, bufsize, threadfn) (6.1; later kernels add
    // arguments before it): mov $loop_fn,%edx (ba imm32, R_X86_64_32) is a
    // start; the same address into %rdx before kthread_create_on_node is
    // not (that one takes threadfn first).
    let mov_edx = [0xba, 0, 0, 0, 0];
    for callee in ["svc_create_pooled", "svc_create"] {
        let s = starts(
            callee,
            &mov_edx,
            (1, R_32, 0),
            "loop_fn",
            &[],
            &[],
            callee,
            false,
        );
        assert_eq!(s.len(), 1, "{callee}: {s:?}");
        assert_eq!(s[0].2, "loop_fn");
    }
    assert!(
        starts(
            "rdx-not-first",
            &mov_edx,
            (1, R_32, 0),
            "loop_fn",
            &[],
            &[],
            "kthread_create_on_node",
            false
        )
        .is_empty()
    );
    // kthread_create_worker takes flags and a name, no thread function.
    assert!(
        starts(
            "worker",
            &mov32s,
            (3, R_32S, 0),
            "loop_fn",
            &[],
            &[],
            "kthread_create_worker",
            false
        )
        .is_empty()
    );
}

#[test]
fn register_copies_and_redefinitions() {
    // mov $loop_fn,%rbx; call other; mov %rbx,%rdi; call kthread_create_on_node:
    // %rbx survives the call, the copy carries it into %rdi.
    let mov_rbx = [0x48, 0xc7, 0xc3, 0, 0, 0, 0];
    let s = starts(
        "copy",
        &mov_rbx,
        (3, R_32S, 0),
        "loop_fn",
        &[0xe8, 0, 0, 0, 0, 0x48, 0x89, 0xdf],
        &[0],
        "kthread_create_on_node",
        false,
    );
    assert_eq!(s, one(15, false));
    // mov $loop_fn,%rdi; xor %edi,%edi; call: %rdi no longer holds it.
    let mov32s = [0x48, 0xc7, 0xc7, 0, 0, 0, 0];
    assert!(
        starts(
            "xor",
            &mov32s,
            (3, R_32S, 0),
            "loop_fn",
            &[0x31, 0xff],
            &[],
            "kthread_create_on_node",
            false
        )
        .is_empty()
    );
    // mov $loop_fn,%rdi; call other; call: the call clobbers %rdi.
    assert!(
        starts(
            "clobber",
            &mov32s,
            (3, R_32S, 0),
            "loop_fn",
            &[0xe8, 0, 0, 0, 0],
            &[0],
            "kthread_create_on_node",
            false
        )
        .is_empty()
    );
    // The address in %rsi (mov $loop_fn,%rsi): not the thread function.
    let mov_rsi = [0x48, 0xc7, 0xc6, 0, 0, 0, 0];
    assert!(
        starts(
            "rsi",
            &mov_rsi,
            (3, R_32S, 0),
            "loop_fn",
            &[],
            &[],
            "kthread_create_on_node",
            false
        )
        .is_empty()
    );
}
