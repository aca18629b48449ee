//! Twins and sympos: which target symbol a patched symbol stands for, and
//! its position among same-named symbols.

use super::*;

impl<'a> Ex<'a> {
    // ------------------------------------------------------------------
    // twins, sympos
    // ------------------------------------------------------------------

    /// The name of `sym`'s counterpart in the target, or None if `sym` is
    /// new. With --orig, the orig twin correlate paired it with decides
    /// (its name is the target's); otherwise the target's symbols (exact
    /// name, then demangled name in the same unit).
    pub(super) fn twin_name(&mut self, sym: usize) -> Result<Option<Vec<u8>>> {
        if let Some(t) = self.twin_cache.get(&sym) {
            return Ok(t.clone());
        }
        let r = self.twin_name_uncached(sym)?;
        self.twin_cache.insert(sym, r.clone());
        Ok(r)
    }

    pub(super) fn twin_name_uncached(&mut self, sym: usize) -> Result<Option<Vec<u8>>> {
        let p = self.p;
        let s = &p.symbols[sym];
        if let Some(orig) = self.inp.orig {
            // The pairing correlate made is the only source of twins: a
            // renumbered static, a static with a same-named sibling in its
            // file or a global that became static are the kernel's symbols
            // under the original's name, exactly as diff paired them. The
            // livepatch core resolves a klp symbol by that name alone:
            // klp_resolve_symbols() (kernel/livepatch/core.c) splits
            // `.klp.sym.<obj>.<name>,<sympos>` and klp_find_callback()
            // compares `name` with each kallsyms name (strcmp, no binding),
            // so the original's name is what reaches the kernel's object.
            if let Some(why) = orig.twins.ambiguous_p.get(&sym) {
                // Unpaired, but not new: one of the kernel's same-named
                // statics is meant and nothing tells which (correlate's
                // level 3c and `mark_ambiguous`). A copy would give the
                // patch private state, a name match another function's.
                return Err(Error::new(ErrorKind::Refused, why.clone())
                    .in_file(&p.path)
                    .hint(format!(
                        "pin its pair with --pair ORIG=PATCHED (FILE:NAME, e.g. --pair {}:<orig name>={}:{})",
                        p.file_name_of(sym).map_or_else(|| "FILE".to_string(), show),
                        p.file_name_of(sym).map_or_else(|| "FILE".to_string(), show),
                        show(&s.name)
                    )));
            }
            let o = orig.twin_of(sym);
            self.twins_used.insert(sym, o);
            let Some(o) = o else { return Ok(None) };
            let oname = orig.elf.symbols[o].name.clone();
            let level = orig.twins.level.get(&o).copied();
            if oname != s.name || level.is_some_and(|l| l != crate::correlate::Level::Name) {
                self.explain.push(format!(
                    "  twin of {} is {} in the original [{}]",
                    s.display_name(),
                    show(&oname),
                    level.map_or("?", |l| l.word())
                ));
            }
            return Ok(Some(oname));
        }
        self.numbered_static_unique(sym)?;
        let t = self.target();
        let tu = TuInfo {
            locals_may_be_new: true,
            ..TuInfo::of(p, sym)
        };
        match t.resolve(&s.name, s.is_local(), &tu, false) {
            Lookup::Found { .. } => return Ok(Some(s.name.clone())),
            Lookup::Ambiguous(..) => return Ok(Some(s.name.clone())), // sympos decides later
            Lookup::NotFound(_) => {}
        }
        // Renumbered clones and static locals: same demangled name, same unit.
        let d = names::demangle(&s.name);
        if d == s.name {
            self.not_a_global_made_static(sym)?;
            return Ok(None);
        }
        let file = tu.file.as_deref();
        let mut cands: Vec<Vec<u8>> = t
            .syms
            .iter()
            .filter(|ts| ts.local == s.is_local() && names::demangle(&ts.name) == d)
            .filter(|ts| match (ts.file, file) {
                (Some(f), Some(file)) => {
                    t.files[f].name.rsplit(|&b| b == b'/').next()
                        == file.rsplit(|&b| b == b'/').next()
                }
                _ => true,
            })
            .map(|ts| ts.name.clone())
            .collect();
        cands.sort();
        cands.dedup();
        match cands.len() {
            0 => {
                self.not_a_global_made_static(sym)?;
                Ok(None)
            }
            1 => {
                self.explain.push(format!(
                    "  twin of {} in the target is {} (same demangled name)",
                    s.display_name(),
                    show(&cands[0])
                ));
                Ok(Some(cands.pop().expect("one")))
            }
            _ => Err(Error::new(
                ErrorKind::Symbol,
                format!(
                    "{} matches several target symbols by demangled name: {}",
                    s.display_name(),
                    cands.iter().map(|c| show(c)).collect::<Vec<_>>().join(", ")
                ),
            )
            .in_file(&p.path)
            .hint("pass --orig ORIG.o so klpwrite can pair symbols with the original build")),
        }
    }

