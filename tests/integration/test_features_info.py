"""XEP-0092 software version, XEP-0202 entity time, XEP-0012 last activity."""

import datetime
import platform
import re
import time

import pytest

import slix
from corvid_harness import psql
from test_features_support import NS_LAST, NS_TIME, NS_VERSION, online, slix_login
from im_support import connect
from xmpp_raw import NS_CLIENT, q, stanza_error_condition, to_str


# --- XEP-0092 ---

def test_version_slixmpp(server, users):
    async def main():
        c = await slix_login(server.port, "alice@localhost/v", users["alice"],
                             plugins=["xep_0092"])
        reply = await c["xep_0092"].get_version("localhost")
        v = reply["software_version"]
        assert v["name"] == "corvid"
        assert v["version"] == "0.1.0"
        # uname -sr, read once at start.
        assert v["os"] == f"{platform.system()} {platform.release()}"
        await c.close()
    slix.run(main())


@pytest.mark.corvid(config={"modules": {"version": {"hide_os": True}}})
def test_version_hide_os(server, users):
    c = online(server, "alice", users["alice"])
    reply = c.iq(f"<query xmlns='{NS_VERSION}'/>", to="localhost")
    query = reply.find(q(NS_VERSION, "query"))
    assert query is not None, to_str(reply)
    assert query.findtext(q(NS_VERSION, "name")) == "corvid"
    assert query.find(q(NS_VERSION, "os")) is None, to_str(reply)
    c.close()


@pytest.mark.corvid(config={"modules": {"version": {"hide": True}}})
def test_version_hide(server, users):
    c = online(server, "alice", users["alice"])
    reply = c.iq(f"<query xmlns='{NS_VERSION}'/>", to="localhost")
    assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    c.close()


def test_version_to_an_account_is_not_the_servers(server, users):
    """XEP-0092 is about the server; a bare JID does not answer for its clients."""
    c = online(server, "alice", users["alice"])
    reply = c.iq(f"<query xmlns='{NS_VERSION}'/>", to="bob@localhost")
    assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    c.close()


# --- XEP-0202 ---

def test_entity_time_slixmpp(server, users):
    async def main():
        c = await slix_login(server.port, "alice@localhost/t", users["alice"],
                             plugins=["xep_0202"])
        before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        reply = await c["xep_0202"].get_entity_time("localhost")
        after = datetime.datetime.now(datetime.timezone.utc)
        # slixmpp 1.8.3's get_utc() appends a second 'Z' to the XEP-0082 stamp and fails to
        # parse it, so the text is read directly.
        text = reply["entity_time"].xml.findtext(f"{{{NS_TIME}}}utc")
        utc = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
        assert before - datetime.timedelta(seconds=2) <= utc <= after + \
            datetime.timedelta(seconds=2), text
        await c.close()
    slix.run(main())


def test_entity_time_raw_format(server, users):
    c = online(server, "alice", users["alice"])
    reply = c.iq(f"<time xmlns='{NS_TIME}'/>", to="localhost")
    el = reply.find(q(NS_TIME, "time"))
    assert el is not None, to_str(reply)
    # XEP-0082: DateTime in UTC and a [+-]hh:mm offset.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", el.findtext(q(NS_TIME, "utc")))
    tzo = el.findtext(q(NS_TIME, "tzo"))
    assert re.fullmatch(r"[+-]\d\d:\d\d", tzo), tzo
    offset = -time.altzone if time.localtime().tm_isdst > 0 else -time.timezone
    sign = "-" if offset < 0 else "+"
    assert tzo == f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    c.close()


# --- XEP-0012 ---

def test_server_uptime(server, users):
    c = online(server, "alice", users["alice"])
    first = c.iq(f"<query xmlns='{NS_LAST}'/>", to="localhost")
    assert first.get("type") == "result", to_str(first)
    seconds = int(first.find(q(NS_LAST, "query")).get("seconds"))
    assert 0 <= seconds < 60
    time.sleep(1.1)
    later = int(c.iq(f"<query xmlns='{NS_LAST}'/>", to="localhost")
                .find(q(NS_LAST, "query")).get("seconds"))
    assert later >= seconds + 1
    c.close()


