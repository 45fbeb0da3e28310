"""Presence subscriptions (RFC 6121 §3) and presence broadcast (RFC 6121 §4) between real
sessions: raw clients for exact stanzas, slixmpp for a client library's view."""

import asyncio
import socket
import struct

import pytest

import slix
from im_support import (NS_CLIENT, NS_DELAY, PRESENCE, connect, error_text, error_type,
                        is_message, q, stanza_error_condition, to_str)


def befriend(a, b):
    """Makes a and b (online, roster requested) subscribed both ways through the protocol."""
    ab, bb = a.jid.split("/")[0], b.jid.split("/")[0]
    for x, y, xb, yb in ((a, b, ab, bb), (b, a, bb, ab)):
        x.presence(yb, "subscribe")
        y.take(lambda e: e.tag == PRESENCE and e.get("type") == "subscribe" and
               e.get("from") == xb, what=f"subscribe from {xb}")
        y.presence(xb, "subscribed")
        x.take(lambda e: e.tag == PRESENCE and e.get("type") == "subscribed" and
               e.get("from") == yb, what=f"subscribed from {yb}")
        x.wait_presence(y.jid)
    a.push(bb, subscription="both")
    b.push(ab, subscription="both")


def kill(c):
    """Ends the connection the hard way: RST, no </stream:stream>, no TLS close_notify."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.sock.close()


def test_subscription_handshake_both_online(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")

    # RFC 6121 §3.1: alice asks; her roster shows the pending request (ask='subscribe').
    alice.presence("bob@localhost", "subscribe", "<status>it is alice</status>")
    alice.push("bob@localhost", subscription="none", ask="subscribe")
    req = bob.take(lambda e: e.tag == PRESENCE and e.get("type") == "subscribe")
    assert req.get("from") == "alice@localhost", "subscriptions come from the bare JID"
    assert req.get("to") == "bob@localhost"
    assert req.findtext(q(NS_CLIENT, "status")) == "it is alice"
    # A request alone does not put alice in bob's roster (§3.1.3).
    assert bob.roster_items() == {}

    # §3.2: bob approves; both rosters change, alice gets 'subscribed' and bob's presence.
    bob.presence("alice@localhost", "subscribed")
    bob.push("alice@localhost", subscription="from")
    alice.push("bob@localhost", subscription="to", ask=None)
    alice.wait_presence("bob@localhost", "subscribed")
    alice.wait_presence("bob@localhost/b")

    # And the other way round: both.
    bob.presence("alice@localhost", "subscribe")
    bob.push("alice@localhost", subscription="from", ask="subscribe")
    alice.wait_presence("bob@localhost", "subscribe")
    alice.presence("bob@localhost", "subscribed")
    alice.push("bob@localhost", subscription="both")
    bob.push("alice@localhost", subscription="both", ask=None)
    bob.wait_presence("alice@localhost/a")

    # Broadcasts now reach the contact (§4.4).
    alice.available(status="in a meeting")
    p = bob.wait_presence("alice@localhost/a")
    assert p.findtext(q(NS_CLIENT, "status")) == "in a meeting"

    # Stored: a new session sees 'both' and, after initial presence, alice's presence (probe).
    bob2 = connect(server, "bob", users["bob"], "b2", presence=False)
    assert bob2.roster_items()["alice@localhost"].get("subscription") == "both"
    bob2.available()
    p = bob2.wait_presence("alice@localhost/a")
    assert p.findtext(q(NS_CLIENT, "status")) == "in a meeting"
    # ... and that of its own other resource (§4.2.2); bob/b hears of bob/b2.
    bob2.wait_presence("bob@localhost/b")
    bob.wait_presence("bob@localhost/b2")
    for c in (alice, bob, bob2):
        c.close()


def test_subscription_request_to_offline_contact(server, users):
    """§3.1.3: the request waits for the contact's next login; approved, both see each other."""
    alice = connect(server, "alice", users["alice"], "a")
    alice.presence("bob@localhost", "subscribe")
    alice.push("bob@localhost", ask="subscribe")
    # Nothing comes back while bob is away: no error, no answer.
    assert not alice.got(lambda e: e.tag == PRESENCE and e.get("from", "").startswith("bob"))

    bob = connect(server, "bob", users["bob"], "b")
    req = bob.wait_presence("alice@localhost", "subscribe")
    delay = req.find(q(NS_DELAY, "delay"))
    assert delay is not None and delay.get("from") == "localhost", to_str(req)
    bob.presence("alice@localhost", "subscribed")
    alice.push("bob@localhost", subscription="to")
    alice.wait_presence("bob@localhost/b")
    bob.presence("alice@localhost", "subscribe")
    alice.wait_presence("bob@localhost", "subscribe")
    alice.presence("bob@localhost", "subscribed")
    bob.wait_presence("alice@localhost/a")

    # Answered requests are not delivered again.
    bob.close()
    bob = connect(server, "bob", users["bob"], "b")
    bob.wait_presence("alice@localhost/a")
    assert not bob.got(lambda e: e.tag == PRESENCE and e.get("type") == "subscribe")
    alice.close()
    bob.close()


