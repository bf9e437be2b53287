// Observer call -> DOM updated in Chromium, across processes, as the dashboard
// is used: a `grok-spicy --web` server, a second process calling the
// WebObserver (bench/dom_latency.lua) and headless Chromium on the run page.
// Needs: node, playwright-core (tests/e2e: `npm ci`), Debian chromium.
// Usage: node bench/dom_latency.mjs [N=200] [binary=build/grok-spicy]
// Latency = (performance.timeOrigin + performance.now() in the page when a
// MutationObserver sees the new note) - (the wall-clock ms the helper read just
// before calling on_character, carried in the note "call:MS"). Prints figures;
// never fails.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { chromium } = createRequire(join(ROOT, "tests/e2e/package.json"))("playwright-core");
const N = Number(process.argv[2] || 200);
const BIN = resolve(process.argv[3] || join(ROOT, "build/grok-spicy"));
const out = mkdtempSync(join(tmpdir(), "gs-dom-bench-"));
const children = [];

function lines(child) {
  const rl = createInterface({ input: child.stdout });
  const waiting = [];
  const queued = [];
  rl.on("line", (l) => (waiting.length ? waiting.shift()(l) : queued.push(l)));
  return () => new Promise((res) => (queued.length ? res(queued.shift()) : waiting.push(res)));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let browser;
try {
  const web = spawn(BIN, ["--web", "--port", "0", "--output-dir", out], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(web);
  const url = (await lines(web)()).match(/Dashboard: (http:\/\/\S+?)\/?\s/)[1];
  const helper = spawn(BIN, [join(ROOT, "bench/dom_latency.lua"), out], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(helper);
  const next = lines(helper);
  const run = (await next()).match(/^run (\d+)/)[1];

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage();
  await page.goto(`${url}/run/${run}`);
  await page.waitForSelector("#char-mira .note");
  await page.evaluate(() => {
    window.__seen = [];
    let last = document.querySelector("#char-mira .note")?.textContent;
    new MutationObserver(() => {
      const t = performance.timeOrigin + performance.now();
      const note = document.querySelector("#char-mira .note")?.textContent;
      if (note && note !== last) {
        last = note;
        const m = /call:(\d+)/.exec(note);
        if (m) window.__seen.push({ call: Number(m[1]), t });
      }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  // Let the SSE stream connect before the first call.
  await page.waitForFunction(() => document.querySelector("[sse-connect]") !== null);
  await sleep(300);

  const lat = [];
  for (let i = 1; i <= N; i++) {
    helper.stdin.write(`go ${i}\n`);
    const call = Number((await next()).split(" ")[1]);
    const seen = await page.waitForFunction((c) => window.__seen.find((s) => s.call === c), call,
      { timeout: 5000, polling: 5 }).then((h) => h.jsonValue()).catch(() => null);
    if (seen) lat.push(seen.t - call);
    else if (i - lat.length >= 3) throw new Error(`no DOM change seen for ${i - lat.length} of ${i} calls`);
    await sleep(20 + Math.random() * 30); // calls spaced like a busy run, out of phase with any poll
  }
  helper.stdin.write("quit\n");
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)];
  console.log(`observer call -> DOM updated (${lat.length}/${N} seen): ` +
    `p50 ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, ` +
    `min ${lat[0].toFixed(1)} ms, max ${lat[lat.length - 1].toFixed(1)} ms   (target p99 <= 30 ms)`);
} catch (e) {
  console.log(`dom_latency: ${e.stack || e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) if (c.exitCode === null) c.kill("SIGINT");
  await sleep(200);
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL"); // SIGINT may be ignored (background jobs)
  rmSync(out, { recursive: true, force: true });
}
