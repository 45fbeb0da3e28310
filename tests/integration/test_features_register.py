"""XEP-0077 in-band registration (off by default), password change and account removal."""

import asyncio

import pytest
from slixmpp.exceptions import IqError

import slix
from corvid_harness import psql
from test_features_support import NS_REGISTER, NS_REGISTER_FEATURE, NS_VCARD, online, slix_login
from xmpp_raw import NS_CLIENT, NS_SASL, RawClient, q, stanza_error_condition, to_str

REGISTER_ON = {"modules": {"register": {"enabled": True, "min_interval_s": 0}}}


class Registrant(slix.Client):
    """A slixmpp client that registers its account in-band, then logs in with it."""

    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        self.register_plugin("xep_0077")
        # COMPAT: slixmpp 1.8.3 holds back every iq but bind/session until the session has
        # started, its own XEP-0077 registration iqs included; let them through.
        self._always_send_everything = True
        self.registration: asyncio.Future = asyncio.get_running_loop().create_future()
        self.add_event_handler("register", self._register)

    async def _register(self, form) -> None:
        assert form["register"]["fields"] is not None
        resp = self.Iq()
        resp["type"] = "set"
        resp["register"]["username"] = self.boundjid.user
        resp["register"]["password"] = self.password
        try:
            await resp.send()
            self._always_send_everything = False
            self.registration.set_result(True)
        except IqError as e:
            self.registration.set_exception(
                AssertionError(f"registration failed: {e.iq['error']['condition']}"))


def register_raw(server, username: str, password: str, *, client: RawClient = None):
    """Sends the registration set on a fresh encrypted stream; returns (client, reply)."""
    c = client or RawClient(server.port)
    if client is None:
        c.negotiate_tls()
    reply = c.iq(f"<query xmlns='{NS_REGISTER}'><username>{username}</username>"
                 f"<password>{password}</password></query>", type_="set")
    return c, reply


def can_login(server, user: str, password: str) -> bool:
    c = RawClient(server.port)
    c.negotiate_tls()
    ok = c.auth_plain(user, password).tag == q(NS_SASL, "success")
    c.close()
    return ok


# --- off by default ---


def test_registration_off_by_default(server):
    c = RawClient(server.port)
    feats = c.negotiate_tls()
    assert feats.find(q(NS_REGISTER_FEATURE, "register")) is None, to_str(feats)
    # No pre-authentication handler: an iq before authentication ends the stream.
    c.send(f"<iq type='get' id='r1'><query xmlns='{NS_REGISTER}'/></iq>")
    condition, _ = c.stream_error()
    assert condition == "not-authorized"


# --- registration on ---


@pytest.mark.corvid(config=REGISTER_ON)
def test_registration_form(server):
    c = RawClient(server.port)
    feats = c.negotiate_tls()
    assert feats.find(q(NS_REGISTER_FEATURE, "register")) is not None, to_str(feats)
    reply = c.iq(f"<query xmlns='{NS_REGISTER}'/>")
    assert reply.get("type") == "result", to_str(reply)
    query = reply.find(q(NS_REGISTER, "query"))
    assert query.find(q(NS_REGISTER, "instructions")) is not None
    assert query.find(q(NS_REGISTER, "username")) is not None
    assert query.find(q(NS_REGISTER, "password")) is not None
    assert query.find(q(NS_REGISTER, "registered")) is None
    c.close()


@pytest.mark.corvid(config=REGISTER_ON)
def test_register_then_login_slixmpp(server):
    async def main():
        c = Registrant("newbie@localhost/first", "n3wbie-pass")
        c.connect(("127.0.0.1", server.port))
        await asyncio.wait_for(c.registration, 10)
        await asyncio.wait_for(c.started, 10)  # logged in on the same stream
        assert str(c.boundjid) == "newbie@localhost/first"
        await c.close()
        again = await slix.login(server.port, "newbie@localhost/second", "n3wbie-pass")
        await again.close()
    slix.run(main())
    assert "registered newbie@localhost" in server.log()


