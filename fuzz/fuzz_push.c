/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_push.c -- libFuzzer target for pushed metrics (lbfarm_push.h).
 *
 * Every input is handed, as the exact bytes libFuzzer gives (no NUL added,
 * so ASan sees any read past the end), to:
 *
 *  1. lbf_push_parse; on success the message is checked field by field
 *     against the input (names valid and equal to their field's bytes,
 *     1..8 distinct metrics in 0..1e9 -- or none when drain=0|1 is given,
 *     drain as given, signed_len < len and followed by exactly "&sig=" +
 *     64 hex digits that decode to msg.sig);
 *  2. lbf_push_verify against OpenSSL's HMAC() computed here, with the
 *     fixed farm secret; then the same message re-signed here must verify
 *     under its member key (alone or with a second, rotated key) and fail
 *     under the key another secret gives the same member; every call
 *     costs exactly one HMAC per key (lbf_push_hmacs);
 *  3. the member-name index (lbf_name_index over m0..m2): the parsed
 *     member name, and the raw input bytes as a name, are found exactly
 *     when they equal a member's name in any case;
 *  4. lbf_push_admit then lbf_push_apply on a small segment (formatted
 *     once, restored before every input so that a crash reproduces from
 *     its input alone), in the glue's order: the outcome must match the
 *     window, a refusal leaves the metrics group and the load untouched,
 *     a success writes exactly the message and the load the formula
 *     gives (the first report of a run is not smoothed; and drain as
 *     asked), the same message again is a replay, the bucket admits the
 *     rest of the burst at the same instant but no more, and equal
 *     reports keep the smoothed load equal; then headroom stays in
 *     LBF_HEADROOM_MIN..1000 and a pushed-metric pick lands on an
 *     eligible member when there is one;
 *  5. lbf_push_parse_heartbeat, and lbf_push_apply_load on success.
 *
 * Whatever the outcome, err is NUL-terminated within errlen and printable,
 * empty on success, and names a field on LBF_PUSH_EBAD.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lbfarm_conf.h"
#include "lbfarm_method.h"
#include "lbfarm_push.h"

/* Always-on invariant: abort with the failed expression (a libFuzzer
 * crash, saved as an artifact). */
#include "fz_check.h"

#define FZ_MEMBERS 3
#define FZ_NOW 1700000000000000ull /* usec, when ts is unusable */

static const char fz_secret[] = "fuzz-farm-secret-0123456789";
static const char fz_other_secret[] = "another-farm-secret-9876543210";

static const struct lbf_push_policy fz_policy = {
    .window_sec = 30, .rate_per_sec = 5, .burst = 3, .smooth_milli = 500};

static const struct lbf_load_term fz_terms[] = {
    {"cpu", 1000, 1},
    {"db_conns", 200000, 3},
    {"q", 1, 2}, /* capacity 0.001: clamps at once */
};

static struct lbf_shm fz_h;
static struct lbf_farm *fz_farm;
static unsigned char *fz_pristine;
static struct lbf_name_slot fz_slots[8];
static struct lbf_name_index fz_names; /* m0..m2, never changed after */

