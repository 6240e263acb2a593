/*
 * lbf_member.c -- the member server behind mod_lbfarm's tests, demo and
 * benchmarks.
 *
 *     lbf_member --port N --name NAME [--bind 127.0.0.1] [--quiet]
 *                [--slow F] [--capacity N] [--app-key-file PATH] [--app-key-file PATH]
 *
 * A small HTTP/1.1 origin server, one detached thread per connection.
 * Requests on a connection are answered in order (so pipelining is safe),
 * each response built in one buffer and sent with one send().  Request
 * bodies (Content-Length or chunked) are read, counted and discarded.
 * HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0 closes
 * unless "Connection: keep-alive".  A malformed request gets a 400 (501 for
 * an unknown transfer coding) and the connection is closed.
 *
 * Every response carries "X-Member: NAME"; unless HEAD, 204 or 304 its body
 * is "member=NAME method=M uri=URI body_len=N\n".  Query parameters:
 *     sleep_ms=N    wait N ms before answering (values above 60000 are 60000)
 *     work_us=N     burn N us of thread CPU time before answering (<= 60 s)
 *     status=N      answer with status N (200..599)
 *     stats=util    answer only the load: requests in their delay (queued
 *                   included) over --capacity, as "0.750"
 *     stats=count   answer only the number of requests received so far
 *                   (stats= and freeze= requests not counted), as "42";
 *                   answered at once even while frozen
 *     slow=F        set the --slow multiplier to F (1..100) from now on,
 *                   answered at once with "slow=F" (a member that turns
 *                   slower and recovers at run time; not counted)
 *     freeze=on|off freeze or thaw the member, answered at once with
 *                   "frozen=1" / "frozen=0": while frozen every other
 *                   request is read and counted, then held unanswered
 *                   until freeze=off (a hung application whose listener
 *                   still accepts)
 *     redirect=PATH answer 302 (or status=N) with
 *                   "Location: http://<Host header><PATH>"; PATH is
 *                   percent-decoded and must start with '/'
 *     instr=ACTION  add a signed application instruction (needs
 *                   --app-key-file):
 *                   "X-LBFarm-Instruction: ACTION[;farm=F];ts=NOW;sig=HEX"
 *                   ACTION is stick, stick-while-up, unstick or move (any
 *                   [A-Za-z0-9_-] word is signed as given, so tests can
 *                   send signed nonsense); farm=F adds ";farm=F"
 *     instr_raw=V   add "X-LBFarm-Instruction: V" verbatim (V
 *                   percent-decoded; forged or unsigned instructions)
 * A bad value is answered with 400 (the connection is kept).
 *
 * --app-key-file PATH names the file a balancer's LBFarmSessionKey reads;
 * its first secret line (lines starting with '#' are skipped, as the
 * balancer does) gives app key = HMAC-SHA256(secret, "lbfarm-app"), and
 * sig = hex(HMAC-SHA256(app key, NAME + "|" + everything before ";sig=")),
 * as include/lbfarm_session.h specifies.
 *
 * Prints "ready NAME PORT" on stdout once listening; exits 0 on SIGTERM and
 * SIGINT.  --quiet silences the diagnostics written to stderr.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define LBF_HDR_MAX     16384           /* request line, headers, blank line */
#define LBF_OUT_MAX     (2 * LBF_HDR_MAX + 2048)
#define LBF_NAME_MAX    64
#define LBF_METHOD_MAX  32
#define LBF_SLEEP_MAX   60000L          /* ms */
#define LBF_WORK_MAX    60000000L       /* us */
#define LBF_STACK_SIZE  (512 * 1024)    /* struct lbf_conn lives on it */
#define LBF_LINGER_MS   1000            /* drain time after our FIN */
#define LBF_LINGER_MAX  (1024 * 1024)   /* bytes drained at most */
#define LBF_INSTR_HEADER "X-LBFarm-Instruction: "
#define LBF_WORD_MAX    64              /* instr= action, farm= name */
#define LBF_RAW_MAX     4096            /* instr_raw= value, decoded */
#define LBF_SECRET_MAX  1024            /* a secret line of the key file */
#define LBF_KEY_LEN     32              /* HMAC-SHA256 */

/* What lbf_serve_one() asks the connection loop to do next. */
enum { LBF_CLOSE = 0, LBF_KEEP = 1, LBF_LINGER = 2 };

/* Header-seen bits, for duplicate detection. */
enum { LBF_SEEN_HOST = 1, LBF_SEEN_TE = 2 };

static struct {
    const char *name;
    size_t      name_len;
    const char *bind;
    int         port;
    int         quiet;
    char        self[160];              /* "addr:port" when no Host header */
    size_t      self_len;
    long        slow;                   /* --slow: the initial multiplier */
    long        capacity;               /* --capacity: concurrent delays */
    const char *app_key_file;           /* --app-key-file */
    int         has_app_key;
    unsigned char app_key[LBF_KEY_LEN]; /* HMAC(secret, "lbfarm-app") */
} lbf_opt = { .bind = "127.0.0.1", .port = -1, .slow = 1 };

/* --capacity: a counting semaphore around the delay, so that a member
 * serves at most that many delayed requests at once and queues the rest,
 * as a server with that many worker threads would. */
static _Atomic long lbf_delays;        /* requests in their delay, queued
                                          ones included */
static pthread_mutex_t lbf_cap_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lbf_cap_cv = PTHREAD_COND_INITIALIZER;
static long lbf_cap_busy;

/* freeze=on|off and stats=count. */
static pthread_mutex_t lbf_freeze_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lbf_freeze_cv = PTHREAD_COND_INITIALIZER;
static int lbf_frozen;                  /* under lbf_freeze_mu */
static _Atomic unsigned long long lbf_received;

/* The delay multiplier in use: --slow, then slow=F. */
static _Atomic long lbf_slow = 1;

static pthread_attr_t lbf_thread_attr;

/* One parsed request.  The string fields point into the connection's input
 * buffer, or into its stash once a body must be read (see lbf_stash()). */
struct lbf_req {
    const char         *method;
    size_t              method_len;
    const char         *target;
    size_t              target_len;
    const char         *host;
    size_t              host_len;
    int                 minor;          /* HTTP/1.minor: 0 or 1 */
    int                 conn_close;     /* "Connection: close" seen */
    int                 conn_ka;        /* "Connection: keep-alive" seen */
    int                 keep_alive;     /* decided after the headers */
    int                 chunked;
    int                 has_clen;
    int                 expect_100;
    unsigned long long  clen;
    unsigned long long  body_len;
    long                sleep_ms;
    long                work_us;
    int                 status;         /* 0: default (200 or 302) */
    int                 stats;          /* stats=util (1): the load;
                                           stats=count (2): requests */
    int                 freeze;         /* freeze=: 1 on, 0 off, -1 none */
    long                set_slow;       /* slow=: 1..100, 0 none */
    size_t              redirect_len;   /* 0: none; path in conn->redir */
    char                instr[LBF_WORD_MAX + 1]; /* instr=: "" for none */
    char                instr_farm[LBF_WORD_MAX + 1]; /* farm= */
    int                 instr_farm_bad; /* farm= is not a name */
    size_t              raw_len;        /* instr_raw=: 0 none; in c->raw */
    int                 err_status;     /* nonzero: answer this error */
    const char         *err;            /* its reason, for body and log */
};

