//! `diff` of two objects: the input is `len (u32 LE) | orig | patched`.
#![no_main]

use klpwrite::elf::load::{Expect, load};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let n = (u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize).min(data.len() - 4);
    let (a, b) = data[4..].split_at(n);
    if let (Ok(o), Ok(p)) = (
        load("orig", a.to_vec(), Expect::Relocatable),
        load("patched", b.to_vec(), Expect::Relocatable),
    ) && let Ok(r) = klpwrite::diff::run(&o, &p)
    {
        let _ = r.render(&o, &p);
    }
});
