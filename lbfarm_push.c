/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_push.c -- pushed metrics: parse, verify, apply.  Message format,
 * signature and key derivation: see lbfarm_push.h.  No httpd types.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lbfarm_conf.h"
#include "lbfarm_push.h"

/* Printf into err and return LBF_PUSH_EBAD. */
static int lbf_bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return LBF_PUSH_EBAD;
}

/* Copy up to 24 bytes of s[0..n) into out for a message, '?' for
 * anything that is not printable ASCII (never echo raw input). */
static const char *lbf_clean(const char *s, size_t n, char out[28])
{
    size_t i, m = n > 24 ? 24 : n;

    for (i = 0; i < m; i++) {
        out[i] = (s[i] > 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    }
    strcpy(out + m, n > m ? "..." : "");
    return out;
}

/* 1 when k[0..n) is a metric or field name: [a-z0-9_]{1,15}. */
static int lbf_key_ok(const char *k, size_t n)
{
    size_t i;

    if (n == 0 || n >= LBF_METRIC_NAME) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9')
              || k[i] == '_')) {
            return 0;
        }
    }
    return 1;
}

/* Decode 64 hex digits into 32 bytes; -1 when not exactly that. */
static int lbf_hex32(const char *v, size_t n, uint8_t out[LBF_KEY_LEN])
{
    size_t i;

    if (n != 2 * LBF_KEY_LEN) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        char c = v[i];
        int d = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) {
            return -1;
        }
        out[i / 2] = (uint8_t)((i % 2) ? (out[i / 2] | d) : (d << 4));
    }
    return 0;
}

/* Fields of a push besides metrics, and which were seen. */
enum { LBF_F_FARM = 1, LBF_F_MEMBER = 2, LBF_F_TS = 4, LBF_F_SEQ = 8,
       LBF_F_SIG = 16, LBF_F_DRAIN = 32 };
#define LBF_N_FIELDS 6

