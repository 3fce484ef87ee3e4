/*
 * bench_http.c - the HTTP benchmark (make bench, part 2; docs/bench.md):
 * Vectron's REST API end to end, against the in-process index it wraps.
 *
 *   bench_http --vectron PATH [--data fashion|glove] [--data-dir DIR]
 *              [--n N] [--gt PREFIX] [--m 16] [--efc 200] [--k 10]
 *              [--batch 500] [--efs 10,16,...] [--threads 1,2]
 *              [--upsert-threads 1,2] [--formats json,bulk]
 *              [--queries Q] [--work DIR] [--server-args "..."]
 *              [--no-inproc] [--hold-server] --out CSV [--summary FILE]
 *
 * What it does, in order:
 *  1. loads the data set and its ground truth (as bench_index does);
 *  2. in-process reference: builds a Vectron index (include/vectron/
 *     index.h, through bench_vectron.c) with the same M and
 *     ef_construction from 2 threads and sweeps single-thread searches
 *     over the same ef values (skipped with --no-inproc);
 *  3. starts `PATH serve` as a child process on loopback (free ports from
 *     the kernel, data in a fresh directory under --work, removed at the
 *     end), waits for GET /readyz;
 *  4. upsert throughput: for each body format (json: {"points": [...]}
 *     with floats in their shortest round-trip form; bulk: the binary
 *     body of docs/formats/bulk-upsert.md) and each client thread count,
 *     creates a collection and PUTs all points in batches of --batch with
 *     ?wait=true over keep-alive connections, then polls GET
 *     /collections/{c} until it is green with every point indexed. Bodies
 *     are encoded before the clock starts. The first collection is kept
 *     for the searches; the others are deleted once green;
 *  5. search: POST /collections/{c}/points/query with {"query": [...],
 *     "limit": k, "params": {"hnsw_ef": ef}} for every query (or the first
 *     --queries), per client thread count and ef, each client thread on
 *     its own keep-alive connection; recall@k, QPS, mean/p50/p99 latency
 *     as the client sees it (request written to response read);
 *  6. stops the server with SIGTERM and writes the CSV and the summary
 *     (the 1-thread QPS ratio to the in-process index at the smallest ef
 *     whose HTTP recall reaches 0.95; target >= 0.6).
 *
 * Every measured phase also records how many CPU cores the server, this
 * client and everything else on the machine used during it (from
 * /proc/<pid>/stat, getrusage and /proc/stat): on a small machine client
 * and server share the cores, and "other" above ~0.1 means another
 * process competed with the measurement.
 *
 * Recall: a returned id counts when it is one of the true k nearest or
 * ties with the k-th (the definition of bench_index.c, repeated here).
 *
 * Threading: the main thread runs the phases; each phase starts its
 * client threads (one HTTP connection each), which take work from an
 * atomic counter, write only their own result slots and report the
 * first error under the job's mutex; the main thread joins them before
 * reading anything. Only main() decides to exit; die() also stops the
 * server so that no child outlives the benchmark.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "gateway/qdrant_json.h"

#define MAX_SWEEP 32
#define MAX_COMBOS 8
#define MAX_ROWS 256 /* search rows: (client thread counts + 1) x efs */
#define ERR_SIZE 512
#define TARGET_RECALL 0.95
#define TARGET_RATIO 0.6
/* A phase during which other processes used more cores than this is
 * marked '!' in the summary: another process competed for the CPU. */
#define OTHER_MAX 0.15

static const char *default_efs = "10,16,24,32,48,64,96,128";

typedef struct options {
    const char *vectron;
    const char *data;
    const char *data_dir;
    const char *gt;
    const char *out;
    const char *summary;
    const char *work;
    const char *server_args;
    const char *efs;
    const char *threads;
    const char *upsert_threads;
    const char *formats;
    size_t n, queries;
    uint32_t m, efc, k, batch;
    int inproc;
    int hold_server;
} options;

/* ---- dying without leaving a server behind ------------------------------- */

static volatile pid_t server_pid = -1;

static void stop_child_now(void)
{
    pid_t pid = server_pid;
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        server_pid = -1;
    }
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_http: %s: %s\n", what, msg);
    stop_child_now();
    exit(1);
}

static void on_signal(int sig)
{
    pid_t pid = server_pid;
    if (pid > 0) {
        kill(pid, SIGTERM);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_http --vectron PATH [--data fashion|glove]\n"
            "         [--data-dir DIR] [--n N] [--gt PREFIX] [--m M]\n"
            "         [--efc EF] [--k K] [--batch B] [--efs LIST]\n"
            "         [--threads LIST] [--upsert-threads LIST]\n"
            "         [--formats json,bulk] [--queries Q] [--work DIR]\n"
            "         [--server-args \"...\"] [--no-inproc] [--hold-server]\n"
            "         --out CSV [--summary FILE]\n");
    exit(2);
}

/* Parses a comma-separated list of positive integers into out[]. */
static size_t parse_list(const char *s, uint32_t *out, size_t cap)
{
    size_t n = 0;
    while (*s != '\0' && n < cap) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || errno != 0 || v == 0 || v > 1000000) {
            die("bad list", s);
        }
        out[n++] = (uint32_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof(*o));
    o->data = "fashion";
    o->data_dir = "bench/data";
    o->work = "/tmp";
    o->server_args = "";
    o->efs = default_efs;
    o->threads = "1,2";
    o->upsert_threads = "1,2";
    o->formats = "json,bulk";
    o->m = 16;
    o->efc = 200;
    o->k = 10;
    o->batch = 500;
    o->inproc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-inproc") == 0) {
            o->inproc = 0;
            continue;
        }
        if (strcmp(a, "--hold-server") == 0) {
            o->hold_server = 1;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
        }
        const char *v = argv[++i];
        if (strcmp(a, "--vectron") == 0) {
            o->vectron = v;
        } else if (strcmp(a, "--data") == 0) {
            o->data = v;
        } else if (strcmp(a, "--data-dir") == 0) {
            o->data_dir = v;
        } else if (strcmp(a, "--gt") == 0) {
            o->gt = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--summary") == 0) {
            o->summary = v;
        } else if (strcmp(a, "--work") == 0) {
            o->work = v;
        } else if (strcmp(a, "--server-args") == 0) {
            o->server_args = v;
        } else if (strcmp(a, "--efs") == 0) {
            o->efs = v;
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = v;
        } else if (strcmp(a, "--upsert-threads") == 0) {
            o->upsert_threads = v;
        } else if (strcmp(a, "--formats") == 0) {
            o->formats = v;
        } else if (strcmp(a, "--n") == 0) {
            o->n = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--queries") == 0) {
            o->queries = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--m") == 0) {
            o->m = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--efc") == 0) {
            o->efc = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--k") == 0) {
            o->k = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--batch") == 0) {
            o->batch = (uint32_t)strtoul(v, NULL, 10);
        } else {
            usage();
        }
    }
    if (o->vectron == NULL || o->out == NULL || o->m < 2 || o->efc < 1 ||
        o->k < 1 || o->batch < 1) {
        usage();
    }
}

/* ---- data set and recall (as in bench_index.c) --------------------------- */

typedef struct dataset {
    bench_dataset d;
    size_t nq; /* queries used: the first nq */
} dataset;

