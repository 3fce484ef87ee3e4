"""The client verbs of the `vectron` binary against a live `vectron serve`.

What it checks
--------------
* ``vectron import`` of each format (fvecs, JSONL with integer, UUID and
  missing ids, CSV with component columns, a ``vector`` column, payload
  typing), with ``--create`` / ``--distance`` and without, ``--batch``,
  ``--wait``; the points, vectors and payloads that arrive are compared
  with the input (scroll).
* Progress in non-tty mode: periodic ``import: ...%`` lines on stderr.
* Resume: an import of a large JSONL file is killed by PID mid-way (after
  its state file records a batch), rerun, and then every point is there
  exactly once with its payload; a changed input refuses to resume;
  ``--restart`` starts over.
* Malformed input: ``file:line`` in the message, exit status 1, nothing
  crashes (bad JSON, wrong dimension, bad CSV quoting, truncated fvecs).
* ``vectron search`` (table and ``--json``; by vector and by id, filter,
  ef, payloads), ``vectron collections list|create|delete|info``,
  ``vectron status`` and the ``GET /cluster`` / ``GET
  /collections/{name}/cluster`` endpoints it reads.
* Errors: server errors passed through to stderr with a non-zero exit, an
  unreachable server, usage errors (exit 2), ``--help`` of every verb.
"""

import json
import os
import signal
import struct
import subprocess
import time
import uuid

import pytest

from conftest import free_port, scroll_all, count, vec_equal

TIMEOUT = 120


def run(vectron_bin, *args, url=None, check=None, env=None, timeout=TIMEOUT):
    cmd = [str(vectron_bin), *args]
    if url is not None:
        cmd += ["--url", url]
    e = dict(os.environ)
    e.pop("VECTRON_URL", None)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=e, stdin=subprocess.DEVNULL)
    if check is not None:
        assert p.returncode == check, (
            f"{cmd} -> {p.returncode}\nstdout: {p.stdout}\nstderr: "
            f"{p.stderr}")
    return p


@pytest.fixture(scope="module")
def url(server):
    return f"http://127.0.0.1:{server.http_port}"


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def by_id(points):
    return {json.dumps(p["id"]): p for p in points}


# ---------------------------------------------------------------- formats


def test_import_jsonl_ids_payloads(vectron_bin, url, api, tmp_path):
    u = str(uuid.UUID(int=12345))
    recs = [{"id": 7, "vector": [1, 2, 3], "payload": {"a": "x", "n": 5}},
            {"id": u, "vector": [0.5, -1.25, 3e-3], "payload": None},
            {"id": 18446744073709551615, "vector": [1, 0, 0],
             "payload": {"nested": {"k": [1, 2.5, None, True]}}}]
    path = tmp_path / "a.jsonl"
    write_jsonl(path, recs)
    p = run(vectron_bin, "import", "-c", "j1", "--create", "--distance",
            "Euclid", "--batch", "2", str(path), url=url, check=0)
    assert "imported 3 points into j1" in p.stdout
    pts = by_id(scroll_all(api, "j1", with_payload=True, with_vector=True))
    assert set(pts) == {"7", json.dumps(u), "18446744073709551615"}
    assert pts["7"]["payload"] == {"a": "x", "n": 5}
    assert pts["7"]["vector"] == [1, 2, 3]
    assert vec_equal([0.5, -1.25, 3e-3], pts[json.dumps(u)]["vector"])
    assert pts[json.dumps(u)]["payload"] == {}
    assert pts["18446744073709551615"]["payload"] == \
        {"nested": {"k": [1, 2.5, None, True]}}
    info = api.ok("GET", "/collections/j1")
    assert info["config"]["params"]["vectors"] == {"size": 3,
                                                    "distance": "Euclid"}
    # The state file is gone after a complete import.
    assert not list(tmp_path.glob("*.import-state"))


def test_import_jsonl_sequential_ids(vectron_bin, url, api, tmp_path):
    path = tmp_path / "seq.ndjson"
    with open(path, "w") as f:
        for i in range(25):
            f.write(json.dumps({"vector": [i, 1]}) + "\n")
            if i == 10:
                f.write("\n   \n")   # blank lines are skipped
    run(vectron_bin, "import", "-c", "seq", "--create", "--batch", "7",
        "--wait", str(path), url=url, check=0)
    pts = scroll_all(api, "seq", with_vector=True)
    assert [p["id"] for p in pts] == list(range(25))
    assert api.ok("GET", "/collections/seq")["status"] == "green"


