import { test, expect } from '@playwright/test';
import { startDev, startPeer, etcdctl, kratos, Dev } from './harness';

// The client libraries people run, for real (peers/clients/, `make setup-peers`),
// as the pages show them: a lock whose waiters keep no key, the leases they
// leave behind, Patroni's leader election and its members; and why a key is
// what it is (the layout that took it, or the one it nearly had).
let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

test('a python-etcd3 lock shows its holder and says its waiters are not in etcd; their leases are orphans', async ({ page }, testInfo) => {
  const holder = startPeer(dev.etcd, 'pyetcd3_lock.py', { MEMBER: 'c1', LOCK: 'jobs', TTL: '60' });
  const held = await holder.event('acquired');
  const waiter = startPeer(dev.etcd, 'pyetcd3_lock.py', { MEMBER: 'c2', LOCK: 'jobs', TTL: '60' });
  await waiter.event('waiting');

  await page.goto(`${dev.dashboard}locks`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const lock = page.locator('[data-testid="lock"][data-name="/locks/jobs"]');
  await expect(lock.getByTestId('holder')).toContainText('/locks/jobs');
  await expect(lock.getByTestId('waiter')).toHaveCount(0);
  await expect(lock.getByTestId('holder-only')).toContainText('python-etcd3 lock');
  await expect(lock.getByTestId('holder-only')).toContainText('not visible in etcd');
  await page.screenshot({ path: testInfo.outputPath('holder-only-lock.png'), fullPage: true });

  // The waiter's failed attempt left a lease holding no key.
  await page.goto(`${dev.dashboard}leases`);
  const orphans = page.getByTestId('lease-row').filter({ has: page.getByTestId('orphan') });
  await expect(orphans.first()).toContainText('orphan (holds no key)');
  await expect(page.getByTestId('leases-count')).toContainText('holding no key');
  const holderRow = page.locator(`[data-testid="lease-row"][data-lease="${held.lease}"]`);
  await expect(holderRow.getByTestId('orphan')).toHaveCount(0);
  await expect(holderRow).toContainText('/locks/jobs');
  await page.getByPlaceholder(/Filter by lease id/).fill('orphan');
  await expect(page.getByTestId('lease-row').filter({ hasNot: page.getByTestId('orphan') })).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath('orphan-leases.png'), fullPage: true });
  await waiter.stop();
  await holder.stop();
});

test("Patroni's leader is an election held by one key, and its members show role and lag", async ({ page }, testInfo) => {
  const env = { TTL: '10', LOOP_WAIT: '1', RETRY_TIMEOUT: '2', SCOPE: 'orders-db' };
  const pg1 = startPeer(dev.etcd, 'patroni_dcs.py', { ...env, NAME: 'pg1', ROLE: 'leader', PG_PORT: '5433' });
  await pg1.event('elected');
  const pg2 = startPeer(dev.etcd, 'patroni_dcs.py', { ...env, NAME: 'pg2', ROLE: 'replica', PG_PORT: '5434' });
  await pg2.event('joined');

  await page.goto(`${dev.dashboard}elections`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const election = page.locator('[data-testid="election"][data-name="/service/orders-db/leader"]');
  await expect(election.getByTestId('leader')).toContainText('pg1');
  await expect(election.getByTestId('candidate')).toHaveCount(0);
  await expect(election.getByTestId('holder-only')).toContainText('patroni election');

  await page.goto(`${dev.dashboard}services/orders-db`);
  const rows = page.getByTestId('instance-row');
  await expect(rows).toHaveCount(2);
  const leader = rows.filter({ hasText: '127.0.0.1:5433' });
  await expect(leader).toContainText('patroni');
  await expect(leader).toContainText('leader');
  await expect(leader).toContainText('primary');
  const replica = rows.filter({ hasText: '127.0.0.1:5434' });
  await expect(replica).toContainText('replica');
  await expect(replica).toContainText(/lag\W*\d+/);
  await page.screenshot({ path: testInfo.outputPath('patroni.png'), fullPage: true });

  // The leader shuts down: the replica takes the key, on screen.
  await pg1.stop();
  await page.goto(`${dev.dashboard}elections`);
  await expect(election.getByTestId('leader')).toContainText('pg2');
  await pg2.stop();
});

test('a key says which layout took it, and a plain key which layout it nearly had', async ({ page }, testInfo) => {
  etcdctl(dev.etcd, 'put', '/services/shop/1', JSON.stringify({ address: '10.0.0.1:80' }));
  etcdctl(dev.etcd, 'put', '/microservices/pay/p1', kratos('pay', 'p1', '10.0.0.7:9000'));

  await page.goto(`${dev.dashboard}config?key=${encodeURIComponent('/services/shop/1')}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const classification = page.getByTestId('classification');
  await expect(classification).toContainText('Plain KV');
  await expect(classification.getByTestId('near-miss')).toContainText('almost dubbo-app');
  await expect(classification.getByTestId('near-miss')).toContainText('ServiceName');
  await page.screenshot({ path: testInfo.outputPath('near-miss.png'), fullPage: true });

  // From an instance's details to the key's explanation.
  await page.goto(`${dev.dashboard}services/pay`);
  await page.getByTestId('instance-row').first().click();
  const detail = page.getByTestId('instance-layout');
  await expect(detail).toContainText('/microservices/<service>/<id>');
  await detail.getByRole('link').click();
  await expect(page.getByTestId('classification')).toContainText('Classified by kratos (pay)');
  await expect(page.getByTestId('classification').getByTestId('near-miss')).toHaveCount(0);
});
