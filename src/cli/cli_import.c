/*
 * cli_import.c - `vectron import`: reads fvecs, JSONL or CSV records,
 * creates the collection when asked, and upserts the records in batches
 * (the binary bulk body of docs/formats/bulk-upsert.md; JSON when a batch
 * mixes integer and UUID ids), each with wait=true, --parallel at once.
 * After every acknowledged batch the byte offset reached is recorded in a
 * state file, so that the same command run again after an interruption
 * continues there (docs/cli.md "Resuming"). Progress goes to stderr: a bar
 * redrawn in place on a terminal, periodic lines otherwise.
 *
 * Threading: the main thread reads, parses, encodes and records progress;
 * --parallel worker threads (each with its own HTTP connection) send the
 * encoded batches. The slots between them are guarded by pool.mu (see
 * "the pipeline" below).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_parse.h"
#include "common/common.h"
#include "common/json.h"

#define STATE_MAGIC "vectron-import-state 1"
#define BULK_TYPE "application/vnd.vectron.bulk-upsert"

typedef enum fmt { FMT_NONE = 0, FMT_FVECS, FMT_JSONL, FMT_CSV } fmt;
static const char *const fmt_names[] = {"", "fvecs", "jsonl", "csv"};

typedef struct opts {
    const char *url, *collection, *input, *state_dir, *distance;
    fmt format;
    unsigned long batch, shards, timeout_s, parallel;
    double progress_interval;
    int create, wait, restart, quiet;
} opts;

/* Where the input stands: what the state file records. */
typedef struct position {
    uint64_t records; /* records read: the next sequential id */
    uint64_t offset;  /* bytes of the input consumed */
    uint64_t line;    /* lines consumed (JSONL, CSV; header included) */
} position;

struct pool;

typedef struct importer {
    opts o;
    cli_conn conn;
    char path_esc[1024]; /* "/collections/<escaped name>" */
    FILE *in;
    struct stat st;
    char real[PATH_MAX];
    char state_path[PATH_MAX + 300];
    cli_csv csv;
    char *line;
    size_t line_cap;
    position pos;        /* after the last record read */
    uint64_t rec_line;   /* line (or vector number) of the current record */
    cli_record rec;
    uint32_t dim;
    /* the batch being filled */
    point_id *ids;
    float *vecs;
    char *pl;         /* payload texts back to back */
    size_t pl_len, pl_cap;
    uint32_t *pl_lens;
    size_t n;
    uint64_t first_line; /* of the batch, for messages */
    /* the batches in flight (pipelined over --parallel connections) */
    struct pool *pool;
    position acked; /* end of the last batch acknowledged in order */
    /* progress */
    struct timespec t0, last_draw;
    uint64_t start_offset, start_records, sent;
    uint64_t last_drawn; /* sent at the last progress output */
    int drawn;
    int tty;
} importer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double since(const struct timespec *t)
{
    return now_s() - ((double)t->tv_sec + (double)t->tv_nsec * 1e-9);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vectron import --collection NAME [options] FILE\n"
            "\n"
            "Upserts the vectors of FILE (fvecs, JSONL or CSV; see "
            "docs/cli.md) into a\n"
            "collection, in batches, resumably.\n"
            "\n"
            "options:\n"
            "  --url URL            server (default $VECTRON_URL, else "
            "%s)\n"
            "  -c, --collection NAME  target collection (required)\n"
            "  --format F           fvecs, jsonl or csv (default: from the "
            "extension:\n"
            "                       .fvecs, .jsonl/.ndjson, .csv)\n"
            "  --create             create the collection when it does not "
            "exist\n"
            "                       (dimension from the data)\n"
            "  --distance D         Cosine, Euclid or Dot for --create "
            "(default Cosine)\n"
            "  --shards N           shard_number for --create (default: the "
            "server's)\n"
            "  --batch N            points per request (default 500)\n"
            "  --parallel N         requests in flight at once (default 2)\n"
            "  --wait               after the upload, wait until every point "
            "is indexed\n"
            "  --state-dir DIR      where the resume state lives (default: "
            "next to FILE)\n"
            "  --restart            ignore a saved state and start from the "
            "beginning\n"
            "  --progress-interval S  seconds between progress lines when "
            "stderr is not\n"
            "                       a terminal (default 5; 0: at every "
            "acknowledgement)\n"
            "  -q, --quiet          no progress output\n"
            "  --timeout S          per-request timeout in seconds (default "
            "120)\n"
            "  -h, --help           this help\n",
            CLI_DEFAULT_URL);
}

