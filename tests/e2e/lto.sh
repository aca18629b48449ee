#!/bin/bash
# lto.sh - issue 11 part 2: klpwrite on whole vmlinux.o files of a gcc and a
# clang ThinLTO kernel, proved in the booted kernel.
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
# Then bad input at this scale: diff of the gcc vmlinux.o against the clang
# one, of a truncated vmlinux.o, and a build with the other kernel's
# vmlinux as --symbols (all exit 2).
#
# Output: one line per check, 'PASS <what>' or 'FAIL <what>: <why>', the
# 'vmlinux.o diff:' line of each kernel, and last
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
run_kernel() {
	local kind=$1 K O P W=$WORK/$1 t0 rc out n mb secs rss expect got extra
	mkdir -p "$W"
	t0=$(e2e_now)
	if ! K=$(bash "$E2E/lib/setup-lto.sh" "$kind" 2>"$W/setup.log"); then
		fail "$kind/setup" "lib/setup-lto.sh $kind failed: $(grep -a FATAL "$W/setup.log" | tail -n1), see $W/setup.log"
		return
	fi
	pass "$kind/setup ($(e2e_since "$t0") s; orig build $(cat "$K/orig/build-seconds") s, patched $(cat "$K/patched/build-seconds") s when built)"
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

for kind in "${KINDS[@]}"; do run_kernel "$kind"; done

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

echo "time: $(e2e_since "$T_START") s; logs: $WORK"
echo "LTO-E2E: $N_PASS passed, $N_FAIL failed"
[ "$N_FAIL" = 0 ]
