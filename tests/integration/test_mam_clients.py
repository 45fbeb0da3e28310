"""The message archive (XEP-0313) as real clients use it: slixmpp's xep_0313 plugin (paging with
RSM, form fields, metadata) and nbxmpp, Gajim's library (preferences, paged queries the way
Gajim syncs, stanza ids on live messages).

The nbxmpp side runs as a subprocess (GLib brings its own loop); its script is below."""

import asyncio
import json
import subprocess

import slixmpp

import slix
from im_support import connect, is_message

SYSTEM_PYTHON = "/usr/bin/python3"  # the one with nbxmpp and GObject introspection

GAJIM_SCRIPT = r'''
import datetime, json, sys
import gi
gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
from gi.repository import GLib
from nbxmpp.client import Client
from nbxmpp.const import ConnectionProtocol, ConnectionType
from nbxmpp.protocol import JID
from nbxmpp.structs import StanzaHandler

port, jid_text, password = sys.argv[1], sys.argv[2], sys.argv[3]

def emit(**kw):
    print(json.dumps(kw), flush=True)

jid = JID.from_string(jid_text)
loop = GLib.MainLoop()
state = {"rc": 1, "query": 0}
client = Client()
client.set_domain(jid.domain)
client.set_username(jid.localpart)
client.set_resource(jid.resource)
client.set_password(password)
client.set_ignore_tls_errors(True)
client.set_sm_disabled(True)
client.set_connection_types([ConnectionType.START_TLS])
client.set_custom_host(f"127.0.0.1:{port}", ConnectionProtocol.TCP, ConnectionType.START_TLS)
mam = client.get_module("MAM")

def finish(rc):
    state["rc"] = rc
    client.disconnect()

def on_message(_client, stanza, props):
    if props.is_mam_message:
        emit(event="mam", id=props.mam.id, query=props.mam.query_id, body=props.body,
             jid=str(props.jid), ts=str(props.mam.timestamp))

def query(after):
    state["query"] += 1
    # As Gajim syncs the account's archive: from a start time, pages of max_ after the last id.
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    mam.make_query(jid.bare, queryid=f"g{state['query']}", start=start, after=after,
                   max_=2).add_done_callback(on_page)

def on_page(task):
    try:
        data = task.finish()
    except Exception as e:
        emit(event="error", error=str(e))
        finish(1)
        return
    emit(event="page", complete=data.complete, first=data.rsm.first, last=data.rsm.last)
    if data.complete:
        finish(0)
    else:
        query(data.rsm.last)

def on_set_prefs(task):
    try:
        task.finish()
    except Exception as e:
        emit(event="error", error=str(e))
        finish(1)
        return
    mam.request_preferences().add_done_callback(on_prefs_again)

def on_prefs_again(task):
    data = task.finish()
    emit(event="prefs", default=data.default, always=[str(j) for j in data.always],
         never=[str(j) for j in data.never])
    query(None)

def on_prefs(task):
    try:
        data = task.finish()
    except Exception as e:
        emit(event="error", error=str(e))
        finish(1)
        return
    emit(event="prefs", default=data.default, always=[str(j) for j in data.always],
         never=[str(j) for j in data.never])
    mam.set_preferences("always", [], [JID.from_string("spam@localhost")]
                        ).add_done_callback(on_set_prefs)

def on_connected(_client, _signal):
    mam.request_preferences().add_done_callback(on_prefs)

client.subscribe("connected", on_connected)
client.subscribe("disconnected", lambda *a: loop.quit())
client.subscribe("connection-failed", lambda *a: loop.quit())
client.register_handler(StanzaHandler(name="message", callback=on_message, priority=50))
GLib.timeout_add(30000, lambda: loop.quit() or False)
client.connect()
loop.run()
sys.exit(state["rc"])
'''


