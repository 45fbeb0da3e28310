"""Edge cases around parsing, addressing and connection bookkeeping."""

import socket
import time

import pytest

from xmpp_raw import (NS_CLIENT, NS_SASL, RawClient, StreamClosed, XmppTimeout, q, to_str)


def online(server, user, pw, resource) -> RawClient:
    c = RawClient(server.port)
    c.login(user, pw, resource=resource, presence=True)
    return c


# --- parsing ---------------------------------------------------------------------------------------


def test_many_stanzas_in_one_write_arrive_in_order(server, users):
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    alice.send("".join(f"<message to='bob@localhost/b' type='chat' id='n{i}'><body>{i}</body>"
                       f"</message>" for i in range(200)))
    got = [bob.wait_message(str(i)).get("id") for i in range(200)]
    assert got == [f"n{i}" for i in range(200)]
    alice.close()
    bob.close()


def test_stanza_split_into_single_bytes(server, users):
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    alice.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = "<message to='bob@localhost/b' type='chat'><body>byte by byte \u00e9\u2603</body></message>"
    for b in data.encode():
        alice.send(bytes([b]))
    assert bob.wait_message("byte by byte \u00e9\u2603").get("from") == alice.jid
    alice.close()
    bob.close()


def test_escaping_round_trip(server, users):
    """Attribute and text content that needs escaping comes out exactly as it went in."""
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    alice.send("<message to='bob@localhost/b' type='chat' id='q&apos;&quot;&lt;&amp;&gt;'>"
               "<body>a &lt;b&gt; &amp; &quot;c&quot; ]]&gt; \U0001F600</body>"
               "<x xmlns='urn:example:x' attr='1 &amp; 2'>keep <y/>me</x></message>")
    m = bob.wait_message("a <b> & \"c\" ]]> \U0001F600")
    assert m.get("id") == "q'\"<&>"
    x = m.find("{urn:example:x}x")
    assert x is not None and x.get("attr") == "1 & 2", to_str(m)
    assert x.text == "keep " and x.find("{urn:example:x}y") is not None, to_str(m)
    alice.close()
    bob.close()


def test_prefixed_jabber_client_namespace(server, users):
    """Namespace prefixes are XML, not XMPP: <c:message xmlns:c='jabber:client'/> is a message."""
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    alice.send("<c:message xmlns:c='jabber:client' to='bob@localhost/b' type='chat'>"
               "<c:body>prefixed</c:body></c:message>")
    assert bob.wait_message("prefixed").get("from") == alice.jid
    alice.close()
    bob.close()


def test_streams_resume_after_idle_memory_release(server, users):
    """The server frees an idle stream's parser (nothing read for a whole 2 s period) and
    rebuilds it when bytes come again: the stream goes on as if nothing happened, prefixed root
    namespace and a stanza cut in half across the idle gap included."""
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    time.sleep(4.5)  # both parsers are released
    assert "idle streams: 2 parser(s) released" in server.log()
    alice.send("<c:message xmlns:c='jabber:client' to='bob@localhost/b' type='chat'>"
               "<c:body>after idle</c:body></c:message>")
    assert bob.wait_message("after idle").get("from") == alice.jid
    bob.message(alice.jid, "reply")  # the other direction, after a release too
    assert alice.wait_message("reply").get("from") == bob.jid
    alice.send("<message to='bob@localhost/b' type='chat'><body>ha")
    time.sleep(4.5)  # mid-stanza: nothing may be released
    alice.send("lf &amp; half</body></message>")
    assert bob.wait_message("half & half").get("from") == alice.jid
    alice.close()
    bob.close()


# --- addressing ----------------------------------------------------------------------------------


def test_jid_case_is_normalised(server, users):
    """RFC 7622 §3.2/§3.3: local and domain parts compare case-insensitively (PRECIS
    UsernameCaseMapped); login as ALICE binds alice, and Bob@LOCALHOST reaches bob."""
    bob = online(server, "bob", users["bob"], "b")
    c = RawClient(server.port)
    c.open_stream(to="LOCALHOST")
    assert c.reader.header.get("from") == "localhost"
    c.starttls()
    assert c.auth_plain("ALICE", users["alice"]).tag == q(NS_SASL, "success")
    c.open_stream()
    assert c.bind("X").get("type") == "result"
    assert c.jid == "alice@localhost/X", c.jid
    c.available()
    c.message("Bob@LOCALHOST/b", "case")
    assert bob.wait_message("case").get("from") == "alice@localhost/X"
    c.close()
    bob.close()


def test_unavailable_presence_on_disconnect(server, users):
    """RFC 6121 §4.6.1 / §4.5.3: when a session ends, however it ends, the server sends
    unavailable presence on its behalf (here: to the account's other resource)."""
    a1 = online(server, "alice", users["alice"], "one")
    a2 = online(server, "alice", users["alice"], "two")
    # a2's available presence is reflected to a1 as well.
    a1.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == a2.jid)
    a1.sock.close()  # no </stream:stream>: the connection just drops
    # a2 may first get a1's available presence (RFC 6121 §4.4.2, the server answers a2's
    # initial presence with that of the account's other resources): wait for the unavailable one.
    p = a2.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == a1.jid
                    and e.get("type") == "unavailable",
                    what="unavailable presence of the dropped resource")
    a2.close()


# --- connection bookkeeping ------------------------------------------------------------------------


@pytest.mark.corvid(config={"limits": {"max_connections_per_ip": 2}})
def test_connection_count_does_not_leak(server):
    """Connections that end in every odd way give their slot back: garbage on the TLS port, a
    TLS handshake abandoned, a connection closed before a byte, a non-XMPP first line."""
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", server.tls_port), timeout=5)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")        # not TLS
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()  # silent
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.sendall(b"HELO example\r\n")               # not XML
        s.settimeout(5)
        data = b""
        try:
            while b"</stream:stream>" not in data:  # the error, then we hang up
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        assert b"not-well-formed" in data, data
        s.close()
    # Every slot must come back; the bookkeeping is asynchronous, so poll for a bounded time.
    deadline = time.monotonic() + 10
    while True:
        clients = []
        try:
            for port, tls in ((server.port, False), (server.tls_port, True)):
                c = RawClient(port, direct_tls=tls)
                clients.append(c)
                c.open_stream()
            break
        except (StreamClosed, XmppTimeout, OSError):
            assert time.monotonic() < deadline, "connection slots leaked: " + \
                server.log()[-2000:]
            time.sleep(0.2)
        finally:
            for c in clients:
                c.close()
    assert server.alive()


@pytest.mark.corvid(config={"limits": {"auth_timeout_s": 2}})
@pytest.mark.parametrize("port_kind", ["c2s", "direct-tls"])
def test_silent_connection_is_closed(server, port_kind):
    """A connection that never says anything (no stream header, no TLS ClientHello) is closed by
    the auth timer too: a slowloris cannot hold sockets."""
    port = server.port if port_kind == "c2s" else server.tls_port
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    s.settimeout(10)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, TimeoutError):
        pytest.fail(f"still open after 10 s (auth_timeout_s = 2); got {data!r}")
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - t0
    assert 1.5 <= elapsed <= 7, f"closed after {elapsed:.1f} s"
    if port_kind == "c2s":
        assert b"connection-timeout" in data, data
    s.close()
