#!/usr/bin/python3
"""How long other users wait while one client makes corvid hash passwords (docs/benchmarks.md).

    /usr/bin/python3 bench/password-change-ping.py [--build DIR] [--changes 2000]
        [--workdir DIR] [--iterations 4096] [--idle-pings 500]

Starts a private PostgreSQL (scripts/pg.sh, in WORKDIR/pg) and corvid from DIR/src (default:
build/ of this checkout) with a generated configuration, and creates two accounts with
`corvidctl adduser`. Then, with both clients logged in (TLS, SASL PLAIN, bind):

1. idle: client B sends --idle-pings pings (XEP-0199) to the server, one after the other, and
   records each round trip;
2. load: client A writes --changes password changes (XEP-0077 §3.3, one iq each) in one pipeline
   and reads every answer; meanwhile B pings as in 1. A ping counts when it was sent before A had
   its last answer.

It prints, for both phases, B's round trips (p50 / p99 / max) and, for the load, how long A's
pipeline took and how its changes were answered. A runs in its own process, so that the two
clients do not share Python's interpreter lock. The server is not pinned to a CPU. Every wait is
bounded (60 s per read); the server and the PostgreSQL cluster are stopped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from xmpp_raw import NS_CLIENT, RawClient, q, stanza_error_condition  # noqa: E402

NS_REGISTER = "jabber:iq:register"
READ_TIMEOUT = 60.0
PASSWORD = {"a": "bench-a-secret", "b": "bench-b-secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def summary(rtts: list[float]) -> str:
    if not rtts:
        return "no pings"
    ms = [r * 1000 for r in rtts]
    return (f"{len(ms)} pings, p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
            f"max {max(ms):.2f} ms")


# --- the server ----------------------------------------------------------------------------------


class Server:
    def __init__(self, build: Path, workdir: Path, iterations: int) -> None:
        self.corvid = build / "src" / "corvid"
        self.corvidctl = build / "src" / "corvidctl"
        for binary in (self.corvid, self.corvidctl):
            if not os.access(binary, os.X_OK):
                sys.exit(f"password-change-ping: {binary} is not built")
        self.workdir = workdir
        self.iterations = iterations
        self.pg_dir = workdir / "pg"
        self.config = workdir / "corvid.toml"
        self.log_path = workdir / "corvid.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start_database(self) -> str:
        started = subprocess.run(["bash", str(REPO / "scripts" / "pg.sh"), "start",
                                  str(self.pg_dir), str(free_port())],
                                 capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            sys.exit(f"password-change-ping: PostgreSQL did not start: {started.stderr.strip()}")
        admin = started.stdout.strip().splitlines()[-1]
        # A fresh database each run: the accounts' state never carries over.
        for sql in ("DROP DATABASE IF EXISTS corvid_bench_pw", "CREATE DATABASE corvid_bench_pw"):
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin, "-c", sql],
                           check=True, timeout=60)
        return admin.replace("dbname=postgres", "dbname=corvid_bench_pw")

    def write_config(self, dsn: str) -> None:
        cert, key = self.workdir / "localhost.crt", self.workdir / "localhost.key"
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "365",
                            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                            "-keyout", str(key), "-out", str(cert)],
                           check=True, capture_output=True, timeout=60)
        self.port = free_port()
        self.config.write_text(f"""# Written by bench/password-change-ping.py; rewritten on every run.
[server]
log_level = "warn"

[database]
dsn = "{dsn}"

[tls]
certificate = "{cert}"
key = "{key}"

[[hosts]]
domain = "localhost"

[[listeners]]
type = "c2s"
address = "127.0.0.1"
port = {self.port}

[auth]
scram_iterations = {self.iterations}

