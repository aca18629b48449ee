#!/bin/bash
# update-sweep.sh - turn a Debian kernel update into per-file livepatch
# modules and load each into the running older kernel (issue 10).
#
# Usage: update-sweep.sh [--limit N | --files LIST] FROM TO   (root; apt must work)
#   FROM, TO   Debian package versions of linux-source-X.Y, e.g. 6.1.190-1
#              6.1.192-1; FROM must be the version of some
#              linux-image-X.Y.0-N-amd64 (the kernel that is booted)
#   --limit N  only N of the changed .c files, spread evenly over the sorted
#              list (every k-th file; deterministic), for CI
#   --files LIST  only these changed .c files (comma separated paths), to
#              look again at some rows; the other kinds are only counted
#
# Stages:
#   fetch    lib/setup.sh with E2E_KREL = the image of version FROM (image,
#            headers, kbuild), linux-source FROM and TO (apt-get download
#            PKG=VERSION), unpacked untouched under $CACHE/src/<version>/;
#            lib/kobjs.sh prepares FROM's tree with Debian's config
#   diff     diff -rq of the two trees: every changed, added or removed file
#            is a row; rows that are no per-file live patch are counted by
#            kind (header, assembler, Makefile/Kconfig, other architecture,
#            tools/scripts/samples, documentation, added/removed file)
#   orig     every changed .c of the x86 tree: lib/kobjs.sh -k compiles its
#            object in FROM's tree (-ffunction-sections -fdata-sections)
#   where    the object's .cmd says vmlinux or module (-DMODULE,
#            KBUILD_MODNAME); lib/vmlinux-match.py --all compares every
#            function with the booted kernel (kallsyms snapshot + vmlinux) or
#            Debian's .ko: nothing matches = not built with Debian's config;
#            a function that differs = a harness failure (fidelity)
#   patched  FROM's tree with the changed .c files replaced by TO's
#            (lib/kobjs.sh -k -R -F; a .c that another changed .c includes
#            is built alone); no object = TO's file does not build against
#            FROM's tree (first compiler error)
#   klpwrite klpwrite build (--symbols kallsyms or the .ko, --symvers,
#            --explain) and klpwrite module (--vmlinux BTF, --symvers,
#            --ref-module): one module per file
#   guest    one boot loads every module in turn (target module and its
#            dependencies first, insmod, transition, workload, disable,
#            rmmod, kernel log and taint; guest/update-sweep.sh); a boot
#            that dies is restarted after the module that killed it; then a
#            second boot loads one cumulative module (--replace) of all the
#            modules that passed, and runs the workload again
#
# Output: one line per changed file,
#     FILE <path>: <patched|no change|refused|failed> <detail>
# "no change": nothing of the booted kernel changes (the object is the same,
# klpwrite finds no functional change, or the file is not built for it);
# "refused": no per-file patch, by klpwrite's rule (named) or because the
# change is not in one .c (header, assembler, ...) or does not build alone;
# "failed": a module klpwrite wrote failed in the guest, or a harness
# failure (fidelity, klpwrite crash).  Then counts by kind, timings, and
# last
#     UPDATE-SWEEP: P patched, C no change, R refused, F failed
# Exit status 0 when F = 0.
#
# Env: KLPWRITE_SWEEP_CACHE (default /var/cache/klpwrite-sweep; this script
#      uses <it>/update as the e2e cache root, so /var/cache/klpwrite-e2e and
#      its kernel.env are left alone), E2E_JOBS (make -j, default 2),
#      E2E_KLPWRITE (klpwrite binary, default target/release/klpwrite),
#      SWEEP_WORK (default <cache>/work/FROM_TO-<limit>, wiped at start),
#      SWEEP_GUEST_LOGS=DIR (take the per-module guest results from an
#      earlier run's DIR/guest-each*.log and DIR/plan.txt instead of booting;
#      the cumulative boot still runs).
# Cached between runs: packages, trees, the objects of a FROM_TO pair
# (<cache>/FROM_TO/{orig,patched}/, rebuilt when the list of files changes).
set -euo pipefail
E2E=$(cd "$(dirname "$0")" && pwd)
export KLPWRITE_E2E_CACHE=${KLPWRITE_SWEEP_CACHE:-/var/cache/klpwrite-sweep}/update
. "$E2E/lib/common.sh"
REPO=$(cd "$E2E/../.." && pwd)
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
JOBS=${E2E_JOBS:-2}