    /// Without `--orig`: a function-scope static (`count.3`, Clang
    /// `f.count`, see `correlate::is_function_static`) may bind to the
    /// target by name only when its base name is unique among the patched
    /// unit's function-scope statics and among the target object's, so
    /// GCC's unit-wide `.N` counter (which a patch that adds, removes or
    /// moves one such static shifts for the others) cannot decide which
    /// kernel object the patch uses. Otherwise refused, naming both sets;
    /// `--orig` pairs them by use, `--sympos NAME=N` takes the exact name
    /// as the user's decision. The livepatch core binds by that name alone
    /// (klp_resolve_symbols() → klp_find_object_symbol() in
    /// kernel/livepatch/core.c compares kallsyms names with strcmp), so a
    /// wrong number silently shares another function's state.
    fn numbered_static_unique(&mut self, sym: usize) -> Result<()> {
        let p = self.p;
        if !crate::correlate::is_function_static(p, sym) {
            return Ok(());
        }
        let s = &p.symbols[sym];
        if p.sympos_keys(sym, &s.name)
            .iter()
            .any(|k| self.opts.sympos.contains_key(k))
        {
            return Ok(());
        }
        let base = names::demangle(&s.name);
        let ours: Vec<&[u8]> = p
            .symbols
            .iter()
            .filter(|o| {
                o.file == s.file
                    && crate::correlate::is_function_static(p, o.index)
                    && names::demangle(&o.name) == base
            })
            .map(|o| o.name.as_slice())
            .collect();
        let t = self.target();
        let theirs: Vec<String> = t
            .syms
            .iter()
            .filter(|ts| {
                ts.local
                    && !matches!(ts.letter, 't' | 'T' | 'w' | 'W')
                    && ts.name.contains(&b'.')
                    && names::demangle(&ts.name) == base
            })
            .map(|ts| show(&ts.name))
            .collect();
        if theirs.is_empty() || (ours.len() < 2 && theirs.len() < 2) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Refused,
            format!(
                "{}function-scope static {}: without the original object its number cannot tell which kernel object it is: the patched unit has {} static(s) named {} ({}) and {} has {} ({})",
                p.file_name_of(sym)
                    .map_or_else(String::new, |f| format!("{}: ", show(f))),
                s.display_name(),
                ours.len(),
                show(&base),
                ours.iter().map(|n| show(n)).collect::<Vec<_>>().join(", "),
                t.objname,
                theirs.len(),
                theirs.join(", ")
            ),
        )
        .in_file(&p.path)
        .hint(format!(
            "pass --orig ORIG.o (statics are then paired by the functions that use them), or --sympos {}=N to bind exactly that name",
            show(&s.name)
        )))
    }

    /// Without `--orig`: a patched local (function or object) with no
    /// local of its name in the target, while the target (this object or
    /// vmlinux) has a *global* of that name and kind, is most likely that
    /// global made static by the patch: copying it would give the patch
    /// private state (or an unpatched copy of the function) while the
    /// kernel keeps using its own. Refused; with `--orig` correlation pairs
    /// it (binding changed) and it is referenced.
    fn not_a_global_made_static(&mut self, sym: usize) -> Result<()> {
        let p = self.p;
        let s = &p.symbols[sym];
        if !s.is_local() || !(s.is_func() || s.is_object()) {
            return Ok(());
        }
        let want_text = s.is_func();
        let mut objs: Vec<&TargetObject> = Vec::new();
        if let Some(o) = self.inp.target.object(&self.opts.objname) {
            objs.push(o);
        }
        if self.opts.objname != "vmlinux"
            && let Some(v) = self.inp.target.object("vmlinux")
        {
            objs.push(v);
        }
        for o in objs {
            let hit = o.named(&s.name).iter().any(|&i| {
                let ts = &o.syms[i];
                !ts.local
                    && ts.bind_known
                    // A hidden global of a clang LTO vmlinux is local in
                    // the final link and shows lower case (target.rs
                    // from_elf keeps it non-local).
                    && matches!(ts.letter.to_ascii_uppercase(), 'T' | 'W') == want_text
                    && !matches!(ts.letter, 'U' | 'A')
            });
            if hit {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{} is a static {} in the patched object with no static of that name in the target, but {} has a global {} of that name: if the patch made it static, copying it would leave the kernel using its own",
                        s.display_name(),
                        if want_text { "function" } else { "object" },
                        o.objname,
                        if want_text { "function" } else { "object" },
                    ),
                )
                .in_file(&p.path)
                .hint("pass --orig ORIG.o: correlation then pairs it with the original global (binding changed) and the patch references the kernel's"));
            }
        }
        Ok(())
    }

    /// The statics one unit of the patched object refers to are all in the
    /// target's one block of that unit: a unit's locals are listed after
    /// its own STT_FILE symbol in the final link. Two decisions that put one
    /// unit's statics in two blocks (a `--sympos` pin into a sibling unit
    /// of the same file name, next to statics found in the unit's own
    /// block) bind one of them to another unit's variable: refused, naming
    /// both (hostile review of 508deee).
    fn one_block_per_unit(&mut self, sym: usize, index: usize, what: String) -> Result<()> {
        let t = self.target();
        let ts = &t.syms[index];
        let (Some(unit), Some(block), true) = (self.p.symbols[sym].file, ts.file, ts.local) else {
            return Ok(());
        };
        let key = (t.objname.clone(), unit);
        match self.unit_blocks.get(&key) {
            Some((b, earlier, at)) if *b != block => Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{what} is {}, but {earlier} is {}: one unit ({}) cannot have statics in two units of the kernel",
                    t.describe(index),
                    t.describe(*at),
                    show(&self.p.symbols[unit].name)
                ),
            )
            .in_file(&self.p.path)
            .hint("check the --sympos values against the candidates; pass --orig ORIG.o to let the original object's units decide")),
            Some(_) => Ok(()),
            None => {
                self.unit_blocks.insert(key, (block, what, index));
                Ok(())
            }
        }
    }

    /// sympos of `name` (the target's name for patched `sym`).
    pub(super) fn sympos_for(&mut self, sym: usize, name: &[u8], local: bool) -> Result<u64> {
        // With --orig the target's symbol is the orig twin: its binding
        // (a global that the patch made static is still global there).
        // The kernel counts sympos over every same-named symbol whatever
        // its binding (klp_find_callback() in kernel/livepatch/core.c); the
        // binding only steers how the symbol source is searched.
        let local = match self.inp.orig.and_then(|o| o.twin_of(sym).map(|i| (o, i))) {
            Some((o, i)) => o.elf.symbols[i].is_local(),
            None => local,
        };
        let ckey = (
            name.to_vec(),
            local,
            self.p.symbols[sym].file.unwrap_or(usize::MAX),
        );
        if let Some(&n) = self.sympos_cache.get(&ckey) {
            return Ok(n);
        }
        let n = self.sympos_uncached(sym, name, local)?;
        self.sympos_cache.insert(ckey, n);
        Ok(n)
    }

    pub(super) fn sympos_uncached(&mut self, sym: usize, name: &[u8], local: bool) -> Result<u64> {
        // `--sympos` by the most specific name given: FILE:NAME (two
        // same-named statics of two files of one patch can take different
        // values), then NAME. One key for two symbols of the patch (twin
        // units' statics, both `core.c:state_show`) would give both one
        // position: refused.
        let keys = self.p.sympos_keys(sym, name);
        let given = keys
            .iter()
            .find_map(|k| self.opts.sympos.get(k).map(|&n| (k.clone(), n)));
        if let Some((key, n)) = &given {
            let users = self.sympos_used.entry(key.clone()).or_default();
            users.insert(sym);
            if users.len() > 1 {
                let list: Vec<String> = users.iter().map(|&u| self.p.listed_name(u)).collect();
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "--sympos {key}={n} names {} symbols of the patched object: {}",
                        list.len(),
                        list.join(", ")
                    ),
                )
                .in_file(&self.p.path)
                .hint("give each its own FILE:NAME=N when their files differ; for units of one file name (a/core.c, b/core.c) pass --orig ORIG.o"));
            }
        }
        let t = self.target();
        if let Some((key, n)) = given {
            let count = t.named(name).len() as u64;
            if n > count || (n == 0 && count > 1) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "--sympos {key}={n}: {} has {count} symbol(s) named {}",
                        t.objname,
                        show(name)
                    ),
                ));
            }
            let c = t.named(name)[n.max(1) as usize - 1];
            self.one_block_per_unit(sym, c, format!("--sympos {key}={n}"))?;
            self.explain.push(format!(
                "  sympos {},{n}: given by --sympos {key}={n}",
                show(name)
            ));
            return Ok(n);
        }
        // Describe the unit with the original object when we have it: the
        // twin's file block is what the target's symbol table holds.
        let orig = self
            .inp
            .orig
            .and_then(|o| o.twin_of(sym).map(|i| (o.elf, i)));
        let tu = match orig {
            Some((o, i)) => TuInfo::of(o, i),
            // The unit's place among units of its file name counts only in
            // the object the target was linked from.
            None => TuInfo {
                file_nth: None,
                locals_may_be_new: true,
                ..TuInfo::of(self.p, sym)
            },
        };
        // The original object confirms that the unit defines the name in
        // the target only when it has the symbol: a new static has no twin
        // there and must still be found by its neighbours.
        // Without the original object, a unit whose file name several
        // blocks of the target share: the code of its static functions may
        // show its block, or rule one out (TuInfo::code_evidence). Computed
        // before the names are weighed, so that it can veto a block they
        // confirm (hostile review of baea46d), once per unit and target.
        let mut tu = tu;
        if orig.is_none()
            && let Some(file) = &tu.file
            && t.files
                .iter()
                .filter(|b| crate::target::base(&b.name) == crate::target::base(file))
                .nth(1)
                .is_some()
            && let Some(space) = t.bytes().map_err(|e| e.in_file(&self.p.path))?
        {
            let key = (
                t.objname.clone(),
                self.p.symbols[sym].file.unwrap_or(usize::MAX),
            );
            let ev = self
                .code_cache
                .entry(key)
                .or_insert_with(|| code_evidence(t, &space, self.p, sym, self.inp.changes))
                .clone();
            tu.code_evidence = Some(ev);
        }
        let mut lookup = t.resolve(name, local, &tu, orig.is_some());
        // Nothing the unit's symbols show decides: the original object's
        // definition may, when exactly one candidate has its bytes
        // (crate::bytematch). Only then: bytes never overrule the rules
        // above, and a tie stays a refusal.
        let mut bytes_note = None;
        if let (Lookup::Ambiguous(_, left), Some((o, i))) = (&lookup, orig) {
            let space = t.bytes().map_err(|e| e.in_file(&self.p.path))?;
            // Only among the candidates the rules left (review: a unit's
            // file block rules out another file's copy, whatever its bytes).
            match crate::bytematch::settle(t, space.as_deref(), name, left, o, i) {
                crate::bytematch::Settle::One(index, how) => {
                    lookup = Lookup::Found {
                        sympos: t
                            .named(name)
                            .iter()
                            .position(|&c| c == index)
                            .map_or(0, |p| p as u64 + 1),
                        index,
                        how,
                        by_unit: false,
                    }
                }
                crate::bytematch::Settle::Not(why) => bytes_note = Some(why),
            }
        }
        match lookup {
            Lookup::Found {
                sympos,
                index,
                how,
                by_unit,
            } => {
                if by_unit {
                    self.one_block_per_unit(sym, index, format!("{},{sympos} ({how})", show(name)))?;
                }
                let ts = &t.syms[index];
                if ts.init {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{} in {} is init code or data: it is freed after boot and cannot be patched or referenced",
                            show(name),
                            t.objname
                        ),
                    )
                    .in_file(&self.p.path));
                }
                if t.init_only.iter().any(|i| i.name == name) {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{} also names init symbols in module {}: its position differs while the module loads and once it is live",
                            show(name),
                            t.objname
                        ),
                    )
                    .in_file(&self.p.path)
                    .hint("rename one of the symbols in the target, or avoid referencing it"));
                }
                // The function a klp symbol binds must be the original's:
                // when both the original's definition and the target's
                // bytes are at hand, compare them (crate::bytematch). Not
                // for data (the build fills some, e.g. .BTF_ids by
                // resolve_btfids) nor for a __weak original (the kernel's
                // strong override is what the kernel calls, other code).
                if let Some((o, i)) = orig
                    && o.symbols[i].is_func()
                    && o.symbols[i].bind() != crate::elf::consts::STB_WEAK
                    && matches!(ts.letter, 't' | 'T')
                    && !self.opts.allow_symbol_mismatch
                    && let Some(space) = t.bytes().map_err(|e| e.in_file(&self.p.path))?
                    && let crate::bytematch::Verdict::Differs(why) =
                        space.compare(t, index, o, i)
                {
                    return Err(Error::new(
                        ErrorKind::Usage,
                        format!(
                            "{},{} in {} ({how}) is not the original object's {}: {why} (in {})",
                            show(name),
                            sympos,
                            t.objname,
                            o.symbols[i].display_name(),
                            space.what
                        ),
                    )
                    .in_file(&self.p.path)
                    .hint("the symbol source may be another build of the kernel, or the rules picked another copy: check --symbols/--image, pass --sympos NAME=N, or --allow-symbol-mismatch to take it anyway"));
                }
                self.explain.push(format!(
                    "  sympos {},{} in {}: {}",
                    show(name),
                    sympos,
                    t.objname,
                    how
                ));
                Ok(sympos)
            }
            Lookup::NotFound(why) => Err(Error::new(ErrorKind::Symbol, why)
                .in_file(&self.p.path)
                .hint(format!("symbols come from {}", t.source))),
            Lookup::Ambiguous(c, _) => Err(Error::new(
                ErrorKind::Symbol,
                format!(
                    "ambiguous: cannot tell which {} in {} is meant{}; candidates ([sympos N]: the position --sympos takes, in {}):\n    {}{}",
                    show(name),
                    t.objname,
                    if self.inp.orig.is_none() && self.p.symbols[sym].is_local() {
                        ", or whether the patch adds it"
                    } else {
                        ""
                    },
                    if t.order == crate::target::Order::Symtab {
                        "the module's .symtab order"
                    } else {
                        "address order"
                    },
                    c.join("\n    "),
                    bytes_note.map_or_else(String::new, |n| format!("\n  {n}"))
                ),
            )
            .in_file(&self.p.path)
            .hint(if self.inp.orig.is_none() {
                format!(
                    "pass --orig ORIG.o, which also tells a static the patch adds from an existing one of the same name; or, for an existing {}, --sympos {}=N (1-based position in that order; a block that shares the most names may still be another unit's whose names the patch reuses: pin only what the source shows)",
                    show(name),
                    keys[0]
                )
            } else {
                format!(
                    "pass --sympos {}=N (1-based position in that order)",
                    keys[0]
                )
            })),
        }
    }
}