[s2s]
enabled = false
""")

    def add_user(self, jid: str, password: str) -> None:
        # corvidctl reads the password as one line of standard input.
        command = [str(self.corvidctl), "--config", str(self.config), "adduser", jid]
        done = subprocess.run(command, input=password + "\n", capture_output=True, text=True,
                              timeout=60)
        if done.returncode == 2:
            # COMPAT: builds before 2bf6ddf read standard input only when given "-".
            done = subprocess.run([*command, "-"], input=password + "\n", capture_output=True,
                                  text=True, timeout=60)
        if done.returncode != 0:
            sys.exit(f"password-change-ping: corvidctl adduser {jid}: {done.stderr.strip()}")

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(self.corvid), "--config", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        # corvid listens before its database pool is up: ready once a real login succeeds.
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"password-change-ping: corvid exited with {self.proc.returncode}; "
                         f"see {self.log_path}")
            try:
                c = RawClient(self.port, timeout=5)
                c.login("b", PASSWORD["b"], resource="probe")
                c.close()
                return
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    sys.exit(f"password-change-ping: no login within 30 s; see {self.log_path}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["bash", str(REPO / "scripts" / "pg.sh"), "stop", str(self.pg_dir)],
                       capture_output=True, timeout=120)


# --- client A: the pipeline ----------------------------------------------------------------------


def pipeline(port: int, changes: int, logged_in, go, results) -> None:
    """Logs A in, waits for `go`, writes every change at once and reads all the answers, reading
    while writing so that neither side's buffers fill up."""
    c = RawClient(port, timeout=READ_TIMEOUT)
    c.login("a", PASSWORD["a"], resource="pipeline")
    logged_in.set()
    go.wait()
    payload = "".join(
        f"<iq type='set' id='c{i}' to='localhost'><query xmlns='{NS_REGISTER}'>"
        f"<username>a</username><password>changed-{i}</password></query></iq>"
        for i in range(changes)).encode()
    sock = c.sock
    sock.setblocking(False)
    out = memoryview(payload)
    answers: dict[str, int] = {}
    answered = 0
    start = time.monotonic()
    deadline = start + READ_TIMEOUT
    while answered < changes:
        if time.monotonic() > deadline:
            results.put({"error": f"only {answered} of {changes} answers in {READ_TIMEOUT} s"})
            return
        readable = sock.pending() > 0
        if not readable:
            r, _, _ = select.select([sock], [sock] if out else [], [], 0.5)
            readable = bool(r)
        if out:
            try:
                sent = sock.send(out[:16384])
                out = out[sent:]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                pass
        if readable:
            try:
                data = sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            if not data:
                results.put({"error": f"the server closed the stream after {answered} answers"})
                return
            c.reader.feed(data)
            while c.reader.elements:
                el = c.reader.elements.popleft()
                if el.tag != q(NS_CLIENT, "iq") or not el.get("id", "").startswith("c"):
                    continue
                kind = "result" if el.get("type") == "result" else stanza_error_condition(el)
                answers[kind] = answers.get(kind, 0) + 1
                answered += 1
    end = time.monotonic()
    results.put({"seconds": end - start, "end": end, "answers": answers})


# --- client B: the pings -------------------------------------------------------------------------


def ping(c: RawClient) -> tuple[float, float]:
    """(when it was sent, round trip), in seconds of the monotonic clock that A's process uses."""
    start = time.monotonic()
    reply = c.ping(timeout=READ_TIMEOUT)
    rtt = time.monotonic() - start
    if reply.get("type") != "result":
        raise AssertionError(f"ping not answered with a result: {reply}")
    return start, rtt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=REPO / "build")
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--workdir", type=Path,
                        default=Path(os.environ.get("TMPDIR", "/tmp")) / "corvid-bench-pwchange")
    parser.add_argument("--iterations", type=int, default=4096,
                        help="auth.scram_iterations of the server")
    parser.add_argument("--idle-pings", type=int, default=500)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    server = Server(args.build.resolve(), args.workdir.resolve(), args.iterations)
    try:
        dsn = server.start_database()
        server.write_config(dsn)
        for user in ("a", "b"):
            server.add_user(f"{user}@localhost", PASSWORD[user])
        server.start()

        b = RawClient(server.port, timeout=READ_TIMEOUT)
        b.login("b", PASSWORD["b"], resource="pinger")
        idle = [ping(b)[1] for _ in range(args.idle_pings)]

        ctx = multiprocessing.get_context("fork")
        logged_in, go, results = ctx.Event(), ctx.Event(), ctx.Queue()
        a = ctx.Process(target=pipeline,
                        args=(server.port, args.changes, logged_in, go, results))
        a.start()
        if not logged_in.wait(READ_TIMEOUT):
            sys.exit("password-change-ping: client A did not log in")
        go.set()
        pings = []
        outcome = None
        while outcome is None:
            pings.append(ping(b))
            try:
                outcome = results.get_nowait()
            except queue.Empty:
                pass
        a.join(timeout=READ_TIMEOUT)
        b.close()
        if "error" in outcome:
            sys.exit(f"password-change-ping: client A: {outcome['error']}")

        loaded = [rtt for sent, rtt in pings if sent < outcome["end"]]
        answers = ", ".join(f"{n} {kind}" for kind, n in sorted(outcome["answers"].items()))
        print(f"corvid {server.corvid} (auth.scram_iterations = {args.iterations})")
        print(f"idle:  B {summary(idle)}")
        print(f"load:  A pipelined {args.changes} password changes, all answered in "
              f"{outcome['seconds']:.3f} s ({answers})")
        print(f"       B meanwhile {summary(loaded)}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
