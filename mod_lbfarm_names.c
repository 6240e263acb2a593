/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_names.c -- this process's member-name index of every farm
 * (include/mod_lbfarm_names.h).  The table logic is the core's
 * (lbf_name_index in lbfarm_push.c); this file sizes, fills and finds.
 */
#include "apr_thread_mutex.h"

#include <stdatomic.h>

#include "mod_lbfarm_names.h"

APLOG_USE_MODULE(lbfarm);

struct lbf_names {
    struct lbf_name_index x;
    _Atomic uint32_t seen;        /* rows [0, seen) are in x */
};

/* One per farm, by farm index; set in child_init, read-only after. */
static struct lbf_names *lbf_names_tab;
static uint32_t lbf_names_n;
static apr_thread_mutex_t *lbf_names_mutex;

/* Add rows [nm->seen, f->n_rows) of f to nm.  The caller holds
 * lbf_names_mutex (or is child_init, alone). */
static void lbf_names_catch_up_locked(const struct lbf_shm *h,
                                      const struct lbf_farm *f,
                                      struct lbf_names *nm)
{
    uint32_t i, n = __atomic_load_n(&f->n_rows, __ATOMIC_ACQUIRE);

    for (i = atomic_load(&nm->seen); i < n; i++) {
        const struct lbf_row *row = lbf_member_at(h, f, i);

        if (row != NULL) { /* EEXIST (a case variant): the first stays */
            lbf_name_index_add(&nm->x, row->name, i);
        }
    }
    atomic_store(&nm->seen, n);
}

void lbf_names_child_init(apr_pool_t *pchild, server_rec *s)
{
    struct lbf_global *g = lbf_global_get();
    uint32_t fi;

    lbf_names_tab = NULL;
    lbf_names_n = 0;
    if (g == NULL || g->shm.base == NULL
        || apr_thread_mutex_create(&lbf_names_mutex,
                                   APR_THREAD_MUTEX_DEFAULT, pchild)
           != APR_SUCCESS) {
        return;
    }
    lbf_names_n = g->shm.hdr->n_farms;
    lbf_names_tab = apr_pcalloc(pchild, lbf_names_n * sizeof(*lbf_names_tab));
    for (fi = 0; fi < lbf_names_n; fi++) {
        const struct lbf_farm *f = lbf_farm_at(&g->shm, fi);
        uint32_t slots = lbf_name_index_slots(f->l_rows);
        struct lbf_name_slot *tab = apr_palloc(pchild, slots * sizeof(*tab));

        lbf_name_index_init(&lbf_names_tab[fi].x, tab, slots);
        atomic_init(&lbf_names_tab[fi].seen, 0);
        lbf_names_catch_up_locked(&g->shm, f, &lbf_names_tab[fi]);
    }
    ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, s, "LBF00330: member-name "
                 "index built for %u farm(s)", lbf_names_n);
}

int lbf_member_named(struct lbf_farm_conf *fc, const char *name, size_t len)
{
    struct lbf_global *g = lbf_global_get();
    const struct lbf_farm *f;
    const struct lbf_row *row;
    struct lbf_names *nm;
    int mi;

    if (lbf_names_tab == NULL || fc == NULL || fc->fi >= lbf_names_n
        || (f = lbf_farm_at(&g->shm, fc->fi)) == NULL) {
        return -1;
    }
    nm = &lbf_names_tab[fc->fi];
    if (atomic_load(&nm->seen) < __atomic_load_n(&f->n_rows,
                                                 __ATOMIC_ACQUIRE)) {
        apr_thread_mutex_lock(lbf_names_mutex);
        lbf_names_catch_up_locked(&g->shm, f, nm);
        apr_thread_mutex_unlock(lbf_names_mutex);
    }
    if ((mi = lbf_name_index_find(&nm->x, name, len)) < 0
        || (row = lbf_member_at(&g->shm, f, (uint32_t)mi)) == NULL
        || atomic_load(&row->admin) == LBF_ADMIN_REMOVED) {
        return -1;
    }
    return mi;
}
