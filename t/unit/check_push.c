/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_push.c -- pushed metrics (lbfarm_push.h) and the pushed-metric
 * method, basic to complex:
 *
 *  - parse: a valid push yields exact fields, metrics in thousandths and
 *    signed_len = the bytes before "&sig="; every malformed push is
 *    LBF_PUSH_EBAD with an err that names the field and never echoes a
 *    raw non-printable byte;
 *  - heartbeat: mod_heartbeat's "v=1&ready=N&busy=N" -> busy/(ready+busy);
 *  - verify: signatures computed here with OpenSSL's HMAC() (not with the
 *    code under test), member key derivation, key rotation, tampering;
 *  - lbf_load_eval: the weighted formula, clamping, missing terms;
 *  - apply on a shared segment, as the glue runs it (admit -- the token
 *    bucket, before any crypto -- then verify, then apply): replay, stale
 *    ts and rate refusals leave the row unchanged; success writes metrics
 *    and the derived load; a signature check costs one HMAC per live key;
 *  - the member-name index: every name found in any case, unknown names
 *    and edge lengths refused, the half-full bound;
 *  - smoothing: the EWMA table, one outlier among steady reports moves
 *    the load by at most the weight's share, the first report of a run
 *    is taken as is;
 *  - lbf_headroom: expiry, blackout, clamping;
 *  - the pushed-metric pick: headroom scales capacity, the exact 4x
 *    boundary for loads 0.9 (clamped) / 0, and a member without a fresh report is
 *    picked exactly as least-load picks it.
 */
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lbf_unit.h"
#include "lbfarm_conf.h"
#include "lbfarm_push.h"

/* LBF_T_NOW in whole seconds, as a member's ts. */
#define P_TS 1700000000LL
#define P_TS_STR "1700000000"
#define P_HEX64                                                                \
    "0123456789abcdef0123456789abcdef"                                         \
    "0123456789ABCDEF0123456789ABCDEF"
#define P_SIG "&sig=" P_HEX64
#define P_HEAD "farm=farm_one&member=m1&ts=" P_TS_STR "&seq=5"
#define P_NAME31 "abcdefghijklmnopqrstuvwxyz01234"
#define P_NAME32 "abcdefghijklmnopqrstuvwxyz012345"
#define P_QMAX 4096
/* a literal that may hold NUL bytes, and its length */
#define P_LIT(s) s, sizeof(s) - 1

static const char p_secret[] = "s3cret-of-farm_one-0123456789";
static const char p_secret2[] = "the-next-secret-after-rotation!!";

/* ---- helpers: reference HMAC (OpenSSL directly), signing, rows ---- */

static void p_hmac(const void *key, size_t klen, const void *data, size_t dlen,
                   uint8_t out[LBF_KEY_LEN])
{
    unsigned int olen = LBF_KEY_LEN;

    ck_assert_ptr_nonnull(
        HMAC(EVP_sha256(), key, (int)klen, data, dlen, out, &olen));
    ck_assert_uint_eq(olen, LBF_KEY_LEN);
}

/* member key per CONTRACT.md: HMAC(secret, "lbfarm-member:" + name). */
static void p_member_key(const char *secret, const char *member,
                         uint8_t out[LBF_KEY_LEN])
{
    char label[128];
    int n = snprintf(label, sizeof(label), "lbfarm-member:%s", member);

    ck_assert_int_lt(n, (int)sizeof(label));
    p_hmac(secret, strlen(secret), label, (size_t)n, out);
}

static void p_hex(const uint8_t in[LBF_KEY_LEN], char out[2 * LBF_KEY_LEN + 1])
{
    size_t i;

    for (i = 0; i < LBF_KEY_LEN; i++) {
        snprintf(out + 2 * i, 3, "%02x", in[i]);
    }
}

/* out = prefix + "&sig=" + hex(HMAC(key, prefix)); returns its length. */
static size_t p_sign(char *out, size_t cap, const uint8_t key[LBF_KEY_LEN],
                     const char *prefix)
{
    uint8_t tag[LBF_KEY_LEN];
    char hex[2 * LBF_KEY_LEN + 1];
    int n;

    p_hmac(key, LBF_KEY_LEN, prefix, strlen(prefix), tag);
    p_hex(tag, hex);
    n = snprintf(out, cap, "%s&sig=%s", prefix, hex);
    ck_assert_int_lt(n, (int)cap);
    return (size_t)n;
}

/* 1 when err is NUL-terminated within errlen and all printable ASCII. */
static int p_printable(const char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < errlen && err[i] != '\0'; i++) {
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] > 0x7e) {
            return 0;
        }
    }
    return i < errlen;
}

/* q[0..len) for a failure message: at most 60 bytes, non-printable bytes
 * as \xNN. */
