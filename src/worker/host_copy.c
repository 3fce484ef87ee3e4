/*
 * host_copy.c - copying a replica's store to a peer (DESIGN section 8): a
 * shard's Raft snapshot is only a manifest, so a replica that must install
 * a snapshot its own store is behind (a new member, or one that was down
 * while the log was compacted) pulls a consistent copy of the store from
 * the replica that took the snapshot, in checksummed chunks over RPC, and
 * then catches up from the log (docs/formats/shard-snapshot.md).
 *
 * Destination: the FSM restore (loop thread) cannot wait for a transfer,
 * so it enters catch-up (entries committed meanwhile are deferred, reads
 * answer UNAVAILABLE) and starts a copier thread. Deferred entries are
 * kept in memory up to hc_defer_mem_max (64 MiB) per shard, the next ones
 * in an append-only spill file <dir>.deferred (docs/formats/
 * deferred-spill.md), replayed after the memory list; a spill I/O error
 * is fatal, like running out of memory (entries must not be lost). The
 * file is removed whenever the entries are dropped (a newer snapshot,
 * closing, a completed swap) and at open (a crash's leftover).
 *
 * The copier downloads the store into <dir>.incoming, opens it there
 * (building the HNSW graph) and checkpoints the graph, all off the Raft
 * loop, then keeps the shard open and renames it in place:
 *
 *  - catch-up off the lock: while more than hc_tail_entries (32) entries
 *    or hc_tail_bytes (256 KiB) are deferred, it takes apply_mu only to detach
 * the list and the spill file (the loop thread starts new ones; the detached
 * file is unlinked and read through its descriptor) and applies the detached
 * entries to the copy without the lock;
 *  - the swap, under apply_mu (the loop thread's FSM callbacks of every
 *    group of the node wait for it, so it is kept short): checks the copy
 *    is at least at `behind` (a newer snapshot may have arrived: then the
 *    copy is dropped and retried, the detached entries being covered by
 *    that snapshot), applies the short tail, and under the swap rwlock
 *    renames <dir> to <dir>.old and <dir>.incoming to <dir> and swaps the
 *    shard pointer. The copy was given its final path with shard_set_dir
 *    before (LMDB keeps its open files across the rename; the shard names
 *    index.vxi by that path). The old shard is closed, and <dir>.old
 *    removed, after apply_mu is released.
 *
 * The copier logs how long the swap held apply_mu.
 *
 * Source: host_copy_begin makes a compacted copy of the store with LMDB's
 * copy (consistent, concurrent with reads and writes) under
 * <data>/copies/, and host_copy_read serves it by offset.
 *
 * Threading: hc_restore_behind on the Raft loop thread; the copier thread
 * per shard; host_copy_* on RPC pool threads (h->copies_mu guards the
 * registry).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "proto/vectron.pb-c.h"
#include "rpc/methods.h"
#include "rpc/rpc.h"
#include "worker/host_int.h"

#define LOG "copy"
#define CHUNK (1u << 20)
#define COPY_TTL_S 600

typedef struct hc_copy {
    uint64_t id;
    uint64_t group;
    uint64_t size;
    time_t last_used;
    char path[PATH_MAX + 64];
    struct hc_copy *next;
} hc_copy;

/* ------------------------------------------------------------- source */

static void copies_dir(const host *h, char *out, size_t n)
{
    snprintf(out, n, "%s/copies", h->data_dir);
}

void hc_gc(host *h)
{
    char dir[PATH_MAX];
    copies_dir(h, dir, sizeof dir);
    host_remove_tree(dir);
}

static void copy_free(hc_copy *c)
{
    host_remove_tree(c->path);
    vx_free(c);
}

void hc_close(host *h)
{
    hc_copy *c = h->copies;
    while (c) {
        hc_copy *next = c->next;
        copy_free(c);
        c = next;
    }
    h->copies = NULL;
}

