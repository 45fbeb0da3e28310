"""Multi-user chat (XEP-0045) with raw clients: rooms, occupants, status codes and errors."""

import time

import pytest

from muc_support import (NS_DATA, NS_DELAY, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_MUC_OWNER,
                         NS_MUC_USER, SERVICE, create_room, form_values, instant_room, is_message,
                         is_presence, item, join, join_error, next_groupchat, next_presence, next_unavailable,
                         room_jid, say, send_join, status_codes, submit_config)
from test_features_support import online
from xmpp_raw import NS_CLIENT, q, stanza_error_condition, to_str, xml_escape


def clients(server, users, *names, resource="raw"):
    return [online(server, n, users[n], resource=resource) for n in names]


def leave(c, room, nick):
    c.send(f"<presence to='{room}/{nick}' type='unavailable'/>")
    p = next_presence(c, f"{room}/{nick}")
    assert p.get("type") == "unavailable" and 110 in status_codes(p), to_str(p)


def test_service_discovery(server, users):
    (alice,) = clients(server, users, "alice")
    r = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=SERVICE)
    assert r.get("type") == "result", to_str(r)
    query = r.find(q(NS_DISCO_INFO, "query"))
    ident = query.find(q(NS_DISCO_INFO, "identity"))
    assert (ident.get("category"), ident.get("type")) == ("conference", "text")
    feats = {f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))}
    assert {NS_MUC, "http://jabber.org/protocol/muc#stable_id"} <= feats
    # No rooms yet.
    r = alice.iq(f"<query xmlns='{NS_DISCO_ITEMS}'/>", to=SERVICE)
    assert len(r.find(q(NS_DISCO_ITEMS, "query"))) == 0, to_str(r)
    # A public room is listed (with its name), a hidden and a locked one are not.
    create_room(alice, room_jid("open"), "alice", {"muc#roomconfig_roomname": "Open room"})
    create_room(alice, room_jid("hidden"), "alice", {"muc#roomconfig_publicroom": "0"})
    join(alice, room_jid("locked"), "alice")
    r = alice.iq(f"<query xmlns='{NS_DISCO_ITEMS}'/>", to=SERVICE)
    items = [(i.get("jid"), i.get("name")) for i in r.find(q(NS_DISCO_ITEMS, "query"))]
    assert items == [(room_jid("open"), "Open room")], to_str(r)
    # The room's own disco#info: identity, muc_* features and the muc#roominfo form.
    r = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=room_jid("hidden"))
    query = r.find(q(NS_DISCO_INFO, "query"))
    ident = query.find(q(NS_DISCO_INFO, "identity"))
    assert (ident.get("category"), ident.get("type"), ident.get("name")) == \
        ("conference", "text", "hidden")
    feats = {f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))}
    assert {NS_MUC, "muc_hidden", "muc_temporary", "muc_open", "muc_unmoderated",
            "muc_unsecured", "muc_semianonymous"} <= feats, feats
    form = form_values(query.find(q(NS_DATA, "x")))
    assert form["FORM_TYPE"] == ["http://jabber.org/protocol/muc#roominfo"]
    assert form["muc#roominfo_occupants"] == ["1"]
    # A room that does not exist, or is locked, is not found.
    for name in ("nowhere", "locked"):
        r = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=room_jid(name))
        assert stanza_error_condition(r) == "item-not-found", to_str(r)


