//! Passes 3 and 4, layout and relocations: copy the included ranges into
//! output sections and re-target every relocation.

use std::collections::{BTreeMap, HashMap};

use super::*;

impl<'a> Ex<'a> {
    // ------------------------------------------------------------------
    // 3./4. layout and relocations
    // ------------------------------------------------------------------

    pub(super) fn layout(mut self) -> Result<Extracted> {
        let mut l = Layout {
            out: OutObject {
                e_flags: self.p.e_flags,
                ..Default::default()
            },
            ..Default::default()
        };
        // The first unit's FILE symbol leads, as in a compiler's object;
        // any other unit's comes right before its locals
        // (`layout_clones`).
        let first_unit = self.first_unit();
        if let Some(f) = first_unit {
            self.add_file_symbol(&mut l, f);
        }
        let ranges = std::mem::take(&mut self.ranges);
        self.layout_ranges(&mut l, &ranges)?;
        self.layout_clones(&mut l, first_unit)?;
        let p = self.p;
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|pe| {
            let r = p.relocs[pe.reloc];
            (r.section, r.offset, pe.reloc)
        });
        self.layout_strings(&mut l, &pending)?;
        self.layout_relocations(&mut l, &pending)?;
        let funcs = self.layout_metadata(&mut l);
        Ok(Extracted {
            out: l.out,
            funcs,
            explain: self.explain,
            warnings: self.warnings,
            twins_used: self.twins_used,
        })
    }

    /// Chunks: merged ranges per section, in section order, each copied
    /// into its output section (`l.chunk_map`).
    fn layout_ranges(
        &self,
        l: &mut Layout,
        ranges: &BTreeMap<usize, Vec<(u64, u64)>>,
    ) -> Result<()> {
        let p = self.p;
        for (&sec, list) in ranges {
            let ps = &p.sections[sec];
            let sec_align = checked_align(p, sec)?;
            let mut list = list.clone();
            list.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for (s, e) in list {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            let flags = ps.sh_flags & !(SHF_GROUP | SHF_LINK_ORDER | SHF_INFO_LINK);
            // Kernels before 5.8 apply the patch's own alternatives and
            // paravirt patches after its klp relocations only when they sit
            // in .klp.arch.<obj>.<section>.
            let legacy = self.opts.kernel.is_some_and(|k| k.is_legacy());
            let name =
                if legacy && (ps.name == b".altinstructions" || ps.name == b".parainstructions") {
                    let mut n = format!(".klp.arch.{}.", self.opts.objname).into_bytes();
                    n.extend_from_slice(&ps.name);
                    n
                } else {
                    ps.name.clone()
                };
            let out_sec = l.out.add_section(OutSection {
                name,
                sh_type: ps.sh_type,
                sh_flags: flags,
                sh_addralign: sec_align,
                sh_entsize: ps.sh_entsize,
                link: None,
                data: if ps.is_nobits() {
                    OutData::Nobits(0)
                } else {
                    OutData::Bytes(Vec::new())
                },
                symbol: None,
            });
            let data = p.data(sec);
            let mut chunks = Vec::new();
            // Special-section entries are packed: padding would be read as
            // an entry.
            let entry = self.entry_sizes.get(&sec).map(|l| l.size);
            let packed = entry.is_some() || x86::special_for(&ps.name).is_some();
            for (s, e) in merged {
                let align = if packed { 1 } else { chunk_align(s, sec_align) };
                let bytes: &[u8] = if ps.is_nobits() {
                    &[]
                } else {
                    data.get(s as usize..e as usize).ok_or_else(|| {
                        Error::malformed(format!(
                            "{}: range {s:#x}..{e:#x} lies outside the section's data",
                            ps.display_name()
                        ))
                        .in_file(&p.path)
                    })?
                };
                let o = if ps.is_nobits() {
                    let OutData::Nobits(n) = &mut l.out.sections[out_sec].data else {
                        unreachable!()
                    };
                    let o = align_up(*n, align);
                    *n = o + (e - s);
                    o
                } else {
                    l.out.append(out_sec, bytes, align)
                };
                chunks.push((s, e, out_sec, o));
            }
            if let Some(n) = entry
                && let OutData::Bytes(b) = &mut l.out.sections[out_sec].data
            {
                let len = align_up(b.len() as u64, n) as usize;
                b.resize(len, 0);
            }
            if ps.is_exec() && !ps.is_nobits() {
                check_distances(p, sec, &chunks)?;
            }
            l.chunk_map.insert(sec, chunks);
        }
        Ok(())
    }

    /// Clones of included named symbols.
    /// The unit (STT_FILE symbol) of a local to copy, of the STT_FILE
    /// symbol that comes first in the input.
    fn unit_of(&self, s: usize) -> Option<usize> {
        let ps = &self.p.symbols[s];
        if ps.is_local() { ps.file } else { None }
    }

    fn first_unit(&self) -> Option<usize> {
        self.included
            .iter()
            .filter_map(|&(s, _)| self.unit_of(s))
            .min()
    }

    fn add_file_symbol(&self, l: &mut Layout, f: usize) {
        l.out.add_symbol(OutSymbol {
            name: self.p.symbols[f].name.clone(),
            st_info: STT_FILE,
            st_other: 0,
            place: Place::Abs,
            value: 0,
            size: 0,
        });
    }

    fn layout_clones(&self, l: &mut Layout, first_unit: Option<usize>) -> Result<()> {
        let p = self.p;
        let mut order: Vec<(usize, Why)> = self.included.clone();
        // Locals first is the writer's job (stable, write.rs); here each
        // unit's locals follow its STT_FILE symbol, units in input order,
        // functions then objects, otherwise inclusion order. A reader
        // gives a local the last FILE before it (the ELF convention,
        // load.rs), so with every FILE first the locals of an output that
        // copies from two units all read as the last unit's, and
        // `module`'s split-statics check keyed them to the wrong file
        // (hostile review of e78855d).
        order.sort_by_key(|(s, _)| {
            (
                self.unit_of(*s).map_or(0, |f| f + 1),
                if p.symbols[*s].is_func() { 0 } else { 1 },
            )
        });
        let mut last_unit = first_unit;
        for (s, why) in &order {
            let ps = &p.symbols[*s];
            if let Some(f) = self.unit_of(*s)
                && last_unit != Some(f)
            {
                self.add_file_symbol(l, f);
                last_unit = Some(f);
            }
            let sec = ps.section.expect("included symbols are defined");
            let Some((os, o)) = l.map(sec, ps.value) else {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "internal: {} was included but not laid out",
                        ps.display_name()
                    ),
                )
                .in_file(&p.path));
            };
            let mut bind = ps.bind();
            // Changed functions become local: nothing else may bind to the
            // copy of a function the kernel already has.
            if matches!(why, Why::Changed | Why::Child(_) | Why::Prefix(_))
                && !self.new_syms.contains(s)
            {
                bind = STB_LOCAL;
            }
            let id = l.out.add_symbol(OutSymbol {
                name: ps.name.clone(),
                st_info: (bind << 4) | ps.kind(),
                st_other: ps.st_other,
                place: Place::Section(os),
                value: o,
                size: ps.size,
            });
            l.clone_of.insert(*s, id);
        }
        Ok(())
    }

    /// String sections: one output section per input string section name.
    fn layout_strings(&self, l: &mut Layout, pending: &[Pending]) -> Result<()> {
        let p = self.p;
        let mut str_out: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut str_dedup: HashMap<(usize, Vec<u8>), u64> = HashMap::new();
        for pe in pending {
            if let Dest::Str(sec, off, _) = pe.dest {
                if l.str_pos.contains_key(&(sec, off)) {
                    continue;
                }
                let ps = &p.sections[sec];
                let data = p.data(sec);
                let off_us = off as usize;
                let end = data[off_us.min(data.len())..]
                    .iter()
                    .position(|&b| b == 0)
                    .map(|n| off_us + n + 1)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Malformed,
                            format!(
                                "string at {}+{off:#x} is not NUL-terminated",
                                ps.display_name()
                            ),
                        )
                        .in_file(&p.path)
                    })?;
                let bytes = data[off_us..end].to_vec();
                let str_align = checked_align(p, sec)?;
                let os = *str_out.entry(ps.name.clone()).or_insert_with(|| {
                    l.out.add_section(OutSection {
                        name: ps.name.clone(),
                        sh_type: SHT_PROGBITS,
                        sh_flags: ps.sh_flags & !(SHF_GROUP | SHF_LINK_ORDER),
                        sh_addralign: str_align,
                        sh_entsize: ps.sh_entsize,
                        link: None,
                        data: OutData::Bytes(Vec::new()),
                        symbol: None,
                    })
                });
                let o = match str_dedup.get(&(os, bytes.clone())) {
                    Some(&o) => o,
                    None => {
                        let o = l.out.append(os, &bytes, 1);
                        str_dedup.insert((os, bytes.clone()), o);
                        o
                    }
                };
                l.str_pos.insert((sec, off), (os, o));
            }
        }
        Ok(())
    }

    /// Relocations: each pending one re-targeted, its site zeroed; the
    /// relocation sections after all data sections.
    fn layout_relocations(&self, l: &mut Layout, pending: &[Pending]) -> Result<()> {
        let p = self.p;
        let mut normal: BTreeMap<usize, Vec<OutReloc>> = BTreeMap::new();
        let mut klp: BTreeMap<(String, usize), Vec<OutReloc>> = BTreeMap::new();
        for pe in pending {
            let r = p.relocs[pe.reloc];
            let Some((os, oo)) = l.map(r.section, r.offset) else {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "internal: relocation at {} outside copied ranges",
                        p.locate(r.section, r.offset)
                    ),
                )
                .in_file(&p.path));
            };
            let here = p.locate(r.section, r.offset);
            let Some((symbol, addend, klp_obj)) = self.layout_reloc_target(l, &pe.dest, here)?
            else {
                continue;
            };
            // Zero the site: the kernel refuses non-zero relocation targets.
            let width = x86::reloc_width(r.r_type).unwrap_or(0) as usize;
            if let OutData::Bytes(b) = &mut l.out.sections[os].data {
                let o = oo as usize;
                if o + width <= b.len() {
                    b[o..o + width].fill(0);
                }
            }
            let rel = OutReloc {
                offset: oo,
                symbol,
                r_type: r.r_type,
                addend,
            };
            match klp_obj {
                None => normal.entry(os).or_default().push(rel),
                Some(obj) => klp.entry((obj, os)).or_default().push(rel),
            }
        }
        // Relocation sections after all data sections.
        let nsec = l.out.sections.len();
        for target in 0..nsec {
            if let Some(list) = normal.remove(&target) {
                l.out.add_relocations(target, None, list);
            }
        }
        let mut klp_list: Vec<((String, usize), Vec<OutReloc>)> = klp.into_iter().collect();
        klp_list.sort_by(|a, b| (a.0.1, &a.0.0).cmp(&(b.0.1, &b.0.0)));
        for ((obj, target), list) in klp_list {
            check_objname(&obj)?;
            l.out.add_relocations(target, Some(obj.as_bytes()), list);
        }
        Ok(())
    }

    /// The output symbol, addend and klp object (None: a normal
    /// relocation) of one relocation's destination; None for a dropped one.
    fn layout_reloc_target(
        &self,
        l: &mut Layout,
        dest: &Dest,
        here: String,
    ) -> Result<Option<(usize, i64, Option<String>)>> {
        let p = self.p;
        Ok(Some(match dest {
            Dest::Drop => return Ok(None),
            Dest::Clone(t, a) => (l.clone_of[t], *a, None),
            Dest::Anon(sec, off, adj) => {
                let (tos, too) = l.map(*sec, *off).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Malformed,
                        format!(
                            "internal: {} target {}+{off:#x} not copied",
                            here,
                            p.sections[*sec].display_name()
                        ),
                    )
                })?;
                let sym = l.out.sections[tos]
                    .symbol
                    .expect("data sections have symbols");
                (sym, too as i64 - adj, None)
            }
            Dest::Str(sec, off, adj) => {
                let (tos, too) = l.str_pos[&(*sec, *off)];
                let sym = l.out.sections[tos]
                    .symbol
                    .expect("data sections have symbols");
                (sym, too as i64 - adj, None)
            }
            Dest::Undef(name, kind, a) => {
                let id = *l.undef.entry(name.clone()).or_insert_with(|| {
                    l.out.add_symbol(OutSymbol {
                        name: name.clone(),
                        st_info: (STB_GLOBAL << 4)
                            | if *kind == STT_SECTION {
                                STT_NOTYPE
                            } else {
                                *kind
                            },
                        st_other: 0,
                        place: Place::Undef,
                        value: 0,
                        size: 0,
                    })
                });
                (id, *a, None)
            }
            Dest::Klp(symobj, name, pos, kind, a) => {
                check_objname(symobj)?;
                if name.len() > MAX_SYMNAME || name.contains(&b',') || name.is_empty() {
                    return Err(Error::new(
                        ErrorKind::Klp,
                        format!(
                            "symbol {} cannot be a klp symbol: the kernel requires 1 to {MAX_SYMNAME} characters and no ','",
                            show(name)
                        ),
                    )
                    .in_file(&p.path)
                    .at(here));
                }
                let mut full = format!(".klp.sym.{symobj}.").into_bytes();
                full.extend_from_slice(name);
                full.extend_from_slice(format!(",{pos}").as_bytes());
                let id = *l.klp_syms.entry(full.clone()).or_insert_with(|| {
                    l.out.add_symbol(OutSymbol {
                        name: full,
                        st_info: (STB_GLOBAL << 4)
                            | match *kind {
                                STT_FUNC | STT_OBJECT => *kind,
                                _ => STT_NOTYPE,
                            },
                        st_other: 0,
                        place: Place::Livepatch,
                        value: 0,
                        size: 0,
                    })
                });
                // vmlinux symbols are resolved in a vmlinux section;
                // everything else when the patched object loads.
                let secobj = if symobj == "vmlinux" {
                    "vmlinux".to_string()
                } else {
                    self.opts.objname.clone()
                };
                (id, *a, Some(secobj))
            }
        }))
    }

    /// Metadata for `klpwrite module`: the `.klpwrite.patch` section; the
    /// patched functions.
    fn layout_metadata(&self, l: &mut Layout) -> Vec<PatchedFunc> {
        let p = self.p;
        let out = &mut l.out;
        let mut funcs = Vec::new();
        // The rules line names the target symbol that decided them, when
        // one did, so `module` need not second-guess it from a version.
        let rules = match self.opts.kernel {
            Some(k) => {
                let r = if k.is_legacy() { "legacy" } else { "current" };
                match k.basis {
                    crate::kernel::Basis::Symbol(s) => match &self.opts.release {
                        Some(rel) => format!("{r} symbol {s} release {rel}"),
                        None => format!("{r} symbol {s}"),
                    },
                    _ => r.to_string(),
                }
            }
            None => "current".to_string(),
        };
        let mut meta = format!(
            "klpwrite-patch 1\nobject {}\nrules {rules}\n",
            self.opts.objname
        );
        // The output's defined functions in .symtab order (the writer
        // emits locals first, each group in model order: write.rs): a
        // name several of them have is written `NAME#K`.
        let defined_funcs = |o: &OutObject, name: &[u8]| -> Vec<usize> {
            let mut v: Vec<usize> = (0..o.symbols.len())
                .filter(|&i| {
                    let s = &o.symbols[i];
                    s.name == name
                        && s.st_info & 0xf == STT_FUNC
                        && matches!(s.place, Place::Section(_))
                })
                .collect();
            v.sort_by_key(|&i| (!o.symbols[i].is_local(), i));
            v
        };
        for (&sym, (old, pos)) in &self.changed {
            let name = &p.symbols[sym].name;
            let same = defined_funcs(out, name);
            let new_name = match l.clone_of.get(&sym) {
                Some(c) if same.len() > 1 => match same.iter().position(|i| i == c) {
                    Some(k) => format!("{}#{}", show(name), k + 1),
                    None => show(name),
                },
                _ => show(name),
            };
            let f = PatchedFunc {
                new_name,
                old_name: show(old),
                sympos: *pos,
            };
            meta.push_str(&format!(
                "func {} {} {}\n",
                f.new_name, f.old_name, f.sympos
            ));
            funcs.push(f);
        }
        for (slot, f, _) in &self.callbacks {
            meta.push_str(&format!(
                "callback {} {}\n",
                CALLBACK_SLOTS[*slot],
                show(&p.symbols[*f].name)
            ));
        }
        for n in &self.needs {
            meta.push_str(&format!("needs {}\n", show(n)));
        }
        out.add_section(OutSection {
            name: META_SECTION.to_vec(),
            sh_type: SHT_PROGBITS,
            sh_flags: 0,
            sh_addralign: 1,
            sh_entsize: 0,
            link: None,
            data: OutData::Bytes(meta.into_bytes()),
            symbol: None,
        });
        funcs
    }
}

