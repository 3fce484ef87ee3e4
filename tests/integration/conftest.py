"""Integration-test harness for `vectron serve`.

What this provides
------------------
* ``VectronServer``: starts the real ``vectron serve`` process on loopback
  (``--data DIR --http-listen 127.0.0.1:P --raft-listen 127.0.0.1:Q``), waits
  for ``GET /readyz`` to answer 200 within a deadline, and stops it with
  SIGTERM (bounded wait, then SIGKILL) or SIGKILL (``kill9``).  ``restart``
  starts it again on the same data directory and ports.  Its stdout and
  stderr go to ``server.log`` in the test's temporary directory; when a test
  fails, the tail of that log is attached to the pytest report.
* ``JsonClient``: a small keep-alive JSON client over ``http.client`` with
  timeouts; every call returns ``(http_status, parsed_json_or_None)``.
* Fixtures: ``vectron_bin`` (the binary; a missing binary FAILS every test,
  because a missing server is a broken build), ``server`` / ``api`` (one
  server per test module), ``make_server`` (extra servers inside one test).
* Small helpers shared by the test modules: float32 rounding, exact vector
  comparison, error-envelope checks.

How to run
----------
    make build                       # produces build/vectron
    python3 -m pytest tests/integration -q

Use Debian's python3 (``/usr/bin/python3``; it has python3-pytest).  The
binary path can be overridden with ``VECTRON_BIN=/path/to/vectron``;
``VECTRON_READY_TIMEOUT`` (seconds, default 60) bounds each wait for
/readyz.  The kill -9 tests read ``VECTRON_DURABILITY_KILLS`` (default 20),
``VECTRON_DURABILITY_SEED`` and ``VECTRON_DURABILITY_TIMEOUT``; see
test_durability.py.  The server reads ``VECTRON_<KNOB>`` variables as
configuration, so these harness variables are removed from its
environment; any other ``VECTRON_*`` variable reaches it unchanged.

Rules the harness keeps: it only binds and connects 127.0.0.1, picks free
ports by binding port 0, signals only the processes it started (by PID),
and every wait is bounded in time.
"""

import atexit
import http.client
import json
import math
import os
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "build" / "vectron"

READY_TIMEOUT = float(os.environ.get("VECTRON_READY_TIMEOUT", "60"))
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0

# Every process this harness started and has not yet reaped, by PID, so an
# interrupted run does not leave servers behind.
_STARTED = {}
# Every server object created in this session (for log tails on failure).
_SERVERS = []


def _kill_leftovers():
    for pid, proc in list(_STARTED.items()):
        if proc.poll() is None:
            try:
                os.kill(pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        _STARTED.pop(pid, None)


atexit.register(_kill_leftovers)


# Environment variables that configure this harness, not the server. The
# server reads VECTRON_<KNOB> from its environment, so they are removed from
# the child's environment.
HARNESS_ENV = ("VECTRON_BIN", "VECTRON_READY_TIMEOUT",
               "VECTRON_DURABILITY_KILLS", "VECTRON_DURABILITY_SEED",
               "VECTRON_DURABILITY_TIMEOUT")


def _server_env():
    return {k: v for k, v in os.environ.items() if k not in HARNESS_ENV}


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_free_ports():
    a = free_port()
    for _ in range(20):
        b = free_port()
        if b != a:
            return a, b
    raise RuntimeError("could not find two distinct free ports")


# ---------------------------------------------------------------------------
# HTTP client


class JsonClient:
    """Keep-alive HTTP/1.1 client for one host:port speaking JSON.

    request() returns (status, body) where body is the parsed JSON value, or
    None when the response body is not JSON (the raw bytes are kept in
    last_raw, the headers in last_headers).  Connection errors propagate as
    OSError / http.client.HTTPException, except that one stale keep-alive
    connection is retried once on a fresh connection when retry=True.
    """

    def __init__(self, host, port, timeout=REQUEST_TIMEOUT):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.last_raw = b""
        self.last_headers = {}

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def _connect(self, timeout):
        self.conn = http.client.HTTPConnection(self.host, self.port,
                                               timeout=timeout)
        self.conn.connect()
        # http.client writes headers and body in two sends; without
        # TCP_NODELAY, Nagle + delayed ACK add ~40 ms to every request.
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, method, path, body=None, *, raw=None, headers=None,
                timeout=None, retry=True):
        """Sends body (a JSON-serialisable value) or raw (bytes/str, sent
        verbatim) and returns (status, parsed JSON or None)."""
        if raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
        elif body is not None:
            data = json.dumps(body).encode()
        else:
            data = None
        hdrs = {"Accept": "application/json"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        t = self.timeout if timeout is None else timeout
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            reused = self.conn is not None
            try:
                if self.conn is None:
                    self._connect(t)
                else:
                    self.conn.timeout = t
                    if self.conn.sock is not None:
                        self.conn.sock.settimeout(t)
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw_body = resp.read()
                status = resp.status
                self.last_headers = {k.lower(): v
                                     for k, v in resp.getheaders()}
                if resp.will_close:
                    self.close()
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError, http.client.BadStatusLine):
                self.close()
                if reused and attempt + 1 < attempts:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            self.last_raw = raw_body
            try:
                parsed = json.loads(raw_body) if raw_body else None
            except ValueError:
                parsed = None
            return status, parsed
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)

    def ok(self, method, path, body=None, **kw):
        """Performs a request that must succeed; returns its "result"."""
        status, js = self.request(method, path, body, **kw)
        assert status == 200 and isinstance(js, dict) \
            and js.get("status") == "ok" and "result" in js, (
                f"{method} {path} -> HTTP {status}: "
                f"{self.last_raw[:2000]!r}\nrequest body: "
                f"{json.dumps(body)[:1000] if body is not None else ''}")
        return js["result"]


