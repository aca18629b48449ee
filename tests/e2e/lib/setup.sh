#!/bin/bash
# setup.sh - fetch Debian's current amd64 kernel into the e2e cache.
#
# What it does (idempotent; a second run only re-checks, a few seconds):
#   1. installs the host tools the suite needs (qemu, busybox-static, gcc-12,
#      make, kmod, ...) if they are missing;
#   2. asks apt which kernel the metapackages linux-image-amd64 and
#      linux-headers-amd64 point at (override with E2E_KREL=6.1.0-NN-amd64);
#   3. apt-get downloads linux-image-<krel>, linux-headers-<krel>, the matching
#      linux-headers-<abi>-common and linux-kbuild-<x.y>, and unpacks them
#      with dpkg -x into $CACHE/<krel>/root - nothing gets installed;
#   4. makes the unpacked headers tree usable from inside the cache
#      (relative include + relative symlinks) so that
#         make -C $E2E_KDIR M=<dir> modules
#      works;
#   5. writes $CACHE/kernel.env (E2E_KREL, E2E_KDIR, E2E_VMLINUZ, ...).
#
# Env: KLPWRITE_E2E_CACHE (default /var/cache/klpwrite-e2e), E2E_KREL,
#      E2E_APT_UPDATE=1 to force 'apt-get update', E2E_SUITE (e.g.
#      bookworm-backports: resolve and download the kernel from that suite
#      through a private apt configuration, see common.sh; nothing is
#      installed from it), E2E_ENV_FILE (also write kernel.env there),
#      E2E_KERNEL (X.Y: build that kernel instead, lib/setup-self.sh).
# stdout: the kernel release, nothing else.  Progress goes to stderr.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_need_root
# E2E_KERNEL=X.Y: a kernel built here from linux-source-X.Y (7.x: Debian's
# binaries need a newer toolchain than the host's); see setup-self.sh
[ -z "${E2E_KERNEL:-}" ] || exec bash "$E2E_LIB/setup-self.sh"
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

mkdir -p "$E2E_CACHE"
exec 8>"$E2E_CACHE/.setup.lock"
flock 8

# ---- apt metadata -----------------------------------------------------------
if [ -n "${E2E_SUITE:-}" ]; then
	e2e_apt_suite_update "$([ "${E2E_APT_UPDATE:-0}" = 1 ] && echo force)"
elif [ "${E2E_APT_UPDATE:-0}" = 1 ] ||
	! apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1; then
	e2e_log "apt-get update"
	apt-get update -q >&2
fi

e2e_apt_install qemu-system-x86 busybox-static cpio gzip xz-utils gcc-12 make python3 \
	libc6-dev binutils kmod libelf1 libssl3 patch

declare -A APTREC=()
# apt_load PKG... - fetch the candidate records of PKG... with one apt-cache
# call (it is slow) into APTREC; call it in the main shell, not in $(...)
apt_load() {
	local rec="" line p
	while IFS= read -r line; do
		if [ -z "$line" ]; then
			p=$(printf '%s\n' "$rec" | sed -n 's/^Package: //p')
			[ -n "$p" ] && APTREC[$p]=$rec
			rec=""
		else
			rec+="$line"$'\n'
		fi
	done < <(apt-cache ${E2E_APT[@]+"${E2E_APT[@]}"} show --no-all-versions "$@" 2>/dev/null; echo)
	for p in "$@"; do
		[ -n "${APTREC[$p]:-}" ] || e2e_die "apt knows no package $p"
	done
}
# apt_field PKG FIELD - a field of PKG's record (apt_load it first)
apt_field() { printf '%s' "${APTREC[$1]:-}" | sed -n "s/^$2: //p" | head -n1; }
# apt_depname PKG ERE - first dependency of PKG whose name matches ERE
apt_depname() {
	apt_field "$1" Depends | tr ',|' '\n\n' | sed 's/^ *//; s/ .*//' |
		grep -E -m1 -x "$2" || true
}

# ---- which kernel -------------------------------------------------------------
KREL=${E2E_KREL:-}
if [ -z "$KREL" ]; then
	apt_load linux-image-amd64 linux-headers-amd64
	img=$(apt_depname linux-image-amd64 'linux-image-[0-9].*')
	[ -n "$img" ] || e2e_die "linux-image-amd64 has no linux-image-<krel> dependency"
	KREL=${img#linux-image-}
	hdr=$(apt_depname linux-headers-amd64 'linux-headers-[0-9].*')
	[ "$hdr" = "linux-headers-$KREL" ] ||
		e2e_log "note: linux-headers-amd64 -> $hdr but image is $KREL; using $KREL"
fi
case $KREL in *-amd64) ;; *) e2e_die "unexpected kernel release '$KREL'" ;; esac
IMG=linux-image-$KREL
HDR=linux-headers-$KREL
apt_load "$IMG" "$HDR"
COMMON=$(apt_depname "$HDR" 'linux-headers-.*-common')
KBUILD=$(apt_depname "$HDR" 'linux-kbuild-.*')
[ -n "$COMMON" ] && [ -n "$KBUILD" ] || e2e_die "cannot resolve dependencies of $HDR"
apt_load "$COMMON" "$KBUILD"
PKGVER=$(apt_field "$IMG" Version)
e2e_log "kernel $KREL, package version $PKGVER"

