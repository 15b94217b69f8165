// P5: how fast a service page with 10,000 instances shows its first rows in
// headless Chromium, and the frame times while its table is scrolled.
// `make bench` starts etcd and the server with the instances in place and
// passes LEASEHOLD_BENCH_URL (the service page) and LEASEHOLD_BENCH_OUT
// (where the figures go, as JSON).
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';

const RUNS = 5;
const SCROLL_MS = 3000;
/// Instances changed a second while the second scroll is measured, 50 to a
/// transaction every 100 ms, through etcd's JSON gateway.
const CHANGES_PER_SECOND = 500;

test('a service page with 10,000 instances', async ({ browser }) => {
  const url = process.env.LEASEHOLD_BENCH_URL;
  const out = process.env.LEASEHOLD_BENCH_OUT;
  const etcd = process.env.LEASEHOLD_BENCH_ETCD;
  if (!url || !out || !etcd) throw new Error('run through `make bench`: LEASEHOLD_BENCH_URL, LEASEHOLD_BENCH_OUT and LEASEHOLD_BENCH_ETCD are not set');

  const firstRows: number[] = [];
  const seen: number[] = [];
  let frames: number[] = [];
  let churnFrames: number[] = [];
  let changed = 0;
  for (let run = 0; run < RUNS; run++) {
    // A fresh context each time: nothing cached, as a first visit.
    const context = await browser.newContext();
    const page = await context.newPage();
    // In the page: the first instance row is noted when it enters the
    // document, and the time taken at the next animation frame, the one that
    // paints it (milliseconds since navigation began, by the page's clock).
    await page.addInitScript(() => {
      const observer = new MutationObserver(() => {
        if (!document.querySelector('[data-testid="instance-row"]')) return;
        observer.disconnect();
        requestAnimationFrame(() => { (window as any).__firstRowPainted = performance.now(); });
      });
      observer.observe(document, { subtree: true, childList: true });
    });
    await page.goto(url);
    await page.getByTestId('instance-row').first().waitFor({ state: 'visible' });
    // When Playwright has seen them: the above plus its own polling and
    // round trips to the browser.
    seen.push(await page.evaluate(() => performance.now()));
    await page.waitForFunction(() => (window as any).__firstRowPainted !== undefined);
    firstRows.push(await page.evaluate(() => (window as any).__firstRowPainted as number));
    await expect(page.getByText('10000 instance(s)')).toBeVisible();
    if (run === RUNS - 1) {
      frames = await scroll(page);
      // Again while instances change: the rows in view are updated in
      // place as their instances change under the scrolling.
      let writing = true;
      const writer = (async () => {
        const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
        const perTxn = CHANGES_PER_SECOND / 10;
        while (writing) {
          const began = Date.now();
          // Distinct keys in one transaction (etcd refuses a key twice),
          // spread over the whole table.
          const first = Math.floor(Math.random() * 10_000);
          const success = Array.from({ length: perTxn }, (_, i) => {
            const id = (first + i * 197) % 10_000;
            const key = `/microservices/big/${String(id).padStart(5, '0')}`;
            const value = JSON.stringify({ id: `${id}`, name: 'big', version: `v1.4.${changed % 1000}`, metadata: { zone: 'eu-1' }, endpoints: [`grpc://10.1.${Math.floor(id / 250) % 250}.${id % 250 + 1}:9000`] });
            changed++;
            return { requestPut: { key: b64(key), value: b64(value) } };
          });
          const response = await fetch(`${etcd}/v3/kv/txn`, { method: 'POST', body: JSON.stringify({ success }) });
          if (!response.ok) throw new Error(`etcd txn failed: ${response.status}`);
          await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - began))));
        }
      })();
      await page.waitForTimeout(500);
      churnFrames = await scroll(page);
      writing = false;
      await writer;
    }
    await context.close();
  }
  // The overview (the landing page), fresh each time: painted when the
  // cluster's health and the registry's totals both show their numbers
  // (the cluster, ops and metrics topics' snapshots are in).
  const overview: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(() => {
      const painted = () => {
        const members = document.querySelector('[data-testid="health-members-value"]')?.textContent ?? '';
        const instances = document.querySelector('[data-total="instances"] [data-testid="total-value"]')?.textContent ?? '';
        return /healthy|unhealthy|member/.test(members) && /\d/.test(instances);
      };
      const observer = new MutationObserver(() => {
        if (!painted()) return;
        observer.disconnect();
        requestAnimationFrame(() => { (window as any).__overviewPainted = performance.now(); });
      });
      observer.observe(document, { subtree: true, childList: true, characterData: true });
    });
    await page.goto(new URL('/', url).href);
    await page.waitForFunction(() => (window as any).__overviewPainted !== undefined, undefined, { timeout: 30_000 });
    overview.push(await page.evaluate(() => (window as any).__overviewPainted as number));
    await context.close();
  }
  fs.writeFileSync(out, JSON.stringify({ first_rows_ms: firstRows, seen_ms: seen, frame_ms: frames, churn_frame_ms: churnFrames, changed, overview_ms: overview }));
});

/** Frame times while the instance table is scrolled for SCROLL_MS. */
function scroll(page: import('@playwright/test').Page): Promise<number[]> {
  return page.getByTestId('instances').evaluate((table, length) => new Promise<number[]>((resolve) => {
    const deltas: number[] = [];
    let last = performance.now();
    const start = last;
    // Measured once: reading layout in every frame, right after the
    // page has changed its rows, would force a layout a user's scrolling
    // never causes.
    const end = Math.max(1, table.scrollHeight - table.clientHeight);
    let position = table.scrollTop;
    const step = (now: number) => {
      deltas.push(now - last);
      last = now;
      position = (position + 400) % end;
      table.scrollTop = position;
      if (now - start < length) requestAnimationFrame(step); else resolve(deltas.slice(1));
    };
    requestAnimationFrame(step);
  }), SCROLL_MS);
}
