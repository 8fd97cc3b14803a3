/**
 * Headless Chromium from the system (Debian's `chromium`) driven by playwright-core: the real
 * browser against the real gateway. Nothing is downloaded; without a chromium the browser tests
 * are skipped (CI installs it, see .ci/run).
 */
import { type Browser, chromium } from "playwright-core";

/** Where the system Chromium is, or undefined when there is none. */
export function findChromium(): string | undefined {
  const fromEnv = Deno.env.get("CHROMIUM_PATH");
  const candidates = [
    ...(fromEnv ? [fromEnv] : []),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/lib/chromium/chromium",
  ];
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * Flags for a machine with no network: nothing phones home. Playwright refuses `--user-data-dir`
 * in `launch()` (it wants `launchPersistentContext` for that) because `launch()` already creates a
 * fresh temporary profile of its own and deletes it on close, which is what a test wants.
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Launches the system Chromium; `await using` closes it. */
export async function launchChromium(
  executablePath: string,
): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  return Object.assign(browser, {
    async [Symbol.asyncDispose]() {
      await browser.close();
    },
  });
}
