// Usable by keyboard, on a phone, for everyone, and safe when the world
// moves under a dialog. With the demo running, rows update all the time.
import { test, expect, Page } from '@playwright/test';
import * as fs from 'node:fs';
import { startDev, etcdctl, etcdctlHolding, etcdctlWaiting, kratos, putMany, Dev } from './harness';

let dev: Dev;
test.beforeAll(async () => { dev = await startDev({ demo: true }); });
test.afterAll(async () => { await dev?.stop(); });

// '' is the overview, the landing page.
const PAGES = ['', 'services', 'leases', 'locks', 'elections', 'cluster', 'events', 'config', 'config/transfer', 'ops'];

/** A registry page as of the past: a service at the registry's revision now. */
async function pastPage(): Promise<string> {
  const body = await (await fetch(`${dev.dashboard}api/v1/services`)).json();
  return `services/${encodeURIComponent(body.services[0].name)}?rev=${body.revision}`;
}

async function open(page: Page, where: string): Promise<void> {
  await page.goto(`${dev.dashboard}${where}`);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

/** The transfer page with a copy's plan shown: the demo's configuration copied (a dry run, nothing written). */
async function copyPlan(page: Page): Promise<void> {
  await open(page, `config/transfer?prefix=${encodeURIComponent('/config/demo/')}`);
  const section = page.getByTestId('copy-section');
  await section.getByTestId('copy-to').fill('/usability-copy/');
  await section.getByTestId('copy-dry-run').click();
  await expect(section.getByTestId('plan-added').first()).toBeVisible();
}

/** Presses Tab until `matches` holds for the focused element; fails after `limit` presses. */
async function tabTo(page: Page, what: string, matches: string, limit = 40): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, matches)) return;
  }
  throw new Error(`${what} not reached in ${limit} Tab presses`);
}

/** Marks the focused element, so that it can be told apart from a new one in its place. */
async function markFocus(page: Page): Promise<void> {
  await page.evaluate(() => { (document.activeElement as HTMLElement).dataset.kept = 'yes'; });
}

async function focusKept(page: Page): Promise<boolean> {
  return page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.kept === 'yes');
}

/** How many times rows changed on the page in `ms`: the updates focus lived through. */
async function changesDuring(page: Page, ms: number): Promise<number> {
  return page.evaluate((ms) => new Promise<number>((resolve) => {
    let changes = 0;
    const observer = new MutationObserver((records) => { changes += records.length; });
    observer.observe(document.querySelector('main')!, { subtree: true, childList: true, characterData: true, attributes: true });
    setTimeout(() => { observer.disconnect(); resolve(changes); }, ms);
  }), ms);
}

test('keyboard only: filter, a service, a Revoke button and its dialog, with rows updating', async ({ page }) => {
  await open(page, 'services');
  await expect(page.getByTestId('service-row').first()).toBeVisible();
  await tabTo(page, 'the filter', '[data-testid="services-filter"]');
  // Past the sortable headers, the first service.
  await tabTo(page, 'a service link', '[data-testid="service-row"] a', 8);
  await markFocus(page);
  const link = await page.evaluate(() => document.activeElement?.textContent);
  expect(await changesDuring(page, 5_000)).toBeGreaterThan(0);
  expect(await focusKept(page), `the focused link to ${link} survives 5 s of updates`).toBe(true);

  await open(page, 'leases');
  await expect(page.getByTestId('lease-row').first()).toBeVisible();
  await tabTo(page, 'a Revoke button', '[data-testid="revoke"]');
  await markFocus(page);
  expect(await changesDuring(page, 5_000)).toBeGreaterThan(0);
  expect(await focusKept(page), 'the focused Revoke button survives 5 s of updates').toBe(true);

  // Enter opens the dialog, focus is inside, Tab stays inside, Escape closes
  // it and focus returns to the button.
  await page.keyboard.press('Enter');
  const dialog = page.getByTestId('revoke-dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId('revoke-preview')).toBeVisible();
  expect(await page.evaluate(() => document.activeElement?.closest('dialog') !== null)).toBe(true);
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press(i % 3 === 2 ? 'Shift+Tab' : 'Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('dialog') !== null), `focus inside after ${i + 1} presses`).toBe(true);
  }
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeVisible();
  await expect(dialog.getByTestId('revoke-confirm')).toHaveText(/^Revoke lease [0-9a-f]+$/);
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  expect(await focusKept(page), 'focus is back on the Revoke button').toBe(true);
});

test("keyboard only: the overview's charts are reached by Tab and read bucket by bucket with the arrows", async ({ page }) => {
  await open(page, '');
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  const spark = page.locator('[data-testid="sparkline"][data-chart="instances"]');
  await expect.poll(async () => Number(await spark.getAttribute('data-points')), { timeout: 30_000 }).toBeGreaterThan(1);
  await tabTo(page, "the instances' sparkline", '[data-chart="instances"] .chart-plot', 60);
  const tip = spark.getByTestId('chart-tip');
  await expect(tip).toBeVisible();
  await expect(tip.getByTestId('chart-tip-time')).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} – \d{2}:\d{2}:\d{2}$/);
  const newest = Number(await tip.getAttribute('data-bucket'));
  await page.keyboard.press('ArrowLeft');
  await expect(tip).toHaveAttribute('data-bucket', String(newest - 10));
  await page.keyboard.press('End');
  await expect(tip).toHaveAttribute('data-bucket', String(newest));
  // Leaving the chart hides its tooltip; the next chart is a Tab away.
  await page.keyboard.press('Tab');
  await expect(tip).toHaveCount(0);
  await tabTo(page, 'the per-minute chart', '[data-chart="churn"] .chart-plot', 20);
  await expect(page.locator('[data-chart="churn"]').getByTestId('chart-tip')).toBeVisible();
});

