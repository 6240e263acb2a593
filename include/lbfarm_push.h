/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_push.h -- pushed metrics: parse, verify, apply (pure C core).
 *
 * A member reports its load with one GET to the push location:
 *
 *   GET /lbfarm-push?farm=F&member=M&ts=T&seq=N&cpu=0.42&db_conns=17&sig=H
 *
 *  - farm, member: names as configured; ts: the member's clock, Unix
 *    seconds; seq: a number the member increases with every push (the
 *    agent uses its clock in milliseconds); then 1..LBF_METRICS_MAX metrics
 *    name=value (name [a-z0-9_]{1,15}, value a decimal >= 0, at most 3
 *    decimals, <= 1e9); optional drain=1 (the member asks to be drained:
 *    it keeps its sticky clients, takes no new ones) or drain=0; sig last.
 *  - sig = hex(HMAC-SHA256(member key, every byte of the query string
 *    before "&sig=")).  The member key is derived from the farm's secret:
 *    member key = HMAC-SHA256(farm secret, "lbfarm-member:" + member name),
 *    so a member that holds only its own key can sign only for itself.
 *  - The message of httpd's mod_heartbeat, "v=1&ready=N&busy=N" (extra
 *    fields tolerated), is parsed too (lbf_push_parse_heartbeat).
 *
 * Every error leaves the row untouched; the parser names the bad field.
 */
#ifndef LBFARM_PUSH_H
#define LBFARM_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "lbfarm_shm.h"

#define LBF_PUSH_QUERY_MAX  2048  /* bytes of query string accepted */
#define LBF_PUSH_VALUE_MAX  1000000000LL /* largest metric value */
#define LBF_KEY_LEN         32    /* HMAC-SHA256 keys and tags */
#define LBF_PUSH_KEYS_MAX   2     /* live keys: current and previous */

/* Outcomes, each mapped by the glue to one HTTP status. */
enum lbf_push_rc {
    LBF_PUSH_OK = 0,          /* 200 */
    LBF_PUSH_EBAD = 1,        /* 400: malformed; err names the field */
    LBF_PUSH_ESIG = 2,        /* 401: bad signature */
    LBF_PUSH_EOTHER = 3,      /* 403: signed with another member's key */
    LBF_PUSH_EREPLAY = 4,     /* 409: seq not above the last accepted */
    LBF_PUSH_ESTALE = 5,      /* 409: ts outside the window */
    LBF_PUSH_ERATE = 6,       /* 429: this member pushes too often */
    LBF_PUSH_ENOENT = 7       /* 404: no such farm or member */
};

struct lbf_push_msg {
    char farm[LBF_NAME_SIZE];
    char member[LBF_NAME_SIZE];
    int64_t ts;               /* seconds */
    uint64_t seq;
    uint32_t n;               /* metrics */
    struct lbf_metric m[LBF_METRICS_MAX];
    int drain;                /* drain=1 / drain=0: the member asks to
                                 be drained (or not); -1 absent */
    size_t signed_len;        /* query bytes covered by sig */
    uint8_t sig[LBF_KEY_LEN];
};

/* Parse a push query string of len bytes (not NUL-terminated).  Returns
 * LBF_PUSH_OK or LBF_PUSH_EBAD with a message naming the field in err
 * (always NUL-terminated, errlen > 0). */
int lbf_push_parse(const char *q, size_t len, struct lbf_push_msg *msg,
                   char *err, size_t errlen);

/* Parse a mod_heartbeat message "v=1&ready=N&busy=N[&k=v...]" into the
 * load in thousandths (busy / (ready + busy)) and the optional port=
 * field (0 when absent).  Returns LBF_PUSH_OK or LBF_PUSH_EBAD + err. */
int lbf_push_parse_heartbeat(const char *q, size_t len, uint32_t *load_milli,
                             uint32_t *port, char *err, size_t errlen);

/* Derive member's key from a farm secret of slen bytes. */
void lbf_push_member_key(const uint8_t *secret, size_t slen,
                         const char *member, uint8_t key[LBF_KEY_LEN]);

/* 1 when msg's sig is the HMAC of q[0..signed_len) under one of the
 * nkeys keys (constant-time comparison), else 0. */
int lbf_push_verify(const char *q, const struct lbf_push_msg *msg,
                    const uint8_t (*keys)[LBF_KEY_LEN], int nkeys);

/* One metric of the farm's load formula. */
struct lbf_load_term {
    char name[LBF_METRIC_NAME];
    int64_t capacity;         /* thousandths; the value meaning "full" */
    uint32_t weight;          /* relative weight of this term, >= 1 */
};

/* The farm's formula: load = sum(weight_i * min(v_i / capacity_i, 1)) /
 * sum(weight_i), in thousandths.  A term the push lacks counts as 0 when
 * at least one term is present; returns -1 when none is. */
int lbf_load_eval(const struct lbf_load_term *t, uint32_t nt,
                  const struct lbf_metric *m, uint32_t nm);

/* Push policy of one farm (config). */
struct lbf_push_policy {
    uint32_t window_sec;      /* |member ts - now| allowed */
    uint32_t rate_per_sec;    /* sustained pushes per member */
    uint32_t burst;           /* bucket size */
};

/* Apply a verified msg to row r at now_usec with the farm's load formula:
 * checks ts window (ESTALE), seq (EREPLAY), rate (ERATE), then writes the
 * metrics group and the derived load atomically (row lock + seqlock).
 * Returns an lbf_push_rc.  Takes and releases the row lock. */
int lbf_push_apply(struct lbf_shm *h, struct lbf_row *r, uint32_t self,
                   const struct lbf_push_msg *msg, uint64_t now_usec,
                   const struct lbf_push_policy *pol,
                   const struct lbf_load_term *t, uint32_t nt);

/* Apply a heartbeat load (already in thousandths) to r: rate-limited, no
 * seq/ts (mod_heartbeat sends neither).  Returns an lbf_push_rc. */
int lbf_push_apply_load(struct lbf_shm *h, struct lbf_row *r, uint32_t self,
                        uint32_t load_milli, uint64_t now_usec,
                        const struct lbf_push_policy *pol);

#endif /* LBFARM_PUSH_H */
