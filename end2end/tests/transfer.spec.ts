// Export, import, copy and rename of a prefix (/config/transfer): the
// export downloaded as the server streams it, an import dry-run then
// applied by compare-and-swap (a write after the dry run a conflict, not an
// overwrite), a copy dry run and a rename applied; a viewer may dry-run but
// not apply, and a read-only Leasehold exports only.
import { test, expect, Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDev, startServe, etcdctl, grantLease, releaseBinary, Etcd, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev(); });
test.afterAll(async () => { await dev?.stop(); });

function revisionNow(): number {
  return JSON.parse(etcdctl(dev.etcd, 'get', '/', '-w', 'json')).header.revision;
}

const fromBase64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');

/** The keys under `prefix` as etcd holds them (etcdctl's JSON; no leases: their ids are too large for a JS number). */
function etcdItems(prefix: string): Array<{ key: string; value: string; create_revision: number; mod_revision: number; version: number }> {
  const body = JSON.parse(etcdctl(dev.etcd, 'get', '--prefix', prefix, '-w', 'json'));
  return (body.kvs ?? []).map((kv: any) => ({
    key: fromBase64(kv.key),
    value: fromBase64(kv.value ?? ''),
    create_revision: kv.create_revision,
    mod_revision: kv.mod_revision,
    version: kv.version,
  }));
}

/** The keys under `prefix` and their values, read through Leasehold's API. */
async function apiValues(prefix: string): Promise<Record<string, string>> {
  const body = await (await fetch(`${dev.dashboard}api/v1/kv?prefix=${encodeURIComponent(prefix)}&limit=5000`)).json();
  return Object.fromEntries(body.items.map((kv: any) => [kv.key, kv.value]));
}

async function open(page: Page, where: string): Promise<void> {
  await page.goto(`${dev.dashboard}${where}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.getByRole('heading', { name: 'Export, import and copy', level: 1 })).toBeVisible();
}

/** The `data-key`s of the rows with `testid` inside `scope`, in order. */
async function keysOf(scope: ReturnType<Page['getByTestId']>, testid: string): Promise<string[]> {
  return scope.getByTestId(testid).evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.key ?? ''));
}

test('an export downloads the prefix as etcd holds it, now and at a past revision without leases', async ({ page }, testInfo) => {
  etcdctl(dev.etcd, 'put', '/xfer/export/app', '{"port":8080}');
  etcdctl(dev.etcd, 'put', '/xfer/export/flags', 'beta: false');
  const lease = grantLease(dev.etcd, 300);
  etcdctl(dev.etcd, 'put', '--lease', lease.printed, '/xfer/export/session', 'alive');
  const then = revisionNow();
  const atThen = etcdItems('/xfer/export/');
  etcdctl(dev.etcd, 'put', '/xfer/export/flags', 'beta: true');
  const now = etcdItems('/xfer/export/');

  // The Config page links here with its tree's root.
  await page.goto(`${dev.dashboard}config?root=${encodeURIComponent('/xfer/export/')}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await page.getByTestId('open-transfer').click();
  await expect(page.getByRole('heading', { name: 'Export, import and copy', level: 1 })).toBeVisible();
  const section = page.getByTestId('export-section');
  await expect(section.getByTestId('export-prefix')).toHaveValue('/xfer/export/');

  const [download] = await Promise.all([page.waitForEvent('download'), section.getByTestId('export-download').click()]);
  const named = /^leasehold-export-r(\d+)\.json$/.exec(download.suggestedFilename());
  expect(named, download.suggestedFilename()).not.toBeNull();
  const file = testInfo.outputPath('export-now.json');
  await download.saveAs(file);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  expect(doc.format).toBe('leasehold-export/1');
  expect(doc.prefix).toBe('/xfer/export/');
  expect(doc.revision).toBe(Number(named![1]));
  expect(doc.revision).toBeGreaterThanOrEqual(now[now.length - 1].mod_revision);
  // Every key as etcd holds it, in etcd's order; the leased one names its lease.
  expect(doc.items.map(({ lease: _, ...item }: any) => item)).toEqual(now);
  expect(doc.items.map((item: any) => item.lease ?? null)).toEqual([null, null, lease.id]);
  expect(doc.leases).toEqual([{ id: lease.id, ttl: 300 }]);

  // As it was at a past revision, without leases.
  await section.getByTestId('export-rev').fill(String(then));
  await section.getByTestId('export-leases-drop').check();
  await expect(section.getByTestId('export-download')).toHaveAttribute('href', `/api/v1/export?prefix=%2Fxfer%2Fexport%2F&rev=${then}&leases=drop`);
  const [past] = await Promise.all([page.waitForEvent('download'), section.getByTestId('export-download').click()]);
  expect(past.suggestedFilename()).toBe(`leasehold-export-r${then}.json`);
  const pastDoc = JSON.parse(fs.readFileSync(await past.path(), 'utf8'));
  expect(pastDoc.revision).toBe(then);
  expect(pastDoc.items).toEqual(atThen);
  expect(pastDoc.items.find((i: any) => i.key === '/xfer/export/flags').value).toBe('beta: false');
  expect(pastDoc.leases).toBeUndefined();

  // A revision etcd has not reached is said before anything is asked.
  await section.getByTestId('export-rev').fill(String(revisionNow() + 1000));
  await expect(section.getByTestId('export-note')).toContainText('in the future');
  await expect(section.getByTestId('export-download')).toHaveCount(0);
  await expect(section.getByTestId('export-download-disabled')).toBeDisabled();
});

