"""Every error the server raises carries a short human-readable English <text/> (RFC 6120 §8.3.2,
§4.9.2): without one, a client such as Gajim shows a red icon and no words. Each case provokes a
different error and checks its condition and its text."""

import json
import subprocess

import pytest

from xmpp_raw import NS_CLIENT, NS_STANZAS, RawClient, q, stanza_error_condition, to_str

NS_XML = "http://www.w3.org/XML/1998/namespace"
PUBSUB = "http://jabber.org/protocol/pubsub"
SYSTEM_PYTHON = "/usr/bin/python3"


def error_text(reply) -> str:
    """The <text/> of a stanza error, checking it is marked as English."""
    text = reply.find(f"{q(NS_CLIENT, 'error')}/{q(NS_STANZAS, 'text')}")
    assert text is not None, f"no <text/>: {to_str(reply)}"
    assert text.get(q(NS_XML, "lang")) == "en", to_str(reply)
    return text.text or ""


def _error_reply(c: RawClient, stanza: str, tag: str):
    """Sends a message or presence (id 'e1') and waits for its error."""
    c.send(stanza)
    return c.wait_for(lambda e: e.tag == q(NS_CLIENT, tag) and e.get("type") == "error",
                      what=f"an error {tag}")


# (id, how to provoke it with alice's raw client, condition, words the text must contain)
STANZA_CASES = [
    ("unknown-namespace-at-server",
     lambda c: c.iq("<query xmlns='urn:corvid:test:nothing'/>", to="localhost"),
     "service-unavailable", "urn:corvid:test:nothing"),
    ("unknown-namespace-at-account",
     lambda c: c.iq("<query xmlns='urn:corvid:test:nothing'/>", to="bob@localhost"),
     "service-unavailable", "unavailable"),
    ("unknown-disco-node",
     lambda c: c.iq("<query xmlns='http://jabber.org/protocol/disco#info' node='nope'/>",
                    to="localhost"),
     "item-not-found", "no such"),
    ("malformed-address",
     lambda c: c.iq("<ping xmlns='urn:xmpp:ping'/>", to="a@b@c"),
     "jid-malformed", ""),
    ("remote-server-without-s2s",
     lambda c: _error_reply(c, "<message to='room@conference.nowhere.example' type='groupchat' "
                               "id='e1'><body>hello</body></message>", "message"),
     "remote-server-not-found", "conference.nowhere.example"),
    ("two-roster-items",
     lambda c: c.iq("<query xmlns='jabber:iq:roster'><item jid='bob@localhost'/>"
                    "<item jid='carol@localhost'/></query>", type_="set"),
     "bad-request", "one item"),
    ("disco-set",
     lambda c: c.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to="localhost",
                    type_="set"),
     "not-allowed", "get only"),
    ("time-set",
     lambda c: c.iq("<time xmlns='urn:xmpp:time'/>", to="localhost", type_="set"),
     "not-allowed", "get only"),
    ("others-vcard",
     lambda c: c.iq("<vCard xmlns='vcard-temp'><FN>x</FN></vCard>", to="bob@localhost",
                    type_="set"),
     "forbidden", "own"),
    ("others-private-storage",
     lambda c: c.iq("<query xmlns='jabber:iq:private'><x xmlns='urn:x'/></query>",
                    to="bob@localhost"),
     "forbidden", "own"),
    ("ping-other-account",
     lambda c: c.iq("<ping xmlns='urn:xmpp:ping'/>", to="bob@localhost"),
     "service-unavailable", "unavailable"),
    ("reserved-private-namespace",
     lambda c: c.iq("<query xmlns='jabber:iq:private'><x xmlns='jabber:x:y'/></query>"),
     "not-acceptable", "reserved"),
    ("remove-missing-roster-item",
     lambda c: c.iq("<query xmlns='jabber:iq:roster'><item jid='nobody@localhost' "
                    "subscription='remove'/></query>", type_="set"),
     "item-not-found", "no such"),
    ("groupchat-to-account",
     lambda c: _error_reply(c, "<message to='bob@localhost' type='groupchat' id='e1'>"
                               "<body>hello</body></message>", "message"),
     "service-unavailable", "chat rooms"),
    ("pep-subscribe",
     lambda c: c.iq(f"<pubsub xmlns='{PUBSUB}'><subscribe node='x' jid='alice@localhost'/>"
                    f"</pubsub>", to="bob@localhost", type_="set"),
     "feature-not-implemented", ""),
    ("last-activity-of-a-stranger",
     lambda c: c.iq("<query xmlns='jabber:iq:last'/>", to="bob@localhost"),
     "forbidden", ""),
    ("iq-without-payload",
     lambda c: c.iq("", to="localhost"),
     "bad-request", "payload"),
]


@pytest.mark.parametrize("provoke,condition,words", [c[1:] for c in STANZA_CASES],
                         ids=[c[0] for c in STANZA_CASES])
