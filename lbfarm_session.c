/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_session.c -- sticky-session cookies and application instructions.
 * Formats, keys and what each binds: see lbfarm_session.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lbfarm_conf.h"
#include "lbfarm_session.h"

/* HMAC-SHA256 of the concatenation of a and b (either may be empty; the
 * inputs here are short: a name and a header).  Too long: all zeros, which
 * no verification accepts. */
static void lbf_mac2(const uint8_t *key, size_t klen, const char *a,
                     size_t alen, const char *b, size_t blen,
                     uint8_t out[32])
{
    unsigned char buf[LBF_NAME_SIZE + LBF_INSTR_MAX + 64];
    unsigned int olen = 32;

    memset(out, 0, 32);
    if (alen + blen > sizeof(buf)) {
        return;
    }
    memcpy(buf, a, alen);
    memcpy(buf + alen, b, blen);
    HMAC(EVP_sha256(), key, (int)klen, buf, alen + blen, out, &olen);
}

static void lbf_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void lbf_sess_keys(const uint8_t *secret, size_t slen,
                   struct lbf_sess_keys *k)
{
    lbf_mac2(secret, slen, "lbfarm-cookie", 13, "", 0, k->cookie);
    lbf_mac2(secret, slen, "lbfarm-app", 10, "", 0, k->app);
}

void lbf_sess_member_id(const struct lbf_sess_keys *k, const char *name,
                        char id[LBF_SESS_ID_HEX + 1])
{
    uint8_t m[32];

    lbf_mac2(k->cookie, LBF_SESS_KEY_LEN, "member:", 7, name, strlen(name),
             m);
    lbf_hex(m, LBF_SESS_ID_HEX / 2, id);
}

/* The 32-hex mac of cookie body (everything before the last '.'). */
static void lbf_sess_mac(const struct lbf_sess_keys *k, const char *farm,
                         const char *body, size_t blen, char hex[33])
{
    char pre[LBF_NAME_SIZE + 1];
    uint8_t m[32];
    int n = snprintf(pre, sizeof(pre), "%s|", farm);

    lbf_mac2(k->cookie, LBF_SESS_KEY_LEN, pre, (size_t)n, body, blen, m);
    lbf_hex(m, 16, hex);
}

void lbf_sess_encode(const struct lbf_sess_keys *k, const char *farm,
                     const struct lbf_session *s, char *out, size_t outlen)
{
    char mac[33];
    int n = snprintf(out, outlen, "1.%c.%s.%08x", s->mode, s->id,
                     (unsigned)s->expiry);

    if (n < 0 || (size_t)n + 34 > outlen) {
        out[0] = '\0';
        return;
    }
    lbf_sess_mac(k, farm, out, (size_t)n, mac);
    snprintf(out + n, outlen - (size_t)n, ".%s", mac);
}

/* 1 when s[0..n) is lowercase hex. */
static int lbf_is_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

int lbf_sess_parse(const struct lbf_sess_keys *k, int nkeys, const char *farm,
                   const char *value, size_t len, uint32_t now,
                   struct lbf_session *s)
{
    const char *v = value;
    char mac[33];
    unsigned long exp;
    int i, ok = 0;

    if (len != LBF_SESS_COOKIE_LEN || v[0] != '1' || v[1] != '.'
        || (v[2] != LBF_STICK_WHILE_UP && v[2] != LBF_STICK_ALWAYS)
        || v[3] != '.' || v[20] != '.' || v[29] != '.'
        || !lbf_is_hex(v + 4, 16) || !lbf_is_hex(v + 21, 8)
        || !lbf_is_hex(v + 30, 32)) {
        return LBF_SESS_MALFORMED;
    }
    for (i = 0; i < nkeys; i++) {
        lbf_sess_mac(&k[i], farm, v, 29, mac);
        ok |= CRYPTO_memcmp(mac, v + 30, 32) == 0;
    }
    if (!ok) {
        return LBF_SESS_FORGED;
    }
    exp = strtoul(v + 21, NULL, 16);
    if (exp <= now) {
        return LBF_SESS_EXPIRED;
    }
    s->mode = v[2];
    memcpy(s->id, v + 4, LBF_SESS_ID_HEX);
    s->id[LBF_SESS_ID_HEX] = '\0';
    s->expiry = (uint32_t)exp;
    return LBF_SESS_OK;
}

