/**
 * browser — Debian's Chromium for the web tests, through playwright-core:
 * headless, no sandbox (tests may run as root in CI), no GPU, no
 * background network. `skip` is the reason to skip when it is not installed.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const skipNoChromium = !existsSync(CHROMIUM) && 'no /usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