# ---------------------------------------------------------------------------
# Server process


class ServerError(AssertionError):
    pass


class VectronServer:
    """One `vectron serve` process on a data directory (see module doc)."""

    def __init__(self, binary, data_dir, log_dir, extra_args=(),
                 ready_timeout=READY_TIMEOUT):
        self.binary = str(binary)
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_dir) / "server.log"
        self.extra_args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.http_port, self.raft_port = two_free_ports()
        self.proc = None
        self.term_sent = False
        self.starts = 0
        self.created_in = os.environ.get("PYTEST_CURRENT_TEST", "")
        self._clients = []
        self.api = self.client()
        _SERVERS.append(self)

    # -- clients ---------------------------------------------------------
    def client(self, timeout=REQUEST_TIMEOUT):
        c = JsonClient("127.0.0.1", self.http_port, timeout=timeout)
        self._clients.append(c)
        return c

    def _drop_connections(self):
        for c in self._clients:
            c.close()

    # -- lifecycle -------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def command(self):
        return [self.binary, "serve", "--data", str(self.data_dir),
                "--http-listen", f"127.0.0.1:{self.http_port}",
                "--raft-listen", f"127.0.0.1:{self.raft_port}",
                *self.extra_args]

    def start(self, wait=True):
        """Starts the process (same data dir and ports as before) and, when
        wait is true, waits until /readyz answers 200."""
        if self.running:
            raise ServerError(f"server pid {self.pid} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        cmd = self.command()
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts} at {time.time():.3f}: "
                      f"{' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         cwd=str(self.log_path.parent),
                                         env=_server_env())
        _STARTED[self.proc.pid] = self.proc
        self.term_sent = False
        if wait:
            return self.wait_ready()
        return 0.0

    def wait_ready(self, timeout=None):
        """Polls GET /readyz until 200; returns the seconds it took. Fails
        if the process exits or the deadline passes."""
        timeout = self.ready_timeout if timeout is None else timeout
        t0 = time.monotonic()
        deadline = t0 + timeout
        probe = JsonClient("127.0.0.1", self.http_port, timeout=2.0)
        last = "no answer"
        try:
            for _ in range(int(timeout / 0.02) + 10):
                rc = self.proc.poll()
                if rc is not None:
                    self._reap()
                    raise ServerError(
                        f"vectron exited with status {rc} before it was "
                        f"ready ({self.describe()})\n{self.tail()}")
                try:
                    status, _ = probe.get("/readyz", retry=False)
                    if status == 200:
                        return time.monotonic() - t0
                    last = f"HTTP {status}"
                except (OSError, http.client.HTTPException) as e:
                    last = repr(e)
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.02)
        finally:
            probe.close()
        raise ServerError(f"vectron not ready within {timeout:.0f}s (last "
                          f"probe: {last}; {self.describe()})\n{self.tail()}")

    def _reap(self):
        if self.proc is not None:
            _STARTED.pop(self.proc.pid, None)

    def kill9(self):
        """SIGKILL, then reap (bounded)."""
        self._drop_connections()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise ServerError(f"pid {self.proc.pid} survived SIGKILL for 10s")
        self._reap()
        return rc

    def sigterm(self):
        """Sends SIGTERM once per start and returns at once (wait_exit)."""
        if self.proc is not None and self.proc.poll() is None \
                and not self.term_sent:
            self.term_sent = True
            os.kill(self.proc.pid, signal.SIGTERM)

    def terminate(self, timeout=STOP_TIMEOUT):
        """SIGTERM (unless already sent) and wait up to timeout seconds.
        Returns the exit status, or None if it had to be killed with
        SIGKILL after the timeout."""
        self._drop_connections()
        if self.proc is None:
            return None
        self.sigterm()
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit after sigterm(); as terminate."""
        if self.proc is None:
            return None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            with open(self.log_path, "ab") as log:
                log.write(f"===== harness: no exit {timeout:.0f}s after "
                          f"SIGTERM, sent SIGKILL\n".encode())
            return None
        self._reap()
        return rc

    def restart(self, kill=False):
        """Stops (SIGTERM, or SIGKILL when kill is true) and starts again on
        the same data directory; returns seconds until ready."""
        if self.running:
            self.kill9() if kill else self.terminate()
        return self.start()

    def stop(self):
        """Teardown: SIGTERM with a bounded wait; returns a problem
        description or None."""
        if not self.running:
            self._reap()
            return None
        rc = self.terminate()
        if rc is None:
            return (f"vectron pid did not exit within {STOP_TIMEOUT:.0f}s "
                    f"of SIGTERM")
        if rc != 0:
            return f"vectron exited with status {rc} after SIGTERM"
        return None

    # -- diagnostics -----------------------------------------------------
    def describe(self):
        return (f"pid {self.pid}, http 127.0.0.1:{self.http_port}, data "
                f"{self.data_dir}, log {self.log_path}")

    def tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 65536))
                text = f.read().decode("utf-8", "replace")
        except OSError as e:
            return f"(no server log: {e})"
        body = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{body}"


# ---------------------------------------------------------------------------
# pytest wiring


def _binary_path():
    return Path(os.environ.get("VECTRON_BIN", str(DEFAULT_BIN)))


@pytest.fixture(scope="session")
def vectron_bin():
    path = _binary_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"vectron server binary not found or not executable: "
                    f"{path}. Build it first (make build) or set VECTRON_BIN."
                    f" A missing server is a broken build, so this fails "
                    f"rather than skips.", pytrace=False)
    return path


@pytest.fixture(scope="module")
def server(vectron_bin, tmp_path_factory):
    """One server per test module, on its own data directory."""
    base = tmp_path_factory.mktemp("vectron")
    srv = VectronServer(vectron_bin, base / "data", base)
    srv.start()
    yield srv
    problem = srv.stop()
    if problem:
        pytest.fail(f"{problem} ({srv.describe()})\n{srv.tail()}",
                    pytrace=False)


@pytest.fixture(scope="module")
def api(server):
    return server.api


@pytest.fixture
def make_server(vectron_bin, tmp_path):
    """Factory for extra servers inside one test; stops them afterwards."""
    made = []

    def make(extra_args=(), name=None):
        base = tmp_path / (name or f"srv{len(made)}")
        base.mkdir(parents=True, exist_ok=True)
        srv = VectronServer(vectron_bin, base / "data", base,
                            extra_args=extra_args)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        if srv.running:
            srv.terminate()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for srv in _SERVERS:
        if srv.running or item.nodeid in srv.created_in:
            report.sections.append(
                (f"vectron server log ({srv.describe()})", srv.tail()))


# ---------------------------------------------------------------------------
# helpers shared by the test modules


def f32(x):
    """x rounded to the nearest float32 (as a Python float)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f32_bytes(vec):
    return struct.pack(f"<{len(vec)}f", *vec)


