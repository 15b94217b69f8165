import { test, expect, Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd, startServe, etcdctl, grantLease, kratos, repoRoot } from './harness';

const binary = path.join(repoRoot, 'target', 'release', 'leasehold');

/** A users file with a viewer and an operator, hashed by `leasehold hash-password`. */
function usersFile(): { file: string; dir: string } {
  const hash = (password: string) =>
    execFileSync(binary, ['hash-password'], { input: `${password}\n` }).toString().trim().split('\n').pop()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leasehold-users-'));
  const file = path.join(dir, 'users.toml');
  fs.writeFileSync(file, [
    '[[users]]', 'name = "vera"', 'role = "viewer"', `password_hash = "${hash('vera-password')}"`, '',
    '[[users]]', 'name = "otto"', 'role = "operator"', `password_hash = "${hash('otto-password')}"`, '',
  ].join('\n'));
  return { file, dir };
}

async function signIn(page: Page, user: string, password: string) {
  const form = page.getByTestId('login-form');
  await form.getByLabel('User name').fill(user);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
}

test('sign in as a viewer (no revoke), sign out, sign in as an operator and revoke', async ({ page }, testInfo) => {
  const etcd = await Etcd.create();
  const users = usersFile();
  const server = await startServe(etcd, ['--auth', 'users', '--users-file', users.file]);
  try {
    const lease = grantLease(etcd.endpoint, 300);
    etcdctl(etcd.endpoint, 'put', '--lease', lease.printed, '/microservices/login/1', kratos('login', '1', '10.9.0.1:80'));

    // Nobody signed in: the form stands in for the page asked for. The page
    // opens its socket while it asks who it is; refused, it is not retried.
    let sockets = 0;
    page.on('websocket', () => { sockets += 1; });
    await page.goto(`${server.url}leases`);
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    await expect(page.getByTestId('login-form')).toBeVisible();
    await expect(page.getByTestId('status-etcd')).toHaveAttribute('data-state', 'signed-out');
    await expect(page.getByTestId('lease-row')).toHaveCount(0);
    // Retries would start within half a second (backoff 250-500 ms).
    await page.waitForTimeout(1500);
    expect(sockets).toBeLessThanOrEqual(1);
    await expect(page.getByTestId('status-etcd')).toHaveAttribute('data-state', 'signed-out');

    await signIn(page, 'vera', 'wrong');
    await expect(page.getByTestId('login-error')).toHaveText('Wrong user name or password.');
    await page.screenshot({ path: testInfo.outputPath('login.png'), fullPage: true });

    // A viewer sees the lease and no control to revoke it.
    await signIn(page, 'vera', 'vera-password');
    const row = page.locator(`[data-testid="lease-row"][data-lease="${lease.id}"]`);
    await expect(row).toHaveCount(1);
    await expect(page.getByTestId('account-user')).toHaveText('vera');
    await expect(page.getByTestId('account-role')).toHaveText('viewer');
    await expect(page.getByTestId('no-revoke')).toContainText('role');
    await expect(page.getByTestId('revoke')).toHaveCount(0);
    await expect(page).toHaveURL(/\/leases$/);

    // Signing out ends the session: the form is back, and the API says 401.
    await page.getByTestId('sign-out').click();
    await expect(page.getByTestId('login-form')).toBeVisible();
    const me = await page.request.get(`${server.url}api/v1/me`);
    expect(me.status()).toBe(401);

    // An operator revokes.
    await signIn(page, 'otto', 'otto-password');
    await expect(page.getByTestId('account-role')).toHaveText('operator');
    await row.getByTestId('revoke').click();
    const dialog = page.getByTestId('revoke-dialog');
    await expect(dialog.getByTestId('revoke-preview')).toContainText('/microservices/login/1');
    await dialog.getByTestId('revoke-confirm').click();
    await expect(dialog.getByTestId('revoke-result')).toContainText(`Lease ${lease.id} revoked`);
    expect(etcdctl(etcd.endpoint, 'get', '/microservices/login/1').trim()).toBe('');
  } finally {
    await server.stop();
    await etcd.dispose();
    fs.rmSync(users.dir, { recursive: true, force: true });
  }
});