static const char *p_show(const char *q, size_t len, char out[256])
{
    size_t i, o = 0;

    for (i = 0; i < len && i < 60; i++) {
        unsigned char c = (unsigned char)q[i];

        o += (size_t)snprintf(out + o, 256 - o,
                              c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    snprintf(out + o, 256 - o, "%s", len > 60 ? "..." : "");
    return out;
}

/* Parse a push that must be valid. */
static void p_parse_ok(const char *q, size_t len, struct lbf_push_msg *msg)
{
    char err[256] = "";
    int rc = lbf_push_parse(q, len, msg, err, sizeof(err));

    ck_assert_msg(rc == LBF_PUSH_OK, "parse of \"%.*s\": rc %d, err \"%s\"",
                  (int)len, q, rc, err);
}

/* msg for member m1 with seq, ts and metrics "k=v&..." (sig not checked
 * by apply, so any well-formed hex). */
static void p_msg(struct lbf_push_msg *msg, uint64_t seq, int64_t ts,
                  const char *metrics)
{
    char q[P_QMAX];
    int n = snprintf(q, sizeof(q),
                     "farm=farm_one&member=m1&ts=%lld&seq=%llu&%s" P_SIG,
                     (long long)ts, (unsigned long long)seq, metrics);

    ck_assert_int_lt(n, (int)sizeof(q));
    p_parse_ok(q, (size_t)n, msg);
}

static const struct lbf_push_policy p_policy = {
    .window_sec = 30, .rate_per_sec = 5, .burst = 10};

static const struct lbf_load_term p_cpu[] = {{"cpu", 1000, 1}};

static const struct lbf_load_term p_cpu_db[] = {
    {"cpu", 1000, 1},        /* cpu 1.0 is full */
    {"db_conns", 200000, 3}, /* 200 connections are full */
};

/* A pushed-metric farm "farm_one" of n members m0.. with weights w (NULL:
 * all 1), expiry and blackout set directly. */
static struct lbf_farm *p_farm(struct lbf_shm *h, const char *method,
                               const uint32_t *w, uint32_t n,
                               uint32_t expiry_ms, uint32_t blackout_ms)
{
    uint32_t ones[16];
    struct lbf_farm *f;
    uint32_t i;

    ck_assert_uint_le(n, LBF_T_NELEMS(ones));
    for (i = 0; i < n; i++) {
        ones[i] = 1;
    }
    lbf_t_segment(h, 1, n);
    f = lbf_t_farm(h, "farm_one", method, w ? w : ones, NULL, n, 0);
    f->expiry_ms = expiry_ms;
    f->blackout_ms = blackout_ms;
    return f;
}

/* What a refusal must not change. */
struct p_snap {
    uint64_t metric_ts;
    uint32_t n_metrics;
    struct lbf_metric metrics[LBF_METRICS_MAX];
    uint64_t push_seq;
    uint32_t seq; /* seqlock: no write section opened */
    uint32_t load_milli;
    uint64_t load_ts;
    uint64_t load_since;
    uint32_t drain_req;
};

static void p_snap_take(const struct lbf_row *r, struct p_snap *s)
{
    struct lbf_row *w = (struct lbf_row *)r;

    memset(s, 0, sizeof(*s));
    s->metric_ts = r->metric_ts;
    s->n_metrics = r->n_metrics;
    memcpy(s->metrics, r->metrics, sizeof(s->metrics));
    s->push_seq = r->push_seq;
    s->seq = atomic_load(&w->lock.seq);
    s->load_milli = atomic_load(&w->load_milli);
    s->load_ts = atomic_load(&w->load_ts);
    s->load_since = atomic_load(&w->load_since);
    s->drain_req = atomic_load(&w->drain_req);
}

static void p_assert_unchanged(const struct lbf_row *r,
                               const struct p_snap *before, const char *what)
{
    struct p_snap now;

    p_snap_take(r, &now);
    ck_assert_msg(memcmp(&now, before, sizeof(now)) == 0,
                  "%s changed the row (push_seq %llu -> %llu, load %u -> %u, "
                  "n_metrics %u -> %u)",
                  what, (unsigned long long)before->push_seq,
                  (unsigned long long)now.push_seq, before->load_milli,
                  now.load_milli, before->n_metrics, now.n_metrics);
}

static int p_apply(struct lbf_shm *h, struct lbf_row *r, uint64_t seq,
                   int64_t ts, const char *metrics, uint64_t now,
                   const struct lbf_push_policy *pol)
{
    struct lbf_push_msg msg;

    p_msg(&msg, seq, ts, metrics);
    /* the glue's order: the bucket before the signature, then apply */
    if (lbf_push_admit(h, r, (uint32_t)getpid(), now, pol) != LBF_PUSH_OK) {
        return LBF_PUSH_ERATE;
    }
    return lbf_push_apply(h, r, (uint32_t)getpid(), &msg, now, pol, p_cpu,
                          LBF_T_NELEMS(p_cpu));
}

/* Take member mi k times (inflight += k). */
static void p_take(struct lbf_row *r, int k)
{
    while (k-- > 0) {
        lbf_row_take(r);
    }
}

/* Picks of method name over picks tries, each released at once. */
static void p_count(const char *method, const struct lbf_pick *pk,
                    uint32_t picks, uint32_t *cnt, uint32_t n)
{
    uint32_t mi = lbf_t_method(method), i;

    memset(cnt, 0, n * sizeof(*cnt));
    for (i = 0; i < picks; i++) {
        int got = lbf_pick_take(mi, pk);

        ck_assert_msg(got >= 0 && (uint32_t)got < n, "pick %u = %d", i, got);
        cnt[got]++;
        lbf_row_release(lbf_member_at(pk->h, pk->farm, (uint32_t)got), 0);
    }
}

/* ---- parse ---- */

START_TEST(push_parse_reads_every_field_of_a_valid_push)
{
    static const char prefix[] = "farm=farm_one&member=m1&ts=" P_TS_STR
                                 "&seq=1700000000123&cpu=0.42&db_conns=17";
    static const uint8_t sig[LBF_KEY_LEN] = {
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45,
        0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
        0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    char q[P_QMAX], err[128] = "x";
    struct lbf_push_msg msg;
    int n = snprintf(q, sizeof(q), "%s" P_SIG, prefix);

    ck_assert_int_eq(lbf_push_parse(q, (size_t)n, &msg, err, sizeof(err)),
                     LBF_PUSH_OK);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(msg.farm, "farm_one");
    ck_assert_str_eq(msg.member, "m1");
    ck_assert_int_eq(msg.ts, P_TS);
    ck_assert_uint_eq(msg.seq, 1700000000123ull);
    ck_assert_uint_eq(msg.n, 2);
    ck_assert_str_eq(msg.m[0].name, "cpu");
    ck_assert_int_eq(msg.m[0].value, 420);
    ck_assert_str_eq(msg.m[1].name, "db_conns");
    ck_assert_int_eq(msg.m[1].value, 17000);
    ck_assert_int_eq(msg.drain, -1); /* absent */
    ck_assert_uint_eq(msg.signed_len, strlen(prefix));
    ck_assert_mem_eq(msg.sig, sig, LBF_KEY_LEN); /* caseless hex */
    ck_assert_int_eq(memcmp(q + msg.signed_len, "&sig=", 5), 0);
}
END_TEST

START_TEST(push_parse_accepts_the_edges_of_the_format)
{
    static const struct {
        const char *q; /* P_SIG is appended */
        const char *farm, *member;
        int64_t ts;
        uint64_t seq;
        uint32_t n;
        int64_t v[LBF_METRICS_MAX];
        int drain; /* 0: absent (-1); 1: drain=0; 2: =1 */
    } cases[] = {
        {P_HEAD "&cpu=0", "farm_one", "m1", P_TS, 5, 1, {0}, 0},
        {P_HEAD "&cpu=0.001", "farm_one", "m1", P_TS, 5, 1, {1}, 0},
        {P_HEAD "&cpu=1.5", "farm_one", "m1", P_TS, 5, 1, {1500}, 0},
        {P_HEAD "&cpu=1.05", "farm_one", "m1", P_TS, 5, 1, {1050}, 0},
        {P_HEAD "&cpu=007", "farm_one", "m1", P_TS, 5, 1, {7000}, 0},
        {P_HEAD "&cpu=1000000000",
         "farm_one",
         "m1",
         P_TS,
         5,
         1,
         {1000000000000LL},
         0},
        {P_HEAD "&cpu=999999999.999",
         "farm_one",
         "m1",
         P_TS,
         5,
         1,
         {999999999999LL},
         0},
        {P_HEAD "&abcdefghijklmno=2", "farm_one", "m1", P_TS, 5, 1, {2000}, 0},
        {P_HEAD "&a1=1&a2=2&a3=3&a4=4&a5=5&a6=6&a7=7&a8=8",
         "farm_one",
         "m1",
         P_TS,
         5,
         8,
         {1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000},
         0},
        {"farm=" P_NAME31 "&member=" P_NAME31 "&ts=0&seq=1&x=1",
         P_NAME31,
         P_NAME31,
         0,
         1,
         1,
         {1000},
         0},
        {"farm=F-1&member=M_2&ts=999999999999&seq=9223372036854775807&x_=1",
         "F-1",
         "M_2",
         999999999999LL,
         9223372036854775807ull,
         1,
         {1000},
         0},
        /* fields in any order; metrics may come first; sig last */
        {"cpu=0.5&seq=6&ts=" P_TS_STR "&member=m2&farm=f",
         "f",
         "m2",
         P_TS,
         6,
         1,
         {500},
         0},
        /* drain=0|1 may come with metrics, or alone */
        {P_HEAD "&cpu=0.5&drain=1", "farm_one", "m1", P_TS, 5, 1, {500}, 2},
        {P_HEAD "&drain=0&cpu=0.5", "farm_one", "m1", P_TS, 5, 1, {500}, 1},
        {P_HEAD "&drain=1", "farm_one", "m1", P_TS, 5, 0, {0}, 2},
        {"drain=0&" P_HEAD, "farm_one", "m1", P_TS, 5, 0, {0}, 1},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        char q[P_QMAX];
        struct lbf_push_msg msg;
        int n = snprintf(q, sizeof(q), "%s" P_SIG, cases[i].q);
        uint32_t k;

        p_parse_ok(q, (size_t)n, &msg);
        ck_assert_msg(strcmp(msg.farm, cases[i].farm) == 0 &&
                          strcmp(msg.member, cases[i].member) == 0 &&
                          msg.ts == cases[i].ts && msg.seq == cases[i].seq &&
                          msg.n == cases[i].n &&
                          msg.drain == cases[i].drain - 1,
                      "case %zu: farm %s member %s ts %lld seq %llu n %u "
                      "drain %d",
                      i, msg.farm, msg.member, (long long)msg.ts,
                      (unsigned long long)msg.seq, msg.n, msg.drain);
        for (k = 0; k < msg.n; k++) {
            ck_assert_msg(msg.m[k].value == cases[i].v[k],
                          "case %zu metric %u (%s): %lld, want %lld", i, k,
                          msg.m[k].name, (long long)msg.m[k].value,
                          (long long)cases[i].v[k]);
        }
        ck_assert_uint_eq(msg.signed_len, strlen(cases[i].q));
    }
}
END_TEST

/* A malformed push: the query (len 0: strlen), and what err must say. */
struct p_bad {
    const char *q;
    size_t len;
    const char *prefix;  /* err starts with this: names the field */
    const char *problem; /* and contains this */
};

static const struct p_bad p_bad_cases[] = {
    /* missing fields */
    {"member=m1&ts=" P_TS_STR "&seq=5&cpu=1" P_SIG, 0, "farm: ", "missing"},
    {"farm=f&ts=" P_TS_STR "&seq=5&cpu=1" P_SIG, 0, "member: ", "missing"},
    {"farm=f&member=m1&seq=5&cpu=1" P_SIG, 0, "ts: ", "missing"},
    {"farm=f&member=m1&ts=" P_TS_STR "&cpu=1" P_SIG, 0, "seq: ", "missing"},
    {P_HEAD "&cpu=1", 0, "sig: ", "missing"},
    {P_HEAD P_SIG, 0, "metrics: ", "none"},
    {"", 0, "farm: ", "missing"},
    /* duplicated fields and metrics */
    {"farm=f&" P_HEAD "&cpu=1" P_SIG, 0, "farm: ", "duplicated"},
    {P_HEAD "&member=m1&cpu=1" P_SIG, 0, "member: ", "duplicated"},
    {P_HEAD "&ts=" P_TS_STR "&cpu=1" P_SIG, 0, "ts: ", "duplicated"},
    {P_HEAD "&seq=6&cpu=1" P_SIG, 0, "seq: ", "duplicated"},
    {P_HEAD "&cpu=1&cpu=1" P_SIG, 0, "cpu: ", "duplicated"},
    {P_HEAD "&cpu=1&mem=2&cpu=3" P_SIG, 0, "cpu: ", "duplicated"},
    /* values */
    {P_HEAD "&cpu=1000000001" P_SIG, 0, "cpu: ", "out of range"},
    {P_HEAD "&cpu=1000000000.001" P_SIG, 0, "cpu: ", "out of range"},
    {P_HEAD "&cpu=99999999999999999999" P_SIG, 0, "cpu: ", "out of range"},
    {P_HEAD "&cpu=0.4242" P_SIG, 0, "cpu: ", "at most 3 decimals"},
    {P_HEAD "&cpu=-1" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=-0" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=1e3" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=1E3" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=50%" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=0%2E5" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=+1" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=.5" P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=1." P_SIG, 0, "cpu: ", "expected"},
    {P_HEAD "&cpu=0x1" P_SIG, 0, "cpu: ", "expected"},
    {"farm=f&member=m1&ts=abc&seq=5&cpu=1" P_SIG, 0, "ts: ", "expected"},
    {"farm=f&member=m1&ts=-1&seq=5&cpu=1" P_SIG, 0, "ts: ", "expected"},
    {"farm=f&member=m1&ts=&seq=5&cpu=1" P_SIG, 0, "ts: ", "expected"},
    {"farm=f&member=m1&ts=1700000000000&seq=5&cpu=1" P_SIG, 0,
     "ts: ", "expected"},
    {"farm=f&member=m1&ts=1&seq=x&cpu=1" P_SIG, 0, "seq: ", "expected"},
    {"farm=f&member=m1&ts=1&seq=9223372036854775808&cpu=1" P_SIG, 0,
     "seq: ", "expected"},
    {"farm=f&member=m1&ts=1&seq=18446744073709551616&cpu=1" P_SIG, 0,
     "seq: ", "expected"},
    /* names */
    {"farm=farm.one&member=m1&ts=1&seq=5&cpu=1" P_SIG, 0,
     "farm: ", "invalid name"},
    {"farm=f&member=m%201&ts=1&seq=5&cpu=1" P_SIG, 0,
     "member: ", "invalid name"},
    {"farm=f&member=-m1&ts=1&seq=5&cpu=1" P_SIG, 0, "member: ", "invalid name"},
    {"farm=&member=m1&ts=1&seq=5&cpu=1" P_SIG, 0, "farm: ", "invalid name"},
    {"farm=" P_NAME32 "&member=m1&ts=1&seq=5&cpu=1" P_SIG, 0,
     "farm: ", "longer than 31"},
    {"farm=f&member=" P_NAME32 "&ts=1&seq=5&cpu=1" P_SIG, 0,
     "member: ", "longer than 31"},
    {P_HEAD "&CPU=1" P_SIG, 0, "field \"CPU=1\"", "[a-z0-9_]{1,15}"},
    {P_HEAD "&db-conns=1" P_SIG, 0, "field \"db-conns=1\"", "name=value"},
    {P_HEAD "&abcdefghijklmnop=1" P_SIG, 0, "field \"abcdefghijklmnop=1\"",
     "{1,15}"},
    {P_HEAD "&=1" P_SIG, 0, "field \"=1\"", "name=value"},
    /* drain */
    {P_HEAD "&drain=2" P_SIG, 0, "drain: ", "expected 0 or 1"},
    {P_HEAD "&drain=" P_SIG, 0, "drain: ", "expected 0 or 1"},
    {P_HEAD "&drain=01" P_SIG, 0, "drain: ", "expected 0 or 1"},
    {P_HEAD "&drain=true" P_SIG, 0, "drain: ", "expected 0 or 1"},
    {P_HEAD "&cpu=1&drain=-1" P_SIG, 0, "drain: ", "expected 0 or 1"},
    {P_HEAD "&drain=1&drain=0" P_SIG, 0, "drain: ", "duplicated"},
    {P_HEAD "&drain=1&drain=1&cpu=1" P_SIG, 0, "drain: ", "duplicated"},
    /* too many metrics */
    {P_HEAD "&a1=1&a2=2&a3=3&a4=4&a5=5&a6=6&a7=7&a8=8&a9=9" P_SIG, 0,
     "a9: ", "too many metrics"},
    /* sig */
    {P_HEAD P_SIG "&cpu=1", 0, "sig: ", "last field"},
    {"sig=" P_HEX64 "&" P_HEAD "&cpu=1", 0, "sig: ", "last field"},
    {"sig=" P_HEX64, 0, "sig: ", "last field"},
    {P_HEAD "&cpu=1" P_SIG "&", 0, "sig: ", "last field"},
    {P_HEAD "&cpu=1" P_SIG P_SIG, 0, "sig: ", "last field"},
    {P_HEAD "&cpu=1&sig=", 0, "sig: ", "64 hex"},
    {P_HEAD "&cpu=1&sig=0123456789abcdef0123456789abcdef"
            "0123456789abcdef0123456789abcde",
     0, "sig: ", "64 hex"},
    {P_HEAD "&cpu=1" P_SIG "0", 0, "sig: ", "64 hex"},
    {P_HEAD "&cpu=1&sig=g123456789abcdef0123456789abcdef"
            "0123456789abcdef0123456789abcdef",
     0, "sig: ", "64 hex"},
    {P_HEAD "&cpu=1&sig=0123456789abcdef0123456789abcdef"
            "0123456789abcdef0123456789abcde ",
     0, "sig: ", "64 hex"},
    /* shape of the query */
    {P_HEAD "&&cpu=1" P_SIG, 0, "field \"\"", "name=value"},
    {"&" P_HEAD "&cpu=1" P_SIG, 0, "field \"\"", "name=value"},
    {"farm&member=m1&ts=1&seq=5&cpu=1" P_SIG, 0, "field \"farm\"",
     "name=value"},
    {P_HEAD "&cpu" P_SIG, 0, "field \"cpu\"", "name=value"},
    /* raw bytes that must not be echoed */
    {"farm=ab\x01"
     "cd&member=m1&ts=1&seq=5&cpu=1" P_SIG,
     0, "farm: ", "invalid name \"ab?cd\""},
    {"farm=f&member=m\n1&ts=1&seq=5&cpu=1" P_SIG, 0,
     "member: ", "invalid name \"m?1\""},
    {"farm=f&member=\xff\xfe&ts=1&seq=5&cpu=1" P_SIG, 0,
     "member: ", "invalid name \"??\""},
    {P_HEAD "&c\x7fu=1" P_SIG, 0, "field \"c?u=1\"", "name=value"},
    {P_HEAD "&\x1b[2J=1" P_SIG, 0, "field \"?[2J=1\"", "name=value"},
    {P_HEAD "&cpu=1\r\n" P_SIG, 0, "cpu: ", "expected"},
    /* embedded NUL bytes: the query is length-delimited */
    {P_LIT("farm=ab\0cd&member=m1&ts=1&seq=5&cpu=1" P_SIG),
     "farm: ", "invalid name \"ab?cd\""},
    {P_LIT("farm=f&member=m1\0&ts=1&seq=5&cpu=1" P_SIG),
     "member: ", "invalid name \"m1?\""},
    {P_LIT(P_HEAD "&cpu=1\0" P_SIG), "cpu: ", "expected"},
    {P_LIT(P_HEAD "&c\0u=1" P_SIG), "field \"c?u=1\"", "name=value"},
};

START_TEST(push_parse_rejects_malformed_pushes_naming_the_field)
{
    const struct p_bad *c = &p_bad_cases[_i];
    size_t len = c->len ? c->len : strlen(c->q);
    struct lbf_push_msg msg;
    char err[256], show[256];
    int rc;

    memset(err, 'Z', sizeof(err));
    rc = lbf_push_parse(c->q, len, &msg, err, sizeof(err));
    ck_assert_msg(rc == LBF_PUSH_EBAD,
                  "case %d \"%s\": rc %d (farm \"%s\" "
                  "member \"%s\"), want EBAD \"%s...%s\"",
                  _i, p_show(c->q, len, show), rc, msg.farm, msg.member,
                  c->prefix, c->problem);
    ck_assert_msg(p_printable(err, sizeof(err)),
                  "case %d: err not printable "
                  "or not terminated",
                  _i);
    ck_assert_msg(strncmp(err, c->prefix, strlen(c->prefix)) == 0 &&
                      strstr(err, c->problem) != NULL,
                  "case %d \"%s\": err \"%s\", want \"%s...%s...\"", _i,
                  p_show(c->q, len, show), err, c->prefix, c->problem);
}
END_TEST

/* Copy q[0..len) to the very end of a page followed by an inaccessible
 * page: any read past len faults, in the plain build as under ASan. */
static const char *p_guarded(const char *q, size_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t span = (len / (size_t)pg + 2) * (size_t)pg;
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    ck_assert(p != MAP_FAILED);
    ck_assert_int_eq(mprotect(p + span - (size_t)pg, (size_t)pg, PROT_NONE), 0);
    memcpy(p + span - (size_t)pg - len, q, len);
    return p + span - (size_t)pg - len;
}

START_TEST(push_parsers_read_no_byte_past_len)
{
    static const char *const extra[] = {
        P_HEAD "&cpu=0.5" P_SIG,
        P_HEAD "&cpu=12345678901234567890", /* long value, at the end */
        P_HEAD "&cpu=1234567890123456789012345",
        P_HEAD "&cpu=0.5&sig=0123",
        P_HEAD "&cpu",
        "farm=abc",
        "v=1&ready=10&busy=30",
        "v=1&ready=10&busy=3000000000",
        "v=1&ready=10&busy",
        "v",
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(p_bad_cases) + LBF_T_NELEMS(extra); i++) {
        const char *q = i < LBF_T_NELEMS(p_bad_cases)
                            ? p_bad_cases[i].q
                            : extra[i - LBF_T_NELEMS(p_bad_cases)];
        size_t len = i < LBF_T_NELEMS(p_bad_cases) && p_bad_cases[i].len
                         ? p_bad_cases[i].len
                         : strlen(q);
        const char *g = p_guarded(q, len);
        struct lbf_push_msg msg;
        uint32_t load, port;
        char err[256];

        (void)lbf_push_parse(g, len, &msg, err, sizeof(err));
        (void)lbf_push_parse_heartbeat(g, len, &load, &port, err, sizeof(err));
    }
}
END_TEST

START_TEST(push_parse_limits_the_query_to_2048_bytes)
{
    static char q[LBF_PUSH_QUERY_MAX + 2];
    struct lbf_push_msg msg;
    char err[128];
    size_t base = strlen(P_HEAD "&cpu=1&pad=");

    /* 2048 bytes: parsed (and refused for its value, not its length) */
    memset(q, '1', sizeof(q));
    memcpy(q, P_HEAD "&cpu=1&pad=", base);
    ck_assert_int_eq(
        lbf_push_parse(q, LBF_PUSH_QUERY_MAX, &msg, err, sizeof(err)),
        LBF_PUSH_EBAD);
    ck_assert_msg(strncmp(err, "pad: ", 5) == 0, "err \"%s\"", err);
    /* 2049 bytes: refused for its length before anything else */
    ck_assert_int_eq(
        lbf_push_parse(q, LBF_PUSH_QUERY_MAX + 1, &msg, err, sizeof(err)),
        LBF_PUSH_EBAD);
    ck_assert_str_eq(err, "query: longer than 2048 bytes");
    /* same for a heartbeat */
    {
        uint32_t load = 7, port = 7;

        ck_assert_int_eq(lbf_push_parse_heartbeat(q, LBF_PUSH_QUERY_MAX + 1,
                                                  &load, &port, err,
                                                  sizeof(err)),
                         LBF_PUSH_EBAD);
        ck_assert_str_eq(err, "query: longer than 2048 bytes");
    }
}
END_TEST

START_TEST(push_parse_truncates_err_to_errlen)
{
    static const size_t lens[] = {1, 2, 5, 8, 16};
    static const char q[] = "farm=ab\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"
                            "\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15"
                            "\x16\x17\x18\x19&member=m1&ts=1&seq=5&cpu=1" P_SIG;
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(lens); i++) {
        char err[32];
        struct lbf_push_msg msg;

        memset(err, 'Z', sizeof(err));
        ck_assert_int_eq(lbf_push_parse(q, sizeof(q) - 1, &msg, err, lens[i]),
                         LBF_PUSH_EBAD);
        ck_assert_msg(strlen(err) == lens[i] - 1, "errlen %zu: \"%s\"", lens[i],
                      err);
        ck_assert_msg(p_printable(err, lens[i]), "errlen %zu", lens[i]);
        ck_assert_int_eq(err[lens[i]], 'Z'); /* nothing written beyond */
    }
}
END_TEST

/* ---- heartbeat ---- */

START_TEST(push_heartbeat_load_is_busy_over_ready_plus_busy)
{
    static const struct {
        const char *q;
        uint32_t load, port;
    } cases[] = {
        {"v=1&ready=10&busy=30", 750, 0},
        {"busy=30&ready=10&v=1", 750, 0}, /* any order */
        {"v=1&ready=10&busy=30&port=8080", 750, 8080},
        {"port=80&v=1&ready=3&busy=1", 250, 80},
        {"v=1&ready=1&busy=2&extra=zzz&lbfarm_x=", 666, 0}, /* tolerated */
        {"v=1&ready=5&busy=0", 0, 0},
        {"v=1&ready=0&busy=5", 1000, 0},
        {"v=1&ready=0&busy=0", 1000, 0}, /* documented: full */
        {"v=1&ready=999999999&busy=1", 0, 0},
        {"v=1&ready=1&busy=999999999", 999, 0},
        {"v=1&ready=1&busy=1&port=65535", 500, 65535},
        {"v=1&ready=1&busy=1&port=0", 500, 0},
        {"v=01&ready=007&busy=001", 125, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        uint32_t load = 12345, port = 12345;
        char err[128] = "x";
        int rc = lbf_push_parse_heartbeat(cases[i].q, strlen(cases[i].q), &load,
                                          &port, err, sizeof(err));

        ck_assert_msg(rc == LBF_PUSH_OK, "case %zu \"%s\": rc %d err \"%s\"", i,
                      cases[i].q, rc, err);
        ck_assert_msg(load == cases[i].load && port == cases[i].port,
                      "case %zu \"%s\": load %u port %u, want %u %u", i,
                      cases[i].q, load, port, cases[i].load, cases[i].port);
        ck_assert_str_eq(err, "");
    }
}
END_TEST

START_TEST(push_heartbeat_rejects_malformed_messages)
{
    static const struct {
        const char *q;
        const char *prefix, *problem;
    } cases[] = {
        {"v=1&busy=30", "ready: ", "missing"},
        {"v=1&ready=10", "busy: ", "missing"},
        {"v=1", "ready: ", "missing"},
        {"ready=10&busy=30", "v: ", "missing"},
        {"v=2&ready=10&busy=30", "v: ", "not 1"},
        {"v=0&ready=10&busy=30", "v: ", "not 1"},
        {"", "v: ", "missing"},
        {"v=1&v=1&ready=10&busy=30", "v: ", "duplicated"},
        {"v=1&ready=1&ready=2&busy=3", "ready: ", "duplicated"},
        {"v=1&ready=1&busy=2&busy=3", "busy: ", "duplicated"},
        {"v=1&ready=1&busy=2&port=1&port=2", "port: ", "duplicated"},
        {"v=1&ready=abc&busy=30", "ready: ", "expected a number"},
        {"v=1&ready=-1&busy=30", "ready: ", "expected a number"},
        {"v=1&ready=+1&busy=30", "ready: ", "expected a number"},
        {"v=1&ready=1.5&busy=30", "ready: ", "expected a number"},
        {"v=1&ready=10&busy=3x", "busy: ", "expected a number"},
        {"v=1&ready=10&busy=", "busy: ", "expected a number"},
        {"v=1&ready=10&busy=1e3", "busy: ", "expected a number"},
        {"v=1&ready=1000000000&busy=1", "ready: ", "expected a number"},
        {"v=x&ready=1&busy=1", "v: ", "expected a number"},
        {"v=1&ready=1&busy=1&port=x", "port: ", "expected a number"},
        {"v=1&ready=1&busy=1&port=65536", "port: ", "out of range"},
        {"v=1&ready=10&busy=30&", "", ""}, /* trailing '&': see below */
        {"v=1&&ready=10&busy=30", "field \"\"", "name=value"},
        {"v=1&ready=10&busy=30&junk", "field \"junk\"", "name=value"},
        {"v=1&ready=10&busy=30&X=1", "field \"X=1\"", "name=value"},
        {"v=1&ready=10&busy=3\x01", "busy: ", "expected a number"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        uint32_t load = 12345, port = 12345;
        char err[128];
        int rc = lbf_push_parse_heartbeat(cases[i].q, strlen(cases[i].q), &load,
                                          &port, err, sizeof(err));

        if (cases[i].prefix[0] == '\0') {
            /* a trailing '&' ends the message: tolerated like the push */
            ck_assert_msg(rc == LBF_PUSH_OK && load == 750, "case %zu: rc %d",
                          i, rc);
            continue;
        }
        ck_assert_msg(rc == LBF_PUSH_EBAD, "case %zu \"%s\": rc %d, want EBAD",
                      i, cases[i].q, rc);
        ck_assert_msg(p_printable(err, sizeof(err)), "case %zu", i);
        ck_assert_msg(strncmp(err, cases[i].prefix, strlen(cases[i].prefix)) ==
                              0 &&
                          strstr(err, cases[i].problem) != NULL,
                      "case %zu \"%s\": err \"%s\", want \"%s...%s\"", i,
                      cases[i].q, err, cases[i].prefix, cases[i].problem);
        ck_assert_msg(load == 12345 && port == 12345,
                      "case %zu: outputs "
                      "written on refusal",
                      i);
    }
}
END_TEST

/* ---- keys and signatures ---- */

START_TEST(push_member_key_is_hmac_of_the_member_label)
{
    static const char *const members[] = {"m1", "m2", "M1", "farm_one",
                                          P_NAME31};
    static char long_secret[513];
    const char *secrets[] = {p_secret, "0123456789abcdef", long_secret};
    size_t s, i;

    memset(long_secret, 'k', 512);
    for (s = 0; s < LBF_T_NELEMS(secrets); s++) {
        for (i = 0; i < LBF_T_NELEMS(members); i++) {
            uint8_t got[LBF_KEY_LEN], want[LBF_KEY_LEN];

            lbf_push_member_key((const uint8_t *)secrets[s], strlen(secrets[s]),
                                members[i], got);
            p_member_key(secrets[s], members[i], want);
            ck_assert_msg(memcmp(got, want, LBF_KEY_LEN) == 0,
                          "secret %zu member %s", s, members[i]);
        }
    }
}
END_TEST

START_TEST(push_member_key_differs_per_member_and_secret)
{
    uint8_t a[LBF_KEY_LEN], b[LBF_KEY_LEN], c[LBF_KEY_LEN];

    lbf_push_member_key((const uint8_t *)p_secret, strlen(p_secret), "m1", a);
    lbf_push_member_key((const uint8_t *)p_secret, strlen(p_secret), "m2", b);
    lbf_push_member_key((const uint8_t *)p_secret2, strlen(p_secret2), "m1", c);
    ck_assert_int_ne(memcmp(a, b, LBF_KEY_LEN), 0);
    ck_assert_int_ne(memcmp(a, c, LBF_KEY_LEN), 0);
}
END_TEST

/* keys[0] = m1 under p_secret, [1] = m1 under p_secret2, [2] = m2 under
 * p_secret. */
static void p_keys(uint8_t keys[3][LBF_KEY_LEN])
{
    p_member_key(p_secret, "m1", keys[0]);
    p_member_key(p_secret2, "m1", keys[1]);
    p_member_key(p_secret, "m2", keys[2]);
}

static const char p_signed_prefix[] =
    "farm=farm_one&member=m1&ts=" P_TS_STR "&seq=1700000000123&cpu=0.42"
    "&db_conns=17";

START_TEST(push_verify_accepts_the_hmac_of_the_signed_prefix)
{
    uint8_t keys[3][LBF_KEY_LEN];
    struct lbf_push_msg msg;
    char q[P_QMAX];
    size_t len;

    p_keys(keys);
    len = p_sign(q, sizeof(q), keys[0], p_signed_prefix);
    p_parse_ok(q, len, &msg);
    ck_assert_uint_eq(msg.signed_len, strlen(p_signed_prefix));
    ck_assert_int_eq(
        lbf_push_verify(q, &msg, (const uint8_t(*)[LBF_KEY_LEN])keys, 1), 1);
}
END_TEST

START_TEST(push_verify_refuses_a_wrong_key)
{
    uint8_t keys[3][LBF_KEY_LEN];
    struct lbf_push_msg msg;
    char q[P_QMAX];
    size_t len;

    p_keys(keys);
    len = p_sign(q, sizeof(q), keys[0], p_signed_prefix);
    p_parse_ok(q, len, &msg);
    /* m2's key, the other secret's key, both: 0 */
    ck_assert_int_eq(
        lbf_push_verify(q, &msg, (const uint8_t(*)[LBF_KEY_LEN]) & keys[2], 1),
        0);
    ck_assert_int_eq(
        lbf_push_verify(q, &msg, (const uint8_t(*)[LBF_KEY_LEN]) & keys[1], 2),
        0);
    ck_assert_int_eq(
        lbf_push_verify(q, &msg, (const uint8_t(*)[LBF_KEY_LEN])keys, 0), 0);
}
END_TEST

START_TEST(push_verify_accepts_either_key_during_rotation)
{
    uint8_t keys[3][LBF_KEY_LEN], both[2][LBF_KEY_LEN], swapped[2][LBF_KEY_LEN];
    int k;

    p_keys(keys);
    memcpy(both[0], keys[0], LBF_KEY_LEN);
    memcpy(both[1], keys[1], LBF_KEY_LEN);
    memcpy(swapped[0], keys[1], LBF_KEY_LEN);
    memcpy(swapped[1], keys[0], LBF_KEY_LEN);
    for (k = 0; k < 2; k++) {
        struct lbf_push_msg msg;
        char q[P_QMAX];
        size_t len = p_sign(q, sizeof(q), keys[k], p_signed_prefix);

        p_parse_ok(q, len, &msg);
        ck_assert_msg(lbf_push_verify(
                          q, &msg, (const uint8_t(*)[LBF_KEY_LEN])both, 2) == 1,
                      "signed with key %d", k);
        ck_assert_msg(lbf_push_verify(q, &msg,
                                      (const uint8_t(*)[LBF_KEY_LEN])swapped,
                                      2) == 1,
                      "signed with key %d, swapped", k);
        /* only the other key configured: refused */
        ck_assert_msg(
            lbf_push_verify(q, &msg, (const uint8_t(*)[LBF_KEY_LEN])keys[1 - k],
                            1) == 0,
            "signed with key %d, checked with the other", k);
    }
}
END_TEST

START_TEST(push_verify_refuses_any_flipped_byte)
{
    uint8_t keys[3][LBF_KEY_LEN];
    struct lbf_push_msg msg, bad;
    char q[P_QMAX], t[P_QMAX];
    size_t len, i;
    int b;

    p_keys(keys);
    len = p_sign(q, sizeof(q), keys[0], p_signed_prefix);
    p_parse_ok(q, len, &msg);
    for (i = 0; i < msg.signed_len; i++) {
        for (b = 0; b < 8; b += 7) {
            memcpy(t, q, len + 1);
            t[i] = (char)(t[i] ^ (1 << b));
            ck_assert_msg(lbf_push_verify(t, &msg,
                                          (const uint8_t(*)[LBF_KEY_LEN])keys,
                                          2) == 0,
                          "byte %zu bit %d flipped still verifies", i, b);
        }
    }
    for (i = 0; i < LBF_KEY_LEN; i++) {
        bad = msg;
        bad.sig[i] ^= 0x80;
        ck_assert_msg(lbf_push_verify(
                          q, &bad, (const uint8_t(*)[LBF_KEY_LEN])keys, 2) == 0,
                      "sig byte %zu flipped still verifies", i);
    }
    /* signing one byte less or more is a different message */
    bad = msg;
    bad.signed_len--;
    ck_assert_int_eq(
        lbf_push_verify(q, &bad, (const uint8_t(*)[LBF_KEY_LEN])keys, 2), 0);
    bad.signed_len += 2;
    ck_assert_int_eq(
        lbf_push_verify(q, &bad, (const uint8_t(*)[LBF_KEY_LEN])keys, 2), 0);
}
END_TEST

/* ---- load formula ---- */

START_TEST(push_load_eval_weights_and_clamps_terms)
{
    static const struct {
        struct lbf_metric m[3];
        uint32_t nm;
        int want;
    } cases[] = {
        /* cpu 0.5 of 1 (w 1), db_conns 50 of 200 (w 3): (500+3*250)/4 */
        {{{"cpu", 500}, {"db_conns", 50000}}, 2, 312},
        {{{"db_conns", 50000}, {"cpu", 500}}, 2, 312}, /* any order */
        {{{"cpu", 1000}, {"db_conns", 200000}}, 2, 1000},
        {{{"cpu", 0}, {"db_conns", 0}}, 2, 0},
        /* above capacity counts 1000 */
        {{{"cpu", 2500}, {"db_conns", 50000}}, 2, 437},
        {{{"cpu", 500}, {"db_conns", 1000000000000LL}}, 2, 875},
        /* a missing term counts 0 */
        {{{"cpu", 500}}, 1, 125},
        {{{"db_conns", 50000}}, 1, 187},
        {{{"db_conns", 50000}, {"mem", 900}}, 2, 187},
        /* value 0 is a present term (0), not a missing one */
        {{{"cpu", 0}}, 1, 0},
        /* no term present: -1 */
        {{{"mem", 500}}, 1, -1},
        {{{"cpu_", 500}, {"cp", 500}}, 2, -1},
        {{{"", 0}}, 0, -1},
    };
    static const struct lbf_metric one[] = {{"cpu", 420}};
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        int got = lbf_load_eval(p_cpu_db, LBF_T_NELEMS(p_cpu_db), cases[i].m,
                                cases[i].nm);

        ck_assert_msg(got == cases[i].want, "case %zu: %d, want %d", i, got,
                      cases[i].want);
    }
    /* the default formula: cpu 1.0 alone */
    ck_assert_int_eq(lbf_load_eval(p_cpu, 1, one, 1), 420);
    ck_assert_int_eq(lbf_load_eval(p_cpu, 0, one, 1), -1);
}
END_TEST

/* ---- apply ---- */

START_TEST(push_apply_writes_metrics_and_derived_load)
{
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 2, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 1), *other = lbf_t_row(&h, f, 0);
    struct lbf_push_msg msg;
    struct lbf_metric got[LBF_METRICS_MAX];
    struct p_snap o;
    uint64_t ts = 0;
    uint32_t n = 0, seq0 = atomic_load(&r->lock.seq);

    p_snap_take(other, &o);
    p_msg(&msg, 7, P_TS, "cpu=0.5&db_conns=50&mem=3");
    ck_assert_int_eq(lbf_push_apply(&h, r, (uint32_t)getpid(), &msg,
                                    LBF_T_NOW + 123, &p_policy, p_cpu_db,
                                    LBF_T_NELEMS(p_cpu_db)),
                     LBF_PUSH_OK);
    ck_assert_uint_eq(r->push_seq, 7);
    ck_assert_uint_eq(r->metric_ts, LBF_T_NOW + 123);
    ck_assert_uint_eq(r->n_metrics, 3);
    ck_assert_str_eq(r->metrics[0].name, "cpu");
    ck_assert_int_eq(r->metrics[0].value, 500);
    ck_assert_str_eq(r->metrics[1].name, "db_conns");
    ck_assert_int_eq(r->metrics[1].value, 50000);
    ck_assert_str_eq(r->metrics[2].name, "mem");
    ck_assert_int_eq(r->metrics[2].value, 3000);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 312);
    ck_assert_uint_eq(atomic_load(&r->load_ts), LBF_T_NOW + 123);
    ck_assert_uint_eq(atomic_load(&r->load_since), LBF_T_NOW + 123);
    ck_assert_uint_eq(atomic_load(&r->lock.seq), seq0 + 2);
    ck_assert_uint_eq(atomic_load(&r->lock.owner), 0); /* released */
    ck_assert_int_eq(lbf_row_read_metrics(r, &ts, &n, got), LBF_OK);
    ck_assert_uint_eq(ts, LBF_T_NOW + 123);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(got, msg.m, 3 * sizeof(got[0]));
    p_assert_unchanged(other, &o, "a push to m1 (on m0)");

    /* the next push replaces the group (fewer metrics) */
    p_msg(&msg, 8, P_TS, "cpu=0.9");
    ck_assert_int_eq(lbf_push_apply(&h, r, (uint32_t)getpid(), &msg,
                                    LBF_T_NOW + LBF_T_SEC, &p_policy, p_cpu, 1),
                     LBF_PUSH_OK);
    ck_assert_uint_eq(r->n_metrics, 1);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 900);
    ck_assert_uint_eq(atomic_load(&r->load_ts), LBF_T_NOW + LBF_T_SEC);
    ck_assert_uint_eq(atomic_load(&r->load_since), LBF_T_NOW + 123);
}
END_TEST

