#!/bin/bash
# lto.sh - issue 11: klpwrite on whole vmlinux.o files and on a module's
# pre-link object, of a gcc and a clang ThinLTO kernel, proved in the
# booted kernel.
#
# Usage: sudo bash tests/e2e/lto.sh [gcc|clang]...   (default: both)
#
# For each kernel (lib/setup-lto.sh builds and caches it from Debian's
# linux-source-6.1: orig and patched vmlinux.o, vmlinux, System.map):
#   - the objects are what the scenarios need: one section per function in
#     vmlinux.o; with ThinLTO klpw_lto_value() of unit A inlined into units B
#     and C, klpw_lto_secret() promoted to klpw_lto_secret.llvm.<hash>;
#     C's c_stop one of three (sympos from the final vmlinux, whose address
#     order is not vmlinux.o's symbol order);
#   - 'klpwrite diff orig/vmlinux.o patched/vmlinux.o': timed (the line
#     "vmlinux.o diff: <s> s, <MB> MB, <N> functions"), and its answer must
#     be exactly the changed functions of lto/0[1-3]-*.patch (with ThinLTO
#     also their inlined callers in B and C) and the new klpw_lto_note:
#     nothing of kernel/sched/core.c and mm/page_alloc.c, whose only change
#     is a blank line at the top (lto/04-blank-line.patch);
#   - 'klpwrite build' with the final orig vmlinux as --symbols (sympos and
#     klp symbols from the final link, not from vmlinux.o), 'klpwrite
#     module', 'klpwrite verify';
#   - one boot of the orig kernel (guest/lto.sh): every call path shows the
#     new behaviour, restored after disable and rmmod; a clean kernel log
#     and no taint but O|E|K (K set).
# Then per kernel the module (run_module): lto/mod/ (klpw_ltomod, five
# units: A, B, C, x/ltomod_s.c, y/ltomod_s.c) built out of tree ('make M=',
# same compiler and KCFLAGS, the orig vmlinux bound over the tree's in a
# private mount namespace) as it is and with lto/mod.patch;
#   - the pre-link object is klpw_ltomod.o, 'ld -r' of the units (6.1 has
#     no <mod>.lto.o: with ThinLTO the units are bitcode and that link is
#     the LTO code generation), the .ko is linked from it; ltomod_value()
#     inlined into B and C under ThinLTO, ltomod_secret() promoted with a
#     hash that the patch changes, four static state_show() (A, C, x, y;
#     x's and y's in units of one STT_FILE name, of the same bytes);
#   - 'klpwrite diff' of the two pre-link objects: exactly ltomod_value,
#     its callers (A; with ThinLTO also B and C), ltomod_c.c:state_show and
#     ltomod_s.c#2:state_show;
#   - 'klpwrite build' with the orig .ko as --symbols, 'module', 'verify'
#     (the .ko, and the object with --orig/--patched/--symbols);
#   - one boot (guest/lto-mod.sh): the orig module, then the livepatch:
#     every path changed (A, B, C, C's and y's state_show, y's reading its
#     own static tag), A's and x's state_show not; restored after disable
#     and rmmod; the same with the module loaded after the livepatch;
#     clean log, taint O|E|K; klp_func state_show,N as the .ko's .symtab
#     order says.
# Then bad input: diff of the gcc vmlinux.o against the clang one, of a
# truncated vmlinux.o, and a build with the other kernel's vmlinux as
# --symbols; diff of the gcc module's pre-link object against the clang
# one (both ways), and a build with the other kernel's .ko as --symbols
# (all exit 2).
#
# Output: one line per check, 'PASS <what>' or 'FAIL <what>: <why>' (the
# module's under <kind>/mod/), the 'vmlinux.o diff:' line of each kernel,
# and last
# 'LTO-E2E: N passed, M failed'; exit 1 on any failure.
# Env: E2E_KLPWRITE (binary; default target/release/klpwrite, built when
#      missing), E2E_WORK (default $CACHE/work/lto, wiped), E2E_JOBS,
#      E2E_BOOT_TIMEOUT, KLPWRITE_E2E_CACHE.
set -uo pipefail
E2E=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$E2E/../.." && pwd)
. "$E2E/lib/common.sh"
e2e_need_root
export LC_ALL=C

