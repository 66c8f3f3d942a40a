// One way to start (and close, profile removed) headless Chromium for the browser tests: playwright-core from
// PLAYWRIGHT_CORE_DIR (or the current directory), a fresh profile every run, loopback-only flags.
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function launchChromium(chromiumPath, { profilePrefix = "posenc-chromium-", viewport = { width: 1400, height: 900 } } = {}) {
  const require = createRequire(join(process.env.PLAYWRIGHT_CORE_DIR || process.cwd(), "noop.js"));
  const { chromium } = require("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), profilePrefix));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}