START_TEST(push_apply_without_formula_terms_keeps_the_load)
{
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);

    ck_assert_int_eq(p_apply(&h, r, 1, P_TS, "cpu=0.25", LBF_T_NOW, &p_policy),
                     LBF_PUSH_OK);
    ck_assert_int_eq(
        p_apply(&h, r, 2, P_TS, "mem=7", LBF_T_NOW + 1000, &p_policy),
        LBF_PUSH_OK);
    ck_assert_uint_eq(r->n_metrics, 1); /* metrics replaced */
    ck_assert_str_eq(r->metrics[0].name, "mem");
    ck_assert_uint_eq(atomic_load(&r->load_milli), 250); /* load kept */
    ck_assert_uint_eq(atomic_load(&r->load_ts), LBF_T_NOW);
}
END_TEST

START_TEST(push_apply_drain_request_takes_the_member_out_of_picks)
{
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 2, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    uint32_t mp = lbf_t_method("pushed-metric"), cnt[2];
    uint64_t rng = LBF_T_SEED;
    struct lbf_pick pk;
    struct p_snap before;

    lbf_t_pick_init(&pk, &h, f, &rng);
    ck_assert_int_eq(p_apply(&h, r, 1, P_TS, "cpu=0.2", LBF_T_NOW, &p_policy),
                     LBF_PUSH_OK);
    /* a drain-only push: drained, the load of the last report kept */
    ck_assert_int_eq(
        p_apply(&h, r, 2, P_TS, "drain=1", LBF_T_NOW + 1, &p_policy),
        LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->drain_req), 1);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 200);
    p_count("pushed-metric", &pk, 50, cnt, 2);
    ck_assert_uint_eq(cnt[1], 50);
    /* a replayed drain=0 changes nothing */
    p_snap_take(r, &before);
    ck_assert_int_eq(
        p_apply(&h, r, 2, P_TS, "drain=0", LBF_T_NOW + 2, &p_policy),
        LBF_PUSH_EREPLAY);
    p_assert_unchanged(r, &before, "a replayed drain=0");
    /* metrics without drain leave the request as it is */
    ck_assert_int_eq(
        p_apply(&h, r, 3, P_TS, "cpu=0.3", LBF_T_NOW + 3, &p_policy),
        LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->drain_req), 1);
    /* drain=0 with metrics: back in */
    ck_assert_int_eq(
        p_apply(&h, r, 4, P_TS, "cpu=0.3&drain=0", LBF_T_NOW + 4, &p_policy),
        LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->drain_req), 0);
    p_take(lbf_t_row(&h, f, 1), 2); /* m1: 3/1000 against m0: 1/700 */
    ck_assert_int_eq(lbf_pick_take(mp, &pk), 0);
    munmap(h.base, h.len);
}
END_TEST

