/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_testhooks.c -- what only the tests may do: write into the live
 * segment from a child, as a buggy or hostile child could, so that the
 * integration suite can check what the parent makes of it at the next
 * graceful restart (t/08_carry_guard.t); and take a member's row lock
 * and keep it, as a child that dies inside a locked section would
 * (t/60_fault_lock.t).  Compiled only with
 * -DLBF_TEST_HOOKS (Makefile: test-module, asan-module); the module that
 * `make` builds and `make install` installs has none of it.
 */
#include "mod_lbfarm_testhooks.h"

#ifdef LBF_TEST_HOOKS

#include "apr_strings.h"
#include "http_protocol.h"

#include <unistd.h>

APLOG_USE_MODULE(lbfarm);

/* The value of query parameter key in r->args, or NULL. */
static const char *lbf_test_arg(request_rec *r, const char *key)
{
    size_t kl = strlen(key);
    char *args = apr_pstrdup(r->pool, r->args ? r->args : ""), *last, *kv;

    for (kv = apr_strtok(args, "&", &last); kv != NULL;
         kv = apr_strtok(NULL, "&", &last)) {
        if (strncmp(kv, key, kl) == 0 && kv[kl] == '=') {
            return kv + kl + 1;
        }
    }
    return NULL;
}

/* The field of g's segment that what names, in farm (its row 0 for
 * row_magic), or NULL. */
static uint32_t *lbf_test_field(struct lbf_global *g, const char *what,
                                const char *farm)
{
    struct lbf_farm_conf *fc = farm ? lbf_farm_by_name(farm, strlen(farm))
                                    : NULL;
    struct lbf_farm *f = fc ? lbf_farm_at(&g->shm, fc->fi) : NULL;
    struct lbf_row *row = lbf_member_at(&g->shm, f, 0);

    if (!strcmp(what, "version")) {
        return &g->shm.hdr->version;
    }
    if (!strcmp(what, "row_size")) {
        return &g->shm.hdr->row_size;
    }
    if (f != NULL && !strcmp(what, "n_rows")) {
        return &f->n_rows;
    }
    if (f != NULL && !strcmp(what, "farm_magic")) {
        return &f->magic;
    }
    if (row != NULL && !strcmp(what, "row_magic")) {
        return &row->magic;
    }
    return NULL;
}

static int lbf_test_handler(request_rec *r)
{
    struct lbf_global *g = lbf_global_get();
    const char *what = lbf_test_arg(r, "what"), *v = lbf_test_arg(r, "value");
    uint32_t *field;

    if (r->handler == NULL || strcmp(r->handler, "lbfarm-test-segment")) {
        return DECLINED;
    }
    if (g == NULL || g->shm.base == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (what == NULL || (field = lbf_test_field(g, what, lbf_test_arg(r,
                                                "farm"))) == NULL) {
        return HTTP_BAD_REQUEST;
    }
    *field = v ? (uint32_t)apr_atoi64(v) : 0xdeadbeefu;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "LBF00190: test hook: "
                  "segment field %s set to %u", what, *field);
    ap_set_content_type(r, "text/plain");
    ap_rprintf(r, "set %s %u\n", what, *field);
    return OK;
}

/* The row of member name in farm (by name, as an operator names it), or
 * NULL. */
static struct lbf_row *lbf_test_row(struct lbf_global *g, const char *farm,
                                    const char *name)
{
    struct lbf_farm_conf *fc = farm ? lbf_farm_by_name(farm, strlen(farm))
                                    : NULL;
    struct lbf_farm *f = fc ? lbf_farm_at(&g->shm, fc->fi) : NULL;
    uint32_t i;

    for (i = 0; f != NULL && name != NULL && i < f->n_rows; i++) {
        struct lbf_row *row = lbf_member_at(&g->shm, f, i);

        if (row != NULL && !strcmp(row->name, name)) {
            return row;
        }
    }
    return NULL;
}

/* what=hold: take the row lock as this child (a write section open too
 * with torn=1), say "held pid N" at once, keep it secs seconds (at most
 * 120; the test kills the child before), then let go.  what=forge: write
 * an owner word naming pid (a live process that does not hold the lock,
 * as after pid reuse) and return: nobody will ever release it. */
static int lbf_test_lock(request_rec *r, struct lbf_global *g,
                         struct lbf_row *row)
{
    const char *what = lbf_test_arg(r, "what"), *v;
    int torn = (v = lbf_test_arg(r, "torn")) != NULL && *v == '1';
    apr_int64_t n;

    ap_set_content_type(r, "text/plain");
    if (what != NULL && !strcmp(what, "forge")) {
        n = (v = lbf_test_arg(r, "pid")) ? apr_atoi64(v) : 0;
        if (n <= 0 || n > 0x7fffffff) {
            return HTTP_BAD_REQUEST;
        }
        atomic_store(&row->lock.owner, (uint64_t)n << 32 | 1u);
        ap_rprintf(r, "forged pid %" APR_INT64_T_FMT "\n", n);
        return OK;
    }
    if (what == NULL || strcmp(what, "hold")) {
        return HTTP_BAD_REQUEST;
    }
    n = (v = lbf_test_arg(r, "secs")) ? apr_atoi64(v) : 30;
    lbf_row_lock(&g->shm, row, (uint32_t)getpid());
    if (torn) {
        lbf_write_begin(&row->lock);
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "LBF00850: test hook: "
                  "row lock of %s held by pid %d%s", row->name, (int)getpid(),
                  torn ? " (write section open)" : "");
    ap_rprintf(r, "held pid %d\n", (int)getpid());
    ap_rflush(r);
    apr_sleep(apr_time_from_sec(n < 0 ? 0 : n > 120 ? 120 : n));
    if (torn) {
        lbf_write_end(&row->lock);
    }
    lbf_row_unlock(row, (uint32_t)getpid());
    return OK;
}

static int lbf_test_lock_handler(request_rec *r)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_row *row;

    if (r->handler == NULL || strcmp(r->handler, "lbfarm-test-lock")) {
        return DECLINED;
    }
    if (g == NULL || g->shm.base == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if ((row = lbf_test_row(g, lbf_test_arg(r, "farm"),
                            lbf_test_arg(r, "member"))) == NULL) {
        return HTTP_BAD_REQUEST;
    }
    return lbf_test_lock(r, g, row);
}

void lbf_test_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(lbf_test_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(lbf_test_lock_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

#endif /* LBF_TEST_HOOKS */