KINDS=("$@")
[ ${#KINDS[@]} -gt 0 ] || KINDS=(gcc clang)
WORK=${E2E_WORK:-$E2E_CACHE/work/lto}
rm -rf "$WORK"
mkdir -p "$WORK"
N_PASS=0 N_FAIL=0
pass() { N_PASS=$((N_PASS + 1)); echo "PASS $1"; }
fail() { N_FAIL=$((N_FAIL + 1)); echo "FAIL $1: $2"; }
check() { # check NAME WHY CMD... - PASS when CMD succeeds, else FAIL with WHY
	local n=$1 why=$2
	shift 2
	if "$@"; then pass "$n"; else fail "$n" "$why"; fi
}
T_START=$(e2e_now)

# ---- klpwrite: a private copy, so that a rebuild does not race the run --------------
KLPWRITE=${E2E_KLPWRITE:-}
if [ -z "$KLPWRITE" ]; then
	KLPWRITE=$REPO/target/release/klpwrite
	if [ ! -x "$KLPWRITE" ]; then
		e2e_log "cargo build --release"
		(cd "$REPO" && nice -n 5 cargo build --release -q >&2) || { fail klpwrite "cargo build --release failed"; KLPWRITE=; }
	fi
fi
if [ -n "$KLPWRITE" ] && [ -x "$KLPWRITE" ]; then
	mkdir -p "$WORK/bin"
	cp "$KLPWRITE" "$WORK/bin/klpwrite"
	KW=$WORK/bin/klpwrite
	echo "klpwrite binary: $KLPWRITE"
else
	fail klpwrite "no klpwrite binary${KLPWRITE:+ ($KLPWRITE)}"
	KW=false
fi

# fn_names OBJ - the defined function symbols of OBJ, one a line
fn_names() { readelf -sW "$1" | awk '$4 == "FUNC" && $7 != "UND" { print $8 }'; }
# unit_fns KIND K OBJ - the functions defined in one unit of kernel K's tree
# (the per-file object; bitcode with ThinLTO, read by llvm-nm); vmlinux.o
# lists a unit's globals after all the locals, outside its STT_FILE block
unit_fns() {
	local nmb=nm
	[ "$1" = clang ] && nmb=llvm-nm
	"$nmb" --defined-only "$2/tree/$3" 2>/dev/null | awk '$2 ~ /^[tTwW]$/ { print $3 }'
}
# disas OBJ SECTION - objdump -dr of one section
disas() { objdump -dr --no-show-raw-insn -j "$2" "$1" 2>/dev/null; }
strip_llvm() { sed 's/\.llvm\.[0-9]*$//'; }

# ---- one kernel ----------------------------------------------------------------------
declare -A KERNEL # kind -> its cache directory, once lib/setup-lto.sh gave it
run_kernel() {
	local kind=$1 K O P W=$WORK/$1 t0 rc out n mb secs rss expect got extra
	mkdir -p "$W"
	t0=$(e2e_now)
	if ! K=$(bash "$E2E/lib/setup-lto.sh" "$kind" 2>"$W/setup.log"); then
		fail "$kind/setup" "lib/setup-lto.sh $kind failed: $(grep -a FATAL "$W/setup.log" | tail -n1), see $W/setup.log"
		return
	fi
	pass "$kind/setup ($(e2e_since "$t0") s; orig build $(cat "$K/orig/build-seconds") s, patched $(cat "$K/patched/build-seconds") s when built)"
	KERNEL[$kind]=$K
	O=$K/orig P=$K/patched

	# -- the objects are what the scenarios need
	n=$(readelf -SW "$O/vmlinux.o" | grep -c ' \.text\.' || true)
	check "$kind/function_sections ($n .text.* sections)" \
		"vmlinux.o has $n .text.* sections, no .text.klpw_lto_b_show" \
		test "$n" -gt 1000 -a -n "$(readelf -SW "$O/vmlinux.o" | grep ' \.text\.klpw_lto_b_show ')"
	for u in b c; do
		out=$(disas "$O/vmlinux.o" ".text.klpw_lto_${u}_show")
		if [ "$kind" = clang ]; then
			check "$kind/value_inlined_into_$u" "klpw_lto_${u}_show calls klpw_lto_value or lacks \$0x2a: $(echo "$out" | grep -E 'call|0x2a' | head -n3 | tr '\n' ';')" \
				eval '! grep -q "klpw_lto_value" <<<"$out" && grep -q "\$0x2a" <<<"$out"'
		else
			check "$kind/value_called_from_$u (no cross-unit inlining without LTO)" "klpw_lto_${u}_show does not call klpw_lto_value" \
				grep -q 'klpw_lto_value' <<<"$out"
		fi
	done
	if [ "$kind" = clang ]; then
		local so sp sv
		so=$(fn_names "$O/vmlinux.o" | grep '^klpw_lto_secret' | tr '\n' ' ')
		sp=$(fn_names "$P/vmlinux.o" | grep '^klpw_lto_secret' | tr '\n' ' ')
		sv=$(nm "$O/vmlinux" | awk '$3 ~ /^klpw_lto_secret/ { print $3 }' | tr '\n' ' ')
		check "$kind/secret_promoted (orig ${so% }, patched ${sp% }, vmlinux ${sv% })" \
			"no klpw_lto_secret.llvm.<hash> in orig/patched vmlinux.o or vmlinux" \
			eval '[[ "$so" =~ ^klpw_lto_secret\.llvm\.[0-9]+\ $ && "$sp" =~ ^klpw_lto_secret\.llvm\.[0-9]+\ $ && "$sv" = "$so" && "$so" != "$sp" ]]'
		out=$(disas "$O/vmlinux.o" .text.klpw_lto_b_show)
		check "$kind/b_calls_promoted_secret" "klpw_lto_b_show does not call klpw_lto_secret.llvm.<hash> directly" \
			grep -q 'klpw_lto_secret\.llvm\.' <<<"$out"
	fi

	# -- diff: timed, and exactly the expected answer
	/usr/bin/time -f '%e %M' -o "$W/diff.time" "$KW" diff "$O/vmlinux.o" "$P/vmlinux.o" >"$W/diff.out" 2>"$W/diff.err"
	rc=$?
	read -r secs rss < <(tail -n1 "$W/diff.time" 2>/dev/null) || { secs=?; rss=0; }
	case $rss in "" | *[!0-9]*) rss=0 ;; esac
	mb=$(du -m --apparent-size "$O/vmlinux.o" | cut -f1)
	n=$(fn_names "$O/vmlinux.o" | wc -l)
	echo "vmlinux.o diff: $secs s, $mb MB, $n functions ($kind; peak RSS $((rss / 1024)) MB, patched $(du -m --apparent-size "$P/vmlinux.o" | cut -f1) MB)"
	check "$kind/diff_exit" "exit $rc, want 0: $(head -n3 "$W/diff.err" | tr '\n' ' ')" test "$rc" = 0
	expect="changed function: klpw_lto_a_show
changed function: klpw_lto_secret
changed function: klpw_lto_value
changed function: klpw_lto_c.c:c_stop
new function: klpw_lto_note"
	[ "$kind" = clang ] && expect+="
changed function: klpw_lto_b_show
changed function: klpw_lto_c_show"
	expect=$(sort <<<"$expect")
	got=$(grep -E '^(changed|new|removed) function: ' "$W/diff.out" | strip_llvm | sort)
	check "$kind/diff_answer ($(grep -cE '^(changed|new|removed) function: ' "$W/diff.out") lines)" \
		"want [$(tr '\n' ';' <<<"$expect")] got [$(head -n 12 <<<"$got" | tr '\n' ';')]$(
			[ "$(wc -l <<<"$got")" -gt 12 ] && echo " ... $(wc -l <<<"$got") lines")" \
		test "$expect" = "$got"
	# the blank line: nothing of the two big files, although they changed
	local lf
	for f in kernel/sched/core.o mm/page_alloc.o; do
		lf=$(unit_fns "$kind" "$K" "$f" | strip_llvm | sort -u)
		extra=$(grep -E '^(changed|new|removed) function: ' "$W/diff.out" | sed 's/^[a-z]* function: //; s/^[^:]*://' | strip_llvm |
			sort -u | comm -12 - <(echo "$lf"))
		check "$kind/line_shift_$(basename "$f" .o) ($(grep -c . <<<"$lf") functions, none changed)" "changed: $(tr '\n' ' ' <<<"$extra")" \
			test -z "$extra" -a -n "$lf"
	done
	# ... and the shift is real: __bug_table lines moved (struct bug_entry
	# with relative pointers: 12 bytes, the line at +8), with ThinLTO also
	# the .llvm.<hash> of every static the two files had promoted
	n=$(for v in "$O" "$P"; do
		objcopy -O binary --only-section=__bug_table "$v/vmlinux.o" "$W/bug.bin" && od -An -v -w12 -tx1 "$W/bug.bin" | awk '{ print $9 $10 }' >"$W/bug-lines.$(basename "$v")"
	done; paste -d' ' "$W/bug-lines.orig" "$W/bug-lines.patched" | awk '$1 != $2' | wc -l)
	extra=""
	[ "$kind" = clang ] &&
		extra=", $(comm -23 <(fn_names "$O/vmlinux.o" | grep '\.llvm\.' | sort) <(fn_names "$P/vmlinux.o" | grep '\.llvm\.' | sort) | wc -l) of $(fn_names "$O/vmlinux.o" | grep -c '\.llvm\.') .llvm.<hash> functions renamed"
	check "$kind/line_shift_is_real ($n __bug_table lines moved$extra)" "no __bug_table line moved" test "$n" -gt 0

	# -- build + module + verify, sympos from the final vmlinux
	if "$KW" build "$O/vmlinux.o" "$P/vmlinux.o" --objname vmlinux --symbols "$O/vmlinux" \
		--symvers "$O/Module.symvers" --explain -o "$W/lto-$kind.o" >"$W/build.log" 2>&1; then
		pass "$kind/build"
	else
		fail "$kind/build" "exit $?: $(grep -a -m3 -iE 'error|refus' "$W/build.log" | tr '\n' ' '), see $W/build.log"
		return
	fi
	# the same with a kallsyms-style System.map + the image: the same object
	if "$KW" build "$O/vmlinux.o" "$P/vmlinux.o" --objname vmlinux --symbols "$O/System.map" --image "$O/vmlinux" \
		--symvers "$O/Module.symvers" -o "$W/lto-$kind-map.o" >"$W/build-map.log" 2>&1; then
		check "$kind/build_from_system_map_same" "differs from the build with --symbols vmlinux" \
			cmp -s "$W/lto-$kind.o" "$W/lto-$kind-map.o"
	else
		fail "$kind/build_from_system_map" "exit $?: $(grep -a -m3 -iE 'error|refus' "$W/build-map.log" | tr '\n' ' ')"
	fi
	local mod=klpw_lto_$kind
	if "$KW" module "$W/lto-$kind.o" --name "$mod" --vmlinux "$O/vmlinux" --symvers "$O/Module.symvers" \
		--ref-module "$O/livepatch-sample.ko" -o "$W/$mod.ko" >"$W/module.log" 2>&1; then
		pass "$kind/module"
	else
		fail "$kind/module" "exit $?: $(tail -n3 "$W/module.log" | tr '\n' ' ')"
		return
	fi
	check "$kind/verify" "$(tail -n3 "$W/verify.log" 2>/dev/null | tr '\n' ' ')" \
		eval '"$KW" verify "$W/$mod.ko" --symvers "$O/Module.symvers" >"$W/verify.log" 2>&1'

	# -- the booted orig kernel
	local log=$W/guest.log bad taint
	t0=$(e2e_now)
	E2E_ENV_FILE=$K/kernel.env bash "$E2E/lib/boot.sh" -o "$log" "$E2E/guest/lto.sh" "$W/$mod.ko" >/dev/null 2>"$log.stderr"
	rc=$?
	[ -s "$log" ] || { fail "$kind/boot" "no console output, see $log.stderr"; return; }
	while read -r _ c verdict detail; do
		if [ "$verdict" = PASS ]; then pass "$kind/guest/$c"; else fail "$kind/guest/$c" "$detail"; fi
	done < <(grep -a '^CHECK: ' "$log")
	check "$kind/guest_exit ($(e2e_since "$t0") s)" "guest rc $rc (124 timeout, 125 panic/no exit); see $log" test "$rc" = 0
	sed -n '/^E2E-GUEST: DMESG-BEGIN$/,/^E2E-GUEST: DMESG-END$/p' "$log" >"$log.dmesg"
	bad=$(grep -aE 'WARNING:|BUG:|Oops|general protection fault|Call Trace:|Kernel panic' "$log.dmesg" | head -n 3)
	check "$kind/dmesg_clean" "${bad:-no kernel log captured}" test -z "$bad" -a -s "$log.dmesg"
	taint=$(sed -n 's/^E2E-GUEST: TAINT \([0-9]*\)$/\1/p' "$log" | tail -n1)
	check "$kind/taint (${taint:-none})" "taint has bits outside O|E|K (4096|8192|32768) or lacks K" \
		eval '[ -n "$taint" ] && [ $((taint & ~(4096 | 8192 | 32768))) = 0 ] && [ $((taint & 32768)) != 0 ]'
	grep -a '^LTO-GUEST: klp_func ' "$log" | sed "s/^LTO-GUEST:/  $kind:/"
	# C's c_stop is one of three: its sympos is its position among them in
	# the final vmlinux's address order (the kernel walks kallsyms), which
	# the debug info of the orig vmlinux names independently of klpwrite;
	# .text.hot.c_stop puts it first there, while vmlinux.o's symbol table
	# has it second (arch/x86/kernel/cpu/proc.c is linked before kernel/)
	local pos spos
	pos=$(nm -n "$O/vmlinux" | awk '$3 == "c_stop" { print $1 }' | while read -r a; do addr2line -e "$O/vmlinux" "0x$a"; done |
		grep -n 'klpw_lto_c\.c' | cut -d: -f1)
	spos=$(readelf -sW "$O/vmlinux.o" | awk '$4 == "FILE" { f = $8 } $8 == "c_stop" { n++; if (f == "klpw_lto_c.c") { print n; exit } }')
	check "$kind/sympos_c_stop (kernel's klp_func c_stop,${pos:-?} of $(nm "$O/vmlinux" | awk '$3 == "c_stop"' | wc -l); vmlinux.o symtab: ${spos:-?})" \
		"want klp_func c_stop,$pos: $(grep -a '^LTO-GUEST: klp_func c_stop' "$log")" \
		grep -qx "LTO-GUEST: klp_func c_stop,$pos" "$log"
}