/* Handle a name field (farm or member) into dst. */
static int lbf_name_field(const char *k, const char *v, size_t n, char *dst,
                          char *err, size_t errlen)
{
    char tmp[28];

    if (n >= LBF_NAME_SIZE) {
        return lbf_bad(err, errlen, "%s: longer than %d characters", k,
                       LBF_NAME_SIZE - 1);
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
    if (strlen(dst) != n || !lbf_name_valid(dst)) {
        return lbf_bad(err, errlen, "%s: invalid name \"%s\"", k,
                       lbf_clean(v, n, tmp));
    }
    return LBF_PUSH_OK;
}

/* Add metric k=v to msg, refusing duplicates and too many. */
static int lbf_metric_field(struct lbf_push_msg *msg, const char *k,
                            size_t kn, const char *v, size_t vn, char *err,
                            size_t errlen)
{
    uint32_t i;
    int64_t x;
    int rc;

    for (i = 0; i < msg->n; i++) {
        if (strlen(msg->m[i].name) == kn && !memcmp(msg->m[i].name, k, kn)) {
            return lbf_bad(err, errlen, "%.*s: duplicated", (int)kn, k);
        }
    }
    if (msg->n >= LBF_METRICS_MAX) {
        return lbf_bad(err, errlen, "%.*s: too many metrics (at most %d)",
                       (int)kn, k, LBF_METRICS_MAX);
    }
    if ((rc = lbf_parse_milli(v, vn, LBF_PUSH_VALUE_MAX, &x)) != 0) {
        return lbf_bad(err, errlen, rc == -2 ? "%.*s: out of range (0..%lld)"
                       : "%.*s: expected a decimal >= 0 with at most 3 "
                         "decimals", (int)kn, k, LBF_PUSH_VALUE_MAX);
    }
    memcpy(msg->m[msg->n].name, k, kn);
    msg->m[msg->n].name[kn] = '\0';
    msg->m[msg->n++].value = x;
    return LBF_PUSH_OK;
}

/* One field k=v at offset off of q (end: it is the last field). */
static int lbf_push_field(struct lbf_push_msg *msg, unsigned *seen,
                          const char *q, size_t off, const char *k, size_t kn,
                          const char *v, size_t vn, int last, char *err,
                          size_t errlen)
{
    static const char *const names[] = {"farm", "member", "ts", "seq", "sig",
                                        "drain"};
    unsigned bit;
    uint64_t x;

    for (bit = 0; bit < LBF_N_FIELDS; bit++) {
        if (strlen(names[bit]) == kn && !memcmp(names[bit], k, kn)) {
            break;
        }
    }
    if (bit == LBF_N_FIELDS) {
        return lbf_metric_field(msg, k, kn, v, vn, err, errlen);
    }
    if (*seen & (1u << bit)) {
        return lbf_bad(err, errlen, "%s: duplicated", names[bit]);
    }
    *seen |= 1u << bit;
    switch (1u << bit) {
    case LBF_F_FARM:
        return lbf_name_field("farm", v, vn, msg->farm, err, errlen);
    case LBF_F_MEMBER:
        return lbf_name_field("member", v, vn, msg->member, err, errlen);
    case LBF_F_TS:
        if (lbf_parse_digits(v, vn, &x) != 0 || vn > 12) {
            return lbf_bad(err, errlen, "ts: expected Unix seconds");
        }
        msg->ts = (int64_t)x;
        return LBF_PUSH_OK;
    case LBF_F_SEQ:
        if (lbf_parse_digits(v, vn, &x) != 0 || x > (UINT64_MAX >> 1)) {
            return lbf_bad(err, errlen, "seq: expected a number < 2^63");
        }
        msg->seq = x;
        return LBF_PUSH_OK;
    case LBF_F_DRAIN:
        if (vn != 1 || (v[0] != '0' && v[0] != '1')) {
            return lbf_bad(err, errlen, "drain: expected 0 or 1");
        }
        msg->drain = v[0] - '0';
        return LBF_PUSH_OK;
    default:
        if (!last || off == 0) {
            return lbf_bad(err, errlen, "sig: must be the last field, after "
                           "what it signs");
        }
        if (lbf_hex32(v, vn, msg->sig) != 0) {
            return lbf_bad(err, errlen, "sig: expected 64 hex digits");
        }
        msg->signed_len = off - 1; /* the bytes before "&sig=" */
        (void)q;
        return LBF_PUSH_OK;
    }
}

/* Split q into k=v fields and hand each to fn; stops at the first error. */
static int lbf_each_field(const char *q, size_t len, char *err, size_t errlen,
                          int (*fn)(void *, size_t, const char *, size_t,
                                    const char *, size_t, int, char *,
                                    size_t),
                          void *ctx)
{
    size_t off = 0;

    if (len > LBF_PUSH_QUERY_MAX) {
        return lbf_bad(err, errlen, "query: longer than %d bytes",
                       LBF_PUSH_QUERY_MAX);
    }
    while (off < len) {
        const char *f = q + off, *amp = memchr(f, '&', len - off);
        size_t fn_len = amp ? (size_t)(amp - f) : len - off;
        const char *eq = memchr(f, '=', fn_len);
        char tmp[28];
        int rc;

        if (eq == NULL || !lbf_key_ok(f, (size_t)(eq - f))) {
            return lbf_bad(err, errlen, "field \"%s\": expected name=value "
                           "with a name of [a-z0-9_]{1,15}",
                           lbf_clean(f, fn_len, tmp));
        }
        rc = fn(ctx, off, f, (size_t)(eq - f), eq + 1,
                fn_len - (size_t)(eq - f) - 1, amp == NULL, err, errlen);
        if (rc != LBF_PUSH_OK) {
            return rc;
        }
        off += fn_len + 1;
    }
    return LBF_PUSH_OK;
}

struct lbf_parse_ctx {
    struct lbf_push_msg *msg;
    const char *q;
    unsigned seen;
};

static int lbf_push_cb(void *c, size_t off, const char *k, size_t kn,
                       const char *v, size_t vn, int last, char *err,
                       size_t errlen)
{
    struct lbf_parse_ctx *pc = c;

    return lbf_push_field(pc->msg, &pc->seen, pc->q, off, k, kn, v, vn, last,
                          err, errlen);
}

int lbf_push_parse(const char *q, size_t len, struct lbf_push_msg *msg,
                   char *err, size_t errlen)
{
    static const char *const names[] = {"farm", "member", "ts", "seq", "sig"};
    struct lbf_parse_ctx pc = {msg, q, 0};
    unsigned bit;
    int rc;

    memset(msg, 0, sizeof(*msg));
    msg->drain = -1;
    err[0] = '\0';
    if ((rc = lbf_each_field(q, len, err, errlen, lbf_push_cb, &pc)) != 0) {
        return rc;
    }
    for (bit = 0; bit < 5; bit++) {
        if (!(pc.seen & (1u << bit))) {
            return lbf_bad(err, errlen, "%s: missing", names[bit]);
        }
    }
    if (msg->n == 0 && msg->drain < 0) {
        return lbf_bad(err, errlen, "metrics: none given");
    }
    return LBF_PUSH_OK;
}

/* ---- mod_heartbeat ---- */

struct lbf_hb_ctx {
    uint64_t v, ready, busy, port;
    unsigned seen;
};

static int lbf_hb_cb(void *c, size_t off, const char *k, size_t kn,
                     const char *v, size_t vn, int last, char *err,
                     size_t errlen)
{
    static const char *const names[] = {"v", "ready", "busy", "port"};
    struct lbf_hb_ctx *hc = c;
    uint64_t *dst[] = {&hc->v, &hc->ready, &hc->busy, &hc->port};
    unsigned i;

    (void)off;
    (void)last;
    for (i = 0; i < 4; i++) {
        if (strlen(names[i]) == kn && !memcmp(names[i], k, kn)) {
            if (hc->seen & (1u << i)) {
                return lbf_bad(err, errlen, "%s: duplicated", names[i]);
            }
            hc->seen |= 1u << i;
            if (lbf_parse_digits(v, vn, dst[i]) != 0 || vn > 9) {
                return lbf_bad(err, errlen, "%s: expected a number", names[i]);
            }
            return LBF_PUSH_OK;
        }
    }
    return LBF_PUSH_OK; /* other fields are tolerated */
}

int lbf_push_parse_heartbeat(const char *q, size_t len, uint32_t *load_milli,
                             uint32_t *port, char *err, size_t errlen)
{
    struct lbf_hb_ctx hc;
    int rc;

    memset(&hc, 0, sizeof(hc));
    err[0] = '\0';
    if ((rc = lbf_each_field(q, len, err, errlen, lbf_hb_cb, &hc)) != 0) {
        return rc;
    }
    if (!(hc.seen & 1u) || hc.v != 1) {
        return lbf_bad(err, errlen, "v: missing or not 1");
    }
    if ((hc.seen & 6u) != 6u) {
        return lbf_bad(err, errlen, "%s: missing",
                       (hc.seen & 2u) ? "busy" : "ready");
    }
    if (hc.port > 65535) {
        return lbf_bad(err, errlen, "port: out of range (0..65535)");
    }
    *load_milli = hc.ready + hc.busy == 0
                      ? 1000 : (uint32_t)(hc.busy * 1000 / (hc.ready + hc.busy));
    *port = (uint32_t)hc.port;
    return LBF_PUSH_OK;
}

/* ---- keys and signatures ---- */

void lbf_push_member_key(const uint8_t *secret, size_t slen,
                         const char *member, uint8_t key[LBF_KEY_LEN])
{
    char label[16 + LBF_NAME_SIZE];
    unsigned int outlen = LBF_KEY_LEN;
    int n = snprintf(label, sizeof(label), "lbfarm-member:%s", member);

    if (n < 0 || (size_t)n >= sizeof(label)) {
        n = (int)sizeof(label) - 1; /* names are <= 31: cannot happen */
    }
    HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)label,
         (size_t)n, key, &outlen);
}

