#!/bin/bash
# boot.sh - run a guest script inside the cached Debian kernel under QEMU.
#
# Usage: boot.sh [-t SECS] [-m MB] [-a KARGS] [-f FILE]... [-o LOG] [-O OUT] SCRIPT [X.ko]...
#   SCRIPT   busybox-sh script run as root in the guest, with lib/guest-lib.sh
#            sourced first; the X.ko files are copied to /e2e/ko/ in the guest
#   -f FILE  extra file or directory, copied to /e2e/files/ (repeatable)
#   -a KARGS appended to the kernel command line
#   -t SECS  wall-clock limit for the whole boot (default 240, or E2E_BOOT_TIMEOUT)
#   -m MB    guest memory (default 768)
#   -o LOG   save the console (CRs stripped) to LOG as well
#   -O OUT   bulk data channel: whatever the guest writes to $E2E_OUT
#            (/dev/ttyS1, set to raw mode) ends up in the host file OUT
# Env: E2E_QEMU (default qemu-system-x86_64), E2E_ACCEL (default tcg).
# The console is copied to stdout as it arrives.
#
# The guest is one vCPU of '-cpu max' under TCG, with an initramfs made of
# busybox-static + SCRIPT + the modules; /init mounts proc/sys/debugfs,
# clears the ring buffer and runs SCRIPT.  Console protocol, each on its own line:
#   E2E-GUEST: START <uname -r>
#   CHECK: <name> PASS|FAIL <detail>       from the guest script
#   E2E-GUEST: DMESG-BEGIN ... DMESG-END   kernel log while SCRIPT ran
#   E2E-GUEST: TAINT <n>                   /proc/sys/kernel/tainted at the end
#   E2E-GUEST: EXIT <rc>                   SCRIPT's exit status
# Exit status: SCRIPT's; 124 = timed out; 125 = no EXIT line (panic, oops;
# the kernel runs with panic_on_oops and panic=-1 so it powers off at once).
set -euo pipefail
. "$(dirname "$0")/common.sh"

LIMIT=${E2E_BOOT_TIMEOUT:-240} MEM=768 KARGS="" LOG="" OUT=""
EXTRA=()
while getopts "t:m:a:f:o:O:" o; do
	case $o in
	t) LIMIT=$OPTARG ;; m) MEM=$OPTARG ;; a) KARGS=$OPTARG ;;
	f) EXTRA+=("$OPTARG") ;; o) LOG=$OPTARG ;; O) OUT=$OPTARG ;;
	*) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || e2e_die "usage: boot.sh [opts] SCRIPT [X.ko]..."
SCRIPT=$1
shift
[ -r "$SCRIPT" ] || e2e_die "cannot read guest script $SCRIPT"
e2e_load_env

BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || e2e_die "busybox missing (run lib/setup.sh)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then e2e_die "$BUSYBOX is dynamically linked; need busybox-static"; fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/klpwrite-e2e-boot.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/initramfs
mkdir -p "$R"/bin "$R"/sbin "$R"/dev "$R"/proc "$R"/sys "$R"/tmp "$R"/e2e/ko "$R"/e2e/files
install -m755 "$BUSYBOX" "$R/bin/busybox"
for ko in "$@"; do
	[ -r "$ko" ] || e2e_die "cannot read module $ko"
	install -m644 "$ko" "$R/e2e/ko/"
done
for f in ${EXTRA[@]+"${EXTRA[@]}"}; do cp -a "$f" "$R/e2e/files/"; done
install -m644 "$E2E_LIB/guest-lib.sh" "$R/e2e/guest-lib.sh"
install -m644 "$SCRIPT" "$R/e2e/script.sh"

cat >"$R/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin HOME=/ TERM=dumb
mount -t proc none /proc
mount -t sysfs none /sys
mount -t devtmpfs none /dev 2>/dev/null
mount -t tmpfs none /tmp
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dmesg -c >/tmp/boot-dmesg.txt
[ -c /dev/ttyS1 ] && stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "E2E-GUEST: START $(uname -r)"
cd /e2e
sh -c '. /e2e/guest-lib.sh; . /e2e/script.sh; exit $E2E_FAILED' </dev/console
rc=$?
echo "E2E-GUEST: DMESG-BEGIN"
dmesg
echo "E2E-GUEST: DMESG-END"
echo "E2E-GUEST: TAINT $(cat /proc/sys/kernel/tainted)"
echo "E2E-GUEST: EXIT $rc"
sync
poweroff -f
INIT
chmod 755 "$R/init"
(cd "$R" && find . -print | cpio -o -H newc --quiet | gzip -1) >"$STAGE/initrd.gz"

APPEND="console=ttyS0 panic=-1 oops=panic quiet"
[ -n "$KARGS" ] && APPEND="$APPEND $KARGS"
CON=$STAGE/console.txt
SECOND=(-serial null)
[ -n "$OUT" ] && SECOND=(-serial "file:$STAGE/ttyS1.out")
e2e_log "boot $E2E_KREL: $(basename "$SCRIPT") $(for k in "$@"; do printf '%s ' "$(basename "$k")"; done)(limit ${LIMIT}s)"
t0=$(e2e_now)
# Under TCG on a loaded host the emulated 8254 timer can miss the IO-APIC
# check of early boot: the kernel panics "IO-APIC + timer doesn't work"
# (arch/x86/kernel/apic/io_apic.c check_timer) before init runs. Nothing of
# the scenario has run then, so the boot is simply tried again (twice).
for attempt in 1 2 3; do
	set +e
	timeout -k 5 "$LIMIT" "${E2E_QEMU:-qemu-system-x86_64}" \
		-accel "${E2E_ACCEL:-tcg}" -cpu max -smp 1 -m "$MEM" \
		-nodefaults -no-reboot -display none -monitor none -serial stdio "${SECOND[@]}" \
		-kernel "$E2E_VMLINUZ" -initrd "$STAGE/initrd.gz" -append "$APPEND" \
		</dev/null | tr -d '\r' | tee "$CON"
	qrc=${PIPESTATUS[0]}
	set -e
	if [ "$attempt" -lt 3 ] && ! grep -q '^E2E-GUEST: START' "$CON" &&
		grep -q "IO-APIC + timer doesn't work" "$CON"; then
		e2e_log "boot $E2E_KREL: early panic 'IO-APIC + timer doesn't work' (a TCG timing flake on a loaded host), before the guest script started: booting again"
		continue
	fi
	break
done
[ -n "$LOG" ] && cp "$CON" "$LOG"
[ -n "$OUT" ] && cp "$STAGE/ttyS1.out" "$OUT"
rc=$(sed -n 's/^E2E-GUEST: EXIT \([0-9][0-9]*\)$/\1/p' "$CON" | tail -n1)
if [ -z "$rc" ]; then
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then rc=124; else rc=125; fi
fi
e2e_log "guest finished: rc=$rc (qemu rc=$qrc) in $(e2e_since "$t0")s"
exit "$rc"