def test_stanza_errors_have_a_text(server, users, provoke, condition, words):
    c = RawClient(server.port)
    c.login("alice", users["alice"])
    reply = provoke(c)
    assert reply.get("type") == "error", to_str(reply)
    assert stanza_error_condition(reply) == condition, to_str(reply)
    text = error_text(reply)
    assert text.strip(), to_str(reply)
    assert words in text, to_str(reply)
    c.close()


def _header(c, **kw):
    c.open_stream(features=False, **kw)


def _raw_header(c, header):
    c.send(header)


def _after_tls(c, data):
    c.negotiate_tls()
    c.send(data)


def _after_login(users, data):
    def run(c):
        c.login("alice", users["alice"])
        c.send(data)
    return run


STREAM_CASES = [
    ("invalid-namespace", lambda c, u: _raw_header(
        c, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
           "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"),
     "invalid-namespace", "jabber:client"),
    ("host-unknown", lambda c, u: _header(c, to="not-served.example"), "host-unknown", "domain"),
    ("improper-addressing", lambda c, u: _header(c, to=None), "improper-addressing", "'to'"),
    ("unsupported-version", lambda c, u: _header(c, version="0.9"), "unsupported-version",
     "1.0"),
    ("not-authorized", lambda c, u: _after_tls(c, "<message to='bob@localhost'><body>x</body>"
                                                  "</message>"),
     "not-authorized", "authenticate"),
    ("plaintext-before-starttls", lambda c, u: (c.open_stream(), c.send(
        "<message to='bob@localhost'><body>x</body></message>")),
     "policy-violation", "STARTTLS"),
    ("not-well-formed", lambda c, u: _after_login(u, "<message><body></message>")(c),
     "not-well-formed", ""),
    ("restricted-xml", lambda c, u: _after_login(u, "<!-- a comment -->")(c), "restricted-xml",
     "comment"),
    ("invalid-from", lambda c, u: _after_login(u, "<message from='bob@localhost/x' "
                                                  "to='carol@localhost'/>")(c),
     "invalid-from", "from"),
    ("unsupported-stanza-type", lambda c, u: _after_login(u, "<foo xmlns='urn:x'/>")(c),
     "unsupported-stanza-type", "foo"),
]


@pytest.mark.parametrize("provoke,condition,words", [c[1:] for c in STREAM_CASES],
                         ids=[c[0] for c in STREAM_CASES])
def test_stream_errors_have_a_text(server, users, provoke, condition, words):
    c = RawClient(server.port)
    provoke(c, users)
    cond, text = c.stream_error()
    assert cond == condition
    assert text.strip(), f"<{cond}/> without a text"
    assert words in text, text


@pytest.mark.corvid(config={"limits": {"auth_timeout_s": 1}})
def test_timeout_stream_error_has_a_text(server):
    c = RawClient(server.port)
    c.open_stream()
    cond, text = c.stream_error(timeout=10)
    assert cond == "connection-timeout"
    assert "too long" in text


NBXMPP_SCRIPT = r'''
import json, sys
import gi
gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
from gi.repository import GLib
from nbxmpp.client import Client
from nbxmpp.const import ConnectionProtocol, ConnectionType
from nbxmpp.protocol import JID

port, jid_text, password, room = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
jid = JID.from_string(jid_text)
loop = GLib.MainLoop()
client = Client()
client.set_domain(jid.domain)
client.set_username(jid.localpart)
client.set_resource(jid.resource)
client.set_password(password)
client.set_ignore_tls_errors(True)
client.set_sm_disabled(True)
client.set_connection_types([ConnectionType.START_TLS])
client.set_custom_host(f"127.0.0.1:{port}", ConnectionProtocol.TCP, ConnectionType.START_TLS)

# What Gajim does before joining a room: disco#info on it. The error's text is what Gajim shows.
def on_info(task):
    try:
        task.finish()
        print(json.dumps({"result": "no error"}), flush=True)
    except Exception as e:
        print(json.dumps({"condition": e.condition, "text": e.get_text()}), flush=True)
    client.disconnect()

client.subscribe("connected", lambda *_: client.get_module("Discovery").disco_info(
    JID.from_string(room)).add_done_callback(on_info))
client.subscribe("disconnected", lambda *_: loop.quit())
client.subscribe("connection-failed", lambda *_: loop.quit())
GLib.timeout_add(30000, lambda: loop.quit() or False)
client.connect()
loop.run()
'''


def test_nbxmpp_reads_the_text_of_an_unreachable_room(server, users):
    r = subprocess.run([SYSTEM_PYTHON, "-c", NBXMPP_SCRIPT, str(server.port),
                        "alice@localhost/gajim", users["alice"], "room@conference.nowhere.example"],
                       capture_output=True, text=True, timeout=40)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert lines, r.stderr[-3000:]
    assert lines[-1]["condition"] == "remote-server-not-found", lines
    assert "conference.nowhere.example" in lines[-1]["text"], lines
