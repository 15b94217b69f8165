// The end-to-end harness: `leasehold dev` (a private etcd and the dashboard)
// or `leasehold serve` against an etcd of the test's own, from the release
// build; etcdctl as the real client peer; a fast bulk writer.
import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';

export const repoRoot = path.resolve(__dirname, '..', '..');

/** Sends `signal` and waits for the child to exit (SIGKILL after 10 s). */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export interface Dev {
  dashboard: string; // ends with '/'
  etcd: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** The release binary `make build` writes. */
export const releaseBinary = path.join(repoRoot, 'target', 'release', 'leasehold');

/**
 * `leasehold dev` on a private etcd; with `demo`, the demo workload writes to
 * it (rows update all the time). `binary` and `cwd` run another copy of it
 * from elsewhere (default: the release build, from the repository's root);
 * `args` are more flags of `leasehold dev` (`--storm-window 20s`).
 */
export async function startDev(options: { demo?: boolean; binary?: string; cwd?: string; args?: string[] } = {}): Promise<Dev> {
  const args = ['dev', ...(options.demo ? [] : ['--no-demo']), '--listen', '127.0.0.1:0', ...(options.args ?? [])];
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' };
  delete env.LEASEHOLD_SITE_ROOT;
  const child = spawn(options.binary ?? releaseBinary, args, {
    cwd: options.cwd ?? repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk.toString(); });

  const urls = await new Promise<{ dashboard: string; etcd: string }>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('leasehold dev printed no URLs within 60 s')), 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    };
    child.on('error', fail);
    child.on('exit', (code, signal) => fail(new Error(`leasehold dev exited early (code ${code}, signal ${signal})`)));
    child.stdout!.on('data', (chunk) => {
      stdout += chunk.toString();
      const etcd = /^leasehold dev: etcd at (\S+)$/m.exec(stdout);
      const dashboard = /^leasehold dev: dashboard at (\S+)$/m.exec(stdout);
      if (etcd && dashboard) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.removeAllListeners('error');
        resolve({ etcd: etcd[1], dashboard: dashboard[1] });
      }
    });
  });

  return {
    ...urls,
    process: child,
    stop: () => stopChild(child),
  };
}

/** Runs Debian's etcdctl (v3 API) against `endpoint`. */
export function etcdctl(endpoint: string, ...args: string[]): string {
  return execFileSync('etcdctl', ['--endpoints', endpoint, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    encoding: 'utf8',
  });
}

/** Starts a long-running etcdctl (lock, elect) and resolves with its first output line. */
export async function etcdctlHolding(endpoint: string, ...args: string[]): Promise<{ line: string; stop: () => Promise<void> }> {
  const child = spawn('etcdctl', ['--endpoints', endpoint, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = await firstLine(child, 30_000);
  return {
    line,
    stop: () => stopChild(child),
  };
}

/** Starts an etcdctl that may wait (a queued lock); `line()` resolves when it prints. */
export function etcdctlWaiting(endpoint: string, ...args: string[]): { line: () => Promise<string>; stop: () => Promise<void> } {
  const child = spawn('etcdctl', ['--endpoints', endpoint, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const first = firstLine(child, 60_000);
  first.catch(() => {});
  return {
    line: () => first,
    stop: () => stopChild(child),
  };
}

function firstLine(child: ChildProcess, limitMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`etcdctl printed nothing in ${limitMs} ms: ${err}`)), limitMs);
    child.stderr!.on('data', (c) => { err += c.toString(); });
    child.stdout!.on('data', (c) => {
      out += c.toString();
      const newline = out.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, newline).trim());
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`etcdctl exited (${code}) before printing: ${err}`));
    });
  });
}

/** Writes many keys fast through etcd's JSON gateway, 100 per transaction. */
export async function putMany(endpoint: string, entries: Array<[string, string]>): Promise<void> {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  for (let i = 0; i < entries.length; i += 100) {
    const success = entries.slice(i, i + 100).map(([key, value]) => ({ requestPut: { key: b64(key), value: b64(value) } }));
    const response = await fetch(`${endpoint}/v3/kv/txn`, { method: 'POST', body: JSON.stringify({ success }) });
    if (!response.ok) throw new Error(`etcd txn failed: ${response.status} ${await response.text()}`);
  }
}

