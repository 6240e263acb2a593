/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_status.c -- snapshot rows and render them; see lbfarm_status.h.
 * Names in the segment are restricted to [A-Za-z0-9_-] at configuration
 * time (balancer rows to host:port), so the text form needs no escaping;
 * the HTML, JSON and Prometheus forms escape per context.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lbfarm_method.h"
#include "lbfarm_status.h"

/* One word for the member's state: admin beats health beats pushed. */
static const char *lbf_state_name(struct lbf_row *r, uint64_t error_left_ms)
{
    uint32_t admin = atomic_load(&r->admin);

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
    return atomic_load(&r->drain_req) ? "draining" : "ok";
}

/* The pushed-load part of a snapshot. */
static void lbf_snap_load(const struct lbf_shm *h, const struct lbf_farm *f,
                          struct lbf_row *r, uint64_t now_usec,
                          struct lbf_snap *s)
{
    struct lbf_pick pk = {.h = h, .farm = (struct lbf_farm *)f,
                          .now = now_usec};
    uint64_t ts = atomic_load(&r->load_ts);

    s->load_milli = atomic_load(&r->load_milli);
    s->load_age_ms = ts == 0 ? -1
                     : now_usec > ts ? (int64_t)((now_usec - ts) / 1000) : 0;
    s->headroom_milli = lbf_headroom(&pk, r);
}

void lbf_snap_member(const struct lbf_shm *h, const struct lbf_farm *f,
                     uint32_t mi, uint64_t now_usec, struct lbf_snap *s)
{
    struct lbf_row *r = lbf_member_at(h, f, mi);
    uint64_t until;

    memset(s, 0, sizeof(*s));
    if (r == NULL) {
        return;
    }
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
    until = atomic_load(&r->error_until);
    lbf_snap_load(h, f, r, now_usec, s);
    s->error_left_ms = until > now_usec ? (until - now_usec) / 1000 : 0;
    s->state = lbf_state_name(r, s->error_left_ms);
}

void lbf_render_text(const struct lbf_snap *s, size_t n, uint64_t generation,
                     uint32_t farms, lbf_emit_f *emit, void *ctx)
{
    char line[512];
    size_t i;
    int len;

    len = snprintf(line, sizeof(line), "# lbfarm generation=%" PRIu64
                   " farms=%" PRIu32 " members=%zu\n", generation, farms, n);
    emit(ctx, line, (size_t)len);
    for (i = 0; i < n; i++) {
        len = snprintf(line, sizeof(line), "member %s %s method=%s state=%s "
                       "weight=%" PRIu32 " cfg_weight=%" PRIu32 " tier=%"
                       PRIu32 " inflight=%" PRId32 " requests=%" PRIu64
                       " errors=%" PRIu64 " error_left_ms=%" PRIu64
                       " load=%" PRIu32 ".%03" PRIu32 " load_age_ms=%" PRId64
                       " headroom=%" PRIu32 ".%03" PRIu32 "\n",
                       s[i].farm, s[i].name, s[i].method, s[i].state,
                       s[i].weight, s[i].cfg_weight, s[i].tier, s[i].inflight,
                       s[i].requests, s[i].errors, s[i].error_left_ms,
                       s[i].load_milli / 1000, s[i].load_milli % 1000,
                       s[i].load_age_ms, s[i].headroom_milli / 1000,
                       s[i].headroom_milli % 1000);
        if (len > 0) {
            emit(ctx, line, (size_t)len < sizeof(line) ? (size_t)len
                                                       : sizeof(line) - 1);
        }
    }
}
