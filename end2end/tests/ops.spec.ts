import { test, expect, Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd, startServe, etcdctl, releaseBinary, freePort } from './harness';

// The operations console against a real etcd with a 16 MiB quota: the
// member's gauge and where its quota was read, the consistency check, a
// snapshot downloaded from the page, a learner added and removed, what a
// viewer and --read-only are offered, the alarm chip in the status bar on
// every page once the backend is full, the NOSPACE runbook on /ops, and the
// recovery through the console's previews.

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

/** axe-core's serious and critical violations on the page as it is, in both themes. */
async function axeBothThemes(page: Page): Promise<string[]> {
  const problems: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
    const violations: string[] = await page.evaluate(async () => {
      const results = await (window as any).axe.run(document, { resultTypes: ['violations'] });
      return results.violations
        .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
        .map((v: any) => `${v.id}: ${v.nodes.slice(0, 3).map((n: any) => n.target.join(' ')).join(' | ')}`);
    });
    problems.push(...violations.map((v) => `${scheme}: ${v}`));
  }
  await page.emulateMedia({ colorScheme: null });
  return problems;
}

/** The members as etcdctl lists them. */
function etcdMembers(): Array<{ ID: number; name?: string; peerURLs: string[]; isLearner?: boolean }> {
  return JSON.parse(etcdctl(etcd.endpoint, 'member', 'list', '-w', 'json')).members;
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

test('the consistency check: every member hashed at one revision, and they agree', async ({ page }) => {
  await open(page, 'ops');
  await page.getByTestId('check-consistency').click();
  const result = page.getByTestId('hashkv-result');
  await expect(result).toHaveAttribute('data-agree', 'true');
  await expect(result.getByTestId('hashkv-verdict')).toContainText('All members agree');
  const member = result.getByTestId('hashkv-member');
  await expect(member).toHaveCount(1);
  await expect(member).toHaveAttribute('data-member', 'e2e');
  await expect(member).toHaveAttribute('data-differs', 'false');
  await expect(member.getByTestId('hashkv-hash')).toHaveText(/^\d+$/);
  // etcd's own HashKV at that revision is the hash the page shows.
  const revision = (await result.getByTestId('hashkv-revision').textContent())!.trim();
  const hashkv = JSON.parse(etcdctl(etcd.endpoint, 'endpoint', 'hashkv', `--rev=${revision}`, '-w', 'json'));
  await expect(member.getByTestId('hashkv-hash')).toHaveText(String(hashkv[0].HashKV.hash));
});

const sha256 = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');

test("a snapshot downloaded from the page: the very file, its progress, the revision it holds and its SHA-256", async ({ page }, testInfo) => {
  etcdctl(etcd.endpoint, 'put', '/snapshot/marker', 'in the file');
  await open(page, 'ops');
  const member = page.getByTestId('ops-member');
  const link = member.getByTestId('snapshot-download');
  await expect(link).toHaveAttribute('href', /^\/api\/v1\/ops\/snapshot\?member=[0-9a-f]+$/);
  await expect(link).toHaveAttribute('download', '');
  // Chromium asks for it as for any download (gzip accepted), and saves it whole.
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const name = download.suggestedFilename();
  expect(name).toMatch(/^etcd-e2e-r\d+\.db$/);
  expect(await download.failure()).toBeNull();
  const bytes = fs.readFileSync((await download.path())!);
  // etcd's file: the database, then etcd's own SHA-256 of it.
  const body = bytes.subarray(0, bytes.length - 32);
  expect(sha256(body)).toBe(bytes.subarray(bytes.length - 32).toString('hex'));
  expect(body.includes(Buffer.from('/snapshot/marker'))).toBe(true);

  const mine = page.locator('[data-testid="snapshot"][data-mine="true"]');
  await expect(mine).toHaveCount(1);
  await expect(mine).toHaveAttribute('data-state', 'done');
  await expect(mine.getByTestId('snapshot-state')).toHaveText('done');
  await expect(mine.getByTestId('snapshot-sha256')).toHaveText(sha256(bytes));
  await expect(mine.getByTestId('snapshot-progress')).toHaveAttribute('title', `${bytes.length} of ${bytes.length} bytes`);
  await expect(mine.getByTestId('snapshot-progress')).toContainText('(100%)');
  await expect(mine.getByTestId('snapshot-revision')).toHaveText(/-r(\d+)\.db$/.exec(name)![1]);
  // The hash is selectable whole, and copyable.
  expect(await mine.getByTestId('snapshot-sha256').evaluate((el) => getComputedStyle(el).userSelect)).toBe('all');
  await expect(mine.getByRole('button', { name: 'Copy SHA-256' })).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('ops-snapshot.png'), fullPage: true });
});

