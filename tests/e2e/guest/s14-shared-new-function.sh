# shellcheck shell=sh
# Scenario 14 (class C12): one patch of two objects of klpw_target, built
# into one module: klpw_aux.c gains a new global function klpw_shared_note,
# and klpw_main.c's klpw_message (changed) calls it.  The call must reach
# the copy in the livepatch module.
LP=klpw_s14; LPD=/sys/kernel/livepatch/$LP
tgt() { sed -n "s/^$1: //p" /proc/klpw_target; }
load target klpw_target.ko || { done_checks; exit 1; }
is  message_orig "$(tgt message)" "hello from klpw_target"
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
runs sysfs_func test -d $LPD/klpw_target/klpw_message,1
is  message_from_shared_function "$(tgt message)" "hello from klpw_aux, shared new function"
is  new_function_in_patch "$(kallsyms_count klpw_shared_note $LP)" 1
is  value_unchanged "$(tgt value)" 42
runs disable klp_disable $LP
is  message_restored "$(tgt message)" "hello from klpw_target"
runs rmmod rmmod $LP
runs rmmod_target rmmod klpw_target
done_checks
