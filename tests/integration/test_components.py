"""External components (XEP-0114): slixmpp's ComponentXMPP exchanging messages and iqs with
client users, and raw component streams for what corvid refuses (wrong secret, spoofed 'from',
unknown domains, deadlines, limits), replaces (a second connection) and bounces (while away)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
import slixmpp

import slix
from xmpp_raw import (NS_CLIENT, NS_COMPONENT, NS_STANZAS, RawClient, RawComponent, q,
                      stanza_error_condition, to_str)

DOMAIN = "gw.localhost"
SECRET = "component-secret-7f3a9c"
COMPONENTS = {"components": [{"domain": DOMAIN, "secret": SECRET},
                             {"domain": "other.localhost", "secret": "other-secret-1234"}]}
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NOT_CONNECTED = f"the service {DOMAIN} is not connected to this server"

pytestmark = pytest.mark.corvid(config=COMPONENTS)


class Component(slixmpp.ComponentXMPP):
    """slixmpp's component, with bounded waits."""

    def __init__(self, port: int, secret: str = SECRET, domain: str = DOMAIN) -> None:
        super().__init__(domain, secret, "127.0.0.1", port)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        loop = asyncio.get_running_loop()
        self.messages: asyncio.Queue = asyncio.Queue()
        self.stream_errors: list = []
        self.started = loop.create_future()
        self.gone = loop.create_future()
        self.add_event_handler("session_start", lambda _: self.started.done() or
                               self.started.set_result(True))
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("stream_error", self.stream_errors.append)
        self.add_event_handler("disconnected", self._on_disconnected)

    def _on_disconnected(self, reason) -> None:
        if not self.started.done():
            self.started.set_exception(AssertionError(f"component disconnected: {reason}"))
        if not self.gone.done():
            self.gone.set_result(reason)

    async def start(self, timeout: float = 10) -> "Component":
        self.connect()
        await asyncio.wait_for(self.started, timeout)
        return self

    async def close(self) -> None:
        if not self.gone.done():
            self.disconnect(wait=1.0)
            try:
                await asyncio.wait_for(asyncio.shield(self.gone), 5)
            except asyncio.TimeoutError:
                self.abort()


def raw_user(server, user: str, password: str) -> RawClient:
    c = RawClient(server.port)
    c.login(user, password, presence=True)
    return c


def error_text(el) -> str:
    return el.find(q(NS_CLIENT, "error")).findtext(q(NS_STANZAS, "text")) or ""


def test_component_exchanges_messages_and_iqs_with_users(server, users):
    async def scenario():
        gw = await Component(server.component_port).start()
        alice = await slix.login(server.port, "alice@localhost", users["alice"])
        alice.register_plugin("xep_0030")
        alice.register_plugin("xep_0199")
        try:
            # A user's message reaches the component with the user's full JID in 'from'.
            alice.send_message(mto=f"bot@{DOMAIN}", mbody="hello gateway", mtype="chat")
            msg = await asyncio.wait_for(gw.messages.get(), 10)
            assert msg["body"] == "hello gateway"
            assert msg["from"] == alice.boundjid
            assert msg["to"] == f"bot@{DOMAIN}"
            # ... and the component's answers reach the user: to the full and the bare JID.
            gw.send_message(mto=alice.boundjid.full, mfrom=f"bot@{DOMAIN}/x", mbody="hi alice")
            reply = await alice.next_message(body="hi alice")
            assert reply["from"] == f"bot@{DOMAIN}/x"
            gw.send_message(mto="alice@localhost", mfrom=f"bot@{DOMAIN}", mbody="to the bare JID",
                            mtype="chat")
            await alice.next_message(body="to the bare JID")
            # An iq from a user is answered by the component (slixmpp's disco#info).
            info = await alice["xep_0030"].get_info(jid=DOMAIN, timeout=10)
            assert info["type"] == "result"
            assert info["from"] == DOMAIN
            # An iq from the component to a user's full JID is answered by the user.
            pong = await gw["xep_0199"].send_ping(alice.boundjid.full, ifrom=DOMAIN, timeout=10)
            assert pong["type"] == "result"
            assert pong["from"] == alice.boundjid
            # The host lists its components (connected or not) in disco#items, beside its chat
            # service.
            items = await alice["xep_0030"].get_items(jid="localhost", timeout=10)
            listed = {item[0] for item in items["disco_items"]["items"]}
            assert listed == {DOMAIN, "other.localhost", "conference.localhost"}
        finally:
            await alice.close()
            await gw.close()

    slix.run(scenario())
    log = server.log()
    assert f"component {DOMAIN} connected from 127.0.0.1" in log
    assert SECRET not in log