static void load_dataset(const options *o, dataset *ds)
{
    char err[BENCH_ERR_SIZE];
    if (bench_load_dataset(o->data, o->data_dir, o->n, o->gt, o->k, &ds->d, err,
                           sizeof(err)) != 0) {
        die("data set", err);
    }
    ds->nq = o->queries != 0 && o->queries < ds->d.query.n ? o->queries
                                                           : ds->d.query.n;
}

/* Recall@k of results (one row of k ids per used query) against the truth. */
static double recall_at_k(const dataset *ds, const int64_t *res, uint32_t k)
{
    return bench_recall_at_k(&ds->d, ds->nq, res, k);
}

/* ---- CPU accounting ------------------------------------------------------ */

/* CPU seconds of the server, of this process, and busy CPU seconds of the
 * whole machine, at one instant. */
#define MAX_TASKS 256

typedef struct cpu_mark {
    double wall, server, self, machine;
    size_t ntask; /* the server's threads: id and CPU seconds */
    int tid[MAX_TASKS];
    double tsec[MAX_TASKS];
} cpu_mark;

/* CPU seconds (utime + stime) from a /proc/.../stat file, 0 if unknown. */
static double stat_cpu_seconds(const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* Fields after the parenthesised command name; utime and stime are
     * fields 14 and 15, i.e. the 12th and 13th after ')'. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%llu %llu",
                            &ut, &st) != 2) {
        return 0;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double machine_busy_seconds(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return 0;
    }
    unsigned long long v[8] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                     &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got < 4) {
        return 0;
    }
    /* user nice system idle iowait irq softirq steal: all but idle and
     * iowait are busy. */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static void cpu_now(cpu_mark *m)
{
    char path[128];
    pid_t pid = server_pid;
    m->wall = bench_now();
    m->server = 0;
    m->ntask = 0;
    if (pid > 0) {
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        m->server = stat_cpu_seconds(path);
        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL && m->ntask < MAX_TASKS) {
            if (e->d_name[0] == '.') {
                continue;
            }
            snprintf(path, sizeof(path), "/proc/%d/task/%.20s/stat", (int)pid,
                     e->d_name);
            m->tid[m->ntask] = atoi(e->d_name);
            m->tsec[m->ntask++] = stat_cpu_seconds(path);
        }
        if (d != NULL) {
            closedir(d);
        }
    }
    m->self = bench_cpu_seconds();
    m->machine = machine_busy_seconds();
}

/* Cores used between a and b: by the server, by us, by everything else;
 * and how the server's share was spread over its threads. */
typedef struct cpu_use {
    double server, client, other;
    double srv_max; /* cores of the server's busiest thread */
    int srv_busy;   /* server threads that used at least 0.25 cores */
} cpu_use;

static cpu_use cpu_between(const cpu_mark *a, const cpu_mark *b)
{
    double w = b->wall - a->wall > 1e-9 ? b->wall - a->wall : 1e-9;
    cpu_use u;
    u.server = (b->server - a->server) / w;
    u.client = (b->self - a->self) / w;
    u.other = (b->machine - a->machine) / w - u.server - u.client;
    if (u.other < 0) {
        u.other = 0; /* tick granularity */
    }
    u.srv_max = 0;
    u.srv_busy = 0;
    for (size_t i = 0; i < b->ntask; i++) {
        double before = 0;
        for (size_t j = 0; j < a->ntask; j++) {
            if (a->tid[j] == b->tid[i]) {
                before = a->tsec[j];
                break;
            }
        }
        double cores = (b->tsec[i] - before) / w;
        u.srv_max = cores > u.srv_max ? cores : u.srv_max;
        u.srv_busy += cores >= 0.25;
    }
    return u;
}

/* ---- a small HTTP/1.1 client over a plain socket ------------------------- */

/* One keep-alive connection. The response body returned by hc_request
 * points into buf and stays valid until the next request. */
typedef struct hconn {
    int fd;
    int port;
    char *buf;
    size_t cap, len; /* bytes held in buf (beyond the last response) */
    size_t consumed; /* bytes of the last response, dropped on next call */
    int status;
    const char *body;
    size_t body_len;
} hconn;

static int hc_connect(hconn *c, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)c->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(err, errlen, "connect 127.0.0.1:%d: %s", c->port,
                 strerror(errno));
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->len = c->consumed = 0;
    return 0;
}

static void hc_init(hconn *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->port = port;
}

static void hc_close(hconn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->buf);
    hc_init(c, c->port);
}

static int hc_reserve(hconn *c, size_t need)
{
    if (need <= c->cap) {
        return 0;
    }
    size_t cap = c->cap ? c->cap : 65536;
    while (cap < need) {
        cap *= 2;
    }
    char *b = realloc(c->buf, cap + 1);
    if (b == NULL) {
        return -1;
    }
    c->buf = b;
    c->cap = cap;
    return 0;
}

/* Reads more bytes into buf; 0 on success, -1 on error or EOF. */
static int hc_fill(hconn *c, char *err, size_t errlen)
{
    if (c->len == c->cap && hc_reserve(c, c->cap ? c->cap * 2 : 65536)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ssize_t r;
    do {
        r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        snprintf(err, errlen, "receive: %s",
                 r == 0 ? "connection closed by the server" : strerror(errno));
        return -1;
    }
    c->len += (size_t)r;
    return 0;
}

/* One attempt of hc_request; *got_bytes tells whether any byte of the
 * response arrived. */
static int hc_attempt(hconn *c, const char *method, const char *path,
                      const char *ctype, const void *body, size_t blen,
                      int *got_bytes, char *err, size_t errlen)
{
    *got_bytes = 0;
    if (c->fd < 0 && hc_connect(c, err, errlen) != 0) {
        return -1;
    }
    /* Drop the previous response, keep any bytes after it. */
    if (c->consumed > 0) {
        memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
        c->len -= c->consumed;
        c->consumed = 0;
    }
    char head[512];
    int hl;
    if (body != NULL) {
        hl = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                      method, path, c->port, ctype, blen);
    } else {
        hl = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", method,
                      path, c->port);
    }
    if (hl < 0 || (size_t)hl >= sizeof(head)) {
        snprintf(err, errlen, "request line too long");
        return -1;
    }
    struct iovec iov[2] = {{head, (size_t)hl}, {(void *)body, blen}};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = body != NULL ? 2 : 1;
    while (msg.msg_iovlen > 0) {
        ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            snprintf(err, errlen, "send: %s", strerror(errno));
            return -1;
        }
        while (msg.msg_iovlen > 0 && (size_t)w >= msg.msg_iov[0].iov_len) {
            w -= (ssize_t)msg.msg_iov[0].iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov[0].iov_base = (char *)msg.msg_iov[0].iov_base + w;
            msg.msg_iov[0].iov_len -= (size_t)w;
        }
    }
    /* Status line and headers. */
    char *end = NULL;
    *got_bytes = c->len > 0;
    for (;;) {
        if (c->len > 0) {
            c->buf[c->len] = '\0';
            end = strstr(c->buf, "\r\n\r\n");
            if (end != NULL) {
                break;
            }
        }
        if (hc_fill(c, err, errlen) != 0) {
            return -1;
        }
        *got_bytes = 1;
    }
    size_t hdr_len = (size_t)(end - c->buf) + 4;
    if (sscanf(c->buf, "HTTP/1.%*c %d", &c->status) != 1) {
        snprintf(err, errlen, "bad status line");
        return -1;
    }
    long long clen = -1;
    int close_after = 0;
    for (char *line = strstr(c->buf, "\r\n") + 2; line < end;) {
        char *eol = strstr(line, "\r\n");
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            clen = strtoll(line + 15, NULL, 10);
        } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            snprintf(err, errlen, "chunked responses are not supported");
            return -1;
        } else if (strncasecmp(line, "Connection:", 11) == 0) {
            const char *v = line + 11;
            while (*v == ' ') {
                v++;
            }
            close_after = strncasecmp(v, "close", 5) == 0;
        }
        line = eol + 2;
    }
    if (clen < 0) {
        snprintf(err, errlen, "response without Content-Length");
        return -1;
    }
    size_t total = hdr_len + (size_t)clen;
    if (hc_reserve(c, total) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (c->len < total) {
        if (hc_fill(c, err, errlen) != 0) {
            return -1;
        }
    }
    c->body = c->buf + hdr_len;
    c->body_len = (size_t)clen;
    c->consumed = total;
    if (close_after) {
        /* The caller reads the body before the next request, which
         * reconnects; keep the buffer, drop the socket. */
        close(c->fd);
        c->fd = -1;
        c->len = total;
    }
    return 0;
}

