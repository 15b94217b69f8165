// What the Node peers share: settings from the environment, events out, commands in.
// Events are JSON objects, one per line on stdout ({"ev":"elected",...}). Commands are lines on
// stdin, handled one at a time in order; end of input reads as "stop". Library logs go to stderr.
const readline = require("readline");

// The libraries' console output (Moleculer logs with console.info) goes to stderr; events are
// written to stdout directly.
console.log = console.info = console.debug = console.error;

const emit = (ev, fields = {}) => process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");

function fail(message) {
  emit("error", { error: message });
  process.exit(1);
}

// The environment variable `name`, or `fallback`; a missing one without a fallback is fatal.
function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) fail(`${name} is not set`);
  return value;
}

// A lease id as the library gives it (decimal text or number) in hex, as etcdctl prints it.
const leaseHex = (id) => BigInt(id).toString(16);

// Calls `handle(line)` (async) for each stdin command line, one after the other; "stop" at end of input.
function commands(handle) {
  let chain = Promise.resolve();
  let stopping = false; // nothing runs after "stop"
  const run = (line) => {
    if (stopping) return;
    stopping = line === "stop";
    chain = chain.then(() => handle(line)).catch((e) => emit("error", { error: String(e) }));
  };
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => line.trim() && run(line.trim()));
  rl.on("close", () => run("stop"));
}

// Exit 0 once stdout is written out.
const exitClean = () => {
  emit("stopped");
  process.stdout.write("", () => process.exit(0));
};

module.exports = { emit, fail, setting, leaseHex, commands, exitClean };