def test_wrong_secret_is_refused_and_never_logged(server):
    async def scenario():
        gw = Component(server.component_port, secret="not-the-secret-42")
        gw.connect()
        reason = await asyncio.wait_for(gw.gone, 10)
        assert not gw.started.done() or gw.started.exception() is not None
        assert [e["condition"] for e in gw.stream_errors] == ["not-authorized"], reason
    slix.run(scenario())

    raw = RawComponent(server.component_port)
    raw.open_component(DOMAIN)
    raw.handshake(SECRET, digest="0" * 40)
    assert raw.stream_error() == ("not-authorized", "wrong handshake")
    # The handshake of another stream (a replay) is as wrong.
    first = RawComponent(server.component_port)
    first.connect_as(DOMAIN, SECRET)
    replayed = first.received.decode()
    first.close()
    raw = RawComponent(server.component_port)
    raw.open_component(DOMAIN)
    old_id = replayed.split("id='", 1)[1].split("'", 1)[0]
    raw.handshake(SECRET, digest=hashlib.sha1((old_id + SECRET).encode()).hexdigest())
    assert raw.stream_error()[0] == "not-authorized"

    log = server.log()
    assert log.count(f"wrong handshake for {DOMAIN}") == 3
    assert SECRET not in log and "not-the-secret-42" not in log


def test_stanzas_must_come_from_the_components_domain(server, users):
    bob = raw_user(server, "bob", users["bob"])
    spoofs = ["alice@localhost", "localhost", f"x.{DOMAIN}", "other.localhost",
              f"{DOMAIN}.evil", "not a jid@@"]
    for spoof in spoofs:
        gw = RawComponent(server.component_port)
        gw.connect_as(DOMAIN, SECRET)
        gw.send(f"<message from='{spoof}' to='bob@localhost'><body>spoofed</body></message>")
        condition, text = gw.stream_error()
        assert condition == "invalid-from", (spoof, text)
    # Missing addresses are improper addressing.
    for stanza in ("<message to='bob@localhost'><body>no from</body></message>",
                   f"<message from='{DOMAIN}'><body>no to</body></message>"):
        gw = RawComponent(server.component_port)
        gw.connect_as(DOMAIN, SECRET)
        gw.send(stanza)
        assert gw.stream_error()[0] == "improper-addressing"
    # Nothing spoofed was delivered: the proper one that follows is the first bob sees.
    gw = RawComponent(server.component_port)
    gw.connect_as(DOMAIN, SECRET)
    gw.send(f"<message from='robot@{DOMAIN}/r' to='bob@localhost' type='chat'>"
            "<body>proper</body></message>")
    msg = bob.wait_message()
    assert msg.findtext(q(NS_CLIENT, "body")) == "proper", to_str(msg)
    assert msg.get("from") == f"robot@{DOMAIN}/r"
    gw.close()
    bob.close()


