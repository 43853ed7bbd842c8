// xmpp.js (@xmpp/client, npm) logs in to Starling the way it prefers:
// SASL2 (XEP-0388) with Bind 2 (XEP-0386) and stream management inline,
// fetches the roster, sends itself a message and reads it back.  Prints one
// line per event for tests/e2e/test_xmppjs.py: "online <jid>", "roster
// <type>", "message <body>", "nonza <name> <xmlns>" for each nonza in order,
// and exits 0; exits 1 on an error, 2 after 15 s.
import { client, xml } from "@xmpp/client";

const [port, username, password] = process.argv.slice(2);
const xmpp = client({
  service: `xmpp://127.0.0.1:${port}`,
  domain: "localhost",
  username,
  password,
  resource: "xjs",
});
const out = (line) => process.stdout.write(line + "\n");

xmpp.on("error", (e) => {
  out("error " + e.message);
  process.exit(1);
});
xmpp.on("nonza", (el) => out(`nonza ${el.name} ${el.attrs.xmlns || ""}`));
xmpp.on("online", async (jid) => {
  out("online " + jid.toString());
  const r = await xmpp.iqCaller.request(
    xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })),
  );
  out("roster " + r.attrs.type);
  await xmpp.send(
    xml("message", { to: jid.toString(), type: "chat" }, xml("body", {}, "to myself")),
  );
});
xmpp.on("stanza", async (st) => {
  if (!st.is("message")) return;
  out("message " + st.getChildText("body"));
  await xmpp.stop();
  process.exit(0);
});
setTimeout(() => {
  out("timeout");
  process.exit(2);
}, 15000);
xmpp.start().catch((e) => {
  out("error " + e.message);
  process.exit(1);
});
