# shellcheck shell=sh
# Scenario 4: a changed string literal, a new initialised static with state,
# and the module's existing klpw_base reached through a klp relocation.
LP=klpw_s4; LPD=/sys/kernel/livepatch/$LP
tgt() { sed -n "s/^$1: //p" /proc/klpw_target; }
load target klpw_target.ko || { done_checks; exit 1; }
is  message_orig "$(tgt message)" "hello from klpw_target"
is  value_orig "$(tgt value)" 42
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
# every read of /proc/klpw_target calls klpw_value once: bonus 1000, 1001, ...
is  value_new_static "$(tgt value)" 1042
is  value_new_static_keeps_state "$(tgt value)" 1043
is  message_patched "$(tgt message)" "hello from klpw_target, livepatched"
echo 50 >/sys/module/klpw_target/parameters/klpw_base
is  value_uses_existing_klpw_base "$(tgt value)" 1055
runs disable klp_disable $LP
is  message_restored "$(tgt message)" "hello from klpw_target"
is  value_restored "$(tgt value)" 52
runs rmmod rmmod $LP
runs rmmod_target rmmod klpw_target
done_checks
