/*
 * raft_group.c - the Raft groups of a node: creation (data directory,
 * raft_io, bootstrap, start), close, the requests executed against
 * libraft (apply, barrier, membership changes, leadership transfer,
 * status), and the adapter from libraft's struct raft_fsm to vxr_fsm.
 *
 * The snapshot envelope written around the caller's manifest is specified
 * in docs/formats/raft-transport.md ("Snapshot envelope").
 *
 * Threading: everything here runs on the node's loop thread (called from
 * the node's async callback or from libraft's callbacks).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/raft_int.h"

_Static_assert(sizeof(void *) >= sizeof(int64_t),
               "the FSM result travels in libraft's void *result");

/* ---------------------------------------------------------- errors */

int vxr_raft_status(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case RAFT_NOMEM:
        return VECTRON_NOMEM;
    case RAFT_NOTLEADER:
        return VXR_NOT_LEADER;
    case RAFT_LEADERSHIPLOST:
        return VXR_LEADERSHIP_LOST;
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED:
        return VXR_SHUTDOWN;
    case RAFT_CANTCHANGE:
    case RAFT_BUSY:
        return VXR_BUSY;
    case RAFT_BADID:
    case RAFT_BADROLE:
    case RAFT_INVALID:
    case RAFT_MALFORMED:
    case RAFT_NAMETOOLONG:
        return VECTRON_INVALID;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_CANTBOOTSTRAP:
        return VECTRON_EXISTS;
    case RAFT_NOTFOUND:
        return VECTRON_NOT_FOUND;
    case RAFT_CORRUPT:
        return VECTRON_CORRUPT;
    case RAFT_TOOBIG:
    case RAFT_TOOMANY:
        return VECTRON_LIMIT;
    case RAFT_IOERR:
    case RAFT_NOSPACE:
    case RAFT_NOCONNECTION:
    case RAFT_UNAUTHORIZED:
        return VECTRON_IO;
    default:
        return VECTRON_INTERNAL;
    }
}

/* Fails op with libraft's code rv, adding the leader hint for
 * VXR_NOT_LEADER. */
static void fail_raft(vxr_group *g, vxr_op *op, int rv, const char *what)
{
    int status = vxr_raft_status(rv);

    if (status == VXR_NOT_LEADER && g->raft_initialized) {
        raft_id id = 0;
        const char *address = NULL;
        raft_leader(&g->raft, &id, &address);
        op->res.leader_id = id;
        snprintf(op->res.leader_address, sizeof op->res.leader_address, "%s",
                 address ? address : "");
        vxr_op_fail(op, status,
                    "group %llu: %s: member %llu is not the leader "
                    "(leader hint: %llu %s)",
                    (unsigned long long)g->id, what,
                    (unsigned long long)g->member_id, (unsigned long long)id,
                    address ? address : "unknown");
        return;
    }
    vxr_op_fail(op, status, "group %llu: %s: %s", (unsigned long long)g->id,
                what, raft_strerror(rv));
}

/* ------------------------------------------------------- FSM adapter */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    vxr_group *g = fsm->data;
    /* libraft applies the entry at last_applied + 1 and advances
     * last_applied only after apply returns (see raft_node.h). */
    uint64_t index = raft_last_applied(&g->raft) + 1;
    int64_t value = 0;

    if (index <= g->fsm_index) {
        vx_log(VECTRON_LOG_ERROR, VXR_LOG,
               "group=%llu apply index %llu not above %llu",
               (unsigned long long)g->id, (unsigned long long)index,
               (unsigned long long)g->fsm_index);
    }
    g->fsm_index = index;
    size_t len = buf->len;
    if (vxr_entry_unframe(buf->base, &len) != 0) {
        /* Not written by vxr_submit: hand it over whole, the FSM rejects
         * it deterministically. */
        vx_log(VECTRON_LOG_ERROR, VXR_LOG,
               "group=%llu entry %llu: bad framing (%zu bytes)",
               (unsigned long long)g->id, (unsigned long long)index, buf->len);
        len = buf->len;
    }
    g->user.apply(g->user.ctx, index, buf->base, len, &value);
    *result = (void *)(intptr_t)value;
    return 0;
}

