"""Stream management (XEP-0198 v1.6): acknowledgements counted both ways, resumption of a session
whose TCP connection was cut, what happens to unacknowledged stanzas when a session cannot be
resumed. Raw clients for the exact counts, slixmpp's xep_0198 plugin for a client library's view."""

import asyncio
import datetime
import time

import pytest

import slix
from im_support import (NS_CLIENT, NS_DELAY, PRESENCE, ImClient, connect, is_message, q,
                        to_str)
from test_im_presence import befriend, kill
from xmpp_raw import NS_STANZAS, local

NS_SM = "urn:xmpp:sm:3"


def sm(name):
    return q(NS_SM, name)


def enable(c, resume=True):
    c.send(f"<enable xmlns='{NS_SM}'{' resume=' + repr('true') if resume else ''}/>")
    return c.take(lambda e: e.tag in (sm("enabled"), sm("failed")), what="<enabled/>")


def ack_count(c):
    """Asks the server how many of our stanzas it has handled."""
    c.send(f"<r xmlns='{NS_SM}'/>")
    return int(c.take(lambda e: e.tag == sm("a"), what="<a/>").get("h"))


def failed_condition(el):
    assert el.tag == sm("failed"), to_str(el)
    conds = [local(c.tag) for c in el if c.tag.startswith("{" + NS_STANZAS) and
             local(c.tag) != "text"]
    assert len(conds) == 1, to_str(el)
    return conds[0]


def resume(server, user, password, previd, h):
    """A new connection that authenticates and asks to resume; returns it and the answer."""
    c = ImClient(server.port)
    c.negotiate_tls()
    assert c.auth_plain(user, password).tag.endswith("success")
    c.features = c.restart_after_auth()
    c.send(f"<resume xmlns='{NS_SM}' previd='{previd}' h='{h}'/>")
    return c, c.take(lambda e: e.tag in (sm("resumed"), sm("failed")), what="<resumed/>")


def bodies(messages):
    return [m.findtext(q(NS_CLIENT, "body")) for m in messages]


def test_feature_enable_and_counts(server, users):
    alice = ImClient(server.port)
    alice.negotiate_tls()
    assert alice.auth_plain("alice", users["alice"]).tag.endswith("success")
    features = alice.restart_after_auth()
    # XEP-0198 §2: offered after authentication, next to bind.
    assert features.find(sm("sm")) is not None, to_str(features)

    # §3: <enable/> needs a bound resource.
    alice.send(f"<enable xmlns='{NS_SM}'/>")
    assert failed_condition(alice.take(lambda e: e.tag == sm("failed"))) == "unexpected-request"
    assert alice.bind("a").get("type") == "result"

    enabled = enable(alice)
    assert enabled.tag == sm("enabled"), to_str(enabled)
    assert enabled.get("resume") == "true" and len(enabled.get("id", "")) >= 16
    assert int(enabled.get("max")) == 300
    assert failed_condition(enable(alice)) == "unexpected-request"  # only once per stream

    # Client to server: every stanza counts, nonzas do not.
    assert ack_count(alice) == 0
    for _ in range(3):
        assert alice.ping().get("type") == "result"
    alice.send("<presence/>")
    assert ack_count(alice) == 4

    # Server to client: three ping results and the reflected presence; the server asks by
    # itself once the burst is over.
    r = alice.take(lambda e: e.tag == sm("r"), timeout=5, what="the server's <r/>")
    assert r is not None
    alice.send(f"<a xmlns='{NS_SM}' h='4'/>")
    # Acknowledging more than was sent is the client's error (§4).
    alice.send(f"<a xmlns='{NS_SM}' h='9'/>")
    assert alice.stream_error()[0] == "undefined-condition"


