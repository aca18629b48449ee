#!/bin/bash
# run.sh - klpwrite's real-kernel end-to-end suite (run as root).
#
# Stages, in order:
#   setup     lib/setup.sh: Debian's current linux-image/headers-amd64 in the cache
#   build     kbuild: the target module (targets/klpw_target), the hand-written
#             smoke livepatch (livepatch/klpw_smoke), the guest helper
#             guest/uaccess-probe.c (static)
#   pairs     orig/patched objects for every patch in patches/: vmlinux ones
#             with lib/kobjs.sh (linux-source + Debian's config), module ones
#             with lib/modobjs.sh; recorded in $CACHE/<krel>/objs.{tsv,env}
#   snapshot  lib/snapshot.sh: one nokaslr boot saves /proc/kallsyms and
#             /sys/kernel/btf/vmlinux in the cache; vmlinux is extracted
#   fidelity  each vmlinux "orig" object's patched functions are compared
#             byte for byte with the booted kernel (lib/vmlinux-match.py)
#   smoke     boots the kernel in QEMU and walks klpw_smoke.ko through
#             enable / disable / rmmod (guest/smoke.sh), then checks the
#             kernel log and the taint mask
#   scenario 1-8  the klpwrite chain (klpwrite build = diff + extract, then
#             klpwrite module) per patch, then the guest checks behaviour
#   scenario 9    the kbuild form: klpwrite kbuild -> kbuild link against the
#             headers -> klpwrite post-link (generated Makefile), then the guest
#   scenario 10-14  issue 9 classes on real code: A1 end-of-object and
#             zero-size references, A2/A3 a renumbered static, C11 a
#             callbacks-only object, C12 a new function shared by two objects
#   blank_line  B10: a blank line at the top of big files is no change (exit 1)
#
# Output: one line per check, "PASS: name", "FAIL: name - why" or
# "SKIP: name - why", timings, and as the very last line
#     E2E: <passed> passed, <failed> failed
# (SKIPs are not counted as passed).  Exit status 1 if anything failed.
#
# Env: KLPWRITE_E2E_CACHE (default /var/cache/klpwrite-e2e), E2E_JOBS (make
#      -j for kernel objects, default 2), E2E_BOOT_TIMEOUT (s, default 240),
#      E2E_KLPWRITE (klpwrite binary for the scenarios; default
#      <repo>/target/release/klpwrite, then target/debug/klpwrite),
#      E2E_WORK (work directory, wiped at start; default $CACHE/work/run;
#      give each concurrent run its own), E2E_KREL (pin a kernel), E2E_SUITE
#      (take the kernel from another apt suite, e.g. bookworm-backports for
#      Debian's 6.12; private apt lists, nothing installed: lib/common.sh).
#
# Per-kernel defaults (from the kernel's .config, see README "6.12"):
#   - CONFIG_X86_KERNEL_IBT=y (6.12): kbuild runs objtool on vmlinux.o at
#     link time, so per-file objects are raw compiler output without ORC;
#     every klpwrite build/extract gets --allow-missing-orc (KW_ORC).
#   - patches/<major.minor>/NN-*.patch replaces patches/NN-*.patch for that
#     kernel where the 6.1 hunk does not apply (same intent).
set -uo pipefail
E2E=$(cd "$(dirname "$0")" && pwd)
. "$E2E/lib/common.sh"
REPO=$(cd "$E2E/../.." && pwd)
JOBS=${E2E_JOBS:-2}

N_PASS=0 N_FAIL=0 N_SKIP=0
TIMES=()
pass() { N_PASS=$((N_PASS + 1)); echo "PASS: $1"; }
fail() { N_FAIL=$((N_FAIL + 1)); echo "FAIL: $1${2:+ - $2}"; }
skip() { N_SKIP=$((N_SKIP + 1)); echo "SKIP: $1${2:+ - $2}"; }
timed() { TIMES+=("$1 $2s"); }          # timed LABEL SECONDS

finish() {
	echo "---- timings"
	local t
	for t in ${TIMES[@]+"${TIMES[@]}"}; do echo "TIME: $t"; done
	echo "logs: $WORK"
	echo "E2E: $N_SKIP skipped"
	echo "E2E: $N_PASS passed, $N_FAIL failed"
	[ "$N_FAIL" = 0 ]
	exit $?
}

# step NAME LOG CMD... - run CMD with output to LOG; PASS/FAIL on its status
step() {
	local name=$1 log=$2 t0 rc
	shift 2
	t0=$(e2e_now)
	"$@" >"$log" 2>&1
	rc=$?
	timed "$name" "$(e2e_since "$t0")"
	if [ "$rc" = 0 ]; then pass "$name"; else
		fail "$name" "exit $rc, see $log"
		tail -n 15 "$log" | sed 's/^/    | /'
	fi
	return "$rc"
}

[ "$(id -u)" = 0 ] || { echo "FAIL: e2e needs root"; echo "E2E: 0 passed, 1 failed"; exit 1; }
WORK=${E2E_WORK:-$E2E_CACHE/work/run}
rm -rf "$WORK"
mkdir -p "$WORK"
echo "klpwrite e2e: cache $E2E_CACHE, work $WORK"

# ============================================================================
# setup
# ============================================================================
# this run's kernel.env, its own: another run on another kernel (E2E_SUITE,
# E2E_KREL) may rewrite $CACHE/kernel.env meanwhile
export E2E_ENV_FILE=$WORK/kernel.env
step setup "$WORK/setup.log" bash "$E2E/lib/setup.sh" || finish
e2e_load_env
echo "kernel: $E2E_KREL (package $E2E_PKGVER), vmlinuz $E2E_VMLINUZ${E2E_SUITE:+, suite $E2E_SUITE}"
KXY=$(echo "$E2E_KREL" | cut -d. -f1,2)
# kver_ge A B - version A >= version B (X.Y)
kver_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n1)" = "$1" ]; }
# variant DIR FILE - DIR/<X.Y>/FILE of the newest X.Y <= this kernel's that
# has one (7.2 falls back to 6.12's variants), else DIR/FILE
variant() {
	local d
	for d in $(find "$1" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*.[0-9]*' -printf '%f\n' | sort -rV); do
		kver_ge "$KXY" "$d" && [ -r "$1/$d/$2" ] && { echo "$1/$d/$2"; return; }
	done
	echo "$1/$2"
}
# patch_file NN-*.patch - the kernel's own variant if there is one
patch_file() { variant "$E2E/patches" "$1"; }
# kernels from 6.12 on share 6.12's scenario changes (see README)
K612=0
kver_ge "$KXY" 6.12 && K612=1
# objtool at link time (IBT): raw per-file objects, no ORC in them
KW_ORC=()
if grep -qx 'CONFIG_X86_KERNEL_IBT=y' "$E2E_CONFIG"; then
	KW_ORC=(--allow-missing-orc)
	echo "kernel has CONFIG_X86_KERNEL_IBT: objects are raw (objtool runs at link time); klpwrite build gets --allow-missing-orc"
fi
# unpacked_ko PATH-WITHOUT-.ko - Debian's module, uncompressed into $WORK if
# it is shipped as .ko.xz (6.12: CONFIG_MODULE_COMPRESS_XZ)
unpacked_ko() {
	local f
	f=$(find "$E2E_MODDIR" -name "$1.ko" -o -name "$1.ko.xz" 2>/dev/null | head -n1)
	case $f in
	"") ;;
	*.xz) mkdir -p "$WORK/ko"; xz -dc "$f" >"$WORK/ko/$1.ko" && echo "$WORK/ko/$1.ko" ;;
	*) echo "$f" ;;
	esac
}