static int vectron_to_raft(int code)
{
    switch (code) {
    case VECTRON_NOMEM:
        return RAFT_NOMEM;
    case VECTRON_CORRUPT:
        return RAFT_CORRUPT;
    case VECTRON_INVALID:
    case VECTRON_UNSUPPORTED:
        return RAFT_INVALID;
    default:
        return RAFT_IOERR;
    }
}

/* Envelope: magic, version, reserved, group id, index, manifest length,
 * manifest, CRC32C of everything before it. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    vxr_group *g = fsm->data;
    uint64_t index = raft_last_applied(&g->raft);
    vectron_error err;
    struct raft_buffer *b = NULL;
    uint8_t *p = NULL;
    void *m = NULL;
    size_t mlen = 0;
    int rc;

    vectron_error_clear(&err);
    rc = g->user.snapshot(g->user.ctx, index, &m, &mlen, &err);
    if (rc == VECTRON_UNAVAILABLE) {
        /* Not now (a shard catching up from a store copy): RAFT_BUSY is
         * the code libraft takes as transient and retries later; any
         * other failure may stop the group. */
        vx_log(VECTRON_LOG_DEBUG, VXR_LOG, "group=%llu snapshot at %llu: %s",
               (unsigned long long)g->id, (unsigned long long)index, err.msg);
        return RAFT_BUSY;
    }
    if (rc != 0) {
        vx_log(VECTRON_LOG_ERROR, VXR_LOG, "group=%llu snapshot at %llu: %s",
               (unsigned long long)g->id, (unsigned long long)index, err.msg);
        return vectron_to_raft(rc);
    }
    b = vx_malloc(sizeof *b);
    p = vx_malloc(VXR_SNAP_HEADER + mlen + 4);
    if (!b || !p) {
        vx_free(b);
        vx_free(p);
        vx_free(m);
        return RAFT_NOMEM;
    }
    vx_put_u32(p, VXR_SNAP_MAGIC);
    vx_put_u32(p + 4, VXR_SNAP_VERSION);
    vx_put_u64(p + 8, g->id);
    vx_put_u64(p + 16, index);
    vx_put_u64(p + 24, mlen);
    if (mlen) {
        memcpy(p + VXR_SNAP_HEADER, m, mlen);
    }
    vx_put_u32(p + VXR_SNAP_HEADER + mlen,
               vx_crc32c(0, p, VXR_SNAP_HEADER + mlen));
    vx_free(m);
    b->base = p;
    b->len = VXR_SNAP_HEADER + mlen + 4;
    *bufs = b;
    *n_bufs = 1;
    vx_log(VECTRON_LOG_DEBUG, VXR_LOG, "group=%llu snapshot at %llu (%zu B)",
           (unsigned long long)g->id, (unsigned long long)index, mlen);
    return 0;
}

/* fsm version 2: called once libraft is done with the snapshot buffers,
 * which stay ours. */
