/** Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) for tests of the admin pages. */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A browser test's `skip`: false, or why it can not run here. */
export const skipBrowser: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (CI installs the Debian chromium package in .ci/run)`;

/**
 * Launches Chromium (closed after `t`) and opens a 1280x800 page that records its uncaught
 * script errors and every request to anything but `origin`, so a test can assert both empty.
 */
export async function openPage(t: TestContext, origin: string): Promise<{ page: Page; pageErrors: string[]; external: string[] }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const external: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin)) external.push(r.url());
  });
  return { page, pageErrors, external };
}
