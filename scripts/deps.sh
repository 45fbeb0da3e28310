#!/usr/bin/env bash
# Installs every Debian 12 package corvid needs to build, test, fuzz and run.
# Run as root. Safe to rerun: when everything is already installed it returns at once.
set -euo pipefail

PACKAGES=(
    # toolchain
    cmake make g++ clang libclang-rt-14-dev pkg-config git ca-certificates
    # faster rebuilds (CMakeLists.txt uses it when present) and the formatter of .clang-format
    ccache clang-format
    # libraries the server links against
    libexpat1-dev libssl-dev openssl libevent-dev libpq-dev libc-ares-dev libidn2-dev libicu-dev
    libtomlplusplus-dev libspdlog-dev libhttp-parser-dev libwslay-dev
    # unit tests
    catch2
    # integration tests: a real database, real clients and other servers to talk to. Everything
    # they run or import comes from these packages or from their Depends (not their Recommends):
    # psql and pg_ctl (postgresql), python3-gi (imported by the nbxmpp client), cc (g++),
    # ejabberdctl and erl (ejabberd). Prosody only recommends lua-unbound, its resolver: listed.
    # tests/integration/federation/requirements.py names any of Prosody's and ejabberd's missing.
    # python3-aiohttp: slixmpp's XEP-0363 plugin uploads with it.
    postgresql python3-slixmpp python3-nbxmpp python3-gi python3-pytest libstrophe-dev
    python3-aiohttp
    prosody lua-unbound ejabberd
    # calls: coturn's turnserver, the TURN server whose use-auth-secret credentials extdisco
    # hands out (tests/integration/turn.py runs it on loopback)
    coturn
    # gateways: biboumi (an XMPP-IRC gateway, a XEP-0114 component) and ngircd, the IRC server it
    # connects to (tests/integration/gateways.py runs both on loopback)
    biboumi ngircd
    # web clients: node runs @xmpp/client (tests/integration/web, installed below by npm ci)
    # over WebSocket. npm comes with Debian's own package, or inside a nodejs from elsewhere.
    nodejs
    # scripts (ps, ss)
    procps iproute2
)

# The npm packages of the web client tests, as pinned by tests/integration/web/package-lock.json.
web_clients() {
    local web
    web="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/integration/web"
    if [[ -d "$web/node_modules/@xmpp/client" && -d "$web/node_modules/ws" &&
          "$web/node_modules/.package-lock.json" -nt "$web/package-lock.json" ]]; then
        return 0
    fi
    if ! command -v npm >/dev/null; then
        echo "deps: npm is missing (apt-get install npm, or a nodejs that includes it)" >&2
        return 1
    fi
    echo "deps: installing the web client packages (npm ci in $web)"
    npm ci --prefix "$web" --no-audit --no-fund
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done
# Debian's nodejs leaves npm to its own package; other builds of nodejs include it (and conflict
# with Debian's npm), so npm is asked for only when there is none.
if ! command -v npm >/dev/null; then
    missing+=(npm)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all ${#PACKAGES[@]} packages are installed"
    web_clients
    exit $?
fi

echo "deps: installing ${#missing[@]} missing packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    echo "deps: must run as root to install packages (try: sudo bash $0)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Package postinst scripts would start prosody, ejabberd and PostgreSQL as system services, taking
# ports 5222/5269/5432 that corvid and its tests want. policy-rc.d exiting 101 forbids that. Only
# remove it afterwards if we created it: an existing one belongs to the machine's owner.
policy=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if [[ $created_policy -eq 1 ]]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# written by corvid scripts/deps.sh while installing packages\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi

apt-get update
apt-get install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"

web_clients
echo "deps: done"
