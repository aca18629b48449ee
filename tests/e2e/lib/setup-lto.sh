#!/bin/bash
# setup-lto.sh - build and cache the two kernels of tests/e2e/lto.sh from
# Debian's linux-source-6.1, each as an original and a patched build.
#
# Usage: setup-lto.sh gcc|clang
#   gcc    gcc-12, KCFLAGS="-ffunction-sections -fdata-sections"
#   clang  the same with LLVM=1 and CONFIG_LTO_CLANG_THIN=y (bookworm's
#          clang/lld 14; installed when missing)
# stdout: the kernel's cache directory $CACHE/lto-6.1/<kind>, nothing else.
#
# Steps (each kept while its stamp is unchanged):
#   1. the tree $K/tree: 'cp -al' of the extracted linux-source-6.1 (the
#      6.1 suite's $CACHE/<krel>/linux-source-6.1, else unpacked from
#      linux-source-6.1_*.deb, else 'apt-get download'), 'make mrproper',
#      lto/base.patch applied (kernel/Makefile; vmlinux.lds.h takes the
#      .text.<fn>/.data.<x> sections of -ffunction-sections into .text/.data
#      as it does for LTO_CLANG);
#   2. tests/e2e/lto/src/ (units A, B, C: kernel/klpw_lto_*.c) copied in
#      (only what differs, so a change of a unit rebuilds incrementally);
#      config: x86_64 tinyconfig + kconfig/lto-6.1.config (+ LTO_CLANG_THIN);
#      every line of the fragment must survive olddefconfig;
#   3. orig build ('make vmlinux bzImage modules'): vmlinux.o, vmlinux,
#      System.map, bzImage, Module.symvers, .config and the sample livepatch
#      module (the reference module) go to $K/orig/;
#   4. patched build: lto/[0-9][0-9]-*.patch applied to the same tree (all
#      scenario changes at once), 'make vmlinux' (incremental), vmlinux.o,
#      vmlinux, System.map to $K/patched/; the patches are reverted.
# Files that a patch changes are unlinked from the hard-linked source first.
# The build variables are fixed (KBUILD_BUILD_TIMESTAMP/VERSION/USER/HOST),
# so that the orig and patched linux_banner are the same bytes.
# $K/kernel.env is what lib/boot.sh loads (E2E_ENV_FILE) to boot the orig
# kernel.
#
# Env: KLPWRITE_E2E_CACHE, E2E_JOBS (2), E2E_LTO_SRC (an extracted
#      linux-source-6.1 to link from), E2E_LTO_SRCDEB (linux-source-6.1 .deb),
#      E2E_LTO_CONFIG_ONLY=1 (stop after the config: check a fragment change).
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_need_root
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

KIND=${1:?usage: setup-lto.sh gcc|clang}
case $KIND in gcc | clang) ;; *) e2e_die "bad kind '$KIND' (gcc|clang)" ;; esac
LTO=$E2E_ROOTDIR/lto
FRAG=$E2E_ROOTDIR/kconfig/lto-6.1.config
JOBS=${E2E_JOBS:-2}
C=$E2E_CACHE/lto-6.1
K=$C/$KIND
TREE=$K/tree
mkdir -p "$K"
exec 8>"$C/.setup-$KIND.lock"
flock 8

e2e_apt_install qemu-system-x86 busybox-static cpio gzip xz-utils gcc-12 make python3 \
	libc6-dev binutils kmod libelf-dev libssl-dev patch flex bison bc dwarves
if [ "$KIND" = clang ]; then
	e2e_apt_install clang lld llvm
	MAKEV=(LLVM=1)
	CCVER=$(clang --version | head -n1)
else
	MAKEV=(CC=gcc-12 HOSTCC=gcc-12)
	CCVER=$(gcc-12 --version | head -n1)
fi
MAKE=(make -C "$TREE" ARCH=x86 "${MAKEV[@]}" KCFLAGS="-ffunction-sections -fdata-sections"
	KBUILD_BUILD_TIMESTAMP="Thu Jan  1 00:00:00 UTC 2026" KBUILD_BUILD_VERSION=1
	KBUILD_BUILD_USER=klpwrite KBUILD_BUILD_HOST=e2e)

