//! New symbols shared between the objects of one patch (`--patch-symbols`).
//!
//! A patch may add a function or variable in one unit (`a.c`) and use it
//! from another (`b.c`). Both end up in the same livepatch module, so the
//! reference is linked inside the module, exactly as the patched kernel's
//! own link resolved it: `b`'s extract output keeps a normal undefined
//! reference and records it as `needs <name>` in `.klpwrite.patch`;
//! `klpwrite module` binds it to the definition another input provides and
//! refuses when none does.
//!
//! It cannot go through the target's symbols: the kernel resolves an
//! undefined symbol of a module only against exported symbols
//! (kernel/module/main.c: simplify_symbols() → resolve_symbol_wait()), and a
//! klp symbol only against the target's kallsyms
//! (kernel/livepatch/core.c: klp_resolve_symbols() → klp_find_object_symbol()),
//! and a new symbol is in neither.
//!
//! Which names: the globals defined in a `--patch-symbols` object (an
//! extract output or a patched object of the same patch) that the target
//! object does not have as a global. A global the target has is the
//! target's, as before: a changed function of the other unit is still
//! called through its old address, which ftrace redirects.

use super::*;

impl<'a> Ex<'a> {
    /// `name` is a new global of another object of the patch: leave a
    /// normal undefined reference for `module` to link.
    pub(super) fn provided_by_patch(
        &mut self,
        name: &[u8],
        kind: u8,
        addend: i64,
        here: &str,
    ) -> Option<Dest> {
        let from = self.opts.patch_symbols.get(name)?;
        let t = self.target();
        if t.named(name).iter().any(|&c| !t.syms[c].local) {
            self.explain.push(format!(
                "  {} is defined in {from}, but {} already has it: the target's is used",
                show(name),
                t.objname
            ));
            return None;
        }
        self.explain.push(format!(
            "reloc {here} → normal {} [new in this patch, defined in {from}: linked inside the module]",
            show(name)
        ));
        self.needs.insert(name.to_vec());
        Some(Dest::Undef(name.to_vec(), kind, addend))
    }
}

/// The globals an object defines, for `--patch-symbols`: every defined,
/// named, non-local symbol that is not a section, file or klp symbol.
pub fn defined_globals(p: &Elf) -> Vec<Vec<u8>> {
    p.symbols
        .iter()
        .filter(|s| {
            !s.is_local()
                && s.section.is_some()
                && !s.name.is_empty()
                && !s.is_section()
                && !s.is_file()
                && !s.is_livepatch()
        })
        .map(|s| s.name.clone())
        .collect()
}