/* Unlinks and frees copies idle for COPY_TTL_S (under copies_mu). */
static void expire_locked(host *h, time_t now)
{
    hc_copy **pp = &h->copies;
    while (*pp) {
        hc_copy *c = *pp;
        if (now - c->last_used > COPY_TTL_S) {
            *pp = c->next;
            copy_free(c);
        } else {
            pp = &c->next;
        }
    }
}

int host_copy_begin(host *h, uint64_t group, uint64_t *id, uint64_t *size,
                    uint64_t *applied, vectron_error *err)
{
    char dir[PATH_MAX];
    host_shard *s = host_acquire(h, group);
    hc_copy *c = NULL;
    int rc = 0;
    if (!s || s->remote) {
        if (s)
            host_release(s);
        return vx_err(err, VECTRON_NOT_FOUND,
                      "group %" PRIu64 " is not hosted here", group);
    }
    c = vx_calloc(1, sizeof *c);
    if (!c) {
        rc = vx_err(err, VECTRON_NOMEM, "store copy");
        goto out;
    }
    copies_dir(h, dir, sizeof dir);
    mkdir(dir, 0755);
    pthread_mutex_lock(&h->copies_mu);
    c->id = ++h->next_copy;
    pthread_mutex_unlock(&h->copies_mu);
    c->group = group;
    snprintf(c->path, sizeof c->path, "%s/%" PRIu64 "-%" PRIu64, dir, group,
             c->id);
    host_remove_tree(c->path);
    pthread_rwlock_rdlock(&s->swap);
    *applied = shard_applied_index(s->sh); /* the copy holds at least this */
    rc = store_copy(shard_store(s->sh), c->path, err);
    pthread_rwlock_unlock(&s->swap);
    if (rc)
        goto out;
    char file[PATH_MAX + 96];
    struct stat st;
    snprintf(file, sizeof file, "%s/data.mdb", c->path);
    if (stat(file, &st) != 0) {
        rc =
            vx_err(err, VECTRON_IO, "store copy %s: %s", file, strerror(errno));
        goto out;
    }
    c->size = (uint64_t)st.st_size;
    c->last_used = time(NULL);
    *id = c->id;
    *size = c->size;
    pthread_mutex_lock(&h->copies_mu);
    expire_locked(h, c->last_used);
    c->next = h->copies;
    h->copies = c;
    pthread_mutex_unlock(&h->copies_mu);
    vx_log(VECTRON_LOG_INFO, LOG,
           "group=%" PRIu64 " serving a store copy: %" PRIu64
           " bytes, applied %" PRIu64,
           group, c->size, *applied);
    c = NULL;
out:
    if (c)
        copy_free(c);
    host_release(s);
    return rc;
}

int host_copy_read(host *h, uint64_t id, uint64_t offset, uint8_t *buf,
                   size_t max, size_t *n, uint64_t *total, int *last,
                   vectron_error *err)
{
    char file[PATH_MAX + 96];
    hc_copy *c;
    *n = 0;
    *last = 0;
    pthread_mutex_lock(&h->copies_mu);
    for (c = h->copies; c && c->id != id; c = c->next)
        ;
    if (c) {
        c->last_used = time(NULL);
        snprintf(file, sizeof file, "%s/data.mdb", c->path);
    }
    uint64_t size = c ? c->size : 0;
    pthread_mutex_unlock(&h->copies_mu);
    *total = size;
    if (!c)
        return vx_err(err, VECTRON_NOT_FOUND,
                      "store copy %" PRIu64 " unknown (expired?)", id);
    if (offset > size)
        return vx_err(err, VECTRON_INVALID, "offset beyond the copy");
    size_t want = size - offset < max ? (size_t)(size - offset) : max;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vx_err(err, VECTRON_IO, "open %s: %s", file, strerror(errno));
    ssize_t got = want ? pread(fd, buf, want, (off_t)offset) : 0;
    int e = errno;
    close(fd);
    if (got < 0 || (size_t)got != want)
        return vx_err(err, VECTRON_IO, "read %s: %s", file,
                      got < 0 ? strerror(e) : "short read");
    *n = want;
    if (offset + want == size) {
        *last = 1;
        pthread_mutex_lock(&h->copies_mu);
        hc_copy **pp = &h->copies;
        while (*pp && (*pp)->id != id)
            pp = &(*pp)->next;
        if (*pp) {
            hc_copy *x = *pp;
            *pp = x->next;
            copy_free(x);
        }
        pthread_mutex_unlock(&h->copies_mu);
    }
    return 0;
}

