// Integration test: drives `vectron serve` with the published, unmodified
// Qdrant JavaScript REST client (@qdrant/js-client-rest, pinned in
// package.json). Run with tests/js/run.sh, or `node --test` in tests/js.
//
// The test starts its own server on loopback ports, with its data in a fresh
// temporary directory, and stops it (SIGTERM, then SIGKILL) in `after`, also
// when a test fails. The binary is build/vectron, or $VECTRON_BIN (a relative
// path is taken from the repository root). A missing binary fails the run.
//
// Every expectation is Qdrant's documented behaviour as the client sees it;
// when an assertion fails, its message carries the last HTTP exchanges the
// client made (method, URL, request body, status, response body) and the
// tail of the server's log.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { QdrantClient } from '@qdrant/js-client-rest';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const BIN = path.resolve(REPO_ROOT, process.env.VECTRON_BIN || 'build/vectron');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------
// Observing the client's HTTP traffic (read-only: requests and responses pass
// through unchanged), so a failure can show exactly what was sent and got.

const exchanges = [];
const MAX_EXCHANGES = 6;
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const url = typeof input === 'string' ? input : input.url;
  const entry = {
    method: init.method || 'GET',
    url,
    body: typeof init.body === 'string' ? init.body : init.body === undefined ? '' : '<non-text body>',
    status: null,
    response: null,
  };
  exchanges.push(entry);
  if (exchanges.length > MAX_EXCHANGES) exchanges.shift();
  try {
    const res = await realFetch(input, init);
    entry.status = res.status;
    try {
      entry.response = await res.clone().text();
    } catch (e) {
      entry.response = `<unreadable: ${e.message}>`;
    }
    return res;
  } catch (e) {
    entry.response = `<fetch failed: ${e.message}>`;
    throw e;
  }
};

function clip(s, n = 1500) {
  return s.length <= n ? s : `${s.slice(0, n)} ...(${s.length - n} more chars)`;
}

function describeExchanges() {
  return exchanges
    .map((x) => `  ${x.method} ${x.url}\n    body: ${clip(x.body)}\n    -> ${x.status} ${clip(x.response ?? '')}`)
    .join('\n');
}

// ---------------------------------------------------------------------------
// Server process

let server = null; // { child, dir, port, log, exited }

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

function logTail(n = 4000) {
  if (!server) return '';
  const s = server.log.join('');
  return s.length <= n ? s : `...${s.slice(-n)}`;
}

// Wraps a test body: on failure, appends the recent HTTP exchanges and the
// server log to the assertion message.
function step(fn) {
  return async (t) => {
    if (!server || server.exited) {
      t.skip(server ? `vectron exited (${JSON.stringify(server.exited)})` : 'vectron did not start (see the first test)');
      return;
    }
    exchanges.length = 0;
    try {
      await fn(t);
    } catch (e) {
      const extra =
        `\n--- last HTTP exchanges (oldest first) ---\n${describeExchanges()}` +
        `\n--- server log tail ---\n${logTail()}`;
      try {
        e.message = `${e.message}${extra}`;
      } catch {
        /* frozen message: fall through */
      }
      throw e;
    }
  };
}

