/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_snapshot.h -- the farm table as seen at one instant (pure C core).
 *
 * Collect, render, emit: lbf_snap_collect() copies every live member of
 * every farm, one row at a time, with atomic loads and a seqlock read of
 * the pushed metrics -- no lock is taken, none is held while the answer
 * is written.  The renderers (lbfarm_render.h, lbfarm_status_html.h) are
 * pure functions of the struct lbf_status it fills.
 */
#ifndef LBFARM_SNAPSHOT_H
#define LBFARM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "lbfarm_shm.h"

/* One member as seen at one instant. */
struct lbf_snap {
    char farm[LBF_NAME_SIZE];
    char name[LBF_NAME_SIZE];
    const char *method;       /* static string of the core */
    const char *state;        /* "ok", "error", "down", "draining",
                                 "offline", "ejected", "stalled" */
    uint32_t admin;           /* enum lbf_admin */
    uint32_t weight;          /* effective */
    uint32_t cfg_weight;
    uint32_t tier;            /* 0 regular, > 0 standby tier */
    int32_t inflight;
    uint64_t requests;
    uint64_t errors;
    uint64_t error_left_ms;   /* time left in error, 0 when usable */
    uint32_t load_milli;      /* last pushed load, thousandths */
    int64_t load_age_ms;      /* its age; -1 when never pushed */
    uint32_t headroom_milli;  /* what pushed-metric uses now (1000 =
                                 neutral: none, stale or in blackout) */
    uint32_t ramp_milli;      /* slow-start share now (1000 = full: not
                                 ramping; lbf_ramp) */
    int hc_checked;           /* 1 when a health check has run */
    uint32_t hc_status;       /* its HTTP status, 0 = no answer */
    uint32_t hc_ms;           /* its duration */
    uint64_t lat_count;       /* requests in the latency window */
    uint64_t lat_us[3];       /* p50, p95, p99 (bucket upper bounds) */
    uint32_t runtime;         /* 1: added by an operator at runtime */
    char url[LBF_URL_SIZE];   /* member URL ("" when unknown) */
    uint32_t n_metrics;       /* last pushed metrics */
    struct lbf_metric metrics[LBF_METRICS_MAX];
    uint64_t eject_left_ms;   /* time left of an ejection, 0 when none */
    uint32_t eject_n;         /* its n (base x n), 0 when not ejected */
};

/* One farm as seen at one instant; its members are snapshots
 * [first, first + n) of the status' member array. */
struct lbf_farm_snap {
    char name[LBF_NAME_SIZE];
    const char *method;       /* static string of the core */
    uint32_t offline;         /* farm admin state is offline */
    uint32_t adminable;       /* 1: an <LBFarm> the page may administer
                                 (0: a balancer://, read only) */
    size_t first, n;
};

/* Everything one page shows. */
struct lbf_status {
    uint64_t generation;
    uint64_t now_usec;
    uint32_t recoveries;      /* locks stolen from dead owners */
    uint32_t repairs;         /* torn groups repaired */
    struct lbf_farm_snap *farms;
    size_t n_farms;
    struct lbf_snap *members;
    size_t n_members;
};

/* Copy member mi of farm f at now_usec into *s (url left empty when the
 * row holds none).  Lock-free.  Returns 1, or 0 when mi is no row or a
 * removed one (*s zeroed). */
int lbf_snap_member(const struct lbf_shm *h, const struct lbf_farm *f,
                    uint32_t mi, uint64_t now_usec, struct lbf_snap *s);

/* Copy farm f's name, method and admin state into *fs (first, n and
 * adminable are the caller's).  Lock-free. */
void lbf_snap_farm(const struct lbf_farm *f, struct lbf_farm_snap *fs);

/* What the segment does not hold and the caller knows.  Either hook may
 * be NULL (then: read only, URL unknown). */
struct lbf_snap_src {
    /* 1 when farm fi is an <LBFarm> the page may administer, 0 for a
     * balancer:// */
    int (*adminable)(void *ctx, uint32_t fi);
    /* the URL of member mi of farm fi into url (LBF_URL_SIZE bytes);
     * called only for rows that hold none (configured members) */
    void (*url)(void *ctx, uint32_t fi, uint32_t mi, char *url);
    void *ctx;
};

/* The array sizes lbf_snap_collect needs: farms and member snapshots. */
void lbf_snap_sizes(const struct lbf_shm *h, size_t *n_farms,
                    size_t *n_members);

/* Snapshot every live member of every farm of h at now_usec into *st,
 * using the caller's arrays farms and members (lbf_snap_sizes() of them):
 * farms in segment order, each one's members in row order, removed rows
 * left out.  One row at a time, lock-free; calls src's hooks with no
 * lock held. */
void lbf_snap_collect(const struct lbf_shm *h, uint64_t now_usec,
                      const struct lbf_snap_src *src,
                      struct lbf_farm_snap *farms, struct lbf_snap *members,
                      struct lbf_status *st);

#endif /* LBFARM_SNAPSHOT_H */
