"""A Gajim-style client on nbxmpp (GLib main loop), run as a subprocess by test_clients.py.

    nbxmpp_client.py --port P --jid user@domain/resource --password PW --peer JID --send BODY
                     [--direct-tls] [--timeout S]

Logs in (STARTTLS unless --direct-tls; the self-signed certificate is accepted), sends initial
presence, sends BODY to PEER, then echoes the first chat message it receives ("echo: <body>")
and exits 0 once the echo is sent. Every step is printed as one JSON line on stdout. Exits 1 on
any error or after --timeout seconds.
"""

import argparse
import json
import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
from gi.repository import GLib  # noqa: E402

from nbxmpp.client import Client  # noqa: E402
from nbxmpp.const import ConnectionProtocol, ConnectionType  # noqa: E402
from nbxmpp.protocol import JID, Message, Presence  # noqa: E402
from nbxmpp.structs import StanzaHandler  # noqa: E402


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--send", required=True)
    ap.add_argument("--direct-tls", action="store_true")
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()

    jid = JID.from_string(args.jid)
    loop = GLib.MainLoop()
    state = {"rc": 1, "echoed": False}

    client = Client()
    client.set_domain(jid.domain)
    client.set_username(jid.localpart)
    client.set_resource(jid.resource)
    client.set_password(args.password)
    client.set_ignore_tls_errors(True)
    client.set_sm_disabled(True)
    con_type = ConnectionType.DIRECT_TLS if args.direct_tls else ConnectionType.START_TLS
    client.set_connection_types([con_type])
    client.set_custom_host(f"127.0.0.1:{args.port}", ConnectionProtocol.TCP, con_type)

    def on_connected(_client, _signal):
        emit(event="connected", jid=str(client.get_bound_jid()), tls=client.is_stream_secure,
             tls_version=str(client.tls_version))
        client.send_stanza(Presence())
        client.send_stanza(Message(to=args.peer, body=args.send, typ="chat"))
        emit(event="sent", to=args.peer, body=args.send)

    def on_message(_client, stanza, _properties):
        body = stanza.getBody()
        if body is None:
            return
        emit(event="message", frm=str(stanza.getFrom()), to=str(stanza.getTo()), body=body,
             type=stanza.getType())
        if not state["echoed"] and stanza.getType() == "chat":
            state["echoed"] = True
            client.send_stanza(Message(to=stanza.getFrom(), body=f"echo: {body}", typ="chat"))
            emit(event="echoed")
            state["rc"] = 0
            # Let the echo leave before closing the stream.
            GLib.timeout_add(300, lambda: client.disconnect() and False)

    def on_disconnected(_client, _signal):
        domain, error, text = client.get_error()
        emit(event="disconnected", error=str(error), domain=str(domain), text=str(text))
        loop.quit()

    def on_failed(_client, _signal):
        domain, error, text = client.get_error()
        emit(event="connection-failed", error=str(error), domain=str(domain), text=str(text))
        loop.quit()

    def on_timeout():
        emit(event="timeout")
        state["rc"] = 1
        loop.quit()
        return False

    client.subscribe("connected", on_connected)
    client.subscribe("disconnected", on_disconnected)
    client.subscribe("connection-failed", on_failed)
    client.register_handler(StanzaHandler(name="message", callback=on_message))
    GLib.timeout_add(int(args.timeout * 1000), on_timeout)
    client.connect()
    loop.run()
    sys.exit(state["rc"])


if __name__ == "__main__":
    main()
