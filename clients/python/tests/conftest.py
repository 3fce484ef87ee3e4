"""Test harness for the Python SDK: a live `vectron serve` and fake servers.

* ``vectron_server`` (session): starts ``vectron serve --data TMP
  --http-listen 127.0.0.1:P --raft-listen 127.0.0.1:Q`` (the binary is
  ``$VECTRON_BIN``, default ``build/vectron`` at the repository root; a
  missing binary FAILS the tests), waits for ``GET /readyz`` (bounded), and
  at the end sends SIGTERM to that PID and waits (bounded, then SIGKILL).
  ``make_server`` starts extra servers with other flags inside one test.
* ``client``: a ``vectron.Client`` on the session server.
* ``fake_http``: a scripted HTTP server on 127.0.0.1 for what a healthy
  server does not do (503/504/500 answers, non-JSON bodies, dropped
  keep-alive connections).

The SDK is imported from the source tree (clients/python), not from an
installed copy. Only loopback addresses are used, every wait is bounded,
and only processes started here are signalled, by PID.

Run:  /usr/bin/python3 -m pytest clients/python/tests -q
"""

import atexit
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SDK_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_DIR.parents[1]
sys.path.insert(0, str(SDK_DIR))

import vectron  # noqa: E402  (from the source tree, above)

READY_TIMEOUT = float(os.environ.get("VECTRON_READY_TIMEOUT", "60"))
STOP_TIMEOUT = 30.0

# Harness variables, removed from the server's environment (it reads
# VECTRON_<KNOB> variables as configuration).
HARNESS_ENV = ("VECTRON_BIN", "VECTRON_READY_TIMEOUT")

_STARTED = {}  # pid -> Popen, for cleanup after an interrupted run


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


def _binary():
    return Path(os.environ.get("VECTRON_BIN",
                               str(REPO_ROOT / "build" / "vectron")))


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `vectron serve` process on its own data directory."""

    def __init__(self, binary, base, extra_args=()):
        self.binary = str(binary)
        self.base = Path(base)
        self.http_port = free_port()
        self.raft_port = free_port()
        for _ in range(20):
            if self.raft_port != self.http_port:
                break
            self.raft_port = free_port()
        self.extra_args = list(extra_args)
        self.log_path = self.base / "server.log"
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    def start(self):
        self.base.mkdir(parents=True, exist_ok=True)
        cmd = [self.binary, "serve", "--data", str(self.base / "data"),
               "--http-listen", f"127.0.0.1:{self.http_port}",
               "--raft-listen", f"127.0.0.1:{self.raft_port}",
               *self.extra_args]
        env = {k: v for k, v in os.environ.items() if k not in HARNESS_ENV}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         cwd=str(self.base), env=env)
        _STARTED[self.proc.pid] = self.proc
        self.wait_ready()

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer"
        for _ in range(int(READY_TIMEOUT / 0.02) + 10):
            rc = self.proc.poll()
            if rc is not None:
                _STARTED.pop(self.proc.pid, None)
                raise AssertionError(f"vectron exited with status {rc} "
                                     f"before it was ready\n{self.tail()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                              timeout=2)
            try:
                conn.request("GET", "/readyz")
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            finally:
                conn.close()
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        raise AssertionError(f"vectron not ready within {READY_TIMEOUT:.0f}s "
                             f"(last probe: {last})\n{self.tail()}")

    def stop(self):
        """SIGTERM to our PID, bounded wait (then SIGKILL); returns the exit
        status, or None if it had to be killed."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            rc = None
        _STARTED.pop(self.proc.pid, None)
        return rc

    def tail(self, lines=40):
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError as e:
            return f"(no server log: {e})"
        return "--- server log ---\n" + "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def vectron_bin():
    path = _binary()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"vectron binary not found or not executable: {path}. "
                    f"Build it (make build) or set VECTRON_BIN; a missing "
                    f"server fails these tests rather than skipping them.",
                    pytrace=False)
    return path


def _stop_checked(srv):
    rc = srv.stop()
    if rc != 0:
        pytest.fail(f"vectron (pid {srv.proc.pid}) exited with status {rc} "
                    f"after SIGTERM\n{srv.tail()}", pytrace=False)


@pytest.fixture(scope="session")
def vectron_server(vectron_bin, tmp_path_factory):
    srv = Server(vectron_bin, tmp_path_factory.mktemp("vectron"))
    srv.start()
    yield srv
    _stop_checked(srv)


@pytest.fixture
def make_server(vectron_bin, tmp_path):
    made = []

    def make(*extra_args):
        srv = Server(vectron_bin, tmp_path / f"srv{len(made)}", extra_args)
        made.append(srv)
        srv.start()
        return srv

    yield make
    for srv in made:
        _stop_checked(srv)


@pytest.fixture
def client(vectron_server):
    c = vectron.Client(vectron_server.url, timeout=30)
    yield c
    c.close()


_counter = [0]


@pytest.fixture
def coll_name(client):
    """A fresh collection name; the collection is dropped afterwards."""
    _counter[0] += 1
    name = f"t{_counter[0]}_{os.getpid()}"
    yield name
    try:
        client.delete_collection(name)
    except vectron.VectronError:
        pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "vectron_server" in item.fixturenames:
        srv = item.funcargs.get("vectron_server")
        if srv is not None:
            report.sections.append(("vectron server log", srv.tail()))


# ---------------------------------------------------------------------------
# Fake HTTP server


class FakeHTTP:
    """A scripted HTTP/1.1 server on 127.0.0.1.

    ``routes[(method, path)] = (status, body_bytes, headers)`` or a callable
    ``handler -> (status, body, headers)``; the default is 404. Every
    request is recorded in ``requests`` as (method, path, headers dict,
    body bytes). ``close_after_response``: close each connection after its
    response without announcing it (a keep-alive connection the server
    dropped). ``connections`` counts accepted connections.
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.close_after_response = False
        self.connections = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                fake.connections += 1
                super().setup()

            def log_message(self, *args):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fake.requests.append((self.command, self.path,
                                      {k.lower(): v for k, v in
                                       self.headers.items()}, body))
                path = self.path.split("?", 1)[0]
                spec = fake.routes.get((self.command, path))
                if spec is None:
                    spec = (404, b'{"status":{"error":"not found"}}', {})
                if callable(spec):
                    spec = spec(self)
                status, payload, headers = spec
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
                if fake.close_after_response:
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def json_route(self, method, path, status, obj, headers=None):
        self.routes[(method, path)] = (status, json.dumps(obj).encode(),
                                       dict(headers or {}))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fake_http():
    srv = FakeHTTP()
    yield srv
    srv.close()