LIMIT=0 FILES=""
while [ $# -gt 0 ]; do
	case $1 in
	--limit) LIMIT=$2; shift 2 ;;
	--files) FILES=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[ $# = 2 ] || e2e_die "usage: update-sweep.sh [--limit N | --files A.c,B.c] FROM TO"
FROM=$1 TO=$2
e2e_need_root
trap 'e2e_log "update-sweep.sh: command failed at line $LINENO: $BASH_COMMAND"' ERR
T_START=$(e2e_now)
KLPWRITE=${E2E_KLPWRITE:-$REPO/target/release/klpwrite}
[ -x "$KLPWRITE" ] || e2e_die "no klpwrite at $KLPWRITE (cargo build --release)"

SRCPKG=linux-source-$(echo "$FROM" | cut -d. -f1,2)
SC=$E2E_CACHE
P=$SC/${FROM}_$TO
SEL=$LIMIT
[ -n "$FILES" ] && SEL=files-$(echo "$FILES" | md5sum | cut -c1-8)
WORK=${SWEEP_WORK:-$SC/work/${FROM}_$TO-$SEL}
rm -rf "$WORK"
mkdir -p "$P" "$WORK"
TIMES=()
timed() { TIMES+=("$1 $(e2e_since "$2")s"); }

# ============================================================================
# fetch
# ============================================================================
t0=$(e2e_now)
# the kernel image whose package version is FROM
find_krel() {
	local pkg
	for pkg in $(apt-cache pkgnames "linux-image-$(echo "$FROM" | cut -d. -f1,2).0-" | grep -E -- '-[0-9]+-amd64$' | sort); do
		if apt-cache show "$pkg" 2>/dev/null | grep -x "Version: $FROM" >/dev/null; then echo "${pkg#linux-image-}"; return; fi
	done
}
KREL=$(find_krel)
# A fresh machine's package lists can predate FROM (a bookworm image's lists
# from May knew 6.1.172 at most): update them once before giving up.
if [ -z "$KREL" ]; then
	e2e_log "no linux-image of version $FROM in the package lists: apt-get update"
	apt-get update -q >&2 || true
	KREL=$(find_krel)
fi
[ -n "$KREL" ] || e2e_die "no linux-image-*-amd64 of version $FROM in apt"
E2E_KREL=$KREL bash "$E2E/lib/setup.sh" >"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log"; e2e_die "setup failed"; }
e2e_load_env
[ "$E2E_PKGVER" = "$FROM" ] || e2e_die "setup gave $E2E_KREL $E2E_PKGVER, not $FROM"
e2e_log "FROM $FROM = $E2E_KREL, TO $TO"

# src_tree VERSION - untouched linux-source tree of VERSION (downloaded once)
src_tree() {
	local v=$1 d=$SC/src/$1 deb
	if [ ! -e "$d/$SRCPKG/.unpacked" ]; then
		mkdir -p "$d/debs"
		deb=$(find "$d/debs" "$E2E_KCACHE/debs" -maxdepth 1 -name "${SRCPKG}_${v//:/%3a}_*.deb" 2>/dev/null | head -n1)
		if [ -z "$deb" ]; then
			e2e_log "apt-get download $SRCPKG=$v"
			(cd "$d/debs" && apt-get download -q "$SRCPKG=$v" 2>&1 | grep -v 'unsandboxed as root' >&2) || true
			deb=$(find "$d/debs" -maxdepth 1 -name "${SRCPKG}_*.deb" | head -n1)
			[ -n "$deb" ] || e2e_die "apt-get download $SRCPKG=$v failed"
		fi
		rm -rf "$d/x" "$d/$SRCPKG"
		dpkg -x "$deb" "$d/x"
		tar -C "$d" -xaf "$d/x/usr/src/$SRCPKG.tar.xz"
		rm -rf "$d/x"
		touch "$d/$SRCPKG/.unpacked"
	fi
	echo "$d/$SRCPKG"
}
A=$(src_tree "$FROM")
B=$(src_tree "$TO")
bash "$E2E/lib/snapshot.sh" >"$WORK/snapshot.log" 2>&1 || true   # needs the tree for extract-vmlinux
if [ ! -e "$E2E_KCACHE/$SRCPKG/.e2e-prepared" ]; then
	bash "$E2E/lib/kobjs.sh" -j"$JOBS" init/version.o >"$WORK/prepare.log" 2>&1 ||
		{ tail -n 20 "$WORK/prepare.log"; e2e_die "preparing FROM's tree failed"; }
fi
bash "$E2E/lib/snapshot.sh" >"$WORK/snapshot.log" 2>&1 || { cat "$WORK/snapshot.log"; e2e_die "snapshot failed"; }
# shellcheck disable=SC1091
. "$E2E_KCACHE/snapshot.env"
[ -s "$E2E_MODDIR/modules.dep" ] || depmod -b "$E2E_ROOT" "$E2E_KREL"
timed fetch "$t0"

