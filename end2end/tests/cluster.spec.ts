import { test, expect } from '@playwright/test';
import { startDev, etcdctl, Dev } from './harness';

let dev: Dev;

test.beforeAll(async () => {
  dev = await startDev();
});

test.afterAll(async () => {
  await dev?.stop();
});

test('the Cluster page shows the member live and follows etcd without a reload', async ({ page }, testInfo) => {
  await page.goto(`${dev.dashboard}cluster`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);

  const rows = page.getByTestId('member-row');
  await expect(rows).toHaveCount(1);
  await expect(rows.first().getByTestId('leader-badge')).toBeVisible();
  await expect(rows.first()).toContainText('leasehold-dev');
  await expect(page.getByTestId('status-etcd')).toHaveAttribute('data-state', 'connected');

  const revisionText = page.getByTestId('status-revision');
  await expect(revisionText).toHaveText(/^\d+$/);
  const before = Number(await revisionText.textContent());

  // Mark the document: a reload would lose this property.
  await page.evaluate(() => { (window as any).__noReload = true; });
  const out = etcdctl(dev.etcd, 'put', '/e2e/skeleton', 'hello');
  expect(out.trim()).toBe('OK');

  await expect.poll(async () => Number(await revisionText.textContent())).toBeGreaterThan(before);
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

  const screenshot = testInfo.outputPath('cluster.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  await testInfo.attach('cluster page', { path: screenshot, contentType: 'image/png' });
});

test('the wasm and JS are served precompressed with the matching content-encoding', async ({ request }) => {
  // The first module, and one a page fetches on first use.
  for (const file of ['leasehold.wasm', 'split_services.wasm']) {
    for (const [encoding, expected] of [['br', 'br'], ['gzip', 'gzip']]) {
      const response = await request.get(`${dev.dashboard}pkg/${file}`, { headers: { 'Accept-Encoding': encoding } });
      expect(response.status()).toBe(200);
      expect(response.headers()['content-encoding']).toBe(expected);
      expect(response.headers()['content-type']).toBe('application/wasm');
    }
  }
});

test('the theme follows the toggle and is remembered across a reload', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`${dev.dashboard}cluster`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const html = page.locator('html');
  await page.getByRole('button', { name: 'Switch between light and dark' }).click();
  await expect(html).toHaveAttribute('data-theme', 'dark');
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.reload();
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(html).toHaveAttribute('data-theme', 'dark');
  await page.getByRole('button', { name: 'Switch between light and dark' }).click();
  await expect(html).toHaveAttribute('data-theme', 'light');
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(light).not.toBe(dark);
});
