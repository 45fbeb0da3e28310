#!/usr/bin/env bash
# corvid's test command: everything CI checks, in one run.
#
#   bash scripts/test.sh            the full run (what .ci/run does)
#   bash scripts/test.sh --quick    release build + unit and integration tests only: no sanitizer
#                                   build, no fuzzing
#
# Steps: install Debian packages (scripts/deps.sh) -> release build (build/) -> ASan+UBSan build
# (build-asan/) -> private PostgreSQL (.run/test-pg, stopped on exit) -> ctest in both builds ->
# integration tests (pytest, if tests/integration has test_*.py) -> libFuzzer run (build-fuzz/)
# -> grep for calls that block the event loop -> summary. Exits non-zero if anything failed.
# Logs of every step go to .run/test-logs/.
set -uo pipefail

usage() {
    cat <<'EOF'
usage: bash scripts/test.sh [options]
  --quick             skip the sanitizer build and fuzzing (same as --no-asan --no-fuzz)
  --no-deps           do not run scripts/deps.sh
  --no-asan           skip the ASan+UBSan build and its tests
  --no-fuzz           skip building and running the fuzzer
  --no-integration    skip the integration tests
  --fuzz-seconds N    how long the fuzzer runs (default 60)
  -j, --jobs N        parallel build and test jobs (default: number of CPUs)
  -h, --help          this text
EOF
}

run_deps=1 run_asan=1 run_fuzz=1 run_integration=1
fuzz_seconds=60
jobs=$(nproc 2>/dev/null || echo 2)
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) run_asan=0 run_fuzz=0 ;;
    --no-deps) run_deps=0 ;;
    --no-asan) run_asan=0 ;;
    --no-fuzz) run_fuzz=0 ;;
    --no-integration) run_integration=0 ;;
    --fuzz-seconds) fuzz_seconds=${2:?--fuzz-seconds needs a number}; shift ;;
    -j | --jobs) jobs=${2:?--jobs needs a number}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
logs=$root/.run/test-logs
mkdir -p "$logs"
started=$SECONDS
py=/usr/bin/python3  # Debian's python, with pytest and the XMPP client libraries

# --- bookkeeping: every step ends in one summary line -------------------------------------------
summary_names=()
summary_status=()
summary_detail=()
failed_steps=0
record() {  # record NAME ok|FAIL|skipped DETAIL
    summary_names+=("$1")
    summary_status+=("$2")
    summary_detail+=("$3")
    if [[ $2 == FAIL ]]; then
        failed_steps=$((failed_steps + 1))
    fi
}
banner() {
    printf '\n=== %s ===\n' "$*"
}
# Shows the end of a log after a failure, where the error usually is.
show_tail() {
    echo "--- last ${2:-60} lines of $1 ---"
    tail -n "${2:-60}" "$1"
}