test('Enter in the type-the-id box confirms; a revoke that deletes nothing is a warning', async ({ page }) => {
  const lease = etcdctl(dev.etcd, 'lease', 'grant', '300').split(/\s+/)[1].replace(/^0+(?=.)/, '');
  for (const n of [1, 2]) {
    etcdctl(dev.etcd, 'put', `/microservices/typed/${n}`, JSON.stringify({ id: `${n}`, name: 'typed', endpoints: [`grpc://10.1.0.${n}:9000`] }), `--lease=${lease}`);
  }
  await open(page, `leases?lease=${lease}`);
  const row = page.locator(`[data-testid="lease-row"][data-lease="${lease}"]`);
  await row.getByTestId('revoke').click();
  const dialog = page.getByTestId('revoke-dialog');
  const typed = dialog.getByTestId('revoke-typed');
  await expect(typed).toBeFocused();
  await typed.fill(lease);
  await typed.press('Enter');
  await expect(dialog.getByTestId('revoke-result')).toContainText(`Lease ${lease} revoked: 2 key(s) deleted`);
  await dialog.getByRole('button', { name: 'Close' }).click();

  const empty = etcdctl(dev.etcd, 'lease', 'grant', '300').split(/\s+/)[1].replace(/^0+(?=.)/, '');
  await open(page, `leases?lease=${empty}`);
  await page.locator(`[data-testid="lease-row"][data-lease="${empty}"]`).getByTestId('revoke').click();
  await expect(dialog).toContainText('It holds no key.');
  await dialog.getByTestId('revoke-confirm').click();
  const result = dialog.getByTestId('revoke-result');
  await expect(result).toContainText('nothing was deleted');
  await expect(result).toHaveClass(/warn/);
});

test('break lock follows the holder: a holder that changed is named and nothing is revoked', async ({ page }, testInfo) => {
  const first = await etcdctlHolding(dev.etcd, 'lock', 'moving-target');
  const second = etcdctlWaiting(dev.etcd, 'lock', 'moving-target');
  await open(page, 'locks');
  const lock = page.locator('[data-testid="lock"][data-name="moving-target"]');
  await expect(lock.getByTestId('waiter')).toHaveCount(1);
  await expect(lock.getByTestId('holder-since')).toBeVisible();
  await lock.getByTestId('break-lock').click();
  const dialog = page.getByTestId('revoke-dialog');
  await expect(dialog.getByTestId('revoke-preview')).toContainText('moving-target');
  await expect(dialog.getByTestId('revoke-confirm')).toHaveText(/^Break lock \(revoke lease [0-9a-f]+\)$/);

  // The lock moves on while the dialog is open.
  const firstLease = first.line.split('/').pop()!;
  etcdctl(dev.etcd, 'lease', 'revoke', firstLease);
  const secondKey = await second.line();
  const changed = dialog.getByTestId('holder-changed');
  await expect(changed).toContainText(`The holder changed to ${secondKey}`);
  await expect(dialog.getByTestId('revoke-confirm')).toBeDisabled();
  await page.screenshot({ path: testInfo.outputPath('holder-changed.png') });
  const secondLease = secondKey.split('/').pop()!;
  expect(etcdctl(dev.etcd, 'lease', 'timetolive', secondLease)).toMatch(/remaining\(\d+s\)/);

  // Reviewing the new holder previews its lease; Cancel leaves it alone.
  await dialog.getByTestId('review-holder').click();
  await expect(dialog.getByTestId('revoke-confirm')).toHaveText(`Break lock (revoke lease ${secondLease})`);
  await expect(dialog.getByTestId('revoke-confirm')).toBeEnabled();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(lock.getByTestId('holder')).toContainText(secondKey);
  await second.stop();
  await first.stop();
});

