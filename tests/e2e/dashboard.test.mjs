// The dashboard as a person sees it: Debian's Chromium, headless, watching an
// offline run live. A `--web` server and the flow run in separate processes,
// so the run page streams through the store's events table across processes.
// The server's Content-Security-Policy is on: any CSP violation or console
// error fails the test (watch() below).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.GS_BINARY || join(ROOT, "build/grok-spicy");
const ARTIFACTS = process.env.GS_ARTIFACTS || join(ROOT, "build/e2e-artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Debian's Chromium as root, headless, with nothing reaching for the network.
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"];
const HOSTILE = "<img src=x onerror=alert(1)> O'Brien & \"friends\" hunt a red fox";
// axe-core from npm (tools/test installs it beside playwright-core).
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

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

async function startWeb(port, extra = []) {
  const web = start(["--web", "--port", String(port), "--output-dir", out, ...extra], "web");
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

// Records every CSP violation (the page's own securitypolicyviolation events,
// and Chromium's console report of them), console error and uncaught error.
// `quiet` lets a caller mark a window where the server is down on purpose: the
// browser's failed reconnects then are expected, and only those are ignored.
async function watch(page) {
  const w = { violations: [], errors: [], quiet: false };
  await page.exposeFunction("__cspViolation", (v) => w.violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const where = m.location() && m.location().url;
    const text = where ? `${m.text()} [${where}]` : m.text();
    if (/Content.Security.Policy/i.test(text)) w.violations.push(text);
    else if (!w.quiet) w.errors.push(text);
  });
  page.on("pageerror", (e) => w.errors.push(String(e)));
  return w;
}

// An axe-core scan of the page as it stands: no serious or critical
// violation. axe runs through the DevTools protocol (page.evaluate), which the
// page's CSP does not govern; the page itself still runs no inline script.
async function assertAccessible(page, what) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
  assert.deepEqual(found, [], `axe on ${what}`);
}

// The tab: its title and its icon (the <link rel=icon> app.js keeps current).
async function tab(page) {
  return page.evaluate(() => ({ title: document.title, icon: document.getElementById("favicon").getAttribute("href") }));
}

function assertClean(w) {
  assert.deepEqual(w.violations, [], "no Content-Security-Policy violation");
  assert.deepEqual(w.errors, [], "no console error");
}

