"""A real gateway: Debian's biboumi (XMPP-IRC, an XEP-0114 component) connected to corvid and to
Debian's ngircd, everything on 127.0.0.1. An XMPP user (slixmpp) joins an IRC channel through
biboumi with the MUC protocol (#channel%irc-server@biboumi-domain) and talks with a raw-socket
IRC client."""

from __future__ import annotations

import asyncio

import pytest
import slixmpp

import slix
from conftest import TEST_USERS
from gateways import Biboumi, IrcClient, Ngircd

DOMAIN = "biboumi.localhost"
SECRET = "biboumi-secret-93b2e1"
CHANNEL = "#corvid"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"

pytestmark = pytest.mark.time_limit(60)


@pytest.fixture
def gateway(server_factory, tmp_path):
    irc = Ngircd(tmp_path, CHANNEL).start()
    server = server_factory(config={"components": [{"domain": DOMAIN, "secret": SECRET}]},
                            with_users=True)
    bib = Biboumi(tmp_path, domain=DOMAIN, secret=SECRET,
                  component_port=server.component_port).start()
    try:
        server.wait_log(rf"component {DOMAIN} connected from 127\.0\.0\.1", 10)
        yield server, irc, bib
    finally:
        rc = bib.stop()
        irc.stop()
        assert rc == 0, f"biboumi exited with {rc}:\n{bib.log()[-3000:]}"


async def configure_irc_server(client, irc_port: int) -> None:
    """biboumi's per-user settings of the IRC server 127.0.0.1 (XEP-0050 ad-hoc command
    "configure"): the plain-text port ngircd listens on, no TLS ports."""
    jid = f"127.0.0.1@{DOMAIN}"
    first = await client["xep_0050"].send_command(jid, "configure", timeout=10)
    command = first["command"]
    assert command["status"] == "executing", first
    fields = {f["var"] for f in command["form"]["fields"]}
    assert "ports" in fields and "tls_ports" in fields, first
    submit = client["xep_0004"].make_form(ftype="submit")
    submit.add_field(var="ports", ftype="text-multi", value=[str(irc_port)])
    submit.add_field(var="tls_ports", ftype="text-multi", value=[])
    done = await client["xep_0050"].send_command(jid, "configure", action="complete",
                                                 payload=submit,
                                                 sessionid=command["sessionid"], timeout=10)
    assert done["command"]["status"] == "completed", done


async def join(client, room: str, nick: str) -> None:
    """MUC join (XEP-0045 §7.2): presence to room/nick; done at our own presence (status 110)."""
    joined = asyncio.get_running_loop().create_future()

    def on_presence(p):
        if p["from"].bare == room and p["from"].resource == nick and not joined.done():
            codes = {s.get("code") for s in p.xml.iter(f"{{{NS_MUC_USER}}}status")}
            if p["type"] == "error":
                joined.set_exception(AssertionError(f"join refused: {p}"))
            elif "110" in codes:
                joined.set_result(p)

    client.add_event_handler("presence", on_presence)
    try:
        p = client.make_presence(pto=f"{room}/{nick}")
        p.append(slixmpp.xmlstream.ET.Element(f"{{{NS_MUC}}}x"))
        p.send()
        await asyncio.wait_for(joined, 20)
    finally:
        client.del_event_handler("presence", on_presence)


def test_xmpp_user_talks_with_irc_through_biboumi(gateway):
    server, irc, bib = gateway
    room = f"{CHANNEL}%127.0.0.1@{DOMAIN}"
    ircuser = IrcClient(irc.port, "ircuser")
    ircuser.join(CHANNEL)

    async def scenario():
        alice = await slix.login(server.port, "alice@localhost", TEST_USERS["alice"])
        alice.register_plugin("xep_0004")
        alice.register_plugin("xep_0050")
        alice.register_plugin("xep_0030")
        try:
            # The gateway answers for its domain through corvid.
            info = await alice["xep_0030"].get_info(jid=DOMAIN, timeout=10)
            assert info["type"] == "result"
            await configure_irc_server(alice, irc.port)
            await join(alice, room, "alice")
            # biboumi joined the channel on IRC as "alice".
            await asyncio.to_thread(ircuser.wait, lambda l: l.startswith(":alice!") and
                                    " JOIN " in l and CHANNEL in l, "alice joining")

            # IRC -> XMPP: a groupchat message from the occupant ircuser.
            ircuser.send(f"PRIVMSG {CHANNEL} :hello from irc")
            msg = await alice.next_message(body="hello from irc", timeout=15)
            assert msg["type"] == "groupchat"
            assert msg["from"] == f"{room}/ircuser"

            # XMPP -> IRC.
            alice.send_message(mto=room, mbody="hello from xmpp", mtype="groupchat")
            line = await asyncio.to_thread(ircuser.wait, lambda l: "PRIVMSG" in l and
                                           "hello from xmpp" in l, "alice's message")
            assert line.startswith(":alice!") and f"PRIVMSG {CHANNEL} :hello from xmpp" in line
            # ... and it comes back to the sender as the room's echo (XEP-0045 §7.4).
            echo = await alice.next_message(body="hello from xmpp", timeout=15)
            assert echo["from"] == f"{room}/alice"

            # A private message from IRC reaches the user as a chat from nick%server.
            ircuser.send("PRIVMSG alice :psst")
            private = await alice.next_message(body="psst", timeout=15)
            assert private["from"].bare == f"ircuser%127.0.0.1@{DOMAIN}"

            # Leaving the room is a part on IRC.
            alice.send_presence(pto=f"{room}/alice", ptype="unavailable")
            await asyncio.to_thread(ircuser.wait, lambda l: l.startswith(":alice!") and
                                    (" PART " in l or " QUIT " in l), "alice leaving")
        finally:
            await alice.close()

    try:
        slix.run(scenario(), timeout=50)
    finally:
        ircuser.close()
    assert SECRET not in server.log()


def test_users_are_told_when_the_gateway_is_down(gateway):
    server, irc, bib = gateway
    room = f"{CHANNEL}%127.0.0.1@{DOMAIN}"
    assert bib.stop() == 0
    server.wait_log(rf"component {DOMAIN} disconnected", 10)

    async def scenario():
        alice = await slix.login(server.port, "alice@localhost", TEST_USERS["alice"])
        try:
            errors = asyncio.Queue()
            alice.add_event_handler("message_error", errors.put_nowait)
            alice.send_message(mto=room, mbody="anyone?", mtype="groupchat")
            err = await asyncio.wait_for(errors.get(), 10)
            assert err["error"]["condition"] == "service-unavailable"
            assert err["error"]["text"] == f"the service {DOMAIN} is not connected to this server"
        finally:
            await alice.close()

    slix.run(scenario())
