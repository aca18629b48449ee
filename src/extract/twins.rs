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
        let t = self.target();
        let tu = TuInfo::of(p, sym);
        match t.resolve(&s.name, s.is_local(), &tu, false) {
            Lookup::Found { .. } => return Ok(Some(s.name.clone())),
            Lookup::Ambiguous(_) => return Ok(Some(s.name.clone())), // sympos decides later
            Lookup::NotFound(_) => {}
        }
        // Renumbered clones and static locals: same demangled name, same unit.
        let d = names::demangle(&s.name);
        if d == s.name {
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
            0 => Ok(None),
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
        let key = String::from_utf8_lossy(name).into_owned();
        let t = self.target();
        if let Some(&n) = self.opts.sympos.get(&key) {
            let count = t.named(name).len() as u64;
            if n > count || (n == 0 && count > 1) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "--sympos {key}={n}: {} has {count} symbol(s) named {key}",
                        t.objname
                    ),
                ));
            }
            self.explain
                .push(format!("  sympos {key},{n}: given by --sympos"));
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
            None => TuInfo::of(self.p, sym),
        };
        // The original object confirms that the unit defines the name in
        // the target only when it has the symbol: a new static has no twin
        // there and must still be found by its neighbours.
        match t.resolve(name, local, &tu, orig.is_some()) {
            Lookup::Found { sympos, index, how } => {
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
            Lookup::Ambiguous(c) => Err(Error::new(
                ErrorKind::Symbol,
                format!(
                    "ambiguous: cannot tell which {} in {} is meant; candidates in kallsyms order:\n    {}",
                    show(name),
                    t.objname,
                    c.join("\n    ")
                ),
            )
            .in_file(&self.p.path)
            .hint(format!(
                "pass --sympos {}=N (1-based position in that order){}",
                show(name),
                if self.inp.orig.is_none() {
                    ", or --orig ORIG.o"
                } else {
                    ""
                }
            ))),
        }
    }
}
