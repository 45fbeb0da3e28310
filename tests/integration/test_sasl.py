"""SASL (RFC 6120 §6): every advertised mechanism, channel binding, and the failure cases."""

import base64
import ssl

import pytest

from xmpp_raw import (NS_SASL, NS_SASL_CB, NS_TLS, SSL_OP_NO_EXTENDED_MASTER_SECRET, RawClient,
                      ScramClient, channel_binding_types, downgrade_protection_hash, mechanisms, q,
                      sasl_failure_condition, to_str)

DEFAULT_MECHANISMS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1",
                      "PLAIN"]


def tls_client(server, tls_max=None, tls_options=0) -> tuple[RawClient, object]:
    c = RawClient(server.port, tls_max_version=tls_max, tls_options=tls_options)
    c.open_stream()
    feats = c.starttls()
    return c, feats


def finish_login(c: RawClient, user: str) -> None:
    """After <success/>: restart, bind, and prove the session works."""
    c.open_stream()
    reply = c.bind()
    assert reply.get("type") == "result", to_str(reply)
    assert c.jid.startswith(f"{user}@localhost/"), c.jid
    assert c.ping().get("type") == "result"
    c.close()


# --- features --------------------------------------------------------------------------------------


def test_features_before_and_after_tls(server):
    c = RawClient(server.port)
    feats = c.open_stream()
    starttls = feats.find(q(NS_TLS, "starttls"))
    assert starttls is not None, to_str(feats)
    assert starttls.find(q(NS_TLS, "required")) is not None, "TLS must be required by default"
    assert feats.find(q(NS_SASL, "mechanisms")) is None, \
        f"mechanisms offered before TLS although TLS is required: {to_str(feats)}"
    assert feats.find(q(NS_SASL_CB, "sasl-channel-binding")) is None
    feats = c.starttls()
    assert feats.find(q(NS_TLS, "starttls")) is None, "STARTTLS offered again after TLS"
    assert mechanisms(feats) == DEFAULT_MECHANISMS, to_str(feats)
    # XEP-0440: the channel-binding types -PLUS can use on this connection (TLS 1.3: no
    # tls-unique, RFC 9266 §3).
    assert c.sock.version() == "TLSv1.3"
    assert channel_binding_types(feats) == ["tls-exporter", "tls-server-end-point"], to_str(feats)
    c.close()


# --- each mechanism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
@pytest.mark.parametrize("initial_response", [True, False], ids=["initial", "no-initial"])
def test_scram(server, mechanism, initial_response):
    server.add_user("alice@localhost", "correct horse")
    c, feats = tls_client(server)
    assert mechanism in mechanisms(feats)
    r = ScramClient(c, mechanism, "alice", "correct horse",
                    initial_response=initial_response).run()
    assert r.success, to_str(r.element)
    assert r.server_signature_ok, "the server's v= does not prove it knows the password"
    finish_login(c, "alice")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
@pytest.mark.parametrize("cb_type,tls_max", [
    ("tls-server-end-point", None),
    ("tls-server-end-point", ssl.TLSVersion.TLSv1_2),
    ("tls-unique", ssl.TLSVersion.TLSv1_2),
], ids=["tls-server-end-point", "tls-server-end-point-tls1.2", "tls-unique-tls1.2-ems"])
def test_scram_plus(server, mechanism, cb_type, tls_max):
    server.add_user("alice@localhost", "correct horse")
    c, feats = tls_client(server, tls_max)
    assert mechanism in mechanisms(feats)
    assert cb_type in channel_binding_types(feats)
    r = c.auth_scram("alice", "correct horse", mechanism, cb_type=cb_type)
    assert r.success, f"{to_str(r.element)} (TLS {c.sock.version()})"
    assert r.server_signature_ok
    finish_login(c, "alice")


