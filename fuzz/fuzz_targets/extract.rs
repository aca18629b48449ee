//! `extract` of every function of an arbitrary object, with the object as
//! its own target and every undefined name exported by vmlinux; a written
//! output must load again.
#![no_main]

use klpwrite::changes::{Change, ChangeKind};
use klpwrite::elf::load::{Expect, load};
use klpwrite::extract::{Inputs, Options, run};
use klpwrite::symvers::{Export, Exports};
use klpwrite::target::{Target, TargetObject, from_elf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(elf) = load("fuzz", data.to_vec(), Expect::Relocatable) else { return };
    let changes: Vec<Change> = elf
        .symbols
        .iter()
        .filter(|s| s.is_func() && s.section.is_some() && !s.name.is_empty())
        .take(4)
        .map(|s| Change { name: s.display_name(), kind: ChangeKind::Unspecified, line: 1 })
        .collect();
    if changes.is_empty() {
        return;
    }
    let Ok(obj): Result<TargetObject, _> = from_elf(&elf, "vmlinux") else { return };
    let target = Target { objects: vec![obj] };
    let mut exports = Exports::default();
    for s in elf.symbols.iter().filter(|s| s.is_undef() && !s.name.is_empty()) {
        exports.insert(&s.display_name(), Export { crc: 0, module: "vmlinux".into(), export_type: "EXPORT_SYMBOL".into(), namespace: None });
    }
    let inputs = Inputs { patched: &elf, orig: None, changes: &changes, target: &target, exports: &exports, have_symvers: true };
    if let Ok(ex) = run(&inputs, &Options { objname: "vmlinux".into(), ..Default::default() }) {
        // The writer may refuse (a clean error); what it writes must load.
        if let Ok(bytes) = klpwrite::write::to_bytes(&ex.out) {
            load("out", bytes, Expect::Relocatable).expect("extract output must load again");
        }
    }
});