/* Format the segment once: farm "farm_one" (pushed-metric) of m0..m2. */
static void fz_init(void)
{
    struct lbf_layout lay;
    size_t len;
    void *base;
    int fi;
    uint32_t i;

    memset(&lay, 0, sizeof(lay));
    lay.l_farms = 1;
    lay.l_rows = FZ_MEMBERS;
    lay.sched_len = lbf_sched_entries(FZ_MEMBERS);
    lay.generation = 1;
    len = lbf_shm_size(&lay);
    base = aligned_alloc(64, (len + 63) / 64 * 64);
    fz_pristine = malloc(len);
    FZ_CHECK(base != NULL && fz_pristine != NULL);
    memset(base, 0, len);
    FZ_CHECK(lbf_shm_format(&fz_h, base, len, &lay) == LBF_OK);
    fi = lbf_farm_add(&fz_h, "farm_one",
                      (uint32_t)lbf_method_find("pushed-metric"), FZ_MEMBERS);
    FZ_CHECK(fi == 0);
    for (i = 0; i < FZ_MEMBERS; i++) {
        char name[8];

        snprintf(name, sizeof(name), "m%u", i);
        FZ_CHECK(lbf_member_add(&fz_h, 0, name, i + 1, 0, 60) == (int)i);
    }
    fz_farm = lbf_farm_at(&fz_h, 0);
    FZ_CHECK(fz_farm != NULL && lbf_farm_rebuild(&fz_h, fz_farm) == LBF_OK);
    fz_farm->expiry_ms = 15000;
    fz_farm->blackout_ms = 2000;
    memcpy(fz_pristine, base, len);
    FZ_CHECK(lbf_name_index_slots(FZ_MEMBERS) == 8);
    lbf_name_index_init(&fz_names, fz_slots, 8);
    for (i = 0; i < FZ_MEMBERS; i++) {
        FZ_CHECK(lbf_name_index_add(&fz_names, lbf_member_at(&fz_h, fz_farm,
                                                             i)->name, i)
                 == LBF_OK);
    }
}

/* The member named name[0..len) in any case, by a plain scan; or -1. */
static int fz_name_ref(const char *name, size_t len)
{
    uint32_t i;

    for (i = 0; i < FZ_MEMBERS; i++) {
        const char *m = lbf_member_at(&fz_h, fz_farm, i)->name;

        if (strlen(m) == len && strncasecmp(m, name, len) == 0
            && memchr(name, '\0', len) == NULL) {
            return (int)i;
        }
    }
    return -1;
}

static void fz_names_check(const uint8_t *data, size_t size,
                           const struct lbf_push_msg *msg)
{
    size_t n = size < 40 ? size : 40;

    FZ_CHECK(lbf_name_index_find(&fz_names, (const char *)data, n) ==
             fz_name_ref((const char *)data, n));
    if (msg != NULL) {
        FZ_CHECK(lbf_name_index_find(&fz_names, msg->member,
                                     strlen(msg->member)) ==
                 fz_name_ref(msg->member, strlen(msg->member)));
    }
}

/* err: terminated within errlen, printable, empty on OK, a field named
 * ("name: ..." or "field \"...\"") on EBAD. */
static void fz_check_err(const char *err, size_t errlen, int rc)
{
    const char *end = memchr(err, '\0', errlen);
    size_t i, n;

    FZ_CHECK(end != NULL);
    n = (size_t)(end - err);
    for (i = 0; i < n; i++) {
        FZ_CHECK((unsigned char)err[i] >= 0x20 &&
                 (unsigned char)err[i] <= 0x7e);
    }
    if (rc == LBF_PUSH_OK) {
        FZ_CHECK(n == 0);
        return;
    }
    FZ_CHECK(rc == LBF_PUSH_EBAD);
    FZ_CHECK(n > 0 || errlen == 1);
    if (errlen >= 64) {
        size_t k = strspn(err, "abcdefghijklmnopqrstuvwxyz0123456789_");

        FZ_CHECK(strncmp(err, "field \"", 7) == 0 ||
                 (k >= 1 && k <= 15 && err[k] == ':' && err[k + 1] == ' '));
    }
}

static int fz_hexval(char c)
{
    return (c >= '0' && c <= '9')   ? c - '0'
           : (c >= 'a' && c <= 'f') ? c - 'a' + 10
           : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                    : -1;
}

/* The value of the field called key in q[0..len), or NULL. */
static const char *fz_field(const char *q, size_t len, const char *key,
                            size_t *vlen)
{
    size_t off = 0, kn = strlen(key);

    while (off < len) {
        const char *f = q + off, *amp = memchr(f, '&', len - off);
        size_t flen = amp ? (size_t)(amp - f) : len - off;

        if (flen > kn && memcmp(f, key, kn) == 0 && f[kn] == '=') {
            *vlen = flen - kn - 1;
            return f + kn + 1;
        }
        off += flen + 1;
    }
    return NULL;
}

