"""Offline messages (XEP-0160) in PostgreSQL, with XEP-0203 delay stamps."""

import asyncio
import contextlib
import datetime
import subprocess
import time

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


def test_message_to_unknown_account_gets_service_unavailable(server, users):
    """RFC 6121 §8.5.1: a message for an account that does not exist is answered with
    service-unavailable (chat and normal, to the bare or a full JID); what would not have been
    stored (headlines, chat states alone) is dropped as silently as for an offline account."""
    alice = connect(server, "alice", users["alice"], "a")
    alice.message("nobody@localhost", "hello?", id_="bare")
    alice.message("nobody@localhost/desk", "hello?", type_="normal", id_="full")
    alice.message("nobody@localhost", "news", type_="headline", id_="headline")
    alice.send("<message to='nobody@localhost' type='chat' id='state'>"
               "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
    alice.message("bob@localhost", "hello?", id_="bob")
    for id_, to in (("bare", "nobody@localhost"), ("full", "nobody@localhost/desk")):
        err = alice.take(lambda e: e.tag == MESSAGE and e.get("id") == id_, what=id_)
        assert err.get("type") == "error", to_str(err)
        assert stanza_error_condition(err) == "service-unavailable", to_str(err)
        assert error_type(err) == "cancel"
        assert error_text(err) == "no such user"
        assert err.get("from") == to
    no_errors(alice)
    alice.close()


@contextlib.contextmanager
def offline_stores_stalled(server):
    """Holds an exclusive lock on offline_messages from a psql session, so that every offline
    store (and take) waits until the block ends: what arrives meanwhile stays in corvid's
    memory. Kept well under corvid's statement timeout (5 s)."""
    p = subprocess.Popen(["psql", "-X", "-q", "-d", server.dsn], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        p.stdin.write("BEGIN; LOCK TABLE offline_messages IN ACCESS EXCLUSIVE MODE;\n")
        p.stdin.flush()
        wait_until(lambda: psql(server.dsn, (
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE c.relname = 'offline_messages' AND l.mode = 'AccessExclusiveLock'"
            " AND l.granted AND l.database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())")).strip() == "1", 10, "the lock")
        yield
    finally:
        p.communicate("COMMIT;\n", timeout=10)


def errors_by_id(c, ids, timeout=10):
    """Waits for an error for each of `ids`; returns {id: element}."""
    out = {}
    for id_ in ids:
        out[id_] = c.take(lambda e, i=id_: e.tag == MESSAGE and e.get("id") == i and
                          e.get("type") == "error", timeout, f"the error for {id_}")
    return out


FLOOD_BOUND = 65536  # the smallest max_pending_bytes_per_account
FLOOD_BODY = "x" * 2000


@pytest.mark.corvid(config={"modules": {"offline": {
    "max_pending_bytes_per_account": FLOOD_BOUND}}})
def test_flood_to_unknown_account_is_bounced_within_the_bound(server, users):
    """Messages to an account that does not exist wait in memory only up to the per-account
    bound: the rest is bounced at once (resource-constraint), what waited gets
    service-unavailable once the database has answered. Every message gets exactly one error."""
    alice = connect(server, "alice", users["alice"], "a")
    n = 300
    ids = [f"f{i}" for i in range(n)]
    with offline_stores_stalled(server):
        for id_ in ids:
            alice.message("nobody@localhost", FLOOD_BODY, id_=id_)
        # While the database does not answer, what is past the bound comes back at once
        # (before the answer to a ping sent after the flood).
        refused = alice.got(lambda e: e.tag == MESSAGE and e.get("type") == "error")
        for err in refused:
            assert stanza_error_condition(err) == "resource-constraint", to_str(err)
            assert error_type(err) == "wait"
            assert "waiting to be stored" in error_text(err)
    refused = {e.get("id") for e in refused}
    waited = [i for i in ids if i not in refused]
    assert 0 < len(waited) <= FLOOD_BOUND // len(FLOOD_BODY) + 1
    for id_, err in errors_by_id(alice, waited).items():
        assert stanza_error_condition(err) == "service-unavailable", to_str(err)
    no_errors(alice)  # one error each, no more
    alice.close()


@pytest.mark.corvid(config={"modules": {"offline": {
    "max_pending_bytes_per_account": FLOOD_BOUND}}})
def test_flood_to_offline_account_stores_up_to_the_bound(server, users):
    """The same flood to an account that exists: what waited is stored, the rest bounced with
    resource-constraint; at login every stored message comes once, in order. The bound is per
    account: another one still takes messages."""
    alice = connect(server, "alice", users["alice"], "a")
    n = 300
    with offline_stores_stalled(server):
        for i in range(n):
            alice.message("bob@localhost", f"{i} {FLOOD_BODY}", id_=f"f{i}")
        alice.message("carol@localhost", "still room for carol", id_="carol")
        refused = alice.got(lambda e: e.tag == MESSAGE and e.get("type") == "error")
        for err in refused:
            assert stanza_error_condition(err) == "resource-constraint", to_str(err)
            assert error_type(err) == "wait"
            assert err.get("from") == "bob@localhost"
    refused = {e.get("id") for e in refused}
    kept = [i for i in range(n) if f"f{i}" not in refused]
    assert 0 < len(kept) <= FLOOD_BOUND // len(FLOOD_BODY) + 1
    wait_until(lambda: psql(server.dsn, "SELECT count(*) FROM offline_messages").strip() ==
               str(len(kept) + 1), 10, "the stored messages")
    no_errors(alice)
    bob = connect(server, "bob", users["bob"], "b")
    got = wait_messages(bob, len(kept))
    assert [int(b.split()[0]) for b in bodies(got)] == kept
    assert not bob.got(is_message())
    bob.close()
    bob = connect(server, "bob", users["bob"], "b")
    assert not bob.got(is_message())  # delivered means gone
    carol = connect(server, "carol", users["carol"], "c")
    assert bodies(wait_messages(carol, 1)) == ["still room for carol"]
    for c in (alice, bob, carol):
        c.close()


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


def test_delivery_waits_for_a_slow_reader(server, users):
    """More stored than the output buffer holds (limits.output_buffer_bytes, 1 MiB): delivery
    takes the next batch only when the client has read the last, so a client that does not read
    for a while at login is not disconnected, and no message taken from the table is lost."""
    alice = connect(server, "alice", users["alice"], "a")
    n = 600
    body = "y" * 8000
    for i in range(n):
        alice.message("bob@localhost", f"{i} {body}")
        if i % 50 == 49:
            wait_until(lambda: psql(server.dsn, "SELECT count(*) FROM offline_messages")
                       .strip() == str(i + 1), 10, f"{i + 1} stored messages")
    no_errors(alice)
    bob = connect(server, "bob", users["bob"], "b", presence=False)
    bob.send("<presence/>")
    time.sleep(2)  # 4.8 MB waiting for bob, who reads nothing yet
    got = wait_messages(bob, n)
    assert [int(b.split()[0]) for b in bodies(got)] == list(range(n))
    assert not bob.got(is_message())
    assert psql(server.dsn, "SELECT count(*) FROM offline_messages").strip() == "0"
    alice.close()
    bob.close()


def test_flood_to_unknown_account_with_slixmpp(server, users):
    """A client library's view: each message to an account that does not exist comes back as
    a message error."""
    async def main():
        alice = await slix.login(server.port, "alice@localhost/a", users["alice"])
        errors = asyncio.Queue()
        alice.add_event_handler("message_error", errors.put_nowait)
        for i in range(50):
            alice.send_message(mto="nobody@localhost", mbody=f"anyone? {i} " + "x" * 2000,
                               mtype="chat")
        conditions = []
        for _ in range(50):
            err = await asyncio.wait_for(errors.get(), 10)
            assert err["from"] == "nobody@localhost"
            conditions.append(err["error"]["condition"])
        assert conditions == ["service-unavailable"] * 50
        await alice.close()
    slix.run(main())
