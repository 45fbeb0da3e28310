"""Helpers shared by the test_features_*.py suites (server features: disco, caps, version, time,
last activity, vCards, private XML, in-band registration). No tests here."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Iterable, Optional

import slix
from xmpp_raw import RawClient, q, to_str

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_VERSION = "jabber:iq:version"
NS_TIME = "urn:xmpp:time"
NS_LAST = "jabber:iq:last"
NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"
NS_REGISTER = "jabber:iq:register"
NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register"
NS_XML = "http://www.w3.org/XML/1998/namespace"


def online(server, user: str, password: str, resource: str = "raw",
           presence: bool = False) -> RawClient:
    c = RawClient(server.port)
    c.login(user, password, resource=resource, presence=presence)
    return c


def login_features(server, user: str, password: str, resource: str = "raw"):
    """Logs in step by step; returns (client, the stream features offered after SASL)."""
    c = RawClient(server.port)
    c.negotiate_tls()
    res = c.auth_plain(user, password)
    assert res.tag.endswith("success"), to_str(res)
    feats = c.restart_after_auth()
    reply = c.bind(resource)
    assert reply.get("type") == "result", to_str(reply)
    return c, feats


def disco_info(c: RawClient, to: str, node: Optional[str] = None):
    node_attr = f" node='{node}'" if node is not None else ""
    return c.iq(f"<query xmlns='{NS_DISCO_INFO}'{node_attr}/>", to=to)


def identities(query) -> list[tuple[str, str, str, str]]:
    return [(i.get("category", ""), i.get("type", ""), i.get(q(NS_XML, "lang"), ""),
             i.get("name", ""))
            for i in query.findall(q(NS_DISCO_INFO, "identity"))]


def features(query) -> list[str]:
    return [f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))]


def caps_ver(ids: Iterable[tuple[str, str, str, str]], feats: Iterable[str]) -> str:
    """XEP-0115 §5.1 with sha-1, written independently of the server's code."""
    s = "".join("/".join(i) + "<" for i in sorted(ids))
    s += "".join(f + "<" for f in sorted(feats))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


async def slix_login(port: int, jid: str, password: str, plugins: Iterable[str] = (),
                     presence: bool = False, timeout: float = slix.DEFAULT_TIMEOUT) -> slix.Client:
    """slix.login with extra slixmpp plugins registered before connecting."""
    c = slix.Client(jid, password)
    for p in plugins:
        c.register_plugin(p)
    c.connect(("127.0.0.1", port))
    try:
        await asyncio.wait_for(c.started, timeout)
        if presence:
            c.send_presence()
    except BaseException:
        c.abort()
        raise
    return c