@pytest.mark.corvid(config=REGISTER_ON)
def test_register_raw_then_authenticate_on_the_same_stream(server):
    c, reply = register_raw(server, "Dave", "pässword")
    assert reply.get("type") == "result", to_str(reply)
    # The username was prepared (case-folded, RFC 7622), the password with OpaqueString.
    res = c.auth_plain("dave", "pässword")
    assert res.tag == q(NS_SASL, "success"), to_str(res)
    c.close()
    assert can_login(server, "dave", "pässword")


@pytest.mark.corvid(config=REGISTER_ON)
def test_register_duplicate_is_a_conflict(server, users):
    c, reply = register_raw(server, "alice", "whatever-1")
    assert stanza_error_condition(reply) == "conflict", to_str(reply)
    assert "whatever-1" not in to_str(reply), "the password must not be echoed"
    c.close()
    assert can_login(server, "alice", users["alice"]), "alice's password must be unchanged"


@pytest.mark.corvid(config=REGISTER_ON)
@pytest.mark.parametrize("username, password", [
    ("", "secret-1"),            # no username
    ("eve", ""),                 # no password (XEP-0077 §3.1)
    ("eve smith", "secret-1"),   # a space is not allowed in a localpart
    ("eve@evil", "secret-1"),    # nor an '@'
])
def test_register_bad_fields_not_acceptable(server, username, password):
    c, reply = register_raw(server, username, password)
    assert stanza_error_condition(reply) == "not-acceptable", to_str(reply)
    c.close()


@pytest.mark.corvid(config=REGISTER_ON)
def test_register_remove_before_authentication_is_refused(server):
    c = RawClient(server.port)
    c.negotiate_tls()
    reply = c.iq(f"<query xmlns='{NS_REGISTER}'><remove/></query>", type_="set")
    assert stanza_error_condition(reply) == "unexpected-request", to_str(reply)
    c.close()


@pytest.mark.corvid(config={"modules": {"register": {"enabled": True, "min_interval_s": 3600}}})
def test_register_rate_limit_per_ip(server, users):
    # A refused registration (conflict) does not use up the address's turn.
    c, reply = register_raw(server, "alice", "x-password")
    assert stanza_error_condition(reply) == "conflict", to_str(reply)
    c, reply = register_raw(server, "first", "first-pass", client=c)
    assert reply.get("type") == "result", to_str(reply)
    c, reply = register_raw(server, "second", "second-pass", client=c)
    assert stanza_error_condition(reply) == "resource-constraint", to_str(reply)
    assert reply.find(f"{q(NS_CLIENT, 'error')}").get("type") == "wait"
    c.close()
    # Also from another connection of the same address.
    c, reply = register_raw(server, "third", "third-pass")
    assert stanza_error_condition(reply) == "resource-constraint", to_str(reply)
    c.close()
    assert not can_login(server, "second", "second-pass")
    assert can_login(server, "first", "first-pass")


# --- password change (XEP-0077 §3.3), always available ---


def test_password_change_slixmpp(server, users):
    async def main():
        c = await slix_login(server.port, "alice@localhost/pw", users["alice"],
                             plugins=["xep_0077"])
        reply = await c["xep_0077"].change_password("n3w-secret", jid="localhost")
        assert reply["type"] == "result"
        await c.close()
        again = await slix.login(server.port, "alice@localhost/pw2", "n3w-secret")
        await again.close()
    slix.run(main())
    assert not can_login(server, "alice", users["alice"]), "the old password still works"


