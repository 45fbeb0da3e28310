"""A raw XMPP client for protocol-level tests: plain TCP, STARTTLS or direct TLS, byte-exact writes,
incremental parsing of what the server sends (expat), and a small SCRAM / PLAIN SASL client.

Every read has a deadline: a server that hangs makes the test fail with a timeout, never hang.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import os
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable, Optional
from xml.parsers import expat

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_PING = "urn:xmpp:ping"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"

DEFAULT_TIMEOUT = 10.0


def q(ns: str, name: str) -> str:
    """Clark notation, as ElementTree spells a namespaced name."""
    return f"{{{ns}}}{name}"


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def to_str(el: ET.Element) -> str:
    return ET.tostring(el, encoding="unicode")


def xml_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


class XmppTimeout(AssertionError):
    """What the server should have sent did not come in time."""


class StreamClosed(AssertionError):
    """The server closed the connection while something else was expected."""


# --- incremental parsing of the server's stream ---------------------------------------------------


class StreamReader:
    """Feeds bytes to expat and yields the stream header and each top-level element."""

    def __init__(self) -> None:
        self._parser = expat.ParserCreate(namespace_separator=" ")
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._chars
        self._parser.buffer_text = True
        self._stack: list[ET.Element] = []
        self.header: Optional[dict] = None
        self.elements: collections.deque[ET.Element] = collections.deque()
        self.ended = False  # </stream:stream> seen

    @staticmethod
    def _name(n: str) -> str:
        if " " in n:
            ns, name = n.split(" ", 1)
            return f"{{{ns}}}{name}"
        return n

    def _start(self, name, attrs):
        tag = self._name(name)
        attrs = {self._name(k): v for k, v in attrs.items()}
        if self.header is None:
            self.header = {"tag": tag, **attrs}
            return
        el = ET.Element(tag, attrs)
        if self._stack:
            self._stack[-1].append(el)
        self._stack.append(el)

    def _end(self, name):
        if not self._stack:
            self.ended = True
            return
        el = self._stack.pop()
        if not self._stack:
            self.elements.append(el)

    def _chars(self, data):
        if not self._stack:
            return  # whitespace between stanzas
        top = self._stack[-1]
        if len(top):
            last = top[-1]
            last.tail = (last.tail or "") + data
        else:
            top.text = (top.text or "") + data

    def feed(self, data: bytes) -> None:
        self._parser.Parse(data, False)


# --- the client -------------------------------------------------------------------------------------


# OpenSSL's SSL_OP_NO_EXTENDED_MASTER_SECRET (RFC 7627), which Python's ssl module does not name.
SSL_OP_NO_EXTENDED_MASTER_SECRET = 1 << 0


def client_tls_context(max_version: Optional[ssl.TLSVersion] = None,
                       options: int = 0) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version is not None:
        ctx.maximum_version = max_version
    ctx.options |= options
    return ctx


class RawClient:
    """One connection to corvid. `log` keeps everything received, for failure messages."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", direct_tls: bool = False,
                 tls_max_version: Optional[ssl.TLSVersion] = None, tls_options: int = 0,
                 source_ip: Optional[str] = None, rcvbuf: Optional[int] = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.tls_max_version = tls_max_version
        self.tls_options = tls_options  # extra SSL_OP_* bits, e.g. SSL_OP_NO_EXTENDED_MASTER_SECRET
        self.received = bytearray()  # everything received since the connection was made
        self.sock: socket.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source_ip is not None:
            self.sock.bind((source_ip, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.eof = False
        self.reply_to_close = True  # answer the server's </stream:stream> in wait_closed()
        self.half_close = True  # ... and then shut our sending side down (TCP FIN)
        self._closed_ours = False
        self.reader = StreamReader()
        self.skipped: list[ET.Element] = []  # elements wait_for() passed over, oldest first
        self.jid: Optional[str] = None
        self.domain = "localhost"
        self._ids = 0
        if direct_tls:
            self._wrap_tls()

    # -- low level --

    @property
    def tls(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket)

    def _wrap_tls(self) -> None:
        ctx = client_tls_context(self.tls_max_version, self.tls_options)
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def next_id(self) -> str:
        self._ids += 1
        return f"t{self._ids}"

    def send(self, data) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def _recv(self, deadline: float) -> bool:
        """Reads once; False at EOF. Raises XmppTimeout at the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise XmppTimeout("deadline passed")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise XmppTimeout("deadline passed") from None
        except ssl.SSLError as e:
            # A peer that shuts the socket down without close_notify; or, after our own TCP
            # half-close (which sends no close_notify either), OpenSSL 3 on the server answering
            # that with a fatal decode_error alert. Either way the stream is over.
            if "EOF" in str(e) or self._closed_ours:
                data = b""
            else:
                raise
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.received += data
        self.reader.feed(data)
        return True

    def shutdown_write(self) -> None:
        """TCP half-close of our side, leaving TLS reading intact (a dup'd descriptor, so that the
        SSLSocket keeps its state)."""
        dup = socket.socket(fileno=os.dup(self.sock.fileno()))
        try:
            dup.shutdown(socket.SHUT_WR)
        finally:
            dup.close()

    def transcript(self, n: int = 3000) -> str:
        return bytes(self.received[-n:]).decode("utf-8", "replace")

    def _fail(self, exc, what: str):
        raise exc(f"{what}; received so far (tail):\n{self.transcript()}")

    def wait_header(self, timeout: Optional[float] = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.reader.header is None:
            try:
                if not self._recv(deadline):
                    self._fail(StreamClosed, "connection closed before the stream header")
            except XmppTimeout:
                self._fail(XmppTimeout, "no stream header in time")
        return self.reader.header

    def next(self, timeout: Optional[float] = None) -> ET.Element:
        """The next top-level element the server sends."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while not self.reader.elements:
            if self.reader.ended:
                self._fail(StreamClosed, "the server closed its stream")
            try:
                if not self._recv(deadline):
                    self._fail(StreamClosed, "connection closed while waiting for an element")
            except XmppTimeout:
                self._fail(XmppTimeout, f"no element within {timeout or self.timeout} s")
        return self.reader.elements.popleft()

    def expect(self, tag: str, timeout: Optional[float] = None) -> ET.Element:
        el = self.next(timeout)
        assert el.tag == tag, f"expected {tag}, got {to_str(el)}"
        return el

    def wait_for(self, pred: Callable[[ET.Element], bool], timeout: Optional[float] = None,
                 what: str = "a matching element") -> ET.Element:
        """Skips elements until one matches `pred`."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        skipped = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(XmppTimeout, f"no {what} in time (skipped {len(skipped)})")
            try:
                el = self.next(remaining)
            except XmppTimeout:
                self._fail(XmppTimeout, f"no {what} in time (skipped {len(skipped)})")
            if pred(el):
                return el
            skipped.append(el)
            self.skipped.append(el)

    def drain(self, quiet: float = 0.3) -> list[ET.Element]:
        """Elements that arrive until the connection has been quiet for `quiet` seconds.

        Only for checking that something did NOT arrive, after an event proved the server has
        handled everything sent before it; never used as synchronisation.
        """
        out = list(self.reader.elements)
        self.reader.elements.clear()
        while True:
            try:
                if not self._recv(time.monotonic() + quiet):
                    break
            except XmppTimeout:
                break
            out.extend(self.reader.elements)
            self.reader.elements.clear()
        out.extend(self.reader.elements)
        self.reader.elements.clear()
        return out

    def wait_closed(self, timeout: Optional[float] = None) -> None:
        """Reads (and parses) until the server closes the TCP connection."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while not self.eof:
            if self.reader.ended and self.reply_to_close and not self._closed_ours:
                # RFC 6120 §4.4: answer the server's </stream:stream> with ours.
                self._closed_ours = True
                try:
                    self.send("</stream:stream>")
                    if self.half_close:
                        self.shutdown_write()
                except OSError:
                    pass
            try:
                self._recv(deadline)
            except XmppTimeout:
                self._fail(XmppTimeout, "the server did not close the connection in time")
            except expat.ExpatError:
                # Bytes after </stream:stream> would be a bug too, but that is for the caller.
                raise

    def stream_error(self, timeout: Optional[float] = None) -> tuple[str, str]:
        """Waits for <stream:error/>, then for the server to close; returns (condition, text).

        Stanzas before the error are skipped."""
        el = self.wait_for(lambda e: e.tag == q(NS_STREAM, "error"), timeout, "<stream:error/>")
        cond = [local(c.tag) for c in el if namespace(c.tag) == NS_STREAMS_ERR and
                local(c.tag) != "text"]
        text = el.findtext(q(NS_STREAMS_ERR, "text")) or ""
        assert len(cond) == 1, f"a stream error needs exactly one condition: {to_str(el)}"
        self.wait_closed(timeout)
        assert self.reader.ended, "the server closed the TCP connection without </stream:stream>"
        return cond[0], text

    def close(self) -> None:
        try:
            if not self.eof and not self._closed_ours:
                self.sock.settimeout(1)
                self.sock.sendall(b"</stream:stream>")
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    # -- stream negotiation --

    def open_stream(self, to: str = "localhost", *, version: str = "1.0",
                    features: bool = True, prolog: str = "<?xml version='1.0'?>") -> ET.Element:
        """Sends a stream header (starting a new parse), returns the stream features."""
        self.reader = StreamReader()
        attrs = f"to='{to}' " if to is not None else ""
        if version:
            attrs += f"version='{version}' "
        self.send(f"{prolog}<stream:stream xmlns='jabber:client' "
                  f"xmlns:stream='http://etherx.jabber.org/streams' {attrs}xml:lang='en'>")
        if not features:
            return None
        self.wait_header()
        return self.expect(q(NS_STREAM, "features"))

    def starttls(self) -> ET.Element:
        """<starttls/>, <proceed/>, the TLS handshake and the new stream; returns its features."""
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        self.expect(q(NS_TLS, "proceed"))
        assert not self.reader.elements, "bytes after <proceed/>"
        self._wrap_tls()
        return self.open_stream()

    def negotiate_tls(self) -> ET.Element:
        """From a fresh connection to an encrypted stream: returns the features to authenticate."""
        if self.tls:
            return self.open_stream()
        self.open_stream()
        return self.starttls()

    def channel_binding(self, kind: str) -> bytes:
        assert self.tls, "channel binding needs TLS"
        if kind == "tls-unique":
            data = self.sock.get_channel_binding("tls-unique")
            assert data, "Python found no tls-unique data"
            return data
        if kind == "tls-server-end-point":
            return tls_server_end_point(self.sock.getpeercert(True))
        raise ValueError(kind)

    # -- SASL --

    def auth_plain(self, user: str, password: str, authzid: str = "") -> ET.Element:
        msg = f"{authzid}\0{user}\0{password}".encode()
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>"
                  f"{base64.b64encode(msg).decode()}</auth>")
        return self.next()

    def auth_scram(self, user: str, password: str, mechanism: str = "SCRAM-SHA-256", **kw):
        return ScramClient(self, mechanism, user, password, **kw).run()

    def restart_after_auth(self) -> ET.Element:
        return self.open_stream()

    def bind(self, resource: Optional[str] = None) -> ET.Element:
        iq_id = self.next_id()
        res = f"<resource>{xml_escape(resource)}</resource>" if resource is not None else ""
        self.send(f"<iq type='set' id='{iq_id}'><bind xmlns='{NS_BIND}'>{res}</bind></iq>")
        reply = self.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iq_id,
                              what="the bind reply")
        if reply.get("type") == "result":
            self.jid = reply.findtext(f"{q(NS_BIND, 'bind')}/{q(NS_BIND, 'jid')}")
        return reply

    def login(self, user: str, password: str, resource: Optional[str] = "raw",
              mechanism: str = "PLAIN", presence: bool = False) -> str:
        """TLS, SASL and bind; returns the bound full JID. Asserts every step succeeds."""
        self.negotiate_tls()
        if mechanism == "PLAIN":
            res = self.auth_plain(user, password)
        else:
            res = self.auth_scram(user, password, mechanism).element
        assert res.tag == q(NS_SASL, "success"), f"authentication failed: {to_str(res)}"
        feats = self.restart_after_auth()
        assert feats.find(q(NS_BIND, "bind")) is not None, to_str(feats)
        reply = self.bind(resource)
        assert reply.get("type") == "result", f"bind failed: {to_str(reply)}"
        if presence:
            self.available()
        return self.jid

    # -- stanzas --

    def iq(self, body: str, *, type_: str = "get", to: Optional[str] = None,
           timeout: Optional[float] = None) -> ET.Element:
        """Sends an iq and returns the reply with the same id."""
        iq_id = self.next_id()
        to_attr = f" to='{to}'" if to else ""
        self.send(f"<iq type='{type_}' id='{iq_id}'{to_attr}>{body}</iq>")
        return self.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iq_id
                             and e.get("type") in ("result", "error"), timeout,
                             f"reply to iq {iq_id}")

    def ping(self, to: Optional[str] = None, timeout: Optional[float] = None) -> ET.Element:
        return self.iq(f"<ping xmlns='{NS_PING}'/>", to=to or self.domain, timeout=timeout)

    def available(self) -> ET.Element:
        """Initial presence; waits for the server to reflect it back (RFC 6121 §4.2.2)."""
        self.send("<presence/>")
        return self.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and
                             e.get("from") == self.jid and e.get("type") is None,
                             what="our own presence reflected")

    def message(self, to: str, body: str, type_: str = "chat", id_: Optional[str] = None,
                extra_attrs: str = "") -> str:
        id_ = id_ or self.next_id()
        self.send(f"<message to='{to}' type='{type_}' id='{id_}'{extra_attrs}>"
                  f"<body>{xml_escape(body)}</body></message>")
        return id_

    def wait_message(self, body: Optional[str] = None,
                     timeout: Optional[float] = None) -> ET.Element:
        return self.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and
                             (body is None or e.findtext(q(NS_CLIENT, "body")) == body),
                             timeout, f"message {body!r}")


