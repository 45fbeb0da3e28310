#!/usr/bin/env bash
# Runs the same load against corvid and Prosody and writes the figures (docs/benchmarks.md):
#
#   bench/compare.sh [--build DIR] [--bench PATH] [--sizes "1000 10000"] [--duration 10] [--servers "corvid prosody"]
#                    [--workdir DIR] [--corvid-config FILE] [--corvid-accounts sql|corvidctl]
#                    [--settle S]
#
# For each size N: a saturation run (--rate 0) against each server, then a run of each at half of
# corvid's saturation rate (Prosody's if corvid did not run), for the latency figures. Every run
# starts its server afresh (so "RSS before" is a fresh server), logs in N clients, sends messages
# for --duration seconds and stops the server again. Results: one JSON per run and a Markdown
# table, under WORKDIR/results/.
#
# Isolation on a shared 2-core machine: the script moves itself into a new session (so a new
# scheduler autogroup) and raises that group's priority, then pins the server to CPU 0 and the
# bench to CPU 1. Each run's report says how long the server and the bench waited for a CPU;
# more than 5 % makes the bench print a WARNING, and the figures of such a run understate the
# server.
#
# Needs: the build (corvid-bench; corvid and corvidctl for the corvid half), Debian's prosody,
# postgresql 15 (scripts/pg.sh), jq, openssl. Run as root (Prosody and PostgreSQL are started as
# their own users). One-time set-up (accounts: about 1 ms of PBKDF2 each on each server) is
# cached in WORKDIR and not counted in the ~10 minutes of runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build="$repo/build"
bench=""
sizes="1000 10000"
duration=10
# Seconds between the last login and the RSS reading / message phase: the steady state of idle
# connections (corvid frees an idle stream's parser after 2-4 s; Prosody is measured the same way).
settle=5
servers="corvid prosody"
workdir="${TMPDIR:-/tmp}/corvid-bench-compare"
corvid_config=""
corvid_accounts=sql
corvid_port=15422
prosody_port=15322
pg_port=15532
while [[ $# -gt 0 ]]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        --bench) bench="$2"; shift 2 ;;
        --sizes) sizes="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --settle) settle="$2"; shift 2 ;;
        --servers) servers="$2"; shift 2 ;;
        --workdir) workdir="$2"; shift 2 ;;
        --corvid-config) corvid_config="$2"; shift 2 ;;
        --corvid-accounts) corvid_accounts="$2"; shift 2 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

# A new session gets a new autogroup: raising its priority affects only what this script starts.
if [[ -z "${CORVID_BENCH_SESSION:-}" ]]; then
    exec setsid -w env CORVID_BENCH_SESSION=1 bash "${BASH_SOURCE[0]}" --build "$build" \
        ${bench:+--bench "$bench"} \
        --sizes "$sizes" --duration "$duration" --settle "$settle" --servers "$servers" --workdir "$workdir" \
        --corvid-accounts "$corvid_accounts" \
        ${corvid_config:+--corvid-config "$corvid_config"}
fi
echo -15 >/proc/self/autogroup 2>/dev/null || echo "compare.sh: could not raise the autogroup priority" >&2

bench="${bench:-$build/bench/corvid-bench}"
corvid="$build/src/corvid"
corvidctl="$build/src/corvidctl"
results="$workdir/results"
mkdir -p "$workdir" "$results"
[[ -x "$bench" ]] || { echo "compare.sh: $bench is not built" >&2; exit 1; }

server_cpu=()
bench_cpu=()
prosody_cpu=""
if (($(nproc) >= 2)); then
    server_cpu=(taskset -c 0)
    bench_cpu=(taskset -c 1)
    prosody_cpu=0
fi
# Spread clients over several loopback source addresses: 10,000 connections then never come
# close to the ephemeral port range of one address.
source_ips="127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"

log() { printf '[compare %s] %s\n' "$(date +%T)" "$*" >&2; }

# Other people's servers and tests share this machine: take the preferred port only if it is free.
# Server ports stay below the ephemeral range (32768-60999): 10,000 client sockets, and their
# TIME_WAIT remnants, would otherwise sooner or later hold the port the next server wants.
free_port() {
    local port="$1"
    for _ in $(seq 1 200); do
        [[ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ]] && { echo "$port"; return 0; }
        port=$((10000 + RANDOM % 20000))
    done
    echo "compare.sh: no free port found" >&2
    return 1
}

