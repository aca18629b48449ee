# shellcheck shell=sh
# tests/e2e/lto.sh: the livepatch of lto/mod.patch for the target module
# klpw_ltomod (lto/mod/), built from the two pre-link objects, on the orig
# gcc or clang ThinLTO kernel.  Every call path of the changed
# ltomod_value() (unit A directly; units B and C, where ThinLTO inlined it)
# must show the new behaviour, and so must two of the module's four static
# state_show(): unit C's and y/ltomod_s.c's (whose twin x/ltomod_s.c has
# the same file name and bytes, and whose static tag the patched copy must
# read); A's and x's must not change.  All restored after disable and
# rmmod.  Then the same with the target loaded after the livepatch (the
# kernel patches it as it loads).  $E2E_KO holds klpw_ltomod.ko and the
# livepatch (the other .ko).
T=klpw_ltomod
LP=$(cd "$E2E_KO" && ls ./*.ko | sed 's|^\./||; s|\.ko$||' | grep -vx "$T" | head -n1)
LPD=/sys/kernel/livepatch/$LP
P=/proc/$T
a0='a value=42 secret=22' a1='a value=43 secret=22'
b0='b value=42 secret=22' b1='b value=43 secret=22'
c0='c value=42' c1='c value=43'
# every file of $P on one line, '|' between them
state() {
	echo "$(cat $P/a)|$(cat $P/b)|$(cat $P/c)|$(cat $P/a_state)|$(cat $P/c_state)|$(cat $P/x_state)|$(cat $P/y_state)"
}
orig="$a0|$b0|$c0|a state|c state|x state|y state"
new="$a1|$b1|$c1|a state|c state patched|x state|y state patched"
load target $T.ko || { done_checks; exit 1; }
is base "$(state)" "$orig"
load insmod "$LP.ko" || { done_checks; exit 1; }
runs transition klp_settle "$LP" 60
is enabled "$(cat "$LPD/enabled")" 1
is patched_a "$(cat $P/a)" "$a1"
is patched_b "$(cat $P/b)" "$b1"
is patched_c "$(cat $P/c)" "$c1"
is patched_c_state "$(cat $P/c_state)" "c state patched"
is patched_y_state "$(cat $P/y_state)" "y state patched"
is unpatched_a_state "$(cat $P/a_state)" "a state"
is unpatched_x_state "$(cat $P/x_state)" "x state"
for f in "$LPD/$T"/*; do
	[ -d "$f" ] && echo "LTOMOD-GUEST: klp_func $(basename "$f")"
done
runs disable klp_disable "$LP"
is disabled "$(state)" "$orig"
runs rmmod rmmod "$LP"
is unloaded "$(state)" "$orig"
runs rmmod_target rmmod $T
# the target after the livepatch: klp_module_coming()
# (kernel/livepatch/core.c) writes the klp relocations and patches it
# before its init runs
load late_insmod "$LP.ko" || { done_checks; exit 1; }
runs late_transition klp_settle "$LP" 60
is late_object_unpatched "$(cat "$LPD/$T/patched" 2>/dev/null || echo absent)" 0
load late_target $T.ko || { done_checks; exit 1; }
is late_object_patched "$(cat "$LPD/$T/patched")" 1
is late_patched "$(state)" "$new"
runs late_disable klp_disable "$LP"
is late_disabled "$(state)" "$orig"
runs late_rmmod rmmod "$LP"
runs late_rmmod_target rmmod $T
done_checks
