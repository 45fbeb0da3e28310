#!/usr/bin/env bash
# Writes N benchmark accounts, one `user password` per line, to FILE:
#   bench/gen-accounts.sh N FILE
# Names are bench00000, bench00001, ...; passwords are random (16 hex digits each), so that no
# two accounts share SCRAM keys. Both servers get the same file.
set -euo pipefail
if [[ $# -ne 2 || ! "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 N FILE" >&2
    exit 2
fi
n="$1"
out="$2"
width=${#n}
((width < 5)) && width=5
od -An -vtx8 -N $((8 * n)) /dev/urandom | tr -s ' \n' '\n\n' | sed '/^$/d' |
    awk -v w="$width" '{ printf "bench%0*d %s\n", w, NR - 1, $1 }' >"$out.tmp"
if [[ "$(wc -l <"$out.tmp")" -ne "$n" ]]; then
    echo "gen-accounts.sh: generated the wrong number of lines" >&2
    rm -f "$out.tmp"
    exit 1
fi
mv "$out.tmp" "$out"
