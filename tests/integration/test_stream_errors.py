"""Stream-level errors (RFC 6120 §4.9) and protocol misbehaviour: what a hostile or broken client
gets, and that nobody else notices."""

import base64
import select
import time

import pytest

from xmpp_raw import (NS_BIND, NS_CLIENT, NS_SASL, NS_STREAM, NS_STREAMS_ERR, NS_TLS, RawClient,
                      mechanisms, q, to_str)


def online(server, user, pw, resource) -> RawClient:
    c = RawClient(server.port)
    c.login(user, pw, resource=resource, presence=True)
    return c


def assert_still_chatting(server, users, a: RawClient, b: RawClient, tag: str) -> None:
    assert server.alive(), "corvid died"
    a.message(b.jid, f"still here {tag}")
    assert b.wait_message(f"still here {tag}").get("from") == a.jid
    b.message(a.jid, f"me too {tag}")
    assert a.wait_message(f"me too {tag}").get("from") == b.jid


# --- addressing and identity --------------------------------------------------------------------------


def test_spoofed_from_is_invalid_from(server, users):
    """RFC 6120 §8.1.2.1 / §4.9.3.9: a 'from' that is not the client's JID: <invalid-from/>."""
    mallory = online(server, "carol", users["carol"], "c")
    bob = online(server, "bob", users["bob"], "b")
    mallory.send("<message from='alice@localhost/a' to='bob@localhost' type='chat'>"
                 "<body>I am alice</body></message>")
    cond, _ = mallory.stream_error()
    assert cond == "invalid-from"
    assert bob.ping().get("type") == "result"
    assert not [e for e in bob.drain() if e.tag == q(NS_CLIENT, "message")], \
        "the spoofed message was delivered"
    bob.close()


def test_unknown_host_in_stream_header(server):
    c = RawClient(server.port)
    c.open_stream(to="not-served.example", features=False)
    cond, _ = c.stream_error()
    assert cond == "host-unknown"


def test_missing_to_in_stream_header(server):
    c = RawClient(server.port)
    c.open_stream(to=None, features=False)
    cond, _ = c.stream_error()
    assert cond in ("host-unknown", "improper-addressing"), cond


def test_wrong_content_namespace(server):
    c = RawClient(server.port)
    c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
           "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
    cond, _ = c.stream_error()
    assert cond == "invalid-namespace"


def test_unsupported_stanza_type(server, users):
    """RFC 6120 §4.9.3.24: a first-level element the server does not know."""
    c = online(server, "alice", users["alice"], "a")
    c.send("<frobnicate xmlns='urn:example:frob'/>")
    cond, _ = c.stream_error()
    assert cond == "unsupported-stanza-type"


# --- XML ------------------------------------------------------------------------------------------------


def test_malformed_xml_only_hurts_the_sender(server, users):
    """RFC 6120 §4.9.3.13 <not-well-formed/>; two other clients keep chatting."""
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    carol = online(server, "carol", users["carol"], "c")
    assert_still_chatting(server, users, alice, bob, "before")
    carol.send("<message to='bob@localhost'><body>oops</bod></message>")
    cond, _ = carol.stream_error()
    assert cond == "not-well-formed"
    assert_still_chatting(server, users, alice, bob, "after")
    assert not [e for e in bob.drain() if "oops" in to_str(e)]
    alice.close()
    bob.close()


@pytest.mark.parametrize("where,payload", [
    ("prolog", "<?xml version='1.0'?><!DOCTYPE stream:stream>"),
    ("prolog", "<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY lol 'lol'>]>"),
    ("pre-auth", "<!-- a comment -->"),
    ("bound", "<!-- a comment -->"),
    ("bound", "<?evil instruction?>"),
    ("bound", "<message to='bob@localhost'><!-- inside --><body>x</body></message>"),
], ids=["doctype", "entity-declaration", "comment-pre-auth", "comment", "processing-instruction",
        "comment-in-stanza"])