/* -------------------------------------------------------- destination */

static void incoming_dir(const host_shard *s, char *out, size_t n)
{
    snprintf(out, n, "%s.incoming", s->dir);
}

/* Downloads the store from source into <dir>.incoming/data.mdb. */
static int download(host_shard *s, const char *source, const char *dir,
                    vectron_error *err)
{
    char file[PATH_MAX + 32];
    uint64_t copy_id = 0, offset = 0, total = 0;
    int rc = 0;
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return vx_err(err, VECTRON_IO, "create %s: %s", file, strerror(errno));
    for (;;) {
        if (atomic_load(&s->copy_cancel)) {
            rc = vx_err(err, VECTRON_UNAVAILABLE, "closing");
            break;
        }
        Vectron__StoreCopyRequest rq = VECTRON__STORE_COPY_REQUEST__INIT;
        uint8_t buf[64];
        rpc_result res;
        rq.group = s->group;
        rq.copy_id = copy_id;
        rq.offset = offset;
        size_t n = vectron__store_copy_request__pack(&rq, buf);
        rc = rpc_call(s->h->o.rpc, source, RPC_CTL_STORE_COPY, buf, n, 60000,
                      &res, err);
        if (rc)
            break;
        Vectron__StoreCopyResponse *a =
            vectron__store_copy_response__unpack(NULL, res.len, res.data);
        rpc_result_free(&res);
        if (!a) {
            rc = vx_err(err, VECTRON_CORRUPT, "store copy answer");
            break;
        }
        int bad = (copy_id && a->copy_id != copy_id) ||
                  vx_crc32c(0, a->data.data, a->data.len) != a->crc ||
                  offset + a->data.len > a->total;
        if (!bad && a->data.len &&
            pwrite(fd, a->data.data, a->data.len, (off_t)offset) !=
                (ssize_t)a->data.len)
            rc = vx_err(err, VECTRON_IO, "write %s: %s", file, strerror(errno));
        copy_id = a->copy_id;
        total = a->total;
        offset += a->data.len;
        int last = a->last;
        vectron__store_copy_response__free_unpacked(a, NULL);
        if (bad)
            rc = vx_err(err, VECTRON_CORRUPT,
                        "store copy chunk at %" PRIu64 ": bad checksum or "
                        "size",
                        offset);
        if (rc || last)
            break;
    }
    if (!rc && offset != total)
        rc = vx_err(err, VECTRON_CORRUPT,
                    "store copy: %" PRIu64 " of %" PRIu64 " bytes", offset,
                    total);
    if (!rc && fsync(fd) != 0)
        rc = vx_err(err, VECTRON_IO, "fsync %s: %s", file, strerror(errno));
    close(fd);
    return rc;
}

typedef struct hc_entry {
    struct hc_entry *next;
    uint64_t index;
    size_t len;
    uint8_t buf[];
} hc_entry;

static uint64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

size_t hc_defer_mem_max = HC_DEFER_MEM_MAX;
_Atomic uint64_t hc_spilled;
unsigned hc_test_swap_delay_ms;

/* ---- the spill file (docs/formats/deferred-spill.md) ---- */

#define SPILL_HEAD 16 /* index u64, length u32, CRC32C u32 */

static void spill_path(const host_shard *s, char *out, size_t n)
{
    snprintf(out, n, "%s.deferred", s->dir);
}