# ============================================================================
# diff: every changed file, its kind
# ============================================================================
t0=$(e2e_now)
(cd "$SC/src" && diff -rq "$FROM/$SRCPKG" "$TO/$SRCPKG" || true) >"$P/diff-rq.txt"
{
	sed -n "s|^Files $FROM/$SRCPKG/\(.*\) and $TO/.* differ\$|\1 changed|p" "$P/diff-rq.txt"
	sed -n "s|^Only in $FROM/$SRCPKG/\{0,1\}\(.*\): \(.*\)\$|\1/\2 removed|p" "$P/diff-rq.txt"
	sed -n "s|^Only in $TO/$SRCPKG/\{0,1\}\(.*\): \(.*\)\$|\1/\2 added|p" "$P/diff-rq.txt"
} | sed 's|^/||' | grep -v '^\.unpacked ' | sort >"$P/changed.txt"
# kind PATH HOW - what a changed file is; "c" = a .c of the x86 kernel
kind_of() {
	case $2 in added | removed)
		[ -d "$SC/src/$FROM/$SRCPKG/$1" ] || [ -d "$SC/src/$TO/$SRCPKG/$1" ] && { echo "dir-$2"; return; }
		echo "file-$2"; return ;;
	esac
	case $1 in
	Documentation/* | *.rst | *.txt | */README* | MAINTAINERS | CREDITS) echo doc ;;
	tools/* | scripts/* | samples/* | usr/*) echo tools ;;
	arch/x86/*) ;;
	arch/*) echo other-arch; return ;;
	esac
	case $1 in
	Documentation/* | *.rst | *.txt | */README* | MAINTAINERS | CREDITS | tools/* | scripts/* | samples/* | usr/*) ;;
	*.h) echo header ;;
	*.S) echo asm ;;
	*/Makefile | Makefile | */Kbuild | */Kconfig* | Kconfig) echo build ;;
	*.c) echo c ;;
	*) echo other ;;
	esac
}
: >"$P/rows.tsv"
while read -r f how; do printf '%s\t%s\n' "$f" "$(kind_of "$f" "$how")"; done <"$P/changed.txt" >"$P/rows.tsv"
awk -F'\t' '$2 == "c" { print $1 }' "$P/rows.tsv" >"$P/cfiles.txt"
if [ -n "$FILES" ]; then
	echo "$FILES" | tr ', ' '\n\n' | grep -v '^$' | grep -xFf - "$P/cfiles.txt" >"$WORK/selected.txt" || true
	[ -s "$WORK/selected.txt" ] || e2e_die "--files: none of $FILES is a changed .c file of $FROM -> $TO"
elif [ "$LIMIT" -gt 0 ]; then
	n=$(wc -l <"$P/cfiles.txt")
	k=$(((n + LIMIT - 1) / LIMIT))
	awk -v k="$k" -v n="$LIMIT" 'NR % k == 1 % k && c < n { print; c++ }' "$P/cfiles.txt" >"$WORK/selected.txt"
else
	cp "$P/cfiles.txt" "$WORK/selected.txt"
fi
timed diff "$t0"
e2e_log "$(wc -l <"$P/rows.tsv") changed files, $(wc -l <"$P/cfiles.txt") .c of the x86 kernel, $(wc -l <"$WORK/selected.txt") selected"