def test_resume_after_the_connection_is_cut(server, users):
    bob = connect(server, "bob", users["bob"], "b")
    alice = connect(server, "alice", users["alice"], "phone")
    befriend(alice, bob)
    enabled = enable(alice)
    previd = enabled.get("id")

    bob.message(alice.jid, "m1")
    bob.message(alice.jid, "m2")
    alice.take(is_message("m1"))
    alice.take(is_message("m2"))
    alice.send(f"<a xmlns='{NS_SM}' h='1'/>")  # m1 only
    assert ack_count(alice) == 0
    kill(alice)
    server.wait_log(r"c2s session \d+ \(alice@localhost/phone\): detached")

    # Detached but not gone: no unavailable presence (§5), and a message to the bare JID is
    # held for the session rather than stored offline.
    bob.message("alice@localhost", "m3")
    time.sleep(0.3)
    assert not bob.got(lambda e: e.tag == PRESENCE and e.get("type") == "unavailable")
    assert not bob.got(lambda e: e.get("type") == "error")

    alice, resumed = resume(server, "alice", users["alice"], previd, 1)
    assert resumed.tag == sm("resumed"), to_str(resumed)
    assert resumed.get("previd") == previd and resumed.get("h") == "0"
    got = [alice.take(is_message(), what=f"message {i}") for i in range(2)]
    assert bodies(got) == ["m2", "m3"]
    assert got[0].get("to") == "alice@localhost/phone"

    # The same session, not a new one: same resource, same presence, counts go on.
    bob.message("alice@localhost", "m4")
    alice.take(is_message("m4"))
    assert ack_count(alice) == 0
    assert alice.ping().get("type") == "result"
    assert ack_count(alice) == 1
    assert not alice.got(is_message("m1"))  # acknowledged before the cut: never again


def test_resume_refused_for_an_unknown_or_another_accounts_id(server, users):
    alice = connect(server, "alice", users["alice"], "phone")
    previd = enable(alice).get("id")
    kill(alice)
    server.wait_log(r"\(alice@localhost/phone\): detached")

    bob, answer = resume(server, "bob", users["bob"], previd, 0)
    assert failed_condition(answer) == "item-not-found"
    # The stream goes on: bob can bind a fresh session.
    assert bob.bind("b").get("type") == "result"
    bob.close()

    carol, answer = resume(server, "carol", users["carol"], "not-an-id", 0)
    assert failed_condition(answer) == "item-not-found"
    carol.close()

    # bob's attempt did not spoil alice's session.
    alice, answer = resume(server, "alice", users["alice"], previd, 0)
    assert answer.tag == sm("resumed"), to_str(answer)
    alice.close()


def test_closing_the_stream_ends_the_session(server, users):
    alice = connect(server, "alice", users["alice"], "phone")
    previd = enable(alice).get("id")
    alice.close()  # </stream:stream>: the client meant to leave (§5)
    _, answer = resume(server, "alice", users["alice"], previd, 0)
    assert failed_condition(answer) == "item-not-found"


@pytest.mark.corvid(config={"modules": {"sm": {"resume_timeout_s": 1}}})
def test_unacknowledged_messages_go_offline_when_the_session_times_out(server, users):
    bob = connect(server, "bob", users["bob"], "b")
    alice = connect(server, "alice", users["alice"], "phone")
    assert int(enable(alice).get("max")) == 1
    before = datetime.datetime.now(datetime.timezone.utc)
    for i in range(1, 4):
        bob.message("alice@localhost", f"m{i}")
    for i in range(1, 4):
        alice.take(is_message(f"m{i}"))
    alice.send(f"<a xmlns='{NS_SM}' h='1'/>")
    assert ack_count(alice) == 0
    kill(alice)
    server.wait_log(r"\(alice@localhost/phone\): not resumed within 1 s")
    bob.message("alice@localhost", "m4")
    assert not bob.got(lambda e: e.get("type") == "error")

    # Back with a new session: what was not acknowledged comes from offline storage, with the
    # time it first reached the server; what was acknowledged does not come again.
    alice = connect(server, "alice", users["alice"], "desk", presence=False)
    alice.send("<presence/>")
    got = [alice.take(is_message(), what=f"offline message {i}") for i in range(3)]
    assert bodies(got) == ["m2", "m3", "m4"]
    for m in got[:2]:
        stamp = m.find(q(NS_DELAY, "delay")).get("stamp")
        when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert before - datetime.timedelta(seconds=2) <= when <= before + \
            datetime.timedelta(seconds=5), to_str(m)
    assert not alice.got(is_message())


