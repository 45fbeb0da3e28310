"""A Gajim-style client (nbxmpp, Gajim's library) through a whole subscription handshake with a
raw client: versioned roster request, roster pushes, the request, approval both ways, presence.

The nbxmpp side runs as a subprocess (GLib brings its own loop); its script is below."""

import json
import subprocess

from im_support import PRESENCE, connect, to_str

SYSTEM_PYTHON = "/usr/bin/python3"  # the one with nbxmpp and GObject introspection

BOB_SCRIPT = r'''
import json, sys
import gi
gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
from gi.repository import GLib
from nbxmpp.client import Client
from nbxmpp.const import ConnectionProtocol, ConnectionType
from nbxmpp.namespaces import Namespace
from nbxmpp.protocol import JID, Presence
from nbxmpp.structs import StanzaHandler

port, jid_text, password, peer = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def emit(**kw):
    print(json.dumps(kw), flush=True)

jid = JID.from_string(jid_text)
loop = GLib.MainLoop()
state = {"rc": 1, "approved_peer": False, "done": False}
client = Client()
client.set_domain(jid.domain)
client.set_username(jid.localpart)
client.set_resource(jid.resource)
client.set_password(password)
client.set_ignore_tls_errors(True)
client.set_sm_disabled(True)
client.set_connection_types([ConnectionType.START_TLS])
client.set_custom_host(f"127.0.0.1:{port}", ConnectionProtocol.TCP, ConnectionType.START_TLS)

def on_roster(task):
    try:
        data = task.finish()
    except Exception as e:
        emit(event="roster-error", error=str(e))
        loop.quit()
        return
    emit(event="roster", version=data.version, items=[str(i.jid) for i in (data.items or [])])
    client.send_stanza(Presence())

def on_connected(_client, _signal):
    emit(event="connected", jid=str(client.get_bound_jid()))
    client.get_module("Roster").request_roster().add_done_callback(on_roster)

def on_presence(_client, stanza, _props):
    typ = stanza.getType() or "available"
    frm = stanza.getFrom()
    emit(event="presence", type=typ, frm=str(frm))
    if typ == "subscribe" and str(frm) == peer:
        client.send_stanza(Presence(to=peer, typ="subscribed"))
        client.send_stanza(Presence(to=peer, typ="subscribe"))
    if typ == "available" and frm.bare == peer and not state["done"]:
        state["done"] = True
        state["rc"] = 0
        GLib.timeout_add(300, lambda: client.disconnect() and False)

def on_push(_client, _stanza, props):
    if props.roster is not None:
        item = props.roster.item
        emit(event="push", jid=str(item.jid), subscription=item.subscription, ask=item.ask,
             version=props.roster.version)

def on_gone(_client, _signal):
    loop.quit()

client.subscribe("connected", on_connected)
client.subscribe("disconnected", on_gone)
client.subscribe("connection-failed", on_gone)
client.register_handler(StanzaHandler(name="presence", callback=on_presence))
client.register_handler(StanzaHandler(name="iq", callback=on_push, typ="set", priority=20,
                                      ns=Namespace.ROSTER))
GLib.timeout_add(30000, lambda: loop.quit() or False)
client.connect()
loop.run()
sys.exit(state["rc"])
'''


def test_subscription_handshake_with_nbxmpp(server, users):
    bob = subprocess.Popen([SYSTEM_PYTHON, "-c", BOB_SCRIPT, str(server.port),
                            "bob@localhost/gajim", users["bob"], "alice@localhost"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = []
    try:
        # Wait until bob has his (versioned) roster: he is online, about to send presence.
        for line in bob.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] in ("roster", "roster-error"):
                break
        assert events[-1]["event"] == "roster", events
        assert events[-1]["version"], "nbxmpp uses roster versioning when it is announced"

        alice = connect(server, "alice", users["alice"], "a")
        alice.presence("bob@localhost", "subscribe")
        alice.wait_presence("bob@localhost", "subscribed", timeout=20)
        alice.wait_presence("bob@localhost/gajim")
        alice.wait_presence("bob@localhost", "subscribe")
        alice.presence("bob@localhost", "subscribed")
        alice.push("bob@localhost", subscription="both")
        out, err = bob.communicate(timeout=30)
    except BaseException:
        bob.kill()
        out, err = bob.communicate()
        print("nbxmpp stderr:", err[-3000:])
        raise
    events += [json.loads(line) for line in out.splitlines() if line.strip()]
    assert bob.returncode == 0, f"{events}\n{err[-3000:]}"
    pushes = [e for e in events if e["event"] == "push" and e["jid"] == "alice@localhost"]
    assert [p["subscription"] for p in pushes][-1] == "both", pushes
    assert any(p["ask"] == "subscribe" for p in pushes), pushes
    assert all(p["version"] for p in pushes), "pushes carry the roster version"
    presences = [e for e in events if e["event"] == "presence"]
    assert {"type": "subscribe", "frm": "alice@localhost"} in \
        [{k: p[k] for k in ("type", "frm")} for p in presences], presences
    assert any(p["frm"] == "alice@localhost/a" and p["type"] == "available" for p in presences)
    items = alice.roster_items()
    assert items["bob@localhost"].get("subscription") == "both", to_str(items["bob@localhost"])
    assert not alice.got(lambda e: e.tag == PRESENCE and e.get("type") == "error")
    alice.close()