/// The output object under construction, with what the layout steps pass
/// on to the later ones.
#[derive(Default)]
struct Layout {
    out: OutObject,
    /// chunk_map[sec] = [(in_start, in_end, out_sec, out_start)]
    chunk_map: HashMap<usize, Vec<(u64, u64, usize, u64)>>,
    /// Output symbol of each included input symbol.
    clone_of: HashMap<usize, usize>,
    /// Output place of each copied string (input section, offset).
    str_pos: HashMap<(usize, u64), (usize, u64)>,
    /// Undefined output symbols by name.
    undef: HashMap<Vec<u8>, usize>,
    /// klp symbols by full name.
    klp_syms: HashMap<Vec<u8>, usize>,
}

impl Layout {
    /// Where input `sec`+`off` lands in the output.
    fn map(&self, sec: usize, off: u64) -> Option<(usize, u64)> {
        self.chunk_map.get(&sec)?.iter().find_map(|&(s, e, os, o)| {
            (off >= s && (off < e || (off == e && e > s) || (s == e && off == s)))
                .then_some((os, o + off - s))
        })
    }
}

/// A reference the assembler resolved inside code section `sec` without a
/// relocation (crate::sections) must reach the same place in the output:
/// its target must be in a chunk copied at the same distance as its own.
fn check_distances(p: &Elf, sec: usize, chunks: &[(u64, u64, usize, u64)]) -> Result<()> {
    let offs: Vec<u64> = p
        .sorted_relocs(sec)
        .iter()
        .map(|&i| p.relocs[i].offset)
        .collect();
    for &(s, e, os, o) in chunks {
        for (at, to) in crate::sections::unrelocated_escapes(p.data(sec), s, e, &offs) {
            let kept = chunks.iter().any(|&(s2, e2, os2, o2)| {
                (s2..e2).contains(&to)
                    && os2 == os
                    && o2 as i128 - s2 as i128 == o as i128 - s as i128
            });
            if !kept {
                return Err(crate::sections::escape_error(p, sec, at, to));
            }
        }
    }
    Ok(())
}
