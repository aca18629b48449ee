//! Special sections: keep exactly the entries that describe extracted code.
//!
//! Each special section is an array of fixed-size entries whose relocated
//! fields point at code (the table is in `arch::x86_64`). The entry size of
//! a given object is taken from the object: `--struct-size`, else
//! `sh_entsize`, else the one known layout that fits the section size and
//! the offsets and types of its relocations. A size that fits nothing, or
//! an `sh_entsize` the relocations contradict, is an error; klpwrite never
//! copies garbage entries.
//!
//! An entry is kept when its code field points into a range already
//! extracted. Keeping it extracts what it needs: the alternative's
//! replacement bytes, the old-style `.fixup` code, the ORC data entry of an
//! ORC IP entry. Since kept entries can extract more code, the pass runs
//! until nothing changes (`run` alternates it with the closure).

use super::{Dest, Ex};
use crate::arch::x86_64::{self as x86, Layout, Restriction, Role, Treatment};
use crate::elf::names;
use crate::error::{Error, ErrorKind, Result, show};

impl Ex<'_> {
    /// Whether `sec` is a special section or an auxiliary one.
    pub(super) fn is_special_or_aux(&self, sec: usize) -> bool {
        let name = &self.p.sections[sec].name;
        x86::special_for(name).is_some() || x86::AUX_SECTIONS.iter().any(|a| name == a.as_bytes())
    }

    /// The (section, offset) a relocation points at, for data fields.
    pub(super) fn reloc_target(&self, id: usize) -> Option<(usize, u64)> {
        let p = self.p;
        let r = p.relocs[id];
        let s = &p.symbols[r.symbol];
        let sec = s.section?;
        crate::elf::uoffset_of(s.value, r.addend, 0).map(|off| (sec, off))
    }

    /// Whether (sec, off) lies in extracted code.
    fn in_extracted_code(&self, sec: usize, off: u64, end_ok: bool) -> bool {
        if !self.p.sections[sec].is_exec() {
            return false;
        }
        self.ranges.get(&sec).is_some_and(|v| {
            v.iter()
                .any(|&(s, e)| (off >= s && off < e) || (end_ok && off == e && e > s))
        })
    }

    /// Entry layout of special section `sec`.
    fn layout_of(&mut self, sec: usize, layouts: &'static [Layout]) -> Result<&'static Layout> {
        if let Some(l) = self.entry_sizes.get(&sec) {
            return Ok(l);
        }
        let p = self.p;
        let name = show(&p.sections[sec].name);
        let relocs: Vec<usize> = self.relocs_sorted(sec).to_vec();
        let chosen = crate::special::detect_layout(p, sec, layouts, &relocs, &self.opts.layouts)?;
        self.explain.push(format!(
            "special {name}: {}-byte entries ({})",
            chosen.size, chosen.kernels
        ));
        self.entry_sizes.insert(sec, chosen);
        Ok(chosen)
    }

    /// One round over the special sections. Returns whether anything new
    /// was kept.
    pub(super) fn special_pass(&mut self) -> Result<bool> {
        let p = self.p;
        let mut added = false;
        for sec in 0..p.sections.len() {
            let s = &p.sections[sec];
            if s.sh_size == 0 || s.sh_type != crate::elf::consts::SHT_PROGBITS {
                continue;
            }
            let Some(spec) = x86::special_for(&s.name) else {
                continue;
            };
            let layouts = match spec.treatment {
                Treatment::Entries(l) => l,
                Treatment::Drop(why) => {
                    if self.decided.insert((sec, u64::MAX)) {
                        self.explain
                            .push(format!("special {}: dropped ({why})", s.display_name()));
                    }
                    continue;
                }
                Treatment::Companion(..) => continue,
            };
            let layout = self.layout_of(sec, layouts)?;
            let relocs: Vec<usize> = self.relocs_sorted(sec).to_vec();
            let code_fields: Vec<_> = layout
                .fields
                .iter()
                .filter(|f| matches!(f.role, Role::Code | Role::CodeOrEnd))
                .copied()
                .collect();
            for &id in &relocs {
                let r = p.relocs[id];
                let k = r.offset / layout.size;
                let fo = r.offset % layout.size;
                let Some(cf) = code_fields.iter().find(|f| f.offset == fo) else {
                    continue;
                };
                if self.decided.contains(&(sec, k)) {
                    continue;
                }
                let Some((tsec, toff)) = self.reloc_target(id) else {
                    continue;
                };
                // An ORC IP at an offset is the state of the instruction
                // there; only the section's end holds objtool's terminator
                // (orc_create() in tools/objtool/orc_gen.c adds one per
                // section at sh_size). So an entry at the end of an
                // extracted range that is not the section's end belongs to
                // the function that starts there.
                let end_ok = cf.role == Role::CodeOrEnd && toff == p.sections[tsec].sh_size;
                if !self.in_extracted_code(tsec, toff, end_ok) {
                    continue;
                }
                self.decided.insert((sec, k));
                if self.keep_entry(sec, k, layout, &relocs, spec.restriction, tsec, toff)? {
                    added = true;
                }
            }
        }
        Ok(added)
    }

    /// Keep entry `k` of `sec` (unless a restriction drops it). Returns
    /// whether it was kept.
    #[allow(clippy::too_many_arguments)]
    fn keep_entry(
        &mut self,
        sec: usize,
        k: u64,
        layout: &'static Layout,
        relocs: &[usize],
        restriction: Restriction,
        code_sec: usize,
        code_off: u64,
    ) -> Result<bool> {
        let p = self.p;
        let s = &p.sections[sec];
        let start = k * layout.size;
        let end = (start + layout.size).min(s.sh_size);
        let here = p.locate(code_sec, code_off);
        let entry_relocs: Vec<usize> = relocs
            .iter()
            .copied()
            .filter(|&i| p.relocs[i].offset >= start && p.relocs[i].offset < end)
            .collect();
        let legacy = self.opts.kernel.filter(|k| k.is_legacy());
        if let Some(k) = legacy
            && restriction == Restriction::StaticCall
        {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "{here} is a static call site, but static calls first appeared in Linux 5.10: this object cannot be from a {k} kernel"
                ),
            )
            .in_file(&p.path)
            .hint("check --kernel-version / --ref-module"));
        }
        let e = Entry {
            sec,
            k,
            start,
            layout,
            here,
            relocs: entry_relocs,
            code_sec,
            code_off,
        };
        // Keys: module-owned keys cannot work (late relocations); before
        // 5.8 no key reached through a relocation can.
        if !self.entry_key(&e, restriction, legacy.is_some())? {
            return Ok(false);
        }
        let here = &e.here;
        self.explain.push(format!(
            "special {} entry {k} [for {here}]",
            s.display_name()
        ));
        self.add_range(sec, start, end, format!("{} entry {k}", s.display_name()));
        // What the entry needs besides its own bytes.
        self.entry_needs(&e)?;
        // ORC data travels with its IP entry.
        if s.name == b".orc_unwind_ip" {
            let Some(orc) = p.section_by_name(b".orc_unwind") else {
                return Err(
                    Error::new(ErrorKind::Malformed, ".orc_unwind_ip without .orc_unwind")
                        .in_file(&p.path),
                );
            };
            let n_ip = s.sh_size / 4;
            let n = p.sections[orc].sh_size / 6;
            if n != n_ip || !p.sections[orc].sh_size.is_multiple_of(6) {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        ".orc_unwind has {} bytes for {n_ip} IP entries (6 bytes each expected)",
                        p.sections[orc].sh_size
                    ),
                )
                .in_file(&p.path));
            }
            self.add_range(orc, k * 6, k * 6 + 6, format!("ORC entry {k}"));
        }
        Ok(true)
    }

    /// The key of a static branch or static call entry: refused, or the
    /// entry dropped (Ok(false)) when the kernel could not use it.
    fn entry_key(&mut self, e: &Entry, restriction: Restriction, legacy: bool) -> Result<bool> {
        let p = self.p;
        let s = &p.sections[e.sec];
        let (k, start, layout, here, entry_relocs) = (e.k, e.start, e.layout, &e.here, &e.relocs);
        if restriction != Restriction::None
            && let Some(f) = layout.fields.iter().find(|f| f.role == Role::Key)
            && let Some(&kid) = entry_relocs
                .iter()
                .find(|&&i| p.relocs[i].offset == start + f.offset)
        {
            let dest = self.classify(kid)?;
            let problem: Option<(String, Vec<u8>)> = match &dest {
                Dest::Klp(owner, name, ..) if owner != "vmlinux" => Some((
                    format!(
                        "it belongs to module {owner}, whose klp relocations are applied after the patch module's {} is initialised",
                        s.display_name()
                    ),
                    name.clone(),
                )),
                Dest::Klp(_, name, ..) | Dest::Undef(name, ..) if legacy => Some((
                    format!(
                        "kernels before 5.8 initialise the patch module's {} before its klp relocations are written; klpwrite allows only keys defined in the patch itself there (kpatch refuses all)",
                        s.display_name()
                    ),
                    name.clone(),
                )),
                _ => None,
            };
            if let Some((why, name)) = problem {
                let name = &name;
                let owner = why.clone();
                let (tp_prefix, what, advice) = match restriction {
                    Restriction::StaticCall => (
                        &b"__SCK__tp_func_"[..],
                        "static call",
                        "call the function directly, or use static_call_query()",
                    ),
                    _ => (
                        &b"__tracepoint_"[..],
                        "static branch",
                        "use static_key_enabled() instead",
                    ),
                };
                if name.starts_with(tp_prefix) || name.starts_with(b"__UNIQUE_ID_ddebug") {
                    self.warnings.push(format!(
                        "{here}: disabling {what} on {}: {owner}; the site keeps its default",
                        show(name)
                    ));
                    self.explain.push(format!(
                        "special {} entry {k}: dropped (key {} cannot be used)",
                        s.display_name(),
                        show(name)
                    ));
                    return Ok(false);
                }
                return Err(Error::new(
                    ErrorKind::Klp,
                    format!("unsupported {what} key {} at {here}: {owner}", show(name)),
                )
                .in_file(&p.path)
                .hint(advice));
            }
            self.processed_relocs.insert(kid);
            self.check_special_klp(kid, &dest)?;
            self.pending.push(super::Pending { reloc: kid, dest });
        }
        Ok(true)
    }

    /// What entry `e` needs besides its own bytes: an alternative's
    /// replacement, an exception entry's `.fixup` block.
    fn entry_needs(&mut self, e: &Entry) -> Result<()> {
        let p = self.p;
        let (sec, start, layout, here, entry_relocs) =
            (e.sec, e.start, e.layout, &e.here, &e.relocs);
        let (code_sec, code_off) = (e.code_sec, e.code_off);
        for f in layout.fields {
            let Some(&fid) = entry_relocs
                .iter()
                .find(|&&i| p.relocs[i].offset == start + f.offset)
            else {
                continue;
            };
            let Some((tsec, toff)) = self.reloc_target(fid) else {
                continue;
            };
            let tname = p.sections[tsec].name.clone();
            match f.role {
                Role::Replacement => {
                    let data = p.data(sec);
                    let len = layout
                        .repl_len_at
                        .and_then(|at| data.get((start + at) as usize))
                        .copied()
                        .unwrap_or(0) as u64;
                    let instrlen = layout
                        .repl_len_at
                        .and_then(|at| data.get((start + at - 1) as usize))
                        .copied()
                        .unwrap_or(0) as u64;
                    self.kept_alts.push((code_sec, code_off, instrlen));
                    let tsize = p.sections[tsec].sh_size;
                    if toff + len > tsize {
                        return Err(Error::new(
                            ErrorKind::Malformed,
                            format!(
                                "alternative for {here}: replacement {}+{toff:#x} length {len} runs past the section",
                                p.sections[tsec].display_name()
                            ),
                        )
                        .in_file(&p.path));
                    }
                    self.add_range(tsec, toff, toff + len, format!("replacement for {here}"));
                }
                Role::Fixup if tname == b".fixup" => {
                    let end = self.fixup_end(tsec, toff);
                    self.add_range(tsec, toff, end, format!("fixup for {here}"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// End of the `.fixup` block starting at `off`: the next block any
    /// exception-table entry starts, or the section end.
    fn fixup_end(&mut self, fixup: usize, off: u64) -> u64 {
        let p = self.p;
        let mut starts: Vec<u64> = Vec::new();
        if let Some(ex) = p.section_by_name(b"__ex_table") {
            for id in self.relocs_sorted(ex).to_vec() {
                if let Some((ts, to)) = self.reloc_target(id)
                    && ts == fixup
                {
                    starts.push(to);
                }
            }
        }
        starts
            .into_iter()
            .filter(|&s| s > off)
            .min()
            .unwrap_or(p.sections[fixup].sh_size)
    }

    /// A reference into an auxiliary section. `.altinstr_aux` holds the
    /// slow path of `static_cpu_has()`, reached through a `jmp` that the
    /// alternatives always rewrite: the reference is dropped (and checked
    /// against the kept alternatives later). Replacement and fixup bytes
    /// are extracted by the entries that need them.
    pub(super) fn aux_target(
        &mut self,
        id: usize,
        sec: usize,
        off: u64,
        adj: i64,
        here: &str,
    ) -> Result<Option<Dest>> {
        let p = self.p;
        let name = &p.sections[sec].name;
        if name == b".altinstr_aux" {
            let r = p.relocs[id];
            self.aux_drops.push((r.section, r.offset));
            self.explain.push(format!(
                "reloc {here} → dropped [jump to .altinstr_aux, always rewritten by alternatives]"
            ));
            return Ok(Some(Dest::Drop));
        }
        if name == b".altinstr_replacement" || name == b".fixup" {
            let covered = self.ranges.get(&sec).is_some_and(|v| {
                v.iter().any(|&(s, e)| {
                    (off >= s && off < e) || (off == s && s == e) || (off == e && e > s)
                })
            });
            if !covered {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "reference to {}+{off:#x} that no kept special-section entry explains",
                        show(name)
                    ),
                )
                .in_file(&p.path)
                .at(here.to_string()));
            }
            return Ok(Some(Dest::Anon(sec, off, adj)));
        }
        Ok(None)
    }

    /// Kernels 5.8+: module-specific klp relocations are applied after the
    /// patch module's special sections were processed, so none may land in
    /// them.
    pub(super) fn check_special_klp(&self, id: usize, dest: &Dest) -> Result<()> {
        let p = self.p;
        let r = p.relocs[id];
        if let Dest::Klp(owner, name, ..) = dest
            && owner != "vmlinux"
            && self.is_special_or_aux(r.section)
        {
            return Err(Error::new(
                ErrorKind::Klp,
                format!(
                    "{} needs a klp relocation to {} (module {owner}) inside {}, but module klp relocations are applied after the patch module's special sections are processed",
                    p.locate(r.section, r.offset),
                    show(name),
                    p.sections[r.section].display_name()
                ),
            )
            .in_file(&p.path)
            .hint("avoid module symbols in alternatives, exception fixups and static keys of patched code"));
        }
        Ok(())
    }

    /// Every reference from copied code into a special section's entry
    /// must land in an entry that is kept (so it points at the output's
    /// copy): an entry that describes code the patch does not copy cannot
    /// be referred to.
    pub(super) fn check_entry_refs(&self) -> Result<()> {
        let p = self.p;
        for (sec, off, here) in &self.entry_refs {
            let kept = self
                .ranges
                .get(sec)
                .is_some_and(|v| v.iter().any(|&(s, e)| *off >= s && *off < e));
            if !kept {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{here} refers to {}+{off:#x}, an entry the patch does not copy (it describes code outside the extracted functions)",
                        p.sections[*sec].display_name()
                    ),
                )
                .in_file(&p.path));
            }
        }
        Ok(())
    }

    /// Every dropped `.altinstr_aux` jump must be covered by a kept
    /// alternative, which rewrites it at load.
    pub(super) fn check_aux_drops(&self) -> Result<()> {
        for &(sec, off) in &self.aux_drops {
            let covered = self
                .kept_alts
                .iter()
                .any(|&(s, o, len)| s == sec && off >= o && off < o + len.max(1));
            if !covered {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "jump into .altinstr_aux that no kept alternative rewrites".to_string(),
                )
                .in_file(&self.p.path)
                .at(self.p.locate(sec, off)));
            }
        }
        Ok(())
    }

    /// An allocated section klpwrite does not know that points into
    /// extracted code is refused: silently dropping it could lose a
    /// mitigation or a fixup.
    pub(super) fn check_unknown_sections(&mut self) -> Result<()> {
        let p = self.p;
        for sec in 0..p.sections.len() {
            let s = &p.sections[sec];
            if !s.is_alloc()
                || s.is_rela()
                || self.is_special_or_aux(sec)
                || self.ranges.contains_key(&sec)
            {
                continue;
            }
            if x86::ORDINARY_PREFIXES
                .iter()
                .any(|pre| s.name.starts_with(pre.as_bytes()))
            {
                continue;
            }
            if let Some(why) = x86::kernel_table_for(&s.name) {
                // The kernel's own table (arch/x86_64.rs KERNEL_TABLES):
                // its entries for changed functions keep pointing at the
                // originals; an entry for new code cannot take effect.
                for id in self.relocs_sorted(sec).to_vec() {
                    if let Some((ts, to)) = self.reloc_target(id)
                        && self.in_extracted_code(ts, to, false)
                        && !self.changed.keys().any(|&f| {
                            let fs = &p.symbols[f];
                            fs.section == Some(ts)
                                && to >= fs.value
                                && to < fs.value + fs.size.max(1)
                        })
                    {
                        self.warnings.push(format!(
                            "{}+{:#x} is an entry for new code at {}, but the patch cannot add entries to {}: {why}",
                            s.display_name(),
                            p.relocs[id].offset,
                            p.locate(ts, to),
                            s.display_name()
                        ));
                    }
                }
                self.explain.push(format!(
                    "section {} left to the kernel: {why}",
                    s.display_name()
                ));
                continue;
            }
            for id in self.relocs_sorted(sec).to_vec() {
                if let Some((ts, to)) = self.reloc_target(id)
                    && self.in_extracted_code(ts, to, false)
                    && let Some(sym) = runtime_const_of(&s.name)
                {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{} uses the runtime constant {sym} (entry in {}): the kernel writes its value into vmlinux's code at boot, and the module loader never does, so the copy would keep the placeholder 0x0123456789abcdef",
                            p.locate(ts, to),
                            s.display_name(),
                        ),
                    )
                    .in_file(&p.path)
                    .at(format!("{}+{:#x}", s.display_name(), p.relocs[id].offset))
                    .hint(format!(
                        "v6.12 arch/x86/include/asm/runtime-const.h: runtime_const_ptr()/runtime_const_shift_right_32() \
                         leave a placeholder immediate and a runtime_ptr_/runtime_shift_ entry, patched by \
                         runtime_const_init() (fs/dcache.c, arch/x86/kernel/cpu/common.c); the header refuses MODULE \
                         builds and modules read the variable instead (uaccess_64.h: `#define runtime_const_ptr(sym) (sym)`). \
                         Rewrite the patch so the changed function does not use {sym} through a runtime constant \
                         (e.g. access_ok()/user_access_begin() on x86-64 use USER_PTR_MAX)"
                    )));
                }
                if let Some((ts, to)) = self.reloc_target(id)
                    && self.in_extracted_code(ts, to, false)
                {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "unknown special section {} refers to extracted code at {}",
                            s.display_name(),
                            p.locate(ts, to)
                        ),
                    )
                    .in_file(&p.path)
                    .at(format!("{}+{:#x}", s.display_name(), p.relocs[id].offset))
                    .hint("klpwrite does not know this section's entry format; please report it"));
                }
            }
        }
        let _ = names::is_init_section;
        Ok(())
    }
}

/// The symbol of a runtime-constant section (`runtime_ptr_<sym>`,
/// `runtime_shift_<sym>`, v6.12 arch/x86/include/asm/runtime-const.h), or
/// None.
pub(crate) fn runtime_const_of(name: &[u8]) -> Option<String> {
    ["runtime_ptr_", "runtime_shift_"].iter().find_map(|pre| {
        name.strip_prefix(pre.as_bytes())
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
    })
}

/// One special-section entry being kept, for the steps of
/// [`Ex::keep_entry`].
struct Entry {
    sec: usize,
    k: u64,
    start: u64,
    layout: &'static Layout,
    /// The code location the entry is for, for messages.
    here: String,
    /// Relocations inside the entry.
    relocs: Vec<usize>,
    code_sec: usize,
    code_off: u64,
}
