import { test, expect } from '@playwright/test';
import { startDev, etcdctl, grantLease, kratos, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

test('revoking a lease previews what it removes, asks for the id, and the rows go live', async ({ page }, testInfo) => {
  const granted = grantLease(dev.etcd, 300);
  const lease = granted.id;
  etcdctl(dev.etcd, 'put', '--lease', granted.printed, '/microservices/pay/p-1', kratos('pay', 'p-1', '10.5.0.1:80'));
  etcdctl(dev.etcd, 'put', '--lease', granted.printed, '/microservices/pay/p-2', kratos('pay', 'p-2', '10.5.0.2:80'));
  etcdctl(dev.etcd, 'put', '--lease', granted.printed, '/config/pay/flag', 'on');
  const otherLease = grantLease(dev.etcd, 300);
  const other = otherLease.id;

  await page.goto(`${dev.dashboard}leases`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const row = page.locator(`[data-testid="lease-row"][data-lease="${lease}"]`);
  await expect(row).toContainText('3');
  await expect(row.getByTestId('lease-holds')).toContainText('instances of pay');
  await page.screenshot({ path: testInfo.outputPath('leases.png'), fullPage: true });
  await expect(page.locator(`[data-testid="lease-row"][data-lease="${other}"]`)).toHaveCount(1);

  await row.getByTestId('revoke').click();
  const dialog = page.getByTestId('revoke-dialog');
  const preview = dialog.getByTestId('revoke-preview');
  await expect(preview).toContainText('/microservices/pay/p-1');
  await expect(preview).toContainText('/microservices/pay/p-2');
  await expect(preview).toContainText('/config/pay/flag');
  // Two instances: the operator must type the lease id.
  const confirm = dialog.getByTestId('revoke-confirm');
  await expect(confirm).toBeDisabled();
  await dialog.getByTestId('revoke-typed').fill('not-it');
  await expect(confirm).toBeDisabled();
  await dialog.getByTestId('revoke-typed').fill(lease);
  await expect(confirm).toBeEnabled();
  await page.screenshot({ path: testInfo.outputPath('revoke-dialog.png'), fullPage: true });
  await confirm.click();
  await expect(dialog.getByTestId('revoke-result')).toContainText(`Lease ${lease} revoked: 3 key(s) deleted`);

  await expect(row).toHaveCount(0);
  await expect(page.locator(`[data-testid="lease-row"][data-lease="${other}"]`)).toHaveCount(1);
  expect(etcdctl(dev.etcd, 'get', '--prefix', '/microservices/pay/').trim()).toBe('');

  // Someone else revokes the lease between preview and confirmation: the
  // error is said in words, not swallowed.
  await dialog.getByRole('button', { name: 'Close' }).click();
  await page.locator(`[data-testid="lease-row"][data-lease="${other}"]`).getByTestId('revoke').click();
  const second = page.getByTestId('revoke-dialog');
  await expect(second).toContainText('It holds no key.');
  etcdctl(dev.etcd, 'lease', 'revoke', otherLease.printed);
  await second.getByTestId('revoke-confirm').click();
  await expect(second.getByRole('alert')).toContainText('Not found (404)');
});