@pytest.mark.parametrize("tls_max,tls_options,advertised", [
    (None, 0, ["tls-exporter", "tls-server-end-point"]),
    (ssl.TLSVersion.TLSv1_2, SSL_OP_NO_EXTENDED_MASTER_SECRET, ["tls-server-end-point"]),
], ids=["tls1.3", "tls1.2-without-ems"])
def test_tls_unique_only_where_safe(server, tls_max, tls_options, advertised):
    """RFC 9266 §3: tls-unique is undefined on TLS 1.3 and open to the triple-handshake attack on
    TLS 1.2 without extended master secret (RFC 7627). It is neither advertised (XEP-0440) nor
    accepted there; -PLUS stays on offer with the types that are safe."""
    server.add_user("alice@localhost", "pw")
    c, feats = tls_client(server, tls_max, tls_options)
    assert channel_binding_types(feats) == advertised, f"{to_str(feats)} (TLS {c.sock.version()})"
    assert "SCRAM-SHA-256-PLUS" in mechanisms(feats)
    # Python computes tls-unique whatever the version; the server must not take it.
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256-PLUS", cb_type="tls-unique")
    assert not r.success, f"tls-unique accepted on {c.sock.version()}"
    assert r.server_first is None, "the exchange went on with tls-unique"
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256-PLUS", cb_type="tls-server-end-point")
    assert r.success, to_str(r.element)
    finish_login(c, "alice")


@pytest.mark.skip(reason="tls-exporter (RFC 9266) needs SSL_export_keying_material, which Python's "
                         "ssl module does not expose; covered by the sasl unit tests")
def test_scram_plus_tls_exporter():
    pass


def test_scram_plus_tls_server_end_point_sha384_certificate(server_factory, certs_dir):
    """RFC 5929 §4.1: the hash is the certificate signature's hash: SHA-384 here, not SHA-256."""
    from conftest import make_cert
    server = server_factory(cert=make_cert(certs_dir, "sha384", digest="sha384"))
    server.add_user("alice@localhost", "pw")
    c, _ = tls_client(server)
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256-PLUS", cb_type="tls-server-end-point")
    assert r.success, to_str(r.element)
    finish_login(c, "alice")


def test_plain(server):
    server.add_user("bob@localhost", "bob pw")
    c, feats = tls_client(server)
    assert "PLAIN" in mechanisms(feats)
    res = c.auth_plain("bob", "bob pw")
    assert res.tag == q(NS_SASL, "success"), to_str(res)
    finish_login(c, "bob")


def test_plain_with_own_authzid(server):
    server.add_user("bob@localhost", "bob pw")
    c, _ = tls_client(server)
    res = c.auth_plain("bob", "bob pw", authzid="bob@localhost")
    assert res.tag == q(NS_SASL, "success"), to_str(res)
    finish_login(c, "bob")


def test_plain_with_foreign_authzid(server):
    """RFC 6120 §6.4.6 / §6.5.6: acting as someone else is <invalid-authzid/>."""
    server.add_users({"bob@localhost": "bob pw", "alice@localhost": "x"})
    c, _ = tls_client(server)
    res = c.auth_plain("bob", "bob pw", authzid="alice@localhost")
    assert sasl_failure_condition(res) == "invalid-authzid", to_str(res)
    c.close()


def test_non_ascii_password(server):
    """The password corvidctl stored and the one the client gives are prepared the same way
    (RFC 8265 OpaqueString), for PLAIN and SCRAM."""
    pw = "p\u00e4ssw\u00f6rd \u2603"
    server.add_user("dora@localhost", pw)
    c, _ = tls_client(server)
    assert c.auth_plain("dora", pw).tag == q(NS_SASL, "success")
    c.close()
    c, _ = tls_client(server)
    r = c.auth_scram("dora", pw, "SCRAM-SHA-256")
    assert r.success and r.server_signature_ok, to_str(r.element)
    c.close()


