//! Deterministic mutation sweep: corrupt real objects in many ways and check
//! that klpwrite never panics or hangs on them.
//!
//! Inputs: every object of the kpatch corpus (`../shared/corpus/kpatch-unit/
//! x86_64/*.o` or `$KLPWRITE_CORPUS/*.o`, read in place, never copied) and
//! every ELF file under `tests/fixtures`. For each input, mutants are drawn from:
//!
//! * file-header fields (e_shoff, e_shnum, e_shstrndx, e_shentsize, e_type,
//!   e_machine, class, data, ...);
//! * section-header fields of every section (sh_name, sh_type, sh_flags,
//!   sh_offset, sh_size, sh_link, sh_info, sh_addralign, sh_entsize);
//! * symbol fields (st_name, st_info, st_other, st_shndx, st_value,
//!   st_size), relocation fields (r_offset, symbol and type of r_info,
//!   r_addend) and group words;
//!
//! each overwritten with boundary values (0, 1, 2, 0x7fffffff, 0x80000000,
//! 0xffffffff, 0xffff, 0xff00, 0xfeff, 0xfff1, file size - 1 / + 0 / + 1,
//! the original ± 1 and + 8, section and symbol counts ± 1, u64::MAX, ...),
//! plus byte flips (single bits, whole bytes, bursts) aimed at the headers,
//! the section table, `.symtab`, relocation sections, string tables and
//! code, and truncations at every header boundary, every section boundary
//! and random lengths. Every choice comes from a fixed-seed PRNG keyed by
//! the file name, so a run is reproducible.
//!
//! Each mutant runs in-process on a worker thread under `catch_unwind` with
//! a time limit: load (`Expect::Any`) + `inspect`'s render, then, when it
//! loads as a relocatable object, `checksum` of the mutant and `diff` of the
//! unmutated original against it. A second pass
//! mutates the PATCHED object of a few corpus cases and runs `klpwrite
//! extract` on it as a child process (against the unmutated ORIG, with a
//! Module.symvers declaring its imports exported), killed at the time
//! limit and capped at 4 GiB by `prlimit` when available; a written output
//! must load and render again. `KLPWRITE_MUTANT_OPS=inspect` (or
//! `inspect,checksum`) narrows the per-mutant operations; the default is
//! `inspect,checksum,diff`.
//!
//! * `mutation_sweep_ci_inspect` (always on): ~12,000 inspect/checksum/diff
//!   mutants;
//! * `mutation_sweep_ci_extract` (always on): ~1,200 extract mutants;
//! * `mutation_sweep_full` (`#[ignore]`): 120,000 inspect/checksum/diff
//!   mutants and 12,000 extract mutants:
//!   `cargo test --release --test mutation_sweep -- --ignored --nocapture`.
//!
//! Environment: `KLPWRITE_MUTANTS=N` overrides the inspect mutant count,
//! `KLPWRITE_EXTRACT_MUTANTS=N` the extract count, `KLPWRITE_MUTANT_LIMIT`
//! the per-mutant time limit in seconds (default 10),
//! `KLPWRITE_MUTANT_OPS` as above, `KLPWRITE_MUTANT_DIR` where crashing and
//! hanging inputs are saved (default `/tmp/klpwrite-mutants`; corpus-derived
//! inputs never go into the repository).
//!
//! A panic, an abort, a timeout, or an extract output that does not load
//! again fails the test; the report (printed; see it with `--nocapture`)
//! gives counts, throughput and the slowest mutant, and lists each distinct
//! failure site with the saved reproducer and the mutation that made it.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use klpwrite::elf::Elf;
use klpwrite::elf::load::{Expect, load};
use klpwrite::{checksum, diff, dump};

// ---------------------------------------------------------------------------
// PRNG (splitmix64) and seeds
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------
// The shape of an input, read defensively
// ---------------------------------------------------------------------------

fn rd(b: &[u8], at: usize, width: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(width)?)?;
    let mut v = [0u8; 8];
    v[..width].copy_from_slice(s);
    Some(u64::from_le_bytes(v))
}

#[derive(Debug, Clone, Copy)]
struct SecInfo {
    sh_type: u32,
    flags: u64,
    offset: usize,
    size: usize,
}

/// Where things are in a (valid) ELF64 little-endian file. Inputs that do
/// not parse get an empty layout: only flips and truncations then.
#[derive(Debug, Default)]
struct Layout {
    len: usize,
    shoff: usize,
    secs: Vec<SecInfo>,
    nsyms: usize,
    symtab: Option<(usize, usize)>,
    /// (data offset, entries) of each SHT_RELA section.
    relas: Vec<(usize, usize)>,
    /// (data offset, words) of each SHT_GROUP section.
    groups: Vec<(usize, usize)>,
}

