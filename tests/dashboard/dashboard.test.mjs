// Integration test of the web dashboard (/dashboard, docs/dashboard.md):
// starts `vectron serve` on free loopback ports with a fresh data directory,
// creates a small collection through the REST API, then
//  - checks how the server serves the embedded files (types, ETag, 304,
//    404 for unknown names and traversal attempts, bytes equal to the
//    sources in src/gateway/dashboard/);
//  - opens the page in headless Chromium (Debian's /usr/bin/chromium,
//    driven by playwright-core) and checks the collections list, the
//    collection detail, the cluster view (nodes, shards, health) and the
//    query console (vector, id and filter queries against a brute-force
//    reference; the server's errors shown to the user);
//  - saves screenshots under build/dashboard-screenshots/ (or
//    $DASHBOARD_SCREENSHOT_DIR) and prints their paths.
// Throughout, the page must fetch nothing outside the server's origin,
// throw no uncaught error and trip no Content-Security-Policy rule.
//
// Run with tests/dashboard/run.sh (or `node --test` here). The binary is
// build/vectron or $VECTRON_BIN (relative to the repository root). Every
// wait is bounded; the server is stopped (SIGTERM, then SIGKILL) in `after`.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const BIN = path.resolve(REPO_ROOT, process.env.VECTRON_BIN || 'build/vectron');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = path.resolve(REPO_ROOT, process.env.DASHBOARD_SCREENSHOT_DIR || 'build/dashboard-screenshots');
const ASSETS = path.join(REPO_ROOT, 'src', 'gateway', 'dashboard');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const UI_TIMEOUT_MS = 15_000; // any one wait in the browser
const TEST_TIMEOUT_MS = 90_000;

// ---------------------------------------------------------------- server

let server = null; // { child, dir, port, log, exited, exitedP }

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function logTail(n = 3000) {
  if (!server) return '';
  const s = server.log.join('');
  return s.length <= n ? s : `...${s.slice(-n)}`;
}

