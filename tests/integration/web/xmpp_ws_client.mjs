// A real web XMPP client library (@xmpp/client, as web apps use it) run by node over WebSocket
// (RFC 7395), driven by tests/integration/test_websocket.py. It logs in, sends initial
// presence, sends one message to a peer and waits for one message from it. Each event is one
// JSON line on stdout; the exit status is 0 only when the expected message came.
//
//   node xmpp_ws_client.mjs SERVICE_URL USERNAME PASSWORD PEER_JID SEND_BODY EXPECT_BODY
import WebSocket from "ws";
import { client, xml } from "@xmpp/client";

// Browsers have WebSocket built in; node before 22 does not: the "ws" package stands in.
globalThis.WebSocket = WebSocket;

const [service, username, password, peer, sendBody, expectBody] = process.argv.slice(2);
const say = (event) => process.stdout.write(JSON.stringify(event) + "\n");

const xmpp = client({ service, domain: "localhost", username, password, resource: "web" });

const deadline = setTimeout(() => {
  say({ event: "timeout" });
  process.exit(2);
}, 20000);

xmpp.on("error", (err) => {
  say({ event: "error", error: String(err && (err.condition || err.message || err)) });
});

xmpp.on("online", async (address) => {
  say({ event: "online", jid: address.toString() });
  await xmpp.send(xml("presence"));
  await xmpp.send(xml("message", { to: peer, type: "chat" }, xml("body", {}, sendBody)));
  say({ event: "sent", to: peer });
});

xmpp.on("stanza", async (stanza) => {
  if (!stanza.is("message")) return;
  const body = stanza.getChildText("body");
  say({ event: "message", from: stanza.attrs.from, body });
  if (body === expectBody) {
    clearTimeout(deadline);
    await xmpp.stop();
    say({ event: "stopped" });
    process.exit(0);
  }
});

xmpp.start().catch((err) => {
  say({ event: "failed", error: String(err && (err.condition || err.message || err)) });
  process.exit(1);
});
