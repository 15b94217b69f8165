import { test, expect } from '@playwright/test';
import { Etcd, startServe, etcdctl, etcdctlHolding, grantLease, kratos } from './harness';

test('read-only: leases and locks show, and no control offers to revoke anything', async ({ page }, testInfo) => {
  const etcd = await Etcd.create();
  const server = await startServe(etcd, ['--read-only']);
  const holder = await etcdctlHolding(etcd.endpoint, 'lock', 'jobs');
  try {
    const lease = grantLease(etcd.endpoint, 300);
    etcdctl(etcd.endpoint, 'put', '--lease', lease.printed, '/microservices/ro/1', kratos('ro', '1', '10.8.0.1:80'));

    await page.goto(`${server.url}leases`);
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    await expect(page.locator(`[data-testid="lease-row"][data-lease="${lease.id}"]`)).toHaveCount(1);
    await expect(page.getByTestId('no-revoke')).toContainText('read-only');
    await expect(page.getByTestId('revoke')).toHaveCount(0);
    await page.screenshot({ path: testInfo.outputPath('leases-read-only.png'), fullPage: true });

    await page.goto(`${server.url}locks`);
    await expect(page.getByTestId('lock')).toHaveCount(1);
    await expect(page.getByTestId('no-revoke')).toContainText('read-only');
    await expect(page.getByTestId('break-lock')).toHaveCount(0);

    // The configuration centre shows keys and offers no change.
    await page.goto(`${server.url}config?key=${encodeURIComponent('/microservices/ro/1')}`);
    await expect(page.getByTestId('key-panel').getByTestId('value')).toContainText('10.8.0.1:80');
    await expect(page.getByTestId('key-panel').getByTestId('key-kind')).toHaveText('instance');
    await expect(page.getByTestId('key-panel')).toContainText('read-only');
    await expect(page.getByTestId('key-edit')).toHaveCount(0);
    await expect(page.getByTestId('key-delete')).toHaveCount(0);
    await expect(page.getByTestId('new-key')).toHaveCount(0);
  } finally {
    await holder.stop();
    await server.stop();
    await etcd.dispose();
  }
});

test('no page breaks its Content Security Policy', async ({ page }) => {
  const etcd = await Etcd.create();
  const server = await startServe(etcd);
  const holder = await etcdctlHolding(etcd.endpoint, 'lock', 'csp-jobs');
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  try {
    const lease = grantLease(etcd.endpoint, 300);
    etcdctl(etcd.endpoint, 'put', '--lease', lease.printed, '/microservices/csp/1', kratos('csp', '1', '10.8.1.1:80', { zone: 'a' }));
    for (const path of ['', 'services', 'services/csp', 'leases', 'locks', 'elections', 'cluster', 'events', 'config', 'config/travel', 'config/transfer']) {
      await page.goto(`${server.url}${path}`);
      await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    }
    await page.goto(`${server.url}services/csp`);
    await page.getByTestId('instance-row').click();
    await expect(page.getByTestId('instance-detail')).toContainText('/microservices/csp/1');
    await page.goto(`${server.url}leases`);
    await page.locator(`[data-testid="lease-row"][data-lease="${lease.id}"]`).getByTestId('revoke').click();
    await expect(page.getByTestId('revoke-preview')).toContainText('/microservices/csp/1');
    await page.goto(`${server.url}config?key=${encodeURIComponent('/microservices/csp/1')}`);
    await expect(page.getByTestId('key-panel').locator('.tok-key').first()).toHaveCount(1);
    expect(violations).toEqual([]);
  } finally {
    await holder.stop();
    await server.stop();
    await etcd.dispose();
  }
});