KC=$E2E_CACHE/$KREL
DEBS=$KC/debs
ROOT=$KC/root
mkdir -p "$DEBS" "$ROOT"

# ---- download + unpack ------------------------------------------------------
# fetch_deb PKG VERSION -> path of the .deb in $DEBS (downloads once)
fetch_deb() {
	local pkg=$1 ver=$2 f tmp
	f=$(find "$DEBS" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" | head -n1)
	if [ -z "$f" ]; then
		e2e_log "apt-get download $pkg=$ver"
		tmp=$(mktemp -d "$DEBS/.dl.XXXXXX")
		# apt warns that it cannot drop to its _apt user here; harmless
		(cd "$tmp" && apt-get ${E2E_APT[@]+"${E2E_APT[@]}"} download -q "$pkg=$ver" 2>&1 |
			grep -v 'unsandboxed as root' >&2) || true
		f=$(find "$tmp" -maxdepth 1 -name '*.deb' | head -n1)
		[ -n "$f" ] || e2e_die "apt-get download produced no .deb for $pkg"
		mv "$f" "$DEBS/"
		rm -rf "$tmp"
		f=$DEBS/$(basename "$f")
	fi
	printf '%s\n' "$f"
}

for pkg in "$IMG" "$HDR" "$COMMON" "$KBUILD"; do
	ver=$(apt_field "$pkg" Version)
	[ -n "$ver" ] || e2e_die "no installable candidate for $pkg"
	deb=$(fetch_deb "$pkg" "$ver")
	mark=$ROOT/.unpacked.$(basename "$deb")
	if [ ! -e "$mark" ]; then
		e2e_log "dpkg -x $(basename "$deb")"
		dpkg -x "$deb" "$ROOT"
		touch "$mark"
	fi
done

# ---- make the headers tree relocatable ----------------------------------------
KDIR=$ROOT/usr/src/linux-headers-$KREL
# The amd64 headers Makefile includes ../linux-headers-<abi>-common/Makefile by
# absolute path; make it relative to the Makefile's own directory.
sed -i 's|^include /usr/src/|include $(dir $(lastword $(MAKEFILE_LIST)))../|' "$KDIR/Makefile"
if grep -q '^include /' "$KDIR/Makefile"; then
	e2e_die "absolute include left in $KDIR/Makefile"
fi
# Absolute symlinks (lib/modules/<krel>/build, scripts -> kbuild, ...) point
# into / on the host; re-point them inside $ROOT.
find "$ROOT" -type l -lname '/*' -print0 | while IFS= read -r -d '' l; do
	ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$ROOT$(readlink "$l")")" "$l"
done

# ---- sanity + env file ---------------------------------------------------------
VMLINUZ=$ROOT/boot/vmlinuz-$KREL
MODDIR=$ROOT/lib/modules/$KREL
for f in "$VMLINUZ" "$KDIR/Module.symvers" "$KDIR/.config" "$KDIR/scripts/basic/fixdep"; do
	[ -e "$f" ] || e2e_die "missing $f after unpacking"
done
grep -qx 'CONFIG_LIVEPATCH=y' "$KDIR/.config" || e2e_die "kernel lacks CONFIG_LIVEPATCH"
[ -d "$MODDIR/kernel" ] || e2e_die "missing $MODDIR/kernel"
# The compiler exactly as the kernel's config names it (CONFIG_CC_VERSION_TEXT
# begins with its command name: gcc-12 for 6.1, x86_64-linux-gnu-gcc-12 for
# the 6.12 backport); another name changes CONFIG_CC_VERSION_TEXT in
# olddefconfig (kobjs.sh refuses that).  Fallback: the .kernelvariables CC.
KCC=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$KDIR/.config" | head -n1)
case $KCC in *gcc-[0-9]*) ;; *) KCC=$(sed -n 's/^CC *=.*\(gcc-[0-9][0-9]*\).*/\1/p' "$KDIR/.kernelvariables" | head -n1) ;; esac
KCC=${KCC:-gcc}
command -v "$KCC" >/dev/null || e2e_die "kernel compiler $KCC not installed"

cat >"$KC/kernel.env.tmp" <<ENV
# written by tests/e2e/lib/setup.sh
E2E_KREL='$KREL'
E2E_PKGVER='$PKGVER'
E2E_KCACHE='$KC'
E2E_ROOT='$ROOT'
E2E_KDIR='$KDIR'
E2E_KSRC_COMMON='$ROOT/usr/src/$COMMON'
E2E_VMLINUZ='$VMLINUZ'
E2E_CONFIG='$KDIR/.config'
E2E_SYMVERS='$KDIR/Module.symvers'
E2E_MODDIR='$MODDIR'
E2E_CC='$KCC'
ENV
mv "$KC/kernel.env.tmp" "$KC/kernel.env"
# $CACHE/kernel.env stays the default suite's: a run on another suite uses
# its own file (E2E_ENV_FILE, set by run.sh), and so does a pinned E2E_KREL
# (run.sh) - only the default kernel is the "current" one
[ -n "${E2E_SUITE:-}" ] || cp "$KC/kernel.env" "$E2E_CACHE/kernel.env"
[ -z "${E2E_ENV_FILE:-}" ] || [ "$E2E_ENV_FILE" = "$KC/kernel.env" ] ||
	cp "$KC/kernel.env" "$E2E_ENV_FILE"
e2e_log "ready: $VMLINUZ"
echo "$KREL"
