import { test, expect } from '@playwright/test';
import { startDev, etcdctl, grantLease, putMany, kratos, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

test('services appear live, filter as you type, and open on their instances', async ({ page }, testInfo) => {
  await page.goto(`${dev.dashboard}services`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByTestId('services-empty')).toBeVisible();

  // Registered the way a service does: a key under its own lease, with etcdctl.
  const lease = grantLease(dev.etcd, 60);
  etcdctl(dev.etcd, 'put', '--lease', lease.printed, '/microservices/billing/b-1', kratos('billing', 'b-1', '10.4.0.1:9000', { zone: 'eu-1' }));
  etcdctl(dev.etcd, 'put', '/microservices/search/s-1', kratos('search', 's-1', '10.4.0.2:9000'));

  const rows = page.getByTestId('service-row');
  await expect(rows).toHaveCount(2);
  await expect(rows.first()).toContainText('billing');
  await expect(rows.first()).toContainText('kratos');

  await page.getByTestId('services-filter').fill('sear');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('search');
  // Metadata is searched too, by the server, which holds the instances.
  await page.getByTestId('services-filter').fill('zone=eu-1');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('billing');
  await page.getByTestId('services-filter').fill('');
  await expect(rows).toHaveCount(2);

  await page.getByRole('link', { name: 'billing' }).click();
  await expect(page).toHaveURL(/\/services\/billing$/);
  const instance = page.getByTestId('instance-row');
  await expect(instance).toHaveCount(1);
  await expect(instance).toContainText('10.4.0.1:9000');
  await expect(instance).toContainText('zone=eu-1');
  await expect(instance).toContainText(lease.id);
  // The TTL is sampled and counts down.
  await expect(instance.getByTestId('ttl')).toHaveText(/^\d+ s$/);

  await instance.click();
  const detail = page.getByTestId('instance-detail');
  await expect(detail).toContainText('/microservices/billing/b-1');
  await expect(detail).toContainText('"zone": "eu-1"');
  await page.screenshot({ path: testInfo.outputPath('service.png'), fullPage: true });
  await page.goto(`${dev.dashboard}services`);
  await expect(page.getByTestId('service-row')).toHaveCount(2);
  await page.screenshot({ path: testInfo.outputPath('services.png'), fullPage: true });
  await page.goto(`${dev.dashboard}services/billing`);
  await expect(instance).toHaveCount(1);

  // Deregistration shows without a reload.
  etcdctl(dev.etcd, 'lease', 'revoke', lease.printed);
  await expect(page.getByTestId('instances-empty')).toBeVisible();
});

test('a service with 10,000 instances renders only the rows in view and scrolls to the last', async ({ page }) => {
  const entries: Array<[string, string]> = [];
  for (let i = 0; i < 10_000; i++) {
    const id = String(i).padStart(5, '0');
    entries.push([`/microservices/big/${id}`, kratos('big', id, `10.9.${Math.floor(i / 256)}.${i % 256}:80`)]);
  }
  await putMany(dev.etcd, entries);

  await page.goto(`${dev.dashboard}services/big`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByText('10000 instance(s)')).toBeVisible();
  const rendered = await page.getByTestId('instance-row').count();
  expect(rendered).toBeGreaterThan(10);
  expect(rendered).toBeLessThan(100);

  await page.getByTestId('instances').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await expect(page.getByTestId('instance-row').last()).toContainText('10.9.39.15:80');
  await expect(page.getByTestId('instance-row').filter({ hasText: '10.9.0.0:80' })).toHaveCount(0);
});

test('instances in three layouts are found through search and show their metadata', async ({ page }) => {
  etcdctl(dev.etcd, 'put', '/microservices/shop-kratos/k1', kratos('shop-kratos', 'k1', '10.6.0.1:9000', { tier: 'gold' }));
  etcdctl(dev.etcd, 'put', '/micro/registry/shop-micro/m1', JSON.stringify({
    name: 'shop-micro', version: '2.0.0', metadata: null, endpoints: null,
    nodes: [{ id: 'm1', address: '10.6.0.2:8080', metadata: { protocol: 'mucp' } }],
  }));
  etcdctl(dev.etcd, 'put', 'kitex/registry-etcd/shop-kitex/10.6.0.3:8888',
    JSON.stringify({ network: 'tcp', address: '10.6.0.3:8888', weight: 10, tags: { env: 'prod' } }));

  await page.goto(`${dev.dashboard}services`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await page.getByTestId('services-filter').fill('shop');
  const rows = page.getByTestId('service-row');
  await expect(rows).toHaveCount(3);
  await expect(rows.filter({ hasText: 'go-micro' })).toHaveCount(1);
  await expect(rows.filter({ hasText: 'kitex' })).toHaveCount(1);
  await page.getByTestId('services-filter').fill('kitex');
  await expect(rows).toHaveCount(1);

  await rows.first().getByRole('link').click();
  await expect(page).toHaveURL(/\/services\/shop-kitex$/);
  const instance = page.getByTestId('instance-row');
  await expect(instance).toContainText('10.6.0.3:8888');
  await expect(instance).toContainText('env=prod');
  await instance.click();
  await expect(page.getByTestId('instance-detail')).toContainText('"weight": 10');

  await page.goto(`${dev.dashboard}services/shop-micro`);
  await expect(page.getByTestId('instance-row')).toContainText('protocol=mucp');
  await expect(page.getByTestId('instance-row')).toContainText('2.0.0');
});