/* HMACs computed by lbf_push_verify in this thread. */
static _Thread_local uint64_t lbf_hmac_count;

uint64_t lbf_push_hmacs(void)
{
    return lbf_hmac_count;
}

int lbf_push_verify(const char *q, const struct lbf_push_msg *msg,
                    const uint8_t (*keys)[LBF_KEY_LEN], int nkeys)
{
    uint8_t tag[EVP_MAX_MD_SIZE];
    unsigned int tlen;
    int i, ok = 0;

    for (i = 0; i < nkeys; i++) {
        tlen = sizeof(tag);
        lbf_hmac_count++;
        if (HMAC(EVP_sha256(), keys[i], LBF_KEY_LEN,
                 (const unsigned char *)q, msg->signed_len, tag, &tlen)
            && tlen == LBF_KEY_LEN) {
            ok |= CRYPTO_memcmp(tag, msg->sig, LBF_KEY_LEN) == 0;
        }
    }
    return ok;
}

/* ---- member names ---- */

/* FNV-1a of the lower-cased name[0..len).  Unkeyed on purpose: the table
 * holds configured names only, so a lookup's probe run is bounded by the
 * configuration, whatever names an attacker sends. */
static uint32_t lbf_name_hash(const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        h = (h ^ (uint32_t)(c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
    }
    return h ^ (h >> 15);
}

uint32_t lbf_name_index_slots(uint32_t capacity)
{
    uint32_t n = 8;

    while (n < 2 * (uint64_t)capacity && n < (1u << 30)) {
        n <<= 1;
    }
    return n;
}

void lbf_name_index_init(struct lbf_name_index *x,
                         struct lbf_name_slot *slots, uint32_t nslots)
{
    uint32_t i;

    x->slot = slots;
    x->mask = nslots - 1;
    x->n = 0;
    for (i = 0; i < nslots; i++) {
        memset(slots[i].name, 0, sizeof(slots[i].name));
        atomic_init(&slots[i].mi, -1);
    }
}

/* The slot of name[0..len) in x, or of the empty slot ending its run. */
static struct lbf_name_slot *lbf_name_probe(const struct lbf_name_index *x,
                                            const char *name, size_t len)
{
    uint32_t i = lbf_name_hash(name, len) & x->mask, k;

    for (k = 0; k <= x->mask; k++, i = (i + 1) & x->mask) {
        struct lbf_name_slot *s = &x->slot[i];

        if (atomic_load_explicit(&s->mi, memory_order_acquire) < 0
            || (strlen(s->name) == len && !strncasecmp(s->name, name, len))) {
            return s;
        }
    }
    return NULL; /* full: cannot happen at half full */
}

int lbf_name_index_add(struct lbf_name_index *x, const char *name,
                       uint32_t mi)
{
    struct lbf_name_slot *s;
    size_t len, i;

    if (name == NULL || !lbf_name_valid(name) || mi > INT32_MAX) {
        return LBF_EINVAL;
    }
    len = strlen(name);
    if ((s = lbf_name_probe(x, name, len)) != NULL
        && atomic_load_explicit(&s->mi, memory_order_acquire) >= 0) {
        return LBF_EEXIST;
    }
    if (s == NULL || 2 * (uint64_t)(x->n + 1) > (uint64_t)x->mask + 1) {
        return LBF_ENOSPACE;
    }
    for (i = 0; i < len; i++) {
        s->name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32
                                                             : name[i]);
    }
    s->name[len] = '\0';
    atomic_store_explicit(&s->mi, (int32_t)mi, memory_order_release);
    x->n++;
    return LBF_OK;
}

