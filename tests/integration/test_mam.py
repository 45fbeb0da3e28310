"""Message archive management (XEP-0313) with stanza ids (XEP-0359), RSM paging (XEP-0059),
store hints (XEP-0334) and full-text search (XEP-0431): raw clients, byte for byte."""

import datetime
import time

import pytest

from corvid_harness import psql
from im_support import (IQ, MESSAGE, NS_CLIENT, connect, error_text, is_message, q,
                        stanza_error_condition, to_str)
from xmpp_raw import xml_escape

NS_MAM = "urn:xmpp:mam:2"
NS_SID = "urn:xmpp:sid:0"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_XDATA = "jabber:x:data"
NS_HINTS = "urn:xmpp:hints"
FULLTEXT = "{urn:xmpp:fulltext:0}fulltext"


def form(**fields) -> str:
    out = (f"<x xmlns='{NS_XDATA}' type='submit'><field var='FORM_TYPE' type='hidden'>"
           f"<value>{NS_MAM}</value></field>")
    for var, value in fields.items():
        var = {"before_id": "before-id", "after_id": "after-id", "fulltext": FULLTEXT}.get(var, var)
        values = value if isinstance(value, list) else [value]
        out += f"<field var='{var}'>" + "".join(
            f"<value>{xml_escape(v)}</value>" for v in values) + "</field>"
    return out + "</x>"


def rsm(max_=None, after=None, before=None) -> str:
    out = f"<set xmlns='{NS_RSM}'>"
    if max_ is not None:
        out += f"<max>{max_}</max>"
    if after is not None:
        out += f"<after>{after}</after>"
    if before is not None:
        out += f"<before>{before}</before>" if before else "<before/>"
    return out + "</set>"


def query(c, fields="", set_="", extra="", queryid="q1"):
    """Runs a query; returns (iq reply, [(result id, forwarded message, delay stamp)])."""
    reply = c.iq(f"<query xmlns='{NS_MAM}' queryid='{queryid}'>{fields}{set_}{extra}</query>",
                 type_="set")
    results = []
    for el in list(c.skipped):
        r = el.find(q(NS_MAM, "result"))
        if el.tag == MESSAGE and r is not None and r.get("queryid") == queryid:
            c.skipped.remove(el)
            assert el.get("from") == c.jid.split("/")[0], to_str(el)
            fwd = r.find(q(NS_FORWARD, "forwarded"))
            results.append((r.get("id"), fwd.find(MESSAGE), fwd.find(q(NS_DELAY, "delay"))
                            .get("stamp")))
    return reply, results


def bodies(results):
    return [m.findtext(q(NS_CLIENT, "body")) for _, m, _ in results]


def fin(reply):
    assert reply.get("type") == "result", to_str(reply)
    f = reply.find(q(NS_MAM, "fin"))
    assert f is not None, to_str(reply)
    assert f.get("stable") == "true", to_str(reply)
    s = f.find(q(NS_RSM, "set"))
    return f.get("complete"), s.findtext(q(NS_RSM, "first")), s.findtext(q(NS_RSM, "last"))


def stanza_id(msg, by):
    ids = [e for e in msg.findall(q(NS_SID, "stanza-id")) if e.get("by") == by]
    assert len(ids) <= 1, to_str(msg)
    return ids[0].get("id") if ids else None


def exchange(alice, bob, n, prefix="m"):
    """alice sends n messages to bob, who receives them; returns bob's copies."""
    for i in range(n):
        alice.message("bob@localhost", f"{prefix}{i}")
    return [bob.take(is_message(f"{prefix}{i}")) for i in range(n)]


def prefs_loaded(server):
    """Until the preferences are loaded (just after "database ready"), messages are archived by
    the database's decision, without ids on the copies."""
    server.wait_log(r"mam: archiving preferences of \d+ account\(s\) loaded")