/* Per-connection state; lives on the connection thread's stack. */
struct lbf_conn {
    int     fd;
    size_t  start;                      /* first unconsumed byte of in[] */
    size_t  end;                        /* one past the last byte read */
    char    in[LBF_HDR_MAX];
    char    stash[LBF_HDR_MAX];
    char    redir[LBF_HDR_MAX];
    char    raw[LBF_RAW_MAX];           /* decoded instr_raw= value */
    char    out[LBF_OUT_MAX];
};

/* Append-only output buffer.  len keeps counting past cap, so a buffer with
 * cap 0 measures, and len > cap afterwards means "did not fit". */
struct lbf_out {
    char   *p;
    size_t  len;
    size_t  cap;
};

/* lbf_log: printf-style diagnostic line on stderr, unless --quiet. */
static void lbf_log(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void lbf_log(const char *fmt, ...)
{
    va_list ap;

    if (lbf_opt.quiet) {
        return;
    }
    va_start(ap, fmt);
    fprintf(stderr, "lbf_member %s: ", lbf_opt.name ? lbf_opt.name : "-");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* lbf_put: append n bytes of s to o (only counted once o is full). */
static void lbf_put(struct lbf_out *o, const char *s, size_t n)
{
    if (n && o->len + n <= o->cap) {
        memcpy(o->p + o->len, s, n);
    }
    o->len += n;
}

/* lbf_puts: append the NUL-terminated string s to o. */
static void lbf_puts(struct lbf_out *o, const char *s)
{
    lbf_put(o, s, strlen(s));
}

/* lbf_putu: append v in decimal to o. */
static void lbf_putu(struct lbf_out *o, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    lbf_put(o, tmp + i, sizeof(tmp) - i);
}

/* lbf_is_tchar: 1 if ch may appear in an HTTP token (RFC 9110 5.6.2). */
static int lbf_is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
        || (ch >= '0' && ch <= '9')) {
        return 1;
    }
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* lbf_is_token: 1 if p[0..n) is a non-empty token. */
static int lbf_is_token(const char *p, size_t n)
{
    size_t i;

    if (n == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!lbf_is_tchar((unsigned char)p[i])) {
            return 0;
        }
    }
    return 1;
}

/* lbf_eq_ci: 1 if p[0..n) equals the string s, ignoring ASCII case. */
static int lbf_eq_ci(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

/* lbf_hexval: value of hex digit ch, or -1. */
static int lbf_hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* lbf_fail: record error status and reason in r; returns -1. */
static int lbf_fail(struct lbf_req *r, int status, const char *why)
{
    r->err_status = status;
    r->err = why;
    return -1;
}

/* lbf_reason: the reason phrase for status (a generic one if unknown). */
static const char *lbf_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:
        break;
    }
    return status < 300 ? "OK" : status < 400 ? "Redirection"
         : status < 500 ? "Client Error" : "Server Error";
}

/* lbf_put_date: append a "Date:" header line for now; the formatted line is
 * cached per thread and rebuilt at most once a second. */