START_TEST(push_apply_refuses_replay_leaving_the_row_unchanged)
{
    static const uint64_t replays[] = {10, 9, 1, 0};
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    struct p_snap before;
    size_t i;

    ck_assert_int_eq(p_apply(&h, r, 10, P_TS, "cpu=0.3", LBF_T_NOW, &p_policy),
                     LBF_PUSH_OK);
    p_snap_take(r, &before);
    for (i = 0; i < LBF_T_NELEMS(replays); i++) {
        ck_assert_msg(p_apply(&h, r, replays[i], P_TS, "cpu=0.9",
                              LBF_T_NOW + 1000, &p_policy) == LBF_PUSH_EREPLAY,
                      "seq %llu after 10", (unsigned long long)replays[i]);
        p_assert_unchanged(r, &before, "a replay");
    }
    ck_assert_int_eq(
        p_apply(&h, r, 11, P_TS, "cpu=0.9", LBF_T_NOW + 1000, &p_policy),
        LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 900);
}
END_TEST

START_TEST(push_apply_refuses_ts_outside_the_window)
{
    static const struct {
        int64_t ts;
        int rc;
    } cases[] = {
        {P_TS - 31, LBF_PUSH_ESTALE}, {P_TS + 31, LBF_PUSH_ESTALE},
        {0, LBF_PUSH_ESTALE},         {999999999999LL, LBF_PUSH_ESTALE},
        {P_TS - 30, LBF_PUSH_OK}, /* the window is inclusive */
        {P_TS + 30, LBF_PUSH_OK},     {P_TS, LBF_PUSH_OK},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_shm h;
        struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
        struct lbf_row *r = lbf_t_row(&h, f, 0);
        struct p_snap before;
        int rc;

        ck_assert_int_eq(
            p_apply(&h, r, 5, P_TS, "cpu=0.1", LBF_T_NOW, &p_policy),
            LBF_PUSH_OK);
        p_snap_take(r, &before);
        rc = p_apply(&h, r, 100, cases[i].ts, "cpu=0.8", LBF_T_NOW + 500000,
                     &p_policy);
        ck_assert_msg(rc == cases[i].rc, "case %zu ts %lld: rc %d, want %d", i,
                      (long long)cases[i].ts, rc, cases[i].rc);
        if (rc == LBF_PUSH_ESTALE) {
            p_assert_unchanged(r, &before, "a stale push");
            /* its seq was not recorded: seq 6 still passes */
            ck_assert_int_eq(p_apply(&h, r, 6, P_TS, "cpu=0.2",
                                     LBF_T_NOW + 500000, &p_policy),
                             LBF_PUSH_OK);
        }
        else {
            ck_assert_uint_eq(atomic_load(&r->load_milli), 800);
        }
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(push_apply_limits_rate_with_burst_then_refill)
{
    static const struct {
        uint32_t rate, burst;
    } cases[] = {{1, 1}, {5, 10}, {3, 2}, {100, 50}, {1000, 10000}};
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const struct lbf_push_policy pol = {30, cases[i].rate,
                                            cases[i].burst, 0};
        uint32_t refill =
            cases[i].rate < cases[i].burst ? cases[i].rate : cases[i].burst;
        struct lbf_shm h;
        struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
        struct lbf_row *r = lbf_t_row(&h, f, 0);
        struct p_snap before;
        uint64_t seq = 1;
        uint32_t k;

        /* burst B at the same instant pass, the next one does not */
        for (k = 0; k < cases[i].burst; k++) {
            ck_assert_msg(p_apply(&h, r, seq++, P_TS, "cpu=0.5", LBF_T_NOW,
                                  &pol) == LBF_PUSH_OK,
                          "case %zu: push %u of the burst", i, k);
        }
        p_snap_take(r, &before);
        ck_assert_msg(p_apply(&h, r, seq, P_TS, "cpu=0.9", LBF_T_NOW, &pol) ==
                          LBF_PUSH_ERATE,
                      "case %zu: push after the burst", i);
        p_assert_unchanged(r, &before, "a rate refusal");
        /* one second later: min(R, B) more pass, the next does not; the
         * refused seq was not recorded, so it is reused */
        for (k = 0; k < refill; k++) {
            ck_assert_msg(p_apply(&h, r, seq++, P_TS, "cpu=0.5",
                                  LBF_T_NOW + LBF_T_SEC, &pol) == LBF_PUSH_OK,
                          "case %zu: push %u after 1 s", i, k);
        }
        ck_assert_msg(p_apply(&h, r, seq, P_TS, "cpu=0.5",
                              LBF_T_NOW + LBF_T_SEC, &pol) == LBF_PUSH_ERATE,
                      "case %zu: push %u after 1 s", i, refill);
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(push_admit_spends_a_token_before_every_other_check)
{
    /* burst 2: the bucket is taken before the signature and before seq
     * and ts are looked at, so replays and stale pushes spend tokens too
     * (a flood of them costs no crypto once the bucket is empty) */
    const struct lbf_push_policy pol = {30, 1, 2, 0};
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    struct p_snap before;
    int k;

    ck_assert_int_eq(p_apply(&h, r, 10, P_TS, "cpu=0.1", LBF_T_NOW, &pol),
                     LBF_PUSH_OK);
    ck_assert_int_eq(p_apply(&h, r, 10, P_TS, "cpu=0.1", LBF_T_NOW, &pol),
                     LBF_PUSH_EREPLAY);
    p_snap_take(r, &before);
    for (k = 0; k < 20; k++) {
        ck_assert_int_eq(p_apply(&h, r, 10, P_TS, "cpu=0.1", LBF_T_NOW, &pol),
                         LBF_PUSH_ERATE);
        ck_assert_int_eq(
            p_apply(&h, r, 11, P_TS - 3600, "cpu=0.1", LBF_T_NOW, &pol),
            LBF_PUSH_ERATE);
        ck_assert_int_eq(lbf_push_admit(&h, r, (uint32_t)getpid(), LBF_T_NOW,
                                        &pol),
                         LBF_PUSH_ERATE);
    }
    p_assert_unchanged(r, &before, "admissions refused");
    ck_assert_uint_eq(atomic_load(&r->lock.owner), 0);
    /* one second later: one token, one push */
    ck_assert_int_eq(
        p_apply(&h, r, 11, P_TS, "cpu=0.1", LBF_T_NOW + LBF_T_SEC, &pol),
        LBF_PUSH_OK);
    ck_assert_int_eq(
        p_apply(&h, r, 12, P_TS, "cpu=0.1", LBF_T_NOW + LBF_T_SEC, &pol),
        LBF_PUSH_ERATE);
}
END_TEST

START_TEST(push_apply_itself_spends_no_token)
{
    /* burst 1: apply after one admission, then applies alone: none is
     * refused for the rate (the glue admits once per push) */
    const struct lbf_push_policy pol = {30, 1, 1, 0};
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    struct lbf_push_msg msg;
    uint64_t seq;

    ck_assert_int_eq(
        lbf_push_admit(&h, r, (uint32_t)getpid(), LBF_T_NOW, &pol),
        LBF_PUSH_OK);
    for (seq = 1; seq <= 5; seq++) {
        p_msg(&msg, seq, P_TS, "cpu=0.4");
        ck_assert_int_eq(lbf_push_apply(&h, r, (uint32_t)getpid(), &msg,
                                        LBF_T_NOW, &pol, p_cpu, 1),
                         LBF_PUSH_OK);
    }
    ck_assert_uint_eq(r->push_seq, 5);
    ck_assert_int_eq(
        lbf_push_admit(&h, r, (uint32_t)getpid(), LBF_T_NOW, &pol),
        LBF_PUSH_ERATE);
}
END_TEST

START_TEST(push_admit_clock_read_before_a_concurrent_push_refills_nothing)
{
    /* burst 2: two processes read the clock, the later one takes its
     * token first; the earlier "now" must not look like a clock stepped
     * back and refill the bucket (a flood from many connections got
     * through that way, issue 12).  A real step back (> 1 s) restarts
     * the refill clock without a refill either. */
    const struct lbf_push_policy pol = {30, 5, 2, 0};
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    uint32_t self = (uint32_t)getpid();
    int k;

    ck_assert_int_eq(lbf_push_admit(&h, r, self, LBF_T_NOW, &pol),
                     LBF_PUSH_OK);
    ck_assert_int_eq(lbf_push_admit(&h, r, self, LBF_T_NOW, &pol),
                     LBF_PUSH_OK);
    for (k = 1; k <= 50; k++) {
        ck_assert_int_eq(lbf_push_admit(&h, r, self, LBF_T_NOW - 10u * k,
                                        &pol), LBF_PUSH_ERATE);
    }
    ck_assert_int_eq(lbf_push_admit(&h, r, self, LBF_T_NOW, &pol),
                     LBF_PUSH_ERATE);
    ck_assert_int_eq(lbf_push_admit(&h, r, self,
                                    LBF_T_NOW - 60 * LBF_T_SEC, &pol),
                     LBF_PUSH_ERATE);
    /* 200 ms after the step back: one token */
    ck_assert_int_eq(lbf_push_admit(&h, r, self, LBF_T_NOW - 60 * LBF_T_SEC
                                    + LBF_T_SEC / 5, &pol), LBF_PUSH_OK);
}
END_TEST

START_TEST(push_apply_rate_refusals_do_not_slow_the_refill)
{
    /* rate 5/s, burst 1: a member that tries every 100 us for one second
     * after emptying its bucket gets exactly the 5 pushes a token bucket
     * earns in that second (at +200, +400, ... +1000 ms): refused
     * attempts must not throw away the fraction of a token earned since
     * the previous attempt. */
    const struct lbf_push_policy pol = {30, 5, 1, 0};
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    uint64_t seq = 1, k, first = 0;
    uint32_t passed = 0;

    ck_assert_int_eq(p_apply(&h, r, seq++, P_TS, "cpu=0.1", LBF_T_NOW, &pol),
                     LBF_PUSH_OK);
    for (k = 1; k <= 10000; k++) {
        int rc =
            p_apply(&h, r, seq, P_TS, "cpu=0.1", LBF_T_NOW + k * 100, &pol);

        ck_assert(rc == LBF_PUSH_OK || rc == LBF_PUSH_ERATE);
        if (rc == LBF_PUSH_OK) {
            first = first ? first : k * 100;
            passed++;
            seq++;
        }
    }
    ck_assert_msg(passed == 5 && first == 200000,
                  "%u pushes passed in 1 s "
                  "at rate 5 (want 5), the first at +%llu us (want +200000)",
                  passed, (unsigned long long)first);
}
END_TEST

START_TEST(push_apply_load_publishes_a_heartbeat_load)
{
    const struct lbf_push_policy pol = {30, 1, 1, 0};
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    struct p_snap before;

    ck_assert_int_eq(
        lbf_push_apply_load(&h, r, (uint32_t)getpid(), 750, LBF_T_NOW, &pol),
        LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 750);
    ck_assert_uint_eq(atomic_load(&r->load_ts), LBF_T_NOW);
    ck_assert_uint_eq(r->metric_ts, LBF_T_NOW);
    p_snap_take(r, &before);
    ck_assert_int_eq(lbf_push_apply_load(&h, r, (uint32_t)getpid(), 100,
                                         LBF_T_NOW + 1, &pol),
                     LBF_PUSH_ERATE);
    p_assert_unchanged(r, &before, "a rate-limited heartbeat");
    ck_assert_int_eq(lbf_push_apply_load(&h, r, (uint32_t)getpid(), 5000,
                                         LBF_T_NOW + 2 * LBF_T_SEC, &pol),
                     LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 1000); /* clamped */
}
END_TEST

/* ---- cost of a signature check, member names ---- */

START_TEST(push_verify_costs_one_hmac_per_key_good_or_forged)
{
    static const struct {
        int nkeys, good;
    } cases[] = {{1, 1}, {1, 0}, {2, 1}, {2, 0}, {0, 0}};
    uint8_t keys[3][LBF_KEY_LEN];
    size_t i;

    p_keys(keys);
    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_push_msg msg;
        char q[P_QMAX];
        size_t len = p_sign(q, sizeof(q), keys[cases[i].good ? 0 : 2],
                            p_signed_prefix);
        uint64_t before;

        p_parse_ok(q, len, &msg);
        before = lbf_push_hmacs();
        ck_assert_int_eq(lbf_push_verify(q, &msg,
                                         (const uint8_t(*)[LBF_KEY_LEN])keys,
                                         cases[i].nkeys),
                         cases[i].good && cases[i].nkeys > 0);
        ck_assert_msg(lbf_push_hmacs() - before == (uint64_t)cases[i].nkeys,
                      "case %zu: %llu HMACs for %d key(s)", i,
                      (unsigned long long)(lbf_push_hmacs() - before),
                      cases[i].nkeys);
    }
}
END_TEST

/* An index of n names "member-<i>" (i = 0..n-1) in slots of its own. */
static struct lbf_name_index p_index(uint32_t n)
{
    uint32_t slots = lbf_name_index_slots(n), i;
    struct lbf_name_slot *tab = calloc(slots, sizeof(*tab));
    struct lbf_name_index x;

    ck_assert_ptr_nonnull(tab);
    ck_assert_uint_ge(slots, 2 * n);
    ck_assert_uint_eq(slots & (slots - 1), 0);
    lbf_name_index_init(&x, tab, slots);
    for (i = 0; i < n; i++) {
        char name[LBF_NAME_SIZE];

        snprintf(name, sizeof(name), "member-%u", i);
        ck_assert_int_eq(lbf_name_index_add(&x, name, i), LBF_OK);
    }
    return x;
}

START_TEST(name_index_finds_every_member_in_any_case)
{
    static const uint32_t sizes[] = {1, 2, 3, 200, 1000, 4096};
    size_t k;

    for (k = 0; k < LBF_T_NELEMS(sizes); k++) {
        struct lbf_name_index x = p_index(sizes[k]);
        uint32_t i;

        for (i = 0; i < sizes[k]; i++) {
            char name[LBF_NAME_SIZE], up[LBF_NAME_SIZE];
            size_t j;
            int n = snprintf(name, sizeof(name), "member-%u", i);

            for (j = 0; j <= (size_t)n; j++) {
                up[j] = (char)(name[j] >= 'a' && name[j] <= 'z'
                               ? name[j] - 32 : name[j]);
            }
            ck_assert_int_eq(lbf_name_index_find(&x, name, (size_t)n),
                             (int)i);
            ck_assert_int_eq(lbf_name_index_find(&x, up, (size_t)n), (int)i);
        }
        ck_assert_int_eq(lbf_name_index_find(&x, "member-x", 8), -1);
        free(x.slot);
    }
}
END_TEST

START_TEST(name_index_refuses_unknown_and_edge_names)
{
    static const struct {
        const char *name;
        size_t len;
        int want;
    } cases[] = {
        {"member-1", 8, 1},         /* control */
        {"member-10", 8, 1},        /* len counts: the first 8 bytes */
        {"member-1", 7, -1},        /* "member-" */
        {"member-1x", 9, -1},
        {"member-", 7, -1},
        {"member-12", 9, 12},
        {"", 0, -1},
        {"m", 1, -1},
        {P_NAME32, 32, -1},         /* longer than a name can be */
        {"member-2\0", 9, -1},      /* a NUL inside len */
    };
    struct lbf_name_index x = p_index(20);
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        ck_assert_msg(lbf_name_index_find(&x, cases[i].name, cases[i].len)
                          == cases[i].want,
                      "case %zu (%.*s): %d, want %d", i, (int)cases[i].len,
                      cases[i].name,
                      lbf_name_index_find(&x, cases[i].name, cases[i].len),
                      cases[i].want);
    }
    ck_assert_int_eq(lbf_name_index_find(NULL, "member-1", 8), -1);
    free(x.slot);
}
END_TEST

START_TEST(name_index_add_refuses_duplicates_bad_names_and_overfill)
{
    struct lbf_name_slot tab[8];
    struct lbf_name_index x;
    uint32_t i;

    ck_assert_uint_eq(lbf_name_index_slots(0), 8);
    ck_assert_uint_eq(lbf_name_index_slots(4), 8);
    ck_assert_uint_eq(lbf_name_index_slots(5), 16);
    lbf_name_index_init(&x, tab, 8);
    ck_assert_int_eq(lbf_name_index_add(&x, "web1", 0), LBF_OK);
    ck_assert_int_eq(lbf_name_index_add(&x, "WEB1", 7), LBF_EEXIST);
    ck_assert_int_eq(lbf_name_index_find(&x, "web1", 4), 0); /* kept */
    ck_assert_int_eq(lbf_name_index_add(&x, "a b", 1), LBF_EINVAL);
    ck_assert_int_eq(lbf_name_index_add(&x, "", 1), LBF_EINVAL);
    ck_assert_int_eq(lbf_name_index_add(&x, NULL, 1), LBF_EINVAL);
    ck_assert_int_eq(lbf_name_index_add(&x, P_NAME32, 1), LBF_EINVAL);
    ck_assert_int_eq(lbf_name_index_add(&x, P_NAME31, 1), LBF_OK);
    ck_assert_int_eq(lbf_name_index_add(&x, "big", 0x80000000u), LBF_EINVAL);
    for (i = 2; i < 4; i++) {
        char name[8];

        snprintf(name, sizeof(name), "n%u", i);
        ck_assert_int_eq(lbf_name_index_add(&x, name, i), LBF_OK);
    }
    /* 4 of 8 slots: half full, no more */
    ck_assert_int_eq(lbf_name_index_add(&x, "n9", 9), LBF_ENOSPACE);
    ck_assert_int_eq(lbf_name_index_find(&x, P_NAME31, 31), 1);
    ck_assert_int_eq(lbf_name_index_find(&x, "n3", 2), 3);
    ck_assert_int_eq(lbf_name_index_find(&x, "n9", 2), -1);
}
END_TEST

/* ---- smoothing ---- */

START_TEST(push_smooth_table)
{
    static const struct {
        uint32_t old, report, w;
        int fresh;
        uint32_t want;
    } cases[] = {
        {200, 1000, 500, 0, 600},  /* half the distance */
        {200, 1000, 300, 0, 440},
        {600, 200, 500, 0, 400},   /* down as up */
        {200, 1000, 1000, 0, 1000}, /* 1: no smoothing */
        {200, 1000, 0, 0, 1000},   /* 0: no smoothing */
        {200, 1000, 500, 1, 1000}, /* the first report of a run */
        {200, 201, 100, 0, 201},   /* a steady report is reached */
        {201, 200, 100, 0, 200},
        {200, 200, 500, 0, 200},
        {200, 5000, 500, 0, 600},  /* reports clamped to 1000 */
        {0, 1000, 1, 0, 1},
        {1000, 0, 999, 0, 1},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        uint32_t got = lbf_load_smooth(cases[i].old, cases[i].report,
                                       cases[i].w, cases[i].fresh);

        ck_assert_msg(got == cases[i].want, "case %zu: %u <- %u (w %u, "
                      "fresh %d) = %u, want %u", i, cases[i].old,
                      cases[i].report, cases[i].w, cases[i].fresh, got,
                      cases[i].want);
    }
}
END_TEST

START_TEST(push_one_outlier_moves_the_load_by_at_most_the_weight)
{
    static const uint32_t weights[] = {100, 300, 500, 1000};
    size_t k;

    for (k = 0; k < LBF_T_NELEMS(weights); k++) {
        const struct lbf_push_policy pol = {30, 1000, 10000, weights[k]};
        struct lbf_shm h;
        struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
        struct lbf_row *r = lbf_t_row(&h, f, 0);
        uint64_t seq = 1, t = LBF_T_NOW;
        uint32_t load, bound;
        int i;

        /* steady reports of 0.2, one second apart */
        for (i = 0; i < 10; i++, t += LBF_T_SEC) {
            ck_assert_int_eq(p_apply(&h, r, seq++, (int64_t)(t / LBF_T_SEC),
                                     "cpu=0.2", t, &pol),
                             LBF_PUSH_OK);
        }
        ck_assert_uint_eq(atomic_load(&r->load_milli), 200);
        /* one outlier of 1.0 */
        ck_assert_int_eq(p_apply(&h, r, seq++, (int64_t)(t / LBF_T_SEC),
                                 "cpu=1", t, &pol),
                         LBF_PUSH_OK);
        t += LBF_T_SEC;
        load = atomic_load(&r->load_milli);
        bound = 200 + (800 * weights[k] + 999) / 1000;
        ck_assert_msg(load <= bound, "w %u: the outlier moved the load to "
                      "%u (bound %u)", weights[k], load, bound);
        ck_assert_uint_gt(load, 200);
        /* steady again: back to 0.2 exactly within 100 reports */
        for (i = 0; i < 100; i++, t += LBF_T_SEC) {
            ck_assert_int_eq(p_apply(&h, r, seq++, (int64_t)(t / LBF_T_SEC),
                                     "cpu=0.2", t, &pol),
                             LBF_PUSH_OK);
        }
        ck_assert_uint_eq(atomic_load(&r->load_milli), 200);
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(push_first_report_after_silence_is_taken_as_is)
{
    const struct lbf_push_policy pol = {30, 1000, 10000, 300};
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);
    struct lbf_row *r = lbf_t_row(&h, f, 0);

    /* the very first report */
    ck_assert_int_eq(p_apply(&h, r, 1, P_TS, "cpu=0.8", LBF_T_NOW, &pol),
                     LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 800);
    /* 15 s later (not past the expiry): smoothed, 800 + 0.3 * -700 */
    ck_assert_int_eq(p_apply(&h, r, 2, P_TS, "cpu=0.1",
                             LBF_T_NOW + 15 * LBF_T_SEC, &pol),
                     LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 590);
    /* after a gap longer than the expiry: a new run, taken as is */
    ck_assert_int_eq(p_apply(&h, r, 3, P_TS + 31, "cpu=0.1",
                             LBF_T_NOW + 31 * LBF_T_SEC, &pol),
                     LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 100);
    ck_assert_uint_eq(atomic_load(&r->load_since), LBF_T_NOW + 31 * LBF_T_SEC);
    /* heartbeats are smoothed the same way */
    ck_assert_int_eq(lbf_push_apply_load(&h, r, (uint32_t)getpid(), 1000,
                                         LBF_T_NOW + 32 * LBF_T_SEC, &pol),
                     LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 370);
    munmap(h.base, h.len);
}
END_TEST

/* ---- headroom ---- */

/* Report load (thousandths) for member mi at t (through the heartbeat
 * path, which takes a load as is). */
static void p_report(struct lbf_shm *h, struct lbf_farm *f, uint32_t mi,
                     uint32_t load, uint64_t t)
{
    static const struct lbf_push_policy pol = {30, 1000, 10000, 0};

    ck_assert_int_eq(lbf_push_apply_load(h, lbf_t_row(h, f, mi),
                                         (uint32_t)getpid(), load, t, &pol),
                     LBF_PUSH_OK);
}

static uint32_t p_headroom_at(const struct lbf_shm *h, struct lbf_farm *f,
                              uint32_t mi, uint64_t now)
{
    uint64_t rng = LBF_T_SEED;
    struct lbf_pick pk;

    lbf_t_pick_init(&pk, h, f, &rng);
    pk.now = now;
    return lbf_headroom(&pk, lbf_t_row(h, f, mi));
}

START_TEST(push_headroom_is_one_minus_a_fresh_load_clamped)
{
    static const struct {
        uint32_t load, want;
    } cases[] = {
        {0, 1000},
        {1, 999},
        {100, 900},
        {700, 300},
        {749, 251},
        {750, LBF_HEADROOM_MIN},
        {751, LBF_HEADROOM_MIN},
        {900, LBF_HEADROOM_MIN},
        {999, LBF_HEADROOM_MIN},
        {1000, LBF_HEADROOM_MIN},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_shm h;
        struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 0);

        p_report(&h, f, 0, cases[i].load, LBF_T_NOW);
        ck_assert_msg(p_headroom_at(&h, f, 0, LBF_T_NOW) == cases[i].want,
                      "load %u: headroom %u, want %u", cases[i].load,
                      p_headroom_at(&h, f, 0, LBF_T_NOW), cases[i].want);
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(push_headroom_is_neutral_without_a_fresh_report)
{
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 2, 15000, 0);

    /* never reported */
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, LBF_T_NOW), 1000);
    p_report(&h, f, 0, 700, LBF_T_NOW);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, LBF_T_NOW), 300);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, LBF_T_NOW + 15 * LBF_T_SEC),
                      300); /* exactly expiry */
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, LBF_T_NOW + 15 * LBF_T_SEC + 1),
                      1000); /* older: neutral */
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, LBF_T_NOW - 1), 1000);
    ck_assert_uint_eq(p_headroom_at(&h, f, 1, LBF_T_NOW), 1000);
    /* a new report makes it count again */
    p_report(&h, f, 0, 600, LBF_T_NOW + 20 * LBF_T_SEC);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, LBF_T_NOW + 20 * LBF_T_SEC), 400);
}
END_TEST

