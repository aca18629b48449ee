//! `post-link`'s stand-in for objtool, for code of the linked module that
//! objtool never processed.
//!
//! **Where objtool runs.** On most kernels kbuild runs objtool on every
//! object right after the compiler and never on the linked module, so the
//! stub's `klpwrite_stub.o` comes with its own `.return_sites`, ORC and
//! the rest. Kernels that postpone objtool to the link (`delay-objtool :=
//! $(or $(CONFIG_LTO_CLANG),$(CONFIG_X86_KERNEL_IBT))` in
//! scripts/Makefile.lib, 6.12; upstream adds `CONFIG_KLP_BUILD`) run it on
//! no part of a composite module and as `objtool --link --module` on the
//! linked object (scripts/Makefile.build, see [`super::stub::kbuild`]).
//!
//! **Why that run cannot work on a kbuild-form module.** The shipped
//! objects hold their klp relocations back as records until post-link, so
//! their sites are zeros without a relocation: a jump-label entry keyed on
//! a klp symbol has no key relocation (6.12's objtool on scenario 9:
//! `__jump_table+0x8: can't find key reloc`, and it writes nothing at all),
//! a call to a klp symbol reads as a call to the next instruction. Even
//! where it got through, it would skip `.return_sites` and
//! `.retpoline_sites` (`create_return_sites_sections()`,
//! tools/objtool/check.c: "file already has .return_sites, skipping"),
//! which the shipped objects already carry. Either way the stub's
//! `init_module`/`cleanup_module` kept an unlisted `jmp
//! __x86_return_thunk`, and 6.12's first return through it WARNed
//! "Unpatched return thunk in use" (`__warn_thunk()`,
//! arch/x86/kernel/cpu/bugs.c) and tainted the kernel: from the refusal
//! path of a module that skipped post-link, or from `cleanup_module`.
//!
//! **What klpwrite does.** The generated `Kbuild` turns the link-time run
//! off and has objtool process the stub by itself instead, as kbuild does
//! for a single-object module ([`super::stub::kbuild`]); the shipped
//! objects were completed by `extract` ([`crate::objtool`]). After that
//! nothing in the module is raw, and [`complete`] finds nothing to do. It
//! is the fallback for what is still raw: with `CONFIG_LTO_CLANG` the stub
//! is bitcode until the link and gets no objtool run at all, and a module
//! linked from another `Kbuild` may have an unprocessed part. For such code
//! it does what klpwrite does for raw objects: every return-thunk and
//! retpoline site gets its entry in the module's existing (or a new)
//! `.return_sites`/`.retpoline_sites`, and a jump-label site that still
//! holds the compiler's `jmp` becomes objtool's NOP. It decides from the
//! module alone (entries against sites, [`crate::objtool::check_sites`]),
//! so it needs no `.config`. post-link's self-check then holds the output
//! to the same rule (`verify`'s `thunk-sites`).
//!
//! **What the fallback does not do** for such code, and what that costs:
//! ORC (an unwind through it is unreliable: `unwind_next_frame()` falls
//! back to a frame-pointer guess and sets `state->error`,
//! arch/x86/kernel/unwind_orc.c; for the stub that never matters to
//! livepatch, whose reliable unwinds (`klp_check_stack()`,
//! kernel/livepatch/transition.c) see the insmod task only inside
//! `klp_enable_patch()`, which the stub's `init_module` tail-calls with no
//! frame of its own; a task preempted inside its few instructions while
//! another patch transitions is only retried later), `.call_sites`
//! (call-depth accounting, only used with `retbleed=stuff`),
//! `.ibt_endbr_seal` (the ENDBRs stay), `__pfx_` symbols and
//! `.static_call_sites` (the stub has no static call).

use crate::arch::x86_64 as x86;
use crate::elf::Elf;
use crate::elf::consts::*;
use crate::error::{Error, ErrorKind, Result};
use crate::objtool::{NOP2, NOP5, Sites, check_sites, jump_sites};
use crate::output::{OutData, OutObject, OutReloc, OutSection};

