// The dashboard open in Chromium during the soak (bench/soak.sh): one tab on
// the run list, one on the newest run's page, re-pointed at each new run, both
// following along over SSE. Runs until SIGTERM/SIGINT; prints what it saw.
// node bench/soak_browser.mjs BASE_URL
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(ROOT, "tests/e2e/package.json"));
const { chromium } = require("playwright-core");
const base = process.argv[2].replace(/\/$/, "");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  handleSIGTERM: false, handleSIGINT: false, // this script closes it and reports first
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio"],
});
const list = await browser.newPage();
const run = await browser.newPage();
const errors = [];
for (const p of [list, run]) p.on("pageerror", (e) => errors.push(String(e)));
await list.goto(`${base}/`);
let current = null;
let followed = 0;
let stopping = false;
const done = async () => {
  if (stopping) return;
  stopping = true;
  const rows = await list.locator("tr.run-row").count().catch((e) => { errors.push(`count: ${e}`); return -1; });
  console.log(`browser: followed ${followed} run pages, run list shows ${rows} rows, page errors ${errors.length}`);
  for (const e of errors.slice(0, 5)) console.log(`browser: ${e}`);
  await browser.close();
  process.exit(0);
};
process.on("SIGTERM", done);
process.on("SIGINT", done);
console.log("browser: ready");
while (!stopping) {
  try {
    const runs = await (await fetch(`${base}/api/runs`)).json();
    if (runs.length && runs[0].id !== current) {
      current = runs[0].id;
      await run.goto(`${base}/run/${current}`);
      followed++;
    }
  } catch (e) {
    if (!stopping) errors.push(`poll: ${e}`);
  }
  await new Promise((r) => setTimeout(r, 500));
}
