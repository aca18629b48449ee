//! `klpwrite post-link` on arbitrary bytes: a rewritten module must encode
//! and load again.
#![no_main]

use klpwrite::elf::load::{Expect, load};
use klpwrite::kbuild::{PostLinked, post_link};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(elf) = load("fuzz.ko", data.to_vec(), Expect::Relocatable) else { return };
    if let Ok(PostLinked::Rewritten { out, .. }) = post_link(&elf) {
        // The writer may refuse (a clean error); what it writes must load.
        if let Ok(bytes) = klpwrite::write::to_bytes(&out) {
            load("out.ko", bytes, Expect::Relocatable).expect("post-link output must load again");
        }
    }
});
