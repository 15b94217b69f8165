import { test, expect } from '@playwright/test';
import { startDev, etcdctlHolding, etcdctlWaiting, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

test('three etcdctl contenders queue in order; breaking the lock hands it to the next', async ({ page }, testInfo) => {
  await page.goto(`${dev.dashboard}locks`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const lock = page.locator('[data-testid="lock"][data-name="nightly-report"]');

  const first = await etcdctlHolding(dev.etcd, 'lock', 'nightly-report');
  const second = etcdctlWaiting(dev.etcd, 'lock', 'nightly-report');
  await expect(lock.getByTestId('waiter')).toHaveCount(1);
  const third = etcdctlWaiting(dev.etcd, 'lock', 'nightly-report');
  await expect(lock.getByTestId('waiter')).toHaveCount(2);
  await expect(lock.getByTestId('holder')).toContainText(first.line);
  await expect(lock.getByTestId('waiter').first()).toContainText(/waiting \d+ s/);
  const secondKey = (await lock.getByTestId('waiter').first().locator('code.key').textContent()) ?? '';
  await page.screenshot({ path: testInfo.outputPath('locks.png'), fullPage: true });

  await lock.getByTestId('break-lock').click();
  const dialog = page.getByTestId('revoke-dialog');
  await expect(dialog.getByTestId('revoke-preview')).toContainText('nightly-report');
  await dialog.getByTestId('revoke-confirm').click();
  await expect(dialog.getByTestId('revoke-result')).toContainText('revoked');
  await dialog.getByRole('button', { name: 'Close' }).click();

  // The first waiter holds it now, on screen and for etcdctl.
  await expect(lock.getByTestId('holder')).toContainText(secondKey);
  await expect(lock.getByTestId('waiter')).toHaveCount(1);
  expect(await second.line()).toBe(secondKey);

  // A normal release hands it on again.
  await second.stop();
  await expect(lock.getByTestId('holder')).toContainText(await third.line());
  await expect(lock.getByTestId('waiter')).toHaveCount(0);

  // The lock's holds and waits over time: points once a 10-second bucket closes.
  await lock.getByTestId('lock-history').locator('summary').click();
  const chart = lock.locator('[data-chart="lock-times"]');
  await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 30_000 }).toBeGreaterThan(0);
  await page.screenshot({ path: testInfo.outputPath('lock-history.png'), fullPage: true });

  await page.goto(`${dev.dashboard}events`);
  const events = page.getByTestId('event');
  await expect(events.filter({ hasText: 'lock acquired' })).toHaveCount(3);
  await expect(events.filter({ hasText: 'lock waiting' })).toHaveCount(2);
  await page.screenshot({ path: testInfo.outputPath('events.png'), fullPage: true });
  await third.stop();
  await first.stop();
});