NS_COMPONENT = "jabber:component:accept"


class RawComponent(RawClient):
    """An external component's connection (XEP-0114): a stream header naming its domain, then
    <handshake/> with the SHA-1 of the stream id and the secret."""

    def open_component(self, domain: str, *, ns: str = NS_COMPONENT) -> dict:
        """Sends the header; returns the server's (with its id)."""
        self.reader = StreamReader()
        self.domain = domain
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='{ns}' "
                  f"xmlns:stream='http://etherx.jabber.org/streams' to='{domain}'>")
        return self.wait_header()

    def handshake(self, secret: str, *, digest: Optional[str] = None) -> None:
        """Sends the handshake (the right one for `secret` unless `digest` is given)."""
        sid = self.reader.header.get("id", "")
        value = digest if digest is not None else hashlib.sha1((sid + secret).encode()).hexdigest()
        self.send(f"<handshake>{value}</handshake>")

    def connect_as(self, domain: str, secret: str) -> None:
        """Header and handshake; asserts the server accepts it."""
        self.open_component(domain)
        self.handshake(secret)
        self.expect(q(NS_COMPONENT, "handshake"))

    def wait_stanza(self, name: str, pred: Callable[[ET.Element], bool] = lambda e: True,
                    timeout: Optional[float] = None) -> ET.Element:
        return self.wait_for(lambda e: e.tag == q(NS_COMPONENT, name) and pred(e), timeout,
                             f"a {name}")


