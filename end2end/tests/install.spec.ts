// Installing Leasehold is copying one file: the release binary carries the
// site (wasm, JS, CSS and their precompressed forms) and serves it from memory.
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDev, releaseBinary, repoRoot, Dev } from './harness';

// '' is the overview, the landing page; `services?rev=1` is the registry as
// of revision 1, the past page's module.
const PAGES = ['', 'services', 'leases', 'locks', 'elections', 'cluster', 'events', 'ops', 'config', 'config/travel', 'config/transfer', 'services?rev=1'];

let dir: string;
let binary: string;
let dev: Dev;

test.beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leasehold-install-'));
  binary = path.join(dir, 'leasehold');
  fs.copyFileSync(releaseBinary, binary);
  fs.chmodSync(binary, 0o755);
  dev = await startDev({ binary, cwd: dir });
});

test.afterAll(async () => {
  await dev?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the binary copied alone into an empty directory serves every page, its modules, and the build its --version names', async ({ page }) => {
  const version = execFileSync(binary, ['--version'], { cwd: dir, encoding: 'utf8' }).trim();
  const named = /^leasehold \S+ \(commit ([0-9a-f]{40}|unknown), site built in, build ([0-9a-f]{16})\)$/.exec(version);
  expect(named, version).not.toBeNull();
  const build = named![2];
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  expect(named![1]).toBe(commit);

  const health = await (await fetch(`${dev.dashboard}api/v1/health`)).json();
  expect(health.build).toBe(build);

  const failed: string[] = [];
  const wasm = new Set<string>();
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (!url.pathname.startsWith('/pkg/')) return;
    // 304: the browser's copy revalidated, as every later page does.
    if (response.status() !== 200 && response.status() !== 304) failed.push(`${response.status()} ${url.pathname}`);
    if (url.pathname.endsWith('.wasm')) {
      wasm.add(url.pathname);
      if (response.status() === 200) {
        expect(response.headers()['content-type'], url.pathname).toBe('application/wasm');
      }
    }
  });
  for (const where of PAGES) {
    await page.goto(`${dev.dashboard}${where}`);
    await expect(page.locator('body[data-hydrated="true"]'), `/${where}`).toHaveCount(1);
    await expect(page.locator('meta[name="leasehold-build"]')).toHaveAttribute('content', build);
    await expect(page.locator('main h1').first(), `/${where}`).toBeVisible();
  }
  expect(failed).toEqual([]);
  // The first module, and every module of each page visited (as the split
  // build's manifest lists them), were fetched.
  const manifest: Record<string, string[]> = JSON.parse(
    fs.readFileSync(path.join(repoRoot, 'target', 'site', 'pkg', '__wasm_split_manifest.json'), 'utf8'));
  const wanted = ['leasehold', ...Object.entries(manifest).filter(([page]) => page !== 'service').flatMap(([, files]) => files)];
  for (const name of wanted) expect(wasm.has(`/pkg/${name}.wasm`), `${name}.wasm fetched (${[...wasm].join(' ')})`).toBe(true);

  // Every file of the site built beside it, byte for byte, as stored and as brotli.
  const site = path.join(repoRoot, 'target', 'site', 'pkg');
  for (const name of fs.readdirSync(site).filter((n) => !n.endsWith('.br') && !n.endsWith('.gz'))) {
    const plain = await fetch(`${dev.dashboard}pkg/${name}`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.status, name).toBe(200);
    expect(plain.headers.get('cache-control')).toBe('no-cache');
    expect(Buffer.from(await plain.arrayBuffer()).equals(fs.readFileSync(path.join(site, name))), name).toBe(true);
    if (fs.existsSync(path.join(site, `${name}.br`))) {
      const br = await fetch(`${dev.dashboard}pkg/${name}`, { headers: { 'accept-encoding': 'br' } });
      expect(br.headers.get('content-encoding'), name).toBe('br');
      // fetch decodes it: the bytes are the file's again.
      expect(Buffer.from(await br.arrayBuffer()).equals(fs.readFileSync(path.join(site, name))), `${name} (br)`).toBe(true);
      const tag = br.headers.get('etag')!;
      const again = await fetch(`${dev.dashboard}pkg/${name}`, { headers: { 'accept-encoding': 'br', 'if-none-match': tag } });
      expect(again.status, `${name} revalidated`).toBe(304);
    }
  }
  const missing = await fetch(`${dev.dashboard}pkg/nothing.wasm`);
  expect(missing.status).toBe(404);
  // Nothing outside /pkg is read from the working directory.
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'not for the web');
  const outside = await fetch(`${dev.dashboard}secret.txt`);
  expect(outside.status).toBe(404);
  expect(await outside.text()).not.toContain('not for the web');
  fs.rmSync(path.join(dir, 'secret.txt'));
  // And the directory holds the binary only: nothing was unpacked beside it.
  expect(fs.readdirSync(dir)).toEqual(['leasehold']);
});