static void lbf_put_date(struct lbf_out *o)
{
    static __thread time_t cached = -1;
    static __thread char line[64];
    static __thread size_t len;
    time_t now = time(NULL);
    struct tm tm;

    if (now != cached) {
        gmtime_r(&now, &tm);
        len = strftime(line, sizeof(line),
                       "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        cached = now;
    }
    lbf_put(o, line, len);
}

/* lbf_send_all: write buf[0..len) to fd, retrying short writes.
 * Returns 0, or -1 when the peer is gone or on error. */
static int lbf_send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* lbf_fill: read more input after c->end, first compacting the buffer when
 * it is full and consumed bytes can be dropped (this moves unconsumed data,
 * so pointers into in[] become stale).  Returns the number of bytes read,
 * 0 on EOF, -1 on error, -2 when the buffer holds LBF_HDR_MAX unconsumed
 * bytes already. */
static ssize_t lbf_fill(struct lbf_conn *c)
{
    ssize_t n;

    if (c->start == c->end) {
        c->start = c->end = 0;
    }
    else if (c->end == sizeof(c->in) && c->start > 0) {
        memmove(c->in, c->in + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == sizeof(c->in)) {
        return -2;
    }
    do {
        n = recv(c->fd, c->in + c->end, sizeof(c->in) - c->end, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        c->end += (size_t)n;
    }
    return n;
}

/* lbf_head_end: look for the blank line ending a header block in p[0..n),
 * starting at offset from.  Accepts CRLF and bare LF line ends.  Returns
 * the block length including the blank line, or 0 if not there yet. */
static size_t lbf_head_end(const char *p, size_t n, size_t from)
{
    const char *q = p + from;
    const char *e = p + n;

    while ((q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
        q++;
        if (q < e && *q == '\n') {
            return (size_t)(q + 1 - p);
        }
        if (q + 1 < e && q[0] == '\r' && q[1] == '\n') {
            return (size_t)(q + 2 - p);
        }
    }
    return 0;
}

/* lbf_read_head: read until in[start..] holds a whole header block (empty
 * lines before a request line are skipped, as RFC 9112 2.2 allows).
 * Sets *hlen and returns 1; returns 0 on EOF between requests, -1 on EOF
 * inside a request or on error, -2 when the block exceeds LBF_HDR_MAX. */
static int lbf_read_head(struct lbf_conn *c, size_t *hlen)
{
    size_t scan = 0;
    size_t n;
    ssize_t got;

    for (;;) {
        while (c->start < c->end
               && (c->in[c->start] == '\r' || c->in[c->start] == '\n')) {
            c->start++;
            scan = 0;
        }
        n = c->end - c->start;
        if (n) {
            *hlen = lbf_head_end(c->in + c->start, n, scan);
            if (*hlen) {
                return 1;
            }
            scan = n >= 3 ? n - 3 : 0;
        }
        got = lbf_fill(c);
        if (got == 0) {
            return n ? -1 : 0;
        }
        if (got < 0) {
            return (int)got;
        }
    }
}

/* lbf_parse_reqline: parse "METHOD SP TARGET SP HTTP/1.x" from p[0..n)
 * into r.  Returns 0, or -1 with r->err_status set. */
static int lbf_parse_reqline(struct lbf_req *r, const char *p, size_t n)
{
    const char *sp1 = memchr(p, ' ', n);
    const char *sp2;
    const char *ver;
    size_t i;

    if (!sp1) {
        return lbf_fail(r, 400, "bad request line");
    }
    r->method = p;
    r->method_len = (size_t)(sp1 - p);
    if (r->method_len > LBF_METHOD_MAX
        || !lbf_is_token(p, r->method_len)) {
        return lbf_fail(r, 400, "bad method");
    }
    r->target = sp1 + 1;
    sp2 = memchr(r->target, ' ', n - r->method_len - 1);
    if (!sp2 || sp2 == r->target) {
        return lbf_fail(r, 400, "bad request line");
    }
    r->target_len = (size_t)(sp2 - r->target);
    for (i = 0; i < r->target_len; i++) {
        unsigned char ch = (unsigned char)r->target[i];

        if (ch <= 0x20 || ch >= 0x7f) {
            return lbf_fail(r, 400, "bad request target");
        }
    }
    ver = sp2 + 1;
    if ((size_t)(p + n - ver) != 8 || memcmp(ver, "HTTP/1.", 7) != 0
        || (ver[7] != '0' && ver[7] != '1')) {
        return lbf_fail(r, 400, "unsupported HTTP version");
    }
    r->minor = ver[7] - '0';
    return 0;
}

/* lbf_parse_clen: parse a Content-Length value v[0..n) into r; repeated
 * headers must agree.  Returns 0, or -1 with r->err_status set. */
static int lbf_parse_clen(struct lbf_req *r, const char *v, size_t n)
{
    unsigned long long x = 0;
    size_t i;

    if (n == 0 || n > 18) {
        return lbf_fail(r, 400, "bad Content-Length");
    }
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return lbf_fail(r, 400, "bad Content-Length");
        }
        x = x * 10 + (unsigned)(v[i] - '0');
    }
    if (r->has_clen && r->clen != x) {
        return lbf_fail(r, 400, "conflicting Content-Length");
    }
    r->has_clen = 1;
    r->clen = x;
    return 0;
}

/* lbf_parse_connection: note "close" and "keep-alive" among the
 * comma-separated tokens of a Connection value v[0..n). */
static void lbf_parse_connection(struct lbf_req *r, const char *v, size_t n)
{
    const char *e = v + n;

    while (v < e) {
        const char *comma = memchr(v, ',', (size_t)(e - v));
        const char *te = comma ? comma : e;
        const char *ts = v;

        while (ts < te && (*ts == ' ' || *ts == '\t')) {
            ts++;
        }
        while (te > ts && (te[-1] == ' ' || te[-1] == '\t')) {
            te--;
        }
        if (lbf_eq_ci(ts, (size_t)(te - ts), "close")) {
            r->conn_close = 1;
        }
        else if (lbf_eq_ci(ts, (size_t)(te - ts), "keep-alive")) {
            r->conn_ka = 1;
        }
        if (!comma) {
            break;
        }
        v = comma + 1;
    }
}

/* lbf_header_value: trim the value of header line p[0..n) whose colon is at
 * colon; set *v and *vn.  Returns 0, or -1 if it holds a control byte. */
static int lbf_header_value(const char *p, size_t n, const char *colon,
                            const char **v, size_t *vn)
{
    const char *s = colon + 1;
    const char *e = p + n;
    const char *q;

    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    for (q = s; q < e; q++) {
        unsigned char ch = (unsigned char)*q;

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return -1;
        }
    }
    *v = s;
    *vn = (size_t)(e - s);
    return 0;
}

/* lbf_parse_header: parse one header line p[0..n) (no line end) into r;
 * seen collects LBF_SEEN_* bits.  Returns 0, or -1 with r->err_status. */
static int lbf_parse_header(struct lbf_req *r, const char *p, size_t n,
                            unsigned *seen)
{
    const char *colon = memchr(p, ':', n);
    const char *v;
    size_t nn, vn;

    if (*p == ' ' || *p == '\t') {
        return lbf_fail(r, 400, "obsolete header line folding");
    }
    if (!colon || !lbf_is_token(p, (size_t)(colon - p))) {
        return lbf_fail(r, 400, "bad header name");
    }
    nn = (size_t)(colon - p);
    if (lbf_header_value(p, n, colon, &v, &vn) < 0) {
        return lbf_fail(r, 400, "bad header value");
    }
    if (lbf_eq_ci(p, nn, "host")) {
        if ((*seen & LBF_SEEN_HOST) || memchr(v, ' ', vn)
            || memchr(v, '\t', vn)) {
            return lbf_fail(r, 400, "bad or repeated Host");
        }
        *seen |= LBF_SEEN_HOST;
        r->host = v;
        r->host_len = vn;
    }
    else if (lbf_eq_ci(p, nn, "content-length")) {
        return lbf_parse_clen(r, v, vn);
    }
    else if (lbf_eq_ci(p, nn, "transfer-encoding")) {
        if (*seen & LBF_SEEN_TE) {
            return lbf_fail(r, 400, "repeated Transfer-Encoding");
        }
        *seen |= LBF_SEEN_TE;
        if (!lbf_eq_ci(v, vn, "chunked")) {
            return lbf_fail(r, 501, "unsupported Transfer-Encoding");
        }
        r->chunked = 1;
    }
    else if (lbf_eq_ci(p, nn, "connection")) {
        lbf_parse_connection(r, v, vn);
    }
    else if (lbf_eq_ci(p, nn, "expect")) {
        r->expect_100 = lbf_eq_ci(v, vn, "100-continue");
    }
    return 0;
}

/* lbf_parse_head: parse the header block p[0..n) (as found by
 * lbf_head_end) into r and decide keep-alive.  Returns 0, or -1 with
 * r->err_status set. */
static int lbf_parse_head(struct lbf_req *r, const char *p, size_t n)
{
    const char *e = p + n;
    unsigned seen = 0;
    int first = 1;

    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t len;

        if (!nl) {
            break;                      /* cannot happen: block ends in LF */
        }
        len = (size_t)(nl - p);
        if (len && p[len - 1] == '\r') {
            len--;
        }
        if (len == 0) {
            break;                      /* the blank line */
        }
        if (first ? lbf_parse_reqline(r, p, len)
                  : lbf_parse_header(r, p, len, &seen)) {
            return -1;
        }
        first = 0;
        p = nl + 1;
    }
    if (r->chunked && (r->has_clen || r->minor == 0)) {
        return lbf_fail(r, 400, "chunked with Content-Length or HTTP/1.0");
    }
    r->keep_alive = r->minor ? !r->conn_close : r->conn_ka && !r->conn_close;
    return 0;
}