/* A name field's bytes equal the parsed name. */
static void fz_check_name(const char *q, size_t len, const char *key,
                          const char *name)
{
    size_t vlen = 0;
    const char *v = fz_field(q, len, key, &vlen);

    FZ_CHECK(v != NULL);
    FZ_CHECK(lbf_name_valid(name));
    FZ_CHECK(vlen == strlen(name) && memcmp(v, name, vlen) == 0);
}

/* Everything a successful parse promises about msg. */
static void fz_check_msg(const char *q, size_t len,
                         const struct lbf_push_msg *msg)
{
    uint32_t i, j;
    size_t k;

    size_t dlen = 0;
    const char *d = fz_field(q, len, "drain", &dlen);

    FZ_CHECK(len <= LBF_PUSH_QUERY_MAX);
    FZ_CHECK(msg->n <= LBF_METRICS_MAX);
    /* 1..8 metrics, or none in a push that carries only drain=0|1 */
    FZ_CHECK(msg->n >= 1 || msg->drain >= 0);
    FZ_CHECK(d == NULL ? msg->drain == -1
                       : dlen == 1 && msg->drain == d[0] - '0' &&
                             (d[0] == '0' || d[0] == '1'));
    FZ_CHECK(msg->ts >= 0 && msg->ts <= 999999999999LL);
    FZ_CHECK(msg->seq <= (UINT64_MAX >> 1));
    FZ_CHECK(msg->signed_len < len);
    FZ_CHECK(msg->signed_len + 5 + 2 * LBF_KEY_LEN == len);
    FZ_CHECK(memcmp(q + msg->signed_len, "&sig=", 5) == 0);
    for (k = 0; k < LBF_KEY_LEN; k++) {
        int hi = fz_hexval(q[msg->signed_len + 5 + 2 * k]);
        int lo = fz_hexval(q[msg->signed_len + 6 + 2 * k]);

        FZ_CHECK(hi >= 0 && lo >= 0 && msg->sig[k] == (hi << 4 | lo));
    }
    fz_check_name(q, len, "farm", msg->farm);
    fz_check_name(q, len, "member", msg->member);
    for (i = 0; i < msg->n; i++) {
        const char *nm = msg->m[i].name;
        size_t nl = strnlen(nm, LBF_METRIC_NAME);

        FZ_CHECK(nl >= 1 && nl < LBF_METRIC_NAME);
        FZ_CHECK(strspn(nm, "abcdefghijklmnopqrstuvwxyz0123456789_") == nl);
        FZ_CHECK(msg->m[i].value >= 0 &&
                 msg->m[i].value <= LBF_PUSH_VALUE_MAX * 1000);
        for (j = 0; j < i; j++) {
            FZ_CHECK(strcmp(msg->m[j].name, nm) != 0);
        }
    }
}

/* The formula of lbfarm_push.h, written here from its definition. */
static int fz_load_ref(const struct lbf_metric *m, uint32_t nm)
{
    int64_t sum = 0, wsum = 0;
    size_t i;
    uint32_t j;
    int found = 0;

    for (i = 0; i < sizeof(fz_terms) / sizeof(fz_terms[0]); i++) {
        int64_t frac = 0;

        for (j = 0; j < nm; j++) {
            if (strcmp(fz_terms[i].name, m[j].name) == 0) {
                frac = m[j].value >= fz_terms[i].capacity
                           ? 1000
                           : m[j].value * 1000 / fz_terms[i].capacity;
                found = 1;
            }
        }
        sum += fz_terms[i].weight * frac;
        wsum += fz_terms[i].weight;
    }
    return found ? (int)(sum / wsum) : -1;
}

