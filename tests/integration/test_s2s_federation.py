"""Federation (RFC 6120 server-to-server) against a real Prosody and a real ejabberd.

Every server runs on its own loopback address of a random 127.N.0.0/24 block, with its own domain
and a certificate from a private CA that all of them trust. Names come from a small DNS server
run by the test (SRV and A records): corvid uses it through CORVID_DNS_SERVERS, Prosody through a
private resolv.conf (libunbound) and ejabberd through its inetrc. Prosody and corvid publish SRV
records (direct TLS preferred, XEP-0368); ejabberd has only an A record (corvid falls back to
port 5269). One test puts a name in /etc/hosts instead.

Raw peers (federation/fake_peer.py) check what corvid refuses: unsolicited dialback verdicts,
stanzas from domains that were not authenticated, dialback without a valid certificate.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

import slix
from federation.ejabberd import EjabberdServer
from federation.fake_peer import NS_DB, FakeReceivingServer, S2sPeer
from federation.hosts import EtcHosts
from federation.network import FederatedCorvid, FederationNet, free_port
from federation.prosody import ProsodyServer
from test_jingle import jingle_iq, jmi_message, jmi_messages, watch_jingle, watch_jmi
from xmpp_raw import (NS_COMPONENT, NS_SASL, NS_STANZAS, NS_TLS, RawComponent, XmppTimeout, q,
                      to_str)

NS_DB_FEATURE = "urn:xmpp:features:dialback"

PROSODY_USERS = {"bob": "bob-pw", "erin": "erin-pw", "frank": "frank-pw"}
EJABBERD_USERS = {"carol": "carol-pw", "gina": "gina-pw"}
CORVID_USERS = {"alice": "alice-pw", "dave": "dave-pw", "hank": "hank-pw", "ivy": "ivy-pw"}

pytestmark = pytest.mark.time_limit(90)


# --- the federation (module-scoped: every server starts once) -------------------------------------


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    n = FederationNet.create(tmp_path_factory.mktemp("federation"))
    yield n
    n.close()


@pytest.fixture(scope="module")
def prosody(net):
    domain = net.domain("prosody")
    ip = net.ip(3)
    workdir = net.workdir / "prosody"
    workdir.mkdir()
    tls_port = free_port(ip)
    p = ProsodyServer(workdir, domain=domain, ip=ip, c2s_port=free_port(ip),
                      identity=net.identity(domain), ca_file=net.ca.cert,
                      resolv_conf=net.resolv_conf(), direct_tls_port=tls_port)
    net.zone.a[domain] = [ip]
    net.zone.srv[f"_xmpps-server._tcp.{domain}"] = [(0, 0, tls_port, domain)]
    net.zone.srv[f"_xmpp-server._tcp.{domain}"] = [(5, 0, 5269, domain)]
    p.start()
    try:
        for user, password in PROSODY_USERS.items():
            p.add_user(user, password)
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def ejabberd(net):
    domain = net.domain("ejabberd")
    ip = net.ip(4)
    # Not under pytest's private temp dir: the ejabberd user must be able to enter it.
    workdir = Path(tempfile.mkdtemp(prefix="corvid-it-ejabberd-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    e = EjabberdServer(workdir, domain=domain, ip=ip, c2s_port=free_port(ip),
                       identity=net.identity(domain), ca_file=net.ca.cert,
                       dns_server=(net.dns.ip, net.dns.port))
    net.zone.a[domain] = [ip]  # no SRV: corvid falls back to the A record and port 5269
    e.start()
    try:
        for user, password in EJABBERD_USERS.items():
            e.add_user(user, password)
        yield e
    finally:
        e.stop()
        shutil.copytree(workdir, net.workdir / "ejabberd", dirs_exist_ok=True)  # for post-mortems
        shutil.rmtree(workdir, ignore_errors=True)


def _make_corvid(net, binaries, pg_dsn, name: str, *, identity=None, trust_ca=True,
                 overrides=None) -> FederatedCorvid:
    domain = net.domain(name)
    workdir = net.workdir / f"corvid-{name}"
    workdir.mkdir()
    s = FederatedCorvid(domain=domain, s2s_ip=net.ip(2), identity=identity or net.identity(domain),
                        ca_file=net.ca.cert if trust_ca else None,
                        dns_server=f"{net.dns.ip}:{net.dns.port}", corvid_bin=binaries[0],
                        corvidctl_bin=binaries[1], admin_dsn=pg_dsn, workdir=workdir,
                        overrides=overrides)  # its own database, made at start
    s.publish(net)
    s.start()
    s.add_users({f"{u}@{domain}": pw for u, pw in CORVID_USERS.items()})
    return s


def _close_corvid(s: FederatedCorvid) -> None:
    try:
        problems = s.close()
    finally:
        s.drop_database()
    assert not problems, "corvid teardown:\n  " + "\n  ".join(problems)


@pytest.fixture(scope="module")
def corvid(net, binaries, pg_dsn):
    s = _make_corvid(net, binaries, pg_dsn, "corvid")
    yield s
    _close_corvid(s)


@pytest.fixture
def corvid_factory(net, binaries, pg_dsn):
    made = []

    def make(name: str, **kw) -> FederatedCorvid:
        s = _make_corvid(net, binaries, pg_dsn, name, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        _close_corvid(s)


# --- clients ------------------------------------------------------------------------------------


async def login(host: str, port: int, jid: str, password: str, *, presence: bool = True,
                timeout: float = 20.0) -> slix.Client:
    """slix.login() for any host: connects, binds, sends initial presence and waits for its echo.
    Subscription requests are left to the test (no automatic answers)."""
    c = slix.Client(jid, password)
    c.auto_authorize = None
    c.auto_subscribe = False
    c.errors = asyncio.Queue()
    c.presences = asyncio.Queue()
    c.add_event_handler("message_error", c.errors.put_nowait)
    reflected = asyncio.get_running_loop().create_future()

    def on_presence(p):
        if p["from"] == c.boundjid and p["type"] == "available" and not reflected.done():
            reflected.set_result(p)
        elif p["from"] != c.boundjid:
            c.presences.put_nowait(p)

    c.add_event_handler("presence", on_presence)
    c.connect((host, port))
    try:
        await asyncio.wait_for(c.started, timeout)
        # RFC 6121 §2.1.6: a resource that asked for the roster is "interested": it gets
        # subscription requests and answers.
        await c.get_roster(timeout=timeout)
        if presence:
            c.send_presence()
            await asyncio.wait_for(reflected, timeout)
    except BaseException:
        c.abort()
        raise
    return c


def at_corvid(s: FederatedCorvid, user: str, **kw):
    return login("127.0.0.1", s.port, f"{user}@{s.domain}", CORVID_USERS[user], **kw)


def at_prosody(p: ProsodyServer, user: str, **kw):
    return login(p.ip, p.c2s_port, f"{user}@{p.domain}", PROSODY_USERS[user], **kw)


def at_ejabberd(e: EjabberdServer, user: str, **kw):
    return login(e.ip, e.c2s_port, f"{user}@{e.domain}", EJABBERD_USERS[user], **kw)


async def next_error(c: slix.Client, timeout: float = 20.0):
    try:
        return await asyncio.wait_for(c.errors.get(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"{c.boundjid}: no error message within {timeout} s") from None


async def next_presence(c: slix.Client, from_bare: str, ptype: str, timeout: float = 20.0,
                        status: str | None = None):
    """The next presence of `ptype` from `from_bare` (with `status` if given; others skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            p = await asyncio.wait_for(c.presences.get(), max(deadline - loop.time(), 0))
        except asyncio.TimeoutError:
            raise AssertionError(f"{c.boundjid}: no presence {ptype} from {from_bare} within "
                                 f"{timeout} s") from None
        if p["from"].bare == from_bare and p["type"] == ptype and (
                status is None or p["status"] == status):
            return p


async def chat_both_ways(local: slix.Client, remote: slix.Client, tag: str) -> None:
    local.send_message(mto=remote.boundjid.bare, mbody=f"{tag}: hello from corvid", mtype="chat")
    m = await remote.next_message(timeout=20, body=f"{tag}: hello from corvid")
    assert m["from"].bare == local.boundjid.bare
    assert m["type"] == "chat"
    remote.send_message(mto=local.boundjid.bare, mbody=f"{tag}: hello back", mtype="chat")
    m = await local.next_message(timeout=20, body=f"{tag}: hello back")
    assert m["from"].bare == remote.boundjid.bare


async def subscribe_both_ways(local: slix.Client, remote: slix.Client) -> None:
    """RFC 6121 §3: local subscribes to remote and the other way round; each approves; each then
    sees the other available."""
    for asker, approver in ((local, remote), (remote, local)):
        asker.send_presence_subscription(pto=approver.boundjid.bare)
        await next_presence(approver, asker.boundjid.bare, "subscribe")
        approver.send_presence(pto=asker.boundjid.bare, ptype="subscribed")
        await next_presence(asker, approver.boundjid.bare, "subscribed")
    # With both subscriptions in place, each one's presence broadcast reaches the other (after
    # the current presence each server sent on its own once the subscription was approved).
    local.send_presence(pstatus="corvid here")
    await next_presence(remote, local.boundjid.bare, "available", status="corvid here")
    remote.send_presence(pstatus="remote here")
    await next_presence(local, remote.boundjid.bare, "available", status="remote here")


# --- chat and presence with Prosody and ejabberd ----------------------------------------------------


def test_chat_with_prosody(corvid, prosody):
    async def main():
        alice = await at_corvid(corvid, "alice")
        bob = await at_prosody(prosody, "bob")
        try:
            await chat_both_ways(alice, bob, "prosody")
        finally:
            await alice.close()
            await bob.close()

    slix.run(main(), 80)
    log = corvid.log()
    # Outgoing: SRV _xmpps-server first (direct TLS), Prosody's certificate checked, EXTERNAL.
    assert f"s2s out {corvid.domain} -> {prosody.domain}: established" in log
    assert "with direct TLS" in log
    assert f"{prosody.domain} authenticated for {corvid.domain} (SASL EXTERNAL)" in log


def test_chat_with_ejabberd(corvid, ejabberd):
    async def main():
        alice = await at_corvid(corvid, "alice")
        carol = await at_ejabberd(ejabberd, "carol")
        try:
            await chat_both_ways(alice, carol, "ejabberd")
        finally:
            await alice.close()
            await carol.close()

    slix.run(main(), 80)
    log = corvid.log()
    # No SRV record: the A record on port 5269, STARTTLS.
    assert f"connecting to {ejabberd.ip}:5269" in log
    assert f"s2s out {corvid.domain} -> {ejabberd.domain}: established" in log
    assert f"{ejabberd.domain} authenticated for {corvid.domain}" in log


def test_presence_subscription_with_prosody(corvid, prosody):
    async def main():
        dave = await at_corvid(corvid, "dave")
        erin = await at_prosody(prosody, "erin")
        try:
            await subscribe_both_ways(dave, erin)
        finally:
            await dave.close()
            await erin.close()

    slix.run(main(), 80)


def test_presence_subscription_with_ejabberd(corvid, ejabberd):
    async def main():
        hank = await at_corvid(corvid, "hank")
        gina = await at_ejabberd(ejabberd, "gina")
        try:
            await subscribe_both_ways(hank, gina)
        finally:
            await hank.close()
            await gina.close()

    slix.run(main(), 80)


def test_offline_message_from_prosody_delivered_at_login(corvid, prosody):
    async def main():
        frank = await at_prosody(prosody, "frank")
        alice = await at_corvid(corvid, "alice")
        try:
            # ivy is offline; alice's message comes after hers on the same s2s stream, so once
            # alice has it corvid has routed (and stored) ivy's.
            frank.send_message(mto=f"ivy@{corvid.domain}", mbody="while you were out",
                               mtype="chat")
            frank.send_message(mto=f"alice@{corvid.domain}", mbody="sentinel", mtype="chat")
            await alice.next_message(timeout=20, body="sentinel")
        finally:
            await alice.close()
        await asyncio.sleep(0.5)  # the offline store's write, confirmed by the database
        ivy = await at_corvid(corvid, "ivy")
        try:
            m = await ivy.next_message(timeout=20, body="while you were out")
            assert m["from"].bare == frank.boundjid.bare
            assert m.xml.find("{urn:xmpp:delay}delay") is not None, \
                "XEP-0203 delay expected on a stored message"
        finally:
            await ivy.close()
            await frank.close()

    slix.run(main(), 80)


def test_messages_from_prosody_to_unknown_account_bounce(corvid, prosody):
    """The offline path for federated senders: each message to an account that does not exist
    comes back over s2s with service-unavailable (RFC 6121 §8.5.1)."""
    async def main():
        frank = await at_prosody(prosody, "frank")
        try:
            n = 20
            for i in range(n):
                frank.send_message(mto=f"nobody@{corvid.domain}", mbody=f"anyone? {i}",
                                   mtype="chat")
            for _ in range(n):
                err = await next_error(frank)
                assert err["from"].bare == f"nobody@{corvid.domain}"
                assert err["error"]["condition"] == "service-unavailable"
        finally:
            await frank.close()

    slix.run(main(), 80)


# --- routes that cannot be set up -------------------------------------------------------------------


def test_unknown_domain_bounces_remote_server_not_found(corvid, net):
    nowhere = net.domain("nowhere")  # the DNS server answers NXDOMAIN (SRV and A)

    async def main():
        alice = await at_corvid(corvid, "alice")
        try:
            alice.send_message(mto=f"someone@{nowhere}", mbody="anybody there?", mtype="chat")
            err = await next_error(alice)
            assert err["from"].bare == f"someone@{nowhere}"
            assert err["error"]["condition"] == "remote-server-not-found"
            # What the user reads says why.
            assert err["error"]["text"] == \
                f"cannot reach the server of {nowhere}: no DNS record for {nowhere}"
        finally:
            await alice.close()

    slix.run(main(), 60)
    assert f"s2s out {corvid.domain} -> {nowhere}: route failed (remote-server-not-found)" in \
        corvid.log()


def test_connect_timeout_bounces_remote_server_timeout(corvid_factory, net):
    """Queued stanzas are bounced with remote-server-timeout when the route is not ready in
    s2s.connect_timeout_s; past limits.s2s_queue_max they are bounced at once."""
    slow = net.domain("slow")
    ip = net.ip(6)
    # A peer that accepts TCP (the backlog does) but never answers the stream header.
    silent = socket.socket()
    silent.bind((ip, 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        s = corvid_factory("timeout", overrides={
            "s2s": {"connect_timeout_s": 2, "routes": {slow: f"{ip}:{port}"}},
            "limits": {"s2s_queue_max": 2}})

        async def main():
            ivy = await at_corvid(s, "ivy")
            try:
                started = time.monotonic()
                for i in range(3):
                    ivy.send_message(mto=f"x@{slow}", mbody=f"queued {i}", mtype="chat")
                conditions = []
                for i in range(3):
                    err = await next_error(ivy, 15)
                    conditions.append((err["body"], err["error"]["condition"]))
                assert conditions == [("queued 2", "resource-constraint"),
                                      ("queued 0", "remote-server-timeout"),
                                      ("queued 1", "remote-server-timeout")]
                assert time.monotonic() - started < 10
            finally:
                await ivy.close()

        slix.run(main(), 60)
        assert "2 stanza(s) bounced" in s.log()
    finally:
        silent.close()


def test_unauthenticated_incoming_stream_times_out(corvid_factory, net):
    s = corvid_factory("authtimeout", overrides={"limits": {"auth_timeout_s": 2}})
    p = _peer(s)
    try:
        p.open_server_stream(s.domain, net.domain("idler"))
        started = time.monotonic()
        cond, _ = p.stream_error(timeout=10)
        assert cond == "connection-timeout"
        assert 1.5 < time.monotonic() - started < 8
    finally:
        p.close()


def test_idle_route_is_closed_and_opened_again(corvid_factory, prosody):
    s = corvid_factory("idle", overrides={"s2s": {"idle_timeout_s": 2}})
    pair = f"s2s out {s.domain} -> {prosody.domain}"

    async def main():
        alice = await at_corvid(s, "alice")
        bob = await at_prosody(prosody, "bob")
        try:
            alice.send_message(mto=bob.boundjid.bare, mbody="before idle", mtype="chat")
            await bob.next_message(timeout=20, body="before idle")
            deadline = time.monotonic() + 15
            while f"{pair}: idle for 2 s, closing" not in s.log():
                assert time.monotonic() < deadline, "the idle route was not closed"
                await asyncio.sleep(0.2)
            alice.send_message(mto=bob.boundjid.bare, mbody="after idle", mtype="chat")
            await bob.next_message(timeout=20, body="after idle")
        finally:
            await alice.close()
            await bob.close()

    slix.run(main(), 80)
    assert s.log().count(f"{pair}: established") == 2


# --- name resolution through /etc/hosts -------------------------------------------------------------


def test_etc_hosts_is_honoured(corvid, net):
    """A domain the DNS server does not know, listed in /etc/hosts: corvid connects to that
    address on 5269 (no SRV), with SNI and the certificate checked for the domain."""
    domain = net.domain("hostsfile")
    ip = net.ip(5)
    ident = net.identity(domain)
    peer = FakeReceivingServer(ip, 5269, domain, ident.chain, ident.key).start()
    hosts = EtcHosts()
    hosts.add(ip, domain)
    try:
        async def main():
            alice = await at_corvid(corvid, "alice")
            try:
                alice.send_message(mto=f"zed@{domain}", mbody="via /etc/hosts", mtype="chat")
                await asyncio.get_running_loop().run_in_executor(None, peer.received.wait, 20)
            finally:
                await alice.close()

        slix.run(main(), 60)
        assert peer.error is None, f"fake peer: {peer.error!r}"
        assert peer.sni == domain
        assert peer.headers[0].get("from") == corvid.domain
        bodies = [m.findtext("{jabber:server}body") for m in peer.stanzas]
        assert "via /etc/hosts" in bodies, [to_str(m) for m in peer.stanzas]
    finally:
        hosts.clear()
        peer.close()


# --- what an incoming stream refuses ------------------------------------------------------------


def _peer(corvid, **kw) -> S2sPeer:
    return S2sPeer(corvid.s2s_port, host=corvid.s2s_ip, sni=corvid.domain, **kw)


def _while_alice_is_online(corvid, action, body: str) -> None:
    """Runs the raw peer's `action` (in a thread) while alice is online, then checks that the
    message with `body` never reached her."""
    async def main():
        alice = await at_corvid(corvid, "alice")
        try:
            await asyncio.get_running_loop().run_in_executor(None, action)
            await alice.ping_server()
            await asyncio.sleep(0.5)
            bodies = []
            while not alice.messages.empty():
                bodies.append(alice.messages.get_nowait()["body"])
            assert body not in bodies
        finally:
            await alice.close()

    slix.run(main(), 60)


def test_unsolicited_dialback_result_is_refused(corvid, net):
    evil = net.domain("evil")

    def spoof():
        p = _peer(corvid)
        try:
            p.open_server_stream(corvid.domain, evil)
            # A verdict nobody asked for, then a stanza as if it had authenticated the domain.
            p.send(f"<db:result xmlns:db='{NS_DB}' from='{evil}' to='{corvid.domain}' "
                   "type='valid'/>")
            p.send(f"<message from='mallory@{evil}' to='alice@{corvid.domain}' type='chat'>"
                   "<body>spoofed</body></message>")
            cond, _ = p.stream_error()
            assert cond == "not-authorized"
        finally:
            p.close()

    _while_alice_is_online(corvid, spoof, "spoofed")
    assert "ignored an unsolicited dialback result" in corvid.log()


def test_stanza_from_unauthenticated_domain_is_refused(corvid, net):
    """A peer proves its own domain with SASL EXTERNAL, then sends as another domain."""
    peer_domain = net.domain("honest")
    ident = net.identity(peer_domain)

    def spoof():
        p = _peer(corvid, cert=ident.chain, key=ident.key)
        try:
            features = p.open_server_stream(corvid.domain, peer_domain)
            assert features.find(q(NS_TLS, "starttls")) is not None
            features = p.server_starttls(corvid.domain, peer_domain)
            mechanisms = [m.text for m in features.iter(q(NS_SASL, "mechanism"))]
            assert mechanisms == ["EXTERNAL"]
            assert p.external(peer_domain).tag == q(NS_SASL, "success")
            p.open_server_stream(corvid.domain, peer_domain)
            # Its own domain is fine ...
            p.send(f"<message from='u@{peer_domain}' to='alice@{corvid.domain}' type='chat'>"
                   "<body>from me</body></message>")
            # ... another one is not.
            p.send(f"<message from='mallory@evil-{net.tag}.fedtest' to='alice@{corvid.domain}' "
                   "type='chat'><body>not from me</body></message>")
            cond, _ = p.stream_error()
            assert cond == "invalid-from"
        finally:
            p.close()

    _while_alice_is_online(corvid, spoof, "not from me")


def test_stanza_to_foreign_domain_is_refused(corvid, net):
    peer_domain = net.domain("relay")
    ident = net.identity(peer_domain)
    p = _peer(corvid, cert=ident.chain, key=ident.key)
    try:
        p.open_server_stream(corvid.domain, peer_domain)
        p.server_starttls(corvid.domain, peer_domain)
        assert p.external("").tag == q(NS_SASL, "success")  # identity from the stream's 'from'
        p.open_server_stream(corvid.domain, peer_domain)
        p.send(f"<message from='u@{peer_domain}' to='someone@elsewhere-{net.tag}.fedtest'>"
               "<body>relay me</body></message>")
        cond, _ = p.stream_error()
        assert cond == "host-unknown"
    finally:
        p.close()


def test_external_with_certificate_for_other_domain_fails(corvid, net):
    peer_domain = net.domain("liar")
    other = net.identity(net.domain("someone-else"))
    p = _peer(corvid, cert=other.chain, key=other.key)
    try:
        p.open_server_stream(corvid.domain, peer_domain)
        features = p.server_starttls(corvid.domain, peer_domain)
        # The certificate is trusted but not for the claimed domain: no EXTERNAL offered ...
        assert features.find(q(NS_SASL, "mechanisms")) is None
        # ... and asking anyway fails.
        reply = p.external(peer_domain)
        assert reply.tag == q(NS_SASL, "failure"), to_str(reply)
    finally:
        p.close()


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "self-signed"])
def test_dialback_without_valid_certificate_is_refused(corvid, net, tls):
    """s2s.dialback_without_certificate is false by default: a dialback request is answered
    with an error, without asking the claimed domain's server."""
    peer_domain = net.domain("nocert")
    kw = {}
    if tls:
        ident = net.ca.self_signed(peer_domain)
        kw = {"cert": ident.chain, "key": ident.key}
    p = _peer(corvid, **kw)
    try:
        features = p.open_server_stream(corvid.domain, peer_domain)
        if tls:
            features = p.server_starttls(corvid.domain, peer_domain)
            # TLS is on, but nothing vouches for the certificate: dialback only, no EXTERNAL.
            assert features.find(q(NS_SASL, "mechanisms")) is None
            assert features.find(q(NS_DB_FEATURE, "dialback")) is not None
        else:
            # Without TLS only STARTTLS is on offer, and it is required.
            assert features.find(f"{q(NS_TLS, 'starttls')}/{q(NS_TLS, 'required')}") is not None
            assert features.find(q(NS_DB_FEATURE, "dialback")) is None
        p.send(f"<db:result xmlns:db='{NS_DB}' from='{peer_domain}' to='{corvid.domain}'>"
               "0123456789abcdef</db:result>")
        answer = p.next()
        assert answer.tag == q(NS_DB, "result"), to_str(answer)
        assert answer.get("type") == "error"
        assert answer.find(f"*/{{{NS_STANZAS}}}not-authorized") is not None, to_str(answer)
        p.send(f"<message from='x@{peer_domain}' to='alice@{corvid.domain}'><body>hi</body>"
               "</message>")
        cond, _ = p.stream_error()
        assert cond == "not-authorized"
    finally:
        p.close()
    assert f"s2s out {corvid.domain} -> {peer_domain}" not in corvid.log()  # nobody was asked


# --- dialback (XEP-0220) when certificates are not enough -----------------------------------------


def test_dialback_between_corvids_without_trusted_certificates(corvid_factory, net):
    """Both sides have self-signed certificates and allow dialback without a valid one: each
    authenticates the other by dialback (originating, receiving and authoritative roles)."""
    settings = {"s2s": {"dialback_without_certificate": True}}
    one = corvid_factory("db-one", identity=net.ca.self_signed(net.domain("db-one")),
                         trust_ca=False, overrides=settings)
    two = corvid_factory("db-two", identity=net.ca.self_signed(net.domain("db-two")),
                         trust_ca=False, overrides=settings)

    async def main():
        a = await at_corvid(one, "alice")
        b = await at_corvid(two, "dave")
        try:
            await chat_both_ways(a, b, "dialback")
        finally:
            await a.close()
            await b.close()

    slix.run(main(), 80)
    for s, peer in ((one, two), (two, one)):
        log = s.log()
        assert f"{peer.domain} authenticated for {s.domain} (dialback)" in log, log[-3000:]
        assert f"s2s out {s.domain} -> {peer.domain}: established" in log
        assert "dialback verify from" in log


@pytest.mark.parametrize("server", ["prosody", "ejabberd"])
def test_dialback_with_real_servers(corvid_factory, request, server):
    """corvid does not trust the test CA here but allows dialback without a valid certificate:
    the peer cannot use SASL EXTERNAL towards corvid, falls back to dialback, and corvid asks the
    peer's authoritative server (db:verify)."""
    peer = request.getfixturevalue(server)
    s = corvid_factory(f"db-{server}", trust_ca=False,
                       overrides={"s2s": {"dialback_without_certificate": True}})
    login_remote = at_prosody if server == "prosody" else at_ejabberd
    remote_user = "erin" if server == "prosody" else "gina"

    async def main():
        a = await at_corvid(s, "alice")
        r = await login_remote(peer, remote_user)
        try:
            await chat_both_ways(a, r, f"dialback-{server}")
        finally:
            await a.close()
            await r.close()

    slix.run(main(), 80)
    log = s.log()
    assert f"{peer.domain} authenticated for {s.domain} (dialback)" in log, log[-3000:]


# --- where outgoing connections may go (server-side request forgery) ------------------------------


def test_private_addresses_need_the_key_or_a_static_route(corvid_factory, corvid, net):
    """A domain whose DNS points at loopback: without s2s.allow_private_addresses corvid does not
    connect and bounces with remote-server-not-found saying why (logged once at info); a static
    route to the same kind of address is followed; with the key (the module's corvid) it
    connects."""
    ip = net.ip(7)
    inside = net.domain("inside")
    inside_peer = FakeReceivingServer(ip, 5269, inside, net.identity(inside).chain,
                                      net.identity(inside).key).start()
    net.zone.a[inside] = [ip]
    routed = net.domain("routed")
    routed_port = free_port(ip)
    routed_peer = FakeReceivingServer(ip, routed_port, routed, net.identity(routed).chain,
                                      net.identity(routed).key).start()
    try:
        s = corvid_factory("ssrf", overrides={"s2s": {
            "allow_private_addresses": False, "routes": {routed: f"{ip}:{routed_port}"}}})

        async def refused_and_routed():
            ivy = await at_corvid(s, "ivy")
            try:
                ivy.send_message(mto=f"x@{inside}", mbody="to a loopback peer", mtype="chat")
                err = await next_error(ivy)
                assert err["body"] == "to a loopback peer"
                assert err["error"]["condition"] == "remote-server-not-found"
                assert "non-public address" in err["error"]["text"], err
                ivy.send_message(mto=f"y@{routed}", mbody="by static route", mtype="chat")
                await asyncio.get_running_loop().run_in_executor(None, routed_peer.received.wait,
                                                                 20)
            finally:
                await ivy.close()

        slix.run(refused_and_routed(), 60)
        assert not inside_peer.headers, "corvid connected to a loopback address found in DNS"
        log = s.log()
        assert log.count(f"{inside} has only non-public addresses: {ip}:5269 "
                         "(loopback (127.0.0.0/8))") == 1, log[-3000:]
        assert f"s2s out {s.domain} -> {inside}: route failed (remote-server-not-found)" in log
        assert routed_peer.error is None, f"fake peer: {routed_peer.error!r}"
        assert "by static route" in [m.findtext("{jabber:server}body")
                                     for m in routed_peer.stanzas]

        async def allowed():
            alice = await at_corvid(corvid, "alice")
            try:
                alice.send_message(mto=f"z@{inside}", mbody="allowed", mtype="chat")
                await asyncio.get_running_loop().run_in_executor(None, inside_peer.received.wait,
                                                                 20)
            finally:
                await alice.close()

        slix.run(allowed(), 60)
        assert inside_peer.error is None, f"fake peer: {inside_peer.error!r}"
        assert "allowed" in [m.findtext("{jabber:server}body") for m in inside_peer.stanzas]
    finally:
        inside_peer.close()
        routed_peer.close()


# --- dialback requests the stream cannot answer -----------------------------------------------------


def test_dialback_for_another_hosted_domain_is_refused(corvid_factory, net):
    """Two hosted domains, dialback without certificates: a db:result whose 'to' is the other
    hosted domain, not the stream's, gets <item-not-found/> at once (XEP-0220 §2.4.1), and the
    unauthenticated stream still ends at limits.auth_timeout_s."""
    first, second = net.domain("two-hosts"), net.domain("two-hosts-b")
    ident_first, ident_second = net.identity(first), net.identity(second)
    s = corvid_factory("two-hosts", overrides={
        "s2s": {"dialback_without_certificate": True},
        "limits": {"auth_timeout_s": 2},
        "hosts": [{"domain": d, "certificate": str(i.chain), "key": str(i.key)}
                  for d, i in ((first, ident_first), (second, ident_second))]})
    claimed = net.domain("claimer")
    p = _peer(s)
    try:
        features = p.open_server_stream(first, claimed)
        assert features.find(q(NS_DB_FEATURE, "dialback")) is not None, to_str(features)
        started = time.monotonic()
        p.send(f"<db:result xmlns:db='{NS_DB}' from='{claimed}' to='{second}'>"
               "0123456789abcdef</db:result>")
        answer = p.next(timeout=5)
        assert answer.tag == q(NS_DB, "result"), to_str(answer)
        assert answer.get("type") == "error"
        assert answer.get("from") == second and answer.get("to") == claimed, to_str(answer)
        assert answer.find(f"*/{{{NS_STANZAS}}}item-not-found") is not None, to_str(answer)
        cond, _ = p.stream_error(timeout=10)
        assert cond == "connection-timeout"
        assert time.monotonic() - started < 8
    finally:
        p.close()
    assert f"s2s out {second} -> {claimed}" not in s.log()  # nobody was asked


@pytest.mark.parametrize("route_closes", [True, False], ids=["route-closed-idle", "never-answered"])
def test_dialback_verification_that_never_returns(corvid_factory, net, route_closes):
    """The authoritative server takes our db:verify and never answers. If our route to it closes
    (idle), the waiting stream gets a dialback error at once; if it stays open, the waiting
    stream still ends: at limits.auth_timeout_s, plus s2s.connect_timeout_s once for a
    verification under way."""
    claimed = net.domain("mute")
    ip = net.ip(8)
    port = free_port(ip)
    mute = FakeReceivingServer(ip, port, claimed, net.identity(claimed).chain,
                               net.identity(claimed).key, linger=True).start()
    s2s = {"dialback_without_certificate": True, "routes": {claimed: f"{ip}:{port}"},
           "connect_timeout_s": 3}
    if route_closes:
        s2s["idle_timeout_s"] = 2
    s = corvid_factory(f"mute-{'idle' if route_closes else 'open'}",
                       overrides={"s2s": s2s, "limits": {"auth_timeout_s": 30 if route_closes
                                                         else 2}})
    p = _peer(s)
    try:
        p.open_server_stream(s.domain, claimed)
        started = time.monotonic()
        p.send(f"<db:result xmlns:db='{NS_DB}' from='{claimed}' to='{s.domain}'>"
               "0123456789abcdef</db:result>")
        assert mute.received.wait(15), "the authoritative server was not asked"
        assert [e.tag for e in mute.stanzas] == [q(NS_DB, "verify")], \
            [to_str(e) for e in mute.stanzas]
        if route_closes:
            deadline = time.monotonic() + 15
            while True:
                p.send(" ")  # our stream has the same idle timeout: it must not idle out first
                try:
                    answer = p.next(timeout=0.5)
                    break
                except XmppTimeout:
                    assert time.monotonic() < deadline, "no answer to the dialback request"
            assert answer.tag == q(NS_DB, "result"), to_str(answer)
            assert answer.get("type") == "error"
            assert answer.find(f"*/{{{NS_STANZAS}}}remote-server-not-found") is not None, \
                to_str(answer)
        else:
            cond, _ = p.stream_error(timeout=15)
            assert cond == "connection-timeout"
            assert 4 < time.monotonic() - started < 12
    finally:
        p.close()
        mute.close()


def test_dialback_verifications_per_stream_are_bounded(corvid_factory, net):
    """Each verification may make corvid connect to another server: one stream gets at most 10
    under way, the 11th request is answered with <resource-constraint/>."""
    ip = net.ip(9)
    silent = socket.socket()  # the claimed domains' servers accept TCP and never answer
    silent.bind((ip, 5269))
    silent.listen(16)
    claimed = [net.domain(f"many-{i}") for i in range(11)]
    for d in claimed:
        net.zone.a[d] = [ip]
    try:
        s = corvid_factory("bounded-db", overrides={"s2s": {"dialback_without_certificate": True}})
        p = _peer(s)
        try:
            p.open_server_stream(s.domain, claimed[0])
            for d in claimed:
                p.send(f"<db:result xmlns:db='{NS_DB}' from='{d}' to='{s.domain}'>"
                       "0123456789abcdef</db:result>")
            answer = p.next(timeout=5)
            assert answer.get("type") == "error" and answer.get("to") == claimed[-1], \
                to_str(answer)
            assert answer.find(f"*/{{{NS_STANZAS}}}resource-constraint") is not None, \
                to_str(answer)
        finally:
            p.close()
    finally:
        silent.close()


# --- calls -----------------------------------------------------------------------------------------


def test_jingle_and_call_proposals_with_prosody(corvid, prosody):
    """Jingle session iqs between full JIDs cross s2s both ways, and a call proposal (XEP-0353)
    from a Prosody user to a corvid user's bare JID rings every device of the callee."""
    async def main():
        ivy_desk = await at_corvid(corvid, "ivy")
        ivy_phone = await at_corvid(corvid, "ivy")
        ivy_desk.send_presence(ppriority=50)
        await asyncio.sleep(0.5)  # the priority is set before the call comes
        erin = await at_prosody(prosody, "erin")
        queues = {c: watch_jingle(c) for c in (ivy_desk, ivy_phone, erin)}
        for c in (ivy_desk, ivy_phone, erin):
            watch_jmi(c)
        try:
            jmi_message(erin, f"ivy@{corvid.domain}", "propose", "s2s-call").send()
            for device in (ivy_desk, ivy_phone):
                (got,) = await jmi_messages(device, "s2s-call", timeout=10)
                assert got["from"] == erin.boundjid
            jmi_message(ivy_phone, erin.boundjid.full, "proceed", "s2s-call").send()
            assert len(await jmi_messages(erin, "s2s-call", timeout=10)) == 1

            offer = jingle_iq(erin, ivy_phone.boundjid.full, "session-initiate", "s2s-sid")
            assert (await offer.send(timeout=20))["type"] == "result"
            got = await asyncio.wait_for(queues[ivy_phone].get(), 10)
            assert got["from"] == erin.boundjid
            accept = jingle_iq(ivy_phone, erin.boundjid.full, "session-accept", "s2s-sid")
            assert (await accept.send(timeout=20))["type"] == "result"
            got = await asyncio.wait_for(queues[erin].get(), 10)
            assert got["from"] == ivy_phone.boundjid
            assert queues[ivy_desk].empty()
        finally:
            for c in (ivy_desk, ivy_phone, erin):
                await c.close()

    slix.run(main(), 80)


# --- components --------------------------------------------------------------------------------


def test_component_talks_to_another_server_over_s2s(corvid_factory, net):
    """A component's stanzas to another server go out over s2s from the component's domain,
    which the other server authenticates (here by dialback) like any domain of ours; answers
    come back to the component."""
    settings = {"s2s": {"dialback_without_certificate": True}}
    gw = f"gw.{net.domain('comp-one')}"
    one = corvid_factory("comp-one", identity=net.ca.self_signed(net.domain("comp-one")),
                         trust_ca=False,
                         overrides={**settings, "components": [{"domain": gw, "secret": "gw-s"}]})
    # The component's domain is found in DNS like a host's: at the same server.
    net.zone.a[gw] = [one.s2s_ip]
    net.zone.srv[f"_xmpp-server._tcp.{gw}"] = [(10, 0, one.s2s_port, gw)]
    two = corvid_factory("comp-two", identity=net.ca.self_signed(net.domain("comp-two")),
                         trust_ca=False, overrides=settings)
    component = RawComponent(one.component_port)
    component.connect_as(gw, "gw-s")

    async def main():
        dave = await at_corvid(two, "dave")
        try:
            component.send(f"<message from='bot@{gw}/r' to='{dave.boundjid.full}' type='chat'>"
                           "<body>hello from a component</body></message>")
            m = await dave.next_message(timeout=20, body="hello from a component")
            assert m["from"] == f"bot@{gw}/r"
            dave.send_message(mto=f"bot@{gw}/r", mbody="hello component", mtype="chat")
            got = await asyncio.to_thread(component.wait_stanza, "message", timeout=20)
            assert got.get("from") == dave.boundjid.full
            assert got.findtext(q(NS_COMPONENT, "body")) == "hello component"
        finally:
            await dave.close()

    try:
        slix.run(main(), 80)
    finally:
        component.close()
    assert f"s2s out {gw} -> {two.domain}: established" in one.log()
    assert f"{gw} authenticated for {two.domain} (dialback)" in two.log()
