//! The loader and both `inspect` views on arbitrary bytes.
#![no_main]

use klpwrite::elf::load::{Expect, load};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(elf) = load("fuzz", data.to_vec(), Expect::Any) {
        let _ = klpwrite::dump::render(&elf);
        let _ = klpwrite::dump::render_special(&elf);
    }
});