def test_scram_downgrade_protection_hash(server):
    """XEP-0474: when the server-first message carries h=, it is the hash of what was offered."""
    server.add_user("alice@localhost", "pw")
    c, feats = tls_client(server)
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256")
    assert r.success
    if "h" not in r.attrs:
        pytest.skip("the server does not send XEP-0474 downgrade protection")
    expected = downgrade_protection_hash("sha256", mechanisms(feats), channel_binding_types(feats))
    assert r.attrs["h"] == expected
    c.close()


# --- failures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256",
                                       "SCRAM-SHA-256-PLUS"])
def test_wrong_password_and_unknown_user_look_the_same(server, mechanism):
    """RFC 6120 §6.5.10: both are <not-authorized/>; nothing tells an attacker which it was."""
    server.add_user("alice@localhost", "right")
    results = []
    for user, pw in (("alice", "wrong"), ("nobody", "whatever")):
        c, _ = tls_client(server)
        if mechanism == "PLAIN":
            res = c.auth_plain(user, pw)
        else:
            r = c.auth_scram(user, pw, mechanism, cb_type="tls-server-end-point")
            assert r.server_first is not None, \
                f"{user}: SCRAM failed before server-first: {to_str(r.element)}"
            res = r.element
            results.append(r)
        assert sasl_failure_condition(res) == "not-authorized", f"{user}: {to_str(res)}"
        assert "success" not in to_str(res)
        c.close()
    if results:
        # Same shape of server-first for both: salt length and iteration count.
        known, unknown = results
        assert known.attrs["i"] == unknown.attrs["i"]
        assert len(base64.b64decode(known.attrs["s"])) == len(base64.b64decode(unknown.attrs["s"]))


def test_unknown_user_gets_a_stable_salt(server):
    """A salt that changed at every attempt would tell an attacker the user does not exist."""
    salts = []
    for _ in range(2):
        c, _ = tls_client(server)
        r = c.auth_scram("ghost", "pw", "SCRAM-SHA-256")
        assert r.condition == "not-authorized"
        salts.append(r.attrs["s"])
        c.close()
    assert salts[0] == salts[1]


def test_retry_after_failure_on_the_same_stream(server):
    """RFC 6120 §6.4.5: after <failure/> the client may try again on the same stream."""
    server.add_user("alice@localhost", "right")
    c, _ = tls_client(server)
    assert sasl_failure_condition(c.auth_plain("alice", "wrong")) == "not-authorized"
    r = c.auth_scram("alice", "right", "SCRAM-SHA-256")
    assert r.success, to_str(r.element)
    finish_login(c, "alice")


def test_gs2_y_flag_refused_while_plus_offered(server):
    """RFC 5802 §6: 'y' says "I support channel binding but think you do not"; the server offered
    -PLUS, so someone stripped it: fail."""
    server.add_user("alice@localhost", "pw")
    c, feats = tls_client(server)
    assert "SCRAM-SHA-256-PLUS" in mechanisms(feats)
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256", gs2_flag="y")
    assert not r.success, "y flag accepted although -PLUS was offered"
    assert r.condition == "not-authorized", to_str(r.element)
    c.close()


@pytest.mark.corvid(config={"auth": {"mechanisms": ["SCRAM-SHA-256", "PLAIN"]}})
def test_gs2_y_flag_accepted_without_plus(server):
    """With no -PLUS offered, 'y' is a legitimate client answer."""
    server.add_user("alice@localhost", "pw")
    c, feats = tls_client(server)
    assert mechanisms(feats) == ["SCRAM-SHA-256", "PLAIN"]
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256", gs2_flag="y")
    assert r.success, to_str(r.element)
    finish_login(c, "alice")


