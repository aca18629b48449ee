#!/bin/bash
# klp-build-compare.sh - klpwrite side by side with upstream klp-build
# (issue 13, item 5; results in docs/compat.md "Side by side with klp-build").
#
# Usage: scripts/klp-build-compare.sh KSRC OUT SCENARIO...
#   KSRC      a configured kernel tree with scripts/livepatch/klp-build
#             (CONFIG_LIVEPATCH, CONFIG_KLP_BUILD, a klp-capable objtool:
#             libxxhash-dev), writable: klp-build builds in it
#   OUT       output directory (created)
#   SCENARIO  NAME:PATCH[:GUEST]  a source patch (-p1 against KSRC) and,
#             optionally, an e2e guest script (tests/e2e/guest/sN-*.sh) that
#             checks the patch's behaviour; its LP=... is replaced with
#             the module's name, so one script checks both modules
# Env:
#   KLPWRITE   klpwrite binary (default: target/release/klpwrite here)
#   JOBS       make -j for klp-build (default 2)
#   NOBOOT=1   skip the guests
#   RAW="NAME..."  for these scenarios also build the patch's .c files
#              from the patch as given (without fix-patch-lines' #line
#              directives) and run `klpwrite diff` per object: what klpwrite
#              reports for a patch that moves __LINE__ (OUT/NAME/raw/)
#   GUEST_FILES  space-separated extra files for the guest (boot.sh -f),
#                e.g. a static uaccess-probe for scenario 6
#   KBUILD_BUILD_{TIMESTAMP,VERSION,USER,HOST}  fixed by default, so that
#              the rebuild of the original bzImage links the same vmlinux
#
# What it runs, per scenario:
#   1. klp-build -T -j$JOBS -o OUT/NAME/kb/livepatch-NAME.ko PATCH in KSRC;
#      the first run builds the original kernel (klp-build's step 1: make
#      clean, then vmlinux+modules with -ffunction-sections -fdata-sections
#      and KLP_SYMIDS=1); later runs start at step 2 (-S 2) and reuse
#      klp-tmp/1-orig. Its diff.log, the fixed patch (fix-patch-lines'
#      #line directives) and the changed objects (klp-tmp/2-patched) are
#      kept in OUT/NAME/kb/.
#   2. klpwrite on the SAME objects: for each changed object (vmlinux.o,
#      or a module's pre-link .o) `klpwrite diff` and `klpwrite build`
#      against klp-tmp/1-orig (symbols: 1-orig/vmlinux, or the module's
#      .ko in KSRC; KSRC/Module.symvers), then `klpwrite kbuild`, kbuild's
#      link (make -C KSRC M=...) and klpwrite post-link, as klp-build links
#      its own module with kbuild (`klpwrite module` needs the target's BTF,
#      which a kernel without CONFIG_DEBUG_INFO_BTF does not have).
#   3. Compares: changed/new functions (klp-build's diff.log against
#      `klpwrite diff`), each of klp-build's functions' bytes and relocations
#      in both modules (func_code), klp relocations (entries of .klp.rela.* sections)
#      and klp symbols (SHN_LIVEPATCH, .klp.sym.*) of both .ko files, with
#      the relocations listed as "section-of-the-function+offset type
#      symbol+addend"; `klpwrite verify` on both modules.
#   4. Boots KSRC's original kernel (OUT/bzImage: rebuilt once from the
#      reverted tree after the first klp-build run, checked to link the same
#      vmlinux as klp-tmp/1-orig/vmlinux) under QEMU with tests/e2e/lib/
#      boot.sh, once per module, and runs GUEST.
# Prints: one block per scenario (time of the klp-build run, both function
# lists, counts, the relocation diff, verify and guest results) and at the
# end a table: NAME | klp-build funcs | klpwrite funcs | klp relocs kb/kw |
# klp syms kb/kw | guest kb/kw.  Everything is also in OUT/NAME/.
set -uo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 3 ] || { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
KSRC=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && OUT=$(cd "$2" && pwd) || exit 2
shift 2
KLPWRITE=${KLPWRITE:-$HERE/target/release/klpwrite}
JOBS=${JOBS:-2}
export KBUILD_BUILD_TIMESTAMP=${KBUILD_BUILD_TIMESTAMP:-'Thu Jan  1 00:00:00 UTC 2026'}
export KBUILD_BUILD_VERSION=${KBUILD_BUILD_VERSION:-1}
export KBUILD_BUILD_USER=${KBUILD_BUILD_USER:-klpb} KBUILD_BUILD_HOST=${KBUILD_BUILD_HOST:-klpb}
TMP=$KSRC/klp-tmp
ORIG=$TMP/1-orig
SUMMARY=$OUT/summary.tsv

log() { printf '%s\n' "$*" >&2; }
die() { log "klp-build-compare: $*"; exit 2; }
[ -x "$KLPWRITE" ] || die "no klpwrite binary $KLPWRITE"
[ -x "$KSRC/scripts/livepatch/klp-build" ] || die "no scripts/livepatch/klp-build in $KSRC"

# klp_relocs KO - one line per klp relocation: "FUNC+OFF TYPE SYM ADDEND",
# the site as an offset in the function (STT_FUNC) that holds it, so that
# the two modules' layouts (klp-build's init.o code in the same .text) cancel
klp_relocs() {
	python3 - "$1" <<'EOF'
import re, subprocess, sys
ko = sys.argv[1]
def run(*a): return subprocess.run(["readelf", "-W", *a, ko], capture_output=True, text=True).stdout
secs, info = {}, {}
for m in re.finditer(r"^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S*)\s+(\d+)\s+(\d+)\s+\d+$", run("-S"), re.M):
    secs[m.group(2)] = int(m.group(1)); info[m.group(2)] = int(m.group(6))
funcs = []
for m in re.finditer(r"^\s*\d+:\s+([0-9a-f]+)\s+(\d+)\s+FUNC\s+\S+\s+\S+\s+(\d+)\s+(\S+)$", run("-s"), re.M):
    funcs.append((int(m.group(3)), int(m.group(1), 16), int(m.group(2)), m.group(4)))
def where(sec, off):
    for idx, v, sz, n in funcs:
        if idx == sec and v <= off < v + max(sz, 1) and not n.startswith("__pfx_"):
            return "%s+0x%x" % (n, off - v)
    return "sec%d+0x%x" % (sec, off)
out, cur = [], None
for line in run("-r").splitlines():
    m = re.match(r"^Relocation section '([^']+)'", line)
    if m:
        cur = m.group(1) if m.group(1).startswith(".klp.rela.") else None
        continue
    m = re.match(r"^([0-9a-f]+)\s+[0-9a-f]+\s+(\S+)\s+[0-9a-f]+\s+(\S+)\s*([+-])\s*([0-9a-f]+)$", line)
    if cur and m:
        out.append("%s %s %s %s%s" % (where(info[cur], int(m.group(1), 16)), m.group(2), m.group(3), m.group(4), m.group(5)))
print("\n".join(sorted(out)) if out else "", end="\n" if out else "")
EOF
}
# func_code KO FUNC - FUNC's bytes (hex, before relocation) and its
# relocations ("OFF TYPE SYM", local data as <local>, R_X86_64_NONE left
# out: klp-build's post-link leaves its tombstone relocations as R_NONE)
func_code() {
	python3 - "$1" "$2" <<'EOF'
import re, subprocess, sys
ko, fn = sys.argv[1], sys.argv[2]
def run(*a): return subprocess.run(["readelf", "-W", *a, ko], capture_output=True, text=True).stdout
sec, info, off = {}, {}, {}
for m in re.finditer(r"^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+\S+\s+(\S+)\s+\S+\s+\S+\s+(\S*)\s+(\d+)\s+(\d+)\s+\d+$", run("-S"), re.M):
    sec[m.group(2)] = int(m.group(1)); info[m.group(2)] = int(m.group(7)); off[int(m.group(1))] = int(m.group(4), 16)
f = None
for m in re.finditer(r"^\s*\d+:\s+([0-9a-f]+)\s+(\d+)\s+FUNC\s+\S+\s+\S+\s+(\d+)\s+(\S+)$", run("-s"), re.M):
    if m.group(4) == fn: f = (int(m.group(3)), int(m.group(1), 16), int(m.group(2)))
if not f: print("no function", fn); sys.exit(0)
data = open(ko, "rb").read()
start = off[f[0]] + f[1]
print(data[start:start + f[2]].hex())
out, cur = [], None
for line in run("-r").splitlines():
    m = re.match(r"^Relocation section '([^']+)'", line)
    if m: cur = info.get(m.group(1)); continue
    m = re.match(r"^([0-9a-f]+)\s+[0-9a-f]+\s+(\S+)\s+[0-9a-f]+\s+(\S+)\s*([+-])\s*([0-9a-f]+)$", line)
    if m and cur == f[0] and f[1] <= int(m.group(1), 16) < f[1] + f[2] and m.group(2) != "R_X86_64_NONE":
        s = m.group(3)
        if s.startswith(".") and not s.startswith(".klp."): s = "<local>"
        elif s.startswith("__klpwrite_fn_") or s == fn: s = "<self>"
        out.append("%x %s %s" % (int(m.group(1), 16) - f[1], m.group(2), s))
print("\n".join(sorted(out)))
EOF
}
# klp_syms KO - the klp symbols (.klp.sym.OBJ.NAME,POS), sorted
klp_syms() { readelf -sW "$1" | awk '$NF ~ /^\.klp\.sym\./ { print $NF }' | sort -u; }
# modname KO - the module's name as the kernel sees it
modname() { modinfo -F name "$1" 2>/dev/null || basename "$1" .ko | tr - _; }

ensure_bzimage() {
	[ -s "$OUT/bzImage" ] && return 0
	[ -f "$ORIG/vmlinux" ] || return 1
	log "== rebuilding the original bzImage (tree reverted by klp-build)"
	(cd "$KSRC" && nice make -s -j"$JOBS" KLP_SYMIDS=1 KCFLAGS="-ffunction-sections -fdata-sections" bzImage) \
		>"$OUT/bzImage.log" 2>&1 || { log "bzImage build failed: $OUT/bzImage.log"; return 1; }
	if cmp -s "$KSRC/vmlinux" "$ORIG/vmlinux"; then log "   vmlinux identical to klp-tmp/1-orig/vmlinux"
	else log "   WARNING: vmlinux differs from klp-tmp/1-orig/vmlinux (non-reproducible build?)"; fi
	cp "$KSRC/arch/x86/boot/bzImage" "$OUT/bzImage"
	cp "$KSRC/vmlinux" "$OUT/vmlinux.booted"
	local krel
	krel=$(cat "$KSRC/include/config/kernel.release")
	printf "E2E_KREL='%s'\nE2E_VMLINUZ='%s'\nE2E_CC=gcc-12\n" "$krel" "$OUT/bzImage" >"$OUT/kernel.env"
}

# guest NAME KO GUEST LABEL - boot with KO, run GUEST with LP set to KO's name
guest() {
	local name=$1 ko=$2 g=$3 label=$4 lp d files=()
	lp=$(modname "$ko")
	d=$OUT/$name/guest-$label
	mkdir -p "$d"
	cp "$ko" "$d/$lp.ko"
	sed "s/^LP=[^;]*;/LP=$lp;/" "$g" >"$d/script.sh"
	for f in ${GUEST_FILES:-}; do files+=(-f "$f"); done
	E2E_ENV_FILE=$OUT/kernel.env "$HERE/tests/e2e/lib/boot.sh" -t 300 ${files[@]+"${files[@]}"} \
		-o "$d/console.log" "$d/script.sh" "$d/$lp.ko" >/dev/null 2>"$d/boot.err"
	local rc=$? pass fail
	pass=$(grep -c '^CHECK: .* PASS' "$d/console.log" 2>/dev/null)
	fail=$(grep -c '^CHECK: .* FAIL' "$d/console.log" 2>/dev/null)
	grep '^CHECK: .* FAIL' "$d/console.log" 2>/dev/null | sed 's/^/      /' >&2
	echo "rc=$rc $pass/$((pass + fail)) checks"
}

# raw_diff NAME PATCH - per-object klpwrite diff of the patch as given:
# make the patch's objects (klp-build's flags) before and after applying it
raw_diff() {
	local name=$1 patch=$2 R=$OUT/$1/raw objs=() o rc
	mkdir -p "$R/orig" "$R/patched"
	mapfile -t objs < <(sed -n 's#^+++ b/\([^\t ]*\.c\).*#\1#p' "$patch" | sed 's/\.c$/.o/')
	mk() { (cd "$KSRC" && nice make -s -j"$JOBS" KLP_SYMIDS=1 KCFLAGS="-ffunction-sections -fdata-sections" "${objs[@]}"); }
	mk >"$R/make.log" 2>&1 || { log "   raw: make failed ($R/make.log)"; return; }
	for o in "${objs[@]}"; do cp "$KSRC/$o" "$R/orig/$(echo "$o" | tr / _)"; done
	(cd "$KSRC" && patch -s -p1 <"$patch") || { log "   raw: patch does not apply"; return; }
	mk >>"$R/make.log" 2>&1
	rc=$?
	for o in "${objs[@]}"; do cp "$KSRC/$o" "$R/patched/$(echo "$o" | tr / _)"; done
	(cd "$KSRC" && patch -s -R -p1 <"$patch")
	mk >>"$R/make.log" 2>&1
	[ "$rc" = 0 ] || { log "   raw: patched make failed ($R/make.log)"; return; }
	for o in "${objs[@]}"; do
		b=$(echo "$o" | tr / _)
		"$KLPWRITE" diff "$R/orig/$b" "$R/patched/$b" >"$R/$b.diff" 2>&1
		rc=$?
		log "   raw klpwrite diff $o: exit $rc $(grep -E '^(changed|new|removed) function' "$R/$b.diff" | tr '\n' ' ')"
	done
}

printf 'scenario\tkb_s\tkb_funcs\tkw_funcs\tkb_klp_relocs\tkw_klp_relocs\tkb_klp_syms\tkw_klp_syms\tkb_guest\tkw_guest\n' >"$SUMMARY"
for sc in "$@"; do
	IFS=: read -r name patch g <<<"$sc"
	patch=$(cd "$(dirname "$patch")" && pwd)/$(basename "$patch")
	[ -n "$g" ] && g=$(cd "$(dirname "$g")" && pwd)/$(basename "$g")
	D=$OUT/$name
	rm -rf "$D"
	mkdir -p "$D/kb" "$D/kw"
	log "== $name: $(basename "$patch")"
	# ---- 1. klp-build --------------------------------------------------
	sc_opt=()
	[ -f "$ORIG/.complete" ] && sc_opt=(-S 2)
	t0=$(date +%s)
	(cd "$KSRC" && nice ./scripts/livepatch/klp-build -j"$JOBS" -T ${sc_opt[@]+"${sc_opt[@]}"} \
		-o "$D/kb/livepatch-$name.ko" "$patch") >"$D/kb/klp-build.log" 2>&1
	kb_rc=$?
	kb_s=$(( $(date +%s) - t0 ))
	log "   klp-build ${sc_opt[*]:-(full)}: exit $kb_rc in ${kb_s}s"
	cp "$TMP"/*-fixed-*.patch "$D/kb/" 2>/dev/null
	if [ "$kb_rc" = 0 ]; then
		cp "$TMP/4-diff/diff.log" "$D/kb/"
		cp -a "$TMP/2-patched" "$D/kb/2-patched"
		cp "$TMP/5-kmod/"*.ko.orig "$D/kb/" 2>/dev/null
	elif grep -q 'no changes detected' "$D/kb/klp-build.log"; then
		log "   klp-build: no changes detected"
	else
		tail -5 "$D/kb/klp-build.log" | sed 's/^/      /' >&2
	fi
	ensure_bzimage || log "   no original bzImage yet"
	case " ${RAW:-} " in *" $name "*) raw_diff "$name" "$patch" ;; esac
	grep -E ': (changed|new) function: ' "$D/kb/diff.log" 2>/dev/null |
		sed -E 's/^.*: (changed|new) function: /\1 /' | sort >"$D/kb/funcs.txt"
	# ---- 2. klpwrite on the same objects -------------------------------
	: >"$D/kw/funcs.txt"
	objs=()
	if [ -d "$D/kb/2-patched" ]; then
		while IFS= read -r rel; do
			o=$ORIG/$rel p=$D/kb/2-patched/$rel b=$(echo "$rel" | tr / _)
			if [ "$rel" = vmlinux.o ]; then a=(--objname vmlinux --symbols "$ORIG/vmlinux")
			else m=$(basename "$rel" .o); a=(--objname "$m" --symbols "$KSRC/${rel%.o}.ko"); fi
			"$KLPWRITE" diff "$o" "$p" >"$D/kw/$b.diff" 2>&1
			grep -E '^(changed|new) function: ' "$D/kw/$b.diff" | sed -E 's/ function: / /' >>"$D/kw/funcs.txt"
			"$KLPWRITE" build "$o" "$p" "${a[@]}" --symvers "$KSRC/Module.symvers" --explain \
				-o "$D/kw/$b" >"$D/kw/$b.build.log" 2>&1
			rc=$?
			log "   klpwrite build $rel: exit $rc"
			[ "$rc" = 0 ] && objs+=("$D/kw/$b")
			[ "$rc" = 2 ] && tail -5 "$D/kw/$b.build.log" | sed 's/^/      /' >&2
		done < <(cd "$D/kb/2-patched" && find . -name '*.o' -printf '%P\n' | sort)
	fi
	sort -o "$D/kw/funcs.txt" "$D/kw/funcs.txt"
	kw_ko=
	if [ ${#objs[@]} -gt 0 ]; then
		M=$D/kw/mod kwname=klpw_$(echo "$name" | tr -c 'A-Za-z0-9_\n' _)
		if "$KLPWRITE" kbuild "${objs[@]}" --name "$kwname" -o "$M" >"$D/kw/kbuild.log" 2>&1 &&
			make -C "$KSRC" M="$M" modules >>"$D/kw/kbuild.log" 2>&1 &&
			make -C "$M" KDIR="$KSRC" KLPWRITE="$KLPWRITE" >>"$D/kw/kbuild.log" 2>&1; then
			kw_ko=$M/$kwname.ko
		else log "   klpwrite kbuild/link/post-link failed: $D/kw/kbuild.log"; fi
	fi
	kb_ko=$D/kb/livepatch-$name.ko
	[ -s "$kb_ko" ] || kb_ko=
	# ---- 3. compare ----------------------------------------------------
	log "   changed/new functions (klp-build | klpwrite):"
	diff -y -W 100 "$D/kb/funcs.txt" "$D/kw/funcs.txt" | sed 's/^/      /' >&2
	for side in kb kw; do
		ko=$kb_ko; [ "$side" = kw ] && ko=$kw_ko
		if [ -n "$ko" ]; then
			klp_relocs "$ko" >"$D/$side/klp-relocs.txt"
			klp_syms "$ko" >"$D/$side/klp-syms.txt"
			"$KLPWRITE" verify "$ko" --symvers "$KSRC/Module.symvers" >"$D/$side/verify.log" 2>&1
			echo "$?" >"$D/$side/verify.rc"
		else : >"$D/$side/klp-relocs.txt"; : >"$D/$side/klp-syms.txt"; fi
	done
	log "   klp relocations: klp-build $(wc -l <"$D/kb/klp-relocs.txt"), klpwrite $(wc -l <"$D/kw/klp-relocs.txt")"
	diff "$D/kb/klp-relocs.txt" "$D/kw/klp-relocs.txt" | sed 's/^/      /' >&2
	log "   klp symbols: klp-build $(wc -l <"$D/kb/klp-syms.txt"), klpwrite $(wc -l <"$D/kw/klp-syms.txt")"
	diff "$D/kb/klp-syms.txt" "$D/kw/klp-syms.txt" | sed 's/^/      /' >&2
	for f in $(awk '{print $2}' "$D/kb/funcs.txt"); do
		[ -n "$kb_ko" ] && [ -n "$kw_ko" ] || break
		func_code "$kb_ko" "$f" >"$D/kb/code-$f.txt"
		func_code "$kw_ko" "$f" >"$D/kw/code-$f.txt"
		if cmp -s "$D/kb/code-$f.txt" "$D/kw/code-$f.txt"; then
			log "   $f: same code ($(( $(head -1 "$D/kb/code-$f.txt" | wc -c) / 2 )) bytes) and relocations ($(( $(wc -l <"$D/kb/code-$f.txt") - 1 )))"
		else log "   $f: code or relocations differ:"; diff "$D/kb/code-$f.txt" "$D/kw/code-$f.txt" | sed 's/^/      /' >&2; fi
	done
	for side in kb kw; do
		[ -f "$D/$side/verify.rc" ] && log "   klpwrite verify ($side module): exit $(cat "$D/$side/verify.rc")"
	done
	# ---- 4. guests -----------------------------------------------------
	kb_g=- kw_g=-
	if [ -z "${NOBOOT:-}" ] && [ -n "$g" ] && [ -s "$OUT/kernel.env" ]; then
		[ -n "$kb_ko" ] && kb_g=$(guest "$name" "$kb_ko" "$g" kb)
		[ -n "$kw_ko" ] && kw_g=$(guest "$name" "$kw_ko" "$g" kw)
		log "   guest: klp-build module: $kb_g; klpwrite module: $kw_g"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$kb_s" \
		"$(awk '{print $2}' "$D/kb/funcs.txt" | paste -sd, -)" "$(awk '{print $2}' "$D/kw/funcs.txt" | paste -sd, -)" \
		"$(wc -l <"$D/kb/klp-relocs.txt")" "$(wc -l <"$D/kw/klp-relocs.txt")" \
		"$(wc -l <"$D/kb/klp-syms.txt")" "$(wc -l <"$D/kw/klp-syms.txt")" "$kb_g" "$kw_g" >>"$SUMMARY"
done
column -t -s $'\t' "$SUMMARY"
