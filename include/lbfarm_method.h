/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_method.h -- load-balancing methods of mod_lbfarm (pure C core).
 *
 * Every method is one `struct lbf_method` behind the same pick contract;
 * one generic set of mod_proxy adapters (mod_lbfarm_proxy.c) serves them
 * all, in the farm front door and as PROXY_LBMETHOD providers.
 */
#ifndef LBFARM_METHOD_H
#define LBFARM_METHOD_H

#include <stdint.h>

#include "lbfarm_eject.h"
#include "lbfarm_rng.h"
#include "lbfarm_shm.h"

#define LBF_METHOD_MAGIC    0x6c62666du /* "mfbl" */
#define LBF_LL_SCAN_MAX     8   /* load methods compare every member up to
                                   this many; above, two random ones */
#define LBF_P2C_DRAWS       8   /* random draws before falling back to scan */

/*
 * Extra eligibility supplied by the glue for member index mi (within the
 * farm): returns -1 when the member must not be picked, else an extra tier
 * (>= 0) added to the row's own tier.  In balancer:// mode it reads
 * mod_proxy's worker status (disabled, stopped, in error, hot standby,
 * lbset); in farm mode the glue passes NULL and the row alone decides.
 */
typedef int lbf_usable_f(void *uctx, uint32_t mi);

/* LBFarmStall of a farm (struct lbf_tune.stall). */
enum lbf_stall_mode {
    LBF_STALL_DEFAULT = 0,    /* the method's default (on for least-time) */
    LBF_STALL_ON = 1,
    LBF_STALL_OFF = 2
};

#define LBF_LT_DECAY_MS     2000 /* default EWMA time constant */
#define LBF_STALL_K         4    /* default: stalled after 4 x its p99 */
#define LBF_STALL_FLOOR_MS  100  /* ... and never before 100 ms */
#define LBF_STALL_K_MAX     100
#define LBF_STALL_FLOOR_MAX 3600000u /* ms (fits the row's 24 bits) */

/* Per-farm tuning of the latency, stall and ejection rules, from the
 * glue's directives (LBFarmLatencyDecay, LBFarmStall, LBFarmEject,
 * LBFarmPanic).  All zero = defaults. */
struct lbf_tune {
    uint32_t decay_ms;        /* 0 = LBF_LT_DECAY_MS */
    uint32_t stall;           /* enum lbf_stall_mode */
    uint32_t stall_k;         /* 0 = LBF_STALL_K */
    uint32_t stall_floor_ms;  /* 0 = LBF_STALL_FLOOR_MS */
    struct lbf_eject_conf eject; /* lbfarm_eject.h; NULL tune = none */
};

/* Everything a pick needs.  Filled by the caller; read-only for methods. */
struct lbf_pick {
    const struct lbf_shm *h;
    struct lbf_farm *farm;
    uint64_t now;             /* usec since the epoch */
    uint64_t *rng;            /* lbf_rng state of the calling thread */
    lbf_usable_f *usable;     /* may be NULL */
    void *uctx;
    uint32_t exclude;         /* member index tried and failed, or
                                 LBF_NO_MEMBER */
    int peek;                 /* 1: lbf_pick_peek -- read the shared
                                 cursor, never advance it */
    const char *key;          /* request hash key (LBFarmHashKey, the
                                 env LBFARM_HASH_KEY in balancer:// mode,
                                 query mode's key=), or NULL; read by
                                 methods with uses_key only */
    uint32_t key_len;
    uint32_t hash_c_milli;    /* hash's load bound c x 1000 (LBFarmHashKey
                                 balance=); 0 = LBF_HASH_C_MILLI */
    const struct lbf_tune *tune; /* the farm's tuning; NULL = defaults */
};

#define LBF_NO_MEMBER UINT32_MAX

/* lbf_farm.method of a balancer:// whose lbmethod is not one of ours. */
#define LBF_METHOD_FOREIGN UINT32_MAX

struct lbf_method;

/* Returns the chosen member index within the farm, or -1 when no member is
 * eligible.  Called with no lock held; takes none (lock-free). */
typedef int lbf_pick_f(const struct lbf_method *m, const struct lbf_pick *pk);