def test_disconnected_component_is_answered_with_service_unavailable(server, users):
    alice = raw_user(server, "alice", users["alice"])
    # Before it ever connected ...
    alice.message(f"bot@{DOMAIN}", "anyone there?")
    err = alice.wait_for(lambda e: e.get("type") == "error", what="the bounce")
    assert err.get("from") == f"bot@{DOMAIN}"
    assert stanza_error_condition(err) == "service-unavailable"
    assert error_text(err) == NOT_CONNECTED

    gw = RawComponent(server.component_port)
    gw.connect_as(DOMAIN, SECRET)
    alice.message(f"bot@{DOMAIN}", "now?")
    got = gw.wait_stanza("message")
    assert got.findtext(q(NS_COMPONENT, "body")) == "now?"
    gw.send("</stream:stream>")
    gw.wait_closed()
    server.wait_log(rf"component {DOMAIN} disconnected")

    # ... and after it left: messages, iqs and presence are answered; results are not.
    alice.message(f"bot@{DOMAIN}", "gone?")
    err = alice.wait_for(lambda e: e.get("type") == "error", what="the bounce")
    assert stanza_error_condition(err) == "service-unavailable"
    assert error_text(err) == NOT_CONNECTED
    reply = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=DOMAIN)
    assert reply.get("type") == "error"
    assert stanza_error_condition(reply) == "service-unavailable"
    assert error_text(reply) == NOT_CONNECTED
    alice.send(f"<iq type='result' id='late' to='{DOMAIN}'/>")
    assert alice.ping().get("type") == "result"
    assert not [e for e in alice.drain() if e.get("type") == "error"]
    alice.close()


def test_a_second_connection_replaces_the_first(server, users):
    alice = raw_user(server, "alice", users["alice"])
    first = RawComponent(server.component_port)
    first.connect_as(DOMAIN, SECRET)
    second = RawComponent(server.component_port)
    second.connect_as(DOMAIN, SECRET)
    assert first.stream_error() == ("conflict", "replaced by a new connection for this component")
    alice.message(f"bot@{DOMAIN}", "which one?")
    got = second.wait_stanza("message")
    assert got.findtext(q(NS_COMPONENT, "body")) == "which one?"
    # Another component's domain is another slot.
    other = RawComponent(server.component_port)
    other.connect_as("other.localhost", "other-secret-1234")
    second.send(f"<message from='{DOMAIN}' to='bot@other.localhost'><body>between</body>"
                "</message>")
    assert other.wait_stanza("message").get("from") == DOMAIN
    assert second.drain() == []
    for c in (second, other, alice):
        c.close()


def test_stream_header_errors(server):
    cases = [
        ({"domain": "nope.localhost"}, "host-unknown"),
        ({"domain": "localhost"}, "host-unknown"),  # a host is not a component
        ({"domain": DOMAIN, "ns": NS_CLIENT}, "invalid-namespace"),
    ]
    for kwargs, condition in cases:
        gw = RawComponent(server.component_port)
        header = gw.open_component(**kwargs)
        assert header.get("id"), header
        assert gw.stream_error()[0] == condition, kwargs
    # Anything before the handshake, or a second handshake.
    gw = RawComponent(server.component_port)
    gw.open_component(DOMAIN)
    gw.send(f"<message from='{DOMAIN}' to='alice@localhost'><body>early</body></message>")
    assert gw.stream_error() == ("not-authorized", "the handshake comes first")
    gw = RawComponent(server.component_port)
    gw.connect_as(DOMAIN, SECRET)
    gw.handshake(SECRET)
    assert gw.stream_error()[0] == "unsupported-stanza-type"
    # The answer names the component's domain and, like the component's, has no version.
    gw = RawComponent(server.component_port)
    header = gw.open_component(DOMAIN.upper())
    assert header.get("from") == DOMAIN and "version" not in header, header
    gw.handshake(SECRET)
    gw.expect(q(NS_COMPONENT, "handshake"))
    gw.close()


@pytest.mark.corvid(config={**COMPONENTS, "limits": {"stream_header_timeout_s": 1,
                                                     "auth_timeout_s": 2}})
