"""Helpers of the IM tests (test_im_*.py): a raw client that knows rosters, presence and
blocking, on top of xmpp_raw.RawClient."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Callable, Iterable, Optional

from xmpp_raw import NS_CLIENT, RawClient, local, q, stanza_error_condition, to_str, xml_escape

NS_ROSTER = "jabber:iq:roster"
NS_ROSTERVER = "urn:xmpp:features:rosterver"
NS_PREAPPROVAL = "urn:xmpp:features:pre-approval"
NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
NS_DELAY = "urn:xmpp:delay"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

PRESENCE = q(NS_CLIENT, "presence")
MESSAGE = q(NS_CLIENT, "message")
IQ = q(NS_CLIENT, "iq")


def bare(jid: str) -> str:
    return jid.split("/", 1)[0]


class ImClient(RawClient):
    """A RawClient whose waits also look at what earlier waits skipped, so that the order in
    which the server sends unrelated stanzas (a push before or after a result) does not matter."""

    features: Optional[ET.Element] = None

    def take(self, pred: Callable[[ET.Element], bool], timeout: Optional[float] = None,
             what: str = "a matching element") -> ET.Element:
        for i, el in enumerate(self.skipped):
            if pred(el):
                del self.skipped[i]
                return el
        return self.wait_for(pred, timeout, what)

    def got(self, pred: Callable[[ET.Element], bool]) -> list[ET.Element]:
        """What matching arrived so far (after a ping round trip, so everything sent before it
        has been handled), taken out of the buffers."""
        assert self.ping().get("type") == "result"
        got = [e for e in self.skipped if pred(e)]
        self.skipped = [e for e in self.skipped if not pred(e)]
        rest = self.drain(0.2)
        got += [e for e in rest if pred(e)]
        self.skipped += [e for e in rest if not pred(e)]
        return got

    # -- login --

    def login_im(self, user: str, password: str, resource: str, *, roster: bool = True,
                 presence: bool = True, priority: Optional[int] = None) -> str:
        self.negotiate_tls()
        res = self.auth_plain(user, password)
        assert res.tag.endswith("success"), to_str(res)
        self.features = self.restart_after_auth()
        reply = self.bind(resource)
        assert reply.get("type") == "result", to_str(reply)
        if roster:
            self.roster()
        if presence:
            self.available(priority)
        return self.jid

    def available(self, priority: Optional[int] = None, show: Optional[str] = None,
                  status: Optional[str] = None) -> ET.Element:
        body = ""
        if show:
            body += f"<show>{show}</show>"
        if status:
            body += f"<status>{xml_escape(status)}</status>"
        if priority is not None:
            body += f"<priority>{priority}</priority>"
        self.send(f"<presence>{body}</presence>")
        return self.take(lambda e: e.tag == PRESENCE and e.get("from") == self.jid and
                         e.get("type") is None, what="our own presence reflected")

    # -- roster --

    def roster(self, ver: Optional[str] = None) -> ET.Element:
        """Roster get; returns the <query/> (None for an empty result)."""
        attr = f" ver='{ver}'" if ver is not None else ""
        reply = self.iq(f"<query xmlns='{NS_ROSTER}'{attr}/>")
        assert reply.get("type") == "result", to_str(reply)
        return reply.find(q(NS_ROSTER, "query"))

    def roster_items(self) -> dict[str, ET.Element]:
        return {i.get("jid"): i for i in self.roster().findall(q(NS_ROSTER, "item"))}

    def roster_set(self, jid: str, name: Optional[str] = None, groups: Iterable[str] = (),
                   subscription: Optional[str] = None, raw_item: Optional[str] = None
                   ) -> ET.Element:
        if raw_item is None:
            attrs = f"jid='{xml_escape(jid)}'"
            if name is not None:
                attrs += f" name='{xml_escape(name)}'"
            if subscription is not None:
                attrs += f" subscription='{subscription}'"
            kids = "".join(f"<group>{xml_escape(g)}</group>" for g in groups)
            raw_item = f"<item {attrs}>{kids}</item>"
        return self.iq(f"<query xmlns='{NS_ROSTER}'>{raw_item}</query>", type_="set")

    def push(self, jid: str, timeout: Optional[float] = None, **attrs) -> ET.Element:
        """The next roster push about `jid` whose item has these attributes (e.g.
        subscription='both', ask=None for "absent"); returns the <item/>."""

        def match(e):
            if e.tag != IQ or e.get("type") != "set":
                return False
            item = e.find(f"{q(NS_ROSTER, 'query')}/{q(NS_ROSTER, 'item')}")
            if item is None or item.get("jid") != jid:
                return False
            return all(item.get(k) == v for k, v in attrs.items())

        iq = self.take(match, timeout, f"a roster push for {jid} with {attrs}")
        assert iq.get("from") in (None, bare(self.jid)), to_str(iq)
        return iq.find(f"{q(NS_ROSTER, 'query')}/{q(NS_ROSTER, 'item')}")

    # -- presence --

    def presence(self, to: str, type_: Optional[str] = None, body: str = "") -> None:
        t = f" type='{type_}'" if type_ else ""
        self.send(f"<presence to='{to}'{t}>{body}</presence>")

    def wait_presence(self, from_: str, type_: Optional[str] = None,
                      timeout: Optional[float] = None) -> ET.Element:
        """The next presence from exactly `from_` of that type (None: available)."""
        return self.take(lambda e: e.tag == PRESENCE and e.get("from") == from_ and
                         e.get("type") == type_, timeout,
                         f"presence type={type_} from {from_}")

    # -- blocking --

    def blocklist(self) -> list[str]:
        reply = self.iq(f"<blocklist xmlns='{NS_BLOCKING}'/>")
        assert reply.get("type") == "result", to_str(reply)
        return [i.get("jid") for i in reply.find(q(NS_BLOCKING, "blocklist"))]

    def block(self, *jids: str) -> ET.Element:
        items = "".join(f"<item jid='{j}'/>" for j in jids)
        return self.iq(f"<block xmlns='{NS_BLOCKING}'>{items}</block>", type_="set")

    def unblock(self, *jids: str) -> ET.Element:
        items = "".join(f"<item jid='{j}'/>" for j in jids)
        return self.iq(f"<unblock xmlns='{NS_BLOCKING}'>{items}</unblock>", type_="set")


def connect(server, user: str, password: str, resource: str, **kw) -> ImClient:
    c = ImClient(server.port)
    c.login_im(user, password, resource, **kw)
    return c


def error_text(el: ET.Element) -> str:
    return el.findtext(f"{q(NS_CLIENT, 'error')}/{q(NS_STANZAS, 'text')}") or ""


def error_type(el: ET.Element) -> Optional[str]:
    err = el.find(q(NS_CLIENT, "error"))
    return None if err is None else err.get("type")


def is_message(body: Optional[str] = None) -> Callable[[ET.Element], bool]:
    return lambda e: e.tag == MESSAGE and (body is None or
                                           e.findtext(q(NS_CLIENT, "body")) == body)


__all__ = ["ImClient", "connect", "bare", "error_text", "error_type", "is_message",
           "stanza_error_condition", "to_str", "q", "local", "NS_CLIENT", "NS_ROSTER",
           "NS_ROSTERVER", "NS_PREAPPROVAL", "NS_BLOCKING", "NS_BLOCKING_ERRORS", "NS_DELAY",
           "PRESENCE", "MESSAGE", "IQ"]