fn layout(b: &[u8]) -> Layout {
    let mut l = Layout {
        len: b.len(),
        ..Default::default()
    };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return l;
    }
    let Some(shoff) = rd(b, 0x28, 8) else {
        return l;
    };
    let shoff = shoff as usize;
    let mut shnum = rd(b, 0x3c, 2).unwrap_or(0) as usize;
    if shnum == 0 {
        shnum = rd(b, shoff + 32, 8).unwrap_or(0) as usize;
    }
    if shoff == 0 || shnum == 0 || shoff.saturating_add(shnum.saturating_mul(64)) > b.len() {
        return l;
    }
    l.shoff = shoff;
    for i in 0..shnum {
        let h = shoff + i * 64;
        let s = SecInfo {
            sh_type: rd(b, h + 4, 4).unwrap() as u32,
            flags: rd(b, h + 8, 8).unwrap(),
            offset: rd(b, h + 24, 8).unwrap() as usize,
            size: rd(b, h + 32, 8).unwrap() as usize,
        };
        let inside = s.offset.checked_add(s.size).is_some_and(|e| e <= b.len());
        if inside {
            match s.sh_type {
                2 => {
                    l.nsyms = s.size / 24;
                    l.symtab = Some((s.offset, s.size / 24));
                }
                4 => l.relas.push((s.offset, s.size / 24)),
                17 => l.groups.push((s.offset, s.size / 4)),
                _ => {}
            }
        }
        l.secs.push(s);
    }
    l
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

/// Which table a field belongs to (for descriptions).
#[derive(Debug, Clone, Copy)]
enum Table {
    Header,
    Shdr(u32),
    Sym(u32),
    Rela(u32, u32),
    Group(u32, u32),
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    at: usize,
    width: usize,
    table: Table,
    field: &'static str,
}

#[derive(Debug, Clone)]
enum Mutation {
    Put { slot: Slot, val: u64 },
    Flip(Vec<(usize, u8)>),
    Truncate(usize),
}