/// Complete the copy `out` of the linked module `elf` (`ids`: input
/// section index to output section id) as objtool would have; returns one
/// line per thing done (empty when nothing was missing).
pub fn complete(elf: &Elf, ids: &[Option<usize>], out: &mut OutObject) -> Result<Vec<String>> {
    let file = elf.path.as_str();
    let sites = check_sites(elf);
    if let Some(s) = sites.stray.first() {
        return Err(Error::new(
            ErrorKind::Malformed,
            format!(
                "{} entry at +{:#x}: {}; the module loader would WARN (apply_returns()/apply_retpolines(), arch/x86/kernel/alternative.c)",
                s.list, s.entry, s.why
            ),
        )
        .in_file(file));
    }
    let mut done = Vec::new();
    for (list, missing, what) in [
        (".return_sites", &sites.missing_rets, "return-thunk"),
        (".retpoline_sites", &sites.missing_rps, "retpoline"),
    ] {
        if missing.is_empty() {
            continue;
        }
        add_sites(elf, ids, out, list, missing)?;
        done.push(format!(
            "listed {} {what} site(s) in {list} that objtool did not (first at {})",
            missing.len(),
            elf.locate(missing[0].0, missing[0].1)
        ));
    }
    let jumps = jump_sites(elf)?;
    for j in &jumps {
        let id = kept(elf, ids, j.sec)?;
        let nop: &[u8] = if j.len == 2 { &NOP2 } else { &NOP5 };
        if let OutData::Bytes(b) = &mut out.sections[id].data {
            b[j.off as usize..j.off as usize + j.len].copy_from_slice(nop);
        }
        for &ri in &j.relocs {
            let r = elf.relocs[ri];
            let rs = kept(elf, ids, r.rsec)?;
            if let OutData::Relocs { relocs, .. } = &mut out.sections[rs].data {
                for x in relocs
                    .iter_mut()
                    .filter(|x| x.offset == r.offset && x.r_type == r.r_type)
                {
                    x.r_type = x86::R_X86_64_NONE;
                }
            }
        }
    }
    if let Some(j) = jumps.first() {
        done.push(format!(
            "NOPed {} jump-label site(s) that still held the compiler's jmp (objtool --hacks=jump_label; first at {})",
            jumps.len(),
            elf.locate(j.sec, j.off)
        ));
    }
    Ok(done)
}

/// The output id of input section `sec`, which the copy keeps.
fn kept(elf: &Elf, ids: &[Option<usize>], sec: usize) -> Result<usize> {
    ids.get(sec).copied().flatten().ok_or_else(|| {
        Error::malformed(format!(
            "{} holds a thunk or jump-label site but is not carried over",
            elf.sections[sec].display_name()
        ))
        .in_file(&elf.path)
    })
}

/// Append one entry per site to list `name` (created as objtool's
/// `elf_create_section_pair()` makes it when the module has none): an
/// `s32`, `R_X86_64_PC32` against the site's section symbol with the
/// instruction's offset as addend, so the loader finds the site at
/// `(void *)s + *s`.
fn add_sites(
    elf: &Elf,
    ids: &[Option<usize>],
    out: &mut OutObject,
    name: &str,
    sites: &Sites,
) -> Result<()> {
    let list = match elf.section_by_name(name.as_bytes()) {
        Some(i) => kept(elf, ids, i)?,
        None => out.add_section(OutSection {
            name: name.as_bytes().to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: SHF_ALLOC,
            sh_addralign: 1,
            sh_entsize: 4,
            link: None,
            data: OutData::Bytes(Vec::new()),
            symbol: None,
        }),
    };
    let mut relocs = Vec::with_capacity(sites.len());
    for &(sec, off) in sites {
        let code = kept(elf, ids, sec)?;
        let at = out.append(list, &[0; 4], 1);
        relocs.push(OutReloc {
            offset: at,
            symbol: out.sections[code]
                .symbol
                .expect("byte sections have section symbols"),
            r_type: x86::R_X86_64_PC32,
            addend: off as i64,
        });
    }
    let rela = out
        .sections
        .iter()
        .position(|s| matches!(s.data, OutData::Relocs { target, .. } if target == list));
    match rela {
        Some(r) => {
            if let OutData::Relocs { relocs: v, .. } = &mut out.sections[r].data {
                v.extend(relocs);
            }
        }
        None => {
            out.add_relocations(list, None, relocs);
        }
    }
    Ok(())
}
