"""Where each feature is advertised: the server's disco#info, the account's (bare JID) disco#info,
or the stream features, each where its specification puts it and where real clients look for it
(Gajim/nbxmpp, Conversations and Profanity ask the server for blocking, XEP-0191 §3.1; the
account for PEP, XEP-0163 §6.1). Features that are not built appear nowhere."""

import json
import subprocess

import pytest

import slix
from test_features_support import (NS_CAPS, NS_DISCO_INFO, NS_DISCO_ITEMS, disco_info, features,
                                   identities, login_features, slix_login)
from xmpp_raw import RawClient, q, to_str

SYSTEM_PYTHON = "/usr/bin/python3"  # the one with nbxmpp and GObject introspection
PUBSUB = "http://jabber.org/protocol/pubsub"

HOST, ACCOUNT = "server", "account"

# (feature, where it must be advertised, the specification that says so). Everything not listed
# for a place must be absent from it.
PLACEMENT = [
    (NS_DISCO_INFO, {HOST, ACCOUNT}, "XEP-0030 §3.1"),
    (NS_DISCO_ITEMS, {HOST, ACCOUNT}, "XEP-0030 §4.1"),
    ("urn:xmpp:ping", {HOST}, "XEP-0199 §8"),
    ("jabber:iq:version", {HOST}, "XEP-0092 §3"),
    ("urn:xmpp:time", {HOST}, "XEP-0202 §4"),
    ("jabber:iq:last", {HOST, ACCOUNT}, "XEP-0012 §3 (account), §4 (server)"),
    ("vcard-temp", {HOST}, "XEP-0054 §6"),
    ("jabber:iq:private", {HOST}, "XEP-0049 (server-side storage)"),
    ("jabber:iq:register", {HOST}, "XEP-0077 §8: password change in-band"),
    ("msgoffline", {HOST}, "XEP-0160 §5"),
    ("urn:xmpp:blocking", {HOST, ACCOUNT}, "XEP-0191 §3.1: clients ask their server"),
    ("jabber:iq:roster", {ACCOUNT}, "RFC 6121 §2 (the account's roster)"),
    (f"{PUBSUB}#publish", {ACCOUNT}, "XEP-0163 §6.1: asked of one's own bare JID"),
    (f"{PUBSUB}#publish-options", {ACCOUNT}, "XEP-0163 §6.1, XEP-0060 §7.1.5"),
    (f"{PUBSUB}#auto-create", {ACCOUNT}, "XEP-0163 §5"),
    (f"{PUBSUB}#filtered-notifications", {ACCOUNT}, "XEP-0163 §5"),
    ("urn:xmpp:extdisco:2", set(),
     "XEP-0215: on the server only with services configured "
     "(test_extdisco.py)"),
    ("urn:xmpp:mam:2", {ACCOUNT}, "XEP-0313 §8: the archive is the account"),
    ("urn:xmpp:mam:2#extended", {ACCOUNT}, "XEP-0313 §8"),
    ("urn:xmpp:sid:0", {ACCOUNT}, "XEP-0359 §4: the entity that stamps the ids"),
    ("urn:xmpp:fulltext:0", {ACCOUNT}, "XEP-0431 §2: the archive that searches"),
    # Not built: advertised nowhere.
    ("urn:xmpp:carbons:2", set(), "XEP-0280: not built"),
    ("urn:xmpp:pep-vcard-conversion:0", set(), "XEP-0398: not built"),
    ("urn:xmpp:bookmarks:1#compat", set(), "XEP-0402 §5.3: not built"),
    ("http://jabber.org/protocol/offline", set(), "XEP-0013: not built"),
    ("jabber:iq:privacy", set(), "XEP-0016: not built"),
    ("http://jabber.org/protocol/commands", set(), "XEP-0050: not built"),
]

# (identity, where it must appear).
IDENTITIES = [
    (("server", "im"), {HOST}),
    (("account", "registered"), {ACCOUNT}),
    (("pubsub", "pep"), {ACCOUNT}),  # XEP-0163 §6.1
]

# Stream features after authentication (element, namespace, specification).
POST_AUTH_FEATURES = [
    ("bind", "urn:ietf:params:xml:ns:xmpp-bind", "RFC 6120 §7"),
    ("ver", "urn:xmpp:features:rosterver", "RFC 6121 §2.6 / XEP-0237"),
    ("sub", "urn:xmpp:features:pre-approval", "RFC 6121 §3.4"),
    ("c", NS_CAPS, "XEP-0115 §6.3"),
    ("sm", "urn:xmpp:sm:3", "XEP-0198 §2"),
]
# Not built, so never offered as stream features.
NEVER_STREAM_FEATURES = [
    ("csi", "urn:xmpp:csi:0"), ("authentication", "urn:xmpp:sasl:2"),
]


def _advertised(server, users):
    """{place: (identities, features)} as a raw client sees them, and the post-auth features."""
    c, stream_features = login_features(server, "alice", users["alice"])
    seen = {}
    for place, jid in ((HOST, "localhost"), (ACCOUNT, "alice@localhost")):
        reply = disco_info(c, jid)
        assert reply.get("type") == "result", to_str(reply)
        query = reply.find(q(NS_DISCO_INFO, "query"))
        seen[place] = ({(i[0], i[1]) for i in identities(query)}, set(features(query)))
    c.close()
    return seen, stream_features