impl Mutation {
    fn apply(&self, orig: &[u8]) -> Vec<u8> {
        match self {
            Mutation::Put { slot, val } => {
                let mut b = orig.to_vec();
                b[slot.at..slot.at + slot.width].copy_from_slice(&val.to_le_bytes()[..slot.width]);
                b
            }
            Mutation::Flip(list) => {
                let mut b = orig.to_vec();
                for &(at, mask) in list {
                    b[at] ^= mask;
                }
                b
            }
            Mutation::Truncate(n) => orig[..*n].to_vec(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Mutation::Put { slot, val } => {
                let t = match slot.table {
                    Table::Header => "ELF header".to_string(),
                    Table::Shdr(i) => format!("section header #{i}"),
                    Table::Sym(j) => format!("symbol #{j}"),
                    Table::Rela(r, k) => format!("relocation #{k} of rela section #{r}"),
                    Table::Group(g, k) => format!("word #{k} of group #{g}"),
                };
                format!(
                    "set {t} {} (file offset {:#x}, {} bytes) to {val:#x}",
                    slot.field, slot.at, slot.width
                )
            }
            Mutation::Flip(list) => {
                let l: Vec<String> = list
                    .iter()
                    .map(|(at, m)| format!("{at:#x}^{m:#04x}"))
                    .collect();
                format!("xor bytes {}", l.join(" "))
            }
            Mutation::Truncate(n) => format!("truncate to {n} bytes"),
        }
    }
}

const SHDR_FIELDS: &[(&str, usize, usize)] = &[
    ("sh_name", 0, 4),
    ("sh_type", 4, 4),
    ("sh_flags", 8, 8),
    ("sh_offset", 24, 8),
    ("sh_size", 32, 8),
    ("sh_link", 40, 4),
    ("sh_info", 44, 4),
    ("sh_addralign", 48, 8),
    ("sh_entsize", 56, 8),
];
const SYM_FIELDS: &[(&str, usize, usize)] = &[
    ("st_name", 0, 4),
    ("st_info", 4, 1),
    ("st_other", 5, 1),
    ("st_shndx", 6, 2),
    ("st_value", 8, 8),
    ("st_size", 16, 8),
];
const RELA_FIELDS: &[(&str, usize, usize)] = &[
    ("r_offset", 0, 8),
    ("r_info.type", 8, 4),
    ("r_info.sym", 12, 4),
    ("r_addend", 16, 8),
];
const HEADER_FIELDS: &[(&str, usize, usize)] = &[
    ("EI_CLASS", 4, 1),
    ("EI_DATA", 5, 1),
    ("EI_VERSION", 6, 1),
    ("e_type", 0x10, 2),
    ("e_machine", 0x12, 2),
    ("e_version", 0x14, 4),
    ("e_phoff", 0x20, 8),
    ("e_shoff", 0x28, 8),
    ("e_flags", 0x30, 4),
    ("e_ehsize", 0x34, 2),
    ("e_phentsize", 0x36, 2),
    ("e_phnum", 0x38, 2),
    ("e_shentsize", 0x3a, 2),
    ("e_shnum", 0x3c, 2),
    ("e_shstrndx", 0x3e, 2),
];

/// Boundary values generator count (see `value`).
const NVALS: usize = 22;

/// The `k`-th boundary value for a field holding `orig`.
fn value(k: usize, orig: u64, l: &Layout) -> u64 {
    let len = l.len as u64;
    let shnum = l.secs.len() as u64;
    let nsyms = l.nsyms as u64;
    match k {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 0x7fff_ffff,
        4 => 0x8000_0000,
        5 => 0xffff_ffff,
        6 => 0xffff,
        7 => 0xff00,
        8 => 0xfeff,
        9 => 0xfff1,
        10 => len.wrapping_sub(1),
        11 => len,
        12 => len + 1,
        13 => orig.wrapping_add(1),
        14 => orig.wrapping_sub(1),
        15 => orig.wrapping_add(8),
        16 => shnum,
        17 => shnum.wrapping_sub(1),
        18 => nsyms,
        19 => nsyms.wrapping_sub(1),
        20 => u64::MAX,
        _ => u64::MAX / 2,
    }
}

fn mask(v: u64, width: usize) -> u64 {
    if width >= 8 {
        v
    } else {
        v & ((1u64 << (8 * width)) - 1)
    }
}

/// Every field slot of the input, by category.
fn slots(l: &Layout) -> [Vec<Slot>; 5] {
    let mut header = Vec::new();
    if l.len >= 64 {
        for &(field, at, width) in HEADER_FIELDS {
            header.push(Slot {
                at,
                width,
                table: Table::Header,
                field,
            });
        }
    }
    let mut shdr = Vec::new();
    for i in 0..l.secs.len() {
        for &(field, off, width) in SHDR_FIELDS {
            shdr.push(Slot {
                at: l.shoff + i * 64 + off,
                width,
                table: Table::Shdr(i as u32),
                field,
            });
        }
    }
    let mut sym = Vec::new();
    if let Some((off, n)) = l.symtab {
        for j in 0..n {
            for &(field, o, width) in SYM_FIELDS {
                sym.push(Slot {
                    at: off + j * 24 + o,
                    width,
                    table: Table::Sym(j as u32),
                    field,
                });
            }
        }
    }
    let mut rela = Vec::new();
    for (r, &(off, n)) in l.relas.iter().enumerate() {
        for k in 0..n {
            for &(field, o, width) in RELA_FIELDS {
                rela.push(Slot {
                    at: off + k * 24 + o,
                    width,
                    table: Table::Rela(r as u32, k as u32),
                    field,
                });
            }
        }
    }
    let mut group = Vec::new();
    for (g, &(off, n)) in l.groups.iter().enumerate() {
        for k in 0..n {
            group.push(Slot {
                at: off + k * 4,
                width: 4,
                table: Table::Group(g as u32, k as u32),
                field: if k == 0 { "flags" } else { "member" },
            });
        }
    }
    [header, shdr, sym, rela, group]
}

/// `n` distinct indices below `total` (all of them when n >= total),
/// sorted.
fn pick(rng: &mut Rng, total: usize, n: usize) -> Vec<usize> {
    if n >= total {
        return (0..total).collect();
    }
    // Floyd's algorithm.
    let mut set = HashSet::with_capacity(n);
    for j in total - n..total {
        let t = rng.below(j + 1);
        if !set.insert(t) {
            set.insert(j);
        }
    }
    let mut v: Vec<usize> = set.into_iter().collect();
    v.sort_unstable();
    v
}

/// Byte ranges to aim flips at: headers, section table, symtab, relas,
/// string tables, code.
fn flip_regions(l: &Layout) -> Vec<(usize, usize)> {
    let mut r = vec![(0, l.len.min(64))];
    if !l.secs.is_empty() {
        r.push((l.shoff, l.shoff + l.secs.len() * 64));
    }
    for s in &l.secs {
        let interesting = matches!(s.sh_type, 2 | 3 | 4 | 17 | 18) || s.flags & 4 != 0;
        if interesting && s.size > 0 && s.offset.saturating_add(s.size) <= l.len {
            r.push((s.offset, s.offset + s.size));
        }
    }
    r.push((0, l.len));
    r.retain(|&(a, b)| b > a);
    r
}

/// Interesting truncation lengths.
fn truncations(l: &Layout) -> Vec<usize> {
    let mut v: Vec<usize> = (0..=80.min(l.len)).collect();
    for s in &l.secs {
        for x in [
            s.offset,
            s.offset + s.size,
            (s.offset + s.size).saturating_sub(1),
            s.offset + 1,
        ] {
            v.push(x);
        }
    }
    for i in 0..=l.secs.len() {
        let h = l.shoff + i * 64;
        v.extend([h, h.saturating_sub(1), h + 1, h + 32]);
    }
    v.push(l.len.saturating_sub(1));
    v.retain(|&x| x < l.len);
    v.sort_unstable();
    v.dedup();
    v
}

/// `n` deterministic mutants of `orig`, spread over the categories.
fn mutations(name: &str, orig: &[u8], n: usize, code_only_bias: bool) -> Vec<Mutation> {
    let l = layout(orig);
    let mut rng = Rng::new(fnv(name) ^ n as u64);
    let cats = slots(&l);
    // Budget shares (percent): header, shdr, sym, rela, group; the rest
    // goes to truncations and flips.
    let shares = [6usize, 26, 18, 16, 3];
    let mut out: Vec<Mutation> = Vec::with_capacity(n);
    for (cat, share) in cats.iter().zip(shares) {
        let budget = n * share / 100;
        let total = cat.len() * NVALS;
        for idx in pick(&mut rng, total, budget) {
            let slot = cat[idx / NVALS];
            let Some(o) = rd(orig, slot.at, slot.width) else {
                continue;
            };
            let mut val = mask(value(idx % NVALS, o, &l), slot.width);
            if val == o {
                val = o ^ 1;
            }
            out.push(Mutation::Put { slot, val });
        }
    }
    let tr = truncations(&l);
    let budget = (n * 8 / 100).max(1).min(n.saturating_sub(out.len()));
    for i in pick(&mut rng, tr.len(), budget) {
        out.push(Mutation::Truncate(tr[i]));
    }
    // Flips fill the rest.
    let regions = flip_regions(&l);
    let code: Vec<(usize, usize)> = l
        .secs
        .iter()
        .filter(|s| s.flags & 4 != 0 && s.size > 0 && s.offset + s.size <= l.len)
        .map(|s| (s.offset, s.offset + s.size))
        .collect();
    while out.len() < n && !orig.is_empty() {
        let (a, b) = if code_only_bias && !code.is_empty() && rng.below(3) == 0 {
            code[rng.below(code.len())]
        } else {
            regions[rng.below(regions.len())]
        };
        let count = match rng.below(8) {
            0..=4 => 1,
            5 | 6 => 2 + rng.below(3),
            _ => 5 + rng.below(12),
        };
        let mut list = Vec::with_capacity(count);
        for _ in 0..count {
            let at = a + rng.below(b - a);
            let m = match rng.below(4) {
                0 => 0xff,
                1 => orig[at],        // -> 0
                2 => orig[at] ^ 0xff, // -> 0xff
                _ => 1 << rng.below(8),
            };
            if m != 0 {
                list.push((at, m));
            }
        }
        if !list.is_empty() {
            out.push(Mutation::Flip(list));
        }
    }
    out.truncate(n);
    out
}

// ---------------------------------------------------------------------------
// Running jobs with a time limit and panic capture
// ---------------------------------------------------------------------------

#[derive(Debug)]
enum Outcome {
    /// Everything ran; the label says how far (e.g. "rendered").
    Ok(&'static str),
    /// A clean library error at a stage.
    Err(&'static str, #[allow(dead_code)] String),
    /// A panic: location and message.
    Panic(String),
    Timeout,
}

type Job = Box<dyn FnOnce() -> Outcome + Send>;

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}
const WORKER: &str = "mutant-worker";

/// A panic hook that records panics of worker threads silently and leaves
/// every other thread's panics to the default hook.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(WORKER) {
                let msg = info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{loc}: {msg}")));
            } else {
                default(info);
            }
        }));
    });
}