function assertCsp(response) {
  const h = response.headers();
  assert.match(h["content-security-policy"] || "", /default-src 'self'/);
  assert.match(h["content-security-policy"], /frame-ancestors 'none'/);
  assert.doesNotMatch(h["content-security-policy"], /unsafe/);
  assert.equal(h["x-frame-options"], "DENY");
  assert.equal(h["x-content-type-options"], "nosniff");
  assert.equal(h["referrer-policy"], "same-origin");
}

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
    executablePath: CHROMIUM, args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const dialogs = [];
    page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
    const w = await watch(page);
    assertCsp(await page.goto(`${base}/run/${runId}`));
    let navigations = 0;
    page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations++; });

    // What runs now, as the steps report it: an asset, its attempt and its phase.
    const activity = page.locator("#run-activity li").first();
    await activity.waitFor({ timeout: 120000 });
    assert.match(await activity.innerText(),
      /^(sheet of .+|keyframe \d+|clip \d+), attempt \d+, (generating|fixing|correcting|scoring)$/);
    // The first character sheet arrives live.
    await page.locator("article.character img").first().waitFor({ timeout: 120000 });
    // Its event sent the pulse, not the header: the header shows what the pulse says.
    const pulse = await page.evaluate(() => {
      const p = document.getElementById("run-pulse");
      if (!p) return null; // the run ended already: the header came whole
      const steps = Array.from(document.querySelectorAll("#run-header ol.steps > li"),
        (li) => li.className + (li.querySelector(".count") ? ":" + li.querySelector(".count").textContent : ""));
      return { want: [p.dataset.pct + "%", p.dataset.pct, p.dataset.steps],
        got: [document.querySelector("#run-now .pct").textContent,
          document.getElementById("run-progress").getAttribute("value"), steps.join(" ")] };
    });
    if (pulse) assert.deepEqual(pulse.got, pulse.want);
    // While it runs, the tab says how far and what runs, with the running icon;
    // the status is read out from a live region outside the swapped header.
    const running = await tab(page);
    assert.match(running.title, new RegExp(`^\\d+% · [a-z +]+ — Run #${runId}$`));
    assert.equal(running.icon, "/static/icon-running.png");
    assert.equal(await page.locator("#announce[aria-live=polite]").count(), 1);
    assert.equal(await page.locator("progress#run-progress").getAttribute("aria-label"), "Run progress");
    // Mid-run, in both themes: the busy badge, the active step, the pulsing slots.
    await assertAccessible(page, "a running run");
    await page.emulateMedia({ colorScheme: "dark" });
    await assertAccessible(page, "a running run, dark");
    await page.emulateMedia({ colorScheme: "light" });

    // Restart the server mid-run: the browser reconnects on its own (retry hint,
    // Last-Event-ID) and replays what it missed without duplicating anything.
    w.quiet = true; // the stream's failed reconnects while the server is down
    await stop(web);
    web = await startWeb(port);
    const seen = await page.locator("article.scene figure.kf > img").count();
    await page.waitForFunction((n) => document.querySelectorAll("article.scene figure.kf > img").length > n ||
      /complete/.test(document.querySelector("#run-status").textContent), seen, { timeout: 90000 });
    w.quiet = false; // reconnected: an event arrived over the new stream

    await page.locator("#run-status", { hasText: "complete" }).waitFor({ timeout: 240000 });
    await page.locator("#final video").waitFor({ timeout: 60000 });
    assert.equal(navigations, 0, "the page never reloaded");

    const run = await json(`${base}/api/runs/${runId}`);
    assert.equal(run.status, "complete");
    const cards = await page.locator("article.character").count();
    const charImgs = await page.locator("article.character .media img").count();
    const scenes = await page.locator("article.scene").count();
    const keyframes = await page.locator("article.scene figure.kf > img").count();
    const videos = await page.locator("article.scene figure.vid > video").count();
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
    // The progress bar is a <progress> (no inline style to refuse) and full.
    assert.equal(await page.locator("progress.progress").evaluate((el) => el.value), 100);

    // A video autoplays muted and loops, with controls to pause it.
    const v = page.locator("article.scene figure.vid > video").first();
    assert.equal(await v.evaluate((el) => el.muted && el.loop && el.autoplay && el.controls), true);

    // Finished: the tab says so, and the result comes first, not autoplaying.
    const done = await tab(page);
    assert.match(done.title, new RegExp(`^✓ Run #${runId}`));
    assert.equal(done.icon, "/static/icon-complete.png");
    const order = await page.evaluate(() => {
      const f = document.getElementById("final"), b = document.getElementById("storyboard");
      return Boolean(f.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
    });
    assert.ok(order, "the final video comes before the storyboard");
    assert.equal(await page.locator("#final video").evaluate((el) => el.autoplay), false);
    assert.equal(await page.locator("#final a[download]").count(), 1);
    // Every attempt of an asset, in a panel: its image, its score, which was accepted.
    const panel = page.locator("article.character details.attempts").first();
    await panel.locator("summary").click();
    await panel.locator("li.attempt.accepted img").waitFor({ timeout: 5000 });
    assert.match(await panel.locator("summary").innerText(), /^\d+ attempts? · /);
    // Each attempt with its own time and cost (the local renderer bills nothing).
    assert.match(await panel.locator("li.attempt.accepted .attempt-meta").nth(1).innerText(), /^\d+\.\ds · \$0$/);
    // Finished: nothing runs now.
    assert.equal(await page.locator("#run-activity").count(), 0);
    // The timeline: one bar per step and asset on one axis.
    assert.ok(await page.locator("#run-timeline .tl-row.tl-step").count() >= 5);
    assert.equal(await page.locator("#run-timeline .tl-row.tl-asset").count(),
      run.characters.length + 2 * run.scenes.length);
    await assertAccessible(page, "a finished run");
    await page.emulateMedia({ colorScheme: "dark" });
    await assertAccessible(page, "a finished run, dark");
    await page.emulateMedia({ colorScheme: "light" });

    await page.screenshot({ path: join(ARTIFACTS, "run-page.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, "run-page-phone.png"), fullPage: false });

    assertCsp(await page.goto(`${base}/`));
    await page.locator(`#run-row-${runId} .badge`, { hasText: "complete" }).waitFor();
    await page.setViewportSize({ width: 1280, height: 700 });
    await page.screenshot({ path: join(ARTIFACTS, "run-list.png") });
    await assertAccessible(page, "the run list");
    // The zoom dialog (app.js, no inline handler) opens on a click, and from the keyboard.
    await page.goto(`${base}/run/${runId}`);
    await page.locator("img.zoomable").first().click();
    await page.locator("dialog#zoom[open] img").waitFor({ timeout: 5000 });
    await page.keyboard.press("Escape");
    await page.locator("img.zoomable").first().focus();
    await page.keyboard.press("Enter");
    await page.locator("dialog#zoom[open] img").waitFor({ timeout: 5000 });
    assertClean(w);
    // The 404 page: laid out like the others; Chromium reports the page's own
    // 404 on the console, and nothing else may appear there (no favicon 404).
    const missing = await page.goto(`${base}/run/999999`);
    assert.equal(missing.status(), 404);
    await assertAccessible(page, "the 404 page");
    w.errors = w.errors.filter((e) => !e.endsWith(`[${base}/run/999999]`));
    assertClean(w);
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
    executablePath: CHROMIUM, args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    const w = await watch(page);
    assertCsp(await page.goto(`${base}/`));
    const before = await page.locator("tr.run-row").count();
    // Two more lists: the runs not ended (a new run belongs there too), and
    // the complete ones (it does not, until it completes: no row, no error).
    const unended = await browser.newPage();
    const wu = await watch(unended);
    await unended.goto(`${base}/?status=running`);
    assert.equal(await unended.locator("select[name=status] option").first().getAttribute("value"), "");
    assert.equal(await unended.locator("select[name=status] option:checked").getAttribute("value"), "running");
    const complete = await browser.newPage();
    const wc = await watch(complete);
    await complete.goto(`${base}/?status=complete`);
    const completeBefore = await complete.locator("tr.run-row").count();
    const flow = start(["scripts/flow.lua", "a new fox", "--provider", "local", "--scenes", "1", "--output-dir", out,
      "-q"], "flow2");
    let runId;
    for (const deadline = Date.now() + 60000; !runId && Date.now() < deadline;) {
      const runs = await json(`${base}/api/runs`).catch(() => []);
      if (runs.length > before) runId = runs[0].id;
      else await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(runId, `no run appeared: ${flow.output}`);
    // The run page of a run with a complete one before it (the first test's,
    // same provider) says how long is left.
    const runPage = await browser.newPage();
    const w2 = await watch(runPage);
    // The tab is in the background, and the browser's notifications are
    // recorded (a stand-in that grants permission when asked).
    await runPage.addInitScript(() => {
      window.__notes = [];
      class Note {
        constructor(title, opts) { window.__notes.push({ title, body: opts && opts.body }); }
        static requestPermission() { Note.permission = "granted"; return Promise.resolve("granted"); }
      }
      Note.permission = "default";
      window.Notification = Note;
      Object.defineProperty(document, "hidden", { get: () => true });
    });
    await runPage.goto(`${base}/run/${runId}`);
    // Nothing is asked on load: only the button asks.
    await runPage.locator("#notify:not([hidden])").click();
    await runPage.locator("#notify", { hasText: "Notifying when done" }).waitFor({ timeout: 10000 });
    // The page opens as soon as the run exists: the estimate is on it from the start.
    const eta = runPage.locator("#run-now .eta");
    await eta.waitFor({ timeout: 60000 });
    assert.match(await eta.innerText(), /^(about .* left|almost done)$/);
    // No reload: the row arrives over SSE (its own run-new event), goes on top, and follows the run to its end.
    const row = page.locator(`#run-rows tr.run-row:first-child#run-row-${runId}`);
    await row.waitFor({ timeout: 120000 });
    await unended.locator(`#run-rows tr.run-row:first-child#run-row-${runId}`).waitFor({ timeout: 120000 });
    // While it runs: a named progress bar, and a clock that ticks between events.
    const bar = page.locator(`#run-row-${runId} progress.row-progress`);
    await bar.waitFor({ timeout: 60000 }).catch(() => {}); // a very fast run may end first
    if (await bar.count()) {
      assert.match(await bar.getAttribute("aria-label"), new RegExp(`^Run ${runId} progress: \\d+%`));
      const clock = page.locator(`#run-row-${runId} .clock`);
      const t1 = await clock.innerText();
      await page.waitForTimeout(2500);
      const still = await page.locator(`#run-row-${runId}[data-running]`).count();
      const t2 = await clock.innerText();
      assert.ok(!still || t2 !== t1, `the row's clock ticks while the run runs: ${t1} then ${t2}`);
    }
    await page.locator(`#run-row-${runId} .badge`, { hasText: "complete" }).waitFor({ timeout: 240000 });
    assert.equal(await page.locator(`#run-row-${runId}`).count(), 1);
    assert.equal(await page.locator("tr.run-row").count(), before + 1);
    // Its picture: the first keyframe, small and lazy, served from /output.
    const thumb = page.locator(`#run-row-${runId} img.thumb`);
    await thumb.waitFor({ timeout: 30000 });
    assert.equal(await thumb.getAttribute("loading"), "lazy");
    assert.match(await thumb.getAttribute("src"), new RegExp(`^/output/runs/${runId}/keyframes/`));
    assert.ok(await thumb.evaluate((img) => img.complete && img.naturalWidth > 0), "the picture loads");
    assert.equal(await page.locator(`#run-row-${runId} progress`).count(), 0, "no bar once ended");
    // Local time, with the UTC time in its title.
    assert.match(await page.locator(`#run-row-${runId} time`).getAttribute("title"), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    // The complete-only list never got the row of a run that was running; the
    // running list kept it, now complete.
    assert.equal(await complete.locator("tr.run-row").count(), completeBefore);
    await unended.locator(`#run-row-${runId} .badge`, { hasText: "complete" }).waitFor({ timeout: 30000 });
    assertClean(wu);
    assertClean(wc);
    await assertAccessible(page, "the run list with pictures");
    // The run ended while its tab was hidden: one notification says so.
    await runPage.waitForFunction(() => window.__notes.length > 0, null, { timeout: 60000 });
    const notes = await runPage.evaluate(() => window.__notes);
    assert.equal(notes.length, 1);
    assert.match(notes[0].title, new RegExp(`^✓ Run #${runId}`));
    assertClean(w);
    assertClean(w2);
    await runPage.close();
    const code = await new Promise((res) => (flow.exitCode !== null ? res(flow.exitCode) : flow.once("exit", res)));
    assert.equal(code, 0, flow.output);
  } finally {
    await browser.close();
    await stop(web);
  }
});

test("a token of ; , quotes and spaces logs in and keeps the session; Cancel works under the CSP",
  { timeout: 300000 }, async () => {
  const token = 'a;b c,d"e';
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const web = await startWeb(port, ["--token", token]);
  const url = web.output.match(/Dashboard: (http:\/\/\S+)/)[1];
  assert.equal(url, `${base}/?token=a%3Bb%20c%2Cd%22e`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM, args: CHROMIUM_ARGS,
  });
  // Six scenes: the run is still going when Cancel is clicked, however slow the machine.
  const flow = start(["scripts/flow.lua", "a slow fox", "--provider", "local", "--scenes", "6", "--output-dir", out,
    "-q"], "flow3");
  try {
    const page = await browser.newPage();
    const w = await watch(page);
    page.on("dialog", (d) => d.accept()); // hx-confirm of the Cancel button
    // Log in with the printed URL; from then on the cookie alone opens pages.
    assertCsp(await page.goto(url));
    const cookies = await page.context().cookies();
    const ck = cookies.find((c) => c.name === "gs_token");
    assert.ok(ck, "the login set the cookie");
    assert.equal(decodeURIComponent(ck.value), token);
    let runId;
    for (const deadline = Date.now() + 60000; !runId && Date.now() < deadline;) {
      const r = await page.request.get(`${base}/api/runs`);
      assert.equal(r.status(), 200, "the API with the cookie");
      const runs = await r.json();
      const mine = runs.find((x) => x.concept === "a slow fox");
      if (mine) runId = mine.id;
      else await new Promise((res) => setTimeout(res, 10));
    }
    assert.ok(runId, `no run appeared: ${flow.output}`);
    const resp = await page.goto(`${base}/run/${runId}`);
    assert.equal(resp.status(), 200, "a page load with the cookie, no ?token=");
    assertCsp(resp);
    // Cancel is an htmx POST: under the CSP it still reaches the server and stops the run.
    // (A 6-scene local run takes many seconds; the page opened as soon as it existed.)
    const cancel = page.locator("button.cancel");
    await cancel.waitFor({ timeout: 60000 });
    await cancel.click();
    await page.locator("#run-status", { hasText: "cancelled" }).waitFor({ timeout: 120000 });
    const stopped = await tab(page);
    assert.match(stopped.title, new RegExp(`^■ Run #${runId} cancelled`));
    assert.equal(stopped.icon, "/favicon.ico");
    const code = await new Promise((res) => (flow.exitCode !== null ? res(flow.exitCode) : flow.once("exit", res)));
    assert.equal(code, 130, flow.output);
    // Without the cookie the server refuses.
    const bare = await fetch(`${base}/`);
    assert.equal(bare.status, 401);
    assertClean(w);
  } finally {
    await browser.close();
    if (flow.exitCode === null) flow.kill("SIGINT");
    await stop(web);
  }
});

test("a failed run opens on its failure, named by step and asset, and its tab says so", { timeout: 120000 }, async () => {
  // A failed run as the observer records it (the offline renderer does not fail on demand).
  const make = start(["-e", `
    local store = require "grokspicy.store"
    local view = require "grokspicy.view"
    local observer = require "grokspicy.observer"
    local conn = assert(store.init_db(${JSON.stringify(join(out, "grok_spicy.db"))}))
    local obs = observer.WebObserver(conn, nil, { provider = "local" })
    local id = obs:on_run_start("a fox that fails")
    obs:on_status(id, "keyframes")
    obs:on_error(id, "compose_keyframe: the image service answered 500\\nsecond line", { step = "keyframes",
      scene_id = 2, asset = "keyframe" })
    print("run=" .. id)`], "failed-run");
  const code = await new Promise((res) => (make.exitCode !== null ? res(make.exitCode) : make.once("exit", res)));
  assert.equal(code, 0, make.output);
  const runId = Number(make.output.match(/run=(\d+)/)[1]);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const web = await startWeb(port);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const w = await watch(page);
    assertCsp(await page.goto(`${base}/run/${runId}`));
    const t = await tab(page);
    assert.match(t.title, new RegExp(`^✗ Run #${runId}`));
    assert.equal(t.icon, "/static/icon-failed.png");
    const line = page.locator("#run-failure");
    assert.match(await line.innerText(),
      /^✗ Run failed in Keyframes \(scene 2 keyframe\) at \d\d:\d\d UTC: compose_keyframe: the image service answered 500$/);
    // The whole message is one click away.
    await page.locator("#run-stop details summary").click();
    assert.match(await page.locator("#run-stop details pre").innerText(), /second line/);
    // On a phone, the failure is on the first screen.
    const box = await line.boundingBox();
    assert.ok(box && box.y + box.height <= 844, `the failure line is at ${box && box.y}px`);
    await page.screenshot({ path: join(ARTIFACTS, "run-failed-phone.png") });
    await assertAccessible(page, "a failed run");
    assertClean(w);
  } finally {
    await browser.close();
    await stop(web);
  }
});

test("a run started from /new with a reference image (a bad upload named beside its field), edited, re-rendered, compared, taken away",
  { timeout: 400000 }, async () => {
    // A one-scene plan from examples/plan.json, and a 1x1 PNG as its character's reference.
    const plan = JSON.parse(readFileSync(join(ROOT, "examples/plan.json"), "utf8"));
    plan.scenes = plan.scenes.slice(0, 1);
    const name = plan.characters[0].name;
    const png = join(out, "ref.png");
    writeFileSync(png, Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154"
      + "78da6364f8cf500f00038601805a347d6b0000000049454e44ae426082", "hex"));
    const text = join(out, "notes.png");
    writeFileSync(text, "not an image at all");
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const web = await startWeb(port, ["--max-runs", "1"]);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const w = await watch(page);
      await page.goto(base);
      await page.locator("header.topbar nav a", { hasText: "New run" }).click();
      await page.waitForURL(`${base}/new`);
      assertCsp(await page.reload());
      await assertAccessible(page, "the New run form");

      const before = (await json(`${base}/api/runs`)).length;
      await page.locator("#f-plan").fill(JSON.stringify(plan));
      await page.locator("#f-provider").selectOption("local");
      await page.locator('input[name="ref_name_1"]').fill(name);
      await page.locator('input[name="ref_image_1"]').setInputFiles(text);
      await page.locator('#new-run button[type="submit"]').click();
      const err = page.locator('[data-error-for="ref_image_1"]');
      await err.waitFor({ state: "visible", timeout: 30000 });
      assert.match(await err.innerText(), /not a PNG, JPEG or WebP image/);
      await page.screenshot({ path: join(ARTIFACTS, "new-run-refused.png"), fullPage: true });
      assert.equal((await json(`${base}/api/runs`)).length, before, "a refused form creates no run");
      assert.match(page.url(), /\/new$/);
      // Chromium logs the refused request itself as a console error: that one, once, is expected.
      const isRefusal = (e) => /status of 400 .*\/api\/runs/.test(e);
      for (const deadline = Date.now() + 10000; !w.errors.some(isRefusal) && Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const refused = w.errors.filter(isRefusal);
      assert.equal(refused.length, 1, w.errors.join("\n"));
      w.errors = w.errors.filter((e) => !refused.includes(e));

      await page.locator('input[name="ref_image_1"]').setInputFiles(png);
      await page.locator('#new-run button[type="submit"]').click();
      await page.waitForURL(/\/run\/\d+$/, { timeout: 30000 });
      const runId = Number(page.url().match(/\/run\/(\d+)$/)[1]);
      await page.locator("#run-status", { hasText: "complete" }).waitFor({ timeout: 300000 });
      const run = await json(`${base}/api/runs/${runId}`);
      assert.equal(run.status, "complete");
      assert.equal(run.title, plan.title);
      assert.deepEqual(readFileSync(join(out, `runs/${runId}/refs/${name.toLowerCase()}.png`)), readFileSync(png));
      await page.screenshot({ path: join(ARTIFACTS, "new-run-complete.png") });

      // The same run directed on: its scene edited in place, re-rendered (the sheet drawn
      // from the reference is reused, the scene made again), compared with it, taken away.
      await page.locator("#edit-rerender").waitFor();
      await page.locator("#edit-scenes .edit-scene").first().locator('textarea[name="action"]')
        .fill(`${name} waves a lantern from the gallery`);
      await page.locator("#preview-fork").click();
      await page.locator("#fork-preview-summary").waitFor({ timeout: 30000 });
      assert.deepEqual(await page.locator("#fork-remake li").allInnerTexts(),
        [`keyframe of scene ${plan.scenes[0].scene_id}`, `clip of scene ${plan.scenes[0].scene_id}`]);
      await page.locator("#submit-fork").click();
      await page.waitForURL((u) => /^\/run\/\d+$/.test(u.pathname) && u.pathname !== `/run/${runId}`,
        { timeout: 30000 });
      const childId = Number(page.url().match(/\/run\/(\d+)$/)[1]);
      await page.locator("#run-status", { hasText: "complete" }).waitFor({ timeout: 300000 });
      const child = await json(`${base}/api/runs/${childId}`);
      assert.equal(child.parent_id, runId);
      assert.equal(child.character_assets[0].note, `reused from run #${runId}`);
      assert.notEqual(child.keyframe_assets[0].note, `reused from run #${runId}`);
      assert.deepEqual(readFileSync(join(out, `runs/${childId}/refs/${name.toLowerCase()}.png`)), readFileSync(png));

      await page.locator("a", { hasText: `Compare with parent #${runId}` }).click();
      await page.waitForURL(`${base}/compare?a=${runId}&b=${childId}`);
      const ins = await page.locator(`#cmp-scene-${plan.scenes[0].scene_id} .diff ins`).allInnerTexts();
      assert.ok(ins.some((t) => t.includes("lantern")), ins.join(" | "));
      await assertAccessible(page, "the compare page of a re-render");

      await page.goto(`${base}/run/${childId}`);
      const [download] = await Promise.all([page.waitForEvent("download"),
        page.locator(".run-links a", { hasText: "Download everything" }).click()]);
      const zip = join(out, "rerender.zip");
      await download.saveAs(zip);
      const { execFileSync } = await import("node:child_process");
      const names = execFileSync("unzip", ["-Z1", zip], { encoding: "utf8" }).trim().split("\n");
      const sid = String(plan.scenes[0].scene_id).padStart(2, "0");
      for (const want of ["final.mp4", "plan.json", "script.md", "state.json", `characters/${name.toLowerCase()}.png`,
        `scenes/${sid}-keyframe.png`, `scenes/${sid}-clip.mp4`]) {
        assert.ok(names.includes(want), `${want} in the bundle: ${names.join(", ")}`);
      }
      assert.ok(!names.some((n) => /\.db|\.log$|\.lock$/.test(n)), names.join(", "));
      assert.match(JSON.parse(execFileSync("unzip", ["-p", zip, "plan.json"], { encoding: "utf8" }))
        .scenes[0].action, /lantern/);
      assertClean(w);
    } finally {
      await browser.close();
      await stop(web);
    }
  });

