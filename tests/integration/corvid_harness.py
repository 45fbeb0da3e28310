"""Starting and stopping corvid for the integration tests: a fresh database per server, a config
with free ports, readiness by log line, and a strict clean-shutdown check at the end."""

from __future__ import annotations

import collections
import concurrent.futures
import copy
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[2]

# Lines that must never be in a log: spdlog's error/critical levels and sanitizer reports.
BAD_LOG_LINE = re.compile(
    r"^\S+ \S+ (error|critical) |ERROR|AddressSanitizer|LeakSanitizer|runtime error:|"
    r"ThreadSanitizer|UndefinedBehaviorSanitizer", re.M)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --- libpq connection strings ---------------------------------------------------------------------

_KV = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)")


def dsn_with_dbname(dsn: str, dbname: str) -> str:
    """The same connection string pointing at another database."""
    if dsn.startswith(("postgres://", "postgresql://")):
        u = urllib.parse.urlsplit(dsn)
        return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))
    pairs = []
    pos = 0
    for m in _KV.finditer(dsn):
        if dsn[pos:m.start()].strip():
            raise ValueError(f"cannot parse the DSN {dsn!r}")
        pos = m.end()
        if m.group(1) != "dbname":
            pairs.append((m.group(1), m.group(2)))
    if dsn[pos:].strip():
        raise ValueError(f"cannot parse the DSN {dsn!r}")
    pairs.append(("dbname", dbname))
    return " ".join(f"{k}={v}" for k, v in pairs)


def psql(dsn: str, sql: str, timeout: float = 30) -> str:
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", dsn, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed ({sql}): {r.stderr.strip()}")
    return r.stdout


def new_dbname() -> str:
    return f"corvid_it_{os.getpid()}_{secrets.token_hex(4)}"


def create_database(admin_dsn: str, name: str, template: Optional[str] = None) -> None:
    # FILE_COPY is about twice as fast as PostgreSQL 15's default WAL_LOG on a small cluster.
    tmpl = f' TEMPLATE "{template}"' if template else ""
    psql(admin_dsn, f'CREATE DATABASE "{name}"{tmpl} STRATEGY FILE_COPY')


