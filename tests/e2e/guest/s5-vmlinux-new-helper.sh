# shellcheck shell=sh
# Scenario 5: version_proc_show calls the new function version_proc_note.
LP=klpw_s5; LPD=/sys/kernel/livepatch/$LP
rel=$(uname -r)
is  one_line "$(wc -l </proc/version)" 1
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
is  two_lines "$(wc -l </proc/version)" 2
is  helper_line "$(sed -n 2p /proc/version)" "klpwrite-e2e: $rel carries a livepatch"
runs helper_in_patch grep -q " version_proc_note	\[$LP\]" /proc/kallsyms
runs disable klp_disable $LP
is  restored "$(wc -l </proc/version)" 1
runs rmmod rmmod $LP
done_checks