/* The metrics group and load of a row, for "unchanged" checks. */
struct fz_snap {
    uint64_t metric_ts, push_seq, load_ts, load_since;
    uint32_t n_metrics, load_milli, seq, drain_req;
    struct lbf_metric m[LBF_METRICS_MAX];
};

static void fz_snap(struct lbf_row *r, struct fz_snap *s)
{
    memset(s, 0, sizeof(*s));
    s->metric_ts = r->metric_ts;
    s->push_seq = r->push_seq;
    s->load_ts = atomic_load(&r->load_ts);
    s->load_since = atomic_load(&r->load_since);
    s->n_metrics = r->n_metrics;
    s->load_milli = atomic_load(&r->load_milli);
    s->seq = atomic_load(&r->lock.seq);
    s->drain_req = atomic_load(&r->drain_req);
    memcpy(s->m, r->metrics, sizeof(s->m));
}

static void fz_verify(const char *q, const struct lbf_push_msg *msg)
{
    uint8_t keys[2][LBF_KEY_LEN], tag[LBF_KEY_LEN];
    unsigned int tlen = LBF_KEY_LEN;
    struct lbf_push_msg good;
    int ref;

    lbf_push_member_key((const uint8_t *)fz_secret, strlen(fz_secret),
                        msg->member, keys[0]);
    lbf_push_member_key((const uint8_t *)fz_other_secret,
                        strlen(fz_other_secret), msg->member, keys[1]);
    FZ_CHECK(HMAC(EVP_sha256(), keys[0], LBF_KEY_LEN, (const unsigned char *)q,
                  msg->signed_len, tag, &tlen));
    ref = memcmp(tag, msg->sig, LBF_KEY_LEN) == 0;
    {
        uint64_t before = lbf_push_hmacs();

        FZ_CHECK(lbf_push_verify(q, msg, (const uint8_t(*)[LBF_KEY_LEN])keys,
                                 1) == ref);
        FZ_CHECK(lbf_push_hmacs() - before == 1);
    }
    good = *msg;
    memcpy(good.sig, tag, LBF_KEY_LEN);
    FZ_CHECK(
        lbf_push_verify(q, &good, (const uint8_t(*)[LBF_KEY_LEN])keys, 2) == 1);
    FZ_CHECK(lbf_push_verify(
                 q, &good, (const uint8_t(*)[LBF_KEY_LEN]) & keys[1], 1) == 0);
    {
        uint64_t before = lbf_push_hmacs();

        FZ_CHECK(lbf_push_verify(q, &good, (const uint8_t(*)[LBF_KEY_LEN])keys,
                                 0) == 0);
        FZ_CHECK(lbf_push_verify(q, &good, (const uint8_t(*)[LBF_KEY_LEN])keys,
                                 2) == 1);
        FZ_CHECK(lbf_push_hmacs() - before == 2);
    }
}

static void fz_pick(uint64_t now, uint64_t seed)
{
    uint64_t rng = seed | 1u;
    struct lbf_pick pk;
    uint32_t i, usable = 0;
    int got;

    memset(&pk, 0, sizeof(pk));
    pk.h = &fz_h;
    pk.farm = fz_farm;
    pk.now = now;
    pk.rng = &rng;
    pk.exclude = LBF_NO_MEMBER;
    for (i = 0; i < FZ_MEMBERS; i++) {
        uint32_t hr = lbf_headroom(&pk, lbf_member_at(&fz_h, fz_farm, i));

        FZ_CHECK(hr >= LBF_HEADROOM_MIN && hr <= 1000);
        usable += lbf_member_tier(&pk, i) >= 0;
    }
    got = lbf_pick_take((uint32_t)lbf_method_find("pushed-metric"), &pk);
    FZ_CHECK(got >= -1 && got < FZ_MEMBERS);
    FZ_CHECK((got >= 0) == (usable > 0));
    if (got >= 0) {
        FZ_CHECK(lbf_member_tier(&pk, (uint32_t)got) >= 0);
        lbf_row_release(lbf_member_at(&fz_h, fz_farm, (uint32_t)got), 0);
    }
}