def stanza_error_condition(el: ET.Element) -> Optional[str]:
    err = el.find(q(NS_CLIENT, "error"))
    if err is None:
        return None
    conds = [local(c.tag) for c in err if namespace(c.tag) == NS_STANZAS and local(c.tag) != "text"]
    assert len(conds) == 1, f"a stanza error needs exactly one condition: {to_str(el)}"
    return conds[0]


def sasl_failure_condition(el: ET.Element) -> Optional[str]:
    if el.tag != q(NS_SASL, "failure"):
        return None
    conds = [local(c.tag) for c in el if local(c.tag) != "text"]
    assert len(conds) == 1, f"a SASL failure needs exactly one condition: {to_str(el)}"
    return conds[0]


def mechanisms(features: ET.Element) -> list[str]:
    mechs = features.find(q(NS_SASL, "mechanisms"))
    return [] if mechs is None else [m.text for m in mechs.findall(q(NS_SASL, "mechanism"))]


def channel_binding_types(features: ET.Element) -> list[str]:
    cb = features.find(q(NS_SASL_CB, "sasl-channel-binding"))
    return [] if cb is None else [c.get("type") for c in cb.findall(q(NS_SASL_CB, "channel-binding"))]


# --- SCRAM (RFC 5802, RFC 7677) ------------------------------------------------------------------