@pytest.mark.parametrize("variant", ["tampered-data", "wrong-type-data", "unique-from-other-conn"])
def test_bad_channel_binding_refused(server, variant):
    server.add_user("alice@localhost", "pw")
    c, _ = tls_client(server, ssl.TLSVersion.TLSv1_2)
    if variant == "tampered-data":
        good = c.channel_binding("tls-server-end-point")
        kw = dict(cb_type="tls-server-end-point", cb_data=bytes([good[0] ^ 1]) + good[1:])
    elif variant == "wrong-type-data":
        kw = dict(cb_type="tls-server-end-point", cb_data=c.channel_binding("tls-unique"))
    else:
        other, _ = tls_client(server, ssl.TLSVersion.TLSv1_2)
        kw = dict(cb_type="tls-unique", cb_data=other.channel_binding("tls-unique"))
        other.close()
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256-PLUS", **kw)
    assert not r.success, "a wrong channel binding was accepted"
    assert r.condition == "not-authorized", to_str(r.element)
    c.close()


def test_unsupported_channel_binding_type(server):
    server.add_user("alice@localhost", "pw")
    c, _ = tls_client(server)
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256-PLUS", cb_type="tls-bogus", cb_data=b"x" * 32)
    assert not r.success
    assert r.server_first is None, "the exchange went on with an unknown channel-binding type"
    c.close()


def test_channel_binding_requested_without_plus(server):
    """p=... with a non-PLUS mechanism is a malformed exchange (RFC 5802 §6)."""
    server.add_user("alice@localhost", "pw")
    c, _ = tls_client(server)
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256", gs2_flag="p=tls-server-end-point",
                     cb_data=c.channel_binding("tls-server-end-point"))
    assert not r.success
    c.close()


def test_invalid_mechanism(server):
    c, _ = tls_client(server)
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='DIGEST-MD5'/>")
    assert sasl_failure_condition(c.next()) == "invalid-mechanism"
    c.close()


@pytest.mark.corvid(config={"auth": {"mechanisms": ["SCRAM-SHA-256"]}})
def test_mechanism_not_offered_is_refused(server):
    server.add_user("alice@localhost", "pw")
    c, feats = tls_client(server)
    assert mechanisms(feats) == ["SCRAM-SHA-256"]
    res = c.auth_plain("alice", "pw")
    assert sasl_failure_condition(res) == "invalid-mechanism", to_str(res)
    c.close()


@pytest.mark.corvid(config={"auth": {"allow_plaintext": True, "mechanisms": ["PLAIN"]}})
def test_plain_never_accepted_without_tls(server):
    """RFC 6120 §13.8.3: PLAIN is not offered on an unencrypted stream, so a client that tries it
    anyway must be refused, even when PLAIN is the only configured mechanism."""
    server.add_user("alice@localhost", "pw")
    c = RawClient(server.port)
    feats = c.open_stream()
    assert "PLAIN" not in mechanisms(feats), to_str(feats)
    try:
        res = c.auth_plain("alice", "pw")
        assert res.tag == q(NS_SASL, "failure"), \
            f"PLAIN over an unencrypted stream was not refused: {to_str(res)}"
    finally:
        c.close()


def test_incorrect_encoding(server):
    c, _ = tls_client(server)
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>!!!not base64!!!</auth>")
    assert sasl_failure_condition(c.next()) == "incorrect-encoding"
    c.close()


def test_abort(server):
    """RFC 6120 §6.4.4: <abort/> during an exchange gives <failure><aborted/>."""
    server.add_user("alice@localhost", "pw")
    c, _ = tls_client(server)
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'/>")
    assert c.next().tag == q(NS_SASL, "challenge")
    c.send(f"<abort xmlns='{NS_SASL}'/>")
    assert sasl_failure_condition(c.next()) == "aborted"
    # And the stream is still usable.
    r = c.auth_scram("alice", "pw", "SCRAM-SHA-256")
    assert r.success, to_str(r.element)
    c.close()


def test_auth_before_tls_is_encryption_required(server):
    """RFC 6120 §6.4.?/§5.3.1: SASL before the required TLS: <encryption-required/>."""
    server.add_user("alice@localhost", "pw")
    c = RawClient(server.port)
    c.open_stream()
    res = c.auth_plain("alice", "pw")
    assert sasl_failure_condition(res) == "encryption-required", to_str(res)
    c.close()
