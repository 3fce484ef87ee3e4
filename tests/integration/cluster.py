"""A Vectron cluster of real processes on loopback, for the fault tests.

``Cluster`` starts N Placement Driver members (``vectron pd``), M workers
(``vectron worker``) and one gateway (``vectron gateway``), each with its
own data directory and log under the test's temporary directory, on free
loopback ports. Processes can be killed (-9), stopped (SIGSTOP), continued
(SIGCONT) and restarted on the same data directory and ports.

Inspection goes through the binary's own tools: ``vectron pd-catalog``
(the PD leader's catalog: nodes, shards, replicas, leaders) and
``vectron replica-dump`` (the points one replica holds, with a CRC32C of
each vector's bytes), so the tests can compare replicas directly.

Rules kept: loopback only, free ports, signals only to the processes
started here (by PID), every wait bounded.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from conftest import (JsonClient, _STARTED, _server_env, free_port)

# Fast failure detection for tests (the defaults suit real networks).
RAFT_ARGS = ["--election-timeout", "600ms", "--heartbeat-interval", "60ms"]
PD_ARGS = ["--node-grace", "2s", "--schedule-interval", "300ms"]
WORKER_ARGS = ["--worker-heartbeat", "200ms", "--request-timeout", "10s"]


# CRC-32C (Castagnoli), as the server's vx_crc32c: replica dumps carry it
# per vector, session tokens end with it.
_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def netns_available():
    """Network namespaces need root and iproute2."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, timeout=20,
                          check=check)


class Netns:
    """A bridge in the root namespace and one namespace per worker, each
    joined to the bridge by a veth pair, on a private /24 that exists only
    inside this test (10.199.N.0/24, N random). partition(i) takes worker
    i's link down (it can reach nobody, nobody reaches it); heal(i) brings
    it back. Everything is deleted by close()."""

    def __init__(self):
        self.tag = f"{os.getpid() % 1000}{random.randrange(100)}"
        self.net = random.randrange(1, 250)
        self.bridge = f"vxb{self.tag}"
        self.host_ip = f"10.199.{self.net}.1"
        self.spaces = {}
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add(self, i):
        ns, host_if, ns_if = f"vxn{self.tag}_{i}", f"vxh{self.tag}{i}", \
            f"vxp{self.tag}{i}"
        _ip("netns", "add", ns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("link", "set", host_if, "master", self.bridge)
        _ip("link", "set", host_if, "up")
        addr = f"10.199.{self.net}.{10 + i}"
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev",
            ns_if)
        _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        self.spaces[i] = (ns, host_if, addr)
        return ns, addr

    def partition(self, i):
        _ip("link", "set", self.spaces[i][1], "down")

    def heal(self, i):
        _ip("link", "set", self.spaces[i][1], "up")

    def close(self):
        for ns, host_if, _ in self.spaces.values():
            _ip("link", "del", host_if, check=False)
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", self.bridge, check=False)


