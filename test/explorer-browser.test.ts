import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it when missing). */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.REQUIRE_BROWSER === '1') throw new Error(`a browser is required (REQUIRE_BROWSER=1) but ${CHROMIUM} is missing`);
  const banner = '!'.repeat(78);
  console.warn(`\n${banner}\n!!! BROWSER TESTS SKIPPED: ${CHROMIUM} is missing (apt-get install chromium).\n${banner}\n`);
}

let server: TestServer;
let browser: Browser;
beforeAll(async () => {
  if (!available) return;
  server = await startTestServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root on CI has no sandbox; nothing may reach out of the machine.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** The text of one of GraphiQL's editors (CodeMirror renders every line of a short document). */
const editorText = (page: Page, selector: string) => page.locator(`${selector} .CodeMirror-code`).first().innerText();

/** Replaces an editor's text as a person pasting would. */
async function replaceText(page: Page, selector: string, text: string): Promise<void> {
  await page.locator(`${selector} .CodeMirror`).first().click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(text);
}

/** Runs the query in the editor; returns the HTTP status of its request and the text GraphiQL shows for it. */
async function runQuery(page: Page, shown: RegExp): Promise<{ status: number; text: string }> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/graphql') && !(r.request().postData() ?? '').includes('IntrospectionQuery')),
    page.locator('.graphiql-execute-button').click(),
  ]);
  await expect.poll(() => editorText(page, '.graphiql-response'), { timeout: 15_000 }).toMatch(shown);
  return { status: response.status(), text: await editorText(page, '.graphiql-response') };
}

describe.skipIf(!available)('GraphiQL in a real browser', () => {
  it('loads from this server alone, takes a token and runs a query with it', async () => {
    const page = await browser.newPage();
    const requested: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });

    await page.goto(`${server.url}/graphql`);
    await page.locator('.graphiql-container').waitFor({ timeout: 20_000 });
    expect(await editorText(page, '.graphiql-query-editor')).toContain('payouts(first: 10)');

    // No token yet: the API refuses, as it refuses any caller without one.
    await replaceText(page, '.graphiql-query-editor', '{ payouts(first: 5) { totalCount } }');
    const refused = await runQuery(page, /UNAUTHENTICATED/);
    expect(refused.status).toBe(401);

    // A token typed into the page's field: the schema loads with it (the docs show the API's
    // queries), and the query runs.
    await page.locator('#token').fill(tokenFor('admin'));
    await page.getByRole('button', { name: 'Use token' }).click();
    await expect.poll(() => page.locator('#token-state').innerText()).toBe('token set');
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
    await page.getByRole('button', { name: /documentation explorer/i }).click();
    await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().click();
    await page.locator('.graphiql-doc-explorer').getByText('payouts', { exact: true }).first().waitFor({ timeout: 15_000 });

    await replaceText(page, '.graphiql-query-editor', '{ payouts(first: 5) { totalCount } }');
    const answered = await runQuery(page, /"totalCount": 0/);
    expect(answered.status).toBe(200);
    expect(answered.text).not.toContain('errors');

    await page.screenshot({ path: `${process.env.SCREENSHOT_DIR ?? '/tmp'}/payouts-graphiql.png` });
    expect(requested.filter((url) => !url.startsWith(server.url))).toEqual([]);
    // Only the refusals before the token was set.
    expect(problems.filter((problem) => !problem.includes('status of 401'))).toEqual([]);
    await page.close();
  });
});