static void fz_apply(const uint8_t *data, size_t size,
                     const struct lbf_push_msg *msg)
{
    int mi = lbf_member_find(&fz_h, fz_farm, msg->member);
    struct lbf_row *r;
    struct fz_snap before, after;
    uint64_t now;
    int64_t t, now_s, skew;
    int rc, load;

    /* a clock near the message's ts (-40..+40 s), picked by the input */
    t = msg->ts * 1000000 + ((int64_t)(data[0] % 81) - 40) * 1000000 +
        (int64_t)data[size / 2] * 7919;
    now = t > 0 ? (uint64_t)t : 1;
    if (mi < 0) {
        mi = (int)(data[size - 1] % FZ_MEMBERS);
    }
    r = lbf_member_at(&fz_h, fz_farm, (uint32_t)mi);
    FZ_CHECK(r != NULL);
    now_s = (int64_t)(now / 1000000u);
    skew = msg->ts > now_s ? msg->ts - now_s : now_s - msg->ts;
    load = fz_load_ref(msg->m, msg->n);
    FZ_CHECK(lbf_load_eval(fz_terms, 3, msg->m, msg->n) == load);
    FZ_CHECK(load >= -1 && load <= 1000);

    /* a fresh row has its burst: the first admission passes */
    FZ_CHECK(lbf_push_admit(&fz_h, r, (uint32_t)getpid(), now, &fz_policy) ==
             LBF_PUSH_OK);
    fz_snap(r, &before);
    rc = lbf_push_apply(&fz_h, r, (uint32_t)getpid(), msg, now, &fz_policy,
                        fz_terms, 3);
    fz_snap(r, &after);
    FZ_CHECK(atomic_load(&r->lock.owner) == 0);
    FZ_CHECK((after.seq & 1u) == 0);
    FZ_CHECK((rc == LBF_PUSH_ESTALE) == (skew > (int64_t)fz_policy.window_sec));
    if (rc != LBF_PUSH_OK) {
        FZ_CHECK(rc == LBF_PUSH_ESTALE || rc == LBF_PUSH_EREPLAY);
        FZ_CHECK(rc != LBF_PUSH_EREPLAY || msg->seq <= before.push_seq);
        FZ_CHECK(memcmp(&before, &after, sizeof(before)) == 0);
        return;
    }
    FZ_CHECK(msg->seq > before.push_seq);
    FZ_CHECK(after.push_seq == msg->seq && after.metric_ts == now);
    FZ_CHECK(after.n_metrics == msg->n);
    FZ_CHECK(memcmp(after.m, msg->m, msg->n * sizeof(msg->m[0])) == 0);
    FZ_CHECK(after.seq == before.seq + 2);
    FZ_CHECK(after.drain_req ==
             (msg->drain >= 0 ? (uint32_t)msg->drain : before.drain_req));
    if (load >= 0) {
        /* the first report of a run (a pristine row): as is */
        FZ_CHECK(after.load_milli == (uint32_t)load && after.load_ts == now);
        FZ_CHECK(after.load_since <= now && after.load_since != 0);
    }
    else {
        FZ_CHECK(after.load_milli == before.load_milli &&
                 after.load_ts == before.load_ts &&
                 after.load_since == before.load_since);
    }
    /* the same message again is a replay, and changes nothing */
    FZ_CHECK(lbf_push_apply(&fz_h, r, (uint32_t)getpid(), msg, now + 1,
                            &fz_policy, fz_terms, 3) == LBF_PUSH_EREPLAY);
    fz_snap(r, &before);
    FZ_CHECK(memcmp(&before, &after, sizeof(before)) == 0);
    /* the bucket admits the rest of the burst at the same instant, then
     * no more; the same report again keeps the smoothed load */
    {
        struct lbf_push_msg next = *msg;
        uint32_t k;

        for (k = 1; k <= fz_policy.burst; k++) {
            rc = lbf_push_admit(&fz_h, r, (uint32_t)getpid(), now,
                                &fz_policy);
            FZ_CHECK(rc ==
                     (k < fz_policy.burst ? LBF_PUSH_OK : LBF_PUSH_ERATE));
            if (rc != LBF_PUSH_OK) {
                break;
            }
            next.seq = msg->seq + k;
            FZ_CHECK(lbf_push_apply(&fz_h, r, (uint32_t)getpid(), &next, now,
                                    &fz_policy, fz_terms, 3) == LBF_PUSH_OK);
        }
        fz_snap(r, &after);
        FZ_CHECK(after.push_seq == msg->seq + fz_policy.burst - 1);
        FZ_CHECK(load < 0 || after.load_milli == (uint32_t)load);
    }
    fz_pick(now, now ^ size);
    fz_pick(now + 2500000u, now);
    fz_pick(now + 16000000u, now + 1);
}