void lbf_move_encode(const struct lbf_sess_keys *k, const char *from,
                     const char *to, uint32_t expiry, char *out,
                     size_t outlen)
{
    char mac[33];
    int n = snprintf(out, outlen, "2.%s.%08x", to, (unsigned)expiry);

    if (n < 0 || (size_t)n + 34 > outlen) {
        out[0] = '\0';
        return;
    }
    lbf_sess_mac(k, from, out, (size_t)n, mac);
    snprintf(out + n, outlen - (size_t)n, ".%s", mac);
}

int lbf_move_parse(const struct lbf_sess_keys *k, int nkeys,
                   const char *from, const char *value, size_t len,
                   uint32_t now, char to[LBF_NAME_SIZE])
{
    size_t tl;
    char mac[33];
    int i, ok = 0;

    /* "2." + to (1..31) + "." + 8 hex + "." + 32 hex */
    if (len < 2 + 1 + 1 + 8 + 1 + 32 || len > 2 + 31 + 1 + 8 + 1 + 32
        || value[0] != '2' || value[1] != '.') {
        return LBF_SESS_MALFORMED;
    }
    tl = len - 2 - 42;
    if (value[2 + tl] != '.' || value[2 + tl + 9] != '.'
        || !lbf_is_hex(value + 3 + tl, 8) || !lbf_is_hex(value + len - 32, 32)) {
        return LBF_SESS_MALFORMED;
    }
    memcpy(to, value + 2, tl);
    to[tl] = '\0';
    if (!lbf_name_valid(to)) {
        return LBF_SESS_MALFORMED;
    }
    for (i = 0; i < nkeys; i++) {
        lbf_sess_mac(&k[i], from, value, len - 33, mac);
        ok |= CRYPTO_memcmp(mac, value + len - 32, 32) == 0;
    }
    if (!ok) {
        return LBF_SESS_FORGED;
    }
    return strtoul(value + 3 + tl, NULL, 16) <= now ? LBF_SESS_EXPIRED
                                                    : LBF_SESS_OK;
}

/* ---- instructions ---- */

static const struct {
    const char *name;
    int action;
} lbf_actions[] = {
    {"stick", LBF_INSTR_STICK},
    {"stick-while-up", LBF_INSTR_STICK_WHILE_UP},
    {"unstick", LBF_INSTR_UNSTICK},
    {"move", LBF_INSTR_MOVE},
};

