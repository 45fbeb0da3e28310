"""Multi-user chat (XEP-0045 §8-§10) with raw clients: roles and affiliations, their lists,
and who may change what."""

import pytest

from muc_support import (NS_MUC_ADMIN, NS_MUC_USER, admin_list, admin_set, create_room, is_message,
                         item, join, join_error, list_items, next_groupchat, next_presence,
                         next_unavailable, room_jid, say, status_codes)
from test_features_support import online
from xmpp_raw import NS_CLIENT, q, stanza_error_condition, to_str


def clients(server, users, *names):
    return [online(server, n, users[n], resource="raw") for n in names]


def bare(c):
    return c.jid.split("/", 1)[0]


def reason_and_actor(p):
    i = item(p)
    actor = i.find(q(NS_MUC_USER, "actor"))
    return i.findtext(q(NS_MUC_USER, "reason")), None if actor is None else actor.get("nick")


def test_kick(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("kicks")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    join(carol, room, "carol")
    # A participant may not kick (§8.2).
    r = admin_set(bob, room, "<item nick='carol' role='none'/>")
    assert stanza_error_condition(r) == "forbidden", to_str(r)
    # Nor may anyone kick an owner; and an unknown nickname is not found.
    r = admin_set(alice, room, "<item nick='alice' role='none'/>")
    assert stanza_error_condition(r) == "not-allowed", to_str(r)
    r = admin_set(alice, room, "<item nick='nobody' role='none'/>")
    assert stanza_error_condition(r) == "item-not-found", to_str(r)
    r = admin_set(alice, room, "<item nick='bob' role='none'><reason>Spam</reason></item>")
    assert r.get("type") == "result", to_str(r)
    mine = next_unavailable(bob, f"{room}/bob")
    assert status_codes(mine) == {110, 307}, to_str(mine)
    assert reason_and_actor(mine) == ("Spam", "alice")
    seen = next_unavailable(carol, f"{room}/bob")
    assert status_codes(seen) == {307} and item(seen).get("role") == "none", to_str(seen)
    # Gone: bob's messages are refused, and he may come back (a kick is not a ban).
    say(bob, room, "still here?", id_="k1")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "k1", what="error")
    assert stanza_error_condition(err) == "not-acceptable", to_str(err)
    join(bob, room, "bob")


