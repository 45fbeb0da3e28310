#!/usr/bin/env bash
# Runs a private Prosody instance (Debian's prosody 0.12 package) for the corvid benchmark.
#
#   bench/run-prosody.sh start [--accounts FILE] [--workdir DIR] [--port 15222]
#                              [--direct-tls-port 15223] [--cert-type ec|rsa] [--log-level warn]
#                              [--cpu N]
#   bench/run-prosody.sh stop  [--workdir DIR]
#   bench/run-prosody.sh pid   [--workdir DIR]
#
# Everything lives under the work directory (default ${TMPDIR:-/tmp}/corvid-bench-prosody):
# prosody.cfg.lua, data/, certs/ (a self-signed certificate), prosody.log and prosody.pid.
# /etc/prosody is never read. Accounts are written straight into Prosody's internal storage (see
# prosody/write-accounts.lua) and reused while the accounts file is unchanged. Prosody refuses to
# run as root, so as root it is started as the 'prosody' user. `start` prints the server's pid.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
shift || true
workdir="${TMPDIR:-/tmp}/corvid-bench-prosody"
accounts=""
port=15222
direct_tls_port=15223
cert_type=ec
log_level=warn
cpu=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --accounts) accounts="$2"; shift 2 ;;
        --workdir) workdir="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --direct-tls-port) direct_tls_port="$2"; shift 2 ;;
        --cert-type) cert_type="$2"; shift 2 ;;
        --log-level) log_level="$2"; shift 2 ;;
        --cpu) cpu="$2"; shift 2 ;;
        *) echo "run-prosody.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
pidfile="$workdir/prosody.pid"

running_pid() {
    [[ -f "$pidfile" ]] || return 1
    local pid
    pid="$(cat "$pidfile")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_server() {
    local pid
    if pid="$(running_pid)"; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "run-prosody.sh: prosody $pid did not stop in 10 s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

make_certificate() {
    mkdir -p "$workdir/certs"
    [[ -f "$workdir/certs/localhost.crt" && -f "$workdir/certs/localhost.key" ]] && return 0
    local keyopt
    if [[ "$cert_type" == rsa ]]; then
        keyopt=(-newkey rsa:2048)
    else
        keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
    fi
    openssl req -x509 "${keyopt[@]}" -nodes -days 365 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost \
        -keyout "$workdir/certs/localhost.key" -out "$workdir/certs/localhost.crt" 2>/dev/null
}

write_accounts() {
    [[ -n "$accounts" ]] || return 0
    local stamp want
    want="$(sha256sum "$accounts" | cut -d' ' -f1) 4096"
    stamp="$workdir/data/accounts.stamp"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    rm -rf "$workdir/data/localhost/accounts"
    mkdir -p "$workdir/data/localhost/accounts"
    # PBKDF2 per account dominates (about 1 ms each): one writer per core.
    local shards
    shards="$(nproc)"
    local pids=()
    for ((s = 0; s < shards; s++)); do
        lua5.4 "$here/prosody/write-accounts.lua" "$accounts" "$workdir/data" localhost 4096 \
            "$s" "$shards" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    echo "$want" >"$stamp"
}

start_server() {
    if running_pid >/dev/null; then
        echo "run-prosody.sh: already running (pid $(cat "$pidfile")); stop it first" >&2
        exit 1
    fi
    mkdir -p "$workdir/data"
    make_certificate
    write_accounts
    sed -e "s|@WORKDIR@|$workdir|g" -e "s|@C2S_PORT@|$port|g" \
        -e "s|@DIRECT_TLS_PORT@|$direct_tls_port|g" -e "s|@LOG_LEVEL@|$log_level|g" \
        "$here/prosody/prosody.cfg.lua.in" >"$workdir/prosody.cfg.lua"
    : >"$workdir/prosody.log"

    local run=()
    if [[ -n "$cpu" ]]; then
        # Pin the server alone (not the account writer above) to one CPU; taskset execs too.
        run=(taskset -c "$cpu")
    fi
    if [[ "$(id -u)" == 0 ]]; then
        chown -R prosody:prosody "$workdir"
        run+=(setpriv --reuid=prosody --regid=prosody --init-groups --)
    fi
    # 10,000 clients need 10,000 sockets; take whatever the hard limit allows.
    ulimit -n "$(ulimit -Hn)"
    # taskset and setpriv exec, so $! is Prosody's own pid. -F: stay in the foreground (no daemonizing).
    "${run[@]}" prosody --config "$workdir/prosody.cfg.lua" -F \
        >>"$workdir/prosody.stdout" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$pidfile"
    for _ in $(seq 1 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run-prosody.sh: prosody exited during start-up; see $workdir/prosody.log" >&2
            tail -n 20 "$workdir/prosody.log" "$workdir/prosody.stdout" >&2 || true
            rm -f "$pidfile"
            exit 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$pid"
            return 0
        fi
        sleep 0.1
    done
    echo "run-prosody.sh: prosody did not listen on port $port within 15 s" >&2
    stop_server
    exit 1
}

case "$cmd" in
    start) start_server ;;
    stop) stop_server ;;
    pid) running_pid || exit 1 ;;
    *) sed -n '2,/^[^#]/{/^#/p}' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
