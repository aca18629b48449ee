# shellcheck shell=sh
# Scenario 9: the kbuild form. klpw_s9 was linked by kbuild from the
# shipped s1.o (cmdline_proc_show), s6.o (comm_write, vmlinux klp
# relocations) and s4.o (klpw_target, a module klp relocation) plus the
# generated C stub, then post-linked. klpw_s9_unlinked.ko is the same
# module before post-link: its init must refuse.
LP=klpw_s9; LPD=/sys/kernel/livepatch/$LP
tgt() { sed -n "s/^$1: //p" /proc/klpw_target; }
comm() { od -An -c /proc/$$/comm | tr -s ' '; }
orig=$(cat /proc/cmdline)
load target klpw_target.ko || { done_checks; exit 1; }
fails unlinked_refused insmod $E2E_KO/${LP}_unlinked.ko
like unlinked_message "$(dmesg)" "$LP: the klp relocations are missing"
runs unlinked_not_patched test ! -e $LPD
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
is  enabled "$(cat $LPD/enabled)" 1
runs sysfs_funcs test -d $LPD/vmlinux/cmdline_proc_show,1 -a -d $LPD/vmlinux/comm_write,1 \
	-a -d $LPD/klpw_target/klpw_value,1
is  cmdline_patched "$(cat /proc/cmdline)" "klpwrite-e2e: cmdline patched"
echo cd >/proc/$$/comm
is  comm_newline_dropped "$(comm)" ' c d \n'
# every read of /proc/klpw_target calls klpw_value once (as in scenario 4)
is  value_new_static "$(tgt value)" 1042
is  value_new_static_keeps_state "$(tgt value)" 1043
is  message_patched "$(tgt message)" "hello from klpw_target, livepatched"
echo 50 >/sys/module/klpw_target/parameters/klpw_base
is  value_uses_existing_klpw_base "$(tgt value)" 1055
runs disable klp_disable $LP
is  cmdline_restored "$(cat /proc/cmdline)" "$orig"
echo gh >/proc/$$/comm
is  comm_restored "$(comm)" ' g h \n \n'
is  message_restored "$(tgt message)" "hello from klpw_target"
is  value_restored "$(tgt value)" 52
runs rmmod rmmod $LP
is  cmdline_after_rmmod "$(cat /proc/cmdline)" "$orig"
runs rmmod_target rmmod klpw_target
done_checks