def test_create_join_talk_and_history(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("coven")
    created = join(alice, room, "alice")
    # XEP-0045 §10.1.1: the creator is owner and moderator; 110 and 201.
    assert created.codes == {110, 201}, to_str(created.self_presence)
    assert (item(created.self_presence).get("affiliation"),
            item(created.self_presence).get("role")) == ("owner", "moderator")
    assert created.occupants == [] and created.history == []
    # An empty subject (§7.2.15) from the room itself.
    assert created.subject.get("from") == room
    assert (created.subject.findtext(q(NS_CLIENT, "subject")) or "") == ""
    # Locked until configured: others cannot enter (§7.2.10).
    cond, _ = join_error(bob, room, "bob")
    assert cond == "item-not-found"
    instant_room(alice, room)

    joined = join(bob, room, "bob")
    assert joined.nicks() == ["alice"], [to_str(p) for p in joined.occupants]
    assert item(joined.occupants[0]).get("affiliation") == "owner"
    # Semi-anonymous by default: a participant does not see real JIDs ...
    assert item(joined.occupants[0]).get("jid") is None
    assert joined.codes == {110}
    assert (item(joined.self_presence).get("affiliation"),
            item(joined.self_presence).get("role")) == ("none", "participant")
    assert joined.self_presence.get("id") == "join"  # the join's id reflected
    # ... the moderator does.
    seen = next_presence(alice, f"{room}/bob")
    assert item(seen).get("jid") == bob.jid and status_codes(seen) == set()

    # Messages are reflected to everyone, sender included, from the occupant JID, same id.
    say(bob, room, "hello", id_="m1")
    for c in (alice, bob):
        m = next_groupchat(c, "hello")
        assert (m.get("from"), m.get("id"), m.get("to")) == (f"{room}/bob", "m1", c.jid)
    say(alice, room, "second")
    next_groupchat(bob, "second")

    # A newcomer gets the history, stamped by the room (§7.2.13), before the subject.
    joined = join(carol, room, "carol")
    assert [m.findtext(q(NS_CLIENT, "body")) for m in joined.history] == ["hello", "second"]
    for m in joined.history:
        delay = m.find(q(NS_DELAY, "delay"))
        assert delay is not None and delay.get("from") == room, to_str(m)
    assert sorted(joined.nicks()) == ["alice", "bob"]

    # Not an occupant: not-acceptable (§7.4); not groupchat: bad-request.
    dave = online(server, "alice", users["alice"], resource="other")
    dave.message(room, "intruder", type_="groupchat", id_="x1")
    err = dave.wait_for(lambda e: is_message(e) and e.get("id") == "x1", what="error")
    assert stanza_error_condition(err) == "not-acceptable", to_str(err)
    bob.message(room, "wrong type", type_="chat", id_="x2")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "x2", what="error")
    assert stanza_error_condition(err) == "bad-request", to_str(err)
    # A message to a room that does not exist (§17.2).
    bob.message(room_jid("nowhere"), "anyone?", type_="groupchat", id_="x3")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "x3", what="error")
    assert stanza_error_condition(err) == "item-not-found", to_str(err)


