"""slixmpp (asyncio) clients for the integration tests, with bounded waits everywhere."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Optional

import slixmpp

logging.getLogger("slixmpp").setLevel(logging.CRITICAL)

DEFAULT_TIMEOUT = 10.0


def run(coro, timeout: float = 60.0):
    """Runs a coroutine on a fresh loop, failing (not hanging) after `timeout` seconds."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        # As users run it: TLS 1.3. slixmpp 1.8 binds SCRAM-*-PLUS to tls-unique only, which
        # RFC 9266 §3 rules out on TLS 1.3; the server refuses that and the "y" flag, and slixmpp
        # ends with PLAIN (test_clients.py checks that this never counts against the throttle).
        self.messages: asyncio.Queue = asyncio.Queue()
        self.stream_errors: list = []
        self.started: asyncio.Future = asyncio.get_running_loop().create_future()
        self.gone: asyncio.Future = asyncio.get_running_loop().create_future()
        self.add_event_handler("session_start", self._on_start)
        # slixmpp reports each refused mechanism (failed_auth) and goes on with the next one;
        # only when none is left has the login failed.
        self.refused_mechanisms: list = []
        self.add_event_handler("failed_auth", self.refused_mechanisms.append)
        self.add_event_handler("failed_all_auth", self._on_failed_auth)
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("stream_error", self.stream_errors.append)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("connection_failed", self._on_connection_failed)

    def _on_start(self, _event) -> None:
        if not self.started.done():
            self.started.set_result(True)

    def _on_failed_auth(self, event) -> None:
        if not self.started.done():
            self.started.set_exception(AssertionError(f"{self.boundjid}: authentication failed"))

    def _on_connection_failed(self, event) -> None:
        if not self.started.done():
            self.started.set_exception(AssertionError(f"{self.boundjid}: connection failed: "
                                                      f"{event}"))

    def _on_disconnected(self, reason) -> None:
        if not self.started.done():
            self.started.set_exception(AssertionError(f"{self.requested_jid}: disconnected before "
                                                      f"the session started: {reason}"))
        if not self.gone.done():
            self.gone.set_result(reason)

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT, body: Optional[str] = None):
        """The next message (with `body` if given; others are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            try:
                msg = await asyncio.wait_for(self.messages.get(), max(remaining, 0))
            except asyncio.TimeoutError:
                raise AssertionError(f"{self.boundjid}: no message {body!r} within {timeout} s") \
                    from None
            if body is None or msg["body"] == body:
                return msg

    async def ping_server(self, timeout: float = DEFAULT_TIMEOUT):
        iq = self.Iq()
        iq["type"] = "get"
        iq["to"] = self.boundjid.domain
        iq.append(slixmpp.xmlstream.ET.Element("{urn:xmpp:ping}ping"))
        return await iq.send(timeout=timeout)

    async def close(self, timeout: float = 5.0) -> None:
        if self.gone.done():
            return
        self.disconnect(wait=1.0)
        try:
            await asyncio.wait_for(asyncio.shield(self.gone), timeout)
        except asyncio.TimeoutError:
            self.abort()


async def login(port: int, jid: str, password: str, *, direct_tls: bool = False,
                presence: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Client:
    """Connects, authenticates, binds and (by default) sends initial presence, waiting until the
    server has reflected it back (so the session is available for messages to the bare JID)."""
    c = Client(jid, password)
    reflected = asyncio.get_running_loop().create_future()

    def on_presence(p):
        if p["from"] == c.boundjid and p["type"] == "available" and not reflected.done():
            reflected.set_result(p)

    c.add_event_handler("presence", on_presence)
    c.connect(("127.0.0.1", port), use_ssl=direct_tls)
    try:
        await asyncio.wait_for(c.started, timeout)
        if presence:
            c.send_presence()
            await asyncio.wait_for(reflected, timeout)
    except BaseException:
        c.abort()
        raise
    finally:
        c.del_event_handler("presence", on_presence)
    return c