def test_both_sides_archived_with_stanza_ids(server, users):
    prefs_loaded(server)
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    got = exchange(alice, bob, 3)
    ids = [stanza_id(m, "bob@localhost") for m in got]
    assert all(ids) and len(set(ids)) == 3, [to_str(m) for m in got]
    bob.message("alice@localhost/a", "reply")
    alice.take(is_message("reply"))

    reply, results = query(bob)
    assert fin(reply) == ("true", ids[0], results[-1][0])
    assert bodies(results) == ["m0", "m1", "m2", "reply"]
    # The archive UID is the stanza-id the copy carried.
    assert [r[0] for r in results[:3]] == ids
    m0 = results[0][1]
    assert m0.get("from") == "alice@localhost/a" and m0.get("to") == "bob@localhost"
    assert results[3][1].get("from") == "bob@localhost/b"
    stamp = datetime.datetime.fromisoformat(results[0][2].replace("Z", "+00:00"))
    assert abs((datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()) < 30

    reply, results = query(alice)
    assert bodies(results) == ["m0", "m1", "m2", "reply"]
    assert fin(reply)[0] == "true"


def test_forged_stanza_id_removed(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    alice.send(f"<message to='bob@localhost' type='chat'><body>forged</body>"
               f"<stanza-id xmlns='{NS_SID}' by='Bob@LOCALHOST' id='1'/>"
               f"<stanza-id xmlns='{NS_SID}' by='alice@localhost' id='kept'/></message>")
    m = bob.take(is_message("forged"))
    sids = m.findall(q(NS_SID, "stanza-id"))
    assert [(e.get("by"), e.get("id")) for e in sids if e.get("by") != "bob@localhost"] == \
        [("alice@localhost", "kept")], to_str(m)
    assert stanza_id(m, "bob@localhost") not in (None, "1")
    # The archived copy has no stanza-id of ours either.
    _, results = query(bob)
    assert [e.get("by") for e in results[0][1].findall(q(NS_SID, "stanza-id"))] == \
        ["alice@localhost"]


def test_what_is_archived(server, users):
    """§5.1.1 and XEP-0334: bodies, OMEMO and markers yes; chat states, groupchat, errors and
    no-store no; a <store/> hint keeps anything."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    sends = [
        ("<body>plain</body>", True),
        ("<body>normal</body>", True, "normal"),
        ("<body>hl</body>", False, "headline"),
        ("<body>gc</body>", False, "groupchat"),
        (f"<body>nostore</body><no-store xmlns='{NS_HINTS}'/>", False),
        (f"<body>noperm</body><no-permanent-store xmlns='{NS_HINTS}'/>", False),
        (f"<body>both</body><no-store xmlns='{NS_HINTS}'/><store xmlns='{NS_HINTS}'/>", True),
        ("<composing xmlns='http://jabber.org/protocol/chatstates'/>", False),
        (f"<active xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='{NS_HINTS}'/>",
         True),
        ("<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted>"
         "<encryption xmlns='urn:xmpp:eme:0' namespace='eu.siacs.conversations.axolotl'/>", True),
        ("<displayed xmlns='urn:xmpp:chat-markers:0' id='x1'/>", True),
    ]
    expected = []
    for i, (payload, kept, *type_) in enumerate(sends):
        t = type_[0] if type_ else "chat"
        alice.send(f"<message to='bob@localhost/b' type='{t}' id='w{i}'>{payload}</message>")
        if kept:
            expected.append(f"w{i}")
    # Everything reached bob (groupchat to a user's full JID is delivered as it is).
    alice.message("bob@localhost/b", "end")
    bob.take(is_message("end"))
    expected.append(None)
    _, results = query(bob)
    assert [m.get("id") for _, m, _ in results][:-1] == expected[:-1]
    assert bodies(results)[-1] == "end"
    _, results = query(alice)
    assert [m.get("id") for _, m, _ in results][:-1] == expected[:-1]


def test_rsm_paging_and_edges(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    exchange(alice, bob, 7)
    _, everything = query(bob)
    ids = [r[0] for r in everything]
    assert len(ids) == 7 and ids == sorted(ids, key=int)

    reply, page = query(bob, set_=rsm(max_=3))
    assert bodies(page) == ["m0", "m1", "m2"] and fin(reply) == ("false", ids[0], ids[2])
    reply, page = query(bob, set_=rsm(max_=3, after=ids[2]))
    assert bodies(page) == ["m3", "m4", "m5"] and fin(reply)[0] == "false"
    reply, page = query(bob, set_=rsm(max_=3, after=ids[5]))
    assert bodies(page) == ["m6"] and fin(reply) == ("true", ids[6], ids[6])
    # Exactly max left: complete only once known to be the last.
    reply, page = query(bob, set_=rsm(max_=1, after=ids[5]))
    assert bodies(page) == ["m6"] and fin(reply)[0] == "true"
    # After the last: an empty page, complete.
    reply, page = query(bob, set_=rsm(max_=3, after=ids[6]))
    assert page == [] and fin(reply) == ("true", None, None)

    # The last page, then backwards; complete when the start is reached.
    reply, page = query(bob, set_=rsm(max_=3, before=""))
    assert bodies(page) == ["m4", "m5", "m6"] and fin(reply) == ("false", ids[4], ids[6])
    reply, page = query(bob, set_=rsm(max_=3, before=ids[4]))
    assert bodies(page) == ["m1", "m2", "m3"] and fin(reply)[0] == "false"
    reply, page = query(bob, set_=rsm(max_=3, before=ids[1]))
    assert bodies(page) == ["m0"] and fin(reply)[0] == "true"
    # flip-page: the same page, newest first.
    reply, page = query(bob, set_=rsm(max_=3, before=""), extra=f"<flip-page/>")
    assert bodies(page) == ["m6", "m5", "m4"] and fin(reply)[1:] == (ids[4], ids[6])
    # max 0: nothing, and whether there is anything.
    reply, page = query(bob, set_=rsm(max_=0))
    assert page == [] and fin(reply)[0] == "false"

    # after-id / before-id (extended) and ids.
    _, page = query(bob, fields=form(after_id=ids[1], before_id=ids[4]))
    assert bodies(page) == ["m2", "m3"]
    _, page = query(bob, fields=form(ids=[ids[5], ids[0]]))
    assert bodies(page) == ["m0", "m5"]

    # Unknown ids: item-not-found, wherever they are named.
    for fields, set_ in [("", rsm(after="12345")), ("", rsm(before="999")),
                         ("", rsm(after="not-a-number")), (form(after_id="1"), ""),
                         (form(before_id="x"), ""), (form(ids=[ids[0], "77"]), "")]:
        reply, page = query(bob, fields=fields, set_=set_)
        assert reply.get("type") == "error" and page == [], to_str(reply)
        assert stanza_error_condition(reply) == "item-not-found", to_str(reply)
        assert error_text(reply)
    # Someone else's ids are not in this archive.
    _, alices = query(alice)
    reply, _ = query(bob, set_=rsm(after=alices[0][0]))
    assert stanza_error_condition(reply) == "item-not-found"

    # Malformed and unsupported input.
    for fields, set_, cond in [
        (form(start="yesterday"), "", "bad-request"),
        (form(**{"include-groupchat": "true"}), "", "feature-not-implemented"),
        (form(**{"{urn:example}x": "y"}), "", "feature-not-implemented"),
        ("", f"<set xmlns='{NS_RSM}'><max>-1</max></set>", "bad-request"),
        ("", f"<set xmlns='{NS_RSM}'><index>2</index></set>", "feature-not-implemented"),
        (form(**{"with": "not a jid@@"}), "", "jid-malformed"),
    ]:
        reply, _ = query(bob, fields=fields, set_=set_)
        assert stanza_error_condition(reply) == cond, to_str(reply)
        assert error_text(reply)


def test_filters_with_time_fulltext(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    carol = connect(server, "carol", users["carol"], "c")
    alice.message("bob@localhost", "Wherefore art thou Romeo")
    bob.take(is_message("Wherefore art thou Romeo"))
    time.sleep(0.05)
    middle = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.05)
    carol.message("bob@localhost", "the rose by any other name")
    bob.take(is_message("the rose by any other name"))
    bob.message("carol@localhost/c", "ROMEO is here")
    carol.take(is_message("ROMEO is here"))

    _, page = query(bob, fields=form(**{"with": "carol@localhost"}))
    assert bodies(page) == ["the rose by any other name", "ROMEO is here"]
    _, page = query(bob, fields=form(**{"with": "carol@localhost/c"}))
    assert bodies(page) == ["the rose by any other name", "ROMEO is here"]
    _, page = query(bob, fields=form(**{"with": "carol@localhost/elsewhere"}))
    assert page == []
    _, page = query(bob, fields=form(**{"with": "alice@localhost"}))
    assert bodies(page) == ["Wherefore art thou Romeo"]
    stamp = middle.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _, page = query(bob, fields=form(start=stamp))
    assert bodies(page) == ["the rose by any other name", "ROMEO is here"]
    _, page = query(bob, fields=form(end=stamp))
    assert bodies(page) == ["Wherefore art thou Romeo"]
    # An offset is honoured: the same instant two hours east.
    east = (middle + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f+02:00")
    _, page = query(bob, fields=form(end=east))
    assert bodies(page) == ["Wherefore art thou Romeo"]

    _, page = query(bob, fields=form(fulltext="romeo"))
    assert bodies(page) == ["Wherefore art thou Romeo", "ROMEO is here"]
    _, page = query(bob, fields=form(fulltext="romeo", **{"with": "carol@localhost"}))
    assert bodies(page) == ["ROMEO is here"]
    _, page = query(bob, fields=form(fulltext="rose name"))
    assert bodies(page) == ["the rose by any other name"]
    _, page = query(bob, fields=form(fulltext="tulip"))
    assert page == []


def test_form_metadata_and_access(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    reply = bob.iq(f"<query xmlns='{NS_MAM}'/>")
    fields = [f.get("var") for f in reply.iter(q(NS_XDATA, "field"))]
    assert fields == ["FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids",
                      FULLTEXT], to_str(reply)

    meta = bob.iq(f"<metadata xmlns='{NS_MAM}'/>")
    assert meta.get("type") == "result" and len(meta.find(q(NS_MAM, "metadata"))) == 0, \
        to_str(meta)
    got = exchange(alice, bob, 3)
    meta = bob.iq(f"<metadata xmlns='{NS_MAM}'/>").find(q(NS_MAM, "metadata"))
    start, end = meta.find(q(NS_MAM, "start")), meta.find(q(NS_MAM, "end"))
    assert start.get("id") == stanza_id(got[0], "bob@localhost")
    assert end.get("id") == stanza_id(got[2], "bob@localhost")
    assert start.get("timestamp") <= end.get("timestamp")

    # Only the owner: another user asking bob's archive is refused.
    reply = alice.iq(f"<query xmlns='{NS_MAM}' queryid='x'/>", type_="set", to="bob@localhost")
    assert stanza_error_condition(reply) == "forbidden", to_str(reply)
    assert not [e for e in alice.skipped if e.find(q(NS_MAM, "result")) is not None]


def test_prefs(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    carol = connect(server, "carol", users["carol"], "c")
    reply = bob.iq(f"<prefs xmlns='{NS_MAM}'/>")
    prefs = reply.find(q(NS_MAM, "prefs"))
    assert prefs.get("default") == "always", to_str(reply)

    reply = bob.iq(f"<prefs xmlns='{NS_MAM}' default='never'><always><jid>carol@localhost</jid>"
                   f"</always><never/></prefs>", type_="set")
    prefs = reply.find(q(NS_MAM, "prefs"))
    assert prefs.get("default") == "never" and \
        [j.text for j in prefs.find(q(NS_MAM, "always"))] == ["carol@localhost"], to_str(reply)
    reply = bob.iq(f"<prefs xmlns='{NS_MAM}' default='sometimes'/>", type_="set")
    assert stanza_error_condition(reply) == "bad-request"

    alice.message("bob@localhost", "not kept")
    m = bob.take(is_message("not kept"))
    assert stanza_id(m, "bob@localhost") is None, to_str(m)
    carol.message("bob@localhost", "kept")
    m = bob.take(is_message("kept"))
    assert stanza_id(m, "bob@localhost")
    _, page = query(bob)
    assert bodies(page) == ["kept"]
    # alice's own archive follows her preferences, not bob's.
    _, page = query(alice)
    assert bodies(page) == ["not kept"]

    # The roster policy: only contacts in the roster.
    bob.iq(f"<prefs xmlns='{NS_MAM}' default='roster'/>", type_="set")
    bob.roster_set("alice@localhost")
    alice.message("bob@localhost", "contact")
    carol.message("bob@localhost", "stranger")
    assert stanza_id(bob.take(is_message("contact")), "bob@localhost")
    assert stanza_id(bob.take(is_message("stranger")), "bob@localhost") is None
    _, page = query(bob)
    assert bodies(page) == ["kept", "contact"]


def test_offline_messages_archived_once(server, users):
    prefs_loaded(server)
    alice = connect(server, "alice", users["alice"], "a")
    alice.message("bob@localhost", "while away")
    alice.message("bob@localhost", "no trace", type_="chat")
    alice.ping()
    bob = connect(server, "bob", users["bob"], "b")
    offline = [bob.take(is_message(b)) for b in ("while away", "no trace")]
    _, page = query(bob)
    assert bodies(page) == ["while away", "no trace"]
    # The offline copies carry the archive ids: a client that syncs from MAM sees each once.
    assert [stanza_id(m, "bob@localhost") for m in offline] == [r[0] for r in page]


def test_archive_survives_restart_and_goes_with_account(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    exchange(alice, bob, 2)
    alice.close()
    bob.close()
    server.restart()
    bob = connect(server, "bob", users["bob"], "b")
    _, page = query(bob)
    assert bodies(page) == ["m0", "m1"]
    bob.close()
    count = f"SELECT count(*) FROM archive_messages a JOIN accounts u ON u.id = a.account_id" \
            f" WHERE u.username = 'bob'"
    assert psql(server.dsn, count).strip() == "2"
    server.ctl("deluser", "bob@localhost")
    assert psql(server.dsn, "SELECT count(*) FROM archive_messages a WHERE NOT EXISTS"
                " (SELECT 1 FROM accounts u WHERE u.id = a.account_id)").strip() == "0"
    assert psql(server.dsn, "SELECT count(*) FROM archive_messages").strip() == "2"  # alice's


@pytest.mark.corvid(config={"modules": {"mam": {"retention_days": 2}}})
def test_retention_deletes_old_messages(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    exchange(alice, bob, 2)
    alice.close()
    bob.close()
    # Messages archived three days and one day ago (the id is the archiving time in µs).
    day = 86400 * 1_000_000
    now = int(time.time() * 1_000_000)
    psql(server.dsn, "INSERT INTO archive_messages (account_id, id, with_jid, outgoing, stanza)"
         " SELECT id, v.at, 'alice@localhost', false,"
         " '<message xmlns=\"jabber:client\"><body>' || v.body || '</body></message>'"
         f" FROM accounts, (VALUES ({now - 3 * day}, 'three days'), ({now - day}, 'one day'))"
         " AS v(at, body) WHERE username = 'bob'")
    server.restart()
    older = f"SELECT count(*) FROM archive_messages WHERE id < {now - 2 * day}"
    deadline = time.monotonic() + 20
    while psql(server.dsn, older).strip() != "0":
        assert time.monotonic() < deadline, "the expired message is still there after 20 s"
        time.sleep(0.2)
    bob = connect(server, "bob", users["bob"], "b")
    _, page = query(bob)
    assert bodies(page) == ["one day", "m0", "m1"] and page[0][0] == str(now - day)
    _, page = query(connect(server, "alice", users["alice"], "a"))
    assert bodies(page) == ["m0", "m1"]


def test_pipelined_queries_bounded(server, users):
    bob = connect(server, "bob", users["bob"], "b")
    n = 40
    for i in range(n):
        bob.send(f"<iq type='set' id='p{i}'><query xmlns='{NS_MAM}' queryid='p{i}'/></iq>")
    replies = [bob.take(lambda e, i=i: e.tag == IQ and e.get("id") == f"p{i}") for i in range(n)]
    kinds = [r.get("type") for r in replies]
    assert "result" in kinds
    for r in replies:
        if r.get("type") == "error":
            assert stanza_error_condition(r) == "resource-constraint", to_str(r)


@pytest.mark.corvid(config={"modules": {"mam": {"enabled": False}}})
def test_disabled(server, users):
    bob = connect(server, "bob", users["bob"], "b")
    reply = bob.iq(f"<query xmlns='{NS_MAM}'/>", type_="set")
    assert stanza_error_condition(reply) == "service-unavailable"
    alice = connect(server, "alice", users["alice"], "a")
    alice.message("bob@localhost", "hi")
    assert stanza_id(bob.take(is_message("hi")), "bob@localhost") is None
