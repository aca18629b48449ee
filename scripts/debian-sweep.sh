#!/bin/bash
# debian-sweep.sh - run klpwrite subcommands over every module of Debian's
# current linux-image-amd64 and report failures, sizes and timings.
#
#   scripts/debian-sweep.sh [options]
#
#   --bin PATH          klpwrite binary (default: $KLPWRITE_BIN, else
#                       $CARGO_TARGET_DIR/release/klpwrite, else target/release/klpwrite)
#   --cache DIR         cache for debs, the unpacked tree and results
#                       (default: $KLPWRITE_SWEEP_CACHE or /var/cache/klpwrite-sweep)
#   --subcommands LIST  space- or comma-separated subcommands to run on each
#                       object (default: $KLPWRITE_SWEEP_SUBCOMMANDS or "inspect")
#   --sample N          deterministic sample of about N objects: every k-th
#                       file of the sorted list, k = ceil(total / N)  (for CI)
#   --jobs N            parallel runs (default 1; the runs are timed, so keep
#                       this at or below the number of idle cores)
#   --timeout S         per-run limit in seconds (default 10): a run that is
#                       killed or takes longer counts as a failure
#   --krel KREL         kernel release (default: resolved from linux-image-amd64;
#                       env KLPWRITE_SWEEP_KREL)
#   -h, --help
#
# The image package is resolved like tests/e2e and the klp-lab setup do:
# linux-image-amd64 depends on linux-image-<krel>; a .deb of exactly that
# version already in /var/cache/klpwrite-e2e/*/debs or /var/cache/klp-lab/*/debs
# is reused, otherwise it is fetched with `apt-get download`. The package is
# unpacked with `dpkg -x` (nothing is installed). Compressed modules
# (.ko.xz, .ko.zst, .ko.gz) are decompressed into the cache once.
#
# A run fails when it exits with a code the subcommand does not accept,
# dies from a signal (a Rust panic is exit 101), or exceeds the time limit.
# Results: <cache>/<krel>/results/<subcommand>.tsv (status, ms, bytes, file,
# first stderr line). Exit status: 0 all runs passed, 1 some failed,
# 2 setup error.
#
# Adding a subcommand is one line in SUBCOMMANDS below.
set -euo pipefail
export LC_ALL=C

# --- subcommand table ---------------------------------------------------------
# name        accepted exit codes   argument template ({} = the object)
SUBCOMMANDS='
inspect       0                     inspect {}
checksum      0                     checksum {}
diff          1                     diff {} {}
'
# (diff X X: an object against itself must give 1 = "no change found".)

die() { echo "debian-sweep: error: $*" >&2; exit 2; }
log() { echo "debian-sweep: $*" >&2; }

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BIN=${KLPWRITE_BIN:-}
CACHE=${KLPWRITE_SWEEP_CACHE:-/var/cache/klpwrite-sweep}
SUBS=${KLPWRITE_SWEEP_SUBCOMMANDS:-inspect}
SAMPLE=0
JOBS=1
TIMEOUT=10
KREL=${KLPWRITE_SWEEP_KREL:-}

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) BIN=$2; shift 2 ;;
	--cache) CACHE=$2; shift 2 ;;
	--subcommands) SUBS=$2; shift 2 ;;
	--sample) SAMPLE=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--krel) KREL=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
