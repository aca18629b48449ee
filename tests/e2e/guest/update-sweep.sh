# shellcheck shell=sh
# update-sweep.sh (guest) - the guest side of tests/e2e/update-sweep.sh.
#
# $E2E_FILES/plan.txt, one module a line:
#     IDX PATCH TARGETS
#   IDX      the host's row number
#   PATCH    livepatch module name (PATCH.ko in $E2E_KO)
#   TARGETS  comma-separated .ko names (without .ko) to insmod first, in
#            order (the patched module last, its dependencies before it), or -
# $E2E_FILES/mode is "each" (every line on its own: load the targets, insmod,
# transition, workload, disable, rmmod, unload the targets) or "all" (load
# every target, then the one cumulative patch of the first line, workload,
# disable, rmmod).  $E2E_FILES/base.txt: modules the workload needs (loop,
# ext4 and their dependencies), loaded once at the start.
# Output per line:
#     SWEEP: BEGIN IDX
#     SWEEP: TARGET IDX <loaded|failed: msg>
#     SWEEP: PATCH IDX                 (right before the patch's insmod)
#     SWEEP: RESULT IDX ok|fail <stage> <detail>
#     SWEEP: TIME IDX <seconds>
# The kernel log is read and cleared around each line: a WARNING, BUG, Oops,
# "Call Trace" or a new taint bit outside O|E|K while the patch is in is a
# failure; the target module's own log lines (before the patch) are only shown.
BAD='WARNING:|BUG:|Oops|general protection fault|Call Trace:|Kernel panic|livepatch: .*(failed|error)'
ALLOWED_TAINT=$((4096 | 8192 | 32768))

up() { cut -d' ' -f1 /proc/uptime; }
ins() {   # ins NAME - insmod $E2E_KO/NAME.ko unless loaded; "" or the error
	grep -q "^$(echo "$1" | tr - _) " /proc/modules && return 0
	insmod "$E2E_KO/$1.ko" 2>&1 | head -n 1
}
LIMIT=60   # seconds a transition may take; the cumulative patch: 300
settle() {   # settle PATCH [WHAT] - poll the transition every 50 ms, up to $LIMIT s (uptime)
	_s0=$(up)
	while :; do
		if [ ! -d "/sys/kernel/livepatch/$1" ] || [ "$(cat "/sys/kernel/livepatch/$1/transition" 2>/dev/null)" = 0 ]; then
			if [ -n "${2:-}" ]; then
				_st=$(awk -v a="$_s0" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }')
				echo "SWEEP: SETTLE $2 $_st"
				# a slow one: who held it (the core's pr_debug lines)
				awk -v t="$_st" 'BEGIN { exit !(t > 10) }' && echo "SWEEP: SLOW $2 $(stuck)"
			fi
			return 0
		fi
		awk -v a="$_s0" -v b="$(up)" -v l="$LIMIT" 'BEGIN { exit !(b - a > l) }' && return 1
		usleep 50000
	done
}
# stuck - after a transition that did not finish: the tasks that held it,
# from the livepatch core's own pr_debug lines (kernel/livepatch/transition.c
# klp_try_switch_task: "<comm>:<pid> is sleeping on function <f>", "is
# running", "has an unreliable stack"), enabled below; one line, unique
stuck() {
	_sig=$(dmesg | grep -c 'livepatch: signaling remaining tasks')
	echo "fake signals sent: $_sig; blocking (retries seen):"
	dmesg | sed -n 's/.*klp_try_switch_task: //p' | sort | uniq -c | sort -rn | head -n 4 |
		awk '{ n = $1; $1 = ""; printf "%s (%d);", $0, n }' | cut -c1-300
}
# the transition's pr_debug lines (CONFIG_DYNAMIC_DEBUG); they are not
# failures: the BAD filter below drops them
echo 'file kernel/livepatch/transition.c +p' >/proc/dynamic_debug/control 2>/dev/null || true
DBG='klp_try_switch_task:|klp_try_complete_transition:|klp_complete_transition:|klp_start_transition:|klp_init_transition:|klp_reverse_transition:|klp_send_signals:'