def test_last_activity_slixmpp(server, users):
    async def main():
        c = await slix_login(server.port, "alice@localhost/l", users["alice"],
                             plugins=["xep_0012"])
        up = await c["xep_0012"].get_last_activity("localhost")
        assert up["last_activity"]["seconds"] >= 0
        # One's own account while online: 0 (XEP-0012 §3).
        own = await c["xep_0012"].get_last_activity("alice@localhost")
        assert own["last_activity"]["seconds"] == 0
        await c.close()
    slix.run(main())


def test_last_activity_of_others_is_forbidden_without_subscription(server, users):
    """XEP-0012 §3: forbidden for whoever may not see the presence, whether the account exists
    or not (and whether it is online or not)."""
    alice = online(server, "alice", users["alice"])
    bob = online(server, "bob", users["bob"], presence=True)
    for target in ("bob@localhost", "carol@localhost", "nobody@localhost"):
        reply = alice.iq(f"<query xmlns='{NS_LAST}'/>", to=target)
        assert stanza_error_condition(reply) == "forbidden", to_str(reply)
    alice.close()
    bob.close()


def test_last_activity_for_subscribers(server, users):
    """A contact with a subscription to the account's presence (the account's roster item has
    subscription from or both) learns its last logout and status, or 0 while it is online;
    a contact the account only subscribed to (subscription to) does not."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    # bob subscribes to alice's presence; alice approves: alice's item for bob is 'from'.
    bob.presence("alice@localhost", "subscribe")
    alice.take(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe",
               what="the subscription request")
    alice.presence("bob@localhost", "subscribed")
    bob.push("alice@localhost", subscription="to")

    reply = bob.iq(f"<query xmlns='{NS_LAST}'/>", to="alice@localhost")
    assert reply.find(q(NS_LAST, "query")).get("seconds") == "0", to_str(reply)
    # The other way round is not allowed: alice's item in bob's roster is only 'to' for bob.
    reply = alice.iq(f"<query xmlns='{NS_LAST}'/>", to="bob@localhost")
    assert stanza_error_condition(reply) == "forbidden", to_str(reply)

    alice.send("<presence type='unavailable'><status>Heading Home</status></presence>")
    alice.close()
    deadline = time.monotonic() + 10
    while True:
        reply = bob.iq(f"<query xmlns='{NS_LAST}'/>", to="alice@localhost")
        query = reply.find(q(NS_LAST, "query"))
        if query is not None and query.text == "Heading Home":
            break
        assert time.monotonic() < deadline, to_str(reply)
        time.sleep(0.05)
    assert 0 <= int(query.get("seconds")) < 30
    assert reply.get("from") == "alice@localhost"
    bob.close()


def _last_row(server, user):
    return psql(server.dsn, "SELECT l.status, (now() - l.logout_at) < interval '30 seconds'"
                            " FROM last_activity l JOIN accounts a ON a.id = l.account_id"
                            f" WHERE a.username = '{user}'").strip()


def _wait_row(server, user, expected, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        row = _last_row(server, user)
        if row == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"last_activity of {user}: {row!r}, expected {expected!r}")
        time.sleep(0.05)


def test_logout_recorded_when_the_last_resource_goes(server, users):
    """The logout time and the status of the last unavailable presence are stored when the
    account's last resource goes away, not before."""
    one = online(server, "alice", users["alice"], resource="one", presence=True)
    two = online(server, "alice", users["alice"], resource="two", presence=True)
    one.send("<presence type='unavailable'><status>Heading Home</status></presence>")
    one.close()
    # 'two' is still there: nothing recorded yet (a ping round trip orders things).
    assert two.ping().get("type") == "result"
    assert _last_row(server, "alice") == ""
    two.send("<presence type='unavailable'><status>Gone &amp; away</status></presence>")
    two.close()
    _wait_row(server, "alice", "Gone & away|t")

    # A connection that just drops: no status.
    three = online(server, "alice", users["alice"], resource="three", presence=True)
    three.sock.close()
    _wait_row(server, "alice", "|t")
