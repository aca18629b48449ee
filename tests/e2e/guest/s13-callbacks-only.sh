# shellcheck shell=sh
# Scenario 13 (class C11): one module, two objects: vmlinux (scenario 1's
# cmdline_proc_show) and klpw_target, for which the patch has callbacks
# only (pre_patch/post_unpatch marked the upstream way, post_patch/
# pre_unpatch the kpatch way; no function of klpw_target changes).  The
# module is loaded first; klpw_target's callbacks run when it loads and
# when the patch is disabled.
LP=klpw_s13; LPD=/sys/kernel/livepatch/$LP
tgt() { sed -n "s/^$1: //p" /proc/klpw_target; }
cb() { dmesg | grep -c "klpwrite-e2e: klpw_target $1 callback ($2)"; }
orig=$(cat /proc/cmdline)
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
is  cmdline_patched "$(cat /proc/cmdline)" "klpwrite-e2e: cmdline patched"
runs sysfs_object test -d $LPD/klpw_target
is  object_waits "$(cat $LPD/klpw_target/patched 2>/dev/null || echo absent)" 0
is  no_callback_yet "$(dmesg | grep -c 'klpw_target .* callback')" 0
load target klpw_target.ko || { done_checks; exit 1; }
is  object_patched "$(cat $LPD/klpw_target/patched 2>/dev/null || echo absent)" 1
is  pre_patch_once "$(cb pre_patch klp)" 1
is  post_patch_once "$(cb post_patch kpatch)" 1
is  target_unchanged "$(tgt aux_state)" aux:orig
is  no_unpatch_yet "$(dmesg | grep -c 'klpw_target .*unpatch callback')" 0
runs disable klp_disable $LP
is  pre_unpatch_once "$(cb pre_unpatch kpatch)" 1
is  post_unpatch_once "$(cb post_unpatch klp)" 1
is  callback_order "$(dmesg | sed -n 's/.*klpwrite-e2e: klpw_target \([a-z_]*\) callback.*/\1/p' | tr '\n' ' ')" \
	"pre_patch post_patch pre_unpatch post_unpatch "
is  cmdline_restored "$(cat /proc/cmdline)" "$orig"
runs rmmod rmmod $LP
runs rmmod_target rmmod klpw_target
done_checks