def test_restricted_xml(server, users, where, payload):
    """RFC 6120 §11.1: no DTDs, comments, processing instructions: <restricted-xml/>."""
    c = RawClient(server.port)
    if where == "prolog":
        c.open_stream(prolog=payload, features=False)
    else:
        if where == "pre-auth":
            c.open_stream()
        else:
            c.login("alice", users["alice"])
        c.send(payload)
    cond, _ = c.stream_error()
    assert cond == "restricted-xml"
    assert server.alive()


@pytest.mark.corvid(config={"limits": {"max_stanza_bytes": 10000,
                                       "max_stanza_bytes_preauth": 4096}})
def test_stanza_over_max_stanza_bytes(server, users):
    """RFC 6120 §13.12: a stanza over the limit ends the stream with <policy-violation/>; one just
    under it is delivered."""
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    small = "s" * 9000
    alice.message("bob@localhost/b", small)
    assert bob.wait_message(small) is not None
    alice.message("bob@localhost/b", "L" * 12000)
    cond, _ = alice.stream_error()
    assert cond == "policy-violation"
    assert bob.ping().get("type") == "result"
    assert not [e for e in bob.drain() if "LLLL" in to_str(e)]
    bob.close()


def test_preauth_limit(server, users):
    """limits.max_stanza_bytes_preauth (16 KiB by default): more than that in one element before
    authentication is a <policy-violation/>; a large element under it is not."""
    c = RawClient(server.port)
    c.negotiate_tls()
    # ~15 000 bytes: under the limit, answered with a normal SASL failure.
    res = c.auth_plain("alice", "x" * 11000)
    assert res.tag == q(NS_SASL, "failure"), to_str(res)
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>" + "QUFB" * 5000 + "</auth>")
    cond, _ = c.stream_error()
    assert cond == "policy-violation"


def test_preauth_limit_without_tls(server):
    """The pre-auth limit holds on the unencrypted stream too (the parser counts, not SASL)."""
    c = RawClient(server.port)
    c.open_stream()
    c.send("<message to='bob@localhost'><body>" + "x" * 20000 + "</body></message>")
    cond, _ = c.stream_error()
    assert cond in ("policy-violation",), cond


# --- order of negotiation ------------------------------------------------------------------------


def test_stanza_before_tls(server, users):
    """TLS is required (the default): a stanza on the unencrypted stream ends it with an error
    that says encryption is needed (RFC 6120 §5.3.1)."""
    c = RawClient(server.port)
    c.open_stream()
    c.send("<message to='bob@localhost' type='chat'><body>in the clear</body></message>")
    cond, text = c.stream_error()
    assert "encryption" in f"{cond} {text}".lower(), (cond, text)


def test_stanza_after_tls_before_auth(server, users):
    """RFC 6120 §6.4.? / §4.9.3.12: stanzas before authentication: <not-authorized/>."""
    bob = online(server, "bob", users["bob"], "b")
    c = RawClient(server.port)
    c.negotiate_tls()
    c.send("<message to='bob@localhost/b' type='chat'><body>unauthenticated</body></message>")
    cond, _ = c.stream_error()
    assert cond == "not-authorized"
    assert bob.ping().get("type") == "result"
    assert not [e for e in bob.drain() if "unauthenticated" in to_str(e)]
    bob.close()


