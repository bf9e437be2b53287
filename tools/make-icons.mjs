// Draws static/icon-{running,complete,failed}.png, the tab icons of a run's
// state (32x32 PNG, no image library): node tools/make-icons.mjs static
import { deflateSync } from "node:zlib";
import { writeFileSync } from "node:fs";
const N = 32;
function crc32(buf) { let c, crc = ~0; for (const b of buf) { c = (crc ^ b) & 255; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; crc = (crc >>> 8) ^ c; } return ~crc >>> 0; }
function chunk(type, data) { const len = Buffer.alloc(4); len.writeUInt32BE(data.length); const td = Buffer.concat([Buffer.from(type), data]); const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td)); return Buffer.concat([len, td, crc]); }
function png(px) { const raw = Buffer.alloc(N * (N * 4 + 1)); for (let y = 0; y < N; y++) { raw[y * (N * 4 + 1)] = 0; for (let x = 0; x < N; x++) px(x + 0.5, y + 0.5).forEach((v, i) => { raw[y * (N * 4 + 1) + 1 + x * 4 + i] = v; }); }
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(N, 0); ihdr.writeUInt32BE(N, 4); ihdr[8] = 8; ihdr[9] = 6;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]); }
const segd = (px, py, ax, ay, bx, by) => { const dx = bx - ax, dy = by - ay; const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy))); return Math.hypot(px - ax - t * dx, py - ay - t * dy); };
const cov = (d) => Math.max(0, Math.min(1, 0.5 - d));
function icon(color, mark) { return png((x, y) => { const r = Math.hypot(x - 16, y - 16); const disc = cov(r - 15); const m = cov(mark(x, y)); const c = color.map((v) => Math.round(v * (1 - m) + 255 * m)); return [...c, Math.round(255 * disc)]; }); }
const ring = (x, y) => { const r = Math.hypot(x - 16, y - 16); const a = Math.atan2(y - 16, x - 16); const dr = Math.abs(r - 8) - 2; return a > -Math.PI / 2 && a < 0 ? 9 : dr; };
const check = (x, y) => Math.min(segd(x, y, 9, 16.5, 14, 21.5), segd(x, y, 14, 21.5, 23.5, 11)) - 2.2;
const cross = (x, y) => Math.min(segd(x, y, 10.5, 10.5, 21.5, 21.5), segd(x, y, 21.5, 10.5, 10.5, 21.5)) - 2.2;
const dir = process.argv[2];
writeFileSync(`${dir}/icon-running.png`, icon([214, 120, 0], ring));
writeFileSync(`${dir}/icon-complete.png`, icon([22, 140, 70], check));
writeFileSync(`${dir}/icon-failed.png`, icon([200, 40, 40], cross));