# ============================================================================
# orig objects (FROM's tree), where they go, fidelity
# ============================================================================
# batch_build DIR TARGETS [-R SRC -F FILES] - build the kbuild targets listed
# in TARGETS (object paths, one a line) into DIR/<path>; cached while the
# list and the options stay the same
batch_build() {
	local dir=$1 list=$2 key t
	shift 2
	# one marker per list and options: a --files run beside the full one
	# does not make the next full run build again what did not build
	key=$({ cat "$list"; echo "$*"; } | md5sum | cut -d' ' -f1)
	[ -e "$dir/.done-$key" ] && return 0
	local have=()
	while IFS= read -r t; do [ -s "$dir/$(realpath -m --relative-to=/ "/$t")" ] || have+=("$t"); done <"$list"
	if [ ${#have[@]} -gt 0 ]; then
		bash "$E2E/lib/kobjs.sh" -j"$JOBS" -k -O "$dir" "$@" "${have[@]}" >"$dir.log.new" 2>&1 || true
		cat "$dir.log.new" >>"$dir.log"
		rm -f "$dir.log.new"
	fi
	touch "$dir/.done-$key"
}
# Which kbuild target holds a changed .c: its own .o; when that does not
# build, (1) drivers/gpu/drm/amd/<sub>/ files are compiled by amdgpu's
# Makefile as amdgpu/../<sub>/X.o (with amdgpu's include paths), (2) a .c
# that another .c of its directory #includes (kernel/sched/rt.c in
# build_policy.c, ehci-sched.c in ehci-hcd.c) lives in the includer's object.
declare -A TGT=() OBJ=() INC=()
# (3) virt/kvm/*.c is built into kvm.ko by arch/x86/kvm's Makefile
# (virt/kvm/Makefile.kvm: KVM ?= ../../../virt/kvm); built on its own it
# compiles, but as a vmlinux object.
while IFS= read -r f; do
	TGT[$f]=${f%.c}.o OBJ[$f]=${f%.c}.o
	case $f in virt/kvm/*) TGT[$f]=arch/x86/kvm/../../../${f%.c}.o ;; esac
done <"$WORK/selected.txt"
t0=$(e2e_now)
mkdir -p "$P/orig" "$P/patched"
while IFS= read -r f; do echo "${TGT[$f]}"; done <"$WORK/selected.txt" >"$WORK/targets-orig.txt"
batch_build "$P/orig" "$WORK/targets-orig.txt"
: >"$WORK/targets-orig2.txt"
while IFS= read -r f; do
	[ -s "$P/orig/${OBJ[$f]}" ] && continue
	case $f in
	drivers/gpu/drm/amd/amdgpu/*) ;;
	drivers/gpu/drm/amd/*) TGT[$f]=drivers/gpu/drm/amd/amdgpu/../${f#drivers/gpu/drm/amd/}; TGT[$f]=${TGT[$f]%.c}.o ;;
	esac
	if [ "${TGT[$f]}" = "${f%.c}.o" ]; then   # (2)
		y=$(cd "$A" && grep -l -E "^#include \"$(basename "$f")\"" "$(dirname "$f")"/*.c 2>/dev/null | grep -vxF "$f" | head -n1 || true)
		[ -n "$y" ] || continue
		TGT[$f]=${y%.c}.o OBJ[$f]=${y%.c}.o INC[$f]=$y
	fi
	echo "${TGT[$f]}" >>"$WORK/targets-orig2.txt"
done <"$WORK/selected.txt"
sort -u -o "$WORK/targets-orig2.txt" "$WORK/targets-orig2.txt"
[ -s "$WORK/targets-orig2.txt" ] && batch_build "$P/orig" "$WORK/targets-orig2.txt"
timed "orig objects" "$t0"

t0=$(e2e_now)
# where: vmlinux or module name, and the .ko
: >"$WORK/match.list"
declare -A WHERE=() KO=() ROW=() DETAIL=() KIND=() BYOBJ=()
while IFS= read -r f; do
	o=$P/orig/${OBJ[$f]}
	if [ ! -s "$o" ]; then ROW[$f]="no change"; KIND[$f]="not built (Debian's config)"
		DETAIL[$f]="not built with Debian's config: kbuild does not compile it"; continue; fi
	cmd=$o.cmd
	mod=$(sed -n 's/.*-DKBUILD_MODNAME=.\{0,1\}"\{0,1\}\([A-Za-z0-9_-]*\).*/\1/p' "$cmd" 2>/dev/null | head -n1)
	if grep -q -- '-DMODULE\b' "$cmd" 2>/dev/null; then
		ko=$(find "$E2E_MODDIR/kernel" \( -name "$mod.ko" -o -name "$(echo "$mod" | tr _ -).ko" \) | head -n1)
		if [ -z "$ko" ]; then ROW[$f]="no change"; KIND[$f]="not built (Debian's config)"
			DETAIL[$f]="not built with Debian's config: no $mod.ko in $E2E_KREL"; continue; fi
		WHERE[$f]=$mod KO[$f]=$ko
		target=$ko
	else
		WHERE[$f]=vmlinux target=vmlinux
	fi
	if [ -z "${BYOBJ[$o]:-}" ]; then echo "$o $target" >>"$WORK/match.list"; fi
	BYOBJ[$o]="${BYOBJ[$o]:-} $f"
done <"$WORK/selected.txt"
python3 "$E2E/lib/vmlinux-match.py" --all "$E2E_VMLINUX" "$E2E_KALLSYMS" "$WORK/match.list" >"$WORK/match.out"
while read -r o verdict good nbad absent names; do
	for f in ${BYOBJ[$o]}; do
		case $verdict in
		MATCH) DETAIL[$f]="fidelity: $good functions match ${WHERE[$f]}" ;;
		ABSENT) ROW[$f]="no change"; KIND[$f]="not built (Debian's config)"
			DETAIL[$f]="not built into vmlinux with Debian's config: none of its functions is in the booted kernel" ;;
		*) ROW[$f]=failed; KIND[$f]="failed: fidelity"
			DETAIL[$f]="harness: fidelity: $nbad functions differ from ${WHERE[$f]} (${names:-}), $good match" ;;
		esac
		[ -n "${INC[$f]:-}" ] && DETAIL[$f]="${DETAIL[$f]}; built as part of ${INC[$f]}"
	done
