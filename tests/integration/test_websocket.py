"""XMPP over WebSocket (RFC 7395) at /xmpp-websocket and its discovery (XEP-0156 host-meta): a
real web client library (@xmpp/client, run by node) talks with slixmpp on TCP through corvid, and
raw WebSocket frames check the handshake, the framing and the limits byte by byte."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from slix import login, run
from ws_raw import BINARY, NS_FRAMING, TEXT, RawWebSocket, open_element
from im_support import connect
from test_sm import resume
from xmpp_raw import NS_BIND, NS_CLIENT, NS_SASL, NS_STREAM, NS_STREAMS_ERR

NS_SM = "urn:xmpp:sm:3"

WEB = Path(__file__).parent / "web"
WS_CONFIG = {"http_listeners": ["http", "https"]}


def node_client() -> list[str]:
    """The command that runs the @xmpp/client script, or a failure saying what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: install Debian's nodejs (bash scripts/deps.sh)")
    if not (WEB / "node_modules" / "@xmpp" / "client").is_dir():
        pytest.fail(f"@xmpp/client is missing: run bash scripts/deps.sh (npm ci in {WEB})")
    return [node, str(WEB / "xmpp_ws_client.mjs")]


def stream_error(texts: list[str]) -> str | None:
    for t in texts:
        el = ET.fromstring(t)
        if el.tag == f"{{{NS_STREAM}}}error":
            return next(c.tag.split("}")[1] for c in el if c.tag.startswith(f"{{{NS_STREAMS_ERR}}}")
                        and not c.tag.endswith("}text"))
    return None