// Whether anything on the page reaches past the viewport's right edge (the
// page scrolls sideways on a phone): the elements that do, by tag and class.
async function overflowing(page) {
  return page.evaluate(() => {
    const W = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > W) out.push(`page ${document.documentElement.scrollWidth}px wide`);
    document.querySelectorAll("body *").forEach((el) => {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > W + 1 && !el.closest("dialog:not([open])")) {
        out.push(`${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(r.right)}px`);
      }
    });
    return out.slice(0, 8);
  });
}

test("a long title wraps beside its badge and buttons; nothing overflows at 1280 and 390 wide", { timeout: 120000 },
  async () => {
    // A run whose title is long, stopped short (its recording process is gone):
    // its header carries the badge and the Resume button.
    const long = "The very long journey of a small red fox and a grey owl who cross the northern marshes at dawn, "
      + "looking for the ferryman who sings the old river songs, and a lantern that never goes out";
    const make = start(["-e", `
      local store = require "grokspicy.store"
      local observer = require "grokspicy.observer"
      local conn = assert(store.init_db(${JSON.stringify(join(out, "grok_spicy.db"))}))
      local obs = observer.WebObserver(conn, nil, { provider = "local" })
      local id = obs:on_run_start(${JSON.stringify(long)})
      obs:on_status(id, "keyframes")
      obs:on_cancelled(id, "asked", "dashboard")
      print("run=" .. id)`], "long-title");
    const code = await new Promise((res) => (make.exitCode !== null ? res(make.exitCode) : make.once("exit", res)));
    assert.equal(code, 0, make.output);
    const runId = Number(make.output.match(/run=(\d+)/)[1]);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const web = await startWeb(port);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      for (const [width, height] of [[1280, 900], [390, 844]]) {
        const page = await browser.newPage({ viewport: { width, height } });
        const w = await watch(page);
        await page.goto(`${base}/run/${runId}`);
        const box = (sel) => page.locator(sel).first().boundingBox();
        const h1 = await box("#run-header h1");
        const badge = await box("#run-status");
        const resume = await box("#run-header button.resume");
        assert.ok(h1 && badge && resume, "title, badge and Resume are shown");
        // The badge and the button share one line, whatever the title's length.
        assert.ok(Math.abs((badge.y + badge.height / 2) - (resume.y + resume.height / 2)) < 8,
          `badge at ${badge.y}px, Resume at ${resume.y}px (${width} wide)`);
        if (width >= 1280) {
          // Wide: on the title's own line, the title wrapping beside them.
          assert.ok(badge.y < h1.y + h1.height && badge.x > h1.x + h1.width - 1, `badge beside the title (${width})`);
          assert.ok(h1.height > 40, "the long title wraps onto a second line");
        } else {
          // A phone: the title takes the width, the badge and buttons the line under it.
          assert.ok(badge.y >= h1.y + h1.height - 1, "the badge under the title on a phone");
        }
        assert.deepEqual(await overflowing(page), [], `the run page at ${width}`);
        await page.screenshot({ path: join(ARTIFACTS, `long-title-${width}.png`) });
        await page.goto(`${base}/`);
        const row = page.locator(`#run-row-${runId}`);
        await row.waitFor();
        assert.deepEqual(await overflowing(page), [], `the run list at ${width}`);
        // The row's title wraps in its cell: the badge stays in its column, on the row's first line.
        const rowBox = await row.boundingBox();
        const rowBadge = await page.locator(`#run-row-${runId} .badge`).boundingBox();
        assert.ok(rowBadge.y < rowBox.y + 40, `the row's badge on its first line (${width})`);
        await page.screenshot({ path: join(ARTIFACTS, `run-list-${width}.png`) });
        await assertAccessible(page, `the run list at ${width}`);
        assertClean(w);
        await page.close();
      }
    } finally {
      await browser.close();
      await stop(web);
    }
  });

