import { test, expect } from '@playwright/test';
import { startDev, etcdctlHolding, etcdctlWaiting, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

test('a lock queue moves live as etcdctl holders hand over, and breaking it revokes the holder', async ({ page }) => {
  await page.goto(`${dev.dashboard}locks`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);

  const first = await etcdctlHolding(dev.etcd, 'lock', 'nightly-report');
  const second = etcdctlWaiting(dev.etcd, 'lock', 'nightly-report');
  const lock = page.locator('[data-testid="lock"][data-name="nightly-report"]');
  await expect(lock.getByTestId('holder')).toContainText(first.line);
  await expect(lock.getByTestId('waiter')).toHaveCount(1);
  await expect(lock.getByTestId('waiter')).toContainText(/waiting \d+ s/);

  await first.stop();
  const secondKey = await second.line();
  await expect(lock.getByTestId('holder')).toContainText(secondKey);
  await expect(lock.getByTestId('waiter')).toHaveCount(0);

  await page.goto(`${dev.dashboard}events`);
  const events = page.getByTestId('event');
  await expect(events.filter({ hasText: 'lock released' })).toHaveCount(1);
  await expect(events.filter({ hasText: 'lock acquired' })).toHaveCount(2);

  await page.goto(`${dev.dashboard}locks`);
  await lock.getByTestId('break-lock').click();
  const dialog = page.getByTestId('revoke-dialog');
  await expect(dialog.getByTestId('revoke-preview')).toContainText('nightly-report');
  await dialog.getByTestId('revoke-confirm').click();
  await expect(dialog.getByTestId('revoke-result')).toContainText('revoked');
  await expect(lock).toHaveCount(0);
  await second.stop();
});