def test_gajim_syncs_the_archive_with_nbxmpp(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    sent = [f"line {i}" for i in range(5)]
    for body in sent:
        alice.message("bob@localhost", body)
    stamped = [bob.take(is_message(b)) for b in sent]
    carol = connect(server, "carol", users["carol"], "c")
    carol.message("bob@localhost", "not from alice")
    bob.take(is_message("not from alice"))

    gajim = subprocess.run([SYSTEM_PYTHON, "-c", GAJIM_SCRIPT, str(server.port),
                            "bob@localhost/gajim", users["bob"]],
                           capture_output=True, text=True, timeout=60)
    events = [json.loads(line) for line in gajim.stdout.splitlines() if line.strip()]
    assert gajim.returncode == 0, f"{events}\n{gajim.stderr[-3000:]}"
    prefs = [e for e in events if e["event"] == "prefs"]
    assert prefs[0] == {"event": "prefs", "default": "always", "always": [], "never": []}
    assert prefs[1]["never"] == ["spam@localhost"], prefs
    results = [e for e in events if e["event"] == "mam"]
    assert [r["body"] for r in results] == sent + ["not from alice"], events
    assert [r["jid"] for r in results] == ["alice@localhost/a"] * 5 + ["carol@localhost/c"]
    # The ids Gajim pages with are the stanza-ids the live copies carried.
    sid = "{urn:xmpp:sid:0}stanza-id"
    assert [r["id"] for r in results[:5]] == [m.find(sid).get("id") for m in stamped]
    pages = [e for e in events if e["event"] == "page"]
    assert [p["complete"] for p in pages] == [False, False, True], pages
    assert [(p["first"], p["last"]) for p in pages[:2]] == \
        [(results[0]["id"], results[1]["id"]), (results[2]["id"], results[3]["id"])]


def test_slixmpp_mam_plugin(server, users):
    async def scenario():
        alice = await slix.login(server.port, "alice@localhost/slix", users["alice"])
        bob = await slix.login(server.port, "bob@localhost/slix", users["bob"])
        for c in (alice, bob):
            for plugin in ("xep_0313", "xep_0359", "xep_0030"):
                c.register_plugin(plugin)
        try:
            info = await bob.plugin["xep_0030"].get_info(jid="bob@localhost")
            features = info["disco_info"]["features"]
            assert "urn:xmpp:mam:2" in features and "urn:xmpp:sid:0" in features, features

            ids = []
            for i in range(7):
                alice.send_message(mto="bob@localhost", mbody=f"s{i}", mtype="chat")
                msg = await bob.next_message(body=f"s{i}")
                ids.append(msg["stanza_id"]["id"])
                assert msg["stanza_id"]["by"] == "bob@localhost"
            assert all(ids) and len(set(ids)) == 7

            got = []
            async for m in bob.plugin["xep_0313"].iterate(
                    with_jid=slixmpp.JID("alice@localhost"), rsm={"max": 3}):
                got.append((m["mam_result"]["id"],
                            m["mam_result"]["forwarded"]["stanza"]["body"]))
            assert got == [(ids[i], f"s{i}") for i in range(7)], got
            # Newest first, as a client scrolling back does.
            back = []
            async for m in bob.plugin["xep_0313"].iterate(
                    with_jid=slixmpp.JID("alice@localhost"), reverse=True, rsm={"max": 3}):
                back.append(m["mam_result"]["forwarded"]["stanza"]["body"])
            assert back == [f"s{i}" for i in reversed(range(7))], back

            # alice's archive holds her side.
            mine = [m["mam_result"]["forwarded"]["stanza"]["body"]
                    async for m in alice.plugin["xep_0313"].iterate(rsm={"max": 50})]
            assert mine == [f"s{i}" for i in range(7)]

            form = await bob.plugin["xep_0313"].get_fields()
            assert {"with", "start", "end", "before-id", "after-id", "ids",
                    "{urn:xmpp:fulltext:0}fulltext"} <= set(form.get_fields().keys())
            meta = await bob.plugin["xep_0313"].get_archive_metadata()
            assert meta["mam_metadata"]["start"]["id"] == ids[0]
            assert meta["mam_metadata"]["end"]["id"] == ids[-1]
        finally:
            await alice.close()
            await bob.close()

    slix.run(scenario())