def tls_server_end_point(der: bytes) -> bytes:
    """RFC 5929 §4.1: the certificate's hash with its signature's hash, SHA-256 for MD5/SHA-1."""
    algo = certificate_signature_hash(der)
    if algo in ("md5", "sha1"):
        algo = "sha256"
    return hashlib.new(algo, der).digest()


_SIG_OIDS = {
    # sha*WithRSAEncryption, ecdsa-with-SHA*
    "2a864886f70d01010b": "sha256", "2a864886f70d01010c": "sha384", "2a864886f70d01010d": "sha512",
    "2a864886f70d010105": "sha1", "2a8648ce3d040302": "sha256", "2a8648ce3d040303": "sha384",
    "2a8648ce3d040304": "sha512",
}


def certificate_signature_hash(der: bytes) -> str:
    """The hash of the certificate's signatureAlgorithm (the second element of the outer SEQUENCE),
    read from the DER without a full ASN.1 parser."""

    def read_tlv(buf, pos):
        tag = buf[pos]
        length = buf[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(buf[pos:pos + n], "big")
            pos += n
        return tag, pos, length

    _, pos, _ = read_tlv(der, 0)             # Certificate SEQUENCE
    _, tbs_start, tbs_len = read_tlv(der, pos)  # tbsCertificate
    pos = tbs_start + tbs_len
    _, alg_start, _ = read_tlv(der, pos)      # signatureAlgorithm SEQUENCE
    tag, oid_start, oid_len = read_tlv(der, alg_start)
    assert tag == 0x06, "no OID in signatureAlgorithm"
    oid = der[oid_start:oid_start + oid_len].hex()
    if oid not in _SIG_OIDS:
        raise ValueError(f"unknown signature algorithm OID {oid}")
    return _SIG_OIDS[oid]


def saslname(s: str) -> str:
    return s.replace("=", "=3D").replace(",", "=2C")


@dataclass
class ScramResult:
    element: ET.Element               # the final <success/> or <failure/>
    server_first: Optional[str] = None
    attrs: dict = field(default_factory=dict)  # attributes of server-first
    server_signature_ok: Optional[bool] = None

    @property
    def success(self) -> bool:
        return self.element.tag == q(NS_SASL, "success")

    @property
    def condition(self) -> Optional[str]:
        return sasl_failure_condition(self.element)


class ScramClient:
    """Drives a SCRAM exchange over a RawClient, with knobs to misbehave."""

    def __init__(self, client: RawClient, mechanism: str, user: str, password: str, *,
                 cb_type: Optional[str] = None, gs2_flag: Optional[str] = None,
                 cb_data: Optional[bytes] = None, authzid: str = "",
                 initial_response: bool = True) -> None:
        self.c = client
        self.mechanism = mechanism
        self.hash = "sha1" if mechanism.startswith("SCRAM-SHA-1") else "sha256"
        self.plus = mechanism.endswith("-PLUS")
        self.user = user
        self.password = password
        authz = f"a={saslname(authzid)}" if authzid else ""
        if gs2_flag is None:
            gs2_flag = f"p={cb_type}" if self.plus else "n"
        self.gs2_header = f"{gs2_flag},{authz},"
        if cb_data is None and gs2_flag.startswith("p="):
            cb_data = client.channel_binding(gs2_flag[2:])
        self.cb_data = cb_data or b""
        self.initial_response = initial_response
        self.cnonce = base64.b64encode(os.urandom(18)).decode()

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash).digest()

    def run(self) -> ScramResult:
        first_bare = f"n={saslname(self.user)},r={self.cnonce}"
        client_first = (self.gs2_header + first_bare).encode()
        if self.initial_response:
            self.c.send(f"<auth xmlns='{NS_SASL}' mechanism='{self.mechanism}'>"
                        f"{base64.b64encode(client_first).decode()}</auth>")
        else:
            self.c.send(f"<auth xmlns='{NS_SASL}' mechanism='{self.mechanism}'/>")
            ch = self.c.next()
            if ch.tag != q(NS_SASL, "challenge"):
                return ScramResult(ch)
            assert not (ch.text or "").strip() or ch.text.strip() == "=", to_str(ch)
            self.c.send(f"<response xmlns='{NS_SASL}'>"
                        f"{base64.b64encode(client_first).decode()}</response>")
        el = self.c.next()
        if el.tag != q(NS_SASL, "challenge"):
            return ScramResult(el)
        server_first = base64.b64decode(el.text or "").decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        nonce = attrs["r"]
        assert nonce.startswith(self.cnonce) and len(nonce) > len(self.cnonce), server_first
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        assert iterations >= 4096, f"iteration count {iterations} below RFC 7677's 4096"
        salted = hashlib.pbkdf2_hmac(self.hash, self.password.encode(), salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash, client_key).digest()
        cbind = base64.b64encode(self.gs2_header.encode() + self.cb_data).decode()
        final_wo_proof = f"c={cbind},r={nonce}"
        auth_message = f"{first_bare},{server_first},{final_wo_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        final = f"{final_wo_proof},p={base64.b64encode(proof).decode()}"
        self.c.send(f"<response xmlns='{NS_SASL}'>{base64.b64encode(final.encode()).decode()}"
                    f"</response>")
        res = self.c.next()
        result = ScramResult(res, server_first, attrs)
        if result.success:
            server_key = self._hmac(salted, b"Server Key")
            expected = "v=" + base64.b64encode(self._hmac(server_key, auth_message)).decode()
            got = base64.b64decode(res.text or "").decode()
            result.server_signature_ok = hmac.compare_digest(got, expected)
        return result


def downgrade_protection_hash(hash_name: str, mechs: list[str], cb_types: list[str]) -> str:
    """XEP-0474 §6.1: the hash of the sorted mechanisms (0x1E-separated), then 0x1F and the sorted
    channel-binding types, base64."""
    s = "\x1e".join(sorted(mechs))
    if cb_types:
        s += "\x1f" + "\x1e".join(sorted(cb_types))
    return base64.b64encode(hashlib.new(hash_name, s.encode()).digest()).decode()


def wait_until(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.05):
    """Polls a condition that has no event to wait on (a process state, a log line)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