async function startServer() {
  if (!fs.existsSync(BIN)) {
    throw new Error(`vectron binary not found at ${BIN} (run \`make build\`, or set VECTRON_BIN)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vectron-dash-'));
  const port = await freePort();
  let raftPort = await freePort();
  while (raftPort === port) raftPort = await freePort();
  const args = ['serve', '--data', dir, '--http-listen', `127.0.0.1:${port}`, '--raft-listen', `127.0.0.1:${raftPort}`];
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  server = { child, dir, port, log: [], exited: null };
  const keep = (chunk) => {
    server.log.push(chunk.toString());
    if (server.log.length > 200) server.log.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  server.exitedP = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve((server.exited = { code, signal })));
    child.on('error', (error) => resolve((server.exited = { error })));
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (server.exited) throw new Error(`vectron exited before it was ready: ${JSON.stringify(server.exited)}\n${logTail()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.text();
      if (res.status === 200) return;
      last = `GET /readyz -> ${res.status}`;
    } catch (e) {
      last = `GET /readyz failed: ${e.cause?.code || e.message}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`vectron not ready after ${READY_TIMEOUT_MS / 1000} s (${last})\n${logTail()}`);
}

async function stopServer() {
  if (!server) return;
  const { child, dir } = server;
  if (!server.exited && child.pid !== undefined) {
    child.kill('SIGTERM');
    let timerId;
    const timer = new Promise((r) => {
      timerId = setTimeout(() => r('timeout'), STOP_TIMEOUT_MS);
    });
    const outcome = await Promise.race([server.exitedP, timer]);
    clearTimeout(timerId);
    if (outcome === 'timeout') {
      child.kill('SIGKILL');
      await server.exitedP;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  server = null;
}

process.on('exit', () => {
  if (server && !server.exited) {
    try {
      server.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

const base = () => `http://127.0.0.1:${server.port}`;

async function call(method, p, body) {
  const res = await fetch(`${base()}${p}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${method} ${p} -> ${res.status} ${text}`);
  return JSON.parse(text);
}

// GET with the request target sent byte for byte (fetch and URL would
// normalise "%2e%2e" and ".." away). Resolves {status, body}.
function rawGet(target) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1');
    const chunks = [];
    sock.setTimeout(10_000, () => sock.destroy(new Error(`GET ${target}: no answer within 10 s`)));
    sock.on('connect', () => sock.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m) return reject(new Error(`GET ${target}: no status line in ${JSON.stringify(text.slice(0, 200))}`));
      resolve({ status: Number(m[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

// ---------------------------------------------------------------- data

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COLL = 'dash_demo';
const DIM = 4;
const COLORS = ['red', 'green', 'blue'];
const rnd = mulberry32(4242);
const POINTS = Array.from({ length: 24 }, (_, i) => ({
  id: i + 1,
  vector: Array.from({ length: DIM }, () => Math.round((rnd() * 2 - 1) * 1000) / 1000),
  payload: { color: COLORS[i % 3], n: i + 1, title: `item ${i + 1}` },
}));

function cosine(a, b) {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

// Brute-force cosine top-k of q among the points passing keep.
function topK(q, k, keep = () => true) {
  return POINTS.filter(keep)
    .map((p) => ({ id: p.id, score: cosine(q, p.vector), payload: p.payload }))
    .sort((x, y) => y.score - x.score)
    .slice(0, k);
}

// ---------------------------------------------------------------- browser

let browser = null;
let page = null;
const pageErrors = [];
const cspViolations = [];
const foreignRequests = [];
const shots = [];

async function shot(name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout: UI_TIMEOUT_MS });
  shots.push(file);
  console.log(`dashboard screenshot: ${file}`);
}

async function open(hash) {
  await page.goto(`${base()}/dashboard${hash}`, { timeout: UI_TIMEOUT_MS, waitUntil: 'load' });
  await page.waitForSelector('body[data-loaded]', { timeout: UI_TIMEOUT_MS });
}

// Rows of the query console's result table.
function resultRows() {
  return page.$$eval('#q-results tbody tr', (rows) =>
    rows.map((r) => ({
      id: r.dataset.id,
      score: Number(r.querySelector('.score').textContent),
      payload: r.querySelector('.payload').textContent,
    })),
  );
}

async function runQuery() {
  await page.click('#q-run', { timeout: UI_TIMEOUT_MS });
  await page.waitForSelector('#q-output:is([data-state="done"], [data-state="error"], [data-state="invalid"])', {
    timeout: UI_TIMEOUT_MS,
  });
  return page.getAttribute('#q-output', 'data-state');
}

async function setMode(m) {
  await page.check(`input[name="q-mode"][value="${m}"]`, { timeout: UI_TIMEOUT_MS });
}

// ---------------------------------------------------------------- tests

describe('dashboard', { timeout: 5 * TEST_TIMEOUT_MS }, () => {
  before(async () => {
    await startServer();
    await call('PUT', `/collections/${COLL}`, { vectors: { size: DIM, distance: 'Cosine' }, shard_number: 2 });
    await call('PUT', `/collections/${COLL}/index`, { field_name: 'color', field_schema: 'keyword' });
    await call('PUT', `/collections/${COLL}/points`, { points: POINTS });
    await call('PUT', '/collections/empty_l2', { vectors: { size: 3, distance: 'Euclid' } });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
      timeout: 60_000,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(`${base()}/`)) foreignRequests.push(r.url());
    });
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    await stopServer();
    if (shots.length) console.log(`dashboard screenshots (${shots.length}) in ${SHOTS}`);
  });

  it('serves the embedded files with their types, an ETag, 304 and 404', { timeout: TEST_TIMEOUT_MS }, async () => {
    const want = {
      'index.html': 'text/html; charset=utf-8',
      'app.js': 'text/javascript; charset=utf-8',
      'style.css': 'text/css; charset=utf-8',
      'favicon.svg': 'image/svg+xml',
    };
    const onDisk = fs.readdirSync(ASSETS).sort();
    assert.deepEqual(onDisk, Object.keys(want).sort(), 'a new file in src/gateway/dashboard/ needs a case here');
    for (const [name, type] of Object.entries(want)) {
      const res = await fetch(`${base()}/dashboard/${name}`, { signal: AbortSignal.timeout(10_000) });
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200, name);
      assert.equal(res.headers.get('content-type'), type, name);
      assert.ok(body.equals(fs.readFileSync(path.join(ASSETS, name))), `${name}: served bytes differ from the source (stale build?)`);
      const etag = res.headers.get('etag');
      assert.match(etag, /^"[0-9a-f]{16}"$/, name);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.match(res.headers.get('content-security-policy'), /default-src 'self'/);
      const again = await fetch(`${base()}/dashboard/${name}`, { headers: { 'If-None-Match': etag }, signal: AbortSignal.timeout(10_000) });
      assert.equal(again.status, 304, `${name} with If-None-Match`);
      assert.equal((await again.arrayBuffer()).byteLength, 0);
      assert.equal(again.headers.get('etag'), etag);
      const other = await fetch(`${base()}/dashboard/${name}`, { headers: { 'If-None-Match': '"0000000000000000"' }, signal: AbortSignal.timeout(10_000) });
      assert.equal(other.status, 200, `${name} with a stale ETag`);
      await other.arrayBuffer();
    }
    // /dashboard itself is index.html.
    const index = await fetch(`${base()}/dashboard`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await index.text(), fs.readFileSync(path.join(ASSETS, 'index.html'), 'utf8'));
    // Unknown names and traversal attempts: 404 from the dashboard, or the
    // router's 404 for more segments; never a file from elsewhere.
    const tries = [
      ['/dashboard/nope.js', 404],
      ['/dashboard/..', 404],
      ['/dashboard/%2e%2e', 404],
      ['/dashboard/..%2Fapi.c', 404],
      ['/dashboard/..%2F..%2FCMakeLists.txt', 404],
      ['/dashboard/%2e%2e%2f%2e%2e%2fREADME.md', 404],
      ['/dashboard/INDEX.HTML', 404],
      ['/dashboard/app.js%00', 400],
      ['/dashboard/css/style.css', 404],
      ['/dashboard/../../etc/passwd', 404],
    ];
    for (const [p, status] of tries) {
      const res = await rawGet(p);
      assert.equal(res.status, status, `${p} -> ${res.status} ${res.body}`);
      assert.match(res.body, /^\{"status":\{"error"/, p);
    }
  });

  it('lists the collections with points, dimension, metric and indexed fields', { timeout: TEST_TIMEOUT_MS }, async () => {
    await open('#collections');
    const row = `#collections-table tr[data-name="${COLL}"]`;
    await page.waitForSelector(row);
    assert.equal((await page.textContent(`${row} td[data-col="points"]`)).trim(), String(POINTS.length));
    assert.equal((await page.textContent(`${row} td[data-col="dimension"]`)).trim(), String(DIM));
    assert.equal((await page.textContent(`${row} td[data-col="metric"]`)).trim(), 'Cosine');
    assert.match(await page.textContent(`${row} td[data-col="fields"]`), /color\s+keyword/);
    const other = '#collections-table tr[data-name="empty_l2"]';
    assert.equal((await page.textContent(`${other} td[data-col="points"]`)).trim(), '0');
    assert.equal((await page.textContent(`${other} td[data-col="metric"]`)).trim(), 'Euclid');
    assert.equal((await page.textContent('#collections-count')).trim(), '(2)');
    assert.match(await page.textContent('#health-ready'), /^ready$/);
    await shot('collections');
  });

  it('revalidates its files on reload (304) and still renders', { timeout: TEST_TIMEOUT_MS }, async () => {
    const statuses = [];
    const onResponse = (r) => {
      if (r.url().startsWith(`${base()}/dashboard/`)) statuses.push(r.status());
    };
    page.on('response', onResponse);
    try {
      await page.reload({ timeout: UI_TIMEOUT_MS, waitUntil: 'load' });
      await page.waitForSelector('body[data-loaded]', { timeout: UI_TIMEOUT_MS });
      await page.waitForSelector(`#collections-table tr[data-name="${COLL}"]`);
    } finally {
      page.off('response', onResponse);
    }
    assert.ok(statuses.includes(304), `statuses on reload: ${statuses.join(', ')}`);
    assert.ok(statuses.every((s) => s === 200 || s === 304), statuses.join(', '));
  });

  it('shows a collection with its payload indexes and shards', { timeout: TEST_TIMEOUT_MS }, async () => {
    await page.click(`#collections-table tr[data-name="${COLL}"] a[href="#collections/${COLL}"]`);
    await page.waitForSelector('#collection-detail:not([hidden])');
    assert.equal((await page.textContent('#detail-title')).trim(), COLL);
    const idx = await page.$$eval('#detail-indexes tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
    assert.deepEqual(idx, [['color', 'keyword', String(POINTS.length)]]);
    // Shards as GET /cluster reports them: two, led by this node, their
    // points adding up to the collection's.
    const cluster = (await call('GET', '/cluster')).result;
    const shards = cluster.collections.find((c) => c.name === COLL).shards;
    const rows = await page.$$eval('#detail-shards tbody tr', (trs) => trs.map((r) => ({ shard: r.dataset.shard, cells: [...r.cells].map((c) => c.textContent.trim()) })));
    assert.equal(rows.length, 2);
    const head = await page.$$eval('#detail-shards thead th', (ths) => ths.map((t) => t.textContent.trim()));
    const col = (name) => head.indexOf(name);
    let sum = 0;
    for (const r of rows) {
      const s = shards.find((x) => String(x.shard_id) === r.shard);
      assert.ok(s, `shard ${r.shard} not in /cluster`);
      assert.equal(r.cells[col('Leader')], String(s.leader));
      assert.equal(r.cells[col('Role')], 'Leader');
      assert.equal(r.cells[col('Replicas')], s.replicas.join(', '));
      assert.equal(r.cells[col('Points')], String(s.points));
      sum += Number(r.cells[col('Points')]);
    }
    assert.equal(sum, POINTS.length);
    await shot('collection-detail');
  });

  it('shows nodes, shards with replicas and leaders, and node health', { timeout: TEST_TIMEOUT_MS }, async () => {
    await page.click('#tabs a[data-view="cluster"]');
    await page.waitForSelector('#view-cluster:not([hidden]) #nodes-table tbody tr');
    const cluster = (await call('GET', '/cluster')).result;
    const nodes = await page.$$eval('#nodes-table tbody tr', (trs) => trs.map((r) => [...r.cells].map((c) => c.textContent.trim())));
    assert.equal(nodes.length, cluster.nodes.length);
    assert.equal(nodes[0][0], String(cluster.nodes[0].id));
    assert.equal(nodes[0][1], cluster.nodes[0].address);
    assert.equal(nodes[0][2], 'Up');
    const shardRows = await page.$$eval('#shards-table tbody tr', (trs) => trs.map((r) => r.dataset.collection));
    assert.deepEqual(shardRows.filter((c) => c === COLL).length, 2);
    assert.deepEqual(shardRows.filter((c) => c === 'empty_l2').length, 1);
    const healthText = await page.textContent('#node-health');
    assert.match(healthText, /ready \(GET \/readyz\)\s*up/);
    assert.match(healthText, /metadata role\s*Leader/);
    await shot('cluster');
  });

  it('runs a vector query in the console and shows ids, scores and payloads', { timeout: TEST_TIMEOUT_MS }, async () => {
    await open(`#query/${COLL}`);
    await page.waitForSelector('#view-query:not([hidden])');
    assert.equal(await page.inputValue('#q-collection'), COLL);
    const q = POINTS[6].vector;
    await setMode('vector');
    await page.fill('#q-vector', JSON.stringify(q));
    await page.fill('#q-filter', '');
    await page.fill('#q-limit', '5');
    await page.check('#q-exact');
    assert.equal(await runQuery(), 'done', await page.textContent('#q-error'));
    const rows = await resultRows();
    const want = topK(q, 5);
    assert.deepEqual(
      rows.map((r) => r.id),
      want.map((w) => String(w.id)),
    );
    rows.forEach((r, i) => {
      assert.ok(Math.abs(r.score - want[i].score) < 1e-4, `row ${i}: score ${r.score}, expected ${want[i].score}`);
      assert.deepEqual(JSON.parse(r.payload), want[i].payload);
    });
    assert.equal(rows[0].id, '7');
    assert.match(await page.textContent('#q-summary'), /^5 points/);
    await shot('query');
  });

  it('queries by point id with a filter', { timeout: TEST_TIMEOUT_MS }, async () => {
    await setMode('id');
    await page.fill('#q-id', '7');
    await page.fill('#q-filter', '{"must": [{"key": "color", "match": {"value": "red"}}]}');
    await page.fill('#q-limit', '3');
    assert.equal(await runQuery(), 'done', await page.textContent('#q-error'));
    const rows = await resultRows();
    const want = topK(POINTS[6].vector, 3, (p) => p.id !== 7 && p.payload.color === 'red');
    assert.deepEqual(
      rows.map((r) => r.id),
      want.map((w) => String(w.id)),
    );
    for (const r of rows) assert.equal(JSON.parse(r.payload).color, 'red');
    // The request is shown as sent.
    assert.match(await page.textContent('#q-request'), /"query": 7, "filter": \{"must": \[\{"key": "color"/);
    // No query: the filter's matches in id order, score 0.
    await setMode('none');
    await page.fill('#q-filter', '{"must": [{"key": "color", "match": {"value": "blue"}}]}');
    assert.equal(await runQuery(), 'done', await page.textContent('#q-error'));
    const listed = await resultRows();
    assert.deepEqual(
      listed.map((r) => r.id),
      ['3', '6', '9'],
    );
    for (const r of listed) assert.equal(r.score, 0);
  });

  it("shows the server's error messages and refuses malformed input", { timeout: TEST_TIMEOUT_MS }, async () => {
    // A vector of the wrong dimension: the server's 400 and its message.
    await setMode('vector');
    await page.fill('#q-filter', '');
    await page.fill('#q-vector', '1, 2, 3');
    assert.equal(await runQuery(), 'error');
    let err = await page.textContent('#q-error');
    assert.match(err, /HTTP 400/);
    assert.match(err, /dimension/);
    assert.ok(await page.isHidden('#q-results'), 'no stale results next to an error');
    await shot('query-server-error');
    // A filter the server refuses.
    await page.fill('#q-vector', '0.1 0.2 0.3 0.4');
    await page.fill('#q-filter', '{"must": [{"key": "color", "match": {"nope": 1}}]}');
    assert.equal(await runQuery(), 'error');
    err = await page.textContent('#q-error');
    assert.match(err, /HTTP 400/);
    assert.match(err, /filter/);
    // A point that does not exist: 404.
    await setMode('id');
    await page.fill('#q-filter', '');
    await page.fill('#q-id', '999999');
    assert.equal(await runQuery(), 'error');
    assert.match(await page.textContent('#q-error'), /HTTP 404/);
    // Input the page cannot send.
    await page.fill('#q-id', 'not-an-id');
    assert.equal(await runQuery(), 'invalid');
    assert.match(await page.textContent('#q-error'), /Not sent.*\n.*point id/);
    await setMode('vector');
    await page.fill('#q-filter', '{"must": ');
    assert.equal(await runQuery(), 'invalid');
    assert.match(await page.textContent('#q-error'), /filter: not valid JSON/);
  });

  it('fetched nothing outside its origin and raised no page error', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});
