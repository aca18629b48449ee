# shellcheck shell=sh
# tests/e2e/lto.sh: the vmlinux.o livepatch of lto/[0-9][0-9]-*.patch on the
# orig gcc or clang ThinLTO kernel.  Every call path of the changed
# klpw_lto_value() (unit A directly, units B and C, where ThinLTO inlined
# it) and of the promoted static klpw_lto_secret() must show the new
# behaviour, A's new function klpw_lto_note() its line, C's c_stop (a name
# vmlinux has 3 of) its new text while the other two (/proc/cpuinfo,
# /proc/consoles) keep working; all restored after disable and rmmod.
KO=$(ls "$E2E_KO"/*.ko | head -n1)
LP=$(basename "$KO" .ko)
a0='a value=42 secret=22'
b0='b value=42 secret=22'
c0='c value=42'
d0='dup c_stop'
is base_a "$(cat /proc/klpw_lto_a)" "$a0"
is base_b "$(cat /proc/klpw_lto_b)" "$b0"
is base_c "$(cat /proc/klpw_lto_c)" "$c0"
is base_dup "$(cat /proc/klpw_lto_dup)" "$d0"
load insmod "$LP.ko" || { done_checks; exit 1; }
runs transition klp_settle "$LP" 60
is enabled "$(cat /sys/kernel/livepatch/$LP/enabled)" 1
is patched_a "$(cat /proc/klpw_lto_a | tr '\n' '|')" "a note: patched|a value=43 secret=23|"
is patched_b "$(cat /proc/klpw_lto_b)" "b value=43 secret=23"
is patched_c "$(cat /proc/klpw_lto_c)" "c value=43"
is patched_dup "$(cat /proc/klpw_lto_dup)" "dup c_stop patched"
like other_c_stop_cpuinfo "$(head -n1 /proc/cpuinfo)" '^processor'
runs other_c_stop_consoles cat /proc/consoles
runs new_function_in_patch grep -q " klpw_lto_note	\[$LP\]" /proc/kallsyms
for f in /sys/kernel/livepatch/$LP/vmlinux/*; do
	[ -d "$f" ] && echo "LTO-GUEST: klp_func $(basename "$f")"
done
runs disable klp_disable "$LP"
is disabled_a "$(cat /proc/klpw_lto_a)" "$a0"
is disabled_b "$(cat /proc/klpw_lto_b)" "$b0"
is disabled_c "$(cat /proc/klpw_lto_c)" "$c0"
is disabled_dup "$(cat /proc/klpw_lto_dup)" "$d0"
runs rmmod rmmod "$LP"
is unloaded_a "$(cat /proc/klpw_lto_a)" "$a0"
done_checks
