//! Pass 1, roots: the listed functions, their children and prefixes,
//! marked callbacks; `include` puts a symbol's range in the closure queue.

use std::collections::HashSet;

use super::*;

impl<'a> Ex<'a> {
    // ------------------------------------------------------------------
    // 1. roots
    // ------------------------------------------------------------------

    pub(super) fn roots(&mut self) -> Result<()> {
        let p = self.p;
        let mut listed: Vec<(usize, ChangeKind, usize)> = Vec::new();
        for c in self.inp.changes {
            let found = match p.listed_function(c.name.as_bytes()) {
                Ok(Some(sym)) => Some(sym),
                Ok(None) => self.listed_by_orig_name(c.name.as_bytes()),
                Err(e) => {
                    let (kind, why) = match e {
                        crate::elf::Unlisted::Ambiguous(w) => (ErrorKind::Symbol, w),
                        crate::elf::Unlisted::Refused(w) => (ErrorKind::Refused, w),
                    };
                    return Err(
                        Error::new(kind, format!("listed function {}: {why}", c.name))
                            .in_file(&p.path),
                    );
                }
            };
            let Some(sym) = found else {
                let similar: Vec<String> = p
                    .symbols
                    .iter()
                    .filter(|s| {
                        s.is_func()
                            && names::demangle(&s.name) == names::demangle(c.name.as_bytes())
                    })
                    .map(|s| s.display_name())
                    .collect();
                let mut e = Error::new(
                    ErrorKind::Symbol,
                    format!(
                        "listed function {} is not a function defined in this object",
                        c.name
                    ),
                )
                .in_file(&p.path);
                if !similar.is_empty() {
                    e = e.hint(format!("did you mean {}?", similar.join(", ")));
                }
                return Err(e);
            };
            let sym = self.alias_root(sym)?;
            listed.push((sym, c.kind, c.line));
        }
        // Children and prefixes listed on their own travel with their parent.
        let listed_set: HashSet<usize> = listed.iter().map(|l| l.0).collect();
        for &(sym, kind, _) in &listed {
            let s = &p.symbols[sym];
            let sec = s.section.expect("find_function returns defined symbols");
            if names::is_init_section(&p.sections[sec].name) {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{} is in {}: init code runs once at boot and is freed, it cannot be live patched",
                        s.display_name(),
                        p.sections[sec].display_name()
                    ),
                )
                .in_file(&p.path)
                .hint("move the change out of the __init function, or apply it with a callback"));
            }
            if names::prefix_target(&s.name).is_some() {
                continue; // included with its function
            }
            if names::is_cold_child(&s.name) {
                let parent = names::child_parent(&s.name).and_then(|n| p.find_function(n));
                match parent {
                    Some(par) if listed_set.contains(&par) => continue,
                    Some(par) => {
                        self.warnings.push(format!(
                            "{} is a .cold part of {}; patching the parent instead",
                            s.display_name(),
                            p.symbols[par].display_name()
                        ));
                        self.add_function_root(par, ChangeKind::Changed)?;
                        continue;
                    }
                    None => {
                        return Err(Error::new(
                            ErrorKind::Symbol,
                            format!("{} has no parent function in this object", s.display_name()),
                        )
                        .in_file(&p.path));
                    }
                }
            }
            self.add_function_root(sym, kind)?;
        }
        Ok(())
    }

    /// The function a listed symbol is patched as: itself, or, when it is
    /// one of several names of one function (aliases: the same section and
    /// offset, `module_exit()`'s `cleanup_module` for the exit function,
    /// [`Elf::function_aliases`]), the name every listing of that function
    /// maps to: the first in [`Elf::alias_preference`] order that the
    /// target has. One function gets one `klp_func`. Two of one patch
    /// stack on one ftrace ops (kernel/livepatch/patch.c `klp_patch_func()`
    /// adds each to the `func_stack` of the `klp_ops` that `klp_find_ops()`
    /// finds for the address), and the kernel reads every entry below the
    /// top as an earlier patch's: during the transition the ftrace handler
    /// (`klp_ftrace_handler()`) sends tasks not yet switched to the second
    /// entry's new code, and kernel/livepatch/transition.c
    /// `klp_check_stack_func()` takes `list_next_entry()` of the last entry,
    /// the list head, for a `klp_func`, so its `new_func`/`new_size` are
    /// garbage that matches unrelated stacks (update sweep, cpu5wdt.c:
    /// `mld`, `zswap-shrink` and kworkers "sleeping on function
    /// cpu5wdt_exit_module", the transition never finished). A listed
    /// alias is folded only when it is that same function in the target as
    /// well: the original object has the two names as aliases too (or
    /// lacks the listed one), or, without `--orig`, the target's symbols
    /// put both at one address (or lack the listed one). Otherwise the
    /// target has two functions, and each keeps its own `klp_func`.
    fn alias_root(&mut self, sym: usize) -> Result<usize> {
        let p = self.p;
        let group = p.function_aliases(sym);
        if group.len() < 2 {
            return Ok(sym);
        }
        let mut rep = group[0];
        for &m in &group {
            if matches!(self.twin_name(m), Ok(Some(_))) {
                rep = m;
                break;
            }
        }
        if rep == sym {
            return Ok(sym);
        }
        let Some(why) = self.same_target_function(sym, rep)? else {
            return Ok(sym);
        };
        self.explain.push(format!(
            "listed {} is an alias of {} (both at {}+{:#x}; {why}): one function, patched once as {}",
            p.symbols[sym].display_name(),
            p.symbols[rep].display_name(),
            p.sections[p.symbols[sym].section.unwrap_or(0)].display_name(),
            p.symbols[sym].value,
            p.symbols[rep].display_name()
        ));
        Ok(rep)
    }

    /// Why aliases `m` and `rep` of the patched object stand for one
    /// function of the target (see [`Ex::alias_root`]), or None when the
    /// target has them as two.
    fn same_target_function(&mut self, m: usize, rep: usize) -> Result<Option<String>> {
        if let Some(orig) = self.inp.orig {
            return Ok(match (orig.twin_of(m), orig.twin_of(rep)) {
                (None, _) => Some(format!(
                    "the original has no {}",
                    self.p.symbols[m].display_name()
                )),
                (Some(a), Some(b)) if orig.elf.same_function(a, b) => {
                    Some("aliases in the original too".to_string())
                }
                _ => None,
            });
        }
        let Some(mname) = self.twin_name(m)? else {
            return Ok(Some(format!(
                "{} has no {}",
                self.target().source,
                self.p.symbols[m].display_name()
            )));
        };
        let Some(rname) = self.twin_name(rep)? else {
            return Ok(None);
        };
        let (ml, rl) = (self.p.symbols[m].is_local(), self.p.symbols[rep].is_local());
        let mpos = self.sympos_for(m, &mname, ml)?;
        let rpos = self.sympos_for(rep, &rname, rl)?;
        let t = self.target();
        let pick = |name: &[u8], pos: u64| {
            let c = t.named(name);
            match pos {
                0 => c.first().copied(),
                n => c.get(n as usize - 1).copied(),
            }
        };
        let (Some(a), Some(b)) = (pick(&mname, mpos), pick(&rname, rpos)) else {
            return Ok(None);
        };
        let (a, b) = (&t.syms[a], &t.syms[b]);
        Ok((a.addr == b.addr && a.section == b.section)
            .then(|| format!("one address in {}: {:#x}", t.source, a.addr)))
    }

    /// The included function at the same place as `sym` (itself, or an
    /// alias of it that the patch copies), if any.
    pub(super) fn included_alias(&self, sym: usize) -> Option<usize> {
        if self.included_set.contains(&sym) {
            return Some(sym);
        }
        if !self.p.symbols[sym].is_func() {
            return None;
        }
        self.p
            .function_aliases(sym)
            .into_iter()
            .find(|m| self.included_set.contains(m))
    }

    /// A listed name the patched object does not define, read as the
    /// original build's name (kpatch and klp-build logs name the original:
    /// `foo.isra.16` where the patched build has `foo.isra.19`): with
    /// `--orig`, the patched twin of that original function.
    fn listed_by_orig_name(&mut self, name: &[u8]) -> Option<usize> {
        let orig = self.inp.orig?;
        let o = orig.elf.find_function(name)?;
        let t = orig.patched_twin_of(o)?;
        self.p.symbols[t].is_func().then(|| {
            self.explain.push(format!(
                "listed {} is {} in the patched object (its twin)",
                show(name),
                self.p.symbols[t].display_name()
            ));
            t
        })
    }

    /// Livepatch callbacks marked in the patched object, in either
    /// convention: kpatch's `KPATCH_*_CALLBACK()` (16-byte records in
    /// `.kpatch.callbacks.<slot>`: function pointer, object-name pointer
    /// or NULL for this object) or upstream's `KLP_*_CALLBACK()` (a pointer
    /// variable `__klp_<slot>_callback_<obj>`). The functions are copied
    /// and recorded for `klpwrite module`.
    pub(super) fn callbacks(&mut self) -> Result<()> {
        let p = self.p;
        let mut found: Vec<(usize, usize, String, String)> = Vec::new(); // slot, func, obj, where
        let target_of = |id: usize| -> Option<usize> {
            let r = p.relocs[id];
            let s = &p.symbols[r.symbol];
            let sec = s.section?;
            let off = crate::elf::uoffset_of(s.value, r.addend, 0)?;
            p.symbols[..]
                .iter()
                .find(|f| {
                    f.is_func() && f.section == Some(sec) && f.value == off && !f.name.is_empty()
                })
                .map(|f| f.index)
        };
        for (slot, name) in CALLBACK_SLOTS.iter().enumerate() {
            let Some(sec) = p.section_by_name(format!(".kpatch.callbacks.{name}").as_bytes())
            else {
                continue;
            };
            for &id in p.sorted_relocs(sec) {
                let r = p.relocs[id];
                if !r.offset.is_multiple_of(16) {
                    continue;
                }
                let obj = p
                    .sorted_relocs(sec)
                    .iter()
                    .copied()
                    .find(|&j| p.relocs[j].offset == r.offset + 8)
                    .and_then(|j| {
                        let t = &p.symbols[p.relocs[j].symbol];
                        let d = p.data(t.section?);
                        let o = crate::elf::uoffset_of(t.value, p.relocs[j].addend, 0)? as usize;
                        let end = d.get(o..)?.iter().position(|&b| b == 0)? + o;
                        Some(String::from_utf8_lossy(&d[o..end]).into_owned())
                    })
                    .unwrap_or_else(|| self.opts.objname.clone());
                let f = target_of(id).ok_or_else(|| {
                    err_at(
                        p,
                        sec,
                        r.offset,
                        ErrorKind::Malformed,
                        "callback record does not point at a function".into(),
                    )
                })?;
                found.push((slot, f, obj, format!(".kpatch.callbacks.{name}")));
            }
        }
        for s in &p.symbols {
            let Some((slot, obj)) = callback_pointer(&s.name) else {
                continue;
            };
            let obj = String::from_utf8_lossy(obj).into_owned();
            let Some(sec) = s.section else { continue };
            let id = p
                .sorted_relocs(sec)
                .iter()
                .copied()
                .find(|&j| p.relocs[j].offset == s.value);
            let f = id.and_then(target_of).ok_or_else(|| {
                Error::malformed(format!("{} does not point at a function", s.display_name()))
                    .in_file(&p.path)
            })?;
            found.push((slot, f, obj, s.display_name()));
        }
        for (slot, f, obj, from) in found {
            if obj != self.opts.objname {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "callback {} ({from}) is for object {obj}, but this patch is for {}",
                        p.symbols[f].display_name(),
                        self.opts.objname
                    ),
                )
                .in_file(&p.path));
            }
            if self.callbacks.iter().any(|c| c.0 == slot) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("two {} callbacks for {obj}", CALLBACK_SLOTS[slot]),
                )
                .in_file(&p.path));
            }
            self.explain.push(format!(
                "callback {} = {} [{from}]",
                CALLBACK_SLOTS[slot],
                p.symbols[f].display_name()
            ));
            if !self.included_set.contains(&f) {
                self.new_syms.insert(f);
                self.include(f, Why::New);
            }
            self.callbacks.push((slot, f, obj));
        }
        Ok(())
    }

    pub(super) fn add_function_root(&mut self, sym: usize, kind: ChangeKind) -> Result<()> {
        if self.changed.contains_key(&sym) || self.new_syms.contains(&sym) {
            return Ok(());
        }
        let p = self.p;
        let name = p.symbols[sym].name.clone();
        // Changed or new? A function the target knows is changed.
        let twin = self.twin_name(sym)?;
        let is_changed = match (kind, &twin) {
            (ChangeKind::New, _) => false,
            (_, Some(_)) => true,
            (ChangeKind::Changed, None) => {
                return Err(Error::new(
                    ErrorKind::Symbol,
                    format!(
                        "changed function {} does not exist in the target ({})",
                        show(&name),
                        self.target().source
                    ),
                )
                .in_file(&p.path)
                .hint("check --objname and --symbols; list it as `new function:` if the patch adds it"));
            }
            (ChangeKind::Unspecified, None) => false,
        };
        if is_changed {
            let old = twin.expect("changed has a twin");
            let sympos = self.sympos_for(sym, &old, p.symbols[sym].is_local())?;
            self.check_weak_override(sym, &old, sympos)?;
            self.changed.insert(sym, (old.clone(), sympos));
            self.include(sym, Why::Changed);
            self.explain.push(format!(
                "function {} [changed] replaces {}{}",
                show(&name),
                show(&old),
                if sympos != 0 {
                    format!(" (sympos {sympos})")
                } else {
                    String::new()
                }
            ));
            if let Some(orig) = self.inp.orig
                && let Some(o) = orig.twin_of(sym)
                && !has_fentry(orig.elf, o)
            {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{} has no `call __fentry__` at its start in the original object, so ftrace cannot redirect it",
                        show(&old)
                    ),
                )
                .in_file(&orig.elf.path)
                .hint("notrace/inline functions cannot be live patched; patch their callers instead"));
            }
        } else {
            self.new_syms.insert(sym);
            self.include(sym, Why::New);
            self.explain.push(format!("function {} [new]", show(&name)));
        }
        Ok(())
    }

    /// A changed `__weak` definition stands for the symbol only where no
    /// strong definition overrides it: the linker binds every caller to the
    /// strong one, and that is what the target's symbol of this name is.
    /// Patching it with the weak default's new body would replace the
    /// override (another unit's code) with the default. The target shows
    /// the binding: vmlinux ELF and module symbol tables keep the binding
    /// of the surviving definition (STB_WEAK only when nothing overrode
    /// it); kallsyms prints it as the type letter (`W`/`w`/`V`/`v` for weak,
    /// scripts/kallsyms from `nm`, kernel/module/kallsyms.c `elf_type`).
    fn check_weak_override(&mut self, sym: usize, old: &[u8], sympos: u64) -> Result<()> {
        let p = self.p;
        let s = &p.symbols[sym];
        if s.bind() != STB_WEAK {
            return Ok(());
        }
        let t = self.target();
        let cands = t.named(old);
        let chosen = match sympos {
            0 => cands.first(),
            n => cands.get(n as usize - 1),
        };
        let Some(&i) = chosen else { return Ok(()) };
        let ts = &t.syms[i];
        if matches!(ts.letter, 'W' | 'w' | 'V' | 'v') {
            self.explain.push(format!(
                "  {} is weak in the patched object and in {} ({}): nothing overrides it",
                show(old),
                t.objname,
                ts.letter
            ));
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Refused,
            format!(
                "{} is a __weak definition in {}, but {} uses a strong {} ({} {} at {:#x}{}): patching it would replace that override with the weak default",
                show(&s.name),
                p.file_name_of(sym)
                    .map_or_else(|| p.path.clone(), |f| show(f).to_string()),
                t.objname,
                if ts.local { "local symbol" } else { "definition" },
                ts.letter,
                show(&ts.name),
                ts.addr,
                ts.file
                    .map(|f| format!(" in {}", show(&t.files[f].name)))
                    .unwrap_or_default()
            ),
        )
        .in_file(&p.path)
        .hint("patch the overriding definition in its own unit instead"))
    }

    /// Include a named symbol and what travels with it.
    pub(super) fn include(&mut self, sym: usize, why: Why) {
        if !self.included_set.insert(sym) {
            return;
        }
        let p = self.p;
        let s = &p.symbols[sym];
        let Some(sec) = s.section else { return };
        let st = p.sections[sec].sh_type;
        if st != SHT_PROGBITS
            && st != SHT_NOBITS
            && !(0x7000_0000..=0x7fff_ffff).contains(&st)
            && st != 14
            && st != 15
        {
            self.deferred.push(
                Error::malformed(format!(
                    "symbol {} is defined in {}, a {} section, which holds no code or data",
                    s.display_name(),
                    p.sections[sec].display_name(),
                    section_type_name(st)
                ))
                .in_file(&p.path),
            );
            return;
        }
        let sh_size = p.sections[sec].sh_size;
        if s.value > sh_size || s.value.saturating_add(s.size) > sh_size {
            self.deferred.push(
                Error::malformed(format!(
                    "symbol {} (value {:#x}, size {:#x}) lies outside {} (size {sh_size:#x})",
                    s.display_name(),
                    s.value,
                    s.size,
                    p.sections[sec].display_name()
                ))
                .in_file(&p.path),
            );
            return;
        }
        self.add_range(
            sec,
            s.value,
            s.value.saturating_add(s.size),
            s.display_name(),
        );
        let is_func = s.is_func();
        self.included.push((sym, why));
        if !is_func {
            return;
        }
        // Prefix: a __pfx_/__cfi_ symbol ending exactly at the function.
        for &o in p.section_symbols(sec) {
            let os = &p.symbols[o];
            if os.is_func()
                && names::prefix_target(&os.name) == Some(&s.name[..])
                && os.value.saturating_add(os.size) == s.value
            {
                self.explain.push(format!(
                    "  prefix {} of {}",
                    os.display_name(),
                    s.display_name()
                ));
                self.include(o, Why::Prefix(sym));
            }
        }
        // Children: foo.cold[.N], foo.part.N (and their own children).
        let name = s.name.clone();
        let children: Vec<usize> = p
            .symbols
            .iter()
            .filter(|c| {
                c.is_func()
                    && c.section.is_some()
                    && names::child_parent(&c.name) == Some(&name[..])
            })
            .map(|c| c.index)
            .collect();
        for c in children {
            if !self.included_set.contains(&c) {
                self.explain.push(format!(
                    "  child {} of {}",
                    p.symbols[c].display_name(),
                    show(&name)
                ));
                self.include(c, Why::Child(sym));
            }
        }
    }

    pub(super) fn add_range(&mut self, sec: usize, start: u64, end: u64, why: String) {
        let list = self.ranges.entry(sec).or_default();
        if list.iter().any(|&(s, e)| s <= start && end <= e) {
            return;
        }
        list.push((start, end));
        self.queue.push_back((sec, start, end, why));
    }
}