static void fz_heartbeat(const uint8_t *data, size_t size)
{
    uint32_t load = 0xdeadbeefu, port = 0xdeadbeefu;
    char err[160];
    struct lbf_row *r;
    int rc;

    memset(err, 0xaa, sizeof(err));
    rc = lbf_push_parse_heartbeat((const char *)data, size, &load, &port, err,
                                  sizeof(err));
    fz_check_err(err, sizeof(err), rc);
    if (rc != LBF_PUSH_OK) {
        FZ_CHECK(load == 0xdeadbeefu && port == 0xdeadbeefu);
        return;
    }
    FZ_CHECK(size <= LBF_PUSH_QUERY_MAX);
    FZ_CHECK(load <= 1000 && port <= 65535);
    r = lbf_member_at(&fz_h, fz_farm, (uint32_t)(size % FZ_MEMBERS));
    rc = lbf_push_apply_load(&fz_h, r, (uint32_t)getpid(), load, FZ_NOW,
                             &fz_policy);
    FZ_CHECK(rc == LBF_PUSH_OK); /* a fresh row has its burst */
    FZ_CHECK(atomic_load(&r->load_milli) == load);
    FZ_CHECK(atomic_load(&r->load_ts) == FZ_NOW);
    fz_pick(FZ_NOW + 3000000u, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data;
    struct lbf_push_msg msg;
    char err[256], small[8];
    size_t errlen;
    int rc, rc2;

    if (fz_pristine == NULL) {
        fz_init();
    }
    memcpy(fz_h.base, fz_pristine, fz_h.len);

    memset(err, 0xaa, sizeof(err));
    rc = lbf_push_parse(q, size, &msg, err, sizeof(err));
    fz_check_err(err, sizeof(err), rc);
    if (size > LBF_PUSH_QUERY_MAX) {
        FZ_CHECK(rc == LBF_PUSH_EBAD &&
                 strcmp(err, "query: longer than 2048 bytes") == 0);
    }
    /* the same parse with a short err buffer: same outcome, truncated */
    errlen = size == 0 ? 1 : 1 + data[0] % sizeof(small);
    memset(small, 0xaa, sizeof(small));
    {
        struct lbf_push_msg m2;

        rc2 = lbf_push_parse(q, size, &m2, small, errlen);
        FZ_CHECK(rc2 == rc);
        fz_check_err(small, errlen, rc2);
        FZ_CHECK(rc != LBF_PUSH_EBAD || strncmp(small, err, errlen - 1) == 0);
    }
    fz_names_check(data, size, rc == LBF_PUSH_OK ? &msg : NULL);
    if (rc == LBF_PUSH_OK) {
        fz_check_msg(q, size, &msg);
        fz_verify(q, &msg);
        fz_apply(data, size, &msg);
    }
    memcpy(fz_h.base, fz_pristine, fz_h.len);
    fz_heartbeat(data, size);
    return 0;
}
