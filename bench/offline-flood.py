#!/usr/bin/python3
"""Offline-message figures of one corvid build (docs/benchmarks.md, "Offline messages"):

  1. RSS growth while one client sends N messages (default 20,000) with a 2 KB body to accounts
     that do not exist, as fast as corvid reads them: once all to one absent account, once each
     to a different one. Reported: RSS before, peak, and at the end; the errors that came back.
  2. The time to store 1,000 offline messages from one sender (to one offline account whose
     quota, modules.offline.max_messages, is 1,000: the end is the resource-constraint error for
     message 1,001, which corvid can only send once the 1,000 before it are stored), and the
     time to deliver them after the recipient's initial presence.

  bench/offline-flood.py --build DIR --pg-dsn DSN [--messages N] [--body BYTES] [--stores N]
                          [--parts flood,stores]

Each part starts a corvid of its own (with a database of its own, dropped afterwards) on free
loopback ports. The client streams are plaintext (auth.allow_plaintext), so that one thread can
write while another reads the same socket: TLS is not what is measured. Needs: the build (corvid,
corvidctl), a PostgreSQL the DSN may create databases in (scripts/pg.sh), openssl.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from corvid_harness import CorvidServer  # noqa: E402
from xmpp_raw import NS_CLIENT, RawClient, StreamReader, q  # noqa: E402

NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class RssSampler:
    """Reads the server's RSS every few milliseconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid, self.interval = pid, interval
        self.peak = rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


