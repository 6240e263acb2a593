/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_admin.c -- session nonce, same-origin rule, form parser and the
 * member host rule of the status page's administration; see
 * lbfarm_admin.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lbfarm_admin.h"
#include "lbfarm_conf.h"
#include "lbfarm_shm.h"

/* ------------------------------------------------------------------ */
/* Session and nonce                                                   */

int lbf_status_sid_valid(const char *sid)
{
    size_t i;

    for (i = 0; i < LBF_SID_HEX; i++) {
        if (!((sid[i] >= '0' && sid[i] <= '9')
              || (sid[i] >= 'a' && sid[i] <= 'f'))) {
            return 0;
        }
    }
    return sid[LBF_SID_HEX] == '\0';
}

int lbf_status_nonce(const uint8_t key[LBF_ADMIN_KEY], const char *sid,
                     char out[LBF_NONCE_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char msg[64 + LBF_SID_HEX], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    size_t len = strlen(sid);

    if (len > LBF_SID_HEX) {
        return -1;
    }
    memcpy(msg, "lbfarm-status-nonce:", 20);
    memcpy(msg + 20, sid, len);
    if (HMAC(EVP_sha256(), key, LBF_ADMIN_KEY, msg, 20 + len, md, &mdlen)
        == NULL || mdlen * 2 != LBF_NONCE_HEX) {
        return -1;
    }
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[LBF_NONCE_HEX] = '\0';
    return 0;
}

int lbf_status_nonce_ok(const uint8_t key[LBF_ADMIN_KEY], const char *sid,
                        const char *nonce)
{
    char want[LBF_NONCE_HEX + 1];

    if (sid == NULL || nonce == NULL || !lbf_status_sid_valid(sid)
        || strlen(nonce) != LBF_NONCE_HEX
        || lbf_status_nonce(key, sid, want) != 0) {
        return 0;
    }
    return CRYPTO_memcmp(want, nonce, LBF_NONCE_HEX) == 0;
}

/* ------------------------------------------------------------------ */
/* Same origin                                                         */

/* The host of an origin at s[0..len): a [bracketed] IPv6 literal or a
 * name (with wild: also * and ?), lowercased into out.  Returns 0 or -1. */
static int lbf_origin_host(const char *s, size_t len, int wild, char *out)
{
    static const char name[] = "abcdefghijklmnopqrstuvwxyz0123456789.-_";
    int v6 = len > 0 && s[0] == '[';
    size_t i;

    if (len == 0 || len >= LBF_ORIGIN_HOST
        || (v6 && (len < 3 || s[len - 1] != ']'))) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        char c = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        int bracket = v6 && (i == 0 || i == len - 1);

        if (!bracket
            && (c == '\0'
                || (v6 ? strchr("0123456789abcdef:.", c) == NULL
                       : strchr(name, c) == NULL
                             && !(wild && (c == '*' || c == '?'))))) {
            return -1;
        }
        out[i] = c;
    }
    out[len] = '\0';
    return 0;
}

/* The port at s[0..len): 1..65535, digits, no leading zero; 0 when bad. */
static uint32_t lbf_origin_port(const char *s, size_t len)
{
    uint32_t v = 0;
    size_t i;

    if (len == 0 || len > 5 || s[0] == '0') {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    return v <= 65535 ? v : 0;
}

int lbf_origin_parse(const char *s, size_t len, int wild,
                     struct lbf_origin *o)
{
    size_t sl, hl;
    const char *auth, *colon;

    if (len > 8 && strncasecmp(s, "https://", 8) == 0) {
        sl = 5;
    }
    else if (len > 7 && strncasecmp(s, "http://", 7) == 0) {
        sl = 4;
    }
    else {
        return -1;
    }
    memcpy(o->scheme, sl == 5 ? "https" : "http", sl + 1);
    auth = s + sl + 3;
    len -= sl + 3;
    /* the port's colon: after a bracketed literal, or the last one */
    colon = auth[0] == '[' ? memchr(auth, ']', len) : NULL;
    if (auth[0] == '[') {
        colon = colon && (size_t)(colon - auth) + 1 < len ? colon + 1 : NULL;
    }
    else {
        colon = memchr(auth, ':', len);
    }
    hl = colon ? (size_t)(colon - auth) : len;
    if (colon != NULL && *colon != ':') {
        return -1;
    }
    if (lbf_origin_host(auth, hl, wild, o->host) != 0) {
        return -1;
    }
    o->port = colon ? lbf_origin_port(colon + 1, len - hl - 1)
                    : sl == 5 ? 443 : 80;
    return o->port == 0 ? -1 : 0;
}

/* 1 when s matches the glob p (* any run, ? any one byte). */
static int lbf_glob(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;

    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        }
        else if (*p == '?' || *p == *s) {
            p++;
            s++;
        }
        else if (star != NULL) {
            p = star + 1;
            s = ++resume;
        }
        else {
            return 0;
        }
    }
    while (*p == '*') {
        p++;
    }
    return *p == '\0';
}