START_TEST(push_headroom_is_neutral_during_the_blackout)
{
    struct lbf_shm h;
    struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 1, 15000, 2000);
    uint64_t t = LBF_T_NOW;

    p_report(&h, f, 0, 700, t);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, t), 1000);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, t + 2 * LBF_T_SEC - 1), 1000);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, t + 2 * LBF_T_SEC), 300);
    /* reports inside the run keep it going */
    p_report(&h, f, 0, 700, t + LBF_T_SEC);
    p_report(&h, f, 0, 700, t + 16 * LBF_T_SEC); /* gap 15 s: same run */
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, t + 16 * LBF_T_SEC), 300);
    /* a gap above the expiry starts a new run: blackout again */
    t += 16 * LBF_T_SEC + 15 * LBF_T_SEC + 1;
    p_report(&h, f, 0, 600, t);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 0)->load_since), t);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, t), 1000);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, t + 2 * LBF_T_SEC - 1), 1000);
    ck_assert_uint_eq(p_headroom_at(&h, f, 0, t + 2 * LBF_T_SEC), 400);
}
END_TEST

/* ---- the pushed-metric pick ---- */

START_TEST(push_pick_prefers_more_headroom_at_equal_inflight)
{
    static const struct {
        uint32_t load[2];
        int inflight;
        int want;
    } cases[] = {
        {{600, 200}, 0, 1}, {{200, 600}, 0, 0},   {{600, 200}, 3, 1},
        {{100, 900}, 5, 0}, {{1000, 960}, 0, -1}, /* both clamped to 5 %: a tie
                                                   */
        {{0, 1}, 2, -1}, /* 0.001 apart at the same in-flight: near-equal,
                            chosen at random (no herd) */
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_shm h;
        struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 2, 15000, 0);
        uint64_t rng = LBF_T_SEED;
        struct lbf_pick pk;
        uint32_t cnt[2], m;

        for (m = 0; m < 2; m++) {
            p_report(&h, f, m, cases[i].load[m], LBF_T_NOW);
            p_take(lbf_t_row(&h, f, m), cases[i].inflight);
        }
        lbf_t_pick_init(&pk, &h, f, &rng);
        p_count("pushed-metric", &pk, 200, cnt, 2);
        if (cases[i].want >= 0) {
            ck_assert_msg(cnt[cases[i].want] == 200,
                          "case %zu: picks %u %u, "
                          "want all m%d",
                          i, cnt[0], cnt[1], cases[i].want);
        }
        else {
            ck_assert_msg(cnt[0] > 0 && cnt[1] > 0,
                          "case %zu: a tie went "
                          "one way only: %u %u",
                          i, cnt[0], cnt[1]);
        }
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(push_pick_loaded_member_wins_only_past_four_times_inflight)
{
    /* A (m0) load 0.9: headroom clamped to 250; B (m1) load 0: 1000.
     * A wins when (a+1)/250 < (b+1)/1000, i.e. b+1 > 4(a+1). */
    static const struct {
        int a, b;
        int want; /* -1: tie, either */
    } cases[] = {
        {0, 0, 1},  {0, 2, 1},   {0, 3, -1},   {0, 4, 0},   {0, 20, 0},
        {1, 6, 1},  {1, 7, -1},  {1, 8, 0},    {2, 10, 1},  {2, 11, -1},
        {2, 12, 0}, {10, 42, 1}, {10, 43, -1}, {10, 44, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_shm h;
        struct lbf_farm *f = p_farm(&h, "pushed-metric", NULL, 2, 15000, 0);
        uint64_t rng = LBF_T_SEED;
        struct lbf_pick pk;
        uint32_t cnt[2];

        p_report(&h, f, 0, 900, LBF_T_NOW);
        p_report(&h, f, 1, 0, LBF_T_NOW);
        p_take(lbf_t_row(&h, f, 0), cases[i].a);
        p_take(lbf_t_row(&h, f, 1), cases[i].b);
        lbf_t_pick_init(&pk, &h, f, &rng);
        ck_assert_uint_eq(lbf_headroom(&pk, lbf_t_row(&h, f, 0)), 250);
        ck_assert_uint_eq(lbf_headroom(&pk, lbf_t_row(&h, f, 1)), 1000);
        p_count("pushed-metric", &pk, 100, cnt, 2);
        if (cases[i].want >= 0) {
            ck_assert_msg(cnt[cases[i].want] == 100,
                          "A inflight %d, B %d: "
                          "picks %u %u, want all %s",
                          cases[i].a, cases[i].b, cnt[0], cnt[1],
                          cases[i].want ? "B" : "A");
        }
        else {
            ck_assert_msg(cnt[0] > 0 && cnt[1] > 0,
                          "A inflight %d, B %d: "
                          "a tie went one way only: %u %u",
                          cases[i].a, cases[i].b, cnt[0], cnt[1]);
        }
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(push_pick_without_fresh_reports_equals_least_load)
{
    /* n <= LBF_LL_SCAN_MAX (full scan) and above (two choices) */
    static const uint32_t sizes[] = {3, 12};
    static const uint32_t w[12] = {1, 2, 3, 1, 5, 1, 2, 4, 1, 1, 3, 2};
    size_t s;

    for (s = 0; s < LBF_T_NELEMS(sizes); s++) {
        uint32_t n = sizes[s], i;
        struct lbf_shm hp, hl;
        struct lbf_farm *fp = p_farm(&hp, "pushed-metric", w, n, 15000, 0);
        struct lbf_farm *fl = p_farm(&hl, "least-load", w, n, 15000, 0);
        uint32_t mp = lbf_t_method("pushed-metric");
        uint32_t ml = lbf_t_method("least-load");
        uint64_t rp = LBF_T_SEED, rl = LBF_T_SEED;
        struct lbf_pick pkp, pkl;

        /* every other member reported long ago (expired), the rest never */
        for (i = 0; i < n; i += 2) {
            p_report(&hp, fp, i, 100 * (i % 10), LBF_T_NOW - 20 * LBF_T_SEC);
        }
        lbf_t_pick_init(&pkp, &hp, fp, &rp);
        lbf_t_pick_init(&pkl, &hl, fl, &rl);
        for (i = 0; i < 300; i++) {
            int a = lbf_pick_take(mp, &pkp), b = lbf_pick_take(ml, &pkl);

            ck_assert_msg(a == b,
                          "n %u pick %u: pushed-metric %d, least-load "
                          "%d",
                          n, i, a, b);
            ck_assert_int_ge(a, 0);
            if (i % 3 == 0) {
                lbf_row_release(lbf_t_row(&hp, fp, (uint32_t)a), 0);
                lbf_row_release(lbf_t_row(&hl, fl, (uint32_t)b), 0);
            }
        }
        munmap(hp.base, hp.len);
        munmap(hl.base, hl.len);
    }
}
END_TEST

Suite *lbf_suite_push(void)
{
    Suite *s = suite_create("push");
    TCase *parse = tcase_create("parse");
    TCase *verify = tcase_create("verify");
    TCase *apply = tcase_create("apply");
    TCase *pick = tcase_create("pick");

    tcase_set_timeout(parse, LBF_T_TIMEOUT);
    tcase_set_timeout(verify, LBF_T_TIMEOUT);
    tcase_set_timeout(apply, LBF_T_TIMEOUT);
    tcase_set_timeout(pick, LBF_T_TIMEOUT);

    tcase_add_test(parse, push_parse_reads_every_field_of_a_valid_push);
    tcase_add_test(parse, push_parse_accepts_the_edges_of_the_format);
    tcase_add_loop_test(parse,
                        push_parse_rejects_malformed_pushes_naming_the_field, 0,
                        (int)LBF_T_NELEMS(p_bad_cases));
    tcase_add_test(parse, push_parsers_read_no_byte_past_len);
    tcase_add_test(parse, push_parse_limits_the_query_to_2048_bytes);
    tcase_add_test(parse, push_parse_truncates_err_to_errlen);
    tcase_add_test(parse, push_heartbeat_load_is_busy_over_ready_plus_busy);
    tcase_add_test(parse, push_heartbeat_rejects_malformed_messages);
    suite_add_tcase(s, parse);

    tcase_add_test(verify, push_member_key_is_hmac_of_the_member_label);
    tcase_add_test(verify, push_member_key_differs_per_member_and_secret);
    tcase_add_test(verify, push_verify_accepts_the_hmac_of_the_signed_prefix);
    tcase_add_test(verify, push_verify_refuses_a_wrong_key);
    tcase_add_test(verify, push_verify_accepts_either_key_during_rotation);
    tcase_add_test(verify, push_verify_refuses_any_flipped_byte);
    tcase_add_test(verify, push_verify_costs_one_hmac_per_key_good_or_forged);
    tcase_add_test(verify, name_index_finds_every_member_in_any_case);
    tcase_add_test(verify, name_index_refuses_unknown_and_edge_names);
    tcase_add_test(verify,
                   name_index_add_refuses_duplicates_bad_names_and_overfill);
    suite_add_tcase(s, verify);

    tcase_add_test(apply, push_load_eval_weights_and_clamps_terms);
    tcase_add_test(apply, push_apply_writes_metrics_and_derived_load);
    tcase_add_test(apply, push_apply_without_formula_terms_keeps_the_load);
    tcase_add_test(apply,
                   push_apply_drain_request_takes_the_member_out_of_picks);
    tcase_add_test(apply, push_apply_refuses_replay_leaving_the_row_unchanged);
    tcase_add_test(apply, push_apply_refuses_ts_outside_the_window);
    tcase_add_test(apply, push_apply_limits_rate_with_burst_then_refill);
    tcase_add_test(apply, push_admit_spends_a_token_before_every_other_check);
    tcase_add_test(apply, push_apply_itself_spends_no_token);
    tcase_add_test(apply, push_apply_rate_refusals_do_not_slow_the_refill);
    tcase_add_test(apply,
                   push_admit_clock_read_before_a_concurrent_push_refills_nothing);
    tcase_add_test(apply, push_apply_load_publishes_a_heartbeat_load);
    tcase_add_test(apply, push_smooth_table);
    tcase_add_test(apply,
                   push_one_outlier_moves_the_load_by_at_most_the_weight);
    tcase_add_test(apply, push_first_report_after_silence_is_taken_as_is);
    suite_add_tcase(s, apply);

    tcase_add_test(pick, push_headroom_is_one_minus_a_fresh_load_clamped);
    tcase_add_test(pick, push_headroom_is_neutral_without_a_fresh_report);
    tcase_add_test(pick, push_headroom_is_neutral_during_the_blackout);
    tcase_add_test(pick, push_pick_prefers_more_headroom_at_equal_inflight);
    tcase_add_test(pick,
                   push_pick_loaded_member_wins_only_past_four_times_inflight);
    tcase_add_test(pick, push_pick_without_fresh_reports_equals_least_load);
    suite_add_tcase(s, pick);
    return s;
}