/* Sends one request and reads the whole response: status in c->status,
 * body in c->body/c->body_len (valid until the next call). Returns 0, or
 * -1 with a message (transport or protocol errors only; any HTTP status
 * is a success here). Opens the connection if it is not open. A kept-alive
 * connection the server closed meanwhile (idle timeout) fails before any
 * response byte arrives; the request is then sent once more on a new
 * connection (every request of this benchmark is idempotent). */
static int hc_request(hconn *c, const char *method, const char *path,
                      const char *ctype, const void *body, size_t blen,
                      char *err, size_t errlen)
{
    int reused = c->fd >= 0, got;
    if (hc_attempt(c, method, path, ctype, body, blen, &got, err, errlen) ==
        0) {
        return 0;
    }
    if (!reused || got) {
        return -1;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    return hc_attempt(c, method, path, ctype, body, blen, &got, err, errlen);
}

/* A request that must answer 200: otherwise err gets the status and the
 * start of the body. */
static int hc_expect_ok(hconn *c, const char *method, const char *path,
                        const char *ctype, const void *body, size_t blen,
                        char *err, size_t errlen)
{
    if (hc_request(c, method, path, ctype, body, blen, err, errlen) != 0) {
        return -1;
    }
    if (c->status != 200) {
        snprintf(err, errlen, "%s %s: HTTP %d: %.*s", method, path, c->status,
                 (int)(c->body_len < 300 ? c->body_len : 300), c->body);
        return -1;
    }
    return 0;
}

/* ---- the server process -------------------------------------------------- */

/* A loopback port the kernel considers free now (bound to port 0, then
 * released). fd_keep holds the socket open so that two calls differ. */
static int free_port(int *fd_keep)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        die("free port", strerror(errno));
    }
    *fd_keep = fd;
    return ntohs(sa.sin_port);
}

typedef struct server {
    char dir[4096]; /* work directory: data/ and server.log */
    char log[4200];
    int http_port, raft_port;
} server;

static void print_log_tail(const server *s)
{
    FILE *f = fopen(s->log, "r");
    if (f == NULL) {
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 4000 ? size - 4000 : 0, SEEK_SET);
    char buf[4001];
    size_t n = fread(buf, 1, 4000, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "bench_http: end of %s:\n%s\n", s->log, buf);
}

static void start_server(const options *o, server *s)
{
    char tmpl[4096], data[4200], http[64], raft[64], err[ERR_SIZE];
    snprintf(tmpl, sizeof(tmpl), "%s/vectron-bench-http.XXXXXX", o->work);
    if (mkdtemp(tmpl) == NULL) {
        die(tmpl, strerror(errno));
    }
    snprintf(s->dir, sizeof(s->dir), "%s", tmpl);
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
    snprintf(data, sizeof(data), "%s/data", s->dir);
    int fd1, fd2;
    s->http_port = free_port(&fd1);
    s->raft_port = free_port(&fd2);
    close(fd1);
    close(fd2);
    snprintf(http, sizeof(http), "127.0.0.1:%d", s->http_port);
    snprintf(raft, sizeof(raft), "127.0.0.1:%d", s->raft_port);

    /* argv: PATH serve --data D --http-listen H --raft-listen R extra... */
    char *extra = strdup(o->server_args);
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)o->vectron;
    argv[argc++] = "serve";
    argv[argc++] = "--data";
    argv[argc++] = data;
    argv[argc++] = "--http-listen";
    argv[argc++] = http;
    argv[argc++] = "--raft-listen";
    argv[argc++] = raft;
    for (char *save = NULL, *t = strtok_r(extra, " ", &save);
         t != NULL && argc < 62; t = strtok_r(NULL, " ", &save)) {
        argv[argc++] = t;
    }
    argv[argc] = NULL;

    int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) {
        die(s->log, strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        die("fork", strerror(errno));
    }
    if (pid == 0) {
        dup2(logfd, 1);
        dup2(logfd, 2);
        execv(o->vectron, argv);
        fprintf(stderr, "exec %s: %s\n", o->vectron, strerror(errno));
        _exit(127);
    }
    close(logfd);
    free(extra);
    server_pid = pid;
    printf("server: pid %d, http %s, raft %s, data %s\n", (int)pid, http, raft,
           data);
    fflush(stdout);

    /* Ready when GET /readyz answers 200; give up after 60 s. */
    hconn c;
    hc_init(&c, s->http_port);
    double t0 = bench_now();
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            server_pid = -1;
            print_log_tail(s);
            die("server", "exited during startup");
        }
        if (hc_request(&c, "GET", "/readyz", NULL, NULL, 0, err, sizeof(err)) ==
                0 &&
            c.status == 200) {
            break;
        }
        if (c.fd >= 0) {
            close(c.fd);
            c.fd = -1;
        }
        if (bench_now() - t0 > 60) {
            print_log_tail(s);
            die("server", "not ready after 60 s");
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    hc_close(&c);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* SIGTERM, then wait up to 60 s (SIGKILL after that); removes the work
 * directory if the server exited cleanly. Returns its exit status, or -1
 * if it had to be killed or died of a signal. */
static int stop_server(server *s)
{
    pid_t pid = server_pid;
    int st = 0, rc = -1;
    if (pid <= 0) {
        return -1;
    }
    kill(pid, SIGTERM);
    double t0 = bench_now();
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            break;
        }
        if (bench_now() - t0 > 60) {
            fprintf(stderr, "bench_http: server did not stop in 60 s after "
                            "SIGTERM; killing it\n");
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            st = -1;
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    server_pid = -1;
    printf("server: stopped after %.2f s (", bench_now() - t0);
    if (st != -1 && WIFEXITED(st)) {
        rc = WEXITSTATUS(st);
        printf("exit status %d)\n", rc);
    } else if (st != -1 && WIFSIGNALED(st)) {
        printf("killed by signal %d)\n", WTERMSIG(st));
    } else {
        printf("SIGKILL)\n");
    }
    if (rc == 0) {
        nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        print_log_tail(s);
        fprintf(stderr, "bench_http: kept %s for inspection\n", s->dir);
    }
    return rc;
}

/* ---- request bodies ------------------------------------------------------ */

/* A growable text buffer. */
typedef struct tbuf {
    char *p;
    size_t len, cap;
} tbuf;

static void tb_reserve(tbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) {
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        die("encode", "out of memory");
    }
    b->p = p;
    b->cap = cap;
}

