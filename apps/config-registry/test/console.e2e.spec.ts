import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_ADMIN_TOKEN, api, createTestDatabase, startService, testRedisUrl, type ServiceHandle, type TestDatabase } from '@patchbay/testkit';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startRegistry, type TestRegistry } from './support/registry';

jest.setTimeout(120_000);

let registry: TestRegistry;
let dbBroker: ServiceHandle;
let database: TestDatabase;
let context: BrowserContext;
let page: Page;
const profile = mkdtempSync(join(tmpdir(), 'pb-chromium-'));
/** Where the screenshots go (looked at by a person; nothing asserts on pixels). */
const shots = process.env.PATCHBAY_CONSOLE_SCREENSHOTS ?? profile;

beforeAll(async () => {
  database = await createTestDatabase('pbconsole');
  registry = await startRegistry('postgres');
  await api(registry.url, 'PUT', '/v1/connectors/DATABASE', { body: { type: 'database', url: database.url } });
  await api(registry.url, 'PUT', '/v1/connectors/GITHUB', { body: { type: 'api', url: 'https://api.github.com', label: 'GitHub API' } });
  await api(registry.url, 'PUT', '/v1/connectors/LLM', {
    body: { type: 'llm', url: 'https://llm.example.com/v1', credentials: { apiKey: 'sk-console-secret' }, options: { models: ['m1'] } },
  });
  dbBroker = await startService('db-broker', {
    timeoutMs: 60_000,
    env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: registry.busPrefix },
  });
  // Debian's chromium, headless, with a new empty profile and nothing phoning home.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.PATCHBAY_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 820 },
  });
  page = context.pages()[0] ?? (await context.newPage());
}, 120_000);

afterAll(async () => {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  await dbBroker?.stop();
  await registry?.stop();
  await database?.drop();
});

describe('the web console', () => {
  it('is served by the registry with a strict content security policy', async () => {
    expect((await fetch(`${registry.url}/console`)).status).toBe(200);
    const response = await fetch(`${registry.url}/console/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await response.text()).toContain('<div id="app"></div>');
    expect((await fetch(`${registry.url}/console/app.js`)).headers.get('content-type')).toContain('text/javascript');
    expect((await fetch(`${registry.url}/console/../v1/connectors`)).status).not.toBe(200);
    expect((await fetch(`${registry.url}/console/secret-key`)).status).toBe(404);
  });

  it('signs in with a token, refusing a wrong one', async () => {
    await page.goto(`${registry.url}/console/`);
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('That token is not valid');
    await page.getByLabel('Token').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Connectors' }).waitFor();
    const ids = await page.locator('tbody tr td:first-child').allTextContents();
    expect(ids).toEqual(['DATABASE', 'GITHUB', 'LLM']);
    expect(await page.content()).not.toContain('sk-console-secret');
  });

  it('searches connectors', async () => {
    await page.getByLabel('Search connectors').fill('git');
    await expect(page.locator('tbody tr td:first-child').allTextContents()).resolves.toEqual(['GITHUB']);
    await page.getByLabel('Search connectors').fill('llm.example');
    await expect(page.locator('tbody tr td:first-child').allTextContents()).resolves.toEqual(['LLM']);
    await page.getByLabel('Search connectors').fill('nothing-like-this');
    await page.getByText('Nothing matches').waitFor();
    await page.getByLabel('Search connectors').fill('');
  });

  it('shows a connector, edits it with validation errors at the field, and rolls back from the history diff', async () => {
    await page.getByRole('link', { name: 'GITHUB' }).click();
    await page.getByRole('heading', { name: /GITHUB/ }).waitFor();
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('URL').fill('not a url');
    await page.getByRole('button', { name: 'Save' }).click();
    const urlError = page.locator('.field.invalid .field-error');
    await urlError.waitFor();
    expect(await urlError.textContent()).toMatch(/^url: .*URL/);
    await page.getByLabel('Options (JSON)').fill('{"timeoutMs": "soon"}');
    await page.getByLabel('URL').fill('https://api.github.com/v3');
    await page.getByRole('button', { name: 'Save' }).click();
    const optionsError = page.locator('.field.invalid .field-error');
    await optionsError.waitFor();
    expect(await optionsError.textContent()).toMatch(/^options\.timeoutMs: /);
    await page.getByLabel('Options (JSON)').fill('{"timeoutMs": 5000}');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'History' }).waitFor();
    await page.getByText('https://api.github.com/v3', { exact: true }).waitFor();

    const diff = page.getByLabel('diff');
    await diff.getByText('url').waitFor();
    expect(await diff.textContent()).toContain('"https://api.github.com" → "https://api.github.com/v3"');
    expect(await diff.textContent()).toContain('options.timeoutMs');

    await page.screenshot({ path: join(shots, 'console-history.png'), fullPage: true });
    const history = await api(registry.url, 'GET', '/v1/connectors/GITHUB/history');
    const first = history.body.revisions.at(-1).revision as number;
    await page.getByRole('button', { name: `Roll back to ${first}` }).click();
    await page.getByRole('status').getByText(`Rolled back to revision ${first}`).waitFor();
    await page.getByText('https://api.github.com', { exact: true }).waitFor();
    expect((await api(registry.url, 'GET', '/v1/connectors/GITHUB')).body.url).toBe('https://api.github.com');
    await page.getByRole('cell', { name: `rollback to ${first}: url, options` }).waitFor();
  });

  it('creates a connector and shows the live fleet', async () => {
    await page.getByRole('link', { name: 'Connectors' }).click();
    await page.getByRole('link', { name: 'New connector' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    expect(await page.locator('.field.invalid .field-error').textContent()).toBe('configId: is required');
    await page.getByLabel('Config id').fill('WEATHER');
    await page.getByLabel('URL').fill('https://weather.example.com');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: /WEATHER/ }).waitFor();

    await page.getByRole('link', { name: 'Fleet' }).click();
    const row = page.locator('table.fleet tbody tr', { hasText: 'DATABASE' });
    await row.getByText('active').waitFor({ timeout: 30_000 });
    expect(await row.textContent()).toContain('db-broker');
    expect(await row.textContent()).toContain('closed');
    // The fleet follows changes without a reload.
    expect((await api(dbBroker.url, 'POST', '/v1/databases/DATABASE/breaker', { body: { action: 'open' } })).status).toBe(200);
    await row.getByText('forced_open').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'console-fleet.png'), fullPage: true });
  });
});
