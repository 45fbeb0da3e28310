#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, straight from the xml/ sources.
#
# The main build uses g++ and C++23; libFuzzer needs clang, and Debian 12's clang 14 with
# libstdc++ 12 is only trusted here in C++20 mode, which xml/ is written to stay within.
#
# usage: tests/fuzz/build.sh [OUTPUT_DIR]     (default: build-fuzz in the checkout)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$root/build-fuzz}
mkdir -p "$out"

cxx=${CXX_FUZZ:-clang++}
flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Werror -Wshadow -I"$root")
xml_sources=("$root"/xml/*.cpp)
# Debian backports expat's reparse deferral (2.6.0) into 2.5.0-1+deb12u2 and later without
# changing the version macros, so its presence can only be seen in the header. Same macro name as
# the one the CMake build is asked to define.
expat_h=$(echo '#include <expat.h>' | "$cxx" -x c++ -E -H - 2>&1 >/dev/null | sed -n 's/^\. //p' | head -n 1)
if grep -q XML_SetReparseDeferralEnabled "${expat_h:-/usr/include/expat.h}" 2>/dev/null; then
    flags+=(-DCORVID_EXPAT_HAS_REPARSE_DEFERRAL=1)
fi

build() {
    local name=$1
    local objdir="$out/obj-$name"
    mkdir -p "$objdir"
    local objects=()
    # Compile each source on its own so an edit to one file rebuilds only that file.
    for src in "${xml_sources[@]}" "$root/tests/fuzz/$name.cpp"; do
        local obj
        obj="$objdir/$(basename "$src" .cpp).o"
        if [[ ! -f "$obj" || "$src" -nt "$obj" || -n "$(find "$root/xml" -name '*.h' -newer "$obj")" ]]; then
            "$cxx" "${flags[@]}" -c "$src" -o "$obj"
        fi
        objects+=("$obj")
    done
    "$cxx" "${flags[@]}" "${objects[@]}" -lexpat -o "$out/$name"
    echo "built $out/$name"
}

build stream_parser_fuzz