def test_history_requests(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    room = room_jid("history")
    create_room(alice, room, "alice")
    for i in range(5):
        say(alice, room, f"m{i}")
        next_groupchat(alice, f"m{i}")

    def bodies(inner):
        j = join(bob, room, "bob", inner)
        leave(bob, room, "bob")
        return [m.findtext(q(NS_CLIENT, "body")) for m in j.history]

    assert bodies("") == ["m0", "m1", "m2", "m3", "m4"]
    assert bodies("<history maxstanzas='2'/>") == ["m3", "m4"]
    assert bodies("<history maxchars='0'/>") == []
    assert bodies("<history since='2999-01-01T00:00:00Z'/>") == []
    assert bodies("<history since='2000-01-01T00:00:00.5+01:00'/>") == ["m0", "m1", "m2", "m3",
                                                                          "m4"]
    time.sleep(1.2)
    assert bodies("<history seconds='1'/>") == []
    # A history length of 2 keeps the newest two.
    assert submit_config(alice, room, {"muc#maxhistoryfetch": "2"}).get("type") == "result"
    assert bodies("") == ["m3", "m4"]
    cond, err = join_error(bob, room, "bob", "<history maxstanzas='lots'/>")
    assert cond == "bad-request" and "maxstanzas" in err.findtext(
        f"{q(NS_CLIENT, 'error')}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}text"), to_str(err)


def test_nickname_conflict_and_change(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("nicks")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    next_presence(alice, f"{room}/bob")
    # §7.2.8: someone else's nickname.
    cond, err = join_error(carol, room, "alice")
    assert cond == "conflict"
    assert err.find(q(NS_MUC, "x")) is not None
    # §7.6: bob becomes robert.
    bob.send(f"<presence to='{room}/robert'/>")
    for c, self_ in ((alice, False), (bob, True)):
        gone = next_presence(c, f"{room}/bob")
        assert gone.get("type") == "unavailable"
        assert status_codes(gone) == ({110, 303} if self_ else {303}), to_str(gone)
        assert item(gone).get("nick") == "robert"
        back = next_presence(c, f"{room}/robert")
        assert back.get("type") is None
        assert status_codes(back) == ({110} if self_ else set())
    # The new nickname is taken by another occupant.
    bob.send(f"<presence to='{room}/alice' id='n2'/>")
    err = bob.wait_for(lambda e: is_presence(e) and e.get("id") == "n2", what="error")
    assert stanza_error_condition(err) == "conflict", to_str(err)
    # Blank nicknames are refused (§17.1).
    cond, _ = join_error(carol, room, " ")
    assert cond == "jid-malformed"
    # A nickname that preparation changed comes back with 210 (RFC 7622 OpaqueString: NFC).
    joined = join(carol, room, "Ca\u0301rol")
    assert 210 in joined.codes
    assert joined.self_presence.get("from") == f"{room}/C\u00e1rol"
    # No nickname at all: jid-malformed (§7.2.1).
    carol.send(f"<presence to='{room}' id='n3'><x xmlns='{NS_MUC}'/></presence>")
    err = carol.wait_for(lambda e: is_presence(e) and e.get("id") == "n3", what="error")
    assert stanza_error_condition(err) == "jid-malformed", to_str(err)


def test_several_sessions_share_one_nickname(server, users):
    a1, a2, bob = (online(server, "alice", users["alice"], resource="one"),
                   online(server, "alice", users["alice"], resource="two"),
                   online(server, "bob", users["bob"], resource="raw"))
    room = room_jid("multi")
    create_room(a1, room, "alice")
    join(bob, room, "bob")
    joined = join(a2, room, "alice")
    assert joined.codes == {110}
    assert joined.nicks() == ["bob"]
    # Both sessions get the room's messages and may speak.
    say(bob, room, "to both")
    next_groupchat(a1, "to both")
    next_groupchat(a2, "to both")
    say(a2, room, "from two")
    m = next_groupchat(bob, "from two")
    assert m.get("from") == f"{room}/alice"
    # A private message goes to both sessions.
    bob.send(f"<message to='{room}/alice' type='chat'><body>psst</body></message>")
    for c in (a1, a2):
        pm = c.wait_message("psst")
        assert pm.get("from") == f"{room}/bob"
    # While two sessions share it, the nickname cannot change.
    a1.send(f"<presence to='{room}/alicia' id='nc'/>")
    err = a1.wait_for(lambda e: is_presence(e) and e.get("id") == "nc", what="error")
    assert stanza_error_condition(err) == "not-acceptable", to_str(err)
    # One session leaves: only it hears so; alice is still in the room for bob.
    leave(a2, room, "alice")
    say(bob, room, "still there?")
    next_groupchat(a1, "still there?")
    assert not [e for e in bob.drain() if is_presence(e) and e.get("type") == "unavailable"]
    leave(a1, room, "alice")
    next_unavailable(bob, f"{room}/alice")


def test_private_messages(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("pm")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    bob.send(f"<message to='{room}/alice' type='chat' id='p1'><body>hi</body></message>")
    pm = alice.wait_message("hi")
    assert (pm.get("from"), pm.get("id"), pm.get("type")) == (f"{room}/bob", "p1", "chat")
    assert pm.find(q(NS_MUC_USER, "x")) is not None  # §7.5, for carbons

    def error_of(c, to, type_, id_):
        c.send(f"<message to='{to}' type='{type_}' id='{id_}'><body>x</body></message>")
        return stanza_error_condition(
            c.wait_for(lambda e: is_message(e) and e.get("id") == id_, what="error"))

    assert error_of(bob, f"{room}/alice", "groupchat", "p2") == "bad-request"
    assert error_of(bob, f"{room}/nobody", "chat", "p3") == "item-not-found"
    assert error_of(carol, f"{room}/alice", "chat", "p4") == "not-acceptable"
    assert submit_config(alice, room, {"muc#roomconfig_allowpm": "none"}).get("type") == "result"
    assert error_of(bob, f"{room}/alice", "chat", "p5") == "forbidden"
    assert submit_config(alice, room, {"muc#roomconfig_allowpm": "moderators"}).get("type") == \
        "result"
    assert error_of(bob, f"{room}/alice", "chat", "p6") == "forbidden"
    alice.send(f"<message to='{room}/bob' type='chat'><body>from a moderator</body></message>")
    bob.wait_message("from a moderator")


def test_subject(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("subject")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    # A participant may not, by default (§8.1).
    bob.send(f"<message to='{room}' type='groupchat' id='s1'><subject>mine</subject></message>")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "s1", what="error")
    assert stanza_error_condition(err) == "forbidden", to_str(err)
    alice.send(f"<message to='{room}' type='groupchat' id='s2'><subject>Spells</subject>"
               "</message>")
    for c in (alice, bob):
        m = c.wait_for(lambda e: is_message(e) and e.get("id") == "s2", what="subject")
        assert m.get("from") == f"{room}/alice"
        assert m.findtext(q(NS_CLIENT, "subject")) == "Spells"
    joined = join(carol, room, "carol")
    assert joined.subject.findtext(q(NS_CLIENT, "subject")) == "Spells"
    assert joined.subject.get("from") == f"{room}/alice"
    assert joined.subject.find(q(NS_DELAY, "delay")).get("from") == room
    assert joined.history == []  # the subject is not history
    # A message with a subject and a body is a message, not a subject change.
    bob.send(f"<message to='{room}' type='groupchat'><subject>x</subject><body>b</body>"
             "</message>")
    next_groupchat(carol, "b")
    assert submit_config(alice, room, {"muc#roomconfig_changesubject": "1"}).get("type") == \
        "result"
    bob.send(f"<message to='{room}' type='groupchat' id='s3'><subject>Bob's</subject></message>")
    m = carol.wait_for(lambda e: is_message(e) and e.get("id") == "s3", what="subject")
    assert m.findtext(q(NS_CLIENT, "subject")) == "Bob's"


def test_transient_room_vanishes_when_empty(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    room = room_jid("fleeting")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    leave(bob, room, "bob")
    gone = next_unavailable(alice, f"{room}/bob")
    assert item(gone).get("role") == "none" and status_codes(gone) == set()
    leave(alice, room, "alice")
    r = bob.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=room)
    assert stanza_error_condition(r) == "item-not-found", to_str(r)
    # Joining again makes a new room.
    assert 201 in join(bob, room, "bob").codes


def test_disconnect_leaves_the_room(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    room = room_jid("exit")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    bob.close()
    gone = next_unavailable(alice, f"{room}/bob")
    assert gone.get("type") == "unavailable", to_str(gone)


def test_desynchronised_client_is_told(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    room = room_jid("desync")
    create_room(alice, room, "alice")
    # §7.2.1 (1.32): presence without <x/> from a non-occupant gets a kick with 110, 307, 333.
    for target in (room, room_jid("never-made")):
        bob.send(f"<presence to='{target}/bob' id='d1'/>")
        p = bob.wait_for(lambda e: is_presence(e) and e.get("id") == "d1", what="kick")
        assert p.get("type") == "unavailable", to_str(p)
        assert status_codes(p) == {110, 307, 333}
    assert not [e for e in alice.drain() if is_presence(e)]


def test_error_from_an_occupant_removes_it(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    room = room_jid("errors")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    # What bob's server would send back if bob's session were gone (§18.1).
    bob.send(f"<message to='{room}' type='error'><error type='cancel'>"
             "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
             "</message>")
    gone = next_unavailable(alice, f"{room}/bob")
    assert status_codes(gone) == {333}, to_str(gone)


def test_room_types_and_entry_rules(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("rules")
    create_room(alice, room, "alice", {"muc#roomconfig_passwordprotectedroom": "1",
                                        "muc#roomconfig_roomsecret": "cauldron",
                                        "muc#roomconfig_whois": "anyone",
                                        "muc#roomconfig_maxusers": "2"})
    assert join_error(bob, room, "bob")[0] == "not-authorized"
    assert join_error(bob, room, "bob", "<password>wrong</password>")[0] == "not-authorized"
    joined = join(bob, room, "bob", "<password>cauldron</password>")
    # Non-anonymous: 100, and everyone sees real JIDs (§7.2.4).
    assert joined.codes == {100, 110}
    assert item(joined.occupants[0]).get("jid") == alice.jid
    # Full (§7.2.9): service-unavailable, type wait.
    cond, err = join_error(carol, room, "carol", "<password>cauldron</password>")
    assert cond == "service-unavailable"
    assert err.find(q(NS_CLIENT, "error")).get("type") == "wait"
    # Members only (§7.2.7): bob, not a member, is removed with 322; carol cannot enter.
    r = submit_config(alice, room, {"muc#roomconfig_membersonly": "1",
                                    "muc#roomconfig_whois": "moderators"})
    assert r.get("type") == "result", to_str(r)
    notice = bob.wait_for(lambda e: is_message(e) and 104 in status_codes(e), what="104")
    assert status_codes(notice) == {104, 173}
    gone = next_unavailable(bob, f"{room}/bob")
    assert status_codes(gone) == {110, 322}, to_str(gone)
    assert join_error(carol, room, "carol", "<password>cauldron</password>")[0] == \
        "registration-required"


def test_owner_configuration(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    room = room_jid("config")
    join(alice, room, "alice")
    r = alice.iq(f"<query xmlns='{NS_MUC_OWNER}'/>", to=room)
    assert r.get("type") == "result", to_str(r)
    form = form_values(r.find(f"{q(NS_MUC_OWNER, 'query')}/{q(NS_DATA, 'x')}"))
    for var in ("muc#roomconfig_roomname", "muc#roomconfig_roomdesc",
                "muc#roomconfig_persistentroom", "muc#roomconfig_publicroom",
                "muc#roomconfig_membersonly", "muc#roomconfig_passwordprotectedroom",
                "muc#roomconfig_roomsecret", "muc#roomconfig_moderatedroom",
                "muc#roomconfig_whois", "muc#roomconfig_maxusers", "muc#maxhistoryfetch",
                "muc#roomconfig_changesubject", "muc#roomconfig_allowinvites",
                "muc#roomconfig_getmemberlist", "muc#roomconfig_allowpm"):
        assert var in form, var
    assert form["muc#roomconfig_persistentroom"] == ["0"]
    assert form["muc#roomconfig_getmemberlist"] == ["moderator", "participant"]
    # Values corvid cannot take: not-acceptable with a reason, nothing changes.
    for fields, word in (({"muc#roomconfig_whois": "everyone"}, "whois"),
                         ({"muc#roomconfig_publicroom": "maybe"}, "publicroom"),
                         ({"muc#roomconfig_passwordprotectedroom": "1"}, "password"),
                         ({"muc#maxhistoryfetch": "-1"}, "maxhistoryfetch")):
        r = submit_config(alice, room, fields)
        assert stanza_error_condition(r) == "not-acceptable", to_str(r)
        text = r.findtext(f"{q(NS_CLIENT, 'error')}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}text")
        assert word in text, text
    r = submit_config(alice, room, {"muc#roomconfig_roomname": "Configured",
                                    "muc#roomconfig_moderatedroom": "1"})
    assert r.get("type") == "result", to_str(r)
    # A non-owner may neither read nor change the configuration.
    join(bob, room, "bob")
    r = bob.iq(f"<query xmlns='{NS_MUC_OWNER}'/>", to=room)
    assert stanza_error_condition(r) == "forbidden", to_str(r)
    # Moderated: bob is a visitor and may not speak.
    say(bob, room, "may I?", id_="v1")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "v1", what="error")
    assert stanza_error_condition(err) == "forbidden", to_str(err)
    # Cancelling the configuration of a new room destroys it (§10.1.3).
    fresh = room_jid("cancelled")
    join(alice, fresh, "alice")
    r = alice.iq(f"<query xmlns='{NS_MUC_OWNER}'><x xmlns='{NS_DATA}' type='cancel'/></query>",
                 to=fresh, type_="set")
    assert r.get("type") == "result", to_str(r)
    next_unavailable(alice, f"{fresh}/alice")
    r = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=fresh)
    assert stanza_error_condition(r) == "item-not-found", to_str(r)


def test_destroy_with_alternate_venue(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    room = room_jid("doomed")
    create_room(alice, room, "alice")
    join(bob, room, "bob")
    destroy = (f"<query xmlns='{NS_MUC_OWNER}'><destroy jid='{room_jid('newplace')}'>"
               "<reason>Moving</reason></destroy></query>")
    r = bob.iq(destroy, to=room, type_="set")
    assert stanza_error_condition(r) == "forbidden", to_str(r)
    r = alice.iq(destroy, to=room, type_="set")
    assert r.get("type") == "result", to_str(r)
    for c, nick in ((alice, "alice"), (bob, "bob")):
        p = next_unavailable(c, f"{room}/{nick}")
        d = p.find(f"{q(NS_MUC_USER, 'x')}/{q(NS_MUC_USER, 'destroy')}")
        assert d.get("jid") == room_jid("newplace")
        assert d.findtext(q(NS_MUC_USER, "reason")) == "Moving"
    r = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=room)
    assert stanza_error_condition(r) == "item-not-found", to_str(r)


@pytest.mark.time_limit(120)
def test_persistent_rooms_survive_a_restart(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    kept, transient = room_jid("kept"), room_jid("transient")
    create_room(alice, kept, "alice", {"muc#roomconfig_persistentroom": "1",
                                        "muc#roomconfig_roomname": "Kept",
                                        "muc#roomconfig_roomdesc": "It stays",
                                        "muc#roomconfig_whois": "anyone"})
    alice.send(f"<message to='{kept}' type='groupchat' id='s'><subject>Forever</subject>"
               "</message>")
    alice.wait_for(lambda e: is_message(e) and e.get("id") == "s", what="subject")
    create_room(alice, transient, "alice")
    # Synchronise with the subject's write: the next write of the room comes after it.
    assert submit_config(alice, kept, {"muc#roomconfig_changesubject": "1"}).get("type") == \
        "result"
    alice.close()
    bob.close()
    server.restart()

    alice, bob = clients(server, users, "alice", "bob")
    joined = join(bob, kept, "bob")
    assert 201 not in joined.codes and 100 in joined.codes
    assert joined.subject.findtext(q(NS_CLIENT, "subject")) == "Forever"
    assert joined.subject.get("from") == f"{kept}/alice"
    r = bob.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=kept)
    query = r.find(q(NS_DISCO_INFO, "query"))
    assert query.find(q(NS_DISCO_INFO, "identity")).get("name") == "Kept"
    feats = {f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))}
    assert {"muc_persistent", "muc_nonanonymous"} <= feats
    # alice is still its owner; the transient room is gone.
    joined = join(alice, kept, "alice")
    assert item(joined.self_presence).get("affiliation") == "owner"
    form = alice.iq(f"<query xmlns='{NS_MUC_OWNER}'/>", to=kept)
    values = form_values(form.find(f"{q(NS_MUC_OWNER, 'query')}/{q(NS_DATA, 'x')}"))
    assert values["muc#roomconfig_roomdesc"] == ["It stays"]
    assert values["muc#roomconfig_changesubject"] == ["1"]
    assert 201 in join(bob, transient, "bob").codes
    # Listed by the service after the restart, although nobody had been in since.
    r = bob.iq(f"<query xmlns='{NS_DISCO_ITEMS}'/>", to=SERVICE)
    jids = [i.get("jid") for i in r.find(q(NS_DISCO_ITEMS, "query"))]
    assert kept in jids
    # Made transient again, it leaves the database and, once empty, the server.
    r = submit_config(alice, kept, {"muc#roomconfig_persistentroom": "0"})
    assert r.get("type") == "result", to_str(r)
    leave(bob, kept, "bob")
    leave(alice, kept, "alice")
    r = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=kept)
    assert stanza_error_condition(r) == "item-not-found", to_str(r)


@pytest.mark.corvid(config={"modules": {"muc": {"create_rooms": "nobody"}}})
def test_room_creation_can_be_closed(server, users):
    (alice,) = clients(server, users, "alice")
    cond, err = join_error(alice, room_jid("new"), "alice")
    assert cond == "not-allowed", to_str(err)
    text = err.findtext(f"{q(NS_CLIENT, 'error')}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}text")
    assert "no new rooms" in text, text


@pytest.mark.corvid(config={"modules": {"muc": {"max_occupants": 2}}})
def test_service_limit_on_occupants(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("small")
    create_room(alice, room, "alice")
    # The owner may not raise the room's limit above the service's.
    r = submit_config(alice, room, {"muc#roomconfig_maxusers": "3"})
    assert stanza_error_condition(r) == "not-acceptable", to_str(r)
    join(bob, room, "bob")
    cond, err = join_error(carol, room, "carol")
    assert cond == "service-unavailable", to_str(err)
    assert err.find(q(NS_CLIENT, "error")).get("type") == "wait"
    leave(bob, room, "bob")
    join(carol, room, "carol")
