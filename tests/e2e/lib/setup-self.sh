#!/bin/bash
# setup-self.sh - build a kernel from Debian's linux-source-X.Y package with
# the host's gcc-12 and put it in the e2e cache like setup.sh puts Debian's
# kernels there (E2E_KERNEL=X.Y; setup.sh hands over to this script).
#
# For kernels whose Debian binaries the host cannot reproduce (7.x: sid and
# trixie-backports build them with a newer gcc and glibc), the suite boots a
# kernel built here instead, from the same source package:
#   1. the source package: $E2E_SELF_SRCDEB, else the newest
#      $CACHE/self-debs/linux-source-X.Y_*.deb, else 'apt-get download' from
#      ${E2E_SELF_SUITE:-sid} through a private apt configuration (common.sh);
#   2. the config: x86_64 'make tinyconfig' + tests/e2e/kconfig/X.Y.config
#      (scripts/kconfig/merge_config.sh -m, then olddefconfig; every line of
#      the fragment must survive); the fragment sets what defconfig has for
#      the code the scenarios patch and leaves out drivers, protocols and
#      filesystems that none touches (its header lists the differences);
#   3. 'make bzImage modules' in $CACHE/<krel>/kbuild (the tree stays: it is
#      E2E_KDIR, the kbuild tree for 'make M='), modules_install into
#      $CACHE/<krel>/root/lib/modules/<krel>, the image to root/boot/;
#   4. writes $CACHE/<krel>/kernel.env (and E2E_ENV_FILE), never
#      $CACHE/kernel.env (the default suite's).
# A new build removes the previous one's snapshot (guest/, vmlinux,
# snapshot.env of lib/snapshot.sh), which is keyed by the release only.
# The release is <version>-e2e (CONFIG_LOCALVERSION in the fragment), e.g.
# 7.2.13-e2e.  The build is kept while the source package, the fragment's
# settings (its CONFIG_ lines: comments do not count), the compiler and
# pahole stay the same (stamp $CACHE/<krel>/.self-built).  The build takes
# about 24 CPU minutes (1,583 objects; the defconfig base of before: about
# 45, 2,176 objects): at -j2 (E2E_JOBS) 18 min beside another session's
# work, about 13 on an idle 2-core machine, 37 when other builds crowd it
# (nice -n 19); seconds when cached.
# The make variables are kobjs.sh's (CC, HOSTCC, KERNELRELEASE, build
# user/host, RUSTC=e2e-no-rustc), so its per-file objects of the same source
# match this kernel.
#
# Env: KLPWRITE_E2E_CACHE, E2E_KERNEL (X.Y), E2E_SELF_SRCDEB, E2E_SELF_SUITE,
#      E2E_JOBS, E2E_ENV_FILE.
# stdout: the kernel release, nothing else.  Progress goes to stderr.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_need_root
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

KXY=${E2E_KERNEL:?E2E_KERNEL=X.Y}
case $KXY in [0-9]*.[0-9]*) ;; *) e2e_die "bad E2E_KERNEL '$KXY'" ;; esac
FRAG=$E2E_ROOTDIR/kconfig/$KXY.config
[ -r "$FRAG" ] || e2e_die "no config fragment $FRAG"
SRCPKG=linux-source-$KXY
KCC=gcc-12
JOBS=${E2E_JOBS:-2}

mkdir -p "$E2E_CACHE"
exec 8>"$E2E_CACHE/.setup.lock"
flock 8

e2e_apt_install qemu-system-x86 busybox-static cpio gzip xz-utils gcc-12 make python3 \
	libc6-dev binutils kmod libelf1 libssl3 patch flex bison libelf-dev libssl-dev bc dwarves

# ---- the source package ---------------------------------------------------------
SELFDEBS=$E2E_CACHE/self-debs
mkdir -p "$SELFDEBS"
deb=${E2E_SELF_SRCDEB:-}
[ -n "$deb" ] || deb=$(find "$SELFDEBS" -maxdepth 1 -name "${SRCPKG}_*_all.deb" | sort -V | tail -n1)
if [ -z "$deb" ]; then
	E2E_SUITE=${E2E_SELF_SUITE:-sid}
	E2E_APTDIR=$E2E_CACHE/apt-$E2E_SUITE
	E2E_APT=(-o "Dir::Etc::sourcelist=$E2E_APTDIR/sources.list" -o "Dir::Etc::sourceparts=-"
		-o "Dir::State::Lists=$E2E_APTDIR/lists" -o "Dir::Cache=$E2E_APTDIR/cache"
		-o "APT::Get::List-Cleanup=0")
	e2e_apt_suite_update
	e2e_log "apt-get download $SRCPKG ($E2E_SUITE)"
	(cd "$SELFDEBS" && apt-get "${E2E_APT[@]}" download -q "$SRCPKG" 2>&1 |
		grep -v 'unsandboxed as root' >&2) || true
	deb=$(find "$SELFDEBS" -maxdepth 1 -name "${SRCPKG}_*_all.deb" | sort -V | tail -n1)
	[ -n "$deb" ] || e2e_die "no $SRCPKG package (set E2E_SELF_SRCDEB)"
