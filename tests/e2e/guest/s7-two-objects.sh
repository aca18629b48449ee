# shellcheck shell=sh
# Scenario 7: one livepatch module patching vmlinux and klpw_target.
LP=klpw_s7; LPD=/sys/kernel/livepatch/$LP
tgt() { sed -n "s/^$1: //p" /proc/klpw_target; }
orig=$(cat /proc/cmdline)
load target klpw_target.ko || { done_checks; exit 1; }
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
runs sysfs_objects test -d $LPD/vmlinux -a -d $LPD/klpw_target
is  cmdline_patched "$(cat /proc/cmdline)" "klpwrite-e2e: cmdline patched"
is  aux_patched "$(tgt aux_state)" "aux:patched"
runs disable klp_disable $LP
is  cmdline_restored "$(cat /proc/cmdline)" "$orig"
is  aux_restored "$(tgt aux_state)" "aux:orig"
runs rmmod rmmod $LP
runs rmmod_target rmmod klpw_target
done_checks
