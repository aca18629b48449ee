# shellcheck shell=sh
# Scenario 12 (classes A2/A3): klpw_ticks_show's function-scope static count
# keeps counting across the transition, while the same patch adds another
# static "count" (klpw_extra_ticks) that GCC numbers first, so the existing
# one is count.12 before the patch and count.13 after it (run.sh checks the
# numbering on the objects).  The patched code must use the module's count
# (continue 3, 4, ...) and a fresh one for the new function (1, 2, ...).
LP=klpw_s12; LPD=/sys/kernel/livepatch/$LP
field() { printf '%s\n' "$2" | sed -n "s/^$1: //p"; }
load target klpw_target.ko || { done_checks; exit 1; }
is  ticks_1 "$(field ticks "$(cat /proc/klpw_target)")" 1
is  ticks_2 "$(field ticks "$(cat /proc/klpw_target)")" 2
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
out=$(cat /proc/klpw_target)
is  ticks_continue_3 "$(field ticks "$out")" "3 patched"
is  extra_new_static_1 "$(field extra "$out")" 1
out=$(cat /proc/klpw_target)
is  ticks_continue_4 "$(field ticks "$out")" "4 patched"
is  extra_new_static_2 "$(field extra "$out")" 2
runs disable klp_disable $LP
out=$(cat /proc/klpw_target)
is  ticks_restored_5 "$(field ticks "$out")" 5
is  extra_gone "$(field extra "$out")" ""
runs rmmod rmmod $LP
is  ticks_after_rmmod_6 "$(field ticks "$(cat /proc/klpw_target)")" 6
runs rmmod_target rmmod klpw_target
done_checks