@pytest.mark.corvid(config={"modules": {"register": {"enabled": True}}})
def test_each_feature_where_its_specification_puts_it(server, users):
    seen, stream_features = _advertised(server, users)
    wrong = []
    for feature, places, spec in PLACEMENT:
        for place in (HOST, ACCOUNT):
            if (feature in seen[place][1]) != (place in places):
                wrong.append(f"{feature} {'missing from' if place in places else 'wrongly in'} "
                             f"the {place}'s disco#info ({spec})")
    for identity, places in IDENTITIES:
        for place in (HOST, ACCOUNT):
            if (identity in seen[place][0]) != (place in places):
                wrong.append(f"identity {identity} {'missing from' if place in places else 'in'} "
                             f"the {place}'s disco#info")
    for name, ns, spec in POST_AUTH_FEATURES:
        if stream_features.find(q(ns, name)) is None:
            wrong.append(f"<{name} xmlns='{ns}'/> missing from the stream features ({spec})")
    for name, ns in NEVER_STREAM_FEATURES:
        if stream_features.find(q(ns, name)) is not None:
            wrong.append(f"<{name} xmlns='{ns}'/> offered but not built")
    assert not wrong, "\n".join(wrong)

    # XEP-0077 §4: registration is a stream feature before authentication, when enabled.
    raw = RawClient(server.port)
    pre_auth = raw.negotiate_tls()
    assert pre_auth.find(q("http://jabber.org/features/iq-register", "register")) is not None, \
        to_str(pre_auth)
    raw.close()


NBXMPP_SCRIPT = r'''
import json, sys
import gi
gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
from gi.repository import GLib
from nbxmpp.client import Client
from nbxmpp.const import ConnectionProtocol, ConnectionType
from nbxmpp.namespaces import Namespace
from nbxmpp.protocol import JID

port, jid_text, password, victim = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def emit(**kw):
    print(json.dumps(kw), flush=True)

jid = JID.from_string(jid_text)
loop = GLib.MainLoop()
state = {"rc": 1}
client = Client()
client.set_domain(jid.domain)
client.set_username(jid.localpart)
client.set_resource(jid.resource)
client.set_password(password)
client.set_ignore_tls_errors(True)
client.set_sm_disabled(True)
client.set_connection_types([ConnectionType.START_TLS])
client.set_custom_host(f"127.0.0.1:{port}", ConnectionProtocol.TCP, ConnectionType.START_TLS)

def fail(what, error):
    emit(event="error", what=what, error=repr(error))
    client.disconnect()

# Gajim's order: the server's disco#info decides whether blocking is offered (Gajim enables its
# Blocking module when the server's features have it), the account's whether PEP is.
def on_server_info(task):
    try:
        info = task.finish()
    except Exception as e:
        return fail("server disco#info", e)
    emit(event="server-info", blocking=info.supports(Namespace.BLOCKING),
         vcard=info.supports(Namespace.VCARD), register=info.supports(Namespace.REGISTER),
         ping=info.supports(Namespace.PING))
    client.get_module("Discovery").disco_info(jid.bare).add_done_callback(on_account_info)

def on_account_info(task):
    try:
        info = task.finish()
    except Exception as e:
        return fail("account disco#info", e)
    pep = any(i.category == "pubsub" and i.type == "pep" for i in info.identities)
    emit(event="account-info", pep=pep,
         publish_options=info.supports(Namespace.PUBSUB_PUBLISH_OPTIONS))
    client.get_module("Blocking").block([JID.from_string(victim)]).add_done_callback(on_block)

def on_block(task):
    try:
        task.finish()
    except Exception as e:
        return fail("block", e)
    client.get_module("Blocking").request_blocking_list().add_done_callback(on_list)

def on_list(task):
    try:
        blocked = task.finish()
    except Exception as e:
        return fail("blocklist", e)
    emit(event="blocklist", jids=sorted(str(j) for j in blocked))
    state["rc"] = 0
    client.disconnect()

def on_connected(_client, _signal):
    client.get_module("Discovery").disco_info(jid.domain).add_done_callback(on_server_info)

client.subscribe("connected", on_connected)
client.subscribe("disconnected", lambda *_: loop.quit())
client.subscribe("connection-failed", lambda *_: loop.quit())
GLib.timeout_add(30000, lambda: loop.quit() or False)
client.connect()
loop.run()
sys.exit(state["rc"])
'''


def test_nbxmpp_discovers_blocking_on_the_server_and_pep_on_the_account(server, users):
    """nbxmpp (Gajim's library) asks the server's disco#info, finds urn:xmpp:blocking there, and
    its Blocking module then blocks and reads the list; the account's disco#info has PEP."""
    r = subprocess.run([SYSTEM_PYTHON, "-c", NBXMPP_SCRIPT, str(server.port),
                        "alice@localhost/gajim", users["alice"], "mallory@example.org"],
                       capture_output=True, text=True, timeout=40)
    events = {e["event"]: e for e in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 0, f"{events}\n{r.stderr[-3000:]}"
    assert events["server-info"] == {"event": "server-info", "blocking": True, "vcard": True,
                                     "register": True, "ping": True}, events
    assert events["account-info"] == {"event": "account-info", "pep": True,
                                      "publish_options": True}, events
    assert events["blocklist"]["jids"] == ["mallory@example.org"], events


def test_slixmpp_finds_blocking_in_the_server_disco(server, users):
    async def main():
        c = await slix_login(server.port, "alice@localhost/slix", users["alice"],
                             plugins=["xep_0030", "xep_0191"])
        info = await c["xep_0030"].get_info(jid="localhost")
        assert "urn:xmpp:blocking" in info["disco_info"]["features"]
        await c["xep_0191"].block("mallory@example.org")
        blocked = await c["xep_0191"].get_blocked()
        assert {str(j) for j in blocked["blocklist"]["items"]} == {"mallory@example.org"}
        await c.close()
    slix.run(main())
