/**
 * Headless Chromium for the browser tests and the benchmark: Debian's
 * `chromium` package driven by playwright-core (no browser download). When
 * the binary is absent the caller skips, printing why.
 */

import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The system Chromium, or undefined. CHROMIUM overrides the search. */
export const chromiumPath: string | undefined = [process.env.CHROMIUM ?? '', ...CANDIDATES].find(
  (p) => p !== '' && existsSync(p),
);

export const chromiumMissing =
  chromiumPath === undefined
    ? `no Chromium at ${CANDIDATES.join(', ')} (apt-get install chromium, or set CHROMIUM)`
    : '';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--allow-file-access-from-files'],
  });
}