# --- private PostgreSQL, stopped whatever happens ------------------------------------------------
pg_dir=$root/.run/test-pg
pg_started=0
cleanup() {
    if [[ $pg_started -eq 1 ]]; then
        bash "$root/scripts/pg.sh" stop "$pg_dir" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted" >&2; exit 130' INT TERM

free_port() {
    local port _
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if [[ -z $(ss -Htln "sport = :$port" 2>/dev/null) ]]; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# --- 1. packages ---------------------------------------------------------------------------------
if [[ $run_deps -eq 1 ]]; then
    banner "packages (scripts/deps.sh)"
    if bash "$root/scripts/deps.sh" 2>&1 | tee "$logs/deps.log"; then
        record "packages" ok "$(tail -n 1 "$logs/deps.log")"
    else
        record "packages" FAIL "scripts/deps.sh failed (log: $logs/deps.log)"
    fi
else
    record "packages" skipped "--no-deps"
fi

# --- 2. builds -----------------------------------------------------------------------------------
# build NAME DIR CMAKE_ARGS...: configures and builds; returns non-zero on failure.
build() {
    local name=$1 dir=$2
    shift 2
    local log=$logs/build-$name.log
    banner "build $name ($dir)"
    local t0=$SECONDS
    if cmake -S "$root" -B "$dir" "$@" >"$log" 2>&1 &&
        cmake --build "$dir" -j "$jobs" >>"$log" 2>&1; then
        echo "built in $((SECONDS - t0)) s (log: $log)"
        record "build $name" ok "$dir, $((SECONDS - t0)) s"
        return 0
    fi
    show_tail "$log" 80
    record "build $name" FAIL "see $log"
    return 1
}

release_ok=0
asan_ok=0
build release "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORVID_SANITIZE=OFF && release_ok=1
if [[ $run_asan -eq 1 ]]; then
    # Debug keeps assert() on; the sanitizers catch memory errors and undefined behaviour.
    build asan "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DCORVID_SANITIZE=ON && asan_ok=1
else
    record "build asan" skipped "--quick/--no-asan"
fi

# --- 3. PostgreSQL -------------------------------------------------------------------------------
banner "PostgreSQL (scripts/pg.sh, $pg_dir)"
export CORVID_TEST_PG_DSN=""
if [[ ! -f $root/scripts/pg.sh ]]; then
    record "postgres" FAIL "scripts/pg.sh is missing"
elif ! port=$(free_port); then
    record "postgres" FAIL "no free TCP port found"
elif dsn=$(bash "$root/scripts/pg.sh" start "$pg_dir" "$port" 2>"$logs/pg.log" | tail -n 1) &&
    [[ -n $dsn ]]; then
    pg_started=1
    export CORVID_TEST_PG_DSN=$dsn
    echo "CORVID_TEST_PG_DSN=$dsn"
    record "postgres" ok "$dsn"
else
    pg_started=1  # it may be half up: stop it on exit anyway
    show_tail "$logs/pg.log" 30
    record "postgres" FAIL "scripts/pg.sh start failed (log: $logs/pg.log)"
fi

# --- 4. unit tests -------------------------------------------------------------------------------
# Counts ctest tests and, inside the Catch2 binaries, test cases, from ctest's JUnit file.
# Prints: ctest_passed ctest_failed cases_passed cases_failed
count_ctest() {
    "$py" - "$1" <<'EOF' 2>/dev/null || echo "? ? ? ?"
import re, sys, xml.etree.ElementTree as ET
ctest_ok = ctest_bad = cases_ok = cases_bad = 0
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    if case.get("status") in ("fail", "failed") or case.find("failure") is not None:
        ctest_bad += 1
    elif case.get("status") in ("disabled", "notrun") or case.find("skipped") is not None:
        continue
    else:
        ctest_ok += 1
    out = "".join(e.text or "" for e in case.iter("system-out"))
    m = re.search(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)", out)
    if m:
        cases_ok += int(m.group(1))
        continue
    m = re.search(r"test cases?:\s*(\d+)\s*\|([^\n]*)", out)
    if m:
        passed = re.search(r"(\d+) passed", m.group(2))
        failed = re.search(r"(\d+) failed", m.group(2))
        cases_ok += int(passed.group(1)) if passed else 0
        cases_bad += int(failed.group(1)) if failed else 0
print(ctest_ok, ctest_bad, cases_ok, cases_bad)
EOF
}

unit_tests() {
    local name=$1 dir=$2
    banner "unit tests: $name (ctest in $dir)"
    local junit=$logs/ctest-$name.xml
    rm -f "$junit"
    # The tail of a long output holds Catch2's summary, so truncate from the front if at all.
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 1200 \
        --output-junit "$junit" --test-output-size-passed 1048576 \
        --test-output-size-failed 4194304 --test-output-truncation head \
        2>&1 | tee "$logs/ctest-$name.log"
    local rc=${PIPESTATUS[0]}
    local counts
    if [[ -f $junit ]]; then
        read -r c_ok c_bad k_ok k_bad <<<"$(count_ctest "$junit")"
        counts="ctest $c_ok passed, $c_bad failed; Catch2 test cases $k_ok passed, $k_bad failed"
    else
        counts="no JUnit output"
    fi
    if [[ $rc -eq 0 ]]; then
        record "unit $name" ok "$counts"
    else
        record "unit $name" FAIL "$counts (log: $logs/ctest-$name.log)"
    fi
}

if [[ $release_ok -eq 1 ]]; then
    unit_tests release "$root/build"
else
    record "unit release" FAIL "not run: the release build failed"
fi
if [[ $run_asan -eq 0 ]]; then
    record "unit asan" skipped "--quick/--no-asan"
elif [[ $asan_ok -eq 1 ]]; then
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        unit_tests asan "$root/build-asan"
else
    record "unit asan" FAIL "not run: the sanitizer build failed"
fi

# --- 5. integration tests ------------------------------------------------------------------------
shopt -s nullglob
integration_files=("$root"/tests/integration/test_*.py)
shopt -u nullglob
if [[ $run_integration -eq 0 ]]; then
    record "integration" skipped "--no-integration"
elif [[ ${#integration_files[@]} -eq 0 ]]; then
    record "integration" skipped "no tests/integration/test_*.py yet"
elif [[ $release_ok -eq 0 ]]; then
    record "integration" FAIL "not run: the release build failed"
else
    banner "integration tests (pytest, ${#integration_files[@]} files)"
    export CORVID_BIN=$root/build/src/corvid
    export CORVIDCTL_BIN=$root/build/src/corvidctl
    junit=$logs/integration.xml
    rm -f "$junit"
    timeout 1500 "$py" -m pytest -p no:cacheprovider -v -rfE --junitxml="$junit" \
        "$root/tests/integration" 2>&1 | tee "$logs/integration.log"
    rc=${PIPESTATUS[0]}
    counts=$("$py" - "$junit" <<'EOF' 2>/dev/null || echo "counts unavailable"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
print(f"{passed} passed, {n['failures'] + n['errors']} failed, {n['skipped']} skipped or xfail")
EOF
)
    if [[ $rc -eq 0 ]]; then
        record "integration" ok "$counts"
    elif [[ $rc -eq 124 ]]; then
        record "integration" FAIL "timed out after 1500 s; $counts"
    else
        record "integration" FAIL "$counts (log: $logs/integration.log)"
    fi
fi

# --- 6. fuzzing ----------------------------------------------------------------------------------
if [[ $run_fuzz -eq 0 ]]; then
    record "fuzz" skipped "--quick/--no-fuzz"
else
    banner "fuzz: stream_parser_fuzz for ${fuzz_seconds} s"
    fuzz_dir=$root/build-fuzz
    corpus_run=$root/tests/fuzz/corpus-run  # grows across runs; not committed
    mkdir -p "$corpus_run"
    if ! bash "$root/tests/fuzz/build.sh" "$fuzz_dir" >"$logs/fuzz-build.log" 2>&1; then
        show_tail "$logs/fuzz-build.log" 60
        record "fuzz" FAIL "building the fuzzer failed (log: $logs/fuzz-build.log)"
    else
        # New inputs go to the first directory; the committed seeds are only read.
        timeout $((fuzz_seconds + 300)) "$fuzz_dir/stream_parser_fuzz" \
            -max_total_time="$fuzz_seconds" -print_final_stats=1 -max_len=16384 -timeout=10 \
            -rss_limit_mb=2048 -artifact_prefix="$fuzz_dir/" \
            "$corpus_run" "$root/tests/fuzz/corpus" >"$logs/fuzz.log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/fuzz.log" | tail -n 1)
        if [[ $rc -eq 0 ]]; then
            record "fuzz" ok "${execs:-?} executions in ${fuzz_seconds} s, no failure"
        else
            show_tail "$logs/fuzz.log" 60
            artifact=$(sed -n "s/.*Test unit written to //p" "$logs/fuzz.log" | tail -n 1)
            record "fuzz" FAIL "${execs:-?} executions, fuzzer exit $rc; reproduce with: \
$fuzz_dir/stream_parser_fuzz ${artifact:-<artifact>} (log: $logs/fuzz.log)"
        fi
    fi
fi

# --- 7. nothing may block the event loop ---------------------------------------------------------
banner "banned blocking calls in src/ and storage/"
# style.md rule 5. The blocking libpq calls (PQexec, PQexecParams, PQexecPrepared, PQprepare,
# PQconnectdb*, PQsetdbLogin, PQping, PQreset*), blocking name resolution and sleeping.
banned='PQexec\b|PQexec(Params|Prepared)\b|PQprepare\b|PQconnectdb|PQsetdbLogin|PQping\b|PQreset|\bgetaddrinfo\b|\bgethostbyname|\bgetnameinfo\b|\bsleep\(|usleep|nanosleep'
dirs=()
for d in src storage; do
    [[ -d $root/$d ]] && dirs+=("$root/$d")
done
if [[ ${#dirs[@]} -eq 0 ]]; then
    record "banned calls" ok "no src/ or storage/ yet"
elif hits=$(grep -rnE "$banned" --include='*.c' --include='*.cc' --include='*.cpp' \
    --include='*.h' --include='*.hpp' "${dirs[@]}"); then
    echo "$hits"
    record "banned calls" FAIL "$(wc -l <<<"$hits") line(s) call a banned function (shown above)"
else
    echo "none"
    record "banned calls" ok "none in src/ or storage/"
fi

# --- summary -------------------------------------------------------------------------------------
elapsed=$((SECONDS - started))
printf '\n==================== corvid test summary ====================\n'
for i in "${!summary_names[@]}"; do
    printf '%-14s %-8s %s\n' "${summary_names[$i]}" "${summary_status[$i]}" "${summary_detail[$i]}"
done
printf -- '-------------------------------------------------------------\n'
if [[ $failed_steps -eq 0 ]]; then
    printf 'RESULT: PASS  (%dm%02ds)\n' $((elapsed / 60)) $((elapsed % 60))
    exit 0
fi
printf 'RESULT: FAIL  %d step(s) failed  (%dm%02ds)\n' "$failed_steps" $((elapsed / 60)) \
    $((elapsed % 60))
exit 1