@pytest.mark.corvid(config={"modules": {"sm": {"max_unacked": 5}}})
def test_a_client_that_never_acknowledges_is_closed_and_loses_nothing(server, users):
    bob = connect(server, "bob", users["bob"], "b")
    alice = connect(server, "alice", users["alice"], "phone")
    enable(alice)
    for i in range(1, 9):
        bob.message("alice@localhost", f"m{i}")
    cond, text = alice.stream_error()
    assert cond == "policy-violation" and "unacknowledged" in text
    assert not bob.got(lambda e: e.get("type") == "error")

    # None was acknowledged, so all of them are still there (XEP-0198 allows duplicates of
    # unacknowledged stanzas; losing one is not allowed).
    alice = connect(server, "alice", users["alice"], "desk")
    got = bodies(alice.take(is_message(), what=f"message {i}") for i in range(8))
    assert got == [f"m{i}" for i in range(1, 9)]


def test_slixmpp_counts_and_resumes(server, users):
    async def until(pred, what, timeout=10.0):
        deadline = asyncio.get_running_loop().time() + timeout
        while not pred():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async def scenario():
        loop = asyncio.get_running_loop()
        alice = slix.Client("alice@localhost/phone", users["alice"])
        alice.register_plugin("xep_0198")
        plugin = alice.plugin["xep_0198"]
        enabled, resumed = loop.create_future(), loop.create_future()
        alice.add_event_handler("sm_enabled", lambda e: enabled.done() or enabled.set_result(e))
        alice.add_event_handler("session_resumed",
                                lambda e: resumed.done() or resumed.set_result(e))
        alice.connect(("127.0.0.1", server.port))
        await asyncio.wait_for(alice.started, 10)
        await asyncio.wait_for(enabled, 10)
        previd = plugin.sm_id
        assert previd
        alice.send_presence()  # available, so that messages to the bare JID reach the phone

        bob = await slix.login(server.port, "bob@localhost/b", users["bob"])
        for i in range(12):
            bob.send_message(mto="alice@localhost/phone", mbody=f"to alice {i}", mtype="chat")
            alice.send_message(mto="bob@localhost/b", mbody=f"to bob {i}", mtype="chat")
        for i in range(12):
            await alice.next_message(body=f"to alice {i}")
            await bob.next_message(body=f"to bob {i}")
        # The server's <a/> covers everything slixmpp counted as sent ...
        plugin.request_ack()
        await until(lambda: plugin.last_ack == plugin.seq, "the server to acknowledge all")
        assert plugin.seq >= 12
        # ... and the server's own <r/>, after a quiet moment, is answered with slixmpp's count.
        await until(lambda: plugin.handled >= 12, "slixmpp to count the messages")
        await asyncio.sleep(1.0)

        alice.transport.abort()  # the phone loses its network: no </stream:stream>
        await asyncio.wait_for(asyncio.shield(alice.gone), 10)
        await until(lambda: "(alice@localhost/phone): detached" in server.log(), "the detach")
        bob.send_message(mto="alice@localhost", mbody="while away", mtype="chat")

        alice.connect(("127.0.0.1", server.port))
        await asyncio.wait_for(resumed, 10)
        assert plugin.sm_id == previd
        await alice.next_message(body="while away")
        # Nothing acknowledged before the cut comes again.
        await asyncio.sleep(0.5)
        assert alice.messages.empty(), alice.messages.get_nowait()["body"]
        alice.send_message(mto="bob@localhost/b", mbody="back", mtype="chat")
        await bob.next_message(body="back")
        alice.disconnect()
        await bob.close()

    slix.run(scenario())


def test_shutdown_with_a_resumed_session_that_does_not_answer(server, users):
    alice = connect(server, "alice", users["alice"], "phone")
    previd = enable(alice).get("id")
    kill(alice)
    server.wait_log(r"\(alice@localhost/phone\): detached")
    alice, answer = resume(server, "alice", users["alice"], previd, 0)
    assert answer.tag == sm("resumed"), to_str(answer)
    # alice reads nothing more: the server's shutdown grace runs out on her connection.
    assert server.stop() == 0
    alice.close()
