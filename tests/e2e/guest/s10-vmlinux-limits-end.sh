# shellcheck shell=sh
# Scenario 10 (class A1, end of object): proc_pid_limits walks the kernel's
# own lnames[] with an end pointer, lnames + ARRAY_SIZE(lnames), one past the
# table.  Both the start and the end must be the kernel's lnames: an end in
# a copy of the table makes the loop run off into other memory.
LP=klpw_s10; LPD=/sys/kernel/livepatch/$LP
HDR='Limit (klpwrite-e2e)      Soft Limit           Hard Limit           Units     '
orig=$(cat /proc/self/limits)
rows() { printf '%s\n' "$1" | sed 1d; }
is  orig_lines "$(printf '%s\n' "$orig" | wc -l)" 17
like orig_header "$(printf '%s\n' "$orig" | head -n1)" '^Limit +Soft Limit'
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
runs sysfs_func test -d $LPD/vmlinux/proc_pid_limits,1
new=$(cat /proc/self/limits)
is  patched_header "$(printf '%s\n' "$new" | head -n1)" "$HDR"
is  patched_lines "$(printf '%s\n' "$new" | wc -l)" 17
like patched_first_row "$(rows "$new" | head -n1)" '^Max cpu time '
like patched_last_row "$(rows "$new" | tail -n1)" '^Max realtime timeout '
is  patched_rows_same "$(rows "$new")" "$(rows "$orig")"
is  patched_twice "$(cat /proc/self/limits)" "$new"
runs disable klp_disable $LP
is  restored "$(cat /proc/self/limits)" "$orig"
runs rmmod rmmod $LP
is  after_rmmod "$(cat /proc/self/limits)" "$orig"
done_checks
