import { test, expect } from '@playwright/test';
import { startDev, etcdctl, putMany, kratos, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

/** etcd's current revision, as etcdctl reads it. */
function revisionNow(): number {
  return JSON.parse(etcdctl(dev.etcd, 'get', '/', '-w', 'json')).header.revision;
}

function valueOf(key: string): string {
  return etcdctl(dev.etcd, 'get', key, '--print-value-only').replace(/\n$/, '');
}

test('a key found in the live tree is edited by compare-and-swap, a concurrent etcdctl change gives the conflict view, and the history diffs both versions', async ({ page }, testInfo) => {
  etcdctl(dev.etcd, 'put', '/config/shop/db', '{"host":"db1","port":5432}');
  etcdctl(dev.etcd, 'put', '/config/shop/flags', 'checkout: on\nbeta: false');
  etcdctl(dev.etcd, 'put', '/config/other', 'x');
  const before = revisionNow();

  await page.goto(`${dev.dashboard}config`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const tree = page.getByTestId('tree');
  // A folder that is all its parent holds opens by itself: "/" at the top,
  // "/config/" in it. Where keys fan out, folders open one at a time, each
  // loaded when opened.
  await expect(tree.locator('[data-testid="tree-folder"][data-prefix="/"]')).toHaveAttribute('aria-expanded', 'true');
  const configFolder = tree.locator('[data-testid="tree-folder"][data-prefix="/config/"]');
  await expect(configFolder).toHaveAttribute('aria-expanded', 'true');
  await expect(tree.locator('[data-testid="tree-key"][data-key="/config/other"]')).toHaveCount(1);
  await expect(tree.locator('[data-testid="tree-key"][data-key="/config/shop/db"]')).toHaveCount(0);
  await tree.locator('[data-testid="tree-folder"][data-prefix="/config/shop/"]').click();
  const dbRow = tree.locator('[data-testid="tree-key"][data-key="/config/shop/db"]');
  await expect(dbRow).toContainText('db1');
  await expect(dbRow.getByTestId('tree-kind')).toHaveText('plain');

  // A focused key row is the same element after its value changes: it
  // changes in place, and keeps focus.
  const flagsRow = tree.locator('[data-testid="tree-key"][data-key="/config/shop/flags"]');
  await flagsRow.focus();
  const focused = await flagsRow.elementHandle();
  etcdctl(dev.etcd, 'put', '/config/shop/flags', 'checkout: on\nbeta: true');
  await expect(flagsRow.getByTestId('tree-preview')).toContainText('beta: true');
  expect(await focused!.evaluate((el) => el.isConnected && document.activeElement === el)).toBe(true);
  // Closing and opening a folder by keyboard keeps its row focused too.
  await configFolder.focus();
  await page.keyboard.press('Enter');
  await expect(configFolder).toHaveAttribute('aria-expanded', 'false');
  await page.keyboard.press('Enter');
  await expect(configFolder).toHaveAttribute('aria-expanded', 'true');
  await expect(configFolder).toBeFocused();

  // The tree is live: keys appear and vanish as etcdctl writes them.
  etcdctl(dev.etcd, 'put', '/config/shop/new', 'fresh');
  await expect(tree.locator('[data-testid="tree-key"][data-key="/config/shop/new"]')).toContainText('fresh');
  etcdctl(dev.etcd, 'del', '/config/shop/new');
  await expect(tree.locator('[data-testid="tree-key"][data-key="/config/shop/new"]')).toHaveCount(0);
  // The filter searches every key under the root, open or not.
  await page.getByTestId('tree-filter').fill('flags');
  await expect(tree.getByTestId('tree-key')).toHaveCount(1);
  await page.getByTestId('tree-filter').fill('');

  await dbRow.click();
  const panel = page.getByTestId('key-panel');
  await expect(panel.getByTestId('key-title')).toHaveText('/config/shop/db');
  await expect(panel.getByTestId('value-format').first()).toContainText('JSON');
  await expect(panel.getByTestId('value').first()).toContainText('"host": "db1"');
  await expect(panel.locator('.tok-key').first()).toHaveText('"host"');

  // Edit and save: etcd has the new value.
  await panel.getByTestId('key-edit').click();
  await panel.getByTestId('editor').fill('{"host":"db2","port":5432}');
  await panel.getByTestId('editor-save').click();
  await expect(panel.getByTestId('key-outcome')).toContainText('Saved at revision');
  expect(valueOf('/config/shop/db')).toBe('{"host":"db2","port":5432}');
  await expect(panel.getByTestId('value').first()).toContainText('"host": "db2"');

  // The history lists both versions, and the diff shows what changed.
  await expect(panel.getByTestId('history-row')).toHaveCount(2);
  const diff = panel.locator('.history-section').getByTestId('diff');
  await expect(diff.locator('tr.removed').filter({ hasText: 'db1' })).toHaveCount(1);
  await expect(diff.locator('tr.added').filter({ hasText: 'db2' })).toHaveCount(1);

  // Someone changes the key with etcdctl during the next edit: nothing is
  // overwritten, both versions are shown, and the operator chooses.
  await panel.getByTestId('key-edit').click();
  await panel.getByTestId('editor').fill('{"host":"db3","port":5432}');
  etcdctl(dev.etcd, 'put', '/config/shop/db', '{"host":"db-other","port":5432}');
  await expect(panel.getByTestId('value').first()).toContainText('db-other');
  await panel.getByTestId('editor-save').click();
  const conflict = panel.getByTestId('conflict');
  await expect(conflict).toContainText('Someone else changed this key while you edited it');
  await expect(conflict.locator('tr.removed').filter({ hasText: 'db-other' })).toHaveCount(1);
  await expect(conflict.locator('tr.added').filter({ hasText: 'db3' })).toHaveCount(1);
  await expect(conflict.getByTestId('conflict-theirs')).toContainText('{"host":"db-other","port":5432}');
  await expect(conflict.getByTestId('conflict-yours')).toContainText('{"host":"db3","port":5432}');
  expect(valueOf('/config/shop/db')).toBe('{"host":"db-other","port":5432}');
  await page.screenshot({ path: testInfo.outputPath('config-conflict.png'), fullPage: true });
  await conflict.getByTestId('conflict-keep-mine').click();
  await expect(panel.getByTestId('key-outcome')).toContainText('Saved at revision');
  expect(valueOf('/config/shop/db')).toBe('{"host":"db3","port":5432}');
  await expect(panel.getByTestId('history-row')).toHaveCount(4);

  // The key as it was before any of this.
  await panel.getByTestId('at-revision').fill(String(before));
  await panel.getByRole('button', { name: 'View' }).click();
  await expect(panel.getByTestId('at-revision-value')).toContainText('db1');

  // Prefix time travel: from the revision before the edits to now.
  await page.goto(`${dev.dashboard}config/travel?prefix=${encodeURIComponent('/config/')}&from=${before}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await page.getByTestId('travel-compare').click();
  // db, edited above, and flags, changed under the focused row.
  await expect(page.getByTestId('travel-summary')).toContainText('0 added, 0 removed, 2 changed');
  await expect(page.getByTestId('travel-horizon')).toContainText('etcd has compacted nothing');
  await expect(page.getByTestId('travel-changed')).toHaveCount(2);
  await expect(page.getByTestId('travel-changed').filter({ hasText: '/config/shop/flags' })).toHaveCount(1);
  const changed = page.getByTestId('travel-changed').filter({ hasText: '/config/shop/db' });
  await expect(changed.locator('tr.removed').filter({ hasText: 'db1' })).toHaveCount(1);
  await expect(changed.locator('tr.added').filter({ hasText: 'db3' })).toHaveCount(1);
});

test('a key is created and deleted from the UI, each only if nobody else got there first', async ({ page }) => {
  etcdctl(dev.etcd, 'put', '/create/taken', 'someone');
  await page.goto(`${dev.dashboard}config?root=${encodeURIComponent('/create/')}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.locator('[data-testid="tree-key"][data-key="/create/taken"]')).toHaveCount(1);

  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await expect(dialog.getByTestId('new-key-name')).toHaveValue('/create/');
  await dialog.getByTestId('new-key-name').fill('/create/taken');
  await dialog.getByTestId('new-key-value').fill('mine');
  await dialog.getByTestId('new-key-create').click();
  await expect(dialog.getByRole('alert')).toContainText('exists already');
  expect(valueOf('/create/taken')).toBe('someone');

  await dialog.getByTestId('new-key-name').fill('/create/mine');
  await dialog.getByTestId('new-key-create').click();
  await expect(page.getByTestId('key-title')).toHaveText('/create/mine');
  expect(valueOf('/create/mine')).toBe('mine');
  await expect(page.locator('[data-testid="tree-key"][data-key="/create/mine"]')).toHaveCount(1);

  await page.getByTestId('key-delete').click();
  await page.getByTestId('delete-confirm').click();
  await expect(page.getByTestId('key-outcome')).toContainText('Deleted at revision');
  await expect(page.getByTestId('key-absent')).toHaveCount(1);
  await expect(page.locator('[data-testid="tree-key"][data-key="/create/mine"]')).toHaveCount(0);
  expect(valueOf('/create/mine')).toBe('');
});

test('a folder too large to watch is listed from etcd page by page', async ({ page }) => {
  const entries: Array<[string, string]> = [];
  for (let i = 0; i <= 10_000; i++) entries.push([`/wide/k${String(i).padStart(5, '0')}`, `v${i}`]);
  await putMany(dev.etcd, entries);
  await page.goto(`${dev.dashboard}config?root=${encodeURIComponent('/wide/')}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const tree = page.getByTestId('tree');
  await expect(tree.getByTestId('tree-note').first()).toContainText('Over 10000 entries');
  await expect(tree.locator('[data-testid="tree-key"][data-key="/wide/k00000"]')).toHaveCount(1);
  const toBottom = () => tree.evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await toBottom();
  await expect(tree.locator('[data-testid="tree-key"][data-key="/wide/k00499"]')).toHaveCount(1);
  await expect(tree.locator('[data-testid="tree-key"][data-key="/wide/k00500"]')).toHaveCount(0);
  await tree.getByTestId('tree-more').click();
  await expect(tree.locator('[data-testid="tree-key"][data-key="/wide/k00500"]')).toHaveCount(1);
  await toBottom();
  await expect(tree.locator('[data-testid="tree-key"][data-key="/wide/k00999"]')).toHaveCount(1);
  await expect(tree.getByTestId('tree-more')).toHaveCount(1);
  // Rows stay virtualised: a thousand keys, a few dozen in the DOM.
  expect(await tree.getByTestId('tree-key').count()).toBeLessThan(100);
  await tree.locator('[data-testid="tree-key"][data-key="/wide/k00999"]').click();
  await expect(page.getByTestId('key-panel').getByTestId('value')).toContainText('v999');
});

test('a time ago is mapped to a revision through the timeline', async ({ page }) => {
  // A registration is on the timeline; a configuration key written after it
  // is what changed since.
  etcdctl(dev.etcd, 'put', '/microservices/ago/1', kratos('ago', '1', '10.9.0.1:80'));
  await expect.poll(async () => {
    const body = await (await page.request.get(`${dev.dashboard}api/v1/events?subject=${encodeURIComponent('/microservices/ago/1')}`)).json();
    return body.matched;
  }).toBe(1);
  etcdctl(dev.etcd, 'put', '/ago/setting', 'on');

  // An hour ago is before anything the timeline holds: compared from its
  // oldest point instead, said in words; the address keeps the comparison.
  await page.goto(`${dev.dashboard}config/travel?prefix=${encodeURIComponent('/ago/')}&from=1h`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await page.getByTestId('travel-compare').click();
  await expect(page.getByTestId('travel-summary')).toContainText('just before the oldest change the timeline holds');
  await expect(page.getByTestId('travel-added')).toContainText('/ago/setting');
  await page.waitForTimeout(2500);
  await page.getByTestId('travel-from').fill('2s');
  await expect(page).toHaveURL(/from=2s/);
  await page.getByTestId('travel-compare').click();
  await expect(page.getByTestId('travel-summary')).toContainText('the newest change the timeline recorded');
  await expect(page.getByTestId('travel-summary')).toContainText('1 added, 0 removed, 0 changed');
  await expect(page.getByTestId('travel-added')).toContainText('/ago/setting');
});