static void tb_put(tbuf *b, const char *s, size_t n)
{
    tb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Appends v in its shortest form that reads back as the same float. */
static void tb_float(tbuf *b, float v)
{
    char s[32];
    int n;
    if (v == (float)(int32_t)v && fabsf(v) < 16777216.0f) {
        n = snprintf(s, sizeof(s), "%d", (int)(int32_t)v);
    } else {
        n = 0;
        for (int prec = 6; prec <= 9; prec++) {
            n = snprintf(s, sizeof(s), "%.*g", prec, (double)v);
            if (strtof(s, NULL) == v) {
                break;
            }
        }
    }
    tb_put(b, s, (size_t)n);
}

static void tb_vector(tbuf *b, const float *v, uint32_t dim)
{
    tb_put(b, "[", 1);
    for (uint32_t j = 0; j < dim; j++) {
        if (j > 0) {
            tb_put(b, ",", 1);
        }
        tb_float(b, v[j]);
    }
    tb_put(b, "]", 1);
}

typedef struct body {
    void *p;
    size_t len;
} body;

/* Upsert bodies for points [0, n) in batches; ids are the row numbers. */
static body *encode_upserts(const dataset *ds, uint32_t batch, int bulk,
                            size_t *nbodies, size_t *bytes)
{
    size_t n = ds->d.base.n, nb = (n + batch - 1) / batch;
    uint32_t dim = ds->d.base.dim;
    const float *base = ds->d.base.data;
    body *bs = calloc(nb, sizeof(*bs));
    point_id *ids = calloc(batch, sizeof(*ids));
    if (bs == NULL || ids == NULL) {
        die("encode", "out of memory");
    }
    *bytes = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t first = b * batch;
        size_t cnt = n - first < batch ? n - first : batch;
        if (bulk) {
            uint8_t *out;
            size_t len;
            vectron_error e;
            for (size_t i = 0; i < cnt; i++) {
                ids[i].is_uuid = 0;
                ids[i].num = first + i;
            }
            if (gw_encode_bulk_upsert(ids, base + first * dim, NULL, cnt, dim,
                                      &out, &len, &e) != 0) {
                die("bulk encode", e.msg);
            }
            bs[b].p = out;
            bs[b].len = len;
        } else {
            tbuf t = {0};
            tb_put(&t, "{\"points\":[", 11);
            for (size_t i = 0; i < cnt; i++) {
                char head[64];
                int hl = snprintf(head, sizeof(head),
                                  "%s{\"id\":%zu,\"vector\":", i ? "," : "",
                                  first + i);
                tb_put(&t, head, (size_t)hl);
                tb_vector(&t, base + (first + i) * dim, dim);
                tb_put(&t, "}", 1);
            }
            tb_put(&t, "]}", 2);
            bs[b].p = t.p;
            bs[b].len = t.len;
        }
        *bytes += bs[b].len;
    }
    free(ids);
    *nbodies = nb;
    return bs;
}

static void free_bodies(body *bs, size_t nb, int bulk)
{
    for (size_t i = 0; i < nb; i++) {
        if (bulk) {
            vx_free(bs[i].p);
        } else {
            free(bs[i].p);
        }
    }
    free(bs);
}

/* ---- latency statistics -------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct lat_stats {
    double mean_us, p50_us, p99_us;
} lat_stats;

/* Sorts lat (seconds) in place. */
static lat_stats latency_stats(double *lat, size_t n)
{
    lat_stats s = {0, 0, 0};
    if (n == 0) {
        return s;
    }
    qsort(lat, n, sizeof(*lat), cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += lat[i];
    }
    s.mean_us = 1e6 * sum / (double)n;
    s.p50_us = 1e6 * lat[(n - 1) / 2];
    size_t i99 = (size_t)ceil(0.99 * (double)n) - 1;
    s.p99_us = 1e6 * lat[i99 < n ? i99 : n - 1];
    return s;
}

/* ---- client thread pool -------------------------------------------------- */

/* One phase of requests: items [0, count) taken from an atomic counter by
 * `threads` threads, each calling fn on its own connection. */
typedef struct job job;
typedef int (*item_fn)(job *j, hconn *c, size_t item, char *err, size_t errlen);

struct job {
    int port;
    size_t count;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t mu;
    char err[ERR_SIZE + 64];
    item_fn fn;
    double *lat; /* count entries: seconds per request */
    /* Upserts. */
    const body *bodies;
    const char *path;
    const char *ctype;
    /* Searches. */
    const dataset *ds;
    char **qvec; /* per query: its vector as JSON text */
    size_t *qlen;
    uint32_t k, ef;
    int64_t *res; /* nq * k ids */
};

static void *job_worker(void *arg)
{
    job *j = arg;
    hconn c;
    char err[ERR_SIZE];
    hc_init(&c, j->port);
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->count || atomic_load(&j->failed)) {
            break;
        }
        double t0 = bench_now();
        int rc = j->fn(j, &c, i, err, sizeof(err));
        j->lat[i] = bench_now() - t0;
        if (rc != 0) {
            pthread_mutex_lock(&j->mu);
            if (!atomic_load(&j->failed)) {
                snprintf(j->err, sizeof(j->err), "request %zu: %s", i, err);
                atomic_store(&j->failed, 1);
            }
            pthread_mutex_unlock(&j->mu);
            break;
        }
    }
    hc_close(&c);
    return NULL;
}

/* Runs the job on `threads` threads (the caller's thread is one) and
 * returns the wall time; dies on the first error. */
static double run_job(job *j, int threads)
{
    pthread_t tids[64];
    int started = 0;
    atomic_init(&j->next, 0);
    atomic_init(&j->failed, 0);
    pthread_mutex_init(&j->mu, NULL);
    j->err[0] = '\0';
    double t0 = bench_now();
    for (int t = 1; t < threads && t < 64; t++) {
        if (pthread_create(&tids[t], NULL, job_worker, j) != 0) {
            break;
        }
        started++;
    }
    job_worker(j);
    for (int t = 1; t <= started; t++) {
        pthread_join(tids[t], NULL);
    }
    double secs = bench_now() - t0;
    pthread_mutex_destroy(&j->mu);
    if (started != threads - 1) {
        die("client", "could not start the client threads");
    }
    if (atomic_load(&j->failed)) {
        die("client", j->err);
    }
    return secs;
}

static int upsert_item(job *j, hconn *c, size_t item, char *err, size_t errlen)
{
    const body *b = &j->bodies[item];
    if (hc_expect_ok(c, "PUT", j->path, j->ctype, b->p, b->len, err, errlen) !=
        0) {
        return -1;
    }
    if (memmem(c->body, c->body_len, "\"completed\"", 11) == NULL) {
        snprintf(err, errlen, "upsert not completed: %.*s",
                 (int)(c->body_len < 300 ? c->body_len : 300), c->body);
        return -1;
    }
    return 0;
}

