//! `checksum` on arbitrary relocatable objects.
#![no_main]

use klpwrite::elf::load::{Expect, load};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(elf) = load("fuzz", data.to_vec(), Expect::Relocatable)
        && let Ok(c) = klpwrite::checksum::run(&elf)
    {
        let _ = klpwrite::checksum::render_json(&elf, &c);
    }
});
