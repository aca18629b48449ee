#!/usr/bin/env bash
# Run one fuzz target, seeded with the corpus objects and the fixtures.
#   fuzz/run.sh TARGET [SECONDS]        (default 60)
# cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 enables them on the
# stable toolchain. Crashes land in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
t=${1:?target: load checksum diff extract post_link}
secs=${2:-60}
seeds=corpus/$t
mkdir -p "$seeds"
if [ -z "$(ls -A "$seeds")" ] && [ "$t" = post_link ]; then
	# modules as kbuild links them, before post-link: the e2e suite's
	# scenario 9 and the link simulation of tests/kbuild.rs (run them first)
	for f in "${KLPWRITE_E2E_CACHE:-/var/cache/klpwrite-e2e}"/work/run/klpwrite/s9/*.ko \
		../target/test-scratch/kbuild-link*/*.ko; do
		if [ -f "$f" ]; then cp "$f" "$seeds/$(echo "$f" | md5sum | cut -c1-12).ko"; fi
	done
	[ -n "$(ls -A "$seeds")" ] || { echo "no seeds: run cargo test --test kbuild first" >&2; exit 2; }
elif [ -z "$(ls -A "$seeds")" ]; then
	for f in ../../shared/corpus/kpatch-unit/x86_64/*.o ../tests/fixtures/x86_64/*/*.o; do
		[ -f "$f" ] || continue
		if [ "$t" = diff ]; then
			o=${f/.PATCHED.o/.ORIG.o}
			[ "$o" != "$f" ] && [ -f "$o" ] || continue
			python3 -c 'import struct,sys; a=open(sys.argv[1],"rb").read(); b=open(sys.argv[2],"rb").read(); open(sys.argv[3],"wb").write(struct.pack("<I",len(a))+a+b)' "$o" "$f" "$seeds/$(basename "$f")"
		else
			cp "$f" "$seeds/"
		fi
	done
fi
RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "$seeds" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=1200000
