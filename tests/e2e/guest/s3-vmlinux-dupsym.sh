# shellcheck shell=sh
# Scenario 3: mm/vmalloc.c s_show, the 4th of four s_show in vmlinux.
LP=klpw_s3; LPD=/sys/kernel/livepatch/$LP
is  s_show_count "$(kallsyms_count s_show)" 4
is  unpatched "$(grep -c ' vmalloc order=' /proc/vmallocinfo)" 0
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
runs sysfs_sympos4 test -d $LPD/vmlinux/s_show,4
like patched "$(grep -c ' vmalloc order=' /proc/vmallocinfo)" '^[1-9]'
like other_s_show_untouched "$(grep -c ' [tT] s_show$' /proc/kallsyms)" '^4$'
runs disable klp_disable $LP
is  restored "$(grep -c ' vmalloc order=' /proc/vmallocinfo)" 0
runs rmmod rmmod $LP
done_checks