/* lbf_parse_num: parse decimal digits v[0..n) (1..12 of them) into *out.
 * Returns 0, or -1 if that is not what v holds. */
static int lbf_parse_num(const char *v, size_t n, long long *out)
{
    long long x = 0;
    size_t i;

    if (n == 0 || n > 12) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

/* lbf_pct_decode: percent-decode v[0..n) into dst (cap bytes); every
 * decoded byte must be in min_ch..0x7e.  Returns the length, or 0 if the
 * input is empty, too long, malformed or holds another byte. */
static size_t lbf_pct_decode(char *dst, size_t cap, const char *v, size_t n,
                             int min_ch)
{
    size_t i, j = 0;

    for (i = 0; i < n; i++) {
        int ch = (unsigned char)v[i];

        if (ch == '%') {
            int hi, lo;

            if (i + 2 >= n) {
                return 0;
            }
            hi = lbf_hexval((unsigned char)v[i + 1]);
            lo = lbf_hexval((unsigned char)v[i + 2]);
            if (hi < 0 || lo < 0) {
                return 0;
            }
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch < min_ch || ch >= 0x7f || j >= cap) {
            return 0;
        }
        dst[j++] = (char)ch;
    }
    return j;
}

/* lbf_decode_path: percent-decode v[0..n) into dst (room for n bytes); the
 * result must start with '/' and hold only visible ASCII.  Returns its
 * length, or 0 if invalid. */
static size_t lbf_decode_path(char *dst, const char *v, size_t n)
{
    size_t j = lbf_pct_decode(dst, n, v, n, 0x21);

    return j && dst[0] == '/' ? j : 0;
}

/* lbf_copy_word: copy v[0..n) into dst (room for LBF_WORD_MAX + 1) when
 * it is 1..LBF_WORD_MAX of [A-Za-z0-9_-].  Returns 0, or -1. */
static int lbf_copy_word(char *dst, const char *v, size_t n)
{
    size_t i;

    if (n == 0 || n > LBF_WORD_MAX) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) {
            return -1;
        }
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

/* lbf_decode_raw: percent-decode v[0..n) into dst (cap bytes); the result
 * must be 1..cap bytes of visible ASCII or spaces (no CR, LF or other
 * control byte: it becomes a header value).  Returns its length, or 0. */
static size_t lbf_decode_raw(char *dst, size_t cap, const char *v, size_t n)
{
    return lbf_pct_decode(dst, cap, v, n, 0x20);
}

/* lbf_query_param: apply one query parameter key[0..kn) = v[0..vn) to r;
 * unknown keys are ignored.  Returns 0, or -1 with r->err_status set. */
static int lbf_query_param(struct lbf_conn *c, struct lbf_req *r,
                           const char *key, size_t kn,
                           const char *v, size_t vn)
{
    long long x;

    if (lbf_eq_ci(key, kn, "sleep_ms")) {
        if (lbf_parse_num(v, vn, &x) < 0) {
            return lbf_fail(r, 400, "bad sleep_ms");
        }
        r->sleep_ms = x > LBF_SLEEP_MAX ? LBF_SLEEP_MAX : (long)x;
    }
    else if (lbf_eq_ci(key, kn, "work_us")) {
        if (lbf_parse_num(v, vn, &x) < 0) {
            return lbf_fail(r, 400, "bad work_us");
        }
        r->work_us = x > LBF_WORK_MAX ? LBF_WORK_MAX : (long)x;
    }
    else if (lbf_eq_ci(key, kn, "stats")) {
        if (!lbf_eq_ci(v, vn, "util") && !lbf_eq_ci(v, vn, "count")) {
            return lbf_fail(r, 400, "bad stats (util, count)");
        }
        r->stats = lbf_eq_ci(v, vn, "util") ? 1 : 2;
    }
    else if (lbf_eq_ci(key, kn, "slow")) {
        if (lbf_parse_num(v, vn, &x) < 0 || x < 1 || x > 100) {
            return lbf_fail(r, 400, "bad slow (1..100)");
        }
        r->set_slow = (long)x;
    }
    else if (lbf_eq_ci(key, kn, "freeze")) {
        if (!lbf_eq_ci(v, vn, "on") && !lbf_eq_ci(v, vn, "off")) {
            return lbf_fail(r, 400, "bad freeze (on, off)");
        }
        r->freeze = lbf_eq_ci(v, vn, "on");
    }
    else if (lbf_eq_ci(key, kn, "status")) {
        if (lbf_parse_num(v, vn, &x) < 0 || x < 200 || x > 599) {
            return lbf_fail(r, 400, "bad status (200..599)");
        }
        r->status = (int)x;
    }
    else if (lbf_eq_ci(key, kn, "redirect")) {
        r->redirect_len = lbf_decode_path(c->redir, v, vn);
        if (!r->redirect_len) {
            return lbf_fail(r, 400, "bad redirect (a path starting with /)");
        }
    }
    else if (lbf_eq_ci(key, kn, "instr")) {
        if (!lbf_opt.has_app_key) {
            return lbf_fail(r, 400, "instr needs --app-key-file");
        }
        if (lbf_copy_word(r->instr, v, vn) < 0) {
            return lbf_fail(r, 400, "bad instr (1..64 of A-Z a-z 0-9 _ -)");
        }
    }
    else if (lbf_eq_ci(key, kn, "farm")) {
        /* only instr= uses it: judged once the whole query is read */
        r->instr_farm_bad = lbf_copy_word(r->instr_farm, v, vn) < 0;
    }
    else if (lbf_eq_ci(key, kn, "instr_raw")) {
        r->raw_len = lbf_decode_raw(c->raw, sizeof(c->raw), v, vn);
        if (!r->raw_len) {
            return lbf_fail(r, 400, "bad instr_raw (1..4096 visible bytes, "
                            "percent-encoded)");
        }
    }
    return 0;
}

/* lbf_parse_query: apply the query string of r->target, if any.  Returns 0,
 * or -1 with r->err_status set (the request framing is still sound). */
static int lbf_parse_query(struct lbf_conn *c, struct lbf_req *r)
{
    const char *q = memchr(r->target, '?', r->target_len);
    const char *e = r->target + r->target_len;

    if (!q) {
        return 0;
    }
    for (q++; q < e; ) {
        const char *amp = memchr(q, '&', (size_t)(e - q));
        const char *pe = amp ? amp : e;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        const char *v = eq ? eq + 1 : pe;

        if (lbf_query_param(c, r, q, (size_t)((eq ? eq : pe) - q),
                            v, (size_t)(pe - v)) < 0) {
            return -1;
        }
        if (!amp) {
            break;
        }
        q = amp + 1;
    }
    if (r->instr[0] && r->instr_farm_bad) {
        return lbf_fail(r, 400, "bad farm (1..64 of A-Z a-z 0-9 _ -)");
    }
    return 0;
}

/* lbf_stash: copy the strings of r that point into c->in to c->stash, so
 * reading the body may reuse c->in.  They fit: all came from one header
 * block of at most LBF_HDR_MAX bytes. */
static void lbf_stash(struct lbf_conn *c, struct lbf_req *r)
{
    char *p = c->stash;

    memcpy(p, r->method, r->method_len);
    r->method = p;
    p += r->method_len;
    memcpy(p, r->target, r->target_len);
    r->target = p;
    p += r->target_len;
    if (r->host) {
        memcpy(p, r->host, r->host_len);
        r->host = p;
    }
}

/* lbf_skip: consume and discard n bytes of input.  Returns 0, or -1 on EOF
 * or error. */
static int lbf_skip(struct lbf_conn *c, unsigned long long n)
{
    while (n > 0) {
        size_t avail = c->end - c->start;

        if (avail == 0) {
            if (lbf_fill(c) <= 0) {
                return -1;
            }
            continue;
        }
        if (avail > n) {
            avail = (size_t)n;
        }
        c->start += avail;
        n -= avail;
    }
    return 0;
}

/* lbf_line: consume one input line; *p and *n get it without its line end
 * (valid until the next read).  Returns 0, -1 on EOF or error, -2 if the
 * line is longer than the input buffer. */
static int lbf_line(struct lbf_conn *c, const char **p, size_t *n)
{
    for (;;) {
        char *s = c->in + c->start;
        char *nl = memchr(s, '\n', c->end - c->start);
        ssize_t got;

        if (nl) {
            *p = s;
            *n = (size_t)(nl - s);
            if (*n && s[*n - 1] == '\r') {
                (*n)--;
            }
            c->start = (size_t)(nl + 1 - c->in);
            return 0;
        }
        got = lbf_fill(c);
        if (got <= 0) {
            return got == -2 ? -2 : -1;
        }
    }
}

/* lbf_chunk_size: parse a chunk-size line p[0..n) ("hex [; ext]") into
 * *size.  Returns 0, or -1 if malformed or too large. */
static int lbf_chunk_size(const char *p, size_t n, unsigned long long *size)
{
    unsigned long long v = 0;
    size_t i = 0;
    int d;

    while (i < n && (d = lbf_hexval((unsigned char)p[i])) >= 0) {
        if (i >= 15) {
            return -1;
        }
        v = v * 16 + (unsigned)d;
        i++;
    }
    if (i == 0) {
        return -1;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }
    if (i < n && p[i] != ';') {
        return -1;
    }
    *size = v;
    return 0;
}

/* lbf_read_chunked: consume a chunked body and its trailers, adding the
 * data size to r->body_len.  Returns 0, -1 on EOF or error, -2 if the body
 * is malformed. */
static int lbf_read_chunked(struct lbf_conn *c, struct lbf_req *r)
{
    unsigned long long size;
    size_t trailers = 0;
    const char *p;
    size_t n;
    int rc;

    for (;;) {
        if ((rc = lbf_line(c, &p, &n)) < 0) {
            return rc;
        }
        if (lbf_chunk_size(p, n, &size) < 0) {
            return -2;
        }
        if (size == 0) {
            break;
        }
        if (lbf_skip(c, size) < 0) {
            return -1;
        }
        r->body_len += size;
        if ((rc = lbf_line(c, &p, &n)) < 0) {
            return rc;
        }
        if (n != 0) {
            return -2;
        }
    }
    do {                                /* trailer section, then blank line */
        if ((rc = lbf_line(c, &p, &n)) < 0) {
            return rc;
        }
        trailers += n + 2;
    } while (n != 0 && trailers <= LBF_HDR_MAX);
    return n == 0 ? 0 : -2;
}

/* lbf_read_body: send "100 Continue" if the client waits for it, then read
 * and count the body of r.  Returns 0, -1 on EOF or error, -2 if the body
 * is malformed. */
static int lbf_read_body(struct lbf_conn *c, struct lbf_req *r)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    if (r->expect_100 && r->minor == 1 && c->start == c->end
        && lbf_send_all(c->fd, cont, sizeof(cont) - 1) < 0) {
        return -1;
    }
    if (r->chunked) {
        return lbf_read_chunked(c, r);
    }
    if (lbf_skip(c, r->clen) < 0) {
        return -1;
    }
    r->body_len = r->clen;
    return 0;
}

