// What the browser tests share: one way to start (and close, profile removed) headless Chromium
// (playwright-core from PLAYWRIGHT_CORE_DIR or the current directory, a fresh profile every run,
// loopback-only flags), closing what a user closes before looking, and watching the pack's console.
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

// Close open dialogs (Escape, up to three, 300 ms apart); with `toasts`, first the toasts and newer
// frontends' "issues found" overlay at the top right (their close buttons), as a user does after
// opening a workflow whose models are missing.
export async function closeDialogs(page, { toasts = false } = {}) {
  if (toasts) {
    await page.evaluate(() => document.querySelectorAll(".p-toast-close-button, [data-testid=error-overlay-dismiss]")
      .forEach((b) => b.click()));
  }
  for (let i = 0; i < 3 && await page.locator(".p-dialog-mask").count(); i++) {
    await page.keyboard.press("Escape");
    await page.waitForTimeout(300);
  }
}

// Console warnings and errors raised by the pack's own files (/extensions/<pack folder>/, the
// folder is "ComfyUI-posenc" in the host tests): those whose caller is a pack file.  LiteGraph
// deprecation warnings count too: frontend 1.58 reports them through LiteGraph.onDeprecationWarning,
// whose default callback is console.warn (the wrapped one: this script runs before the page's); their
// caller is the frame below the deprecation machinery (warnDeprecated, the deprecated getter or
// setter, Vue's reactive proxy).  A warning whose caller is the frontend's own code is the
// frontend's, even when a pack function is further down the stack (the pack's configure wrapper
// calls the frontend's configure, which reads input.link itself on 1.58.1).
// Call before page.goto; returns the array the page fills: {level, text, stack}.
export async function watchPackConsole(page, packFolder = "ComfyUI-posenc") {
  const found = [];
  await page.exposeFunction("__posencReportConsole", (entry) => { found.push(entry); });
  await page.addInitScript((folder) => {
    const mark = `/extensions/${folder}/`;
    const machinery = /^\s*at (warnDeprecated|[gs]et \S+|\S*ReactiveHandler\.[gs]et|Reflect\.[gs]et|Proxy\.\S+) /;
    for (const level of ["warn", "error"]) {
      const original = console[level];
      console[level] = function (...args) {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 80;
        const frames = (new Error().stack ?? "").split("\n").slice(2);   // "Error", this wrapper
        Error.stackTraceLimit = limit;
        const caller = frames.find((f) => !machinery.test(f)) ?? "";
        if (caller.includes(mark)) {
          const text = args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ").slice(0, 600);
          window.__posencReportConsole?.({ level, text, stack: frames.slice(0, 12).join("\n") });
        }
        return original.apply(this, args);
      };
    }
  }, packFolder);
  return found;
}

// LiteGraph warns once per message per page: a deprecation the frontend itself hit first would hide
// the pack's.  Where the frontend has the switch (LiteGraph.alwaysRepeatWarnings), turn it on.
export async function repeatDeprecationWarnings(page) {
  return page.evaluate(() => {
    const lg = window.LiteGraph;
    if (!lg || !("alwaysRepeatWarnings" in lg)) return false;
    lg.alwaysRepeatWarnings = true;
    return true;
  });
}