# ---- the source ------------------------------------------------------------------
src_tree() {
	local s=${E2E_LTO_SRC:-} deb=${E2E_LTO_SRCDEB:-} d
	if [ -z "$s" ]; then
		for d in "$E2E_CACHE"/6.1.0-*-amd64/linux-source-6.1; do
			[ -f "$d/Makefile" ] && s=$d
		done
	fi
	if [ -n "$s" ]; then echo "$s"; return; fi
	# no extracted tree: unpack the source package into $C/linux-source-6.1
	s=$C/linux-source-6.1
	if [ ! -f "$s/Makefile" ]; then
		[ -n "$deb" ] || deb=$(find "$E2E_CACHE" -maxdepth 3 -name 'linux-source-6.1_*_all.deb' | sort -V | tail -n1)
		if [ -z "$deb" ]; then
			mkdir -p "$C/debs"
			e2e_log "apt-get download linux-source-6.1"
			(cd "$C/debs" && apt-get download -q linux-source-6.1 >&2) || e2e_die "cannot download linux-source-6.1"
			deb=$(find "$C/debs" -name 'linux-source-6.1_*_all.deb' | sort -V | tail -n1)
		fi
		e2e_log "unpacking $(basename "$deb")"
		rm -rf "$s" "$C/.srcdeb"
		dpkg -x "$deb" "$C/.srcdeb"
		tar -C "$C/.srcdeb" -xaf "$C/.srcdeb/usr/src/linux-source-6.1.tar.xz"
		mv "$C/.srcdeb/linux-source-6.1" "$s"
		rm -rf "$C/.srcdeb"
	fi
	echo "$s"
}