static int fsm_snapshot_finalize(struct raft_fsm *fsm,
                                 struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    if (*bufs) {
        for (unsigned i = 0; i < *n_bufs; i++) {
            vx_free((*bufs)[i].base);
        }
        vx_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* On success the buffer's memory becomes ours (libraft 0.15 does not free
 * it after a successful restore), so it is released with raft_free. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    vxr_group *g = fsm->data;
    const uint8_t *p = buf->base;
    vectron_error err;
    uint64_t index, mlen, gid;
    int rc;

    vectron_error_clear(&err);
    if (buf->len < VXR_SNAP_HEADER + 4 || vx_get_u32(p) != VXR_SNAP_MAGIC) {
        vx_log(VECTRON_LOG_ERROR, VXR_LOG,
               "group=%llu restore: not a snapshot envelope (%zu B)",
               (unsigned long long)g->id, buf->len);
        return RAFT_CORRUPT;
    }
    if (vx_get_u32(p + 4) != VXR_SNAP_VERSION) {
        vx_log(VECTRON_LOG_ERROR, VXR_LOG,
               "group=%llu restore: envelope version %u unsupported",
               (unsigned long long)g->id, vx_get_u32(p + 4));
        return RAFT_CORRUPT;
    }
    gid = vx_get_u64(p + 8);
    index = vx_get_u64(p + 16);
    mlen = vx_get_u64(p + 24);
    if (mlen != buf->len - VXR_SNAP_HEADER - 4 ||
        vx_get_u32(p + VXR_SNAP_HEADER + mlen) !=
            vx_crc32c(0, p, VXR_SNAP_HEADER + mlen)) {
        vx_log(VECTRON_LOG_ERROR, VXR_LOG,
               "group=%llu restore: envelope length or CRC mismatch",
               (unsigned long long)g->id);
        return RAFT_CORRUPT;
    }
    if (gid != g->id) {
        vx_log(VECTRON_LOG_ERROR, VXR_LOG,
               "group=%llu restore: snapshot belongs to group %llu",
               (unsigned long long)g->id, (unsigned long long)gid);
        return RAFT_CORRUPT;
    }
    rc = g->user.restore(g->user.ctx, index, p + VXR_SNAP_HEADER, (size_t)mlen,
                         &err);
    if (rc != 0) {
        vx_log(VECTRON_LOG_ERROR, VXR_LOG, "group=%llu restore at %llu: %s",
               (unsigned long long)g->id, (unsigned long long)index, err.msg);
        return vectron_to_raft(rc);
    }
    vx_log(VECTRON_LOG_INFO, VXR_LOG, "group=%llu restored snapshot at %llu",
           (unsigned long long)g->id, (unsigned long long)index);
    g->fsm_index = index;
    raft_free(buf->base);
    buf->base = NULL;
    buf->len = 0;
    return 0;
}

/* --------------------------------------------------------- lookups */

vxr_group *vxr_group_find(vxr_node *node, uint64_t id)
{
    for (vxr_group *g = node->groups; g; g = g->next) {
        if (g->id == id) {
            return g;
        }
    }
    return NULL;
}

void vxr_group_fill_info(vxr_group *g, vxr_group_info *info)
{
    raft_id leader = 0;
    const char *address = NULL;

    memset(info, 0, sizeof *info);
    info->group_id = g->id;
    info->member_id = g->member_id;
    switch (raft_state(&g->raft)) {
    case RAFT_FOLLOWER:
        info->state = VXR_STATE_FOLLOWER;
        break;
    case RAFT_CANDIDATE:
        info->state = VXR_STATE_CANDIDATE;
        break;
    case RAFT_LEADER:
        info->state = VXR_STATE_LEADER;
        break;
    default:
        info->state = VXR_STATE_UNAVAILABLE;
        break;
    }
    info->term = g->raft.current_term;
    info->commit_index = g->raft.commit_index;
    info->last_applied = raft_last_applied(&g->raft);
    info->last_index = raft_last_index(&g->raft);
    raft_leader(&g->raft, &leader, &address);
    info->leader_id = leader;
    snprintf(info->leader_address, sizeof info->leader_address, "%s",
             address ? address : "");
    info->n_members = g->raft.configuration.n;
    for (unsigned i = 0; i < g->raft.configuration.n; i++) {
        if (g->raft.configuration.servers[i].role == RAFT_VOTER) {
            info->n_voters++;
        }
    }
}

/* ----------------------------------------------------------- close */

static void group_unlink(vxr_group *g)
{
    vxr_group **pp = &g->node->groups;

    while (*pp && *pp != g) {
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = g->next;
    }
}

/* A turn of the loop after libraft's close callback: nothing of libraft's
 * refers to the group any more. */
