#!/bin/bash
# kobjs.sh - compile single vmlinux objects the way Debian compiled the kernel
# we boot, optionally before and after a source patch.
#
# The tree is linux-source-X.Y of exactly the booted kernel's package version,
# configured with the .config from the headers package and built with the same
# compiler and KERNELRELEASE.  Objects are compiled with
#   KCFLAGS="-ffunction-sections -fdata-sections"     (override: E2E_KCFLAGS)
# like klp-build/kpatch-build do, so every function has its own section.
# E2E_KMAKEFLAGS adds make variables to the object builds (not to 'prepare'),
# e.g. OBJECT_FILES_NON_STANDARD=y for objects objtool has not processed.
#
# Usage:
#   kobjs.sh [-j N] OBJ...                  build OBJs in the tree
#   kobjs.sh [-j N] -n NAME -p PATCH OBJ... build an orig/patched pair of each
#                                           OBJ into $E2E_KCACHE/objs/NAME/
#   kobjs.sh [-j N] -k -O DIR [-R SRCROOT -F LIST] OBJ...
#                                           batch form (tests/e2e/update-sweep.sh):
#                                           build what builds of OBJ... (make -k),
#                                           copy each fresh object to DIR/OBJ
# OBJ is a kbuild object path such as fs/proc/cmdline.o.
#
# Batch form: -k keeps going past objects that do not build (or that
# Debian's config does not build: kbuild has no rule for them) and exits 0;
# the caller sees which DIR/OBJ exist.  The make output goes to stderr.
# With -R/-F the files listed in LIST (paths relative to the tree, one a
# line) are replaced by SRCROOT's copies for the build and put back after it
# (also on error); each OBJ is deleted first, so only fresh objects are copied.
#
# With -n, the pair is kept in the cache and reused while the patch text and
# KCFLAGS stay the same; its paths are recorded in $E2E_KCACHE/objs.tsv
# (name, obj, orig path, patched path, patch md5) and in objs.env as
#   E2E_OBJ_<NAME>_ORIG / E2E_OBJ_<NAME>_PATCHED (first OBJ of the pair).
# stdout: the source tree path (no -n) or the pair directory (-n).
# First run: ~140 MB download, ~1.4 GB unpacked, then 'make prepare' (measured:
# 10 s on 2 cores); about 30 s in all before the first object.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_need_root
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

JOBS=2 NAME="" PATCH="" KEEP=0 ODIR="" SRCROOT="" FLIST=""
while getopts "j:n:p:kO:R:F:" o; do
	case $o in
	j) JOBS=$OPTARG ;; n) NAME=$OPTARG ;; p) PATCH=$(realpath "$OPTARG") ;;
	k) KEEP=1 ;; O) ODIR=$OPTARG ;; R) SRCROOT=$(realpath "$OPTARG") ;; F) FLIST=$(realpath "$OPTARG") ;;
	*) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || e2e_die "usage: kobjs.sh [-j N] [-n NAME -p PATCH] OBJ..."
{ [ -z "$NAME" ] && [ -z "$PATCH" ]; } || { [ -n "$NAME" ] && [ -r "$PATCH" ]; } ||
	e2e_die "-n NAME and -p PATCH go together"

e2e_load_env
KCFLAGS_WANT=${E2E_KCFLAGS-"-ffunction-sections -fdata-sections"}
# E2E_CC may be a triplet name (x86_64-linux-gnu-gcc-12, from gcc-12)
cc_pkg=()
command -v "$E2E_CC" >/dev/null || cc_pkg=("${E2E_CC#x86_64-linux-gnu-}")
e2e_apt_install flex bison libelf-dev libssl-dev bc xz-utils patch dwarves ${cc_pkg[@]+"${cc_pkg[@]}"}

SRCPKG=linux-source-$(echo "$E2E_KREL" | cut -d. -f1,2)
TREE=$E2E_KCACHE/$SRCPKG

exec 7>"$E2E_KCACHE/.kobjs.lock"
flock 7