/// [`TuInfo::code_evidence`] of `sym`'s unit of the patched object: for
/// each local function of the unit that two or more of the target's blocks
/// of the unit's file name define, the one block whose copy has the unit's
/// bytes (crate::bytematch: same instructions, relocated fields pointing
/// at the same names and strings), if exactly one has, and the blocks
/// defining it. A function matching in several blocks (a helper copied
/// between twin files) or in none (changed, or new) is left out, and so is
/// a name only one block defines: the patch may have added it as a copy
/// of that block's (hostile review of 14b7c50). Empty when the unit has no
/// STT_FILE.
fn code_evidence(
    t: &crate::target::TargetObject,
    space: &crate::bytematch::Space,
    p: &Elf,
    sym: usize,
    changes: &[crate::changes::Change],
) -> crate::target::CodeEvidence {
    let mut out = Vec::new();
    let Some(file) = p.symbols[sym].file else {
        return out;
    };
    // The functions the list names (and their `.cold`/`.part` parts), by
    // name whatever unit the list means: a changed one's bytes are not the
    // kernel's in any block, and one that became a sibling's copy would
    // point away from the unit's own block (hostile review of 9133ef2).
    // From the list, not from the roots found so far: the first lookup
    // happens while the roots are being found.
    let changed_stems: std::collections::HashSet<Vec<u8>> = changes
        .iter()
        .map(|c| {
            let n = c.name.as_bytes();
            let n = n.rsplit(|&b| b == b':').next().unwrap_or(n);
            crate::target::local_stem(n)
        })
        .collect();
    let unit_base = crate::target::base(&p.symbols[file].name);
    for f in &p.symbols {
        if f.file != Some(file)
            || !f.is_local()
            || !f.is_func()
            || f.size == 0
            || f.section.is_none()
            || changed_stems.contains(&crate::target::local_stem(&f.name))
        {
            continue;
        }
        let copies: Vec<(usize, usize)> = t
            .named(&f.name)
            .iter()
            .filter_map(|&c| {
                let ts = &t.syms[c];
                let b = ts.file.filter(|_| ts.local)?;
                (crate::target::base(&t.files[b].name) == unit_base).then_some((c, b))
            })
            .collect();
        let mut defined: Vec<usize> = copies.iter().map(|&(_, b)| b).collect();
        defined.sort_unstable();
        defined.dedup();
        if defined.len() < 2 {
            continue;
        }
        let same: Vec<usize> = copies
            .iter()
            .filter(|&&(c, _)| space.compare(t, c, p, f.index) == crate::bytematch::Verdict::Same)
            .map(|&(_, b)| b)
            .collect();
        if let [b] = same[..] {
            out.push((f.name.clone(), b, defined));
        }
    }
    out
}