static void group_free(void *arg)
{
    vxr_group *g = arg;
    vxr_node *node = g->node;
    vxr_op *op = g->close_ops;

    raft_uv_close(&g->io);
    group_unlink(g);
    while (g->transfers) {
        vxr_transfer *t = g->transfers;
        g->transfers = t->next;
        vx_free(t);
    }
    vx_log(VECTRON_LOG_INFO, VXR_LOG, "group=%llu member=%llu closed",
           (unsigned long long)g->id, (unsigned long long)g->member_id);
    vx_free(g);
    while (op) {
        vxr_op *next = op->next;
        op->next = NULL;
        vxr_op_finish(op);
        op = next;
    }
    vxr_node_poke(node);
}

static void group_raft_closed(struct raft *r)
{
    vxr_group *g = r->data;

    vxr_defer_call(g->node, &g->defer_free, group_free, g);
}

/* Starts closing g; op (may be NULL) completes once g is freed. */
static void group_close(vxr_group *g, vxr_op *op)
{
    if (op) {
        op->next = g->close_ops;
        g->close_ops = op;
    }
    if (g->state == VXR_GROUP_CLOSING) {
        return;
    }
    g->state = VXR_GROUP_CLOSING;
    vx_log(VECTRON_LOG_INFO, VXR_LOG, "group=%llu member=%llu closing",
           (unsigned long long)g->id, (unsigned long long)g->member_id);
    raft_close(&g->raft, group_raft_closed);
}

void vxr_group_close_all(vxr_node *node)
{
    for (vxr_group *g = node->groups; g; g = g->next) {
        group_close(g, NULL);
    }
}

/* ---------------------------------------------------------- create */

/* Creates <data>/raft and <data>/raft/<id>; *is_new tells whether the
 * group directory was absent or empty. */
static int make_dir(vxr_group *g, bool *is_new, vectron_error *err)
{
    char parent[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int n;

    n = snprintf(parent, sizeof parent, "%s/raft", g->node->data_dir);
    if (n < 0 || (size_t)n >= sizeof parent) {
        return vx_err(err, VECTRON_INVALID, "data directory path too long");
    }
    if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
        return vx_err(err, VECTRON_IO, "mkdir %s: %s", parent, strerror(errno));
    }
    n = snprintf(g->dir, sizeof g->dir, "%s/%llu", parent,
                 (unsigned long long)g->id);
    if (n < 0 || (size_t)n >= sizeof g->dir) {
        return vx_err(err, VECTRON_INVALID, "data directory path too long");
    }
    if (mkdir(g->dir, 0755) == 0) {
        *is_new = true;
        return 0;
    }
    if (errno != EEXIST) {
        return vx_err(err, VECTRON_IO, "mkdir %s: %s", g->dir, strerror(errno));
    }
    d = opendir(g->dir);
    if (!d) {
        return vx_err(err, VECTRON_IO, "open %s: %s", g->dir, strerror(errno));
    }
    *is_new = true;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            *is_new = false;
            break;
        }
    }
    closedir(d);
    return 0;
}

static void apply_settings(vxr_group *g, const vxr_settings *s)
{
    raft_set_election_timeout(&g->raft, s->election_timeout_ms);
    raft_set_heartbeat_timeout(&g->raft, s->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&g->raft, s->snapshot_threshold);
    raft_set_snapshot_trailing(&g->raft, s->snapshot_trailing);
    raft_set_install_snapshot_timeout(&g->raft, s->install_snapshot_timeout_ms);
    raft_set_pre_vote(&g->raft, true);
}

static int bootstrap(vxr_group *g, const vxr_create *c, vectron_error *err)
{
    struct raft_configuration conf;
    int rv = 0;

    raft_configuration_init(&conf);
    for (size_t i = 0; i < c->n_members && rv == 0; i++) {
        rv = raft_configuration_add(&conf, c->member_ids[i],
                                    c->member_addresses[i], RAFT_VOTER);
    }
    if (rv != 0) {
        raft_configuration_close(&conf);
        return vx_err(err, vxr_raft_status(rv), "initial configuration: %s",
                      raft_strerror(rv));
    }
    rv = raft_bootstrap(&g->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) {
        /* Already bootstrapped (DESIGN section 7): a restart. */
        return 0;
    }
    if (rv != 0) {
        return vx_err(err, vxr_raft_status(rv), "bootstrap: %s",
                      raft_errmsg(&g->raft));
    }
    return 0;
}

