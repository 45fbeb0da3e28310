"""Calls: Jingle (XEP-0166/0167) session iqs between full JIDs, and Jingle Message Initiation
(XEP-0353) messages to a bare JID reaching every device of the callee, with slixmpp clients."""

from __future__ import annotations

import asyncio

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import slix

NS_JINGLE = "urn:xmpp:jingle:1"
NS_RTP = "urn:xmpp:jingle:apps:rtp:1"
NS_ICE = "urn:xmpp:jingle:transports:ice-udp:1"
NS_JMI = "urn:xmpp:jingle-message:0"
NS_HINTS = "urn:xmpp:hints"
ET = slixmpp.xmlstream.ET


def watch_jingle(client) -> asyncio.Queue:
    """Jingle iqs the client receives; each is acknowledged with an empty result (XEP-0166 §6)."""
    queue: asyncio.Queue = asyncio.Queue()

    def on_jingle(iq):
        queue.put_nowait(iq)
        iq.reply().send()

    client.register_handler(Callback("jingle", MatchXPath(f"{{jabber:client}}iq/{{{NS_JINGLE}}}jingle"),
                                     on_jingle))
    return queue


def jingle_iq(sender, to, action: str, sid: str):
    iq = sender.make_iq_set(ito=to)
    jingle = ET.SubElement(iq.xml, f"{{{NS_JINGLE}}}jingle", action=action, sid=sid,
                           initiator=str(sender.boundjid))
    content = ET.SubElement(jingle, f"{{{NS_JINGLE}}}content", creator="initiator", name="voice")
    description = ET.SubElement(content, f"{{{NS_RTP}}}description", media="audio")
    ET.SubElement(description, f"{{{NS_RTP}}}payload-type", id="111", name="opus",
                  clockrate="48000", channels="2")
    transport = ET.SubElement(content, f"{{{NS_ICE}}}transport", ufrag="8hhy", pwd="asd88fgpdd777uzjYhagZg")
    ET.SubElement(transport, f"{{{NS_ICE}}}candidate", component="1", foundation="1",
                  generation="0", id="el0747fg11", ip="10.0.1.1", network="1", port="8998",
                  priority="2130706431", protocol="udp", type="host")
    return iq


def jmi_message(sender, to: str, element: str, call_id: str, mtype: str = "chat"):
    msg = sender.make_message(mto=to, mtype=mtype)
    el = ET.SubElement(msg.xml, f"{{{NS_JMI}}}{element}", id=call_id)
    if element == "propose":
        ET.SubElement(el, f"{{{NS_RTP}}}description", media="audio")
        ET.SubElement(msg.xml, f"{{{NS_HINTS}}}store")
    return msg


async def login_with_priority(port, jid, password, priority: int):
    c = await slix.login(port, jid, password, presence=False)
    reflected = asyncio.get_running_loop().create_future()

    def on_presence(p):
        if p["from"] == c.boundjid and not reflected.done():
            reflected.set_result(p)

    c.add_event_handler("presence", on_presence)
    c.send_presence(ppriority=priority)
    await asyncio.wait_for(reflected, 10)
    c.del_event_handler("presence", on_presence)
    return c


JMI_ELEMENTS = ("propose", "retract", "accept", "proceed", "reject")


def watch_jmi(client) -> None:
    """Collects the client's JMI messages in client.jmi (slixmpp's "message" event is only for
    messages with a body)."""
    client.jmi = asyncio.Queue()
    for name in JMI_ELEMENTS:
        client.register_handler(Callback(f"jmi {name}", MatchXPath(
            f"{{jabber:client}}message/{{{NS_JMI}}}{name}"), client.jmi.put_nowait))


async def jmi_messages(client, call_id: str, timeout: float = 5.0) -> list:
    """Messages with a JMI element for `call_id` that the client got within `timeout`."""
    out = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            msg = await asyncio.wait_for(client.jmi.get(), max(deadline - loop.time(), 0))
        except asyncio.TimeoutError:
            return out
        if any(child.tag.startswith(f"{{{NS_JMI}}}") and child.get("id") == call_id
               for child in msg.xml):
            out.append(msg)


