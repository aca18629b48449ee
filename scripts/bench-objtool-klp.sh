#!/bin/bash
# bench-objtool-klp.sh - paired timing of `klpwrite diff` against upstream
# objtool's `klp checksum` (once per object) + `klp diff` on the same pair of
# objects, e.g. two vmlinux.o of a 7.x kernel built with CONFIG_KLP_BUILD
# (issue 13).
#
# Usage: bench-objtool-klp.sh ORIG.o PATCHED.o OBJTOOL KLPWRITE SYMVERS [RUNS] [OUTDIR]
#   OBJTOOL   an objtool built with libxxhash (it has the `klp` subcommand)
#   KLPWRITE  the klpwrite binary
#   SYMVERS   the kernel's Module.symvers (`klp diff` reads it from its
#             working directory, so the script runs it next to a copy)
#   RUNS      repetitions of every step (default 5)
#   OUTDIR    scratch and results (default ./bench-objtool-klp.out); needs
#             room for 3 copies of the object
#
# Every step runs under `nice -n 19` and `/usr/bin/time -v`, one at a time
# (single-threaded tools; no -j).  `klp checksum` writes into its input, so
# each run checksums fresh copies (the copy is not timed).
# Output: OUTDIR/times.tsv (run, tool, step, wall s, peak RSS KiB),
# OUTDIR/summary.txt (min/median per step and the issue-13 ratios),
# OUTDIR/klpwrite.txt and OUTDIR/objtool-diff.txt (the last run's reports).
set -euo pipefail
export LC_ALL=C
[ $# -ge 5 ] || { sed -n '2,22p' "$0" >&2; exit 2; }
ORIG=$(realpath "$1") PATCHED=$(realpath "$2") OBJTOOL=$(realpath "$3") KLPWRITE=$(realpath "$4")
SYMVERS=$(realpath "$5")
RUNS=${6:-5}
OUT=${7:-./bench-objtool-klp.out}
mkdir -p "$OUT/csum"
OUT=$(realpath "$OUT")
cp -f "$SYMVERS" "$OUT/csum/Module.symvers"
TSV=$OUT/times.tsv
printf 'run\ttool\tstep\twall_s\tmaxrss_kib\n' >"$TSV"

# timed RUN TOOL STEP CMD... : run CMD, stdout to $OUT/last.out, append a row
timed() {
	local run=$1 tool=$2 step=$3 rc=0
	shift 3
	nice -n 19 /usr/bin/time -v -o "$OUT/time.txt" "$@" >"$OUT/last.out" 2>"$OUT/last.err" || rc=$?
	# klpwrite diff: 0 = changes listed, 1 = no change; anything else fails
	if [ "$rc" -ne 0 ] && ! { [ "$tool" = klpwrite ] && [ "$rc" -eq 1 ]; }; then
		echo "FAILED ($rc): $*" >&2
		cat "$OUT/last.err" >&2
		exit 1
	fi
	awk -v r="$run" -v t="$tool" -v s="$step" -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, a, ":"); w = 0
			for (i = 1; i <= n; i++) w = w * 60 + a[i] }
		/Maximum resident set size/ { m = $2 }
		END { printf "%s\t%s\t%s\t%.2f\t%d\n", r, t, s, w, m }' "$OUT/time.txt" >>"$TSV"
}

for run in $(seq 1 "$RUNS"); do
	echo "run $run/$RUNS" >&2
	timed "$run" klpwrite diff "$KLPWRITE" diff "$ORIG" "$PATCHED"
	cp "$OUT/last.out" "$OUT/klpwrite.txt"

	cp -f "$ORIG" "$OUT/csum/orig.o"
	cp -f "$PATCHED" "$OUT/csum/patched.o"
	timed "$run" objtool checksum-orig "$OBJTOOL" klp checksum "$OUT/csum/orig.o"
	timed "$run" objtool checksum-patched "$OBJTOOL" klp checksum "$OUT/csum/patched.o"
	rm -f "$OUT/csum/out.o"
	(cd "$OUT/csum" && timed "$run" objtool diff "$OBJTOOL" klp diff orig.o patched.o out.o)
	cat "$OUT/last.out" "$OUT/last.err" >"$OUT/objtool-diff.txt"
done

# min and median per step; the ratios issue 13 asks for, on the medians
awk -F'\t' 'NR > 1 { k = $2 "\t" $3; w[k] = w[k] " " $4; r[k] = r[k] " " $5; keys[k] = 1 }
	function stat(s, what,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
			if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		if (what == "min") return a[1]
		if (what == "max") return a[n]
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		printf "%-9s %-17s %8s %8s %13s\n", "tool", "step", "min s", "median s", "max RSS MiB"
		for (k in keys) {
			split(k, p, "\t")
			med[k] = stat(w[k], "med")
			printf "%-9s %-17s %8.2f %8.2f %13.0f\n", p[1], p[2], stat(w[k], "min"), med[k], stat(r[k], "max") / 1024
		}
		kw = med["klpwrite\tdiff"]
		full = med["objtool\tchecksum-orig"] + med["objtool\tchecksum-patched"] + med["objtool\tdiff"]
		printf "\nklpwrite diff / objtool (checksum x2 + diff) = %.3f (issue 13: <= 0.2)\n", kw / full
		printf "klpwrite diff / objtool diff alone          = %.3f (issue 13: <= 1)\n", kw / med["objtool\tdiff"]
	}' "$TSV" | tee "$OUT/summary.txt"