struct Worker {
    tx: Sender<Job>,
    rx: Receiver<Outcome>,
}

impl Worker {
    fn spawn() -> Worker {
        let (tx, jobs) = channel::<Job>();
        let (done, rx) = channel::<Outcome>();
        std::thread::Builder::new()
            .name(WORKER.into())
            .stack_size(64 << 20)
            .spawn(move || {
                for job in jobs {
                    let o = match catch_unwind(AssertUnwindSafe(job)) {
                        Ok(o) => o,
                        Err(_) => Outcome::Panic(
                            LAST_PANIC
                                .with(|p| p.borrow_mut().take())
                                .unwrap_or_else(|| "unknown panic".into()),
                        ),
                    };
                    if done.send(o).is_err() {
                        return;
                    }
                }
            })
            .expect("spawn worker");
        Worker { tx, rx }
    }
}

struct Runner {
    worker: Worker,
    limit: Duration,
    /// Workers abandoned because a job overran its limit.
    abandoned: usize,
}

impl Runner {
    fn new(limit: Duration) -> Runner {
        install_hook();
        Runner {
            worker: Worker::spawn(),
            limit,
            abandoned: 0,
        }
    }

    fn run(&mut self, job: Job) -> (Outcome, Duration) {
        let t = Instant::now();
        self.worker.tx.send(job).expect("worker alive");
        match self.worker.rx.recv_timeout(self.limit) {
            Ok(o) => (o, t.elapsed()),
            Err(RecvTimeoutError::Timeout) => {
                // Leave the stuck thread behind (it cannot be killed) and
                // carry on with a fresh one.
                self.worker = Worker::spawn();
                self.abandoned += 1;
                (Outcome::Timeout, t.elapsed())
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.worker = Worker::spawn();
                (Outcome::Panic("worker died".into()), t.elapsed())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Bookkeeping
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    runs: usize,
    ok: BTreeMap<&'static str, usize>,
    errors: BTreeMap<&'static str, usize>,
    /// Distinct panic sites → (count, first reproducers).
    panics: BTreeMap<String, (usize, Vec<String>)>,
    timeouts: Vec<String>,
    bytes: u64,
    busy: Duration,
    slowest: (Duration, String),
    files: usize,
}

impl Stats {
    fn panics_total(&self) -> usize {
        self.panics.values().map(|p| p.0).sum()
    }

    fn record(&mut self, o: Outcome, took: Duration, size: usize, repro: impl Fn(&str) -> String) {
        self.runs += 1;
        self.bytes += size as u64;
        self.busy += took;
        if took > self.slowest.0 {
            self.slowest = (took, repro("slowest"));
        }
        match o {
            Outcome::Ok(s) => *self.ok.entry(s).or_default() += 1,
            Outcome::Err(s, _) => *self.errors.entry(s).or_default() += 1,
            Outcome::Panic(msg) => {
                // Group by location (the text before the message).
                let key = msg.split(": ").next().unwrap_or(&msg).to_string();
                let e = self.panics.entry(key).or_insert((0, Vec::new()));
                e.0 += 1;
                if e.1.len() < 3 {
                    e.1.push(format!("{msg}\n        {}", repro("panic")));
                }
            }
            Outcome::Timeout => {
                let r = repro("timeout");
                self.timeouts.push(r);
            }
        }
    }

    fn report(&self, what: &str, wall: Duration) -> String {
        let mb = self.bytes as f64 / 1048576.0;
        let mut s = format!(
            "{what}: {} inputs, {} mutants in {:.1} s ({:.0}/s, {:.1} MB/s); ok {:?}; clean errors {:?} ({} total); panics {}; timeouts {}\n  slowest: {:.1} ms: {}\n",
            self.files,
            self.runs,
            wall.as_secs_f64(),
            self.runs as f64 / wall.as_secs_f64().max(1e-9),
            mb / wall.as_secs_f64().max(1e-9),
            self.ok,
            self.errors,
            self.errors.values().sum::<usize>(),
            self.panics_total(),
            self.timeouts.len(),
            self.slowest.0.as_secs_f64() * 1000.0,
            self.slowest.1,
        );
        for (site, (n, repros)) in &self.panics {
            s.push_str(&format!("  PANIC x{n} at {site}\n"));
            for r in repros {
                s.push_str(&format!("      {r}\n"));
            }
        }
        for t in &self.timeouts {
            s.push_str(&format!("  TIMEOUT {t}\n"));
        }
        s
    }
}

/// Save a failing input outside the repository and describe it.
fn save(dir: &Path, kind: &str, input: &Path, id: usize, m: &Mutation, bytes: &[u8]) -> String {
    let stem = input
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace('/', "_");
    let out = dir.join(format!("{kind}.{stem}.{id}"));
    let mut saved = String::new();
    if !kind.ends_with("slowest") {
        let _ = std::fs::create_dir_all(dir);
        if std::fs::write(&out, bytes).is_ok() {
            let _ = std::fs::write(
                out.with_extension(format!("{id}.txt")),
                format!(
                    "input: {}\nmutation #{id}: {}\n",
                    input.display(),
                    m.describe()
                ),
            );
            saved = format!(" -> saved {}", out.display());
        }
    }
    format!("{} mutant #{id}: {}{saved}", input.display(), m.describe())
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

fn fixture_files() -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if std::fs::read(&p).is_ok_and(|b| b.starts_with(b"\x7fELF"))
                || p.extension().is_some_and(|x| x == "o")
            {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&support::root().join("tests/fixtures"), &mut v);
    v.sort();
    v
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    v.sort();
    v
}

#[derive(Clone, Copy, PartialEq)]
struct Ops {
    checksum: bool,
    diff: bool,
}

fn ops_from_env() -> Ops {
    let s = std::env::var("KLPWRITE_MUTANT_OPS").unwrap_or_else(|_| "inspect,checksum,diff".into());
    let has = |x: &str| s.split([',', ' ']).any(|o| o == x);
    Ops {
        checksum: has("checksum"),
        diff: has("diff"),
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The inspect job (plus optional checksum / diff against the original).
fn inspect_job(bytes: Vec<u8>, orig: Option<Arc<Elf>>, ops: Ops) -> Job {
    Box::new(move || {
        let elf = match load("mutant.o", bytes.clone(), Expect::Any) {
            Ok(e) => e,
            Err(e) => return Outcome::Err("load", e.to_string()),
        };
        let text = dump::render(&elf);
        std::hint::black_box(text.len());
        if !ops.checksum && !ops.diff {
            return Outcome::Ok("rendered");
        }
        let rel = match load("mutant.o", bytes, Expect::Relocatable) {
            Ok(e) => e,
            Err(e) => return Outcome::Err("load-rel", e.to_string()),
        };
        if ops.checksum {
            match checksum::run(&rel) {
                Ok(c) => {
                    std::hint::black_box(checksum::render_text(&rel, &c).len());
                }
                Err(e) => return Outcome::Err("checksum", e.to_string()),
            }
        }
        if ops.diff
            && let Some(o) = orig
        {
            match diff::run(&o, &rel) {
                Ok(d) => {
                    std::hint::black_box(d.render(&o, &rel).len());
                }
                Err(e) => return Outcome::Err("diff", e.to_string()),
            }
        }
        Outcome::Ok("all ops")
    })
}

/// Inspect sweep over `files`, `per_file` mutants each.
fn sweep_inspect(
    files: &[PathBuf],
    per_file: usize,
    runner: &mut Runner,
    ops: Ops,
    dir: &Path,
) -> Stats {
    let mut st = Stats::default();
    for f in files {
        let orig = std::fs::read(f).unwrap();
        st.files += 1;
        let orig_elf = if ops.diff {
            load(&f.display().to_string(), orig.clone(), Expect::Relocatable)
                .ok()
                .map(Arc::new)
        } else {
            None
        };
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        for (id, m) in mutations(&name, &orig, per_file, false)
            .into_iter()
            .enumerate()
        {
            let bytes = m.apply(&orig);
            let size = bytes.len();
            // An abort (a stack overflow) ends the process before the
            // report: KLPWRITE_MUTANT_TRACE=1 names each mutant first.
            if std::env::var_os("KLPWRITE_MUTANT_TRACE").is_some() {
                eprintln!("mutant: {} #{id}: {}", f.display(), m.describe());
            }
            let (o, took) = runner.run(inspect_job(bytes.clone(), orig_elf.clone(), ops));
            st.record(o, took, size, |kind| save(dir, kind, f, id, &m, &bytes));
        }
    }
    st
}

// ---------------------------------------------------------------------------
// Extract on mutated PATCHED objects
// ---------------------------------------------------------------------------
//
// extract runs as a child process (the klpwrite binary of this build), not
// on a worker thread: a mutant can make it allocate gigabytes, which an
// abandoned thread would keep holding. The child is killed at the time
// limit and, when util-linux `prlimit` exists, capped at 4 GiB of address
// space and 256 MiB per output file. Mutants the loader rejects are
// counted in-process without starting a child.

/// Corpus cases used for the extract sweep: prefixes, .cold/.isra parts,
/// jump labels, static calls, the bug and exception tables, clang output,
/// new data.
const EXTRACT_CASES: &[&str] = &[
    "cmdline-ubsan",
    "cold-add2",
    "jump-label-issue-1021",
    "static-call-issue-1165",
    "bug-table-section",
    "fixup-section",
    "clang-lstr",
    "data-new",
];

struct ExtractCase {
    name: String,
    patched: PathBuf,
    orig_path: PathBuf,
    /// Function list file.
    list: PathBuf,
    /// Module.symvers declaring every imported name a vmlinux export.
    symvers: PathBuf,
}

/// Every UNDEF name of either object is a vmlinux export (the corpus
/// harness's convention), as Module.symvers text.
fn harness_symvers(a: &Elf, b: &Elf) -> String {
    let mut names: Vec<String> = [a, b]
        .iter()
        .flat_map(|e| e.symbols.iter())
        .filter(|s| s.is_undef() && !s.name.is_empty())
        .map(|s| s.display_name())
        .collect();
    names.sort();
    names.dedup();
    names
        .iter()
        .map(|n| format!("0x00000000\t{n}\tvmlinux\tEXPORT_SYMBOL\t\n"))
        .collect()
}

fn extract_cases(dir: &Path, work: &Path) -> Vec<ExtractCase> {
    let tsv = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut v = Vec::new();
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if !EXTRACT_CASES.contains(&f[0]) || f[1] != "patch" {
            continue;
        }
        let p = |s: &str| dir.join(format!("{}.{s}", f[0]));
        let ld = |p: &Path| {
            klpwrite::elf::load::load_file(&p.display().to_string(), Expect::Relocatable)
                .expect("corpus object loads")
        };
        let (orig, patched) = (ld(&p("ORIG.o")), ld(&p("PATCHED.o")));
        let list = work.join(format!("{}.list", f[0]));
        let symvers = work.join(format!("{}.symvers", f[0]));
        std::fs::write(&list, f[4].replace(',', "\n")).unwrap();
        std::fs::write(&symvers, harness_symvers(&orig, &patched)).unwrap();
        v.push(ExtractCase {
            name: f[0].to_string(),
            patched: p("PATCHED.o"),
            orig_path: p("ORIG.o"),
            list,
            symvers,
        });
    }
    assert_eq!(
        v.len(),
        EXTRACT_CASES.len(),
        "extract cases missing from EXPECTED.tsv"
    );
    v
}

fn have_prlimit() -> bool {
    Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `panicked at LOCATION:\nMESSAGE` from a child's stderr, as
/// `LOCATION: MESSAGE`.
fn panic_site(stderr: &str) -> Option<String> {
    let at = stderr.find("panicked at ")? + "panicked at ".len();
    let rest = &stderr[at..];
    let (loc, tail) = rest.split_once('\n').unwrap_or((rest, ""));
    let loc = loc.trim_end_matches(':');
    let msg = tail.lines().next().unwrap_or("");
    Some(format!("{loc}: {msg}"))
}

/// Run `klpwrite extract` on `mutant` with the time limit; classify.
fn extract_cli(
    c: &ExtractCase,
    mutant: &Path,
    out: &Path,
    limit: Duration,
    prlimit: bool,
) -> Outcome {
    let bin = env!("CARGO_BIN_EXE_klpwrite");
    let mut cmd = if prlimit {
        let mut c = Command::new("prlimit");
        c.args(["--as=4294967296", "--fsize=268435456", "--"])
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let _ = std::fs::remove_file(out);
    cmd.arg("extract")
        .arg(mutant)
        .arg("--changes")
        .arg(&c.list)
        .args(["--objname", "vmlinux", "--symbols"])
        .arg(&c.orig_path)
        .arg("--symvers")
        .arg(&c.symvers)
        .arg("-o")
        .arg(out)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start klpwrite");
    // Drain stderr on a thread so a chatty child cannot block.
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    });
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let stderr = reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Outcome::Timeout;
    };
    let first = stderr.lines().next().unwrap_or("").to_string();
    match (status.code(), status.signal()) {
        (Some(0), _) => {
            // klpwrite's own output must always load and render.
            let bytes = std::fs::read(out).unwrap_or_default();
            match load("out.klp.o", bytes, Expect::Relocatable) {
                Ok(o) => {
                    std::hint::black_box(dump::render(&o).len());
                    Outcome::Ok("extracted")
                }
                Err(e) => {
                    Outcome::Panic(format!("bad output: written object does not reload: {e}"))
                }
            }
        }
        (Some(1), _) => Outcome::Ok("nothing to do"),
        (Some(2), _) => Outcome::Err("extract", first),
        (Some(101), _) => Outcome::Panic(panic_site(&stderr).unwrap_or(first)),
        (Some(n), _) => Outcome::Panic(format!("exit {n}: {first}")),
        (None, Some(sig)) => Outcome::Panic(format!("killed by signal {sig}: {first}")),
        (None, None) => Outcome::Panic("no exit status".into()),
    }
}

fn sweep_extract(
    cases: &[ExtractCase],
    per_case: usize,
    runner: &mut Runner,
    dir: &Path,
    work: &Path,
) -> Stats {
    let mut st = Stats::default();
    let prlimit = have_prlimit();
    let mutant = work.join("mutant.PATCHED.o");
    let out = work.join("out.klp.o");
    for c in cases {
        let orig = std::fs::read(&c.patched).unwrap();
        st.files += 1;
        let key = format!("extract:{}", c.name);
        for (id, m) in mutations(&key, &orig, per_case, true)
            .into_iter()
            .enumerate()
        {
            let bytes = m.apply(&orig);
            let size = bytes.len();
            let t = Instant::now();
            // The loader's verdict in-process first: a rejected mutant
            // needs no child.
            let b2 = bytes.clone();
            let (pre, _) = runner.run(Box::new(move || {
                match load("mutant.PATCHED.o", b2, Expect::Relocatable) {
                    Ok(_) => Outcome::Ok("loaded"),
                    Err(e) => Outcome::Err("load", e.to_string()),
                }
            }));
            let o = match pre {
                Outcome::Ok(_) => {
                    std::fs::write(&mutant, &bytes).unwrap();
                    extract_cli(c, &mutant, &out, runner.limit, prlimit)
                }
                other => other,
            };
            st.record(o, t.elapsed(), size, |kind| {
                save(dir, &format!("extract-{kind}"), &c.patched, id, &m, &bytes)
            });
        }
    }
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&mutant);
    st
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

fn sweep(inspect_total: usize, extract_total: usize) {
    let limit = Duration::from_secs(env_usize("KLPWRITE_MUTANT_LIMIT").unwrap_or(10) as u64);
    let dir = PathBuf::from(
        std::env::var("KLPWRITE_MUTANT_DIR").unwrap_or_else(|_| "/tmp/klpwrite-mutants".into()),
    );
    let ops = ops_from_env();
    let corpus = support::corpus_dir();
    let mut files = fixture_files();
    if let Some(d) = &corpus {
        files.extend(corpus_files(d));
    }
    assert!(!files.is_empty());
    let per_file = inspect_total.div_ceil(files.len());
    let mut runner = Runner::new(limit);
    let mut report = String::new();
    let mut bad = 0;

    if per_file > 0 {
        let t = Instant::now();
        let st = sweep_inspect(&files, per_file, &mut runner, ops, &dir);
        let wall = t.elapsed();
        report.push_str(&st.report(
            &format!(
                "inspect{}{}",
                if ops.checksum { "+checksum" } else { "" },
                if ops.diff { "+diff" } else { "" }
            ),
            wall,
        ));
        bad += st.panics_total() + st.timeouts.len();
    }

    if let Some(d) = &corpus
        && extract_total > 0
    {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let work = dir.join(format!("work-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&work).unwrap();
        let cases = extract_cases(d, &work);
        let per_case = extract_total.div_ceil(cases.len()).max(1);
        let t = Instant::now();
        let se = sweep_extract(&cases, per_case, &mut runner, &dir, &work);
        let _ = std::fs::remove_dir_all(&work);
        report.push_str(&se.report("extract", t.elapsed()));
        bad += se.panics_total() + se.timeouts.len();
    }
    if runner.abandoned > 0 {
        report.push_str(&format!(
            "  {} worker thread(s) abandoned after timeouts\n",
            runner.abandoned
        ));
    }
    println!("{report}");
    assert_eq!(bad, 0, "mutation sweep found panics or timeouts:\n{report}");
}

/// Test that ~12,000 deterministic mutants of every fixture and corpus
/// object never make load + inspect + checksum + diff panic or hang.
#[test]
fn mutation_sweep_ci_inspect() {
    sweep(env_usize("KLPWRITE_MUTANTS").unwrap_or(12_000), 0);
}

/// Test that ~1,200 deterministic mutants of corpus PATCHED objects never
/// make `klpwrite extract` panic, abort, hang or write an object that does
/// not load.
#[test]
fn mutation_sweep_ci_extract() {
    sweep(0, env_usize("KLPWRITE_EXTRACT_MUTANTS").unwrap_or(1_200));
}

/// Test that ≥ 100,000 deterministic mutants through inspect, checksum and
/// diff, and 12,000
/// through extract never make klpwrite panic or hang (run with --release).
#[test]
#[ignore = "long: run with `cargo test --release --test mutation_sweep -- --ignored --nocapture`"]
fn mutation_sweep_full() {
    sweep(
        env_usize("KLPWRITE_MUTANTS").unwrap_or(120_000),
        env_usize("KLPWRITE_EXTRACT_MUTANTS").unwrap_or(12_000),
    );
}
