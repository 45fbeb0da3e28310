"""External service discovery (XEP-0215 v1.0) against a real coturn on loopback: the TURN
credentials corvid hands out allocate a relay; altered or expired ones do not."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import time

import pytest

from conftest import TEST_USERS
from turn import ATTR_XOR_RELAYED_ADDRESS, Coturn, TurnClient
from xmpp_raw import (NS_CLIENT, NS_STANZAS, RawClient, RawComponent, q, stanza_error_condition,
                      to_str)

NS_EXTDISCO = "urn:xmpp:extdisco:2"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
TURN_SECRET = "coturn-shared-secret-5d1e"
LIFETIME = 600


@pytest.fixture(scope="module")
def coturn(tmp_path_factory):
    c = Coturn(tmp_path_factory.mktemp("coturn"), TURN_SECRET).start()
    yield c
    c.stop()


def extdisco_config(coturn, **extra) -> dict:
    services = [
        {"type": "stun", "host": "127.0.0.1", "port": coturn.port, "transport": "udp"},
        {"type": "turn", "host": "127.0.0.1", "port": coturn.port, "transport": "udp",
         "secret": TURN_SECRET},
        {"type": "turn", "host": "127.0.0.1", "port": coturn.port, "transport": "tcp",
         "username": "shared", "password": "fixed-password"},
    ]
    return {"modules": {"extdisco": {"credential_lifetime_s": LIFETIME, "services": services,
                                     **extra}}}


def services_of(reply) -> list:
    assert reply.get("type") == "result", to_str(reply)
    payload = reply[0]
    return [s.attrib for s in payload.findall(q(NS_EXTDISCO, "service"))]


def allocate(coturn, username: str, password: str):
    client = TurnClient("127.0.0.1", coturn.port)
    try:
        return client.allocate(username, password)
    finally:
        client.close()


def test_turn_credentials_from_corvid_allocate_a_relay_at_coturn(server_factory, coturn):
    server = server_factory(config=extdisco_config(coturn), with_users=True)
    alice = RawClient(server.port)
    alice.login("alice", TEST_USERS["alice"])
    before = time.time()
    services = services_of(alice.iq(f"<services xmlns='{NS_EXTDISCO}'/>", to="localhost"))
    assert [(s["type"], s.get("transport")) for s in services] == [
        ("stun", "udp"), ("turn", "udp"), ("turn", "tcp")]
    stun, turn, fixed = services
    assert stun == {"type": "stun", "host": "127.0.0.1", "port": str(coturn.port),
                    "transport": "udp"}
    assert (fixed["username"], fixed["password"], fixed["restricted"]) == \
        ("shared", "fixed-password", "1")
    assert "expires" not in fixed

    # coturn's scheme: "expiry:bare JID", base64(HMAC-SHA1(secret, username)), expiring when
    # corvid says.
    expiry, user = turn["username"].split(":", 1)
    assert user == "alice@localhost"
    assert before + LIFETIME - 5 <= int(expiry) <= time.time() + LIFETIME + 5
    assert calendar.timegm(time.strptime(turn["expires"], "%Y-%m-%dT%H:%M:%SZ")) == int(expiry)
    assert turn["restricted"] == "1"

    granted = allocate(coturn, turn["username"], turn["password"])
    assert granted.success, (granted.error_code, granted.error_reason)
    assert ATTR_XOR_RELAYED_ADDRESS in granted.attrs

    # Altered credentials: another password, or the username of another user or a later expiry.
    password = base64.b64decode(turn["password"])
    altered = base64.b64encode(bytes([password[0] ^ 1]) + password[1:]).decode()
    assert allocate(coturn, turn["username"], altered).error_code == 401
    assert allocate(coturn, f"{expiry}:bob@localhost", turn["password"]).error_code == 401
    assert allocate(coturn, f"{int(expiry) + 3600}:{user}", turn["password"]).error_code == 401
    # Expired ones, made right in the same scheme, are refused too: coturn checks the expiry,
    # which is why corvid's credentials only last credential_lifetime_s.
    stale = f"{int(time.time()) - 60}:{user}"
    stale_password = base64.b64encode(
        hmac.new(TURN_SECRET.encode(), stale.encode(), hashlib.sha1).digest()).decode()
    assert allocate(coturn, stale, stale_password).error_code == 401

    # A credentials request (XEP-0215 §3.3) gives fresh ones for the named service.
    reply = alice.iq(f"<credentials xmlns='{NS_EXTDISCO}'><service host='127.0.0.1' type='turn' "
                     f"port='{coturn.port}'/></credentials>", to="localhost")
    (fresh,) = services_of(reply)
    assert fresh["username"].endswith(":alice@localhost")
    assert allocate(coturn, fresh["username"], fresh["password"]).success
    # Filtering by type; unknown services; sets.
    only_stun = services_of(alice.iq(f"<services xmlns='{NS_EXTDISCO}' type='stun'/>",
                                     to="localhost"))
    assert [s["type"] for s in only_stun] == ["stun"]
    for body, condition in [
            (f"<credentials xmlns='{NS_EXTDISCO}'><service host='turn.elsewhere' type='turn'/>"
             "</credentials>", "item-not-found"),
            (f"<credentials xmlns='{NS_EXTDISCO}'/>", "item-not-found")]:
        reply = alice.iq(body, to="localhost")
        assert reply.get("type") == "error" and stanza_error_condition(reply) == condition
    reply = alice.iq(f"<services xmlns='{NS_EXTDISCO}'/>", to="localhost", type_="set")
    assert stanza_error_condition(reply) == "bad-request"
    # Advertised in the server's disco#info, where clients look.
    info = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to="localhost")
    features = {f.get("var") for f in info.iter(q(NS_DISCO_INFO, "feature"))}
    assert NS_EXTDISCO in features
    alice.close()
    assert TURN_SECRET not in server.log()


def test_only_the_servers_users_get_services(server_factory, coturn):
    config = extdisco_config(coturn)
    config["components"] = [{"domain": "gw.localhost", "secret": "gw-secret"}]
    server = server_factory(config=config)
    gw = RawComponent(server.component_port)
    gw.connect_as("gw.localhost", "gw-secret")
    for sender in ("gw.localhost", "bot@gw.localhost"):
        gw.send(f"<iq type='get' id='x' from='{sender}' to='localhost'>"
                f"<services xmlns='{NS_EXTDISCO}'/></iq>")
        reply = gw.wait_stanza("iq")
        assert reply.get("type") == "error", to_str(reply)
        error = reply.find("{jabber:component:accept}error")
        assert error.find(q(NS_STANZAS, "forbidden")) is not None, to_str(reply)
        assert "password" not in to_str(reply)
    gw.close()


def test_without_services_nothing_is_answered_or_advertised(server, users):
    alice = RawClient(server.port)
    alice.login("alice", users["alice"])
    reply = alice.iq(f"<services xmlns='{NS_EXTDISCO}'/>", to="localhost")
    assert stanza_error_condition(reply) == "service-unavailable"
    info = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to="localhost")
    assert NS_EXTDISCO not in {f.get("var") for f in info.iter(q(NS_DISCO_INFO, "feature"))}
    alice.close()
