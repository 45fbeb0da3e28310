"""PostgreSQL going away and coming back while corvid runs."""

import asyncio
import time

import pytest

import slix
from corvid_harness import PrivatePostgres
from xmpp_raw import NS_SASL, RawClient, q, sasl_failure_condition, to_str


@pytest.fixture
def private_pg():
    """A cluster of this test's own (scripts/pg.sh), so that stopping it hurts nobody else.
    Listed before server_factory, it is torn down after the servers."""
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.cleanup()


def try_login(server, user, pw) -> tuple[str, object]:
    """("ok", jid) or ("failure", condition) for one PLAIN login attempt."""
    c = RawClient(server.port)
    try:
        c.negotiate_tls()
        res = c.auth_plain(user, pw)
        if res.tag != q(NS_SASL, "success"):
            return "failure", sasl_failure_condition(res)
        c.open_stream()
        reply = c.bind("fresh")
        assert reply.get("type") == "result", to_str(reply)
        assert c.ping().get("type") == "result"
        return "ok", c.jid
    finally:
        c.close()


@pytest.mark.time_limit(150)
def test_postgres_restart(private_pg, server_factory):
    server = server_factory(
        admin_dsn=private_pg.dsn,
        config={"database": {"connect_timeout_ms": 1000, "reconnect_max_backoff_ms": 500,
                             "statement_timeout_ms": 2000}},
        # What corvid is expected to say while its database is gone.
        allow_log=[r"^\S+ \S+ error database: "])
    server.add_users({"alice@localhost": "pw-a", "bob@localhost": "pw-b",
                      "carol@localhost": "pw-c"})

    async def main():
        alice = await slix.login(server.port, "alice@localhost/a", "pw-a")
        bob = await slix.login(server.tls_port, "bob@localhost/b", "pw-b", direct_tls=True)

        await asyncio.to_thread(private_pg.stop)

        # Established sessions do not need the database to chat.
        for i in range(3):
            alice.send_message(mto="bob@localhost", mbody=f"db down {i}", mtype="chat")
            await bob.next_message(body=f"db down {i}")
            bob.send_message(mto="alice@localhost/a", mbody=f"still ok {i}", mtype="chat")
            await alice.next_message(body=f"still ok {i}")

        # A new login cannot be checked: temporary-auth-failure (RFC 6120 §6.5.12), not a hang
        # and not not-authorized.
        result = await asyncio.to_thread(try_login, server, "carol", "pw-c")
        assert result == ("failure", "temporary-auth-failure"), result
        assert server.alive()

        await asyncio.to_thread(private_pg.start)

        # corvid reconnects by itself: within a bounded time a login works again.
        deadline = time.monotonic() + 30
        attempts = []
        while True:
            result = await asyncio.to_thread(try_login, server, "carol", "pw-c")
            attempts.append(result)
            if result[0] == "ok":
                break
            assert result == ("failure", "temporary-auth-failure"), attempts
            assert time.monotonic() < deadline, f"no login 30 s after PostgreSQL came back: " \
                                                f"{attempts[-3:]}"
            await asyncio.sleep(0.3)  # polling: a client has no event for "database is back"
        assert result == ("ok", "carol@localhost/fresh")

        # Wrong passwords are wrong again, not temporary failures.
        result = await asyncio.to_thread(try_login, server, "carol", "nope")
        assert result == ("failure", "not-authorized"), result

        alice.send_message(mto="bob@localhost", mbody="after restart", mtype="chat")
        await bob.next_message(body="after restart")
        await alice.close()
        await bob.close()

    slix.run(main(), timeout=120)


@pytest.mark.time_limit(150)
def test_start_while_postgres_is_down(private_pg, server_factory):
    """corvid starts (and listens) although PostgreSQL is not up; logins get
    temporary-auth-failure until it comes up, then work without a restart of corvid."""
    server = server_factory(
        admin_dsn=private_pg.dsn, start=False,
        config={"database": {"connect_timeout_ms": 1000, "reconnect_max_backoff_ms": 500}},
        allow_log=[r"^\S+ \S+ error database: "])
    server.start()  # creates the database, migrates it, ...
    server.add_user("alice@localhost", "pw-a")
    server.stop()
    private_pg.stop()

    server.restart(wait_database=False)  # listening, database still away
    assert "database ready" not in server.log_of_this_run()
    assert try_login(server, "alice", "pw-a") == ("failure", "temporary-auth-failure")

    private_pg.start()
    deadline = time.monotonic() + 30
    while True:
        result = try_login(server, "alice", "pw-a")
        if result[0] == "ok":
            break
        assert result == ("failure", "temporary-auth-failure"), result
        assert time.monotonic() < deadline, "no login 30 s after PostgreSQL came up"
        time.sleep(0.3)  # polling: a client has no event for "database is back"
    assert result == ("ok", "alice@localhost/fresh")
