# shellcheck shell=sh
# Scenario 1: vmlinux cmdline_proc_show, patched by a klpwrite-built module.
LP=klpw_s1; LPD=/sys/kernel/livepatch/$LP
orig=$(cat /proc/cmdline)
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
is  enabled "$(cat $LPD/enabled)" 1
runs sysfs_func test -d $LPD/vmlinux/cmdline_proc_show,1
is  cmdline_patched "$(cat /proc/cmdline)" "klpwrite-e2e: cmdline patched"
runs disable klp_disable $LP
is  cmdline_restored "$(cat /proc/cmdline)" "$orig"
runs rmmod rmmod $LP
is  cmdline_after_rmmod "$(cat /proc/cmdline)" "$orig"
done_checks