# ---- source tree ----------------------------------------------------------------
if [ ! -e "$TREE/.e2e-unpacked" ]; then
	deb=$(find "$E2E_KCACHE/debs" -maxdepth 1 -name "${SRCPKG}_${E2E_PKGVER//:/%3a}_*.deb" | head -n1)
	if [ -z "$deb" ]; then
		e2e_log "apt-get download $SRCPKG=$E2E_PKGVER"
		tmp=$(mktemp -d "$E2E_KCACHE/debs/.dl.XXXXXX")
		(cd "$tmp" && apt-get ${E2E_APT[@]+"${E2E_APT[@]}"} download -q "$SRCPKG=$E2E_PKGVER" 2>&1 |
			grep -v 'unsandboxed as root' >&2) || true
		deb=$(find "$tmp" -maxdepth 1 -name '*.deb' | head -n1)
		[ -n "$deb" ] || e2e_die "download of $SRCPKG=$E2E_PKGVER failed"
		mv "$deb" "$E2E_KCACHE/debs/"
		rm -rf "$tmp"
		deb=$E2E_KCACHE/debs/$(basename "$deb")
	fi
	e2e_log "unpacking $(basename "$deb")"
	rm -rf "$TREE" "$E2E_KCACHE/.srcdeb"
	dpkg -x "$deb" "$E2E_KCACHE/.srcdeb"
	tar -C "$E2E_KCACHE" -xaf "$E2E_KCACHE/.srcdeb/usr/src/$SRCPKG.tar.xz"
	rm -rf "$E2E_KCACHE/.srcdeb"
	touch "$TREE/.e2e-unpacked"
fi

# Debian builds with gcc-12, KERNELRELEASE = ABI name, these build user/host.
MAKE=(make -C "$TREE" ARCH=x86 CC="$E2E_CC" HOSTCC="$E2E_CC"
	KERNELRELEASE="$E2E_KREL" KBUILD_BUILD_USER=debian-kernel
	KBUILD_BUILD_HOST=lists.debian.org KCFLAGS="$KCFLAGS_WANT")
# Kconfig of 6.12+ probes rustc (CONFIG_RUSTC_VERSION); Debian built without
# one (0), so the host's rustc (cargo, for klpwrite) must stay out of sight
grep -q '^CONFIG_RUSTC_VERSION=0$' "$E2E_CONFIG" && MAKE+=(RUSTC=e2e-no-rustc)

# ---- configure + prepare (again only if .config or KCFLAGS changed) ---------------
stamp="config=$(md5sum <"$E2E_CONFIG" | cut -d' ' -f1) kcflags=$KCFLAGS_WANT"
same_config() { cmp -s <(grep '^CONFIG_' "$E2E_CONFIG") <(grep '^CONFIG_' "$TREE/.config"); }
if [ "$(cat "$TREE/.e2e-prepared" 2>/dev/null)" != "$stamp" ] || ! same_config; then
	e2e_log "olddefconfig with $E2E_CONFIG"
	cp "$E2E_CONFIG" "$TREE/.config"
	"${MAKE[@]}" -s olddefconfig >&2
	# Any difference (e.g. CONFIG_PAHOLE_VERSION when dwarves is missing, which
	# also drops CONFIG_DEBUG_INFO_BTF_MODULES and changes struct module) means
	# the objects would not match the kernel we boot.
	if ! diff <(grep '^CONFIG_' "$E2E_CONFIG") <(grep '^CONFIG_' "$TREE/.config") >&2; then
		rm -f "$TREE/.e2e-prepared"
		e2e_die "olddefconfig changed Debian's config (diff above); toolchain differs?"
	fi
	t0=$(e2e_now)
	e2e_log "make prepare -j$JOBS"
	"${MAKE[@]}" -j"$JOBS" prepare >&2
	e2e_log "make prepare took $(e2e_since "$t0")s"
	echo "$stamp" >"$TREE/.e2e-prepared"
fi

read -r -a KMAKEFLAGS <<<"${E2E_KMAKEFLAGS:-}"
build() { "${MAKE[@]}" "${KMAKEFLAGS[@]}" -j"$JOBS" "$@" >&2; }

