//! Kernel images: a Debian vmlinuz (bzImage, XZ with the x86 BCJ filter)
//! decompresses to exactly the vmlinux the e2e suite extracted with the
//! kernel's own scripts. Runs when the e2e cache exists
//! (`KLPWRITE_E2E_CACHE`, default /var/cache/klpwrite-e2e); otherwise it
//! says so and passes.

use klpwrite::image::{KernelImage, decompress_bzimage};

#[test]
fn vmlinuz_decompresses_to_the_extracted_vmlinux() {
    let cache =
        std::env::var("KLPWRITE_E2E_CACHE").unwrap_or_else(|_| "/var/cache/klpwrite-e2e".into());
    let Ok(entries) = std::fs::read_dir(&cache) else {
        eprintln!("note: no e2e cache at {cache}; skipped");
        return;
    };
    let mut checked = 0;
    for e in entries.flatten() {
        let k = e.path();
        let Some(krel) = k.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        let vmlinuz = k.join(format!("root/boot/vmlinuz-{krel}"));
        let vmlinux = k.join("vmlinux");
        if !vmlinuz.exists() || !vmlinux.exists() {
            continue;
        }
        let z = std::fs::read(&vmlinuz).unwrap();
        let got = decompress_bzimage(&z).unwrap();
        let want = std::fs::read(&vmlinux).unwrap();
        assert!(
            got == want,
            "{}: decompressed {} bytes differ from {}",
            vmlinuz.display(),
            got.len(),
            vmlinux.display()
        );
        let img = KernelImage::from_bytes(&vmlinuz.display().to_string(), z).unwrap();
        assert_eq!(img.release.as_deref(), Some(krel.as_str()));
        checked += 1;
    }
    eprintln!("checked {checked} kernel image(s)");
}

#[test]
fn garbage_images_are_refused() {
    for bytes in [vec![], b"not a kernel".to_vec(), vec![0x9f, 0xeb, 1]] {
        assert!(KernelImage::from_bytes("x", bytes).is_err());
    }
    // A bzImage header whose payload points outside the file.
    let mut b = vec![0u8; 0x400];
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206] = 0x0f;
    b[0x207] = 0x02;
    b[0x1f1] = 1;
    b[0x248..0x24c].copy_from_slice(&0x1000u32.to_le_bytes());
    b[0x24c..0x250].copy_from_slice(&0x1000u32.to_le_bytes());
    let e = KernelImage::from_bytes("x", b).unwrap_err().to_string();
    assert!(e.contains("payload lies outside"), "{e}");
}