done <"$WORK/match.out"
timed "where + fidelity" "$t0"

# ============================================================================
# patched objects: FROM's tree with TO's version of the file
# ============================================================================
t0=$(e2e_now)
: >"$WORK/todo.txt"
while IFS= read -r f; do [ -z "${ROW[$f]:-}" ] && echo "$f" >>"$WORK/todo.txt"; done <"$WORK/selected.txt"
# a changed .c that another changed .c includes (its .cmd lists it), or one
# that lives in its includer's object, cannot be replaced for all at once:
# those objects are built one at a time, each into its own directory
: >"$WORK/alone.txt"
: >"$WORK/together.txt"
declare -A PATCHED=()
while IFS= read -r f; do
	if [ -n "${INC[$f]:-}" ] ||
		sed -n 's|^ *\([^ ]*\.c\) \\$|\1|p' "$P/orig/${OBJ[$f]}.cmd" 2>/dev/null | grep -vxF "$f" |
		grep -xFf "$P/cfiles.txt" >/dev/null; then
		echo "$f" >>"$WORK/alone.txt"
		PATCHED[$f]=$P/patched-one/$f/${OBJ[$f]}
	else
		echo "$f" >>"$WORK/together.txt"
		PATCHED[$f]=$P/patched/${OBJ[$f]}
	fi
done <"$WORK/todo.txt"
if [ -s "$WORK/together.txt" ]; then
	while IFS= read -r f; do echo "${TGT[$f]}"; done <"$WORK/together.txt" >"$WORK/targets-patched.txt"
	batch_build "$P/patched" "$WORK/targets-patched.txt" -R "$B" -F "$WORK/together.txt"
fi
while IFS= read -r f; do
	[ -s "${PATCHED[$f]}" ] && continue
	echo "$f" >"$WORK/one.txt"
	mkdir -p "$P/patched-one/$f"
	bash "$E2E/lib/kobjs.sh" -j"$JOBS" -k -O "$P/patched-one/$f" -R "$B" -F "$WORK/one.txt" "${TGT[$f]}" >>"$P/patched.log" 2>&1 || true
done <"$WORK/alone.txt"
timed "patched objects" "$t0"