# ============================================================================
# build: modules and guest helper
# ============================================================================
# kbuild_module NAME SRC - build the module in SRC in a work copy; echo .ko path
kbuild_module() {
	local dst=$WORK/build/$1
	rm -rf "$dst"; mkdir -p "$(dirname "$dst")"
	cp -r "$2" "$dst"
	make -C "$E2E_KDIR" M="$dst" modules
}
TARGET_KO=$WORK/build/klpw_target/klpw_target.ko
SMOKE_KO=$WORK/build/klpw_smoke/klpw_smoke.ko
PROBE=$WORK/build/uaccess-probe
step build/klpw_target "$WORK/build-klpw_target.log" \
	kbuild_module klpw_target "$E2E/targets/klpw_target"
step build/klpw_smoke "$WORK/build-klpw_smoke.log" \
	kbuild_module klpw_smoke "$E2E/livepatch/klpw_smoke"
step build/uaccess-probe "$WORK/build-uaccess-probe.log" \
	gcc -static -Os -Wall -o "$PROBE" "$E2E/guest/uaccess-probe.c"

# ============================================================================
# pairs: orig/patched objects for every source patch
# ============================================================================
# name             where   patch                              objects            functions to compare with the booted kernel (NAME[@SYMPOS])
PAIRS="
cmdline            vmlinux 01-vmlinux-cmdline.patch           fs/proc/cmdline.o  cmdline_proc_show
mod_sympos2        module  02-module-sympos2.patch            klpw_aux.o         -
dupsym             vmlinux 03-vmlinux-dup-sympos.patch        mm/vmalloc.o       s_show@4
mod_literal_newvar module  04-module-literal-newvar.patch     klpw_main.o        -
newhelper          vmlinux 05-vmlinux-new-helper.patch        fs/proc/version.o  version_proc_show
special            vmlinux 06-vmlinux-special-sections.patch  fs/proc/base.o     comm_write
callbacks          vmlinux 07-vmlinux-cmdline-callbacks.patch fs/proc/cmdline.o  cmdline_proc_show
limits_end         vmlinux 08-vmlinux-limits-end-pointer.patch fs/proc/base.o    proc_pid_limits
pipe_lockinit      vmlinux 09-vmlinux-pipe-lock-init.patch    fs/pipe.o          alloc_pipe_info
mod_count          module  10-module-static-count.patch       klpw_main.o        -
mod_callbacks_only module  11-module-callbacks-only.patch     klpw_aux.o         -
mod_shared         module  12-module-shared-new-function.patch klpw_main.o,klpw_aux.o -
blankline          vmlinux 13-vmlinux-blank-line.patch        net/core/dev.o,kernel/sched/core.o,mm/page_alloc.o,fs/ext4/super.o register_netdevice
special_raw        vmlinux 06-vmlinux-special-sections.patch  fs/proc/base.o     comm_write
"
# (objects: comma-separated; the functions are looked up in the first one;
# a name ending in _raw is built with objtool skipped: OBJECT_FILES_NON_STANDARD=y)
# 6.12: mm/vmalloc.c's s_show is vmalloc_info_show there (a unique name);
# scenario 3's duplicate is fs/namespace.c's m_show, 2nd of 2 (/proc/mounts;
# the 1st is kernel/module/procfs.c's), patches/6.12/03-*.patch
# 6.12: scenario 6's user_access_begin() reads USER_PTR_MAX through a
# runtime constant (arch/x86/include/asm/runtime-const.h), which no module
# can carry: patches/6.12/06-*.patch opens user access by hand, and the
# pair special_rtconst (the 6.1 patch's form) must be refused
DUPSYM=s_show,4
if [ "$K612" = 1 ]; then
	PAIRS=$(echo "$PAIRS" | sed 's|^dupsym .*|dupsym vmlinux 03-vmlinux-dup-sympos.patch fs/namespace.o m_show@2|')
	# raw objects: fidelity also covers functions with jump labels, the
	# sites objtool NOPs in vmlinux.o at link time (14 in fs/proc/base.o)
	PAIRS=$(echo "$PAIRS" | sed 's|^\(special  *vmlinux .*\) comm_write$|\1 comm_write,map_files_get_link,proc_map_files_readdir,__set_oom_adj.isra.0|')
	PAIRS+=$'\n'"special_rtconst vmlinux 06-vmlinux-special-sections-runtime-const.patch fs/proc/base.o comm_write"
	DUPSYM=m_show,2