def test_import_fvecs(vectron_bin, url, api, tmp_path):
    path = tmp_path / "v.fvecs"
    vecs = [[float(i), float(i) / 4, -1.0, 2.5] for i in range(50)]
    with open(path, "wb") as f:
        for v in vecs:
            f.write(struct.pack("<i4f", 4, *v))
    run(vectron_bin, "import", "-c", "fv", "--create", "--distance", "Dot",
        "--batch", "16", str(path), url=url, check=0)
    pts = scroll_all(api, "fv", with_vector=True)
    assert len(pts) == 50
    for p in pts:
        assert p["vector"] == vecs[p["id"]]


def test_import_csv(vectron_bin, url, api, tmp_path):
    path = tmp_path / "c.csv"
    u = str(uuid.UUID(int=99))
    path.write_text(
        "id,v0,v1,name,price,flag,zip\n"
        "1,0.5,2,\"a \"\"b\"\", c\",3.5,true,007\n"
        "2,1,1,,-7,false,\n"
        f"{u},1e3,0,plain,18446744073709551615,x,10\n")
    run(vectron_bin, "import", "-c", "csv1", "--create", "--distance",
        "Euclid", str(path), url=url, check=0)
    pts = by_id(scroll_all(api, "csv1", with_payload=True, with_vector=True))
    assert pts["1"]["payload"] == {"name": 'a "b", c', "price": 3.5,
                                   "flag": True, "zip": "007"}
    assert pts["1"]["vector"] == [0.5, 2]
    assert pts["2"]["payload"] == {"price": -7, "flag": False}
    assert pts[json.dumps(u)]["payload"] == {
        "name": "plain", "price": 18446744073709551615, "flag": "x",
        "zip": 10}
    # A "vector" column and no id column: sequential ids; --format given.
    path2 = tmp_path / "c2.txt"
    path2.write_text('label,vector\ncat,"[1,2,3]"\ndog,"[4,5,6]"\n')
    run(vectron_bin, "import", "-c", "csv2", "--create", "--format", "csv",
        "--distance", "Euclid", str(path2), url=url, check=0)
    pts = by_id(scroll_all(api, "csv2", with_payload=True, with_vector=True))
    assert pts["0"]["payload"] == {"label": "cat"}
    assert pts["1"]["vector"] == [4, 5, 6]


def test_import_into_existing_collection(vectron_bin, url, api, tmp_path):
    run(vectron_bin, "collections", "create", "ex", "--dim", "2",
        "--shards", "2", url=url, check=0)
    path = tmp_path / "e.jsonl"
    write_jsonl(path, [{"id": i, "vector": [i + 1, -i]} for i in range(40)])
    run(vectron_bin, "import", "-c", "ex", str(path), url=url, check=0)
    assert count(api, "ex") == 40
    # Dimension mismatch with the existing collection: a clear error.
    write_jsonl(path, [{"vector": [1, 2, 3]}])
    p = run(vectron_bin, "import", "-c", "ex", str(path), url=url, check=1)
    assert "dimension 2" in p.stderr and "have 3" in p.stderr
    # No --create and no collection.
    p = run(vectron_bin, "import", "-c", "nope", str(path), url=url, check=1)
    assert "does not exist" in p.stderr and "--create" in p.stderr


# ---------------------------------------------------------------- progress


def test_progress_lines_when_not_a_tty(vectron_bin, url, tmp_path):
    path = tmp_path / "p.jsonl"
    write_jsonl(path, [{"vector": [i, 1, 2]} for i in range(300)])
    p = run(vectron_bin, "import", "-c", "prog", "--create", "--batch", "50",
            "--parallel", "1", "--progress-interval", "0", str(path),
            url=url, check=0)
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("import: ")
             and "%" in ln]
    # Six batches over two slots: every submit from the third on first
    # collects an acknowledgement, which prints a line; then a final one.
    assert len(lines) >= 3, p.stderr
    assert "\r" not in p.stderr and "\033" not in p.stderr
    assert "100.0%" in lines[-1] and "300 points" in lines[-1]
    assert "points/s" in lines[0] and "ETA" in lines[0]
    pts = [int(ln.split("%")[1].split()[0]) for ln in lines]
    assert pts == sorted(set(pts)), lines    # increasing, no repeats
    # --quiet: none.
    p = run(vectron_bin, "import", "-c", "prog", "--quiet", str(path),
            url=url, check=0)
    assert p.stderr == ""