def rand_vec(rng, dim, scale=1.0):
    return [f32(rng.uniform(-scale, scale)) for _ in range(dim)]


def vec_equal(sent, got):
    """True when got (floats from the server) is bit-for-bit the float32
    vector sent."""
    if not isinstance(got, list) or len(got) != len(sent):
        return False
    if any(not isinstance(x, (int, float)) or isinstance(x, bool)
           for x in got):
        return False
    return f32_bytes(sent) == f32_bytes(got)


def assert_error(status, body, expect=None, what=""):
    """A 4xx (or exactly `expect`) with Qdrant's error envelope
    {"status": {"error": "non-empty"}, "time": t}."""
    if expect is not None:
        assert status == expect, f"{what}: expected HTTP {expect}, got " \
            f"{status}: {body!r}"
    else:
        assert 400 <= status < 500, f"{what}: expected a 4xx, got " \
            f"{status}: {body!r}"
    assert isinstance(body, dict), f"{what}: error body is not a JSON " \
        f"object: {body!r}"
    st = body.get("status")
    assert isinstance(st, dict) and isinstance(st.get("error"), str) \
        and st["error"].strip(), f"{what}: no status.error string: {body!r}"
    return st["error"]


def l2(a, b):
    return math.sqrt(sum((x - y) * (x - y) for x, y in zip(a, b)))


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def cosine(a, b):
    na = math.sqrt(dot(a, a))
    nb = math.sqrt(dot(b, b))
    if na == 0 or nb == 0:
        return 0.0
    return dot(a, b) / (na * nb)