static int search_item(job *j, hconn *c, size_t q, char *err, size_t errlen)
{
    /* {"query":[...],"limit":k,"params":{"hnsw_ef":ef}} */
    char tail[96];
    int tl =
        snprintf(tail, sizeof(tail),
                 ",\"limit\":%u,\"params\":{\"hnsw_ef\":%u}}", j->k, j->ef);
    size_t len = 9 + j->qlen[q] + (size_t)tl;
    char stackbuf[16384];
    char *req = len < sizeof(stackbuf) ? stackbuf : malloc(len + 1);
    if (req == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(req, "{\"query\":", 9);
    memcpy(req + 9, j->qvec[q], j->qlen[q]);
    memcpy(req + 9 + j->qlen[q], tail, (size_t)tl);
    int rc = hc_expect_ok(c, "POST", j->path, "application/json", req, len, err,
                          errlen);
    if (req != stackbuf) {
        free(req);
    }
    if (rc != 0) {
        return -1;
    }
    json_error_t je;
    json_t *root = json_loadb(c->body, c->body_len, 0, &je);
    json_t *pts = json_object_get(json_object_get(root, "result"), "points");
    if (!json_is_array(pts)) {
        snprintf(err, errlen, "query response without result.points: %.*s",
                 (int)(c->body_len < 300 ? c->body_len : 300), c->body);
        json_decref(root);
        return -1;
    }
    int64_t *r = j->res + q * j->k;
    size_t np = json_array_size(pts);
    for (size_t i = 0; i < j->k; i++) {
        json_t *id =
            i < np ? json_object_get(json_array_get(pts, i), "id") : NULL;
        r[i] = json_is_integer(id) ? (int64_t)json_integer_value(id) : -1;
    }
    json_decref(root);
    return 0;
}

/* ---- results ------------------------------------------------------------- */

typedef struct upsert_row {
    const char *format;
    int threads;
    double secs, pps, mbps, green_s;
    lat_stats lat;
    cpu_use cpu, cpu_green;
} upsert_row;

typedef struct search_row {
    int threads; /* 0: in-process */
    uint32_t ef;
    double recall, qps;
    lat_stats lat;
    cpu_use cpu;
} search_row;

typedef struct results {
    upsert_row up[MAX_COMBOS];
    size_t n_up;
    search_row se[MAX_ROWS];
    size_t n_se;
    lat_stats ping;
    double ping_qps;
} results;

static FILE *open_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        die(path, strerror(errno));
    }
    fprintf(f, "kind,dataset,n,dim,m,efc,format,batch,threads,k,ef,queries,"
               "recall,qps,points_per_s,mb_per_s,secs,mean_us,p50_us,p99_us,"
               "server_cores,client_cores,other_cores,server_busy_threads,"
               "server_max_thread_cores\n");
    return f;
}

/* ---- phases -------------------------------------------------------------- */

static void json_get_collection(hconn *c, const char *name, char *status,
                                size_t slen, long long *indexed,
                                long long *points)
{
    char path[256], err[ERR_SIZE];
    snprintf(path, sizeof(path), "/collections/%s", name);
    if (hc_expect_ok(c, "GET", path, NULL, NULL, 0, err, sizeof(err)) != 0) {
        die("collection info", err);
    }
    json_error_t je;
    json_t *root = json_loadb(c->body, c->body_len, 0, &je);
    json_t *r = json_object_get(root, "result");
    const char *st = json_string_value(json_object_get(r, "status"));
    snprintf(status, slen, "%s", st ? st : "?");
    *indexed = json_integer_value(json_object_get(r, "indexed_vectors_count"));
    *points = json_integer_value(json_object_get(r, "points_count"));
    json_decref(root);
}

static void create_collection(const options *o, const dataset *ds, hconn *c,
                              const char *name)
{
    char path[256], bodytext[256], err[ERR_SIZE];
    snprintf(path, sizeof(path), "/collections/%s", name);
    snprintf(bodytext, sizeof(bodytext),
             "{\"vectors\":{\"size\":%u,\"distance\":\"%s\"},"
             "\"hnsw_config\":{\"m\":%u,\"ef_construct\":%u}}",
             ds->d.base.dim,
             ds->d.metric == BENCH_METRIC_L2 ? "Euclid" : "Cosine", o->m,
             o->efc);
    if (hc_expect_ok(c, "PUT", path, "application/json", bodytext,
                     strlen(bodytext), err, sizeof(err)) != 0) {
        die("create collection", err);
    }
}

/* Upserts every point into a new collection `name`, then waits until it is
 * green with all points indexed. */
