#!/usr/bin/env python3
"""bench-scale.py - how `klpwrite diff` scales, as issue 11 asks (a
benchmark, not a test: nothing here fails on timing).

Usage: scripts/bench-scale.py KLPWRITE [--runs N] [--corpus DIR] [OBJ ...]

1. Size scaling: `klpwrite diff X X` for each OBJ (default: a few objects of
   increasing size found in the e2e caches: a small and a mid-size .o of the
   6.1 tree, amdgpu.ko, and whole vmlinux.o files when present). Prints wall
   and CPU (best of N), peak RSS, and seconds per MB of input.
2. amdgpu.ko against `objdump -dr` on the same file, measured paired
   (alternating runs, best of N each) and the ratio.
3. Per-process cost on small objects: every ORIG/PATCHED pair of the corpus
   through `klpwrite diff`, against the floor of an empty Rust binary
   (built here with rustc) and `klpwrite --version`. CPU time (user+sys) of
   each child from wait4, summed over the corpus, best of N passes.

Each child's CPU time comes from its own rusage; wall time from a monotonic
clock around fork/exec/wait. Run it on a quiet machine: the figures are only
comparable with each other within one run.
"""

import glob
import os
import subprocess
import sys
import tempfile
import time

CACHE = "/var/cache/klpwrite-e2e"


def run(cmd):
    """(wall s, cpu s, maxrss KiB, exit code) of one child."""
    t = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, p.returncode


def best(cmd, runs, ok=(0, 1)):
    rows = []
    for _ in range(runs):
        w, c, m, rc = run(cmd)
        if rc not in ok:
            sys.exit(f"bench-scale: {' '.join(cmd)} exited {rc}")
        rows.append((w, c, m))
    return min(r[0] for r in rows), min(r[1] for r in rows), max(r[2] for r in rows)


def default_objects():
    objs = []
    tree = sorted(glob.glob(f"{CACHE}/6.1.0-*-amd64/objs"))
    if tree:
        sized = []
        for p in glob.glob(f"{tree[-1]}/**/*.o", recursive=True):
            sized.append((os.path.getsize(p), p))
        sized.sort()
        for want in (100 << 10, 1 << 20, 4 << 20):
            cand = [p for s, p in sized if s >= want]
            if cand:
                objs.append(cand[0])
    amd = sorted(glob.glob(f"{CACHE}/6.1.0-*-amd64/root/lib/modules/*/kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko"))
    if amd:
        objs.append(amd[-1])
    for p in sorted(glob.glob(f"{CACHE}/lto-6.1/*/orig/vmlinux.o")) + ["/var/tmp/perf72/orig/vmlinux.o"]:
        if os.path.exists(p):
            objs.append(p)
    return objs


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    kw = os.path.realpath(args.pop(0))
    runs, corpus, objs = 5, os.path.join(os.path.dirname(__file__), "../../shared/corpus/kpatch-unit/x86_64"), []
    while args:
        a = args.pop(0)
        if a == "--runs":
            runs = int(args.pop(0))
        elif a == "--corpus":
            corpus = args.pop(0)
        else:
            objs.append(a)
    objs = objs or default_objects()

    print("## diff X X, by size (best of %d)" % runs)
    print("%-60s %9s %8s %8s %9s %9s" % ("object", "MB", "wall s", "cpu s", "s/MB", "RSS MiB"))
    for o in objs:
        mb = os.path.getsize(o) / 1e6
        w, c, m = best([kw, "diff", o, o], runs)
        name = o if len(o) <= 60 else "..." + o[-57:]
        print("%-60s %9.2f %8.3f %8.3f %9.4f %9.0f" % (name, mb, w, c, w / mb, m / 1024))

    amd = [o for o in objs if o.endswith("amdgpu.ko")]
    if amd:
        o = amd[0]
        kw_w, ob_w = [], []
        for _ in range(runs):
            kw_w.append(run([kw, "diff", o, o])[0])
            ob_w.append(run(["objdump", "-dr", o])[0])
        print("\n## amdgpu.ko paired (best of %d): klpwrite diff X X %.3f s, objdump -dr %.3f s, ratio %.2f"
              % (runs, min(kw_w), min(ob_w), min(kw_w) / min(ob_w)))

    pairs = sorted(glob.glob(os.path.join(corpus, "*.ORIG.o")))
    if not pairs:
        print("\n## small objects: no corpus at %s" % corpus)
        return
    with tempfile.TemporaryDirectory() as d:
        src, empty = os.path.join(d, "e.rs"), os.path.join(d, "empty")
        with open(src, "w") as f:
            f.write("fn main() {}\n")
        subprocess.run(["rustc", "-O", "-o", empty, src], check=True)
        totals = {"empty": [], "version": [], "diff": []}
        per_case = {}
        for _ in range(runs):
            cpu = {"empty": 0.0, "version": 0.0, "diff": 0.0}
            for orig in pairs:
                patched = orig[: -len("ORIG.o")] + "PATCHED.o"
                cpu["empty"] += run([empty])[1]
                cpu["version"] += run([kw, "--version"])[1]
                c = run([kw, "diff", orig, patched])[1]
                cpu["diff"] += c
                per_case[orig] = min(per_case.get(orig, c), c)
            for k, v in cpu.items():
                totals[k].append(v)
        n = len(pairs)
        print("\n## small objects: %d corpus pairs, CPU per process (best pass of %d)" % (n, runs))
        for k in ("empty", "version", "diff"):
            print("  %-8s %.2f ms (mean)" % (k, min(totals[k]) / n * 1e3))
        v = sorted(per_case.values())
        print("  diff     %.2f ms (median case, best of %d), %.2f ms (largest case)" % (v[len(v) // 2] * 1e3, runs, v[-1] * 1e3))


if __name__ == "__main__":
    main()