def test_ban_and_the_outcast_list(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("bans")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    join(carol, room, "carol")
    r = admin_set(carol, room, f"<item affiliation='outcast' jid='{bare(bob)}'/>")
    assert stanza_error_condition(r) == "forbidden", to_str(r)
    r = admin_set(alice, room, f"<item affiliation='outcast' jid='{bob.jid}'>"
                               "<reason>Trolling</reason></item>")
    assert r.get("type") == "result", to_str(r)
    mine = next_unavailable(bob, f"{room}/bob")
    assert status_codes(mine) == {110, 301}, to_str(mine)
    assert item(mine).get("affiliation") == "outcast"
    assert reason_and_actor(mine) == ("Trolling", "alice")
    assert status_codes(next_unavailable(carol, f"{room}/bob")) == {301}
    # Banned by the bare JID: no resource of bob's enters (§9.1).
    assert join_error(bob, room, "bob2")[0] == "forbidden"
    outcasts = list_items(admin_list(alice, room, "affiliation='outcast'"))
    assert [(i.get("jid"), i.findtext(q(NS_MUC_ADMIN, "reason"))) for i in outcasts] == \
        [(bare(bob), "Trolling")]
    # A participant may not see it; lifting the ban lets bob in.
    r = admin_list(carol, room, "affiliation='outcast'")
    assert stanza_error_condition(r) == "forbidden", to_str(r)
    assert admin_set(alice, room, f"<item affiliation='none' jid='{bare(bob)}'/>") \
        .get("type") == "result"
    assert list_items(admin_list(alice, room, "affiliation='outcast'")) == []
    join(bob, room, "bob")


def test_voice_in_a_moderated_room(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("voices")
    create_room(alice, room, "alice", {"muc#roomconfig_moderatedroom": "1"})
    assert item(join(bob, room, "bob").self_presence).get("role") == "visitor"
    join(carol, room, "carol")
    # §8.3: a moderator grants voice; everyone sees the new role.
    r = admin_set(alice, room, "<item nick='bob' role='participant'/>")
    assert r.get("type") == "result", to_str(r)
    for c in (bob, carol):
        p = next_presence(c, f"{room}/bob")
        assert item(p).get("role") == "participant", to_str(p)
    say(bob, room, "thank you")
    next_groupchat(carol, "thank you")
    # §8.5: the voice list, for moderators only.
    voiced = list_items(admin_list(alice, room, "role='participant'"))
    assert [i.get("nick") for i in voiced] == ["bob"]
    assert voiced[0].get("jid") == bob.jid
    r = admin_list(bob, room, "role='participant'")
    assert stanza_error_condition(r) == "forbidden", to_str(r)
    # §8.4: revoked again, bob cannot speak.
    assert admin_set(alice, room, "<item nick='bob' role='visitor'/>").get("type") == "result"
    assert item(next_presence(bob, f"{room}/bob")).get("role") == "visitor"
    say(bob, room, "hello?", id_="v2")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "v2", what="error")
    assert stanza_error_condition(err) == "forbidden", to_str(err)


def test_members_admins_and_owners(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("members")
    create_room(alice, room, "alice", {"muc#roomconfig_membersonly": "1"})
    assert join_error(bob, room, "bob")[0] == "registration-required"
    # §9.3: a member, with a reserved nickname; listed, and now let in.
    r = admin_set(alice, room, f"<item affiliation='member' jid='{bare(bob)}' nick='bobby'/>")
    assert r.get("type") == "result", to_str(r)
    members = list_items(admin_list(alice, room, "affiliation='member'"))
    assert [(i.get("jid"), i.get("nick")) for i in members] == [(bare(bob), "bobby")]
    joined = join(bob, room, "bobby")
    assert item(joined.self_presence).get("affiliation") == "member"
    # The reserved nickname is bob's: carol, made a member too, may not take it.
    assert admin_set(alice, room, f"<item affiliation='member' jid='{bare(carol)}'/>") \
        .get("type") == "result"
    assert join_error(carol, room, "bobby")[0] == "conflict"
    r = admin_set(alice, room, f"<item affiliation='member' jid='{bare(carol)}' nick='bobby'/>")
    assert stanza_error_condition(r) == "conflict", to_str(r)
    join(carol, room, "carol")
    # A member may see the member list (muc#roomconfig_getmemberlist) but not change it.
    assert len(list_items(admin_list(bob, room, "affiliation='member'"))) == 2
    r = admin_set(bob, room, f"<item affiliation='none' jid='{bare(carol)}'/>")
    assert stanza_error_condition(r) == "forbidden", to_str(r)
    # §10.6: bob becomes an admin, and so a moderator; an admin may not make owners (§10.3).
    assert admin_set(alice, room, f"<item affiliation='admin' jid='{bare(bob)}'/>") \
        .get("type") == "result"
    p = next_presence(carol, f"{room}/bobby")
    assert (item(p).get("affiliation"), item(p).get("role")) == ("admin", "moderator"), to_str(p)
    r = admin_set(bob, room, f"<item affiliation='owner' jid='{bare(carol)}'/>")
    assert stanza_error_condition(r) == "forbidden", to_str(r)
    r = admin_set(bob, room, f"<item affiliation='none' jid='{bare(alice)}'/>")
    assert stanza_error_condition(r) == "not-allowed", to_str(r)
    # §9.4: an admin removes carol's membership: she leaves the members-only room with 321.
    assert admin_set(bob, room, f"<item affiliation='none' jid='{bare(carol)}'/>") \
        .get("type") == "result"
    gone = next_unavailable(carol, f"{room}/carol")
    assert {321, 110} <= status_codes(gone), to_str(gone)
    # The owner and admin lists; the only owner cannot step down (§10.6, conflict).
    owners = list_items(admin_list(alice, room, "affiliation='owner'"))
    assert [i.get("jid") for i in owners] == [bare(alice)]
    assert [i.get("jid") for i in list_items(admin_list(bob, room, "affiliation='admin'"))] == \
        [bare(bob)]
    r = admin_set(alice, room, f"<item affiliation='admin' jid='{bare(alice)}'/>")
    assert stanza_error_condition(r) == "conflict", to_str(r)
    # With a second owner she can.
    r = admin_set(alice, room, f"<item affiliation='owner' jid='{bare(bob)}'/>"
                               f"<item affiliation='member' jid='{bare(alice)}'/>")
    assert r.get("type") == "result", to_str(r)
    assert [i.get("jid") for i in list_items(admin_list(bob, room, "affiliation='owner'"))] == \
        [bare(bob)]


def test_bad_admin_requests(server, users):
    (alice,) = clients(server, users, "alice")
    room = room_jid("badadmin")
    create_room(alice, room, "alice")
    for items, condition in (("", "bad-request"),
                             ("<item affiliation='king' jid='x@localhost'/>", "bad-request"),
                             ("<item affiliation='member' jid='@@'/>", "jid-malformed"),
                             ("<item affiliation='member'/>", "bad-request"),
                             ("<item role='visitor'/>", "bad-request"),
                             ("<item nick='alice'/>", "bad-request")):
        r = admin_set(alice, room, items)
        assert stanza_error_condition(r) == condition, (items, to_str(r))
    r = admin_list(alice, room, "affiliation='none'")
    assert stanza_error_condition(r) == "bad-request", to_str(r)


@pytest.mark.time_limit(120)
def test_affiliations_survive_a_restart(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("lasting")
    create_room(alice, room, "alice", {"muc#roomconfig_persistentroom": "1",
                                       "muc#roomconfig_membersonly": "1"})
    r = admin_set(alice, room, f"<item affiliation='member' jid='{bare(bob)}' nick='bobby'/>"
                               f"<item affiliation='outcast' jid='{bare(carol)}'>"
                               "<reason>No</reason></item>")
    assert r.get("type") == "result", to_str(r)
    for c in (alice, bob, carol):
        c.close()
    server.restart()
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    assert join_error(carol, room, "carol")[0] == "forbidden"
    assert item(join(bob, room, "bobby").self_presence).get("affiliation") == "member"
    join(alice, room, "alice")
    members = list_items(admin_list(alice, room, "affiliation='member'"))
    assert [(i.get("jid"), i.get("nick")) for i in members] == [(bare(bob), "bobby")]
    outcasts = list_items(admin_list(alice, room, "affiliation='outcast'"))
    assert [(i.get("jid"), i.findtext(q(NS_MUC_ADMIN, "reason"))) for i in outcasts] == \
        [(bare(carol), "No")]
