import { test, expect, Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd, startServe, etcdctl, releaseBinary } from './harness';

// The operations console against a real etcd with a 16 MiB quota: the
// member's gauge and where its quota was read, the alarm chip in the status
// bar on every page once the backend is full, the NOSPACE runbook on /ops,
// and the recovery through the console's previews.

const QUOTA = 16 * 1024 * 1024;

let etcd: Etcd;
let serve: { url: string; stop: () => Promise<void> };

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  etcd = await Etcd.create([`--quota-backend-bytes=${QUOTA}`]);
  serve = await startServe(etcd);
});

test.afterAll(async () => {
  await serve?.stop();
  await etcd?.dispose();
});

async function open(page: Page, path: string, url = serve.url): Promise<void> {
  await page.goto(`${url}${path}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

/** Puts 1 MiB values under /filler/ through etcd's JSON gateway until etcd refuses for space. */
async function fillUntilNospace(endpoint: string): Promise<number> {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const value = b64('x'.repeat(1 << 20));
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${endpoint}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({ key: b64(`/filler/${i}`), value }),
    });
    const text = await response.text();
    if (!response.ok || text.includes('"error"')) {
      expect(text).toContain('etcdserver: mvcc: database space exceeded');
      return i;
    }
  }
  throw new Error('etcd took 100 MiB under a 16 MiB quota');
}

/** etcd's current revision, as its status says. */
function etcdRevision(): number {
  const status = JSON.parse(etcdctl(etcd.endpoint, 'endpoint', 'status', '-w', 'json'));
  return Number(status[0].Status.header.revision);
}

test("the console shows the member, its quota gauge and where the quota was read", async ({ page }) => {
  const wasm: string[] = [];
  page.on('request', (request) => {
    const name = new URL(request.url()).pathname.split('/').pop() ?? '';
    if (name.endsWith('.wasm')) wasm.push(name);
  });
  await open(page, '');
  // The status bar follows the alarms on every page; the page's code is its
  // own module, fetched when the page is first shown.
  await expect(page.getByTestId('status-etcd')).toHaveAttribute('data-state', 'connected');
  expect(wasm).not.toContain('split_ops.wasm');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click();
  await expect(page.getByRole('heading', { name: 'Operations' })).toBeVisible();
  expect(wasm.filter((name) => name === 'split_ops.wasm')).toHaveLength(1);

  const member = page.getByTestId('ops-member');
  await expect(member).toHaveCount(1);
  await expect(member).toHaveAttribute('data-member', 'e2e');
  await expect(member.getByTestId('leader-badge')).toBeVisible();
  await expect(member.getByTestId('ops-health')).toHaveText('healthy');
  await expect(member.getByTestId('ops-endpoint')).toHaveText(etcd.endpoint);
  await expect(member.getByTestId('ops-raft')).toHaveText(/^\d+ \(\d+/);

  // etcd 3.4 does not say its quota in its status: it is read from /metrics.
  const gauge = member.getByTestId('quota-gauge');
  await expect(gauge.getByTestId('quota-source')).toHaveAttribute('data-source', 'metrics');
  await expect(gauge.getByTestId('quota-source')).toContainText('/metrics');
  await expect(gauge.getByTestId('quota-text')).toContainText('of 16.0 MiB');
  await expect(gauge).toHaveAttribute('data-level', 'ok');
  await expect(gauge.getByTestId('quota-reclaimable')).toContainText('reclaimable by defragmentation');
  await expect(gauge.getByRole('meter')).toHaveAttribute('aria-valuemax', String(QUOTA));

  await expect(page.getByTestId('compact-revision')).toHaveText('0 (nothing compacted)');
  await expect(member.getByTestId('alarm')).toHaveCount(0);
  await expect(page.getByTestId('alarm-chip')).toHaveCount(0);
  await expect(page.getByTestId('nospace-recovery')).toHaveCount(0);
});

test('under --read-only the actions are shown disabled, with the reason', async ({ page }) => {
  const readOnly = await startServe(etcd, ['--read-only']);
  try {
    await open(page, 'ops', readOnly.url);
    await expect(page.getByTestId('ops-refusal')).toContainText('read-only');
    for (const id of ['open-compact', 'open-defrag', 'open-disarm']) {
      await expect(page.getByTestId(id)).toBeDisabled();
      await expect(page.getByTestId(id)).toHaveAttribute('title', /read-only/);
    }
  } finally {
    await readOnly.stop();
  }
});

test('a viewer may preview an action but not confirm it, and is told why', async ({ page }) => {
  const hash = execFileSync(releaseBinary, ['hash-password'], { input: 'vera-password\n' }).toString().trim().split('\n').pop()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leasehold-users-'));
  const users = path.join(dir, 'users.toml');
  fs.writeFileSync(users, ['[[users]]', 'name = "vera"', 'role = "viewer"', `password_hash = "${hash}"`, ''].join('\n'));
  const server = await startServe(etcd, ['--auth', 'users', '--users-file', users]);
  try {
    await open(page, 'ops', server.url);
    const form = page.getByTestId('login-form');
    await form.getByLabel('User name').fill('vera');
    await form.getByLabel('Password').fill('vera-password');
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByTestId('ops-refusal')).toContainText('Your role may look but not run maintenance');
    await page.getByTestId('open-defrag').click();
    const dialog = page.getByTestId('defrag-dialog');
    await expect(dialog.getByTestId('defrag-plan')).toContainText('e2e');
    await expect(dialog.getByTestId('defrag-confirm')).toBeDisabled();
    await expect(dialog.getByTestId('action-refusal')).toContainText('an operator can');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toHaveCount(0);
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a full backend raises NOSPACE: the chip on every page, the runbook on /ops', async ({ page }) => {
  const puts = await fillUntilNospace(etcd.endpoint);
  expect(puts).toBeGreaterThan(5);

  await open(page, 'services');
  await expect(page.getByRole('heading', { name: 'Services' })).toBeVisible();
  const chip = page.getByTestId('alarm-chip');
  await expect(chip).toHaveText('NOSPACE on e2e');
  await chip.click();
  await expect(page).toHaveURL(/\/ops$/);
  await expect(page.getByRole('heading', { name: 'Operations' })).toBeVisible();

  const recovery = page.getByTestId('nospace-recovery');
  await expect(recovery).toBeVisible();
  await expect(recovery.getByRole('heading')).toHaveText('NOSPACE: the database is full on e2e');
  await expect(recovery).toContainText('etcd accepts only reads and deletes');
  const steps = recovery.getByTestId('recovery-step');
  await expect(steps).toHaveCount(3);
  for (const [i, name] of ['compact', 'defrag', 'disarm'].entries()) {
    await expect(steps.nth(i)).toHaveAttribute('data-step', name);
    await expect(steps.nth(i)).toHaveAttribute('data-done', 'false');
    await expect(steps.nth(i).getByTestId(`recovery-${name}`)).toBeEnabled();
  }

  const member = page.getByTestId('ops-member');
  await expect(member.getByTestId('alarm')).toHaveText('NOSPACE');
  await expect(member.getByTestId('quota-gauge')).toHaveAttribute('data-level', 'danger');

  // The runbook, the chip and the gauge in danger are readable in both themes.
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
    const violations = await page.evaluate(async () => {
      const results = await (window as any).axe.run(document, { resultTypes: ['violations'] });
      return results.violations
        .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
        .map((v: any) => `${v.id}: ${v.nodes.slice(0, 3).map((n: any) => n.target.join(' ')).join(' | ')}`);
    });
    expect(violations, `${scheme}: ${violations.join('\n')}`).toEqual([]);
  }
  await page.emulateMedia({ colorScheme: null });
  // The chip stays on the page it leads to, and on the others.
  await expect(chip).toHaveText('NOSPACE on e2e');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cluster' }).click();
  await expect(chip).toHaveText('NOSPACE on e2e');
});

test('the recovery through the console: delete, compact, defragment, disarm', async ({ page }) => {
  // Deletes are what etcd still accepts under NOSPACE.
  etcdctl(etcd.endpoint, 'del', '--prefix', '/filler/');
  const revision = etcdRevision();

  await open(page, 'ops');
  const recovery = page.getByTestId('nospace-recovery');
  await expect(recovery).toBeVisible();
  const step = (name: string) => recovery.locator(`[data-testid="recovery-step"][data-step="${name}"]`);

  // 1. Compact: the preview is of everything before the current revision.
  await recovery.getByTestId('recovery-compact').click();
  const compact = page.getByTestId('compact-dialog');
  await expect(compact).toBeVisible();
  await expect(compact.getByTestId('compact-by-revision')).toBeChecked();
  await compact.getByTestId('compact-revision-input').fill(String(revision));
  await expect(compact.getByTestId('compact-confirm')).toBeDisabled();
  await compact.getByTestId('compact-preview').click();
  const preview = compact.getByTestId('compact-preview-body');
  await expect(preview).toBeVisible();
  await expect(preview.getByTestId('compact-at')).toHaveText(String(revision));
  await expect(preview.getByTestId('compact-versions-lost')).toContainText(/[1-9]/);
  await expect(preview.getByTestId('compact-keys')).toContainText('/filler/');
  await compact.getByTestId('compact-confirm').click();
  await expect(compact.getByTestId('compact-result')).toContainText(`Compacted at revision ${revision}`);
  await compact.getByRole('button', { name: 'Close' }).click();
  await expect(compact).toHaveCount(0);
  await expect(page.getByTestId('compact-revision')).toHaveText(String(revision));
  await expect(step('compact')).toHaveAttribute('data-done', 'true');

  // 2. Defragment: the plan, every check holding, then the roll, followed live.
  await recovery.getByTestId('recovery-defrag').click();
  const defrag = page.getByTestId('defrag-dialog');
  await expect(defrag.getByTestId('defrag-plan')).toContainText('e2e');
  await expect(defrag.getByTestId('check').first()).toBeVisible();
  await expect(defrag.locator('[data-testid="check"][data-ok="false"]')).toHaveCount(0);
  await defrag.getByTestId('defrag-confirm').click();
  await expect(defrag.getByTestId('defrag-result')).toHaveAttribute('data-outcome', 'done', { timeout: 60_000 });
  await expect(defrag.locator('[data-testid="defrag-progress"] li[data-member="e2e"]')).toHaveAttribute('data-state', 'done');
  await defrag.getByRole('button', { name: 'Close' }).click();
  const member = page.getByTestId('ops-member');
  await expect(member.getByTestId('defrag-state')).toHaveAttribute('data-state', 'done');
  await expect(step('defrag')).toHaveAttribute('data-done', 'true');
  // The space is back: well under the quota.
  await expect(member.getByTestId('quota-text')).toContainText(/KiB of 16\.0 MiB/);

  // 3. Disarm: the alarm goes, and so does the chip.
  await recovery.getByTestId('recovery-disarm').click();
  const disarm = page.getByTestId('disarm-dialog');
  await expect(disarm.getByTestId('disarm-alarms')).toContainText('e2e');
  await expect(disarm.locator('[data-testid="check"][data-ok="false"]')).toHaveCount(0);
  await disarm.getByTestId('disarm-confirm').click();
  await expect(disarm.getByTestId('disarm-result')).toHaveAttribute('data-gone', 'true');
  await disarm.getByRole('button', { name: 'Close' }).click();
  await expect(page.getByTestId('alarm-chip')).toHaveCount(0);
  await expect(step('disarm')).toHaveAttribute('data-done', 'true');
  await expect(recovery.getByTestId('recovery-done')).toBeVisible();
  await expect(member.getByTestId('alarm')).toHaveCount(0);

  // etcd takes writes again.
  expect(etcdctl(etcd.endpoint, 'put', '/after', 'works').trim()).toBe('OK');
});
