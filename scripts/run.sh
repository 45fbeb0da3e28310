#!/usr/bin/env bash
# Runs a local demo of corvid serving `localhost`, from a fresh Debian 12 machine, as root:
#
#   bash scripts/run.sh
#
# Installs the packages (scripts/deps.sh), builds the release build (build/), starts a private
# PostgreSQL in .run/pg (port 5433, or a free one if that is taken), generates a self-signed
# certificate and a demo configuration .run/corvid.toml, checks it, creates the account
# demo@localhost with a fresh random password (printed below), then runs the daemon in the
# foreground. Stop it with Ctrl-C; stop the database with `bash scripts/pg.sh stop .run/pg`.
#
# Environment: CORVID_LISTEN (address to bind, default 127.0.0.1), CORVID_C2S_PORT (5222),
# CORVID_C2S_TLS_PORT (5223), CORVID_PG_PORT (5433).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
run=$root/.run
# Not chmod 700: the postgres user must be able to reach .run/pg. The key gets mode 600 and the
# password is never written down.
mkdir -p "$run"

listen=${CORVID_LISTEN:-127.0.0.1}
c2s_port=${CORVID_C2S_PORT:-5222}
c2s_tls_port=${CORVID_C2S_TLS_PORT:-5223}
pg_port=${CORVID_PG_PORT:-5433}
domain=localhost

say() {
    printf '\n=== %s ===\n' "$*"
}
port_busy() {
    [[ -n $(ss -Htln "sport = :$1" 2>/dev/null) ]]
}

say "packages"
bash "$root/scripts/deps.sh"

say "release build (build/)"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORVID_SANITIZE=OFF >/dev/null
cmake --build "$root/build" -j "$(nproc)"
corvid=$root/build/src/corvid
corvidctl=$root/build/src/corvidctl

say "PostgreSQL (.run/pg)"
if dsn=$(bash "$root/scripts/pg.sh" status "$run/pg" 2>/dev/null); then
    echo "already running"
else
    if port_busy "$pg_port"; then
        for _ in $(seq 1 100); do
            pg_port=$((20000 + RANDOM % 40000))
            port_busy "$pg_port" || break
        done
        echo "port ${CORVID_PG_PORT:-5433} is taken; using $pg_port"
    fi
    dsn=$(bash "$root/scripts/pg.sh" start "$run/pg" "$pg_port" | tail -n 1)
fi
echo "$dsn"
# corvid gets a database of its own rather than the maintenance database `postgres`.
if [[ -z $(psql "$dsn" -tAc "SELECT 1 FROM pg_database WHERE datname = 'corvid'") ]]; then
    psql "$dsn" -qc "CREATE DATABASE corvid"
fi
corvid_dsn=$(sed -E 's/(^| )dbname=[^ ]*/\1dbname=corvid/' <<<"$dsn")

say "certificate for $domain (.run/$domain.crt)"
if [[ ! -s $run/$domain.crt || ! -s $run/$domain.key ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
        -subj "/CN=$domain" -addext "subjectAltName=DNS:$domain,DNS:*.$domain" \
        -keyout "$run/$domain.key" -out "$run/$domain.crt" 2>/dev/null
    chmod 600 "$run/$domain.key"
    echo "generated a self-signed certificate (clients will ask you to accept it)"
else
    echo "using the existing one"
fi

say "configuration (.run/corvid.toml)"
for p in "$c2s_port" "$c2s_tls_port"; do
    if port_busy "$p"; then
        echo "run.sh: port $p is in use (another XMPP server?); set CORVID_C2S_PORT /" \
            "CORVID_C2S_TLS_PORT to other ports" >&2
        exit 1
    fi
done
# Rewritten on every run so that it follows the database port; copy it elsewhere to customise.
# Mode 600: it holds the DSN (corvid warns about a file others may read).
rm -f "$run/corvid.toml"
(umask 077 && cat >"$run/corvid.toml") <<EOF
# Demo configuration written by scripts/run.sh: rewritten on every run.
# Reference of every key: docs/configuration.md and conf/corvid.example.toml.

[database]
dsn = "$corvid_dsn"

[tls]
certificate = "$run/$domain.crt"
key = "$run/$domain.key"

[[hosts]]
domain = "$domain"

[[listeners]]
type = "c2s"
address = "$listen"
port = $c2s_port

[[listeners]]
type = "c2s_direct_tls"
address = "$listen"
port = $c2s_tls_port

# A server named localhost cannot federate.
[s2s]
enabled = false
EOF
if [[ ! -x $corvid ]]; then
    echo "run.sh: $corvid was not built yet: the daemon is not there; stopping here." >&2
    exit 1
fi
if check=$("$corvid" --check-config "$run/corvid.toml" 2>&1) && [[ $check == ok ]]; then
    echo "corvid --check-config: ok"
else
    echo "corvid --check-config: $check"
    echo "run.sh: the generated configuration does not check out (see above)" >&2
    exit 1
fi

say "demo account"
password=$(openssl rand -base64 18 | tr -d '/+=' | cut -c1-16)
if [[ ! -x $corvidctl ]]; then
    echo "skipped: corvidctl is not built yet, so no account can be created"
elif printf '%s\n' "$password" |
    "$corvidctl" --config "$run/corvid.toml" adduser "demo@$domain" >/dev/null 2>"$run/ctl.err"; then
    echo "created demo@$domain"
elif printf '%s\n' "$password" |
    "$corvidctl" --config "$run/corvid.toml" passwd "demo@$domain" >/dev/null 2>>"$run/ctl.err"; then
    echo "demo@$domain existed already: its password was reset"
else
    cat "$run/ctl.err" >&2
    echo "run.sh: could not create demo@$domain (above)" >&2
    exit 1
fi
if [[ -x $corvidctl ]]; then
    printf '\n  account:  demo@%s\n  password: %s\n  server:   %s port %s (STARTTLS), %s (direct TLS)\n' \
        "$domain" "$password" "$listen" "$c2s_port" "$c2s_tls_port"
fi

say "corvid (Ctrl-C to stop; database: bash scripts/pg.sh stop .run/pg)"
exec "$corvid" --config "$run/corvid.toml"