fi
[ -r "$deb" ] || e2e_die "cannot read $deb"
PKGVER=$(dpkg-deb -f "$deb" Version)
UPVER=${PKGVER%-*}
UPVER=${UPVER#*:}
LOCALVER=$(sed -n 's/^CONFIG_LOCALVERSION="\(.*\)"$/\1/p' "$FRAG")
KREL=$UPVER$LOCALVER
KC=$E2E_CACHE/$KREL
TREE=$KC/kbuild
ROOT=$KC/root
mkdir -p "$KC/debs" "$ROOT/boot"
# kobjs.sh finds the source package here by name and version
[ -e "$KC/debs/$(basename "$deb")" ] || cp "$deb" "$KC/debs/"
e2e_log "kernel $KREL from $SRCPKG $PKGVER, config tinyconfig + $(basename "$FRAG")"

MAKE=(make -C "$TREE" ARCH=x86 CC="$KCC" HOSTCC="$KCC" KERNELRELEASE="$KREL"
	KBUILD_BUILD_USER=debian-kernel KBUILD_BUILD_HOST=lists.debian.org RUSTC=e2e-no-rustc)
# the fragment's settings only: a comment edit is no new kernel
fragsum=$(grep -E '^(CONFIG_|# CONFIG_)' "$FRAG" | md5sum | cut -d' ' -f1)
stamp="src=$(basename "$deb") frag=$fragsum cc=$($KCC --version | head -n1) pahole=$(pahole --version 2>/dev/null)"

# ---- build (once per stamp) --------------------------------------------------------
if [ "$(cat "$KC/.self-built" 2>/dev/null)" != "$stamp" ]; then
	rm -f "$KC/.self-built"
	# what lib/snapshot.sh took from an earlier build of this release (its
	# kallsyms and BTF, the extracted vmlinux) would describe another
	# kernel: it goes, and the next run boots for a new snapshot (the pairs
	# of kobjs.sh are keyed by the config and rebuild by themselves)
	rm -rf "$KC/guest" "$KC/vmlinux" "$KC/snapshot.env"
	if [ "$(cat "$TREE/.e2e-configured" 2>/dev/null)" != "$stamp" ]; then
		e2e_log "unpacking $(basename "$deb") into $TREE"
		rm -rf "$TREE" "$KC/.srcdeb"
		dpkg -x "$deb" "$KC/.srcdeb"
		tar -C "$KC/.srcdeb" -xaf "$KC/.srcdeb/usr/src/$SRCPKG.tar.xz"
		mv "$KC/.srcdeb/$SRCPKG" "$TREE"
		rm -rf "$KC/.srcdeb"
		"${MAKE[@]}" -s tinyconfig >&2
		(cd "$TREE" && ARCH=x86 scripts/kconfig/merge_config.sh -m .config "$FRAG" >&2)
		"${MAKE[@]}" -s olddefconfig >&2
		# every line of the fragment must have survived olddefconfig
		missing=$(grep -E '^(CONFIG_|# CONFIG_)' "$FRAG" | grep -vxF -f "$TREE/.config" || true)
		[ -z "$missing" ] || e2e_die "olddefconfig dropped from $FRAG: $missing"
		echo "$stamp" >"$TREE/.e2e-configured"
	fi
	t0=$(e2e_now)
	e2e_log "make -j$JOBS bzImage modules (long: see README, 7.x)"
	nice -n 19 "${MAKE[@]}" -j"$JOBS" bzImage modules >"$KC/build.log" 2>&1 ||
		{ tail -n 30 "$KC/build.log" >&2; e2e_die "kernel build failed, see $KC/build.log"; }
	rm -rf "$ROOT/lib/modules/$KREL"
	"${MAKE[@]}" -s INSTALL_MOD_PATH="$ROOT" modules_install >&2
	# the tree is the kbuild tree of this kernel (make M=): no links into it
	rm -f "$ROOT/lib/modules/$KREL/build" "$ROOT/lib/modules/$KREL/source"
	cp "$TREE/arch/x86/boot/bzImage" "$ROOT/boot/vmlinuz-$KREL"
	cp "$TREE/.config" "$ROOT/boot/config-$KREL"
	e2e_log "kernel built in $(e2e_since "$t0")s"
	echo "$stamp" >"$KC/.self-built"
fi

VMLINUZ=$ROOT/boot/vmlinuz-$KREL
MODDIR=$ROOT/lib/modules/$KREL
for f in "$VMLINUZ" "$TREE/Module.symvers" "$TREE/.config" "$TREE/scripts/basic/fixdep" "$MODDIR/kernel"; do
	[ -e "$f" ] || e2e_die "missing $f after the build"
done
grep -qx 'CONFIG_LIVEPATCH=y' "$TREE/.config" || e2e_die "kernel lacks CONFIG_LIVEPATCH"

cat >"$KC/kernel.env.tmp" <<ENV
# written by tests/e2e/lib/setup-self.sh (E2E_KERNEL=$KXY)
E2E_KREL='$KREL'
E2E_PKGVER='$PKGVER'
E2E_KCACHE='$KC'
E2E_ROOT='$ROOT'
E2E_KDIR='$TREE'
E2E_VMLINUZ='$VMLINUZ'
E2E_CONFIG='$TREE/.config'
E2E_SYMVERS='$TREE/Module.symvers'
E2E_MODDIR='$MODDIR'
E2E_CC='$KCC'
E2E_SELF='$KXY'
E2E_REFMOD='mbcache'
ENV
mv "$KC/kernel.env.tmp" "$KC/kernel.env"
[ -z "${E2E_ENV_FILE:-}" ] || [ "$E2E_ENV_FILE" = "$KC/kernel.env" ] ||
	cp "$KC/kernel.env" "$E2E_ENV_FILE"
e2e_log "ready: $VMLINUZ"
echo "$KREL"