# Qdrant's score for each distance and whether a higher score is closer.
SCORE = {
    "Euclid": (l2, False),
    "Cosine": (cosine, True),
    "Dot": (dot, True),
}


def create_collection(api, name, dim, distance="Euclid", shards=None,
                      **extra):
    body = {"vectors": {"size": dim, "distance": distance}}
    if shards is not None:
        body["shard_number"] = shards
    body.update(extra)
    return api.ok("PUT", f"/collections/{name}", body)


def upsert(api, name, points, form="points"):
    """points: list of (id, vector, payload-or-None). Returns the result."""
    if form == "points":
        body = {"points": [
            dict({"id": i, "vector": v},
                 **({"payload": p} if p is not None else {}))
            for i, v, p in points]}
    else:
        body = {"batch": {"ids": [i for i, _, _ in points],
                          "vectors": [v for _, v, _ in points],
                          "payloads": [p for _, _, p in points]}}
    res = api.ok("PUT", f"/collections/{name}/points?wait=true", body)
    assert res.get("status") == "completed", res
    return res


def count(api, name, flt=None):
    body = {"exact": True}
    if flt is not None:
        body["filter"] = flt
    res = api.ok("POST", f"/collections/{name}/points/count", body)
    return res["count"]


def scroll_all(api, name, flt=None, page=100, with_payload=False,
               with_vector=False, max_pages=10000):
    """Every point via scroll pagination; fails on a repeated id or a loop."""
    out = []
    seen = set()
    offset = None
    for _ in range(max_pages):
        body = {"limit": page, "with_payload": with_payload,
                "with_vector": with_vector}
        if flt is not None:
            body["filter"] = flt
        if offset is not None:
            body["offset"] = offset
        res = api.ok("POST", f"/collections/{name}/points/scroll", body)
        pts = res["points"]
        assert len(pts) <= page, f"scroll returned {len(pts)} > limit {page}"
        for p in pts:
            key = json.dumps(p["id"])
            assert key not in seen, f"scroll returned id {p['id']} twice"
            seen.add(key)
            out.append(p)
        offset = res.get("next_page_offset")
        if offset is None:
            return out
        assert pts, "scroll returned no points but a next_page_offset"
    raise AssertionError(f"scroll did not finish within {max_pages} pages")


def same_json(a, b):
    """Strict JSON equality: 5 != 5.0, True != 1, key order ignored."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, float) and isinstance(b, float):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y)
                                        for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k])
                                            for k in a)
    return False


def id_key(pid):
    """A hashable, canonical form of a point id (int, or lower-case UUID)."""
    if isinstance(pid, bool):
        raise AssertionError(f"point id is a bool: {pid!r}")
    if isinstance(pid, int):
        return pid
    if isinstance(pid, str):
        return str(uuid.UUID(pid))
    raise AssertionError(f"point id has unexpected type: {pid!r}")