test('an import is dry-run from a file: exactly the keys added, changed (with diffs) and kept; applied, the prefix is the document', async ({ page }, testInfo) => {
  etcdctl(dev.etcd, 'put', '/xfer/dst/same', 'one');
  etcdctl(dev.etcd, 'put', '/xfer/dst/changed', 'colour: red\nsize: 2');
  etcdctl(dev.etcd, 'put', '/xfer/dst/extra', 'here only');
  const item = (key: string, value: string) => ({ key, value, create_revision: 5, mod_revision: 5, version: 1 });
  const document = {
    format: 'leasehold-export/1', prefix: '/doc/', revision: 5, exported_at: '2026-12-07T00:00:00Z',
    items: [item('/doc/changed', 'colour: blue\nsize: 2'), item('/doc/new', '{"fresh":true}'), item('/doc/same', 'one')],
  };
  const file = testInfo.outputPath('document.json');
  fs.writeFileSync(file, JSON.stringify(document));

  await open(page, 'config/transfer');
  const section = page.getByTestId('import-section');
  await expect(section.getByTestId('import-dry-run')).toBeDisabled();
  await expect(section.getByTestId('import-why')).toContainText('Choose a document first');
  await section.getByTestId('import-file').setInputFiles(file);
  await expect(section.getByTestId('import-chosen')).toContainText('document.json');
  await section.getByTestId('import-prefix').fill('/xfer/dst/');
  await section.getByTestId('import-dry-run').click();

  const plan = section.getByTestId('plan');
  await expect(plan.getByTestId('plan-counts')).toHaveText('1 to add, 1 to change, 1 unchanged, 1 here but not in the source (kept).');
  await expect(plan).toContainText("from the document's /doc/");
  expect(await keysOf(plan, 'plan-added')).toEqual(['/xfer/dst/new']);
  expect(await keysOf(plan, 'plan-changed')).toEqual(['/xfer/dst/changed']);
  expect(await keysOf(plan, 'plan-absent')).toEqual(['/xfer/dst/extra']);
  await expect(plan.getByTestId('plan-absent')).toHaveAttribute('data-fate', 'kept');
  const diff = plan.getByTestId('plan-changed').getByTestId('diff');
  await expect(diff.locator('tr.removed td.text')).toHaveText(['colour: red']);
  await expect(diff.locator('tr.added td.text')).toHaveText(['colour: blue']);
  await plan.getByTestId('plan-added').locator('summary').click();
  await expect(plan.getByTestId('plan-added').getByTestId('value')).toContainText('"fresh": true');
  // The dry run wrote nothing.
  expect(await apiValues('/xfer/dst/')).toEqual({ '/xfer/dst/changed': 'colour: red\nsize: 2', '/xfer/dst/extra': 'here only', '/xfer/dst/same': 'one' });

  // Another option makes the plan stale: Apply waits for a new dry run.
  await section.getByTestId('import-delete-missing').check();
  await expect(section.getByTestId('import-stale')).toBeVisible();
  await expect(section.getByTestId('import-apply')).toBeDisabled();
  await section.getByTestId('import-dry-run').click();
  await expect(plan.getByTestId('plan-counts')).toHaveText('1 to add, 1 to change, 1 unchanged, 1 here but not in the source (to be deleted).');
  await expect(plan.getByTestId('plan-absent')).toHaveAttribute('data-fate', 'deleted');
  await expect(section.getByTestId('import-stale')).toHaveCount(0);

  await section.getByTestId('import-apply').click();
  const dialog = page.getByTestId('import-confirm-dialog');
  const words = dialog.getByTestId('import-confirm-words');
  await expect(words).toContainText('Write 2 key(s) under /xfer/dst/: 1 added, 1 changed.');
  await expect(words).toContainText('Delete 1 key(s) under /xfer/dst/ that the source does not hold.');
  await expect(words).toContainText('Leave the 1 unchanged key(s) alone.');
  await expect(words).toContainText('without a lease');
  await page.screenshot({ path: testInfo.outputPath('import-confirm.png'), fullPage: true });
  // Cancel changes nothing; confirming applies.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  expect((await apiValues('/xfer/dst/'))['/xfer/dst/changed']).toBe('colour: red\nsize: 2');
  await section.getByTestId('import-apply').click();
  await dialog.getByTestId('import-confirm').click();
  await expect(section.getByTestId('outcome')).toContainText('2 key(s) written and 1 deleted under /xfer/dst/ in 1 transaction(s)');
  await expect(section.getByTestId('conflict')).toHaveCount(0);

  // etcd holds the document, re-rooted under /xfer/dst/.
  expect(await apiValues('/xfer/dst/')).toEqual(Object.fromEntries(document.items.map((i) => [i.key.replace('/doc/', '/xfer/dst/'), i.value])));
  const file2 = testInfo.outputPath('import-applied.png');
  await page.screenshot({ path: file2, fullPage: true });
  await testInfo.attach('import applied', { path: file2, contentType: 'image/png' });
});

