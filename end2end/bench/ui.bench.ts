// P5: how fast a service page with 10,000 instances shows its first rows in
// headless Chromium, and the frame times while its table is scrolled.
// `make bench` starts etcd and the server with the instances in place and
// passes LEASEHOLD_BENCH_URL (the service page) and LEASEHOLD_BENCH_OUT
// (where the figures go, as JSON).
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';

const RUNS = 5;
const SCROLL_MS = 3000;

test('a service page with 10,000 instances', async ({ browser }) => {
  const url = process.env.LEASEHOLD_BENCH_URL;
  const out = process.env.LEASEHOLD_BENCH_OUT;
  if (!url || !out) throw new Error('run through `make bench`: LEASEHOLD_BENCH_URL and LEASEHOLD_BENCH_OUT are not set');

  const firstRows: number[] = [];
  const seen: number[] = [];
  let frames: number[] = [];
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
      frames = await page.getByTestId('instances').evaluate((table, length) => new Promise<number[]>((resolve) => {
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
    await context.close();
  }
  fs.writeFileSync(out, JSON.stringify({ first_rows_ms: firstRows, seen_ms: seen, frame_ms: frames }));
});
