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

const char *lbf_cookie_find(const char *hdr, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = hdr;

    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';') {
            p++;
        }
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;

            *len = strcspn(v, ";");
            while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t')) {
                (*len)--;
            }
            return v;
        }
        p = strchr(p, ';');
    }
    return NULL;
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
