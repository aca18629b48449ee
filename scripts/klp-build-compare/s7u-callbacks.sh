# shellcheck shell=sh
# klp-build comparison, scenario 07u: cmdline_proc_show replaced, with a
# pre-patch and a post-unpatch callback marked in the source with upstream's
# KLP_PRE_PATCH_CALLBACK / KLP_POST_UNPATCH_CALLBACK
# (include/linux/livepatch_helpers.h), which klp-build and klpwrite both read.
LP=klpw_s7u; LPD=/sys/kernel/livepatch/$LP
orig=$(cat /proc/cmdline)
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
is  cmdline_patched "$(cat /proc/cmdline)" "klpwrite-e2e: cmdline v2"
is  pre_patch_ran "$(dmesg | grep -c 'klpwrite-e2e: pre_patch callback')" 1
is  post_unpatch_not_yet "$(dmesg | grep -c 'klpwrite-e2e: post_unpatch callback')" 0
runs disable klp_disable $LP
is  cmdline_restored "$(cat /proc/cmdline)" "$orig"
is  post_unpatch_ran "$(dmesg | grep -c 'klpwrite-e2e: post_unpatch callback')" 1
runs rmmod rmmod $LP
done_checks
