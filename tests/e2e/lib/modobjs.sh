#!/bin/bash
# modobjs.sh - orig/patched object pairs of an out-of-tree target module.
#
# Usage: modobjs.sh -n NAME -p PATCH MODSRC OBJ...
#   MODSRC  kbuild module directory (e.g. tests/e2e/targets/klpw_target)
#   PATCH   unified diff relative to MODSRC (patch -p1 inside a copy of it)
#   OBJ     object names inside the module, e.g. klpw_aux.o
# Both copies are built against the cached headers with
# KCFLAGS="-ffunction-sections -fdata-sections" (E2E_KCFLAGS), the way
# klp-build and kpatch-build compile what they compare.  The objects land in
# $E2E_KCACHE/objs/NAME/{orig,patched}/OBJ (with the .ko beside them) and are
# recorded in objs.tsv / objs.env like the vmlinux pairs (see kobjs.sh).
# stdout: the pair directory.
set -euo pipefail
. "$(dirname "$0")/common.sh"

NAME="" PATCH=""
while getopts "n:p:" o; do
	case $o in
	n) NAME=$OPTARG ;; p) PATCH=$(realpath "$OPTARG") ;;
	*) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$NAME" ] && [ -r "$PATCH" ] && [ $# -ge 2 ] ||
	e2e_die "usage: modobjs.sh -n NAME -p PATCH MODSRC OBJ..."
SRC=$(realpath "$1")
shift
e2e_load_env
KCFLAGS_WANT=${E2E_KCFLAGS-"-ffunction-sections -fdata-sections"}

OUT=$E2E_KCACHE/objs/$NAME
rm -rf "$OUT"
mkdir -p "$OUT/src"
for side in orig patched; do
	b=$OUT/src/$side
	cp -r "$SRC" "$b"
	rm -f "$b"/*.o "$b"/*.ko "$b"/*.mod* "$b"/modules.order "$b"/Module.symvers "$b"/.*.cmd
	[ "$side" = patched ] && patch -d "$b" -p1 -s <"$PATCH" >&2
	make -s -C "$E2E_KDIR" M="$b" KCFLAGS="$KCFLAGS_WANT" modules 2>&1 |
		grep -v '^Skipping BTF generation' >&2 || true
	for o in "$@"; do
		[ -s "$b/$o" ] || e2e_die "$NAME: $side build did not produce $o"
		install -D -m644 "$b/$o" "$OUT/$side/$o"
	done
	for k in "$b"/*.ko; do install -m644 "$k" "$OUT/$side/"; done
done
changed=0
for o in "$@"; do cmp -s "$OUT/orig/$o" "$OUT/patched/$o" || changed=1; done
[ "$changed" = 1 ] || e2e_die "$NAME: no object changed with $PATCH"
cp "$PATCH" "$OUT/source.patch"
exec 7>"$E2E_KCACHE/.kobjs.lock"
flock 7
e2e_record_pair "$NAME" "$OUT" "$PATCH" "$@"
echo "$OUT"