static void upsert_phase(const options *o, const dataset *ds, int port,
                         const char *name, int bulk, int threads,
                         upsert_row *row)
{
    hconn c;
    char path[256];
    hc_init(&c, port);
    create_collection(o, ds, &c, name);

    size_t nb, bytes;
    body *bs = encode_upserts(ds, o->batch, bulk, &nb, &bytes);
    snprintf(path, sizeof(path), "/collections/%s/points?wait=true", name);
    job j;
    memset(&j, 0, sizeof(j));
    j.port = port;
    j.count = nb;
    j.fn = upsert_item;
    j.bodies = bs;
    j.path = path;
    j.ctype = bulk ? "application/vnd.vectron.bulk-upsert" : "application/json";
    j.lat = calloc(nb, sizeof(double));
    if (j.lat == NULL) {
        die("upsert", "out of memory");
    }
    printf("upsert: %s bodies, %zu requests of <= %u points, %.1f MB, "
           "%d client thread(s)\n",
           bulk ? "bulk" : "JSON", nb, o->batch, (double)bytes / 1048576.0,
           threads);
    fflush(stdout);
    cpu_mark m0, m1, m2;
    cpu_now(&m0);
    double secs = run_job(&j, threads);
    cpu_now(&m1);

    /* Wait for the indexer: green, every point indexed. */
    char status[32];
    long long indexed = 0, points = 0;
    for (;;) {
        json_get_collection(&c, name, status, sizeof(status), &indexed,
                            &points);
        if (strcmp(status, "green") == 0 && indexed == points &&
            points == (long long)ds->d.base.n) {
            break;
        }
        if (bench_now() - m0.wall > 3600) {
            die("indexing", "collection not green after an hour");
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cpu_now(&m2);
    hc_close(&c);

    row->format = bulk ? "bulk" : "json";
    row->threads = threads;
    row->secs = secs;
    row->pps = (double)ds->d.base.n / secs;
    row->mbps = (double)bytes / 1048576.0 / secs;
    row->green_s = m2.wall - m0.wall;
    row->lat = latency_stats(j.lat, nb);
    row->cpu = cpu_between(&m0, &m1);
    row->cpu_green = cpu_between(&m1, &m2);
    printf("  %.2f s: %.0f points/s (%.1f MB/s), request p50 %.1f ms p99 "
           "%.1f ms; green after %.2f s (%.0f points/s end to end); cores "
           "server %.2f (busiest thread %.2f) client %.2f other %.2f "
           "(indexing tail: server %.2f other %.2f)\n",
           secs, row->pps, row->mbps, row->lat.p50_us / 1e3,
           row->lat.p99_us / 1e3, row->green_s,
           (double)ds->d.base.n / row->green_s, row->cpu.server,
           row->cpu.srv_max, row->cpu.client, row->cpu.other,
           row->cpu_green.server, row->cpu_green.other);
    fflush(stdout);
    free(j.lat);
    free_bodies(bs, nb, bulk);
}

static void delete_collection(int port, const char *name)
{
    hconn c;
    char path[256], err[ERR_SIZE];
    hc_init(&c, port);
    snprintf(path, sizeof(path), "/collections/%s", name);
    if (hc_expect_ok(&c, "DELETE", path, NULL, NULL, 0, err, sizeof(err)) !=
        0) {
        die("delete collection", err);
    }
    hc_close(&c);
}

/* Every query's vector as JSON text. */
static void encode_queries(const dataset *ds, char ***qvec, size_t **qlen)
{
    uint32_t dim = ds->d.query.dim;
    *qvec = calloc(ds->nq, sizeof(char *));
    *qlen = calloc(ds->nq, sizeof(size_t));
    if (*qvec == NULL || *qlen == NULL) {
        die("encode", "out of memory");
    }
    for (size_t q = 0; q < ds->nq; q++) {
        tbuf t = {0};
        tb_vector(&t, (const float *)ds->d.query.data + q * dim, dim);
        (*qvec)[q] = t.p;
        (*qlen)[q] = t.len;
    }
}

static void search_phase(const options *o, const dataset *ds, int port,
                         const char *name, const uint32_t *efs, size_t n_ef,
                         const uint32_t *threads, size_t n_thr, results *out)
{
    char path[256];
    job j;
    memset(&j, 0, sizeof(j));
    snprintf(path, sizeof(path), "/collections/%s/points/query", name);
    encode_queries(ds, &j.qvec, &j.qlen);
    j.port = port;
    j.fn = search_item;
    j.path = path;
    j.ds = ds;
    j.k = o->k;
    j.res = malloc(sizeof(int64_t) * ds->nq * o->k);
    j.lat = calloc(ds->nq, sizeof(double));
    if (j.res == NULL || j.lat == NULL) {
        die("search", "out of memory");
    }
    /* Warm up the server's caches and allocator, not recorded. */
    j.count = ds->nq < 1000 ? ds->nq : 1000;
    j.ef = efs[0];
    run_job(&j, 1);
    j.count = ds->nq;
    for (size_t ti = 0; ti < n_thr; ti++) {
        for (size_t ei = 0; ei < n_ef; ei++) {
            j.ef = efs[ei];
            for (size_t i = 0; i < ds->nq * o->k; i++) {
                j.res[i] = -1;
            }
            cpu_mark m0, m1;
            cpu_now(&m0);
            double secs = run_job(&j, (int)threads[ti]);
            cpu_now(&m1);
            search_row *r = &out->se[out->n_se++];
            r->threads = (int)threads[ti];
            r->ef = efs[ei];
            r->recall = recall_at_k(ds, j.res, o->k);
            r->qps = (double)ds->nq / secs;
            r->lat = latency_stats(j.lat, ds->nq);
            r->cpu = cpu_between(&m0, &m1);
            printf("  http %d thread(s) ef=%-4u recall@%u=%.4f  QPS=%.0f  "
                   "latency mean %.1f p50 %.1f p99 %.1f us; cores server "
                   "%.2f (%d busy threads, busiest %.2f) client %.2f other "
                   "%.2f\n",
                   r->threads, r->ef, o->k, r->recall, r->qps, r->lat.mean_us,
                   r->lat.p50_us, r->lat.p99_us, r->cpu.server, r->cpu.srv_busy,
                   r->cpu.srv_max, r->cpu.client, r->cpu.other);
            fflush(stdout);
        }
    }
    for (size_t q = 0; q < ds->nq; q++) {
        free(j.qvec[q]);
    }
    free(j.qvec);
    free(j.qlen);
    free(j.res);
    free(j.lat);
}

static int ping_item(job *j, hconn *c, size_t item, char *err, size_t errlen)
{
    (void)j;
    (void)item;
    return hc_expect_ok(c, "GET", "/readyz", NULL, NULL, 0, err, errlen);
}

/* The HTTP floor: GET /readyz round trips on one connection. */
static void ping_phase(int port, results *out)
{
    job j;
    memset(&j, 0, sizeof(j));
    j.port = port;
    j.fn = ping_item;
    j.count = 10000;
    j.lat = calloc(j.count, sizeof(double));
    if (j.lat == NULL) {
        die("ping", "out of memory");
    }
    double secs = run_job(&j, 1);
    out->ping_qps = (double)j.count / secs;
    out->ping = latency_stats(j.lat, j.count);
    printf("  GET /readyz: %.0f requests/s, p50 %.1f us p99 %.1f us\n",
           out->ping_qps, out->ping.p50_us, out->ping.p99_us);
    free(j.lat);
}

/* In-process reference: the same index parameters, single-thread search
 * of the same queries at the same ef values. */
static void inproc_phase(const options *o, const dataset *ds,
                         const uint32_t *efs, size_t n_ef, results *out)
{
    const bench_lib *lib = &bench_lib_vectron;
    char err[BENCH_ERR_SIZE];
    uint32_t dim = ds->d.base.dim;
    bench_build_cfg cfg = {
        .dim = dim,
        .max_n = ds->d.base.n,
        .metric = ds->d.metric,
        .m = o->m,
        .ef_construction = o->efc,
    };
    void *h = lib->create(&cfg, err, sizeof(err));
    if (h == NULL) {
        die("in-process create", err);
    }
    double t0 = bench_now();
    if (lib->build(h, ds->d.base.data, ds->d.base.n, 2, err, sizeof(err)) !=
        0) {
        die("in-process build", err);
    }
    printf("in-process: built with 2 threads in %.2f s\n", bench_now() - t0);
    int64_t *res = malloc(sizeof(int64_t) * ds->nq * o->k);
    double *lat = calloc(ds->nq, sizeof(double));
    if (res == NULL || lat == NULL) {
        die("in-process", "out of memory");
    }
    const float *query = ds->d.query.data;
    bench_search_cfg sc = {o->k, efs[0], 0};
    if (lib->configure(h, &sc, err, sizeof(err)) != 0) {
        die("configure", err);
    }
    for (size_t q = 0; q < ds->nq && q < 1000; q++) {
        lib->search(h, query + q * dim, o->k, res);
    }
    for (size_t ei = 0; ei < n_ef; ei++) {
        sc.ef = efs[ei];
        if (lib->configure(h, &sc, err, sizeof(err)) != 0) {
            die("configure", err);
        }
        for (size_t i = 0; i < ds->nq * o->k; i++) {
            res[i] = -1;
        }
        cpu_mark m0, m1;
        cpu_now(&m0);
        for (size_t q = 0; q < ds->nq; q++) {
            double q0 = bench_now();
            if (lib->search(h, query + q * dim, o->k, res + q * o->k) < 0) {
                die("in-process search", "library returned an error");
            }
            lat[q] = bench_now() - q0;
        }
        cpu_now(&m1);
        search_row *r = &out->se[out->n_se++];
        r->threads = 0;
        r->ef = efs[ei];
        r->recall = recall_at_k(ds, res, o->k);
        r->qps = (double)ds->nq / (m1.wall - m0.wall);
        r->lat = latency_stats(lat, ds->nq);
        r->cpu = cpu_between(&m0, &m1);
        printf("  in-process ef=%-4u recall@%u=%.4f  QPS=%.0f  latency p50 "
               "%.1f p99 %.1f us; other cores %.2f\n",
               r->ef, o->k, r->recall, r->qps, r->lat.p50_us, r->lat.p99_us,
               r->cpu.other);
        fflush(stdout);
    }
    free(res);
    free(lat);
    lib->destroy(h);
}

/* ---- output -------------------------------------------------------------- */

static void write_csv(const options *o, const dataset *ds, const results *r)
{
    FILE *f = open_csv(o->out);
    size_t n = ds->d.base.n;
    uint32_t dim = ds->d.base.dim;
    for (size_t i = 0; i < r->n_up; i++) {
        const upsert_row *u = &r->up[i];
        fprintf(f,
                "upsert,%s,%zu,%u,%u,%u,%s,%u,%d,,,,,,%.1f,%.2f,%.3f,"
                "%.1f,%.1f,%.1f,%.2f,%.2f,%.2f,%d,%.2f\n",
                o->data, n, dim, o->m, o->efc, u->format, o->batch, u->threads,
                u->pps, u->mbps, u->secs, u->lat.mean_us, u->lat.p50_us,
                u->lat.p99_us, u->cpu.server, u->cpu.client, u->cpu.other,
                u->cpu.srv_busy, u->cpu.srv_max);
        fprintf(f,
                "green,%s,%zu,%u,%u,%u,%s,%u,%d,,,,,,%.1f,,%.3f,,,,%.2f,%.2f,"
                "%.2f,%d,%.2f\n",
                o->data, n, dim, o->m, o->efc, u->format, o->batch, u->threads,
                (double)n / u->green_s, u->green_s, u->cpu_green.server,
                u->cpu_green.client, u->cpu_green.other, u->cpu_green.srv_busy,
                u->cpu_green.srv_max);
    }
    fprintf(f,
            "ping,%s,%zu,%u,%u,%u,,,1,,,10000,,%.1f,,,,%.1f,%.1f,%.1f,,,,,\n",
            o->data, n, dim, o->m, o->efc, r->ping_qps, r->ping.mean_us,
            r->ping.p50_us, r->ping.p99_us);
    for (size_t i = 0; i < r->n_se; i++) {
        const search_row *s = &r->se[i];
        fprintf(f,
                "%s,%s,%zu,%u,%u,%u,%s,,%d,%u,%u,%zu,%.5f,%.1f,,,%.3f,%.1f,"
                "%.1f,%.1f,%.2f,%.2f,%.2f,%d,%.2f\n",
                s->threads ? "search" : "inproc", o->data, n, dim, o->m, o->efc,
                s->threads ? "json" : "", s->threads ? s->threads : 1, o->k,
                s->ef, ds->nq, s->recall, s->qps, (double)ds->nq / s->qps,
                s->lat.mean_us, s->lat.p50_us, s->lat.p99_us, s->cpu.server,
                s->cpu.client, s->cpu.other, s->cpu.srv_busy, s->cpu.srv_max);
    }
    fclose(f);
}

static const search_row *find_row(const results *r, int threads, uint32_t ef)
{
    for (size_t i = 0; i < r->n_se; i++) {
        if (r->se[i].threads == threads && r->se[i].ef == ef) {
            return &r->se[i];
        }
    }
    return NULL;
}

static char mark(const cpu_use *u)
{
    return u->other > OTHER_MAX ? '!' : ' ';
}

/* In-process QPS at recall `recall`, linearly interpolated between the two
 * sweep points around it; 0 when the sweep does not bracket it. */
static double inproc_qps_at(const results *r, const uint32_t *efs, size_t n_ef,
                            double recall)
{
    for (size_t e = 0; e + 1 < n_ef; e++) {
        const search_row *a = find_row(r, 0, efs[e]);
        const search_row *b = find_row(r, 0, efs[e + 1]);
        if (a == NULL || b == NULL) {
            continue;
        }
        if (a->recall == recall) {
            return a->qps;
        }
        if (a->recall < recall && recall <= b->recall) {
            double t = (recall - a->recall) / (b->recall - a->recall);
            return a->qps + t * (b->qps - a->qps);
        }
    }
    return 0;
}

/* Writes the summary to f; returns 1 if the QPS-ratio target was missed
 * or could not be checked, else 0. */
static int write_summary(FILE *f, const options *o, const dataset *ds,
                         const results *r, const uint32_t *efs, size_t n_ef,
                         const uint32_t *thr, size_t n_thr)
{
    fprintf(f,
            "HTTP benchmark: %s n=%zu dim=%u M=%u ef_construct=%u, k=%u, %zu "
            "queries, %ld CPUs\n\n",
            o->data, ds->d.base.n, ds->d.base.dim, o->m, o->efc, o->k, ds->nq,
            sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(f,
            "Upsert (PUT /collections/{c}/points?wait=true, %u points per "
            "request, keep-alive):\n",
            o->batch);
    fprintf(f, "  format threads  points/s    MB/s  req p50 ms  req p99 ms  "
               "green s  e2e pts/s  cores srv/cli/other\n");
    for (size_t i = 0; i < r->n_up; i++) {
        const upsert_row *u = &r->up[i];
        fprintf(f,
                "  %-6s %7d %9.0f%c%7.1f %11.1f %11.1f %8.1f %10.0f  "
                "%.2f/%.2f/%.2f\n",
                u->format, u->threads, u->pps, mark(&u->cpu), u->mbps,
                u->lat.p50_us / 1e3, u->lat.p99_us / 1e3, u->green_s,
                (double)ds->d.base.n / u->green_s, u->cpu.server, u->cpu.client,
                u->cpu.other);
    }
    fprintf(f, "  (points/s: upload with wait=true; green s: from the first "
               "request until every point is indexed)\n\n");
    fprintf(f,
            "HTTP floor: GET /readyz %.0f requests/s, p50 %.1f us, p99 "
            "%.1f us (1 connection)\n\n",
            r->ping_qps, r->ping.p50_us, r->ping.p99_us);
    fprintf(f,
            "Search (POST /collections/{c}/points/query, limit %u, one "
            "keep-alive connection per client thread):\n",
            o->k);
    fprintf(f, "  ef   in-process          ");
    for (size_t t = 0; t < n_thr; t++) {
        fprintf(f, "| HTTP, %-2u client thread(s)                   ", thr[t]);
    }
    fprintf(f, "| HTTP1/in\n");
    fprintf(f, "       recall      QPS     ");
    for (size_t t = 0; t < n_thr; t++) {
        fprintf(f, "| recall     QPS  p50 us  p99 us srv/cli  thr ");
    }
    fprintf(f, "|\n");
    for (size_t e = 0; e < n_ef; e++) {
        const search_row *in = find_row(r, 0, efs[e]);
        fprintf(f, "  %-4u ", efs[e]);
        if (in != NULL) {
            fprintf(f, "%.4f %9.0f%c    ", in->recall, in->qps, mark(&in->cpu));
        } else {
            fprintf(f, "%-6s %9s     ", "-", "-");
        }
        const search_row *h1 = NULL;
        for (size_t t = 0; t < n_thr; t++) {
            const search_row *h = find_row(r, (int)thr[t], efs[e]);
            if (thr[t] == 1) {
                h1 = h;
            }
            if (h == NULL) {
                fprintf(f, "| %-43s ", "-");
                continue;
            }
            fprintf(f, "| %.4f %7.0f%c%7.0f %7.0f %.2f/%.2f %3d ", h->recall,
                    h->qps, mark(&h->cpu), h->lat.p50_us, h->lat.p99_us,
                    h->cpu.server, h->cpu.client, h->cpu.srv_busy);
        }
        if (in != NULL && h1 != NULL) {
            fprintf(f, "| %.2f\n", h1->qps / in->qps);
        } else {
            fprintf(f, "| -\n");
        }
    }
    double max_other = 0;
    for (size_t i = 0; i < r->n_se; i++) {
        if (r->se[i].cpu.other > max_other) {
            max_other = r->se[i].cpu.other;
        }
    }
    fprintf(f,
            "  (srv/cli: CPU cores the server and the client used; thr: "
            "server threads that used >= 0.25\n"
            "  cores; other processes used up to %.2f cores during a search "
            "point; '!': more than %.2f,\n"
            "  another process competed)\n\n",
            max_other, OTHER_MAX);

    /* The target: 1 client thread at the smallest ef reaching 0.95. */
    const search_row *h = NULL;
    for (size_t e = 0; e < n_ef && h == NULL; e++) {
        const search_row *x = find_row(r, 1, efs[e]);
        if (x != NULL && x->recall >= TARGET_RECALL) {
            h = x;
        }
    }
    if (h == NULL) {
        fprintf(f,
                "Target: no ef in the sweep reached recall@%u >= %.2f over "
                "HTTP with 1 client thread: MISSED\n",
                o->k, TARGET_RECALL);
        return 1;
    }
    const search_row *in = find_row(r, 0, h->ef);
    fprintf(f,
            "Smallest ef with HTTP recall@%u >= %.2f (1 client thread): "
            "ef=%u recall %.4f, %.0f QPS, latency p50 %.1f us, p99 %.1f "
            "us\n",
            o->k, TARGET_RECALL, h->ef, h->recall, h->qps, h->lat.p50_us,
            h->lat.p99_us);
    const search_row *h2 = NULL;
    for (size_t t = 0; t < n_thr; t++) {
        if (thr[t] != 1 && (h2 = find_row(r, (int)thr[t], h->ef)) != NULL) {
            fprintf(f,
                    "  with %u client threads at ef=%u: recall %.4f, %.0f "
                    "QPS, p50 %.1f us, p99 %.1f us\n",
                    thr[t], h->ef, h2->recall, h2->qps, h2->lat.p50_us,
                    h2->lat.p99_us);
        }
    }
    if (in == NULL) {
        fprintf(f,
                "Target HTTP QPS >= %.1f x in-process: not checked (no "
                "in-process run)\n",
                TARGET_RATIO);
        return 1;
    }
    double ratio = h->qps / in->qps;
    fprintf(f,
            "In-process at ef=%u (1 thread): recall %.4f, %.0f QPS, p50 "
            "%.1f us\n",
            in->ef, in->recall, in->qps, in->lat.p50_us);
    fprintf(f,
            "Target: HTTP QPS / in-process QPS at recall >= %.2f, same ef "
            "= %.2f (target >= %.1f)  %s\n",
            TARGET_RECALL, ratio, TARGET_RATIO,
            ratio >= TARGET_RATIO ? "met" : "MISSED");
    /* CPU time per query does not depend on how much CPU other processes
     * left us, so it shows the ratio an idle machine would give (when the
     * client's own CPU overlaps with the server's). */
    double srv_us = 1e6 * h->cpu.server / h->qps;
    double cli_us = 1e6 * h->cpu.client / h->qps;
    double in_us = 1e6 * in->cpu.client / in->qps;
    fprintf(f,
            "  CPU per query: server %.1f us + client %.1f us over HTTP, "
            "%.1f us in-process; in-process / server CPU = %.2f\n",
            srv_us, cli_us, in_us, srv_us > 0 ? in_us / srv_us : 0.0);
    double iq = inproc_qps_at(r, efs, n_ef, h->recall);
    if (iq > 0) {
        fprintf(f,
                "  at the same recall (%.4f; in-process QPS interpolated "
                "on its sweep: %.0f): %.2f\n",
                h->recall, iq, h->qps / iq);
    } else {
        fprintf(f,
                "  at the same recall (%.4f): outside the in-process "
                "sweep's recall range\n",
                h->recall);
    }
    if (max_other > 0.2) {
        fprintf(f,
                "Warning: other processes used up to %.2f cores during "
                "the search points; rerun on an idle machine.\n",
                max_other);
    }
    return ratio >= TARGET_RATIO ? 0 : 1;
}

int main(int argc, char **argv)
{
    options o;
    parse_args(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    uint32_t efs[MAX_SWEEP], thr[MAX_SWEEP], uthr[MAX_SWEEP];
    size_t n_ef = parse_list(o.efs, efs, MAX_SWEEP);
    size_t n_thr = parse_list(o.threads, thr, MAX_SWEEP);
    size_t n_uthr = parse_list(o.upsert_threads, uthr, MAX_SWEEP);
    int formats[2], n_fmt = 0;
    if (strstr(o.formats, "json") != NULL) {
        formats[n_fmt++] = 0;
    }
    if (strstr(o.formats, "bulk") != NULL) {
        formats[n_fmt++] = 1;
    }
    if (n_ef == 0 || n_thr == 0 || n_uthr == 0 || n_fmt == 0 ||
        (size_t)n_fmt * n_uthr > MAX_COMBOS || (n_thr + 1) * n_ef > MAX_ROWS) {
        usage();
    }
    for (size_t i = 0; i < n_thr; i++) {
        if (thr[i] > 64) {
            usage();
        }
    }

    dataset ds;
    memset(&ds, 0, sizeof(ds));
    load_dataset(&o, &ds);
    printf("bench_http: %s n=%zu dim=%u, %zu queries, M=%u efc=%u k=%u\n",
           o.data, ds.d.base.n, ds.d.base.dim, ds.nq, o.m, o.efc, o.k);
    fflush(stdout);

    results *res = calloc(1, sizeof(*res));
    if (res == NULL) {
        die("results", "out of memory");
    }
    if (o.inproc) {
        inproc_phase(&o, &ds, efs, n_ef, res);
    }

    server srv;
    memset(&srv, 0, sizeof(srv));
    start_server(&o, &srv);
    const char *keep = NULL;
    for (int fi = 0; fi < n_fmt; fi++) {
        for (size_t ti = 0; ti < n_uthr; ti++) {
            char name[64];
            snprintf(name, sizeof(name), "bench_%s_%ut",
                     formats[fi] ? "bulk" : "json", uthr[ti]);
            upsert_phase(&o, &ds, srv.http_port, name, formats[fi],
                         (int)uthr[ti], &res->up[res->n_up++]);
            if (keep == NULL) {
                keep = strdup(name);
            } else {
                delete_collection(srv.http_port, name);
            }
        }
    }
    ping_phase(srv.http_port, res);
    printf("search: collection %s\n", keep);
    search_phase(&o, &ds, srv.http_port, keep, efs, n_ef, thr, n_thr, res);
    if (o.hold_server) {
        printf("server: holding pid %d on port %d; press Enter to stop it\n",
               (int)server_pid, srv.http_port);
        fflush(stdout);
        getchar();
    }
    int src = stop_server(&srv);

    write_csv(&o, &ds, res);
    int missed = write_summary(stdout, &o, &ds, res, efs, n_ef, thr, n_thr);
    if (o.summary != NULL) {
        FILE *f = fopen(o.summary, "w");
        if (f == NULL) {
            die(o.summary, strerror(errno));
        }
        write_summary(f, &o, &ds, res, efs, n_ef, thr, n_thr);
        fclose(f);
    }
    (void)missed;
    free((void *)keep);
    free(res);
    bench_dataset_free(&ds.d);
    /* A missed target is a finding, not a failure of the benchmark; a
     * server that did not stop cleanly is. */
    return src == 0 ? 0 : 1;
}