def test_password_change_raw_errors(server, users):
    alice = online(server, "alice", users["alice"])
    # Another user's name.
    reply = alice.iq(f"<query xmlns='{NS_REGISTER}'><username>bob</username>"
                     "<password>hijack-1</password></query>", type_="set", to="localhost")
    assert stanza_error_condition(reply) == "forbidden", to_str(reply)
    assert "hijack-1" not in to_str(reply), "the password must not be echoed (XEP-0077 §3.3)"
    # An empty password keeps the old one.
    reply = alice.iq(f"<query xmlns='{NS_REGISTER}'><username>alice</username><password/>"
                     "</query>", type_="set")
    assert stanza_error_condition(reply) == "bad-request", to_str(reply)
    # No username.
    reply = alice.iq(f"<query xmlns='{NS_REGISTER}'><password>abc-123</password></query>",
                     type_="set")
    assert stanza_error_condition(reply) == "bad-request", to_str(reply)
    # To another account.
    reply = alice.iq(f"<query xmlns='{NS_REGISTER}'><username>alice</username>"
                     "<password>abc-123</password></query>", type_="set", to="bob@localhost")
    assert stanza_error_condition(reply) == "forbidden", to_str(reply)
    # Registration info: <registered/> and the username (XEP-0077 §3.1).
    reply = alice.iq(f"<query xmlns='{NS_REGISTER}'/>", to="localhost")
    query = reply.find(q(NS_REGISTER, "query"))
    assert query.find(q(NS_REGISTER, "registered")) is not None, to_str(reply)
    assert query.findtext(q(NS_REGISTER, "username")) == "alice"
    alice.close()
    assert can_login(server, "alice", users["alice"])
    assert can_login(server, "bob", users["bob"])


def test_password_change_by_bare_jid_raw(server, users):
    alice = online(server, "alice", users["alice"])
    reply = alice.iq(f"<query xmlns='{NS_REGISTER}'><username>alice</username>"
                     "<password>other-secret</password></query>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    alice.close()
    assert can_login(server, "alice", "other-secret")


# --- account removal (XEP-0077 §3.2), always available ---


def test_account_removal_slixmpp(server, users):
    """The removal is answered, then every session of the account ends with <not-authorized/>;
    the account and its data are gone, other accounts untouched."""
    other = online(server, "alice", users["alice"], resource="other")
    reply = other.iq(f"<vCard xmlns='{NS_VCARD}'><FN>Alice</FN></vCard>", type_="set")
    assert reply.get("type") == "result"

    async def main():
        c = await slix_login(server.port, "alice@localhost/rm", users["alice"],
                             plugins=["xep_0077"])
        reply = await c["xep_0077"].cancel_registration()
        assert reply["type"] == "result"
        await asyncio.wait_for(asyncio.shield(c.gone), 10)
        assert [e["condition"] for e in c.stream_errors] == ["not-authorized"]
    slix.run(main())

    condition, _ = other.stream_error()
    assert condition == "not-authorized"
    assert not can_login(server, "alice", users["alice"])
    assert can_login(server, "bob", users["bob"])
    assert psql(server.dsn, "SELECT count(*) FROM accounts WHERE username = 'alice'").strip() == "0"
    assert psql(server.dsn, "SELECT count(*) FROM vcards").strip() == "0"


def test_account_removal_raw(server, users):
    bob = online(server, "bob", users["bob"])
    reply = bob.iq(f"<query xmlns='{NS_REGISTER}'><remove/><username>bob</username></query>",
                   type_="set")
    assert stanza_error_condition(reply) == "bad-request", to_str(reply)  # §3.2: only <remove/>
    reply = bob.iq(f"<query xmlns='{NS_REGISTER}'><remove/></query>", type_="set",
                   to="alice@localhost")
    assert stanza_error_condition(reply) == "forbidden", to_str(reply)
    assert can_login(server, "alice", users["alice"])

    reply = bob.iq(f"<query xmlns='{NS_REGISTER}'><remove/></query>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    condition, _ = bob.stream_error()
    assert condition == "not-authorized"
    assert not can_login(server, "bob", users["bob"])


@pytest.mark.corvid(config=REGISTER_ON)
def test_removed_name_can_be_registered_again(server, users):
    carol = online(server, "carol", users["carol"])
    assert carol.iq(f"<query xmlns='{NS_REGISTER}'><remove/></query>",
                    type_="set").get("type") == "result"
    carol.stream_error()
    c, reply = register_raw(server, "carol", "brand-new")
    assert reply.get("type") == "result", to_str(reply)
    c.close()
    assert can_login(server, "carol", "brand-new")
