// The dashboard as a person sees it: Debian's Chromium, headless, watching an
// offline run live. A `--web` server and the flow run in separate processes,
// so the run page streams through the store's events table across processes.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.GS_BINARY || join(ROOT, "build/grok-spicy");
const ARTIFACTS = process.env.GS_ARTIFACTS || join(ROOT, "build/e2e-artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const HOSTILE = "<img src=x onerror=alert(1)> O'Brien & \"friends\" hunt a red fox";

mkdirSync(ARTIFACTS, { recursive: true });
const out = mkdtempSync(join(tmpdir(), "gs-e2e-"));
const children = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(out, { recursive: true, force: true });
});

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}

function start(args, name) {
  const child = spawn(BIN, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  child.output = "";
  child.stdout.on("data", (d) => { child.output += d; });
  child.stderr.on("data", (d) => { child.output += d; });
  child.name = name;
  children.push(child);
  return child;
}

async function startWeb(port) {
  const web = start(["--web", "--port", String(port), "--output-dir", out], "web");
  const deadline = Date.now() + 60000; // generous: a loaded machine starts slowly
  while (!/Dashboard: (http:\/\/\S+)/.test(web.output)) {
    if (web.exitCode !== null || Date.now() > deadline) {
      throw new Error(`--web did not start: ${web.output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return web;
}

function stop(child) {
  return new Promise((res) => {
    if (child.exitCode !== null) return res();
    child.once("exit", () => res());
    child.kill("SIGINT");
  });
}

async function json(url) {
  const r = await fetch(url);
  return r.json();
}

// Limits are generous (a loaded machine runs the flow several times slower);
// every wait ends as soon as what it waits for shows.
test("a run fills in live, survives a reconnect, and escapes its concept", { timeout: 300000 }, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let web = await startWeb(port);

  const flow = start(["scripts/flow.lua", HOSTILE, "--provider", "local", "--output-dir", out, "-q"], "flow");
  // The run page is opened as soon as the run exists, before any asset.
  let runId;
  for (const deadline = Date.now() + 60000; !runId && Date.now() < deadline;) {
    const runs = await json(`${base}/api/runs`).catch(() => []);
    if (runs.length) runId = runs[0].id;
    else await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(runId, `no run appeared: ${flow.output}`);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const dialogs = [];
    page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
    const consoleErrors = [];
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.goto(`${base}/run/${runId}`);
    let navigations = 0;
    page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations++; });

    // The first character sheet arrives live.
    await page.locator("article.character img").first().waitFor({ timeout: 120000 });

    // Restart the server mid-run: the browser reconnects on its own (retry hint,
    // Last-Event-ID) and replays what it missed without duplicating anything.
    await stop(web);
    web = await startWeb(port);

    await page.locator("#run-status", { hasText: "complete" }).waitFor({ timeout: 240000 });
    await page.locator("#final video").waitFor({ timeout: 60000 });
    assert.equal(navigations, 0, "the page never reloaded");

    const run = await json(`${base}/api/runs/${runId}`);
    assert.equal(run.status, "complete");
    const cards = await page.locator("article.character").count();
    const charImgs = await page.locator("article.character img").count();
    const scenes = await page.locator("article.scene").count();
    const keyframes = await page.locator("article.scene figure.kf img").count();
    const videos = await page.locator("article.scene video").count();
    assert.equal(cards, run.characters.length, "one card per character, no duplicates");
    assert.equal(charImgs, run.characters.length);
    assert.equal(scenes, run.scenes.length, "one row per scene, no duplicates");
    assert.equal(keyframes, run.scenes.length);
    assert.equal(videos, run.scenes.length);
    for (const id of ["#run-header", "#storyboard", "#final"]) {
      assert.equal(await page.locator(id).count(), 1, `${id} exists once`);
    }

    // The hostile concept is text, never markup.
    const concept = await page.locator(".facts .concept").innerText();
    assert.equal(concept, HOSTILE);
    assert.equal(await page.locator("img[src=x]").count(), 0);
    assert.deepEqual(dialogs, [], "no dialog fired");
    assert.deepEqual(consoleErrors, []);

    // A video autoplays muted and loops.
    const v = page.locator("article.scene video").first();
    assert.equal(await v.evaluate((el) => el.muted && el.loop && el.autoplay), true);

    await page.screenshot({ path: join(ARTIFACTS, "run-page.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, "run-page-phone.png"), fullPage: false });

    await page.goto(`${base}/`);
    await page.locator(`#run-row-${runId} .badge`, { hasText: "complete" }).waitFor();
    await page.setViewportSize({ width: 1280, height: 700 });
    await page.screenshot({ path: join(ARTIFACTS, "run-list.png") });
  } finally {
    await browser.close();
    await stop(web);
  }
  const code = await new Promise((res) => (flow.exitCode !== null ? res(flow.exitCode) : flow.once("exit", res)));
  assert.equal(code, 0, flow.output);
  assert.match(flow.output.trim().split("\n").pop(), /^Done: .*final\.mp4$/);
});

test("a new run appears on an open run list live, on top", { timeout: 300000 }, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const web = await startWeb(port);
  const browser = await chromium.launch({
    executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  try {
    const page = await browser.newPage();
    const consoleErrors = [];
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.goto(`${base}/`);
    const before = await page.locator("tr.run-row").count();
    const flow = start(["scripts/flow.lua", "a new fox", "--provider", "local", "--scenes", "1", "--output-dir", out,
      "-q"], "flow2");
    let runId;
    for (const deadline = Date.now() + 60000; !runId && Date.now() < deadline;) {
      const runs = await json(`${base}/api/runs`).catch(() => []);
      if (runs.length > before) runId = runs[0].id;
      else await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(runId, `no run appeared: ${flow.output}`);
    // No reload: the row arrives over SSE, goes on top, and follows the run to its end.
    await page.locator(`#run-rows tr.run-row:first-child#run-row-${runId}`).waitFor({ timeout: 120000 });
    await page.locator(`#run-row-${runId} .badge`, { hasText: "complete" }).waitFor({ timeout: 240000 });
    assert.equal(await page.locator(`#run-row-${runId}`).count(), 1);
    assert.equal(await page.locator("tr.run-row").count(), before + 1);
    assert.deepEqual(consoleErrors, []);
    const code = await new Promise((res) => (flow.exitCode !== null ? res(flow.exitCode) : flow.once("exit", res)));
    assert.equal(code, 0, flow.output);
  } finally {
    await browser.close();
    await stop(web);
  }
});