/* A founding member's directory where libraft wrote the term (metadata)
 * but the process died before the bootstrap entry reached the log: libraft
 * would refuse to bootstrap it again (RAFT_CANTBOOTSTRAP, which a restart
 * ignores) and the group would start with no configuration, unable to
 * elect anyone, forever. Such a directory holds metadata files and nothing
 * else that matters: no snapshot, no closed segment, and open segments
 * whose first batch is empty (zero checksums). Nothing was ever appended,
 * so nothing was committed or acknowledged; removing those files lets the
 * bootstrap run again. Returns 1 if it reset the directory. Loop thread
 * (small synchronous I/O at group creation, like libraft's own load). */
static int reset_half_bootstrap(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int has_meta = 0, has_data = 0;
    char path[PATH_MAX + 300];

    if (!d) {
        return 0;
    }
    while (!has_data && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strcmp(n, "metadata1") == 0 || strcmp(n, "metadata2") == 0) {
            has_meta = 1;
        } else if (strncmp(n, "snapshot-", 9) == 0 ||
                   (n[0] >= '0' && n[0] <= '9')) {
            has_data = 1; /* a snapshot or a closed segment */
        } else if (strncmp(n, "open-", 5) == 0) {
            unsigned char head[16];
            snprintf(path, sizeof path, "%s/%s", dir, n);
            FILE *f = fopen(path, "rb");
            size_t got = f ? fread(head, 1, sizeof head, f) : 0;
            if (f) {
                fclose(f);
            }
            for (size_t i = 8; i < got; i++) {
                has_data |= head[i] != 0;
            }
        }
    }
    closedir(d);
    if (!has_meta || has_data) {
        return 0;
    }
    d = opendir(dir);
    if (!d) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "metadata", 8) == 0 ||
            strncmp(e->d_name, "open-", 5) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    return 1;
}

