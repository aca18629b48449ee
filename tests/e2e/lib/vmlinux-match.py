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

The compared range is the function symbol's own range in OBJ (st_value,
st_size): on kernels with CONFIG_CALL_PADDING (6.12) the section begins with
16 bytes of padding NOPs that belong to the __pfx_ symbol in vmlinux.

Objects compiled for a kernel that runs objtool only on vmlinux.o at link
time (CONFIG_X86_KERNEL_IBT, 6.12: --link-objtool) are raw compiler output.
objtool then edits the linked code.  These edits, and only these, are
accepted, and counted in the output line:
  jump-label  a __jump_table site of OBJ is "jmp rel8" (eb) or "jmp rel32"
              (e9) and the kernel has the NOP of the same length
              (66 90 / 0f 1f 44 00 00): objtool --hacks=jump_label NOPs
              every such site; the kernel patches the enabled ones at boot.
Any other byte difference is a MISMATCH.  Not edits on disk (6.12):
ENDBR sealing (objtool --ibt only lists unused ENDBRs in .ibt_endbr_seal;
apply_seal_endbr() in arch/x86/kernel/alternative.c poisons them at boot),
call-depth accounting (.call_sites, patched at boot), return/retpoline
thunks (relocated calls; .return_sites/.retpoline_sites are patched at boot),
ORC (tables only), __fentry__ (skipped, as on 6.1), the __pfx_ padding
(outside the compared range).

Batch form (tests/e2e/update-sweep.sh):
    vmlinux-match.py --all VMLINUX KALLSYMS LIST
LIST has one "OBJ TARGET" a line; TARGET is "vmlinux" (VMLINUX + KALLSYMS) or
a module .ko of the same kernel.  Every function of OBJ (STT_FUNC) that the
target has by name is compared with each same-named copy there (the same
rules as above: relocated fields and the __fentry__ call skipped); it
matches if one copy matches; weak functions are left out (the kernel may
link a strong one of another file), and a relocated jmp/jcc rel32 may be
the kernel's relaxed rel8 form (Debian builds without -ffunction-sections,
so a jump to a near function of the same file was relaxed by the
assembler).  One line per OBJ:
    OBJ MATCH|MISMATCH|ABSENT <matched> <mismatched> <absent> [names that differ]
MATCH: at least one function matched and none differed; MISMATCH: some name
the target has differs from every copy (for vmlinux only when another
function matched); ABSENT: nothing matched (vmlinux: the object is not built
into it with Debian's config, its names are other files' functions).  Exit status 0.
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


def symbols(obj):
    """name -> [(value, size, section name)] of OBJ's FUNC symbols"""
    secs = {}
    txt = subprocess.run(["readelf", "-SW", obj], capture_output=True, text=True,
                         check=True).stdout
    for line in txt.splitlines():
        line = line.replace("[ ", "[")
        f = line.split()
        if len(f) > 2 and f[0].startswith("[") and f[0].endswith("]") and f[0][1:-1].isdigit():
            secs[f[0][1:-1]] = f[1]
    out = {}
    txt = subprocess.run(["readelf", "-sW", obj], capture_output=True, text=True,
                         check=True).stdout
    for line in txt.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FUNC":
            out.setdefault(f[7], []).append((int(f[1], 16), int(f[2], 0), secs.get(f[6], "")))
    return out


def jump_sites(obj, sec, funcs):
    """offsets in SEC of OBJ's __jump_table code addresses"""
    txt = subprocess.run(["readelf", "-rW", obj], capture_output=True, text=True,
                         check=True).stdout
    sites, on = set(), False
    for line in txt.splitlines():
        if line.startswith("Relocation section"):
            on = "'.rela__jump_table'" in line
            continue
        f = line.split()
        if not on or len(f) < 7 or not f[2].startswith("R_X86_64_PC32"):
            continue
        off = int(f[0], 16)
        if off % 16 != 0:          # entry: code, target (PC32), key (PC64)
            continue
        add = int(f[6], 16) * (-1 if f[5] == "-" else 1)
        if f[4] == sec:
            sites.add(add)
        elif f[4] in funcs and funcs[f[4]][0][2] == sec:
            sites.add(funcs[f[4]][0][0] + add)
    return sites


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


# ---- batch form: a small ELF64 reader, no tools per function -----------------