test('a learner: the preview with its flags and the quorum before and after, added, then removed', async ({ page }) => {
  await open(page, 'ops');
  const peer = `http://127.0.0.1:${await freePort()}`;
  const form = page.getByTestId('add-learner-form');
  await form.getByTestId('add-learner-name').fill('e2e-learner');
  await form.getByTestId('add-learner-peer-url').fill(peer);
  await form.getByTestId('open-add-learner').click();

  const dialog = page.getByTestId('add-learner-dialog');
  await expect(dialog).toBeVisible();
  const flags = dialog.getByTestId('learner-flags');
  await expect(flags).toContainText('--initial-cluster-state=existing');
  await expect(flags).toContainText('--name=e2e-learner');
  await expect(flags).toContainText(`--initial-cluster=e2e=http://127.0.0.1:${etcd.peerPort},e2e-learner=${peer}`);
  await expect(dialog).toContainText('its own empty --data-dir');
  // A learner does not vote: the quorum stays as it is.
  for (const side of ['quorum-before', 'quorum-after']) {
    await expect(dialog.getByTestId(side)).toHaveText('1 voting member, quorum 1, 1 answers: tolerates 0 failures');
    await expect(dialog.getByTestId(side)).toHaveAttribute('data-voters', '1');
  }
  await expect(dialog.getByTestId('shape-before').getByTestId('shape-member')).toHaveCount(1);
  const after = dialog.getByTestId('shape-after').getByTestId('shape-member');
  await expect(after).toHaveCount(2);
  await expect(after.filter({ hasText: 'e2e-learner' }).getByTestId('learner-badge')).toBeVisible();
  await expect(dialog.getByTestId('shape-before').getByTestId('leader-badge')).toHaveCount(1);
  await expect(dialog.getByTestId('check').first()).toBeVisible();
  await expect(dialog.locator('[data-testid="check"][data-ok="false"]')).toHaveCount(0);
  const problems = await axeBothThemes(page);
  expect(problems, problems.join('\n')).toEqual([]);
  expect(etcdMembers()).toHaveLength(1);

  await dialog.getByTestId('membership-confirm').click();
  const result = dialog.getByTestId('membership-result');
  await expect(result).toHaveAttribute('data-applied', 'true');
  await expect(result).toContainText("the learner's member id is");
  // The cluster as etcd lists it: the learner, not started, so without a name.
  await expect(after).toHaveCount(2);
  await expect(dialog.getByTestId('shape-after').getByTestId('learner-badge')).toHaveCount(1);
  await expect(dialog.getByTestId('shape-after')).toContainText('(not started)');
  await expect(dialog.getByTestId('learner-flags')).toContainText('--initial-cluster-state=existing');
  const listed = etcdMembers();
  expect(listed).toHaveLength(2);
  const learner = listed.find((m) => m.isLearner)!;
  expect(learner.peerURLs).toEqual([peer]);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toHaveCount(0);

  // The table follows: the learner's row, with Promote and Remove, and no
  // Make leader (a learner cannot lead).
  const rows = page.getByTestId('ops-member');
  await expect(rows).toHaveCount(2);
  const row = rows.filter({ has: page.getByTestId('learner-badge') });
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('member-move-leader')).toHaveCount(0);
  await expect(rows.filter({ hasText: 'e2e' }).first().getByTestId('member-move-leader')).toHaveCount(0);

  // It has not started, so its lag is not known: no promotion.
  await row.getByTestId('member-promote').click();
  const promote = page.getByTestId('promote-dialog');
  await expect(promote.getByTestId('quorum-after')).toHaveAttribute('data-voters', '2');
  await expect(promote.locator('[data-testid="check"][data-ok="false"]').first()).toBeVisible();
  await expect(promote.getByTestId('membership-blocked')).toBeVisible();
  await expect(promote.getByTestId('membership-confirm')).toBeDisabled();
  await promote.getByRole('button', { name: 'Cancel' }).click();
  await expect(promote).toHaveCount(0);

  // A learner may always go.
  await row.getByTestId('member-remove').click();
  const remove = page.getByTestId('remove-dialog');
  await expect(remove.getByTestId('check').first()).toContainText('is a learner: the quorum stays as it is');
  await expect(remove.locator('[data-testid="check"][data-ok="false"]')).toHaveCount(0);
  await expect(remove.getByTestId('shape-after').getByTestId('shape-member')).toHaveCount(1);
  await remove.getByTestId('membership-confirm').click();
  await expect(remove.getByTestId('membership-result')).toHaveAttribute('data-applied', 'true');
  await expect(remove.getByTestId('shape-after').getByTestId('shape-member')).toHaveCount(1);
  await remove.getByRole('button', { name: 'Close' }).click();
  await expect(rows).toHaveCount(1);
  expect(etcdMembers()).toHaveLength(1);

  // The last voting member cannot be removed: the preview says why.
  await rows.first().getByTestId('member-remove').click();
  await expect(remove.locator('[data-testid="check"][data-ok="false"]').first()).toContainText('it is not the last voting member');
  await expect(remove.getByTestId('membership-confirm')).toBeDisabled();
  await remove.getByRole('button', { name: 'Cancel' }).click();

  // A preview that no longer holds when confirmed: another learner was
  // added meanwhile. The server's refusal shows in the dialog, with the
  // preview as it is now.
  await form.getByTestId('add-learner-name').fill('e2e-late');
  await form.getByTestId('add-learner-peer-url').fill(`http://127.0.0.1:${await freePort()}`);
  await form.getByTestId('open-add-learner').click();
  await expect(dialog.locator('[data-testid="check"][data-ok="false"]')).toHaveCount(0);
  await expect(dialog.getByTestId('membership-confirm')).toBeEnabled();
  etcdctl(etcd.endpoint, 'member', 'add', 'meanwhile', '--learner', `--peer-urls=http://127.0.0.1:${await freePort()}`);
  await dialog.getByTestId('membership-confirm').click();
  const refusal = dialog.getByTestId('membership-refused');
  await expect(refusal).toContainText('Nothing was changed');
  await expect(refusal).toContainText('A check does not hold now');
  await expect(dialog.locator('[data-testid="check"][data-ok="false"]').first()).toContainText('no other learner');
  await expect(dialog.getByTestId('membership-confirm')).toBeDisabled();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  // etcdctl's table: id, status, name, peer URLs, client URLs, is learner.
  const meanwhile = etcdctl(etcd.endpoint, 'member', 'list').split('\n').find((line) => line.trim().endsWith(', true'))!;
  etcdctl(etcd.endpoint, 'member', 'remove', meanwhile.split(',')[0].trim());
  expect(etcdMembers()).toHaveLength(1);
  await expect(rows).toHaveCount(1);
});

