/*
 * test_raft.c - unit tests of the raft module (src/raft/): a one-member
 * group that elects itself, applies 1000 commands in order with the right
 * log indexes (synchronous and pipelined submissions) and replays them
 * after a close and reopen; three nodes in one process (each its own loop
 * thread and port on 127.0.0.1) forming a group, replicating in the same
 * order everywhere, refusing writes on followers with a leader hint, and
 * transferring leadership; two groups multiplexed on the same ports
 * without mixing; a stopped leader (2 of 3 keep going) and its restart on
 * the same data directory catching up through a snapshot after the log
 * was compacted; membership changes (add, promote, remove); handshakes
 * that are bad, for unknown groups or truncated being dropped while a good
 * one is kept.
 *
 * Each test runs in its own process (Criterion) with its own directory
 * under /tmp, binds only 127.0.0.1 (ephemeral ports), and every wait is
 * bounded, so a failure cannot hang CTest. Set VECTRON_TEST_LOG=1 to see
 * the module's log.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "raft/raft_int.h"
#include "raft/raft_node.h"

static char dir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    /* A dead peer must not kill the process (see raft_node.h). */
    signal(SIGPIPE, SIG_IGN);
    if (getenv("VECTRON_TEST_LOG")) {
        vectron_log_set(vectron_log_stderr, NULL, VECTRON_LOG_DEBUG);
    } else {
        vectron_log_set(vectron_log_stderr, NULL, VECTRON_LOG_ERROR);
    }
    snprintf(dir, sizeof dir, "/tmp/vectron-raft-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(raft, .init = setup, .fini = teardown, .timeout = 100);

/* ------------------------------------------------------------ time */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------- test FSM */

/* Records every command applied (value, index), keeps a hash chain over
 * the values in order, and snapshots {count, hash, index} as its
 * manifest. Callbacks run on a loop thread; the test reads under mu. */
typedef struct tfsm {
    pthread_mutex_t mu;
    uint64_t count; /* commands applied, including via a snapshot */
    uint64_t hash;
    uint64_t last_index;
    uint64_t values[2048];
    uint64_t indexes[2048];
    size_t n; /* entries applied directly (not through a snapshot) */
    unsigned restores;
    uint64_t max_restore_index;
    unsigned snapshots;
    int errors; /* index not increasing, manifest mismatch */
} tfsm;

static void tfsm_init(tfsm *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
}

static void t_apply(void *ctx, uint64_t index, const void *buf, size_t len,
                    int64_t *result)
{
    tfsm *f = ctx;
    uint64_t v = len == 8 ? vx_get_u64(buf) : UINT64_MAX;

    pthread_mutex_lock(&f->mu);
    if (index <= f->last_index || len != 8) {
        f->errors++;
    }
    f->last_index = index;
    f->count++;
    f->hash = vx_mix64(f->hash ^ v);
    if (f->n < 2048) {
        f->values[f->n] = v;
        f->indexes[f->n] = index;
        f->n++;
    }
    *result = (int64_t)f->count;
    pthread_mutex_unlock(&f->mu);
}

static int t_snapshot(void *ctx, uint64_t index, void **buf, size_t *len,
                      vectron_error *err)
{
    tfsm *f = ctx;
    uint8_t *p = vx_malloc(24);

    if (!p) {
        return vx_err(err, VECTRON_NOMEM, "manifest");
    }
    pthread_mutex_lock(&f->mu);
    vx_put_u64(p, f->count);
    vx_put_u64(p + 8, f->hash);
    vx_put_u64(p + 16, index);
    f->snapshots++;
    pthread_mutex_unlock(&f->mu);
    *buf = p;
    *len = 24;
    return 0;
}

static int t_restore(void *ctx, uint64_t index, const void *buf, size_t len,
                     vectron_error *err)
{
    tfsm *f = ctx;
    const uint8_t *p = buf;

    if (len != 24) {
        return vx_err(err, VECTRON_CORRUPT, "manifest of %zu bytes", len);
    }
    pthread_mutex_lock(&f->mu);
    if (vx_get_u64(p + 16) != index) {
        f->errors++;
    }
    f->count = vx_get_u64(p);
    f->hash = vx_get_u64(p + 8);
    f->last_index = index;
    f->restores++;
    if (index > f->max_restore_index) {
        f->max_restore_index = index;
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static vxr_fsm fsm_of(tfsm *f)
{
    vxr_fsm v = {f, t_apply, t_snapshot, t_restore};
    return v;
}

static void tfsm_read(tfsm *f, uint64_t *count, uint64_t *hash)
{
    pthread_mutex_lock(&f->mu);
    *count = f->count;
    *hash = f->hash;
    pthread_mutex_unlock(&f->mu);
}

/* Waits until f has applied at least count commands. */
static bool wait_count(tfsm *f, uint64_t count, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    uint64_t c, h;

    for (;;) {
        tfsm_read(f, &c, &h);
        if (c >= count) {
            return true;
        }
        if (now_ms() > deadline) {
            return false;
        }
        sleep_ms(10);
    }
}

/* ---------------------------------------------------- node helpers */

static vxr_settings fast_settings(void)
{
    vxr_settings s;
    vxr_settings_default(&s);
    s.election_timeout_ms = 400;
    s.heartbeat_timeout_ms = 40;
    s.connect_retry_ms = 50;
    s.install_snapshot_timeout_ms = 5000;
    return s;
}

static vxr_node *start_node(const char *name, const char *listen,
                            const vxr_settings *s)
{
    char path[128];
    vxr_node_config cfg = {0};
    vectron_error err;
    vxr_node *node = NULL;
    int rc;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    cfg.data_dir = path;
    cfg.listen_address = listen ? listen : "127.0.0.1:0";
    cfg.settings = s;
    rc = vxr_node_start(&cfg, &node, &err);
    cr_assert_eq(rc, 0, "start node %s: %s", name, err.msg);
    return node;
}

static void create_group(vxr_node *node, uint64_t gid, uint64_t member,
                         const vxr_member *members, size_t n, tfsm *f)
{
    vxr_fsm v = fsm_of(f);
    vxr_group_params p = {0};
    vectron_error err;
    int rc;

    p.group_id = gid;
    p.member_id = member;
    p.members = members;
    p.n_members = n;
    p.fsm = &v;
    rc = vxr_group_create(node, &p, &err);
    cr_assert_eq(rc, 0, "create group %llu member %llu: %s",
                 (unsigned long long)gid, (unsigned long long)member, err.msg);
}

/* Waits until one of the n nodes (NULL entries skipped) leads the group
 * and every other one follows that leader. Returns its position. */
static int wait_leader(vxr_node **nodes, int n, uint64_t gid,
                       unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        int leader = -1;
        uint64_t leader_id = 0;
        bool agreed = true;
        vxr_group_info info[8];
        vectron_error err;

        for (int i = 0; i < n; i++) {
            if (!nodes[i]) {
                continue;
            }
            if (vxr_group_status(nodes[i], gid, &info[i], &err) != 0) {
                agreed = false;
                continue;
            }
            if (info[i].state == VXR_STATE_LEADER) {
                leader = i;
                leader_id = info[i].member_id;
            }
        }
        for (int i = 0; i < n && leader >= 0 && agreed; i++) {
            if (nodes[i] && info[i].leader_id != leader_id) {
                agreed = false;
            }
        }
        if (leader >= 0 && agreed) {
            return leader;
        }
        if (now_ms() > deadline) {
            return -1;
        }
        sleep_ms(20);
    }
}

static int apply_u64(vxr_node *node, uint64_t gid, uint64_t v, vxr_result *res)
{
    uint8_t b[8];
    vectron_error err;

    vx_put_u64(b, v);
    return vxr_apply_wait(node, gid, b, 8, 10000, res, &err);
}

/* ------------------------------------------- async completions */

typedef struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t done;
    size_t order_errors;
    uint64_t last_index;
    vxr_result results[1024];
} batch;

typedef struct slot {
    batch *b;
    size_t i;
} slot;

/* Completion callback: runs on the loop thread, only records and
 * signals. */
static void batch_done(void *arg, const vxr_result *res)
{
    slot *s = arg;
    batch *b = s->b;

    pthread_mutex_lock(&b->mu);
    b->results[s->i] = *res;
    if (res->status == 0) {
        if (res->index <= b->last_index) {
            b->order_errors++;
        }
        b->last_index = res->index;
    }
    b->done++;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static bool batch_wait(batch *b, size_t n, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    bool ok;

    pthread_mutex_lock(&b->mu);
    while (b->done < n && now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    }
    ok = b->done >= n;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

static void submit_u64(vxr_node *node, uint64_t gid, uint64_t v, slot *s)
{
    uint8_t buf[8];
    vxr_request rq = {0};
    vectron_error err;
    int rc;

    vx_put_u64(buf, v);
    rq.type = VXR_OP_APPLY;
    rq.group_id = gid;
    rq.buf = buf;
    rq.len = 8;
    rc = vxr_submit(node, &rq, batch_done, s, &err);
    cr_assert_eq(rc, 0, "submit: %s", err.msg);
}

static int simple_op(vxr_node *node, vxr_op_type type, uint64_t gid,
                     uint64_t member, const char *address, int role,
                     vxr_result *res)
{
    vxr_request rq = {0};
    vectron_error err;

    rq.type = type;
    rq.group_id = gid;
    rq.member_id = member;
    rq.address = address;
    rq.role = role;
    return vxr_submit_wait(node, &rq, 20000, res, &err);
}

/* --------------------------------------------------------- tests */

Test(raft, single_member_applies_in_order)
{
    static tfsm f, f2;
    static batch b;
    static slot slots[800];
    vxr_settings s = fast_settings();
    vxr_node *node;
    vxr_member m;
    vxr_result res;
    vxr_group_info info;
    vectron_error err;
    uint64_t prev = 0, count, hash, count2, hash2;
    int rc;

    s.snapshot_threshold = 128;
    s.snapshot_trailing = 16;
    tfsm_init(&f);
    node = start_node("n1", NULL, &s);
    m.id = 1;
    m.address = vxr_node_address(node);
    create_group(node, 1, 1, &m, 1, &f);
    cr_assert_eq(wait_leader(&node, 1, 1, 10000), 0, "no leader");

    /* 200 synchronous applies: result, index and order. */
    for (uint64_t i = 0; i < 200; i++) {
        rc = apply_u64(node, 1, i, &res);
        cr_assert_eq(rc, 0, "apply %llu: %s", (unsigned long long)i,
                     res.error.msg);
        cr_assert_eq(res.status, 0);
        cr_assert_eq(res.value, (int64_t)i + 1, "FSM result");
        cr_assert_gt(res.index, prev, "indexes increase");
        prev = res.index;
        pthread_mutex_lock(&f.mu);
        cr_assert_eq(f.n, i + 1);
        cr_assert_eq(f.values[i], i);
        cr_assert_eq(f.indexes[i], res.index,
                     "the FSM saw index %llu, libraft assigned %llu",
                     (unsigned long long)f.indexes[i],
                     (unsigned long long)res.index);
        pthread_mutex_unlock(&f.mu);
    }

    /* 800 pipelined asynchronous applies. */
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    b.last_index = prev;
    for (size_t i = 0; i < 800; i++) {
        slots[i].b = &b;
        slots[i].i = i;
        submit_u64(node, 1, 200 + i, &slots[i]);
    }
    cr_assert(batch_wait(&b, 800, 30000), "pipelined applies timed out");
    cr_assert_eq(b.order_errors, 0, "completions out of index order");
    pthread_mutex_lock(&f.mu);
    cr_assert_eq(f.n, 1000);
    cr_assert_eq(f.errors, 0);
    for (size_t i = 0; i < 800; i++) {
        cr_assert_eq(b.results[i].status, 0, "apply %zu: %s", i,
                     b.results[i].error.msg);
        cr_assert_eq(f.values[200 + i], 200 + i);
        cr_assert_eq(f.indexes[200 + i], b.results[i].index);
        cr_assert_eq(b.results[i].value, (int64_t)(201 + i));
    }
    cr_assert_gt(f.snapshots, 0, "threshold 128 must have snapshotted");
    pthread_mutex_unlock(&f.mu);

    /* A barrier lands after every apply. */
    rc = simple_op(node, VXR_OP_BARRIER, 1, 0, NULL, 0, &res);
    cr_assert_eq(rc, 0, "barrier: %s", res.error.msg);
    cr_assert_gt(res.index, b.last_index);

    rc = vxr_group_status(node, 1, &info, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(info.state, VXR_STATE_LEADER);
    cr_assert_eq(info.leader_id, 1);
    cr_assert_str_eq(info.leader_address, vxr_node_address(node));
    cr_assert_eq(info.n_voters, 1);
    cr_assert_geq(info.last_applied, res.index);
    cr_assert_geq(info.commit_index, info.last_applied);
    cr_assert_geq(info.term, 1);

    /* Unknown group and bad requests. */
    rc = apply_u64(node, 42, 1, &res);
    cr_assert_eq(rc, VECTRON_NOT_FOUND, "got %s", vxr_status_name(rc));
    {
        vxr_request rq = {0};
        rq.type = VXR_OP_APPLY;
        rq.group_id = 1;
        rc = vxr_submit(node, &rq, batch_done, &slots[0], &err);
        cr_assert_eq(rc, VECTRON_INVALID, "empty command");
    }

    /* Close, then reopen on the same directory with a fresh FSM: the
     * snapshot is restored and the log after it replayed, with
     * RAFT_CANTBOOTSTRAP ignored. */
    rc = simple_op(node, VXR_OP_CLOSE, 1, 0, NULL, 0, &res);
    cr_assert_eq(rc, 0, "close: %s", res.error.msg);
    rc = vxr_group_status(node, 1, &info, &err);
    cr_assert_eq(rc, VECTRON_NOT_FOUND);
    tfsm_init(&f2);
    create_group(node, 1, 1, &m, 1, &f2);
    cr_assert_eq(wait_leader(&node, 1, 1, 10000), 0, "no leader again");
    cr_assert(wait_count(&f2, 1000, 10000), "replay after reopen");
    tfsm_read(&f, &count, &hash);
    tfsm_read(&f2, &count2, &hash2);
    cr_assert_eq(count2, count);
    cr_assert_eq(hash2, hash, "same state after replay");
    pthread_mutex_lock(&f2.mu);
    cr_assert_gt(f2.restores, 0, "restored from the local snapshot");
    cr_assert_eq(f2.errors, 0);
    pthread_mutex_unlock(&f2.mu);
    rc = apply_u64(node, 1, 5000, &res);
    cr_assert_eq(rc, 0, "apply after reopen: %s", res.error.msg);
    cr_assert_eq(res.value, 1001);

    vxr_node_stop(node);
}

static void count_done(void *arg, const vxr_result *res)
{
    batch *b = arg;

    pthread_mutex_lock(&b->mu);
    b->results[b->done++] = *res;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

Test(raft, group_create_errors_and_close)
{
    static tfsm f;
    static batch b;
    vxr_settings s = fast_settings();
    vxr_fsm v;
    vxr_group_params p = {0};
    vxr_member m[2];
    vxr_node *node;
    vectron_error err;
    uint64_t deadline;
    int rc;

    tfsm_init(&f);
    v = fsm_of(&f);
    node = start_node("n", NULL, &s);
    m[0].id = 1;
    m[0].address = vxr_node_address(node);
    m[1].id = 1; /* duplicate */
    m[1].address = "127.0.0.1:1";
    p.group_id = 9;
    p.member_id = 1;
    p.members = m;
    p.n_members = 2;
    p.fsm = &v;

    /* A duplicate member id fails after raft_init: the half-made group is
     * closed through libraft and its id becomes free again. */
    rc = vxr_group_create(node, &p, &err);
    cr_assert_eq(rc, VECTRON_EXISTS, "got %s: %s", vxr_status_name(rc),
                 err.msg);
    p.n_members = 1;
    deadline = now_ms() + 5000;
    do {
        rc = vxr_group_create(node, &p, &err);
    } while (rc == VECTRON_EXISTS && now_ms() < deadline);
    cr_assert_eq(rc, 0, "create after a failed one: %s", err.msg);
    rc = vxr_group_create(node, &p, &err);
    cr_assert_eq(rc, VECTRON_EXISTS, "same group twice");
    p.group_id = 0;
    rc = vxr_group_create(node, &p, &err);
    cr_assert_eq(rc, VECTRON_INVALID);
    cr_assert_eq(wait_leader(&node, 1, 9, 10000), 0);

    /* Asynchronous close: done runs once, after the group is gone. */
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    rc = vxr_group_close(node, 9, count_done, &b, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert(batch_wait(&b, 1, 10000), "close never completed");
    cr_assert_eq(b.results[0].status, 0);
    rc = vxr_group_close(node, 9, count_done, &b, &err);
    cr_assert_eq(rc, 0);
    cr_assert(batch_wait(&b, 2, 10000));
    cr_assert_eq(b.results[1].status, VECTRON_NOT_FOUND);
    vxr_node_stop(node);
}

/* Starts three nodes and a group gid with members mid0+1..mid0+3. */
static void three_nodes(vxr_node **nodes, const vxr_settings *s)
{
    nodes[0] = start_node("a", NULL, s);
    nodes[1] = start_node("b", NULL, s);
    nodes[2] = start_node("c", NULL, s);
}

static void three_member_group(vxr_node **nodes, uint64_t gid, uint64_t mid0,
                               tfsm *fs)
{
    vxr_member m[3];

    for (int i = 0; i < 3; i++) {
        m[i].id = mid0 + (uint64_t)i + 1;
        m[i].address = vxr_node_address(nodes[i]);
    }
    for (int i = 0; i < 3; i++) {
        tfsm_init(&fs[i]);
        create_group(nodes[i], gid, mid0 + (uint64_t)i + 1, m, 3, &fs[i]);
    }
}

static void assert_same_history(tfsm *fs, int n, uint64_t count)
{
    for (int i = 0; i < n; i++) {
        cr_assert(wait_count(&fs[i], count, 15000), "replica %d: %llu < %llu",
                  i, (unsigned long long)fs[i].count,
                  (unsigned long long)count);
    }
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&fs[i].mu);
        cr_assert_eq(fs[i].count, count, "replica %d applied more", i);
        cr_assert_eq(fs[i].hash, fs[0].hash, "replica %d order differs", i);
        cr_assert_eq(fs[i].errors, 0);
        cr_assert_eq(fs[i].n, fs[0].n);
        for (size_t k = 0; k < fs[i].n; k++) {
            cr_assert_eq(fs[i].values[k], fs[0].values[k]);
            cr_assert_eq(fs[i].indexes[k], fs[0].indexes[k]);
        }
        pthread_mutex_unlock(&fs[i].mu);
    }
}

Test(raft, three_nodes_replicate_in_order)
{
    static tfsm fs[3];
    vxr_settings s = fast_settings();
    vxr_node *nodes[3];
    vxr_result res;
    vxr_group_info info;
    vectron_error err;
    int leader, follower, rc;

    three_nodes(nodes, &s);
    three_member_group(nodes, 1, 0, fs);
    leader = wait_leader(nodes, 3, 1, 15000);
    cr_assert_geq(leader, 0, "no leader elected");

    for (uint64_t i = 0; i < 100; i++) {
        rc = apply_u64(nodes[leader], 1, 7000 + i, &res);
        cr_assert_eq(rc, 0, "apply %llu: %s", (unsigned long long)i,
                     res.error.msg);
        cr_assert_eq(res.value, (int64_t)i + 1);
    }
    assert_same_history(fs, 3, 100);

    /* A follower refuses, naming the leader. */
    follower = (leader + 1) % 3;
    rc = apply_u64(nodes[follower], 1, 1, &res);
    cr_assert_eq(rc, VXR_NOT_LEADER, "got %s", vxr_status_name(rc));
    cr_assert_eq(res.status, VXR_NOT_LEADER);
    cr_assert_eq(res.leader_id, (uint64_t)leader + 1);
    cr_assert_str_eq(res.leader_address, vxr_node_address(nodes[leader]));
    cr_assert_str_eq(vxr_status_name(rc), "NOT_LEADER");

    /* Leadership transfer to that follower; writes go there next. */
    rc = simple_op(nodes[leader], VXR_OP_TRANSFER, 1, (uint64_t)follower + 1,
                   NULL, 0, &res);
    cr_assert_eq(rc, 0, "transfer: %s", res.error.msg);
    cr_assert_eq(wait_leader(nodes, 3, 1, 15000), follower);
    rc = apply_u64(nodes[follower], 1, 7100, &res);
    cr_assert_eq(rc, 0, "apply on the new leader: %s", res.error.msg);
    assert_same_history(fs, 3, 101);
    rc = vxr_group_status(nodes[leader], 1, &info, &err);
    cr_assert_eq(rc, 0);
    cr_assert_eq(info.state, VXR_STATE_FOLLOWER);
    cr_assert_eq(info.n_voters, 3);

    for (int i = 0; i < 3; i++) {
        vxr_node_stop(nodes[i]);
    }
}

Test(raft, two_groups_share_ports_without_mixing)
{
    static tfsm g1[3], g2[3];
    static batch b;
    static slot slots[200];
    vxr_settings s = fast_settings();
    vxr_node *nodes[3];
    int l1, l2;

    three_nodes(nodes, &s);
    three_member_group(nodes, 1, 0, g1);
    three_member_group(nodes, 2, 10, g2);
    l1 = wait_leader(nodes, 3, 1, 15000);
    l2 = wait_leader(nodes, 3, 2, 15000);
    cr_assert(l1 >= 0 && l2 >= 0, "no leaders");

    /* Interleaved pipelined writes to both groups. */
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    for (size_t i = 0; i < 100; i++) {
        slots[2 * i].b = &b;
        slots[2 * i].i = 2 * i;
        slots[2 * i + 1].b = &b;
        slots[2 * i + 1].i = 2 * i + 1;
        submit_u64(nodes[l1], 1, 100000 + i, &slots[2 * i]);
        submit_u64(nodes[l2], 2, 200000 + i, &slots[2 * i + 1]);
    }
    cr_assert(batch_wait(&b, 200, 30000), "writes timed out");
    for (size_t i = 0; i < 200; i++) {
        cr_assert_eq(b.results[i].status, 0, "write %zu: %s", i,
                     b.results[i].error.msg);
    }
    assert_same_history(g1, 3, 100);
    assert_same_history(g2, 3, 100);
    for (int r = 0; r < 3; r++) {
        for (size_t k = 0; k < 100; k++) {
            cr_assert_eq(g1[r].values[k], 100000 + k, "group 1 replica %d", r);
            cr_assert_eq(g2[r].values[k], 200000 + k, "group 2 replica %d", r);
        }
    }
    for (int i = 0; i < 3; i++) {
        vxr_node_stop(nodes[i]);
    }
}

Test(raft, stopped_leader_then_restart_catches_up_by_snapshot)
{
    static tfsm fs[3], fresh;
    vxr_settings s = fast_settings();
    vxr_node *nodes[3];
    char address[VXR_ADDRESS_MAX];
    const char *names[3] = {"a", "b", "c"};
    vxr_member m[3];
    vxr_result res;
    uint64_t stopped_at, c, h, c0, h0;
    int leader, leader2, rc;

    s.snapshot_threshold = 16;
    s.snapshot_trailing = 4;
    three_nodes(nodes, &s);
    three_member_group(nodes, 1, 0, fs);
    for (int i = 0; i < 3; i++) {
        m[i].id = (uint64_t)i + 1;
        m[i].address = vxr_node_address(nodes[i]);
    }
    leader = wait_leader(nodes, 3, 1, 15000);
    cr_assert_geq(leader, 0);
    for (uint64_t i = 0; i < 40; i++) {
        rc = apply_u64(nodes[leader], 1, i, &res);
        cr_assert_eq(rc, 0, "apply: %s", res.error.msg);
    }
    assert_same_history(fs, 3, 40);

    /* Stop the leader: the other two elect a new one and keep going. */
    snprintf(address, sizeof address, "%s", vxr_node_address(nodes[leader]));
    m[leader].address = address;
    pthread_mutex_lock(&fs[leader].mu);
    stopped_at = fs[leader].last_index;
    pthread_mutex_unlock(&fs[leader].mu);
    vxr_node_stop(nodes[leader]);
    nodes[leader] = NULL;
    leader2 = wait_leader(nodes, 3, 1, 15000);
    cr_assert_geq(leader2, 0, "no new leader with 2 of 3");
    cr_assert_neq(leader2, leader);
    for (uint64_t i = 40; i < 140; i++) {
        rc = apply_u64(nodes[leader2], 1, i, &res);
        cr_assert_eq(rc, 0, "apply with 2 of 3: %s", res.error.msg);
    }
    for (int i = 0; i < 3; i++) {
        if (i != leader) {
            cr_assert(wait_count(&fs[i], 140, 15000));
        }
    }

    /* Restart on the same directory and port with a fresh FSM: the log
     * it missed was compacted, so the leader sends a snapshot. */
    nodes[leader] = start_node(names[leader], address, &s);
    cr_assert_str_eq(vxr_node_address(nodes[leader]), address);
    tfsm_init(&fresh);
    create_group(nodes[leader], 1, (uint64_t)leader + 1, m, 3, &fresh);
    cr_assert(wait_count(&fresh, 140, 20000), "restarted node behind: %llu",
              (unsigned long long)fresh.count);
    tfsm_read(&fresh, &c, &h);
    tfsm_read(&fs[leader2], &c0, &h0);
    cr_assert_eq(c, 140);
    cr_assert_eq(h, h0, "restarted replica has the same state");
    pthread_mutex_lock(&fresh.mu);
    cr_assert_gt(fresh.max_restore_index, stopped_at,
                 "caught up through an installed snapshot (restore at %llu, "
                 "stopped at %llu)",
                 (unsigned long long)fresh.max_restore_index,
                 (unsigned long long)stopped_at);
    cr_assert_eq(fresh.errors, 0);
    pthread_mutex_unlock(&fresh.mu);

    /* And it follows new writes. */
    leader2 = wait_leader(nodes, 3, 1, 15000);
    cr_assert_geq(leader2, 0);
    rc = apply_u64(nodes[leader2], 1, 999, &res);
    cr_assert_eq(rc, 0, "%s", res.error.msg);
    cr_assert(wait_count(&fresh, 141, 10000));
    tfsm_read(&fresh, &c, &h);
    tfsm_read(&fs[leader2], &c0, &h0);
    cr_assert_eq(h, h0);

    for (int i = 0; i < 3; i++) {
        vxr_node_stop(nodes[i]);
    }
}

Test(raft, membership_add_promote_transfer_remove)
{
    static tfsm fa, fb;
    vxr_settings s = fast_settings();
    vxr_node *nodes[2];
    vxr_member m;
    vxr_result res;
    vxr_group_info info;
    vectron_error err;
    int rc;

    nodes[0] = start_node("a", NULL, &s);
    nodes[1] = start_node("b", NULL, &s);
    tfsm_init(&fa);
    tfsm_init(&fb);
    m.id = 1;
    m.address = vxr_node_address(nodes[0]);
    create_group(nodes[0], 5, 1, &m, 1, &fa);
    create_group(nodes[1], 5, 2, NULL, 0, &fb); /* joins later */
    cr_assert_eq(wait_leader(nodes, 1, 5, 10000), 0);
    for (uint64_t i = 0; i < 10; i++) {
        rc = apply_u64(nodes[0], 5, i, &res);
        cr_assert_eq(rc, 0, "%s", res.error.msg);
    }

    rc = simple_op(nodes[0], VXR_OP_ADD, 5, 2, vxr_node_address(nodes[1]), 0,
                   &res);
    cr_assert_eq(rc, 0, "add: %s", res.error.msg);
    rc = simple_op(nodes[0], VXR_OP_ASSIGN, 5, 2, NULL, VXR_ROLE_VOTER, &res);
    cr_assert_eq(rc, 0, "assign: %s", res.error.msg);
    for (uint64_t i = 10; i < 20; i++) {
        rc = apply_u64(nodes[0], 5, i, &res);
        cr_assert_eq(rc, 0, "%s", res.error.msg);
    }
    cr_assert(wait_count(&fb, 20, 10000), "new member behind");
    {
        uint64_t ca, ha, cb, hb;
        tfsm_read(&fa, &ca, &ha);
        tfsm_read(&fb, &cb, &hb);
        cr_assert_eq(ca, cb);
        cr_assert_eq(ha, hb);
    }
    rc = vxr_group_status(nodes[0], 5, &info, &err);
    cr_assert_eq(rc, 0);
    cr_assert_eq(info.n_voters, 2);

    rc = simple_op(nodes[0], VXR_OP_TRANSFER, 5, 2, NULL, 0, &res);
    cr_assert_eq(rc, 0, "transfer: %s", res.error.msg);
    cr_assert_eq(wait_leader(nodes, 2, 5, 10000), 1);
    rc = simple_op(nodes[1], VXR_OP_REMOVE, 5, 1, NULL, 0, &res);
    cr_assert_eq(rc, 0, "remove: %s", res.error.msg);
    rc = vxr_group_status(nodes[1], 5, &info, &err);
    cr_assert_eq(rc, 0);
    cr_assert_eq(info.n_members, 1);
    cr_assert_eq(info.n_voters, 1);
    rc = apply_u64(nodes[1], 5, 77, &res);
    cr_assert_eq(rc, 0, "apply alone: %s", res.error.msg);
    cr_assert_eq(res.value, 21);
    /* A second change of an absent member is refused. */
    rc = simple_op(nodes[1], VXR_OP_REMOVE, 5, 1, NULL, 0, &res);
    cr_assert_neq(rc, 0);

    vxr_node_stop(nodes[0]);
    vxr_node_stop(nodes[1]);
}

/* ------------------------------------------------ handshake tests */

Test(raft, handshake_codec)
{
    uint8_t buf[VXR_HS_MAX];
    vxr_handshake hs;
    vectron_error err;
    size_t len = 0, total = 0;

    cr_assert_eq(vxr_handshake_encode(7, 3, "127.0.0.1:4000", buf, &len, &err),
                 0);
    cr_assert_eq(len, VXR_HS_FIXED + 14 + 4);
    cr_assert_eq(vxr_handshake_check_fixed(buf, &total, &err), 0);
    cr_assert_eq(total, len);
    cr_assert_eq(vxr_handshake_decode(buf, len, &hs, &err), 0, "%s", err.msg);
    cr_assert_eq(hs.group_id, 7);
    cr_assert_eq(hs.sender_id, 3);
    cr_assert_str_eq(hs.address, "127.0.0.1:4000");
    /* Every single-bit flip is detected. */
    for (size_t bit = 0; bit < len * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_neq(vxr_handshake_decode(buf, len, &hs, &err), 0,
                      "flip of bit %zu accepted", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t n = 0; n < len; n++) {
        cr_assert_neq(vxr_handshake_decode(buf, n, &hs, &err), 0);
    }
    cr_assert_eq(vxr_handshake_encode(0, 3, "x:1", buf, &len, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vxr_handshake_encode(1, 3, "", buf, &len, &err),
                 VECTRON_INVALID);
}

static int dial(const char *address)
{
    struct sockaddr_storage sa;
    vectron_error err;
    int fd;

    cr_assert_eq(vxr_parse_address(address, &sa, &err), 0);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(
        connect(fd, (struct sockaddr *)&sa, sizeof(struct sockaddr_in)), 0,
        "connect: %s", strerror(errno));
    return fd;
}

/* True if the peer closes the connection within timeout_ms. */
static bool closed_within(int fd, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    char c[64];

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        uint64_t now = now_ms();
        int rc;

        if (now >= deadline) {
            return false;
        }
        rc = poll(&p, 1, (int)(deadline - now));
        if (rc == 0) {
            return false;
        }
        if (rc < 0) {
            continue;
        }
        ssize_t n = recv(fd, c, sizeof c, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
    }
}

static void send_all(int fd, const void *buf, size_t len)
{
    cr_assert_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

Test(raft, bad_handshakes_are_rejected)
{
    static tfsm f;
    vxr_settings s = fast_settings();
    vxr_node *node;
    vxr_member m;
    vxr_result res;
    uint8_t buf[VXR_HS_MAX + 64];
    vectron_error err;
    size_t len;
    int fd, rc;

    tfsm_init(&f);
    node = start_node("n", NULL, &s);
    m.id = 1;
    m.address = vxr_node_address(node);
    create_group(node, 7, 1, &m, 1, &f);
    cr_assert_eq(wait_leader(&node, 1, 7, 10000), 0);

    /* Garbage. */
    fd = dial(vxr_node_address(node));
    memset(buf, 0xA5, 64);
    send_all(fd, buf, 64);
    cr_assert(closed_within(fd, 5000), "garbage accepted");
    close(fd);

    /* A good handshake with one bit of the CRC flipped. */
    cr_assert_eq(vxr_handshake_encode(7, 9, "127.0.0.1:1", buf, &len, &err), 0);
    buf[len - 1] ^= 1;
    fd = dial(vxr_node_address(node));
    send_all(fd, buf, len);
    cr_assert(closed_within(fd, 5000), "bad CRC accepted");
    close(fd);

    /* A wrong version. */
    cr_assert_eq(vxr_handshake_encode(7, 9, "127.0.0.1:1", buf, &len, &err), 0);
    buf[4] = 99;
    fd = dial(vxr_node_address(node));
    send_all(fd, buf, len);
    cr_assert(closed_within(fd, 5000), "bad version accepted");
    close(fd);

    /* A valid handshake for a group this node does not host. */
    cr_assert_eq(vxr_handshake_encode(99, 9, "127.0.0.1:1", buf, &len, &err),
                 0);
    fd = dial(vxr_node_address(node));
    send_all(fd, buf, len);
    cr_assert(closed_within(fd, 5000), "unknown group accepted");
    close(fd);

    /* A valid handshake for group 7 is handed to libraft and kept open. */
    cr_assert_eq(vxr_handshake_encode(7, 9, "127.0.0.1:1", buf, &len, &err), 0);
    fd = dial(vxr_node_address(node));
    send_all(fd, buf, len);
    cr_assert_not(closed_within(fd, 500), "valid handshake dropped");
    close(fd);

    /* The group is unaffected. */
    rc = apply_u64(node, 7, 1, &res);
    cr_assert_eq(rc, 0, "%s", res.error.msg);

    /* A half-sent handshake is dropped when the node stops. */
    fd = dial(vxr_node_address(node));
    send_all(fd, buf, 5);
    cr_assert_not(closed_within(fd, 100));
    vxr_node_stop(node);
    cr_assert(closed_within(fd, 5000), "half-open connection left open");
    close(fd);
}

Test(raft, lost_quorum_timeout_then_shutdown)
{
    static tfsm fs[3];
    static batch b;
    static slot sl;
    vxr_settings s = fast_settings();
    vxr_node *nodes[3];
    vxr_result res;
    int leader, rc;

    s.election_timeout_ms = 1000;
    s.heartbeat_timeout_ms = 100;
    three_nodes(nodes, &s);
    three_member_group(nodes, 3, 0, fs);
    leader = wait_leader(nodes, 3, 3, 15000);
    cr_assert_geq(leader, 0);
    rc = apply_u64(nodes[leader], 3, 1, &res);
    cr_assert_eq(rc, 0, "%s", res.error.msg);
    for (int i = 0; i < 3; i++) {
        if (i != leader) {
            vxr_node_stop(nodes[i]);
            nodes[i] = NULL;
        }
    }

    /* No quorum: the entry cannot commit; the wait gives up, the request
     * stays in flight. */
    {
        uint8_t cmd[8];
        vectron_error err;
        vx_put_u64(cmd, 2);
        rc = vxr_apply_wait(nodes[leader], 3, cmd, 8, 150, &res, &err);
    }
    cr_assert_eq(rc, VXR_TIMEOUT, "got %s", vxr_status_name(rc));
    cr_assert_eq(res.status, VXR_TIMEOUT);

    /* An asynchronous request in flight completes exactly once when the
     * node stops, with an unknown outcome. */
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    sl.b = &b;
    sl.i = 0;
    submit_u64(nodes[leader], 3, 3, &sl);
    vxr_node_stop(nodes[leader]);
    pthread_mutex_lock(&b.mu);
    cr_assert_eq(b.done, 1);
    cr_assert(b.results[0].status == VXR_SHUTDOWN ||
                  b.results[0].status == VXR_LEADERSHIP_LOST ||
                  b.results[0].status == VXR_NOT_LEADER,
              "got %s", vxr_status_name(b.results[0].status));
    pthread_mutex_unlock(&b.mu);
}

/* Records the length and a checksum of every entry applied. */
typedef struct lenfsm {
    pthread_mutex_t mu;
    size_t n;
    size_t lens[256];
    uint32_t crcs[256];
    int bad;
} lenfsm;

static void l_apply(void *ctx, uint64_t index, const void *buf, size_t len,
                    int64_t *result)
{
    lenfsm *f = ctx;
    (void)index;
    pthread_mutex_lock(&f->mu);
    if (f->n < 256) {
        f->lens[f->n] = len;
        f->crcs[f->n] = vx_crc32c(0, buf, len);
        f->n++;
    } else {
        f->bad++;
    }
    *result = 0;
    pthread_mutex_unlock(&f->mu);
}

static int l_snapshot(void *ctx, uint64_t index, void **buf, size_t *len,
                      vectron_error *err)
{
    (void)ctx;
    (void)index;
    (void)buf;
    (void)len;
    return vx_err(err, VECTRON_UNSUPPORTED, "no snapshots in this test");
}

static int l_restore(void *ctx, uint64_t index, const void *buf, size_t len,
                     vectron_error *err)
{
    (void)ctx;
    (void)index;
    (void)buf;
    (void)len;
    return vx_err(err, VECTRON_UNSUPPORTED, "no snapshots in this test");
}

/* libraft 0.15 cannot reload closed segments holding entries whose length
 * is not a multiple of 8; vxr frames every entry (raft-transport.md, "Log
 * entries"). 150 entries of 1..1938 bytes (every length mod 8) fill
 * segments that close, then the node restarts and must replay every one,
 * byte for byte. */
Test(raft, entries_of_every_length_survive_a_restart)
{
    static lenfsm f1, f2;
    vxr_settings s = fast_settings();
    s.snapshot_threshold = 100000; /* keep the whole log */
    s.segment_size = 65536;        /* the smallest: segments close */
    static uint8_t cmd[2000];
    uint32_t want[150];

    for (int round = 0; round < 2; round++) {
        lenfsm *f = round == 0 ? &f1 : &f2;
        memset(f, 0, sizeof *f);
        pthread_mutex_init(&f->mu, NULL);
        vxr_node *node = start_node("odd", NULL, &s);
        vxr_member m = {.id = 1, .address = vxr_node_address(node)};
        vxr_fsm v = {.ctx = f,
                     .apply = l_apply,
                     .snapshot = l_snapshot,
                     .restore = l_restore};
        vxr_group_params p = {.group_id = 7,
                              .member_id = 1,
                              .members = &m,
                              .n_members = 1,
                              .fsm = &v};
        vectron_error err;
        cr_assert_eq(vxr_group_create(node, &p, &err), 0, "%s", err.msg);
        cr_assert_eq(wait_leader(&node, 1, 7, 10000), 0, "no leader");
        if (round == 0) {
            for (size_t e = 0; e < 150; e++) {
                size_t len = 1 + 13 * e; /* every length mod 8 */
                for (size_t i = 0; i < len; i++)
                    cmd[i] = (uint8_t)(len * 31 + i);
                want[e] = vx_crc32c(0, cmd, len);
                vxr_result res;
                int rc = vxr_apply_wait(node, 7, cmd, len, 10000, &res, &err);
                cr_assert_eq(rc, 0, "apply %zu: %s", e, err.msg);
            }
        } else {
            /* The restarted leader commits its log, then applies it. */
            vxr_request rq = {.type = VXR_OP_BARRIER, .group_id = 7};
            vxr_result res;
            cr_assert_eq(vxr_submit_wait(node, &rq, 10000, &res, &err), 0,
                         "barrier: %s", err.msg);
        }
        pthread_mutex_lock(&f->mu);
        cr_assert_eq(f->n, 150, "round %d applied %zu entries", round, f->n);
        for (size_t i = 0; i < 150; i++) {
            cr_assert_eq(f->lens[i], 1 + 13 * i, "entry %zu length %zu", i,
                         f->lens[i]);
            cr_assert_eq(f->crcs[i], want[i], "entry %zu bytes", i);
        }
        pthread_mutex_unlock(&f->mu);
        vxr_node_stop(node);
    }
}

/* A crash between libraft writing the term (metadata) and the bootstrap
 * entry leaves a directory that libraft refuses to bootstrap again; vxr
 * detects it (no entries, no snapshot) and bootstraps afresh. Simulated by
 * removing everything but metadata1 from a stopped single-member group. */
Test(raft, interrupted_bootstrap_is_redone)
{
    static tfsm f1, f2;
    vxr_settings s = fast_settings();
    vxr_result res;
    char gdir[256], path[600];

    tfsm_init(&f1);
    vxr_node *node = start_node("hb", NULL, &s);
    vxr_member m = {.id = 1, .address = vxr_node_address(node)};
    create_group(node, 9, 1, &m, 1, &f1);
    cr_assert_eq(wait_leader(&node, 1, 9, 10000), 0, "no leader");
    vxr_node_stop(node);

    snprintf(gdir, sizeof gdir, "%s/hb/raft/9", dir);
    DIR *d = opendir(gdir);
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "metadata1") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", gdir, e->d_name);
        cr_assert_eq(unlink(path), 0, "unlink %s", path);
    }
    closedir(d);

    tfsm_init(&f2);
    node = start_node("hb", NULL, &s);
    m.address = vxr_node_address(node);
    create_group(node, 9, 1, &m, 1, &f2);
    cr_assert_eq(wait_leader(&node, 1, 9, 10000), 0,
                 "the group has no configuration after the restart");
    cr_assert_eq(apply_u64(node, 9, 42, &res), 0, "%s", res.error.msg);
    vxr_node_stop(node);
}