SUBS=${SUBS//,/ }
[[ "$SAMPLE" =~ ^[0-9]+$ ]] || die "--sample needs a number"
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--timeout needs a positive number of seconds"

if [ -z "$BIN" ]; then
	for b in "${CARGO_TARGET_DIR:-$REPO/target}/release/klpwrite" "$REPO/target/release/klpwrite"; do
		[ -x "$b" ] && { BIN=$b; break; }
	done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || die "no klpwrite binary (build with cargo build --release, or pass --bin)"
BIN=$(realpath "$BIN")

sub_row() { # sub_row NAME -> "codes template..." or nothing
	printf '%s\n' "$SUBCOMMANDS" | awk -v n="$1" '$1 == n && !f { $1 = ""; sub(/^ +/, ""); print; f = 1 }'
}
for s in $SUBS; do
	[ -n "$(sub_row "$s")" ] || die "unknown subcommand '$s' (known: $(printf '%s\n' "$SUBCOMMANDS" | awk 'NF { printf "%s ", $1 }'))"
done

# --- 1. resolve and fetch the image package ----------------------------------
command -v dpkg >/dev/null || die "dpkg not found"
if [ -z "$KREL" ]; then
	if ! apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1; then
		log "apt-get update"
		apt-get update -q >&2 || die "apt-get update failed"
	fi
	# awk reads to the end (no exit): under pipefail an early exit can kill
	# apt-cache with SIGPIPE and the script with it (status 141, CI run of
	# 929dd10)
	img=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
		awk '/^Depends: / && !img { sub(/^Depends: /, ""); n = split($0, d, /[,|]/)
			for (i = 1; i <= n; i++) { split(d[i], w, " ")
				if (w[1] ~ /^linux-image-[0-9]/ && !img) img = w[1] } }
			END { if (img) print img }')
	[ -n "$img" ] || die "cannot resolve the linux-image-amd64 dependency"
	KREL=${img#linux-image-}
fi
PKG=linux-image-$KREL
VER=$(apt-cache show --no-all-versions "$PKG" 2>/dev/null | awk '/^Version: / && !v { v = $2 } END { if (v) print v }')
KC="$CACHE/$KREL"
mkdir -p "$KC/debs"
exec 9>"$KC/.lock"
flock 9 # one sweep per cache at a time

deb=""
if [ -n "$VER" ]; then
	fname="${PKG}_${VER//:/%3a}_amd64.deb"
	for d in "$KC/debs" /var/cache/klpwrite-e2e/*/debs /var/cache/klp-lab/*/debs; do
		[ -r "$d/$fname" ] && { deb="$d/$fname"; break; }
	done
else
	# No apt metadata for this release (e.g. --krel of an older kernel): any cached deb.
	deb=$(ls "$KC/debs/${PKG}_"*.deb /var/cache/klpwrite-e2e/*/debs/"${PKG}_"*.deb \
		/var/cache/klp-lab/*/debs/"${PKG}_"*.deb 2>/dev/null | head -n1 || true)
fi
if [ -z "$deb" ]; then
	[ -n "$VER" ] || die "no apt candidate and no cached deb for $PKG"
	log "downloading $PKG=$VER"
	rm -rf "$KC/debs/.partial"
	mkdir -p "$KC/debs/.partial"
	(cd "$KC/debs/.partial" && apt-get download -q "$PKG=$VER" 2>&1 |
		grep -v 'Download is performed unsandboxed' >&2 || true)
	got=$(ls "$KC/debs/.partial/"*.deb 2>/dev/null | head -n1 || true)
	[ -n "$got" ] || die "apt-get download $PKG=$VER failed"
	mv "$got" "$KC/debs/" && deb="$KC/debs/$(basename "$got")"
	rmdir "$KC/debs/.partial"
else
	log "using cached $deb"
fi

ROOT="$KC/root"
stamp="$ROOT/.extracted.$(basename "$deb")"
if [ ! -e "$stamp" ]; then
	log "unpacking $(basename "$deb")"
	rm -rf "$ROOT"
	mkdir -p "$ROOT"
	dpkg -x "$deb" "$ROOT"
	touch "$stamp"
fi
MODDIR="$ROOT/lib/modules/$KREL"
[ -d "$MODDIR" ] || die "no $MODDIR in $(basename "$deb")"

# --- 2. the object list (decompressing once) ------------------------------------
DEC="$KC/decompressed"
while IFS= read -r -d '' z; do
	rel=${z#"$MODDIR"/}
	out="$DEC/${rel%.*}"
	[ -s "$out" ] && continue
	mkdir -p "$(dirname "$out")"
	case "$z" in
	*.xz) xz -dc "$z" >"$out.tmp" ;;
	*.zst) zstd -qdc "$z" >"$out.tmp" ;;
	*.gz) gzip -dc "$z" >"$out.tmp" ;;
	esac
	mv "$out.tmp" "$out"