/* lbf_burn: spin until this thread has used us microseconds of CPU. */
static void lbf_burn(long us)
{
    struct timespec t0, t;
    long long want = (long long)us * 1000;
    volatile unsigned x = 1;
    int i;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (;;) {
        for (i = 0; i < 1000; i++) {
            x = x * 1103515245u + 12345u;
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000LL
            + (t.tv_nsec - t0.tv_nsec) >= want) {
            return;
        }
    }
}

/* lbf_cap: take (delta 1, waiting while --capacity slots are busy) or
 * give back (delta -1) one slot.  No-op without --capacity. */
static void lbf_cap(int delta)
{
    if (lbf_opt.capacity <= 0) {
        return;
    }
    pthread_mutex_lock(&lbf_cap_mu);
    while (delta > 0 && lbf_cap_busy >= lbf_opt.capacity) {
        pthread_cond_wait(&lbf_cap_cv, &lbf_cap_mu);
    }
    lbf_cap_busy += delta;
    if (delta < 0) {
        pthread_cond_signal(&lbf_cap_cv);
    }
    pthread_mutex_unlock(&lbf_cap_mu);
}

/* lbf_delay: apply the sleep_ms and work_us of r, times --slow, inside a
 * --capacity slot. */
static void lbf_delay(const struct lbf_req *r)
{
    long slow = atomic_load(&lbf_slow);
    long sleep_ms = r->sleep_ms * slow;
    struct timespec ts;

    if (r->sleep_ms <= 0 && r->work_us <= 0) {
        return;
    }
    atomic_fetch_add(&lbf_delays, 1);
    lbf_cap(1);
    if (sleep_ms > 0) {
        ts.tv_sec = sleep_ms / 1000;
        ts.tv_nsec = (sleep_ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
            continue;
        }
    }
    if (r->work_us > 0) {
        lbf_burn(r->work_us * slow);
    }
    lbf_cap(-1);
    atomic_fetch_sub(&lbf_delays, 1);
}

/* lbf_util: append the answer of stats=util: requests in their delay
 * (queued ones included) over --capacity, or their plain count without
 * one, as a decimal with 3 places on one line (what a push agent reads). */
