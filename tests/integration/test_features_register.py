"""XEP-0077 in-band registration (off by default), password change and account removal."""

import asyncio

import pytest
from slixmpp.exceptions import IqError

import slix
from corvid_harness import psql
from test_features_support import NS_REGISTER, NS_REGISTER_FEATURE, NS_VCARD, online, slix_login
from xmpp_raw import (NS_CLIENT, NS_SASL, NS_STANZAS, RawClient, q, sasl_failure_condition,
                      stanza_error_condition, to_str, wait_until)

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


# --- what one client can make the server compute (password hashing runs on a worker) ---

# 200,000 PBKDF2 rounds per hash: a change or registration keeps the worker busy for a tenth of
# a second or more, so that everything a test writes in one go arrives while the first is busy.
SLOW_HASHING = {"auth": {"scram_iterations": 200_000}}
SLOW_REGISTRATION = {**SLOW_HASHING, **REGISTER_ON}
PER_ACCOUNT, PER_ADDRESS = 2, 4  # the bounds of src/modules/register.cpp


def change_query(user: str, password: str) -> str:
    return (f"<query xmlns='{NS_REGISTER}'><username>{user}</username>"
            f"<password>{password}</password></query>")


def send_pipeline(c: RawClient, queries: list[str], to: str = None) -> list[str]:
    """Writes one iq set per query in a single write, without waiting; returns their ids."""
    ids = [c.next_id() for _ in queries]
    to_attr = f" to='{to}'" if to else ""
    c.send("".join(f"<iq type='set' id='{i}'{to_attr}>{body}</iq>"
                   for i, body in zip(ids, queries)))
    return ids


def answers(c: RawClient, ids: list[str], timeout: float = 30) -> list:
    """The answers to those iqs, in the order they were asked."""
    got = {}
    while len(got) < len(ids):
        el = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") in ids
                        and e.get("type") in ("result", "error"), timeout, "an answer")
        got[el.get("id")] = el
    return [got[i] for i in ids]


def assert_refused_for_load(reply, about: str) -> None:
    assert stanza_error_condition(reply) == "resource-constraint", to_str(reply)
    error = reply.find(q(NS_CLIENT, "error"))
    assert error.get("type") == "wait", to_str(reply)
    text = error.findtext(q(NS_STANZAS, "text")) or ""
    assert about in text, f"expected a text about {about!r}: {to_str(reply)}"


def accepted(replies) -> list[int]:
    return [i for i, r in enumerate(replies) if r.get("type") == "result"]


@pytest.mark.corvid(config=SLOW_HASHING)
def test_pipelined_password_changes_are_bounded_per_account(server, users):
    alice = online(server, "alice", users["alice"])
    bob = online(server, "bob", users["bob"])
    ids = send_pipeline(alice, [change_query("alice", f"pipelined-{i}") for i in range(20)],
                        to="localhost")
    # Another user is served while the changes are being hashed.
    assert bob.ping().get("type") == "result"
    replies = answers(alice, ids)
    assert accepted(replies) == list(range(PER_ACCOUNT)), [to_str(r) for r in replies]
    for reply in replies[PER_ACCOUNT:]:
        assert_refused_for_load(reply, "this account")
        assert "pipelined" not in to_str(reply), "the password must not be echoed"
    # The last change accepted is the password now; the one before it is not.
    assert can_login(server, "alice", f"pipelined-{PER_ACCOUNT - 1}")
    assert not can_login(server, "alice", "pipelined-0")
    assert not can_login(server, "alice", users["alice"])
    # Once answered, they no longer count.
    reply = alice.iq(change_query("alice", "after-the-pipeline"), type_="set")
    assert reply.get("type") == "result", to_str(reply)
    assert can_login(server, "alice", "after-the-pipeline")
    alice.close()
    bob.close()


@pytest.mark.corvid(config=SLOW_HASHING)
def test_password_changes_are_bounded_per_address(server, users):
    clients = {name: online(server, name, users[name]) for name in ("alice", "bob", "carol")}
    carol_elsewhere = RawClient(server.port, source_ip="127.0.0.2")
    carol_elsewhere.login("carol", users["carol"], resource="elsewhere")
    pipelines = {name: send_pipeline(c, [change_query(name, f"{name}-{i}") for i in range(2)])
                 for name, c in clients.items()}
    elsewhere = send_pipeline(carol_elsewhere, [change_query("carol", "carol-elsewhere")])
    replies = {name: answers(clients[name], ids) for name, ids in pipelines.items()}
    # alice and bob hold the four places of 127.0.0.1; carol's changes from there are refused,
    # the one from another address is not.
    assert accepted(replies["alice"]) == [0, 1]
    assert accepted(replies["bob"]) == [0, 1]
    for reply in replies["carol"]:
        assert_refused_for_load(reply, "your address")
    assert answers(carol_elsewhere, elsewhere)[0].get("type") == "result"
    assert can_login(server, "alice", "alice-1")
    assert can_login(server, "bob", "bob-1")
    assert can_login(server, "carol", "carol-elsewhere")
    # The address's places are given back once the changes are answered.
    reply = clients["carol"].iq(change_query("carol", "carol-later"), type_="set")
    assert reply.get("type") == "result", to_str(reply)
    for c in [*clients.values(), carol_elsewhere]:
        c.close()