done < <(find "$MODDIR" -type f \( -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print0)

LIST="$KC/objects.lst"
{
	find "$MODDIR" -type f -name '*.ko' -printf '%s\t%p\n'
	if [ -d "$DEC" ]; then find "$DEC" -type f -name '*.ko' -printf '%s\t%p\n'; fi
} | sort -t$'\t' -k2 >"$LIST"
total=$(wc -l <"$LIST")
[ "$total" -gt 0 ] || die "no modules found under $MODDIR"
if [ "$SAMPLE" -gt 0 ] && [ "$SAMPLE" -lt "$total" ]; then
	k=$(((total + SAMPLE - 1) / SAMPLE))
	awk -v k="$k" '(NR - 1) % k == 0' "$LIST" >"$LIST.sample"
	LIST="$LIST.sample"
	log "sample: every ${k}th of $total objects -> $(wc -l <"$LIST")"
fi
count=$(wc -l <"$LIST")
bytes=$(awk -F'\t' '{ s += $1 } END { printf "%d", s }' "$LIST")
log "kernel $KREL ($(basename "$deb")): $count objects, $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MB"

# --- 3. runs -------------------------------------------------------------------
RES="$KC/results"
mkdir -p "$RES"

# run_line "SIZE<TAB>FILE": one timed run of $SUB, one TSV line on stdout.
# Reads SUB, CODES (accepted exit codes, comma-separated), TMPL, BIN, TIMEOUT.
run_line() {
	local size=${1%%$'\t'*} file=${1#*$'\t'}
	local tmpl args=() a err t0 t1 rc ms status msg
	read -r -a tmpl <<<"$TMPL"
	for a in "${tmpl[@]}"; do args+=("${a//\{\}/$file}"); done
	# stdout is discarded, stderr kept (for the first line of an error).
	t0=$EPOCHREALTIME
	rc=0
	err=$(timeout -k 2 "$TIMEOUT" "$BIN" "${args[@]}" 2>&1 >/dev/null) || rc=$?
	t1=$EPOCHREALTIME
	ms=$(((10#${t1/./} - 10#${t0/./}) / 1000))
	if [ "$rc" = 124 ]; then
		status=TIMEOUT
	elif [ "$rc" = 101 ]; then
		status=PANIC
	elif [ "$rc" -gt 128 ]; then
		status="SIGNAL$((rc - 128))"
	elif [[ ",$CODES," != *",$rc,"* ]]; then
		status="EXIT$rc"
	elif [ "$ms" -gt $((TIMEOUT * 1000)) ]; then
		status=SLOW
	else
		status=ok
	fi
	msg=""
	if [ "$status" = TIMEOUT ]; then
		msg="killed after ${TIMEOUT}s"
	elif [ "$status" != ok ]; then
		# The first three lines of stderr, joined (errors may span lines).
		msg=$(printf '%s\n' "$err" | head -n3 | tr '\t\n' '  ')
		msg=${msg:0:400}
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$status" "$ms" "$size" "$file" "$msg"
}
export -f run_line
export BIN TIMEOUT

failed=0
for SUB in $SUBS; do
	row=$(sub_row "$SUB")
	CODES=${row%%[[:space:]]*}
	TMPL=$(echo "${row#"$CODES"}" | sed 's/^[[:space:]]*//')
	export SUB CODES TMPL
	out="$RES/$SUB.tsv"
	log "running '$SUB' ($TMPL) on $count objects, $JOBS job(s), limit ${TIMEOUT}s"
	w0=$EPOCHREALTIME
	cut -f1,2 "$LIST" | tr '\n' '\0' |
		xargs -0 -r -P "$JOBS" -n 1 bash -c 'run_line "$1"' _ >"$out.tmp"
	w1=$EPOCHREALTIME
	sort -t$'\t' -k4 "$out.tmp" >"$out" && rm -f "$out.tmp"
	wall_ms=$(((10#${w1/./} - 10#${w0/./}) / 1000))
	awk -F'\t' -v sub_="$SUB" -v wall="$wall_ms" -v out="$out" '
		{ n++; bytes += $3; cpu += $2
		  if ($2 > max) { max = $2; slow = $4; slowsz = $3 }
		  if ($1 != "ok") { bad++; fail[bad] = $1 "  " $2 " ms  " $4 (($5 ~ /[^ ]/) ? "\n      " $5 : "") } }
		END {
		  mb = bytes / 1048576
		  printf "== %s: %d runs, %d failed, %.1f MB, wall %.1f s (%.1f MB/s), sum of run times %.1f s (%.1f MB/s)\n",
		    sub_, n, bad, mb, wall / 1000, (wall > 0 ? mb / (wall / 1000) : 0),
		    cpu / 1000, (cpu > 0 ? mb / (cpu / 1000) : 0)
		  printf "   slowest: %s (%d ms, %.1f MB)\n", slow, max, slowsz / 1048576
		  for (i = 1; i <= bad && i <= 200; i++) printf "   FAIL %s\n", fail[i]
		  if (bad > 200) printf "   ... %d more in %s\n", bad - 200, out
		  printf "   results: %s\n", out
		  exit (bad > 0) }' "$out" || failed=1
done
exit "$failed"