def test_approval_while_requester_is_offline(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    alice.presence("bob@localhost", "subscribe")
    alice.push("bob@localhost", ask="subscribe")
    alice.close()

    bob = connect(server, "bob", users["bob"], "b")
    bob.wait_presence("alice@localhost", "subscribe")
    bob.presence("alice@localhost", "subscribed")
    bob.push("alice@localhost", subscription="from")

    # alice comes back: her roster says 'to' and her probe brings bob's presence.
    alice = connect(server, "alice", users["alice"], "a", presence=False)
    item = alice.roster_items()["bob@localhost"]
    assert item.get("subscription") == "to" and item.get("ask") is None, to_str(item)
    alice.available()
    alice.wait_presence("bob@localhost/b")
    alice.close()
    bob.close()


def test_pre_approval(server, users):
    """§3.4: bob approves before alice asks; her request is answered at once."""
    bob = connect(server, "bob", users["bob"], "b")
    alice = connect(server, "alice", users["alice"], "a")
    bob.presence("alice@localhost", "subscribed")
    bob.push("alice@localhost", subscription="none", approved="true")
    # Not routed: alice hears nothing yet.
    assert not alice.got(lambda e: e.tag == PRESENCE and e.get("from", "").startswith("bob"))

    alice.presence("bob@localhost", "subscribe")
    alice.wait_presence("bob@localhost", "subscribed")
    alice.push("bob@localhost", subscription="to")
    alice.wait_presence("bob@localhost/b")
    bob.push("alice@localhost", subscription="from", approved=None)
    assert not bob.got(lambda e: e.tag == PRESENCE and e.get("type") == "subscribe")
    alice.close()
    bob.close()


def test_denial_unsubscribe_and_cancellation(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    # §3.2.2: bob denies.
    alice.presence("bob@localhost", "subscribe")
    bob.wait_presence("alice@localhost", "subscribe")
    bob.presence("alice@localhost", "unsubscribed")
    alice.wait_presence("bob@localhost", "unsubscribed")
    alice.push("bob@localhost", subscription="none", ask=None)

    befriend(alice, bob)

    # §3.3: alice unsubscribes from bob's presence: bob keeps hers.
    alice.presence("bob@localhost", "unsubscribe")
    alice.push("bob@localhost", subscription="from")
    bob.wait_presence("alice@localhost", "unsubscribe")
    bob.push("alice@localhost", subscription="to")
    alice.wait_presence("bob@localhost/b", "unavailable")
    bob.available(status="alice cannot see this")
    assert not alice.got(lambda e: e.tag == PRESENCE and e.get("from") == "bob@localhost/b")
    alice.available(status="bob sees this")
    assert bob.wait_presence("alice@localhost/a").findtext(q(NS_CLIENT, "status")) == \
        "bob sees this"

    # §3.3 (cancellation): alice takes her presence back from bob.
    alice.presence("bob@localhost", "unsubscribed")
    alice.push("bob@localhost", subscription="none")
    bob.wait_presence("alice@localhost", "unsubscribed")
    bob.push("alice@localhost", subscription="none")
    bob.wait_presence("alice@localhost/a", "unavailable")
    alice.close()
    bob.close()


def test_roster_remove_ends_both_subscriptions(server, users):
    """RFC 6121 §2.5.2: removing a contact sends unsubscribe and unsubscribed."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    befriend(alice, bob)
    assert alice.roster_set("bob@localhost", subscription="remove").get("type") == "result"
    alice.push("bob@localhost", subscription="remove")
    bob.wait_presence("alice@localhost", "unsubscribe")
    bob.wait_presence("alice@localhost", "unsubscribed")
    bob.push("alice@localhost", subscription="none")
    bob.wait_presence("alice@localhost/a", "unavailable")
    alice.close()
    bob.close()


def test_unavailable_on_unclean_disconnect(server, users):
    """RFC 6121 §4.6.1: however a session ends, its contacts are told."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    befriend(alice, bob)
    bob_other = connect(server, "bob", users["bob"], "other")
    alice.wait_presence("bob@localhost/other")
    kill(bob)
    alice.wait_presence("bob@localhost/b", "unavailable")
    bob_other.wait_presence("bob@localhost/b", "unavailable")
    # A clean close says the same.
    bob_other.close()
    alice.wait_presence("bob@localhost/other", "unavailable")
    alice.close()


def test_presence_reaches_only_subscribers(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    carol = connect(server, "carol", users["carol"], "c")
    befriend(alice, bob)
    alice.available(status="hello friends")
    bob.wait_presence("alice@localhost/a")
    assert not carol.got(lambda e: e.tag == PRESENCE and e.get("from", "").startswith("alice"))
    # A probe from a non-subscriber reveals nothing (§4.3.2): the 'unsubscribed' it gets back
    # matches no subscription of carol's, so her server does not even deliver it (§3.3.3).
    carol.presence("alice@localhost", "probe")
    assert not carol.got(lambda e: e.tag == PRESENCE and e.get("from", "").startswith("alice"))
    for c in (alice, bob, carol):
        c.close()


def test_directed_presence_gets_unavailable_at_the_end(server, users):
    """§4.6: directed presence to a non-contact; the session's end tells it, even when the session
    never sent initial presence."""
    alice = connect(server, "alice", users["alice"], "a")
    carol = connect(server, "carol", users["carol"], "c")
    carol.presence("alice@localhost/a", body="<status>psst</status>")
    assert alice.wait_presence("carol@localhost/c").findtext(q(NS_CLIENT, "status")) == "psst"
    kill(carol)
    alice.wait_presence("carol@localhost/c", "unavailable")

    lurker = connect(server, "carol", users["carol"], "lurk", presence=False)
    lurker.presence("alice@localhost")
    alice.wait_presence("carol@localhost/lurk")
    lurker.close()
    alice.wait_presence("carol@localhost/lurk", "unavailable")
    alice.close()


@pytest.mark.corvid(config={"limits": {"max_directed_presences": 3}})
def test_directed_presence_past_the_cap_is_refused(server, users):
    """A session's directed-presence targets are bounded (limits.max_directed_presences): one
    more is answered with a presence error and not sent (RFC 6120 §8.3.3.18); the targets it
    has keep working, and unavailable to one makes room."""
    alice = connect(server, "alice", users["alice"], "a")
    carol = connect(server, "carol", users["carol"], "c")
    for i in range(3):
        alice.presence(f"x{i}@localhost")  # no such accounts: silently ignored (§8.5.1)
    alice.presence("carol@localhost/c", body="<status>one too many</status>")
    err = alice.take(lambda e: e.tag == PRESENCE and e.get("type") == "error",
                     what="the presence error")
    assert err.get("from") == "carol@localhost/c", to_str(err)
    assert err.get("to") == "alice@localhost/a"
    assert stanza_error_condition(err) == "resource-constraint"
    assert error_type(err) == "wait"
    assert err.find(q(NS_CLIENT, "error")).get("by") == "localhost"
    assert "more than 3" in error_text(err)
    assert not carol.got(lambda e: e.tag == PRESENCE and e.get("from") == "alice@localhost/a")

    alice.presence("x0@localhost", body="<status>again</status>")  # a target it has
    alice.presence("x1@localhost", "unavailable")
    alice.presence("carol@localhost/c", body="<status>now there is room</status>")
    got = carol.wait_presence("alice@localhost/a")
    assert got.findtext(q(NS_CLIENT, "status")) == "now there is room"
    assert not alice.got(lambda e: e.tag == PRESENCE and e.get("type") == "error")
    alice.close()
    carol.wait_presence("alice@localhost/a", "unavailable")  # §4.6.3: it was counted
    carol.close()


@pytest.mark.corvid(config={"limits": {"max_directed_presences": 2}})
def test_directed_presence_cap_with_slixmpp(server, users):
    async def main():
        alice = await slix.login(server.port, "alice@localhost/a", users["alice"])
        errors = asyncio.Queue()
        alice.add_event_handler("presence_error", errors.put_nowait)
        for room in ("r1", "r2", "r3"):
            alice.send_presence(pto=f"{room}@localhost/alice")
        err = await asyncio.wait_for(errors.get(), 10)
        assert err["from"] == "r3@localhost/alice"
        assert err["error"]["condition"] == "resource-constraint"
        assert err["error"]["type"] == "wait"
        await alice.ping_server()
        assert errors.empty()
        await alice.close()
    slix.run(main())


def test_priority_decides_delivery(server, users):
    """RFC 6121 §8.5.2.1.1 with priorities set through presence."""
    alice = connect(server, "alice", users["alice"], "a")
    low = connect(server, "bob", users["bob"], "low", priority=1)
    high = connect(server, "bob", users["bob"], "high", priority=5)
    alice.message("bob@localhost", "to the highest")
    high.take(is_message("to the highest"))
    high.available(priority=-1)  # now negative: never chosen for the bare JID
    alice.message("bob@localhost", "now to low")
    low.take(is_message("now to low"))
    assert not high.got(is_message("now to low"))
    for c in (alice, low, high):
        c.close()


def test_handshake_with_slixmpp(server, users):
    """What a client library sees: roster state and presence events."""
    async def main():
        alice = await slix.login(server.port, "alice@localhost/a", users["alice"],
                                 presence=False)
        bob = await slix.login(server.port, "bob@localhost/b", users["bob"], presence=False)
        for c in (alice, bob):
            c.roster.auto_authorize = None  # answer by hand
            c.roster.auto_subscribe = False
            await c.get_roster()
        got_request = asyncio.get_running_loop().create_future()
        bob.add_event_handler("presence_subscribe", lambda p: got_request.done() or
                              got_request.set_result(p))
        bob_online = asyncio.get_running_loop().create_future()
        alice.add_event_handler("got_online", lambda p: p["from"].bare == "bob@localhost" and
                                not bob_online.done() and bob_online.set_result(p))
        alice.send_presence()
        bob.send_presence()

        alice.send_presence(pto="bob@localhost", ptype="subscribe")
        request = await asyncio.wait_for(got_request, 10)
        assert request["from"] == "alice@localhost"
        bob.send_presence(pto="alice@localhost", ptype="subscribed")
        await asyncio.wait_for(bob_online, 10)

        async def until(pred, what):
            for _ in range(200):
                if pred():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(what)

        await until(lambda: alice.client_roster["bob@localhost"]["subscription"] == "to",
                    "alice's roster shows 'to'")
        await until(lambda: bob.client_roster["alice@localhost"]["subscription"] == "from",
                    "bob's roster shows 'from'")
        await alice.close()
        await bob.close()

    slix.run(main())
