"""A raw WebSocket client (RFC 6455) for byte-level tests of XMPP over WebSocket (RFC 7395): the
opening handshake with any headers, frames built by hand (masked or not, any opcode, any announced
length), and reads with deadlines."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import time
import xml.etree.ElementTree as ET
from typing import Optional

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class RawWebSocket:
    def __init__(self, port: int, *, tls: bool = False, timeout: float = 10.0) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.key = base64.b64encode(os.urandom(16)).decode()

    def close(self) -> None:
        self.sock.close()

    # -- handshake --

    def handshake(self, *, path: str = "/xmpp-websocket", protocols: Optional[str] = "xmpp",
                  origin: Optional[str] = None, headers: Optional[dict] = None,
                  key: Optional[str] = None, version: str = "13"):
        """Sends the opening handshake; returns (status, headers with lower-case names)."""
        lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key or self.key}",
                 f"Sec-WebSocket-Version: {version}"]
        if protocols is not None:
            lines.append(f"Sec-WebSocket-Protocol: {protocols}")
        if origin is not None:
            lines.append(f"Origin: {origin}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        got = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            got[name.strip().lower()] = value.strip()
        if status != 101:
            length = int(got.get("content-length", "0"))
            while len(self.buf) < length:
                self._fill()
            got["body"] = self.buf[:length].decode("utf-8", "replace")
        return status, got

    def expected_accept(self) -> str:
        return base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()

    # -- frames --

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True,
                   announced: Optional[int] = None) -> None:
        """One frame; `announced` claims another payload length than what is sent."""
        length = len(payload) if announced is None else announced
        head = bytes([(0x80 if fin else 0) | opcode])
        mask_bit = 0x80 if mask else 0
        if length < 126:
            head += bytes([mask_bit | length])
        elif length < 65536:
            head += bytes([mask_bit | 126]) + struct.pack("!H", length)
        else:
            head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
        if mask:
            key = os.urandom(4)
            head += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + payload)

    def send_text(self, text: str) -> None:
        self.send_frame(TEXT, text.encode())

    def send_close(self, code: int = 1000) -> None:
        self.send_frame(CLOSE, struct.pack("!H", code))

    def recv_frame(self, timeout: Optional[float] = None):
        """(opcode, payload) of the next frame; raises on timeout, returns None at EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            frame = self._parse()
            if frame is not None:
                return frame
            if not self._fill(deadline):
                return None

    def recv_text(self, timeout: Optional[float] = None) -> str:
        frame = self.recv_frame(timeout)
        assert frame is not None, "the server closed the connection"
        opcode, payload = frame
        assert opcode == TEXT, f"expected a text frame, got opcode {opcode}: {payload!r}"
        return payload.decode()

    def recv_element(self, timeout: Optional[float] = None) -> ET.Element:
        return ET.fromstring(self.recv_text(timeout))

    def recv_until_close(self, timeout: Optional[float] = None):
        """Text messages until the close frame: (texts, close code or None, reason)."""
        texts = []
        while True:
            frame = self.recv_frame(timeout)
            if frame is None:
                return texts, None, ""
            opcode, payload = frame
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return texts, code, payload[2:].decode("utf-8", "replace")
            if opcode == TEXT:
                texts.append(payload.decode())

    def at_eof(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the TCP connection (within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._fill(deadline):
                return True
            self.buf = b""
        return False

    # -- internals --

    def _parse(self):
        b = self.buf
        if len(b) < 2:
            return None
        opcode = b[0] & 0x0F
        length = b[1] & 0x7F
        offset = 2
        if length == 126:
            if len(b) < 4:
                return None
            length = struct.unpack("!H", b[2:4])[0]
            offset = 4
        elif length == 127:
            if len(b) < 10:
                return None
            length = struct.unpack("!Q", b[2:10])[0]
            offset = 10
        assert not b[1] & 0x80, "a server must not mask its frames (RFC 6455 §5.1)"
        if len(b) < offset + length:
            return None
        self.buf = b[offset + length:]
        return opcode, b[offset:offset + length]

    def _fill(self, deadline: Optional[float] = None) -> bool:
        remaining = (deadline - time.monotonic()) if deadline else self.timeout
        if remaining <= 0:
            raise TimeoutError("nothing from the server in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return False
        except socket.timeout:
            raise TimeoutError("nothing from the server in time") from None
        if not data:
            return False
        self.buf += data
        return True


def open_element(to: str = "localhost") -> str:
    return f"<open xmlns='{NS_FRAMING}' to='{to}' version='1.0'/>"
