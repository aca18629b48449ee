# shellcheck shell=sh
# Scenario 6: comm_write with a jump label (cpusets_enabled_key, a klp
# relocation), alternatives (static_cpu_has, stac/clac), an exception table
# entry (unsafe_get_user) and a WARN_ON (__bug_table). Scenario 15 runs this
# script for klpw_s15 (LP from the environment, see run.sh).
LP=${LP:-klpw_s6}; LPD=/sys/kernel/livepatch/$LP
P=$E2E_FILES/uaccess-probe
comm() { od -An -c /proc/$$/comm | tr -s ' '; }
echo ab >/proc/$$/comm
is  orig_keeps_newline "$(comm)" ' a b \n \n'
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
echo cd >/proc/$$/comm
is  newline_dropped "$(comm)" ' c d \n'
is  no_message_without_cpusets "$(dmesg | grep -c 'comm_write: pid')" 0
is  fault_is_efault "$($P fault /proc/self/comm)" errno=EFAULT
is  big_is_einval "$($P big /proc/self/comm 8192)" errno=EINVAL
is  one_warning "$(dmesg | grep -c 'WARNING: .* comm_write')" 1
mkdir -p /sys/fs/cgroup
runs cgroup2 mount -t cgroup2 none /sys/fs/cgroup
runs cpuset_enable sh -c 'echo +cpuset >/sys/fs/cgroup/cgroup.subtree_control'
runs cpuset_child mkdir /sys/fs/cgroup/e2e
echo ef >/proc/$$/comm
like jump_label_on "$(dmesg | grep 'comm_write: pid')" "renamed to 'ef' \(virtual machine\)"
# And back: the last cpuset goes away, cpuset_dec() disables the key and
# the site becomes the NOP again (__jump_label_patch() expects the jump it
# wrote; the compiler's jmp left in place would have BUG()ed on the way in).
runs cpuset_child_gone rmdir /sys/fs/cgroup/e2e
i=0
while [ "$i" -lt 20 ] && ! grep -q '^nr_dying_descendants 0$' /sys/fs/cgroup/cgroup.stat; do
	sleep 1; i=$((i + 1))
done
echo ij >/proc/$$/comm
is  jump_label_off "$(dmesg | grep -c "renamed to 'ij'")" 0
is  renamed_while_off "$(comm)" ' i j \n'
runs disable klp_disable $LP
echo gh >/proc/$$/comm
is  restored_keeps_newline "$(comm)" ' g h \n \n'
runs rmmod rmmod $LP
done_checks