# ---- the module: its pre-link objects -------------------------------------------------
MOD=klpw_ltomod
# mod_make KIND K DIR - 'make M=DIR modules' against kernel K's tree, with
# the compiler and KCFLAGS lib/setup-lto.sh built the kernel with, inside a
# private mount namespace where the tree's vmlinux is the orig one: the
# tree holds the patched build's vmlinux (setup-lto.sh builds it last), and
# the module's BTF is split BTF on top of it (scripts/Makefile.modfinal
# cmd_btf_ko: pahole --btf_base vmlinux), whose type ids must be the
# booted kernel's.  Nothing of the cache is written; the tree's setup lock
# is held, so that no setup-lto.sh changes the tree meanwhile.
mod_make() {
	local kind=$1 K=$2 d=$3 mv=(CC=gcc-12 HOSTCC=gcc-12)
	[ "$kind" = clang ] && mv=(LLVM=1)
	(
		flock 8
		unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh "$K/orig/vmlinux" "$K/tree/vmlinux" \
			nice -n 5 make -C "$K/tree" ARCH=x86 "${mv[@]}" KCFLAGS="-ffunction-sections -fdata-sections" M="$d" V=1 modules
	) 8>"$E2E_CACHE/lto-6.1/.setup-$kind.lock"
}
# sympos_in_ko KO NAME FILE [K] - the kernel's sympos of the static NAME of
# the K-th (default 1st) unit whose STT_FILE is FILE: its position among
# the module's symbols called NAME in .symtab order, which is the order
# the livepatch core walks (kernel/livepatch/core.c klp_find_object_symbol
# -> module_kallsyms_on_each_symbol(), kernel/module/kallsyms.c, over the
# symbols add_kallsyms() kept in .symtab order)
sympos_in_ko() {
	readelf -sW "$1" | awk -v n="$2" -v f="$3" -v k="${4:-1}" '
		$4 == "FILE" { cur = $8; if (cur == f) seen++ }
		$8 == n && $7 != "UND" { pos++; if (cur == f && seen == k) { print pos; exit } }'
}

