#!/usr/bin/env python3
"""vmlinux-match.py - do our compiled objects match the kernel we boot?

Usage: vmlinux-match.py VMLINUX KALLSYMS OBJ FUNC[@POS]...

VMLINUX is the ELF extracted from Debian's vmlinuz (stripped, but with its
program headers), KALLSYMS a /proc/kallsyms snapshot of the same kernel
(booted with nokaslr, or any boot: the KASLR offset is taken from _text).
For every FUNC (POS = which of several same-named local symbols, 1-based in
kallsyms order, default 1) the bytes of OBJ's .text.FUNC section (objects are
built with -ffunction-sections) are compared with the kernel's bytes at that
symbol, ignoring the fields that relocations fill in, plus the whole 5-byte
__fentry__ call (a NOP in the image).  Prints one line per function and exits
1 if any differs.
"""
import struct
import subprocess
import sys

TEXT_BASE = 0xFFFFFFFF81000000


def load_segments(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF":
        sys.exit(f"{path}: not an ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segs = []
    for i in range(phnum):
        p_type, _flags, off, vaddr, _pa, filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:  # PT_LOAD
            segs.append((vaddr, off, filesz))
    return data, segs


def image_bytes(image, addr, n):
    data, segs = image
    for vaddr, off, filesz in segs:
        if vaddr <= addr and addr + n <= vaddr + filesz:
            return data[off + addr - vaddr: off + addr - vaddr + n]
    sys.exit(f"address {addr:#x} is not in the image")


def kallsyms(path):
    syms, text = {}, None
    for line in open(path, errors="replace"):
        f = line.split()
        if len(f) < 3 or len(f) > 3:      # skip module symbols "[mod]"
            continue
        addr = int(f[0], 16)
        if f[2] == "_text":
            text = addr
        syms.setdefault(f[2], []).append((addr, f[1]))
    if text is None:
        sys.exit(f"{path}: no _text symbol")
    return syms, text - TEXT_BASE


def section_and_relocs(obj, sec):
    out = subprocess.run(["objcopy", "-O", "binary", "--only-section=" + sec,
                          obj, "/dev/stdout"], capture_output=True, check=True).stdout
    txt = subprocess.run(["readelf", "-rW", obj], capture_output=True, text=True,
                         check=True).stdout
    relocs, on = [], False
    for line in txt.splitlines():
        if line.startswith("Relocation section"):
            on = f"'.rela{sec}'" in line
            continue
        f = line.split()
        if on and len(f) >= 5 and f[2].startswith("R_X86_64_"):
            relocs.append((int(f[0], 16), f[2], f[4]))
    return out, relocs


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    image = load_segments(sys.argv[1])
    syms, slide = kallsyms(sys.argv[2])
    obj, bad = sys.argv[3], 0
    for spec in sys.argv[4:]:
        name, _, pos = spec.partition("@")
        pos = int(pos or 1)
        cands = [a for a, t in syms.get(name, []) if t in "tT"]
        if len(cands) < pos:
            print(f"MISMATCH {name}@{pos}: kallsyms has {len(cands)} copies")
            bad += 1
            continue
        code, relocs = section_and_relocs(obj, ".text." + name)
        if not code:
            print(f"MISMATCH {name}: {obj} has no .text.{name}")
            bad += 1
            continue
        kern = image_bytes(image, cands[pos - 1] - slide, len(code))
        skip = set()
        for off, typ, sym in relocs:
            width = 8 if typ in ("R_X86_64_64", "R_X86_64_PC64") else 4
            skip.update(range(off, off + width))
            if sym == "__fentry__":
                skip.update(range(off - 1, off + 4))
        diff = [i for i in range(len(code)) if i not in skip and code[i] != kern[i]]
        where = f"{name}@{pos} at {cands[pos - 1]:#x}"
        if diff:
            print(f"MISMATCH {where}: {len(diff)} of {len(code)} bytes differ, first at +{diff[0]:#x}")
            bad += 1
        else:
            print(f"MATCH {where}: {len(code)} bytes ({len(skip)} relocated)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