fi
while read -r name where patch obj funcs; do
	[ -n "$name" ] || continue
	# shellcheck disable=SC2086
	if [ "$where" = vmlinux ]; then
		kmf=""
		[ "${name%_raw}" = "$name" ] || kmf=OBJECT_FILES_NON_STANDARD=y
		E2E_KMAKEFLAGS=$kmf step "pair/$name" "$WORK/pair-$name.log" bash "$E2E/lib/kobjs.sh" -j"$JOBS" \
			-n "$name" -p "$(patch_file "$patch")" ${obj//,/ }
	else
		step "pair/$name" "$WORK/pair-$name.log" bash "$E2E/lib/modobjs.sh" \
			-n "$name" -p "$(patch_file "$patch")" "$E2E/targets/klpw_target" ${obj//,/ }
	fi
done <<<"$PAIRS"
e2e_load_objs

# ============================================================================
# snapshot + fidelity: the kernel's kallsyms/BTF (one nokaslr boot, cached)
# and the uncompressed image; then every vmlinux "orig" object must be
# byte-identical (relocated fields aside) to the code of the kernel we boot,
# or the orig/patched pairs would not describe that kernel.
# ============================================================================
step snapshot "$WORK/snapshot.log" bash "$E2E/lib/snapshot.sh"
# shellcheck disable=SC1091
[ -r "$E2E_KCACHE/snapshot.env" ] && . "$E2E_KCACHE/snapshot.env"
while read -r name where patch obj funcs; do
	[ "$where" = vmlinux ] || continue
	# objtool's edits (jump-label NOPs) are missing from a raw object; it is
	# compared with its processed twin through klpwrite instead (scenario 15)
	[ "${name%_raw}" = "$name" ] || continue
	orig=$E2E_KCACHE/objs/$name/orig/${obj%%,*}
	if [ ! -s "${E2E_KALLSYMS:-}" ] || [ ! -s "$orig" ]; then
		fail "fidelity/$name" "missing snapshot or $orig"
		continue
	fi
	# shellcheck disable=SC2086
	if out=$(python3 "$E2E/lib/vmlinux-match.py" "$E2E_VMLINUX" "$E2E_KALLSYMS" "$orig" ${funcs//,/ } 2>&1); then
		pass "fidelity/$name ($(echo "$out" | tr '\n' ' ' | sed 's/ *$//'))"
	else
		fail "fidelity/$name" "$(echo "$out" | tr '\n' ' ')"
	fi
done <<<"$PAIRS"

# ============================================================================
# guest runs
# ============================================================================
ALLOWED_TAINT=$((4096 | 8192 | 32768))   # O out-of-tree, E unsigned, K livepatch

# guest NAME SCRIPT [boot.sh options] -- X.ko...
# Boots the kernel, turns each "CHECK:" line into PASS/FAIL "NAME/<check>",
# then checks: the guest script exited 0, the kernel log of the run has no
# WARNING/BUG/Oops, and the taint mask has no bits but O, E and K.
# Extra bits a scenario expects: set GUEST_EXTRA_TAINT, GUEST_ALLOW_WARN=1.
guest() {
	local name=$1 script=$2 log=$WORK/guest-$1.log t0 rc taint bad
	shift 2
	t0=$(e2e_now)
	bash "$E2E/lib/boot.sh" -o "$log" "$@" "$script" "${GUEST_KOS[@]}" >/dev/null 2>"$log.stderr"
	rc=$?
	timed "boot/$name" "$(e2e_since "$t0")"
	[ -s "$log" ] || { fail "$name/boot" "no console output, see $log.stderr"; return 1; }
	while read -r _ check verdict detail; do
		if [ "$verdict" = PASS ]; then pass "$name/$check"
		else fail "$name/$check" "$detail"; fi
	done < <(grep -a '^CHECK: ' "$log")
	if [ "$rc" = 0 ]; then pass "$name/guest_exit"
	else fail "$name/guest_exit" "guest rc $rc (124 timeout, 125 panic/no exit); see $log"; fi
	sed -n '/^E2E-GUEST: DMESG-BEGIN$/,/^E2E-GUEST: DMESG-END$/p' "$log" >"$log.dmesg"
	# A scenario that triggers a WARN on purpose (GUEST_ALLOW_WARN=1) checks
	# it itself; its report, up to "---[ end trace", is left out here.
	if [ "${GUEST_ALLOW_WARN:-0}" = 1 ]; then
		bad=$(awk '/WARNING:/{skip=1} !skip{print} /---\[ end trace/{skip=0}' "$log.dmesg" |
			grep -aE 'WARNING:|BUG:|Oops|general protection fault|Call Trace:|Kernel panic' | head -n 3)
	else
		bad=$(grep -aE 'WARNING:|BUG:|Oops|general protection fault|Call Trace:|Kernel panic' "$log.dmesg" | head -n 3)
	fi
	if [ -z "$bad" ] && [ -s "$log.dmesg" ]; then pass "$name/dmesg_clean"
	else fail "$name/dmesg_clean" "${bad:-no kernel log captured}"; fi
	taint=$(sed -n 's/^E2E-GUEST: TAINT \([0-9]*\)$/\1/p' "$log" | tail -n1)
	if [ -z "$taint" ]; then fail "$name/taint" "no TAINT line"
	elif [ $((taint & ~(ALLOWED_TAINT | ${GUEST_EXTRA_TAINT:-0}))) = 0 ] &&
		[ $((taint & 32768)) != 0 ]; then pass "$name/taint ($taint)"
	else fail "$name/taint" "taint $taint has bits outside O|E|K or lacks K"; fi
}

# ---- smoke: kbuild livepatch, no klpwrite involved ---------------------------------
if [ -f "$TARGET_KO" ] && [ -f "$SMOKE_KO" ]; then
	GUEST_KOS=("$TARGET_KO" "$SMOKE_KO")
	opts=()
	[ -x "$PROBE" ] && opts=(-f "$PROBE")
	guest smoke "$E2E/guest/smoke.sh" ${opts[@]+"${opts[@]}"}
else
	fail smoke "modules missing (see build/* above)"
fi

# ============================================================================
# klpwrite scenarios: the real chain, then the real kernel
# ============================================================================
# Each scenario runs
#   klpwrite build ORIG.o PATCHED.o ...   (diff + extract)  -> sN.o
#   klpwrite module sN.o... ...                             -> klpw_sN.ko
# on the objects built above, boots the kernel with the .ko (and
# klpw_target.ko where needed), and checks the behaviour before patching,
# while enabled, after disable and after rmmod (guest/sN-*.sh), plus a
# clean kernel log and the taint mask (guest()).
KLPWRITE=${E2E_KLPWRITE:-}
if [ -z "$KLPWRITE" ]; then
	for c in "$REPO/target/release/klpwrite" "$REPO/target/debug/klpwrite"; do
		[ -x "$c" ] && { KLPWRITE=$c; break; }
	done
fi
KW=$WORK/klpwrite
mkdir -p "$KW"
# Any module of the target kernel serves as the reference (vermagic,
# struct module, module_layout CRC).
# (E2E_REFMOD: kernel.env of a self-built kernel names one it has)
REF_KO=$(unpacked_ko "${E2E_REFMOD:-xt_pkttype}")
[ -n "$REF_KO" ] || REF_KO=$TARGET_KO

# pair_obj PAIR ORIG|PATCHED - the pair's (first) object; PAIR:OBJ picks
# another object of a pair with several
pair_obj() {
	case $1 in
	*:*) echo "$E2E_KCACHE/objs/${1%%:*}/$(echo "$2" | tr '[:upper:]' '[:lower:]')/${1#*:}" ;;
	*) eval "echo \${E2E_OBJ_$(echo "$1" | tr '[:lower:]' '[:upper:]')_$2:-}" ;;
	esac
}

# kw_build NAME PAIR[:OBJ] OBJNAME SYMSRC... [-- EXTRA-ARGS] - diff + extract -> $KW/NAME.o
kw_build() {
	local name=$1 pair=$2 obj=$3 o p a=()
	shift 3
	o=$(pair_obj "$pair" ORIG) p=$(pair_obj "$pair" PATCHED)
	while [ $# -gt 0 ]; do
		[ "$1" = -- ] && { shift; break; }
		a+=(--symbols "$1"); shift
	done
	"$KLPWRITE" build "$o" "$p" --objname "$obj" "${a[@]}" ${KW_ORC[@]+"${KW_ORC[@]}"} "$@" --symvers "$E2E_SYMVERS" --explain -o "$KW/$name.o" ||
		return
	# The output was self-checked before it was written; check it again
	# from the outside, with every input verify can use (issue 9 D).
	kw_verify "$KW/$name.o" --patched "$p" --orig "$o" "${a[@]}" --symvers "$E2E_SYMVERS" --objname "$obj"
}
# kw_verify FILE ARGS... - klpwrite verify; one line per output in $KW/verify.tsv
kw_verify() {
	local f=$1 rc
	"$KLPWRITE" verify "$@" >"$f.verify.log" 2>&1
	rc=$?
	printf '%s\t%s\n' "$rc" "$(basename "$f")" >>"$KW/verify.tsv"
	[ "$rc" = 0 ] || { echo "klpwrite verify $f: exit $rc"; cat "$f.verify.log"; }
	return "$rc"
}
# kw_module MOD ARGS... - klpwrite module ARGS -> $KW/MOD.ko
kw_module() {
	local mod=$1
	shift
	"$KLPWRITE" module "$@" --name "$mod" --vmlinux "$E2E_VMLINUX" --symvers "$E2E_SYMVERS" \
		--ref-module "$REF_KO" -o "$KW/$mod.ko" || return
	kw_verify "$KW/$mod.ko" --symvers "$E2E_SYMVERS"
}
# scenario N NAME - run guest/sN-NAME.sh with GUEST_KOS
# (guest/<major.minor>/sN-NAME.sh, when there is one, replaces it)
scenario() {
	local g
	g=$(variant "$E2E/guest" "s$1-$2.sh")
	guest "scenario$1" "$g" "${@:3}"
}

if [ -z "$KLPWRITE" ]; then
	fail klpwrite "no klpwrite binary (cargo build --release)"
else
	echo "klpwrite binary: $KLPWRITE"
	VM=$E2E_KALLSYMS
	# 1. vmlinux: cmdline_proc_show (sympos from the guest's /proc/kallsyms)
	if step scenario1/build "$KW/s1-build.log" kw_build s1 cmdline vmlinux "$VM" &&
		step scenario1/module "$KW/s1-module.log" kw_module klpw_s1 "$KW/s1.o"; then
		GUEST_KOS=("$KW/klpw_s1.ko"); scenario 1 vmlinux-cmdline
		# the same module from Debian's vmlinuz (XZ) and from the guest's raw
		# BTF: byte-identical to the one from the extracted vmlinux
		for src in vmlinuz:"$E2E_VMLINUZ" btf:"$E2E_BTF"; do
			if "$KLPWRITE" module "$KW/s1.o" --name klpw_s1 --vmlinux "${src#*:}" --symvers "$E2E_SYMVERS" \
				--ref-module "$REF_KO" -o "$KW/klpw_s1-${src%%:*}.ko" >"$KW/s1-${src%%:*}.log" 2>&1 &&
				cmp -s "$KW/klpw_s1.ko" "$KW/klpw_s1-${src%%:*}.ko"; then
				pass "scenario1/same_module_from_${src%%:*}"
			else fail "scenario1/same_module_from_${src%%:*}" "see $KW/s1-${src%%:*}.log"; fi
		done
	fi
	# 2. module: the 2nd static state_show of klpw_target (old_sympos 2),
	#    target loaded before and after the patch
	if step scenario2/build "$KW/s2-build.log" kw_build s2 mod_sympos2 klpw_target "$TARGET_KO" &&
		step scenario2/module "$KW/s2-module.log" kw_module klpw_s2 "$KW/s2.o"; then
		GUEST_KOS=("$TARGET_KO" "$KW/klpw_s2.ko"); scenario 2 module-sympos2
	fi
	# 3. vmlinux: s_show of mm/vmalloc.c, the 4th s_show (old_sympos 4);
	#    6.12: m_show of fs/namespace.c, the 2nd m_show ($DUPSYM)
	if step scenario3/build "$KW/s3-build.log" kw_build s3 dupsym vmlinux "$VM" &&
		step scenario3/module "$KW/s3-module.log" kw_module klpw_s3 "$KW/s3.o"; then
		grep -q "^  sympos $DUPSYM in vmlinux" "$KW/s3-build.log" &&
			pass "scenario3/sympos_${DUPSYM#*,}_from_kallsyms" ||
			fail "scenario3/sympos_${DUPSYM#*,}_from_kallsyms" "see $KW/s3-build.log"
		GUEST_KOS=("$KW/klpw_s3.ko"); scenario 3 vmlinux-dupsym
	fi
	# 4. module: changed string literal, new static variable, existing static
	if step scenario4/build "$KW/s4-build.log" kw_build s4 mod_literal_newvar klpw_target "$TARGET_KO" &&
		step scenario4/module "$KW/s4-module.log" kw_module klpw_s4 "$KW/s4.o"; then
		GUEST_KOS=("$TARGET_KO" "$KW/klpw_s4.ko"); scenario 4 module-literal-newvar
	fi
	# 5. vmlinux: new helper function called from the patched function
	if step scenario5/build "$KW/s5-build.log" kw_build s5 newhelper vmlinux "$VM" &&
		step scenario5/module "$KW/s5-module.log" kw_module klpw_s5 "$KW/s5.o"; then
		GUEST_KOS=("$KW/klpw_s5.ko"); scenario 5 vmlinux-new-helper
	fi
	# 6. vmlinux: jump label, alternatives, exception table, WARN_ON; the
	#    deliberate WARN_ON taints W (512)
	if step scenario6/build "$KW/s6-build.log" kw_build s6 special vmlinux "$VM" &&
		step scenario6/module "$KW/s6-module.log" kw_module klpw_s6 "$KW/s6.o"; then
		GUEST_KOS=("$KW/klpw_s6.ko")
		GUEST_EXTRA_TAINT=512 GUEST_ALLOW_WARN=1 scenario 6 vmlinux-special -f "$PROBE"
	fi
	# 7. one patch module for two objects: vmlinux (s1.o) + klpw_target (s2.o)
	if [ -s "$KW/s1.o" ] && [ -s "$KW/s2.o" ] &&
		step scenario7/module "$KW/s7-module.log" kw_module klpw_s7 "$KW/s1.o" "$KW/s2.o"; then
		GUEST_KOS=("$TARGET_KO" "$KW/klpw_s7.ko"); scenario 7 two-objects
	fi
	# 8. callbacks and atomic replace of klpw_s1
	if [ -s "$KW/klpw_s1.ko" ] &&
		step scenario8/build "$KW/s8-build.log" kw_build s8 callbacks vmlinux "$VM" &&
		step scenario8/module "$KW/s8-module.log" kw_module klpw_s8 "$KW/s8.o" --replace \
			--callback pre_patch=klpw_pre_patch --callback post_unpatch=klpw_post_unpatch; then
		GUEST_KOS=("$KW/klpw_s1.ko" "$KW/klpw_s8.ko"); scenario 8 callbacks-replace
	fi
	# 9. the kbuild form: s1.o, s6.o (vmlinux klp relocations) and s4.o
	#    (a klpw_target klp relocation) as shipped objects, linked by kbuild
	#    against the headers with the generated stub, then post-linked by the
	#    generated Makefile; the module as kbuild linked it must refuse to load
	S9=$KW/s9
	klp_relocs() {   # klp_relocs FILE... - number of entries in .klp.rela sections
		readelf -rW "$@" | awk '/^Relocation section/ { k = index($3, "'"'"'.klp.rela.") == 1 }
			k && /^[0-9a-f]+ / { n++ } END { print n + 0 }'
	}
	if [ -s "$KW/s1.o" ] && [ -s "$KW/s6.o" ] && [ -s "$KW/s4.o" ] &&
		step scenario9/kbuild "$KW/s9-kbuild.log" "$KLPWRITE" kbuild "$KW/s1.o" "$KW/s6.o" "$KW/s4.o" \
			--name klpw_s9 -o "$S9" &&
		step scenario9/kbuild_link "$KW/s9-make.log" make -C "$E2E_KDIR" M="$S9" modules &&
		cp "$S9/klpw_s9.ko" "$S9/klpw_s9_unlinked.ko" &&
		step scenario9/post_link "$KW/s9-post-link.log" make -C "$S9" KDIR="$E2E_KDIR" KLPWRITE="$KLPWRITE"; then
		want=$(klp_relocs "$KW/s1.o" "$KW/s6.o" "$KW/s4.o") got=$(klp_relocs "$S9/klpw_s9.ko")
		if [ "$want" -gt 0 ] && [ "$got" = "$want" ]; then pass "scenario9/klp_relocs_restored ($got)"
		else fail scenario9/klp_relocs_restored "$got klp relocations in klpw_s9.ko, $want in the inputs"; fi
		# objtool ran on the stub (kbuild's per-file run; on 6.12 the
		# generated Kbuild asks for it, as for a single-object module) and
		# not on the linked module, which it cannot read (6.12 would run it
		# there: delay-objtool); every return-thunk site of the post-linked
		# module is listed (verify's thunk-sites), so post-link had nothing
		# left to list in objtool's place
		if grep -q objtool "$S9/.klpwrite_stub.o.cmd" && ! grep -q objtool "$S9/.klpw_s9.o.cmd" &&
			! grep -q 'objtool' "$KW/s9-make.log" && ! grep -q "in objtool's place" "$KW/s9-post-link.log"; then
			pass scenario9/objtool_on_stub_not_link
		else fail scenario9/objtool_on_stub_not_link "see $S9/.klpwrite_stub.o.cmd, $S9/.klpw_s9.o.cmd, $KW/s9-make.log, $KW/s9-post-link.log"; fi
		if "$KLPWRITE" verify "$S9/klpw_s9.ko" --symvers "$E2E_SYMVERS" >"$KW/s9-verify.log" 2>&1 &&
			grep -q 'checks run:.*thunk-sites' "$KW/s9-verify.log"; then pass scenario9/thunk_sites_listed
		else fail scenario9/thunk_sites_listed "see $KW/s9-verify.log"; fi
		cp "$S9/klpw_s9.ko" "$KW/s9-once.ko"
		if "$KLPWRITE" post-link "$S9/klpw_s9.ko" >"$KW/s9-post-link-again.log" 2>&1 &&
			cmp -s "$S9/klpw_s9.ko" "$KW/s9-once.ko"; then pass scenario9/post_link_again_noop
		else fail scenario9/post_link_again_noop "see $KW/s9-post-link-again.log"; fi
		GUEST_KOS=("$TARGET_KO" "$S9/klpw_s9.ko" "$S9/klpw_s9_unlinked.ko"); scenario 9 kbuild
	fi
	# ---- issue 9: trustworthy patches ------------------------------------
	# klp_relocs_to FILE SYM - klp relocations (.klp.rela.*) against SYM
	klp_relocs_to() {
		readelf -rW "$1" | awk -v sym="$2" '/^Relocation section/ { k = index($3, "'"'"'.klp.rela.") == 1 }
			k && /^[0-9a-f]+ / && $5 == sym { n++ } END { print n + 0 }'
	}
	# 10. A1, end of object: proc_pid_limits loops over the kernel's lnames
	#     up to lnames + ARRAY_SIZE(lnames) (.rodata.lnames+0x100, one past
	#     the end); all four references (start, p - lnames, end twice) must be
	#     klp relocations to the kernel's lnames, none to a copy
	if step scenario10/build "$KW/s10-build.log" kw_build s10 limits_end vmlinux "$VM" &&
		step scenario10/module "$KW/s10-module.log" kw_module klpw_s10 "$KW/s10.o"; then
		n=$(klp_relocs_to "$KW/s10.o" ".klp.sym.vmlinux.lnames,0")
		if [ "$n" = 4 ] && ! grep -q 'include .*lnames' "$KW/s10-build.log"; then
			pass "scenario10/start_and_end_are_kernel_lnames ($n klp relocations)"
		else fail scenario10/start_and_end_are_kernel_lnames \
			"$n klp relocations to lnames (want 4); $(grep -m1 'include .*lnames' "$KW/s10-build.log")"; fi
		GUEST_KOS=("$KW/klpw_s10.ko"); scenario 10 vmlinux-limits-end
	fi
	# 11. A1, zero-size objects: alloc_pipe_info's three static lockdep keys
	#     (__key.N, size 0 without lockdep: .bss.__key.N+0 is start and end)
	if step scenario11/build "$KW/s11-build.log" kw_build s11 pipe_lockinit vmlinux "$VM" &&
		step scenario11/module "$KW/s11-module.log" kw_module klpw_s11 "$KW/s11.o"; then
		GUEST_KOS=("$KW/klpw_s11.ko"); scenario 11 vmlinux-pipe-lockinit -f "$PROBE"
	fi
	# 12. A2/A3: function-scope static count keeps counting while the patch
	#     adds another "count" that GCC numbers first.  First prove that the
	#     pair shows the renumbering (count.12 -> count.13), or the scenario
	#     would prove nothing.
	count_of() {   # count_of OBJ FUNC - the count.N that FUNC refers to
		objdump -dr --section=".text.$2" "$1" | sed -n 's/.*R_X86_64_PC32[[:space:]]*\.bss\.\(count\.[0-9]*\).*/\1/p' | head -n1
	}
	c_orig=$(count_of "$(pair_obj mod_count ORIG)" klpw_ticks_show)
	c_new=$(count_of "$(pair_obj mod_count PATCHED)" klpw_ticks_show)
	c_extra=$(count_of "$(pair_obj mod_count PATCHED)" klpw_extra_ticks)
	if [ -n "$c_orig" ] && [ "$c_orig" != "$c_new" ] && [ "$c_extra" = "$c_orig" ]; then
		pass "scenario12/count_renumbered (klpw_ticks_show $c_orig -> $c_new, new klpw_extra_ticks $c_extra)"
	else fail scenario12/count_renumbered "klpw_ticks_show '$c_orig' -> '$c_new', klpw_extra_ticks '$c_extra'"; fi
	if step scenario12/build "$KW/s12-build.log" kw_build s12 mod_count klpw_target "$TARGET_KO" &&
		step scenario12/module "$KW/s12-module.log" kw_module klpw_s12 "$KW/s12.o"; then
		GUEST_KOS=("$TARGET_KO" "$KW/klpw_s12.ko"); scenario 12 module-static-count
	fi
	# 13. C11: klpw_target's part of the patch is callbacks only (marked in
	#     the source, both conventions); one module with scenario 1's s1.o
	[ -s "$KW/s1.o" ] || fail scenario13 "needs scenario 1's s1.o"
	if [ -s "$KW/s1.o" ] &&
		step scenario13/build "$KW/s13-build.log" kw_build s13 mod_callbacks_only klpw_target "$TARGET_KO" &&
		step scenario13/module "$KW/s13-module.log" kw_module klpw_s13 "$KW/s1.o" "$KW/s13.o"; then
		GUEST_KOS=("$TARGET_KO" "$KW/klpw_s13.ko"); scenario 13 callbacks-only
	fi
	# 14. C12: one patch, two objects of klpw_target (klpw_main.o calls
	#     klpw_shared_note, new in klpw_aux.o), one module.  The command
	#     lines are here and only here:
	s14_build_main() { kw_build s14-main mod_shared:klpw_main.o klpw_target "$TARGET_KO" -- --patch-symbols "$KW/s14-aux.o"; }
	s14_build_aux() { kw_build s14-aux mod_shared:klpw_aux.o klpw_target "$TARGET_KO"; }
	s14_module() { kw_module klpw_s14 "$KW/s14-main.o" "$KW/s14-aux.o"; }
	if step scenario14/build_aux "$KW/s14-build-aux.log" s14_build_aux &&
		step scenario14/build_main "$KW/s14-build-main.log" s14_build_main &&
		step scenario14/module "$KW/s14-module.log" s14_module; then
		GUEST_KOS=("$TARGET_KO" "$KW/klpw_s14.ko"); scenario 14 shared-new-function
	fi
	# 15. issue 12: scenario 6's patch from objects built with objtool
	#     skipped. Without ORC data the build is refused; with
	#     --allow-missing-orc klpwrite completes the objects as objtool would
	#     (jump-label NOPs, .return_sites/.retpoline_sites): the output's code
	#     and special sections equal scenario 6's, ORC aside; in the guest the
	#     jump label follows its key in both directions.
	o=$(pair_obj special_raw ORIG) p=$(pair_obj special_raw PATCHED)
	rm -f "$KW/s15-refused.o"
	"$KLPWRITE" build "$o" "$p" --objname vmlinux --symbols "$VM" --symvers "$E2E_SYMVERS" \
		-o "$KW/s15-refused.o" >"$KW/s15-refused.log" 2>&1
	rc=$?
	if [ "$rc" = 2 ] && [ ! -e "$KW/s15-refused.o" ] && grep -q "no ORC unwind data" "$KW/s15-refused.log"; then
		pass scenario15/refused_without_orc
	else fail scenario15/refused_without_orc "exit $rc: $(head -c 300 "$KW/s15-refused.log" | tr '\n' ' ')"; fi
	# (kw_build already passes --allow-missing-orc on IBT kernels: KW_ORC)
	s15_orc=(--allow-missing-orc)
	[ ${#KW_ORC[@]} = 0 ] || s15_orc=()
	s15_same_as_s6() {   # the code and special sections of s15.o are s6.o's
		local sec a b
		for sec in .text.comm_write .text.unlikely.comm_write .altinstr_replacement; do
			objcopy -O binary --only-section="$sec" "$KW/s6.o" "$KW/s15-a.bin"
			objcopy -O binary --only-section="$sec" "$KW/s15.o" "$KW/s15-b.bin"
			cmp "$KW/s15-a.bin" "$KW/s15-b.bin" || { echo "$sec differs"; return 1; }
		done
		a=$("$KLPWRITE" inspect --special "$KW/s6.o" | awk '/^[^ ]/{s = /^\.orc/} !s')
		b=$("$KLPWRITE" inspect --special "$KW/s15.o" | awk '/^[^ ]/{s = /^\.orc/} !s')
		[ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b"); return 1; }
		grep -q 'not processed by objtool' "$KW/s15-build.log" || { echo "the completion was not reported"; return 1; }
	}
	if [ -s "$KW/s6.o" ] &&
		step scenario15/build "$KW/s15-build.log" kw_build s15 special_raw vmlinux "$VM" -- ${s15_orc[@]+"${s15_orc[@]}"} &&
		step scenario15/same_as_s6 "$KW/s15-same.log" s15_same_as_s6 &&
		step scenario15/module "$KW/s15-module.log" kw_module klpw_s15 "$KW/s15.o"; then
		# scenario 6's guest script, for klpw_s15
		{ echo 'LP=klpw_s15'; cat "$E2E/guest/s6-vmlinux-special.sh"; } >"$KW/s15-vmlinux-special-raw.sh"
		GUEST_KOS=("$KW/klpw_s15.ko")
		GUEST_EXTRA_TAINT=512 GUEST_ALLOW_WARN=1 guest scenario15 "$KW/s15-vmlinux-special-raw.sh" -f "$PROBE"
	fi
	# B10: a blank line at the top of big files changes only line numbers
	#    (__bug_table entries; the __LINE__ argument of ASSERT_RTNL's
	#    WARN_ONCE and of __ext4_error & co.): build and diff must find no
	#    functional change (exit 1) and write nothing.  fs/ext4 is a module
	#    in Debian (ext4.ko), the others are vmlinux.
	EXT4_KO=$(unpacked_ko ext4)
	for t in net/core/dev.o:vmlinux:"$VM" kernel/sched/core.o:vmlinux:"$VM" \
		mm/page_alloc.o:vmlinux:"$VM" fs/ext4/super.o:ext4:"$EXT4_KO"; do
		o=${t%%:*} on=${t#*:} syms=${t#*:*:}
		on=${on%%:*}
		b=$(basename "$o" .o) orig=$(pair_obj "blankline:$o" ORIG) patched=$(pair_obj "blankline:$o" PATCHED)
		rm -f "$KW/b10-$b.o"
		"$KLPWRITE" build "$orig" "$patched" --objname "$on" --symbols "$syms" --symvers "$E2E_SYMVERS" \
			${KW_ORC[@]+"${KW_ORC[@]}"} -o "$KW/b10-$b.o" >"$KW/b10-$b-build.log" 2>&1
		rc=$?
		if [ "$rc" = 1 ] && [ ! -e "$KW/b10-$b.o" ] && grep -q "no functional change" "$KW/b10-$b-build.log"; then
			pass "blank_line/build_$b"
		else fail "blank_line/build_$b" "exit $rc: $(head -c 300 "$KW/b10-$b-build.log" | tr '\n' ' ')"; fi
		"$KLPWRITE" diff "$orig" "$patched" >"$KW/b10-$b-diff.log" 2>&1
		rc=$?
		if [ "$rc" = 1 ]; then pass "blank_line/diff_$b"
		else fail "blank_line/diff_$b" "exit $rc: $(head -c 300 "$KW/b10-$b-diff.log" | tr '\n' ' ')"; fi
	done

	# Issue 12: functions of kernel/sched/core.o's .sched.text (__sched), one
	#    section for all of them. yield_to ends where schedule_idle starts:
	#    the __mcount_loc/ORC entry at that offset is schedule_idle's
	#    instruction, not yield_to's end, and yield_to extracts. schedule_idle
	#    calls the static __schedule with no relocation (the assembler
	#    resolved it inside the section): refused, never copied with a call
	#    to the old distance.
	#    6.12: yield_to is no longer in kernel/sched/core.o (v6.11 moved it
	#    to kernel/sched/syscalls.c), and CONFIG_CALL_PADDING puts 16 bytes
	#    of __pfx_ padding between functions; schedule_preempt_disabled,
	#    right after schedule_idle in .sched.text, is the one that extracts.
	sched_o=$(pair_obj "blankline:kernel/sched/core.o" ORIG) sched_p=$(pair_obj "blankline:kernel/sched/core.o" PATCHED)
	sched_ok=yield_to
	[ "$K612" = 1 ] && sched_ok=schedule_preempt_disabled
	for t in $sched_ok:0: schedule_idle:2:"refers to __schedule+0x0 in the same section .sched.text without a relocation"; do
		f=${t%%:*} want=${t#*:} msg=${want#*:}
		want=${want%%:*}
		echo "$f" >"$KW/sched-$f.list"
		rm -f "$KW/sched-$f.o"
		"$KLPWRITE" extract "$sched_p" --orig "$sched_o" --changes "$KW/sched-$f.list" --objname vmlinux ${KW_ORC[@]+"${KW_ORC[@]}"} \
			--symbols "$VM" --symvers "$E2E_SYMVERS" -o "$KW/sched-$f.o" >"$KW/sched-$f.log" 2>&1
		rc=$?
		if [ "$rc" = "$want" ] && { [ -z "$msg" ] || grep -q "$msg" "$KW/sched-$f.log"; } &&
			{ [ "$rc" != 0 ] || [ -s "$KW/sched-$f.o" ]; }; then
			pass "shared_section/$f (exit $rc)"
		else fail "shared_section/$f" "exit $rc, want $want: $(head -c 300 "$KW/sched-$f.log" | tr '\n' ' ')"; fi
	done

	# 6.12: a changed function that uses a runtime constant (scenario 6's
	#    patch as written for 6.1: user_access_begin() -> access_ok() ->
	#    runtime_const_ptr(USER_PTR_MAX)) is refused, nothing written
	if [ "$K612" = 1 ]; then
		o=$(pair_obj special_rtconst ORIG) p=$(pair_obj special_rtconst PATCHED)
		rm -f "$KW/rtconst.o"
		"$KLPWRITE" build "$o" "$p" --objname vmlinux --symbols "$VM" --symvers "$E2E_SYMVERS" \
			${KW_ORC[@]+"${KW_ORC[@]}"} -o "$KW/rtconst.o" >"$KW/rtconst.log" 2>&1
		rc=$?
		if [ "$rc" = 2 ] && [ ! -e "$KW/rtconst.o" ] &&
			grep -q "comm_write+0x[0-9a-f]* uses the runtime constant USER_PTR_MAX" "$KW/rtconst.log"; then
			pass refuse/runtime_const
		else fail refuse/runtime_const "exit $rc: $(grep -v 'warning:' "$KW/rtconst.log" | head -c 300 | tr '\n' ' ')"; fi
	fi

	# Refusals: nothing is written when the inputs disagree.
	refuse() {   # refuse NAME EXPECTED-TEXT ARGS...
		local name=$1 want=$2 out=$KW/refused.ko
		shift 2
		rm -f "$out"
		if "$KLPWRITE" module "$KW/s1.o" --name klpw_refused -o "$out" "$@" >"$KW/$name.log" 2>&1; then
			fail "refuse/$name" "klpwrite accepted it"
		elif [ -e "$out" ]; then fail "refuse/$name" "output written anyway"
		elif grep -q "$want" "$KW/$name.log"; then pass "refuse/$name"
		else fail "refuse/$name" "unexpected message: $(head -c 300 "$KW/$name.log")"; fi
	}
	# a reference module whose vermagic names another kernel
	# (same length: 6.1.0-57-amd64 -> 6.1.0-99-amd64, 6.12.95+deb12-amd64 -> 6.12.95+deb99-amd64,
	# self-built 7.2.13-e2e -> 7.2.99-e2e)
	case $E2E_KREL in
	*-amd64) wrong_krel=$(echo "$E2E_KREL" | sed 's/[0-9][0-9]*-amd64$/99-amd64/') ;;
	*)	# the sublevel's digits all 9 (or 8): 7.2.13-e2e -> 7.2.99-e2e
		base=${E2E_KREL%%-*} sub=${E2E_KREL%%-*}
		sub=${sub##*.} base=${base%.*}
		wrong_sub=$(echo "$sub" | tr 0-8 9)
		[ "$wrong_sub" != "$sub" ] || wrong_sub=$(echo "$sub" | tr 9 8)
		wrong_krel=$base.$wrong_sub${E2E_KREL#"${E2E_KREL%%-*}"} ;;
	esac
	cp "$REF_KO" "$KW/wrong-vermagic.ko"
	sed -i "s/vermagic=$E2E_KREL/vermagic=$wrong_krel/" "$KW/wrong-vermagic.ko"
	refuse wrong_vermagic "is for kernel $wrong_krel" --vmlinux "$E2E_VMLINUX" \
		--symvers "$E2E_SYMVERS" --ref-module "$KW/wrong-vermagic.ko"
	# a Module.symvers without seq_printf's CRC
	grep -v "	seq_printf	" "$E2E_SYMVERS" >"$KW/Module.symvers.nocrc"
	refuse missing_crc "no CRC in Module.symvers for: seq_printf" --vmlinux "$E2E_VMLINUX" \
		--symvers "$KW/Module.symvers.nocrc" --ref-module "$REF_KO"
	# BTF without struct klp_func (a hand-made BTF with one unrelated struct)
	python3 - "$KW/tiny.btf" <<'PY'
import struct, sys
strs = b"\0int\0pair\0a\0"
t = struct.pack("<III", 1, 1 << 24, 4) + struct.pack("<I", 32)
t += struct.pack("<III", 5, (4 << 24) | 1, 4) + struct.pack("<III", 10, 1, 0)
hdr = struct.pack("<HBBIIIII", 0xeb9f, 1, 0, 24, 0, len(t), len(t), len(strs))
open(sys.argv[1], "wb").write(hdr + t + strs)
PY
	refuse missing_btf_type "BTF: no struct module" --vmlinux "$KW/tiny.btf" \
		--symvers "$E2E_SYMVERS" --ref-module "$REF_KO"
	# an object extracted for the pre-5.8 rules, given to a 6.1 module build;
	# the target's symbols decide the rules over --kernel-version, so the
	# extract sees a kallsyms without the 5.8 marker klp_apply_section_relocs
	o=$(pair_obj cmdline ORIG) p=$(pair_obj cmdline PATCHED) out=$KW/refused.ko
	rm -f "$out"
	grep -v ' klp_apply_section_relocs$' "$VM" >"$KW/kallsyms-pre58"
	if ! "$KLPWRITE" build "$o" "$p" --objname vmlinux --symbols "$KW/kallsyms-pre58" --symvers "$E2E_SYMVERS" ${KW_ORC[@]+"${KW_ORC[@]}"} \
		--kernel-version 5.7 -o "$KW/s1-legacy.o" >"$KW/s1-legacy.log" 2>&1; then
		fail refuse/legacy_rules "build --kernel-version 5.7 failed: $(head -c 300 "$KW/s1-legacy.log")"
	elif "$KLPWRITE" module "$KW/s1-legacy.o" --name klpw_refused -o "$out" --vmlinux "$E2E_VMLINUX" \
		--symvers "$E2E_SYMVERS" --ref-module "$REF_KO" >"$KW/legacy_rules.log" 2>&1; then
		fail refuse/legacy_rules "klpwrite accepted it"
	elif [ -e "$out" ]; then fail refuse/legacy_rules "output written anyway"
	elif grep -q "extracted for the pre-5.8 rules" "$KW/legacy_rules.log"; then pass refuse/legacy_rules
	else fail refuse/legacy_rules "unexpected message: $(head -c 300 "$KW/legacy_rules.log")"; fi
	# the same kernel's dump as a KASLR boot shows it (every upper-half
	# address moved by 0x2a400000; per-CPU symbols stay zero-based before
	# 6.15) with --image: accepted, and the output is the one the unmoved
	# dump gives (the image's PC-relative per-CPU references are link-time
	# values, relocs32neg in arch/x86/tools/relocs.c)
	o=$(pair_obj pipe_lockinit ORIG) p=$(pair_obj pipe_lockinit PATCHED)
	python3 - "$VM" "$KW/kallsyms-kaslr" <<'PY'
import sys
with open(sys.argv[2], 'w') as out:
    for line in open(sys.argv[1]):
        f = line.split(None, 2)
        a = int(f[0], 16)
        if a >> 63:
            a += 0x2a400000
        out.write('%016x %s %s' % (a, f[1], f[2]))
PY
	rm -f "$KW/kaslr-a.o" "$KW/kaslr-b.o"
	"$KLPWRITE" build "$o" "$p" --objname vmlinux --symbols "$VM" --image "$E2E_VMLINUX" --symvers "$E2E_SYMVERS" \
		${KW_ORC[@]+"${KW_ORC[@]}"} -o "$KW/kaslr-a.o" >"$KW/kaslr-a.log" 2>&1
	ra=$?
	"$KLPWRITE" build "$o" "$p" --objname vmlinux --symbols "$KW/kallsyms-kaslr" --image "$E2E_VMLINUX" --symvers "$E2E_SYMVERS" \
		${KW_ORC[@]+"${KW_ORC[@]}"} -o "$KW/kaslr-b.o" >"$KW/kaslr-b.log" 2>&1
	rb=$?
	if [ "$ra" = 0 ] && [ "$rb" = 0 ] && cmp -s "$KW/kaslr-a.o" "$KW/kaslr-b.o"; then
		pass "symbols/kaslr_dump_with_image (same output as the unmoved dump)"
	else fail symbols/kaslr_dump_with_image "exit $ra/$rb: $(grep -v 'warning:' "$KW/kaslr-b.log" | head -c 300 | tr '\n' ' ')"; fi
	# another kernel's kallsyms and image (any other kernel of the cache with
	# a snapshot; none on a fresh machine's first suite): fs/pipe.c's names
	# fit it, its code does not, so its sympos and symbols cannot be trusted
	other=
	for e in "$E2E_CACHE"/*/snapshot.env; do
		[ -f "$e" ] || continue
		o_ks=$(. "$e" && echo "$E2E_KALLSYMS") o_vm=$(. "$e" && echo "$E2E_VMLINUX")
		if [ "$o_ks" != "$VM" ] && [ -f "$o_ks" ] && [ -f "$o_vm" ]; then other=$e; break; fi
	done
	if [ -z "$other" ]; then
		skip refuse/foreign_kernel "no other kernel's snapshot in $E2E_CACHE"
	else
		o=$(pair_obj pipe_lockinit ORIG) p=$(pair_obj pipe_lockinit PATCHED)
		rm -f "$KW/foreign.o"
		"$KLPWRITE" build "$o" "$p" --objname vmlinux --symbols "$o_ks" --image "$o_vm" --symvers "$E2E_SYMVERS" \
			${KW_ORC[@]+"${KW_ORC[@]}"} -o "$KW/foreign.o" >"$KW/foreign.log" 2>&1
		rc=$?
		if [ "$rc" = 2 ] && [ ! -e "$KW/foreign.o" ] && grep -q "is not the kernel that .*pipe.o was built for" "$KW/foreign.log"; then
			pass "refuse/foreign_kernel ($(basename "$(dirname "$other")"): $(grep -o '[0-9]* of [0-9]* functions' "$KW/foreign.log" | head -n1) differ)"
		else fail refuse/foreign_kernel "exit $rc: $(grep -v 'warning:' "$KW/foreign.log" | head -c 300 | tr '\n' ' ')"; fi
	fi
fi

# ---- the self-check, from the outside: every build/module output of the run
if [ -n "$KLPWRITE" ] && [ -s "$KW/verify.tsv" ]; then
	n=$(wc -l <"$KW/verify.tsv") bad=$(awk '$1 != 0' "$KW/verify.tsv" | wc -l)
	echo "verify: $n outputs checked by klpwrite verify (each was also self-checked before it was written), $bad with findings"
	if [ "$bad" = 0 ]; then pass "selfcheck/verify ($n outputs)"
	else fail "selfcheck/verify" "$bad of $n outputs: $(awk '$1 != 0 {print $2}' "$KW/verify.tsv" | tr '\n' ' ')"; fi
fi

finish