/* Parse "action[;farm=X];ts=T" (the signed text, tlen bytes) into *in. */
static int lbf_instr_fields(const char *t, size_t tlen, struct lbf_instr *in,
                            char *err, size_t errlen)
{
    size_t alen = strcspn(t, ";"), i;
    const char *p = t + alen;
    uint64_t ts = 0;

    in->action = 0;
    for (i = 0; i < sizeof(lbf_actions) / sizeof(lbf_actions[0]); i++) {
        if (strlen(lbf_actions[i].name) == alen
            && !strncmp(t, lbf_actions[i].name, alen)) {
            in->action = lbf_actions[i].action;
        }
    }
    if (in->action == 0) {
        snprintf(err, errlen, "unknown action");
        return -1;
    }
    in->farm[0] = '\0';
    if (!strncmp(p, ";farm=", 6)) {
        size_t fl = strcspn(p + 6, ";");

        if (fl >= LBF_NAME_SIZE) {
            snprintf(err, errlen, "farm name too long");
            return -1;
        }
        memcpy(in->farm, p + 6, fl);
        in->farm[fl] = '\0';
        p += 6 + fl;
    }
    in->ttl = 0;
    if (!strncmp(p, ";ttl=", 5)) {
        size_t tl = strcspn(p + 5, ";");
        uint64_t ttl = 0;

        if (lbf_parse_digits(p + 5, tl, &ttl) != 0 || ttl == 0
            || ttl > LBF_SESS_TTL_MAX || in->action == LBF_INSTR_UNSTICK) {
            snprintf(err, errlen, "ttl= must be 1..%u seconds, not with "
                     "unstick", LBF_SESS_TTL_MAX);
            return -1;
        }
        in->ttl = (uint32_t)ttl;
        p += 5 + tl;
    }
    if (strncmp(p, ";ts=", 4) != 0
        || lbf_parse_digits(p + 4, tlen - (size_t)(p + 4 - t), &ts) != 0) {
        snprintf(err, errlen, "ts missing or not a number");
        return -1;
    }
    if ((in->action == LBF_INSTR_MOVE) != (in->farm[0] != '\0')
        || (in->farm[0] && !lbf_name_valid(in->farm))) {
        snprintf(err, errlen, "farm= is required by move and only by move");
        return -1;
    }
    in->ts = (int64_t)ts;
    return 0;
}

int lbf_instr_parse(const struct lbf_sess_keys *k, int nkeys,
                    const char *member, const char *value, uint32_t now,
                    uint32_t window, struct lbf_instr *in, char *err,
                    size_t errlen)
{
    const char *sig = value ? strstr(value, ";sig=") : NULL;
    size_t tlen = sig ? (size_t)(sig - value) : 0;
    uint8_t m[32], want[32];
    char pre[LBF_NAME_SIZE + 1];
    int i, ok = 0, n;

    if (value == NULL || strlen(value) > LBF_INSTR_MAX || sig == NULL
        || strlen(sig + 5) != 64 || !lbf_is_hex(sig + 5, 64)) {
        snprintf(err, errlen, "malformed (expected action;...;ts=T;sig=HEX)");
        return -1;
    }
    for (i = 0; i < 32; i++) {
        unsigned v;

        sscanf(sig + 5 + 2 * i, "%2x", &v);
        want[i] = (uint8_t)v;
    }
    n = snprintf(pre, sizeof(pre), "%s|", member);
    for (i = 0; i < nkeys; i++) {
        lbf_mac2(k[i].app, LBF_SESS_KEY_LEN, pre, (size_t)n, value, tlen, m);
        ok |= CRYPTO_memcmp(m, want, 32) == 0;
    }
    if (!ok) {
        snprintf(err, errlen, "bad signature");
        return -1;
    }
    if (lbf_instr_fields(value, tlen, in, err, errlen) != 0) {
        return -1;
    }
    if (in->ts > (int64_t)now + window || in->ts + window < (int64_t)now) {
        snprintf(err, errlen, "ts outside the %us window", window);
        return -1;
    }
    return 0;
}

void lbf_instr_sign(const uint8_t app_key[LBF_SESS_KEY_LEN],
                    const char *member, const char *text, char *out,
                    size_t outlen)
{
    char pre[LBF_NAME_SIZE + 1], hex[65];
    uint8_t m[32];
    int n = snprintf(pre, sizeof(pre), "%s|", member);

    lbf_mac2(app_key, LBF_SESS_KEY_LEN, pre, (size_t)n, text, strlen(text),
             m);
    lbf_hex(m, 32, hex);
    snprintf(out, outlen, "%s;sig=%s", text, hex);
}

/* ---- decisions ---- */

/* 1 when member mi of pk's farm takes a stuck client at pk->now. */
static int lbf_stuck_ok(const struct lbf_pick *pk, int mi)
{
    const struct lbf_row *row;

    if (mi < 0 || (uint32_t)mi == pk->exclude) {
        return 0;
    }
    row = lbf_member_at(pk->h, pk->farm, (uint32_t)mi);
    return row != NULL && lbf_row_sticky_ok(row, pk->now);
}