test("two runs picked on the list are compared side by side; Download everything is the run's zip",
  { timeout: 400000 }, async () => {
    // Two one-scene runs of examples/plan.json, the second with its scene's description and
    // its character's look changed (what a re-render after an edit would differ by).
    const plan = JSON.parse(readFileSync(join(ROOT, "examples/plan.json"), "utf8"));
    plan.scenes = plan.scenes.slice(0, 1);
    const edited = JSON.parse(JSON.stringify(plan));
    edited.scenes[0].description += " A gull <b>watches</b> from the rail.";
    edited.characters[0].visual_description = edited.characters[0].visual_description.replace(/\bred\b/, "blue");
    const ids = [];
    for (const [i, p] of [plan, edited].entries()) {
      const file = join(out, `compare-plan-${i}.json`);
      writeFileSync(file, JSON.stringify(p));
      const flow = start(["scripts/flow.lua", "--plan", file, "--provider", "local", "--output-dir", out, "-q"],
        `flow-${i}`);
      const code = await new Promise((res) => (flow.exitCode !== null ? res(flow.exitCode) : flow.once("exit", res)));
      assert.equal(code, 0, flow.output);
      const done = flow.output.match(/Done: .*runs\/(\d+)\/final\.mp4/);
      assert.ok(done, flow.output);
      ids.push(Number(done[1]));
    }
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const web = await startWeb(port);
    const [a, b] = ids;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const w = await watch(page);
      await page.goto(base);
      const compare = page.locator("#compare-bar button");
      assert.equal(await compare.isDisabled(), true, "nothing picked: Compare is off");
      await page.locator(`#run-row-${b} input.pick-run`).check();
      assert.equal(await compare.isDisabled(), true, "one picked: still off");
      await page.locator(`#run-row-${a} input.pick-run`).check();
      assert.match(await page.locator("#compare-bar .compare-note").innerText(), new RegExp(`#${a} and #${b}`));
      await compare.click();
      await page.waitForURL(`${base}/compare?a=${a}&b=${b}`);
      assertCsp(await page.reload());
      // The scene's added words are marked (as text: the <b> is escaped), the collar's colour struck and marked.
      const scene = `#cmp-scene-${plan.scenes[0].scene_id}`;
      const ins = await page.locator(`${scene} .diff ins`).allInnerTexts();
      assert.ok(ins.some((t) => t.includes("A gull <b>watches</b> from the rail.")), ins.join(" | "));
      assert.equal(await page.locator(`${scene} .diff b`).count(), 0, "plan text is never markup");
      assert.deepEqual(await page.locator(".cmp-character .diff del").allInnerTexts(), ["red"]);
      assert.deepEqual(await page.locator(".cmp-character .diff ins").allInnerTexts(), ["blue"]);
      assert.equal(await page.locator(".pair .side img").count(), 4, "two sheets and two keyframes");
      assert.equal(await page.locator(".pair .side video.clip").count(), 2);
      await assertAccessible(page, "the compare page");
      await page.screenshot({ path: join(ARTIFACTS, "compare-1280.png"), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the compare page fits a phone (${overflow}px too wide)`);
      await page.screenshot({ path: join(ARTIFACTS, "compare-390.png"), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 900 });

      // The run page's Download everything: a zip with the run's files, read back by unzip.
      await page.goto(`${base}/run/${b}`);
      const [download] = await Promise.all([page.waitForEvent("download"),
        page.locator(".run-links a", { hasText: "Download everything" }).click()]);
      assert.match(download.suggestedFilename(), new RegExp(`^grok-spicy-run-${b}-[a-z0-9-]+\\.zip$`));
      const zip = join(out, "bundle.zip");
      await download.saveAs(zip);
      const { execFileSync } = await import("node:child_process");
      const names = execFileSync("unzip", ["-Z1", zip], { encoding: "utf8" }).trim().split("\n").sort();
      const mira = plan.characters[0].name.toLowerCase();
      const sid = String(plan.scenes[0].scene_id).padStart(2, "0");
      assert.deepEqual(names, [`characters/${mira}.png`, "final.mp4", "plan.json", `scenes/${sid}-clip.mp4`,
        `scenes/${sid}-keyframe.png`, "script.md", "state.json"].sort());
      assert.deepEqual(execFileSync("unzip", ["-p", zip, "final.mp4"], { maxBuffer: 1 << 30 }),
        readFileSync(join(out, `runs/${b}/final.mp4`)));
      assert.equal(JSON.parse(execFileSync("unzip", ["-p", zip, "plan.json"], { encoding: "utf8" })).title, plan.title);
      assertClean(w);
    } finally {
      await browser.close();
      await stop(web);
    }
  });

test("Edit and re-render: a scene's prompt edited on a finished run's page, previewed, re-rendered from the cache",
  { timeout: 400000 }, async () => {
    // The parent: examples/plan.json (one character, two scenes) run from the command line,
    // making everything itself (--no-cache: an earlier test ran the same plan), so what the
    // child reuses was made by the parent.
    const flow = start(["scripts/flow.lua", "--plan", "examples/plan.json", "--provider", "local",
      "--output-dir", out, "-q", "--no-cache"], "parent flow");
    const code = await new Promise((res) => flow.once("exit", res));
    assert.equal(code, 0, flow.output);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const web = await startWeb(port, ["--max-runs", "1"]);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const parentId = Number(flow.output.match(/Done: .*runs\/(\d+)\/final\.mp4/)[1]);
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const w = await watch(page);
      assertCsp(await page.goto(`${base}/run/${parentId}`));
      await page.locator("#edit-rerender").waitFor();
      await assertAccessible(page, "a finished run's page with Edit and re-render");

      const before = (await json(`${base}/api/runs`)).length;
      const scene2 = page.locator("#edit-scenes .edit-scene").nth(1);
      await scene2.locator('textarea[name="action"]').fill("Mira jumps onto the switch and the lamp blazes");
      await page.locator("#preview-fork").click();
      const summary = page.locator("#fork-preview-summary");
      await summary.waitFor({ timeout: 30000 });
      assert.match(await summary.innerText(), /^2 assets will be made again, at no cost \(local preview renderer\); \d+ reused for free\.$/);
      assert.deepEqual(await page.locator("#fork-remake li").allInnerTexts(),
        ["keyframe of scene 2", "clip of scene 2"]);
      assert.equal((await json(`${base}/api/runs`)).length, before, "a preview creates no run");

      // An empty title: the server's 400 is shown beside the plan, and nothing is created.
      await page.locator("#e-title").fill("");
      await page.locator("#preview-fork").click();
      const planErr = page.locator('[data-error-for="plan"]');
      await planErr.waitFor({ state: "visible", timeout: 30000 });
      assert.match(await planErr.innerText(), /title/);
      assert.equal((await json(`${base}/api/runs`)).length, before);
      const isRefusal = (e) => /status of 400 .*\/fork/.test(e);
      for (const deadline = Date.now() + 10000; !w.errors.some(isRefusal) && Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 20));
      }
      w.errors = w.errors.filter((e) => !isRefusal(e));
      await page.locator("#e-title").fill("The Lighthouse Cat, again");

      await page.locator("#submit-fork").click();
      // The page leaves the parent for the new run (a pattern alone would match the parent's own URL).
      await page.waitForURL((u) => /^\/run\/\d+$/.test(u.pathname) && u.pathname !== `/run/${parentId}`,
        { timeout: 30000 });
      const childId = Number(page.url().match(/\/run\/(\d+)$/)[1]);
      assert.notEqual(childId, parentId);
      await page.locator("#run-status", { hasText: "complete" }).waitFor({ timeout: 300000 });
      assert.equal(await page.locator("#forked-from").innerText(), `forked from #${parentId}`);
      const child = await json(`${base}/api/runs/${childId}`);
      assert.equal(child.parent_id, parentId);
      assert.equal(child.title, "The Lighthouse Cat, again");
      const kf = Object.fromEntries(child.keyframe_assets.map((k) => [k.scene_id, k]));
      assert.equal(kf[1].note, `reused from run #${parentId}`);
      assert.notEqual(kf[2].note, `reused from run #${parentId}`);
      assert.equal(child.character_assets[0].note, `reused from run #${parentId}`);
      await page.screenshot({ path: join(ARTIFACTS, "fork-complete.png") });

      await page.goto(`${base}/run/${parentId}`);
      assert.match(await page.locator("#re-rendered").innerText(), new RegExp(`re-rendered as #${childId}`));
      await page.locator(`#re-rendered a[href="/run/${childId}"]`).click();
      await page.waitForURL(`${base}/run/${childId}`);
      assertClean(w);
    } finally {
      await browser.close();
      await stop(web);
    }
  });
