# shellcheck shell=bash disable=SC2034
# common.sh - sourced by every host-side script of the klpwrite e2e suite.
#
# Cache root: $KLPWRITE_E2E_CACHE (default /var/cache/klpwrite-e2e).
# Layout (see README.md):
#   kernel.env                 environment of the current kernel (setup.sh)
#   <krel>/debs/               downloaded .deb files
#   <krel>/root/               dpkg -x of image + headers + kbuild packages
#   <krel>/linux-source-X.Y/   unpacked + prepared source tree (kobjs.sh)
#   <krel>/objs/<name>/{orig,patched}/<obj>   vmlinux object pairs
#   <krel>/objs.env            E2E_OBJ_<NAME>_{ORIG,PATCHED} paths
#   work/                      scratch space for module builds and logs

E2E_CACHE=${KLPWRITE_E2E_CACHE:-/var/cache/klpwrite-e2e}
export KLPWRITE_E2E_CACHE=$E2E_CACHE
E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_ROOTDIR=$(cd "$E2E_LIB/.." && pwd)

e2e_log() { printf '[e2e %4ss] %s\n' "$SECONDS" "$*" >&2; }
e2e_die() { printf '[e2e] FATAL: %s\n' "$*" >&2; exit 1; }

# e2e_need_root
e2e_need_root() { [ "$(id -u)" = 0 ] || e2e_die "must run as root"; }

# e2e_apt_install PKG... - install whatever of PKG... is not installed yet.
e2e_apt_install() {
	local p todo=()
	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
			todo+=("$p")
	done
	[ ${#todo[@]} -eq 0 ] && return 0
	e2e_log "apt-get install ${todo[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${todo[@]}" >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends "${todo[@]}" >&2; }
}

# e2e_env_file - the kernel.env to use: $E2E_ENV_FILE when set (run.sh sets
# it to the kernel's own $CACHE/<krel>/kernel.env, so that a run on another
# kernel beside it never changes what this run loads), else $CACHE/kernel.env
e2e_env_file() { printf '%s\n' "${E2E_ENV_FILE:-$E2E_CACHE/kernel.env}"; }

# e2e_load_env - source kernel.env written by setup.sh
e2e_load_env() {
	local f
	f=$(e2e_env_file)
	[ -r "$f" ] || e2e_die "no $f; run lib/setup.sh"
	# shellcheck disable=SC1090
	. "$f"
}

# E2E_SUITE - an extra apt suite for the kernel packages, e.g.
# bookworm-backports (Debian's 6.12).  It is never added to the system's apt
# configuration: the suite gets a private sources list, package lists and
# cache under $CACHE/apt-<suite>/, and E2E_APT (an array of apt options)
# points apt-get update/download and apt-cache there.  Nothing is installed
# from it: the kernel packages are downloaded and unpacked with dpkg -x.
# Without E2E_SUITE, E2E_APT is empty and the system's apt is used as is.
E2E_APT=()
if [ -n "${E2E_SUITE:-}" ]; then
	case $E2E_SUITE in *[!a-z0-9-]*) e2e_die "bad E2E_SUITE '$E2E_SUITE'" ;; esac
	E2E_APTDIR=$E2E_CACHE/apt-$E2E_SUITE
	E2E_APT=(-o "Dir::Etc::sourcelist=$E2E_APTDIR/sources.list" -o "Dir::Etc::sourceparts=-"
		-o "Dir::State::Lists=$E2E_APTDIR/lists" -o "Dir::Cache=$E2E_APTDIR/cache"
		-o "APT::Get::List-Cleanup=0")
fi
# e2e_apt_suite_update [force] - write the suite's sources list and fetch its
# package lists (once; again with "force" or when older than a day)
e2e_apt_suite_update() {
	[ -n "${E2E_SUITE:-}" ] || return 0
	mkdir -p "$E2E_APTDIR/lists/partial" "$E2E_APTDIR/cache/archives/partial"
	local line="deb ${E2E_SUITE_MIRROR:-http://deb.debian.org/debian} $E2E_SUITE main"
	[ "$(cat "$E2E_APTDIR/sources.list" 2>/dev/null)" = "$line" ] || {
		echo "$line" >"$E2E_APTDIR/sources.list"; rm -f "$E2E_APTDIR/.updated"; }
	if [ "${1:-}" = force ] || [ -z "$(find "$E2E_APTDIR/.updated" -mmin -1440 2>/dev/null)" ]; then
		e2e_log "apt-get update ($E2E_SUITE, private lists in $E2E_APTDIR)"
		apt-get "${E2E_APT[@]}" update -q >&2 || e2e_die "apt-get update of $E2E_SUITE failed"
		touch "$E2E_APTDIR/.updated"
	fi
}

# e2e_load_objs - source objs.env written by kobjs.sh (may not exist yet)
e2e_load_objs() {
	# shellcheck disable=SC1090
	[ -r "$E2E_KCACHE/objs.env" ] && . "$E2E_KCACHE/objs.env"
	return 0
}

# e2e_now / e2e_since T0 - wall-clock seconds with one decimal
e2e_now() { date +%s.%N; }
e2e_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# e2e_record_pair NAME DIR PATCH OBJ... - note an orig/patched pair built in
# DIR/{orig,patched}/OBJ in $E2E_KCACHE/objs.tsv and regenerate objs.env.
# objs.tsv columns: name, obj, orig path, patched path, patch md5.
# objs.env: E2E_OBJ_<NAME>_ORIG / _PATCHED for the first OBJ of each pair.
e2e_record_pair() {
	local name=$1 dir=$2 patch=$3 o pmd5 tsv=$E2E_KCACHE/objs.tsv
	shift 3
	pmd5=$(md5sum <"$patch" | cut -d' ' -f1)
	touch "$tsv"
	{
		awk -F'\t' -v n="$name" '$1 != n' "$tsv"
		for o in "$@"; do
			printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$o" "$dir/orig/$o" "$dir/patched/$o" "$pmd5"
		done
	} | sort -t"$(printf '\t')" -k1,1 -s >"$tsv.tmp"
	mv "$tsv.tmp" "$tsv"
	{
		echo "# written by tests/e2e/lib/common.sh (e2e_record_pair) from objs.tsv"
		awk -F'\t' '!seen[$1]++ {
			v = toupper($1); gsub(/[^A-Z0-9]/, "_", v)
			printf "E2E_OBJ_%s_ORIG=%c%s%c\nE2E_OBJ_%s_PATCHED=%c%s%c\n", v, 39, $3, 39, v, 39, $4, 39
		}' "$tsv"
	} >"$E2E_KCACHE/objs.env"
}