static int parse_opts(int argc, char **argv, opts *o)
{
    enum {
        O_URL = 256, O_FORMAT, O_CREATE, O_DISTANCE, O_SHARDS, O_BATCH,
        O_WAIT, O_STATE_DIR, O_RESTART, O_PROGRESS, O_TIMEOUT, O_PARALLEL
    };
    static const struct option lo[] = {
        {"url", required_argument, NULL, O_URL},
        {"collection", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, O_FORMAT},
        {"create", no_argument, NULL, O_CREATE},
        {"distance", required_argument, NULL, O_DISTANCE},
        {"shards", required_argument, NULL, O_SHARDS},
        {"batch", required_argument, NULL, O_BATCH},
        {"parallel", required_argument, NULL, O_PARALLEL},
        {"wait", no_argument, NULL, O_WAIT},
        {"state-dir", required_argument, NULL, O_STATE_DIR},
        {"restart", no_argument, NULL, O_RESTART},
        {"progress-interval", required_argument, NULL, O_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->batch = 500;
    o->parallel = 2;
    o->timeout_s = 120;
    o->progress_interval = 5;
    o->distance = "Cosine";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:qh", lo, NULL)) != -1) {
        switch (ch) {
        case O_URL:
            o->url = optarg;
            break;
        case 'c':
            o->collection = optarg;
            break;
        case O_FORMAT:
            for (int f = FMT_FVECS; f <= FMT_CSV; f++)
                if (strcmp(optarg, fmt_names[f]) == 0)
                    o->format = (fmt)f;
            if (o->format == FMT_NONE) {
                fprintf(stderr,
                        "vectron import: --format: expected fvecs, jsonl or "
                        "csv, got '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case O_CREATE:
            o->create = 1;
            break;
        case O_DISTANCE:
            if (strcmp(optarg, "Cosine") && strcmp(optarg, "Euclid") &&
                strcmp(optarg, "Dot")) {
                fprintf(stderr,
                        "vectron import: --distance: expected Cosine, Euclid "
                        "or Dot, got '%s'\n",
                        optarg);
                return -1;
            }
            o->distance = optarg;
            break;
        case O_SHARDS:
            if (cli_parse_uint(optarg, 1024, &o->shards) || !o->shards) {
                fprintf(stderr, "vectron import: --shards: expected 1..1024\n");
                return -1;
            }
            break;
        case O_BATCH:
            if (cli_parse_uint(optarg, 100000, &o->batch) || !o->batch) {
                fprintf(stderr,
                        "vectron import: --batch: expected 1..100000\n");
                return -1;
            }
            break;
        case O_PARALLEL:
            if (cli_parse_uint(optarg, 64, &o->parallel) || !o->parallel) {
                fprintf(stderr,
                        "vectron import: --parallel: expected 1..64\n");
                return -1;
            }
            break;
        case O_WAIT:
            o->wait = 1;
            break;
        case O_STATE_DIR:
            o->state_dir = optarg;
            break;
        case O_RESTART:
            o->restart = 1;
            break;
        case O_PROGRESS: {
            char *end;
            o->progress_interval = strtod(optarg, &end);
            if (*end || !(o->progress_interval >= 0)) {
                fprintf(stderr, "vectron import: --progress-interval: "
                                "expected seconds >= 0\n");
                return -1;
            }
            break;
        }
        case 'q':
            o->quiet = 1;
            break;
        case O_TIMEOUT:
            if (cli_parse_uint(optarg, 86400, &o->timeout_s) || !o->timeout_s) {
                fprintf(stderr,
                        "vectron import: --timeout: expected 1..86400\n");
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "vectron import: expected one input file\n\n");
        usage(stderr);
        return -1;
    }
    o->input = argv[optind];
    if (!o->collection) {
        fprintf(stderr, "vectron import: --collection is required\n");
        return -1;
    }
    if (o->format == FMT_NONE) {
        const char *dot = strrchr(o->input, '.');
        if (dot && strcmp(dot, ".fvecs") == 0)
            o->format = FMT_FVECS;
        else if (dot && (strcmp(dot, ".jsonl") == 0 ||
                         strcmp(dot, ".ndjson") == 0))
            o->format = FMT_JSONL;
        else if (dot && strcmp(dot, ".csv") == 0)
            o->format = FMT_CSV;
        else {
            fprintf(stderr,
                    "vectron import: %s: cannot tell the format from the "
                    "extension; pass --format fvecs|jsonl|csv\n",
                    o->input);
            return -1;
        }
    }
    return 0;
}

/* ---- reading records ----------------------------------------------------- */

/* Reads the next line into im->line without its line break; 0 at the
 * end, 1 with a line, -1 on a read error. */
static int next_line(importer *im, size_t *len, vectron_error *err)
{
    ssize_t n = getline(&im->line, &im->line_cap, im->in);
    if (n < 0) {
        if (ferror(im->in))
            return vx_err(err, VECTRON_IO, "%s: read: %s", im->o.input,
                          strerror(errno)),
                   -1;
        return 0;
    }
    im->pos.offset += (uint64_t)n;
    im->pos.line++;
    while (n > 0 && (im->line[n - 1] == '\n' || im->line[n - 1] == '\r'))
        n--;
    *len = (size_t)n;
    return 1;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

/* Reads and parses the next record into im->rec: 1 with a record, 0 at
 * the end, or a negative value with err set ("file:line: ..."). */
static int next_record(importer *im, vectron_error *err)
{
    int rc;
    if (im->o.format == FMT_FVECS) {
        uint8_t hdr[4];
        size_t got = fread(hdr, 1, 4, im->in);
        im->rec_line = im->pos.records + 1;
        if (got == 0 && feof(im->in))
            return 0;
        if (got != 4) {
            vx_err(err, VECTRON_CORRUPT,
                   "%s: vector %" PRIu64 " (byte %" PRIu64 "): truncated",
                   im->o.input, im->rec_line, im->pos.offset);
            return -1;
        }
        uint32_t d = vx_get_u32(hdr);
        if (d == 0 || d > CLI_MAX_DIM) {
            vx_err(err, VECTRON_CORRUPT,
                   "%s: vector %" PRIu64 " (byte %" PRIu64
                   "): dimension %u is out of range (not an fvecs file?)",
                   im->o.input, im->rec_line, im->pos.offset, d);
            return -1;
        }
        if (d > im->rec.vec_cap) {
            float *v = vx_realloc(im->rec.vec, (size_t)d * sizeof *v);
            if (!v) {
                vx_err(err, VECTRON_NOMEM, "out of memory");
                return -1;
            }
            im->rec.vec = v;
            im->rec.vec_cap = d;
        }
        if (fread(im->rec.vec, 4, d, im->in) != d) {
            vx_err(err, VECTRON_CORRUPT,
                   "%s: vector %" PRIu64 " (byte %" PRIu64
                   "): truncated (%u components expected)",
                   im->o.input, im->rec_line, im->pos.offset, d);
            return -1;
        }
        for (uint32_t i = 0; i < d; i++) {
            /* fvecs is little-endian, as is every supported host. */
            if (!isfinite(im->rec.vec[i])) {
                vx_err(err, VECTRON_CORRUPT,
                       "%s: vector %" PRIu64 ": component %u is not finite",
                       im->o.input, im->rec_line, i);
                return -1;
            }
        }
        im->rec.dim = d;
        im->rec.has_id = 0;
        im->rec.payload_len = 0;
        im->pos.offset += 4 + 4 * (uint64_t)d;
        im->pos.records++;
        return 1;
    }
    for (;;) {
        size_t len;
        rc = next_line(im, &len, err);
        if (rc <= 0)
            return rc;
        im->rec_line = im->pos.line;
        if (blank(im->line, len))
            continue;
        if (im->o.format == FMT_JSONL)
            rc = cli_parse_jsonl(im->line, len, &im->rec, err);
        else
            rc = cli_parse_csv(&im->csv, im->line, len, &im->rec, err);
        if (rc) {
            vx_err_wrap(err, rc, "%s:%" PRIu64, im->o.input, im->rec_line);
            return -1;
        }
        im->pos.records++;
        return 1;
    }
}

/* ---- the resume state ---------------------------------------------------- */

static int state_write(importer *im, vectron_error *err)
{
    char tmp[sizeof im->state_path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", im->state_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return vx_err(err, VECTRON_IO, "%s: %s", tmp, strerror(errno));
    fprintf(f,
            STATE_MAGIC "\n"
            "input=%s\ncollection=%s\nformat=%s\nsize=%" PRIu64
            "\nmtime=%lld.%09ld\nrecords=%" PRIu64 "\noffset=%" PRIu64
            "\nline=%" PRIu64 "\n",
            im->real, im->o.collection, fmt_names[im->o.format],
            (uint64_t)im->st.st_size, (long long)im->st.st_mtim.tv_sec,
            im->st.st_mtim.tv_nsec, im->acked.records, im->acked.offset,
            im->acked.line);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, im->state_path) != 0) {
        int e = errno;
        unlink(tmp);
        return vx_err(err, VECTRON_IO, "%s: %s", im->state_path, strerror(e));
    }
    return 0;
}

/* Reads a saved state: 0 with *found 0 when there is none; an error when
 * it belongs to a different input version. */
static int state_read(importer *im, int *found, vectron_error *err)
{
    *found = 0;
    FILE *f = fopen(im->state_path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return vx_err(err, VECTRON_IO, "%s: %s", im->state_path,
                      strerror(errno));
    }
    char line[PATH_MAX + 64];
    char input[PATH_MAX] = "", coll[300] = "", format[16] = "", mtime[64] = "";
    uint64_t size = 0;
    position p = {0};
    int ok = fgets(line, sizeof line, f) &&
             strncmp(line, STATE_MAGIC "\n", sizeof STATE_MAGIC) == 0;
    while (ok && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(line, "input") == 0)
            snprintf(input, sizeof input, "%s", v);
        else if (strcmp(line, "collection") == 0)
            snprintf(coll, sizeof coll, "%s", v);
        else if (strcmp(line, "format") == 0)
            snprintf(format, sizeof format, "%s", v);
        else if (strcmp(line, "mtime") == 0)
            snprintf(mtime, sizeof mtime, "%s", v);
        else if (strcmp(line, "size") == 0)
            size = strtoull(v, NULL, 10);
        else if (strcmp(line, "records") == 0)
            p.records = strtoull(v, NULL, 10);
        else if (strcmp(line, "offset") == 0)
            p.offset = strtoull(v, NULL, 10);
        else if (strcmp(line, "line") == 0)
            p.line = strtoull(v, NULL, 10);
    }
    fclose(f);
    if (!ok)
        return vx_err(err, VECTRON_CORRUPT,
                      "%s: not an import state file (remove it, or pass "
                      "--restart)",
                      im->state_path);
    char want_mtime[64];
    snprintf(want_mtime, sizeof want_mtime, "%lld.%09ld",
             (long long)im->st.st_mtim.tv_sec, im->st.st_mtim.tv_nsec);
    if (size != (uint64_t)im->st.st_size || strcmp(mtime, want_mtime) != 0 ||
        strcmp(input, im->real) != 0 ||
        strcmp(format, fmt_names[im->o.format]) != 0 ||
        strcmp(coll, im->o.collection) != 0 || p.offset > size)
        /* The advice first: long paths must not cut it off (messages
         * hold VECTRON_ERROR_MSG_SIZE bytes). */
        return vx_err(err, VECTRON_INVALID,
                      "pass --restart to import from the beginning: the "
                      "input changed since the interrupted import (size, "
                      "mtime or format differ): %.70s, state %.90s",
                      im->o.input, im->state_path);
    im->pos = p;
    *found = 1;
    return 0;
}

/* ---- batches ------------------------------------------------------------- */

static int batch_alloc(importer *im, vectron_error *err)
{
    im->ids = vx_calloc(im->o.batch, sizeof *im->ids);
    im->vecs = vx_malloc(im->o.batch * (size_t)im->dim * sizeof *im->vecs);
    im->pl_lens = vx_calloc(im->o.batch, sizeof *im->pl_lens);
    if (!im->ids || !im->vecs || !im->pl_lens)
        return vx_err(err, VECTRON_NOMEM, "out of memory for a batch of %lu",
                      im->o.batch);
    return 0;
}

static int batch_add(importer *im, vectron_error *err)
{
    const cli_record *r = &im->rec;
    if (r->dim != im->dim)
        return vx_err(err, VECTRON_DIMENSION,
                      "%s:%" PRIu64 ": vector has %u components, the first "
                      "one %u",
                      im->o.input, im->rec_line, r->dim, im->dim);
    if (im->n == 0)
        im->first_line = im->rec_line;
    if (r->has_id) {
        im->ids[im->n] = r->id;
    } else {
        memset(&im->ids[im->n], 0, sizeof im->ids[im->n]);
        im->ids[im->n].num = im->pos.records - 1;
    }
    memcpy(im->vecs + im->n * im->dim, r->vec, im->dim * sizeof(float));
    if (im->pl_len + r->payload_len > im->pl_cap) {
        size_t cap = im->pl_cap ? im->pl_cap : 65536;
        while (cap < im->pl_len + r->payload_len)
            cap *= 2;
        char *p = vx_realloc(im->pl, cap);
        if (!p)
            return vx_err(err, VECTRON_NOMEM, "out of memory");
        im->pl = p;
        im->pl_cap = cap;
    }
    if (r->payload_len)
        memcpy(im->pl + im->pl_len, r->payload, r->payload_len);
    im->pl_len += r->payload_len;
    im->pl_lens[im->n] = (uint32_t)r->payload_len;
    im->n++;
    return 0;
}

static void progress(importer *im, int final);

/* ---- the pipeline --------------------------------------------------------
 * The main thread parses and encodes batches into slots; --parallel worker
 * threads, each with its own connection, send them. Slot k holds batch
 * seq with seq % nslots == k. Batches are acknowledged in any order, but
 * the main thread records progress in sequence order only: the state file
 * names the end of the longest prefix of acknowledged batches, so a rerun
 * never skips a batch that was not acknowledged. */

enum { SLOT_FREE = 0, SLOT_QUEUED, SLOT_BUSY, SLOT_DONE, SLOT_FAILED };

typedef struct slot {
    int status;
    uint64_t seq;
    uint8_t *body;
    size_t cap, len;
    int json;
    size_t n;
    position end;
    uint64_t first_line;
    vectron_error err;
} slot;

typedef struct worker {
    struct pool *pool;
    cli_conn conn;
    pthread_t thread;
    int started;
} worker;

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *slots;
    size_t nslots;
    worker *workers;
    size_t nworkers;
    uint64_t next_seq;  /* the next batch the main thread submits */
    uint64_t next_send; /* the next batch a worker takes */
    uint64_t next_ack;  /* the next batch the main thread collects */
    int stop;           /* workers exit once nothing is queued */
    char path[1100];
} pool;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        slot *s = &p->slots[p->next_send % p->nslots];
        if (s->status == SLOT_QUEUED && s->seq == p->next_send) {
            p->next_send++;
            s->status = SLOT_BUSY;
            pthread_mutex_unlock(&p->mu);
            int rc = cli_call(&w->conn, "PUT", p->path, s->body, s->len,
                              s->json ? "application/json" : BULK_TYPE, NULL,
                              NULL, &s->err);
            pthread_mutex_lock(&p->mu);
            s->status = rc ? SLOT_FAILED : SLOT_DONE;
            pthread_cond_broadcast(&p->cv);
            continue;
        }
        if (p->stop)
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int pool_start(importer *im, vectron_error *err)
{
    pool *p = vx_calloc(1, sizeof *p);
    if (!p)
        return vx_err(err, VECTRON_NOMEM, "out of memory");
    im->pool = p;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    snprintf(p->path, sizeof p->path, "%s/points?wait=true", im->path_esc);
    p->nworkers = im->o.parallel;
    p->nslots = 2 * p->nworkers;
    p->slots = vx_calloc(p->nslots, sizeof *p->slots);
    p->workers = vx_calloc(p->nworkers, sizeof *p->workers);
    if (!p->slots || !p->workers)
        return vx_err(err, VECTRON_NOMEM, "out of memory");
    for (size_t i = 0; i < p->nworkers; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        int rc = cli_conn_open(&w->conn, im->conn.base, im->conn.timeout_ms,
                               err);
        if (rc)
            return rc;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return vx_err(err, VECTRON_INTERNAL, "cannot start a thread");
        w->started = 1;
    }
    return 0;
}

/* Stops the workers once the queue is empty (or at once after their
 * current request when abort is set) and frees the pool. */
static void pool_stop(importer *im, int abort_queued)
{
    pool *p = im->pool;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    if (abort_queued)
        for (size_t i = 0; p->slots && i < p->nslots; i++)
            if (p->slots[i].status == SLOT_QUEUED)
                p->slots[i].status = SLOT_FREE;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; p->workers && i < p->nworkers; i++) {
        if (p->workers[i].started)
            pthread_join(p->workers[i].thread, NULL);
        cli_conn_close(&p->workers[i].conn);
    }
    for (size_t i = 0; p->slots && i < p->nslots; i++)
        vx_free(p->slots[i].body);
    vx_free(p->slots);
    vx_free(p->workers);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    vx_free(p);
    im->pool = NULL;
}

/* Records the batches acknowledged in sequence order (state file,
 * progress). Without block it returns at once; with block it waits until
 * at least one more batch is collected or a failure shows up. Returns the
 * failure of the first failed batch in order. */
static int collect(importer *im, int block, vectron_error *err)
{
    pool *p = im->pool;
    position end = {0};
    size_t points = 0;
    int rc = 0, got = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        slot *s = &p->slots[p->next_ack % p->nslots];
        if (p->next_ack < p->next_seq && s->status == SLOT_DONE) {
            end = s->end;
            points += s->n;
            s->status = SLOT_FREE;
            p->next_ack++;
            got = 1;
            continue;
        }
        if (p->next_ack < p->next_seq && s->status == SLOT_FAILED) {
            *err = s->err;
            rc = vx_err_wrap(err, s->err.code,
                             "upsert of the batch starting at %s:%" PRIu64,
                             im->o.input, s->first_line);
            break;
        }
        if (got || !block || p->next_ack == p->next_seq)
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    if (got) {
        im->acked = end;
        im->sent += points;
        int wrc = state_write(im, rc ? NULL : err);
        if (!rc)
            rc = wrc;
        if (!rc)
            progress(im, 0);
    }
    return rc;
}

static int reserve(slot *s, size_t n, vectron_error *err)
{
    if (n > s->cap) {
        uint8_t *p = vx_realloc(s->body, n);
        if (!p)
            return vx_err(err, VECTRON_NOMEM, "out of memory");
        s->body = p;
        s->cap = n;
    }
    return 0;
}

/* The binary bulk body (docs/formats/bulk-upsert.md) of the batch; all
 * ids of one kind. */
static int encode_bulk(importer *im, slot *sl, vectron_error *err)
{
    int uuid = im->ids[0].is_uuid;
    size_t idsz = uuid ? 16 : 8;
    size_t n = im->n;
    size_t need = 32 + n * idsz + n * im->dim * 4 + 4;
    if (im->pl_len)
        need += n * 4 + im->pl_len;
    int rc = reserve(sl, need, err);
    if (rc)
        return rc;
    uint8_t *p = sl->body;
    memcpy(p, "VXBULK\0\0", 8);
    vx_put_u32(p + 8, 1);
    vx_put_u32(p + 12, (uuid ? 1u : 0u) | (im->pl_len ? 2u : 0u));
    vx_put_u32(p + 16, im->dim);
    vx_put_u32(p + 20, (uint32_t)n);
    vx_put_u64(p + 24, 0);
    p += 32;
    for (size_t i = 0; i < n; i++) {
        if (uuid) {
            memcpy(p, im->ids[i].uuid, 16);
            p += 16;
        } else {
            vx_put_u64(p, im->ids[i].num);
            p += 8;
        }
    }
    for (size_t i = 0; i < n * im->dim; i++) {
        uint32_t u;
        memcpy(&u, &im->vecs[i], 4);
        vx_put_u32(p, u);
        p += 4;
    }
    if (im->pl_len) {
        for (size_t i = 0; i < n; i++) {
            vx_put_u32(p, im->pl_lens[i]);
            p += 4;
        }
        memcpy(p, im->pl, im->pl_len);
        p += im->pl_len;
    }
    vx_put_u32(p, vx_crc32c(0, sl->body, (size_t)(p - sl->body)));
    p += 4;
    sl->len = (size_t)(p - sl->body);
    return 0;
}

/* The JSON body {"points":[...]} of the batch (ids of both kinds). */
static int encode_json(importer *im, slot *sl, vectron_error *err)
{
    static const char head[] = "{\"points\":[";
    size_t cap = 32 + im->n * (96 + (size_t)im->dim * 17) + im->pl_len;
    size_t o = 0, pl = 0;
    int rc = reserve(sl, cap, err);
    if (rc)
        return rc;
    char *t = (char *)sl->body;
    memcpy(t, head, sizeof head - 1);
    o += sizeof head - 1;
    for (size_t i = 0; i < im->n; i++) {
        char idtext[48];
        point_id_format(&im->ids[i], idtext);
        o += (size_t)snprintf(t + o, cap - o,
                              im->ids[i].is_uuid
                                  ? "%s{\"id\":\"%s\",\"vector\":["
                                  : "%s{\"id\":%s,\"vector\":[",
                              i ? "," : "", idtext);
        for (uint32_t k = 0; k < im->dim; k++)
            o += (size_t)snprintf(t + o, cap - o, "%s%.9g", k ? "," : "",
                                  (double)im->vecs[i * im->dim + k]);
        t[o++] = ']';
        if (im->pl_lens[i]) {
            memcpy(t + o, ",\"payload\":", 11);
            o += 11;
            memcpy(t + o, im->pl + pl, im->pl_lens[i]);
            o += im->pl_lens[i];
            pl += im->pl_lens[i];
        }
        t[o++] = '}';
    }
    t[o++] = ']';
    t[o++] = '}';
    sl->len = o;
    return 0;
}

/* Encodes the batch into the next slot (waiting for one to free up) and
 * queues it for the workers. */
static int batch_send(importer *im, vectron_error *err)
{
    pool *p = im->pool;
    int rc;
    slot *s = &p->slots[p->next_seq % p->nslots];
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int free_now = s->status == SLOT_FREE;
        pthread_mutex_unlock(&p->mu);
        if (free_now)
            break;
        if ((rc = collect(im, 1, err)))
            return rc;
    }
    int mixed = 0;
    for (size_t i = 1; i < im->n; i++)
        mixed |= im->ids[i].is_uuid != im->ids[0].is_uuid;
    rc = mixed ? encode_json(im, s, err) : encode_bulk(im, s, err);
    if (rc)
        return rc;
    s->json = mixed;
    s->n = im->n;
    s->end = im->pos;
    s->first_line = im->first_line;
    pthread_mutex_lock(&p->mu);
    s->seq = p->next_seq++;
    s->status = SLOT_QUEUED;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    im->n = 0;
    im->pl_len = 0;
    return collect(im, 0, err);
}

