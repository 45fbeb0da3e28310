"""Raw server-to-server peers for protocol tests: an initiating peer that connects to corvid's s2s
listener (byte-exact, with or without TLS and a client certificate), and a minimal receiving
server that corvid connects to (STARTTLS, SASL EXTERNAL) and that records what it receives."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

from xmpp_raw import NS_SASL, NS_STREAM, NS_TLS, RawClient, StreamReader, q

NS_SERVER = "jabber:server"
NS_DB = "jabber:server:dialback"


class S2sPeer(RawClient):
    """An initiating server talking to corvid's s2s port."""

    def __init__(self, port: int, *, host: str, cert: Optional[Path] = None,
                 key: Optional[Path] = None, sni: Optional[str] = None, **kw) -> None:
        self.cert, self.key, self.sni = cert, key, sni
        super().__init__(port, host=host, **kw)

    def _wrap_tls(self) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if self.cert is not None:
            ctx.load_cert_chain(str(self.cert), str(self.key))
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.sni)

    def open_server_stream(self, to: str, from_: Optional[str]) -> ET.Element:
        """Sends a jabber:server stream header; returns the features."""
        self.reader = StreamReader()
        attrs = f"to='{to}' version='1.0'"
        if from_:
            attrs += f" from='{from_}'"
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                  f"xmlns:stream='{NS_STREAM}' xmlns:db='{NS_DB}' {attrs}>")
        self.wait_header()
        return self.expect(q(NS_STREAM, "features"))

    def server_starttls(self, to: str, from_: Optional[str]) -> ET.Element:
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        self.expect(q(NS_TLS, "proceed"))
        self._wrap_tls()
        return self.open_server_stream(to, from_)

    def external(self, authzid: str) -> ET.Element:
        data = base64.b64encode(authzid.encode()).decode() if authzid else "="
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{data}</auth>")
        return self.next()


class FakeReceivingServer:
    """Accepts one s2s connection for `domain` on (ip, port): STARTTLS with the given certificate,
    SASL EXTERNAL (accepting any peer), then collects stanzas. Runs in a thread. It closes the
    stream after the first batch; with `linger` it answers nothing and waits for corvid to close
    (a server that never answers a dialback verification)."""

    def __init__(self, ip: str, port: int, domain: str, cert: Path, key: Path, *,
                 linger: bool = False) -> None:
        self.domain = domain
        self.linger = linger
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.ctx.verify_mode = ssl.CERT_NONE  # it trusts corvid without looking
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((ip, port))
        self.listener.listen(4)
        self.listener.settimeout(30)
        self.stanzas: list[ET.Element] = []
        self.headers: list[dict] = []
        self.received = threading.Event()
        self.error: Optional[BaseException] = None
        self.sni: Optional[str] = None
        self._thread = threading.Thread(target=self._run, name="fake-s2s", daemon=True)

    def start(self) -> "FakeReceivingServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self.listener.close()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(15)
            self._serve(conn)
        except BaseException as e:  # reported by the test
            self.error = e
            self.received.set()

    def _read_until(self, conn, reader: StreamReader, done) -> None:
        while not done():
            data = conn.recv(65536)
            if not data:
                raise ConnectionError("corvid closed the connection")
            reader.feed(data)

    def _header(self, conn, reader: StreamReader, sid: str) -> None:
        self._read_until(conn, reader, lambda: reader.header is not None)
        self.headers.append(reader.header)
        conn.sendall(f"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                     f"xmlns:stream='{NS_STREAM}' xmlns:db='{NS_DB}' id='{sid}' "
                     f"from='{self.domain}' version='1.0'>".encode())

    def _serve(self, conn) -> None:
        reader = StreamReader()
        self._header(conn, reader, "s1")
        conn.sendall(f"<stream:features><starttls xmlns='{NS_TLS}'><required/></starttls>"
                     "</stream:features>".encode())
        self._read_until(conn, reader, lambda: reader.elements)
        assert reader.elements.popleft().tag == q(NS_TLS, "starttls")
        conn.sendall(f"<proceed xmlns='{NS_TLS}'/>".encode())

        def remember_sni(sslobj, name, ctx):
            self.sni = name

        self.ctx.sni_callback = remember_sni
        conn = self.ctx.wrap_socket(conn, server_side=True)
        reader = StreamReader()
        self._header(conn, reader, "s2")
        conn.sendall(f"<stream:features><mechanisms xmlns='{NS_SASL}'><mechanism>EXTERNAL"
                     "</mechanism></mechanisms></stream:features>".encode())
        self._read_until(conn, reader, lambda: reader.elements)
        auth = reader.elements.popleft()
        assert auth.tag == q(NS_SASL, "auth"), ET.tostring(auth)
        conn.sendall(f"<success xmlns='{NS_SASL}'/>".encode())
        reader = StreamReader()
        self._header(conn, reader, "s3")
        conn.sendall(b"<stream:features/>")
        self._read_until(conn, reader, lambda: reader.elements)
        while reader.elements:
            self.stanzas.append(reader.elements.popleft())
        self.received.set()
        if self.linger:
            conn.settimeout(60)
            self._read_until(conn, reader, lambda: reader.ended)
        try:
            conn.sendall(b"</stream:stream>")
            conn.close()
        except OSError:
            pass