test('under --read-only the actions are shown disabled, with the reason', async ({ page }) => {
  const readOnly = await startServe(etcd, ['--read-only']);
  try {
    await open(page, 'ops', readOnly.url);
    await expect(page.getByTestId('ops-refusal')).toContainText('read-only');
    for (const id of ['open-compact', 'open-defrag', 'open-disarm', 'open-add-learner']) {
      await expect(page.getByTestId(id)).toBeDisabled();
      await expect(page.getByTestId(id)).toHaveAttribute('title', /read-only/);
    }
    const member = page.getByTestId('ops-member');
    for (const id of ['member-remove', 'snapshot-download']) {
      await expect(member.getByTestId(id)).toBeDisabled();
      await expect(member.getByTestId(id)).toHaveAttribute('title', /read-only/);
    }
    // No link to follow, and no list of snapshots.
    await expect(member.locator('a[data-testid="snapshot-download"]')).toHaveCount(0);
    await expect(page.getByTestId('snapshots')).toHaveCount(0);
    // The server refuses them too, previews included.
    const answers = await page.evaluate(async () => {
      const post = (path: string, body: unknown) =>
        fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return [
        (await fetch('/api/v1/ops/snapshot')).status,
        (await post('/api/v1/ops/members', { name: 'x', peer_urls: ['http://127.0.0.1:1'], dry_run: true })).status,
      ];
    });
    expect(answers).toEqual([403, 403]);
    // The consistency check changes nothing: it stays open.
    await page.getByTestId('check-consistency').click();
    await expect(page.getByTestId('hashkv-result')).toHaveAttribute('data-agree', 'true');
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

    // A learner's preview: every check holds, and still only an operator may add it.
    const adding = page.getByTestId('add-learner-form');
    await adding.getByTestId('add-learner-name').fill('vera-learner');
    await adding.getByTestId('add-learner-peer-url').fill(`http://127.0.0.1:${await freePort()}`);
    await adding.getByTestId('open-add-learner').click();
    const add = page.getByTestId('add-learner-dialog');
    await expect(add.getByTestId('learner-flags')).toContainText('--initial-cluster-state=existing');
    await expect(add.locator('[data-testid="check"][data-ok="false"]')).toHaveCount(0);
    await expect(add.getByTestId('membership-confirm')).toBeDisabled();
    await expect(add.getByTestId('action-refusal')).toContainText('an operator can');
    await add.getByRole('button', { name: 'Cancel' }).click();
    // Refused by the server as well.
    const refused = await page.evaluate(async () => {
      const response = await fetch('/api/v1/ops/members', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'vera-learner', peer_urls: ['http://127.0.0.1:1'], dry_run: false }),
      });
      return [response.status, (await response.json()).error.code];
    });
    expect(refused).toEqual([403, 'forbidden']);
    expect(etcdMembers()).toHaveLength(1);

    // A snapshot holds every secret: not for a viewer.
    const link = page.getByTestId('ops-member').getByTestId('snapshot-download');
    await expect(link).toBeDisabled();
    await expect(link).toHaveAttribute('title', /only an operator/);
    await expect(page.getByTestId('snapshots')).toHaveCount(0);
    expect(await page.evaluate(async () => (await fetch('/api/v1/ops/snapshot')).status)).toBe(403);

    // The consistency check is open to every role.
    await page.getByTestId('check-consistency').click();
    await expect(page.getByTestId('hashkv-result')).toHaveAttribute('data-agree', 'true');
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

test('the recovery through the console: delete, compact, defragment, disarm', async ({ page }, testInfo) => {
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
  await page.screenshot({ path: testInfo.outputPath('ops-recovered.png'), fullPage: true });
  await expect(member.getByTestId('alarm')).toHaveCount(0);

  // etcd takes writes again.
  expect(etcdctl(etcd.endpoint, 'put', '/after', 'works').trim()).toBe('OK');
});