test("etcdctl's output imported: a key written after the dry run is a conflict, shown with both sides and left as it is", async ({ page }, testInfo) => {
  etcdctl(dev.etcd, 'put', '/xfer/src2/a', 'a1');
  etcdctl(dev.etcd, 'put', '/xfer/src2/b', 'b1');
  const file = testInfo.outputPath('etcdctl.json');
  fs.writeFileSync(file, etcdctl(dev.etcd, 'get', '--prefix', '/xfer/src2/', '-w', 'json'));
  etcdctl(dev.etcd, 'put', '/xfer/dst2/a', 'old-a');
  etcdctl(dev.etcd, 'put', '/xfer/dst2/b', 'old-b');

  await open(page, `config/transfer?prefix=${encodeURIComponent('/xfer/dst2/')}`);
  const section = page.getByTestId('import-section');
  await expect(section.getByTestId('import-prefix')).toHaveValue('/xfer/dst2/');
  await section.getByTestId('import-file').setInputFiles(file);
  await section.getByTestId('import-dry-run').click();
  const plan = section.getByTestId('plan');
  // etcdctl's keys are re-rooted from their common folder.
  await expect(plan).toContainText("from the document's /xfer/src2/");
  await expect(plan.getByTestId('plan-counts')).toHaveText('0 to add, 2 to change, 0 unchanged, 0 here but not in the source (kept).');
  expect(await keysOf(plan, 'plan-changed')).toEqual(['/xfer/dst2/a', '/xfer/dst2/b']);

  // Someone writes /xfer/dst2/b between the dry run and the apply.
  etcdctl(dev.etcd, 'put', '/xfer/dst2/b', 'theirs');
  await section.getByTestId('import-apply').click();
  await page.getByTestId('import-confirm-dialog').getByTestId('import-confirm').click();
  await expect(section.getByTestId('outcome')).toContainText('1 key(s) written and 0 deleted');
  await expect(section.getByTestId('outcome')).toContainText('1 conflict(s)');
  const conflict = section.getByTestId('conflict');
  await expect(conflict).toHaveAttribute('data-key', '/xfer/dst2/b');
  await expect(conflict.locator('tr.removed td.text')).toHaveText(['theirs']);
  await expect(conflict.locator('tr.added td.text')).toHaveText(['b1']);
  expect(await apiValues('/xfer/dst2/')).toEqual({ '/xfer/dst2/a': 'a1', '/xfer/dst2/b': 'theirs' });
});