def http_get(port: int, path: str, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


# --- a real client library ---

@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_xmpp_js_over_websocket_exchanges_messages_with_slixmpp_on_tcp(server_factory, scheme):
    command = node_client()
    server = server_factory(config=WS_CONFIG, with_users=True)
    port = server.http_ports["http" if scheme == "ws" else "https"]
    service = f"{scheme}://127.0.0.1:{port}/xmpp-websocket"

    async def scenario():
        bob = await login(server.port, "bob@localhost", "bob-secret")
        env = {"PATH": "/usr/bin:/bin", "NODE_TLS_REJECT_UNAUTHORIZED": "0"}
        proc = await asyncio.create_subprocess_exec(
            *command, service, "alice", "alice-secret", "bob@localhost",
            "hello from the web", "hello from tcp",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        events = []
        try:
            while True:
                line = await asyncio.wait_for(proc.stdout.readline(), 25)
                if not line:
                    break
                events.append(json.loads(line))
                if events[-1]["event"] == "online":
                    assert events[-1]["jid"].startswith("alice@localhost/")
                if events[-1]["event"] == "sent":
                    msg = await bob.next_message(body="hello from the web")
                    assert msg["from"].bare == "alice@localhost"
                    assert msg["from"].resource  # a full JID: the WebSocket session is bound
                    bob.send_message(mto=msg["from"], mbody="hello from tcp", mtype="chat")
            code = await asyncio.wait_for(proc.wait(), 10)
        finally:
            if proc.returncode is None:
                proc.kill()
            await bob.close()
        stderr = (await proc.stderr.read()).decode()
        assert code == 0, f"xmpp.js exited {code}: {events} {stderr}"
        received = [e for e in events if e["event"] == "message"]
        assert received and received[-1]["body"] == "hello from tcp"
        assert received[-1]["from"].startswith("bob@localhost")

    run(scenario())
    # The session went through the same SASL and binding as TCP, then ended cleanly.
    log = server.log_of_this_run()
    assert "authenticated as alice@localhost" in log


# --- the handshake ---

def test_handshake_answers_101_with_the_xmpp_subprotocol(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = RawWebSocket(server.http_ports["http"])
    status, headers = ws.handshake(protocols="chat, xmpp")
    assert status == 101
    assert headers["sec-websocket-accept"] == ws.expected_accept()
    assert headers["sec-websocket-protocol"] == "xmpp"
    assert headers["upgrade"].lower() == "websocket"
    ws.close()


def test_handshake_without_the_xmpp_subprotocol_is_refused(server_factory):
    server = server_factory(config=WS_CONFIG)
    for protocols in (None, "chat"):
        ws = RawWebSocket(server.http_ports["http"])
        status, headers = ws.handshake(protocols=protocols)
        assert status == 400, protocols
        assert "xmpp subprotocol" in headers["body"]
        ws.close()


def test_bad_version_key_and_plain_get_are_refused(server_factory):
    server = server_factory(config=WS_CONFIG)
    port = server.http_ports["http"]
    ws = RawWebSocket(port)
    status, headers = ws.handshake(version="8")
    assert status == 426 and headers["sec-websocket-version"] == "13"
    ws.close()
    ws = RawWebSocket(port)
    status, headers = ws.handshake(key="c2hvcnQ=")
    assert status == 400 and "Sec-WebSocket-Key" in headers["body"]
    ws.close()
    status, headers, body = http_get(port, "/xmpp-websocket")
    assert status == 426 and headers["upgrade"] == "websocket"


@pytest.mark.corvid(config={**WS_CONFIG, "http": {"websocket_origins": ["https://chat.example"]}})
def test_origin_is_checked_against_the_configured_list(server):
    port = server.http_ports["http"]
    ws = RawWebSocket(port)
    status, headers = ws.handshake(origin="https://evil.example")
    assert status == 403 and "origin" in headers["body"]
    ws.close()
    ws = RawWebSocket(port)
    assert ws.handshake(origin="https://chat.example")[0] == 101
    ws.close()
    # Clients that are not browsers send no Origin: not restricted.
    ws = RawWebSocket(port)
    assert ws.handshake()[0] == 101
    ws.close()


@pytest.mark.corvid(config={**WS_CONFIG, "http": {"websocket": False}})
def test_websocket_can_be_switched_off(server):
    status, _, body = http_get(server.http_ports["http"], "/xmpp-websocket")
    assert status == 404


# --- framing ---

def opened(server) -> RawWebSocket:
    ws = RawWebSocket(server.http_ports["http"])
    assert ws.handshake()[0] == 101
    ws.send_text(open_element())
    answer = ws.recv_element()
    assert answer.tag == f"{{{NS_FRAMING}}}open"
    assert answer.get("from") == "localhost" and answer.get("version") == "1.0"
    return ws


def test_open_gets_open_and_features_each_in_its_own_message(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = opened(server)
    text = ws.recv_text()
    # Each message stands alone: the stream prefix is declared in it.
    assert text.startswith("<stream:features xmlns:stream='http://etherx.jabber.org/streams'")
    features = ET.fromstring(text)
    mechanisms = features.find(f"{{{NS_SASL}}}mechanisms")
    # From loopback (a trusted proxy) the WebSocket counts as encrypted: SASL, no STARTTLS.
    assert mechanisms is not None
    names = [m.text for m in mechanisms]
    assert "PLAIN" in names and not any(n.endswith("-PLUS") for n in names)
    assert features.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls") is None
    ws.send_text(f"<close xmlns='{NS_FRAMING}'/>")
    texts, code, _ = ws.recv_until_close()
    assert [ET.fromstring(t).tag for t in texts] == [f"{{{NS_FRAMING}}}close"]
    assert code == 1000
    ws.send_close()
    assert ws.at_eof()


@pytest.mark.corvid(config={**WS_CONFIG, "http": {"trust_loopback_proxy": False}})
def test_plain_ws_not_from_a_trusted_proxy_offers_no_sasl(server):
    ws = opened(server)
    features = ET.fromstring(ws.recv_text())
    assert features.find(f"{{{NS_SASL}}}mechanisms") is None


def test_two_elements_in_one_message_is_a_stream_error(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = opened(server)
    ws.recv_text()  # features
    ws.send_text("<iq xmlns='jabber:client' type='get' id='a'/><iq xmlns='jabber:client' "
                 "type='get' id='b'/>")
    texts, code, _ = ws.recv_until_close()
    assert stream_error(texts) == "not-well-formed"
    assert ET.fromstring(texts[-1]).tag == f"{{{NS_FRAMING}}}close"
    assert code == 1000


def test_a_stanza_before_open_is_a_stream_error(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = RawWebSocket(server.http_ports["http"])
    assert ws.handshake()[0] == 101
    ws.send_text("<message xmlns='jabber:client' to='bob@localhost'><body>x</body></message>")
    texts, code, _ = ws.recv_until_close()
    assert stream_error(texts) == "bad-format"


def test_binary_message_closes_with_unsupported_data(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = opened(server)
    ws.recv_text()
    ws.send_frame(BINARY, open_element().encode())
    texts, code, reason = ws.recv_until_close()
    assert code == 1003 and "text" in reason


def test_oversize_frame_is_refused_at_its_header(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = opened(server)
    ws.recv_text()
    # Announces 1 GiB and sends a few bytes: refused before anything more is read (the
    # pre-authentication bound is limits.max_stanza_bytes_preauth, 16 KiB).
    ws.send_frame(TEXT, b"<message xmlns='jabber:client'>", announced=1 << 30)
    texts, code, _ = ws.recv_until_close()
    assert code == 1009
    assert ws.at_eof()


def test_fragmented_message_over_the_limit_is_refused(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = opened(server)
    ws.recv_text()
    chunk = b"<message xmlns='jabber:client'><body>" + b"a" * 8000
    ws.send_frame(TEXT, chunk, fin=False)
    ws.send_frame(0x0, b"a" * 9000, fin=False)  # continuation: 17 KB in all
    texts, code, _ = ws.recv_until_close()
    assert code == 1009


def test_unmasked_client_frame_is_a_protocol_error(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = RawWebSocket(server.http_ports["http"])
    assert ws.handshake()[0] == 101
    ws.send_frame(TEXT, open_element().encode(), mask=False)
    texts, code, _ = ws.recv_until_close()
    assert code == 1002 and texts == []


def test_restricted_xml_in_a_message_is_refused(server_factory):
    server = server_factory(config=WS_CONFIG)
    ws = opened(server)
    ws.recv_text()
    ws.send_text("<iq xmlns='jabber:client' type='get' id='c'><!-- hidden --></iq>")
    texts, code, _ = ws.recv_until_close()
    assert stream_error(texts) == "restricted-xml"


# --- the same session as TCP: binding and stream management (XEP-0198) ---

def ws_login(server, user: str, password: str, resource: str) -> tuple[RawWebSocket, str]:
    """A raw WebSocket client authenticated with PLAIN and bound; returns it and its full JID."""
    ws = opened(server)
    ws.recv_text()  # features
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    ws.send_text(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
    assert ws.recv_element().tag == f"{{{NS_SASL}}}success"
    # RFC 7395 §3.5: a new <open/> after SASL, answered with <open/> and the bound features.
    ws.send_text(open_element())
    assert ws.recv_element().tag == f"{{{NS_FRAMING}}}open"
    features = ws.recv_element()
    assert features.find(f"{{{NS_BIND}}}bind") is not None
    assert features.find(f"{{{NS_SM}}}sm") is not None
    ws.send_text(f"<iq xmlns='{NS_CLIENT}' type='set' id='b'><bind xmlns='{NS_BIND}'>"
                 f"<resource>{resource}</resource></bind></iq>")
    result = ws.recv_element()
    assert result.get("type") == "result", ET.tostring(result)
    return ws, result.find(f"{{{NS_BIND}}}bind").findtext(f"{{{NS_BIND}}}jid")


def ws_take(ws: RawWebSocket, tag: str) -> ET.Element:
    """The next element named `tag`, skipping others (the server's <r/>, presence)."""
    while True:
        el = ws.recv_element()
        if el.tag == tag:
            return el


def test_a_session_bound_over_websocket_is_resumed_over_tcp_and_websocket(server_factory):
    server = server_factory(config=WS_CONFIG, with_users=True)
    bob = connect(server, "bob", "bob-secret", "b")
    ws, jid = ws_login(server, "alice", "alice-secret", "web")
    assert jid == "alice@localhost/web"
    ws.send_text(f"<enable xmlns='{NS_SM}' resume='true'/>")
    enabled = ws_take(ws, f"{{{NS_SM}}}enabled")
    previd = enabled.get("id")
    assert enabled.get("resume") == "true" and previd

    bob.message(jid, "m1")
    assert ws_take(ws, f"{{{NS_CLIENT}}}message").findtext(f"{{{NS_CLIENT}}}body") == "m1"
    ws.close()  # cut: no <close/>, no close frame
    server.wait_log(r"c2s session \d+ \(alice@localhost/web\): detached")
    bob.message(jid, "m2")

    # Resumed on a TCP stream: m1 was never acknowledged, so both come again.
    alice, resumed = resume(server, "alice", "alice-secret", previd, 0)
    assert resumed.tag == f"{{{NS_SM}}}resumed", ET.tostring(resumed)
    got = [alice.take(lambda e: e.tag == f"{{{NS_CLIENT}}}message") for _ in range(2)]
    assert [m.findtext(f"{{{NS_CLIENT}}}body") for m in got] == ["m1", "m2"]
    alice.send(f"<a xmlns='{NS_SM}' h='2'/>")
    alice.sock.close()
    server.wait_log(r"c2s session \d+ \(alice@localhost/web\): detached", timeout=10)

    # And back on a WebSocket, with nothing left to send again.
    bob.message(jid, "m3")
    ws = opened(server)
    ws.recv_text()
    token = base64.b64encode(b"\0alice\0alice-secret").decode()
    ws.send_text(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
    assert ws.recv_element().tag == f"{{{NS_SASL}}}success"
    ws.send_text(open_element())
    ws.recv_element()
    ws.recv_element()
    ws.send_text(f"<resume xmlns='{NS_SM}' previd='{previd}' h='2'/>")
    assert ws_take(ws, f"{{{NS_SM}}}resumed").get("previd") == previd
    assert ws_take(ws, f"{{{NS_CLIENT}}}message").findtext(f"{{{NS_CLIENT}}}body") == "m3"
    ws.close()


# --- discovery (XEP-0156) ---

def test_host_meta_names_the_websocket_endpoint(server_factory):
    server = server_factory(config=WS_CONFIG)
    port = server.http_ports["http"]
    status, headers, body = http_get(port, "/.well-known/host-meta",
                                     {"Host": f"chat.localhost:{port}"})
    assert status == 200
    assert headers["content-type"].startswith("application/xrd+xml")
    assert headers["access-control-allow-origin"] == "*"
    xrd = ET.fromstring(body)
    links = {l.get("rel"): l.get("href") for l in xrd}
    assert links == {"urn:xmpp:alt-connections:websocket":
                     f"ws://chat.localhost:{port}/xmpp-websocket"}
    status, headers, body = http_get(port, "/.well-known/host-meta.json",
                                     {"Host": f"chat.localhost:{port}"})
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"links": [{"rel": "urn:xmpp:alt-connections:websocket",
                                           "href": f"ws://chat.localhost:{port}/xmpp-websocket"}]}
    # Behind a TLS-terminating proxy on this machine.
    status, _, body = http_get(port, "/.well-known/host-meta.json",
                               {"Host": "chat.example", "X-Forwarded-Proto": "https"})
    assert json.loads(body)["links"][0]["href"] == "wss://chat.example/xmpp-websocket"


@pytest.mark.corvid(config={**WS_CONFIG, "http": {"public_url": "https://chat.example/xmpp/"}})
def test_host_meta_uses_the_public_url(server):
    status, _, body = http_get(server.http_ports["http"], "/.well-known/host-meta.json")
    assert status == 200
    assert json.loads(body)["links"] == [{"rel": "urn:xmpp:alt-connections:websocket",
                                          "href": "wss://chat.example/xmpp/xmpp-websocket"}]


@pytest.mark.corvid(config={**WS_CONFIG, "http": {"websocket": False}})
def test_host_meta_without_websocket_names_nothing(server):
    status, _, body = http_get(server.http_ports["http"], "/.well-known/host-meta.json")
    assert status == 200 and json.loads(body) == {"links": []}
