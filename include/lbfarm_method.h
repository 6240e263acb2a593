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

#include "lbfarm_shm.h"

#define LBF_METHOD_MAGIC    0x6c62666du /* "mfbl" */
#define LBF_LL_SCAN_MAX     8   /* least-load scans all members up to this */
#define LBF_P2C_DRAWS       8   /* random draws before falling back to scan */

/*
 * Extra eligibility supplied by the glue for member index mi (within the
 * farm): returns -1 when the member must not be picked, else an extra tier
 * (>= 0) added to the row's own tier.  In balancer:// mode it reads
 * mod_proxy's worker status (disabled, stopped, in error, hot standby,
 * lbset); in farm mode the glue passes NULL and the row alone decides.
 */
typedef int lbf_usable_f(void *uctx, uint32_t mi);

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
    const char *key;          /* request hash key (query mode's key=), or
                                 NULL; for a hash method, none reads it
                                 yet */
    uint32_t key_len;
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
};

#define LBF_HEADROOM_MIN 250  /* a fully loaded member keeps 25 % */

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

/* "weighted, least-load, pushed-metric" -- for error messages. */
const char *lbf_method_list(void);

/* Pick with method mi and take the member (inflight++, requests++).
 * Returns the member index or -1. */
int lbf_pick_take(uint32_t mi, const struct lbf_pick *pk);

/* The member method mi would pick next, without taking it and without
 * moving the farm's shared state: no counter changes and weighted's
 * cursor stays where it is, so the next lbf_pick_take in the same state
 * returns the same member (random tie-breaks and slow-start draws
 * aside).  Returns the member index or -1.  Lock-free. */
int lbf_pick_peek(uint32_t mi, const struct lbf_pick *pk);

/* xorshift64* generator: state must be nonzero; returns the next value. */
uint64_t lbf_rng_next(uint64_t *state);

#define LBF_RAMP_MIN 100       /* a member starting its slow start gets
                                  10 % of its share */

/* Slow-start factor of row r at pk->now in thousandths: 1000 when the
 * farm has no slow start or r came back longer ago than it, else growing
 * linearly from LBF_RAMP_MIN since r->up_since. */
uint32_t lbf_ramp(const struct lbf_pick *pk, const struct lbf_row *r);

/* Lowest effective tier among eligible members, or -1 when none is. */
int lbf_best_tier(const struct lbf_pick *pk);

/* Effective tier of member mi if eligible at pk->now, else -1. */
int lbf_member_tier(const struct lbf_pick *pk, uint32_t mi);

#endif /* LBFARM_METHOD_H */
