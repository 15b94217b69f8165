import { gunzipSync } from 'node:zlib';
import { test, expect } from '@playwright/test';
import { Etcd, startServe, etcdctl, kratos, putMany } from './harness';

test('when etcd stops the status bar says so, and when it is back the pages are current', async ({ page }, testInfo) => {
  const etcd = await Etcd.create();
  const server = await startServe(etcd);
  try {
    etcdctl(etcd.endpoint, 'put', '/microservices/api/1', kratos('api', '1', '10.7.0.1:80'));
    await page.goto(`${server.url}services`);
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    await expect(page.getByTestId('service-row')).toHaveCount(1);
    const status = page.getByTestId('status-etcd');
    await expect(status).toHaveAttribute('data-state', 'connected');

    await etcd.stop();
    await expect(status).toHaveAttribute('data-state', 'reconnecting');
    await expect(status).toContainText('reconnecting');
    // The last known registry stays on screen.
    await expect(page.getByTestId('service-row')).toHaveCount(1);
    await page.screenshot({ path: testInfo.outputPath('reconnecting.png'), fullPage: true });

    await etcd.start();
    await expect(status).toHaveAttribute('data-state', 'connected');
    etcdctl(etcd.endpoint, 'put', '/microservices/web/1', kratos('web', '1', '10.7.0.2:80'));
    await expect(page.getByTestId('service-row')).toHaveCount(2);
  } finally {
    await server.stop();
    await etcd.dispose();
  }
});

test('a socket lost while a large snapshot comes in parts is followed by a whole snapshot', async ({ page }) => {
  const etcd = await Etcd.create();
  const server = await startServe(etcd);
  try {
    const entries: Array<[string, string]> = [];
    for (let i = 0; i < 2_500; i++) {
      const id = String(i).padStart(5, '0');
      entries.push([`/microservices/parts/${id}`, kratos('parts', id, `10.8.${Math.floor(i / 256)}.${i % 256}:80`)]);
    }
    await putMany(etcd.endpoint, entries);

    // The first socket is cut right after the snapshot's first part; the
    // page's next socket goes through untouched.
    let sockets = 0;
    let cutAfterFirstPart = false;
    let gzipped = false;
    const urls: string[] = [];
    await page.routeWebSocket(/\/api\/v1\/ws(\?.*)?$/, (ws) => {
      const first = sockets === 0;
      sockets += 1;
      urls.push(ws.url());
      const upstream = ws.connectToServer();
      upstream.onMessage((message) => {
        ws.send(message);
        gzipped ||= typeof message !== 'string';
        const text = typeof message === 'string' ? message : gunzipSync(message).toString('utf8');
        if (first && text.startsWith('{"type":"snapshot"') && text.includes('"more":true')) {
          cutAfterFirstPart = true;
          upstream.close();
          ws.close({ code: 1011, reason: 'cut by the test' });
        }
      });
    });

    await page.goto(`${server.url}services/parts`);
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    await expect(page.getByText('2500 instance(s)')).toBeVisible({ timeout: 20_000 });
    expect(cutAfterFirstPart).toBe(true);
    // The page asks for large messages gzipped; the first part was one.
    expect(urls[0]).toContain('compress=gzip');
    expect(gzipped).toBe(true);
    expect(sockets).toBeGreaterThan(1);
    await expect(page.getByText('so far')).toHaveCount(0);
  } finally {
    await server.stop();
    await etcd.dispose();
  }
});