class DatabasePool:
    """Creates the next tests' databases in the background while the current test runs.

    They are copies of a template that corvidctl has migrated once per session, so each corvid
    starts on an up-to-date schema (test_fresh_database covers corvid migrating an empty one)."""

    def __init__(self, admin_dsn: str, migrate, ahead: int = 2) -> None:
        self.admin_dsn = admin_dsn
        self.ahead = ahead
        self.template = f"corvid_it_template_{os.getpid()}_{secrets.token_hex(3)}"
        self._migrate = migrate  # migrate(dbname): brings that database's schema up to date
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "corvid-it-db")
        self._pending: collections.deque = collections.deque()
        self._template_ready = self._executor.submit(self._make_template)

    def _make_template(self) -> None:
        create_database(self.admin_dsn, self.template)
        self._migrate(self.template)

    def _schedule(self) -> None:
        name = new_dbname()
        self._pending.append((name, self._executor.submit(create_database, self.admin_dsn, name,
                                                          self.template)))

    def get(self) -> str:
        self._template_ready.result(timeout=120)  # raises if migrating the template failed
        while len(self._pending) < self.ahead + 1:
            self._schedule()
        name, fut = self._pending.popleft()
        fut.result(timeout=60)
        self._schedule()
        return name

    def drop_later(self, name: str) -> None:
        self._executor.submit(psql, self.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name, fut in list(self._pending) + [(self.template, self._template_ready)]:
            try:
                fut.result(timeout=60)
            except Exception:
                pass
            try:
                psql(self.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:
                pass
        self._pending.clear()
        self._executor.shutdown(wait=True)


# --- TOML ---------------------------------------------------------------------------------------


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def _is_table_array(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(config: dict) -> str:
    """Top-level keys are tables (dict) or arrays of tables (list of dict); nested dicts become
    dotted sub-tables, nested lists of dicts arrays of tables ([[modules.extdisco.services]])."""
    out = []

    def table(name, d):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict) and
                   not _is_table_array(v)}
        out.append(f"[{name}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        out.append("")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)
            elif _is_table_array(v):
                for item in v:
                    out.append(f"[[{name}.{k}]]")
                    out.extend(f"{ik} = {_toml_value(iv)}" for ik, iv in item.items())
                    out.append("")

    for name, value in config.items():
        if isinstance(value, list):
            for item in value:
                out.append(f"[[{name}]]")
                out.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
                out.append("")
        else:
            table(name, value)
    return "\n".join(out)


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# --- the server -------------------------------------------------------------------------------------


def wait_for_log(log, pattern: str, timeout: float, who: str, poll: float = 0.1) -> re.Match:
    """Polls `log()` (a server's log text) until `pattern` matches; fails with the log's tail."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(log())
        if m:
            return m
        if time.monotonic() > deadline:
            raise AssertionError(f"{who}: no log line matching {pattern!r} within {timeout} s:\n"
                                 f"{log()[-3000:]}")
        time.sleep(poll)


class CorvidServer:
    """One corvid process with its own database, config and log file."""

    READY_TIMEOUT = 20.0
    STOP_TIMEOUT = 8.0

    def __init__(self, *, corvid_bin: str, corvidctl_bin: str, admin_dsn: str, cert: Path,
                 key: Path, workdir: Path, overrides: Optional[dict] = None,
                 allow_log: tuple = (), dbname: Optional[str] = None,
                 env: Optional[dict] = None) -> None:
        self.corvid_bin = corvid_bin
        self.corvidctl_bin = corvidctl_bin
        self.admin_dsn = admin_dsn
        self.cert = cert
        self.key = key
        self.workdir = workdir
        self.overrides = dict(overrides or {})
        self.allow_log = [re.compile(p) for p in allow_log]
        self.env = dict(os.environ, **(env or {}))
        # A database made beforehand (DatabasePool) is still ours to drop.
        self._db_created = dbname is not None
        self.dbname = dbname or new_dbname()
        self.dsn = dsn_with_dbname(admin_dsn, self.dbname)
        self.config_path = workdir / "corvid.toml"
        # It holds the DSN: only its owner may read it, or corvid warns (test_config.py).
        self.config_mode = 0o600
        self.log_path = workdir / "corvid.log"
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.tls_port = 0
        # With [[components]] in the overrides, a component listener on a free port too.
        self.component_port = 0
        # Listeners of these types ("http", "https") are added on free ports: http_ports[type].
        self.http_types = tuple(self.overrides.pop("http_listeners", ()))
        self.http_ports: dict[str, int] = {}
        self.returncode: Optional[int] = None

    # -- config --

    def config(self) -> dict:
        base = {
            "server": {"log_level": "debug"},
            "database": {"dsn": self.dsn, "connect_timeout_ms": 2000},
            "tls": {"certificate": str(self.cert), "key": str(self.key)},
            "hosts": [{"domain": "localhost"}],
            "listeners": [
                {"type": "c2s", "address": "127.0.0.1", "port": self.port},
                {"type": "c2s_direct_tls", "address": "127.0.0.1", "port": self.tls_port},
            ],
            "s2s": {"enabled": False},
        }
        if self.component_port:
            base["listeners"].append({"type": "component", "address": "127.0.0.1",
                                      "port": self.component_port})
        for kind in self.http_types:
            base["listeners"].append({"type": kind, "address": "127.0.0.1",
                                      "port": self.http_ports[kind]})
        config = deep_merge(base, self.overrides)
        # The upload URL names the HTTP port, known only now: "{http}" / "{https}" in it.
        upload = config.get("modules", {}).get("upload", {})
        if "url_base" in upload:
            upload["url_base"] = upload["url_base"].format(**self.http_ports)
        return config

    def write_config(self) -> None:
        self.config_path.write_text(to_toml(self.config()))
        self.config_path.chmod(self.config_mode)

    # -- life cycle --

    def start(self, wait_database: bool = True) -> "CorvidServer":
        """Creates the database if needed, starts corvid and waits until it listens (and, unless
        wait_database is false, until its database is ready)."""
        if not self._db_created:
            create_database(self.admin_dsn, self.dbname)
            self._db_created = True
        for attempt in range(3):
            self.port, self.tls_port = free_port(), free_port()
            while self.tls_port == self.port:
                self.tls_port = free_port()
            if "components" in self.overrides:
                self.component_port = free_port()
                while self.component_port in (self.port, self.tls_port):
                    self.component_port = free_port()
            taken = {self.port, self.tls_port, self.component_port}
            for kind in self.http_types:
                port = free_port()
                while port in taken:
                    port = free_port()
                taken.add(port)
                self.http_ports[kind] = port
            self.write_config()
            self._spawn()
            try:
                self._wait_ready(wait_database)
                return self
            except _PortTaken:
                continue  # another process took a port between our probe and corvid's bind
        raise RuntimeError("corvid could not bind free ports three times")

    def _spawn(self) -> None:
        self.log_file = open(self.log_path, "ab")
        self._log_start = self.log_file.tell()  # this run's lines start here (see restart())
        self.proc = subprocess.Popen([self.corvid_bin, "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, cwd=self.workdir, env=self.env)
        self.returncode = None
        self._term_sent = False

    def _wait_ready(self, wait_database: bool = True) -> None:
        deadline = time.monotonic() + self.READY_TIMEOUT
        while True:
            text = self.log(since=self._log_start)
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                if "cannot listen" in text:
                    raise _PortTaken()
                raise RuntimeError(f"corvid exited with {rc} while starting:\n{text[-4000:]}")
            if "corvid running" in text and ("database ready" in text or not wait_database):
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"corvid not ready within {self.READY_TIMEOUT} s:\n"
                                   f"{text[-4000:]}")
            time.sleep(0.05)

    def restart(self, wait_database: bool = True) -> None:
        """Stops (cleanly, if running) and starts again on the same ports and database."""
        rc = self.stop()
        assert rc == 0, f"corvid exited with status {rc} before the restart"
        self.log_file.close()
        self._spawn()
        self._wait_ready(wait_database)

    def log_of_this_run(self) -> str:
        return self.log(since=self._log_start)

    def terminate(self) -> None:
        """Sends SIGTERM once (a second one means "leave now" to corvid)."""
        if self.proc is not None and self.proc.poll() is None and not self._term_sent:
            self._term_sent = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        """SIGTERM (unless sent already) and waits for the exit; returns the exit status (also in
        .returncode)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"corvid did not exit within {self.STOP_TIMEOUT} s of "
                                     f"SIGTERM:\n{self.log()[-3000:]}")
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def drop_database(self) -> None:
        if self._db_created:
            psql(self.admin_dsn, f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            self._db_created = False

    def close(self) -> list[str]:
        """Teardown: stop, then the list of problems (unclean exit, bad log lines)."""
        problems = []
        try:
            rc = self.stop()
            if rc != 0:
                problems.append(f"corvid exited with status {rc} after SIGTERM")
        except AssertionError as e:
            problems.append(str(e))
        finally:
            if getattr(self, "log_file", None):
                self.log_file.close()
        for line in self.log().splitlines():
            if BAD_LOG_LINE.search(line) and not any(p.search(line) for p in self.allow_log):
                problems.append(f"log line: {line}")
        return problems

    # -- helpers --

    def log(self, since: int = 0) -> str:
        """The log text (of every run of this server, or from byte offset `since`)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        return wait_for_log(self.log, pattern, timeout, "corvid", 0.05)

    def ctl(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        r = subprocess.run([self.corvidctl_bin, "--config", str(self.config_path), *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"corvidctl {' '.join(args)} failed ({r.returncode}): "
                               f"{r.stderr.strip()}")
        return r

    def add_user(self, jid: str, password: str) -> None:
        # The password goes through stdin, as a script of an administrator's would give it.
        r = subprocess.run([self.corvidctl_bin, "--config", str(self.config_path), "adduser", jid],
                           input=password + "\n", capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"corvidctl adduser {jid} failed ({r.returncode}): "
                               f"{r.stderr.strip()}")

    def add_users(self, accounts: dict[str, str]) -> None:
        """Several adduser runs at once."""
        procs = [(jid, subprocess.Popen([self.corvidctl_bin, "--config", str(self.config_path),
                                         "adduser", jid], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                 for jid in accounts]
        errors = []
        for (jid, p) in procs:
            _, err = p.communicate(accounts[jid] + "\n", timeout=30)
            if p.returncode != 0:
                errors.append(f"corvidctl adduser {jid} failed ({p.returncode}): {err.strip()}")
        if errors:
            raise RuntimeError("; ".join(errors))

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    @property
    def pid(self) -> int:
        return self.proc.pid


class _PortTaken(Exception):
    pass


# --- a private PostgreSQL cluster (scripts/pg.sh) ---------------------------------------------------


class PrivatePostgres:
    """A throwaway cluster of its own, for tests that stop and start PostgreSQL."""

    def __init__(self) -> None:
        # Under /tmp directly: the postgres user must traverse it, and the unix socket path is
        # limited to 107 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="corvid-it-pg-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.script = REPO_ROOT / "scripts" / "pg.sh"
        self.dsn: Optional[str] = None

    def start(self, timeout: float = 120) -> str:
        r = subprocess.run(["bash", str(self.script), "start", str(self.dir / "c"), str(self.port)],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"pg.sh start failed: {r.stderr.strip()}")
        self.dsn = r.stdout.strip().splitlines()[-1]
        return self.dsn

    def stop(self, timeout: float = 60) -> None:
        r = subprocess.run(["bash", str(self.script), "stop", str(self.dir / "c")],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"pg.sh stop failed: {r.stderr.strip()}")

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