# --- accounts and certificate, shared by both servers -------------------------------------------
max_n=0
for n in $sizes; do ((n > max_n)) && max_n=$n; done
accounts="$workdir/accounts.txt"
if [[ ! -f "$accounts" || "$(wc -l <"$accounts")" -lt "$max_n" ]]; then
    log "generating $max_n accounts"
    "$here/gen-accounts.sh" "$max_n" "$accounts"
fi
mkdir -p "$workdir/certs"
if [[ ! -f "$workdir/certs/localhost.crt" ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost \
        -keyout "$workdir/certs/localhost.key" -out "$workdir/certs/localhost.crt" 2>/dev/null
fi

# --- Prosody --------------------------------------------------------------------------------------
prosody_dir="$workdir/prosody"
prosody_setup() {
    mkdir -p "$prosody_dir/certs"
    prosody_port="$(free_port "$prosody_port")"
    cp "$workdir/certs/localhost.crt" "$workdir/certs/localhost.key" "$prosody_dir/certs/"
    # Start once so that the accounts are (re)written now, before warm_up looks at them.
    prosody_start >/dev/null && prosody_stop
}
prosody_start() {
    # Accounts are (re)written unpinned (one writer per core), only when the file changed.
    "$here/run-prosody.sh" start --accounts "$accounts" --workdir "$prosody_dir" \
        --port "$prosody_port" ${prosody_cpu:+--cpu "$prosody_cpu"}
}
prosody_stop() { "$here/run-prosody.sh" stop --workdir "$prosody_dir"; }

# --- corvid ---------------------------------------------------------------------------------------
# corvid keeps accounts in PostgreSQL: a private cluster (scripts/pg.sh) with a database of its
# own, a generated configuration unless --corvid-config is given, and accounts written by
# corvid-accounts.py or, with --corvid-accounts corvidctl, created with `corvidctl adduser`
# (cached while the accounts file is unchanged).
corvid_dir="$workdir/corvid"
# Creates the account $1 with the password $2, or resets the password if the account exists. The
# password reaches corvidctl on stdin (printf is a builtin: no process list shows it).
corvidctl_account() {
    printf '%s\n' "$2" | "$corvidctl" --config "$corvid_config" adduser "$1" >/dev/null 2>&1 ||
        printf '%s\n' "$2" | "$corvidctl" --config "$corvid_config" passwd "$1" >/dev/null
}
corvid_setup() {
    [[ -x "$corvid" && -x "$corvidctl" ]] || { log "corvid is not built ($corvid)"; return 1; }
    mkdir -p "$corvid_dir"
    local dsn
    # Called as `if corvid_setup`, where errexit is off: every step checks for itself.
    if ! dsn="$(bash "$repo/scripts/pg.sh" status "$corvid_dir/pg" 2>/dev/null)"; then
        dsn="$(bash "$repo/scripts/pg.sh" start "$corvid_dir/pg" "$(free_port "$pg_port")" |
            tail -n 1)"
    fi
    [[ "$dsn" == *port=* ]] || { log "PostgreSQL did not start"; return 1; }
    if [[ -z "$(psql "$dsn" -tAc "SELECT 1 FROM pg_database WHERE datname = 'corvid_bench'")" ]]; then
        psql "$dsn" -qc "CREATE DATABASE corvid_bench" || return 1
    fi
    local corvid_dsn
    corvid_dsn="$(sed -E 's/(^| )dbname=[^ ]*/\1dbname=corvid_bench/' <<<"$dsn")"
    if [[ -z "$corvid_config" ]]; then
        corvid_config="$corvid_dir/corvid.toml"
        corvid_port="$(free_port "$corvid_port")"
        # Only what login and one-to-one messaging need, like the Prosody side; no per-IP caps.
        rm -f "$corvid_config"
        (umask 077 && cat >"$corvid_config") <<TOML
# Written by bench/compare.sh for the benchmark; rewritten on every run.
[server]
log_level = "warn"

[database]
dsn = "$corvid_dsn"

[tls]
certificate = "$workdir/certs/localhost.crt"
key = "$workdir/certs/localhost.key"

[[hosts]]
domain = "localhost"

[[listeners]]
type = "c2s"
address = "127.0.0.1"
port = $corvid_port

[limits]
max_connections_per_ip = 100000

[s2s]
enabled = false

[modules.offline]
enabled = false
[modules.pep]
enabled = false
TOML
    fi
    local check
    # Warnings (a config others may read) go to stderr and do not fail the check.
    if ! check="$("$corvid" --check-config "$corvid_config" 2>&1)"; then
        log "corvid --check-config: $check"
        return 1
    fi
    local want stamp="$corvid_dir/accounts.stamp"
    want="$(sha256sum "$accounts" | cut -d' ' -f1) $corvid_dsn"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        log "creating $(wc -l <"$accounts") corvid accounts ($corvid_accounts, one-time)"
        if [[ "$corvid_accounts" == corvidctl ]]; then
            # One corvidctl per account, nproc at a time; each password goes on its stdin.
            local user password pids=() failed=0
            while read -r user password _; do
                corvidctl_account "$user@localhost" "$password" &
                pids+=("$!")
                if ((${#pids[@]} >= $(nproc))); then
                    wait "${pids[0]}" || failed=1
                    pids=("${pids[@]:1}")
                fi
            done <"$accounts"
            for pid in "${pids[@]}"; do
                wait "$pid" || failed=1
            done
            ((failed == 0)) || return 1
        else
            # corvidctl makes one account per process, too slow for 10,000 (see
            # corvid-accounts.py). It still applies the schema migrations first.
            "$corvidctl" --config "$corvid_config" list-users localhost >/dev/null || return 1
            /usr/bin/python3 "$here/corvid-accounts.py" "$accounts" localhost 4096 |
                psql -q -v ON_ERROR_STOP=1 "$corvid_dsn" >/dev/null || return 1
        fi
        echo "$want" >"$stamp"
    fi
}
corvid_pid=""
# Sets corvid_pid (not called in a subshell: the script must keep the pid to stop it).
corvid_start() {
    ulimit -n "$(ulimit -Hn)"
    "${server_cpu[@]}" "$corvid" --config "$corvid_config" >>"$corvid_dir/corvid.log" 2>&1 </dev/null &
    corvid_pid=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$corvid_pid" 2>/dev/null; then
            log "corvid exited during start-up; see $corvid_dir/corvid.log"
            tail -n 20 "$corvid_dir/corvid.log" >&2
            return 1
        fi
        # corvid listens before its PostgreSQL pool is up (logins fail with
        # temporary-auth-failure until then): wait for one real login to succeed.
        if (exec 3<>"/dev/tcp/127.0.0.1/$corvid_port") 2>/dev/null &&
            [[ "$("$bench" --port "$corvid_port" --accounts "$accounts" --connections 1 \
                --duration 0 --settle 0 --login-timeout 5 --quiet --json - 2>/dev/null |
                jq .established)" == 1 ]]; then
            return 0
        fi
        sleep 0.1
    done
    log "corvid did not accept a login on $corvid_port within 10 s"
    corvid_stop
    return 1
}
corvid_stop() {
    [[ -n "$corvid_pid" ]] || return 0
    kill -TERM "$corvid_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$corvid_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$corvid_pid" 2>/dev/null || true
    wait "$corvid_pid" 2>/dev/null || true
    corvid_pid=""
}

# --- one run --------------------------------------------------------------------------------------
# run_one SERVER N RATE LABEL: fresh server, one bench run, JSON in $results. Prints the JSON path.
run_one() {
    local server="$1" n="$2" rate="$3" label="$4" login_rate="${5:-0}" pid port
    local out="$results/$server-$n-$label"
    rm -f "$out.json"
    if [[ "$server" == corvid ]]; then
        corvid_start || return 1
        pid=$corvid_pid
        port=$corvid_port
    else
        pid="$(prosody_start)" || return 1
        port=$prosody_port
    fi
    log "$server N=$n $label (rate $rate, login rate $login_rate), server pid $pid"
    # Bounded: logins give up after 60 s each, then --duration, then at most 5 s of drain.
    timeout 600 "${bench_cpu[@]}" "$bench" --host 127.0.0.1 --port "$port" --domain localhost \
        --accounts "$accounts" --connections "$n" --rate "$rate" --duration "$duration" \
        --settle "$settle" \
        --login-rate "$login_rate" --login-concurrency 100 --login-timeout 60 \
        --source-ips "$source_ips" --server-pid "$pid" \
        --scram-cache "$workdir/$server.scram-cache" \
        --label "$server N=$n $label" --json "$out.json" --quiet \
        >"$out.txt" 2>&1 || log "bench exited with $? ($server N=$n $label)"
    cat "$out.txt" >&2
    if [[ "$server" == corvid ]]; then corvid_stop; else prosody_stop; fi
    [[ -f "$out.json" ]]
}

# The first login of each account costs the bench about 1 ms of PBKDF2 (the server's salt is
# only known then), which would slow the first measured run's logins but no later one's. So a
# login-only pass fills the bench's SCRAM cache first. The cache is kept while the server's copy
# of the accounts (and so its salts) stays the same: the mtime of the stamp file written
# whenever they are (re)created identifies that copy.
accounts_generation() {
    local f="$corvid_dir/accounts.stamp"
    [[ "$1" == prosody ]] && f="$prosody_dir/data/accounts.stamp"
    stat -c %y "$f" 2>/dev/null || echo none
}
warm_up() {
    local server="$1" cache="$workdir/$1.scram-cache" stamp="$workdir/$1.scram-cache.stamp"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$(accounts_generation "$server")" &&
        -f "$cache" ]] && (($(wc -l <"$cache") >= max_n)); then
        return 0
    fi
    rm -f "$cache"
    local saved_duration="$duration"
    duration=0
    run_one "$server" "$max_n" 0 warm-up 0 && accounts_generation "$server" >"$stamp"
    duration="$saved_duration"
}

have_corvid=0
have_prosody=0
if [[ " $servers " == *" corvid "* ]]; then
    if corvid_setup; then have_corvid=1; else log "corvid skipped: its half stays pending"; fi
fi
if [[ " $servers " == *" prosody "* ]]; then
    prosody_setup
    have_prosody=1
fi
cleanup() {
    corvid_stop
    prosody_stop 2>/dev/null || true
    # The accounts stay in the cluster's directory; the next run starts it again.
    if ((have_corvid)); then bash "$repo/scripts/pg.sh" stop "$corvid_dir/pg" >/dev/null || true; fi
}
trap cleanup EXIT

((have_corvid)) && warm_up corvid
((have_prosody)) && warm_up prosody

for n in $sizes; do
    half=0
    half_logins=0
    if ((have_corvid)) && run_one corvid "$n" 0 saturation; then
        half="$(jq '(.delivered_per_s / 2) | floor' "$results/corvid-$n-saturation.json")"
        half_logins="$(jq '(.logins_per_s / 2) | floor' "$results/corvid-$n-saturation.json")"
        half_of=corvid
    fi
    if ((have_prosody)) && run_one prosody "$n" 0 saturation && ((half == 0)); then
        half="$(jq '(.delivered_per_s / 2) | floor' "$results/prosody-$n-saturation.json")"
        half_logins="$(jq '(.logins_per_s / 2) | floor' "$results/prosody-$n-saturation.json")"
        half_of=prosody
    fi
    ((half > 0)) || continue
    echo "$half msg/s, $half_logins logins/s: half of $half_of's saturation" >"$results/half-rate-$n.txt"
    ((have_corvid)) && run_one corvid "$n" "$half" half-rate "$half_logins" || true
    ((have_prosody)) && run_one prosody "$n" "$half" half-rate "$half_logins" || true
done

# --- table ----------------------------------------------------------------------------------------
table="$results/results.md"
{
    echo "| server | N | run | rate (msg/s) | login rate cap | logins/s | login p50 / p99 (ms) | delivered msg/s | latency p50 / p99 / max (ms) | lost | failures | RSS before → after logins (MiB) | RSS/conn (KiB) | server CPU login / msg | bench CPU login / msg | CPU wait server / bench |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for n in $sizes; do
        for label in saturation half-rate; do
            for server in corvid prosody; do
                f="$results/$server-$n-$label.json"
                [[ -f "$f" ]] || continue
                jq -r --arg s "$server" --arg l "$label" '
                    def r(x): if x == null then "n/a" else (x * 10 | round / 10 | tostring) end;
                    def mib(x): if x == null then "n/a" else (x / 1024 * 10 | round / 10 | tostring) end;
                    "| \($s) | \(.connections) | \($l) | \(if .rate == 0 then "max" else (.rate | tostring) end) | \(if .login_rate == 0 then "none" else (.login_rate | tostring) end) | \(r(.logins_per_s)) | \(r(.login_p50_ms)) / \(r(.login_p99_ms)) | \(r(.delivered_per_s)) | \(r(.latency_p50_ms)) / \(r(.latency_p99_ms)) / \(r(.latency_max_ms)) | \(.lost) | \(.failures) | \(mib(.rss_before_kib)) → \(mib(.rss_after_login_kib)) | \(r(.rss_per_connection_kib)) | \(r(.server_cpu_login_pct)) % / \(r(.server_cpu_message_pct)) % | \(r(.bench_cpu_login_pct)) % / \(r(.bench_cpu_message_pct)) % | \(r(.server_wait_pct)) % / \(r(.bench_wait_pct)) % |"' "$f"
            done
        done
    done
} >"$table"
cat "$table"
log "results in $results"
