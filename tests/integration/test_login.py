"""Logging in over STARTTLS and direct TLS, with a real client library and with raw bytes."""

import ssl

import pytest

import slix
from xmpp_raw import (NS_BIND, NS_SASL, NS_SESSION, NS_STREAM, NS_TLS, RawClient, local,
                      mechanisms, q, to_str)


def test_starttls_login_slixmpp(server, users):
    async def main():
        c = await slix.login(server.port, "alice@localhost/laptop", users["alice"])
        assert str(c.boundjid) == "alice@localhost/laptop"
        assert c.socket is not None and isinstance(c.socket, (ssl.SSLSocket, ssl.SSLObject)), "not encrypted"
        pong = await c.ping_server()
        assert pong["type"] == "result"
        await c.close()
    slix.run(main())
    assert "authenticated as alice@localhost" in server.log()


def test_direct_tls_login_slixmpp(server, users):
    """XEP-0368: TLS from the first byte on the c2s_direct_tls listener."""
    async def main():
        c = await slix.login(server.tls_port, "bob@localhost/phone", users["bob"], direct_tls=True)
        assert str(c.boundjid) == "bob@localhost/phone"
        pong = await c.ping_server()
        assert pong["type"] == "result"
        await c.close()
    slix.run(main())


def test_direct_tls_raw_offers_no_starttls(server, users):
    c = RawClient(server.tls_port, direct_tls=True)
    feats = c.open_stream()
    assert feats.find(q(NS_TLS, "starttls")) is None, "STARTTLS offered on an encrypted stream"
    assert "SCRAM-SHA-256" in mechanisms(feats)
    res = c.auth_plain("bob", users["bob"])
    assert res.tag == q(NS_SASL, "success"), to_str(res)
    c.open_stream()
    reply = c.bind("r1")
    assert reply.get("type") == "result", to_str(reply)
    assert c.jid == "bob@localhost/r1"
    c.close()


def test_stream_header_answer(server, users):
    """RFC 6120 §4.7: the response header carries from=<our domain>, an id and version 1.0."""
    c = RawClient(server.port)
    feats = c.open_stream()
    h = c.reader.header
    assert h["tag"] == q(NS_STREAM, "stream")
    assert h.get("from") == "localhost"
    assert h.get("version") == "1.0"
    assert len(h.get("id", "")) >= 8, h
    starttls = feats.find(q(NS_TLS, "starttls"))
    assert starttls is not None and starttls.find(q(NS_TLS, "required")) is not None, to_str(feats)
    c.close()


def test_starttls_twice_refused(server, users):
    """After TLS, a second <starttls/> is a protocol error: <failure/> and the stream closes."""
    c = RawClient(server.port)
    c.open_stream()
    c.starttls()
    c.send(f"<starttls xmlns='{NS_TLS}'/>")
    assert c.next().tag == q(NS_TLS, "failure")
    c.wait_closed()


def test_legacy_session_iq(server, users):
    """RFC 6121 appendix B / RFC 3921: <session/> is advertised as optional and accepted."""
    c = RawClient(server.port)
    c.negotiate_tls()
    assert c.auth_plain("alice", users["alice"]).tag == q(NS_SASL, "success")
    feats = c.open_stream()
    session = feats.find(q(NS_SESSION, "session"))
    assert session is not None, to_str(feats)
    assert session.find(q(NS_SESSION, "optional")) is not None, to_str(feats)
    assert feats.find(q(NS_BIND, "bind")) is not None
    assert feats.find(q(NS_SASL, "mechanisms")) is None, "mechanisms offered after auth"
    assert c.bind("s").get("type") == "result"
    reply = c.iq(f"<session xmlns='{NS_SESSION}'/>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    assert len(reply) == 0
    assert c.ping().get("type") == "result"
    c.close()


def test_plaintext_login_when_allowed(server_factory):
    """auth.allow_plaintext = true: STARTTLS offered but not required, SCRAM without TLS works,
    PLAIN is never offered in the clear (RFC 6120 §13.8.3), -PLUS is not offered without TLS."""
    server = server_factory(config={"auth": {"allow_plaintext": True}})
    server.add_user("alice@localhost", "pw-alice")
    c = RawClient(server.port)
    feats = c.open_stream()
    starttls = feats.find(q(NS_TLS, "starttls"))
    assert starttls is not None and starttls.find(q(NS_TLS, "required")) is None, to_str(feats)
    mechs = mechanisms(feats)
    assert "SCRAM-SHA-256" in mechs and "SCRAM-SHA-1" in mechs, mechs
    assert "PLAIN" not in mechs, f"PLAIN offered on a plaintext stream: {mechs}"
    assert not [m for m in mechs if m.endswith("-PLUS")], mechs
    r = c.auth_scram("alice", "pw-alice", "SCRAM-SHA-256")
    assert r.success and r.server_signature_ok, to_str(r.element)
    c.open_stream()
    assert c.bind().get("type") == "result"
    assert c.ping().get("type") == "result"
    c.close()


def test_fresh_database_is_migrated_by_corvid(server_factory):
    """The other tests start on a copy of a schema corvidctl migrated; here corvid itself starts
    on an empty database."""
    server = server_factory(empty_database=True)
    server.add_user("alice@localhost", "pw")
    c = RawClient(server.port)
    assert c.login("alice", "pw", mechanism="SCRAM-SHA-1") == "alice@localhost/raw"
    c.close()


def test_accounts_survive_a_restart(server):
    server.add_user("alice@localhost", "pw")
    server.restart()
    c = RawClient(server.port)
    assert c.login("alice", "pw", mechanism="SCRAM-SHA-256") == "alice@localhost/raw"
    c.close()
    assert server.log().count("corvid running") == 2


def test_login_right_after_start(server, users):
    """A login as soon as corvid reports its database ready succeeds: the server secrets (the
    key of the fake SCRAM salts) were still loading then, and such logins used to get
    temporary-auth-failure (regression test; the window is a few milliseconds, so five starts)."""
    for attempt in range(5):
        if attempt:
            server.restart()
        c = RawClient(server.port)
        assert c.login("alice", users["alice"], mechanism="SCRAM-SHA-256") == \
            "alice@localhost/raw", f"start {attempt + 1}"
        c.close()


def test_corvidctl_lists_and_deletes_users(server, users):
    r = server.ctl("list-users", "localhost")
    assert sorted(r.stdout.split()) == ["alice@localhost", "bob@localhost", "carol@localhost"]
    server.ctl("deluser", "carol@localhost")
    assert "carol@localhost" not in server.ctl("list-users", "localhost").stdout.split()
    c = RawClient(server.port)
    c.negotiate_tls()
    res = c.auth_plain("carol", users["carol"])
    assert res.tag == q(NS_SASL, "failure"), "a deleted account logged in"
    c.close()
