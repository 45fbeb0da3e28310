"""Helpers for the multi-user chat tests (XEP-0045) with raw clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import xml.etree.ElementTree as ET

from xmpp_raw import NS_CLIENT, RawClient, q, stanza_error_condition, to_str, xml_escape

NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner"
NS_MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
NS_DATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"

SERVICE = "conference.localhost"


def room_jid(name: str) -> str:
    return f"{name}@{SERVICE}"


def muc_x(el: ET.Element) -> Optional[ET.Element]:
    return el.find(q(NS_MUC_USER, "x"))


def status_codes(el: ET.Element) -> set[int]:
    x = muc_x(el)
    return set() if x is None else {int(s.get("code")) for s in x.findall(q(NS_MUC_USER, "status"))}


def item(el: ET.Element) -> ET.Element:
    x = muc_x(el)
    assert x is not None, f"no muc#user extension: {to_str(el)}"
    i = x.find(q(NS_MUC_USER, "item"))
    assert i is not None, to_str(el)
    return i


def is_presence(el: ET.Element) -> bool:
    return el.tag == q(NS_CLIENT, "presence")


def is_message(el: ET.Element) -> bool:
    return el.tag == q(NS_CLIENT, "message")


@dataclass
class Joined:
    """What a join brought: the others' presence, the self-presence, history, the subject."""
    occupants: list[ET.Element] = field(default_factory=list)
    self_presence: Optional[ET.Element] = None
    history: list[ET.Element] = field(default_factory=list)
    subject: Optional[ET.Element] = None

    @property
    def codes(self) -> set[int]:
        return status_codes(self.self_presence)

    def nicks(self) -> list[str]:
        return [p.get("from").split("/", 1)[1] for p in self.occupants]


def send_join(c: RawClient, room: str, nick: str, inner: str = "", id_: str = "join") -> None:
    c.send(f"<presence to='{room}/{xml_escape(nick)}' id='{id_}'>"
           f"<x xmlns='{NS_MUC}'>{inner}</x></presence>")


def join(c: RawClient, room: str, nick: str, inner: str = "", timeout: float = 10) -> Joined:
    """Joins and reads everything up to the subject, in the order XEP-0045 §7.1 prescribes
    (asserting that order). Fails on a presence error."""
    send_join(c, room, nick, inner)
    out = Joined()
    while True:
        el = c.wait_for(lambda e: (e.get("from") or "").startswith(room), timeout,
                        f"the join of {room}")
        if is_presence(el):
            assert el.get("type") != "error", f"join refused: {to_str(el)}"
            assert out.self_presence is None, f"presence after the self-presence: {to_str(el)}"
            if 110 in status_codes(el):
                out.self_presence = el
            else:
                out.occupants.append(el)
        elif is_message(el):
            assert out.self_presence is not None, f"message before self-presence: {to_str(el)}"
            if el.find(q(NS_CLIENT, "subject")) is not None and \
                    el.find(q(NS_CLIENT, "body")) is None:
                out.subject = el
                return out
            out.history.append(el)


def join_error(c: RawClient, room: str, nick: str, inner: str = "") -> tuple[str, ET.Element]:
    """Joins expecting a refusal; returns (condition, the error presence)."""
    send_join(c, room, nick, inner, id_="bad-join")
    el = c.wait_for(lambda e: is_presence(e) and e.get("id") == "bad-join", what="join error")
    assert el.get("type") == "error", f"join accepted: {to_str(el)}"
    assert el.get("from") == f"{room}/{nick}", to_str(el)
    return stanza_error_condition(el), el


def next_presence(c: RawClient, frm: str, timeout: float = 10) -> ET.Element:
    return c.wait_for(lambda e: is_presence(e) and e.get("from") == frm, timeout,
                      f"presence from {frm}")


def next_unavailable(c: RawClient, frm: str, timeout: float = 10) -> ET.Element:
    """The next unavailable presence from `frm`, also among the elements an earlier wait (for an
    iq result, say) passed over."""
    def match(e):
        return is_presence(e) and e.get("from") == frm and e.get("type") == "unavailable"
    for i, e in enumerate(c.skipped):
        if match(e):
            del c.skipped[i]
            return e
    return c.wait_for(match, timeout, f"unavailable from {frm}")


def next_groupchat(c: RawClient, body: Optional[str] = None, timeout: float = 10) -> ET.Element:
    return c.wait_for(lambda e: is_message(e) and e.get("type") == "groupchat" and
                      (body is None or e.findtext(q(NS_CLIENT, "body")) == body), timeout,
                      f"groupchat {body!r}")


def say(c: RawClient, room: str, body: str, id_: Optional[str] = None) -> str:
    return c.message(room, body, type_="groupchat", id_=id_)


def instant_room(c: RawClient, room: str) -> None:
    """XEP-0045 §10.1.2: accepts the default configuration."""
    r = c.iq(f"<query xmlns='{NS_MUC_OWNER}'><x xmlns='{NS_DATA}' type='submit'/></query>",
             to=room, type_="set")
    assert r.get("type") == "result", to_str(r)


def submit_config(c: RawClient, room: str, fields: dict) -> ET.Element:
    """Submits a muc#roomconfig form with these fields; returns the reply."""
    body = [f"<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value>"
            "</field>"]
    for var, value in fields.items():
        values = value if isinstance(value, list) else [value]
        body.append(f"<field var='{var}'>" +
                    "".join(f"<value>{xml_escape(str(v))}</value>" for v in values) + "</field>")
    return c.iq(f"<query xmlns='{NS_MUC_OWNER}'><x xmlns='{NS_DATA}' type='submit'>"
                f"{''.join(body)}</x></query>", to=room, type_="set")


def create_room(c: RawClient, room: str, nick: str, config: Optional[dict] = None) -> Joined:
    joined = join(c, room, nick)
    assert 201 in joined.codes, to_str(joined.self_presence)
    if config:
        r = submit_config(c, room, config)
        assert r.get("type") == "result", to_str(r)
    else:
        instant_room(c, room)
    return joined


def form_values(x: ET.Element) -> dict:
    out = {}
    for f in x.findall(q(NS_DATA, "field")):
        out[f.get("var")] = [v.text or "" for v in f.findall(q(NS_DATA, "value"))]
    return out


def admin_set(c: RawClient, room: str, items: str) -> ET.Element:
    """A muc#admin set with these <item/>s; returns the reply."""
    return c.iq(f"<query xmlns='{NS_MUC_ADMIN}'>{items}</query>", to=room, type_="set")


def admin_list(c: RawClient, room: str, attr: str) -> ET.Element:
    """A muc#admin get of one list (attr: "affiliation='member'", "role='moderator'")."""
    return c.iq(f"<query xmlns='{NS_MUC_ADMIN}'><item {attr}/></query>", to=room)


def list_items(reply: ET.Element) -> list[ET.Element]:
    assert reply.get("type") == "result", to_str(reply)
    return reply.find(q(NS_MUC_ADMIN, "query")).findall(q(NS_MUC_ADMIN, "item"))