async function startServer() {
  let st;
  try {
    st = fs.statSync(BIN);
  } catch {
    throw new Error(
      `vectron binary not found at ${BIN} (build it with \`make build\`, or set VECTRON_BIN; ` +
        'a relative VECTRON_BIN is resolved from the repository root)',
    );
  }
  if (!st.isFile()) throw new Error(`VECTRON_BIN ${BIN} is not a file`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vectron-js-'));
  const port = await freePort();
  let raftPort = await freePort();
  while (raftPort === port) raftPort = await freePort();
  const args = [
    'serve',
    '--data', dir,
    '--http-listen', `127.0.0.1:${port}`,
    '--raft-listen', `127.0.0.1:${raftPort}`,
  ];
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  server = { child, dir, port, log: [], logLen: 0, exited: null };
  const keep = (chunk) => {
    const s = chunk.toString();
    if (process.env.VECTRON_TEST_VERBOSE) process.stderr.write(s);
    server.log.push(s);
    server.logLen += s.length;
    while (server.logLen > 64 * 1024 && server.log.length > 1) server.logLen -= server.log.shift().length;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exitedP = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      server.exited = { code, signal };
      resolve(server.exited);
    });
    child.on('error', (err) => {
      server.exited = { code: null, signal: null, error: err };
      resolve(server.exited);
    });
  });
  server.exitedP = exitedP;

  const cmd = `${BIN} ${args.join(' ')}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (server.exited) {
      const ex = server.exited;
      throw new Error(
        `vectron exited before it was ready (${ex.error ? ex.error.message : `code ${ex.code}, signal ${ex.signal}`})\n` +
          `command: ${cmd}\n--- server log ---\n${logTail()}`,
      );
    }
    try {
      const res = await realFetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.text();
      if (res.status === 200) return;
      last = `GET /readyz -> ${res.status}`;
    } catch (e) {
      last = `GET /readyz failed: ${e.cause?.code || e.message}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `vectron not ready after ${READY_TIMEOUT_MS / 1000} s (${last})\ncommand: ${cmd}\n--- server log ---\n${logTail()}`,
  );
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
      process.stderr.write(`vectron (pid ${child.pid}) ignored SIGTERM for ${STOP_TIMEOUT_MS / 1000} s; sending SIGKILL\n`);
      child.kill('SIGKILL');
      await server.exitedP;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  server = null;
}