# ============================================================================
# klpwrite build + module, one module per file
# ============================================================================
t0=$(e2e_now)
KW=$WORK/klpwrite
mkdir -p "$KW"
REF_KO=$(find "$E2E_MODDIR" -name xt_pkttype.ko | head -n1)
declare -A MODNAME=() KWT=() GT=()
i=0
: >"$WORK/plan.txt"
: >"$WORK/mods.txt"
# kw_error LOG - klpwrite's error: its first line and the first detail line,
# without the input's path
kw_error() {
	sed -n '/^klpwrite: error/{N;p;q}' "$1" | sed 's/^klpwrite: error: //; s|^/[^ ]*: ||; s/^ *//' |
		tr '\n' ' ' | sed 's/  */ /g' | cut -c1-400
}
# deps MOD.ko - the .ko names (no .ko) to insmod for it, dependencies first
deps_of() {
	local rel=${1#"$E2E_MODDIR/"} d
	for d in $(sed -n "s|^$rel: *||p" "$E2E_MODDIR/modules.dep" | tr ' ' '\n' | tac); do
		basename "$d" .ko
	done
	basename "$1" .ko
}
while IFS= read -r f; do
	i=$((i + 1))
	[ -z "${ROW[$f]:-}" ] || continue
	o=$P/orig/${OBJ[$f]} p=${PATCHED[$f]}
	if [ ! -s "$p" ]; then
		err=$(grep -m1 -E "^(\./)?$f:[0-9]+:[0-9]+: error:" "$P/patched.log" 2>/dev/null ||
			grep -m1 -E "error:" <(grep -A3 -F "$f" "$P/patched.log" 2>/dev/null) || echo "no object")
		ROW[$f]=refused KIND[$f]="refused: TO's file does not build against FROM's tree"
		DETAIL[$f]="TO's version does not build against FROM's tree: ${err:0:200}"
		continue
	fi
	if cmp -s "$o" "$p"; then
		ROW[$f]="no change" KIND[$f]="no change: same object"; DETAIL[$f]="the object is the same (${DETAIL[$f]})"; continue
	fi
	name=klpu_$i
	if [ "${WHERE[$f]}" = vmlinux ]; then sym=$E2E_KALLSYMS; else sym=${KO[$f]}; fi
	t1=$(e2e_now)
	rc=0
	"$KLPWRITE" build "$o" "$p" --objname "${WHERE[$f]}" --symbols "$sym" --image "$E2E_VMLINUX" --symvers "$E2E_SYMVERS" \
		--explain -o "$KW/$name.o" >"$KW/$name-build.log" 2>&1 || rc=$?
	first=$(kw_error "$KW/$name-build.log")
	case $rc in
	0) ;;
	1) ROW[$f]="no change" KIND[$f]="no change: klpwrite finds no functional change"
		DETAIL[$f]="klpwrite build: $(grep -m1 'no functional change\|nothing' "$KW/$name-build.log" | cut -c1-200)"; KWT[$f]=$(e2e_since "$t1"); continue ;;
	2) ROW[$f]=refused KIND[$f]="refused: klpwrite build"
		DETAIL[$f]="klpwrite build: ${first:-$(tail -n1 "$KW/$name-build.log")}"; KWT[$f]=$(e2e_since "$t1"); continue ;;
	*) ROW[$f]=failed KIND[$f]="failed: klpwrite crashed"
		DETAIL[$f]="klpwrite build exit $rc: $(tail -n1 "$KW/$name-build.log")"; continue ;;
	esac
	rc=0
	"$KLPWRITE" module "$KW/$name.o" --name "$name" --vmlinux "$E2E_VMLINUX" --symvers "$E2E_SYMVERS" \
		--ref-module "$REF_KO" -o "$KW/$name.ko" >"$KW/$name-module.log" 2>&1 || rc=$?
	KWT[$f]=$(e2e_since "$t1")
	if [ "$rc" != 0 ]; then
		if [ "$rc" = 2 ]; then ROW[$f]=refused KIND[$f]="refused: klpwrite module"
		else ROW[$f]=failed KIND[$f]="failed: klpwrite crashed"; fi
		DETAIL[$f]="klpwrite module exit $rc: $(kw_error "$KW/$name-module.log")"
		continue
	fi
	MODNAME[$f]=$name
	funcs=$(grep -cE '^(changed|new) function' "$KW/$name-build.log" || true)
	DETAIL[$f]="$(grep -E '^changed function' "$KW/$name-build.log" | sed 's/^changed function: //' | head -n 4 | tr '\n' ' ' | sed 's/ $//')"
	targets=-
	[ "${WHERE[$f]}" != vmlinux ] && targets=$(deps_of "${KO[$f]}" | tr '\n' , | sed 's/,$//')
	echo "$i $name $targets" >>"$WORK/plan.txt"
	echo "$f" >>"$WORK/mods.txt"
done <"$WORK/selected.txt"
timed "klpwrite build + module" "$t0"

