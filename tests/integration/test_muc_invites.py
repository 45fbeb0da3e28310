"""Multi-user chat with raw clients: mediated invitations and declines (XEP-0045 §7.8.2, §7.8.3)
and self-pings (XEP-0410)."""

from muc_support import (NS_DISCO_INFO, NS_MUC_USER, create_room, is_message, join, room_jid,
                         submit_config)
from test_features_support import online
from xmpp_raw import NS_CLIENT, q, stanza_error_condition, to_str

NS_PING = "urn:xmpp:ping"


def clients(server, users, *names):
    return [online(server, n, users[n], resource="raw", presence=True) for n in names]


def bare(c):
    return c.jid.split("/", 1)[0]


def send_invite(c, room, invitees, reason="", id_="inv"):
    reason_el = f"<reason>{reason}</reason>" if reason else ""
    invites = "".join(f"<invite to='{j}'>{reason_el}</invite>" for j in invitees)
    c.send(f"<message to='{room}' id='{id_}'><x xmlns='{NS_MUC_USER}'>{invites}</x></message>")


def muc_user_child(el, name):
    return el.find(f"{q(NS_MUC_USER, 'x')}/{q(NS_MUC_USER, name)}")


def test_invitation_and_decline(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("invites")
    create_room(alice, room, "alice", {"muc#roomconfig_passwordprotectedroom": "1",
                                       "muc#roomconfig_roomsecret": "s3cret"})
    send_invite(alice, room, [bare(bob)], "Join us")
    m = bob.wait_for(lambda e: is_message(e) and muc_user_child(e, "invite") is not None,
                     what="the invitation")
    assert m.get("from") == room, to_str(m)
    inv = muc_user_child(m, "invite")
    assert inv.get("from") == bare(alice)
    assert inv.findtext(q(NS_MUC_USER, "reason")) == "Join us"
    assert m.find(f"{q(NS_MUC_USER, 'x')}/{q(NS_MUC_USER, 'password')}").text == "s3cret"
    # §7.8.3: bob declines; alice hears it from the room.
    bob.send(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'><decline to='{bare(alice)}'>"
             "<reason>Busy</reason></decline></x></message>")
    d = alice.wait_for(lambda e: is_message(e) and muc_user_child(e, "decline") is not None,
                       what="the decline")
    assert d.get("from") == room
    assert muc_user_child(d, "decline").get("from") == bare(bob)
    assert muc_user_child(d, "decline").findtext(q(NS_MUC_USER, "reason")) == "Busy"
    # A second decline (or one to someone who never invited) is refused: no relay to strangers.
    bob.send(f"<message to='{room}' id='d2'><x xmlns='{NS_MUC_USER}'>"
             f"<decline to='{bare(carol)}'/></x></message>")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "d2", what="error")
    assert stanza_error_condition(err) == "item-not-found", to_str(err)


def test_who_may_invite(server, users):
    alice, bob, carol = clients(server, users, "alice", "bob", "carol")
    room = room_jid("closedinvites")
    create_room(alice, room, "alice")
    # Not an occupant: refused.
    send_invite(carol, room, [bare(bob)], id_="i1")
    err = carol.wait_for(lambda e: is_message(e) and e.get("id") == "i1", what="error")
    assert stanza_error_condition(err) == "not-acceptable", to_str(err)
    # An occupant without moderation, while muc#roomconfig_allowinvites is off: forbidden.
    join(bob, room, "bob")
    send_invite(bob, room, [bare(carol)], id_="i2")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "i2", what="error")
    assert stanza_error_condition(err) == "forbidden", to_str(err)
    assert submit_config(alice, room, {"muc#roomconfig_allowinvites": "1"}).get("type") == "result"
    send_invite(bob, room, [bare(carol)], id_="i3")
    m = carol.wait_for(lambda e: is_message(e) and muc_user_child(e, "invite") is not None,
                       what="the invitation")
    assert muc_user_child(m, "invite").get("from") == bare(bob)
    # A bad address refuses the whole message; so do too many invitees.
    send_invite(bob, room, [bare(alice), "@bad"], id_="i4")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "i4", what="error")
    assert stanza_error_condition(err) == "jid-malformed", to_str(err)
    send_invite(bob, room, [f"u{i}@localhost" for i in range(11)], id_="i5")
    err = bob.wait_for(lambda e: is_message(e) and e.get("id") == "i5", what="error")
    assert stanza_error_condition(err) == "policy-violation", to_str(err)


def test_self_ping(server, users):
    alice, bob = clients(server, users, "alice", "bob")
    room = room_jid("pings")
    create_room(alice, room, "alice")
    r = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=room)
    feats = {f.get("var") for f in r.find(q(NS_DISCO_INFO, "query"))
             .findall(q(NS_DISCO_INFO, "feature"))}
    assert "http://jabber.org/protocol/muc#self-ping-optimization" in feats
    # Joined: the room answers for the occupant.
    r = alice.iq(f"<ping xmlns='{NS_PING}'/>", to=f"{room}/alice")
    assert r.get("type") == "result" and r.get("from") == f"{room}/alice", to_str(r)
    # Not joined (or not any more): not-acceptable, so the client knows to rejoin (§3).
    r = bob.iq(f"<ping xmlns='{NS_PING}'/>", to=f"{room}/bob")
    assert stanza_error_condition(r) == "not-acceptable", to_str(r)
    r = bob.iq(f"<ping xmlns='{NS_PING}'/>", to=f"{room}/alice")
    assert stanza_error_condition(r) == "not-acceptable", to_str(r)
    # An occupant's ping to another occupant is not passed on.
    join(bob, room, "bob")
    r = bob.iq(f"<ping xmlns='{NS_PING}'/>", to=f"{room}/alice")
    assert stanza_error_condition(r) == "service-unavailable", to_str(r)
