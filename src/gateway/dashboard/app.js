// Vectron dashboard (docs/dashboard.md): collections, cluster state, node
// health and a query console, over the REST API of the server that served
// this file (same origin; nothing else is fetched). Plain browser
// JavaScript, no framework and no build step.
//
// Every value that comes from the server is put into the page as text
// (textContent), never as HTML. Numbers in responses are read exactly: a
// number whose JSON text differs from what a double prints (a u64 id above
// 2^53, "1e+02") is kept as its text and shown as sent.
'use strict';

(() => {
  const REQUEST_TIMEOUT_MS = 30000;
  const AUTO_REFRESH_MS = 5000;
  const INFO_CONCURRENCY = 6;

  // ---------------------------------------------------------------- helpers

  const $ = (sel) => document.querySelector(sel);

  // el('td', {class: 'num', text: '3'}, child, ...)
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.className = v;
      else if (k === 'onclick') e.addEventListener('click', v);
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // A JSON number kept as its exact text.
  class RawNumber {
    constructor(text) {
      this.text = text;
    }
    toString() {
      return this.text;
    }
  }

  function parseJSON(text) {
    return JSON.parse(text, function (key, value, ctx) {
      if (typeof value === 'number' && ctx && typeof ctx.source === 'string' && String(value) !== ctx.source) {
        return new RawNumber(ctx.source);
      }
      return value;
    });
  }

  // JSON text of v (RawNumber written as is), compact with a space after
  // ':' and ','.
  function toJSON(v) {
    if (v instanceof RawNumber) return v.text;
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map(toJSON).join(', ')}]`;
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}: ${toJSON(x)}`)
      .join(', ')}}`;
  }

  function num(v) {
    if (v instanceof RawNumber) return Number(v.text);
    return typeof v === 'number' ? v : NaN;
  }

  function fmtInt(v) {
    if (v instanceof RawNumber) return v.text;
    if (typeof v !== 'number') return v === undefined || v === null ? '—' : String(v);
    return v.toLocaleString('en-US');
  }

  function fmtBytes(v) {
    const n = num(v);
    if (!Number.isFinite(n)) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let x = n;
    while (x >= 1024 && i < units.length - 1) {
      x /= 1024;
      i++;
    }
    return i === 0 ? `${n} B` : `${x.toFixed(x < 10 ? 2 : 1)} ${units[i]}`;
  }

  function fmtScore(v) {
    if (v instanceof RawNumber) return v.text;
    return typeof v === 'number' ? String(Number(v.toPrecision(6))) : '—';
  }

  function fmtSeconds(t) {
    const n = num(t);
    if (!Number.isFinite(n)) return '';
    return n < 1 ? `${(n * 1000).toFixed(n < 0.01 ? 3 : 1)} ms` : `${n.toFixed(2)} s`;
  }

  const enc = encodeURIComponent;

  // One HTTP exchange with the server. Never throws: the result says what
  // happened ({ok, status, data, error, text}).
  // With authentication on (docs/auth.md), the API key asked for on the
  // first 401 is kept for this tab (sessionStorage) and sent as `api-key`.
  async function api(method, path, bodyText, retried) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
    const init = { method, signal: ctl.signal, headers: {} };
    const key = sessionStorage.getItem('vectron-api-key');
    if (key) init.headers['api-key'] = key;
    if (bodyText !== undefined) {
      init.body = bodyText;
      init.headers['Content-Type'] = 'application/json';
    }
    try {
      const res = await fetch(path, init);
      if (res.status === 401 && !retried) {
        const k = window.prompt('This server needs an API key:');
        if (k) {
          sessionStorage.setItem('vectron-api-key', k);
          clearTimeout(timer);
          return api(method, path, bodyText, true);
        }
      }
      const text = await res.text();
      let data = null;
      try {
        data = parseJSON(text);
      } catch {
        data = null;
      }
      let error = null;
      if (!res.ok) {
        error = (data && data.status && typeof data.status.error === 'string' && data.status.error) || text.trim() || res.statusText;
      }
      return { ok: res.ok, status: res.status, data, text, error };
    } catch (e) {
      const error = e.name === 'AbortError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : `network error: ${e.message}`;
      return { ok: false, status: 0, data: null, text: '', error };
    } finally {
      clearTimeout(timer);
    }
  }

  function describe(method, path, r) {
    return `${method} ${path}: ${r.status ? `HTTP ${r.status}: ` : ''}${r.error}`;
  }

  // Runs fn over items with at most `limit` calls in flight.
  async function pool(items, limit, fn) {
    const out = new Array(items.length);
    let next = 0;
    async function worker() {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return out;
  }

  function props(dl, pairs) {
    dl.replaceChildren(
      ...pairs.map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', {}, v instanceof Node ? v : String(v ?? '—')))),
    );
  }

  function statusBadge(status) {
    const cls = status === 'green' ? 'ok' : status === 'yellow' ? 'warn' : 'bad';
    return el('span', { class: `badge ${cls}`, text: status || 'unknown' });
  }

  // ---------------------------------------------------------------- state

  const state = {
    collections: [], // [{name, info, error}]
    cluster: null, // GET /cluster result, or null
    clusterError: null, // why there is none
    localShards: {}, // name -> /collections/{name}/cluster result (fallback)
    selected: null, // collection shown in detail
    view: 'collections',
    loading: null,
  };

  const banner = $('#banner');
  function showBanner(messages) {
    if (messages.length) {
      banner.textContent = messages.join('\n');
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }

  // ---------------------------------------------------------------- loading

  async function loadHealth(problems) {
    const [root, live, ready] = await Promise.all([api('GET', '/'), api('GET', '/healthz'), api('GET', '/readyz')]);
    $('#version').textContent = root.ok && root.data && root.data.version ? `v${root.data.version}` : '';
    const liveB = $('#health-live');
    liveB.textContent = live.ok ? 'live' : 'not live';
    liveB.className = `badge ${live.ok ? 'ok' : 'bad'}`;
    liveB.title = `GET /healthz: ${live.status ? `HTTP ${live.status}` : live.error}${live.text ? ` ${live.text.trim()}` : ''}`;
    const readyB = $('#health-ready');
    readyB.textContent = ready.ok ? 'ready' : 'not ready';
    readyB.className = `badge ${ready.ok ? 'ok' : 'bad'}`;
    readyB.title = `GET /readyz: ${ready.status ? `HTTP ${ready.status}` : ready.error}${ready.text ? ` ${ready.text.trim()}` : ''}`;
    if (!live.ok && live.status === 0) problems.push(describe('GET', '/healthz', live));
    return { root, live, ready };
  }

  async function loadCollections(problems) {
    const r = await api('GET', '/collections');
    if (!r.ok) {
      problems.push(describe('GET', '/collections', r));
      return;
    }
    const names = ((r.data && r.data.result && r.data.result.collections) || []).map((c) => String(c.name));
    state.collections = await pool(names, INFO_CONCURRENCY, async (name) => {
      const path = `/collections/${enc(name)}`;
      const info = await api('GET', path);
      return info.ok ? { name, info: info.data.result, error: null } : { name, info: null, error: describe('GET', path, info) };
    });
  }

  async function loadCluster() {
    const r = await api('GET', '/cluster');
    state.localShards = {};
    if (r.ok && r.data && r.data.result && Array.isArray(r.data.result.collections)) {
      state.cluster = r.data.result;
      state.clusterError = null;
      return;
    }
    state.cluster = null;
    state.clusterError = r.ok ? 'GET /cluster: no collections in the answer' : describe('GET', '/cluster', r);
    // Fallback: Qdrant's per-collection view, when the server has it.
    await pool(state.collections, INFO_CONCURRENCY, async (c) => {
      const path = `/collections/${enc(c.name)}/cluster`;
      const x = await api('GET', path);
      state.localShards[c.name] = x.ok && x.data ? { result: x.data.result } : { error: describe('GET', path, x) };
    });
  }

  let health = null;
  async function refresh() {
    if (state.loading) return state.loading;
    state.loading = (async () => {
      const problems = [];
      const h = loadHealth(problems);
      await loadCollections(problems);
      await loadCluster();
      health = await h;
      showBanner(problems);
      render();
      $('#updated').textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    })();
    try {
      await state.loading;
    } finally {
      state.loading = null;
    }
  }

  // ---------------------------------------------------------------- collections

  function collectionSummary(c) {
    const info = c.info || {};
    const params = (info.config && info.config.params) || {};
    const vectors = params.vectors || {};
    return {
      status: info.status,
      points: info.points_count,
      indexed: info.indexed_vectors_count,
      dim: vectors.size,
      metric: vectors.distance,
      shards: params.shard_number,
      replication: params.replication_factor,
      consistency: params.read_consistency,
      hnsw: (info.config && info.config.hnsw_config) || {},
      quant: info.config ? info.config.quantization_config : null,
      schema: info.payload_schema || {},
    };
  }

  function renderCollections() {
    const tbody = $('#collections-table tbody');
    const rows = state.collections.map((c) => {
      const s = collectionSummary(c);
      const nameLink = el('a', { class: 'link', href: `#collections/${enc(c.name)}`, text: c.name });
      if (c.error) {
        return el(
          'tr',
          { 'data-name': c.name },
          el('td', {}, nameLink),
          el('td', {}, statusBadge('error')),
          el('td', { colspan: '7', class: 'muted', text: c.error }),
        );
      }
      const fields = Object.entries(s.schema).map(([k, v]) =>
        el('span', { class: 'chip' }, k, ' ', el('span', { class: 't', text: (v && v.data_type) || '' })),
      );
      return el(
        'tr',
        { 'data-name': c.name, class: state.selected === c.name ? 'selected' : null },
        el('td', {}, nameLink),
        el('td', {}, statusBadge(s.status)),
        el('td', { class: 'num', 'data-col': 'points', text: fmtInt(s.points) }),
        el('td', { class: 'num', text: fmtInt(s.indexed) }),
        el('td', { class: 'num', 'data-col': 'dimension', text: fmtInt(s.dim) }),
        el('td', { 'data-col': 'metric', text: s.metric ?? '—' }),
        el('td', { class: 'num', text: fmtInt(s.shards) }),
        el('td', { 'data-col': 'fields' }, ...(fields.length ? fields : [el('span', { class: 'muted', text: 'none' })])),
        el('td', { class: 'num' }, el('a', { class: 'link', href: `#query/${enc(c.name)}`, text: 'Query' })),
      );
    });
    tbody.replaceChildren(...rows);
    $('#collections-count').textContent = `(${state.collections.length})`;
    $('#collections-empty').hidden = state.collections.length > 0;
    $('#collections-table').hidden = state.collections.length === 0;
    renderDetail();
  }

  function renderDetail() {
    const box = $('#collection-detail');
    const c = state.collections.find((x) => x.name === state.selected);
    if (!c) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    $('#detail-title').textContent = c.name;
    if (c.error) {
      props($('#detail-props'), [['error', c.error]]);
      $('#detail-indexes').hidden = true;
      $('#detail-noindex').hidden = true;
      return;
    }
    const s = collectionSummary(c);
    const quant = s.quant && s.quant.scalar ? `int8 (quantile ${s.quant.scalar.quantile ?? 'default'})` : 'none';
    props($('#detail-props'), [
      ['status', statusBadge(s.status)],
      ['points', fmtInt(s.points)],
      ['indexed vectors', fmtInt(s.indexed)],
      ['dimension', fmtInt(s.dim)],
      ['metric', s.metric],
      ['shards', fmtInt(s.shards)],
      ['replication factor', fmtInt(s.replication)],
      ['read consistency', s.consistency],
      ['HNSW m', fmtInt(s.hnsw.m)],
      ['HNSW ef_construct', fmtInt(s.hnsw.ef_construct)],
      ['quantization', quant],
    ]);
    const idx = Object.entries(s.schema);
    $('#detail-noindex').hidden = idx.length > 0;
    $('#detail-indexes').hidden = idx.length === 0;
    $('#detail-indexes tbody').replaceChildren(
      ...idx.map(([k, v]) =>
        el(
          'tr',
          {},
          el('td', { class: 'mono', text: k }),
          el('td', { text: (v && v.data_type) || '—' }),
          el('td', { class: 'num', text: fmtInt(v && v.points) }),
        ),
      ),
    );
    renderShardTable($('#detail-shards'), $('#detail-shards-note'), [c.name], false);
  }

  // ---------------------------------------------------------------- cluster

  const SHARD_COLUMNS = [
    ['Shard', (s) => s.shard_id, 'num'],
    ['Raft group', (s) => s.group, 'num'],
    ['Replicas', (s) => (Array.isArray(s.replicas) ? s.replicas.map(String).join(', ') : '—')],
    ['Leader', (s) => (s.leader === null || s.leader === undefined ? 'none' : String(s.leader))],
    ['Role', (s) => s.role],
    ['State', (s) => s.state],
    ['Term', (s) => fmtInt(s.term), 'num'],
    ['Commit index', (s) => fmtInt(s.commit_index), 'num'],
    ['Applied index', (s) => fmtInt(s.applied_index), 'num'],
    ['Points', (s) => fmtInt(s.points), 'num'],
    ['Pending', (s) => fmtInt(s.pending), 'num'],
    ['Disk', (s) => fmtBytes(s.disk_bytes), 'num'],
  ];

  function stateCell(text) {
    const t = text === undefined || text === null ? '—' : String(text);
    const cls = /^(active|leader|up)$/i.test(t) ? 'ok' : /^(follower|candidate|partial|initializing|listener)$/i.test(t) ? 'warn' : 'bad';
    return el('span', { class: `badge ${cls}`, text: t });
  }

  // Fills table with the shards of the named collections: from /cluster
  // when the server has it, else from /collections/{name}/cluster.
  function renderShardTable(table, note, names, withCollection) {
    const thead = table.querySelector('thead');
    const tbody = table.querySelector('tbody');
    const rows = [];
    let head;
    if (state.cluster) {
      head = (withCollection ? [['Collection']] : []).concat(SHARD_COLUMNS.map((c) => [c[0], c[2]]));
      for (const col of state.cluster.collections) {
        if (!names.includes(String(col.name))) continue;
        for (const s of col.shards || []) {
          const cells = SHARD_COLUMNS.map(([title, f, cls]) => {
            const v = f(s);
            if (title === 'Role' || title === 'State') return el('td', {}, stateCell(v));
            return el('td', { class: cls || null, text: v ?? '—' });
          });
          if (withCollection) cells.unshift(el('td', {}, el('a', { class: 'link', href: `#collections/${enc(col.name)}`, text: col.name })));
          rows.push(el('tr', { 'data-collection': col.name, 'data-shard': String(s.shard_id) }, ...cells));
        }
      }
      note.hidden = true;
    } else {
      head = (withCollection ? [['Collection']] : []).concat([['Shard', 'num'], ['State'], ['Points', 'num'], ['Peer', 'num']]);
      const errors = [];
      for (const name of names) {
        const x = state.localShards[name];
        if (!x || x.error) {
          if (x) errors.push(x.error);
          continue;
        }
        const r = x.result || {};
        for (const s of r.local_shards || []) {
          const cells = [
            el('td', { class: 'num', text: String(s.shard_id) }),
            el('td', {}, stateCell(s.state)),
            el('td', { class: 'num', text: fmtInt(s.points_count) }),
            el('td', { class: 'num', text: r.peer_id === undefined ? '—' : String(r.peer_id) }),
          ];
          if (withCollection) cells.unshift(el('td', { text: name }));
          rows.push(el('tr', { 'data-collection': name, 'data-shard': String(s.shard_id) }, ...cells));
        }
      }
      note.hidden = false;
      note.textContent =
        rows.length > 0
          ? `Replica sets and leaders need GET /cluster, which this server does not answer (${state.clusterError}); showing the local shards from GET /collections/{name}/cluster.`
          : `Shard state is not available from this server: ${state.clusterError}${errors.length ? `; ${errors[0]}` : ''}.`;
    }
    thead.replaceChildren(el('tr', {}, ...head.map(([title, cls]) => el('th', { class: cls || null, text: title }))));
    tbody.replaceChildren(...rows);
    table.hidden = rows.length === 0;
  }

  function renderCluster() {
    const c = state.cluster;
    const h = health || {};
    const ok = (r) => (r ? (r.ok ? stateCell('up') : el('span', { class: 'badge bad', text: r.status ? `HTTP ${r.status}` : 'no answer' })) : '—');
    const pairs = [
      ['live (GET /healthz)', ok(h.live)],
      ['ready (GET /readyz)', h.ready ? (h.ready.ok ? stateCell('up') : el('span', { class: 'badge bad', text: (h.ready.text || '').trim() || `HTTP ${h.ready.status}` })) : '—'],
      ['version', h.root && h.root.ok && h.root.data ? h.root.data.version : '—'],
      ['collections', fmtInt(state.collections.length)],
    ];
    if (c) {
      const ri = c.raft_info || {};
      pairs.push(
        ['this peer', String(c.peer_id)],
        ['metadata role', stateCell(ri.role)],
        ['metadata leader', ri.leader === null || ri.leader === undefined ? 'none' : String(ri.leader)],
        ['metadata term', fmtInt(ri.term)],
        ['metadata commit', fmtInt(ri.commit)],
        ['pending operations', fmtInt(ri.pending_operations)],
        ['metadata epoch', fmtInt(c.metadata_epoch)],
        ['consensus', (c.consensus_thread_status && c.consensus_thread_status.consensus_thread_status) || '—'],
      );
    }
    props($('#node-health'), pairs);

    const nodesBody = $('#nodes-table tbody');
    if (c && Array.isArray(c.nodes)) {
      nodesBody.replaceChildren(
        ...c.nodes.map((n) =>
          el(
            'tr',
            { 'data-node': String(n.id) },
            el('td', { class: 'num', text: String(n.id) }),
            el('td', { class: 'mono', text: n.address ?? '—' }),
            el('td', {}, stateCell(n.state)),
            el('td', { class: 'muted', text: String(n.id) === String(c.peer_id) ? 'this node (answers the dashboard)' : '' }),
          ),
        ),
      );
      $('#nodes-table').hidden = false;
      $('#nodes-note').hidden = true;
    } else {
      nodesBody.replaceChildren();
      $('#nodes-table').hidden = true;
      $('#nodes-note').hidden = false;
      $('#nodes-note').textContent = `The node list needs GET /cluster: ${state.clusterError}.`;
    }
    renderShardTable(
      $('#shards-table'),
      $('#shards-note'),
      state.collections.map((x) => x.name),
      true,
    );
  }

  // ---------------------------------------------------------------- query console

  const form = $('#query-form');
  const qCollection = $('#q-collection');

  function mode() {
    return form.querySelector('input[name="q-mode"]:checked').value;
  }

  function syncMode() {
    const m = mode();
    for (const e of form.querySelectorAll('.mode-vector')) e.hidden = m !== 'vector';
    for (const e of form.querySelectorAll('.mode-id')) e.hidden = m !== 'id';
  }

  function renderCollectionSelect(preferred) {
    const current = preferred || qCollection.value;
    qCollection.replaceChildren(
      ...state.collections.map((c) => el('option', { value: c.name, text: c.name })),
    );
    if (state.collections.some((c) => c.name === current)) qCollection.value = current;
    syncCollectionInfo();
  }

  function syncCollectionInfo() {
    const c = state.collections.find((x) => x.name === qCollection.value);
    if (!c || !c.info) {
      $('#q-collection-info').textContent = c && c.error ? c.error : '';
      return;
    }
    const s = collectionSummary(c);
    $('#q-collection-info').textContent = `${fmtInt(s.points)} points · dimension ${fmtInt(s.dim)} · ${s.metric}`;
    $('#q-vector').placeholder = `[${Array.from({ length: Math.min(num(s.dim) || 4, 4) }, (_, i) => (0.1 * (i + 1)).toFixed(1)).join(', ')}${num(s.dim) > 4 ? ', …' : ''}]  (${fmtInt(s.dim)} numbers: a JSON array, or separated by commas or spaces)`;
  }

  // Parses the vector field: a JSON array or numbers separated by commas
  // or white space. Returns the JSON text to send, or throws a message.
  function vectorText(text) {
    const t = text.trim();
    if (!t) throw new Error('vector: paste a vector (a JSON array of numbers)');
    let parts;
    if (t.startsWith('[')) {
      let v;
      try {
        v = JSON.parse(t);
      } catch (e) {
        throw new Error(`vector: not valid JSON (${e.message})`);
      }
      if (!Array.isArray(v)) throw new Error('vector: expected an array of numbers');
      parts = v;
    } else {
      parts = t.split(/[\s,]+/).filter(Boolean).map((x) => (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(x) ? Number(x) : x));
    }
    parts.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`vector[${i}]: ${JSON.stringify(x)} is not a finite number`);
    });
    return `[${parts.map((x) => JSON.stringify(x)).join(', ')}]`;
  }

  function idText(text) {
    const t = text.trim();
    if (/^\d+$/.test(t)) return t.replace(/^0+(?=\d)/, '');
    if (/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(t)) return JSON.stringify(t.toLowerCase());
    throw new Error('point id: expected an unsigned integer or a UUID');
  }

  // The request body as JSON text (numbers and the filter kept exactly as
  // typed). Throws a message for input that cannot be sent.
  function buildBody() {
    const fields = [];
    const m = mode();
    if (m === 'vector') fields.push(`"query": ${vectorText($('#q-vector').value)}`);
    else if (m === 'id') fields.push(`"query": ${idText($('#q-id').value)}`);
    const filter = $('#q-filter').value.trim();
    if (filter) {
      try {
        JSON.parse(filter);
      } catch (e) {
        throw new Error(`filter: not valid JSON (${e.message})`);
      }
      fields.push(`"filter": ${filter}`);
    }
    const limit = $('#q-limit').value.trim();
    if (limit) {
      if (!/^\d+$/.test(limit)) throw new Error('limit: expected a positive integer');
      fields.push(`"limit": ${limit}`);
    }
    fields.push(`"with_payload": ${$('#q-payload').checked}`);
    fields.push(`"with_vector": ${$('#q-with-vector').checked}`);
    if ($('#q-exact').checked) fields.push('"params": {"exact": true}');
    return `{${fields.join(', ')}}`;
  }

  function showQueryError(title, message) {
    const box = $('#q-error');
    box.replaceChildren(el('strong', { text: title }), `\n${message}`);
    box.hidden = false;
  }

  let queryRuns = 0;
  async function runQuery(ev) {
    if (ev) ev.preventDefault();
    const name = qCollection.value;
    const out = $('#q-output');
    const table = $('#q-results');
    $('#q-error').hidden = true;
    $('#q-summary').textContent = '';
    if (!name) {
      showQueryError('Not sent', 'Pick a collection first (there are none yet?).');
      return;
    }
    let body;
    try {
      body = buildBody();
    } catch (e) {
      table.hidden = true;
      $('#q-empty').hidden = true;
      showQueryError('Not sent: the form has a problem', e.message);
      out.dataset.state = 'invalid';
      return;
    }
    const path = `/collections/${enc(name)}/points/query`;
    $('#q-request').textContent = `POST ${path}\nContent-Type: application/json\n\n${body}`;
    $('#q-run').disabled = true;
    out.dataset.state = 'running';
    const run = ++queryRuns;
    const t0 = performance.now();
    const r = await api('POST', path, body);
    const elapsed = performance.now() - t0;
    if (run !== queryRuns) return; // a newer query answered already
    $('#q-run').disabled = false;
    $('#q-empty').hidden = true;
    if (!r.ok) {
      table.hidden = true;
      showQueryError(r.status ? `The server answered HTTP ${r.status}` : 'No answer from the server', r.error);
      out.dataset.state = 'error';
      return;
    }
    const points = (r.data && r.data.result && r.data.result.points) || [];
    const withVector = $('#q-with-vector').checked;
    table.classList.toggle('show-vector', withVector);
    for (const th of table.querySelectorAll('.col-vector')) th.hidden = !withVector;
    $('#q-results tbody').replaceChildren(
      ...points.map((p, i) => {
        const idShown = p.id instanceof RawNumber ? p.id.text : typeof p.id === 'string' ? p.id : String(p.id);
        return el(
          'tr',
          { 'data-id': idShown },
          el('td', { class: 'num muted', text: String(i + 1) }),
          el('td', { class: 'id', text: idShown }),
          el('td', { class: 'num score', text: fmtScore(p.score) }),
          el('td', { class: 'payload', text: p.payload === undefined ? '' : toJSON(p.payload) }),
          withVector ? el('td', { class: 'vector', text: p.vector === undefined ? '' : toJSON(p.vector) }) : null,
          el(
            'td',
            { class: 'num' },
            el('button', {
              type: 'button',
              class: 'secondary small',
              text: 'Similar',
              title: 'Query with this point',
              onclick: () => {
                form.querySelector('input[name="q-mode"][value="id"]').checked = true;
                $('#q-id').value = idShown;
                syncMode();
                runQuery();
              },
            }),
          ),
        );
      }),
    );
    table.hidden = false;
    $('#q-summary').textContent = `${points.length} point${points.length === 1 ? '' : 's'} · server ${fmtSeconds(r.data && r.data.time)} · round trip ${elapsed.toFixed(1)} ms`;
    if (points.length === 0) {
      $('#q-empty').hidden = false;
      $('#q-empty').textContent = 'No point matched.';
    }
    out.dataset.state = 'done';
  }

  // ---------------------------------------------------------------- views

  function parseHash() {
    const h = location.hash.replace(/^#/, '');
    const slash = h.indexOf('/');
    const view = slash < 0 ? h : h.slice(0, slash);
    let arg = null;
    if (slash >= 0) {
      try {
        arg = decodeURIComponent(h.slice(slash + 1));
      } catch {
        arg = null;
      }
    }
    return { view: ['collections', 'cluster', 'query'].includes(view) ? view : 'collections', arg };
  }

  function render() {
    for (const v of ['collections', 'cluster', 'query']) $(`#view-${v}`).hidden = v !== state.view;
    for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('active', a.dataset.view === state.view);
    renderCollections();
    renderCluster();
    renderCollectionSelect();
  }

  function onHash() {
    const { view, arg } = parseHash();
    state.view = view;
    if (view === 'collections') state.selected = arg;
    render();
    if (view === 'query' && arg) renderCollectionSelect(arg);
    if (view === 'collections' && arg) {
      const box = $('#collection-detail');
      if (!box.hidden) box.scrollIntoView({ block: 'nearest' });
    }
  }

  // ---------------------------------------------------------------- wiring

  form.addEventListener('submit', runQuery);
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) runQuery(e);
  });
  for (const r of form.querySelectorAll('input[name="q-mode"]')) r.addEventListener('change', syncMode);
  qCollection.addEventListener('change', syncCollectionInfo);
  $('#refresh').addEventListener('click', () => refresh());
  $('#detail-query').addEventListener('click', () => {
    location.hash = `#query/${enc(state.selected || '')}`;
  });
  let timer = null;
  $('#auto-refresh').addEventListener('change', (e) => {
    clearInterval(timer);
    timer = e.target.checked ? setInterval(() => refresh(), AUTO_REFRESH_MS) : null;
  });
  window.addEventListener('hashchange', onHash);

  syncMode();
  const first = parseHash();
  state.view = first.view;
  if (first.view === 'collections') state.selected = first.arg;
  refresh().then(() => {
    if (first.view === 'query' && first.arg) renderCollectionSelect(first.arg);
  });
})();
