# shellcheck shell=sh
# Scenario 3 on 6.12: fs/namespace.c m_show, the 2nd of two m_show in vmlinux
# (the 1st is kernel/module/procfs.c's, /proc/modules).  mm/vmalloc.c's
# s_show of 6.1 is vmalloc_info_show on 6.12, a unique name.
LP=klpw_s3; LPD=/sys/kernel/livepatch/$LP
is  m_show_count "$(kallsyms_count m_show)" 2
is  unpatched "$(grep -c '^# klpwrite-e2e m_show,2$' /proc/mounts)" 0
modules_before=$(wc -l </proc/modules)
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
runs sysfs_sympos2 test -d $LPD/vmlinux/m_show,2
like patched "$(grep -c '^# klpwrite-e2e m_show,2$' /proc/mounts)" '^[1-9]'
is  patched_mountinfo_too "$(grep -c '^# klpwrite-e2e m_show,2$' /proc/self/mountinfo)" \
	"$(grep -vc '^#' /proc/self/mountinfo)"
# the 1st m_show (/proc/modules) is untouched: one more line, our module
is  other_m_show_untouched "$(grep -c 'klpwrite-e2e' /proc/modules)" 0
is  other_m_show_lines "$(wc -l </proc/modules)" "$((modules_before + 1))"
runs disable klp_disable $LP
is  restored "$(grep -c '^# klpwrite-e2e m_show,2$' /proc/mounts)" 0
runs rmmod rmmod $LP
done_checks
