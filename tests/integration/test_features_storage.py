"""XEP-0054 vcard-temp and XEP-0049 private XML storage, kept in PostgreSQL."""

import pytest
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048 import Bookmarks

import slix
from corvid_harness import psql
from test_features_support import NS_PRIVATE, NS_VCARD, online, slix_login
from xmpp_raw import q, stanza_error_condition, to_str

# --- XEP-0054 ---


def test_vcard_publish_and_read_slixmpp(server, users):
    async def main():
        alice = await slix_login(server.port, "alice@localhost/v", users["alice"],
                                 plugins=["xep_0054"])
        bob = await slix_login(server.port, "bob@localhost/v", users["bob"], plugins=["xep_0054"])
        vcard = alice["xep_0054"].make_vcard()
        vcard["FN"] = "Alice Liddell"
        vcard["NICKNAME"] = "alice <&> wonder"
        vcard["URL"] = "https://example.org/alice"
        await alice["xep_0054"].publish_vcard(vcard)

        own = await alice["xep_0054"].get_vcard("alice@localhost", cached=False, local=False)
        assert own["vcard_temp"]["FN"] == "Alice Liddell"
        assert list(own["vcard_temp"]["NICKNAME"]) == ["alice <&> wonder"]
        other = await bob["xep_0054"].get_vcard("alice@localhost", cached=False, local=False)
        assert other["from"] == "alice@localhost"
        assert other["vcard_temp"]["FN"] == "Alice Liddell"
        assert other["vcard_temp"]["URL"] == "https://example.org/alice"

        # A second publish replaces the whole vCard (XEP-0054 §3.2).
        vcard2 = alice["xep_0054"].make_vcard()
        vcard2["NICKNAME"] = "ally"
        await alice["xep_0054"].publish_vcard(vcard2)
        again = await bob["xep_0054"].get_vcard("alice@localhost", cached=False, local=False)
        assert list(again["vcard_temp"]["NICKNAME"]) == ["ally"]
        assert again["vcard_temp"]["FN"] == ""
        await alice.close()
        await bob.close()
    slix.run(main())


def test_vcard_missing_and_unknown_users(server, users):
    """XEP-0054 §3.1: one's own missing vCard is an empty <vCard/>; §3.3: another user's missing
    vCard and a user that does not exist both give service-unavailable."""
    alice = online(server, "alice", users["alice"])
    reply = alice.iq(f"<vCard xmlns='{NS_VCARD}'/>")
    assert reply.get("type") == "result", to_str(reply)
    vcard = reply.find(q(NS_VCARD, "vCard"))
    assert vcard is not None and len(vcard) == 0, to_str(reply)
    for target in ("bob@localhost", "nobody@localhost"):
        reply = alice.iq(f"<vCard xmlns='{NS_VCARD}'/>", to=target)
        assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
        assert reply.get("from") == target
    alice.close()


def test_vcard_of_another_user_cannot_be_set(server, users):
    alice = online(server, "alice", users["alice"])
    reply = alice.iq(f"<vCard xmlns='{NS_VCARD}'><FN>Bob?</FN></vCard>", type_="set",
                     to="bob@localhost")
    assert stanza_error_condition(reply) == "forbidden", to_str(reply)
    bob = online(server, "bob", users["bob"])
    reply = bob.iq(f"<vCard xmlns='{NS_VCARD}'/>")
    assert len(reply.find(q(NS_VCARD, "vCard"))) == 0, "alice changed bob's vCard"
    alice.close()
    bob.close()


def test_vcard_raw_round_trip_and_persistence(server, users):
    """Exact XML survives storage (attributes, nested elements, other namespaces, entities) and
    a server restart."""
    body = ("<vCard xmlns='vcard-temp' version='3.0'><N><FAMILY>Doe</FAMILY><GIVEN>J&amp;J</GIVEN>"
            "</N><TEL><HOME/><NUMBER>+1 555</NUMBER></TEL><x xmlns='urn:example:ext' a='1'>"
            "ünïcödé 💌</x></vCard>")
    alice = online(server, "alice", users["alice"])
    reply = alice.iq(body, type_="set")
    assert reply.get("type") == "result", to_str(reply)
    alice.close()
    server.restart()
    bob = online(server, "bob", users["bob"])
    reply = bob.iq(f"<vCard xmlns='{NS_VCARD}'/>", to="alice@localhost")
    vcard = reply.find(q(NS_VCARD, "vCard"))
    assert vcard is not None, to_str(reply)
    assert vcard.get("version") == "3.0"
    assert vcard.findtext(f"{q(NS_VCARD, 'N')}/{q(NS_VCARD, 'GIVEN')}") == "J&J"
    assert vcard.find(f"{q(NS_VCARD, 'TEL')}/{q(NS_VCARD, 'HOME')}") is not None
    ext = vcard.find(q("urn:example:ext", "x"))
    assert ext is not None and ext.get("a") == "1" and ext.text == "ünïcödé 💌", to_str(reply)
    bob.close()


def test_vcard_size_limit(server, users):
    alice = online(server, "alice", users["alice"])
    big = "A" * (130 * 1024)
    reply = alice.iq(f"<vCard xmlns='{NS_VCARD}'><PHOTO><BINVAL>{big}</BINVAL></PHOTO></vCard>",
                     type_="set")
    assert stanza_error_condition(reply) == "not-acceptable", to_str(reply)
    assert len(to_str(reply)) < 4096, "the error must not echo the large vCard"
    # Just under the limit is fine.
    ok = "A" * (100 * 1024)
    reply = alice.iq(f"<vCard xmlns='{NS_VCARD}'><PHOTO><BINVAL>{ok}</BINVAL></PHOTO></vCard>",
                     type_="set")
    assert reply.get("type") == "result", to_str(reply)[:300]
    alice.close()