static void fatal_io(host_shard *s, const char *what, int e)
{
    char msg[PATH_MAX + 256];
    snprintf(msg, sizeof msg,
             "shard group %" PRIu64
             ": cannot keep the entries committed during a store copy: %s: %s",
             s->group, what, strerror(e));
    s->h->o.fatal(s->h->o.fatal_arg, msg);
}

static uint32_t spill_crc(const uint8_t *head, const void *buf, size_t len)
{
    return vx_crc32c(vx_crc32c(0, head, 12), buf, len);
}

/* Appends one entry to the spill file, creating it first (apply_mu). */
static int spill_append(host_shard *s, uint64_t index, const void *buf,
                        size_t len)
{
    char path[PATH_MAX + 16];
    spill_path(s, path, sizeof path);
    if (len > UINT32_MAX) {
        fatal_io(s, "entry too large to spill", EFBIG);
        return -1;
    }
    if (!s->spilling) {
        int fd =
            open(path, O_CREAT | O_TRUNC | O_RDWR | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            fatal_io(s, path, errno);
            return -1;
        }
        s->spill_fd = fd;
        s->spilling = 1;
        vx_log(VECTRON_LOG_INFO, LOG,
               "group=%" PRIu64 " %zu bytes of entries deferred in memory: "
               "spilling the next ones to %s",
               s->group, s->deferred_mem, path);
    }
    uint8_t head[SPILL_HEAD];
    vx_put_u64(head, index);
    vx_put_u32(head + 8, (uint32_t)len);
    vx_put_u32(head + 12, spill_crc(head, buf, len));
    struct iovec iov[2] = {{head, sizeof head}, {(void *)buf, len}};
    size_t want = sizeof head + len, done = 0;
    while (done < want) {
        ssize_t w = writev(s->spill_fd, iov, 2);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fatal_io(s, path, w < 0 ? errno : EIO);
            return -1;
        }
        done += (size_t)w;
        /* Advance past what was written (a short write is rare). */
        for (int i = 0; i < 2; i++) {
            size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            w -= (ssize_t)k;
        }
    }
    s->spill_n++;
    atomic_fetch_add(&hc_spilled, 1);
    return 0;
}

/* Reads exactly n bytes at *off; 0, or -1 with errno (EIO: end of file). */
static int read_at(int fd, void *buf, size_t n, off_t *off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, *off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        done += (size_t)r;
        *off += r;
    }
    return 0;
}

/* Applies the n entries of a spill file to sh in order. A file that does
 * not read back whole means entries are lost: the fatal handler. */
static size_t apply_file(host_shard *s, shard *sh, int fd, uint64_t n)
{
    off_t off = 0;
    uint8_t *buf = NULL;
    size_t cap = 0, done = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t head[SPILL_HEAD];
        if (read_at(fd, head, sizeof head, &off)) {
            fatal_io(s, "read the spill file", errno);
            break;
        }
        uint64_t index = vx_get_u64(head);
        size_t len = vx_get_u32(head + 8);
        if (len > cap) {
            uint8_t *nb = vx_realloc(buf, len);
            if (!nb) {
                fatal_io(s, "read the spill file", ENOMEM);
                break;
            }
            buf = nb;
            cap = len;
        }
        if (read_at(fd, buf, len, &off)) {
            fatal_io(s, "read the spill file", errno);
            break;
        }
        if (spill_crc(head, buf, len) != vx_get_u32(head + 12)) {
            fatal_io(s, "the spill file", EBADMSG);
            break;
        }
        int64_t res = 0;
        host_apply_entry(s, sh, index, buf, len, &res);
        done++;
    }
    vx_free(buf);
    return done;
}

static void free_entries(hc_entry *e)
{
    while (e) {
        hc_entry *next = e->next;
        vx_free(e);
        e = next;
    }
}

/* Forgets the deferred entries: the memory list and the spill file
 * (apply_mu held, or closing). */