static void lbf_util(struct lbf_out *o)
{
    long d = atomic_load(&lbf_delays), cap = lbf_opt.capacity;
    char num[32];
    int n = cap > 0 ? snprintf(num, sizeof(num), "%ld.%03ld\n", d / cap,
                               (d % cap) * 1000 / cap)
                    : snprintf(num, sizeof(num), "%ld.000\n", d);

    lbf_put(o, num, (size_t)n);
}

/* lbf_control: a control request (slow=, freeze=, stats=) is answered at
 * once; any other is counted and, while the member is frozen, held until
 * it thaws. */
static void lbf_control(struct lbf_req *r)
{
    if (r->set_slow) {
        atomic_store(&lbf_slow, r->set_slow);
        lbf_log("slow %ld", r->set_slow);
        return;
    }
    if (r->freeze >= 0) {
        pthread_mutex_lock(&lbf_freeze_mu);
        lbf_frozen = r->freeze;
        pthread_cond_broadcast(&lbf_freeze_cv);
        pthread_mutex_unlock(&lbf_freeze_mu);
        lbf_log("freeze %s", r->freeze ? "on" : "off");
        return;
    }
    if (r->stats) {
        return;
    }
    atomic_fetch_add(&lbf_received, 1);
    pthread_mutex_lock(&lbf_freeze_mu);
    while (lbf_frozen) {
        pthread_cond_wait(&lbf_freeze_cv, &lbf_freeze_mu);
    }
    pthread_mutex_unlock(&lbf_freeze_mu);
}

/* lbf_body: append the response body for r to o. */
static void lbf_body(struct lbf_out *o, const struct lbf_req *r)
{
    if (r->set_slow && !r->err_status) {
        lbf_puts(o, "slow=");
        lbf_putu(o, (unsigned long long)r->set_slow);
        lbf_put(o, "\n", 1);
        return;
    }
    if (r->freeze >= 0 && !r->err_status) {
        lbf_puts(o, r->freeze ? "frozen=1\n" : "frozen=0\n");
        return;
    }
    if (r->stats == 2 && !r->err_status) {
        lbf_putu(o, atomic_load(&lbf_received));
        lbf_put(o, "\n", 1);
        return;
    }
    if (r->stats && !r->err_status) {
        lbf_util(o);
        return;
    }
    lbf_put(o, "member=", 7);
    lbf_put(o, lbf_opt.name, lbf_opt.name_len);
    if (r->err_status) {
        lbf_put(o, " error=", 7);
        lbf_puts(o, r->err);
        lbf_put(o, "\n", 1);
        return;
    }
    lbf_put(o, " method=", 8);
    lbf_put(o, r->method, r->method_len);
    lbf_put(o, " uri=", 5);
    lbf_put(o, r->target, r->target_len);
    lbf_put(o, " body_len=", 10);
    lbf_putu(o, r->body_len);
    lbf_put(o, "\n", 1);
}

/* lbf_hmac: out = HMAC-SHA256 under key (klen bytes) of a then b (short
 * inputs: a name and an instruction).  Too long, or an OpenSSL failure:
 * out is all zeros, which no balancer accepts. */
static void lbf_hmac(const void *key, size_t klen, const char *a,
                     size_t alen, const char *b, size_t blen,
                     unsigned char out[LBF_KEY_LEN])
{
    unsigned char buf[LBF_NAME_MAX + 4 * LBF_WORD_MAX];
    unsigned int mdlen = LBF_KEY_LEN;

    memset(out, 0, LBF_KEY_LEN);
    if (alen + blen > sizeof(buf)) {
        return;
    }
    memcpy(buf, a, alen);
    memcpy(buf + alen, b, blen);
    if (HMAC(EVP_sha256(), key, (int)klen, buf, alen + blen, out, &mdlen)
        == NULL || mdlen != LBF_KEY_LEN) {
        memset(out, 0, LBF_KEY_LEN);
    }
}

/* lbf_put_instr: append the instruction headers r asks for (instr=,
 * instr_raw=) to o.  The signed one is "ACTION[;farm=F];ts=NOW;sig=HEX",
 * sig = HMAC-SHA256(app key, NAME "|" text before ";sig="). */
static void lbf_put_instr(struct lbf_out *o, const struct lbf_conn *c,
                          const struct lbf_req *r)
{
    char text[3 * LBF_WORD_MAX], pre[LBF_NAME_MAX + 2];
    static const char digits[] = "0123456789abcdef";
    unsigned char mac[LBF_KEY_LEN];
    char sig[2 * LBF_KEY_LEN + 1];
    int n, i;

    if (r->instr[0] && lbf_opt.has_app_key) {
        n = snprintf(text, sizeof(text), "%s%s%s;ts=%lld", r->instr,
                     r->instr_farm[0] ? ";farm=" : "", r->instr_farm,
                     (long long)time(NULL));
        snprintf(pre, sizeof(pre), "%s|", lbf_opt.name);
        lbf_hmac(lbf_opt.app_key, LBF_KEY_LEN, pre, strlen(pre), text,
                 (size_t)n, mac);
        for (i = 0; i < LBF_KEY_LEN; i++) {
            sig[2 * i] = digits[mac[i] >> 4];
            sig[2 * i + 1] = digits[mac[i] & 15];
        }
        sig[2 * LBF_KEY_LEN] = '\0';
        lbf_puts(o, LBF_INSTR_HEADER);
        lbf_put(o, text, (size_t)n);
        lbf_put(o, ";sig=", 5);
        lbf_puts(o, sig);
        lbf_put(o, "\r\n", 2);
    }
    if (r->raw_len) {
        lbf_puts(o, LBF_INSTR_HEADER);
        lbf_put(o, c->raw, r->raw_len);
        lbf_put(o, "\r\n", 2);
    }
}

/* lbf_respond: build the whole response to r in c->out and send it at once;
 * closing adds "Connection: close".  Returns 0, or -1 if the send failed. */