/* Waits until every queued batch is acknowledged (or one failed). */
static int batch_drain(importer *im, vectron_error *err)
{
    pool *p = im->pool;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int done = p->next_ack == p->next_seq;
        pthread_mutex_unlock(&p->mu);
        if (done)
            return 0;
        int rc = collect(im, 1, err);
        if (rc)
            return rc;
    }
}

/* ---- progress ------------------------------------------------------------ */

static void fmt_eta(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 360000) {
        snprintf(buf, cap, "--:--");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%lu:%02lu", t / 60, t % 60);
}

static void progress(importer *im, int final)
{
    if (im->o.quiet)
        return;
    double el = since(&im->t0);
    if (!final) {
        double gap = since(&im->last_draw);
        if (im->tty ? gap < 0.1 : gap < im->o.progress_interval)
            return;
    }
    /* A final plain line repeating the last one adds nothing. */
    if (final && !im->tty && im->drawn && im->last_drawn == im->sent)
        return;
    im->drawn = 1;
    im->last_drawn = im->sent;
    clock_gettime(CLOCK_MONOTONIC, &im->last_draw);
    uint64_t total = (uint64_t)im->st.st_size;
    uint64_t done = im->acked.offset;
    double frac = total ? (double)done / (double)total : 1.0;
    if (frac > 1)
        frac = 1;
    double rate = el > 0 ? (double)im->sent / el : 0;
    double brate = el > 0 ? (double)(done - im->start_offset) / el : 0;
    char eta[32];
    fmt_eta(brate > 0 ? (double)(total - done) / brate : -1, eta, sizeof eta);
    uint64_t points = im->start_records + im->sent;
    if (im->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %3.0f%%  %" PRIu64 " points  %.0f points/s  "
                        "ETA %s\033[K",
                bar, frac * 100, points, rate, final ? "0:00" : eta);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr,
                "import: %.1f%%  %" PRIu64 " points  %.0f points/s  ETA "
                "%s\n",
                frac * 100, points, rate, final ? "0:00" : eta);
    }
    fflush(stderr);
}