/* The member the route value v[0..len) names after its last '.', or -1. */
static int lbf_route_member(const struct lbf_sess_lookup *lk, const char *v,
                            size_t len)
{
    const char *dot = v + len;

    while (dot > v && dot[-1] != '.') {
        dot--;
    }
    if (dot == v || dot == v + len || lk->by_name == NULL) {
        return -1;
    }
    return lk->by_name(lk->ctx, dot, (size_t)(v + len - dot));
}

void lbf_sticky_decide(const struct lbf_sess_conf *c,
                       const struct lbf_sticky_req *rq,
                       const struct lbf_sess_lookup *lk,
                       const struct lbf_pick *pk, struct lbf_sticky *out)
{
    uint32_t now = (uint32_t)(pk->now / 1000000u);
    struct lbf_session s;
    int mi;

    memset(out, 0, sizeof(*out));
    out->member = -1;
    out->cookie_rc = -1;
    if ((c->sticky || c->instructions) && c->nkeys > 0 && rq->cookie) {
        out->cookie_rc = lbf_sess_parse(c->keys, c->nkeys, c->farm,
                                        rq->cookie, rq->cookie_len, now, &s);
        if (out->cookie_rc == LBF_SESS_OK && lk->by_id != NULL
            && (mi = lk->by_id(lk->ctx, s.id)) >= 0) {
            out->mode = s.mode;
            out->expiry = s.expiry;
            if (lbf_stuck_ok(pk, mi)) {
                out->member = mi;
                out->how = LBF_STUCK_COOKIE;
                out->refresh = lbf_sess_needs_refresh(s.expiry, now, c->ttl);
            }
            else if (s.mode == LBF_STICK_ALWAYS) {
                out->member = LBF_STICK_REFUSED;
            }
            return;
        }
    }
    if (rq->route != NULL
        && lbf_stuck_ok(pk, mi = lbf_route_member(lk, rq->route,
                                                  rq->route_len))) {
        out->member = mi;
        out->how = LBF_STUCK_ROUTE;
    }
}

int lbf_sess_needs_refresh(uint32_t expiry, uint32_t now, uint32_t ttl)
{
    uint64_t left = expiry > now ? (uint64_t)expiry - now : 0;

    return 2 * left <= ttl || left > (uint64_t)ttl + LBF_SESS_SKEW;
}

uint32_t lbf_sess_lifetime(uint32_t ttl, uint32_t want)
{
    return want != 0 && want < ttl ? want : ttl;
}

void lbf_sess_plan_chosen(const struct lbf_sess_conf *c,
                          const struct lbf_sticky *st,
                          struct lbf_cookie_plan *p)
{
    memset(p, 0, sizeof(*p));
    if (c->nkeys <= 0 || st->member < 0) {
        return;
    }
    if (st->how == LBF_STUCK_COOKIE && st->refresh) {
        p->kind = LBF_PLAN_SESSION;
        p->mode = st->mode;
        p->max_age = c->ttl;
    }
    else if (st->how == LBF_STUCK_NONE && c->sticky) {
        p->kind = LBF_PLAN_SESSION;
        p->mode = LBF_STICK_WHILE_UP;
        p->max_age = c->ttl;
    }
}

