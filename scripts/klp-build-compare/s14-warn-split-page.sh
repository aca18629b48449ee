# shellcheck shell=sh
# klp-build comparison, scenario 14: split_page() of mm/page_alloc.c gains a
# WARN_ON_ONCE (a new __bug_table entry, every later __LINE__ of the file
# moves). Nothing in the guest splits a tail page: the check is that the
# patch applies, replaces split_page only, warns about nothing and goes away.
LP=klpw_s14; LPD=/sys/kernel/livepatch/$LP
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
is  enabled "$(cat $LPD/enabled)" 1
runs sysfs_func test -d $LPD/vmlinux/split_page,1
is  one_func "$(ls -d $LPD/vmlinux/*,* | wc -l)" 1
is  no_warning "$(dmesg | grep -c 'WARNING:')" 0
runs disable klp_disable $LP
runs rmmod rmmod $LP
done_checks
