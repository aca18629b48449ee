#!/bin/bash
# snapshot.sh - cache what only the running kernel can tell about itself,
# plus the uncompressed kernel image, for tests that need symbols/bytes.
#
#   $E2E_KCACHE/guest/kallsyms     /proc/kallsyms of a nokaslr boot (no
#                                  modules loaded): vmlinux symbols in the
#                                  kernel's own order = sympos order
#   $E2E_KCACHE/guest/btf-vmlinux  /sys/kernel/btf/vmlinux (if present)
#   $E2E_KCACHE/guest/{cpuinfo,version,cmdline,release}
#   $E2E_KCACHE/vmlinux            ELF extracted from vmlinuz (stripped:
#                                  Debian's image has no symbol table)
#   $E2E_KCACHE/snapshot.env       E2E_KALLSYMS, E2E_BTF, E2E_VMLINUX
#
# Boots the guest once (guest/snapshot.sh, data over the second serial port);
# later runs reuse the cache.  E2E_RESNAPSHOT=1 forces a new boot.
# Needs the linux-source tree from kobjs.sh for scripts/extract-vmlinux.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_load_env
G=$E2E_KCACHE/guest

if [ "${E2E_RESNAPSHOT:-0}" = 1 ] || [ ! -s "$G/kallsyms" ] || [ ! -s "$G/release" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/klpwrite-e2e-snap.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	bash "$E2E_LIB/boot.sh" -a nokaslr -o "$tmp/console" -O "$tmp/snapshot.tar" \
		"$E2E_ROOTDIR/guest/snapshot.sh" >/dev/null ||
		{ cat "$tmp/console" >&2; e2e_die "snapshot boot failed"; }
	want=$(sed -n 's/^E2E-SNAPSHOT: md5 \([0-9a-f]*\) .*/\1/p' "$tmp/console")
	got=$(md5sum <"$tmp/snapshot.tar" | cut -d' ' -f1)
	[ -n "$want" ] && [ "$want" = "$got" ] ||
		e2e_die "snapshot transfer damaged (guest md5 '$want', host $got)"
	rm -rf "$G.new"
	mkdir -p "$G.new"
	tar -xf "$tmp/snapshot.tar" -C "$G.new"
	[ "$(cat "$G.new/release")" = "$E2E_KREL" ] || e2e_die "snapshot is of $(cat "$G.new/release")"
	rm -rf "$G"
	mv "$G.new" "$G"
	e2e_log "snapshot: $(wc -l <"$G/kallsyms") kallsyms lines$([ -s "$G/btf-vmlinux" ] && echo ", BTF $(wc -c <"$G/btf-vmlinux") bytes")"
fi

if [ ! -s "$E2E_KCACHE/vmlinux" ]; then
	x=$(find "$E2E_KCACHE" -maxdepth 3 -path '*/linux-source-*/scripts/extract-vmlinux' | head -n1)
	[ -n "$x" ] || e2e_die "no scripts/extract-vmlinux: run lib/kobjs.sh first"
	sh "$x" "$E2E_VMLINUZ" >"$E2E_KCACHE/vmlinux.tmp" || e2e_die "extract-vmlinux failed"
	mv "$E2E_KCACHE/vmlinux.tmp" "$E2E_KCACHE/vmlinux"
fi

cat >"$E2E_KCACHE/snapshot.env" <<ENV
# written by tests/e2e/lib/snapshot.sh
E2E_KALLSYMS='$G/kallsyms'
E2E_BTF='$([ -s "$G/btf-vmlinux" ] && echo "$G/btf-vmlinux")'
E2E_VMLINUX='$E2E_KCACHE/vmlinux'
ENV
echo "$G"
