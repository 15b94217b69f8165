import { test, expect } from '@playwright/test';
import { startDev, etcdctlHolding, etcdctlWaiting, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

test('an election shows its leader and candidates, and the next leader when the first steps down', async ({ page }, testInfo) => {
  await page.goto(`${dev.dashboard}elections`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);

  const first = await etcdctlHolding(dev.etcd, 'elect', 'scheduler', 'node-a');
  const second = etcdctlWaiting(dev.etcd, 'elect', 'scheduler', 'node-b');
  const election = page.locator('[data-testid="election"][data-name="scheduler"]');
  await expect(election.getByTestId('leader')).toContainText('node-a');
  await expect(election.getByTestId('candidate')).toContainText('node-b');

  await first.stop();
  await expect(election.getByTestId('leader')).toContainText('node-b');
  await expect(election.getByTestId('candidate')).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath('elections.png'), fullPage: true });
  await second.stop();
});
