"""Resource limits: bounded output buffers, connections per IP, authentication throttling."""

import os
import time

import pytest

from xmpp_raw import (NS_CLIENT, RawClient, StreamClosed, XmppTimeout, q, sasl_failure_condition,
                      stanza_error_condition, to_str)


def online(server, user, pw, resource, **kw) -> RawClient:
    c = RawClient(server.port, **kw)
    c.login(user, pw, resource=resource, presence=True)
    return c


@pytest.mark.time_limit(150)
@pytest.mark.corvid(config={"limits": {"output_buffer_bytes": 65536},
                            "server": {"log_level": "info"}},
                    # Under AddressSanitizer, freed memory sits in a 256 MiB quarantine, which
                    # would look like growth here; a small one keeps the RSS bound meaningful.
                    env={"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                         ":quarantine_size_mb=4"})
def test_slow_reader_is_disconnected(server, users):
    """A client that stops reading while another floods it is dropped once its unsent output
    passes limits.output_buffer_bytes; the server's memory stays bounded and everybody else is
    fine."""
    bob = online(server, "bob", users["bob"], "slow", rcvbuf=4096)  # and never reads again
    alice = online(server, "alice", users["alice"], "flood")
    carol = online(server, "carol", users["carol"], "c")
    rss_before = server.rss_kb()

    body = "F" * 8000
    stanza = (f"<message to='bob@localhost/slow' type='headline'><body>{body}</body></message>"
              ).encode()
    total_mb = 32
    per_round = (2 << 20) // len(stanza)
    sent = 0
    dropped_after = None
    rss_peak = rss_before
    for rnd in range(total_mb // 2):
        alice.send(stanza * per_round)
        sent += per_round * len(stanza)
        # An iq to bob's full JID: unanswered while bob is connected (he never reads), bounced
        # with service-unavailable once his session is gone (RFC 6121 §8.5.3.2.1). (A chat
        # message would go to offline storage instead, §8.5.2.2.) The ping reply, handled after
        # it, tells us the server has processed the round.
        alice.send(f"<iq to='bob@localhost/slow' type='get' id='probe{rnd}'>"
                   f"<ping xmlns='urn:xmpp:ping'/></iq>")
        reply = alice.ping(timeout=30)
        assert reply.get("type") == "result"
        rss_peak = max(rss_peak, server.rss_kb())
        if dropped_after is None:
            bounced = [e for e in alice.skipped
                       if (e.get("id") or "").startswith("probe") and e.get("type") == "error"]
            if bounced:
                assert stanza_error_condition(bounced[0]) == "service-unavailable"
                dropped_after = sent
    print(f"bob dropped after {dropped_after} bytes; RSS {rss_before} -> peak {rss_peak} KiB")
    assert dropped_after is not None, f"bob still connected after {sent >> 20} MiB"
    assert dropped_after <= 16 << 20, f"bob was only dropped after {dropped_after >> 20} MiB"
    growth_mb = (rss_peak - rss_before) / 1024
    assert growth_mb < total_mb / 2, \
        f"RSS grew by {growth_mb:.1f} MiB while {sent >> 20} MiB went to a reader that is gone"

    # Bob finds his connection closed once he looks, having received far less than was sent.
    bob.timeout = 30
    try:
        bob.wait_closed(timeout=30)
    except StreamClosed:
        pass
    assert len(bob.received) < sent // 2, (len(bob.received), sent)

    # Everybody else is fine.
    alice.message("carol@localhost/c", "after the flood")
    assert carol.wait_message("after the flood").get("from") == alice.jid
    carol.message(alice.jid, "yes")
    alice.wait_message("yes")
    assert "refusing" not in server.log()
    alice.close()
    carol.close()


@pytest.mark.corvid(config={"limits": {"max_connections_per_ip": 2}})
def test_connections_per_ip(server):
    c1 = RawClient(server.port)
    c1.open_stream()
    c2 = RawClient(server.tls_port, direct_tls=True)
    c2.open_stream()
    # The third from the same address is closed at once, without a byte.
    c3 = RawClient(server.port)
    c3.wait_closed(timeout=5)
    assert c3.received == b"", c3.transcript()
    # Another address is counted separately.
    other = RawClient(server.port, source_ip="127.0.0.2")
    other.open_stream()
    # When one leaves, a new connection is accepted again (bounded wait for the bookkeeping).
    c1.close()
    deadline = time.monotonic() + 10
    while True:
        c = RawClient(server.port)
        try:
            c.open_stream()
            break
        except (StreamClosed, XmppTimeout, OSError):
            c.close()
            assert time.monotonic() < deadline, "no connection accepted after one was closed"
            time.sleep(0.1)  # polling: nothing tells a client when the count has gone down
    for x in (c, c2, other):
        x.close()


@pytest.mark.corvid(config={"auth": {"max_failures_per_ip": 2}})
def test_auth_failures_per_ip_throttled(server, users):
    """After auth.max_failures_per_ip failures, further attempts from that address are refused,
    even with the right password; another address is not affected."""
    c = RawClient(server.port)
    c.negotiate_tls()
    for _ in range(2):
        assert sasl_failure_condition(c.auth_plain("alice", "wrong")) == "not-authorized"
    res = c.auth_plain("alice", users["alice"])
    assert res.tag.endswith("failure"), f"throttling did not refuse: {to_str(res)}"
    assert sasl_failure_condition(res) == "temporary-auth-failure", to_str(res)
    c.close()
    # A new connection from the same address is refused too (it is per address, not per stream).
    c = RawClient(server.port)
    c.negotiate_tls()
    r = c.auth_scram("bob", users["bob"], "SCRAM-SHA-256")
    assert not r.success and r.condition == "temporary-auth-failure", to_str(r.element)
    c.close()
    other = RawClient(server.port, source_ip="127.0.0.2")
    assert other.login("alice", users["alice"]) == "alice@localhost/raw"
    other.close()


@pytest.mark.corvid(config={"auth": {"max_failures_per_ip": 100, "max_failures_per_account": 2}})
def test_auth_failures_per_account_slow_the_account_down(server, users):
    """After auth.max_failures_per_account failures (from any addresses) the account is under
    attack: its logins are slowed down, not refused (the policy of docs/admin-guide.md; refusing
    them let anyone lock the owner out); other accounts are not affected."""
    for ip in ("127.0.0.2", "127.0.0.3"):
        c = RawClient(server.port, source_ip=ip)
        c.negotiate_tls()
        assert sasl_failure_condition(c.auth_plain("alice", "wrong")) == "not-authorized"
        c.close()
    c = RawClient(server.port, source_ip="127.0.0.4")
    c.negotiate_tls()
    t0 = time.monotonic()
    res = c.auth_plain("alice", users["alice"])
    assert res.tag.endswith("success"), f"the owner was locked out: {to_str(res)}"
    assert time.monotonic() - t0 >= 1.5, "an account under attack answers slowly"
    c.close()
    bob = RawClient(server.port, source_ip="127.0.0.4")
    assert bob.login("bob", users["bob"]).startswith("bob@localhost/")
    bob.close()
