# shellcheck shell=sh
# Scenario 2: klpw_target's second static state_show (old_sympos 2), with
# the target loaded before the patch, then loaded after it.
LP=klpw_s2; LPD=/sys/kernel/livepatch/$LP
tgt() { sed -n "s/^$1: //p" /proc/klpw_target; }
load target klpw_target.ko || { done_checks; exit 1; }
is  aux_orig "$(tgt aux_state)" "aux:orig"
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
runs sysfs_sympos2 test -d $LPD/klpw_target/state_show,2
is  aux_patched "$(tgt aux_state)" "aux:patched"
is  main_untouched "$(tgt main_state)" "main:orig"
runs disable klp_disable $LP
is  aux_restored "$(tgt aux_state)" "aux:orig"
runs rmmod rmmod $LP
runs rmmod_target rmmod klpw_target
# the target arrives after the patch: applied by the module notifier
load late_insmod $LP.ko || { done_checks; exit 1; }
runs late_transition klp_settle $LP 60
is  late_object_unpatched "$(cat $LPD/klpw_target/patched 2>/dev/null || echo absent)" 0
load late_target klpw_target.ko || { done_checks; exit 1; }
is  late_object_patched "$(cat $LPD/klpw_target/patched)" 1
is  late_aux_patched "$(tgt aux_state)" "aux:patched"
is  late_main_untouched "$(tgt main_state)" "main:orig"
runs late_disable klp_disable $LP
is  late_aux_restored "$(tgt aux_state)" "aux:orig"
runs late_rmmod rmmod $LP
runs late_rmmod_target rmmod klpw_target
done_checks
