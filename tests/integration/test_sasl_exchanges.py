"""Each SASL exchange has its own identity (issue 9, §1).

A client holding the account `mallory` must never end up authenticated as `alice`, however it
interleaves exchanges: an <auth/> for itself, then <abort/> (or a second <auth/> while the first
is running) and an <auth/> naming alice, all in one write, so that the credential look-up (and
for PLAIN the PBKDF2 check on a worker) of the abandoned exchange is still under way when the
exchange for alice starts waiting for its own. Before the fix, the late result of mallory's
look-up was applied to alice's exchange: the challenge carried mallory's salt, and a proof made
from mallory's password authenticated the stream as alice.
"""

import base64
import hashlib
import hmac
import os
import time

import pytest

from xmpp_raw import NS_SASL, RawClient, mechanisms, q, sasl_failure_condition, to_str

ATTACKER, ATTACKER_PW = "mallory", "mallory-secret"
VICTIM, VICTIM_PW = "alice", "alice-secret"
ROUNDS = 4  # attempts per connection setting and variant; each one raced before the fix

# The throttle would stop the repeated attempts early (which would hide the race, not fix it).
NO_THROTTLE = {"max_failures_per_ip": 1000000, "max_failures_per_account": 1000000}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Scram:
    """The client side of one SCRAM exchange, its messages built by hand."""

    def __init__(self, client: RawClient, mechanism: str, user: str) -> None:
        self.mechanism = mechanism
        self.hash = "sha1" if mechanism.startswith("SCRAM-SHA-1") else "sha256"
        cb_type = "tls-server-end-point" if mechanism.endswith("-PLUS") else None
        self.gs2 = f"p={cb_type},," if cb_type else "n,,"
        self.cb_data = client.channel_binding(cb_type) if cb_type else b""
        self.first_bare = f"n={user},r={b64(os.urandom(12))}"

    def auth(self) -> str:
        return (f"<auth xmlns='{NS_SASL}' mechanism='{self.mechanism}'>"
                f"{b64((self.gs2 + self.first_bare).encode())}</auth>")

    def salt(self, challenge) -> bytes:
        attrs = dict(kv.split("=", 1) for kv in base64.b64decode(challenge.text).decode().split(","))
        return base64.b64decode(attrs["s"])

    def response(self, challenge, password: str) -> str:
        server_first = base64.b64decode(challenge.text).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        salted = hashlib.pbkdf2_hmac(self.hash, password.encode(), base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", self.hash).digest()
        stored_key = hashlib.new(self.hash, client_key).digest()
        without_proof = f"c={b64(self.gs2.encode() + self.cb_data)},r={attrs['r']}"
        auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, self.hash).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        final = f"{without_proof},p={b64(proof)}"
        return f"<response xmlns='{NS_SASL}'>{b64(final.encode())}</response>"


def plain_auth(user: str, password: str) -> str:
    message = b"\0" + user.encode() + b"\0" + password.encode()
    return f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{b64(message)}</auth>"


def tls_client(server) -> tuple[RawClient, list[str]]:
    c = RawClient(server.port)
    c.open_stream()
    return c, mechanisms(c.starttls())


def victim_salt(server, mechanism: str) -> bytes:
    """The salt the server hands out for alice (the attacker can learn it too: it is public)."""
    c, _ = tls_client(server)
    s = Scram(c, mechanism, VICTIM)
    c.send(s.auth())
    challenge = c.next()
    assert challenge.tag == q(NS_SASL, "challenge"), to_str(challenge)
    c.close()
    return s.salt(challenge)


def interleaved(first: str, second: str, variant: str) -> str:
    """An exchange for the attacker, abandoned, then one for the victim: one write."""
    if variant == "abort":
        return first + f"<abort xmlns='{NS_SASL}'/>" + second
    # A second <auth/> while the first runs is refused (malformed-request) and ends that
    # exchange; a third one starts the exchange the attacker wants.
    return first + second + second


ABANDONED = ("aborted", "malformed-request")


def next_outcome(c: RawClient):
    """The next element that is not the failure an abandoned exchange earns (<aborted/> after
    <abort/>, <malformed-request/> for an <auth/> during an exchange)."""
    while True:
        el = c.next()
        if el.tag != q(NS_SASL, "failure") or sasl_failure_condition(el) not in ABANDONED:
            return el


def attempt_scram(server, mechanism: str, variant: str, alice_salt: bytes) -> None:
    c, offered = tls_client(server)
    assert mechanism in offered
    mine, theirs = Scram(c, mechanism, ATTACKER), Scram(c, mechanism, VICTIM)
    c.send(interleaved(mine.auth(), theirs.auth(), variant))
    challenge = next_outcome(c)
    assert challenge.tag == q(NS_SASL, "challenge"), to_str(challenge)
    assert theirs.salt(challenge) == alice_salt, \
        "the exchange for alice was answered with another account's salt"
    c.send(theirs.response(challenge, ATTACKER_PW))
    res = c.next()
    assert res.tag == q(NS_SASL, "failure"), \
        f"authenticated as {VICTIM} with {ATTACKER}'s password: {to_str(res)}"
    assert sasl_failure_condition(res) == "not-authorized", to_str(res)
    c.close()