# ============================================================================
# guest: each module on its own, then all of them as one cumulative patch
# ============================================================================
t0=$(e2e_now)
IMG=$WORK/ext4.img
truncate -s 32M "$IMG"
mkfs.ext4 -q -F -O ^metadata_csum,^64bit "$IMG"
# ext4 asks the crypto API for crc32c at mount (no modprobe in the guest)
base=$(for m in loop crc32c_generic ext4; do deps_of "$(find "$E2E_MODDIR/kernel" -name "$m.ko" | head -n1)"; done | awk '!s[$0]++')
# ko_files PLAN - the .ko files a plan needs
ko_files() {
	local n t m
	while read -r _ n t; do
		echo "$KW/$n.ko"
		[ "$t" = - ] && continue
		for m in $(echo "$t" | tr , ' '); do find "$E2E_MODDIR/kernel" -name "$m.ko" | head -n1; done
	done <"$1"
	for m in $base; do find "$E2E_MODDIR/kernel" -name "$m.ko" | head -n1; done
}
# guest_run MODE PLAN TAG - one boot; its RESULT lines in $WORK/guest-TAG.results
guest_run() {
	local mode=$1 plan=$2 tag=$3 files n
	files=$WORK/gfiles-$tag
	rm -rf "$files"; mkdir -p "$files"
	cp "$plan" "$files/plan.txt"; echo "$mode" >"$files/mode"; printf '%s\n' $base >"$files/base.txt"
	cp "$IMG" "$files/ext4.img"
	n=$(wc -l <"$plan")
	mapfile -t kos < <(ko_files "$plan" | awk '!s[$0]++')
	# no_timer_check: under TCG on a busy host the IO-APIC timer check can
	# panic the boot ("IO-APIC + timer doesn't work")
	# each: ~2 s a module; all: every target module, then one big patch
	bash "$E2E/lib/boot.sh" -a no_timer_check -m 2048 -t $((600 + 30 * n + 3 * ${#kos[@]})) -o "$WORK/guest-$tag.log" \
		-f "$files/plan.txt" -f "$files/mode" -f "$files/base.txt" -f "$files/ext4.img" \
		"$E2E/guest/update-sweep.sh" "${kos[@]}" >/dev/null 2>"$WORK/guest-$tag.stderr" || true
}
declare -A GRES=()
if [ -s "$WORK/plan.txt" ]; then
	cp "$WORK/plan.txt" "$WORK/plan-left.txt"
	boot=0
	while [ -s "$WORK/plan-left.txt" ] && [ $boot -lt 20 ]; do
		boot=$((boot + 1))
		if [ -n "${SWEEP_GUEST_LOGS:-}" ]; then
			# report again from an earlier run's guest logs (same plan)
			cmp -s "$SWEEP_GUEST_LOGS/plan.txt" "$WORK/plan.txt" || e2e_die "SWEEP_GUEST_LOGS: another plan"
			[ -s "$SWEEP_GUEST_LOGS/guest-each$boot.log" ] || e2e_die "SWEEP_GUEST_LOGS: no guest-each$boot.log"
			cp "$SWEEP_GUEST_LOGS/guest-each$boot.log" "$WORK/"
		else
			guest_run each "$WORK/plan-left.txt" "each$boot"
		fi
		log=$WORK/guest-each$boot.log
		grep -aq '^CHECK: base/workload PASS' "$log" || e2e_die "guest: the workload fails without any patch (see $log)"
		while read -r _ _ idx verdict rest; do GRES[$idx]="$verdict $rest"; done < <(grep -a '^SWEEP: RESULT ' "$log")
		while read -r _ _ idx secs; do GT[$idx]=$secs; done < <(grep -a '^SWEEP: TIME ' "$log")
		while read -r _ _ idx rest; do GRES[$idx.target]=$rest; done < <(grep -a '^SWEEP: TARGET ' "$log")
		# a line that began but has no result killed the guest
		last=$(grep -a '^SWEEP: BEGIN ' "$log" | tail -n1 | awk '{ print $3 }')
		if [ -n "$last" ] && [ -z "${GRES[$last]:-}" ]; then
			why=$(grep -aE 'BUG:|Oops|panic|RIP:' "$log" | head -n 2 | tr '\n' ' ' | cut -c1-200)
			if grep -aq "^SWEEP: PATCH $last\$" "$log"; then
				GRES[$last]="fail guest died (panic, oops or hang) with the patch: $why"
			else   # not klpwrite's: loading the target module itself
				GRES[$last]="fail harness: the guest died loading the target module, before the patch: $why"
			fi
		fi
		[ -n "$last" ] || { e2e_log "guest made no progress (see $log)"; break; }
		awk -v L="$last" 'go { print } $1 == L { go = 1 }' "$WORK/plan-left.txt" >"$WORK/plan-next.txt"
		mv "$WORK/plan-next.txt" "$WORK/plan-left.txt"
	done
fi
timed "guest: each module" "$t0"

i=0
CUM=""
while IFS= read -r f; do
	i=$((i + 1))
	[ -n "${MODNAME[$f]:-}" ] || continue
	r=${GRES[$i]:-"fail no result from the guest"}
	tgt=${GRES[$i.target]:-}
	if [ "${r%% *}" = ok ]; then
		ROW[$f]=patched KIND[$f]="patched"
		case $tgt in failed*) KIND[$f]="patched (target module did not load: patch not exercised)"
			DETAIL[$f]="${DETAIL[$f]}; target ${tgt}" ;; esac
		DETAIL[$f]="${WHERE[$f]}: ${DETAIL[$f]}"
		CUM="$CUM $i"
	else
		ROW[$f]=failed KIND[$f]="failed: guest"; DETAIL[$f]="guest: ${r#fail }"
	fi
done <"$WORK/selected.txt"

# the cumulative patch: every module that passed, one --replace module
t0=$(e2e_now)
CUMRES="not run (no module passed)"
if [ -n "$CUM" ]; then
	objs=() targets=()
	for i in $CUM; do
		objs+=("$KW/klpu_$i.o")
		t=$(awk -v i="$i" '$1 == i { print $3 }' "$WORK/plan.txt")
		[ "$t" != - ] && targets+=("$t")
	done
	tl=$(printf '%s,' ${targets[@]+"${targets[@]}"} | sed 's/,$//')
	echo "0 klpu_all ${tl:--}" >"$WORK/plan-all.txt"
	if "$KLPWRITE" module "${objs[@]}" --replace --name klpu_all --vmlinux "$E2E_VMLINUX" --symvers "$E2E_SYMVERS" \
		--ref-module "$REF_KO" -o "$KW/klpu_all.ko" >"$KW/klpu_all-module.log" 2>&1; then
		guest_run all "$WORK/plan-all.txt" all
		CUMRES=$(grep -a '^SWEEP: RESULT 0 ' "$WORK/guest-all.log" | cut -d' ' -f4- || true)
		CUMRES=${CUMRES:-"fail guest died or timed out: $(grep -aE 'BUG:|Oops|panic' "$WORK/guest-all.log" 2>/dev/null | head -n1 || true) $(tail -n1 "$WORK/guest-all.stderr")"}
		CUMT=$(grep -a '^SWEEP: TIME 0 ' "$WORK/guest-all.log" | cut -d' ' -f4 || true)
		CUMRES="$CUMRES (${#objs[@]} objects, guest ${CUMT:-?}s)"
	else
		CUMRES="fail klpwrite module: $(kw_error "$KW/klpu_all-module.log")"
	fi
fi
timed "guest: cumulative" "$t0"

# ============================================================================
# report
# ============================================================================
declare -A COUNT=()
NP=0 NC=0 NR=0 NF=0
count() { COUNT[$1]=$((${COUNT[$1]:-0} + 1)); }
while IFS=$'\t' read -r f kind; do
	if [ "$kind" = c ]; then
		grep -qxF "$f" "$WORK/selected.txt" || continue
		row=${ROW[$f]:-failed} detail=${DETAIL[$f]:-"no result (harness)"}
		count "${KIND[$f]:-failed: harness}"
		t=""
		[ -n "${KWT[$f]:-}" ] && t=" [klpwrite ${KWT[$f]}s"
		[ -n "${MODNAME[$f]:-}" ] && idx=${MODNAME[$f]#klpu_} && [ -n "${GT[$idx]:-}" ] && t="$t, guest ${GT[$idx]}s"
		[ -n "$t" ] && t="$t]"
		# ${x:0:N} counts bytes (LC_ALL=C): drop a UTF-8 character cut in half
		printf '%s\n' "FILE $f: $row $detail$t" | iconv -f UTF-8 -t UTF-8 -c
	else
		[ "$SEL" != 0 ] && { count "$kind"; continue; }
		case $kind in
		header) row=refused detail="header: every includer changes; not a per-file live patch" ;;
		asm) row=refused detail="assembler: not a per-file C live patch" ;;
		build) row=refused detail="Makefile/Kconfig: build change, no per-file live patch" ;;
		dir-added | file-added) row=refused detail="new file: nothing in the booted kernel to patch per file" ;;
		dir-removed | file-removed) row=refused detail="removed file: not a per-file live patch" ;;
		other) row=refused detail="other file: not a per-file live patch" ;;
		other-arch) row="no change" detail="other architecture: not in the amd64 kernel" ;;
		tools) row="no change" detail="tools/scripts/samples: not part of the kernel image" ;;
		doc) row="no change" detail="documentation" ;;
		esac
		count "$kind"
		echo "FILE $f: $row $detail"
	fi
	case $row in
	patched) NP=$((NP + 1)) ;; "no change") NC=$((NC + 1)) ;; refused) NR=$((NR + 1)) ;; *) NF=$((NF + 1)) ;;
	esac
done <"$P/rows.tsv"
echo "---- cumulative patch (atomic replace, all patched modules): $CUMRES"
case $CUMRES in ok*) ;; "not run"*) ;; *) NF=$((NF + 1)); echo "FILE (cumulative): failed $CUMRES" ;; esac
echo "---- counts by kind"
for k in "${!COUNT[@]}"; do printf '%6d  %s\n' "${COUNT[$k]}" "$k"; done | sort -k2
echo "---- timings"
timed total "$T_START"
for t in "${TIMES[@]}"; do echo "TIME: $t"; done
echo "logs: $WORK"
echo "UPDATE-SWEEP: $NP patched, $NC no change, $NR refused, $NF failed"
[ "$NF" = 0 ]