def test_starttls_with_pipelined_stanza_is_not_processed(server, users):
    """RFC 6120 §5.4.3.3 (and CVE-2011-0411 style injection): bytes sent in the clear after
    <starttls/> are thrown away, never processed after the handshake. Here the injected bytes
    carry both a message to a connected user and a SASL <auth/> with valid credentials."""
    bob = online(server, "bob", users["bob"], "b")
    c = RawClient(server.port)
    c.open_stream()
    plain = base64.b64encode(f"\0alice\0{users['alice']}".encode()).decode()
    c.send(f"<starttls xmlns='{NS_TLS}'/>"
           "<message to='bob@localhost/b' type='chat'><body>injected</body></message>"
           f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{plain}</auth>")
    c.expect(q(NS_TLS, "proceed"))
    c._wrap_tls()  # the handshake works: no plaintext leaked into the TLS layer
    feats = c.open_stream()
    assert mechanisms(feats), f"not a fresh pre-auth stream after TLS: {to_str(feats)}"
    assert feats.find(q(NS_BIND, "bind")) is None, "the injected <auth/> was processed"
    assert not c.reader.elements, [to_str(e) for e in c.reader.elements]
    # Now authenticate for real; then the marker message proves ordering at bob's side.
    assert c.auth_plain("alice", users["alice"]).tag == q(NS_SASL, "success")
    c.open_stream()
    assert c.bind("a").get("type") == "result"
    c.message("bob@localhost/b", "marker")
    got = []
    bob.wait_for(lambda e: got.append(e) or "marker" in to_str(e), what="the marker message")
    assert not [e for e in got if "injected" in to_str(e)], "the injected message was delivered"
    c.close()
    bob.close()


def test_starttls_with_late_plaintext_is_not_processed(server, users):
    """The other half of STARTTLS command injection: plaintext that reaches the server after it
    has read <starttls/> (a later TCP segment) is never parsed as XMPP. Corvid stops reading in
    the clear at <starttls/>, so those bytes reach the TLS layer in place of a ClientHello and
    the handshake fails; whatever happens, the injected stanzas must not be processed."""
    bob = online(server, "bob", users["bob"], "b")
    c = RawClient(server.port)
    c.open_stream()
    c.send(f"<starttls xmlns='{NS_TLS}'/>")
    time.sleep(0.3)  # the server has read <starttls/> and is switching to TLS
    plain = base64.b64encode(f"\0alice\0{users['alice']}".encode()).decode()
    c.send("<message to='bob@localhost/b' type='chat'><body>injected</body></message>"
           f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{plain}</auth>")
    c.expect(q(NS_TLS, "proceed"))
    assert not c.reader.elements, [to_str(e) for e in c.reader.elements]
    with pytest.raises(OSError):  # ssl.SSLError, a reset or EOF: the plaintext is not TLS
        c._wrap_tls()
    assert server.alive(), "corvid died"
    assert bob.ping().get("type") == "result"
    assert not [e for e in bob.drain() if "injected" in to_str(e)], \
        "the injected message was delivered"
    bob.close()


# --- timers -----------------------------------------------------------------------------------------


@pytest.mark.corvid(config={"limits": {"auth_timeout_s": 2}})
def test_auth_timeout(server, users):
    """limits.auth_timeout_s: an idle unauthenticated connection gets <connection-timeout/>."""
    c = RawClient(server.port)
    t0 = time.monotonic()
    c.open_stream()
    cond, _ = c.stream_error(timeout=10)
    elapsed = time.monotonic() - t0
    assert cond == "connection-timeout"
    assert 1.5 <= elapsed <= 6, f"closed after {elapsed:.1f} s, configured 2 s"


@pytest.mark.corvid(config={"limits": {"stream_header_timeout_s": 2, "auth_timeout_s": 6}})
def test_slowloris_is_closed_at_the_stream_header_deadline(server):
    """A client that dribbles its stream header a byte at a time never gets to the auth deadline:
    limits.stream_header_timeout_s closes it first (before, only the 60 s auth timer did)."""
    c = RawClient(server.port)
    t0 = time.monotonic()
    header = b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client'"
    received = b""
    for byte in header:
        try:
            c.sock.sendall(bytes([byte]))
        except OSError:
            break
        # One byte every half second (the pacing is the attack), reading what comes meanwhile.
        readable, _, _ = select.select([c.sock], [], [], 0.5)
        if readable:
            chunk = c.sock.recv(65536)
            received += chunk
            if not chunk or b"connection-timeout" in received:
                break
        if time.monotonic() - t0 > 8:
            break
    closed_after = time.monotonic() - t0
    assert b"connection-timeout" in received, received
    assert 1.5 <= closed_after <= 4.5, f"closed after {closed_after:.1f} s, header deadline 2 s"


@pytest.mark.corvid(config={"limits": {"stream_header_timeout_s": 2, "auth_timeout_s": 6}})
def test_auth_deadline_counts_from_the_connection(server, users):
    """A client that sent its header in time is not closed at the header deadline, but when the
    whole negotiation has taken auth_timeout_s since it connected."""
    c = RawClient(server.port)
    t0 = time.monotonic()
    c.open_stream()
    c.starttls()
    cond, text = c.stream_error(timeout=12)
    elapsed = time.monotonic() - t0
    assert cond == "connection-timeout"
    assert text, "the timeout says why"
    assert 5.5 <= elapsed <= 9, f"closed after {elapsed:.1f} s, auth deadline 6 s"


@pytest.mark.corvid(config={"limits": {"auth_timeout_s": 2}})
def test_auth_timeout_spares_established_sessions(server, users):
    c = online(server, "alice", users["alice"], "a")
    time.sleep(3)  # the thing under test: the 2 s auth timer must not fire after binding
    assert c.ping().get("type") == "result"
    c.close()


@pytest.mark.corvid(config={"limits": {"idle_timeout_s": 2}})
def test_whitespace_keepalive(server, users):
    """RFC 6120 §4.6.1: whitespace between stanzas is a keepalive; it is accepted and keeps an
    otherwise idle session open past the idle timeout, which then closes a silent one."""
    c = online(server, "alice", users["alice"], "a")
    end = time.monotonic() + 2.8
    while time.monotonic() < end:
        c.send(" ")      # pacing keepalives is what is tested here, not a synchronisation
        time.sleep(0.4)
        c.send("\n\t ")
        time.sleep(0.4)
    assert c.ping().get("type") == "result", "the keepalives upset the stream"
    t0 = time.monotonic()
    err = c.wait_for(lambda e: e.tag == q(NS_STREAM, "error"), timeout=10, what="<stream:error/>")
    elapsed = time.monotonic() - t0
    assert err.find(q(NS_STREAMS_ERR, "connection-timeout")) is not None, to_str(err)
    assert 1.5 <= elapsed <= 4, f"idle close after {elapsed:.1f} s, configured 2 s"
    c.wait_closed(timeout=10)


def test_server_close_completes_when_client_answers(server, users):
    """RFC 6120 §4.4: after sending </stream:stream> the server waits for the client's; when it
    comes, the server closes the TCP connection right away instead of waiting out its timer."""
    c = online(server, "alice", users["alice"], "a")
    c.half_close = False  # answer with </stream:stream> only, keep TCP open
    try:
        c.send("<frobnicate xmlns='urn:example:frob'/>")
        t0 = time.monotonic()
        cond, _ = c.stream_error(timeout=10)
        elapsed = time.monotonic() - t0
        assert cond == "unsupported-stanza-type"
        assert elapsed < 1.5, f"the server held the connection {elapsed:.1f} s after both closed"
    finally:
        c.close()


@pytest.mark.corvid(config={"limits": {"idle_timeout_s": 1}})
def test_idle_close_completes_when_client_closes(server, users):
    """After <connection-timeout/> the client answers </stream:stream> and closes its side (TCP
    FIN); the server should close the connection at once."""
    c = online(server, "alice", users["alice"], "a")
    try:
        c.wait_for(lambda e: e.tag == q(NS_STREAM, "error"), timeout=10, what="<stream:error/>")
        t0 = time.monotonic()
        c.wait_closed(timeout=10)  # sends </stream:stream>, then FIN
        elapsed = time.monotonic() - t0
        assert elapsed < 1.5, f"the server held the connection {elapsed:.1f} s after the client " \
                              f"closed"
    finally:
        c.close()