/* Capacity of row r as load-based methods see it: its weight times a
 * headroom in thousandths (1000 = all of it).  Lock-free. */
typedef uint64_t lbf_capacity_f(const struct lbf_pick *pk,
                                const struct lbf_row *r);

struct lbf_method {
    unsigned magic;           /* LBF_METHOD_MAGIC */
    const char *name;         /* provider name, <= 14 chars */
    const char *title;        /* one line for docs and status pages */
    lbf_pick_f *pick;
    lbf_capacity_f *capacity; /* load-based methods only, else NULL */
    uint32_t band;            /* near-equal band of load-based methods, in
                                 1/1024: scores within (1 + band/1024) of
                                 the best are chosen between at random */
    unsigned stall_default;   /* 1: stall detection on unless LBFarmStall
                                 off */
    unsigned uses_key;        /* 1: the pick reads pk->key (hash) */
};

#define LBF_HEADROOM_MIN 250  /* a fully loaded member keeps 25 % */
#define LBF_PM_BAND      64   /* pushed-metric: scores within 1/16 of the
                                 best are near-equal */
#define LBF_LT_BAND      256  /* least-time: latencies within 1/4 */

/* Headroom in thousandths that pushed load gives row r at pk->now: 1000
 * when there is no fresh, trusted report (older than the farm's expiry,
 * or the run of reports younger than its blackout), else 1000 - load,
 * at least LBF_HEADROOM_MIN. */
uint32_t lbf_headroom(const struct lbf_pick *pk, const struct lbf_row *r);

/* NULL-terminated; the index of a method is stored in lbf_farm.method. */
extern const struct lbf_method *const lbf_methods[];

/* Index of the method called name, or -1. */
int lbf_method_find(const char *name);

/* Name of method index mi, "foreign" for LBF_METHOD_FOREIGN, or "?" when
 * out of range. */
const char *lbf_method_name(uint32_t mi);

/* "weighted, least-load, pushed-metric, least-time, hash" -- for error
 * messages. */
const char *lbf_method_list(void);

/* 1 when method index mi reads a request key (pk->key), else 0 (also for
 * LBF_METHOD_FOREIGN and out of range).  Pure. */
int lbf_method_uses_key(uint32_t mi);

/* Pick with method mi and take the member (lbf_member_take); when no
 * member is eligible, a recovery probe (lbf_eject_probe) if one is due.
 * Returns the member index or -1. */
int lbf_pick_take(uint32_t mi, const struct lbf_pick *pk);

/* The member method mi would pick next, without taking it and without
 * moving the farm's shared state: no counter changes and weighted's
 * cursor stays where it is, so the next lbf_pick_take in the same state
 * returns the same member (random tie-breaks and slow-start draws
 * aside).  Returns the member index or -1.  Lock-free. */
int lbf_pick_peek(uint32_t mi, const struct lbf_pick *pk);

/* Take member mi of pk->farm for a request of a farm using method index
 * method (a pick, or a sticky client): copies the farm's latency and stall
 * tuning into the row when it differs, then lbf_row_begin.  Lock-free.
 * Returns mi, or -1 when mi is no member. */
int lbf_member_take(uint32_t method, const struct lbf_pick *pk,
                    uint32_t mi);

#define LBF_RAMP_MIN 100       /* a member starting its slow start gets
                                  10 % of its share */

/* Slow-start factor of row r at pk->now in thousandths: 1000 when the
 * farm has no slow start or r came back longer ago than it, else growing
 * linearly from LBF_RAMP_MIN since r->up_since. */
uint32_t lbf_ramp(const struct lbf_pick *pk, const struct lbf_row *r);

/* 1 when a member ramping up (slow start) lets this pick through: with
 * probability lbf_ramp / 1000 (always when not ramping). */
int lbf_ramp_pass(const struct lbf_pick *pk, const struct lbf_row *r);

/* Lowest effective tier among eligible members, or -1 when none is. */
int lbf_best_tier(const struct lbf_pick *pk);

/* Effective tier of member mi if eligible at pk->now, else -1.  A
 * stalled member (lbf_row_stalled) is not eligible while another usable
 * member of the farm is not stalled.  In panic (lbf_eject_panic) members
 * ejected for bad answers are eligible again. */
