# shellcheck shell=sh disable=SC2034
# smoke.sh - guest side of run.sh's SMOKE scenario (busybox sh, guest-lib.sh
# already sourced).  Needs klpw_target.ko and klpw_smoke.ko.
#
# Walks one livepatch through its life: target loaded and unpatched ->
# livepatch enabled -> disabled -> removed, checking what /proc shows at
# every step, for vmlinux and for the module, including old_sympos 4 in
# vmlinux (s_show of mm/vmalloc.c) and old_sympos 2 in the module.
# On 6.12 (vmalloc_info_show, a unique name, replaced s_show in mm/vmalloc.c)
# the vmlinux duplicate is fs/namespace.c's m_show, 2nd of 2 (/proc/mounts),
# as in livepatch/klpw_smoke and scenario 3.

LP=klpw_smoke
LPD=/sys/kernel/livepatch/$LP
CMDLINE_MARK="klpw_smoke: cmdline livepatched"
if [ "$(kallsyms_count vmalloc_info_show)" = 1 ]; then
	# DUP DUP_N DUP_POS: the duplicate name, its count, our copy's position;
	# DUP_NEXT: a symbol right after our copy; DUP_FILE shows DUP_MARK
	DUP=m_show DUP_N=2 DUP_POS=2 DUP_NEXT=lock_mnt_tree DUP_FILE=/proc/mounts
	DUP_MARK="# klpw_smoke: mounts livepatched"
else
	DUP=s_show DUP_N=4 DUP_POS=4 DUP_NEXT=s_next DUP_FILE=/proc/vmallocinfo
	DUP_MARK="klpw_smoke: vmallocinfo livepatched"
fi

tgt() { sed -n "s/^$1: //p" /proc/klpw_target; }     # tgt FIELD
vmalloc_marks() { grep -c "^$DUP_MARK\$" $DUP_FILE; }

orig_cmdline=$(cat /proc/cmdline)

# ---- 0: what the kernel looks like before any patch ------------------------
is  vmlinux_${DUP}_count "$(kallsyms_count $DUP)" $DUP_N
n=0; pos=0
for a in $(grep " [tT] $DUP\$" /proc/kallsyms | cut -d' ' -f1); do
	n=$((n + 1))
	# 6.1: the vmalloc.c copy is the one followed by vmalloc.c's s_next/s_start
	# 6.12: the fs/namespace.c copy is followed by lock_mnt_tree (with
	# __pfx_ symbols in between), kernel/module/procfs.c's by m_next
	grep -A2 "^$a [tT] $DUP\$" /proc/kallsyms | grep -q " $DUP_NEXT\$" && pos=$n
done
is  vmlinux_${DUP}_ours_is_sympos$DUP_POS "$pos" $DUP_POS
is  vmallocinfo_unpatched "$(vmalloc_marks)" 0
if [ $DUP = s_show ]; then
	like vmallocinfo_has_areas "$(head -n1 /proc/vmallocinfo)" '^0x'
else
	like mounts_has_root "$(head -n1 /proc/mounts)" ' / '
fi

load target_insmod klpw_target.ko || { done_checks; exit 1; }
is  target_state_show_count "$(kallsyms_count state_show klpw_target)" 2
is  target_value_orig "$(tgt value)" 42
is  target_message_orig "$(tgt message)" "hello from klpw_target"
is  target_main_orig "$(tgt main_state)" "main:orig"
is  target_aux_orig "$(tgt aux_state)" "aux:orig"

