/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_status.h -- snapshot and render the farm table (pure C core).
 *
 * Collect, render, emit: lbf_snap_member() copies one row with atomic loads
 * (no lock is taken, none is held while output is written), and the
 * renderer is a pure function of the snapshot writing through an emitter
 * the glue supplies.
 */
#ifndef LBFARM_STATUS_H
#define LBFARM_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "lbfarm_shm.h"

/* One member as seen at one instant. */
struct lbf_snap {
    char farm[LBF_NAME_SIZE];
    char name[LBF_NAME_SIZE];
    const char *method;       /* static string of the core */
    const char *state;        /* "ok", "error", "down", "draining",
                                 "offline" */
    uint32_t weight;          /* effective */
    uint32_t cfg_weight;
    uint32_t tier;
    int32_t inflight;
    uint64_t requests;
    uint64_t errors;
    uint64_t error_left_ms;   /* time left in error, 0 when usable */
    uint32_t load_milli;      /* last pushed load, thousandths */
    int64_t load_age_ms;      /* its age; -1 when never pushed */
    uint32_t headroom_milli;  /* what pushed-metric uses now (1000 =
                                 neutral: none, stale or in blackout) */
};

/* Copy member mi of farm f at now_usec into *s.  Lock-free. */
void lbf_snap_member(const struct lbf_shm *h, const struct lbf_farm *f,
                     uint32_t mi, uint64_t now_usec, struct lbf_snap *s);

/* Output sink: the glue writes n bytes of s to the client. */
typedef void lbf_emit_f(void *ctx, const char *s, size_t n);

/* Render n snapshots as text, one line per member:
 *   member FARM NAME method=M state=S weight=W cfg_weight=C tier=T
 *          inflight=I requests=R errors=E error_left_ms=L load=0.LLL
 *          load_age_ms=A headroom=0.HHH
 * preceded by "# lbfarm generation=G farms=F members=N". */
void lbf_render_text(const struct lbf_snap *s, size_t n, uint64_t generation,
                     uint32_t farms, lbf_emit_f *emit, void *ctx);

#endif /* LBFARM_STATUS_H */