@pytest.mark.corvid(config=SLOW_REGISTRATION)
def test_pipelined_registrations_are_bounded_per_address(server, users):
    bob = online(server, "bob", users["bob"])
    c = RawClient(server.port)
    c.negotiate_tls()
    ids = send_pipeline(c, [f"<query xmlns='{NS_REGISTER}'><username>new{i}</username>"
                            f"<password>new{i}-pass</password></query>" for i in range(10)])
    assert bob.ping().get("type") == "result"
    replies = answers(c, ids)
    assert accepted(replies) == list(range(PER_ADDRESS)), [to_str(r) for r in replies]
    for reply in replies[PER_ADDRESS:]:
        assert_refused_for_load(reply, "your address")
    c.close()
    for i in range(10):
        assert can_login(server, f"new{i}", f"new{i}-pass") == (i < PER_ADDRESS), f"new{i}"
    # Their places are given back once they are answered.
    c, reply = register_raw(server, "later", "later-pass")
    assert reply.get("type") == "result", to_str(reply)
    c.close()
    bob.close()


@pytest.mark.corvid(config=SLOW_REGISTRATION)
def test_registration_completes_when_its_client_goes_away(server):
    c = RawClient(server.port)
    c.negotiate_tls()
    send_pipeline(c, [f"<query xmlns='{NS_REGISTER}'><username>leaver</username>"
                      f"<password>leaver-pass</password></query>"])
    c.sock.close()  # at once, while the keys are being derived
    wait_until(lambda: "registered leaver@localhost" in server.log(), 10, "the registration")
    assert can_login(server, "leaver", "leaver-pass")


@pytest.mark.corvid(config=SLOW_HASHING)
def test_changes_asked_after_a_removal_are_refused(server, users):
    bob = online(server, "bob", users["bob"])
    ids = send_pipeline(bob, [f"<query xmlns='{NS_REGISTER}'><remove/></query>",
                              change_query("bob", "too-late")])
    removal, change = answers(bob, ids)
    assert removal.get("type") == "result", to_str(removal)
    assert stanza_error_condition(change) == "registration-required", to_str(change)
    assert change.find(q(NS_CLIENT, "error")).findtext(q(NS_STANZAS, "text"))
    condition, _ = bob.stream_error()
    assert condition == "not-authorized"
    assert psql(server.dsn, "SELECT count(*) FROM accounts WHERE username = 'bob'").strip() == "0"

    # A change asked before the removal is carried out first.
    alice = online(server, "alice", users["alice"])
    ids = send_pipeline(alice, [change_query("alice", "before-removal"),
                                f"<query xmlns='{NS_REGISTER}'><remove/></query>"])
    assert [r.get("type") for r in answers(alice, ids)] == ["result", "result"]
    condition, _ = alice.stream_error()
    assert condition == "not-authorized"
    assert not can_login(server, "alice", "before-removal")


@pytest.mark.corvid(config={"auth": {"scram_iterations": 1_000_000},
                            "limits": {"worker_queue_max": 1}})
def test_a_full_worker_queue_refuses_plain_logins_and_changes(server, users):
    carol = online(server, "carol", users["carol"])
    alice = online(server, "alice", users["alice"])
    # The only place in the worker queue: about a second of hashing.
    (change,) = send_pipeline(alice, [change_query("alice", "slowly-hashed")])
    c = RawClient(server.port)
    c.negotiate_tls()
    res = c.auth_plain("bob", users["bob"])
    assert sasl_failure_condition(res) == "temporary-auth-failure", to_str(res)
    assert "busy" in (res.findtext(q(NS_SASL, "text")) or ""), to_str(res)
    reply = carol.iq(change_query("carol", "carol-new"), type_="set")
    assert_refused_for_load(reply, "busy")
    assert answers(alice, [change])[0].get("type") == "result"
    # The queue is free again: the same stream may try again.
    assert c.auth_plain("bob", users["bob"]).tag == q(NS_SASL, "success")
    c.close()
    carol.close()
    alice.close()
    assert can_login(server, "carol", users["carol"])
