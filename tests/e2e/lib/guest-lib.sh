# shellcheck shell=sh disable=SC2034
# guest-lib.sh - helpers for e2e guest scripts (busybox sh, sourced by /init
# before the scenario script).  Every check prints exactly one line
#     CHECK: <name> PASS|FAIL [detail]
# and the guest script's exit status is the number of FAILs unless it exits
# by itself.  Modules are in $E2E_KO, extra files in $E2E_FILES.

E2E_KO=/e2e/ko
E2E_FILES=/e2e/files
E2E_OUT=/dev/ttyS1        # bulk data to the host (boot.sh -O FILE)
E2E_FAILED=0
E2E_CHECKS=0

# ok NAME [DETAIL] / bad NAME [DETAIL]
ok()  { E2E_CHECKS=$((E2E_CHECKS + 1)); echo "CHECK: $1 PASS ${2:-}"; }
bad() { E2E_CHECKS=$((E2E_CHECKS + 1)); E2E_FAILED=$((E2E_FAILED + 1)); echo "CHECK: $1 FAIL ${2:-}"; }

# is NAME ACTUAL WANT - string equality
is() {
	if [ "$2" = "$3" ]; then ok "$1" "'$2'"; else bad "$1" "got '$2', want '$3'"; fi
}

# like NAME TEXT ERE - TEXT matches the extended regex
like() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1" "/$3/"
	else bad "$1" "'$2' does not match /$3/"; fi
}

# runs NAME CMD... - the command succeeds
runs() {
	_n=$1; shift
	if _o=$("$@" 2>&1); then ok "$_n" "$*"; else bad "$_n" "'$*' failed: $_o"; fi
}

# fails NAME CMD... - the command fails (e.g. a refused insmod)
fails() {
	_n=$1; shift
	if _o=$("$@" 2>&1); then bad "$_n" "'$*' unexpectedly succeeded"; else ok "$_n" "refused: $_o"; fi
}

# load NAME X.ko [PARAMS] - insmod a module from $E2E_KO (or an absolute path)
load() {
	_n=$1; _k=$2; shift 2
	case $_k in /*) ;; *) _k=$E2E_KO/$_k ;; esac
	if _o=$(insmod "$_k" "$@" 2>&1); then ok "$_n" "insmod $_k"; return 0; fi
	bad "$_n" "insmod $_k: $_o"
	return 1
}

# klp_settle PATCH [SECS] - wait until /sys/kernel/livepatch/PATCH has no
# transition in progress (or is gone after a disable).  0 = settled.
klp_settle() {
	_d=/sys/kernel/livepatch/$1; _s=${2:-60}
	while [ "$_s" -gt 0 ]; do
		[ -d "$_d" ] || return 0
		[ "$(cat "$_d/transition" 2>/dev/null)" = 0 ] && return 0
		sleep 1; _s=$((_s - 1))
	done
	return 1
}

# klp_disable PATCH - write 0 to enabled and wait for the unpatch transition
klp_disable() {
	echo 0 >"/sys/kernel/livepatch/$1/enabled" && klp_settle "$1" 60
}

# kallsyms_count NAME [MOD] - how many local/global text symbols are called
# NAME (in MOD, or in vmlinux when MOD is empty)
kallsyms_count() {
	if [ -n "${2:-}" ]; then grep -c " [tT] $1	\[$2\]\$" /proc/kallsyms
	else grep -c " [tT] $1\$" /proc/kallsyms; fi
}

# taint - current taint mask (decimal)
taint() { cat /proc/sys/kernel/tainted; }

# done_checks - summary line; returns the number of failures
done_checks() {
	echo "E2E-GUEST: CHECKS $E2E_CHECKS FAILED $E2E_FAILED"
	return "$E2E_FAILED"
}
