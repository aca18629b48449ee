# shellcheck shell=sh disable=SC2034
# snapshot.sh - guest script: send what the host cannot read from the .deb
# files (the running kernel's view of itself) as a tar over $E2E_OUT.
#   kallsyms      /proc/kallsyms (boot with nokaslr for stable addresses)
#   btf-vmlinux   /sys/kernel/btf/vmlinux, if the kernel has it
#   cpuinfo, version, cmdline, release, modules.builtin-count
S=/tmp/snapshot
mkdir -p $S
cat /proc/kallsyms >$S/kallsyms
like snapshot_kallsyms_lines "$(wc -l <$S/kallsyms)" '^[0-9]{5,}$'
if [ -r /sys/kernel/btf/vmlinux ]; then
	cat /sys/kernel/btf/vmlinux >$S/btf-vmlinux
	ok snapshot_btf "/sys/kernel/btf/vmlinux $(wc -c <$S/btf-vmlinux) bytes"
else
	echo "E2E-SNAPSHOT: no /sys/kernel/btf/vmlinux"
fi
cat /proc/cpuinfo >$S/cpuinfo
cat /proc/version >$S/version
cat /proc/cmdline >$S/cmdline
uname -r >$S/release
tar -cf /tmp/snapshot.tar -C $S .
echo "E2E-SNAPSHOT: md5 $(md5sum </tmp/snapshot.tar | cut -d' ' -f1) bytes $(wc -c </tmp/snapshot.tar)"
cat /tmp/snapshot.tar >"$E2E_OUT"
ok snapshot_sent
done_checks
