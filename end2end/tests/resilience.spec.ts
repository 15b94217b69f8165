import { test, expect } from '@playwright/test';
import { Etcd, startServe, etcdctl, kratos } from './harness';

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