test('a copy is dry-run and writes nothing; a rename is applied: the keys move, the source is emptied', async ({ page }, testInfo) => {
  etcdctl(dev.etcd, 'put', '/xfer/old/x', '1');
  etcdctl(dev.etcd, 'put', '/xfer/old/y/z', '{"two":2}');

  await open(page, `config/transfer?prefix=${encodeURIComponent('/xfer/old/')}`);
  const section = page.getByTestId('copy-section');
  await expect(section.getByTestId('copy-from')).toHaveValue('/xfer/old/');
  await expect(section.getByTestId('copy-dry-run')).toBeDisabled();
  await section.getByTestId('copy-to').fill('/xfer/old/inner/');
  await expect(section.getByTestId('copy-why')).toContainText('overlap');
  await section.getByTestId('copy-to').fill('/xfer/new/');
  await section.getByTestId('copy-dry-run').click();
  await expect(section.getByTestId('copy-source')).toContainText('2 key(s) under /xfer/old/ read at revision');
  const plan = section.getByTestId('plan');
  await expect(plan.getByTestId('plan-counts')).toHaveText('2 to add, 0 to change, 0 unchanged, 0 here but not in the source (kept).');
  expect(await keysOf(plan, 'plan-added')).toEqual(['/xfer/new/x', '/xfer/new/y/z']);
  await expect(section.getByTestId('copy-rename-plan')).toHaveCount(0);
  expect(await apiValues('/xfer/new/')).toEqual({});

  // A rename: dry-run again, then confirm.
  await section.getByTestId('copy-rename').check();
  await expect(section.getByTestId('copy-rev')).toBeDisabled();
  await expect(section.getByTestId('copy-stale')).toBeVisible();
  await expect(section.getByTestId('copy-apply')).toBeDisabled();
  await section.getByTestId('copy-dry-run').click();
  await expect(section.getByTestId('copy-rename-plan')).toContainText('Then the 2 key(s) under /xfer/old/ are deleted');
  await section.getByTestId('copy-apply').click();
  const dialog = page.getByTestId('copy-confirm-dialog');
  await expect(dialog.getByRole('heading')).toHaveText('Rename /xfer/old/ to /xfer/new/?');
  await expect(dialog.getByTestId('copy-confirm-words')).toContainText('Write 2 key(s) under /xfer/new/: 2 added, 0 changed.');
  await expect(dialog.getByTestId('copy-confirm-words')).toContainText('Then delete the 2 key(s) under /xfer/old/');
  expect(await apiValues('/xfer/new/')).toEqual({});
  await dialog.getByTestId('copy-confirm').click();
  await expect(section.getByTestId('outcome')).toContainText('2 key(s) written and 0 deleted under /xfer/new/');
  await expect(section.getByTestId('removal')).toContainText('2 key(s) removed from /xfer/old/.');
  expect(await apiValues('/xfer/old/')).toEqual({});
  expect(await apiValues('/xfer/new/')).toEqual({ '/xfer/new/x': '1', '/xfer/new/y/z': '{"two":2}' });
  await page.screenshot({ path: testInfo.outputPath('renamed.png'), fullPage: true });
});

/** A users file with a viewer, hashed by `leasehold hash-password`. */
function viewerFile(): { file: string; dir: string } {
  const hash = execFileSync(releaseBinary, ['hash-password'], { input: 'vera-password\n' }).toString().trim().split('\n').pop()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leasehold-users-'));
  const file = path.join(dir, 'users.toml');
  fs.writeFileSync(file, ['[[users]]', 'name = "vera"', 'role = "viewer"', `password_hash = "${hash}"`, ''].join('\n'));
  return { file, dir };
}

test('a viewer may dry-run a copy but not apply it; a read-only Leasehold exports and offers no import or copy', async ({ page }) => {
  const etcd = await Etcd.create();
  const users = viewerFile();
  const server = await startServe(etcd, ['--auth', 'users', '--users-file', users.file]);
  try {
    etcdctl(etcd.endpoint, 'put', '/v/a', 'x');
    await page.goto(`${server.url}config/transfer?prefix=${encodeURIComponent('/v/')}`);
    const form = page.getByTestId('login-form');
    await form.getByLabel('User name').fill('vera');
    await form.getByLabel('Password').fill('vera-password');
    await form.getByRole('button', { name: 'Sign in' }).click();
    const section = page.getByTestId('copy-section');
    await section.getByTestId('copy-to').fill('/w/');
    await section.getByTestId('copy-dry-run').click();
    await expect(section.getByTestId('plan-counts')).toHaveText('1 to add, 0 to change, 0 unchanged, 0 here but not in the source (kept).');
    await expect(section.getByTestId('copy-apply')).toBeDisabled();
    await expect(section.getByTestId('transfer-refusal')).toContainText('Your role may look but not change keys');
    await expect(page.getByTestId('export-section').getByTestId('export-download')).toBeVisible();
  } finally {
    await server.stop();
    fs.rmSync(users.dir, { recursive: true, force: true });
  }

  const readOnly = await startServe(etcd, ['--read-only']);
  try {
    await page.goto(`${readOnly.url}config/transfer?prefix=${encodeURIComponent('/v/')}`);
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    const download = page.getByTestId('export-section').getByTestId('export-download');
    await expect(download).toHaveAttribute('href', '/api/v1/export?prefix=%2Fv%2F&leases=keep');
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    expect(JSON.parse(fs.readFileSync(await file.path(), 'utf8')).items.map((i: any) => i.key)).toEqual(['/v/a']);
    for (const part of ['import', 'copy']) {
      const section = page.getByTestId(`${part}-section`);
      await expect(section.getByTestId(`${part}-dry-run`)).toBeDisabled();
      await expect(section.getByTestId(`${part}-why`)).toContainText('read-only');
      await expect(section.getByTestId(`${part}-apply`)).toHaveCount(0);
    }
  } finally {
    await readOnly.stop();
    await etcd.dispose();
  }
});