static int lbf_respond(struct lbf_conn *c, const struct lbf_req *r,
                       int closing)
{
    struct lbf_out o = { c->out, 0, sizeof(c->out) };
    struct lbf_out blen = { NULL, 0, 0 };
    int status = r->err_status ? r->err_status
               : r->status ? r->status : r->redirect_len ? 302 : 200;
    int bodyless = status == 204 || status == 304;
    int head = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;

    lbf_body(&blen, r);
    lbf_put(&o, "HTTP/1.1 ", 9);
    lbf_putu(&o, (unsigned)status);
    lbf_put(&o, " ", 1);
    lbf_puts(&o, lbf_reason(status));
    lbf_put(&o, "\r\nServer: lbf_member\r\n", 22);
    lbf_put_date(&o);
    lbf_put(&o, "X-Member: ", 10);
    lbf_put(&o, lbf_opt.name, lbf_opt.name_len);
    lbf_put(&o, "\r\nContent-Type: text/plain\r\n", 28);
    if (!bodyless) {
        lbf_put(&o, "Content-Length: ", 16);
        lbf_putu(&o, blen.len);
        lbf_put(&o, "\r\n", 2);
    }
    if (r->redirect_len && !r->err_status) {
        lbf_put(&o, "Location: http://", 17);
        lbf_put(&o, r->host ? r->host : lbf_opt.self,
                r->host ? r->host_len : lbf_opt.self_len);
        lbf_put(&o, c->redir, r->redirect_len);
        lbf_put(&o, "\r\n", 2);
    }
    if (!r->err_status) {
        lbf_put_instr(&o, c, r);
    }
    if (closing) {
        lbf_put(&o, "Connection: close\r\n", 19);
    }
    else if (r->minor == 0) {
        lbf_put(&o, "Connection: keep-alive\r\n", 24);
    }
    lbf_put(&o, "\r\n", 2);
    if (!bodyless && !head) {
        lbf_body(&o, r);
    }
    if (o.len > o.cap) {
        lbf_log("response too large (%zu bytes), dropped", o.len);
        return -1;
    }
    return lbf_send_all(c->fd, c->out, o.len);
}

/* lbf_reject: answer the error recorded in r and ask for a close. */
static int lbf_reject(struct lbf_conn *c, struct lbf_req *r)
{
    lbf_log("%d %s", r->err_status, r->err);
    lbf_respond(c, r, 1);
    return LBF_LINGER;
}

/* lbf_serve_one: read, answer and consume one request on c.  Returns
 * LBF_KEEP to go on, LBF_LINGER to close after draining, LBF_CLOSE to close
 * at once. */
static int lbf_serve_one(struct lbf_conn *c)
{
    struct lbf_req r;
    size_t hlen;
    int rc;

    memset(&r, 0, sizeof(r));
    r.freeze = -1;
    rc = lbf_read_head(c, &hlen);
    if (rc == 0 || rc == -1) {
        return LBF_CLOSE;
    }
    if (rc == -2) {
        lbf_fail(&r, 400, "header block over 16 KiB");
        return lbf_reject(c, &r);
    }
    if (lbf_parse_head(&r, c->in + c->start, hlen) < 0) {
        return lbf_reject(c, &r);
    }
    c->start += hlen;                   /* no data moves: r stays valid */
    lbf_parse_query(c, &r);             /* a bad value still gets an answer */
    if (r.chunked || r.clen > 0) {
        lbf_stash(c, &r);
        rc = lbf_read_body(c, &r);
        if (rc == -1) {
            return LBF_CLOSE;
        }
        if (rc == -2) {
            lbf_fail(&r, 400, "malformed chunked body");
            return lbf_reject(c, &r);
        }
    }
    if (!r.err_status) {
        lbf_control(&r);
        if (!r.set_slow) {
            lbf_delay(&r);
        }
    }
    else {
        lbf_log("%d %s", r.err_status, r.err);
    }
    if (lbf_respond(c, &r, !r.keep_alive) < 0) {
        return LBF_CLOSE;
    }
    return r.keep_alive ? LBF_KEEP : LBF_LINGER;
}

/* lbf_ms_now: a monotonic clock in milliseconds. */
static long long lbf_ms_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* lbf_linger_close: close fd; with linger, first send our FIN and drain
 * what the peer still sends (LBF_LINGER_MS and LBF_LINGER_MAX bytes at
 * most) so that unread input does not turn the close into a reset that
 * destroys our answer. */
static void lbf_linger_close(int fd, int linger)
{
    char buf[4096];
    size_t drained = 0;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    long long deadline = lbf_ms_now() + LBF_LINGER_MS;
    long long left;

    if (linger && shutdown(fd, SHUT_WR) == 0) {
        while (drained < LBF_LINGER_MAX
               && (left = deadline - lbf_ms_now()) > 0
               && poll(&pfd, 1, (int)left) > 0) {
            ssize_t n = recv(fd, buf, sizeof(buf), 0);

            if (n <= 0) {
                break;
            }
            drained += (size_t)n;
        }
    }
    close(fd);
}

/* lbf_conn_main: thread body; arg is the accepted socket (intptr_t).
 * Serves requests until the connection ends, then closes it. */
static void *lbf_conn_main(void *arg)
{
    struct lbf_conn c;
    int rc;

    c.fd = (int)(intptr_t)arg;
    c.start = c.end = 0;
    do {
        rc = lbf_serve_one(&c);
    } while (rc == LBF_KEEP);
    lbf_linger_close(c.fd, rc == LBF_LINGER);
    return NULL;
}

/* lbf_accept_loop: accept connections on lfd forever, one detached thread
 * each.  Transient failures (no fds, no memory, no threads) back off. */
static void lbf_accept_loop(int lfd)
{
    static const struct timespec backoff = { 0, 10 * 1000000L };
    pthread_t tid;
    int one = 1;
    int fd;

    for (;;) {
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED) {
                lbf_log("accept: %s", strerror(errno));
                nanosleep(&backoff, NULL);
            }
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (pthread_create(&tid, &lbf_thread_attr, lbf_conn_main,
                           (void *)(intptr_t)fd) != 0) {
            lbf_log("cannot start a thread, connection dropped");
            close(fd);
            nanosleep(&backoff, NULL);
        }
    }
}

/* lbf_listen: create the listening socket on lbf_opt.bind:lbf_opt.port
 * (port 0 picks a free one and updates lbf_opt.port) and fill
 * lbf_opt.self.  Returns the socket, or -1 after printing why. */