test('at 390x844 no page is wider than the screen, and the nav folds', async ({ browser }, testInfo) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const service = (await (await fetch(`${dev.dashboard}api/v1/services`)).json()).services[0].name as string;
  for (const where of [...PAGES, `services/${encodeURIComponent(service)}`, await pastPage()]) {
    await open(page, where);
    await page.waitForTimeout(300);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.screenshot({ path: testInfo.outputPath(`phone-${where.replace(/\W+/g, '-') || 'home'}.png`), fullPage: true });
    expect(width, `/${where} is ${width} px wide`).toBeLessThanOrEqual(390);
    const header = await page.locator('header.top').boundingBox();
    expect(header!.height, `/${where}: the header is one line`).toBeLessThan(80);
  }
  await page.getByTestId('menu').click();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Leases' })).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Leases' }).click();
  await expect(page).toHaveURL(/\/leases$/);
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeHidden();
  await context.close();
});

/** Pairs of visible controls closer than 4 px to each other, and (on a phone) controls under 24 px. */
async function crampedControls(page: Page, phone: boolean): Promise<string[]> {
  return page.evaluate((phone) => {
    // An open modal dialog is all that can be reached.
    const scope = document.querySelector('dialog[open]') ?? document;
    const controls = [...scope.querySelectorAll<HTMLElement>('button, input:not([type=hidden]), select, textarea, a.button, summary')]
      .filter((el) => el.checkVisibility())
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && r.height > 0);
    const name = (el: HTMLElement) => `${el.tagName.toLowerCase()}${el.dataset.testid ? `[${el.dataset.testid}]` : ''} "${(el.innerText || (el as HTMLInputElement).placeholder || el.getAttribute('aria-label') || '').trim().slice(0, 30)}"`;
    const out: string[] = [];
    for (let i = 0; i < controls.length; i++) {
      const a = controls[i];
      if (phone && (a.r.height < 24 || a.r.width < 24)) out.push(`${name(a.el)} is ${Math.round(a.r.width)}x${Math.round(a.r.height)} px`);
      for (let j = i + 1; j < controls.length; j++) {
        const b = controls[j];
        if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
        const dx = Math.max(a.r.left, b.r.left) - Math.min(a.r.right, b.r.right);
        const dy = Math.max(a.r.top, b.r.top) - Math.min(a.r.bottom, b.r.bottom);
        if (dx < 4 && dy < 4) out.push(`${name(a.el)} and ${name(b.el)} are ${Math.round(Math.max(dx, dy))} px apart`);
      }
    }
    return out;
  }, phone);
}

