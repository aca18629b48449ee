//! Symbol-name rules: demangling of compiler suffixes, parent/child and
//! prefix relations, and the names that must never be correlated with the
//! target kernel.
//!
//! GCC and Clang rename functions they clone or split: `foo.isra.0`,
//! `foo.constprop.3`, `foo.part.1`, `foo.cold`, `foo.cold.7`, and with
//! ThinLTO `foo.llvm.123456`. Static locals get a counter: `__key.12`
//! (GCC) or `func.__key` (Clang). The counters change between two builds
//! of the same source, so comparisons use the *demangled* name, in which
//! every all-digit `.N` component and any `.llvm.<hash>` tail are dropped.

/// Names of static locals that carry no state a patch must preserve, or
/// whose state must not be shared with the running kernel (lockdep keys,
/// ratelimit states, once-flags, dyndbg descriptors, printk index entries,
/// switch tables). References to them get a fresh copy in the patch.
pub const UNCORRELATED_STATIC_LOCALS: &[&str] = &[
    "__already_done",
    "__func__",
    "__FUNCTION__",
    "__key",
    "__warned",
    "_entry",
    "_entry_ptr",
    "_rs",
    "descriptor",
    "CSWTCH",
];

/// Demangle a symbol name: drop `.llvm.<hash>` and every all-digit `.N`
/// component; for `__UNIQUE_ID_*` also drop trailing digits and `_`.
pub fn demangle(name: &[u8]) -> Vec<u8> {
    let name = match find(name, b".llvm.") {
        Some(p) => &name[..p],
        None => name,
    };
    let mut out: Vec<u8> = Vec::with_capacity(name.len());
    for (i, part) in name.split(|&b| b == b'.').enumerate() {
        if i > 0 && !part.is_empty() && part.iter().all(u8::is_ascii_digit) {
            continue;
        }
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(part);
    }
    if out.starts_with(b"__UNIQUE_ID_") {
        while out.len() > 12 && matches!(out.last(), Some(b'0'..=b'9' | b'_')) {
            out.pop();
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// For a `.cold` or `.part` child, the name of its parent function:
/// `foo.cold.3` → `foo`, `foo.isra.0.cold` → `foo.isra.0`,
/// `foo.part.0` → `foo`.
pub fn child_parent(name: &[u8]) -> Option<&[u8]> {
    if let Some(p) = find(name, b".cold") {
        let rest = &name[p + 5..];
        if rest.is_empty() || (rest[0] == b'.' && rest[1..].iter().all(u8::is_ascii_digit)) {
            return (p > 0).then(|| &name[..p]);
        }
    }
    if let Some(p) = find(name, b".part.") {
        return (p > 0).then(|| &name[..p]);
    }
    None
}

/// Whether `name` is a `.cold` child (as opposed to a `.part` clone, which
/// is a function in its own right with its own fentry).
pub fn is_cold_child(name: &[u8]) -> bool {
    child_parent(name).is_some() && find(name, b".cold").is_some()
}

/// The function a `__pfx_`/`__cfi_` prefix symbol belongs to.
pub fn prefix_target(name: &[u8]) -> Option<&[u8]> {
    name.strip_prefix(b"__pfx_")
        .or_else(|| name.strip_prefix(b"__cfi_"))
}

/// Assembler-local labels (`.L...`).
pub fn is_local_label(name: &[u8]) -> bool {
    name.starts_with(b".L")
}

/// Whether a local object's name is one of the uncorrelated static locals,
/// in GCC (`__key.12`) or Clang (`func.__key`, `func.__key.3`) spelling.
/// Dynamic-debug descriptors named by `__UNIQUE_ID(ddebug)` count too.
pub fn is_uncorrelated_static_local(name: &[u8]) -> bool {
    if find(name, b"__UNIQUE_ID_ddebug").is_some() {
        return true;
    }
    let d = demangle(name);
    UNCORRELATED_STATIC_LOCALS.iter().any(|v| {
        let v = v.as_bytes();
        d == v || (d.len() > v.len() && d.ends_with(v) && d[d.len() - v.len() - 1] == b'.')
    })
}

/// Sections whose content is anonymous and compiler-numbered, so the
/// target kernel cannot be referenced for it: UBSAN data (GCC) and Clang's
/// unnamed/anonymous data.
pub fn is_anonymous_data_section(sec: &[u8]) -> bool {
    sec.starts_with(b".data..Lubsan")
        || sec.starts_with(b".data.rel.local..Lubsan")
        || sec.starts_with(b".data..L__unnamed")
        || sec.starts_with(b".data..Lanon")
        || sec.starts_with(b".rodata..L__unnamed")
        || sec.starts_with(b".rodata.cst")
}

/// `.data..once` holds WARN_ONCE/printk_once flags: always a fresh copy.
/// (include/linux/once_lite.h `__section(".data..once")`, earlier
/// `.data.once`; vmlinux.lds.h DATA_DATA keeps both as ordinary data, so
/// only the patch's own flags are fresh, the kernel's are untouched.)
pub fn is_once_section(sec: &[u8]) -> bool {
    sec.starts_with(b".data..once") || sec.starts_with(b".data.once")
}

// Section-name audit (what the kernel frees after init), against
// include/asm-generic/vmlinux.lds.h, arch/x86/kernel/vmlinux.lds.S and
// kernel/module/main.c:
//
// * Modules: kernel/module/main.c `module_init_layout_section` puts every
//   section whose name starts with `.init` into the init layout (freed by
//   `do_free_init` once the module's init returned); `.exit*` sections stay
//   in the core layout with CONFIG_MODULE_UNLOAD (without it,
//   `module_init_layout_section` counts `module_exit_section` names as init
//   too; every distribution kernel has unload, which klpwrite assumes).
//   Nothing else is freed.
//   So `.init.text`, `.init.data`, `.init.rodata`, `.init_array` are init;
//   `.exit.text`, `.meminit.text`, `.ref.text` are not.
// * vmlinux: everything the linker script places between `__init_begin` and
//   `__init_end` is freed by `free_initmem`. vmlinux.lds.h INIT_TEXT
//   (`.init.text*`, `.text.startup`), INIT_DATA (`.init.data*`,
//   `.init.rodata*`, `.init.setup`, `.initcall*.init`, `.con_initcall.init`,
//   KERNEL_CTORS `.ctors`/`.init_array*`, the `__*_of_table` and
//   `__earlycon_table` tables), x86 `.x86_cpu_dev.init`, `.apicdrivers`,
//   `.x86_intel_mid_dev.init`, `.iommu_table`, `.lsm_info.init`,
//   `.early_lsm_info.init`, EXIT_TEXT/EXIT_DATA (`.exit.text`, `.text.exit`,
//   `.exit.data`, `.fini_array`, `.dtors`: built-in code never exits; "is
//   discarded at runtime, not link time"), and, with the alternatives
//   applied at boot, `.altinstr_aux`,
//   `.altinstructions`, `.altinstr_replacement`, `.parainstructions`,
//   `.retpoline_sites`, `.return_sites` (klpwrite copies those entries for
//   the patch itself; the names below leave them to the special-section
//   code).
// * `.meminit*` (`__meminit`): vmlinux.lds.h MEM_KEEP/MEM_DISCARD keep it
//   in the ordinary text/data with CONFIG_MEMORY_HOTPLUG (every distribution
//   kernel on x86-64) and put it into INIT_TEXT/INIT_DATA without it. The
//   name does not say which: the target decides (a vmlinux symbol between
//   `__init_begin` and `__init_end` is init). Modules never free it.

/// Init code and data by name in vmlinux *and* in modules (every section
/// whose name starts with `.init`, kernel/module/main.c
/// `module_init_layout_section`): never patchable, never a target. See the
/// audit above; `.meminit*` and `.exit*` are decided elsewhere.
pub fn is_init_section(sec: &[u8]) -> bool {
    sec.starts_with(b".init")
}

/// Sections of a vmlinux unit that are freed after boot (placed between
/// `__init_begin` and `__init_end`), besides the special sections whose
/// entries klpwrite copies itself. See the audit above.
pub fn is_vmlinux_init_section(sec: &[u8]) -> bool {
    is_init_section(sec)
        || sec.starts_with(b".exit.")
        || sec == b".exit"
        || sec == b".text.startup"
        || sec.starts_with(b".text.startup.")
        || sec == b".text.exit"
        || sec.starts_with(b".text.exit.")
        || sec.starts_with(b".fini_array")
        || sec.starts_with(b".dtors")
        || sec.ends_with(b".init")
        || sec == b".apicdrivers"
        || sec == b".iommu_table"
        || sec == b".ctors"
        || sec == b"__earlycon_table"
        || (sec.starts_with(b"__") && sec.ends_with(b"_of_table"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> String {
        String::from_utf8(demangle(s.as_bytes())).unwrap()
    }

    #[test]
    fn demangling() {
        let cases = [
            ("foo", "foo"),
            ("foo.isra.0", "foo.isra"),
            ("foo.constprop.12", "foo.constprop"),
            ("foo.constprop.0.isra.3", "foo.constprop.isra"),
            ("foo.cold", "foo.cold"),
            ("foo.cold.7", "foo.cold"),
            ("foo.part.1.cold.2", "foo.part.cold"),
            ("foo.llvm.1234567", "foo"),
            ("foo.isra.0.llvm.99", "foo.isra"),
            ("__key.123", "__key"),
            ("copy_process.__key.4", "copy_process.__key"),
            ("__UNIQUE_ID_ddebug412", "__UNIQUE_ID_ddebug"),
            (
                "__UNIQUE_ID___addressable_foo694_695",
                "__UNIQUE_ID___addressable_foo",
            ),
            ("a.1b", "a.1b"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(d(input), want, "demangle({input})");
        }
    }

    #[test]
    fn children_and_prefixes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("foo.cold", Some("foo")),
            ("foo.cold.1", Some("foo")),
            ("foo.isra.0.cold", Some("foo.isra.0")),
            ("foo.part.0", Some("foo")),
            ("foo.constprop.0", None),
            ("foo.coldish", None),
            (".cold", None),
        ];
        for (name, parent) in cases {
            assert_eq!(
                child_parent(name.as_bytes()),
                parent.map(|p| p.as_bytes()),
                "{name}"
            );
        }
        assert!(is_cold_child(b"foo.cold.1"));
        assert!(!is_cold_child(b"foo.part.1"));
        assert_eq!(prefix_target(b"__pfx_foo"), Some(&b"foo"[..]));
        assert_eq!(prefix_target(b"__cfi_foo"), Some(&b"foo"[..]));
        assert_eq!(prefix_target(b"foo"), None);
    }

    #[test]
    fn init_sections() {
        for yes in [
            ".init.text",
            ".init.data",
            ".init.rodata",
            ".init_array",
            ".initcall6.init",
        ] {
            assert!(is_init_section(yes.as_bytes()), "{yes}");
            assert!(is_vmlinux_init_section(yes.as_bytes()), "{yes}");
        }
        for vmlinux_only in [
            ".exit.text",
            ".exit.data",
            ".text.startup",
            ".text.exit",
            ".fini_array",
            ".x86_cpu_dev.init",
            ".con_initcall.init",
            "__timer_of_table",
        ] {
            assert!(!is_init_section(vmlinux_only.as_bytes()), "{vmlinux_only}");
            assert!(
                is_vmlinux_init_section(vmlinux_only.as_bytes()),
                "{vmlinux_only}"
            );
        }
        for no in [
            ".meminit.text",
            ".meminit.data",
            ".text",
            ".text.exit_handler",
            ".text.startup_cpu",
            ".ref.text",
            ".data",
            "__fair_sched_class",
            ".pci_fixup_final",
        ] {
            assert!(!is_init_section(no.as_bytes()), "{no}");
            assert!(!is_vmlinux_init_section(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn uncorrelated_statics() {
        for yes in [
            "__key.12",
            "__warned.3",
            "_rs.7",
            "CSWTCH.44",
            "copy_process.__key",
            "f.__already_done.2",
            "descriptor.9",
            "__func__.1",
        ] {
            assert!(is_uncorrelated_static_local(yes.as_bytes()), "{yes}");
        }
        for no in ["key", "my__key", "counter.3", "_rsx.1", "warned"] {
            assert!(!is_uncorrelated_static_local(no.as_bytes()), "{no}");
        }
    }
}
