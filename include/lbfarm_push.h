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
 *
 * Order of the checks (the glue's, mod_lbfarm_push.c), so that a forged
 * push costs the same whatever the farm's size: parse (no crypto); find
 * the member by name (lbf_name_index: O(1), no scan); take a token of
 * the member's bucket (lbf_push_admit) before any crypto; verify the
 * signature under that member's keys only (at most LBF_PUSH_KEYS_MAX
 * HMACs); then window, sequence and the write (lbf_push_apply).  Before
 * the signature verifies, every refusal reads the same and names nothing
 * (an unknown farm or member is answered as a bad signature).
 *
 * Smoothing.  The derived load is an exponentially weighted moving
 * average over reports: load = old + w * (report - old), w = the policy's
 * smooth_milli / 1000 (1000 or 0: none).  The first report of a run (after
 * a gap longer than the farm's expiry) is taken as it is.  One outlier
 * among steady reports moves the load by at most w of its distance.
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
    LBF_PUSH_ESIG = 2,        /* 401: bad signature, or no such farm or
                                 member (answered alike) */
    LBF_PUSH_EREPLAY = 4,     /* 409: seq not above the last accepted */
    LBF_PUSH_ESTALE = 5,      /* 409: ts outside the window */
    LBF_PUSH_ERATE = 6        /* 429: this member pushes too often */
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
 * nkeys keys (constant-time comparison), else 0.  Always computes all
 * nkeys HMACs (no early exit), each counted in lbf_push_hmacs(). */
int lbf_push_verify(const char *q, const struct lbf_push_msg *msg,
                    const uint8_t (*keys)[LBF_KEY_LEN], int nkeys);

/* HMACs lbf_push_verify computed in the calling thread so far: what a
 * push cost in signature checks is the difference around it. */
uint64_t lbf_push_hmacs(void);

/*
 * Member-name index of one farm: open addressing over a power-of-two
 * table at most half full, names compared case-insensitively, so finding
 * a member by the name a push (or a route cookie) gives costs O(1)
 * whatever the farm's size.  The caller owns the slots and serializes
 * adds; finds are lock-free and may run during an add (a slot is
 * published with a release store after its name is written, and never
 * changes once set).
 */
struct lbf_name_slot {
    char name[LBF_NAME_SIZE];         /* lower-cased */
    _Atomic int32_t mi;               /* member index; -1: empty */
};

struct lbf_name_index {
    struct lbf_name_slot *slot;
    uint32_t mask;                    /* slots - 1 */
    uint32_t n;                       /* names held (writers only) */
};

/* Slots an index of capacity names needs: a power of two >= 2 *
 * capacity, at least 8. */
uint32_t lbf_name_index_slots(uint32_t capacity);

/* Empty index over nslots (a power of two) slots. */
void lbf_name_index_init(struct lbf_name_index *x,
                         struct lbf_name_slot *slots, uint32_t nslots);

/* Add name -> mi.  Returns LBF_OK, LBF_EEXIST (the name is there; its
 * index is kept), LBF_ENOSPACE (half full) or LBF_EINVAL (not a valid
 * name, mi > INT32_MAX).  The caller serializes adds. */
int lbf_name_index_add(struct lbf_name_index *x, const char *name,
                       uint32_t mi);

/* The index of name[0..len) (any case), or -1.  Lock-free. */
int lbf_name_index_find(const struct lbf_name_index *x, const char *name,
                        size_t len);

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
    uint32_t smooth_milli;    /* weight of a new report, 1..1000
                                 thousandths; 0 or 1000: no smoothing */
};

/* Take one token of member row r's bucket at now_usec: LBF_PUSH_OK, or
 * LBF_PUSH_ERATE when the member is over pol's rate.  Called before the
 * signature is checked, so a flood of forged pushes costs at most the
 * rate in HMACs.  Takes and releases the row lock. */
int lbf_push_admit(struct lbf_shm *h, struct lbf_row *r, uint32_t self,
                   uint64_t now_usec, const struct lbf_push_policy *pol);

/* The load to publish when report arrives on top of the published old,
 * with weight smooth_milli (see Smoothing above); fresh: 1 when this is
 * the first report of a run (taken as is).  Pure. */
uint32_t lbf_load_smooth(uint32_t old, uint32_t report, uint32_t smooth_milli,
                         int fresh);

/* Apply a verified, admitted msg to row r at now_usec with the farm's
 * load formula: checks the ts window (ESTALE) and seq (EREPLAY), then
 * writes the metrics group and the smoothed load atomically (row lock +
 * seqlock).  Spends no token (lbf_push_admit did).  Returns an
 * lbf_push_rc.  Takes and releases the row lock. */
int lbf_push_apply(struct lbf_shm *h, struct lbf_row *r, uint32_t self,
                   const struct lbf_push_msg *msg, uint64_t now_usec,
                   const struct lbf_push_policy *pol,
                   const struct lbf_load_term *t, uint32_t nt);

/* Apply a heartbeat load (already in thousandths) to r: rate-limited
 * (takes its token itself), smoothed, no seq/ts (mod_heartbeat sends
 * neither).  Returns an lbf_push_rc.  Takes and releases the row lock. */
int lbf_push_apply_load(struct lbf_shm *h, struct lbf_row *r, uint32_t self,
                        uint32_t load_milli, uint64_t now_usec,
                        const struct lbf_push_policy *pol);

#endif /* LBFARM_PUSH_H */
