"""HTTP file upload (XEP-0363) through corvid's own HTTP listener: slixmpp's xep_0363 plugin
uploads, plain HTTP clients fetch, and the error cases at both ends (slot requests over XMPP, PUT
and GET over HTTP, byte-exact where it matters)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import socket
import ssl
import time
import urllib.parse
from pathlib import Path

import pytest
import slixmpp
from slixmpp.exceptions import IqError

from corvid_harness import psql
from slix import login, run

NS = "urn:xmpp:http:upload:0"


def upload_config(**upload):
    return {"http_listeners": ["http", "https"],
            "modules": {"upload": {"enabled": True,
                                   "url_base": "http://127.0.0.1:{http}/upload/",
                                   **upload}}}


@pytest.fixture
def upload_dir(tmp_path) -> Path:
    d = tmp_path / "upload"
    d.mkdir()
    return d


def start(server_factory, upload_dir, **upload):
    return server_factory(config=upload_config(directory=str(upload_dir), **upload),
                          with_users=True)


async def slot(client, filename: str, size: int, content_type: str | None = "text/plain"):
    iq = client.Iq()
    iq["type"] = "get"
    iq["to"] = "upload.localhost"
    request = slixmpp.xmlstream.ET.Element(f"{{{NS}}}request",
                                           {"filename": filename, "size": str(size)})
    if content_type:
        request.set("content-type", content_type)
    iq.append(request)
    reply = await iq.send(timeout=10)
    xml = reply.xml.find(f"{{{NS}}}slot")
    return xml.find(f"{{{NS}}}put").get("url"), xml.find(f"{{{NS}}}get").get("url")


def request(method: str, url: str, body: bytes = b"", headers: dict | None = None,
            tls: bool = False):
    u = urllib.parse.urlsplit(url)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=10, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    target = u.path + (("?" + u.query) if u.query else "")
    conn.request(method, target, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def test_slixmpp_uploads_and_get_returns_the_same_bytes(server_factory, upload_dir, tmp_path):
    server = start(server_factory, upload_dir)
    payload = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit, all byte values
    source = tmp_path / "holiday photo.png"
    source.write_bytes(payload)

    async def scenario():
        alice = await login(server.port, "alice@localhost", "alice-secret")
        alice.register_plugin("xep_0363")
        # slixmpp 1.8's own discovery (get_info_from_domain) hands asyncio.wait() coroutines,
        # which Python 3.11 refuses; test_disco_lists_the_service_and_its_limit covers discovery.
        alice["xep_0363"].upload_service = "upload.localhost"
        try:
            url = await alice["xep_0363"].upload_file(source, content_type="image/png",
                                                      timeout=10)
        finally:
            await alice.close()
        return url

    url = run(scenario())
    assert url.startswith(f"http://127.0.0.1:{server.http_ports['http']}/upload/")
    assert url.endswith("/holiday%20photo.png")
    status, headers, body = request("GET", url)
    assert status == 200
    assert body == payload
    assert headers["content-type"] == "image/png"
    assert headers["content-length"] == str(len(payload))
    assert headers["content-disposition"].startswith("inline; ")
    assert "filename*=UTF-8''holiday%20photo.png" in headers["content-disposition"]
    assert headers["access-control-allow-origin"] == "*"
    assert headers["x-content-type-options"] == "nosniff"
    # The same file over https, and HEAD without a body.
    https = url.replace(f"http://127.0.0.1:{server.http_ports['http']}",
                        f"https://127.0.0.1:{server.http_ports['https']}")
    status, headers, body = request("GET", https, tls=True)
    assert (status, hashlib.sha256(body).digest()) == (200, hashlib.sha256(payload).digest())
    status, headers, body = request("HEAD", url)
    assert (status, body, headers["content-length"]) == (200, b"", str(len(payload)))
    # Only the URL handed out finds the file.
    assert request("GET", url.replace("holiday%20photo.png", "other.png"))[0] == 404
    # A file the browser would run is offered as a download, never inline.
    assert list(upload_dir.glob("*.part")) == []


def test_disco_lists_the_service_and_its_limit(server_factory, upload_dir):
    server = start(server_factory, upload_dir, max_bytes=5000)

    async def scenario():
        alice = await login(server.port, "alice@localhost", "alice-secret")
        alice.register_plugin("xep_0030")
        try:
            items = await alice["xep_0030"].get_items(jid="localhost", timeout=10)
            info = await alice["xep_0030"].get_info(jid="upload.localhost", timeout=10)
        finally:
            await alice.close()
        return items, info

    items, info = run(scenario())
    assert "upload.localhost" in [i[0] for i in items["disco_items"]["items"]]
    assert ("store", "file", None, "HTTP File Upload") in info["disco_info"]["identities"]
    assert NS in info["disco_info"]["features"]
    form = info.xml.find("{http://jabber.org/protocol/disco#info}query/{jabber:x:data}x")
    fields = {f.get("var"): f.findtext("{jabber:x:data}value") for f in form}
    assert fields == {"FORM_TYPE": NS, "max-file-size": "5000"}


def test_slot_requests_are_checked(server_factory, upload_dir):
    server = start(server_factory, upload_dir, max_bytes=5000, quota_bytes=8000,
                   content_types=["text/*", "image/png"])

    async def scenario():
        alice = await login(server.port, "alice@localhost", "alice-secret")
        bob = await login(server.port, "bob@localhost", "bob-secret")
        errors = {}
        try:
            for name, args in {"too large": ("a.txt", 5001), "type": ("a.exe", 10, "application/x-dosexec"),
                               "no type": ("a.bin", 10, None), "name": ("../x", 10),
                               "size": ("a.txt", 0)}.items():
                try:
                    await slot(alice, *args)
                    errors[name] = None
                except IqError as e:
                    errors[name] = e.iq
            await slot(alice, "one.txt", 5000)
            try:
                await slot(alice, "two.txt", 3001)  # 8001 > 8000
                errors["quota"] = None
            except IqError as e:
                errors["quota"] = e.iq
            await slot(alice, "three.txt", 3000)  # exactly the quota
            await slot(bob, "bobs.png", 5000, "image/png")  # quotas are per account
        finally:
            await alice.close()
            await bob.close()
        return errors

    errors = run(scenario())
    too_large = errors["too large"]
    assert too_large["error"]["condition"] == "not-acceptable"
    assert too_large.xml.find(f"{{jabber:client}}error/{{{NS}}}file-too-large/{{{NS}}}max-file-size").text == "5000"
    for name in ("type", "no type"):
        assert errors[name]["error"]["condition"] == "not-acceptable", name
    assert errors["name"]["error"]["condition"] == "bad-request"
    assert errors["size"]["error"]["condition"] == "bad-request"
    assert errors["quota"]["error"]["condition"] == "resource-constraint"
    assert errors["quota"]["error"]["type"] == "wait"
    assert "8000" in errors["quota"]["error"]["text"]
    for iq in errors.values():
        assert iq["error"]["text"], iq


def test_forged_expired_and_mis_sized_puts_are_refused(server_factory, upload_dir):
    server = start(server_factory, upload_dir)

    async def scenario():
        alice = await login(server.port, "alice@localhost", "alice-secret")
        try:
            return await slot(alice, "note.txt", 5)
        finally:
            await alice.close()

    put, get = run(scenario())
    text = {"Content-Type": "text/plain"}
    # Forged: another size or signature than the one signed.
    assert request("PUT", put.replace("&s=5", "&s=6"), b"hello!", text)[0] == 403
    sig = put.rsplit("sig=", 1)[1]
    forged = put.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert request("PUT", forged, b"hello", text)[0] == 403
    # Another content type than the slot's.
    assert request("PUT", put, b"hello", {"Content-Type": "text/html"})[0] == 403
    # The body must be the slot's size.
    status, _, body = request("PUT", put, b"hell", text)
    assert status == 400 and b"size" in body
    # Chunked: the slot's size must be the Content-Length.
    u = urllib.parse.urlsplit(put)
    chunked = (f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
               "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").encode()
    assert raw(u.port, chunked).startswith(b"HTTP/1.1 411 ")
    # Expired: a correctly signed URL whose time is over (signed here with the server's secret).
    secret = bytes.fromhex(psql(server.dsn, "SELECT encode(value, 'hex') FROM server_secrets "
                                            "WHERE name = 'http-upload'").strip())
    slot_id, name = u.path.split("/")[2:4]
    expires = int(time.time()) - 1
    message = b"\0".join([b"corvid-upload-1", slot_id.encode(),
                          urllib.parse.unquote(name).encode(), b"text/plain", b"5",
                          str(expires).encode()])
    signature = hmac.new(secret, message, hashlib.sha256).hexdigest()
    expired = f"{u.scheme}://{u.netloc}{u.path}?e={expires}&s=5&sig={signature}"
    status, _, body = request("PUT", expired, b"hello", text)
    assert status == 403 and b"expired" in body
    # Nothing of all that was stored.
    assert request("GET", get)[0] == 404
    # The real one works once; a second PUT to the slot is refused.
    assert request("PUT", put, b"hello", text)[0] == 201
    assert request("PUT", put, b"HELLO", text)[0] == 409
    status, headers, body = request("GET", get)
    assert (status, body) == (200, b"hello")
    assert headers["content-disposition"].startswith("attachment; ")  # text is not inline
    # CORS preflight of a web client.
    status, headers, _ = request("OPTIONS", put, headers={
        "Origin": "https://web.example", "Access-Control-Request-Method": "PUT"})
    assert status == 204
    assert "PUT" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-origin"] == "*"


def raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out


@pytest.mark.time_limit(60)
def test_http_bounds(server_factory, upload_dir):
    server = server_factory(config={**upload_config(directory=str(upload_dir)),
                                    "http": {"max_header_bytes": 2048, "header_timeout_s": 2,
                                             "max_connections_per_ip": 4}},
                            with_users=True)
    port = server.http_ports["http"]
    big = b"GET /upload/x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n"
    assert raw(port, big).startswith(b"HTTP/1.1 431 ")
    assert raw(port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(port, b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n").startswith(b"HTTP/1.1 404 ")
    # Pipelined requests are answered in order, one at a time.
    two = raw(port, b"OPTIONS /upload/aaaaaaaaaaaaaaaaaaaaaaaa/x HTTP/1.1\r\nHost: a\r\n\r\n"
                    b"GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert two.startswith(b"HTTP/1.1 204 ") and b"HTTP/1.1 404 " in two
    # A client that never finishes its headers is dropped after header_timeout_s.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /upload/ HTTP/1.1\r\nHost: a\r\n")
        started = time.monotonic()
        assert s.recv(100) == b""
        assert 1.5 < time.monotonic() - started < 6
    # Connections per IP.
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            try:
                extra.sendall(b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n")
                answer = extra.recv(100)
            except ConnectionResetError:  # closed before our request was read
                answer = b""
            assert answer == b""
    finally:
        for s in held:
            s.close()
    server.wait_log(r"http: refusing connection from 127\.0\.0\.1")