# unlink_patched PATCH - give every file PATCH touches in $TREE its own inode
unlink_patched() {
	local f
	for f in $(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$1"); do
		[ -f "$TREE/$f" ] || continue
		cp -p "$TREE/$f" "$TREE/$f.e2e-tmp" && mv -f "$TREE/$f.e2e-tmp" "$TREE/$f"
	done
}

SRC=$(src_tree)
srcid=$(cat "$SRC/Makefile" | sed -n 's/^\(VERSION\|PATCHLEVEL\|SUBLEVEL\) = //p' | tr '\n' .)
stamp_tree="src=$srcid base=$(md5sum <"$LTO/base.patch" | cut -d' ' -f1)"
stamp_orig="$stamp_tree units=$(cat "$LTO"/src/kernel/* | md5sum | cut -d' ' -f1) frag=$(md5sum <"$FRAG" | cut -d' ' -f1) kind=$KIND cc=$CCVER pahole=$(pahole --version)"
PATCHES=("$LTO"/[0-9][0-9]-*.patch)
stamp_patched="$stamp_orig patches=$(cat "${PATCHES[@]}" | md5sum | cut -d' ' -f1)"

# ---- 1. tree -------------------------------------------------------------------------
if [ "$(cat "$TREE/.e2e-tree" 2>/dev/null)" != "$stamp_tree" ]; then
	e2e_log "$KIND: linking $SRC into $TREE"
	rm -rf "$TREE" "$K/orig" "$K/patched"
	cp -al "$SRC" "$TREE"
	make -s -C "$TREE" mrproper >&2
	unlink_patched "$LTO/base.patch"
	patch -s -p1 -d "$TREE" <"$LTO/base.patch" >&2
	echo "$stamp_tree" >"$TREE/.e2e-tree"
fi

# ---- 2. config + 3. orig build --------------------------------------------------------
O=$K/orig
if [ "$(cat "$O/.stamp" 2>/dev/null)" != "$stamp_orig" ]; then
	rm -rf "$O" "$K/patched"
	# a reverted patched build may be left in the tree: its sources are the
	# orig ones; the units are copied when they differ (an incremental build
	# then recompiles only them: with ThinLTO still a whole LTO link)
	for f in "$LTO"/src/kernel/*; do
		cmp -s "$f" "$TREE/kernel/$(basename "$f")" || cp "$f" "$TREE/kernel/"
	done
	"${MAKE[@]}" -s tinyconfig >&2
	frag=$K/config-fragment
	cp "$FRAG" "$frag"
	[ "$KIND" = clang ] && printf 'CONFIG_LTO_CLANG_THIN=y\n' >>"$frag"
	(cd "$TREE" && env ARCH=x86 "${MAKEV[@]}" scripts/kconfig/merge_config.sh -m .config "$frag" >&2)
	"${MAKE[@]}" -s olddefconfig >&2
	missing=$(grep -E '^(CONFIG_|# CONFIG_)' "$frag" | grep -vxF -f "$TREE/.config" || true)
	[ -z "$missing" ] || e2e_die "olddefconfig dropped from $frag: $missing"
	[ "${E2E_LTO_CONFIG_ONLY:-0}" = 1 ] && { e2e_log "$KIND: configured (E2E_LTO_CONFIG_ONLY)"; exit 0; }
	t0=$(e2e_now)
	e2e_log "$KIND: make -j$JOBS vmlinux bzImage modules (orig)"
	nice -n 5 "${MAKE[@]}" -j"$JOBS" vmlinux bzImage modules >"$K/build-orig.log" 2>&1 ||
		{ tail -n 30 "$K/build-orig.log" >&2; e2e_die "$KIND orig build failed, see $K/build-orig.log"; }
	secs=$(e2e_since "$t0")
	e2e_log "$KIND: orig built in ${secs}s"
	mkdir -p "$O.tmp"
	KREL=$(cat "$TREE/include/config/kernel.release")
	cp "$TREE/vmlinux.o" "$TREE/vmlinux" "$TREE/System.map" "$TREE/Module.symvers" "$O.tmp/"
	cp "$TREE/.config" "$O.tmp/config"
	cp "$TREE/arch/x86/boot/bzImage" "$O.tmp/bzImage"
	cp "$TREE/samples/livepatch/livepatch-sample.ko" "$O.tmp/"
	echo "$secs" >"$O.tmp/build-seconds"
	echo "$KREL" >"$O.tmp/release"
	echo "$stamp_orig" >"$O.tmp/.stamp"
	mv "$O.tmp" "$O"
fi
KREL=$(cat "$O/release")

# ---- 4. patched build ----------------------------------------------------------------
P=$K/patched
if [ "$(cat "$P/.stamp" 2>/dev/null)" != "$stamp_patched" ]; then
	rm -rf "$P"
	for p in "${PATCHES[@]}"; do
		unlink_patched "$p"
		patch -s -p1 -d "$TREE" <"$p" >&2 || e2e_die "$(basename "$p") does not apply"
	done
	t0=$(e2e_now)
	e2e_log "$KIND: make -j$JOBS vmlinux (patched: $(cd "$LTO" && echo [0-9][0-9]-*.patch))"
	rc=0
	nice -n 5 "${MAKE[@]}" -j"$JOBS" vmlinux >"$K/build-patched.log" 2>&1 || rc=$?
	for ((i = ${#PATCHES[@]} - 1; i >= 0; i--)); do
		patch -s -R -p1 -d "$TREE" <"${PATCHES[$i]}" >&2 || e2e_die "cannot revert ${PATCHES[$i]}"
	done
	[ "$rc" = 0 ] || { tail -n 30 "$K/build-patched.log" >&2; e2e_die "$KIND patched build failed, see $K/build-patched.log"; }
	secs=$(e2e_since "$t0")
	e2e_log "$KIND: patched built in ${secs}s"
	mkdir -p "$P.tmp"
	cp "$TREE/vmlinux.o" "$TREE/vmlinux" "$TREE/System.map" "$P.tmp/"
	[ "$(cat "$TREE/include/config/kernel.release")" = "$KREL" ] || e2e_die "patched release differs"
	echo "$secs" >"$P.tmp/build-seconds"
	echo "$stamp_patched" >"$P.tmp/.stamp"
	mv "$P.tmp" "$P"
fi

cat >"$K/kernel.env.tmp" <<ENV
# written by tests/e2e/lib/setup-lto.sh $KIND
E2E_KREL='$KREL'
E2E_KCACHE='$K'
E2E_KDIR='$TREE'
E2E_VMLINUZ='$O/bzImage'
E2E_VMLINUX='$O/vmlinux'
E2E_CONFIG='$O/config'
E2E_SYMVERS='$O/Module.symvers'
E2E_REFKO='$O/livepatch-sample.ko'
E2E_LTO_KIND='$KIND'
ENV
mv "$K/kernel.env.tmp" "$K/kernel.env"
echo "$K"
