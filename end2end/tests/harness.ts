// Starts `leasehold dev` (a private etcd and the dashboard) from the release
// build and reads the two URLs it prints.
import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');

export interface Dev {
  dashboard: string; // ends with '/'
  etcd: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startDev(): Promise<Dev> {
  const binary = path.join(repoRoot, 'target', 'release', 'leasehold');
  const child = spawn(binary, ['dev', '--listen', '127.0.0.1:0'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
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
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs Debian's etcdctl (v3 API) against `endpoint`. */
export function etcdctl(endpoint: string, ...args: string[]): string {
  return execFileSync('etcdctl', ['--endpoints', endpoint, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    encoding: 'utf8',
  });
}