static void drop_deferred(host_shard *s)
{
    char path[PATH_MAX + 16];
    free_entries(s->deferred);
    s->deferred = s->deferred_tail = NULL;
    s->deferred_bytes = s->deferred_mem = s->deferred_n = 0;
    if (s->spilling) {
        close(s->spill_fd);
        s->spilling = 0;
        s->spill_n = 0;
        spill_path(s, path, sizeof path);
        unlink(path);
    }
}

void hc_shard_gc(host_shard *s)
{
    char path[PATH_MAX + 16];
    spill_path(s, path, sizeof path);
    unlink(path);
    incoming_dir(s, path, sizeof path);
    host_remove_tree(path);
}

/* The copy is caught up off apply_mu in rounds while more than
 * hc_tail_entries or hc_tail_bytes were deferred meanwhile (at most MAX_ROUNDS:
 * writes may come faster); the last, short tail is applied under it. */
#define MAX_ROUNDS 32
size_t hc_tail_bytes = HC_TAIL_BYTES;
size_t hc_tail_entries = HC_TAIL_ENTRIES;

/* Applies a list of deferred entries to sh (the copied shard) in order;
 * shard_apply skips what sh already holds. Returns how many. */
static size_t apply_list(host_shard *s, shard *sh, const hc_entry *e)
{
    size_t n = 0;
    for (; e; e = e->next, n++) {
        int64_t res = 0;
        host_apply_entry(s, sh, e->index, e->buf, e->len, &res);
    }
    return n;
}

/* Brings the copied shard sh up to date with the entries deferred so far
 * and swaps it in (see the header comment). Takes apply_mu, returns with
 * it held on success and on failure alike; *held_ms gets when it was last
 * taken. On success *old is the replaced shard, for the caller to close
 * once it has released apply_mu. */
static int catch_up_and_swap(host_shard *s, shard *sh, const char *in,
                             shard **old, size_t *n_off, size_t *n_tail,
                             double *held_ms, vectron_error *err)
{
    char olddir[PATH_MAX + 16];
    snprintf(olddir, sizeof olddir, "%s.old", s->dir);
    *old = NULL;
    *n_off = *n_tail = 0;
    for (int round = 0;; round++) {
        pthread_mutex_lock(&s->apply_mu);
        *held_ms = mono_ms();
        uint64_t applied = shard_applied_index(sh);
        if (atomic_load(&s->copy_cancel))
            return vx_err(err, VECTRON_UNAVAILABLE, "closing");
        if (!s->behind)
            return vx_err(err, VECTRON_UNAVAILABLE, "not behind");
        /* A restore since the copy was taken (or since the last round)
         * asks for more than the copy holds: it cannot go on from the
         * entries kept since that restore. */
        if (applied < s->behind)
            return vx_err(err, VECTRON_UNAVAILABLE,
                          "the copy is at %" PRIu64 ", behind %" PRIu64,
                          applied, s->behind);
        if ((s->deferred_n <= hc_tail_entries &&
             s->deferred_bytes <= hc_tail_bytes) ||
            round >= MAX_ROUNDS)
            break;
        /* Detach what was deferred so far and apply it without the lock:
         * the loop thread starts a new list meanwhile. Should a newer
         * snapshot arrive (hc_restore_behind drops the new list), the next
         * round finds `behind` beyond the copy, or the copy already past
         * every dropped entry: either way nothing kept is lost (the
         * detached entries, all before that snapshot, are covered by it). */
        hc_entry *list = s->deferred;
        int fd = s->spilling ? s->spill_fd : -1;
        uint64_t n_file = s->spill_n;
        s->deferred = s->deferred_tail = NULL;
        s->deferred_bytes = s->deferred_mem = s->deferred_n = 0;
        if (fd >= 0) {
            /* The file goes with the list: read through fd, and the name
             * is free for the next spill. */
            char path[PATH_MAX + 16];
            spill_path(s, path, sizeof path);
            if (unlink(path) != 0)
                /* The next spill would truncate the file being read. */
                fatal_io(s, path, errno);
            s->spilling = 0;
            s->spill_n = 0;
        }
        pthread_mutex_unlock(&s->apply_mu);
        *n_off += apply_list(s, sh, list); /* memory first, then the file */
        free_entries(list);
        if (fd >= 0) {
            *n_off += apply_file(s, sh, fd, n_file);
            close(fd);
        }
    }
    /* apply_mu held: the short tail, then the swap. */
    *n_tail = apply_list(s, sh, s->deferred);
    if (s->spilling)
        *n_tail += apply_file(s, sh, s->spill_fd, s->spill_n);
    host_remove_tree(olddir);
    pthread_rwlock_wrlock(&s->swap);
    if (rename(s->dir, olddir) != 0 || rename(in, s->dir) != 0) {
        int e = errno;
        pthread_rwlock_unlock(&s->swap);
        return vx_err(err, VECTRON_IO, "group %" PRIu64 ": swap stores: %s",
                      s->group, strerror(e));
    }
    *old = s->sh;
    s->sh = sh;
    pthread_rwlock_unlock(&s->swap);
    drop_deferred(s);
    s->behind = 0;
    atomic_store(&s->stale, 0);
    return 0;
}

