// The overview (the landing page) and the storm banner: the registry's
// totals with their last hour, drawn as the server's 10 s buckets close;
// a burst of lease expiries raises the banner on every page, and it goes
// when the storm ends. The storm is made quick: a 20 s window, half the
// instances, at least 20 of them.
import { test, expect, Page } from '@playwright/test';
import { startDev, etcdctl, grantLease, kratos, Dev } from './harness';

let dev: Dev;

test.beforeAll(async () => {
  dev = await startDev({ args: ['--storm-window', '20s', '--storm-ratio', '0.5', '--storm-min', '20'] });
});

test.afterAll(async () => {
  await dev?.stop();
});

async function open(page: Page, where: string): Promise<void> {
  await page.goto(`${dev.dashboard}${where}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

/** `count` Kratos instances of `service` on `lease` (decimal), through etcd's JSON gateway, 50 per transaction. */
async function putOnLease(service: string, count: number, lease: string): Promise<void> {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  for (let i = 0; i < count; i += 50) {
    const success = [];
    for (let n = i; n < Math.min(count, i + 50); n++) {
      const key = `/microservices/${service}/${n}`;
      success.push({ requestPut: { key: b64(key), value: b64(kratos(service, `${n}`, `10.66.${n >> 8}.${n & 255}:9000`)), lease } });
    }
    const response = await fetch(`${dev.etcd}/v3/kv/txn`, { method: 'POST', body: JSON.stringify({ success }) });
    if (!response.ok) throw new Error(`etcd txn failed: ${response.status} ${await response.text()}`);
  }
}

const points = async (page: Page, selector: string) => Number(await page.locator(selector).getAttribute('data-points'));

test('the overview shows the cluster, the totals with sparklines that grow, and every number links to its page', async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  for (const n of [1, 2, 3]) {
    etcdctl(dev.etcd, 'put', `/microservices/ov-pay/${n}`, kratos('ov-pay', `${n}`, `10.65.0.${n}:9000`));
  }
  await open(page, '');
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  // Overview is first in the navigation, and the current page.
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link').first()).toHaveText('Overview');
  await expect(nav.getByRole('link', { name: 'Overview' })).toHaveAttribute('aria-current', 'page');
  await expect(nav.getByRole('link', { name: 'Cluster' })).not.toHaveAttribute('aria-current', 'page');

  // The cluster's health, from the cluster and ops topics.
  await expect(page.getByTestId('health-members-value')).toHaveText('1, all healthy');
  await expect(page.getByTestId('health-members-value')).toHaveAttribute('href', '/cluster');
  await expect(page.getByTestId('health-leader-value')).toHaveText('leasehold-dev');
  await expect(page.getByTestId('health-alarms-value')).toHaveText('none');
  await expect(page.getByTestId('health-alarms-value')).toHaveAttribute('href', '/ops');
  await expect(page.getByTestId('health-db-value')).toHaveText(/ of .* \(\d+\.\d %\)$/);

  // Each total links to its page and has a sparkline of the last hour.
  for (const [total, href] of [['services', '/services'], ['instances', '/services'], ['leases', '/leases'], ['locks', '/locks'], ['elections', '/elections']]) {
    const card = page.locator(`[data-testid="total"][data-total="${total}"]`);
    await expect(card.getByTestId('total-value')).toHaveAttribute('href', href);
    await expect(card.getByTestId('sparkline')).toHaveCount(1);
  }
  // A bucket closes every 10 s: the sparklines get points, then more.
  const spark = '[data-testid="sparkline"][data-chart="instances"]';
  await expect.poll(() => points(page, spark), { timeout: 30_000 }).toBeGreaterThan(0);
  const before = await points(page, spark);
  await expect.poll(() => points(page, spark), { timeout: 30_000 }).toBeGreaterThan(before);
  await expect(page.locator('[data-total="instances"]').getByTestId('total-value')).toHaveText('3', { timeout: 30_000 });
  await expect(page.locator('[data-total="services"]').getByTestId('total-value')).toHaveText('1');
  // Registrations per minute, whose sums lead to the events.
  const churn = page.locator('[data-testid="chart"][data-chart="churn"]');
  await expect(churn).toBeVisible();
  await expect(page.locator('[data-testid="churn-sum"][data-kind="instance_registered"]')).toHaveAttribute('href', '/events?kind=instance_registered');
  await expect(page.locator('[data-testid="churn-sum"][data-kind="instance_registered"]')).toHaveText(/^([2-9]|[1-9]\d+) registrations$/);

  // The pointer over a sparkline shows the bucket's exact time and value.
  await page.locator(`${spark} .chart-plot`).hover();
  const tip = page.locator(spark).getByTestId('chart-tip');
  await expect(tip).toBeVisible();
  await expect(tip.getByTestId('chart-tip-time')).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} – \d{2}:\d{2}:\d{2}$/);
  await expect(tip.getByTestId('chart-tip-value')).toHaveText(/^(\d+|no sample)$/);
  await page.mouse.move(0, 0);
  await expect(tip).toHaveCount(0);

  // By keyboard: focus shows the newest bucket, the arrows move a minute.
  const plot = churn.locator('.chart-plot');
  await plot.focus();
  const churnTip = churn.getByTestId('chart-tip');
  await expect(churnTip).toBeVisible();
  const newest = Number(await churnTip.getAttribute('data-bucket'));
  await page.keyboard.press('ArrowLeft');
  await expect(churnTip).toHaveAttribute('data-bucket', String(newest - 60));
  await expect(churnTip.getByTestId('chart-tip-value')).toHaveCount(3);
  await page.keyboard.press('Escape');
  await expect(churnTip).toHaveCount(0);

  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForTimeout(300);
    const file = testInfo.outputPath(`overview-${scheme}.png`);
    await page.screenshot({ path: file, fullPage: true });
    await testInfo.attach(`overview (${scheme})`, { path: file, contentType: 'image/png' });
  }
  await page.emulateMedia({ colorScheme: null });

  // The service's page draws its instances over the hour; the cluster's its members'.
  await page.locator('[data-total="services"]').getByTestId('total-value').click();
  await expect(page).toHaveURL(/\/services$/);
  await open(page, 'services/ov-pay');
  const history = page.locator('[data-testid="chart"][data-chart="service-instances"]');
  await expect.poll(() => points(page, '[data-testid="chart"][data-chart="service-instances"]'), { timeout: 30_000 }).toBeGreaterThan(0);
  await expect(history).toBeVisible();
  await open(page, 'cluster');
  await expect(page.getByTestId('member-row')).toHaveCount(1);
  await expect.poll(() => points(page, '[data-testid="chart"][data-chart="db-size"]'), { timeout: 30_000 }).toBeGreaterThan(0);
  await expect.poll(() => points(page, '[data-testid="chart"][data-chart="raft-index"]'), { timeout: 30_000 }).toBeGreaterThan(0);
  await page.locator('[data-chart="db-size"] .chart-plot').hover();
  await expect(page.locator('[data-chart="db-size"]').getByTestId('chart-tip')).toContainText('leasehold-dev');
  const file = testInfo.outputPath('cluster-charts.png');
  await page.screenshot({ path: file, fullPage: true });
  await testInfo.attach('cluster charts', { path: file, contentType: 'image/png' });
});

test('a burst of lease expiries raises the storm banner on every page, and it goes when the storm ends', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  await open(page, '');
  await expect(page.getByTestId('storm-banner')).toHaveCount(0);

  // 100 instances of two services on 5 s leases, then they expire.
  const a = grantLease(dev.etcd, 5);
  const b = grantLease(dev.etcd, 5);
  await putOnLease('storm-a', 60, BigInt(`0x${a.printed}`).toString());
  await putOnLease('storm-b', 40, BigInt(`0x${b.printed}`).toString());

  const banner = page.getByTestId('storm-banner');
  await expect(banner).toBeVisible({ timeout: 60_000 });
  await expect(banner).toHaveAttribute('role', 'alert');
  await expect(banner).toContainText('Eviction storm');
  await expect(banner.locator('[data-testid="storm-service"][data-service="storm-a"]')).toHaveAttribute('data-expired', '60', { timeout: 20_000 });
  await expect(banner.locator('[data-testid="storm-service"][data-service="storm-b"]')).toHaveAttribute('data-expired', '40');
  await expect(banner.locator('[data-testid="storm-service"][data-service="storm-a"]')).toContainText('storm-a (60)');
  await expect(banner.getByTestId('storm-counts')).toContainText('100 of');
  await expect(banner.getByRole('link', { name: 'See the overview' })).toHaveAttribute('href', '/');
  await expect(banner.locator('time').first()).toHaveAttribute('datetime', /^\d{4}-\d{2}-\d{2}T/);
  const file = testInfo.outputPath('storm-banner.png');
  await page.screenshot({ path: file, fullPage: true });
  await testInfo.attach('storm banner', { path: file, contentType: 'image/png' });

  // On every page: here the leases.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Leases' }).click();
  await expect(page.getByRole('heading', { name: 'Leases' })).toBeVisible();
  await expect(banner).toBeVisible();
  await banner.getByRole('link', { name: 'See the overview' }).click();
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();

  // The overview's losses name the services that lost the most.
  const loss = page.locator('[data-testid="loss-row"][data-service="storm-a"]');
  await expect(loss).toContainText('60', { timeout: 30_000 });
  await expect(loss.getByRole('link', { name: 'storm-a' })).toHaveAttribute('href', '/services/storm-a');

  // The window is 20 s: the storm ends, and the banner goes.
  await expect(banner).toHaveCount(0, { timeout: 90_000 });
  // And the expiries show per minute.
  await expect(page.locator('[data-testid="churn-sum"][data-kind="lease_expired"]')).toHaveText(/^(1 expiry|([2-9]|[1-9]\d+) expiries)$/);
});