/* ---- the collection ------------------------------------------------------ */

/* Checks that the collection exists with the data's dimension, creating
 * it when asked. */
static int ensure_collection(importer *im, vectron_error *err)
{
    json_t *j = NULL;
    long status;
    int rc = cli_call(&im->conn, "GET", im->path_esc, NULL, 0, NULL, &j,
                      &status, err);
    if (rc == 0) {
        json_t *v = json_object_get(json_object_get(json_object_get(
                                        json_object_get(j, "result"), "config"),
                                                    "params"),
                                    "vectors");
        json_t *sz = json_object_get(v, "size");
        if (json_is_integer(sz) && json_integer_value(sz) != im->dim)
            rc = vx_err(err, VECTRON_DIMENSION,
                        "collection %s has dimension %lld, the vectors of %s "
                        "have %u",
                        im->o.collection, (long long)json_integer_value(sz),
                        im->o.input, im->dim);
        json_decref(j);
        return rc;
    }
    if (status != 404)
        return rc;
    if (!im->o.create)
        return vx_err(err, VECTRON_NOT_FOUND,
                      "collection %s does not exist (pass --create to create "
                      "it)",
                      im->o.collection);
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"vectors\":{\"size\":%u,\"distance\":\"%s\"}", im->dim,
                     im->o.distance);
    if (im->o.shards)
        n += snprintf(body + n, sizeof body - (size_t)n,
                      ",\"shard_number\":%lu", im->o.shards);
    n += snprintf(body + n, sizeof body - (size_t)n, "}");
    rc = cli_call(&im->conn, "PUT", im->path_esc, body, (size_t)n, NULL, NULL,
                  NULL, err);
    if (rc)
        return vx_err_wrap(err, rc, "create collection %s", im->o.collection);
    if (!im->o.quiet)
        fprintf(stderr, "import: created collection %s (dim %u, %s)\n",
                im->o.collection, im->dim, im->o.distance);
    return 0;
}