def test_jingle_session_iqs_go_to_the_full_jid_only(server, users):
    async def scenario():
        alice = await slix.login(server.port, "alice@localhost/laptop", users["alice"])
        bob_desk = await slix.login(server.port, "bob@localhost/desk", users["bob"])
        bob_phone = await slix.login(server.port, "bob@localhost/phone", users["bob"])
        queues = {c: watch_jingle(c) for c in (alice, bob_desk, bob_phone)}
        try:
            offer = jingle_iq(alice, bob_desk.boundjid.full, "session-initiate", "sid-1")
            result = await offer.send(timeout=10)
            assert result["type"] == "result" and result["from"] == bob_desk.boundjid
            got = await asyncio.wait_for(queues[bob_desk].get(), 5)
            assert got["from"] == alice.boundjid
            # The offer arrives whole: content, codec and ICE candidate.
            jingle = got.xml.find(f"{{{NS_JINGLE}}}jingle")
            assert jingle.get("action") == "session-initiate" and jingle.get("sid") == "sid-1"
            candidate = jingle.find(f".//{{{NS_ICE}}}candidate")
            assert candidate.get("ip") == "10.0.1.1" and candidate.get("port") == "8998"
            assert jingle.find(f".//{{{NS_RTP}}}payload-type").get("name") == "opus"
            # The answer and the end, back to the initiator's full JID.
            for action in ("session-accept", "transport-info", "session-terminate"):
                reply = jingle_iq(bob_desk, alice.boundjid.full, action, "sid-1")
                assert (await reply.send(timeout=10))["type"] == "result"
                got = await asyncio.wait_for(queues[alice].get(), 5)
                assert got.xml.find(f"{{{NS_JINGLE}}}jingle").get("action") == action
            # The callee's other device saw none of it.
            assert queues[bob_phone].empty()
            # A full JID that is not connected: service-unavailable (RFC 6121 §8.5.3.2.1).
            gone = jingle_iq(alice, "bob@localhost/tablet", "session-initiate", "sid-2")
            try:
                await gone.send(timeout=10)
                raise AssertionError("an iq to an absent resource was answered with a result")
            except slixmpp.exceptions.IqError as e:
                assert e.iq["error"]["condition"] == "service-unavailable"
        finally:
            for c in (alice, bob_desk, bob_phone):
                await c.close()

    slix.run(scenario())


def test_jmi_messages_to_a_bare_jid_reach_every_device(server, users):
    async def scenario():
        alice = await slix.login(server.port, "alice@localhost/laptop", users["alice"])
        # Different priorities, as Gajim (by status) and a phone set them; and one device that
        # takes no messages to the bare JID at all (negative priority, RFC 6121 §8.5.2.1).
        bob_desk = await login_with_priority(server.port, "bob@localhost/desk", users["bob"], 50)
        bob_phone = await login_with_priority(server.port, "bob@localhost/phone", users["bob"], 0)
        bob_bot = await login_with_priority(server.port, "bob@localhost/bot", users["bob"], -1)
        bobs = (bob_desk, bob_phone, bob_bot)
        for c in (alice, *bobs):
            watch_jmi(c)
        try:
            # XEP-0353 §3.1: the propose goes to the callee's bare JID and every device rings.
            jmi_message(alice, "bob@localhost", "propose", "call-1").send()
            rang = {c: await jmi_messages(c, "call-1", timeout=2) for c in bobs}
            assert len(rang[bob_desk]) == 1 and len(rang[bob_phone]) == 1, rang
            assert rang[bob_bot] == []
            propose = rang[bob_phone][0]
            assert propose["from"] == alice.boundjid and propose["type"] == "chat"
            assert propose.xml.find(f"{{{NS_JMI}}}propose/{{{NS_RTP}}}description") is not None
            # The phone picks up: <accept/> to its own bare JID stops the desk ringing (§3.2),
            # <proceed/> to the caller's full JID.
            jmi_message(bob_phone, "bob@localhost", "accept", "call-1").send()
            jmi_message(bob_phone, alice.boundjid.full, "proceed", "call-1").send()
            assert len(await jmi_messages(bob_desk, "call-1", timeout=2)) == 1
            assert len(await jmi_messages(alice, "call-1", timeout=2)) == 1
            # A retracted call reaches every device too (§3.3).
            jmi_message(alice, "bob@localhost", "propose", "call-2").send()
            jmi_message(alice, "bob@localhost", "retract", "call-2").send()
            for c in (bob_desk, bob_phone):
                got = await jmi_messages(c, "call-2", timeout=2)
                assert [child.tag.split("}")[1] for m in got for child in m.xml
                        if child.tag.startswith(f"{{{NS_JMI}}}")] == ["propose", "retract"]
            # Ordinary chat messages to the bare JID still go to the highest priority only.
            alice.send_message(mto="bob@localhost", mbody="plain chat", mtype="chat")
            await bob_desk.next_message(body="plain chat")
            await asyncio.sleep(0.5)
            assert bob_phone.messages.empty()
        finally:
            for c in (alice, *bobs):
                await c.close()

    slix.run(scenario())
