import { test, expect } from '@playwright/test';
import { startDev, Dev } from './harness';

// The wasm is split: the browser starts with leasehold.wasm and fetches a
// page's modules the first time it shows that page.

let dev: Dev;

test.beforeAll(async () => {
  dev = await startDev();
});

test.afterAll(async () => {
  await dev?.stop();
});

/** The wasm files the page requests, by name, with how often each is asked for. */
function countWasm(page: import('@playwright/test').Page): Map<string, number> {
  const seen = new Map<string, number>();
  page.on('request', (request) => {
    const name = new URL(request.url()).pathname.split('/').pop() ?? '';
    if (name.endsWith('.wasm')) seen.set(name, (seen.get(name) ?? 0) + 1);
  });
  return seen;
}

test("a page opened directly gets its modules preloaded, each fetched once, and no other page's", async ({ page }) => {
  const seen = countWasm(page);
  const failed: string[] = [];
  page.on('response', (response) => {
    if (response.url().includes('/pkg/') && !response.ok()) failed.push(`${response.status()} ${response.url()}`);
  });
  await page.goto(`${dev.dashboard}services`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByRole('heading', { name: 'Services' })).toBeVisible();

  // The server links the page's modules in the document it renders.
  const preloaded = await page.locator('link[rel="preload"][as="fetch"]').evaluateAll(
    (links) => links.map((l) => new URL((l as HTMLLinkElement).href).pathname.split('/').pop()),
  );
  expect(preloaded).toContain('leasehold.wasm');
  expect(preloaded).toContain('split_services.wasm');
  expect(preloaded).not.toContain('split_config.wasm');

  // The loader's fetch reuses the preload: one request per file.
  expect(seen.get('leasehold.wasm')).toBe(1);
  expect(seen.get('split_services.wasm')).toBe(1);
  for (const [name, count] of seen) expect(count, name).toBe(1);
  expect(seen.has('split_config.wasm')).toBe(false);
  // Every file the document names exists (the loader script's early preload included).
  expect(failed).toEqual([]);

  // Another page, reached in the app, fetches its own module then.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Config' }).click();
  await expect(page.getByRole('heading', { name: 'Configuration' })).toBeVisible();
  expect(seen.get('split_config.wasm')).toBe(1);
});

test('a page whose code cannot be fetched says so, and comes when tried again', async ({ page }) => {
  await page.goto(`${dev.dashboard}cluster`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);

  // The network drops the Leases page's module the first time.
  let refused = 0;
  await page.route('**/pkg/split_leases.wasm', async (route) => {
    refused += 1;
    await route.abort('connectionreset');
  });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Leases' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText("This page's code could not be loaded");
  expect(refused).toBeGreaterThan(0);

  // The rest of the app still works: the status bar is live, the menu answers.
  await expect(page.getByTestId('status-etcd')).toHaveAttribute('data-state', 'connected');

  await page.unroute('**/pkg/split_leases.wasm');
  await alert.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByRole('heading', { name: 'Leases' })).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('a tab opened before an upgrade fetches nothing of the new build and is told to reload', async ({ page }) => {
  await page.goto(`${dev.dashboard}cluster`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const build = await page.locator('meta[name="leasehold-build"]').getAttribute('content');
  expect(build).toMatch(/^[0-9a-f]{16}$/);
  const health = await (await page.request.get(`${dev.dashboard}api/v1/health`)).json();
  expect(health.build).toBe(build);

  // The server answers as another build of Leasehold would.
  await page.route('**/api/v1/health', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: { ...(await response.json()), build: 'f'.repeat(16) } });
  });
  const seen = countWasm(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Locks' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('Leasehold has been upgraded since this tab was opened');
  expect([...seen.keys()]).toEqual([]);

  await page.unroute('**/api/v1/health');
  await alert.getByRole('button', { name: 'Reload' }).click();
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByRole('heading', { name: 'Locks' })).toBeVisible();
});
