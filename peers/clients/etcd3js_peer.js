// The npm etcd3 1.1 client (microsoft) as a test peer, in one of two roles:
//   election  client.election(NAME, TTL).campaign(VALUE): one key per candidate,
//             election/<NAME>/<lease id in decimal>, on a lease of its own; the lowest
//             create_revision leads, each other candidate waits for the one before it
//   lock      client.lock(NAME).ttl(TTL).acquire(): the key NAME itself, empty value, on a
//             new lease. acquire() does not wait: when the key exists it revokes its lease
//             and throws, so the peer tries again every RETRY_MS until it holds the lock
//             (a waiter writes no key)
//
// Environment:
//   ETCD_ENDPOINT  required, e.g. http://127.0.0.1:2379 (the gRPC port)
//   ROLE           election (default) | lock
//   MEMBER         a name for the events (c1)
//   NAME           the election name (e1) or the lock key (mylock)
//   VALUE          election: the candidate's value (MEMBER)
//   TTL            the lease TTL, s (the library's defaults: election 60, lock 30)
//   RETRY_MS       lock: ms between attempts (500)
//
// Commands (stdin lines):
//   release         election: resign() (revokes the lease); lock: release() (revokes the lease)
//   proclaim VALUE  election: proclaim(VALUE), a new value on the same key
//   stop            release what is held (a waiting lock stops trying), close, exit 0
// End of input = stop.
//
// Events (stdout, one JSON object a line; leases in hex):
//   {"ev":"campaigning","member":..,"key":..,"lease":..}  election: the candidate key is written
//   {"ev":"elected"}                                      election: this candidate leads
//   {"ev":"proclaimed","value":..}
//   {"ev":"waiting"}                                      lock: the first attempt failed
//   {"ev":"acquired","lease":..,"attempts":n}             lock (n attempts, a lease each)
//   {"ev":"released"}  {"ev":"stopped"}  {"ev":"error","error":..}
const { Etcd3 } = require("etcd3");
const { emit, fail, setting, leaseHex, commands, exitClean } = require("./peer");

const endpoint = setting("ETCD_ENDPOINT");
const role = setting("ROLE", "election");
const member = setting("MEMBER", "c1");
const name = setting("NAME", role === "lock" ? "mylock" : "e1");
const ttl = process.env.TTL ? Number(process.env.TTL) : undefined;
const client = new Etcd3({ hosts: endpoint });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function election() {
  const campaign = (ttl ? client.election(name, ttl) : client.election(name)).campaign(setting("VALUE", member));
  let written = false;
  let elected = false;
  campaign.on("error", (e) => emit("error", { error: String(e) }));
  campaign.on("elected", () => {
    elected = true;
    if (written) emit("elected");
  });
  const key = await campaign.getCampaignKey(); // once the lease is granted
  while (!(await client.get(key).exists())) await sleep(20);
  written = true;
  emit("campaigning", { member, key, lease: leaseHex(key.split("/").pop()) });
  if (elected) emit("elected");
  let resigned = false;
  commands(async (line) => {
    const [cmd, ...rest] = line.split(" ");
    if (cmd === "proclaim") {
      await campaign.proclaim(rest.join(" "));
      emit("proclaimed", { value: rest.join(" ") });
    } else if (cmd === "release" || cmd === "stop") {
      if (!resigned) {
        resigned = true;
        await campaign.resign();
        emit("released");
      } else if (cmd === "release") emit("error", { error: "nothing to release" });
      if (cmd === "stop") {
        client.close();
        exitClean();
      }
    } else emit("error", { error: `unknown command: ${line}` });
  });
}

async function lock() {
  let held = null;
  let stopping = false;
  commands(async (line) => {
    if (line === "release" || line === "stop") {
      stopping = line === "stop";
      if (held) {
        const lock = held;
        held = null;
        await lock.release();
        emit("released");
      } else if (line === "release") emit("error", { error: "nothing to release" });
      if (stopping) {
        client.close();
        exitClean();
      }
    } else emit("error", { error: `unknown command: ${line}` });
  });
  for (let attempts = 1; !stopping; attempts++) {
    const lock = ttl ? client.lock(name).ttl(ttl) : client.lock(name);
    try {
      await lock.acquire();
    } catch (e) {
      if (e.constructor.name !== "EtcdLockFailedError") throw e;
      if (attempts === 1) emit("waiting");
      await sleep(Number(setting("RETRY_MS", "500")));
      continue;
    }
    if (stopping) return lock.release(); // a stop came during the attempt
    held = lock;
    emit("acquired", { lease: leaseHex(await lock.leaseId()), attempts });
    return;
  }
}

if (role !== "election" && role !== "lock") fail(`ROLE must be election or lock, not ${role}`);
(role === "election" ? election() : lock()).catch((e) => fail(String(e)));