class Proc:
    """One cluster process: its command line, log, and lifecycle."""

    def __init__(self, binary, name, args, log_dir, prefix=()):
        self.binary = str(binary)
        self.name = name
        self.prefix = list(prefix)
        self.args = args
        self.log_path = Path(log_dir) / f"{name}.log"
        self.proc = None
        self.stopped = False

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        assert not self.running, f"{self.name} already running"
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start at {time.time():.3f}\n".encode())
            log.flush()
            # `ip netns exec` execs the binary: the PID is vectron's.
            self.proc = subprocess.Popen(
                [*self.prefix, self.binary, *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, env=_server_env())
        _STARTED[self.proc.pid] = self.proc
        self.stopped = False

    def _reap(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        finally:
            _STARTED.pop(self.proc.pid, None)

    def kill9(self):
        if self.running:
            if self.stopped:
                os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGKILL)
            self._reap(10)
        self.stopped = False

    def term(self):
        if self.running:
            if self.stopped:
                os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self._reap(30)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.stopped = False

    def pause(self):
        assert self.running
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        if self.running and self.stopped:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.stopped = False

    def tail(self, n=40):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return f"--- {self.name} log ---\n" + "\n".join(lines[-n:])


class Cluster:
    """netns: every worker in its own network namespace (Netns), the PD
    members and the gateway on the bridge's address, so that a worker can
    be partitioned away; else everything on 127.0.0.1."""

    def __init__(self, binary, root, pds=3, workers=3, netns=False,
                 gateway_args=()):
        self.binary = Path(binary)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.netns = Netns() if netns else None
        self.host = self.netns.host_ip if netns else "127.0.0.1"
        h = self.host
        self.pd_raft = [free_port() for _ in range(pds)]
        self.pd_rpc = [free_port() for _ in range(pds)]
        self.pd_list = ",".join(f"{h}:{p}" for p in self.pd_rpc)
        peers = ",".join(f"{i + 1}={h}:{p}"
                         for i, p in enumerate(self.pd_raft))
        self.pds = []
        for i in range(pds):
            self.pds.append(Proc(binary, f"pd{i + 1}", [
                "pd", "--node-id", str(i + 1),
                "--data", str(self.root / f"pd{i + 1}"),
                "--raft-listen", f"{h}:{self.pd_raft[i]}",
                "--rpc-listen", f"{h}:{self.pd_rpc[i]}",
                "--pd-peers", peers, *RAFT_ARGS, *PD_ARGS], self.root))
        self.workers = {}
        self.worker_rpc = {}
        self.worker_ns = {}
        for i in range(workers):
            self.add_worker(i + 1, start=False)
        self.http_port = free_port()
        self.gateway = Proc(binary, "gateway", [
            "gateway", "--pd", self.pd_list,
            "--http-listen", f"{h}:{self.http_port}",
            "--request-timeout", "20s", *gateway_args], self.root)
        self.api = JsonClient(h, self.http_port, timeout=60)

    def add_worker(self, node_id, start=True):
        raft, rpc = free_port(), free_port()
        addr, prefix = "127.0.0.1", ()
        if self.netns:
            ns, addr = self.netns.add(node_id)
            prefix = ("ip", "netns", "exec", ns)
        self.worker_rpc[node_id] = f"{addr}:{rpc}"
        self.worker_ns[node_id] = prefix
        w = Proc(self.binary, f"worker{node_id}", [
            "worker", "--node-id", str(node_id),
            "--data", str(self.root / f"worker{node_id}"),
            "--raft-listen", f"{addr}:{raft}",
            "--rpc-listen", f"{addr}:{rpc}",
            "--pd", self.pd_list, *RAFT_ARGS, *WORKER_ARGS], self.root,
            prefix=prefix)
        self.workers[node_id] = w
        if start:
            w.start()
        return w

    def all_procs(self):
        return [*self.pds, *self.workers.values(), self.gateway]

    def start(self, timeout=60):
        for p in self.all_procs():
            p.start()
        self.wait_ready(timeout)
        self.wait_workers(len(self.workers), timeout)

    def stop(self):
        self.api.close()
        try:
            for p in [self.gateway, *self.workers.values(), *self.pds]:
                p.term()
        finally:
            if self.netns:
                self.netns.close()

    def partition(self, node_id):
        self.netns.partition(node_id)

    def heal(self, node_id):
        self.netns.heal(node_id)

    def replica_write(self, node_id, group, point_id, dim, timeout=30,
                      epoch=None):
        """Writes one point straight to one replica, from inside its own
        namespace (naming placement epoch `epoch` if given); True if that
        replica acknowledged it. The refusal's text is in
        self.last_replica_write_error."""
        out = subprocess.run(
            [*self.worker_ns[node_id], str(self.binary), "replica-write",
             self.worker_rpc[node_id], str(group), str(point_id), str(dim),
             *([str(epoch)] if epoch is not None else [])],
            capture_output=True, timeout=timeout)
        self.last_replica_write_error = out.stderr.decode(errors="replace")
        return out.returncode == 0

    def tails(self):
        return "\n".join(p.tail() for p in self.all_procs())

    # -- inspection ----------------------------------------------------
    def catalog(self, timeout=10):
        out = subprocess.run([str(self.binary), "pd-catalog", self.pd_list],
                             capture_output=True, timeout=timeout)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def replica(self, node_id, group, timeout=30):
        """{id: (vector_crc, payload)} of one replica, or None if it does
        not answer."""
        out = subprocess.run([*self.worker_ns.get(node_id, ()),
                              str(self.binary), "replica-dump",
                              self.worker_rpc[node_id], str(group)],
                             capture_output=True, timeout=timeout)
        if out.returncode != 0:
            return None
        pts = {}
        for line in out.stdout.decode().splitlines()[:-1]:
            o = json.loads(line)
            pts[o["id"]] = (o["vector_crc"], json.dumps(o["payload"],
                                                        sort_keys=True))
        return pts

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                st, _ = self.api.get("/readyz", retry=False, timeout=2)
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("gateway not ready\n" + self.tails())

    def wait_workers(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cat = self.catalog()
            if cat and sum(1 for x in cat["nodes"] if x["up"]) >= n:
                return cat
            time.sleep(0.2)
        raise AssertionError(f"{n} workers not up\n" + self.tails())

    def shards(self, collection):
        cat = self.catalog()
        for c in (cat or {}).get("collections", []):
            if c["name"] == collection:
                return c["shards"]
        return []

    def wait_leaders(self, collection, timeout=60, avoid=()):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sh = self.shards(collection)
            if sh and all(s["leader"] and s["leader"] not in avoid
                          for s in sh):
                return sh
            time.sleep(0.2)
        raise AssertionError(f"no leaders for {collection}\n" + self.tails())

    def pd_leader(self, timeout=30):
        """Index (0-based) of the PD member that answers as leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, port in enumerate(self.pd_rpc):
                if not self.pds[i].running or self.pds[i].stopped:
                    continue
                out = subprocess.run(
                    [str(self.binary), "pd-catalog", f"{self.host}:{port}"],
                    capture_output=True, timeout=10)
                if out.returncode == 0:
                    return i
            time.sleep(0.2)
        raise AssertionError("no PD leader\n" + self.tails())

    def converged(self, collection, expect, timeout=60):
        """Waits until every replica of every shard holds exactly the same
        points (ids, vector CRCs, payloads) and their union contains every
        id of expect ({id: vector_crc}); returns the merged view."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            merged = {}
            ok = True
            for s in self.shards(collection):
                views = []
                for node in s["replicas"]:
                    v = self.replica(node, s["group"])
                    if v is None:
                        ok = False
                        last = f"replica {node} of {s['group']} unreachable"
                        break
                    views.append(v)
                if not ok:
                    break
                if any(v != views[0] for v in views[1:]):
                    ok = False
                    sizes = [len(v) for v in views]
                    last = f"group {s['group']} replicas differ: {sizes}"
                    break
                merged.update(views[0])
            if ok:
                missing = [i for i, crc in expect.items()
                           if i not in merged or merged[i][0] != crc]
                if not missing:
                    return merged
                last = f"{len(missing)} acknowledged points missing or " \
                       f"changed, e.g. {missing[:5]}"
            time.sleep(0.5)
        raise AssertionError(f"replicas did not converge: {last}\n" +
                             self.tails())
