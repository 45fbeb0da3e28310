"""Real client libraries against corvid: nbxmpp (Gajim's library) and libstrophe, each chatting
with a slixmpp client. Both run as subprocesses (GLib and libstrophe bring their own loops)."""

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import slix

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"  # the one with nbxmpp and GObject introspection


@pytest.fixture(scope="session")
def strophe_client(tmp_path_factory) -> str:
    """Builds clients/strophe_client.c against the system libstrophe."""
    src = HERE / "clients" / "strophe_client.c"
    out = tmp_path_factory.mktemp("strophe") / "strophe_client"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libstrophe"], capture_output=True,
                           text=True)
    if flags.returncode != 0 or shutil.which("cc") is None:
        pytest.fail(f"cannot build the libstrophe client: pkg-config libstrophe: "
                    f"{flags.stderr.strip()} (apt-get install libstrophe-dev)", pytrace=False)
    r = subprocess.run(["cc", "-O1", "-Wall", "-o", str(out), str(src), *flags.stdout.split()],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"building {src.name} failed:\n{r.stderr}", pytrace=False)
    return str(out)


async def run_peer(cmd: list[str], bob: slix.Client, peer_jid: str, hello: str,
                   parse) -> list:
    """Runs the other client; bob receives its hello, answers, and gets the echo back."""
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        m = await bob.next_message(timeout=30, body=hello)
        assert m["from"] == peer_jid, m["from"]
        assert m["type"] == "chat"
        bob.send_message(mto=m["from"], mbody="hi from slixmpp", mtype="chat")
        echo = await bob.next_message(timeout=15, body="echo: hi from slixmpp")
        assert echo["from"] == peer_jid
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    except BaseException:
        proc.kill()
        out, err = await proc.communicate()
        print("client stdout:", out.decode(errors="replace"))
        print("client stderr:", err.decode(errors="replace")[-3000:])
        raise
    events = [parse(line) for line in out.decode().splitlines() if line.strip()]
    assert proc.returncode == 0, f"client exited {proc.returncode}: {events}\n" \
                                 f"{err.decode(errors='replace')[-3000:]}"
    return events


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct-tls"])
def test_nbxmpp_chats_with_slixmpp(server, users, direct_tls):
    async def main():
        bob = await slix.login(server.port, "bob@localhost/slix", users["bob"])
        cmd = [SYSTEM_PYTHON, str(HERE / "clients" / "nbxmpp_client.py"),
               "--port", str(server.tls_port if direct_tls else server.port),
               "--jid", "alice@localhost/gajim", "--password", users["alice"],
               "--peer", "bob@localhost", "--send", "hello from nbxmpp", "--timeout", "30"]
        if direct_tls:
            cmd.append("--direct-tls")
        events = await run_peer(cmd, bob, "alice@localhost/gajim", "hello from nbxmpp",
                                json.loads)
        connected = [e for e in events if e["event"] == "connected"]
        assert connected and connected[0]["jid"] == "alice@localhost/gajim", events
        assert connected[0]["tls"], events
        got = [e for e in events if e["event"] == "message"]
        assert got and got[0]["body"] == "hi from slixmpp", events
        assert got[0]["frm"] == "bob@localhost/slix", events
        await bob.close()
    slix.run(main(), timeout=90)
    assert "authenticated as alice@localhost" in server.log()


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct-tls"])
def test_libstrophe_chats_with_slixmpp(server, users, strophe_client, direct_tls):
    async def main():
        bob = await slix.login(server.port, "bob@localhost/slix", users["bob"])
        cmd = [strophe_client, str(server.tls_port if direct_tls else server.port),
               "carol@localhost/strophe", users["carol"], "bob@localhost", "hello from strophe"]
        if direct_tls:
            cmd.append("direct")
        lines = await run_peer(cmd, bob, "carol@localhost/strophe", "hello from strophe",
                               lambda s: s)
        assert any(line.startswith("connected carol@localhost/strophe secured=1")
                   for line in lines), lines
        assert "message bob@localhost/slix hi from slixmpp" in lines, lines
        await bob.close()
    slix.run(main(), timeout=90)
    assert "authenticated as carol@localhost" in server.log()


def test_slixmpp_logs_in_again_and_again_over_tls13(server, users):
    """slixmpp 1.8 offers SCRAM-*-PLUS with tls-unique even on TLS 1.3, where corvid does not
    accept it (RFC 9266 §3), then SCRAM with the "y" flag (refused while -PLUS is offered), then
    PLAIN. Those refusals come before any credential is looked up and must not count as failed
    logins: with the default throttle (5 failures per address) the second login used to be
    refused."""
    async def main():
        for i in range(4):
            c = await slix.login(server.port, f"alice@localhost/r{i}", users["alice"])
            assert c.socket.version() == "TLSv1.3", c.socket.version()
            await c.ping_server()
            await c.close()
    slix.run(main(), timeout=90)
