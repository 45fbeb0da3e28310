"""The failed-login policy (docs/admin-guide.md, "Failed logins"): guessing from one address is
cut off, guessing spread over many addresses slows the account down, and neither locks the owner
out (before, 10 wrong passwords from anywhere refused the right one for 300 s)."""

import base64
import time

import pytest

from xmpp_raw import NS_SASL, RawClient, q, sasl_failure_condition, to_str


def attempt(server, source_ip: str, user: str, password: str):
    c = RawClient(server.port, source_ip=source_ip)
    c.open_stream()
    c.starttls()
    t0 = time.monotonic()
    res = c.auth_plain(user, password)
    elapsed = time.monotonic() - t0
    c.close()
    return res, elapsed


def fail_from(server, source_ip: str, count: int) -> None:
    for _ in range(count):
        res, _ = attempt(server, source_ip, "alice", "wrong guess")
        assert sasl_failure_condition(res) == "not-authorized", to_str(res)


@pytest.mark.corvid(config={"auth": {"max_failures_per_ip": 4, "max_failures_per_account": 6}})
def test_guesses_from_many_addresses_do_not_lock_the_owner_out(server, users):
    # 3 addresses x 3 guesses: under every per-address limit, over the account's.
    for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        fail_from(server, ip, 3)
    res, elapsed = attempt(server, "127.0.0.1", "alice", users["alice"])
    assert res.tag == q(NS_SASL, "success"), f"the owner was locked out: {to_str(res)}"
    assert elapsed >= 1.5, f"an account under attack answers slowly; took {elapsed:.2f} s"
    # Another account is not slowed down.
    res, elapsed = attempt(server, "127.0.0.1", "bob", users["bob"])
    assert res.tag == q(NS_SASL, "success"), to_str(res)
    assert elapsed < 1.5, f"bob is not under attack; took {elapsed:.2f} s"


@pytest.mark.corvid(config={"auth": {"max_failures_per_ip": 100, "max_failures_per_account": 4}})
def test_an_address_that_keeps_failing_for_an_account_is_refused_for_it(server, users):
    fail_from(server, "127.0.0.2", 4)
    # Even the right password from there now fails, like a wrong one (nothing to learn).
    res, _ = attempt(server, "127.0.0.2", "alice", users["alice"])
    assert sasl_failure_condition(res) == "not-authorized", to_str(res)
    # Other accounts from that address, and the account from elsewhere, still work.
    res, _ = attempt(server, "127.0.0.2", "bob", users["bob"])
    assert res.tag == q(NS_SASL, "success"), to_str(res)
    res, _ = attempt(server, "127.0.0.1", "alice", users["alice"])
    assert res.tag == q(NS_SASL, "success"), to_str(res)


@pytest.mark.corvid(config={"auth": {"max_failures_per_ip": 3}})
def test_abandoned_exchanges_count_against_the_address(server, users):
    for _ in range(3):
        c = RawClient(server.port, source_ip="127.0.0.5")
        c.open_stream()
        c.starttls()
        # With its client-first message, so that the server looks alice's credentials up.
        first = base64.b64encode(b"n,,n=alice,r=abcdefgh").decode()
        c.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>{first}</auth>")
        assert c.next().tag == q(NS_SASL, "challenge")
        c.send(f"<abort xmlns='{NS_SASL}'/>")
        assert sasl_failure_condition(c.next()) == "aborted"
        c.close()
    res, _ = attempt(server, "127.0.0.5", "alice", users["alice"])
    assert sasl_failure_condition(res) == "temporary-auth-failure", to_str(res)
