# shellcheck shell=sh
# Scenario 8: klpw_s8 (callbacks, --replace) atomically replaces klpw_s1.
A=klpw_s1; B=klpw_s8
orig=$(cat /proc/cmdline)
load insmod_a $A.ko || { done_checks; exit 1; }
runs transition_a klp_settle $A 60
is  cmdline_a "$(cat /proc/cmdline)" "klpwrite-e2e: cmdline patched"
load insmod_b $B.ko || { done_checks; exit 1; }
runs transition_b klp_settle $B 60
like pre_patch_callback "$(dmesg)" 'klpwrite-e2e: pre_patch callback'
is  cmdline_b "$(cat /proc/cmdline)" "klpwrite-e2e: cmdline v2"
runs a_replaced test ! -e /sys/kernel/livepatch/$A
is  b_replace_flag "$(cat /sys/kernel/livepatch/$B/enabled)" 1
runs rmmod_a rmmod $A
runs disable_b klp_disable $B
like post_unpatch_callback "$(dmesg)" 'klpwrite-e2e: post_unpatch callback'
is  cmdline_restored "$(cat /proc/cmdline)" "$orig"
runs rmmod_b rmmod $B
done_checks