# --- XEP-0049 ---


def test_private_bookmarks_slixmpp(server, users):
    """XEP-0048 bookmarks stored the legacy way, in private XML (slixmpp's xep_0049)."""
    async def main():
        c = await slix_login(server.port, "alice@localhost/p", users["alice"],
                             plugins=["xep_0048"])
        empty = await c["xep_0048"].get_bookmarks(method="xep_0049")
        assert list(empty["private"]["bookmarks"]["conferences"]) == []
        marks = Bookmarks()
        marks.add_conference("room@conference.example.org", "alice", name="The Room",
                             autojoin=True)
        marks.add_url("https://example.org/", name="Example")
        await c["xep_0048"].set_bookmarks(marks, method="xep_0049")
        await c.close()

        # Another session (another connection) reads them back.
        c = await slix_login(server.port, "alice@localhost/p2", users["alice"],
                             plugins=["xep_0048"])
        got = await c["xep_0048"].get_bookmarks(method="xep_0049")
        confs = list(got["private"]["bookmarks"]["conferences"])
        assert len(confs) == 1
        assert confs[0]["jid"] == "room@conference.example.org"
        assert confs[0]["name"] == "The Room"
        assert confs[0]["nick"] == "alice"
        assert len(list(got["private"]["bookmarks"]["urls"])) == 1
        await c.close()
    slix.run(main())


def test_private_raw_semantics(server, users):
    alice = online(server, "alice", users["alice"])
    # Nothing stored: the empty element as asked for.
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><exodus xmlns='exodus:prefs'/></query>")
    assert reply.get("type") == "result", to_str(reply)
    query = reply.find(q(NS_PRIVATE, "query"))
    assert [c.tag for c in query] == [q("exodus:prefs", "exodus")]
    assert len(query[0]) == 0

    # Two elements in one set; each is then read by its own (name, namespace).
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'>"
                     "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>"
                     "<other xmlns='exodus:prefs'>second</other></query>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><exodus xmlns='exodus:prefs'/></query>")
    stored = reply.find(f"{q(NS_PRIVATE, 'query')}/{q('exodus:prefs', 'exodus')}")
    assert stored.findtext(q("exodus:prefs", "defaultnick")) == "Hamlet", to_str(reply)
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><other xmlns='exodus:prefs'/></query>")
    assert reply.find(f"{q(NS_PRIVATE, 'query')}/{q('exodus:prefs', 'other')}").text == "second"

    # Another account sees nothing of it.
    bob = online(server, "bob", users["bob"])
    reply = bob.iq(f"<query xmlns='{NS_PRIVATE}'><exodus xmlns='exodus:prefs'/></query>")
    assert len(reply.find(f"{q(NS_PRIVATE, 'query')}/{q('exodus:prefs', 'exodus')}")) == 0
    alice.close()
    bob.close()


@pytest.mark.parametrize("payload, condition", [
    ("", "not-acceptable"),                                       # no child (XEP-0049 §2.2)
    ("<plain/>", "not-acceptable"),                               # no namespace
    ("<query xmlns='jabber:iq:roster'/>", "not-acceptable"),      # reserved 'jabber:' namespace
    ("<a xmlns='x:1'/><b xmlns='x:2'/>", "bad-request"),          # get: one element at a time
])
def test_private_get_errors(server, users, payload, condition):
    alice = online(server, "alice", users["alice"])
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'>{payload}</query>")
    assert stanza_error_condition(reply) == condition, to_str(reply)
    alice.close()


def test_private_only_for_the_account_itself(server, users):
    alice = online(server, "alice", users["alice"])
    for type_ in ("get", "set"):
        for target in ("bob@localhost", "nobody@localhost"):
            reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><x xmlns='a:b'>1</x></query>",
                             type_=type_, to=target)
            assert stanza_error_condition(reply) == "forbidden", to_str(reply)
    # Addressed to one's own bare JID is the same as no 'to'.
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><x xmlns='a:b'>1</x></query>", type_="set",
                     to="alice@localhost")
    assert reply.get("type") == "result", to_str(reply)
    alice.close()


def test_private_limits(server, users):
    alice = online(server, "alice", users["alice"])
    big = "B" * (130 * 1024)
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><x xmlns='big:1'>{big}</x></query>",
                     type_="set")
    assert stanza_error_condition(reply) == "not-acceptable", to_str(reply)[:300]
    assert len(to_str(reply)) < 4096, "the error must not echo the large request"

    # At most 64 different elements per account; replacing one is still fine when full.
    for i in range(64):
        reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><x xmlns='n:{i}'/></query>", type_="set")
        assert reply.get("type") == "result", to_str(reply)
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><x xmlns='n:64'/></query>", type_="set")
    assert stanza_error_condition(reply) == "policy-violation", to_str(reply)
    reply = alice.iq(f"<query xmlns='{NS_PRIVATE}'><x xmlns='n:3'>new</x></query>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    assert psql(server.dsn, "SELECT count(*) FROM private_storage").strip() == "64"
    alice.close()