static void do_create(vxr_node *node, vxr_op *op)
{
    const vxr_create *c = op->create;
    vectron_error err;
    vxr_group *g = NULL;
    bool is_new = false;
    int rv, rc;

    vectron_error_clear(&err);
    if (node->shutting_down) {
        vxr_op_fail(op, VXR_SHUTDOWN, "group %llu: node stopping",
                    (unsigned long long)c->group_id);
        return;
    }
    if (vxr_group_find(node, c->group_id)) {
        vxr_op_fail(op, VECTRON_EXISTS,
                    "group %llu: already open (or closing) on this node",
                    (unsigned long long)c->group_id);
        return;
    }
    g = vx_calloc(1, sizeof *g);
    if (!g) {
        vxr_op_fail(op, VECTRON_NOMEM, "group %llu: out of memory",
                    (unsigned long long)c->group_id);
        return;
    }
    g->node = node;
    g->id = c->group_id;
    g->member_id = c->member_id;
    snprintf(g->address, sizeof g->address, "%s", c->address);
    g->user = c->fsm;
    rc = make_dir(g, &is_new, &err);
    if (rc != 0) {
        goto fail_free;
    }
    if (c->n_members > 0 && !is_new && reset_half_bootstrap(g->dir)) {
        vx_log(VECTRON_LOG_WARN, VXR_LOG,
               "group=%llu dir=%s: the bootstrap was interrupted before "
               "its first entry; bootstrapping again",
               (unsigned long long)g->id, g->dir);
    }
    vxr_transport_setup(g);
    rv = raft_uv_init(&g->io, &node->loop, g->dir, &g->transport);
    if (rv != 0) {
        rc = vx_err(&err, vxr_raft_status(rv), "raft_uv_init %s: %s", g->dir,
                    raft_strerror(rv));
        goto fail_free;
    }
    raft_uv_set_connect_retry_delay(&g->io, node->settings.connect_retry_ms);
    if (node->settings.segment_size) {
        raft_uv_set_segment_size(&g->io, node->settings.segment_size);
    }
    g->fsm.version = 2;
    g->fsm.data = g;
    g->fsm.apply = fsm_apply;
    g->fsm.snapshot = fsm_snapshot;
    g->fsm.restore = fsm_restore;
    g->fsm.snapshot_finalize = fsm_snapshot_finalize;
    g->fsm.snapshot_async = NULL;
    rv = raft_init(&g->raft, &g->io, &g->fsm, g->member_id, g->address);
    if (rv != 0) {
        rc = vx_err(&err, vxr_raft_status(rv), "raft_init %s: %s", g->dir,
                    raft_errmsg(&g->raft));
        raft_uv_close(&g->io);
        goto fail_free;
    }
    g->raft_initialized = true;
    g->raft.data = g;
    apply_settings(g, &node->settings);
    /* From here on, failures close the group through libraft. */
    g->state = VXR_GROUP_RUNNING;
    g->next = node->groups;
    node->groups = g;
    /* Bootstrap whenever members are given: libraft refuses (and we
     * ignore RAFT_CANTBOOTSTRAP) unless nothing was ever written in the
     * directory, which covers a crash between mkdir and bootstrap. */
    if (c->n_members > 0) {
        rc = bootstrap(g, c, &err);
        if (rc != 0) {
            goto fail_close;
        }
    }
    rv = raft_start(&g->raft);
    if (rv != 0) {
        rc = vx_err(&err, vxr_raft_status(rv), "start: %s",
                    raft_errmsg(&g->raft));
        goto fail_close;
    }
    vx_log(VECTRON_LOG_INFO, VXR_LOG,
           "group=%llu member=%llu address=%s started%s dir=%s",
           (unsigned long long)g->id, (unsigned long long)g->member_id,
           g->address, is_new ? " (new)" : "", g->dir);
    vxr_op_finish(op);
    return;

fail_close:
    vxr_op_fail(op, rc, "group %llu: %s", (unsigned long long)c->group_id,
                err.msg);
    group_close(g, NULL);
    return;

fail_free:
    vx_free(g);
    vxr_op_fail(op, rc, "group %llu: %s", (unsigned long long)c->group_id,
                err.msg);
}

/* -------------------------------------------------------- requests */

static void apply_done(struct raft_apply *req, int status, void *result)
{
    vxr_op *op = req->data;
    vxr_group *g = vxr_group_find(op->node, op->group_id);

    op->res.index = req->index;
    if (status != 0) {
        if (g) {
            fail_raft(g, op, status, "apply");
        } else {
            vxr_op_fail(op, vxr_raft_status(status), "group %llu: apply: %s",
                        (unsigned long long)op->group_id,
                        raft_strerror(status));
        }
        return;
    }
    op->res.value = (int64_t)(intptr_t)result;
    vxr_op_finish(op);
}

static void barrier_done(struct raft_barrier *req, int status)
{
    vxr_op *op = req->data;

    op->res.index = req->index;
    if (status != 0) {
        vxr_op_fail(op, vxr_raft_status(status), "group %llu: barrier: %s",
                    (unsigned long long)op->group_id, raft_strerror(status));
        return;
    }
    vxr_op_finish(op);
}

static void change_done(struct raft_change *req, int status)
{
    vxr_op *op = req->data;

    if (status != 0) {
        vxr_op_fail(op, vxr_raft_status(status),
                    "group %llu: membership change of member %llu: %s",
                    (unsigned long long)op->group_id,
                    (unsigned long long)op->member_id, raft_strerror(status));
        return;
    }
    vxr_op_finish(op);
}