int lbf_origin_allowed(const struct lbf_origin *allowed, size_t n,
                       const char *origin, const char *referer)
{
    struct lbf_origin o;
    size_t i, len;

    if (origin != NULL) {
        len = strlen(origin);
    }
    else if (referer != NULL && strstr(referer, "://") != NULL) {
        origin = referer;
        len = (size_t)(strstr(referer, "://") - referer) + 3;
        len += strcspn(referer + len, "/?#");
    }
    else {
        return 0;
    }
    if (lbf_origin_parse(origin, len, 0, &o) != 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(allowed[i].scheme, o.scheme) == 0
            && allowed[i].port == o.port && lbf_glob(allowed[i].host, o.host)) {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The form                                                            */

/* Decode application/x-www-form-urlencoded s in place ('+' is a space,
 * %XX a byte).  Returns 0, or -1 on a bad escape or a NUL byte. */
static int lbf_form_decode(char *s)
{
    char *w = s;

    for (; *s; s++) {
        if (*s == '+') {
            *w++ = ' ';
        }
        else if (*s == '%') {
            unsigned v = 0, k;

            for (k = 1; k <= 2; k++) {
                char c = s[k];

                v = v * 16 + (unsigned)(c >= '0' && c <= '9' ? c - '0'
                            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 256);
                if (v >= 256) {
                    return -1;
                }
            }
            if (v == 0) {
                return -1;
            }
            *w++ = (char)v;
            s += 2;
        }
        else {
            *w++ = *s;
        }
    }
    *w = '\0';
    return 0;
}

/* The form fields, in the order of lbf_form_names. */
enum { LBF_F_ACTION, LBF_F_NONCE, LBF_F_FARM, LBF_F_MEMBER, LBF_F_STATE,
       LBF_F_WEIGHT, LBF_F_URL, LBF_F_COUNT };
static const char *const lbf_form_names[LBF_F_COUNT] = {
    "action", "nonce", "farm", "member", "state", "weight", "url"
};

/* Split body into the known fields v[] (decoded in place).  Returns 0, or
 * -1 with err set. */
static int lbf_form_split(char *body, const char *v[LBF_F_COUNT], char *err,
                          size_t errlen)
{
    char *pair, *next;
    int k;

    for (pair = body; pair != NULL; pair = next) {
        char *val;

        if ((next = strchr(pair, '&')) != NULL) {
            *next++ = '\0';
        }
        if (*pair == '\0') {
            continue;
        }
        val = strchr(pair, '=');
        if (val != NULL) {
            *val++ = '\0';
        }
        if (lbf_form_decode(pair) != 0 || (val && lbf_form_decode(val))) {
            snprintf(err, errlen, "body: bad percent-encoding");
            return -1;
        }
        for (k = 0; k < LBF_F_COUNT && strcmp(pair, lbf_form_names[k]); k++) {
        }
        if (k == LBF_F_COUNT) {
            snprintf(err, errlen, "body: unknown field (expected action, "
                     "nonce, farm, member, state, weight, url)");
            return -1;
        }
        if (v[k] != NULL) {
            snprintf(err, errlen, "%s: repeated", lbf_form_names[k]);
            return -1;
        }
        v[k] = val ? val : pair + strlen(pair); /* "", in the body */
    }
    return 0;
}

/* Check field k of v as a farm or member name; -1 with err when bad. */
static int lbf_form_name(const char *v[LBF_F_COUNT], int k, char *err,
                         size_t errlen)
{
    if (v[k] == NULL || *v[k] == '\0') {
        snprintf(err, errlen, "%s: missing", lbf_form_names[k]);
        return -1;
    }
    if (!lbf_name_valid(v[k])) {
        snprintf(err, errlen, "%s: invalid name (1..31 of A-Z a-z 0-9 _ -, "
                 "starting with a letter or digit)", lbf_form_names[k]);
        return -1;
    }
    return 0;
}

/* Check the value of the state field for action a into q->state. */
static int lbf_form_state(const char *v[LBF_F_COUNT],
                          struct lbf_admin_req *q, char *err, size_t errlen)
{
    const char *s = v[LBF_F_STATE];
    int farm = q->action == LBF_ACT_FARM_STATE;

    if (s == NULL || *s == '\0') {
        snprintf(err, errlen, "state: missing");
        return -1;
    }
    if (!strcmp(s, farm ? "online" : "up")) {
        q->state = LBF_ADMIN_ENABLED;
    }
    else if (!strcmp(s, "offline")) {
        q->state = LBF_ADMIN_OFFLINE;
    }
    else if (!farm && !strcmp(s, "drain")) {
        q->state = LBF_ADMIN_DRAIN;
    }
    else {
        snprintf(err, errlen, "state: expected %s", farm ? "online or offline"
                                                   : "up, offline or drain");
        return -1;
    }
    return 0;
}

/* Check the weight field (required or defaulting to 1) into q->weight. */
static int lbf_form_weight(const char *v[LBF_F_COUNT], int required,
                           struct lbf_admin_req *q, char *err, size_t errlen)
{
    const char *w = v[LBF_F_WEIGHT];

    if ((w == NULL || *w == '\0') && !required) {
        q->weight = 1;
        return 0;
    }
    if (w == NULL || *w == '\0') {
        snprintf(err, errlen, "weight: missing");
        return -1;
    }
    if (lbf_parse_uint(w, 1, LBF_WEIGHT_MAX, &q->weight) != 0) {
        snprintf(err, errlen, "weight: expected 1..%d", LBF_WEIGHT_MAX);
        return -1;
    }
    return 0;
}

/* Check the url field: printable ASCII, 1..LBF_URL_SIZE-1 bytes (its
 * syntax is the glue's lbf_member_url). */
static int lbf_form_url(const char *v[LBF_F_COUNT], struct lbf_admin_req *q,
                        char *err, size_t errlen)
{
    const char *u = v[LBF_F_URL], *c;

    if (u == NULL || *u == '\0') {
        snprintf(err, errlen, "url: missing");
        return -1;
    }
    for (c = u; *c; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
            snprintf(err, errlen, "url: only printable ASCII, no spaces");
            return -1;
        }
    }
    if (strlen(u) >= LBF_URL_SIZE) {
        snprintf(err, errlen, "url: longer than %d bytes", LBF_URL_SIZE - 1);
        return -1;
    }
    q->url = u;
    return 0;
}

/* Which action v[LBF_F_ACTION] names; -1 with err when none. */
static int lbf_form_action(const char *v[LBF_F_COUNT],
                           struct lbf_admin_req *q, char *err, size_t errlen)
{
    static const char *const names[] = {
        "member-state", "member-weight", "farm-state", "member-add",
        "member-remove"
    };
    int k;

    for (k = 0; v[LBF_F_ACTION] != NULL && k < 5; k++) {
        if (!strcmp(v[LBF_F_ACTION], names[k])) {
            q->action = (enum lbf_admin_action)(LBF_ACT_MEMBER_STATE + k);
            return 0;
        }
    }
    snprintf(err, errlen, "action: %s", v[LBF_F_ACTION] == NULL ? "missing"
             : "expected member-state, member-weight, farm-state, "
               "member-add or member-remove");
    return -1;
}

int lbf_admin_parse(char *body, size_t len, struct lbf_admin_req *q,
                    char *err, size_t errlen)
{
    const char *v[LBF_F_COUNT] = {NULL};

    memset(q, 0, sizeof(*q));
    body[len] = '\0';
    if (strlen(body) != len) {
        snprintf(err, errlen, "body: NUL byte");
        return -1;
    }
    if (lbf_form_split(body, v, err, errlen) != 0
        || lbf_form_action(v, q, err, errlen) != 0
        || lbf_form_name(v, LBF_F_FARM, err, errlen) != 0) {
        return -1;
    }
    q->nonce = v[LBF_F_NONCE];
    q->farm = v[LBF_F_FARM];
    if (q->action != LBF_ACT_FARM_STATE) {
        if (lbf_form_name(v, LBF_F_MEMBER, err, errlen) != 0) {
            return -1;
        }
        q->member = v[LBF_F_MEMBER];
    }
    switch (q->action) {
    case LBF_ACT_MEMBER_STATE:
    case LBF_ACT_FARM_STATE:
        return lbf_form_state(v, q, err, errlen);
    case LBF_ACT_MEMBER_WEIGHT:
        return lbf_form_weight(v, 1, q, err, errlen);
    case LBF_ACT_MEMBER_ADD:
        return lbf_form_url(v, q, err, errlen) != 0
               || lbf_form_weight(v, 0, q, err, errlen) != 0 ? -1 : 0;
    case LBF_ACT_MEMBER_REMOVE:
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Member hosts                                                        */

/* 1 when s is a DNS name: labels of 1..63 of [A-Za-z0-9_-], not
 * beginning or ending with '-', 253 bytes at most. */
static int lbf_dns_name(const char *s)
{
    size_t len = strlen(s), label = 0, i;

    if (len == 0 || len > 253) {
        return 0;
    }
    for (i = 0; i <= len; i++) {
        char c = s[i];

        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-') {
                return 0;
            }
            label = 0;
        }
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                 || (c >= '0' && c <= '9') || c == '_'
                 || (c == '-' && label > 0)) {
            label++;
        }
        else {
            return 0;
        }
    }
    return 1;
}

int lbf_host_valid(const char *host)
{
    unsigned char addr[16];

    if (strchr(host, ':') != NULL) {
        return inet_pton(AF_INET6, host, addr) == 1;
    }
    if (host[strspn(host, "0123456789.")] == '\0') {
        return inet_pton(AF_INET, host, addr) == 1;
    }
    return lbf_dns_name(host);
}
