"""A tiny authoritative DNS server (UDP) for the federation tests: A, AAAA and SRV records from a
table, NXDOMAIN for names it does not know, NODATA for known names without the asked type. It
runs in a thread on a loopback address of its own, port 53 by default, so that every resolver
can use it: c-ares (CORVID_DNS_SERVERS), libunbound (Prosody, through a private resolv.conf) and
Erlang's inet_res (ejabberd, through inetrc)."""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
from dataclasses import dataclass, field

TYPE_A, TYPE_AAAA, TYPE_SRV = 1, 28, 33


@dataclass
class Zone:
    a: dict[str, list[str]] = field(default_factory=dict)       # name -> IPv4 addresses
    srv: dict[str, list[tuple[int, int, int, str]]] = field(default_factory=dict)
    # "_xmpp-server._tcp.example" -> [(priority, weight, port, target)]

    def knows(self, name: str) -> bool:
        return name in self.a or name in self.srv


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def _decode_name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    jumped = False
    end = offset
    for _ in range(128):
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            pointer = struct.unpack("!H", packet[offset:offset + 2])[0] & 0x3FFF
            if not jumped:
                end = offset + 2
            jumped = True
            offset = pointer
            continue
        if length == 0:
            if not jumped:
                end = offset + 1
            return ".".join(labels), end
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise ValueError("name too long")


class FakeDns:
    def __init__(self, ip: str, port: int = 53, zone: Zone | None = None) -> None:
        self.ip = ip
        self.port = port
        self.zone = zone or Zone()
        self.queries: list[tuple[str, int]] = []  # (name, type) in arrival order
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-dns", daemon=True)

    def start(self) -> "FakeDns":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                packet, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.answer(packet)
            except Exception:  # a malformed query gets no answer
                continue
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass

    def answer(self, packet: bytes) -> bytes:
        qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
        name, offset = _decode_name(packet, 12)
        qtype, qclass = struct.unpack("!HH", packet[offset:offset + 4])
        question = packet[12:offset + 4]
        lname = name.lower().rstrip(".")
        self.queries.append((lname, qtype))
        answers = []
        if qtype == TYPE_A:
            for ip in self.zone.a.get(lname, []):
                answers.append((TYPE_A, ipaddress.IPv4Address(ip).packed))
        elif qtype == TYPE_SRV:
            for prio, weight, port, target in self.zone.srv.get(lname, []):
                answers.append((TYPE_SRV, struct.pack("!HHH", prio, weight, port) +
                                _encode_name(target)))
        rcode = 0 if self.zone.knows(lname) else 3  # NXDOMAIN for unknown names
        rd = flags & 0x0100
        out_flags = 0x8000 | 0x0400 | rd | 0x0080 | rcode  # QR, AA, RD copied, RA
        header = struct.pack("!HHHHHH", qid, out_flags, 1, len(answers), 0, 0)
        body = question
        for rtype, rdata in answers:
            body += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 5, len(rdata)) + rdata
        return header + body
