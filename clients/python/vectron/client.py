"""The Vectron REST client: :class:`Client`.

One :class:`Client` holds one keep-alive HTTP/1.1 connection (``http.client``)
to ``vectron serve`` and speaks the Qdrant-compatible REST API documented in
docs/api.md, plus Vectron's binary bulk-upsert body for uploads. Standard
library only; numpy arrays (and anything with ``.tolist()``, or with
``.astype``/``.tobytes`` for the binary body) are accepted wherever vectors
or ids are.
"""

import http.client
import itertools
import json
import operator
import select
import socket
import threading
import urllib.parse
import uuid

from . import bulk as _bulk
from .errors import ConnectionError, VectronError, error_for_status
from .models import Point, UpdateResult

__all__ = ["Client", "DEFAULT_URL"]

#: Where :class:`Client` connects by default (Qdrant's port).
DEFAULT_URL = "http://127.0.0.1:6333"
_DEFAULT_PORT = 6333
_USER_AGENT = "vectron-python/0.1.0"

# Automatic upsert batches: at most this many points, and about this many
# body bytes (the server's max-body-size is 64 MiB, and its Raft log
# segments, 16 MiB by default, should hold several requests).
_AUTO_BATCH_POINTS = 1000
_AUTO_BATCH_BYTES = 4 << 20

# Errors of a keep-alive connection the server closed meanwhile; a request
# that meets one on a reused connection is retried once (when idempotent).
_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)

_END = object()

_DISTANCES = {"cosine": "Cosine", "euclid": "Euclid", "dot": "Dot"}


def _json_default(o):
    if isinstance(o, uuid.UUID):
        return str(o)
    if hasattr(o, "tolist"):  # numpy arrays and scalars, array.array
        return o.tolist()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON "
                    f"serializable")


def _dumps(obj):
    """Compact, ASCII-only JSON; NaN and infinities are refused
    (ValueError), numpy values converted with ``.tolist()``."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=_json_default)


def _norm_id(pid, where="point id"):
    """An id as the API writes it: an int in 0..2^64-1 or a canonical UUID
    string."""
    if isinstance(pid, bool):
        raise TypeError(f"{where}: must be an integer or a UUID, not bool")
    if isinstance(pid, uuid.UUID):
        return str(pid)
    if isinstance(pid, str):
        try:
            return str(uuid.UUID(pid))
        except ValueError:
            raise ValueError(f"{where}: {pid!r} is neither an integer nor a "
                             f"UUID") from None
    try:
        i = operator.index(pid)
    except TypeError:
        raise TypeError(f"{where}: must be an integer or a UUID, not "
                        f"{type(pid).__name__}") from None
    if not 0 <= i < 1 << 64:
        raise ValueError(f"{where}: {i} is outside 0..2^64-1")
    return i


def _norm_ids(ids, what="ids"):
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, (str, bytes, dict)) or not hasattr(ids, "__iter__"):
        raise TypeError(f"{what}: expected a list of point ids, not "
                        f"{type(ids).__name__}")
    return [_norm_id(x, f"{what}[{i}]") for i, x in enumerate(ids)]


def _vec_list(v, where="vector"):
    """A vector as a list of numbers for a JSON body."""
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
        raise TypeError(f"{where}: expected a sequence of numbers, not "
                        f"{type(v).__name__}")
    return v if isinstance(v, list) else list(v)


def _is_id(q):
    if isinstance(q, bool):
        return False
    if isinstance(q, (str, uuid.UUID)):
        return True
    return hasattr(q, "__index__") and not hasattr(q, "__len__")


def _query_value(q, where="query"):
    if isinstance(q, dict):
        return q
    if isinstance(q, bool):
        raise TypeError(f"{where}: expected a vector or a point id, not bool")
    if _is_id(q):
        return _norm_id(q, where)
    return _vec_list(q, where)


def _id_order(pid):
    """Sort key of the server's id order: integers, then UUIDs."""
    if isinstance(pid, int):
        return (0, pid, "")
    return (1, 0, str(pid).lower())


def _is_2d_array(x):
    return hasattr(x, "tolist") and getattr(x, "ndim", None) == 2


