/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_query.h -- query mode (pure C core): the question "which member
 * would a request get?" and its answer, without forwarding anything.
 *
 *   GET /lbfarm-query?farm=NAME[&cookie=VALUE][&key=K][&format=text|json]
 *
 *  - farm: the farm asked about (case-insensitive, as configured);
 *  - cookie: a Cookie header value to evaluate stickiness with (session
 *    cookie, move cookie, LBFarmRouteCookie), percent-encoded;
 *  - key: a request hash key, passed to the method for a future hash
 *    method (none reads it yet) and echoed;
 *  - format: text (default) or json.
 *
 * Values are application/x-www-form-urlencoded ('+' is a space, %XX a
 * byte).  The answer names the member and why: "sticky" (the cookie's
 * member may serve), "method" (the farm's method would pick it next), or
 * "fallback" (no member: the farm's LBFarmDownURL / LBFarmOfflineURL, or
 * a 503) with the reason.
 */
#ifndef LBFARM_QUERY_H
#define LBFARM_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "lbfarm_shm.h"

#define LBF_QUERY_ARGS_MAX   8192  /* bytes of query string accepted */
#define LBF_QUERY_COOKIE_MAX 4096  /* bytes of the decoded cookie */
#define LBF_QUERY_KEY_MAX    256   /* bytes of the decoded key */
#define LBF_QUERY_OUT_MAX    4096  /* holds an answer with a fallback URL
                                      of up to 400 bytes */

struct lbf_query {
    char farm[LBF_NAME_SIZE];
    char cookie[LBF_QUERY_COOKIE_MAX + 1];
    int has_cookie;
    char key[LBF_QUERY_KEY_MAX + 1];
    uint32_t key_len;
    int has_key;
    int json;                 /* format=json */
};

/* Why the answer names its member (or none). */
enum lbf_query_why {
    LBF_WHY_STICKY = 0,       /* the cookie's member */
    LBF_WHY_METHOD = 1,       /* the method's next pick */
    LBF_WHY_FALLBACK = 2      /* no member: reason and fallback */
};

struct lbf_query_answer {
    const char *farm;         /* the farm that would serve (after moves) */
    const char *moved_from;   /* the farm asked, when a move cookie sent
                                 the request elsewhere; else NULL */
    const char *member;       /* NULL on LBF_WHY_FALLBACK */
    int why;                  /* enum lbf_query_why */
    const char *method;       /* the farm's method name */
    const char *reason;       /* LBF_WHY_FALLBACK only: a word */
    const char *fallback;     /* LBF_WHY_FALLBACK only: the farm's down
                                 or offline URL, or "503" (a plain 503
                                 with Retry-After) */
    const char *key;          /* echoed when given, else NULL */
    uint32_t key_len;
};

/* Parse a query string of len bytes (not NUL-terminated) into q.
 * Refuses a missing or invalid farm, unknown or duplicated parameters,
 * bad percent-encoding, a NUL byte (raw or %00), oversized values and a
 * format other than text or json.  Returns 0, or -1 with a message
 * naming the parameter in err (always NUL-terminated, errlen > 0). */
int lbf_query_parse(const char *args, size_t len, struct lbf_query *q,
                    char *err, size_t errlen);

/* Name of an enum lbf_query_why: "sticky", "method", "fallback". */
const char *lbf_query_why_name(int why);

/* Write a as one text line ("farm=F member=M why=W method=X ...\n", "-"
 * for an absent value, bytes outside [!-~] and '%' of key and fallback
 * as %XX) or as one JSON object (every key present, null when absent)
 * into out, snprintf-style: what fits in outlen bytes is written and
 * NUL-terminated (out may be NULL when outlen is 0).  Returns the length
 * of the whole answer, without the NUL: when it is >= outlen the answer
 * was cut, and outlen = the return + 1 holds it (LBF_QUERY_OUT_MAX holds
 * any answer whose fallback URL is under 400 bytes). */
size_t lbf_query_render(const struct lbf_query_answer *a, int json, char *out,
                        size_t outlen);

#endif /* LBFARM_QUERY_H */
