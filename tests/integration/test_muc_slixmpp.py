"""Multi-user chat (XEP-0045) as slixmpp's xep_0045 plugin uses it: create and configure a room,
join with history, talk, set the subject, manage members and roles, destroy."""

import asyncio

import pytest
from slixmpp.exceptions import IqError, PresenceError

from muc_support import room_jid
from slix import login, run


async def muc_client(server, user, password):
    c = await login(server.port, f"{user}@localhost/slix", password)
    for plugin in ("xep_0030", "xep_0045", "xep_0004", "xep_0203"):
        c.register_plugin(plugin)
    return c


def codes(presence):
    return {int(s) for s in presence["muc"]["status_codes"]}


async def next_groupchat(queue, body, timeout=10):
    while True:
        msg = await asyncio.wait_for(queue.get(), timeout)
        if msg["body"] == body:
            return msg


def test_slixmpp_room_lifecycle(server, users):
    room = room_jid("slixroom")

    async def scenario():
        alice = await muc_client(server, "alice", users["alice"])
        bob = await muc_client(server, "bob", users["bob"])
        bob_chat: asyncio.Queue = asyncio.Queue()
        bob.add_event_handler("groupchat_message", bob_chat.put_nowait)
        alice_muc, bob_muc = alice.plugin["xep_0045"], bob.plugin["xep_0045"]
        try:
            # A reserved room: created locked (201), configured through the owner form.
            pres, _subject, _occupants, _history = await alice_muc.join_muc_wait(
                room, "Alice", timeout=10)
            assert {110, 201} <= codes(pres)
            form = await alice_muc.get_room_config(room, timeout=10)
            fields = form.get_fields()
            assert "muc#roomconfig_persistentroom" in fields
            form["type"] = "submit"
            form.set_values({"FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig",
                             "muc#roomconfig_roomname": "Slix room",
                             "muc#roomconfig_persistentroom": True,
                             "muc#roomconfig_changesubject": True})
            await alice_muc.set_room_config(room, form, timeout=10)
            info = await alice.plugin["xep_0030"].get_info(jid=room, timeout=10)
            assert "muc_persistent" in info["disco_info"]["features"]
            assert [i[3] for i in info["disco_info"]["identities"]] == ["Slix room"]

            subject_set = asyncio.get_running_loop().create_future()
            alice.add_event_handler("groupchat_subject",
                                    lambda m: subject_set.done() or subject_set.set_result(m))
            alice.send_message(mto=room, mbody="before bob", mtype="groupchat")
            alice_muc.set_subject(room, "Slixmpp testing")
            await asyncio.wait_for(subject_set, 10)  # the room has both by then
            pres, subject, occupants, history = await bob_muc.join_muc_wait(
                room, "Bob", maxstanzas=5, timeout=10)
            assert pres["muc"]["role"] == "participant"
            assert subject["subject"] == "Slixmpp testing"
            assert [m["body"] for m in history] == ["before bob"]
            assert sorted(p["muc"]["nick"] for p in occupants) == ["Alice", "Bob"]
            assert bob_muc.get_roster(room) and "Alice" in bob_muc.get_roster(room)

            alice.send_message(mto=room, mbody="hello bob", mtype="groupchat")
            msg = await next_groupchat(bob_chat, "hello bob")
            assert msg["from"] == f"{room}/Alice"

            # Members and roles through the plugin's admin calls.
            await alice_muc.set_affiliation(room, "member", jid=bob.boundjid.bare, timeout=10)
            members = await alice_muc.get_affiliation_list(room, "member", timeout=10)
            assert [str(j) for j in members] == [bob.boundjid.bare]
            with pytest.raises(IqError) as refused:
                await bob_muc.set_role(room, "Alice", "none", timeout=10)
            assert refused.value.condition == "forbidden"  # bob is no moderator
            kicked = asyncio.get_running_loop().create_future()
            bob.add_event_handler(f"muc::{room}::presence",
                                  lambda p: p["type"] == "unavailable" and not kicked.done()
                                  and kicked.set_result(p))
            await alice_muc.set_role(room, "Bob", "none", reason="Testing", timeout=10)
            gone = await asyncio.wait_for(kicked, 10)
            assert {110, 307} <= codes(gone)

            # A ban keeps bob out.
            await alice_muc.set_affiliation(room, "outcast", jid=bob.boundjid.bare, timeout=10)
            with pytest.raises(PresenceError) as banned:
                await bob_muc.join_muc_wait(room, "Bob", timeout=10)
            assert banned.value.condition == "forbidden"

            await alice_muc.destroy(room, reason="Done", timeout=10)
            with pytest.raises(IqError) as missing:
                await alice.plugin["xep_0030"].get_info(jid=room, timeout=10)
            assert missing.value.condition == "item-not-found"
        finally:
            await alice.close()
            await bob.close()

    run(scenario())
