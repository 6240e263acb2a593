/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_admin.h -- what an administrative POST to the status page must
 * pass, as pure functions (pure C core; the glue, mod_lbfarm_admin.c,
 * reads the request, calls these and applies the result with the
 * lbfarm_shm.h calls):
 *
 *  - the session: a random id in a cookie (lbf_status_sid_valid) and its
 *    nonce, HMAC-SHA256 under a server key (lbf_status_nonce, _nonce_ok);
 *  - the same-origin rule: the request's Origin (or Referer) must be one
 *    of the origins the server answers for -- its ServerName and
 *    ServerAlias names or an LBFarmStatusOrigin list, never the client's
 *    own Host header (lbf_origin_parse, lbf_origin_allowed);
 *  - the form: fields, shapes and ranges (lbf_admin_parse);
 *  - the host rule of a member URL (lbf_host_valid).
 * Nothing here takes a lock or allocates.
 */
#ifndef LBFARM_ADMIN_H
#define LBFARM_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#define LBF_SID_HEX      32   /* session id: 16 random bytes in hex */
#define LBF_NONCE_HEX    64   /* HMAC-SHA256 in hex */
#define LBF_ADMIN_KEY    32   /* bytes of the server's nonce key */
#define LBF_ADMIN_BODY_MAX 4096 /* bytes of a POST body */

/* ---- session and nonce ---- */

/* 1 when sid is exactly LBF_SID_HEX lowercase hex digits, else 0. */
int lbf_status_sid_valid(const char *sid);

/* out = hex(HMAC-SHA256(key, "lbfarm-status-nonce:" + sid)), the nonce of
 * session sid.  Returns 0, or -1 on a crypto error or a sid longer than
 * LBF_SID_HEX. */
int lbf_status_nonce(const uint8_t key[LBF_ADMIN_KEY], const char *sid,
                     char out[LBF_NONCE_HEX + 1]);

/* 1 when nonce (any string, may be NULL) equals the nonce of sid (which
 * must be valid), in constant time; 0 otherwise. */
int lbf_status_nonce_ok(const uint8_t key[LBF_ADMIN_KEY], const char *sid,
                        const char *nonce);

/* ---- same origin ---- */

#define LBF_ORIGIN_HOST 256   /* bytes of a host, NUL included */

/* One origin: scheme, host and port. */
struct lbf_origin {
    char scheme[8];               /* "http" or "https" */
    char host[LBF_ORIGIN_HOST];   /* lowercase; an IPv6 literal keeps its
                                     brackets */
    uint32_t port;                /* 1..65535, the scheme's default when
                                     none was written */
};

/* Parse the first len bytes of s as "scheme://host[:port]" and nothing
 * more -- how a browser writes an Origin header, and how
 * LBFarmStatusOrigin is written: scheme http or https (any case); host
 * 1..255 bytes of A-Z a-z 0-9 . - _ (with wild, also the * and ? of a
 * ServerAlias) or an IPv6 literal in brackets (hex digits, ':' and '.');
 * port 1..65535 in decimal without a leading zero.  No userinfo, path,
 * query or fragment.  Fills *o, lowercased.  Returns 0, or -1 (*o
 * undefined). */
int lbf_origin_parse(const char *s, size_t len, int wild,
                     struct lbf_origin *o);

/* The same-origin rule of a state-changing request: 1 when the request
 * comes from one of allowed[0..n), else 0.  The Origin header decides when
 * present (origin != NULL; it must parse as lbf_origin_parse without
 * wildcards, so "null" is refused); without it, the scheme://host[:port]
 * that begins the Referer (up to its first '/', '?' or '#'); neither is a
 * refusal.  Scheme and port must be equal; an allowed host may hold * (any
 * run of bytes) and ? (any one byte), matched as httpd matches a
 * ServerAlias. */
int lbf_origin_allowed(const struct lbf_origin *allowed, size_t n,
                       const char *origin, const char *referer);

/* ---- the form ---- */

/* What an administrative POST asks. */
enum lbf_admin_action {
    LBF_ACT_MEMBER_STATE = 1, /* farm, member, state up|offline|drain */
    LBF_ACT_MEMBER_WEIGHT,    /* farm, member, weight 1..100 */
    LBF_ACT_FARM_STATE,       /* farm, state online|offline */
    LBF_ACT_MEMBER_ADD,       /* farm, member, url [weight] */
    LBF_ACT_MEMBER_REMOVE     /* farm, member */
};

/* A parsed administrative POST; strings point into the body passed to
 * lbf_admin_parse (decoded in place). */
struct lbf_admin_req {
    enum lbf_admin_action action;
    const char *nonce;
    const char *farm;
    const char *member;       /* NULL for LBF_ACT_FARM_STATE */
    const char *url;          /* LBF_ACT_MEMBER_ADD only (not normalized) */
    uint32_t state;           /* enum lbf_admin (member or farm state) */
    uint32_t weight;          /* LBF_ACT_MEMBER_WEIGHT, LBF_ACT_MEMBER_ADD */
};

/* Parse and check an application/x-www-form-urlencoded body of len bytes
 * (decoded in place; body[len] must be writable).  Fields: action, nonce,
 * farm, member, state, weight, url; a field the action does not use is
 * ignored, an unknown or repeated field is an error, and so is a value of
 * the wrong shape (names: lbf_name_valid; weight 1..100; url printable
 * ASCII, < LBF_URL_SIZE bytes; its syntax and host are the glue's
 * lbf_member_url and lbf_host_valid).  The nonce is only extracted (may
 * be NULL), never checked here.  Returns 0, or -1 with err (errlen bytes)
 * set to "<field>: <problem>". */
int lbf_admin_parse(char *body, size_t len, struct lbf_admin_req *q,
                    char *err, size_t errlen);

/* ---- member hosts ---- */

/* 1 when host -- a member URL's host as a URL parser leaves it (an IPv6
 * literal without its brackets) -- can name a server: a DNS name (labels
 * of 1..63 of A-Z a-z 0-9 _ -, not beginning or ending with '-', at most
 * 253 bytes, no empty label), a dotted-quad IPv4 address (a name of digits
 * and dots must be one) or an IPv6 address.  0 for anything else ("<b>",
 * "a b", "", "1.2.3", "-x"). */
int lbf_host_valid(const char *host);

#endif /* LBFARM_ADMIN_H */