def test_header_and_handshake_deadlines(server):
    silent = RawComponent(server.component_port)
    started = time.monotonic()
    assert silent.stream_error(timeout=5) == ("connection-timeout", "no stream header in time")
    assert time.monotonic() - started < 3
    no_handshake = RawComponent(server.component_port)
    started = time.monotonic()
    no_handshake.open_component(DOMAIN)
    assert no_handshake.stream_error(timeout=6) == ("connection-timeout",
                                                    "no successful handshake in time")
    assert 1.5 < time.monotonic() - started < 4
    # A connected component is never closed for being quiet.
    gw = RawComponent(server.component_port)
    gw.connect_as(DOMAIN, SECRET)
    time.sleep(3)
    gw.send(f"<iq type='get' id='p' from='{DOMAIN}' to='localhost'>"
            "<ping xmlns='urn:xmpp:ping'/></iq>")
    assert gw.wait_stanza("iq").get("type") == "result"
    gw.close()


@pytest.mark.corvid(config={**COMPONENTS, "limits": {"max_stanza_bytes_preauth": 2048,
                                                     "s2s_max_stanza_bytes": 20000}})
def test_stanza_limits(server, users):
    bob = raw_user(server, "bob", users["bob"])
    # Before the handshake, the pre-authentication limit.
    gw = RawComponent(server.component_port)
    gw.open_component(DOMAIN)
    gw.send("<handshake>" + "a" * 4000 + "</handshake>")
    assert gw.stream_error()[0] == "policy-violation"
    # Afterwards the server-stream limit: 15,000 bytes pass, 25,000 do not.
    gw = RawComponent(server.component_port)
    gw.connect_as(DOMAIN, SECRET)
    big = "b" * 15000
    gw.send(f"<message from='{DOMAIN}' to='bob@localhost'><body>{big}</body></message>")
    assert bob.wait_message(big).get("from") == DOMAIN
    gw.send(f"<message from='{DOMAIN}' to='bob@localhost'><body>{'c' * 25000}</body></message>")
    assert gw.stream_error()[0] == "policy-violation"
    bob.close()


def test_shutdown_closes_component_streams(server):
    gw = RawComponent(server.component_port)
    gw.connect_as(DOMAIN, SECRET)
    server.terminate()
    assert gw.stream_error() == ("system-shutdown", "server shutdown")
    assert server.stop() == 0


@pytest.mark.time_limit(120)
@pytest.mark.corvid(config={**COMPONENTS, "limits": {"output_buffer_bytes": 65536,
                                                     "s2s_max_stanza_bytes": 10000},
                            "server": {"log_level": "info"}})
def test_a_component_that_stops_reading_is_dropped(server, users):
    """The output buffer bounds what waits for a component too: one that stops reading is
    disconnected, and its domain answers service-unavailable from then on."""
    gw = RawComponent(server.component_port, rcvbuf=4096)
    gw.connect_as(DOMAIN, SECRET)  # and never reads again
    alice = raw_user(server, "alice", users["alice"])
    stanza = (f"<message to='bot@{DOMAIN}' type='headline'><body>{'F' * 8000}</body></message>"
              ).encode()
    per_round = (2 << 20) // len(stanza)
    for rnd in range(16):
        alice.send(stanza * per_round)
        # Unanswered while the component is connected (it never reads), answered with
        # service-unavailable once it is gone; the ping after it says the round is processed.
        alice.send(f"<iq to='{DOMAIN}' type='get' id='probe{rnd}'>"
                   "<ping xmlns='urn:xmpp:ping'/></iq>")
        assert alice.ping(timeout=30).get("type") == "result"
        bounced = [e for e in alice.skipped + alice.drain(0.2)
                   if (e.get("id") or "").startswith("probe") and e.get("type") == "error"]
        if bounced:
            assert stanza_error_condition(bounced[0]) == "service-unavailable"
            break
    else:
        raise AssertionError("the component was never disconnected")
    assert rnd <= 4, f"dropped only after {rnd + 1} rounds of 2 MiB"
    server.wait_log(rf"component {DOMAIN} disconnected")
    gw.close()
    alice.close()
