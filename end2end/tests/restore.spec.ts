// Bringing keys back from the compare page: the keys deleted since the
// compared revision, with what deleted them, restored after a preview; the
// prefix rolled back to that revision, with a write made after the preview
// shown as a conflict and left alone.
import { test, expect } from '@playwright/test';
import { startDev, etcdctl, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

function revisionNow(): number {
  return JSON.parse(etcdctl(dev.etcd, 'get', '/', '-w', 'json')).header.revision;
}

function valueOf(key: string): string {
  return etcdctl(dev.etcd, 'get', key, '--print-value-only').replace(/\n$/, '');
}

test('deleted keys are listed with their cause and restored after a preview', async ({ page }, testInfo) => {
  etcdctl(dev.etcd, 'put', '/restore/a', 'first');
  etcdctl(dev.etcd, 'put', '/restore/a', 'last');
  etcdctl(dev.etcd, 'put', '/restore/b', 'bee');
  etcdctl(dev.etcd, 'put', '/restore/keep', 'kept');
  const since = revisionNow();
  etcdctl(dev.etcd, 'del', '/restore/a');
  etcdctl(dev.etcd, 'del', '/restore/b');

  await page.goto(`${dev.dashboard}config/travel?prefix=${encodeURIComponent('/restore/')}&from=${since}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await page.getByTestId('travel-compare').click();
  await expect(page.getByTestId('travel-summary')).toContainText('0 added, 2 removed, 0 changed');
  const deleted = page.getByTestId('deleted-key');
  await expect(deleted).toHaveCount(2);
  const a = deleted.filter({ hasText: '/restore/a' });
  await expect(a.getByTestId('deleted-cause')).toContainText('deleted by a client');
  await a.locator('summary').click();
  await expect(a).toContainText('last');
  // Only /restore/a is restored.
  await deleted.filter({ hasText: '/restore/b' }).getByRole('checkbox').uncheck();
  await page.getByTestId('restore-preview').click();
  const dialog = page.getByTestId('restore-dialog');
  await expect(dialog).toContainText('Restore 1 key(s)');
  await expect(dialog).toContainText('/restore/a');
  await expect(dialog).not.toContainText('/restore/b');
  expect(valueOf('/restore/a')).toBe('');
  await dialog.getByTestId('restore-confirm').click();
  await expect(page.getByTestId('bulk-result')).toContainText('1 key(s) written in 1 transaction(s).');
  expect(valueOf('/restore/a')).toBe('last');
  expect(valueOf('/restore/b')).toBe('');
  const file = testInfo.outputPath('restore.png');
  await page.screenshot({ path: file, fullPage: true });
  await testInfo.attach('restore', { path: file, contentType: 'image/png' });
});

test('a prefix is rolled back to a revision, and a write after the preview is a conflict left alone', async ({ page }) => {
  etcdctl(dev.etcd, 'put', '/rollback/a', 'a1');
  etcdctl(dev.etcd, 'put', '/rollback/b', 'b1');
  const then = revisionNow();
  etcdctl(dev.etcd, 'put', '/rollback/a', 'a2');
  etcdctl(dev.etcd, 'put', '/rollback/b', 'b2');
  etcdctl(dev.etcd, 'put', '/rollback/new', 'n');

  await page.goto(`${dev.dashboard}config/travel?prefix=${encodeURIComponent('/rollback/')}&from=${then}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await page.getByTestId('travel-compare').click();
  await expect(page.getByTestId('travel-summary')).toContainText('1 added, 0 removed, 2 changed');
  await page.getByTestId('rollback-preview').click();
  const dialog = page.getByTestId('rollback-dialog');
  await expect(dialog.getByTestId('rollback-plan')).toContainText('0 key(s) put back, 2 written back to their value then, 1 deleted');
  // Someone writes /rollback/b while the dialog is open.
  etcdctl(dev.etcd, 'put', '/rollback/b', 'b3');
  await dialog.getByTestId('rollback-confirm').click();
  await expect(page.getByTestId('bulk-result')).toContainText('2 key(s) written');
  await expect(page.getByTestId('bulk-result')).toContainText('1 left alone');
  const conflict = page.getByTestId('bulk-conflict');
  await expect(conflict).toContainText('/rollback/b');
  await expect(conflict).toContainText('b3');
  await expect(conflict).toContainText('b1');
  expect(valueOf('/rollback/a')).toBe('a1');
  expect(valueOf('/rollback/b')).toBe('b3');
  expect(valueOf('/rollback/new')).toBe('');
});
