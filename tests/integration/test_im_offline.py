"""Offline messages (XEP-0160) in PostgreSQL, with XEP-0203 delay stamps."""

import asyncio
import datetime

import pytest

import slix
from corvid_harness import PrivatePostgres, psql
from im_support import (MESSAGE, NS_CLIENT, NS_DELAY, ImClient, connect, error_text,
                        error_type, is_message, q, stanza_error_condition, to_str)
from xmpp_raw import wait_until


def bodies(messages):
    return [m.findtext(q(NS_CLIENT, "body")) for m in messages]


def wait_messages(c, n):
    out = []
    while len(out) < n:
        out.append(c.take(is_message(), what=f"message {len(out) + 1} of {n}"))
    return out


def no_errors(c):
    errors = c.got(lambda e: e.get("type") == "error")
    assert not errors, [to_str(e) for e in errors]


def test_offline_messages_in_order_with_delay(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    before = datetime.datetime.now(datetime.timezone.utc)
    for i in range(1, 6):
        alice.message("bob@localhost", f"m{i}")
    # To a resource that is not there: the bare JID's rules (RFC 6121 §8.5.3.2.1).
    alice.message("bob@localhost/gone", "m6")
    alice.message("bob@localhost", "m7", type_="normal")
    no_errors(alice)

    bob = connect(server, "bob", users["bob"], "b")
    got = wait_messages(bob, 7)
    assert bodies(got) == ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]
    for m in got:
        assert m.get("from") == "alice@localhost/a"
        delay = m.find(q(NS_DELAY, "delay"))
        assert delay is not None and delay.get("from") == "localhost", to_str(m)
        stamp = datetime.datetime.fromisoformat(delay.get("stamp").replace("Z", "+00:00"))
        assert before - datetime.timedelta(seconds=2) <= stamp <= \
            datetime.datetime.now(datetime.timezone.utc)
    assert got[5].get("to") == "bob@localhost/gone"
    bob.close()

    # Delivered means gone.
    bob = connect(server, "bob", users["bob"], "b")
    assert not bob.got(is_message())
    # Online now: straight through, no delay.
    alice.message("bob@localhost", "live")
    assert bob.take(is_message("live")).find(q(NS_DELAY, "delay")) is None
    alice.close()
    bob.close()


def test_offline_messages_survive_a_restart(server, users):
    async def main():
        alice = await slix.login(server.port, "alice@localhost/a", users["alice"])
        for i in range(3):
            alice.send_message(mto="bob@localhost", mbody=f"before restart {i}", mtype="chat")
        await alice.close()
    slix.run(main())
    # Stored means in PostgreSQL: the restart must not race the INSERTs (a stop loses what is
    # still queued in memory, see the report on shutdown).
    wait_until(lambda: psql(server.dsn, "SELECT count(*) FROM offline_messages").strip() == "3",
               10, "three stored messages")
    server.restart()
    bob = connect(server, "bob", users["bob"], "b")
    assert bodies(wait_messages(bob, 3)) == [f"before restart {i}" for i in range(3)]
    bob.close()


def test_offline_delivery_waits_for_available_with_non_negative_priority(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b", presence=False)
    # Bound but not available: stored (RFC 6121 §8.5.2.2.1).
    alice.message("bob@localhost", "one")
    no_errors(alice)
    assert not bob.got(is_message())
    bob.available(priority=-1)
    alice.message("bob@localhost", "two")
    no_errors(alice)
    assert not bob.got(is_message())
    # XEP-0160 §3: delivered once the priority is non-negative.
    bob.available(priority=0)
    assert bodies(wait_messages(bob, 2)) == ["one", "two"]
    alice.close()
    bob.close()


def test_what_is_not_stored(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    alice.send("<message to='bob@localhost' type='chat'>"
               "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
    alice.send("<message to='bob@localhost' type='chat'><body>secret</body>"
               "<no-store xmlns='urn:xmpp:hints'/></message>")
    alice.message("bob@localhost", "news", type_="headline")
    alice.message("bob@localhost", "kept")
    no_errors(alice)
    bob = connect(server, "bob", users["bob"], "b")
    got = bob.got(lambda e: e.tag == MESSAGE)
    assert bodies(got) == ["kept"], [to_str(m) for m in got]
    alice.close()
    bob.close()


def test_unknown_account_looks_like_an_offline_one(server, users):
    """No account enumeration: a message to a user that does not exist is dropped silently, just
    as one to an offline user is stored silently."""
    alice = connect(server, "alice", users["alice"], "a")
    alice.message("nobody@localhost", "hello?")
    alice.message("bob@localhost", "hello?")
    no_errors(alice)
    alice.close()


@pytest.mark.corvid(config={"modules": {"offline": {"max_messages": 2}}})
def test_offline_quota(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    alice.message("bob@localhost", "q1")
    alice.message("bob@localhost", "q2")
    alice.message("bob@localhost", "q3", id_="over")
    err = alice.take(lambda e: e.tag == MESSAGE and e.get("id") == "over")
    assert err.get("type") == "error", to_str(err)
    assert stanza_error_condition(err) == "resource-constraint"
    assert error_type(err) == "wait"
    assert "full" in error_text(err)
    assert err.get("from") == "bob@localhost"
    bob = connect(server, "bob", users["bob"], "b")
    assert bodies(wait_messages(bob, 2)) == ["q1", "q2"]
    assert not bob.got(is_message())
    # Room again once delivered.
    bob.close()
    alice.message("bob@localhost", "q4")
    no_errors(alice)
    alice.close()


@pytest.fixture
def private_pg():
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.cleanup()


@pytest.mark.time_limit(150)
def test_database_down_gives_a_wait_error(private_pg, server_factory):
    server = server_factory(
        admin_dsn=private_pg.dsn,
        config={"database": {"connect_timeout_ms": 1000, "reconnect_max_backoff_ms": 500,
                             "statement_timeout_ms": 2000}},
        allow_log=[r"^\S+ \S+ error database: "])
    server.add_users({"alice@localhost": "pw-a", "bob@localhost": "pw-b"})
    alice = ImClient(server.port)
    alice.login_im("alice", "pw-a", "a")
    private_pg.stop()
    alice.message("bob@localhost", "lost?", id_="down")
    err = alice.take(lambda e: e.tag == MESSAGE and e.get("id") == "down", timeout=20)
    assert err.get("type") == "error", to_str(err)
    assert error_type(err) == "wait", to_str(err)
    assert stanza_error_condition(err) in ("internal-server-error", "resource-constraint")
    alice.close()
    private_pg.start()


def test_offline_with_slixmpp(server, users):
    async def main():
        alice = await slix.login(server.port, "alice@localhost/a", users["alice"])
        alice.send_message(mto="bob@localhost", mbody="while you were out", mtype="chat")
        await alice.ping_server()
        bob = await slix.login(server.port, "bob@localhost/b", users["bob"])
        m = await bob.next_message(body="while you were out")
        delay = m.xml.find(f"{{{NS_DELAY}}}delay")
        assert delay is not None and delay.get("from") == "localhost"
        assert delay.get("stamp")
        await alice.close()
        await bob.close()
    slix.run(main())
