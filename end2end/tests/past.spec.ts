// The registry as of the past: a registry page opened with ?rev= or ?at=
// shows what etcd held then (read from etcd at that revision, not from the
// live model), says so in a banner, offers no action, steps from change to
// change through the timeline with the address following, and says so when
// etcd has compacted that history or has not reached the revision yet.
import { test, expect, Page } from '@playwright/test';
import { startDev, etcdctl, etcdctlHolding, grantLease, kratos, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

async function open(page: Page, where: string): Promise<void> {
  await page.goto(`${dev.dashboard}${where}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

/** etcd's current revision, as etcdctl reads it. */
function revisionNow(): number {
  return JSON.parse(etcdctl(dev.etcd, 'get', '/', '-w', 'json')).header.revision;
}

/** Nothing that changes anything: no revoke, break or edit, no danger button. */
async function expectNoActions(page: Page): Promise<void> {
  for (const id of ['revoke', 'break-lock', 'kv-edit', 'kv-delete']) {
    await expect(page.getByTestId(id)).toHaveCount(0);
  }
  await expect(page.locator('main button.danger')).toHaveCount(0);
}

const keysOf = (page: Page) => page.getByTestId('instance-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key')).sort());

test('a service and the services as of a past revision: the instances then, read-only, stepping from change to change', async ({ page }, testInfo) => {
  const lease = grantLease(dev.etcd, 600);
  etcdctl(dev.etcd, 'put', '/microservices/past-pay/1', kratos('past-pay', '1', '10.70.0.1:9000'));
  etcdctl(dev.etcd, 'put', '/microservices/past-pay/2', kratos('past-pay', '2', '10.70.0.2:9000'));
  etcdctl(dev.etcd, 'put', '--lease', lease.printed, '/microservices/past-pay/3', kratos('past-pay', '3', '10.70.0.3:9000'));
  await open(page, 'services/past-pay');
  await expect(page.getByTestId('instance-row')).toHaveCount(3);
  const then = revisionNow();
  // A time at which `then` was current: the server notes its revision with
  // the time once per 10 s step, so the changes below wait for the next step.
  const thenSecond = Math.floor(Date.now() / 1000) + 1;
  const nextStep = (Math.floor(thenSecond / 10) + 1) * 10;
  await page.waitForTimeout(Math.max(0, nextStep * 1000 - Date.now()) + 500);
  etcdctl(dev.etcd, 'del', '/microservices/past-pay/2');
  etcdctl(dev.etcd, 'lease', 'revoke', lease.printed);
  await expect(page.getByTestId('instance-row')).toHaveCount(1);
  const deleted = then + 1;
  const revoked = then + 2;
  expect(revisionNow()).toBe(revoked);

  // The live page leads to the past.
  await expect(page.getByTestId('view-past')).toHaveAttribute('href', /^\/services\/past-pay\?rev=\d+$/);
  await page.getByTestId('view-past').click();
  await expect(page.getByTestId('past-banner')).toBeVisible();
  await expect(page).toHaveURL(/\/services\/past-pay\?rev=\d+$/);

  // The service as it was at `then`: three instances, the banner, no action.
  await open(page, `services/past-pay?rev=${then}`);
  await expect(page.getByTestId('past-as-of')).toHaveText(new RegExp(`^As of revision ${then} \\(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\)$`));
  await expect(page.getByTestId('past-read-only')).toContainText('Read-only');
  await expect(page.getByTestId('past-live')).toHaveAttribute('href', '/services/past-pay');
  await expect(page.getByTestId('instance-row')).toHaveCount(3);
  expect(await keysOf(page)).toEqual(['/microservices/past-pay/1', '/microservices/past-pay/2', '/microservices/past-pay/3']);
  await expect(page.locator(`[data-testid="instance-row"][data-key="/microservices/past-pay/3"]`)).toContainText(lease.id);
  await expect(page.getByTestId('view-past')).toHaveCount(0);
  await expectNoActions(page);
  // The moments around it, from the timeline: `then` is one, the delete and the revoke come after.
  await expect(page.locator(`[data-testid="past-moment"][data-revision="${then}"]`)).toHaveClass(/current/);
  await expect(page.locator(`[data-testid="past-moment"][data-revision="${deleted}"]`)).toContainText('instance deregistered');
  await expect(page.locator(`[data-testid="past-moment"][data-revision="${revoked}"]`)).toContainText('lease expired');
  await page.screenshot({ path: testInfo.outputPath('past.png'), fullPage: true });

  // Next: the delete, then the revoke; the address follows each step.
  await page.getByTestId('past-next').click();
  await expect(page).toHaveURL(new RegExp(`/services/past-pay\\?rev=${deleted}$`));
  await expect(page.getByTestId('past-as-of')).toHaveText(new RegExp(`^As of revision ${deleted} `));
  await expect(page.getByTestId('instance-row')).toHaveCount(2);
  expect(await keysOf(page)).toEqual(['/microservices/past-pay/1', '/microservices/past-pay/3']);
  await page.getByTestId('past-next').click();
  await expect(page).toHaveURL(new RegExp(`\\?rev=${revoked}$`));
  await expect(page.getByTestId('instance-row')).toHaveCount(1);
  await page.getByTestId('past-previous').click();
  await expect(page).toHaveURL(new RegExp(`\\?rev=${deleted}$`));
  await expect(page.getByTestId('instance-row')).toHaveCount(2);
  // The browser's Back goes back a step too.
  await page.goBack();
  await expect(page).toHaveURL(new RegExp(`\\?rev=${revoked}$`));
  await expect(page.getByTestId('instance-row')).toHaveCount(1);

  // A time typed in, mapped by the server to the revision current then; then a revision.
  const at = new Date(thenSecond * 1000).toISOString().replace('.000Z', 'Z');
  await page.getByTestId('past-goto-input').fill(at);
  await page.getByTestId('past-goto-input').press('Enter');
  await expect(page).toHaveURL(/\?at=/);
  await expect(page.getByTestId('past-as-of')).toHaveText(`As of revision ${then} (${at.replace('T', ' ').replace('Z', ' UTC')})`);
  await expect(page.getByTestId('instance-row')).toHaveCount(3);
  await page.getByTestId('past-goto-input').fill(String(deleted));
  await page.getByTestId('past-goto-input').press('Enter');
  await expect(page).toHaveURL(new RegExp(`\\?rev=${deleted}$`));
  await expect(page.getByTestId('instance-row')).toHaveCount(2);
  await page.getByTestId('past-goto-input').fill('next tuesday');
  await page.getByTestId('past-goto-input').press('Enter');
  await expect(page.getByTestId('past-goto')).toContainText('is neither a revision');

  // The services list then, its links staying in that moment.
  await open(page, `services?rev=${then}`);
  const row = page.getByTestId('service-row').filter({ hasText: 'past-pay' });
  await expect(row.locator('td').nth(2)).toHaveText('3');
  await expect(row.getByRole('link', { name: 'past-pay' })).toHaveAttribute('href', `/services/past-pay?rev=${then}`);
  await expectNoActions(page);
  await open(page, `services?rev=${revoked}`);
  await expect(page.getByTestId('service-row').filter({ hasText: 'past-pay' }).locator('td').nth(2)).toHaveText('1');

  // Back to live: the live page, its live rows.
  await page.getByTestId('past-live').click();
  await expect(page).toHaveURL(/\/services$/);
  await expect(page.getByTestId('past-banner')).toHaveCount(0);
  await expect(page.getByTestId('services-filter')).toBeVisible();
});

test('leases and locks as of the past, reached from an event of the timeline', async ({ page }) => {
  const lease = grantLease(dev.etcd, 600);
  etcdctl(dev.etcd, 'put', '--lease', lease.printed, '/microservices/past-job/1', kratos('past-job', '1', '10.71.0.1:9000'));
  const holder = await etcdctlHolding(dev.etcd, 'lock', 'past-report');
  await open(page, 'locks');
  await expect(page.locator('[data-testid="lock"][data-name="past-report"]').getByTestId('holder')).toHaveCount(1);
  const held = revisionNow();
  await holder.stop();
  etcdctl(dev.etcd, 'lease', 'revoke', lease.printed);
  await expect(page.locator('[data-testid="lock"][data-name="past-report"]')).toHaveCount(0);

  await open(page, `locks?rev=${held}`);
  await expect(page.getByTestId('past-as-of')).toHaveText(new RegExp(`^As of revision ${held}\\b`));
  const lock = page.locator('[data-testid="lock"][data-name="past-report"]');
  await expect(lock.getByTestId('holder')).toContainText(holder.line);
  await expectNoActions(page);

  await open(page, `leases?rev=${held}`);
  const row = page.locator(`[data-testid="lease-row"][data-lease="${lease.id}"]`);
  await expect(row).toContainText('past-job');
  await expect(row.getByRole('link', { name: 'past-job' })).toHaveAttribute('href', `/services/past-job?rev=${held}`);
  await expectNoActions(page);

  // From the timeline: the lock's hand-over to the holder, "registry then" at its revision.
  await open(page, 'events?kind=lock_acquired');
  const acquired = page.locator('[data-testid="event"][data-kind="lock_acquired"]').filter({ hasText: 'past-report' }).first();
  await expect(acquired).toBeVisible();
  const link = acquired.getByTestId('event-past');
  await expect(link).toHaveAttribute('href', /^\/locks\?rev=\d+$/);
  const acquiredAt = Number((await link.getAttribute('href'))!.split('=')[1]);
  expect(acquiredAt).toBeLessThanOrEqual(held);
  await link.click();
  await expect(page).toHaveURL(new RegExp(`/locks\\?rev=${acquiredAt}$`));
  await expect(page.getByTestId('past-as-of')).toHaveText(new RegExp(`^As of revision ${acquiredAt}\\b`));
  await expect(page.locator('[data-testid="lock"][data-name="past-report"]').getByTestId('holder')).toContainText(holder.line);
  // The step before it: the lock was not held yet.
  await expect(page.getByTestId('past-previous')).toHaveAttribute('href', /\?rev=\d+$/);
  const before = Number((await page.getByTestId('past-previous').getAttribute('href'))!.split('=')[1]);
  expect(before).toBeLessThan(acquiredAt);
  await page.getByTestId('past-previous').click();
  await expect(page).toHaveURL(new RegExp(`/locks\\?rev=${before}$`));
  await expect(page.getByTestId('past-as-of')).toHaveText(new RegExp(`^As of revision ${before}\\b`));
  await expect(page.locator('[data-testid="lock"][data-name="past-report"]')).toHaveCount(0);
});

test('a compacted revision names the horizon instead of a partial past; a future one and a time before watching say so', async ({ page }) => {
  etcdctl(dev.etcd, 'put', '/microservices/past-old/1', kratos('past-old', '1', '10.72.0.1:9000'));
  const old = revisionNow();
  etcdctl(dev.etcd, 'put', '/microservices/past-old/2', kratos('past-old', '2', '10.72.0.2:9000'));
  const horizon = revisionNow();

  await open(page, `services/past-old?rev=${old}`);
  await expect(page.getByTestId('instance-row')).toHaveCount(1);
  await expect(page.getByTestId('past-horizon')).toHaveText(/^etcd (has compacted nothing|keeps revisions from \d+ on)/);

  etcdctl(dev.etcd, 'compaction', String(horizon));
  await open(page, `services/past-old?rev=${old}`);
  await expect(page.getByTestId('past-compacted')).toContainText(
    `etcd has compacted history before revision ${horizon}: the registry at revision ${old} can no longer be read`);
  await expect(page.getByTestId('instance-row')).toHaveCount(0);
  await page.getByTestId('past-oldest').click();
  await expect(page).toHaveURL(new RegExp(`/services/past-old\\?rev=${horizon}$`));
  await expect(page.getByTestId('instance-row')).toHaveCount(2);

  const future = revisionNow() + 1000;
  await open(page, `services?rev=${future}`);
  await expect(page.getByTestId('past-future')).toContainText(`Revision ${future} is in the future`);
  await expect(page.getByTestId('service-row')).toHaveCount(0);

  await open(page, 'leases?at=2001-01-01T00:00:00Z');
  await expect(page.getByTestId('past-error')).toContainText('began watching');
  await expect(page.getByTestId('past-live')).toHaveAttribute('href', '/leases');
});