# twin_bytes OBJ K TMP - the bytes of the state_show of OBJ's K-th unit
# ltomod_s.c (relocated fields are zero in an object), hex
twin_bytes() {
	local v sz ndx sec
	read -r v sz ndx < <(readelf -sW "$1" | awk -v k="$2" '
		$4 == "FILE" { f = $8; if (f == "ltomod_s.c") n++ }
		$8 == "state_show" && f == "ltomod_s.c" && n == k { print $2, $3, $7; exit }')
	[ -n "$ndx" ] || return
	sec=$(readelf -SW "$1" | sed -n "s/^ *\[ *$ndx\] \([^ ]*\) .*/\1/p")
	objcopy -O binary --only-section="$sec" "$1" "$3" 2>/dev/null &&
		tail -c +$((16#$v + 1)) "$3" | head -c "$sz" | od -An -v -tx1 | tr -s ' \n' ' '
}

run_module() {
	local kind=$1 K=${KERNEL[$1]:-} W=$WORK/$1/mod t0 rc side out expect got so sp log bad taint p
	[ -n "$K" ] || { fail "$kind/mod/kernel" "no $kind kernel (setup failed)"; return; }
	local O=$W/orig P=$W/patched
	mkdir -p "$W"
	# -- the module, orig and patched
	t0=$(e2e_now)
	for side in orig patched; do
		cp -r "$E2E/lto/mod" "$W/$side"
		if [ "$side" = patched ] && ! patch -s -p1 -d "$W/$side" <"$E2E/lto/mod.patch" >"$W/patch.log" 2>&1; then
			fail "$kind/mod/patch" "lto/mod.patch does not apply: $(head -n2 "$W/patch.log" | tr '\n' ' ')"
			return
		fi
		if ! mod_make "$kind" "$K" "$W/$side" >"$W/make-$side.log" 2>&1 || [ ! -s "$W/$side/$MOD.ko" ]; then
			fail "$kind/mod/make_$side" "make M= failed: $(grep -a -m2 -E 'error|Error' "$W/make-$side.log" | tr '\n' ' ')see $W/make-$side.log"
			return
		fi
	done
	pass "$kind/mod/make ($(e2e_since "$t0") s, orig and patched)"

	# -- the pre-link object: klpw_ltomod.o, 'ld -r' of the units
	# (scripts/Makefile.build cmd_ld_multi_m, then objtool for
	# delay-objtool); modpost reads it and the final link makes the .ko of
	# it and klpw_ltomod.mod.o (scripts/Makefile.modfinal cmd_ld_ko_o).
	# 6.1 makes no <mod>.lto.o or <mod>.prelink.o (no scripts/Makefile.*
	# of the tree names either; earlier kernels' LTO modules had them):
	# with ThinLTO each unit's .o is bitcode and the LTO code generation
	# runs in that 'ld.lld -r', so klpw_ltomod.o is the module's first
	# machine code.
	local unit_kind=ELF
	[ "$kind" = clang ] && unit_kind=bitcode
	got=$(for u in ltomod_a ltomod_b ltomod_c x/ltomod_s y/ltomod_s; do
		if [ "$(head -c 4 "$O/$u.o" | od -An -tx1 | tr -d ' ')" = 4243c0de ]; then echo bitcode; else echo ELF; fi
	done | sort -u)
	check "$kind/mod/units_are_$unit_kind" "units: $(tr '\n' ' ' <<<"$got")" test "$got" = "$unit_kind"
	check "$kind/mod/prelink_is_relocatable_elf" "$(readelf -h "$O/$MOD.o" 2>&1 | grep -m1 -E 'Type|Error')" \
		eval 'readelf -h "$O/$MOD.o" | grep "Type:[[:space:]]*REL " >/dev/null'
	check "$kind/mod/ko_linked_from_prelink" "$MOD.ko's link command does not take $MOD.o: $(grep -m1 '^cmd_' "$O/.$MOD.ko.cmd")" \
		grep -qE "^cmd_.*-o $O/$MOD\.ko $O/$MOD\.o $O/$MOD\.mod\.o( |;|$)" "$O/.$MOD.ko.cmd"
	# grep without -q reads to the end: under pipefail `grep -q` may stop
	# readelf with SIGPIPE and fail the check (a CI run of 74a3581)
	check "$kind/mod/function_sections" "no .text.ltomod_b_show in $MOD.o" \
		eval 'readelf -SW "$O/$MOD.o" | grep " \.text\.ltomod_b_show " >/dev/null'
	for u in b c; do
		out=$(disas "$O/$MOD.o" ".text.ltomod_${u}_show")
		if [ "$kind" = clang ]; then
			check "$kind/mod/value_inlined_into_$u" "ltomod_${u}_show calls ltomod_value or lacks \$0x2a: $(echo "$out" | grep -E 'call|0x2a' | head -n3 | tr '\n' ';')" \
				eval '! grep -q "ltomod_value" <<<"$out" && grep -q "\$0x2a" <<<"$out"'
		else
			check "$kind/mod/value_called_from_$u (no cross-unit inlining without LTO)" "ltomod_${u}_show does not call ltomod_value" \
				grep -q 'ltomod_value' <<<"$out"
		fi
	done
	if [ "$kind" = clang ]; then
		so=$(fn_names "$O/$MOD.o" | grep '^ltomod_secret' | tr '\n' ' ')
		sp=$(fn_names "$P/$MOD.o" | grep '^ltomod_secret' | tr '\n' ' ')
		check "$kind/mod/secret_promoted (orig ${so% }, patched ${sp% })" \
			"no ltomod_secret.llvm.<hash> in orig/patched $MOD.o, or the same hash (A changed)" \
			eval '[[ "$so" =~ ^ltomod_secret\.llvm\.[0-9]+\ $ && "$sp" =~ ^ltomod_secret\.llvm\.[0-9]+\ $ && "$so" != "$sp" ]]'
		out=$(disas "$O/$MOD.o" .text.ltomod_b_show)
		check "$kind/mod/b_calls_promoted_secret" "ltomod_b_show does not call ltomod_secret.llvm.<hash> directly" \
			grep -q 'ltomod_secret\.llvm\.' <<<"$out"
	fi
	# four state_show (A, C, x/ltomod_s.c, y/ltomod_s.c), the last two in
	# units of one STT_FILE name and of the same bytes
	got=$(readelf -sW "$O/$MOD.ko" | awk '$4 == "FILE" { f = $8 } $8 == "state_show" { printf "%s ", f }')
	check "$kind/mod/four_state_show (${got% })" "want ltomod_a.c ltomod_c.c ltomod_s.c ltomod_s.c" \
		test "$got" = "ltomod_a.c ltomod_c.c ltomod_s.c ltomod_s.c "
	local bx by
	bx=$(twin_bytes "$O/$MOD.o" 1 "$W/twin.bin") by=$(twin_bytes "$O/$MOD.o" 2 "$W/twin.bin")
	check "$kind/mod/x_y_state_show_same_bytes ($(wc -w <<<"$bx") bytes)" "x's and y's state_show differ: [$bx] [$by]" \
		test -n "$bx" -a "$bx" = "$by"

	# -- diff of the two pre-link objects: exactly the changed functions
	"$KW" diff "$O/$MOD.o" "$P/$MOD.o" >"$W/diff.out" 2>"$W/diff.err"
	rc=$?
	check "$kind/mod/diff_exit" "exit $rc, want 0: $(head -n3 "$W/diff.err" | tr '\n' ' ')" test "$rc" = 0
	expect="changed function: ltomod_a_show
changed function: ltomod_value
changed function: ltomod_c.c:state_show
changed function: ltomod_s.c#2:state_show"
	[ "$kind" = clang ] && expect+="
changed function: ltomod_b_show
changed function: ltomod_c_show"
	expect=$(sort <<<"$expect")
	got=$(grep -E '^(changed|new|removed) function: ' "$W/diff.out" | sort)
	check "$kind/mod/diff_answer ($(grep -cE '^(changed|new|removed) function: ' "$W/diff.out") lines)" \
		"want [$(tr '\n' ';' <<<"$expect")] got [$(tr '\n' ';' <<<"$got")]" test "$expect" = "$got"

	# -- build (sympos and klp symbols from the final orig module), module, verify
	if "$KW" build "$O/$MOD.o" "$P/$MOD.o" --objname "$MOD" --symbols "$O/$MOD.ko" \
		--symvers "${K}/orig/Module.symvers" --explain -o "$W/lp.o" >"$W/build.log" 2>&1; then
		pass "$kind/mod/build"
	else
		fail "$kind/mod/build" "exit $?: $(grep -a -m3 -iE 'error|refus' "$W/build.log" | tr '\n' ' '), see $W/build.log"
		return
	fi
	local lp=klpw_ltomod_lp_$kind
	if "$KW" module "$W/lp.o" --name "$lp" --vmlinux "$K/orig/vmlinux" --symvers "$K/orig/Module.symvers" \
		--ref-module "$K/orig/livepatch-sample.ko" -o "$W/$lp.ko" >"$W/module.log" 2>&1; then
		pass "$kind/mod/module"
	else
		fail "$kind/mod/module" "exit $?: $(tail -n3 "$W/module.log" | tr '\n' ' ')"
		return
	fi
	check "$kind/mod/verify_ko" "$(tail -n3 "$W/verify-ko.log" 2>/dev/null | tr '\n' ' ')" \
		eval '"$KW" verify "$W/$lp.ko" --symvers "$K/orig/Module.symvers" >"$W/verify-ko.log" 2>&1'
	check "$kind/mod/verify_object" "$(tail -n3 "$W/verify-o.log" 2>/dev/null | tr '\n' ' ')" \
		eval '"$KW" verify "$W/lp.o" --orig "$O/$MOD.o" --patched "$P/$MOD.o" --symbols "$O/$MOD.ko" --objname "$MOD" --symvers "$K/orig/Module.symvers" >"$W/verify-o.log" 2>&1'

	# -- the booted orig kernel: the orig module, then the livepatch
	log=$W/guest.log
	t0=$(e2e_now)
	E2E_ENV_FILE=$K/kernel.env bash "$E2E/lib/boot.sh" -o "$log" "$E2E/guest/lto-mod.sh" "$O/$MOD.ko" "$W/$lp.ko" >/dev/null 2>"$log.stderr"
	rc=$?
	[ -s "$log" ] || { fail "$kind/mod/boot" "no console output, see $log.stderr"; return; }
	while read -r _ c verdict detail; do
		if [ "$verdict" = PASS ]; then pass "$kind/mod/guest/$c"; else fail "$kind/mod/guest/$c" "$detail"; fi
	done < <(grep -a '^CHECK: ' "$log")
	check "$kind/mod/guest_exit ($(e2e_since "$t0") s)" "guest rc $rc (124 timeout, 125 panic/no exit); see $log" test "$rc" = 0
	sed -n '/^E2E-GUEST: DMESG-BEGIN$/,/^E2E-GUEST: DMESG-END$/p' "$log" >"$log.dmesg"
	bad=$(grep -aE 'WARNING:|BUG:|Oops|general protection fault|Call Trace:|Kernel panic' "$log.dmesg" | head -n 3)
	check "$kind/mod/dmesg_clean" "${bad:-no kernel log captured}" test -z "$bad" -a -s "$log.dmesg"
	taint=$(sed -n 's/^E2E-GUEST: TAINT \([0-9]*\)$/\1/p' "$log" | tail -n1)
	check "$kind/mod/taint (${taint:-none})" "taint has bits outside O|E|K (4096|8192|32768) or lacks K" \
		eval '[ -n "$taint" ] && [ $((taint & ~(4096 | 8192 | 32768))) = 0 ] && [ $((taint & 32768)) != 0 ]'
	grep -a '^LTOMOD-GUEST: klp_func ' "$log" | sed "s/^LTOMOD-GUEST:/  $kind mod:/"
	# the two changed state_show: the kernel's klp_func state_show,N must
	# be the unit's position in the orig .ko (the guest checks that the
	# right ones changed: x's and A's must not)
	for u in "ltomod_c.c 1" "ltomod_s.c 2"; do
		p=$(sympos_in_ko "$O/$MOD.ko" state_show $u)
		check "$kind/mod/sympos_state_show_${u%% *}#${u##* } (klp_func state_show,${p:-?})" \
			"no klp_func state_show,$p: $(grep -a '^LTOMOD-GUEST: klp_func state_show' "$log" | tr '\n' ' ')" \
			grep -qx "LTOMOD-GUEST: klp_func state_show,$p" "$log"
	done
}

for kind in "${KINDS[@]}"; do
	run_kernel "$kind"
	run_module "$kind"
done

# ---- bad input at this scale ---------------------------------------------------------
G=$E2E_CACHE/lto-6.1/gcc/orig/vmlinux.o
L=$E2E_CACHE/lto-6.1/clang/orig/vmlinux.o
if [ -f "$G" ] && [ -f "$L" ]; then
	/usr/bin/time -f '%e %M' -o "$WORK/bad-config.time" "$KW" diff "$G" "$L" >"$WORK/bad-config.out" 2>"$WORK/bad-config.err"
	rc=$?
	read -r secs rss < <(tail -n1 "$WORK/bad-config.time" 2>/dev/null) || { secs=?; rss=0; }
	case $rss in "" | *[!0-9]*) rss=0 ;; esac
	msg=$(head -n1 "$WORK/bad-config.err")
	check "bad_input/gcc_vs_clang (exit $rc, $secs s, $((rss / 1024)) MB: ${msg:-$(grep -c . "$WORK/bad-config.out") lines})" \
		"want exit 2 saying the compilers differ, no panic: exit $rc, $(head -n2 "$WORK/bad-config.err" | tr '\n' ' ')" \
		eval '[ "$rc" = 2 ] && grep -q "different compilers" "$WORK/bad-config.err" && ! grep -q panicked "$WORK/bad-config.err"'
fi
# the other kernel's vmlinux as --symbols of the gcc pair: refused
if [ -f "$G" ] && [ -f "${L%.o}" ]; then
	"$KW" build "$G" "${G%/orig/vmlinux.o}/patched/vmlinux.o" --objname vmlinux --symbols "${L%.o}" \
		--symvers "$(dirname "$G")/Module.symvers" -o "$WORK/wrong-vmlinux.o" >"$WORK/wrong-vmlinux.out" 2>"$WORK/wrong-vmlinux.err"
	rc=$?
	# Many names fit (the same source), so the bytes must tell: the
	# original object's functions are other code in that vmlinux.
	check "bad_input/other_kernels_vmlinux (exit $rc: $(grep -m1 'error' "$WORK/wrong-vmlinux.err" | cut -c1-300))" \
		"want exit 2 saying it is not the kernel vmlinux.o was built for, nothing written: exit $rc" \
		eval '[ "$rc" = 2 ] && [ ! -e "$WORK/wrong-vmlinux.o" ] && grep -q "is not the kernel that .*vmlinux.o was built for" "$WORK/wrong-vmlinux.err" && ! grep -q panicked "$WORK/wrong-vmlinux.err"'
fi
# the patched build's own vmlinux as --symbols of the gcc pair (the same
# names, the same code but for the changed functions): refused, because the
# functions the patch replaces are compared always
P_VM=${G%/orig/vmlinux.o}/patched/vmlinux
if [ -f "$G" ] && [ -f "$P_VM" ]; then
	"$KW" build "$G" "${G%/orig/vmlinux.o}/patched/vmlinux.o" --objname vmlinux --symbols "$P_VM" \
		--symvers "$(dirname "$G")/Module.symvers" -o "$WORK/patched-vmlinux.o" >"$WORK/patched-vmlinux.out" 2>"$WORK/patched-vmlinux.err"
	rc=$?
	check "bad_input/patched_builds_vmlinux (exit $rc: $(grep -m1 'error' "$WORK/patched-vmlinux.err" | cut -c1-300))" \
		"want exit 2 naming the replaced functions that differ, nothing written: exit $rc" \
		eval '[ "$rc" = 2 ] && [ ! -e "$WORK/patched-vmlinux.o" ] && grep -q "the functions the patch replaces (.*) are other code there (is it the patched build?)" "$WORK/patched-vmlinux.err" && ! grep -q panicked "$WORK/patched-vmlinux.err"'
fi
for o in "$G" "$L"; do
	[ -f "$o" ] || continue
	kind=$(basename "$(dirname "$(dirname "$o")")")
	head -c $(($(stat -c %s "$o") / 2)) "$o" >"$WORK/truncated.o"
	"$KW" diff "$o" "$WORK/truncated.o" >"$WORK/trunc.out" 2>"$WORK/trunc.err"
	rc=$?
	check "bad_input/truncated_$kind (exit $rc: $(head -n1 "$WORK/trunc.err"))" "want exit 2, no panic: exit $rc" \
		eval '[ "$rc" = 2 ] && ! grep -q panicked "$WORK/trunc.err"'
	rm -f "$WORK/truncated.o"
done

# the module: the other kernel's pre-link object, and the other kernel's
# module as --symbols
G=$WORK/gcc/mod/orig/$MOD.o
L=$WORK/clang/mod/orig/$MOD.o
if [ -f "$G" ] && [ -f "$L" ]; then
	"$KW" diff "$G" "$L" >"$WORK/mod-bad-config.out" 2>"$WORK/mod-bad-config.err"
	rc=$?
	check "bad_input/mod_gcc_vs_clang (exit $rc: $(head -n1 "$WORK/mod-bad-config.err" | cut -c1-100)...)" \
		"want exit 2 saying the compilers differ, no panic: exit $rc, $(head -n2 "$WORK/mod-bad-config.err" | tr '\n' ' ')" \
		eval '[ "$rc" = 2 ] && grep -q "different compilers" "$WORK/mod-bad-config.err" && ! grep -q panicked "$WORK/mod-bad-config.err"'
	"$KW" diff "${L%/orig/*}/patched/$MOD.o" "$G" >"$WORK/mod-bad-config2.out" 2>"$WORK/mod-bad-config2.err"
	rc=$?
	check "bad_input/mod_clang_vs_gcc (exit $rc)" "want exit 2 saying the compilers differ: exit $rc, $(head -n2 "$WORK/mod-bad-config2.err" | tr '\n' ' ')" \
		eval '[ "$rc" = 2 ] && grep -q "different compilers" "$WORK/mod-bad-config2.err"'
	"$KW" build "$G" "${G%/orig/*}/patched/$MOD.o" --objname "$MOD" --symbols "${L%.o}.ko" \
		--symvers "$E2E_CACHE/lto-6.1/gcc/orig/Module.symvers" -o "$WORK/mod-wrong-ko.o" >"$WORK/mod-wrong-ko.out" 2>"$WORK/mod-wrong-ko.err"
	rc=$?
	check "bad_input/mod_other_kernels_ko (exit $rc: $(grep -m1 'error' "$WORK/mod-wrong-ko.err" | cut -c1-300))" \
		"want exit 2 saying it is not the module the pre-link object was built for, nothing written: exit $rc" \
		eval '[ "$rc" = 2 ] && [ ! -e "$WORK/mod-wrong-ko.o" ] && grep -q "is not the module $MOD that .*$MOD.o was built for" "$WORK/mod-wrong-ko.err" && ! grep -q panicked "$WORK/mod-wrong-ko.err"'
fi

echo "time: $(e2e_since "$T_START") s; logs: $WORK"
echo "LTO-E2E: $N_PASS passed, $N_FAIL failed"
[ "$N_FAIL" = 0 ]