static void *copier_main(void *arg)
{
    host_shard *s = arg;
    char dir[PATH_MAX + 16];
    char source[PD_ADDR_MAX];
    vectron_error err = {0};
    shard *sh = NULL, *old = NULL;
    size_t n_off = 0, n_tail = 0;
    double held0 = 0;
    /* The source as of the start: a later restore may name another one,
     * used by the next attempt if this copy falls short. */
    pthread_mutex_lock(&s->apply_mu);
    snprintf(source, sizeof source, "%s", s->copy_source);
    pthread_mutex_unlock(&s->apply_mu);
    incoming_dir(s, dir, sizeof dir);
    host_remove_tree(dir);
    int rc = mkdir(dir, 0755) == 0 ? 0
                                   : vx_err(&err, VECTRON_IO, "mkdir %s: %s",
                                            dir, strerror(errno));
    vx_log(VECTRON_LOG_INFO, LOG, "group=%" PRIu64 " copying the store from %s",
           s->group, source);
    if (!rc)
        rc = download(s, source, dir, &err);
    /* Open it here (the HNSW graph is built off the Raft loop), save the
     * graph for the next start, and name it by its final path (nothing
     * uses the path until it is swapped in, renamed there). */
    if (!rc)
        rc = shard_open(dir, &s->params, &sh, &err);
    uint64_t applied = sh ? shard_applied_index(sh) : 0;
    if (!rc) {
        size_t n = 0;
        rc = shard_checkpoint(sh, &n, &err);
    }
    if (!rc)
        rc = shard_set_dir(sh, s->dir, &err);
    if (!rc && hc_test_swap_delay_ms)
        usleep(hc_test_swap_delay_ms * 1000u); /* tests: entries pile up */
    if (!rc) {
        rc = catch_up_and_swap(s, sh, dir, &old, &n_off, &n_tail, &held0, &err);
        if (rc && rc != VECTRON_UNAVAILABLE) {
            /* The store could not be renamed into place: stop (a restart
             * finds the snapshot again and copies anew). */
            char msg[400];
            snprintf(msg, sizeof msg, "%s", err.msg);
            s->h->o.fatal(s->h->o.fatal_arg, msg);
        }
    } else {
        pthread_mutex_lock(&s->apply_mu);
        held0 = mono_ms();
    }
    atomic_store(&s->copying, 0);
    pthread_mutex_unlock(&s->apply_mu);
    double held = mono_ms() - held0;
    if (!rc) {
        char olddir[PATH_MAX + 16];
        snprintf(olddir, sizeof olddir, "%s.old", s->dir);
        shard_close(old); /* no reader has it: swapped under the lock */
        host_remove_tree(olddir);
        vx_log(VECTRON_LOG_INFO, LOG,
               "group=%" PRIu64 " installed the copied store (applied %" PRIu64
               ") and %zu deferred entries (%zu off the lock, %zu under it)",
               s->group, applied, n_off + n_tail, n_off, n_tail);
        vx_log(VECTRON_LOG_INFO, LOG,
               "group=%" PRIu64 " swap held apply_mu for %.1f ms", s->group,
               held);
        return NULL;
    }
    shard_close(sh);
    vx_log(VECTRON_LOG_WARN, LOG, "group=%" PRIu64 " store copy: %s", s->group,
           err.msg);
    host_remove_tree(dir);
    return NULL;
}