# ---- 1: enable the livepatch ---------------------------------------------------
load smoke_insmod $LP.ko || { done_checks; exit 1; }
runs smoke_transition_done klp_settle $LP 60
is  smoke_enabled "$(cat $LPD/enabled)" 1
is  smoke_transition "$(cat $LPD/transition)" 0
runs smoke_sysfs_objects test -d $LPD/vmlinux -a -d $LPD/klpw_target
runs smoke_sysfs_sympos$DUP_POS test -d $LPD/vmlinux/$DUP,$DUP_POS
runs smoke_sysfs_sympos2 test -d $LPD/klpw_target/state_show,2
is  smoke_cmdline "$(cat /proc/cmdline)" "$CMDLINE_MARK"
like smoke_vmallocinfo "$(vmalloc_marks)" '^[1-9][0-9]*$'
is  smoke_value "$(tgt value)" 1042
is  smoke_message "$(tgt message)" "hello from klpw_smoke"
is  smoke_aux_sympos2 "$(tgt aux_state)" "aux:smoke"
is  smoke_main_sympos1_untouched "$(tgt main_state)" "main:orig"
r1=$(tgt reads); r2=$(tgt reads)
is  smoke_target_static_counts "$r2" $((r1 + 1))
is  smoke_taint_K "$(( ($(taint) >> 15) & 1 ))" 1
like smoke_dmesg_enabling "$(dmesg)" "livepatch: enabling patch '$LP'"

# ---- 2: disable: the original code is back ---------------------------------------
runs smoke_disable klp_disable $LP
is  disabled_cmdline "$(cat /proc/cmdline)" "$orig_cmdline"
is  disabled_vmallocinfo "$(vmalloc_marks)" 0
is  disabled_value "$(tgt value)" 42
is  disabled_message "$(tgt message)" "hello from klpw_target"
is  disabled_aux "$(tgt aux_state)" "aux:orig"
runs disabled_sysfs_gone test ! -e $LPD
like disabled_dmesg_unpatching "$(dmesg)" "livepatch: '$LP': unpatching complete"

# ---- 3: remove the livepatch, then the target -------------------------------------
runs rmmod_smoke rmmod $LP
runs rmmod_gone test ! -e /sys/module/$LP
is  rmmod_cmdline "$(cat /proc/cmdline)" "$orig_cmdline"
is  rmmod_value "$(tgt value)" 42
runs rmmod_target rmmod klpw_target

# ---- 4: unpatched baselines the klpwrite scenarios rely on ------------------------
# (scenario numbers as in run.sh; the patched expectations are noted there)
if [ $DUP = s_show ]; then
	like base3_vmallocinfo_vmalloc_lines "$(grep -c ' vmalloc' /proc/vmallocinfo)" '^[1-9]'
	is  base3_vmallocinfo_no_order "$(grep -c ' vmalloc order=' /proc/vmallocinfo)" 0
else
	like base3_mounts_lines "$(grep -vc '^#' /proc/mounts)" '^[1-9]'
	is  base3_mounts_no_marker "$(grep -c 'klpwrite-e2e' /proc/mounts)" 0
fi
is  base5_version_one_line "$(wc -l </proc/version)" 1
echo ab >/proc/$$/comm
is  base6_comm_keeps_newline "$(od -An -c /proc/$$/comm | tr -s ' ')" ' a b \n \n'
P=$E2E_FILES/uaccess-probe
if [ -x "$P" ]; then
	is  base6_comm_fault_efault "$($P fault /proc/self/comm)" errno=EFAULT
	is  base6_comm_big_write "$($P big /proc/self/comm 8192)" ret=8192
else
	bad base6_uaccess_probe "missing $P"
fi
mkdir -p /sys/fs/cgroup
runs base6_cgroup2_mount mount -t cgroup2 none /sys/fs/cgroup
runs base6_cpuset_enable sh -c 'echo +cpuset >/sys/fs/cgroup/cgroup.subtree_control'
runs base6_cpuset_child mkdir /sys/fs/cgroup/e2e
runs base6_cpuset_child_has_cpus test -e /sys/fs/cgroup/e2e/cpuset.cpus
like base6_cpu_hypervisor_smap "$(grep -m1 '^flags' /proc/cpuinfo)" ' hypervisor.* smap| smap.* hypervisor'

done_checks
