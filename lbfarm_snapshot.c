/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_snapshot.c -- copy the farm table out of the segment; see
 * lbfarm_snapshot.h.
 *
 * Snapshots are taken one row at a time with atomic loads (and a seqlock
 * read for the pushed metrics); nothing here ever takes a lock, so a
 * status page can never slow a request down or wait for one.
 */
#include <string.h>

#include "lbfarm_method.h"
#include "lbfarm_snapshot.h"

/* One word for the member's state: admin beats health beats error beats
 * ejection beats a stall beats pushed. */
static const char *lbf_state_name(struct lbf_row *r, uint32_t admin,
                                  uint64_t error_left_ms,
                                  uint64_t eject_left_ms, uint64_t now_usec)
{
    if (admin == LBF_ADMIN_OFFLINE) {
        return "offline";
    }
    if (admin == LBF_ADMIN_DRAIN) {
        return "draining";
    }
    if (atomic_load(&r->health) != LBF_HEALTH_UP) {
        return "down";
    }
    if (error_left_ms) {
        return "error";
    }
    if (eject_left_ms) {
        return LBF_STATE_EJECTED;
    }
    if (lbf_row_stalled(r, now_usec)) {
        return LBF_STATE_STALLED;
    }
    return atomic_load(&r->drain_req) ? "draining" : "ok";
}

/* The pushed-load part of a snapshot: load, its age, the headroom the
 * pushed-metric method uses now, and the last metrics. */
static void lbf_snap_load(const struct lbf_shm *h, const struct lbf_farm *f,
                          struct lbf_row *r, uint64_t now_usec,
                          struct lbf_snap *s)
{
    struct lbf_pick pk = {.h = h, .farm = (struct lbf_farm *)f,
                          .now = now_usec};
    uint64_t ts = atomic_load(&r->load_ts), mts;

    s->load_milli = atomic_load(&r->load_milli);
    s->load_age_ms = ts == 0 ? -1
                     : now_usec > ts ? (int64_t)((now_usec - ts) / 1000) : 0;
    s->headroom_milli = lbf_headroom(&pk, r);
    s->ramp_milli = lbf_ramp(&pk, r);
    if (lbf_row_read_metrics(r, &mts, &s->n_metrics, s->metrics) != LBF_OK) {
        s->n_metrics = 0; /* a writer died mid-write: shown as none */
    }
    for (uint32_t i = 0; i < s->n_metrics; i++) {
        s->metrics[i].name[LBF_METRIC_NAME - 1] = '\0';
    }
}

/* The health-check and latency part of a snapshot. */
static void lbf_snap_health(struct lbf_row *r, uint64_t now_usec,
                            struct lbf_snap *s)
{
    /* a result has been recorded (hc_next is set when a check is only
     * claimed); the counters are the checker's, read for display only */
    s->hc_checked = r->hc_pass + r->hc_fail > 0;
    s->hc_status = atomic_load(&r->hc_status);
    s->hc_ms = atomic_load(&r->hc_ms);
    s->lat_count = lbf_row_latency(r, now_usec, s->lat_us);
}

int lbf_snap_member(const struct lbf_shm *h, const struct lbf_farm *f,
                    uint32_t mi, uint64_t now_usec, struct lbf_snap *s)
{
    struct lbf_row *r = lbf_member_at(h, f, mi);

    memset(s, 0, sizeof(*s));
    if (r == NULL || atomic_load(&r->admin) == LBF_ADMIN_REMOVED) {
        return 0; /* *s stays zeroed */
    }
    s->admin = atomic_load(&r->admin);
    memcpy(s->farm, f->name, sizeof(s->farm));
    memcpy(s->name, r->name, sizeof(s->name));
    s->farm[LBF_NAME_SIZE - 1] = s->name[LBF_NAME_SIZE - 1] = '\0';
    s->method = lbf_method_name(f->method);
    s->weight = atomic_load(&r->weight);
    s->cfg_weight = r->cfg_weight;
    s->tier = r->tier;
    s->inflight = atomic_load(&r->inflight);
    s->requests = atomic_load(&r->requests);
    s->errors = atomic_load(&r->errors);
    lbf_snap_load(h, f, r, now_usec, s);
    lbf_snap_health(r, now_usec, s);
    s->error_left_ms = lbf_row_error_left_ms(r, now_usec);
    s->eject_left_ms = lbf_row_eject_left(r, now_usec, &s->eject_n);
    s->state = lbf_state_name(r, s->admin, s->error_left_ms,
                              s->eject_left_ms, now_usec);
    s->runtime = r->runtime;
    if (s->runtime) {
        memcpy(s->url, r->url, sizeof(s->url));
        s->url[LBF_URL_SIZE - 1] = '\0';
    }
    return 1;
}

void lbf_snap_farm(const struct lbf_farm *f, struct lbf_farm_snap *fs)
{
    memcpy(fs->name, f->name, sizeof(fs->name));
    fs->name[LBF_NAME_SIZE - 1] = '\0';
    fs->method = f->method == LBF_METHOD_FOREIGN
                     ? "foreign" : lbf_method_name(f->method);
    fs->offline = atomic_load(&((struct lbf_farm *)f)->admin)
                  == LBF_ADMIN_OFFLINE;
}

void lbf_snap_sizes(const struct lbf_shm *h, size_t *n_farms,
                    size_t *n_members)
{
    *n_farms = h->hdr->n_farms;
    *n_members = h->hdr->n_rows;
}

void lbf_snap_collect(const struct lbf_shm *h, uint64_t now_usec,
                      const struct lbf_snap_src *src,
                      struct lbf_farm_snap *farms, struct lbf_snap *members,
                      struct lbf_status *st)
{
    size_t cap, k = 0;
    uint32_t fi, mi;

    memset(st, 0, sizeof(*st));
    lbf_snap_sizes(h, &st->n_farms, &cap);
    st->now_usec = now_usec;
    st->generation = h->hdr->generation;
    st->recoveries = atomic_load(&h->hdr->recoveries);
    st->repairs = atomic_load(&h->hdr->repairs);
    st->farms = farms;
    st->members = members;
    for (fi = 0; fi < st->n_farms; fi++) {
        const struct lbf_farm *f = lbf_farm_at(h, fi);
        struct lbf_farm_snap *fs = &farms[fi];
        uint32_t n = f->n_rows; /* grows at runtime: read once */

        lbf_snap_farm(f, fs);
        fs->adminable = src && src->adminable
                        && src->adminable(src->ctx, fi) ? 1 : 0;
        fs->first = k;
        for (mi = 0; mi < n && k < cap; mi++) {
            if (!lbf_snap_member(h, f, mi, now_usec, &members[k])) {
                continue;
            }
            if (members[k].url[0] == '\0' && src && src->url) {
                src->url(src->ctx, fi, mi, members[k].url);
                members[k].url[LBF_URL_SIZE - 1] = '\0';
            }
            k++;
        }
        fs->n = k - fs->first;
    }
    st->n_members = k;
}
