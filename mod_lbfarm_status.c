/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_status.c -- "SetHandler lbfarm-status": the farm table as
 * text.  Collect (one row at a time, lock-free), render (pure, in
 * lbfarm_status.c), emit.  GET and HEAD only; it changes nothing.
 */
#include "http_protocol.h"
#include "http_request.h"

#include "mod_lbfarm.h"
#include "lbfarm_status.h"

APLOG_USE_MODULE(lbfarm);

/* lbf_emit_f writing to the client of request ctx. */
static void lbf_emit_rwrite(void *ctx, const char *s, size_t n)
{
    ap_rwrite(s, (int)n, ctx);
}

/* Snapshot every member of every farm into an array from pool p. */
static struct lbf_snap *lbf_collect(apr_pool_t *p, const struct lbf_shm *h,
                                    size_t *n)
{
    struct lbf_snap *snaps;
    uint64_t now = (uint64_t)apr_time_now();
    uint32_t fi, mi;
    size_t k = 0;

    snaps = apr_palloc(p, (h->hdr->n_rows + 1) * sizeof(*snaps));
    for (fi = 0; fi < h->hdr->n_farms; fi++) {
        const struct lbf_farm *f = lbf_farm_at(h, fi);

        for (mi = 0; mi < f->n_rows && k < h->hdr->n_rows; mi++) {
            lbf_snap_member(h, f, mi, now, &snaps[k++]);
        }
    }
    *n = k;
    return snaps;
}

static int lbf_status_handler(request_rec *r)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_snap *snaps;
    size_t n;

    if (r->handler == NULL || strcmp(r->handler, "lbfarm-status") != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (g == NULL || g->shm.base == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    snaps = lbf_collect(r->pool, &g->shm, &n);
    ap_set_content_type(r, "text/plain; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        lbf_render_text(snaps, n, g->shm.hdr->generation,
                        g->shm.hdr->n_farms, lbf_emit_rwrite, r);
    }
    return OK;
}

void lbf_status_register_hooks(apr_pool_t *p LBF_UNUSED)
{
    ap_hook_handler(lbf_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
