"""Clean shutdown on SIGTERM: every client is told <system-shutdown/>, the process exits 0."""

import asyncio
import signal
import time

import slix
from xmpp_raw import RawClient


def test_sigterm_sends_system_shutdown(server, users):
    bound = RawClient(server.port)
    bound.login("alice", users["alice"], resource="a", presence=True)
    pre_tls = RawClient(server.port)
    pre_tls.open_stream()
    direct = RawClient(server.tls_port, direct_tls=True)
    direct.open_stream()

    async def main():
        bob = await slix.login(server.port, "bob@localhost/b", users["bob"])
        t0 = time.monotonic()
        server.terminate()
        for c in (bound, pre_tls, direct):
            cond, _ = await asyncio.to_thread(c.stream_error, 10)
            assert cond == "system-shutdown"
        await asyncio.wait_for(asyncio.shield(bob.gone), 10)
        conds = [e["condition"] for e in bob.stream_errors]
        assert conds == ["system-shutdown"], conds
        return t0

    t0 = slix.run(main())
    rc = server.stop()
    assert rc == 0, f"exit status {rc}"
    assert time.monotonic() - t0 < 5, "shutdown took long although every client answered"
    assert "shutting down" in server.log()


def test_sigterm_with_a_client_that_never_answers(server, users):
    """A client that neither reads nor closes cannot hold the server up past its grace period."""
    mute = RawClient(server.port)
    mute.login("alice", users["alice"], resource="mute")
    t0 = time.monotonic()
    rc = server.stop()
    elapsed = time.monotonic() - t0
    assert rc == 0, f"exit status {rc}"
    assert elapsed < 6, f"exit took {elapsed:.1f} s"
    mute.close()


def test_sigterm_with_no_clients_is_immediate(server):
    t0 = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - t0 < 2


def test_second_sigterm_leaves_at_once_with_sessions_still_bound(server, users):
    """The second signal does not wait for anyone; the sessions still bound end on the way out
    (a crash here once: the teardown ended them while iterating over them)."""
    mutes = [RawClient(server.port) for _ in range(3)]
    for i, m in enumerate(mutes):
        m.login("alice", users["alice"], resource=f"mute{i}")
        m.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    server.wait_log(r"mute2\): stream management enabled")
    server.terminate()
    server.wait_log(r"shutting down")
    server.proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    rc = server.stop()
    assert rc == 0, f"exit status {rc}"
    assert time.monotonic() - t0 < 2
    for m in mutes:
        m.close()