def attempt_plain(server, variant: str) -> None:
    c, offered = tls_client(server)
    assert "PLAIN" in offered
    c.send(interleaved(plain_auth(ATTACKER, ATTACKER_PW), plain_auth(VICTIM, ATTACKER_PW),
                       variant))
    res = next_outcome(c)
    # The attacker's own exchange was abandoned before it could end, so a success is alice's.
    assert res.tag == q(NS_SASL, "failure"), \
        f"authenticated as {VICTIM} with {ATTACKER}'s password: {to_str(res)}"
    assert sasl_failure_condition(res) == "not-authorized", to_str(res)
    c.close()


def add_accounts(server) -> None:
    server.add_user(f"{ATTACKER}@localhost", ATTACKER_PW)
    server.add_user(f"{VICTIM}@localhost", VICTIM_PW)


@pytest.mark.parametrize("connections", [1, 4])
@pytest.mark.parametrize("variant", ["abort", "second-auth"])
@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS",
                                       "SCRAM-SHA-256-PLUS", "PLAIN"])
def test_abandoned_exchange_never_authenticates_another_account(server_factory, mechanism,
                                                                  variant, connections):
    server = server_factory(config={"database": {"connections": connections},
                                    "auth": NO_THROTTLE})
    add_accounts(server)
    salt = None if mechanism == "PLAIN" else victim_salt(server, mechanism)
    for _ in range(ROUNDS):
        if mechanism == "PLAIN":
            attempt_plain(server, variant)
        else:
            attempt_scram(server, mechanism, variant, salt)
    # And the stream stays usable for an honest login after all that.
    c, _ = tls_client(server)
    res = c.auth_plain(VICTIM, VICTIM_PW)
    assert res.tag == q(NS_SASL, "success"), to_str(res)
    c.close()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
def test_attacker_still_logs_in_as_itself_after_an_abandoned_exchange(server, mechanism):
    """The fix drops late results; it must not break the exchange that follows an abort."""
    add_accounts(server)
    c, _ = tls_client(server)
    if mechanism == "PLAIN":
        c.send(plain_auth(VICTIM, "guess") + f"<abort xmlns='{NS_SASL}'/>" +
               plain_auth(ATTACKER, ATTACKER_PW))
        res = next_outcome(c)
    else:
        first, mine = Scram(c, mechanism, VICTIM), Scram(c, mechanism, ATTACKER)
        c.send(first.auth() + f"<abort xmlns='{NS_SASL}'/>" + mine.auth())
        challenge = next_outcome(c)
        assert challenge.tag == q(NS_SASL, "challenge"), to_str(challenge)
        c.send(mine.response(challenge, ATTACKER_PW))
        res = c.next()
    assert res.tag == q(NS_SASL, "success"), to_str(res)
    c.open_stream()
    assert c.bind().get("type") == "result"
    assert c.jid.startswith(f"{ATTACKER}@localhost/"), c.jid
    c.close()


# Slow hashes (about a second each here), one worker thread and room for two jobs: enough to see
# whether an abandoned PLAIN check keeps its place in the pool.
@pytest.mark.corvid(config={"auth": {"scram_iterations": 2000000, **NO_THROTTLE},
                            "limits": {"worker_queue_max": 2}})
def test_abandoned_plain_check_leaves_the_worker_pool(server):
    """An <abort/> cancels the PBKDF2 check of its exchange: a queued one never runs and frees its
    place at once, so abandoned logins cannot keep honest ones out of a full pool."""
    add_accounts(server)
    honest, _ = tls_client(server)
    abandoned = []
    for _ in range(2):  # the first check runs, the second waits for the thread: the pool is full
        c, _ = tls_client(server)
        c.send(plain_auth(ATTACKER, ATTACKER_PW))
        abandoned.append(c)
    # The checks are posted once the credentials are back from PostgreSQL (milliseconds); the
    # first one then runs for about a second, so both are pending when they are abandoned.
    time.sleep(0.3)
    for c in abandoned:
        c.send(f"<abort xmlns='{NS_SASL}'/>")
        assert sasl_failure_condition(c.next()) == "aborted"
    res = honest.auth_plain(VICTIM, VICTIM_PW)
    assert res.tag == q(NS_SASL, "success"), \
        f"an honest login found the pool full of abandoned checks: {to_str(res)}"
    for c in abandoned + [honest]:
        c.close()