# workload - procfs/sysfs reads, fork/exec, tmpfs and ext4 file I/O,
# loopback ICMP and TCP; prints the first thing that went wrong, if any
workload() {
	for f in cpuinfo meminfo stat vmstat zoneinfo slabinfo interrupts modules mounts \
		self/status self/maps self/smaps self/limits self/stack net/dev net/tcp net/udp \
		net/unix net/netlink sys/kernel/tainted; do
		cat "/proc/$f" >/dev/null 2>&1
	done
	cat /sys/kernel/mm/transparent_hugepage/enabled /sys/class/net/lo/statistics/* \
		/sys/block/loop0/stat /sys/devices/system/cpu/cpu0/topology/* >/dev/null 2>&1
	ls -R /sys/kernel/livepatch /sys/module/livepatch >/dev/null 2>&1
	_i=0
	while [ $_i -lt 8 ]; do
		[ "$(sh -c 'echo $((6 * 7))')" = 42 ] || { echo "fork/exec: sh -c gave a wrong answer"; return; }
		/bin/true || { echo "fork/exec: true failed"; return; }
		_i=$((_i + 1))
	done
	for d in /tmp /mnt/ext4; do
		[ -d "$d" ] || continue
		dd if=/dev/urandom of="$d/w" bs=4096 count=32 2>/dev/null || { echo "write $d failed"; return; }
		_a=$(md5sum <"$d/w")
		cp "$d/w" "$d/w2" && sync
		mkdir -p "$d/dir/sub" && mv "$d/w2" "$d/dir/sub/w3" && ln -s sub/w3 "$d/dir/l"
		[ "$(md5sum <"$d/dir/l")" = "$_a" ] || { echo "file I/O on $d: content differs"; return; }
		rm -rf "$d/w" "$d/dir" || { echo "rm on $d failed"; return; }
	done
	if [ -d /mnt/ext4 ]; then
		echo 3 >/proc/sys/vm/drop_caches
		[ "$(cat /mnt/ext4/keep)" = "klpwrite" ] || { echo "ext4 re-read failed"; return; }
	fi
	ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1 || { echo "ping 127.0.0.1 failed"; return; }
	# TCP: up to 3 tries, each connecting only once the listener is in
	# LISTEN (port 5555 = 15B3 in /proc/net/tcp or tcp6: busybox nc listens on
	# :: ; TCG on a busy host is slow)
	_try=0 _got=""
	while [ $_try -lt 3 ] && [ "$_got" != "hello over tcp" ]; do
		rm -f /tmp/nc.out
		nc -l -p 5555 >/tmp/nc.out 2>/dev/null &
		_p=$!
		_i=0
		while [ $_i -lt 40 ] && ! grep -q ':15B3 0*:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null; do usleep 50000; _i=$((_i + 1)); done
		echo "hello over tcp" | nc 127.0.0.1 5555 2>/dev/null
		_i=0
		while [ $_i -lt 40 ] && [ ! -s /tmp/nc.out ]; do usleep 50000; _i=$((_i + 1)); done
		kill "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
		_got=$(cat /tmp/nc.out 2>/dev/null)
		_try=$((_try + 1))
	done
	[ "$_got" = "hello over tcp" ] || { echo "tcp over loopback failed 3 times: '$_got'"; return; }
}

# ---- base: loopback, the ext4 image, and a first workload without any patch
ip link set lo up
for m in $(cat "$E2E_FILES/base.txt" 2>/dev/null); do ins "$m" >/dev/null; done
mkdir -p /mnt/ext4
if [ -e "$E2E_FILES/ext4.img" ] && losetup /dev/loop0 "$E2E_FILES/ext4.img" 2>/dev/null &&
	mount -t ext4 /dev/loop0 /mnt/ext4; then
	echo klpwrite >/mnt/ext4/keep
	ok base/ext4
else
	rmdir /mnt/ext4
	bad base/ext4 "$(dmesg | tail -n 3 | tr '\n' ' ')"
fi
w=$(workload)
if [ -z "$w" ]; then ok base/workload; else bad base/workload "$w"; fi
dmesg -c >/dev/null

mode=$(cat "$E2E_FILES/mode")
one() {   # one IDX PATCH TARGETS
	_idx=$1 _p=$2 _t=$3 _t0=$(up) _mine=""
	echo "SWEEP: BEGIN $_idx"
	_taint0=$(cat /proc/sys/kernel/tainted)
	if [ "$_t" != - ]; then
		_err=""
		for m in $(echo "$_t" | tr , ' '); do
			grep -q "^$(echo "$m" | tr - _) " /proc/modules && continue
			_e=$(ins "$m")
			if [ -n "$_e" ]; then _err="$m: $_e"; else _mine="$m $_mine"; fi
		done
		if [ -z "$_err" ]; then echo "SWEEP: TARGET $_idx loaded"
		else echo "SWEEP: TARGET $_idx failed: $_err"; fi
		_tl=$(dmesg -c | grep -vE "$DBG" | grep -E "$BAD" | head -n 1)
		[ -n "$_tl" ] && echo "SWEEP: TARGETLOG $_idx $_tl"
		_taint0=$(cat /proc/sys/kernel/tainted)
	fi
	_r=""
	echo "SWEEP: PATCH $_idx"
	if ! _e=$(insmod "$E2E_KO/$_p.ko" 2>&1); then _r="insmod $(echo "$_e" | head -n 1)"
	elif ! settle "$_p" "$_idx enable"; then _r="transition did not finish (enable): $(stuck)"
	elif [ "$(cat "/sys/kernel/livepatch/$_p/enabled" 2>/dev/null)" != 1 ]; then _r="not enabled after insmod"
	else
		_w=$(workload)
		# the log so far, judged below; cleared so that the disable's
		# transition lines are its own
		_log0=$(dmesg -c | grep -vE "$DBG" | grep -E "$BAD" | head -n 1)
		if [ -n "$_w" ]; then _r="workload $_w"
		elif ! echo 0 >"/sys/kernel/livepatch/$_p/enabled"; then _r="disable: write failed"
		elif ! settle "$_p" "$_idx disable"; then _r="transition did not finish (disable): $(stuck)"
		elif ! _e=$(rmmod "$_p" 2>&1); then _r="rmmod $_e"
		fi
	fi
	# after a failure, still take the patch out, or a target module unloaded
	# below could not load again while the patch holds its relocations
	if [ -n "$_r" ] && grep -q "^$_p " /proc/modules; then
		[ -d "/sys/kernel/livepatch/$_p" ] && echo 0 >"/sys/kernel/livepatch/$_p/enabled" 2>/dev/null
		settle "$_p"
		rmmod "$_p" >/dev/null 2>&1
	fi
	for m in $_mine; do rmmod "$m" >/dev/null 2>&1; done
	_log=$(dmesg -c | grep -vE "$DBG" | grep -E "$BAD" | head -n 1)
	_log=${_log0:-$_log} _log0=""
	_taint=$(cat /proc/sys/kernel/tainted)
	_new=$((_taint & ~_taint0 & ~ALLOWED_TAINT))
	if [ -z "$_r" ] && [ -n "$_log" ]; then _r="dmesg $_log"; fi
	if [ -z "$_r" ] && [ "$_new" != 0 ]; then _r="taint $_taint0 -> $_taint"; fi
	if [ -z "$_r" ]; then echo "SWEEP: RESULT $_idx ok"; else echo "SWEEP: RESULT $_idx fail $_r"; fi
	echo "SWEEP: TIME $_idx $(awk -v a="$_t0" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }')"
}

if [ "$mode" = each ]; then
	while read -r idx p t; do
		[ -n "$idx" ] && one "$idx" "$p" "$t"
	done <"$E2E_FILES/plan.txt"
else
	# cumulative: every target first, then the one replace patch
	all=$(awk '{ print $3 }' "$E2E_FILES/plan.txt" | tr , '\n' | grep -v '^-$' | awk '!s[$0]++' | tr '\n' ,)
	read -r idx p _ <"$E2E_FILES/plan.txt"
	# hundreds of objects under TCG: each retry of the transition checks
	# every task's stack against every function (transition.c
	# klp_try_complete_transition, once a second); user tasks asleep in a
	# patched function switch only after the core's fake signal, sent every
	# SIGNALS_TIMEOUT (15) retries
	LIMIT=300
	one "$idx" "$p" "${all:--}"
fi
done_checks
