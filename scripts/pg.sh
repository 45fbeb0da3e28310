#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for development and tests.
#
#   scripts/pg.sh start DIR PORT   initialise (first time) and start; prints the DSN on stdout
#   scripts/pg.sh stop DIR         stop it (nothing to do if it is not running)
#   scripts/pg.sh status DIR       exit 0 and print the DSN if it runs, exit 3 if not
#
# The cluster listens on 127.0.0.1:PORT only, plus a unix socket inside its directory, and trusts
# every local connection: it is a throwaway test cluster, never a production setup. fsync is off.
#
# PostgreSQL refuses to run as root, so the server runs as the `postgres` user, which must be able
# to reach DIR. When DIR lies under a directory it cannot traverse (a checkout under /root, say),
# the cluster is placed in /tmp/corvid-pg-<hash of DIR> instead; the same DIR always maps to the
# same place, so `stop DIR` finds it again. Everything is idempotent: running start twice is fine.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=postgres

usage() {
    echo "usage: $0 start DIR PORT | stop DIR | status DIR" >&2
    exit 2
}

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

as_pg() {
    if [[ $(id -un) == "$PG_USER" ]]; then
        "$@"
    elif [[ $(id -u) -eq 0 ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        die "run as root (or as $PG_USER): PostgreSQL must run as the $PG_USER user"
    fi
}

# Can the postgres user reach (traverse into) this existing directory?
pg_can_reach() {
    as_pg test -x "$1" -a -r "$1" 2>/dev/null
}

# Sets BASE (where the cluster lives) for the DIR the user gave.
resolve_base() {
    local dir=$1
    [[ -n $dir ]] || usage
    dir=$(realpath -m -- "$dir")
    local parent
    parent=$(dirname -- "$dir")
    # The nearest existing ancestor decides whether postgres could reach DIR once it exists.
    while [[ ! -d $parent ]]; do
        parent=$(dirname -- "$parent")
    done
    if [[ -d $dir ]] && pg_can_reach "$dir"; then
        BASE=$dir
    elif [[ ! -d $dir ]] && pg_can_reach "$parent"; then
        BASE=$dir
    else
        local hash
        hash=$(printf '%s' "$dir" | sha1sum | cut -c1-12)
        BASE=/tmp/corvid-pg-$hash
        echo "pg.sh: the $PG_USER user cannot reach $dir (a parent directory is not traversable);" \
            "using $BASE instead" >&2
    fi
    DATA=$BASE/data
    SOCKDIR=$BASE/run
    LOG=$BASE/postgres.log
}

# The port of the running postmaster (line 4 of postmaster.pid), or nothing.
running_port() {
    if [[ -f $DATA/postmaster.pid ]] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        sed -n 4p "$DATA/postmaster.pid"
    fi
}

print_dsn() {
    echo "hostaddr=127.0.0.1 port=$1 user=$PG_USER dbname=postgres"
}

cmd_start() {
    local port=$1
    [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "PORT must be a TCP port number"
    [[ -x $PG_BIN/initdb ]] || die "PostgreSQL 15 binaries not found in $PG_BIN (apt-get install postgresql)"

    mkdir -p -- "$BASE"
    chown "$PG_USER:" -- "$BASE"
    chmod 700 -- "$BASE"
    pg_can_reach "$BASE" || die "the $PG_USER user cannot reach $BASE; pick a DIR under /tmp"
    as_pg mkdir -p -- "$SOCKDIR"
    # A unix socket path is limited to 107 bytes (sun_path).
    if ((${#SOCKDIR} + 20 > 107)); then
        die "$SOCKDIR is too long for a unix socket path; pick a shorter DIR"
    fi

    if [[ ! -f $DATA/PG_VERSION ]]; then
        rm -rf -- "$DATA"
        as_pg "$PG_BIN/initdb" -D "$DATA" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 \
            --no-sync >"$BASE/initdb.log" 2>&1 || {
            cat "$BASE/initdb.log" >&2
            die "initdb failed"
        }
        # Settings of a private, disposable cluster; the port is given at each start instead.
        as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- written by corvid scripts/pg.sh: a private test cluster, never production ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKDIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
EOF
    fi

    local current
    current=$(running_port)
    if [[ -n $current ]]; then
        if [[ $current != "$port" ]]; then
            echo "pg.sh: already running on port $current (not $port); stop it first to change" >&2
        fi
        print_dsn "$current"
        return 0
    fi

    as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "-p $port" start >/dev/null || {
        tail -n 20 "$LOG" >&2 || true
        die "PostgreSQL did not start (log: $LOG)"
    }
    local i
    for ((i = 0; i < 60; i++)); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PG_USER"; then
            print_dsn "$port"
            return 0
        fi
        # pg_ctl -w has waited already; this only covers a slow first accept.
        sleep 0.5
    done
    die "PostgreSQL started but does not answer on 127.0.0.1:$port (log: $LOG)"
}

cmd_stop() {
    if [[ -f $DATA/PG_VERSION ]] && [[ -n $(running_port) ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -w -t 60 -m fast stop >/dev/null
        echo "pg.sh: stopped $DATA" >&2
    else
        echo "pg.sh: not running ($DATA)" >&2
    fi
}

cmd_status() {
    local current
    current=$(running_port)
    if [[ -n $current ]]; then
        print_dsn "$current"
    else
        echo "pg.sh: not running ($DATA)" >&2
        exit 3
    fi
}

[[ $# -ge 2 ]] || usage
case $1 in
start)
    [[ $# -eq 3 ]] || usage
    resolve_base "$2"
    cmd_start "$3"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    resolve_base "$2"
    cmd_stop
    ;;
status)
    [[ $# -eq 2 ]] || usage
    resolve_base "$2"
    cmd_status
    ;;
*)
    usage
    ;;
esac