/** A Kratos registration value. */
export function kratos(name: string, id: string, address: string, metadata: Record<string, string> = {}): string {
  return JSON.stringify({ id, name, version: 'v1.0.0', metadata, endpoints: [`grpc://${address}?isSecure=false`] });
}

/**
 * Grants a lease with etcdctl and returns its id as Leasehold writes it.
 * etcdctl prints ids zero-padded to 16 digits (`%016x`); etcd's own lock
 * keys and Leasehold use no leading zeros (`%x`).
 */
export function grantLease(endpoint: string, ttlSeconds: number): { id: string; printed: string } {
  const printed = etcdctl(endpoint, 'lease', 'grant', String(ttlSeconds)).split(/\s+/)[1];
  return { id: printed.replace(/^0+(?=.)/, ''), printed };
}


/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * An etcd of the test's own (so the test can stop and start it), on a temp
 * dir; `flags` are more etcd flags (`--quota-backend-bytes=16777216`), kept
 * across restarts.
 */
export class Etcd {
  private child?: ChildProcess;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leasehold-e2e-etcd-'));
  constructor(readonly clientPort: number, readonly peerPort: number, readonly flags: string[] = []) {}

  static async create(flags: string[] = []): Promise<Etcd> {
    const etcd = new Etcd(await freePort(), await freePort(), flags);
    await etcd.start();
    return etcd;
  }

  get endpoint(): string { return `http://127.0.0.1:${this.clientPort}`; }

  async start(): Promise<void> {
    const client = this.endpoint;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.child = spawn('etcd', [
      '--name=e2e', `--data-dir=${path.join(this.dir, 'data')}`,
      `--listen-client-urls=${client}`, `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=e2e=${peer}`, '--logger=zap', '--log-outputs=stderr',
      ...this.flags,
    ], { stdio: 'ignore' });
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        execFileSync('etcdctl', ['--endpoints', client, 'endpoint', 'health'], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
        return;
      } catch {
        if (Date.now() > deadline) throw new Error('etcd did not become healthy');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Kills etcd as a crash would; `start()` brings it back on the same data. */
  async stop(): Promise<void> {
    if (this.child) await stopChild(this.child, 'SIGKILL');
  }

  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `leasehold serve` against `etcd`, from the repository root. */
export async function startServe(etcd: Etcd, flags: string[] = []): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(releaseBinary,
    ['serve', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${port}`, ...flags], { cwd: repoRoot, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const response = await fetch(`${url}api/v1/health`);
      if (response.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('leasehold serve did not become healthy');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: () => stopChild(child, 'SIGTERM'),
  };
}

/** A real client library's test peer (peers/clients/, `make setup-peers`). */
export interface Peer {
  /** Resolves with the next event named `ev` (earlier ones are skipped). */
  event(ev: string, limitMs?: number): Promise<Record<string, unknown>>;
  /** A command line on its stdin (`release`, `stop`, ...). */
  send(command: string): void;
  stop(): Promise<void>;
}

/** Starts `peers/clients/<script>` (Python from peers/.venv, or node) against `endpoint`. */
export function startPeer(endpoint: string, script: string, env: Record<string, string>): Peer {
  const peers = path.join(repoRoot, 'peers');
  const program = script.endsWith('.py') ? path.join(peers, '.venv', 'bin', 'python') : 'node';
  const child = spawn(program, [path.join(peers, 'clients', script)], {
    env: { ...process.env, ETCD_ENDPOINT: endpoint, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let buffered = '';
  let stderr = '';
  child.stderr!.on('data', (c) => { stderr += c.toString(); });
  child.stdout!.on('data', (chunk) => {
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      try { events.push(JSON.parse(line)); } catch { /* a log line */ }
      waiters.splice(0).forEach((wake) => wake());
    }
  });
  let seen = 0;
  return {
    event: (ev, limitMs = 30_000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script}: no ${ev} in ${limitMs} ms: ${stderr}`)), limitMs);
      const look = () => {
        while (seen < events.length) {
          const event = events[seen++];
          if (event.ev === 'error') { clearTimeout(timer); reject(new Error(`${script}: ${JSON.stringify(event)}`)); return; }
          if (event.ev === ev) { clearTimeout(timer); resolve(event); return; }
        }
        waiters.push(look);
      };
      look();
    }),
    send: (command) => { child.stdin!.write(`${command}\n`); },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin!.end('stop\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