int lbf_member_tier(const struct lbf_pick *pk, uint32_t mi);

/*
 * ---- request timing: the latency estimate and stall detection ----
 * (lbfarm_leasttime.c and lbfarm_shm.c; fields in struct lbf_row.)
 *
 * Latency estimate (least-time's "expected latency"), per member:
 *  - every completed request is a sample (lbf_row_record_latency calls
 *    lbf_lt_sample);
 *  - the estimate moves toward each sample by a = 1 - exp(-dt / tau), dt
 *    the time since its previous update and tau the farm's
 *    LBFarmLatencyDecay: an EWMA over time, whose speed does not depend on
 *    the request rate;
 *  - a faster sample counts with tau / 4, a slower one with tau and as at
 *    most 4 x the estimate.  Both are weights over time, so the estimate
 *    does not depend on how often a member is sampled.  Noise is
 *    one-sided (hiccups make answers slower, nothing makes them faster),
 *    so this tracks what the member typically does instead of its worst
 *    moments; a member that is really slower says so on every answer;
 *  - the first LBF_LT_YOUNG samples keep the smallest one (a member's
 *    first request pays for a new connection);
 *  - when read, an estimate that has not been updated for a while decays
 *    toward the best estimate among the candidates with the same tau, and
 *    a member with fewer than 4 samples counts as that best: a member that
 *    got no traffic because it looked slow is tried again, nobody is
 *    frozen out.
 *
 * Stall: member r is stalled at now when stall detection is on for it,
 * it has requests in flight, and nothing of it completed (nor passed a
 * health check) for longer than max(k x p99, floor) since it last
 * completed or since its in-flight count last rose from 0 -- whichever is
 * later.  k and floor from LBFarmStall; p99 from r's latency histogram.
 */
#define LBF_STATE_STALLED "stalled"  /* the status pages' state name */
#define LBF_LT_YOUNG 8

/* Feed one completed request of usec microseconds, ended at now_usec, into
 * r's latency estimate.  Lock-free (CAS; under heavy contention a sample
 * may be dropped after 8 tries, never half applied). */
void lbf_lt_sample(struct lbf_row *r, uint64_t usec, uint64_t now_usec);

/* r's latency estimate in microseconds as last updated (0 = none yet), and
 * when (usec, approximate to 4 ms) in *when if not NULL.  Lock-free. */
uint64_t lbf_row_lt_usec(const struct lbf_row *r, uint64_t now_usec,
                         uint64_t *when);

/* 1 when r is stalled at now_usec (see above), else 0.  Lock-free; cheap
 * unless r has had requests in flight for longer than the floor. */
int lbf_row_stalled(const struct lbf_row *r, uint64_t now_usec);

/* One request of usec microseconds ended at now_usec on r: it counts in
 * r's latency histogram (lbf_row_record_latency), least-time's estimate
 * (lbf_lt_sample) and as progress (lbf_row_progress: not stalled).  The
 * request path calls this once per completed request.  Lock-free. */
void lbf_row_done(struct lbf_row *r, uint64_t usec, uint64_t now_usec);

/* Copy tuning t (NULL = defaults) of a farm using method m into row r,
 * storing only what differs.  Lock-free; idempotent. */
void lbf_row_tune(struct lbf_row *r, const struct lbf_method *m,
                  const struct lbf_tune *t);

/* least-time's pick (lbfarm_leasttime.c), for the method table. */
int lbf_pick_least_time(const struct lbf_method *m,
                        const struct lbf_pick *pk);

/* One candidate of a pick: member index and its row. */
struct lbf_cand {
    uint32_t mi;
    struct lbf_row *r;
};

/*
 * Candidates of load-based methods: members of the best eligible tier,
 * all of them up to LBF_LL_SCAN_MAX members, else two distinct random ones
 * (power of two choices; a bounded scan from a random start when random
 * draws keep failing).  Fills c[0..) and returns how many (0 = none).
 */
uint32_t lbf_candidates(const struct lbf_pick *pk,
                        struct lbf_cand c[LBF_LL_SCAN_MAX]);

#endif /* LBFARM_METHOD_H */