/* Starts the copier (apply_mu held). */
static int start_copier(host_shard *s, vectron_error *err)
{
    if (s->have_copier) {
        pthread_join(s->copier, NULL); /* it finished: copying is 0 */
        s->have_copier = 0;
    }
    atomic_store(&s->copying, 1);
    s->copy_started = mono_s();
    if (pthread_create(&s->copier, NULL, copier_main, s) != 0) {
        atomic_store(&s->copying, 0);
        return vx_err(err, VECTRON_INTERNAL, "store copier thread");
    }
    s->have_copier = 1;
    return 0;
}

int hc_restore_behind(host_shard *s, uint64_t need, const char *source,
                      vectron_error *err)
{
    if (!source[0] || !s->h->o.rpc)
        return vx_err(err, VECTRON_UNSUPPORTED,
                      "shard group %" PRIu64 ": the store is behind the "
                      "snapshot (needs index %" PRIu64
                      ") and no peer to copy it from is known",
                      s->group, need);
    pthread_mutex_lock(&s->apply_mu);
    /* Read under the lock: a copier's swap replaces (and then closes)
     * s->sh once it releases it. */
    uint64_t at = shard_applied_index(s->sh);
    /* The snapshot covers every entry deferred so far. */
    drop_deferred(s);
    if (need > s->behind)
        s->behind = need;
    atomic_store(&s->stale, 1);
    snprintf(s->copy_source, sizeof s->copy_source, "%s", source);
    int rc = atomic_load(&s->copying) ? 0 : start_copier(s, err);
    pthread_mutex_unlock(&s->apply_mu);
    vx_log(VECTRON_LOG_INFO, LOG,
           "group=%" PRIu64 " snapshot needs index %" PRIu64
           ", the store is at %" PRIu64 ": copying it from %s",
           s->group, need, at, source);
    return rc;
}

void hc_defer(host_shard *s, uint64_t index, const void *buf, size_t len)
{
    s->deferred_bytes += len;
    s->deferred_n++;
    if (s->spilling || s->deferred_mem + len > hc_defer_mem_max) {
        spill_append(s, index, buf, len); /* a failure is fatal */
        goto retry;
    }
    hc_entry *e = vx_malloc(sizeof *e + len);
    if (!e) {
        s->h->o.fatal(s->h->o.fatal_arg,
                      "out of memory keeping entries during a store copy");
        return;
    }
    e->next = NULL;
    e->index = index;
    e->len = len;
    memcpy(e->buf, buf, len);
    if (s->deferred_tail)
        s->deferred_tail->next = e;
    else
        s->deferred = e;
    s->deferred_tail = e;
    s->deferred_mem += len;
retry:
    /* A failed copy is tried again, at most once a second. */
    if (!atomic_load(&s->copying) && mono_s() > s->copy_started) {
        vectron_error err = {0};
        if (start_copier(s, &err))
            vx_log(VECTRON_LOG_WARN, LOG, "group=%" PRIu64 " %s", s->group,
                   err.msg);
    }
}

void hc_shard_close(host_shard *s)
{
    if (s->have_copier) {
        atomic_store(&s->copy_cancel, 1);
        pthread_join(s->copier, NULL);
        s->have_copier = 0;
    }
    drop_deferred(s);
    char in[PATH_MAX + 16];
    incoming_dir(s, in, sizeof in);
    host_remove_tree(in);
}