class Reader:
    """Reads a client's socket in a thread: counts stanza errors by condition, collects the
    messages' bodies, and notes when an element with a given id arrives."""

    def __init__(self, sock: socket.socket, reader: StreamReader) -> None:
        self.sock, self.reader = sock, reader
        self.errors: dict[str, int] = {}
        self.bodies: list[str] = []
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(None)
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                data = b""
            with self.lock:
                if not data:
                    self.closed = True
                    self.changed.notify_all()
                    return
                self.reader.feed(data)
                while self.reader.elements:
                    self._take(self.reader.elements.popleft())
                self.changed.notify_all()

    def _take(self, el) -> None:
        if el.get("id"):
            self.arrived[el.get("id")] = time.monotonic()
        if el.get("type") == "error":
            err = el.find(q(NS_CLIENT, "error"))
            conds = [c.tag.split("}")[1] for c in err if c.tag.startswith("{" + NS_STANZAS) and
                     not c.tag.endswith("}text")] if err is not None else ["?"]
            self.errors[conds[0]] = self.errors.get(conds[0], 0) + 1
        elif el.tag == q(NS_CLIENT, "message"):
            self.bodies.append(el.findtext(q(NS_CLIENT, "body")) or "")

    def wait(self, pred, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return pred()
                self.changed.wait(left)
            return True

    def error_total(self) -> int:
        return sum(self.errors.values())


def plain_login(port: int, user: str, resource: str) -> RawClient:
    c = RawClient(port, timeout=30)
    c.open_stream()
    res = c.auth_scram(user, USERS[user], "SCRAM-SHA-256").element  # PLAIN needs TLS
    assert res.tag.endswith("success"), ET.tostring(res)
    c.restart_after_auth()
    assert c.bind(resource).get("type") == "result"
    return c


def start_corvid(args, workdir: Path, cert: tuple[Path, Path], config: dict) -> CorvidServer:
    overrides = {"server": {"log_level": "info"}, "auth": {"allow_plaintext": True}}
    for k, v in config.items():
        overrides.setdefault(k, {}).update(v)
    workdir.mkdir()
    s = CorvidServer(corvid_bin=str(args.build / "src" / "corvid"),
                     corvidctl_bin=str(args.build / "src" / "corvidctl"), admin_dsn=args.pg_dsn,
                     cert=cert[0], key=cert[1], workdir=workdir, overrides=overrides)
    s.start()
    s.add_users({f"{u}@localhost": pw for u, pw in USERS.items()})
    return s


def flood(args, server: CorvidServer, name: str, recipient) -> None:
    alice = plain_login(server.port, "alice", "flood")
    body = "x" * args.body
    wire = b"".join(f"<message to='{recipient(i)}' type='chat' id='f{i}'><body>{body}</body>"
                    f"</message>".encode() for i in range(args.messages))
    time.sleep(1.0)  # the login's allocations settle
    before = rss_kib(server.pid)
    reader = Reader(alice.sock, alice.reader)
    sampler = RssSampler(server.pid)
    t0 = time.monotonic()
    alice.sock.settimeout(None)
    alice.sock.sendall(wire)  # blocks whenever corvid stops reading
    sent = time.monotonic() - t0
    alice.sock.sendall(b"<iq type='get' id='done'><ping xmlns='urn:xmpp:ping'/></iq>")
    reader.wait(lambda: "done" in reader.arrived, 60)
    # Errors still on their way (those the database decides): until all came, or 5 s of quiet.
    last = -1
    while reader.error_total() < args.messages and reader.error_total() != last:
        last = reader.error_total()
        reader.wait(lambda: reader.error_total() != last, 5)
    elapsed = time.monotonic() - t0
    peak = sampler.stop()
    after = rss_kib(server.pid)
    errors = ", ".join(f"{k} {v}" for k, v in sorted(reader.errors.items())) or "none"
    print(f"flood {name}: {args.messages} messages of {args.body} B sent in {sent:.2f} s; "
          f"RSS before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB "
          f"(+{(peak - before) / 1024:.1f} MiB), after {elapsed:.1f} s {after / 1024:.1f} MiB; "
          f"errors back: {errors}", flush=True)
    alice.sock.close()


def stores(args, server: CorvidServer) -> None:
    alice = plain_login(server.port, "alice", "sender")
    reader = Reader(alice.sock, alice.reader)
    n = args.stores
    wire = b"".join(f"<message to='bob@localhost' type='chat' id='s{i}'><body>{i} offline "
                    f"message</body></message>".encode() for i in range(1, n + 2))
    last = f"s{n + 1}"
    time.sleep(0.5)
    t0 = time.monotonic()
    alice.sock.sendall(wire)
    ok = reader.wait(lambda: last in reader.arrived, 120)
    stored_s = reader.arrived[last] - t0 if ok else float("nan")
    stored = int(subprocess.run(["psql", "-X", "-At", "-d", server.dsn, "-c",
                                 "SELECT count(*) FROM offline_messages"], capture_output=True,
                                text=True, timeout=30).stdout.strip() or 0)
    bob = plain_login(server.port, "bob", "reader")
    bob_reader = Reader(bob.sock, bob.reader)
    time.sleep(0.5)
    t1 = time.monotonic()
    bob.sock.sendall(b"<presence/>")
    bob_reader.wait(lambda: len(bob_reader.bodies) >= stored, 120)
    delivered_s = time.monotonic() - t1
    numbers = [int(b.split()[0]) for b in bob_reader.bodies]
    in_order = numbers == sorted(set(numbers)) and len(numbers) == stored
    print(f"stores: {n} messages from one sender stored in {stored_s * 1000:.1f} ms (until the "
          f"error for message {n + 1}: {dict(reader.errors)}); {stored} in the table; "
          f"delivered after the initial presence in {delivered_s * 1000:.1f} ms "
          f"({len(bob_reader.bodies)} messages, in order: {in_order})", flush=True)
    alice.sock.close()
    bob.sock.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=REPO / "build")
    ap.add_argument("--pg-dsn", required=True, help="admin DSN (keyword=value)")
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--body", type=int, default=2048)
    ap.add_argument("--stores", type=int, default=1000)
    ap.add_argument("--parts", default="flood,stores", help="flood, stores or both (default)")
    args = ap.parse_args()
    args.build = args.build.resolve()
    with tempfile.TemporaryDirectory(prefix="corvid-offline-flood-") as tmp:
        tmp = Path(tmp)
        cert = (tmp / "cert.pem", tmp / "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(cert[1]), "-out",
                        str(cert[0]), "-days", "2", "-subj", "/CN=localhost"],
                       check=True, capture_output=True, timeout=60)
        runs = [
            ("to one absent account", {}, lambda i: "nosuchuser@localhost"),
            ("to distinct absent accounts", {}, lambda i: f"absent{i}@localhost"),
        ]
        parts = args.parts.split(",")
        for i, (name, config, recipient) in enumerate(runs if "flood" in parts else []):
            server = start_corvid(args, tmp / f"flood{i}", cert, config)
            try:
                flood(args, server, name, recipient)
            finally:
                server.close()
                server.drop_database()
        if "stores" not in parts:
            return 0
        server = start_corvid(args, tmp / "stores", cert,
                              {"modules": {"offline": {"max_messages": args.stores}}})
        try:
            stores(args, server)
        finally:
            server.close()
            server.drop_database()
    return 0


if __name__ == "__main__":
    sys.exit(main())
