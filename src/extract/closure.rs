//! Pass 2, closure: classify every relocation of an included range into
//! a local copy, a normal relocation to an export, or a klp relocation.

use super::*;

impl<'a> Ex<'a> {
    // ------------------------------------------------------------------
    // 2. closure
    // ------------------------------------------------------------------

    pub(super) fn code_map(&mut self, sec: usize) -> &'a CodeMap {
        self.p.code_map(sec)
    }

    pub(super) fn relocs_sorted(&mut self, sec: usize) -> &'a [usize] {
        self.p.sorted_relocs(sec)
    }

    pub(super) fn closure(&mut self) -> Result<()> {
        while let Some((sec, start, end, _why)) = self.queue.pop_front() {
            let ids: Vec<usize> = self.p.relocs_between(sec, start, end).to_vec();
            for id in ids {
                if !self.processed_relocs.insert(id) {
                    continue;
                }
                let r = self.p.relocs[id];
                let width = x86::reloc_width(r.r_type).unwrap_or(0) as u64;
                if r.offset + width > end {
                    return Err(err_at(
                        self.p,
                        sec,
                        r.offset,
                        ErrorKind::Malformed,
                        format!(
                            "{} field runs past the end of the copied range ({}+{end:#x}): the symbol's size cuts an instruction",
                            x86::reloc_name(r.r_type),
                            self.p.sections[sec].display_name()
                        ),
                    ));
                }
                let dest = self.classify(id)?;
                self.check_special_klp(id, &dest)?;
                self.pending.push(Pending { reloc: id, dest });
            }
        }
        Ok(())
    }

    /// Adjustment of a PC-relative relocation inside code.
    pub(super) fn adjustment(&mut self, id: usize) -> i64 {
        let p = self.p;
        let r = p.relocs[id];
        if !x86::reloc_is_pcrel(r.r_type) || !p.sections[r.section].is_exec() {
            return 0;
        }
        let insn = self.code_map(r.section).insn_at(r.offset);
        x86::addend_adjustment(r.r_type, r.offset, insn)
    }

    pub(super) fn is_branch(&mut self, id: usize) -> bool {
        let p = self.p;
        let r = p.relocs[id];
        if !p.sections[r.section].is_exec() {
            return false;
        }
        self.code_map(r.section)
            .insn_at(r.offset)
            .is_some_and(|i| i.is_call || i.is_jump)
    }

    pub(super) fn classify(&mut self, id: usize) -> Result<Dest> {
        let p = self.p;
        let r = p.relocs[id];
        if r.r_type == x86::R_X86_64_NONE {
            return Ok(Dest::Drop);
        }
        let here = p.locate(r.section, r.offset);
        if !x86::reloc_allowed_in_module(r.r_type) {
            return Err(err_at(
                p,
                r.section,
                r.offset,
                ErrorKind::Unsupported,
                format!(
                    "relocation {} cannot be applied by the kernel's module loader (it accepts NONE, 64, PC32, PLT32, 32, 32S and PC64)",
                    x86::reloc_name(r.r_type)
                ),
            )
            .hint("build with the kernel's flags (-mcmodel=kernel, no -fPIC)"));
        }
        let s = &p.symbols[r.symbol];
        if r.symbol == 0 {
            return Err(err_at(
                p,
                r.section,
                r.offset,
                ErrorKind::Malformed,
                "relocation against symbol 0".into(),
            ));
        }
        let adj = self.adjustment(id);
        let anon_ref = s.is_section()
            || (s.kind() == STT_NOTYPE
                && s.is_local()
                && s.section.is_some()
                && (names::is_local_label(&s.name) || s.name.is_empty()));
        if anon_ref {
            let sec = s.section.ok_or_else(|| {
                err_at(
                    p,
                    r.section,
                    r.offset,
                    ErrorKind::Malformed,
                    "section symbol without a section".into(),
                )
            })?;
            let off = crate::elf::offset_of(s.value, r.addend, adj).unwrap_or(-1);
            if off < 0 || off as u64 > p.sections[sec].sh_size {
                return Err(err_at(
                    p,
                    r.section,
                    r.offset,
                    ErrorKind::Unsupported,
                    format!(
                        "{} refers to {}{:+#x}, outside the section",
                        x86::reloc_name(r.r_type),
                        p.sections[sec].display_name(),
                        off
                    ),
                ));
            }
            let off = off as u64;
            if is_char_strings(&p.sections[sec]) {
                return Ok(Dest::Str(sec, off, adj));
            }
            // The object this reference belongs to, its end and zero-size
            // objects included (Elf::resolve_ref has the rules): every
            // reference into one object, `a+0` to `a+sizeof(a)`, must reach
            // the same destination, or a loop `for (p = a; p < a + N; p++)`
            // compares a pointer into the kernel's `a` with one into a copy.
            if let Some(rt) = p.resolve_ref(sec, off) {
                let t = rt.sym;
                match rt.kind {
                    RefKind::End => self.explain.push(format!(
                        "  {here}: {}{off:+#x} is the end of {} (one past its last byte)",
                        p.sections[sec].display_name(),
                        p.symbols[t].display_name()
                    )),
                    RefKind::ZeroSize => self.explain.push(format!(
                        "  {here}: {}{off:+#x} is the zero-size object {}",
                        p.sections[sec].display_name(),
                        p.symbols[t].display_name()
                    )),
                    RefKind::Inside => {}
                }
                if let Some(e) = rt.also_end_of {
                    self.explain.push(format!(
                        "  {here}: {}{off:+#x} is both the start of {} and the end of {}; bound to {} (the object that contains it)",
                        p.sections[sec].display_name(),
                        p.symbols[t].display_name(),
                        p.symbols[e].display_name(),
                        p.symbols[t].display_name()
                    ));
                }
                let dest = self.classify_named(id, t, rt.offset as i64 - adj, &here)?;
                if let Some(e) = rt.also_end_of {
                    self.check_tie(id, sec, off, t, e, &dest, &here)?;
                }
                return Ok(dest);
            }
            return self.classify_anon(id, sec, off, adj, &here);
        }
        if s.is_undef() {
            return self.external(id, &s.name.clone(), s.kind(), r.addend, &here);
        }
        if s.section.is_none() {
            return Err(err_at(
                p,
                r.section,
                r.offset,
                ErrorKind::Unsupported,
                format!(
                    "relocation against {} which has no section (st_shndx {:#x})",
                    s.display_name(),
                    s.st_shndx
                ),
            ));
        }
        self.classify_named(id, r.symbol, r.addend, &here)
    }

    /// An offset in a section that no named symbol covers.
    pub(super) fn classify_anon(
        &mut self,
        id: usize,
        sec: usize,
        off: u64,
        adj: i64,
        here: &str,
    ) -> Result<Dest> {
        let p = self.p;
        let ps = &p.sections[sec];
        if !ps.is_alloc() {
            return Err(err_at(
                p,
                p.relocs[id].section,
                p.relocs[id].offset,
                ErrorKind::Unsupported,
                format!("reference to non-allocated section {}", ps.display_name()),
            ));
        }
        if names::is_init_section(&ps.name) {
            return Err(self.init_ref_error(id, &ps.display_name()));
        }
        if let Some(d) = self.aux_target(id, sec, off, adj, here)? {
            return Ok(d);
        }
        if let Some(spec) = x86::special_for(&ps.name)
            && matches!(spec.treatment, x86::Treatment::Entries(_))
        {
            // Code that refers to its own special-section entry (7.x WARN
            // sites: `lea 2f(%rip)` of __WARN_bug_entry in
            // arch/x86/include/asm/bug.h passes the `__bug_table` entry to
            // __WARN_trap): it points at the output's copy of that entry,
            // which the special pass keeps because the entry describes the
            // same code (checked by check_entry_refs).
            self.entry_refs.push((sec, off, here.to_string()));
            self.explain.push(format!(
                "reloc {here} → {}+{off:#x} [its own entry, copied with the code]",
                ps.display_name()
            ));
            return Ok(Dest::Anon(sec, off, adj));
        }
        let writable = ps.sh_flags & SHF_WRITE != 0;
        if writable
            && !names::is_anonymous_data_section(&ps.name)
            && !names::is_once_section(&ps.name)
        {
            return Err(err_at(
                p,
                p.relocs[id].section,
                p.relocs[id].offset,
                ErrorKind::Refused,
                format!(
                    "reference to {}+{:#x}, which no symbol covers: klpwrite cannot tell whether it is existing kernel state",
                    ps.display_name(),
                    off
                ),
            )
            .hint("make the object a named variable, or rebuild with -fdata-sections"));
        }
        // Code is copied function by function: an offset in a section of
        // functions that none of them covers (an end marker of a table,
        // code the compiler did not name) never copies the whole section,
        // which would bring every function of it along (with their ftrace
        // and special-section entries). Code sections without functions
        // (.text..refcount stubs of 4.x kernels) are still copied whole;
        // the auxiliary ones (.altinstr_replacement, .fixup, .altinstr_aux)
        // were handled by aux_target above.
        if ps.is_exec()
            && p.section_symbols(sec)
                .iter()
                .any(|&i| p.symbols[i].is_func())
        {
            return Err(err_at(
                p,
                p.relocs[id].section,
                p.relocs[id].offset,
                ErrorKind::Refused,
                format!(
                    "reference to {}+{:#x}, code that no function symbol covers: klpwrite copies functions, never a whole code section",
                    ps.display_name(),
                    off
                ),
            )
            .hint("build with -ffunction-sections so every function has its own section and symbol"));
        }
        // Anonymous read-only data, UBSAN data: copy the whole section.
        if !self
            .ranges
            .get(&sec)
            .is_some_and(|v| v.iter().any(|&(s, e)| s == 0 && e == ps.sh_size))
        {
            self.explain.push(format!(
                "include {} [anonymous, referenced at {here}]",
                ps.display_name()
            ));
            self.add_range(
                sec,
                0,
                ps.sh_size,
                format!("anonymous {}", ps.display_name()),
            );
        }
        Ok(Dest::Anon(sec, off, adj))
    }

    /// The destination of a reference to `t`, which the patch copies: the
    /// copy's own symbol, `t + addend` (`addend` relative to `t`'s start,
    /// as `classify` computed it from `Elf::resolve_ref`: an end or a
    /// zero-size reference keeps its offset), however the input wrote the
    /// reference (by name, or through the section symbol as GAS writes any
    /// reference to a local symbol) and whether or not this reference is
    /// the one that included `t`. One object, one destination
    /// (`verify::INV_SAME_DEST`).
    ///
    /// Until this rule, the reference that first reached `t` through its
    /// section symbol got the section-relative form and every later one
    /// (`t` already included) the copy's symbol: the same bytes, but two
    /// spellings of one object, and for a zero-size object two that only
    /// `Elf::resolve_ref` can tell apart (update sweep 6.1.190 → 6.1.192:
    /// `__key.N` shared by two functions that inline init_completion() in
    /// kernel/workqueue.c, or two init_waitqueue_head() expansions in
    /// drivers/dma/idxd/init.c; fixture r11-shared-zero-size-key).
    fn copy_dest(&self, t: usize, addend: i64) -> Dest {
        debug_assert!(self.included_set.contains(&t));
        Dest::Clone(t, addend)
    }

    pub(super) fn init_ref_error(&self, id: usize, what: &str) -> Error {
        let p = self.p;
        let r = p.relocs[id];
        err_at(
            p,
            r.section,
            r.offset,
            ErrorKind::Refused,
            format!("reference to init code or data ({what}), which is freed after boot"),
        )
        .hint("patched code may not call __init functions or use __initdata")
    }

    /// A defined, named target `t` at `off` (relative to `t`'s start, as
    /// the relocation's own addend would express it).
    pub(super) fn classify_named(
        &mut self,
        id: usize,
        t: usize,
        addend: i64,
        here: &str,
    ) -> Result<Dest> {
        let p = self.p;
        // Another name of a function the patch copies (an alias, the same
        // section and offset): the copy, under the name it has there.
        let named = t;
        let t = match self.included_alias(t) {
            Some(a) if a != t => {
                self.explain.push(format!(
                    "  {here}: {} is an alias of {}, which the patch copies",
                    p.symbols[t].display_name(),
                    p.symbols[a].display_name()
                ));
                a
            }
            _ => t,
        };
        let ts = &p.symbols[t];
        let sec = ts.section.expect("named targets are defined");
        let psec = &p.sections[sec];
        if is_char_strings(psec) {
            let adj = self.adjustment(id);
            let off = crate::elf::uoffset_of(ts.value, addend, adj).unwrap_or(0);
            return Ok(Dest::Str(sec, off, adj));
        }
        let self_ref_ok = self.included_set.contains(&t);
        if self_ref_ok {
            // Function pointer to a changed function: the original or the
            // patch's copy, decided per site (fnptr.rs: IBT sealing, kCFI,
            // pointer identity).
            if let Some((old, pos)) = self.changed.get(&t).cloned() {
                let adj = self.adjustment(id);
                if crate::elf::offset_of(0, addend, adj) == Some(0)
                    && !self.is_branch(id)
                    && !self.is_special_or_aux(p.relocs[id].section)
                {
                    if named == t {
                        return self.pointer_to_changed(id, t, old, pos, addend, here);
                    }
                    // The address of an alias: the original under the
                    // name the code uses (the same address), or the copy.
                    let aold = self.twin_name(named)?.unwrap_or(old);
                    let apos = self.sympos_for(named, &aold, p.symbols[named].is_local())?;
                    return Ok(
                        match self.pointer_to_changed(id, named, aold, apos, addend, here)? {
                            Dest::Clone(_, a) => Dest::Clone(t, a),
                            d => d,
                        },
                    );
                }
            }
            if !ts.is_func() {
                // The offset into the object (the addend without the
                // PC-relative adjustment), for the explain line.
                let adj = self.adjustment(id);
                let off = crate::elf::offset_of(0, addend, adj).unwrap_or(addend);
                self.explain.push(format!(
                    "reloc {here} → {}{} [the patch's copy, already included]",
                    ts.display_name(),
                    if off == 0 {
                        String::new()
                    } else {
                        format!("{off:+#x}")
                    }
                ));
            }
            return Ok(self.copy_dest(t, addend));
        }
        if names::is_init_section(&psec.name) {
            return Err(self.init_ref_error(id, &ts.display_name()));
        }
        // Never correlated: always a fresh copy.
        //
        // Lockdep keys among them: `static struct lock_class_key __key` of
        // mutex_init(), init_waitqueue_head(), init_swait_queue_head() (and
        // so init_completion()), spin_lock_init() with CONFIG_DEBUG_SPINLOCK, ...
        // (include/linux/mutex.h, wait.h, swait.h, spinlock.h). Copied, not
        // bound to the kernel's `__key.N`:
        // - without CONFIG_LOCKDEP (Debian's 6.1) the struct is empty
        //   (include/linux/lockdep_types.h): 0 bytes that nothing reads, no
        //   state to share, while a klp symbol would have to pick one of
        //   hundreds of same-named `__key.N` by GCC's unit-wide counter;
        // - with CONFIG_LOCKDEP the key's address is the lock class of the
        //   locks the patched code initialises (lockdep_init_map_type() →
        //   register_lock_class(), kernel/locking/lockdep.c); a copy in the
        //   patch module is a valid static key (static_obj() accepts
        //   is_module_address()), so those locks get a class of their own:
        //   lockdep's classification changes, the locking does not.
        // A zero-size key is still one object: `Elf::resolve_ref` maps
        // `.bss.__key.N+0` to it, and every reference names the one copy
        // (copy_dest; fixtures r8-zero-size-copied-static,
        // r11-shared-zero-size-key; a1-end-of-object for a zero-size *file*
        // static, `table_key`, which is correlated and stays the kernel's).
        if never_correlated(p, t) {
            self.explain.push(format!(
                "include {} [uncorrelated static, referenced at {here}]",
                ts.display_name()
            ));
            self.include(t, Why::Referenced(here.to_string()));
            return Ok(self.copy_dest(t, addend));
        }
        // Does the target kernel have it?
        match self.twin_name(t)? {
            None => {
                let what = if ts.is_func() {
                    "new function"
                } else {
                    "new data"
                };
                self.explain.push(format!(
                    "include {} [{what}, referenced at {here}]",
                    ts.display_name()
                ));
                if ts.is_func() {
                    self.new_syms.insert(t);
                }
                self.include(t, Why::Referenced(here.to_string()));
                Ok(self.copy_dest(t, addend))
            }
            Some(old) => {
                // An address taken of a function left in the target: under
                // IBT it must not be sealed (fnptr.rs).
                if ts.is_func() && self.takes_function_address(id, addend) {
                    let exported = !ts.is_local() && self.export_of(&old).is_some();
                    self.pointer_to_kept_function(id, Some(t), &old, exported, here)?;
                }
                // Existing in the target: normal if exported by vmlinux and
                // global, else klp.
                if !ts.is_local()
                    && let Some(e) = self.export_of(&old)
                    && e == "vmlinux"
                {
                    self.explain.push(format!(
                        "reloc {here} → normal {} [exported by vmlinux]",
                        show(&old)
                    ));
                    return Ok(Dest::Undef(old, ts.kind(), addend));
                }
                let pos = self.sympos_for(t, &old, ts.is_local())?;
                let name = self.klp_target_name(&old, self.opts.objname.clone())?;
                self.explain.push(format!(
                    "reloc {here} → klp {name},{pos} [{} {} of {}]",
                    if ts.is_local() {
                        "local"
                    } else {
                        "unexported global"
                    },
                    if ts.is_func() { "function" } else { "object" },
                    self.opts.objname
                ));
                Ok(Dest::Klp(
                    self.opts.objname.clone(),
                    old,
                    pos,
                    ts.kind(),
                    addend,
                ))
            }
        }
    }

    /// The tie rule's check (issue class A1, `Elf::resolve_ref`): `sec+off`
    /// is both the end of `e` and the start of `t`, and the reference was
    /// bound to `t` (`dest`). When the two readings reach the same address
    /// in the patched kernel (both objects the kernel's and laid out back to
    /// back in the target, or both copied together) the choice does not
    /// matter. Otherwise the relocation alone cannot tell `&e[N]` (a loop
    /// bound, never dereferenced) from `&t` and a guess is a wrong patch
    /// either way (a loop that runs from the kernel's `e` into the patch's
    /// copy, or a pointer into the wrong object), so this refuses unless
    /// the instruction itself proves `t`: a call or jump, or an exact load
    /// or store (no base, no index register) of `t`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_tie(
        &mut self,
        id: usize,
        sec: usize,
        off: u64,
        t: usize,
        e: usize,
        dest: &Dest,
        here: &str,
    ) -> Result<()> {
        let p = self.p;
        let t_kernel = matches!(dest, Dest::Klp(..) | Dest::Undef(..));
        let e_kernel = self.stays_in_kernel(e)?;
        let tn = p.symbols[t].display_name();
        let en = p.symbols[e].display_name();
        let secn = p.sections[sec].display_name();
        // Where the end-of-`e` reading would go, and whether it is `t`'s
        // address there.
        let (same, e_where, t_where) = if t_kernel && e_kernel {
            // A probe, not a decision: its explain lines are dropped.
            let n = self.explain.len();
            let e_dest = self
                .classify_named(id, e, p.symbols[e].size as i64, here)
                .unwrap_or(Dest::Drop);
            self.explain.truncate(n);
            let ta = self.dest_address(dest);
            let ea = self.dest_address(&e_dest);
            let same = match (&ea, &ta) {
                (Some((es, ea)), Some((ts, ta))) => {
                    es == ts && ea.checked_add(p.symbols[e].size) == Some(*ta)
                }
                _ => false,
            };
            let say = |d: &Dest, a: Option<(Option<Vec<u8>>, u64)>| -> String {
                let n = match d {
                    Dest::Klp(o, n, pos, ..) => {
                        format!("the kernel's {} ({o}, sympos {pos})", show(n))
                    }
                    Dest::Undef(n, ..) => format!("the kernel's {} (export)", show(n)),
                    _ => "a copy".into(),
                };
                match a {
                    Some((_, a)) => format!("{n} at {a:#x}"),
                    None => format!("{n}, address unknown in the target symbols"),
                }
            };
            (same, say(&e_dest, ea), say(dest, ta))
        } else if !t_kernel && !e_kernel {
            // Both copied: ranges of one input section keep their
            // relative offsets in the output section (layout.rs).
            (true, String::new(), String::new())
        } else {
            let w = |k: bool, n: &str| {
                if k {
                    format!("the kernel's {n}")
                } else {
                    format!("the patch's copy of {n}")
                }
            };
            (false, w(e_kernel, &en), w(t_kernel, &tn))
        };
        if same {
            self.explain.push(format!(
                "  {here}: {secn}{off:+#x} is both the start of {tn} and the end of {en}; both readings reach the same address, bound to {tn}"
            ));
            return Ok(());
        }
        if self.is_branch(id) || self.loads_or_stores_exactly(id) {
            self.explain.push(format!(
                "  {here}: {secn}{off:+#x} is both the start of {tn} and the end of {en}, which reach different places; the instruction reads, writes or calls exactly this address, so it is {tn}"
            ));
            return Ok(());
        }
        if p.symbols[t].is_func() && self.is_instruction_field(id, sec, off) {
            self.explain.push(format!(
                "  {here}: {secn}{off:+#x} is both the start of {tn} and the end of {en}, which reach different places; the special-section field holds an instruction address, so it is {tn}"
            ));
            return Ok(());
        }
        let insn = self.insn_text(id);
        let r = p.relocs[id];
        Err(err_at(
            p,
            r.section,
            r.offset,
            ErrorKind::Refused,
            format!(
                "{secn}{off:+#x} is both the end of {en} and the start of {tn} (objects back to back in one section), and the two readings go to different places: as the end of {en} to {e_where}, as {tn} to {t_where}; {insn} does not show which one is meant (only an exact load, store or call of {tn}, without base or index register, does)"
            ),
        )
        .hint(format!(
            "if the code loops up to the end of {en}, loop with an index (i < ARRAY_SIZE({en})) so the compiler does not form its end address; if the patch adds {tn} or {en} to a shared section (__read_mostly, __section()), leave the new object out of it so the section keeps the target's layout"
        )))
    }

    /// Whether relocation `id`, which points at `sec+off`, fills a field of
    /// a special-section entry that holds the address of an instruction,
    /// which is never the end of an object: `Role::Code` (the site of an
    /// `__mcount_loc` record, a jump label, an alternative, an exception
    /// table entry, ...), and an ORC IP anywhere but the section's end
    /// (objtool's only end marker is the section terminator at `sh_size`,
    /// orc_create() in tools/objtool/orc_gen.c).
    fn is_instruction_field(&self, id: usize, sec: usize, off: u64) -> bool {
        let r = self.p.relocs[id];
        let Some(layout) = self.entry_sizes.get(&r.section) else {
            return false;
        };
        layout.fields.iter().any(|f| {
            f.offset == r.offset % layout.size
                && (f.role == x86::Role::Code
                    || (f.role == x86::Role::CodeOrEnd && off < self.p.sections[sec].sh_size))
        })
    }

    /// The target address of a kernel destination: (section name when the
    /// symbol source knows it, address).
    fn dest_address(&self, d: &Dest) -> Option<(Option<Vec<u8>>, u64)> {
        let (obj, name, pos) = match d {
            Dest::Klp(o, n, pos, ..) => (o.as_str(), n, *pos),
            Dest::Undef(n, ..) => ("vmlinux", n, 0),
            _ => return None,
        };
        let o = self.inp.target.object(obj)?;
        let c = o.named(name);
        let i = if pos == 0 {
            match c {
                [i] => *i,
                _ => *c.iter().find(|&&i| !o.syms[i].local)?,
            }
        } else {
            *c.get(pos as usize - 1)?
        };
        Some((o.syms[i].section.clone(), o.syms[i].addr))
    }

    /// The instruction at relocation `id`, for messages.
    pub(super) fn insn_text(&mut self, id: usize) -> String {
        use iced_x86::{Formatter, GasFormatter};
        let p = self.p;
        let r = p.relocs[id];
        if !p.sections[r.section].is_exec() {
            return format!("the data word at {}", p.locate(r.section, r.offset));
        }
        let Some((insn, _)) = self
            .code_map(r.section)
            .decode_at(p.data(r.section), r.offset)
        else {
            return "the instruction".into();
        };
        let mut text = String::new();
        GasFormatter::new().format(&insn, &mut text);
        format!(
            "the instruction `{text}` at {}",
            p.locate(r.section, insn.ip())
        )
    }

    /// Whether relocation `id` (with `addend` relative to its target
    /// function) takes that function's address the way objtool's IBT pass
    /// counts it: offset 0, not a call or jump, from ordinary code or data.
    pub(super) fn takes_function_address(&mut self, id: usize, addend: i64) -> bool {
        let sec = self.p.relocs[id].section;
        let adj = self.adjustment(id);
        crate::elf::offset_of(0, addend, adj) == Some(0)
            && !self.is_branch(id)
            && !self.is_special_or_aux(sec)
            && fnptr::counts_for_ibt(self.p, sec)
    }

    /// Whether relocation `id` is the displacement of a memory operand with
    /// no base (or RIP) and no index register: the instruction reads or
    /// writes exactly the address the relocation gives, so that address is
    /// inside an object, never one past an end. (With a base or index
    /// register GCC may well write `a+sizeof(a)(,%rax,4)` with a negative
    /// index: induction-variable-optimised loops.)
    pub(super) fn loads_or_stores_exactly(&mut self, id: usize) -> bool {
        let p = self.p;
        let r = p.relocs[id];
        if !p.sections[r.section].is_exec() {
            return false;
        }
        let map = self.code_map(r.section);
        fnptr::accesses_exactly(p, r.section, r.offset, map)
    }

    /// Whether a reference to named object `t` would stay in the target
    /// kernel (a klp or normal relocation) rather than reach a copy: the
    /// conditions of [`classify_named`](Self::classify_named), without
    /// including anything.
    pub(super) fn stays_in_kernel(&mut self, t: usize) -> Result<bool> {
        let p = self.p;
        let ts = &p.symbols[t];
        let Some(sec) = ts.section else {
            return Ok(true);
        };
        let psec = &p.sections[sec];
        if is_char_strings(psec) || self.included_set.contains(&t) {
            return Ok(false);
        }
        // Only used for a warning: an ambiguous twin counts as "stays".
        Ok(!never_correlated(p, t) && !matches!(self.twin_name(t), Ok(None)))
    }

    pub(super) fn klp_target_name(&self, name: &[u8], obj: String) -> Result<String> {
        Ok(format!(".klp.sym.{}.{}", obj, show(name)))
    }

    /// The module that exports `name`, from Module.symvers or the symbol
    /// source's `__ksymtab_` symbols.
    pub(super) fn export_of(&self, name: &[u8]) -> Option<String> {
        let key = std::str::from_utf8(name).ok()?;
        if let Some(e) = self.inp.exports.get(key) {
            return Some(e.module.clone());
        }
        if self.inp.have_symvers {
            return None;
        }
        if let Some(v) = self.inp.target.object("vmlinux")
            && v.ksymtab.contains(name)
        {
            return Some("vmlinux".into());
        }
        None
    }

    /// An undefined symbol of the patched object.
    pub(super) fn external(
        &mut self,
        id: usize,
        name: &[u8],
        kind: u8,
        addend: i64,
        here: &str,
    ) -> Result<Dest> {
        if let Some(d) = self.provided_by_patch(name, kind, addend, here) {
            return Ok(d);
        }
        if let Some(module) = self.export_of(name) {
            return self.exported(id, name, kind, addend, here, module);
        }
        self.unexported(id, name, kind, addend, here)
    }

    /// An undefined symbol `module` exports.
    fn exported(
        &mut self,
        id: usize,
        name: &[u8],
        kind: u8,
        addend: i64,
        here: &str,
        module: String,
    ) -> Result<Dest> {
        let p = self.p;
        let r = p.relocs[id];
        let objname = self.opts.objname.clone();
        if module == "vmlinux" {
            self.explain.push(format!(
                "reloc {here} → normal {} [exported by vmlinux]",
                show(name)
            ));
            return Ok(Dest::Undef(name.to_vec(), kind, addend));
        }
        if objname == "vmlinux" {
            return Err(err_at(
                p,
                r.section,
                r.offset,
                ErrorKind::Klp,
                format!(
                    "vmlinux code refers to {} exported by module {module}: vmlinux cannot depend on a module",
                    show(name)
                ),
            ));
        }
        // Module exports become klp relocations: the patch may load
        // before the exporting module (late module patching).
        self.explain.push(format!(
            "reloc {here} → klp .klp.sym.{module}.{},0 [exported by module {module}]",
            show(name)
        ));
        if module != objname {
            self.warnings.push(format!(
                "{here}: {} comes from module {module}; it must be loaded before {objname} is patched",
                show(name)
            ));
        }
        Ok(Dest::Klp(module, name.to_vec(), 0, kind, addend))
    }

    /// An undefined symbol nothing exports: an unexported global of the
    /// target.
    fn unexported(
        &mut self,
        id: usize,
        name: &[u8],
        kind: u8,
        addend: i64,
        here: &str,
    ) -> Result<Dest> {
        let p = self.p;
        let r = p.relocs[id];
        let objname = self.opts.objname.clone();
        // Not exported: an unexported global of the target (another unit of
        // the same module, or vmlinux). A hidden one is local in the final
        // link (clang LTO: every non-exported global of vmlinux.o).
        let tu = TuInfo {
            hidden: crate::target::is_link_hidden(&p.symbols[r.symbol]),
            ..TuInfo::default()
        };
        let mut tried: Vec<String> = Vec::new();
        let mut objs: Vec<&TargetObject> = Vec::new();
        if let Some(o) = self.inp.target.object(&objname) {
            objs.push(o);
        }
        if objname != "vmlinux"
            && let Some(v) = self.inp.target.object("vmlinux")
        {
            objs.push(v);
        }
        for o in objs {
            tried.push(format!("{} ({})", o.objname, o.source));
            match o.resolve(name, false, &tu, false) {
                Lookup::Found {
                    sympos, how, index, ..
                } => {
                    // Init code and data of the target are freed after boot
                    // (vmlinux: free_initmem() releases __init_begin ..
                    // __init_end; modules: do_free_init() releases the
                    // `.init*` layout, kernel/module/main.c), so a patch can
                    // neither call nor read them. How each symbol source
                    // marks them: src/target.rs (from_elf, parse_kallsyms).
                    let code = matches!(o.syms[index].letter, 't' | 'T' | 'w' | 'W');
                    if o.syms[index].init {
                        return Err(err_at(
                            p,
                            r.section,
                            r.offset,
                            ErrorKind::Refused,
                            format!(
                                "{} is {} of {} ({}): it is freed after {}, so the patched code cannot {} it",
                                show(name),
                                if code { "__init code" } else { "__init data" },
                                o.objname,
                                o.syms[index]
                                    .section
                                    .as_ref()
                                    .map_or_else(|| "in the init area".to_string(), |sec| format!("in {}", show(sec))),
                                if o.objname == "vmlinux" { "boot" } else { "the module's init" },
                                if code { "call" } else { "use" }
                            ),
                        )
                        .hint("do the work in a callback, or call a function that is not __init"));
                    }
                    if code && self.takes_function_address(id, addend) {
                        self.pointer_to_kept_function(id, None, name, false, here)?;
                    }
                    self.explain.push(format!(
                        "reloc {here} → klp .klp.sym.{}.{},{} [unexported global: {}]",
                        o.objname,
                        show(name),
                        sympos,
                        how
                    ));
                    return Ok(Dest::Klp(
                        o.objname.clone(),
                        name.to_vec(),
                        sympos,
                        kind,
                        addend,
                    ));
                }
                Lookup::Ambiguous(c, _) => {
                    return Err(err_at(
                        p,
                        r.section,
                        r.offset,
                        ErrorKind::Symbol,
                        format!(
                            "{} is ambiguous in {}: {}",
                            show(name),
                            o.objname,
                            c.join("; ")
                        ),
                    ));
                }
                Lookup::NotFound(_) => {
                    // A module's init symbols are not in its live symbol
                    // table (kept aside in `init_only`): a name found only
                    // there is the module's freed init code or data.
                    if let Some(i) = o.init_only.iter().find(|i| i.name == name && !i.local) {
                        return Err(err_at(
                            p,
                            r.section,
                            r.offset,
                            ErrorKind::Refused,
                            format!(
                                "{} is __init {} of module {} ({}): it is freed once the module's init returned, so the patched code cannot use it",
                                show(name),
                                if matches!(i.letter, 't' | 'T' | 'w' | 'W') { "code" } else { "data" },
                                o.objname,
                                i.section.as_ref().map_or_else(|| "init".to_string(), |s| format!("in {}", show(s)))
                            ),
                        )
                        .hint("do the work in a callback, or call a function that is not __init"));
                    }
                }
            }
        }
        Err(err_at(
            p,
            r.section,
            r.offset,
            ErrorKind::Symbol,
            format!(
                "undefined symbol {} is neither exported (Module.symvers) nor defined in the target symbols [{}]",
                show(name),
                tried.join(", ")
            ),
        )
        .hint(if self.inp.have_symvers {
            "pass --symbols for the object that defines it (vmlinux or a /proc/kallsyms dump)"
        } else {
            "pass --symvers Module.symvers of the target kernel"
        }))
    }
}

/// Objects that are never matched with the target, so a reference always
/// reaches a fresh copy: uncorrelated static locals, WARN_ONCE flags,
/// anonymous compiler data, local labels and untyped locals.
pub(crate) fn never_correlated(p: &Elf, t: usize) -> bool {
    let ts = &p.symbols[t];
    let Some(sec) = ts.section else { return false };
    let psec = &p.sections[sec];
    (ts.is_local() && names::is_uncorrelated_static_local(&ts.name))
        || names::is_once_section(&psec.name)
        || names::is_anonymous_data_section(&psec.name)
        || names::is_local_label(&ts.name)
        || (ts.kind() == STT_NOTYPE && ts.is_local())
}