# ---------------------------------------------------------------- resume


def test_resume_after_kill(vectron_bin, url, api, tmp_path):
    n, dim = 30000, 64
    path = tmp_path / "big.jsonl"
    with open(path, "w") as f:
        for i in range(n):
            vec = [((i * 31 + k * 7) % 1000) / 10 for k in range(dim)]
            f.write(json.dumps({"vector": vec, "payload": {"i": i}}) + "\n")
    state = tmp_path / "big-c.big.jsonl.import-state"
    cmd = [str(vectron_bin), "import", "-c", "big-c", "--create", "--batch",
           "200", "--url", url, str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if state.exists() and "records=" in state.read_text():
                recs = int(state.read_text().split("records=")[1].split()[0])
                if recs >= 2000:
                    break
            time.sleep(0.005)
        assert proc.poll() is None, "the import finished before the kill: " \
            "make the file bigger"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    done = int(state.read_text().split("records=")[1].split()[0])
    assert 0 < done < n
    assert count(api, "big-c") >= done
    p = run(vectron_bin, "import", "-c", "big-c", "--create", "--batch",
            "200", str(path), url=url, check=0)
    assert f"resuming from {state}" in p.stderr
    assert f"{done} records already imported" in p.stderr
    assert f"imported {n - done} points" in p.stdout
    assert not state.exists()
    assert count(api, "big-c") == n
    pts = scroll_all(api, "big-c", with_payload=True, page=5000)
    assert [p["id"] for p in pts] == list(range(n))
    assert all(p["payload"] == {"i": p["id"]} for p in pts)


def test_server_error_keeps_the_acknowledged_prefix(vectron_bin, url, api,
                                                   tmp_path):
    # Batch 7 of 12 (lines 61..70) holds a zero vector, which a Cosine
    # collection refuses; 4 requests in flight. The state must end exactly
    # before that batch, whatever the order the others were answered in.
    path = tmp_path / "z.jsonl"
    recs = [{"vector": [1, i + 1]} for i in range(120)]
    recs[65] = {"vector": [0, 0]}
    write_jsonl(path, recs)
    state = tmp_path / "zc.z.jsonl.import-state"
    p = run(vectron_bin, "import", "-c", "zc", "--create", "--batch", "10",
            "--parallel", "4", str(path), url=url, check=1)
    assert f"batch starting at {path}:61: HTTP 400" in p.stderr, p.stderr
    assert "zero vector" in p.stderr
    assert "records=60\n" in state.read_text()
    # The rerun resumes at line 61 and fails there again.
    p = run(vectron_bin, "import", "-c", "zc", "--batch", "10", str(path),
            url=url, check=1)
    assert "60 records already imported" in p.stderr
    assert f"{path}:61: HTTP 400" in p.stderr
    # Fixed input: not resumed silently; --restart loads everything.
    recs[65] = {"vector": [1, 66]}
    write_jsonl(path, recs)
    run(vectron_bin, "import", "-c", "zc", str(path), url=url, check=1)
    run(vectron_bin, "import", "-c", "zc", "--restart", "--parallel", "3",
        str(path), url=url, check=0)
    assert count(api, "zc") == 120
    assert not state.exists()


def test_changed_input_does_not_resume(vectron_bin, url, api, tmp_path):
    path = tmp_path / "ch.jsonl"
    write_jsonl(path, [{"vector": [i, 2]} for i in range(10)])
    state = tmp_path / "chc.ch.jsonl.import-state"
    # A state as an interrupted run leaves it, then the file changes.
    state.write_text("vectron-import-state 1\ninput=%s\ncollection=chc\n"
                     "format=jsonl\nsize=1\nmtime=1.000000000\nrecords=5\n"
                     "offset=1\nline=5\n" % path.resolve())
    p = run(vectron_bin, "import", "-c", "chc", "--create", str(path),
            url=url, check=1)
    assert "changed since the interrupted import" in p.stderr
    assert "--restart" in p.stderr
    run(vectron_bin, "import", "-c", "chc", "--create", "--restart",
        str(path), url=url, check=0)
    assert count(api, "chc") == 10
    assert not state.exists()
    # --state-dir puts the state elsewhere (and a bad one fails cleanly).
    sd = tmp_path / "states"
    sd.mkdir()
    run(vectron_bin, "import", "-c", "chc", "--state-dir", str(sd),
        str(path), url=url, check=0)
    p = run(vectron_bin, "import", "-c", "chc", "--state-dir",
            str(tmp_path / "missing"), str(path), url=url, check=1)
    assert "missing" in p.stderr


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("name,text,where,what", [
    ("bad.jsonl", '{"vector":[1,2]}\n{"vector":[1,2\n', ":2:", "invalid JSON"),
    ("dim.jsonl", '{"vector":[1,2]}\n\n{"vector":[1,2,3]}\n', ":3:",
     "3 components"),
    ("nan.jsonl", '{"vector":[1,NaN]}\n', ":1:", "invalid JSON"),
    ("big.jsonl", '{"vector":[1,1e300]}\n', ":1:", "float range"),
    ("key.jsonl", '{"vector":[1],"vectr":[2]}\n', ":1:", "unknown field"),
    ("id.jsonl", '{"id":-1,"vector":[1]}\n', ":1:", "id"),
    ("pl.jsonl", '{"vector":[1],"payload":[1]}\n', ":1:", "payload"),
    ("q.csv", 'v0,v1\n1,2\n"1,2\n', ":3:", "unterminated quote"),
    ("n.csv", 'v0,v1\n1,x\n', ":2:", "not a number"),
    ("f.csv", 'v0,v1\n1,2,3\n', ":2:", "3 fields"),
    ("h.csv", 'a,b\n1,2\n', ":1:", "no vector column"),
])
def test_malformed_input(vectron_bin, url, tmp_path, name, text, where,
                         what):
    path = tmp_path / name
    path.write_text(text)
    p = run(vectron_bin, "import", "-c", "bad-" + name.replace(".", "-"),
            "--create", str(path), url=url, check=1)
    assert f"{path}{where}" in p.stderr, p.stderr
    assert what in p.stderr, p.stderr
    assert p.stderr.splitlines()[-1].startswith(f"vectron import: {path}")


def test_malformed_fvecs(vectron_bin, url, tmp_path):
    path = tmp_path / "t.fvecs"
    path.write_bytes(struct.pack("<i2f", 2, 1.0, 2.0) + struct.pack("<i", 2)
                     + b"\x00\x00")
    p = run(vectron_bin, "import", "-c", "tf", "--create", str(path),
            url=url, check=1)
    assert "vector 2" in p.stderr and "truncated" in p.stderr
    path.write_bytes(struct.pack("<i", -5) + b"junk")
    p = run(vectron_bin, "import", "-c", "tf", "--create", str(path),
            url=url, check=1)
    assert "out of range" in p.stderr


def test_import_usage_errors(vectron_bin, url, tmp_path):
    path = tmp_path / "x.dat"
    path.write_text("{}\n")
    p = run(vectron_bin, "import", "-c", "u", str(path), url=url, check=2)
    assert "--format" in p.stderr
    p = run(vectron_bin, "import", str(path), url=url, check=2)
    assert "--collection" in p.stderr
    p = run(vectron_bin, "import", "-c", "u", "--batch", "0", str(path),
            url=url, check=2)
    p = run(vectron_bin, "import", "-c", "u", str(tmp_path / "none.jsonl"),
            url=url, check=1)
    assert "none.jsonl" in p.stderr and "No such file" in p.stderr
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    p = run(vectron_bin, "import", "-c", "u", str(empty), url=url, check=1)
    assert "no records" in p.stderr


# ---------------------------------------------------------------- search


def test_search(vectron_bin, url, api, tmp_path):
    path = tmp_path / "s.jsonl"
    write_jsonl(path, [{"id": i, "vector": [i, 0],
                        "payload": {"even": i % 2 == 0, "i": i}}
                       for i in range(1, 21)])
    run(vectron_bin, "import", "-c", "srch", "--create", "--distance",
        "Euclid", str(path), url=url, check=0)
    p = run(vectron_bin, "search", "-c", "srch", "--vector", "[3.2, 0]",
            "--limit", "3", url=url, check=0)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["RANK", "ID", "SCORE"]
    assert [ln.split()[1] for ln in lines[1:]] == ["3", "4", "2"]
    p = run(vectron_bin, "search", "-c", "srch", "--id", "10", "-k", "2",
            "--with-payload", "--ef", "64", "--filter",
            '{"must":[{"key":"even","match":{"value":true}}]}', url=url,
            check=0)
    rows = [ln.split(None, 3) for ln in p.stdout.splitlines()[1:]]
    assert [r[1] for r in rows] == ["8", "12"] or \
        [r[1] for r in rows] == ["12", "8"]
    assert json.loads(rows[0][3])["even"] is True
    p = run(vectron_bin, "search", "-c", "srch", "--vector", "[1,0]",
            "--json", "--exact", url=url, check=0)
    js = json.loads(p.stdout)
    assert js["status"] == "ok" and js["result"]["points"][0]["id"] == 1
    # Errors: passed through from the server, exit 1.
    p = run(vectron_bin, "search", "-c", "srch", "--vector", "[1,2,3]",
            url=url, check=1)
    assert p.stderr.startswith("vectron search: HTTP 400: ")
    assert "dimension" in p.stderr
    p = run(vectron_bin, "search", "-c", "none", "--vector", "[1]",
            url=url, check=1)
    assert "HTTP 404" in p.stderr and "none" in p.stderr
    p = run(vectron_bin, "search", "-c", "srch", "--vector", "[1,",
            url=url, check=1)
    assert "--vector" in p.stderr
    p = run(vectron_bin, "search", "-c", "srch", url=url, check=2)
    p = run(vectron_bin, "search", "-c", "srch", "--vector", "[1,0]",
            "--id", "1", url=url, check=2)


# ------------------------------------------------------------ collections


def test_collections(vectron_bin, url, api):
    run(vectron_bin, "collections", "create", "cc", "--dim", "8",
        "--distance", "Dot", "--shards", "3", "--m", "8", "--ef-construct",
        "50", "--quantization", "int8", "--read-consistency", "strong",
        url=url, check=0)
    info = api.ok("GET", "/collections/cc")
    assert info["config"]["params"]["shard_number"] == 3
    assert info["config"]["params"]["vectors"] == {"size": 8,
                                                    "distance": "Dot"}
    assert info["config"]["hnsw_config"]["m"] == 8
    assert info["config"]["hnsw_config"]["ef_construct"] == 50
    assert info["config"]["quantization_config"] is not None
    p = run(vectron_bin, "collections", "list", url=url, check=0)
    names = p.stdout.split()
    assert names[0] == "NAME" and "cc" in names
    p = run(vectron_bin, "collections", "list", "--json", url=url, check=0)
    assert {"name": "cc"} in json.loads(p.stdout)["result"]["collections"]
    p = run(vectron_bin, "collections", "info", "cc", url=url, check=0)
    table = dict(ln.split(None, 1) for ln in p.stdout.splitlines()
                 if ln.split()[0] in ("dimension", "distance", "shards"))
    assert table == {"dimension": "8", "distance": "Dot", "shards": "3"}
    p = run(vectron_bin, "collections", "info", "cc", "--json", url=url,
            check=0)
    assert json.loads(p.stdout)["result"]["config"]["params"][
        "shard_number"] == 3
    p = run(vectron_bin, "collections", "create", "cc", "--dim", "8",
            url=url, check=1)
    assert p.stderr.startswith("vectron collections create: HTTP 4")
    assert "cc" in p.stderr
    run(vectron_bin, "collections", "delete", "cc", url=url, check=0)
    assert not api.ok("GET", "/collections/cc/exists")["exists"]
    p = run(vectron_bin, "collections", "info", "cc", url=url, check=1)
    assert "HTTP 404" in p.stderr
    p = run(vectron_bin, "collections", "delete", "cc", url=url, check=1)
    assert "collection cc does not exist" in p.stderr
    p = run(vectron_bin, "collections", "create", "x", url=url, check=2)
    assert "--dim" in p.stderr
    run(vectron_bin, "collections", "frobnicate", url=url, check=2)
    run(vectron_bin, "collections", "create", "bad name!", "--dim", "2",
        url=url, check=1)


# ---------------------------------------------------------------- status


def test_cluster_endpoints_and_status(vectron_bin, url, api, tmp_path):
    path = tmp_path / "st.jsonl"
    write_jsonl(path, [{"id": i, "vector": [i, 1, 2, 3]} for i in range(100)])
    run(vectron_bin, "collections", "create", "st", "--dim", "4", "--shards",
        "2", url=url, check=0)
    run(vectron_bin, "import", "-c", "st", str(path), url=url, check=0)
    cl = api.ok("GET", "/cluster")
    assert cl["status"] == "enabled" and cl["peer_id"] == 1
    assert cl["raft_info"]["role"] == "Leader"
    assert cl["nodes"] == [{"id": 1, "address": cl["peers"]["1"]["uri"],
                            "state": "Up"}]
    col = [c for c in cl["collections"] if c["name"] == "st"][0]
    assert col["shard_count"] == 2 and len(col["shards"]) == 2
    assert sum(s["points"] for s in col["shards"]) == 100
    for s in col["shards"]:
        assert s["leader"] == 1 and s["role"] == "Leader"
        assert s["replicas"] == [1] and s["state"] == "Active"
        assert s["applied_index"] >= 1 and s["disk_bytes"] > 0
        assert s["index_memory_bytes"] > 0
        assert s["commit_index"] >= s["applied_index"]
    cc = api.ok("GET", "/collections/st/cluster")
    assert cc["shard_count"] == 2 and cc["remote_shards"] == [] \
        and cc["shard_transfers"] == []
    assert sorted(s["shard_id"] for s in cc["local_shards"]) == [0, 1]
    assert sum(s["points_count"] for s in cc["local_shards"]) == 100
    st, body = api.get("/collections/zzz/cluster")
    assert st == 404
    p = run(vectron_bin, "status", url=url, check=0)
    rows = [ln.split() for ln in p.stdout.splitlines()]
    assert rows[0][:3] == ["NODE", "ADDRESS", "STATE"]
    srows = [r for r in rows if r and r[0] == "st"]
    assert len(srows) == 2
    assert sum(int(r[8]) for r in srows) == 100
    p = run(vectron_bin, "status", "--json", url=url, check=0)
    assert json.loads(p.stdout)["result"]["peer_id"] == 1


# ---------------------------------------------------------------- errors


def test_unreachable_server_and_env_url(vectron_bin, url, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    for args in (["status"], ["collections", "list"],
                 ["search", "-c", "x", "--vector", "[1]"]):
        p = run(vectron_bin, *args, url=dead, check=1)
        assert dead in p.stderr and "onnect" in p.stderr, p.stderr
    path = tmp_path / "u.jsonl"
    write_jsonl(path, [{"vector": [1]}])
    p = run(vectron_bin, "import", "-c", "x", str(path), url=dead, check=1)
    assert dead in p.stderr
    # VECTRON_URL is the default --url.
    p = run(vectron_bin, "collections", "list", env={"VECTRON_URL": url},
            check=0)
    assert p.stdout.startswith("NAME")
    run(vectron_bin, "status", url="ftp://x", check=1)


def test_help(vectron_bin):
    p = run(vectron_bin, "--help", check=0)
    for verb in ("import", "search", "collections", "status", "serve"):
        assert f"  {verb}" in p.stdout
    for verb, opts in (("import", ["--collection", "--create", "--distance",
                                   "--batch", "--wait", "--format",
                                   "--state-dir", "--url"]),
                       ("search", ["--vector", "--id", "--limit", "--filter",
                                   "--ef", "--with-payload", "--json"]),
                       ("collections", ["--dim", "--distance", "--shards",
                                        "--m", "--ef-construct"]),
                       ("status", ["--json", "--url"])):
        p = run(vectron_bin, verb, "--help", check=0)
        for o in opts:
            assert o in p.stdout, (verb, o)
    run(vectron_bin, "import", "--bogus", check=2)
    run(vectron_bin, "nosuchverb", check=2)