def _selector(ids, filter):
    if (ids is None) == (filter is None):
        raise ValueError("give exactly one of ids and filter")
    if ids is not None:
        return {"points": _norm_ids(ids)}
    return {"filter": filter}


def _wait(wait):
    return {"wait": "true" if wait else "false"}


def _dropped(sock):
    """True when a kept-alive socket is readable while no response is
    pending: the server closed it (or it is unusable)."""
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            p = select.poll()
            p.register(sock, select.POLLIN)
            return bool(p.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


class Client:
    """A connection to one ``vectron serve`` (or any server speaking its
    REST API).

    ``url``: ``http://host:port`` or ``https://…`` with an optional path
    prefix; the port defaults to 6333 when the URL names none, and
    ``host:port`` alone means ``http://host:port``. ``timeout``: seconds
    to connect and to wait for each response (socket timeout). ``api_key``:
    sent as the ``api-key`` header on every request (Qdrant's convention;
    docs/auth.md): a key from ``vectron keys create``, the server's
    bootstrap ``api-key``, or a JWT.

    The client keeps one HTTP/1.1 connection open and reuses it; a
    connection the server closed while idle is detected (or, failing that,
    an idempotent request is retried once on a fresh connection). Calls are
    serialised by a lock, so a client may be shared between threads, but
    one client per thread runs requests in parallel. Use it as a context
    manager or call :meth:`close` to close the connection.

    ``session``: when True the client keeps, per collection, the last
    ``vectron-session`` token the server returned (docs/api.md, "Session
    tokens") and sends it with every later request on that collection, so
    reads with ``consistency="bounded"`` see this client's own writes and
    never go back in time, through any gateway of a cluster. The tokens
    are in :attr:`sessions` (``{collection: token}``); creating or deleting
    a collection forgets its token.

    Every method raises :class:`vectron.VectronError` subclasses for error
    answers (``BadRequest``, ``NotFound``, ``Conflict``, ``Unavailable``)
    and :class:`vectron.ConnectionError` when the server cannot be reached;
    arguments the client can check itself raise ``ValueError`` or
    ``TypeError`` before anything is sent.
    """

    def __init__(self, url=DEFAULT_URL, timeout=30, api_key=None,
                 session=False):
        """Parses ``url`` and prepares the connection (opened on first
        use)."""
        if "://" not in url:
            url = "http://" + url
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"url: unsupported scheme {u.scheme!r} "
                             f"(expected http or https)")
        if not u.hostname:
            raise ValueError(f"url: no host in {url!r}")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or _DEFAULT_PORT
        self.prefix = u.path.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{self.scheme}://{host}:{self.port}{self.prefix}"
        self._conn = None
        self._lock = threading.RLock()
        self.sessions = {} if session else None

    def __repr__(self):
        """``Client('http://host:port')``."""
        return f"Client({self.url!r})"

    # -- connection ------------------------------------------------------

    def close(self):
        """Closes the kept-alive connection (the next call opens a new
        one)."""
        with self._lock:
            self._close_conn()

    def __enter__(self):
        """Returns the client; the connection is closed on exit."""
        return self

    def __exit__(self, *exc):
        """Closes the connection."""
        self.close()
        return False

    def _close_conn(self):
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _connect(self, method, path):
        if self.scheme == "https":
            import ssl
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout,
                context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self.host, self.port,
                                              timeout=self.timeout)
        try:
            conn.connect()
            # Headers and body may leave in two writes; without NODELAY,
            # Nagle and delayed ACKs add ~40 ms to a request.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise ConnectionError(f"cannot connect to {self.url}: {e}",
                                  None, method, path) from e
        self._conn = conn
        return conn

    def _send(self, method, target, data, headers, idempotent, path):
        """Sends one request; returns (status, body bytes)."""
        for attempt in range(2):
            conn = self._conn
            reused = conn is not None
            if reused and _dropped(conn.sock):
                self._close_conn()
                conn = None
                reused = False
            if conn is None:
                conn = self._connect(method, path)
            try:
                send_error = None
                try:
                    conn.request(method, target, body=data, headers=headers)
                except _STALE as e:
                    # The server may have answered early and closed (413:
                    # body too large) before reading the whole body.
                    send_error = e
                try:
                    resp = conn.getresponse()
                    raw = resp.read()
                except (OSError, http.client.HTTPException):
                    if send_error is not None:
                        raise send_error from None
                    raise
                if resp.will_close or send_error is not None:
                    self._close_conn()
                self._last_session = resp.getheader("vectron-session")
                return resp.status, raw
            except _STALE as e:
                self._close_conn()
                if reused and idempotent and attempt == 0:
                    continue
                raise ConnectionError(
                    f"connection to {self.url} lost: {e!r}", None, method,
                    path) from e
            except socket.timeout as e:
                self._close_conn()
                raise ConnectionError(
                    f"no answer from {self.url} within {self.timeout} s",
                    None, method, path) from e
            except (OSError, http.client.HTTPException) as e:
                self._close_conn()
                raise ConnectionError(
                    f"request to {self.url} failed: {e!r}", None, method,
                    path) from e
            except BaseException:
                # KeyboardInterrupt and the like: the connection is in an
                # unknown state (a response may be half read).
                self._close_conn()
                raise
        raise AssertionError("unreachable")

    def _raw(self, method, path, body=None, *, params=None, data=None,
             content_type="application/json", idempotent=True):
        """Performs a request; returns (status, body bytes)."""
        target = self.prefix + path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        if data is None and body is not None:
            data = _dumps(body).encode("ascii")
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if data is not None:
            headers["Content-Type"] = content_type
        if self.api_key is not None:
            headers["api-key"] = self.api_key
        coll = self._session_collection(path)
        with self._lock:
            if coll is not None:
                if path.count("/") == 2 and method in ("PUT", "DELETE"):
                    self.sessions.pop(coll, None)  # created or dropped
                elif coll in self.sessions:
                    headers["vectron-session"] = self.sessions[coll]
            self._last_session = None
            status, raw = self._send(method, target, data, headers,
                                     idempotent, path)
            if coll is not None and status == 200 and self._last_session:
                self.sessions[coll] = self._last_session
            return status, raw

    def _session_collection(self, path):
        """The collection a request path names, when sessions are on."""
        if self.sessions is None or not path.startswith("/collections/"):
            return None
        name = path.split("/")[2]
        return urllib.parse.unquote(name) if name else None

    def _call(self, method, path, body=None, *, params=None, data=None,
              content_type="application/json", idempotent=True, note=None):
        """Performs an API request and returns the envelope's ``result``;
        raises the matching VectronError otherwise."""
        status, raw = self._raw(method, path, body, params=params, data=data,
                                content_type=content_type,
                                idempotent=idempotent)
        try:
            js = json.loads(raw) if raw else None
        except ValueError:
            js = None
        if 200 <= status < 300 and isinstance(js, dict) and "result" in js:
            return js["result"]
        message = None
        if isinstance(js, dict):
            st = js.get("status")
            if isinstance(st, dict) and isinstance(st.get("error"), str):
                message = st["error"]
        if message is None:
            text = raw.decode("utf-8", "replace").strip()
            message = text[:1000] or http.client.responses.get(status, "")
            if 200 <= status < 300:
                message = f"unexpected response: {message}"
        raise error_for_status(status, message, method, path, note)

    @staticmethod
    def _coll(name, *rest):
        if not isinstance(name, str):
            raise TypeError(f"collection name must be a str, not "
                            f"{type(name).__name__}")
        return "/collections/" + urllib.parse.quote(name, safe="") + \
            "".join(rest)

    # -- service ---------------------------------------------------------

    def info(self):
        """``GET /``: the server's title and version, e.g.
        ``{"title": "vectron - vector database", "version": "0.1.0"}``."""
        status, raw = self._raw("GET", "/")
        try:
            js = json.loads(raw)
        except ValueError:
            js = None
        if status != 200 or not isinstance(js, dict):
            raise error_for_status(status, raw.decode("utf-8", "replace"),
                                   "GET", "/")
        return js

    def ready(self):
        """``GET /readyz``: True when every shard is open and serving,
        False while the server is not ready (HTTP 503). Raises
        ConnectionError when nothing answers."""
        status, raw = self._raw("GET", "/readyz")
        if status == 200:
            return True
        if status == 503:
            return False
        raise error_for_status(status, raw.decode("utf-8", "replace"),
                               "GET", "/readyz")

    # -- collections -----------------------------------------------------

    def create_collection(self, name, dim, distance="Cosine", m=None,
                          ef_construct=None, int8=False, shard_number=None,
                          read_consistency=None):
        """Creates a collection of ``dim``-dimensional vectors; returns True.

        ``distance``: ``"Cosine"`` (vectors are normalised when stored),
        ``"Euclid"`` or ``"Dot"`` (any case). ``m`` (2..128) and
        ``ef_construct`` (4..100000) set the HNSW graph (server defaults 16
        and 100). ``int8=True`` keeps int8 codes for graph traversal with
        float rescoring; a float (0.5..1) instead of True sets the
        quantile. ``shard_number``: 1..1024 (default 1).
        ``read_consistency``: the default of reads, ``"strong"``,
        ``"bounded"`` or ``"eventual"`` (server default).

        Raises Conflict (409) if it exists, BadRequest (400) for a bad name
        or parameter.
        """
        dist = _DISTANCES.get(str(distance).lower(), distance)
        body = {"vectors": {"size": dim, "distance": dist}}
        hnsw = {}
        if m is not None:
            hnsw["m"] = m
        if ef_construct is not None:
            hnsw["ef_construct"] = ef_construct
        if hnsw:
            body["hnsw_config"] = hnsw
        if int8 is not False and int8 is not None:
            scalar = {"type": "int8"}
            if not isinstance(int8, bool):
                scalar["quantile"] = int8
            body["quantization_config"] = {"scalar": scalar}
        if shard_number is not None:
            body["shard_number"] = shard_number
        if read_consistency is not None:
            body["read_consistency"] = read_consistency
        return self._call("PUT", self._coll(name), body, idempotent=False)

    def get_collection(self, name):
        """Collection info as a dict in Qdrant's shape: ``status``
        (``"green"``/``"yellow"``), ``points_count``,
        ``indexed_vectors_count``, ``segments_count`` (shards),
        ``config`` (``params.vectors.size``/``distance``, ``hnsw_config``,
        ``quantization_config``, …) and ``payload_schema``. Raises NotFound.
        """
        return self._call("GET", self._coll(name))

    def list_collections(self):
        """The names of all collections, in name order."""
        res = self._call("GET", "/collections")
        return [c["name"] for c in res.get("collections", [])]

    def delete_collection(self, name):
        """Deletes a collection and its data; returns True, or False if it
        did not exist."""
        return self._call("DELETE", self._coll(name), idempotent=False)

    def collection_exists(self, name):
        """True if the collection exists."""
        return bool(self._call("GET", self._coll(name, "/exists"))["exists"])

    def create_payload_index(self, name, field, type, wait=True):
        """Indexes payload field ``field`` (a dotted path, e.g.
        ``"meta.stars"``) as ``type``: ``"keyword"`` (strings, for
        ``match``), ``"integer"`` (int64 integers, for ``match``),
        ``"float"`` (every number, for ``range``) or ``"bool"``. Filtered
        searches use it to narrow their candidates. Returns an
        UpdateResult; BadRequest if the field has an index of another type.
        """
        res = self._call("PUT", self._coll(name, "/index"),
                         {"field_name": field, "field_schema": type},
                         params=_wait(wait))
        return UpdateResult.from_json(res)

    def delete_payload_index(self, name, field, wait=True):
        """Drops the payload index on ``field``; returns an UpdateResult
        (dropping a field without an index is a no-op)."""
        res = self._call(
            "DELETE", self._coll(name, "/index/",
                                 urllib.parse.quote(field, safe="")),
            params=_wait(wait))
        return UpdateResult.from_json(res)

    # -- upsert ----------------------------------------------------------

    def upsert(self, name, points=None, *, ids=None, vectors=None,
               payloads=None, batch_size=None, wait=True, bulk=True):
        """Inserts or replaces points, in batches; returns how many were
        sent.

        Give either ``points``, any iterable (a generator is consumed
        lazily, batch by batch) of :class:`Point`, dicts ``{"id",
        "vector", "payload"?}`` or tuples ``(id, vector)`` / ``(id,
        vector, payload)``; or the columns ``ids``, ``vectors`` (a sequence
        of vectors or a 2-D numpy array) and optionally ``payloads`` (one
        dict or None per id). Ids are ints (0..2^64-1) or UUIDs; vectors
        are sequences of numbers or numpy arrays; a point without payload
        gets ``{}``. A point that exists is replaced, vector and payload.

        ``batch_size``: points per request; by default up to 1000 and
        about 4 MiB of body. ``bulk=True`` sends each batch as Vectron's
        binary bulk body (little-endian float32, CRC32C; ids of the two
        kinds go in two bodies); ``bulk=False`` sends JSON
        (``{"points": [...]}``), which any Qdrant-compatible server accepts.
        ``wait=True`` (the default) answers each batch once it is durable
        and searchable; ``wait=False`` once it is queued.

        Batches are sent in order and each is atomic in each shard; if one
        fails, the error (BadRequest for a bad vector, NotFound for the
        collection, …) names the batch in its ``note`` and the batches
        before it stay written.
        """
        if points is not None:
            if ids is not None or vectors is not None or payloads is not None:
                raise ValueError("give points, or ids and vectors, not both")
            batches = self._point_batches(points, batch_size, bulk)
        else:
            if ids is None or vectors is None:
                raise ValueError("upsert needs points, or ids and vectors")
            batches = self._column_batches(ids, vectors, payloads,
                                           batch_size, bulk)
        total = 0
        for start, b_ids, b_vecs, b_payloads in batches:
            self._upsert_batch(name, start, b_ids, b_vecs, b_payloads, wait,
                               bulk)
            total += len(b_ids)
        return total

    @staticmethod
    def _auto_batch(dim, bulk):
        per_point = (4 * dim + 32) if bulk else (20 * dim + 64)
        return max(1, min(_AUTO_BATCH_POINTS, _AUTO_BATCH_BYTES // per_point))

    @staticmethod
    def _batch_size(batch_size):
        if batch_size is None:
            return None
        size = operator.index(batch_size)
        if size < 1:
            raise ValueError(f"batch_size: must be at least 1 (got {size})")
        return size

    @staticmethod
    def _unpack_point(p, i):
        if isinstance(p, Point):
            pid, vec, payload = p.id, p.vector, p.payload
        elif isinstance(p, dict):
            if "id" not in p:
                raise ValueError(f"points[{i}]: missing \"id\"")
            pid = p["id"]
            vec = p.get("vector", p.get("vectors"))
            payload = p.get("payload")
        elif isinstance(p, (tuple, list)) and len(p) in (2, 3):
            pid, vec = p[0], p[1]
            payload = p[2] if len(p) == 3 else None
        else:
            raise TypeError(f"points[{i}]: expected a Point, a dict or an "
                            f"(id, vector[, payload]) tuple, not "
                            f"{type(p).__name__}")
        if vec is None:
            raise ValueError(f"points[{i}]: no vector")
        if not hasattr(vec, "__len__"):
            vec = vec.tolist() if hasattr(vec, "tolist") else list(vec)
        return _norm_id(pid, f"points[{i}].id"), vec, payload

    def _point_batches(self, points, batch_size, bulk):
        size = self._batch_size(batch_size)
        it = iter(points)
        start = 0
        while True:
            if size is None:
                first = next(it, _END)
                if first is _END:
                    return
                row = self._unpack_point(first, start)
                size = self._auto_batch(len(row[1]), bulk)
                rows = [row] + [self._unpack_point(p, start + 1 + k)
                                for k, p in enumerate(
                                    itertools.islice(it, size - 1))]
            else:
                rows = [self._unpack_point(p, start + k) for k, p in
                        enumerate(itertools.islice(it, size))]
            if not rows:
                return
            payloads = [r[2] for r in rows]
            if all(p is None for p in payloads):
                payloads = None
            yield start, [r[0] for r in rows], [r[1] for r in rows], payloads
            start += len(rows)

    def _column_batches(self, ids, vectors, payloads, batch_size, bulk):
        ids = _norm_ids(ids)
        n = len(ids)
        if not hasattr(vectors, "__len__"):
            vectors = list(vectors)
        if len(vectors) != n:
            raise ValueError(f"vectors: expected {n} vectors (one per id), "
                             f"got {len(vectors)}")
        if payloads is not None:
            payloads = list(payloads)
            if len(payloads) != n:
                raise ValueError(f"payloads: expected {n} payloads (one per "
                                 f"id), got {len(payloads)}")
            if all(p is None for p in payloads):
                payloads = None
        if n == 0:
            return
        size = self._batch_size(batch_size)
        if size is None:
            first = vectors[0]
            size = self._auto_batch(
                len(first) if hasattr(first, "__len__") else
                len(_vec_list(first)), bulk)
        for s in range(0, n, size):
            yield (s, ids[s:s + size], vectors[s:s + size],
                   None if payloads is None else payloads[s:s + size])

    def _upsert_batch(self, name, start, ids, vectors, payloads, wait, bulk):
        note = f"upsert batch of points {start}..{start + len(ids) - 1}"
        path = self._coll(name, "/points")
        if not bulk:
            vecs = vectors.tolist() if _is_2d_array(vectors) else \
                [_vec_list(v, f"points[{start + k}].vector")
                 for k, v in enumerate(vectors)]
            pts = []
            for k, (pid, vec) in enumerate(zip(ids, vecs)):
                pt = {"id": pid, "vector": vec}
                if payloads is not None and payloads[k] is not None:
                    pt["payload"] = payloads[k]
                pts.append(pt)
            self._call("PUT", path, {"points": pts}, params=_wait(wait),
                       note=note)
            return
        kinds = [isinstance(i, int) for i in ids]
        if all(kinds) or not any(kinds):
            groups = [(ids, vectors, payloads)]
        else:
            groups = []
            for want in (True, False):
                idx = [k for k, is_int in enumerate(kinds) if is_int == want]
                groups.append((
                    [ids[k] for k in idx], [vectors[k] for k in idx],
                    None if payloads is None else [payloads[k] for k in idx]))
        for g_ids, g_vecs, g_payloads in groups:
            try:
                data = _bulk.encode_bulk_upsert(g_ids, g_vecs, g_payloads,
                                                dumps=_dumps)
            except (ValueError, TypeError) as e:
                raise type(e)(f"{e} ({note})") from None
            self._call("PUT", path, params=_wait(wait), data=data,
                       content_type=_bulk.CONTENT_TYPE, note=note)

    # -- search ----------------------------------------------------------

    @staticmethod
    def _search_body(query, limit, filter, ef, exact, with_payload,
                     with_vector, score_threshold, consistency, offset,
                     oversampling, rescore, where="query"):
        body = {"limit": limit, "with_payload": with_payload,
                "with_vector": with_vector}
        if query is not None:
            body["query"] = _query_value(query, where)
        if filter is not None:
            body["filter"] = filter
        params = {}
        if ef is not None:
            params["hnsw_ef"] = ef
        if exact:
            params["exact"] = True
        quant = {}
        if oversampling is not None:
            quant["oversampling"] = oversampling
        if rescore is not None:
            quant["rescore"] = rescore
        if quant:
            params["quantization"] = quant
        if params:
            body["params"] = params
        if score_threshold is not None:
            body["score_threshold"] = score_threshold
        if offset:
            body["offset"] = offset
        if consistency is not None:
            body["consistency"] = consistency
        return body

    def search(self, name, query, limit=10, filter=None, ef=None,
               exact=False, with_payload=True, with_vector=False,
               score_threshold=None, consistency=None, offset=0,
               oversampling=None, rescore=None):
        """The ``limit`` nearest neighbours of ``query``, best first, as a
        list of :class:`Point` (``id``, ``score``, ``payload``, ``vector``).

        ``query``: a vector (a sequence of numbers or a numpy array), or a
        point id (int or UUID) to search with that point's vector, leaving
        the point itself out (NotFound if it does not exist); ``None``
        lists the points matching ``filter`` in id order with score 0.
        ``filter``: a Qdrant filter dict, e.g. ``{"must": [{"key": "lang",
        "match": {"value": "en"}}]}`` (docs/api.md#filters).
        ``ef``: HNSW candidate list size (recall vs speed; the server uses
        at least ``limit + offset``); ``exact=True``: brute force.
        ``with_payload``: True, False, a list of keys, or ``{"include": …}``
        / ``{"exclude": …}``; ``with_vector``: include vectors.
        ``score_threshold``: keep scores ≥ it (Cosine, Dot) or distances ≤
        it (Euclid). ``consistency``: ``"strong"``, ``"bounded"`` or
        ``"eventual"``. ``offset``: skip that many best results.
        ``oversampling``, ``rescore``: int8 collections' rescoring.

        Sent as ``POST /collections/{name}/points/query``.
        """
        body = self._search_body(query, limit, filter, ef, exact,
                                 with_payload, with_vector, score_threshold,
                                 consistency, offset, oversampling, rescore)
        res = self._call("POST", self._coll(name, "/points/query"), body)
        return [Point.from_json(p) for p in res["points"]]

    _SEARCH_KEYS = ("query", "limit", "filter", "ef", "exact",
                    "with_payload", "with_vector", "score_threshold",
                    "consistency", "offset", "oversampling", "rescore")

    def search_batch(self, name, queries, limit=10, filter=None, ef=None,
                     exact=False, with_payload=True, with_vector=False,
                     score_threshold=None, consistency=None, offset=0,
                     oversampling=None, rescore=None):
        """Several searches in one request; returns one list of
        :class:`Point` per query, in order.

        ``queries``: a list whose items are vectors or point ids (a 2-D
        numpy array is a list of vectors), or dicts holding ``query`` and
        any of :meth:`search`'s keyword arguments to override the shared
        ones given here, e.g. ``{"query": v, "limit": 3, "filter": f}``.
        The batch reads at the strongest consistency any search names; the
        first failing search fails the whole batch (the message starts with
        ``searches[i]:``). Sent as ``POST …/points/query/batch``.
        """
        common = {"limit": limit, "filter": filter, "ef": ef,
                  "exact": exact, "with_payload": with_payload,
                  "with_vector": with_vector,
                  "score_threshold": score_threshold,
                  "consistency": consistency, "offset": offset,
                  "oversampling": oversampling, "rescore": rescore}
        if _is_2d_array(queries):
            queries = queries.tolist()
        searches = []
        for i, q in enumerate(queries):
            args = dict(common)
            if isinstance(q, dict):
                unknown = set(q) - set(self._SEARCH_KEYS)
                if unknown:
                    raise TypeError(f"queries[{i}]: unknown search "
                                    f"arguments {sorted(unknown)}")
                args.update(q)
                q = args.pop("query", None)
            searches.append(self._search_body(q, where=f"queries[{i}]",
                                              **args))
        res = self._call("POST", self._coll(name, "/points/query/batch"),
                         {"searches": searches})
        return [[Point.from_json(p) for p in r["points"]] for r in res]

    # -- points ----------------------------------------------------------

    def retrieve(self, name, ids, with_payload=True, with_vector=False,
                 consistency=None):
        """The points with these ids, as :class:`Point` (``score`` None),
        in the order asked; ids that do not exist are left out, an id asked
        twice is returned once. ``with_payload``: True, False, a list of
        keys or ``{"include"/"exclude": […]}``; ``with_vector``: include
        vectors. ``consistency``: as in :meth:`search`."""
        body = {"ids": _norm_ids(ids), "with_payload": with_payload,
                "with_vector": with_vector}
        if consistency is not None:
            body["consistency"] = consistency
        res = self._call("POST", self._coll(name, "/points"), body)
        return [Point.from_json(p) for p in res]

    def delete(self, name, ids=None, filter=None, wait=True):
        """Deletes the points with these ids (missing ones are ignored), or
        every point matching ``filter``; exactly one of the two. Returns an
        UpdateResult."""
        res = self._call("POST", self._coll(name, "/points/delete"),
                         _selector(ids, filter), params=_wait(wait))
        return UpdateResult.from_json(res)

    def set_payload(self, name, payload, ids=None, filter=None, wait=True):
        """Merges ``payload``'s top-level keys into the payload of the
        selected points (by ``ids`` or ``filter``, exactly one); other keys
        stay. Ids that do not exist are skipped. Returns an UpdateResult."""
        body = _selector(ids, filter)
        body["payload"] = payload
        res = self._call("POST", self._coll(name, "/points/payload"), body,
                         params=_wait(wait))
        return UpdateResult.from_json(res)

    def overwrite_payload(self, name, payload, ids=None, filter=None,
                          wait=True):
        """Replaces the whole payload of the selected points (by ``ids`` or
        ``filter``) with ``payload``. Returns an UpdateResult."""
        body = _selector(ids, filter)
        body["payload"] = payload
        res = self._call("PUT", self._coll(name, "/points/payload"), body,
                         params=_wait(wait))
        return UpdateResult.from_json(res)

    def delete_payload(self, name, keys, ids=None, filter=None, wait=True):
        """Removes ``keys`` (dotted paths allowed: ``"meta.x"``) from the
        payload of the selected points (by ``ids`` or ``filter``); absent
        keys are ignored. Returns an UpdateResult."""
        if isinstance(keys, str):
            keys = [keys]
        body = _selector(ids, filter)
        body["keys"] = list(keys)
        res = self._call("POST", self._coll(name, "/points/payload/delete"),
                         body, params=_wait(wait))
        return UpdateResult.from_json(res)

    def clear_payload(self, name, ids=None, filter=None, wait=True):
        """Sets the payload of the selected points (by ``ids`` or
        ``filter``) to ``{}``. Returns an UpdateResult."""
        res = self._call("POST", self._coll(name, "/points/payload/clear"),
                         _selector(ids, filter), params=_wait(wait))
        return UpdateResult.from_json(res)

    def scroll(self, name, filter=None, batch=256, with_payload=True,
               with_vector=False, offset=None, consistency=None):
        """An iterator over every point (matching ``filter``, if given) in
        id order (integers ascending, then UUIDs), as :class:`Point`.

        Fetches ``batch`` points per request (``POST …/points/scroll``),
        following ``next_page_offset`` until the server reports no more, so
        it works on collections of any size; points written meanwhile may
        or may not be seen. ``offset``: the first id to return.
        ``with_payload``, ``with_vector``, ``consistency``: as in
        :meth:`retrieve`. Requests are made as the iterator is consumed;
        errors are raised from ``next()``.
        """
        body = {"limit": batch, "with_payload": with_payload,
                "with_vector": with_vector}
        if filter is not None:
            body["filter"] = filter
        if consistency is not None:
            body["consistency"] = consistency
        if offset is not None:
            body["offset"] = _norm_id(offset, "offset")
        path = self._coll(name, "/points/scroll")

        def pages():
            while True:
                res = self._call("POST", path, body)
                points = res["points"]
                for p in points:
                    yield Point.from_json(p)
                nxt = res.get("next_page_offset")
                if nxt is None:
                    return
                # The next page must start after this one: a server that
                # did not advance would otherwise loop forever.
                if not points or \
                        _id_order(nxt) <= _id_order(points[-1]["id"]):
                    raise VectronError(
                        f"scroll: next_page_offset {nxt!r} does not follow "
                        f"the page's last id", 200, "POST", path)
                body["offset"] = nxt

        return pages()

    def count(self, name, filter=None, consistency=None):
        """The number of points (matching ``filter``, if given); exact."""
        body = {"exact": True}
        if filter is not None:
            body["filter"] = filter
        if consistency is not None:
            body["consistency"] = consistency
        res = self._call("POST", self._coll(name, "/points/count"), body)
        return res["count"]