static void transfer_done(struct raft_transfer *req)
{
    vxr_transfer *t = (vxr_transfer *)req;
    vxr_op *op = t->op;
    t->op = NULL; /* the request itself stays with the group */
    vxr_group *g = vxr_group_find(op->node, op->group_id);
    raft_id leader = 0;
    const char *address = NULL;

    if (g && g->state == VXR_GROUP_RUNNING) {
        raft_leader(&g->raft, &leader, &address);
    }
    op->res.leader_id = leader;
    snprintf(op->res.leader_address, sizeof op->res.leader_address, "%s",
             address ? address : "");
    if (leader == 0 || (op->member_id != 0 && leader != op->member_id) ||
        (g && leader == g->member_id)) {
        vxr_op_fail(op, VXR_TIMEOUT,
                    "group %llu: leadership transfer to %llu did not "
                    "complete (leader now %llu)",
                    (unsigned long long)op->group_id,
                    (unsigned long long)op->member_id,
                    (unsigned long long)leader);
        return;
    }
    vxr_op_finish(op);
}

static void execute_on(vxr_group *g, vxr_op *op)
{
    int rv = 0;

    switch (op->kind) {
    case VXR_OP_APPLY:
        op->rq.apply.data = op;
        rv = raft_apply(&g->raft, &op->rq.apply, &op->buf, 1, apply_done);
        if (rv == 0) {
            op->buf.base = NULL; /* libraft's now */
            op->buf.len = 0;
        } else {
            fail_raft(g, op, rv, "apply");
        }
        return;
    case VXR_OP_BARRIER:
        op->rq.barrier.data = op;
        rv = raft_barrier(&g->raft, &op->rq.barrier, barrier_done);
        if (rv != 0) {
            fail_raft(g, op, rv, "barrier");
        }
        return;
    case VXR_OP_ADD:
        op->rq.change.data = op;
        rv = raft_add(&g->raft, &op->rq.change, op->member_id, op->address,
                      change_done);
        break;
    case VXR_OP_ASSIGN:
        op->rq.change.data = op;
        rv = raft_assign(&g->raft, &op->rq.change, op->member_id, op->role,
                         change_done);
        break;
    case VXR_OP_REMOVE:
        op->rq.change.data = op;
        rv = raft_remove(&g->raft, &op->rq.change, op->member_id, change_done);
        break;
    case VXR_OP_TRANSFER: {
        vxr_transfer *t = vx_calloc(1, sizeof *t);
        if (!t) {
            vxr_op_fail(op, VECTRON_NOMEM, "leadership transfer");
            return;
        }
        t->op = op;
        t->rq.data = t;
        t->next = g->transfers;
        g->transfers = t; /* freed with the group (see vxr_group) */
        rv = raft_transfer(&g->raft, &t->rq, op->member_id, transfer_done);
        if (rv != 0) {
            t->op = NULL;
            fail_raft(g, op, rv, "leadership transfer");
        }
        return;
    }
    case VXR_OP_CLOSE:
        group_close(g, op);
        return;
    case VXR_OPI_STATUS:
        vxr_group_fill_info(g, op->info);
        vxr_op_finish(op);
        return;
    default:
        vxr_op_fail(op, VECTRON_INVALID, "unknown request kind %d", op->kind);
        return;
    }
    if (rv != 0) {
        fail_raft(g, op, rv, "membership change");
    }
}

void vxr_group_execute(vxr_node *node, vxr_op *op)
{
    vxr_group *g;

    if (op->kind == VXR_OPI_CREATE) {
        do_create(node, op);
        return;
    }
    g = vxr_group_find(node, op->group_id);
    if (!g) {
        vxr_op_fail(op, VECTRON_NOT_FOUND, "group %llu: not on this node",
                    (unsigned long long)op->group_id);
        return;
    }
    if (g->state != VXR_GROUP_RUNNING) {
        if (op->kind == VXR_OP_CLOSE) {
            group_close(g, op);
            return;
        }
        vxr_op_fail(op, VXR_SHUTDOWN, "group %llu: closing",
                    (unsigned long long)op->group_id);
        return;
    }
    execute_on(g, op);
}