/* Polls the collection until no point waits for the index. */
static int wait_indexed(importer *im, vectron_error *err)
{
    double t0 = now_s();
    for (;;) {
        json_t *j = NULL;
        int rc = cli_call(&im->conn, "GET", im->path_esc, NULL, 0, NULL, &j,
                          NULL, err);
        if (rc)
            return rc;
        json_t *st = json_object_get(json_object_get(j, "result"), "status");
        int green = json_is_string(st) &&
                    strcmp(json_string_value(st), "green") == 0;
        json_decref(j);
        if (green)
            return 0;
        if (now_s() - t0 > (double)im->o.timeout_s)
            return vx_err(err, VECTRON_TIMEOUT,
                          "--wait: collection %s still indexing after %lu s",
                          im->o.collection, im->o.timeout_s);
        usleep(100 * 1000);
    }
}

/* ---- main ---------------------------------------------------------------- */

static int run(importer *im, vectron_error *err)
{
    int rc, found = 0;
    if (!(im->in = fopen(im->o.input, "rb")))
        return vx_err(err, VECTRON_IO, "%s: %s", im->o.input, strerror(errno));
    if (fstat(fileno(im->in), &im->st) != 0 || !realpath(im->o.input, im->real))
        return vx_err(err, VECTRON_IO, "%s: %s", im->o.input, strerror(errno));
    if (!S_ISREG(im->st.st_mode))
        return vx_err(err, VECTRON_INVALID, "%s: not a regular file",
                      im->o.input);

    /* The state file: <dir>/<collection>.<input name>.import-state. */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", im->real);
    const char *dir = im->o.state_dir ? im->o.state_dir : dirname(tmp);
    char tmp2[PATH_MAX];
    snprintf(tmp2, sizeof tmp2, "%s", im->real);
    snprintf(im->state_path, sizeof im->state_path, "%s/%s.%s.import-state",
             dir, im->o.collection, basename(tmp2));
    if (!im->o.restart && (rc = state_read(im, &found, err)))
        return rc;

    if (im->o.format == FMT_CSV) {
        size_t len;
        uint64_t off = im->pos.offset, line = im->pos.line;
        im->pos.offset = 0;
        im->pos.line = 0;
        rc = next_line(im, &len, err);
        if (rc < 0)
            return err->code;
        if (rc == 0)
            return vx_err(err, VECTRON_INVALID, "%s: empty (no header line)",
                          im->o.input);
        if ((rc = cli_csv_header(im->line, len, &im->csv, err)))
            return vx_err_wrap(err, rc, "%s:1", im->o.input);
        if (found) {
            im->pos.offset = off;
            im->pos.line = line;
        }
    }
    if (found) {
        if (fseeko(im->in, (off_t)im->pos.offset, SEEK_SET) != 0)
            return vx_err(err, VECTRON_IO, "%s: seek: %s", im->o.input,
                          strerror(errno));
        if (!im->o.quiet)
            fprintf(stderr,
                    "import: resuming from %s: %" PRIu64
                    " records already imported (byte %" PRIu64 " of %lld)\n",
                    im->state_path, im->pos.records, im->pos.offset,
                    (long long)im->st.st_size);
    }
    im->start_offset = im->pos.offset;
    im->start_records = im->pos.records;
    im->acked = im->pos;

    rc = next_record(im, err);
    if (rc < 0)
        return err->code;
    if (rc == 0 && !found)
        return vx_err(err, VECTRON_INVALID, "%s: no records", im->o.input);
    int have = rc;
    if (have) {
        im->dim = im->rec.dim;
        if ((rc = ensure_collection(im, err)) ||
            (rc = batch_alloc(im, err)) || (rc = pool_start(im, err)))
            return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &im->t0);
    im->last_draw = im->t0;
    while (have) {
        if ((rc = batch_add(im, err)))
            break;
        if (im->n == im->o.batch && (rc = batch_send(im, err)))
            break;
        rc = next_record(im, err);
        if (rc < 0) {
            rc = err->code;
            break;
        }
        have = rc;
        rc = 0;
    }
    if (rc == 0 && im->n)
        rc = batch_send(im, err);
    if (im->pool) {
        /* On an input error the batches before it are still sent and
         * recorded; on a server error nothing more is. */
        vectron_error e2 = {0};
        int drc = batch_drain(im, rc ? &e2 : err);
        if (!rc)
            rc = drc;
        pool_stop(im, 1);
    }
    if (rc)
        return rc;
    progress(im, 1);
    double el = since(&im->t0);
    if (im->o.wait && (rc = wait_indexed(im, err)))
        return rc;
    if (unlink(im->state_path) != 0 && errno != ENOENT)
        return vx_err(err, VECTRON_IO, "%s: %s", im->state_path,
                      strerror(errno));
    printf("imported %" PRIu64 " points into %s in %.2f s (%.0f points/s)",
           im->sent, im->o.collection, el, el > 0 ? (double)im->sent / el : 0);
    if (im->o.wait)
        printf("; all indexed after %.2f s", since(&im->t0));
    printf("\n");
    return 0;
}

int cli_import_main(int argc, char **argv)
{
    importer im;
    vectron_error err = {0};
    memset(&im, 0, sizeof im);
    int r = parse_opts(argc, argv, &im.o);
    if (r)
        return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    im.tty = isatty(STDERR_FILENO);
    int rc = cli_conn_open(&im.conn, im.o.url, (unsigned)im.o.timeout_s * 1000,
                           &err);
    if (rc == 0)
        rc = cli_escape(im.o.collection, im.path_esc + 13,
                        sizeof im.path_esc - 13, &err);
    if (rc == 0) {
        memcpy(im.path_esc, "/collections/", 13);
        rc = run(&im, &err);
    }
    if (rc && im.tty && im.sent && !im.o.quiet)
        fputc('\n', stderr);
    if (im.in)
        fclose(im.in);
    pool_stop(&im, 1);
    cli_conn_close(&im.conn);
    cli_csv_free(&im.csv);
    cli_record_free(&im.rec);
    free(im.line);
    vx_free(im.ids);
    vx_free(im.vecs);
    vx_free(im.pl);
    vx_free(im.pl_lens);
    return rc ? cli_fail("import", &err) : CLI_EXIT_OK;
}