# ---- batch form (-k -O DIR [-R SRCROOT -F LIST]) ------------------------------------
if [ "$KEEP" = 1 ]; then
	[ -n "$ODIR" ] && [ -z "$NAME" ] || e2e_die "-k needs -O DIR and no -n"
	{ [ -z "$SRCROOT" ] && [ -z "$FLIST" ]; } || { [ -d "$SRCROOT" ] && [ -r "$FLIST" ]; } ||
		e2e_die "-R SRCROOT and -F LIST go together"
	BAK=$E2E_KCACHE/.kobjs-overlay
	put_back() {   # restore the tree's own copies of the overlaid files
		[ -s "$BAK/list" ] || return 0
		# a fresh mtime, so make rebuilds whatever was built from the overlay
		while IFS= read -r f; do cp "$BAK/tree/$f" "$TREE/$f"; done <"$BAK/list"
		rm -rf "$BAK"
	}
	put_back       # an earlier run killed mid-way
	for o in "$@"; do rm -f "$TREE/$o"; done
	if [ -n "$FLIST" ]; then
		mkdir -p "$BAK/tree"
		trap put_back EXIT
		while IFS= read -r f; do
			[ -n "$f" ] || continue
			install -D -p "$TREE/$f" "$BAK/tree/$f"
			printf '%s\n' "$f" >>"$BAK/list"
			cp "$SRCROOT/$f" "$TREE/$f"
		done <"$FLIST"
	fi
	t0=$(e2e_now)
	"${MAKE[@]}" -k -j"$JOBS" "$@" >&2 || true
	n=0
	for o in "$@"; do
		[ -s "$TREE/$o" ] || continue
		install -D -m644 "$TREE/$o" "$ODIR/$o"
		# the build's dependency record: which module, which sources
		[ -r "$(dirname "$TREE/$o")/.$(basename "$o").cmd" ] &&
			cp "$(dirname "$TREE/$o")/.$(basename "$o").cmd" "$ODIR/$o.cmd"
		n=$((n + 1))
	done
	if [ -n "$FLIST" ]; then for o in "$@"; do rm -f "$TREE/$o"; done; fi
	put_back
	trap - EXIT
	e2e_log "batch: $n of $# objects built in $(e2e_since "$t0")s"
	echo "$TREE"
	exit 0
fi

if [ -z "$NAME" ]; then
	build "$@"
	echo "$TREE"
	exit 0
fi

# ---- orig/patched pair --------------------------------------------------------------
OUT=$E2E_KCACHE/objs/$NAME
key="patch=$(md5sum <"$PATCH" | cut -d' ' -f1) $stamp autoconf=$(md5sum <"$TREE/include/generated/autoconf.h" | cut -d' ' -f1) objs=$*${E2E_KMAKEFLAGS:+ kmakeflags=$E2E_KMAKEFLAGS}"
have=1
for o in "$@"; do [ -s "$OUT/orig/$o" ] && [ -s "$OUT/patched/$o" ] || have=0; done
if [ "$have" = 1 ] && [ "$(cat "$OUT/.key" 2>/dev/null)" = "$key" ]; then
	e2e_log "pair $NAME is cached"
else
	rm -rf "$OUT"
	mkdir -p "$OUT"
	if ! patch -d "$TREE" -p1 --dry-run -s -f <"$PATCH" >/dev/null 2>&1; then
		# an earlier run killed mid-way may have left it applied
		if patch -d "$TREE" -p1 -R --dry-run -s -f <"$PATCH" >/dev/null 2>&1; then
			e2e_log "tree still had $(basename "$PATCH") applied; reverting"
			patch -d "$TREE" -p1 -R -s -f <"$PATCH" >&2
		else
			e2e_die "$PATCH does not apply to $TREE"
		fi
	fi
	t0=$(e2e_now)
	build "$@"
	for o in "$@"; do install -D -m644 "$TREE/$o" "$OUT/orig/$o"; done
	# From here on the tree is modified: always put it back.
	patch -d "$TREE" -p1 -s <"$PATCH" >&2
	trap 'patch -d "$TREE" -p1 -R -s <"$PATCH" >&2' EXIT
	build "$@"
	for o in "$@"; do install -D -m644 "$TREE/$o" "$OUT/patched/$o"; done
	patch -d "$TREE" -p1 -R -s <"$PATCH" >&2
	trap - EXIT
	build "$@"      # tree objects are the unpatched ones again
	for o in "$@"; do
		cmp -s "$OUT/orig/$o" "$OUT/patched/$o" &&
			e2e_die "$NAME: $o is identical before and after $PATCH"
	done
	cp "$PATCH" "$OUT/source.patch"
	echo "$key" >"$OUT/.key"
	e2e_log "pair $NAME built in $(e2e_since "$t0")s"
fi

# ---- record in objs.tsv / objs.env ---------------------------------------------------
e2e_record_pair "$NAME" "$OUT" "$PATCH" "$@"
echo "$OUT"