RELOC_WIDTH = {1: 8, 24: 8, 2: 4, 4: 4, 9: 4, 10: 4, 11: 4, 41: 4, 42: 4}


class Elf:
    def __init__(self, path):
        self.d = d = open(path, "rb").read()
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        self.secs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize)
                     for i in range(shnum)]
        self.names = [self.cstr(self.secs[shstrndx][4] + s[0]) for s in self.secs]
        self.syms = []
        for s in self.secs:
            if s[1] == 2:  # SHT_SYMTAB
                stroff = self.secs[s[6]][4]
                for i in range(s[5] // 24):
                    n, info, _o, shndx, value, size = struct.unpack_from("<IBBHQQ", d, s[4] + i * 24)
                    self.syms.append((self.cstr(stroff + n), info, shndx, value, size))

    def cstr(self, off):
        return self.d[off:self.d.index(b"\0", off)].decode(errors="replace")

    def funcs(self, strong=False):
        """name -> [(shndx, value, size)] of the defined STT_FUNC symbols;
        strong: without the weak ones (__weak arch_cpu_idle, pcibios_*: the
        kernel links another file's strong definition instead)"""
        out = {}
        for name, info, shndx, value, size in self.syms:
            if strong and info >> 4 == 2:  # STB_WEAK
                continue
            if info & 0xF == 2 and 0 < shndx < 0xFF00 and size > 0:
                out.setdefault(name, []).append((shndx, value, size))
        return out

    def code(self, shndx, value, size):
        s = self.secs[shndx]
        return self.d[s[4] + value: s[4] + value + size]

    def skipped(self, shndx, value, size):
        """offsets inside [value, value+size) that relocations fill in"""
        skip = set()
        for s in self.secs:
            if s[1] != 4 or s[7] != shndx:  # SHT_RELA for this section
                continue
            symtab = self.secs[s[6]]
            for i in range(s[5] // 24):
                off, info, _add = struct.unpack_from("<QQq", self.d, s[4] + i * 24)
                if not value <= off < value + size:
                    continue
                w = RELOC_WIDTH.get(info & 0xFFFFFFFF, 4)
                skip.update(range(off - value, off - value + w))
                n, = struct.unpack_from("<I", self.d, symtab[4] + (info >> 32) * 24)
                if self.cstr(self.secs[symtab[6]][4] + n) == "__fentry__":
                    skip.update(range(off - value - 1, off - value + 4))
        return skip


def same_code(code, kern, skip):
    """code (the object's function) against kern (the kernel's bytes there):
    equal but for the relocated fields, and for branch relaxation: with
    -ffunction-sections a jump to another function is a `jmp rel32` (e9) or
    `jcc rel32` (0f 8x) with a relocation, where Debian's build (one .text
    per file) let the assembler relax it to `jmp rel8` (eb) / `jcc rel8`
    (7x) when the target was near; the rest of the function shifts by 3 or 4
    bytes, and the displacements of the function's own branches over such a
    jump with it (so branch displacements are not compared, their opcodes
    are)."""
    i = j = 0
    while i < len(code):
        if j >= len(kern):
            return False
        # (a jump inside the function may shrink too once the function did)
        if code[i] == 0xE9 and kern[j] == 0xEB and i not in skip:
            i, j = i + 5, j + 2
            continue
        if (code[i] == 0x0F and i + 1 < len(code) and code[i + 1] & 0xF0 == 0x80
                and kern[j] == 0x70 | (code[i + 1] & 0x0F) and i not in skip):
            i, j = i + 6, j + 2
            continue
        # a branch inside the function: its displacement changes when a
        # relaxed jump lies between it and its target; opcodes must match
        if code[i] == kern[j] and i not in skip:
            if 0x70 <= code[i] <= 0x7F or code[i] == 0xEB:
                i, j = i + 2, j + 2
                continue
            if (code[i] == 0x0F and i + 1 < len(code) and j + 1 < len(kern)
                    and 0x80 <= code[i + 1] <= 0x8F and code[i + 1] == kern[j + 1]):
                i, j = i + 6, j + 6
                continue
            if code[i] == 0xE9:
                i, j = i + 5, j + 5
                continue
        if i not in skip and code[i] != kern[j]:
            return False
        i, j = i + 1, j + 1
    return True


def batch(vmlinux, kallsyms_path, listfile):
    image = syms = slide = None
    kos = {}
    for line in open(listfile):
        f = line.split()
        if len(f) != 2:
            continue
        obj, target = f
        o = Elf(obj)
        if target == "vmlinux":
            if image is None:
                image = load_segments(vmlinux)
                syms, slide = kallsyms(kallsyms_path)

            def copies(name):
                return [a - slide for a, t in syms.get(name, []) if t in "tT"]

            def kbytes(c, n):
                return image_bytes(image, c, n)
        else:
            if target not in kos:
                k = Elf(target)
                kos[target] = (k, k.funcs())
            k, kf = kos[target]

            def copies(name):
                return kf.get(name, [])

            def kbytes(c, n):
                return k.code(c[0], c[1], n)
        good, bad, absent = 0, [], 0
        for name, defs in sorted(o.funcs(strong=True).items()):
            cs = copies(name)
            if not cs:
                absent += 1
                continue
            shndx, value, size = defs[0]
            code = o.code(shndx, value, size)
            skip = o.skipped(shndx, value, size)
            ok = False
            for c in cs:
                try:
                    kern = kbytes(c, len(code))
                except SystemExit:
                    continue
                if same_code(code, kern, skip):
                    ok = True
                    break
            if ok:
                good += 1
            else:
                bad.append(name)
        # vmlinux: names it has but no copy matches, and nothing matched at
        # all, are same-named functions of other files (the object is not
        # built into vmlinux); a module .ko is the object's own module
        verdict = ("MISMATCH" if bad and (good or target != "vmlinux")
                   else "MATCH" if good else "ABSENT")
        print(obj, verdict, good, len(bad), absent, ",".join(bad[:8]))
        sys.stdout.flush()


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--all":
        batch(*sys.argv[2:])
        return
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    args = sys.argv[1:]
    if len(args) < 4:
        sys.exit(__doc__)
    image = load_segments(args[0])
    syms, slide = kallsyms(args[1])
    obj, bad = args[2], 0
    funcs = symbols(obj)
    for spec in args[3:]:
        name, _, pos = spec.partition("@")
        pos = int(pos or 1)
        cands = [a for a, t in syms.get(name, []) if t in "tT"]
        if len(cands) < pos:
            print(f"MISMATCH {name}@{pos}: kallsyms has {len(cands)} copies")
            bad += 1
            continue
        sec = ".text." + name
        whole, relocs = section_and_relocs(obj, sec)
        if not whole:
            print(f"MISMATCH {name}: {obj} has no {sec}")
            bad += 1
            continue
        start, size = 0, len(whole)
        for value, sz, s in funcs.get(name, []):
            if s == sec:
                start, size = value, sz
        code = whole[start:start + size]
        kern = image_bytes(image, cands[pos - 1] - slide, len(code))
        skip = set()
        for off, typ, sym in relocs:
            width = 8 if typ in ("R_X86_64_64", "R_X86_64_PC64") else 4
            skip.update(range(off - start, off - start + width))
            if sym == "__fentry__":
                skip.update(range(off - start - 1, off - start + 4))
        nrel = len(skip)
        # objtool's link-time edits (see the header), each one exact
        edits = {"jump-label": 0}
        for site in sorted(jump_sites(obj, sec, funcs)):
            i = site - start
            for raw, nop in ((b"\xeb", b"\x66\x90"), (b"\xe9", b"\x0f\x1f\x44\x00\x00")):
                if code[i:i + 1] == raw and kern[i:i + len(nop)] == nop and code[i:i + len(nop)] != nop:
                    skip.update(range(i, i + len(nop)))
                    edits["jump-label"] += 1
        diff = [i for i in range(len(code)) if i not in skip and code[i] != kern[i]]
        where = f"{name}@{pos} at {cands[pos - 1]:#x}"
        note = "".join(f", {n} {k}" for k, n in edits.items() if n)
        if diff:
            i = diff[0]
            print(f"MISMATCH {where}: {len(diff)} of {len(code)} bytes differ, first at +{i:#x} "
                  f"(object {code[i:i + 6].hex(' ')}, kernel {kern[i:i + 6].hex(' ')}){note}")
            bad += 1
        else:
            print(f"MATCH {where}: {len(code)} bytes ({nrel} relocated{note})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
