/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_carry.c -- the graceful restart: the new generation's segment
 * takes over, by farm and member name, what the old one knew (the list is
 * in lbfarm_shm.h).  The parent reads the old segment, which every old
 * child could write, only as a private copy that lbf_shm_check has passed:
 * a count, offset or string a child damaged can make the carry refuse, and
 * the farms start afresh, but never make the parent read astray.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfarm_carry.h"

/* Carry the health check state of src row o to dst row n while n gets
 * the same check as o did (a member that failed its checks stays down). */
static void lbf_row_carry_health(struct lbf_row *n, const struct lbf_row *o)
{
    struct lbf_row *src = (struct lbf_row *)o;

    if (n->hc_conf == 0 || n->hc_conf != o->hc_conf) {
        return;
    }
    atomic_store(&n->health, atomic_load(&src->health));
    n->hc_pass = o->hc_pass;
    n->hc_fail = o->hc_fail;
    atomic_store(&n->hc_status, atomic_load(&src->hc_status));
    atomic_store(&n->hc_ms, atomic_load(&src->hc_ms));
}

/* Carry one member's persistent fields from src row o to dst row n: admin
 * state, runtime weight, health, counters, and the push state (a replay
 * stays a replay across a restart; the last report keeps informing
 * picks). */
static void lbf_row_carry(struct lbf_row *n, const struct lbf_row *o)
{
    struct lbf_row *src = (struct lbf_row *)o;

    if (o->cfg_admin == n->cfg_admin) {
        atomic_store(&n->admin, atomic_load(&src->admin));
    }
    if (o->cfg_weight == n->cfg_weight) {
        atomic_store(&n->weight, atomic_load(&src->weight));
    }
    atomic_store(&n->requests, atomic_load(&src->requests));
    atomic_store(&n->errors, atomic_load(&src->errors));
    if (lbf_row_read_metrics(o, &n->metric_ts, &n->n_metrics,
                             n->metrics) != LBF_OK) {
        n->metric_ts = 0;
        n->n_metrics = 0;
    }
    n->push_seq = o->push_seq;
    atomic_store(&n->load_milli, atomic_load(&src->load_milli));
    atomic_store(&n->load_since, atomic_load(&src->load_since));
    atomic_store(&n->load_ts, atomic_load(&src->load_ts));
    lbf_row_carry_health(n, o);
}

/* Re-add to farm fi of dst the live members that an operator added at
 * runtime to the old farm of and that the new configuration lacks. */
static void lbf_carry_runtime(struct lbf_shm *dst, uint32_t fi,
                              const struct lbf_shm *src,
                              const struct lbf_farm *of)
{
    struct lbf_farm *nf = lbf_farm_at(dst, fi);
    uint32_t mi;

    for (mi = 0; mi < of->n_rows; mi++) {
        const struct lbf_row *o = lbf_member_at(src, of, mi);

        if (o->runtime && atomic_load(&((struct lbf_row *)o)->admin)
                              != LBF_ADMIN_REMOVED
            && lbf_member_find(dst, nf, o->name) < 0) {
            lbf_member_add_runtime(dst, fi, o->name, o->url, o->cfg_weight,
                                   o->retry_sec);
        }
    }
}

/* lbf_shm_carry from a src that lbf_shm_check found sound and that no
 * one writes meanwhile. */
static int lbf_carry_checked(struct lbf_shm *dst, const struct lbf_shm *src)
{
    uint32_t fi, mi;
    int carried = 0;

    for (fi = 0; fi < dst->hdr->n_farms; fi++) {
        struct lbf_farm *nf = lbf_farm_at(dst, fi);
        int ofi = lbf_farm_find(src, nf->name);
        const struct lbf_farm *of;

        if (ofi < 0) {
            continue;
        }
        of = lbf_farm_at(src, (uint32_t)ofi);
        lbf_carry_runtime(dst, fi, src, of);
        for (mi = 0; mi < nf->n_rows; mi++) {
            struct lbf_row *nr = lbf_member_at(dst, nf, mi);
            int omi = lbf_member_find(src, of, nr->name);

            if (omi >= 0) {
                lbf_row_carry(nr, lbf_member_at(src, of, (uint32_t)omi));
                carried++;
            }
        }
        if (of->cfg_admin == nf->cfg_admin) {
            atomic_store(&nf->admin,
                         atomic_load(&((struct lbf_farm *)of)->admin));
        }
        lbf_farm_rebuild(dst, nf);
    }
    return carried;
}

int lbf_shm_carry(struct lbf_shm *dst, const struct lbf_shm *src)
{
    int rc = lbf_shm_check(src->base, src->len, NULL, 0);

    return rc != LBF_OK ? rc : lbf_carry_checked(dst, src);
}

int lbf_shm_carry_region(struct lbf_shm *dst, const void *base, size_t len,
                         char *why, size_t why_len)
{
    struct lbf_shm src;
    void *copy = malloc(len > 0 ? len : 1);
    int rc;

    if (copy == NULL) {
        if (why != NULL && why_len > 0) {
            snprintf(why, why_len, "no memory for a copy of its %zu bytes",
                     len);
        }
        return LBF_ENOSPACE;
    }
    memcpy(copy, base, len);
    rc = lbf_shm_check(copy, len, why, why_len);
    if (rc == LBF_OK) {
        src.base = copy;
        src.len = len;
        src.hdr = copy;
        rc = lbf_carry_checked(dst, &src);
    }
    free(copy);
    return rc;
}