int lbf_name_index_find(const struct lbf_name_index *x, const char *name,
                        size_t len)
{
    const struct lbf_name_slot *s;

    if (x == NULL || x->slot == NULL || name == NULL || len == 0
        || len >= LBF_NAME_SIZE) {
        return -1;
    }
    s = lbf_name_probe(x, name, len);
    return s ? (int)atomic_load_explicit(&s->mi, memory_order_acquire) : -1;
}

/* ---- load ---- */

int lbf_load_eval(const struct lbf_load_term *t, uint32_t nt,
                  const struct lbf_metric *m, uint32_t nm)
{
    int64_t sum = 0, wsum = 0;
    uint32_t i, j;
    int found = 0;

    for (i = 0; i < nt; i++) {
        int64_t frac = 0;

        for (j = 0; j < nm; j++) {
            if (strcmp(t[i].name, m[j].name) == 0) {
                frac = t[i].capacity > 0 ? m[j].value * 1000 / t[i].capacity
                                         : 1000;
                found = 1;
                break;
            }
        }
        sum += (int64_t)t[i].weight * (frac > 1000 ? 1000 : frac);
        wsum += t[i].weight;
    }
    return found && wsum > 0 ? (int)(sum / wsum) : -1;
}

#define LBF_RATE_STEP_BACK_USEC 1000000 /* a clock step, not a race */

/* Token bucket of r at now (caller holds r's lock): 1 when a push may
 * pass (and takes its token), 0 when the member is over its rate. */
static int lbf_rate_take_locked(struct lbf_row *r, uint64_t now,
                                const struct lbf_push_policy *pol)
{
    uint64_t cap = (uint64_t)pol->burst * 1000, tokens = r->rate_tokens;
    uint64_t added;

    if (r->rate_ts == 0) {
        tokens = cap;
        r->rate_ts = now;
    }
    else if (now < r->rate_ts) {
        /* a concurrent push read the clock before the one that moved
         * rate_ts: nothing has elapsed (a full bucket here let a flood
         * from many connections through, issue 12); a clock stepped back
         * more than a second restarts the refill from now */
        if (r->rate_ts - now > LBF_RATE_STEP_BACK_USEC) {
            r->rate_ts = now;
        }
    }
    else if ((added = (now - r->rate_ts) * pol->rate_per_sec / 1000) > 0) {
        /* advance the clock only by the time those tokens took, so that
         * frequent calls do not lose the remainder */
        tokens += added;
        r->rate_ts += added * 1000 / pol->rate_per_sec;
    }
    if (tokens >= cap) {
        tokens = cap;
        r->rate_ts = now;
    }
    r->rate_tokens = (uint32_t)tokens;
    if (r->rate_tokens < 1000) {
        return 0;
    }
    r->rate_tokens -= 1000;
    return 1;
}