int lbf_instr_decide(const struct lbf_sess_conf *c, const char *member,
                     const char *value, uint32_t now,
                     int (*farm_known)(void *ctx, const char *name),
                     void *ctx, struct lbf_cookie_plan *p, char *err,
                     size_t errlen)
{
    struct lbf_instr in;

    memset(p, 0, sizeof(*p));
    if (!c->instructions || c->nkeys <= 0) {
        snprintf(err, errlen, "instructions are off for this farm");
        return -1;
    }
    if (lbf_instr_parse(c->keys, c->nkeys, member, value, now,
                        LBF_INSTR_WINDOW, &in, err, errlen) != 0) {
        return -1;
    }
    switch (in.action) {
    case LBF_INSTR_STICK:
    case LBF_INSTR_STICK_WHILE_UP:
        p->kind = LBF_PLAN_SESSION;
        p->mode = in.action == LBF_INSTR_STICK ? LBF_STICK_ALWAYS
                                               : LBF_STICK_WHILE_UP;
        break;
    case LBF_INSTR_UNSTICK:
        p->kind = LBF_PLAN_CLEAR;
        return 0;
    default:
        if (farm_known == NULL || !farm_known(ctx, in.farm)) {
            snprintf(err, errlen, "move to no farm");
            return -1;
        }
        p->kind = LBF_PLAN_MOVE;
        memcpy(p->to, in.farm, sizeof(p->to));
    }
    p->max_age = lbf_sess_lifetime(c->ttl, in.ttl);
    return 0;
}

int lbf_sess_plan_value(const struct lbf_sess_conf *c,
                        const struct lbf_cookie_plan *p, const char *id,
                        uint32_t now, char *out, size_t outlen)
{
    struct lbf_session s;

    if (outlen < LBF_NAME_SIZE + 64 || c->nkeys <= 0) {
        return -1;
    }
    out[0] = '\0';
    switch (p->kind) {
    case LBF_PLAN_SESSION:
        if (id == NULL || strlen(id) != LBF_SESS_ID_HEX) {
            return -1;
        }
        s.mode = p->mode;
        memcpy(s.id, id, sizeof(s.id));
        s.expiry = now + lbf_sess_lifetime(c->ttl, p->max_age);
        lbf_sess_encode(&c->keys[0], c->farm, &s, out, outlen);
        break;
    case LBF_PLAN_MOVE:
        lbf_move_encode(&c->keys[0], c->farm, p->to,
                        now + lbf_sess_lifetime(c->ttl, p->max_age), out,
                        outlen);
        break;
    case LBF_PLAN_CLEAR:
        return 0;
    default:
        return -1;
    }
    return out[0] ? 0 : -1;
}

/* The farm the move cookie of hop leads to, or NULL; counts a forged one
 * in *forged. */
static const void *lbf_move_next(const struct lbf_move_hop *hop,
                                 uint32_t now, lbf_farm_find_f *find,
                                 void *ctx, int *forged)
{
    char to[LBF_NAME_SIZE];
    const char *v = hop->cookie;
    int rc;

    if (v == NULL || hop->nkeys <= 0) {
        return NULL;
    }
    rc = lbf_move_parse(hop->keys, hop->nkeys, hop->farm, v, hop->len, now,
                        to);
    if (rc == LBF_SESS_FORGED) {
        (*forged)++;
    }
    /* the expiry: 8 hex digits before the mac (checked by the parse) */
    if (rc != LBF_SESS_OK
        || strtoul(v + hop->len - 41, NULL, 16)
               > (unsigned long)now + hop->ttl + LBF_SESS_SKEW) {
        return NULL;
    }
    return find(ctx, to);
}

const void *lbf_move_follow(const void *start, uint32_t now,
                            uint32_t max_hops, lbf_farm_find_f *find,
                            lbf_farm_hop_f *hop, void *ctx, int *forged)
{
    const void *seen[LBF_MOVE_HOPS_MAX];
    const void *fc = start, *next;
    uint32_t hops, i;
    int dummy = 0;

    forged = forged ? forged : &dummy;
    *forged = 0;
    max_hops = max_hops < LBF_MOVE_HOPS_MAX ? max_hops : LBF_MOVE_HOPS_MAX;
    for (hops = 0; hops < max_hops; hops++) {
        struct lbf_move_hop h;

        memset(&h, 0, sizeof(h));
        hop(ctx, fc, &h);
        next = lbf_move_next(&h, now, find, ctx, forged);
        if (next == NULL || next == fc) {
            break;
        }
        seen[hops] = fc;
        fc = next;
        for (i = 0; i <= hops; i++) {
            if (seen[i] == fc) {
                return fc;
            }
        }
    }
    return fc;
}
