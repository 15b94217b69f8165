// A Moleculer 0.14 node with its Etcd3 discoverer, as a test peer: one service (SERVICE,
// optionally versioned), registered in etcd under moleculer[-NAMESPACE]/discovery/ as
//   info/<NODE_ID>                        the INFO packet (JSON), on a lease of TTL 60
//                                         (hard-coded in the discoverer)
//   beats/<NODE_ID>/<instanceID[0:8]>/<seq>  the heartbeat (JSON), on a lease of TTL
//                                         HEARTBEAT_TIMEOUT, re-put every HEARTBEAT_INTERVAL
// The etcd3 library keeps both leases alive. The transporter is Fake by default: no broker,
// discovery only through etcd, calls do not cross processes. (Moleculer's TCP transporter
// turns the discoverer's heartbeat off; a NATS or Redis URL needs that server.)
//
// Environment:
//   ETCD_ENDPOINT       required, e.g. http://127.0.0.1:2379 (the gRPC port)
//   NODE_ID             the node id (node-a)
//   SERVICE             the service name (greeter); it has one action, hello
//   SVC_VERSION         the service version: digits give a number (v2.greeter), other text a
//                       string (2.x.greeter); unset = no version
//   NAMESPACE           Moleculer's namespace (none)
//   HEARTBEAT_INTERVAL  s (Moleculer's default 10)
//   HEARTBEAT_TIMEOUT   s, also the beat lease's TTL (Moleculer's default 30)
//   TRANSPORTER         (Fake)
//
// Commands (stdin lines): stop (broker.stop(): the services unregistered, INFO rewritten,
// then its keys deleted and leases revoked as the discoverer does it; exit 0).
// End of input = stop.
//
// Events (stdout, one JSON object a line; leases in hex):
//   {"ev":"joined","node":..,"instanceID":..,"info":<key>,"beat":<key>,"info_lease":..,"beat_lease":..}
//                       once both keys are in etcd
//   {"ev":"node-connected","node":..}  {"ev":"node-disconnected","node":..,"unexpected":..}
//                       another node seen (or lost) through etcd
//   {"ev":"stopped"}  {"ev":"error","error":..}
const { ServiceBroker } = require("moleculer");
const { emit, fail, setting, leaseHex, commands, exitClean } = require("./peer");

const num = (name) => (process.env[name] ? Number(process.env[name]) : undefined);
const broker = new ServiceBroker({
  nodeID: setting("NODE_ID", "node-a"),
  namespace: setting("NAMESPACE", ""),
  transporter: setting("TRANSPORTER", "Fake"),
  heartbeatInterval: num("HEARTBEAT_INTERVAL"),
  heartbeatTimeout: num("HEARTBEAT_TIMEOUT"),
  registry: { discoverer: { type: "Etcd3", options: { etcd: { hosts: setting("ETCD_ENDPOINT") } } } },
  logLevel: setting("LOG_LEVEL", "warn"), // to stderr
});
const schema = { name: setting("SERVICE", "greeter"), actions: { hello: () => `hello from ${broker.nodeID}` } };
const version = process.env.SVC_VERSION;
if (version) schema.version = /^\d+$/.test(version) ? Number(version) : version;
broker.createService(schema);
broker.localBus.on("$node.connected", ({ node }) => emit("node-connected", { node: node.id }));
broker.localBus.on("$node.disconnected", ({ node, unexpected }) =>
  emit("node-disconnected", { node: node.id, unexpected }),
);

async function main() {
  await broker.start();
  const d = broker.registry.discoverer;
  // Moleculer's start() resolves once INFO is sent; the first beat follows. Wait for both keys.
  let beat;
  for (;;) {
    const info = await d.client.get(d.INFO_KEY).exists();
    beat = (await d.client.getAll().prefix(d.BEAT_KEY + "/").keys())[0];
    if (info && beat && d.leaseInfo && d.leaseBeat) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  emit("joined", {
    node: broker.nodeID,
    instanceID: broker.instanceID,
    info: d.INFO_KEY,
    beat,
    info_lease: leaseHex(await d.leaseInfo.grant()),
    beat_lease: leaseHex(await d.leaseBeat.grant()),
  });
  commands(async (line) => {
    if (line !== "stop") return emit("error", { error: `unknown command: ${line}` });
    await broker.stop();
    exitClean();
  });
}
main().catch((e) => fail(String(e)));