uint32_t lbf_load_smooth(uint32_t old, uint32_t report, uint32_t smooth_milli,
                         int fresh)
{
    int64_t d, step;

    report = report > 1000 ? 1000 : report;
    if (fresh || smooth_milli == 0 || smooth_milli >= 1000) {
        return report;
    }
    old = old > 1000 ? 1000 : old;
    d = ((int64_t)report - (int64_t)old) * smooth_milli;
    step = (d >= 0 ? d + 500 : d - 500) / 1000; /* rounded */
    if (step == 0 && d != 0) {
        step = d > 0 ? 1 : -1; /* so that a steady report is reached */
    }
    return (uint32_t)((int64_t)old + step);
}

/* Publish load_milli for picks (caller holds r's lock, inside a write
 * section): a run of fresh reports restarts after a gap > expiry, and
 * its first report is taken as is; later ones are smoothed. */
static void lbf_publish_load_locked(struct lbf_shm *h, struct lbf_row *r,
                                    uint32_t load, uint64_t now,
                                    uint32_t smooth_milli)
{
    struct lbf_farm *f = lbf_farm_at(h, r->farm);
    uint64_t last = atomic_load(&r->load_ts);
    uint64_t expiry = f ? (uint64_t)f->expiry_ms * 1000 : 0;
    int fresh = last == 0 || now < last || now - last > expiry;

    if (fresh) {
        atomic_store(&r->load_since, now);
    }
    atomic_store(&r->load_milli,
                 lbf_load_smooth(atomic_load(&r->load_milli), load,
                                 smooth_milli, fresh));
    atomic_store(&r->load_ts, now);
}

int lbf_push_admit(struct lbf_shm *h, struct lbf_row *r, uint32_t self,
                   uint64_t now_usec, const struct lbf_push_policy *pol)
{
    int ok;

    lbf_row_lock(h, r, self);
    ok = lbf_rate_take_locked(r, now_usec, pol);
    lbf_row_unlock(r, self);
    return ok ? LBF_PUSH_OK : LBF_PUSH_ERATE;
}

int lbf_push_apply(struct lbf_shm *h, struct lbf_row *r, uint32_t self,
                   const struct lbf_push_msg *msg, uint64_t now_usec,
                   const struct lbf_push_policy *pol,
                   const struct lbf_load_term *t, uint32_t nt)
{
    int64_t now_s = (int64_t)(now_usec / 1000000u);
    int64_t skew = msg->ts > now_s ? msg->ts - now_s : now_s - msg->ts;
    int load = lbf_load_eval(t, nt, msg->m, msg->n), rc = LBF_PUSH_OK;

    if (skew > (int64_t)pol->window_sec) {
        return LBF_PUSH_ESTALE;
    }
    lbf_row_lock(h, r, self);
    if (msg->seq <= r->push_seq) {
        rc = LBF_PUSH_EREPLAY;
    }
    else {
        lbf_write_begin(&r->lock);
        r->push_seq = msg->seq;
        r->metric_ts = now_usec;
        r->n_metrics = msg->n;
        memcpy(r->metrics, msg->m, msg->n * sizeof(msg->m[0]));
        if (load >= 0) {
            lbf_publish_load_locked(h, r, (uint32_t)load, now_usec,
                                    pol->smooth_milli);
        }
        if (msg->drain >= 0) {
            atomic_store(&r->drain_req, (uint32_t)msg->drain);
        }
        lbf_write_end(&r->lock);
    }
    lbf_row_unlock(r, self);
    return rc;
}

int lbf_push_apply_load(struct lbf_shm *h, struct lbf_row *r, uint32_t self,
                        uint32_t load_milli, uint64_t now_usec,
                        const struct lbf_push_policy *pol)
{
    int rc = LBF_PUSH_OK;

    lbf_row_lock(h, r, self);
    if (!lbf_rate_take_locked(r, now_usec, pol)) {
        rc = LBF_PUSH_ERATE;
    }
    else {
        lbf_write_begin(&r->lock);
        r->metric_ts = now_usec;
        lbf_publish_load_locked(h, r, load_milli, now_usec,
                                pol->smooth_milli);
        lbf_write_end(&r->lock);
    }
    lbf_row_unlock(r, self);
    return rc;
}
