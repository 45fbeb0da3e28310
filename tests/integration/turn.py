"""A real coturn on loopback for the tests, and a minimal TURN client (RFC 8656 Allocate with
long-term credentials, RFC 8489 §9.2) that says what the server answered.

coturn runs with `use-auth-secret` (the "TURN REST API" scheme corvid's extdisco module makes
credentials for), on a free UDP port of 127.0.0.1, its files in a temporary directory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

MAGIC_COOKIE = 0x2112A442
ALLOCATE = 0x0003
BINDING = 0x0001
SUCCESS = 0x0100
ERROR = 0x0110

ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_REALM = 0x0014
ATTR_NONCE = 0x0015
ATTR_XOR_RELAYED_ADDRESS = 0x0016
ATTR_REQUESTED_TRANSPORT = 0x0019
ATTR_XOR_MAPPED_ADDRESS = 0x0020


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def _message(method: int, attrs: list[tuple[int, bytes]], integrity_key: Optional[bytes] = None
             ) -> tuple[bytes, bytes]:
    tid = os.urandom(12)
    body = b"".join(_attr(k, v) for k, v in attrs)
    if integrity_key is not None:
        # The length in the header covers MESSAGE-INTEGRITY itself (24 bytes) while the HMAC is
        # computed (RFC 8489 §14.5).
        header = struct.pack("!HHI", method, len(body) + 24, MAGIC_COOKIE) + tid
        mac = hmac.new(integrity_key, header + body, hashlib.sha1).digest()
        body += _attr(ATTR_MESSAGE_INTEGRITY, mac)
    return struct.pack("!HHI", method, len(body), MAGIC_COOKIE) + tid + body, tid


@dataclass
class StunResponse:
    kind: int  # the message type: method | SUCCESS or ERROR
    attrs: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.kind & 0x0110 == SUCCESS

    @property
    def error_code(self) -> Optional[int]:
        raw = self.attrs.get(ATTR_ERROR_CODE)
        return None if raw is None else (raw[2] & 0x7) * 100 + raw[3]

    @property
    def error_reason(self) -> str:
        raw = self.attrs.get(ATTR_ERROR_CODE)
        return "" if raw is None else raw[4:].decode(errors="replace")


def _parse(data: bytes, tid: bytes) -> Optional[StunResponse]:
    if len(data) < 20:
        return None
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC_COOKIE or data[8:20] != tid:
        return None
    attrs, pos = {}, 20
    while pos + 4 <= 20 + length:
        a, n = struct.unpack("!HH", data[pos:pos + 4])
        attrs.setdefault(a, data[pos + 4:pos + 4 + n])
        pos += 4 + n + (-n % 4)
    return StunResponse(kind, attrs)


class TurnClient:
    """One UDP socket towards a TURN server; every exchange has a deadline."""

    def __init__(self, host: str, port: int, timeout: float = 3.0) -> None:
        self.server = (host, port)
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    def close(self) -> None:
        self.sock.close()

    def _exchange(self, method: int, attrs, key: Optional[bytes] = None) -> StunResponse:
        msg, tid = _message(method, attrs, key)
        deadline = time.monotonic() + self.timeout
        self.sock.sendto(msg, self.server)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no STUN answer from {self.server} within {self.timeout} s")
            self.sock.settimeout(remaining)
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            response = _parse(data, tid)
            if response is not None:
                return response

    def binding(self) -> StunResponse:
        return self._exchange(BINDING, [])

    def allocate(self, username: str, password: str) -> StunResponse:
        """An Allocate for a UDP relay: first without credentials (the server answers 401 with
        its realm and a nonce), then with them. Returns the server's answer to the second."""
        transport = [(ATTR_REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))]
        challenge = self._exchange(ALLOCATE, transport)
        assert challenge.error_code == 401, f"expected a 401 challenge, got {challenge}"
        realm, nonce = challenge.attrs[ATTR_REALM], challenge.attrs[ATTR_NONCE]
        key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode()).digest()
        return self._exchange(ALLOCATE, transport + [(ATTR_USERNAME, username.encode()),
                                                     (ATTR_REALM, realm), (ATTR_NONCE, nonce)],
                              key)


class Coturn:
    """turnserver with use-auth-secret on 127.0.0.1."""

    def __init__(self, workdir: Path, secret: str, realm: str = "corvid.test") -> None:
        if shutil.which("turnserver") is None:
            raise AssertionError("turnserver not found: the calls tests need the Debian package "
                                 "coturn (scripts/deps.sh installs it)")
        self.workdir = workdir
        self.secret = secret
        self.realm = realm
        self.port = free_udp_port()
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = workdir / "turnserver.log"

    def start(self, timeout: float = 10.0) -> "Coturn":
        relay_low = 40000 + (self.port % 200) * 100
        conf = self.workdir / "turnserver.conf"
        conf.write_text("\n".join([
            "listening-ip=127.0.0.1",
            f"listening-port={self.port}",
            "relay-ip=127.0.0.1",
            f"min-port={relay_low}",
            f"max-port={relay_low + 99}",
            "use-auth-secret",
            f"static-auth-secret={self.secret}",
            f"realm={self.realm}",
            "no-tls",
            "no-dtls",
            "no-cli",
            f"pidfile={self.workdir / 'turnserver.pid'}",
            f"userdb={self.workdir / 'turndb'}",
            "log-file=stdout",
            "simple-log",
            "no-multicast-peers",
            "",
        ]))
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["turnserver", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        probe = TurnClient("127.0.0.1", self.port, timeout=0.3)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"turnserver exited with {self.proc.returncode}:\n"
                                         f"{self.log_path.read_text()[-3000:]}")
                try:
                    if probe.binding().success:
                        return self
                except TimeoutError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"turnserver did not answer within {timeout} s:\n"
                                         f"{self.log_path.read_text()[-3000:]}")
        finally:
            probe.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self.log.close()