static int lbf_listen(void)
{
    struct addrinfo hints, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char port[8];
    int fd, rc, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", lbf_opt.port);
    if ((rc = getaddrinfo(lbf_opt.bind, port, &hints, &ai)) != 0) {
        fprintf(stderr, "lbf_member: bad --bind \"%s\": %s\n",
                lbf_opt.bind, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0
        || listen(fd, SOMAXCONN) < 0
        || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        fprintf(stderr, "lbf_member: cannot listen on %s port %s: %s\n",
                lbf_opt.bind, port, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    lbf_opt.port = ntohs(ss.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&ss)->sin6_port
                         : ((struct sockaddr_in *)&ss)->sin_port);
    rc = snprintf(lbf_opt.self, sizeof(lbf_opt.self),
                  ai->ai_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
                  lbf_opt.bind, lbf_opt.port);
    lbf_opt.self_len = rc > 0 && (size_t)rc < sizeof(lbf_opt.self)
                       ? (size_t)rc : 0;
    freeaddrinfo(ai);
    return fd;
}

/* lbf_usage: print usage to f and exit with code. */
static void lbf_usage(FILE *f, int code)
{
    fprintf(f,
        "usage: lbf_member --port N --name NAME [--bind ADDR] [--quiet]\n"
        "  --port N     TCP port (0: any free one, printed in the ready line)\n"
        "  --name NAME  sent as X-Member; [A-Za-z0-9._-], 1..64 chars\n"
        "  --bind ADDR  numeric address to listen on (default 127.0.0.1)\n"
        "  --quiet      no diagnostics on stderr\n"
        "  --slow F     multiply sleep_ms and work_us by F (1..100)\n"
        "  --capacity N at most N requests in their delay at once; the\n"
        "               rest queue (0: unlimited)\n"
        "  --app-key-file PATH  farm session secret file (LBFarmSessionKey):\n"
        "               its first secret line signs instr= instructions\n"
        "query: sleep_ms=N work_us=N status=N redirect=PATH stats=util|count\n"
        "       freeze=on|off slow=F\n"
        "       instr=ACTION [farm=NAME] instr_raw=VALUE\n");
    exit(code);
}

/* lbf_flag: if arg is "--flag VALUE" or "--flag=VALUE", set *val (taking
 * the next argv for the first form) and return 1; else return 0. */
static int lbf_flag(const char *flag, const char **val,
                    int *i, int argc, char **argv)
{
    const char *arg = argv[*i];
    size_t n = strlen(flag);

    if (strncmp(arg, flag, n) != 0) {
        return 0;
    }
    if (arg[n] == '=') {
        *val = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0') {
        return 0;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "lbf_member: %s needs a value\n", flag);
        lbf_usage(stderr, 2);
    }
    *val = argv[++*i];
    return 1;
}

/* lbf_args: parse the command line into lbf_opt; exits 2 on bad usage. */
static void lbf_args(int argc, char **argv)
{
    const char *port = NULL, *slow = NULL, *cap = NULL;
    char *end;
    long v;
    int i;

    for (i = 1; i < argc; i++) {
        if (lbf_flag("--port", &port, &i, argc, argv)
            || lbf_flag("--name", &lbf_opt.name, &i, argc, argv)
            || lbf_flag("--bind", &lbf_opt.bind, &i, argc, argv)
            || lbf_flag("--slow", &slow, &i, argc, argv)
            || lbf_flag("--capacity", &cap, &i, argc, argv)
            || lbf_flag("--app-key-file", &lbf_opt.app_key_file, &i, argc,
                        argv)) {
            continue;
        }
        if (strcmp(argv[i], "--quiet") == 0) {
            lbf_opt.quiet = 1;
            continue;
        }
        lbf_usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr,
                  strcmp(argv[i], "--help") == 0 ? 0 : 2);
    }
    if (!port || !lbf_opt.name) {
        fprintf(stderr, "lbf_member: --port and --name are required\n");
        lbf_usage(stderr, 2);
    }
    errno = 0;
    v = strtol(port, &end, 10);
    if (errno || end == port || *end || v < 0 || v > 65535) {
        fprintf(stderr, "lbf_member: bad --port \"%s\"\n", port);
        exit(2);
    }
    lbf_opt.port = (int)v;
    if (slow && ((lbf_opt.slow = strtol(slow, &end, 10)) < 1
                 || lbf_opt.slow > 100 || *end)) {
        fprintf(stderr, "lbf_member: bad --slow \"%s\" (1..100)\n", slow);
        exit(2);
    }
    atomic_store(&lbf_slow, lbf_opt.slow);
    if (cap && ((lbf_opt.capacity = strtol(cap, &end, 10)) < 0
                || lbf_opt.capacity > 100000 || *end)) {
        fprintf(stderr, "lbf_member: bad --capacity \"%s\"\n", cap);
        exit(2);
    }
    lbf_opt.name_len = strlen(lbf_opt.name);
    if (lbf_opt.name_len == 0 || lbf_opt.name_len > LBF_NAME_MAX
        || strspn(lbf_opt.name, "abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
           != lbf_opt.name_len) {
        fprintf(stderr, "lbf_member: bad --name \"%s\"\n", lbf_opt.name);
        exit(2);
    }
}

/* lbf_load_app_key: read the first secret line of --app-key-file (lines
 * starting with '#' and empty lines skipped, CR/LF stripped, as the
 * balancer's LBFarmSessionKey reads it) and derive the app key
 * HMAC-SHA256(secret, "lbfarm-app").  Exits 2 when the file is unusable. */
static void lbf_load_app_key(void)
{
    char line[LBF_SECRET_MAX + 2];
    FILE *f = fopen(lbf_opt.app_key_file, "r");
    size_t n = 0;

    if (f == NULL) {
        fprintf(stderr, "lbf_member: cannot read --app-key-file \"%s\": %s\n",
                lbf_opt.app_key_file, strerror(errno));
        exit(2);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n > 0 && line[0] != '#') {
            break;
        }
        n = 0;
    }
    fclose(f);
    if (n < 16 || n > LBF_SECRET_MAX) {
        fprintf(stderr, "lbf_member: --app-key-file \"%s\": no secret line "
                "of 16..%d characters\n", lbf_opt.app_key_file,
                LBF_SECRET_MAX);
        exit(2);
    }
    lbf_hmac(line, n, "lbfarm-app", 10, "", 0, lbf_opt.app_key);
    OPENSSL_cleanse(line, sizeof(line));
    lbf_opt.has_app_key = 1;
}

/* lbf_on_signal: SIGTERM/SIGINT handler; exits 0 at once. */
static void lbf_on_signal(int sig)
{
    (void)sig;
    _exit(0);
}

/* main: parse options, listen, print "ready NAME PORT", serve forever.
 * Returns 1 if it cannot listen (2 on bad usage, 0 on SIGTERM/SIGINT). */
int main(int argc, char **argv)
{
    struct sigaction sa;
    int lfd;

    lbf_args(argc, argv);
    if (lbf_opt.app_key_file != NULL) {
        lbf_load_app_key();
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = lbf_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    if (pthread_attr_init(&lbf_thread_attr) != 0
        || pthread_attr_setdetachstate(&lbf_thread_attr,
                                       PTHREAD_CREATE_DETACHED) != 0
        || pthread_attr_setstacksize(&lbf_thread_attr, LBF_STACK_SIZE) != 0) {
        fprintf(stderr, "lbf_member: cannot set up thread attributes\n");
        return 1;
    }
    if ((lfd = lbf_listen()) < 0) {
        return 1;
    }
    printf("ready %s %d\n", lbf_opt.name, lbf_opt.port);
    fflush(stdout);
    lbf_accept_loop(lfd);
    return 0;
}