// Backstop: never leave the server running if the runner exits abruptly.
process.on('exit', () => {
  if (server && !server.exited) {
    try {
      server.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    try {
      fs.rmSync(server.dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
});

// ---------------------------------------------------------------------------
// Data and brute-force reference

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

const DIM = 4;
const COLORS = ['red', 'green', 'blue'];
const rnd = mulberry32(20240611);
const randVec = () => Array.from({ length: DIM }, () => rnd() * 2 - 1);

// Cosine collection: ids 1..40; 1..30 upserted as a `points` list, 31..40 as
// a columnar `batch`.
const COS_POINTS = Array.from({ length: 40 }, (_, i) => ({
  id: i + 1,
  vector: randVec(),
  payload: { color: COLORS[i % 3], n: i + 1, tag: `t${i % 5}` },
}));
// Euclid collection (2 shards): integer ids and a few UUIDs, columnar upsert.
const UUIDS = [
  '00000000-0000-4000-8000-000000000001',
  '550e8400-e29b-41d4-a716-446655440000',
  'f81d4fae-7dec-41d0-a765-00a0c91e6bf6',
];
const EUC_POINTS = [
  ...Array.from({ length: 25 }, (_, i) => ({
    id: (i + 1) * 7,
    vector: randVec().map((x) => x * 10),
    payload: { color: COLORS[i % 3], n: i },
  })),
  ...UUIDS.map((id, i) => ({ id, vector: randVec().map((x) => x * 10), payload: { color: 'uuid', n: 100 + i } })),
];

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a) => Math.sqrt(dot(a, a));
const cosine = (a, b) => dot(a, b) / (norm(a) * norm(b));
const euclid = (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));

// Nearest points by brute force: [{id, score}] best first.
function bruteForce(points, q, { metric, filter = () => true, limit = 10, exclude = [] }) {
  const scored = points
    .filter((p) => filter(p) && !exclude.includes(p.id))
    .map((p) => ({ id: p.id, score: metric === 'Euclid' ? euclid(p.vector, q) : cosine(p.vector, q) }));
  scored.sort((x, y) => (metric === 'Euclid' ? x.score - y.score : y.score - x.score));
  return scored.slice(0, limit);
}

function assertClose(actual, expected, tol, what) {
  assert.equal(typeof actual, 'number', `${what}: expected a number, got ${JSON.stringify(actual)}`);
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what}: expected ${expected}, got ${actual}`,
  );
}

// Checks a scored-point list against the brute-force answer: same ids in the
// same order, scores equal within float32 precision, ordered best first, each
// point well-formed.
function assertScored(points, expected, { metric, what, payloadOf }) {
  assert.ok(Array.isArray(points), `${what}: expected an array of scored points, got ${JSON.stringify(points)}`);
  assert.deepEqual(
    points.map((p) => p.id),
    expected.map((e) => e.id),
    `${what}: ids (got scores ${JSON.stringify(points.map((p) => p.score))}, expected ${JSON.stringify(expected.map((e) => e.score))})`,
  );
  points.forEach((p, i) => {
    assertClose(p.score, expected[i].score, 1e-5, `${what}: score of id ${p.id}`);
    assert.equal(typeof p.version, 'number', `${what}: ScoredPoint.version must be a number (id ${p.id})`);
    if (payloadOf) assert.deepEqual(p.payload, payloadOf(p.id), `${what}: payload of id ${p.id}`);
    if (i > 0) {
      const ok = metric === 'Euclid' ? points[i - 1].score <= p.score : points[i - 1].score >= p.score;
      assert.ok(ok, `${what}: not ordered by score at position ${i}`);
    }
  });
}

function assertUpdated(res, what) {
  assert.equal(typeof res, 'object', `${what}: expected an UpdateResult object, got ${JSON.stringify(res)}`);
  assert.equal(res.status, 'completed', `${what}: wait=true must give status "completed"`);
  if (res.operation_id !== undefined && res.operation_id !== null) {
    assert.equal(typeof res.operation_id, 'number', `${what}: operation_id must be a number`);
  }
}

const f32 = (v) => v.map(Math.fround);

// ---------------------------------------------------------------------------

describe('vectron serve with @qdrant/js-client-rest', { concurrency: 1 }, () => {
  const COS = 'js_cosine';
  const EUC = 'js_euclid';
  /** @type {QdrantClient} */
  let client;
  // The points the server should hold, updated as the tests change them.
  const cosLive = new Map(COS_POINTS.map((p) => [p.id, structuredClone(p)]));
  const cosPayload = (id) => cosLive.get(id).payload;
  const eucById = new Map(EUC_POINTS.map((p) => [p.id, p]));

  after(async () => {
    await stopServer();
  });

  // Starting the server is a test of its own, so a missing binary or a server
  // that never gets ready is one clear failure; the tests after it are then
  // skipped (the run still fails).
  it('vectron serve starts and answers GET /readyz', async () => {
    await startServer();
    client = new QdrantClient({ url: `http://127.0.0.1:${server.port}`, checkCompatibility: false });
  });

  it('createCollection (Cosine; Euclid with shard_number 2)', step(async () => {
    assert.equal(await client.createCollection(COS, { vectors: { size: DIM, distance: 'Cosine' } }), true);
    assert.equal(
      await client.createCollection(EUC, { vectors: { size: DIM, distance: 'Euclid' }, shard_number: 2 }),
      true,
    );
  }));

  it('collectionExists', step(async () => {
    assert.deepEqual(await client.collectionExists(COS), { exists: true });
    assert.deepEqual(await client.collectionExists(EUC), { exists: true });
    assert.deepEqual(await client.collectionExists('js_no_such_collection'), { exists: false });
  }));

  it('getCollections lists both', step(async () => {
    const res = await client.getCollections();
    assert.ok(Array.isArray(res.collections), `collections must be an array: ${JSON.stringify(res)}`);
    const names = res.collections.map((c) => c.name);
    assert.ok(names.includes(COS) && names.includes(EUC), `got ${JSON.stringify(names)}`);
  }));

  it('getCollection echoes the config of an empty collection', step(async () => {
    const cos = await client.getCollection(COS);
    assert.equal(cos.config.params.vectors.size, DIM);
    assert.equal(cos.config.params.vectors.distance, 'Cosine');
    assert.ok(['green', 'yellow', 'grey'].includes(cos.status), `status ${cos.status}`);
    assert.equal(cos.points_count, 0);
    const euc = await client.getCollection(EUC);
    assert.equal(euc.config.params.vectors.size, DIM);
    assert.equal(euc.config.params.vectors.distance, 'Euclid');
    assert.equal(euc.config.params.shard_number, 2);
    assert.equal(typeof euc.segments_count, 'number');
    assert.equal(typeof euc.payload_schema, 'object');
  }));

  it('createPayloadIndex keyword and integer', step(async () => {
    assertUpdated(
      await client.createPayloadIndex(COS, { field_name: 'color', field_schema: 'keyword', wait: true }),
      'keyword index',
    );
    assertUpdated(
      await client.createPayloadIndex(COS, { field_name: 'n', field_schema: 'integer', wait: true }),
      'integer index',
    );
    const info = await client.getCollection(COS);
    assert.equal(info.payload_schema?.color?.data_type, 'keyword', JSON.stringify(info.payload_schema));
    assert.equal(info.payload_schema?.n?.data_type, 'integer', JSON.stringify(info.payload_schema));
  }));

  it('upsert a points list and a columnar batch (wait: true)', step(async () => {
    assertUpdated(await client.upsert(COS, { wait: true, points: COS_POINTS.slice(0, 30) }), 'upsert points');
    const rest = COS_POINTS.slice(30);
    assertUpdated(
      await client.upsert(COS, {
        wait: true,
        batch: { ids: rest.map((p) => p.id), vectors: rest.map((p) => p.vector), payloads: rest.map((p) => p.payload) },
      }),
      'upsert batch',
    );
    assertUpdated(
      await client.upsert(EUC, {
        wait: true,
        batch: {
          ids: EUC_POINTS.map((p) => p.id),
          vectors: EUC_POINTS.map((p) => p.vector),
          payloads: EUC_POINTS.map((p) => p.payload),
        },
      }),
      'upsert batch (euclid)',
    );
  }));

  it('getCollection points_count after upserts', step(async () => {
    assert.equal((await client.getCollection(COS)).points_count, COS_POINTS.length);
    assert.equal((await client.getCollection(EUC)).points_count, EUC_POINTS.length);
    const info = await client.getCollection(COS);
    assert.equal(info.payload_schema?.color?.points, COS_POINTS.length, `payload_schema ${JSON.stringify(info.payload_schema)}`);
  }));

  it('query by vector: ids and scores match brute force', step(async () => {
    const q = [0.3, -0.2, 0.9, 0.1];
    const res = await client.query(COS, { query: q, limit: 5, with_payload: true });
    assert.ok(res && Array.isArray(res.points), `query result must be {points: [...]}: ${JSON.stringify(res)}`);
    assertScored(res.points, bruteForce(COS_POINTS, q, { metric: 'Cosine', limit: 5 }), {
      metric: 'Cosine',
      what: 'query',
      payloadOf: cosPayload,
    });
  }));

  it('query with a keyword filter', step(async () => {
    const q = [-0.5, 0.4, 0.1, 0.7];
    const res = await client.query(COS, {
      query: q,
      filter: { must: [{ key: 'color', match: { value: 'red' } }] },
      limit: 4,
      with_payload: true,
    });
    const expected = bruteForce(COS_POINTS, q, { metric: 'Cosine', limit: 4, filter: (p) => p.payload.color === 'red' });
    assertScored(res.points, expected, { metric: 'Cosine', what: 'filtered query', payloadOf: cosPayload });
  }));

  it('query with an integer range filter, offset and exact search', step(async () => {
    const q = [0.1, 0.1, -0.8, 0.3];
    const res = await client.query(COS, {
      query: q,
      filter: { must: [{ key: 'n', range: { gte: 10, lt: 30 } }], must_not: [{ key: 'tag', match: { value: 't0' } }] },
      params: { exact: true },
      limit: 3,
      offset: 2,
      with_payload: true,
    });
    const all = bruteForce(COS_POINTS, q, {
      metric: 'Cosine',
      limit: 5,
      filter: (p) => p.payload.n >= 10 && p.payload.n < 30 && p.payload.tag !== 't0',
    });
    assertScored(res.points, all.slice(2), { metric: 'Cosine', what: 'range query with offset', payloadOf: cosPayload });
  }));

  it('query by point id (Qdrant excludes the query point itself)', step(async () => {
    const id = 17;
    const res = await client.query(COS, { query: id, limit: 5, with_payload: false });
    const expected = bruteForce(COS_POINTS, cosLive.get(id).vector, { metric: 'Cosine', limit: 5, exclude: [id] });
    assertScored(res.points, expected, { metric: 'Cosine', what: `query by id ${id}` });
    for (const p of res.points) assert.ok(p.payload === undefined || p.payload === null, 'with_payload false');
  }));

  it('query on the 2-shard Euclid collection: distances, ascending', step(async () => {
    const q = [1, -2, 3, 0.5];
    const res = await client.query(EUC, { query: q, limit: 8, with_payload: true });
    assertScored(res.points, bruteForce(EUC_POINTS, q, { metric: 'Euclid', limit: 8 }), {
      metric: 'Euclid',
      what: 'euclid query',
      payloadOf: (id) => eucById.get(id).payload,
    });
  }));

  it('queryBatch', step(async () => {
    const q1 = [0.9, 0.1, 0.1, 0.1];
    const q2 = [0.0, 0.5, -0.5, 0.2];
    const res = await client.queryBatch(COS, {
      searches: [
        { query: q1, limit: 3 },
        { query: q2, limit: 6, filter: { must: [{ key: 'color', match: { value: 'green' } }] }, with_payload: true },
      ],
    });
    assert.ok(Array.isArray(res) && res.length === 2, `queryBatch must return 2 responses: ${JSON.stringify(res)}`);
    assertScored(res[0].points, bruteForce(COS_POINTS, q1, { metric: 'Cosine', limit: 3 }), {
      metric: 'Cosine',
      what: 'queryBatch[0]',
    });
    assertScored(
      res[1].points,
      bruteForce(COS_POINTS, q2, { metric: 'Cosine', limit: 6, filter: (p) => p.payload.color === 'green' }),
      { metric: 'Cosine', what: 'queryBatch[1]', payloadOf: cosPayload },
    );
  }));

  it('legacy search and searchBatch', step(async () => {
    const q = [0.2, 0.2, 0.2, -0.9];
    const res = await client.search(COS, {
      vector: q,
      limit: 4,
      filter: { must: [{ key: 'color', match: { value: 'blue' } }] },
    });
    assertScored(
      res,
      bruteForce(COS_POINTS, q, { metric: 'Cosine', limit: 4, filter: (p) => p.payload.color === 'blue' }),
      { metric: 'Cosine', what: 'search', payloadOf: cosPayload }, // client default with_payload: true
    );
    const qe = [-3, 1, 0, 2];
    const batch = await client.searchBatch(EUC, {
      searches: [
        { vector: qe, limit: 5 },
        { vector: q, limit: 2, filter: { must: [{ key: 'color', match: { value: 'uuid' } }] }, with_payload: true },
      ],
    });
    assert.ok(Array.isArray(batch) && batch.length === 2, `searchBatch must return 2 lists: ${JSON.stringify(batch)}`);
    assertScored(batch[0], bruteForce(EUC_POINTS, qe, { metric: 'Euclid', limit: 5 }), {
      metric: 'Euclid',
      what: 'searchBatch[0]',
    });
    assertScored(
      batch[1],
      bruteForce(EUC_POINTS, q, { metric: 'Euclid', limit: 2, filter: (p) => p.payload.color === 'uuid' }),
      { metric: 'Euclid', what: 'searchBatch[1]', payloadOf: (id) => eucById.get(id).payload },
    );
  }));

  it('retrieve with_vector returns the exact float32 values', step(async (t) => {
    const ids = [14, UUIDS[1], 175, 7];
    const recs = await client.retrieve(EUC, { ids, with_vector: true, with_payload: true });
    assert.ok(Array.isArray(recs), `retrieve must return an array: ${JSON.stringify(recs)}`);
    assert.deepEqual(recs.map((r) => r.id).sort(), [...ids].sort(), 'retrieved ids');
    for (const r of recs) {
      const p = eucById.get(r.id);
      assert.ok(Array.isArray(r.vector), `vector of ${r.id} must be an array: ${JSON.stringify(r.vector)}`);
      assert.deepEqual(f32(r.vector), f32(p.vector), `vector of id ${r.id}`);
      assert.deepEqual(r.payload, p.payload, `payload of id ${r.id}`);
    }
    // Missing ids are left out, not an error.
    const some = await client.retrieve(EUC, { ids: [8, 14], with_payload: false });
    assert.deepEqual(some.map((r) => r.id), [14]);
    assert.ok(some[0].payload === undefined || some[0].payload === null, 'with_payload false');
    assert.ok(some[0].vector === undefined || some[0].vector === null, 'with_vector defaults to false');

    // Cosine: Qdrant stores the normalised vector and returns it; accept
    // either that or the vector as sent, and say which.
    const [c] = await client.retrieve(COS, { ids: [3], with_vector: true });
    const sent = COS_POINTS[2].vector;
    const isRaw = JSON.stringify(f32(c.vector)) === JSON.stringify(f32(sent));
    if (!isRaw) {
      const n = norm(sent);
      c.vector.forEach((x, i) => assertClose(x, sent[i] / n, 1e-6, `cosine vector[${i}] (normalised)`));
    }
    t.diagnostic(`cosine collection returns ${isRaw ? 'the vector as sent' : 'the normalised vector (as Qdrant)'}`);
  }));

  it('scroll pages through every point once via next_page_offset', step(async () => {
    for (const [name, pts, limit] of [
      [COS, COS_POINTS, 7],
      [EUC, EUC_POINTS, 4],
    ]) {
      const seen = [];
      let offset;
      for (let pages = 0; ; pages++) {
        assert.ok(pages <= pts.length, `${name}: scroll does not end`);
        const res = await client.scroll(name, { limit, offset, with_payload: true });
        assert.ok(Array.isArray(res.points), `scroll result must have points: ${JSON.stringify(res)}`);
        assert.ok(res.points.length <= limit, `${name}: page larger than limit`);
        for (const r of res.points) seen.push(r.id);
        if (res.next_page_offset === null || res.next_page_offset === undefined) break;
        assert.equal(res.points.length, limit, `${name}: a page before the last must be full`);
        offset = res.next_page_offset;
      }
      // Qdrant orders by id: integers ascending, then UUIDs.
      const expected = pts
        .map((p) => p.id)
        .sort((a, b) =>
          typeof a === typeof b ? (typeof a === 'number' ? a - b : a < b ? -1 : 1) : typeof a === 'number' ? -1 : 1,
        );
      assert.deepEqual(seen, expected, `${name}: ids seen by scrolling`);
    }
    // With a filter: only matching points, payloads included by default.
    const res = await client.scroll(COS, { filter: { must: [{ key: 'color', match: { value: 'green' } }] }, limit: 100 });
    const green = COS_POINTS.filter((p) => p.payload.color === 'green');
    assert.deepEqual(res.points.map((r) => r.id), green.map((p) => p.id));
    res.points.forEach((r) => assert.deepEqual(r.payload, cosPayload(r.id)));
    assert.ok(res.next_page_offset === null || res.next_page_offset === undefined);
  }));

  it('count with and without filter', step(async () => {
    assert.deepEqual(await client.count(COS), { count: COS_POINTS.length });
    assert.deepEqual(await client.count(COS, { exact: true, filter: { must: [{ key: 'color', match: { value: 'red' } }] } }), {
      count: COS_POINTS.filter((p) => p.payload.color === 'red').length,
    });
    assert.deepEqual(await client.count(EUC, { filter: { must: [{ key: 'color', match: { value: 'uuid' } }] } }), {
      count: UUIDS.length,
    });
  }));

  it('setPayload merges keys', step(async () => {
    assertUpdated(await client.setPayload(COS, { payload: { extra: 'x', n: 1000 }, points: [1, 2] }), 'setPayload');
    for (const id of [1, 2]) Object.assign(cosLive.get(id).payload, { extra: 'x', n: 1000 });
    const recs = await client.retrieve(COS, { ids: [1, 2, 3] });
    for (const r of recs) assert.deepEqual(r.payload, cosPayload(r.id), `payload of ${r.id}`);
    // by filter
    assertUpdated(
      await client.setPayload(COS, { payload: { flagged: true }, filter: { must: [{ key: 'tag', match: { value: 't4' } }] } }),
      'setPayload by filter',
    );
    for (const p of cosLive.values()) if (p.payload.tag === 't4') p.payload.flagged = true;
    assert.deepEqual(await client.count(COS, { filter: { must: [{ key: 'flagged', match: { value: true } }] } }), {
      count: [...cosLive.values()].filter((p) => p.payload.flagged === true).length,
    });
    // the integer index sees the new value
    assert.deepEqual(await client.count(COS, { filter: { must: [{ key: 'n', range: { gte: 1000 } }] } }), { count: 2 });
  }));

  it('deletePayload removes keys', step(async () => {
    assertUpdated(await client.deletePayload(COS, { keys: ['extra', 'tag'], points: [1] }), 'deletePayload');
    delete cosLive.get(1).payload.extra;
    delete cosLive.get(1).payload.tag;
    const [r] = await client.retrieve(COS, { ids: [1] });
    assert.deepEqual(r.payload, cosPayload(1));
  }));

  it('overwritePayload replaces the payload (PUT /points/payload)', step(async (t) => {
    let res;
    try {
      res = await client.overwritePayload(COS, { payload: { only: 'this', color: 'red' }, points: [2] });
    } catch (e) {
      if (e.status === 404 || e.status === 405) {
        t.skip(`server does not support PUT /points/payload (${e.status}): ${JSON.stringify(e.data)}`);
        return;
      }
      throw e;
    }
    assertUpdated(res, 'overwritePayload');
    cosLive.get(2).payload = { only: 'this', color: 'red' };
    const [r] = await client.retrieve(COS, { ids: [2] });
    assert.deepEqual(r.payload, { only: 'this', color: 'red' });
  }));

  it('delete by ids and by filter; count decreases accordingly', step(async () => {
    const before = (await client.count(COS)).count;
    assert.equal(before, cosLive.size);
    const ids = [5, 6, 7, 999]; // 999 does not exist
    assertUpdated(await client.delete(COS, { wait: true, points: ids }), 'delete by ids');
    for (const id of ids) cosLive.delete(id);
    assert.equal((await client.count(COS)).count, cosLive.size);
    assert.deepEqual(await client.retrieve(COS, { ids: [5, 6, 7] }), []);

    const doomed = [...cosLive.values()].filter((p) => p.payload.n >= 30 && p.payload.n < 1000).map((p) => p.id);
    assert.ok(doomed.length > 0);
    assertUpdated(
      await client.delete(COS, { wait: true, filter: { must: [{ key: 'n', range: { gte: 30, lt: 1000 } }] } }),
      'delete by filter',
    );
    for (const id of doomed) cosLive.delete(id);
    assert.equal((await client.count(COS)).count, cosLive.size);
    assert.equal((await client.getCollection(COS)).points_count, cosLive.size);

    // searches no longer return deleted points
    const q = COS_POINTS[5].vector;
    const res = await client.query(COS, { query: q, limit: 5, with_payload: true });
    assertScored(res.points, bruteForce([...cosLive.values()], q, { metric: 'Cosine', limit: 5 }), {
      metric: 'Cosine',
      what: 'query after deletes',
      payloadOf: cosPayload,
    });
  }));

  it('upsert with a wrong dimension fails with 4xx and the server message', step(async () => {
    let err;
    try {
      await client.upsert(COS, { wait: true, points: [{ id: 500, vector: [0.1, 0.2, 0.3], payload: {} }] });
    } catch (e) {
      err = e;
    }
    assert.ok(err, 'upsert with a 3-dim vector into a 4-dim collection must throw');
    assert.ok(err.status >= 400 && err.status < 500, `status must be 4xx, got ${err.status} (${err.message})`);
    const text = err.data?.status?.error;
    assert.equal(typeof text, 'string', `error body must be {status: {error: string}}: ${JSON.stringify(err.data)}`);
    assert.match(text, /dim/i, 'error text names the dimension');
    assert.match(text, /4/, 'error text gives the expected dimension');
    assert.match(text, /3/, 'error text gives the received dimension');
    // nothing was written
    assert.equal((await client.count(COS)).count, cosLive.size);
  }));

  it('deleteCollection, then collectionExists is false', step(async () => {
    assert.equal(await client.deleteCollection(COS), true);
    assert.deepEqual(await client.collectionExists(COS), { exists: false });
    await assert.rejects(client.getCollection(COS), (e) => {
      assert.equal(e.status, 404, `getCollection of a deleted collection: ${e.status} ${JSON.stringify(e.data)}`);
      return true;
    });
    assert.equal(await client.deleteCollection(EUC), true);
    const names = (await client.getCollections()).collections.map((c) => c.name);
    assert.ok(!names.includes(COS) && !names.includes(EUC), `still listed: ${JSON.stringify(names)}`);
  }));
});
