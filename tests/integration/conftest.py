"""Fixtures for corvid's integration tests: a real corvid, a real PostgreSQL, real clients.

Environment (set by scripts/test.sh):
  CORVID_TEST_PG_DSN   a running PostgreSQL the tests may create databases in (required)
  CORVID_BIN           the daemon (default: build/src/corvid under the repository root)
  CORVIDCTL_BIN        the admin tool (default: build/src/corvidctl)

Each test that uses `server` gets its own database and its own corvid on free ports. Per-test
config goes through the marker:

    @pytest.mark.corvid(config={"limits": {"auth_timeout_s": 2}}, allow_log=[r"regex"])

`allow_log` lists regexes of log lines the test expects to be errors (the teardown otherwise fails
on any error-level or sanitizer line).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from corvid_harness import REPO_ROOT, CorvidServer, DatabasePool

TEST_TIME_LIMIT_S = 90  # per test; a hung server must fail the test, not hang CI


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "corvid(config=None, allow_log=()): per-test corvid config overrides")
    config.addinivalue_line("markers", "time_limit(seconds): per-test wall-clock limit")


@pytest.fixture(autouse=True)
def _time_limit(request):
    """Fails a test that runs too long (SIGALRM interrupts blocking calls in the main thread)."""
    marker = request.node.get_closest_marker("time_limit")
    seconds = marker.args[0] if marker else TEST_TIME_LIMIT_S

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded its time limit of {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def need(binary: str, package: str) -> None:
    """Fails the test, naming the Debian package, when `binary` is not on PATH."""
    if shutil.which(binary) is None:
        pytest.fail(f"{binary} not found: the integration tests need the Debian package {package} "
                    "(scripts/deps.sh installs it)", pytrace=False)


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    need("psql", "postgresql-client-15 (a dependency of postgresql)")
    dsn = os.environ.get("CORVID_TEST_PG_DSN", "").strip()
    if not dsn:
        pytest.fail("CORVID_TEST_PG_DSN is not set: the integration tests need a running "
                    "PostgreSQL. Start one with `bash scripts/pg.sh start /tmp/it-pg 55600` and "
                    "export the DSN it prints (scripts/test.sh does this).", pytrace=False)
    r = subprocess.run(["psql", "-X", "-At", "-d", dsn, "-c", "select 1"], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        pytest.fail(f"CORVID_TEST_PG_DSN={dsn!r} does not answer: {r.stderr.strip()}",
                    pytrace=False)
    return dsn


TEST_USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}


def _make_pool(pg_dsn, binaries, tls_cert, workdir, with_users: bool) -> DatabasePool:
    def prepare(dbname: str) -> None:
        # A config only ever read by corvidctl (its ports are never listened on).
        s = CorvidServer(corvid_bin=binaries[0], corvidctl_bin=binaries[1], admin_dsn=pg_dsn,
                         cert=tls_cert[0], key=tls_cert[1], workdir=workdir, dbname=dbname)
        s.port, s.tls_port = 1, 2
        s.write_config()
        s.ctl("list-users", "localhost")  # migrates the schema
        if with_users:
            s.add_users({f"{name}@localhost": pw for name, pw in TEST_USERS.items()})
    return DatabasePool(pg_dsn, prepare)


@pytest.fixture(scope="session")
def db_pools(pg_dsn, binaries, tls_cert, tmp_path_factory):
    """Two pools of ready databases: an empty schema, and one with alice, bob and carol (made
    with corvidctl adduser once, in the template) for tests that use the `users` fixture."""
    pools = {flag: _make_pool(pg_dsn, binaries, tls_cert, tmp_path_factory.mktemp("template"),
                              flag) for flag in (False, True)}
    yield pools
    for pool in pools.values():
        pool.close()


def _binary(var: str, default: str) -> str:
    path = os.environ.get(var) or str(REPO_ROOT / default)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{var}: {path} is not an executable; build it first "
                    f"(cmake --build build --target corvid corvidctl) or set {var}",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def binaries() -> tuple[str, str]:
    return _binary("CORVID_BIN", "build/src/corvid"), _binary("CORVIDCTL_BIN", "build/src/corvidctl")


def make_cert(directory: Path, name: str, digest: str = "sha256") -> tuple[Path, Path]:
    need("openssl", "openssl")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", f"-{digest}",
                    "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="session")
def certs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("certs")


@pytest.fixture(scope="session")
def tls_cert(certs_dir) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (SHA-256 signature)."""
    return make_cert(certs_dir, "localhost")


@pytest.fixture
def server_factory(request, pg_dsn, db_pools, binaries, tls_cert, tmp_path):
    """Makes (and always cleans up) servers; `server` is the usual way in."""
    servers: list[CorvidServer] = []

    def make(config=None, allow_log=(), admin_dsn=None, cert=None, start=True,
             empty_database=False, with_users=False, env=None) -> CorvidServer:
        """empty_database: a new database without the schema (corvid must migrate it);
        with_users: the database has the TEST_USERS accounts; env: extra environment for corvid."""
        workdir = tmp_path / f"corvid{len(servers)}"
        workdir.mkdir()
        cert_path, key_path = cert or tls_cert
        s = CorvidServer(corvid_bin=binaries[0], corvidctl_bin=binaries[1],
                         admin_dsn=admin_dsn or pg_dsn, cert=cert_path, key=key_path,
                         workdir=workdir, overrides=config, allow_log=tuple(allow_log),
                         dbname=None if admin_dsn or empty_database
                         else db_pools[with_users].get(), env=env)
        servers.append(s)
        if start:
            s.start()
        return s

    yield make

    problems = []
    for s in servers:
        try:
            problems += s.close()
        finally:
            if s.admin_dsn == pg_dsn:
                db_pools[False].drop_later(s.dbname)
            else:
                try:
                    s.drop_database()
                except Exception as e:  # the test's own PostgreSQL may be gone already
                    problems.append(f"dropping {s.dbname}: {e}")
    if problems:
        pytest.fail("server teardown:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def server(request, server_factory) -> CorvidServer:
    marker = request.node.get_closest_marker("corvid")
    kwargs = dict(marker.kwargs) if marker else {}
    # A test that asks for `users` gets a database that has them already.
    kwargs.setdefault("with_users", "users" in request.fixturenames)
    return server_factory(**kwargs)


@pytest.fixture
def users(server) -> dict[str, str]:
    """alice, bob and carol (made with corvidctl adduser) with their passwords."""
    return dict(TEST_USERS)