test('no two controls touch, on a desktop and on a phone, where tap targets are at least 24 px', async ({ browser }) => {
  const service = (await (await fetch(`${dev.dashboard}api/v1/services`)).json()).services[0].name as string;
  const problems: string[] = [];
  for (const phone of [false, true]) {
    const context = await browser.newContext(phone
      ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }
      : { viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    for (const where of [...PAGES, `services/${encodeURIComponent(service)}`, 'config/travel', await pastPage()]) {
      await open(page, where);
      await page.waitForTimeout(300);
      problems.push(...(await crampedControls(page, phone)).map((p) => `${phone ? 'phone' : 'desktop'} /${where}: ${p}`));
    }
    // A dialog's controls too: the revoke dialog.
    await open(page, 'leases');
    await page.getByTestId('revoke').first().click();
    await expect(page.locator('dialog[open]')).toHaveCount(1);
    problems.push(...(await crampedControls(page, phone)).map((p) => `${phone ? 'phone' : 'desktop'} revoke dialog: ${p}`));
    // And a membership change's: adding a learner, with its flags to copy.
    await open(page, 'ops');
    await page.getByTestId('add-learner-name').fill('usability-learner');
    await page.getByTestId('add-learner-peer-url').fill('http://127.0.0.1:1');
    await page.getByTestId('open-add-learner').click();
    await expect(page.locator('dialog[open] [data-testid="learner-flags"]')).toBeVisible();
    problems.push(...(await crampedControls(page, phone)).map((p) => `${phone ? 'phone' : 'desktop'} add-learner dialog: ${p}`));
    // A copy's plan, and its confirmation.
    await copyPlan(page);
    problems.push(...(await crampedControls(page, phone)).map((p) => `${phone ? 'phone' : 'desktop'} copy plan: ${p}`));
    await page.getByTestId('copy-apply').click();
    await expect(page.locator('dialog[open] [data-testid="copy-confirm"]')).toBeVisible();
    problems.push(...(await crampedControls(page, phone)).map((p) => `${phone ? 'phone' : 'desktop'} copy dialog: ${p}`));
    await page.getByRole('button', { name: 'Cancel' }).click();
    await context.close();
  }
  expect(problems, problems.join('\n')).toEqual([]);
});

for (const scheme of ['light', 'dark'] as const) {
  test(`axe-core finds no serious or critical violation on any page (${scheme})`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme });
    const problems: string[] = [];
    const check = async (where: string) => {
      // Evaluated, not a script tag: the page's Content-Security-Policy
      // (rightly) refuses inline scripts.
      await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
      const violations = await page.evaluate(async () => {
        const results = await (window as any).axe.run(document, { resultTypes: ['violations'] });
        return results.violations
          .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
          .map((v: any) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n: any) => n.target.join(' ') + ' ' + (n.failureSummary ?? '').split('\n').slice(1, 2).join('')).join(' | ')}`);
      });
      problems.push(...violations.map((v: string) => `/${where}: ${v}`));
    };
    for (const where of [...PAGES, await pastPage()]) {
      await open(page, where);
      await page.waitForTimeout(500);
      await check(where);
    }
    // The transfer page with a plan shown, its diffs and lists.
    await copyPlan(page);
    await check('config/transfer (a copy plan)');
    expect(problems, problems.join('\n')).toEqual([]);
  });
}

test('events: 20,000 events later, an operator action is found by the server-side filter', async ({ page }) => {
  // An operator's action first: a revoke of a lease etcd does not know (audited as failed).
  const gone = 'abcdef1234';
  const refused = await fetch(`${dev.dashboard}api/v1/leases/${gone}`, { method: 'DELETE' });
  expect(refused.status).toBe(404);
  // Then 20,000 registrations: twice the registry events the server keeps.
  const entries: Array<[string, string]> = [];
  for (let i = 0; i < 20_000; i++) entries.push([`/microservices/flood/${i}`, kratos('flood', `${i}`, `10.7.${i >> 8 & 255}.${i & 255}:9000`)]);
  await putMany(dev.etcd, entries);
  await expect.poll(async () => {
    const body = await (await fetch(`${dev.dashboard}api/v1/events?kind=instance_registered&subject=${encodeURIComponent('/microservices/flood/19999')}`)).json();
    return body.matched;
  }, { timeout: 60_000 }).toBe(1);

  await open(page, 'events');
  await page.getByTestId('events-filter').fill(gone);
  const rows = page.getByTestId('event');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-kind', 'audit');
  await expect(rows.first()).toContainText('revoke_lease');
  await expect(page.getByTestId('events-summary')).toContainText('showing 1 of 1 matching');
  await expect(page).toHaveURL(new RegExp(`q=${gone}`));

  // Lock chatter hidden: no lock event among what is shown.
  await page.getByTestId('events-filter').fill('');
  await page.getByTestId('events-quiet').check();
  await expect(page.getByTestId('events-summary')).toContainText('showing');
  await expect(page.locator('[data-testid="event"][data-kind^="lock_"]')).toHaveCount(0);
  await expect(rows.first()).toBeVisible();
  // Older pages come from the server.
  await page.getByTestId('events-older').click();
  await expect.poll(async () => rows.count()).toBeGreaterThan(500);
});
