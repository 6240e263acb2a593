/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm.c -- the module: directives, configuration checks, the shared
 * segment's life cycle (post_config / child_init / graceful restart).
 * The request path and the lbmethod providers live in mod_lbfarm_proxy.c.
 */
#include "apr_hash.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_uri.h"
#include "http_core.h"
#include "http_main.h"
#include "ap_mpm.h"

#include "mod_lbfarm.h"
#include "lbfarm_conf.h"

#define LBF_GEN_KEY "lbfarm-generation"

/* The farm whose <LBFarm> section is being read (config time only). */
static struct lbf_farm_conf *lbf_cur_farm;
static struct lbf_global *lbf_g;

struct lbf_global *lbf_global_get(void)
{
    return lbf_g;
}

/* What survives a restart in the parent: the live segment and its pool. */
struct lbf_gen {
    apr_pool_t *pool;
    apr_shm_t *seg;
    struct lbf_shm shm;
};

/* ------------------------------------------------------------------ */
/* Directives                                                          */

struct lbf_farm_conf *lbf_farm_current(cmd_parms *cmd, const char **err)
{
    *err = lbf_cur_farm ? NULL : apr_psprintf(cmd->pool, "%s must be inside "
                                              "<LBFarm>", cmd->cmd->name);
    return lbf_cur_farm;
}

/* Start of every inner directive: returns an error unless inside <LBFarm>. */
static const char *lbf_in_farm(cmd_parms *cmd)
{
    const char *err;

    lbf_farm_current(cmd, &err);
    return err;
}

/* <LBFarm name> ... </LBFarm>: declares a farm, then reads its body. */
static const char *lbf_cmd_farm(cmd_parms *cmd, void *dc LBF_UNUSED, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *end = ap_strrchr_c(arg, '>');
    struct lbf_farm_conf *fc;
    char *name, *key;

    if (err != NULL) {
        return err;
    }
    if (end == NULL || end[1] != '\0') {
        return "<LBFarm> directive missing closing '>'";
    }
    name = apr_pstrmemdup(cmd->pool, arg, end - arg);
    name = ap_getword_conf(cmd->pool, (const char **)&name);
    if (!lbf_name_valid(name)) {
        return apr_psprintf(cmd->pool, "<LBFarm>: invalid farm name \"%s\" "
                            "(1..31 of A-Z a-z 0-9 _ -, starting with a "
                            "letter or digit)", name);
    }
    key = apr_pstrdup(cmd->pool, name);
    ap_str_tolower(key);
    if (apr_hash_get(lbf_g->by_name, key, APR_HASH_KEY_STRING) != NULL) {
        return apr_psprintf(cmd->pool, "<LBFarm>: duplicate farm \"%s\"",
                            name);
    }
    fc = apr_pcalloc(cmd->pool, sizeof(*fc));
    *(struct lbf_farm_conf **)apr_array_push(lbf_g->farms) = fc;
    apr_hash_set(lbf_g->by_name, key, APR_HASH_KEY_STRING, fc);
    fc->name = name;
    fc->retry = LBF_DEFAULT_RETRY;
    fc->members = apr_array_make(cmd->pool, 4, sizeof(struct lbf_member_conf));
    fc->where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                             cmd->directive->line_num);
    lbf_push_farm_defaults(fc);
    lbf_cur_farm = fc;
    err = ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
    lbf_cur_farm = NULL;
    if (err == NULL && fc->members->nelts == 0) {
        err = apr_psprintf(cmd->pool, "<LBFarm %s> has no LBFarmMember", name);
    }
    return err;
}

static const char *lbf_cmd_method(cmd_parms *cmd, void *dc LBF_UNUSED, const char *arg)
{
    const char *err = lbf_in_farm(cmd);
    int m;

    if (err != NULL) {
        return err;
    }
    if ((m = lbf_method_find(arg)) < 0) {
        return apr_psprintf(cmd->pool, "LBFarmMethod: unknown method \"%s\" "
                            "(known: %s)", arg, lbf_method_list());
    }
    lbf_cur_farm->method = m;
    return NULL;
}

/* Parse seconds in 0..LBF_RETRY_MAX for directive/option what. */
static const char *lbf_parse_retry(cmd_parms *cmd, const char *what,
                                   const char *arg, int *out)
{
    uint32_t v;

    if (lbf_parse_uint(arg, 0, LBF_RETRY_MAX, &v) != 0) {
        return apr_psprintf(cmd->pool, "%s: invalid retry \"%s\" (expected "
                            "seconds 0..%d)", what, arg, LBF_RETRY_MAX);
    }
    *out = (int)v;
    return NULL;
}

static const char *lbf_cmd_retry(cmd_parms *cmd, void *dc LBF_UNUSED, const char *arg)
{
    const char *err = lbf_in_farm(cmd);

    return err ? err : lbf_parse_retry(cmd, "LBFarmRetry", arg,
                                       &lbf_cur_farm->retry);
}

/* Normalize a member URL into scheme://host:port[/path] (no trailing
 * '/'), with its host and port; returns an error message or NULL. */
const char *lbf_member_url(apr_pool_t *p, const char *url,
                           const char **norm, const char **host,
                           apr_port_t *port)
{
    apr_uri_t u;
    const char *path;

    if (apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || *u.hostname == '\0' || u.query
        || u.fragment || u.user) {
        return apr_psprintf(p, "cannot parse member URL \"%s\" (expected "
                            "http://host:port[/path])", url);
    }
    ap_str_tolower(u.scheme);
    if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0) {
        return apr_psprintf(p, "unsupported scheme \"%s\" in member URL "
                            "\"%s\" (http or https)", u.scheme, url);
    }
    ap_str_tolower(u.hostname);
    path = u.path ? u.path : "";
    while (*path && path[strlen(path) - 1] == '/') {
        path = apr_pstrmemdup(p, path, strlen(path) - 1);
    }
    *host = u.hostname;
    *port = u.port ? u.port : apr_uri_port_of_scheme(u.scheme);
    *norm = apr_psprintf(p, "%s://%s%s%s:%u%s", u.scheme,
                         strchr(u.hostname, ':') ? "[" : "", u.hostname,
                         strchr(u.hostname, ':') ? "]" : "", *port, path);
    return NULL;
}

/* Apply one key=value option of LBFarmMember to mc and its worker. */
static const char *lbf_member_option(cmd_parms *cmd,
                                     struct lbf_member_conf *mc,
                                     const char *opt)
{
    const char *eq = ap_strchr_c(opt, '=');
    const char *key = eq ? apr_pstrmemdup(cmd->pool, opt, eq - opt) : opt;
    const char *val = eq ? eq + 1 : NULL;
    apr_interval_time_t t;
    uint32_t v;

    if (!strcasecmp(key, "standby") && val == NULL) {
        mc->tier = 1;
    }
    else if (!strcasecmp(key, "state") && val) {
        if (strcasecmp(val, "up") && strcasecmp(val, "offline")
            && strcasecmp(val, "drain")) {
            return apr_psprintf(cmd->pool, "LBFarmMember: invalid state "
                                "\"%s\" for member \"%s\" (up, offline, "
                                "drain)", val, mc->name);
        }
        mc->admin = !strcasecmp(val, "offline") ? LBF_ADMIN_OFFLINE
                    : !strcasecmp(val, "drain") ? LBF_ADMIN_DRAIN
                                                : LBF_ADMIN_ENABLED;
    }
    else if (!strcasecmp(key, "weight") && val) {
        if (lbf_parse_uint(val, 1, LBF_WEIGHT_MAX, &v) != 0) {
            return apr_psprintf(cmd->pool, "LBFarmMember: invalid weight "
                                "\"%s\" for member \"%s\" (expected 1..%d)",
                                val, mc->name, LBF_WEIGHT_MAX);
        }
        mc->weight = (int)v;
    }
    else if (!strcasecmp(key, "retry") && val) {
        return lbf_parse_retry(cmd, "LBFarmMember", val, &mc->retry);
    }
    else if ((!strcasecmp(key, "timeout")
              || !strcasecmp(key, "connectiontimeout")) && val) {
        if (ap_timeout_parameter_parse(val, &t, "s") != APR_SUCCESS || t < 1) {
            return apr_psprintf(cmd->pool, "LBFarmMember: invalid %s \"%s\" "
                                "for member \"%s\"", key, val, mc->name);
        }
        if (!strcasecmp(key, "timeout")) {
            mc->worker->s->timeout = t;
            mc->worker->s->timeout_set = 1;
        }
        else {
            mc->worker->s->conn_timeout = t;
            mc->worker->s->conn_timeout_set = 1;
        }
    }
    else {
        return apr_psprintf(cmd->pool, "LBFarmMember: unknown option \"%s\" "
                            "for member \"%s\" (weight=N, retry=S, "
                            "timeout=S, connectiontimeout=S, standby)",
                            opt, mc->name);
    }
    return NULL;
}

/* A worker of our own for a member URL (its own keep-alive pool); its
 * errors count (proxy_handler marks it, the segment decides).  Returns an
 * error message or NULL. */
static const char *lbf_define_worker(apr_pool_t *p, const char *url,
                                     proxy_worker **w)
{
    const char *err = ap_proxy_define_worker_ex(p, w, NULL, NULL, url, 0);

    if (err == NULL) {
        (*w)->s->status &= ~PROXY_WORKER_IGNORE_ERRORS;
    }
    return err;
}

/* 1 when farm fc already has a member named name or with URL url. */
static const char *lbf_member_dup(cmd_parms *cmd, struct lbf_farm_conf *fc,
                                  const char *name, const char *url)
{
    int i;

    for (i = 0; i < fc->members->nelts; i++) {
        struct lbf_member_conf *o = &APR_ARRAY_IDX(fc->members, i,
                                                   struct lbf_member_conf);
        if (!strcasecmp(o->name, name)) {
            return apr_psprintf(cmd->pool, "LBFarmMember: duplicate member "
                                "\"%s\" in farm \"%s\"", name, fc->name);
        }
        if (!strcmp(o->url, url)) {
            return apr_psprintf(cmd->pool, "LBFarmMember: duplicate member "
                                "URL \"%s\" in farm \"%s\" (members \"%s\" "
                                "and \"%s\")", url, fc->name, o->name, name);
        }
    }
    return NULL;
}

/* LBFarmMember name url [weight=N] [retry=S] [timeout=S] [standby] */
static const char *lbf_cmd_member(cmd_parms *cmd, void *dc LBF_UNUSED, const char *args)
{
    const char *err = lbf_in_farm(cmd), *name, *url, *norm = NULL, *opt;
    struct lbf_member_conf mc;

    if (err != NULL) {
        return err;
    }
    name = ap_getword_conf(cmd->pool, &args);
    url = ap_getword_conf(cmd->pool, &args);
    if (!*name || !*url) {
        return "LBFarmMember: expected a member name and a URL";
    }
    if (!lbf_name_valid(name)) {
        return apr_psprintf(cmd->pool, "LBFarmMember: invalid member name "
                            "\"%s\" (1..31 of A-Z a-z 0-9 _ -)", name);
    }
    memset(&mc, 0, sizeof(mc));
    if ((err = lbf_member_url(cmd->pool, url, &norm, &mc.host, &mc.port))) {
        return apr_pstrcat(cmd->pool, "LBFarmMember: ", err, NULL);
    }
    if ((err = lbf_member_dup(cmd, lbf_cur_farm, name, norm)) != NULL) {
        return err;
    }
    mc.name = name;
    mc.url = norm;
    mc.weight = 1;
    mc.retry = -1;
    if ((err = lbf_define_worker(cmd->pool, norm, &mc.worker)) != NULL) {
        return apr_psprintf(cmd->pool, "LBFarmMember: %s", err);
    }
    while (*(opt = ap_getword_conf(cmd->pool, &args)) != '\0') {
        if ((err = lbf_member_option(cmd, &mc, opt)) != NULL) {
            return err;
        }
    }
    if (lbf_cur_farm->members->nelts >= LBF_FARM_MEMBERS_MAX - LBF_SPARE_ROWS) {
        return "LBFarmMember: too many members in one farm";
    }
    *(struct lbf_member_conf *)apr_array_push(lbf_cur_farm->members) = mc;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Configuration checks (check_config: also run by apache2 -t)         */

/* Log and count a ProxyPass to a farm that does not exist. */
static int lbf_check_alias(server_rec *s, const struct proxy_alias *a)
{
    const char *host;
    apr_size_t hlen;
    char *name;

    if (a == NULL || a->real == NULL || !lbf_url_farm_ref(a->real, &host,
                                                          &hlen)) {
        return 0;
    }
    name = apr_pstrmemdup(lbf_g->pconf, host, hlen);
    ap_str_tolower(name);
    if (apr_hash_get(lbf_g->by_name, name, APR_HASH_KEY_STRING) != NULL) {
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00001: ProxyPass \"%s\" "
                 "\"%s\": no LBFarm named \"%.*s\" (a port-less single-label "
                 "host names a farm; give a port to proxy to a plain host)",
                 a->fake, a->real, (int)hlen, host);
    return 1;
}

/* Count bad farm references in the ProxyPass of server s (server level
 * and <Location> sections). */
static int lbf_check_server(server_rec *s)
{
    proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                 &proxy_module);
    core_server_config *cc = ap_get_core_module_config(s->module_config);
    int i, bad = 0;

    for (i = 0; pc && i < pc->aliases->nelts; i++) {
        bad += lbf_check_alias(s, &APR_ARRAY_IDX(pc->aliases, i,
                                                 struct proxy_alias));
    }
    for (i = 0; cc && i < cc->sec_url->nelts; i++) {
        ap_conf_vector_t *v = APR_ARRAY_IDX(cc->sec_url, i,
                                            ap_conf_vector_t *);
        proxy_dir_conf *dc = ap_get_module_config(v, &proxy_module);

        bad += dc ? lbf_check_alias(s, dc->alias) : 0;
    }
    return bad;
}

/* ProxyPassReverse to a farm: add one mapping per member, as if the
 * operator had written ProxyPassReverse for every member URL. */
static void lbf_expand_raliases(apr_pool_t *p, apr_array_header_t *ra,
                                apr_hash_t *seen)
{
    int i, j, n;

    if (ra == NULL || apr_hash_get(seen, &ra, sizeof(ra)) != NULL) {
        return;
    }
    apr_hash_set(seen, apr_pmemdup(p, &ra, sizeof(ra)), sizeof(ra), ra);
    n = ra->nelts;
    for (i = 0; i < n; i++) {
        struct proxy_alias a = APR_ARRAY_IDX(ra, i, struct proxy_alias);
        struct lbf_farm_conf *fc;
        const char *host;
        apr_size_t hlen;
        char *key;

        if (!lbf_url_farm_ref(a.real, &host, &hlen)) {
            continue;
        }
        key = apr_pstrmemdup(p, host, hlen);
        ap_str_tolower(key);
        if (!(fc = apr_hash_get(lbf_g->by_name, key, APR_HASH_KEY_STRING))) {
            continue;
        }
        for (j = 0; j < fc->members->nelts; j++) {
            struct proxy_alias *add = apr_array_push(ra);

            *add = a;
            add->real = apr_pstrcat(p, APR_ARRAY_IDX(fc->members, j,
                                    struct lbf_member_conf).url,
                                    host + hlen, NULL);
        }
    }
}

/* Expand ProxyPassReverse in every server and <Location> of s. */
static void lbf_expand_server(apr_pool_t *p, server_rec *s, apr_hash_t *seen)
{
    core_server_config *cc = ap_get_core_module_config(s->module_config);
    proxy_dir_conf *dc = ap_get_module_config(s->lookup_defaults,
                                              &proxy_module);
    int i;

    if (dc != NULL) {
        lbf_expand_raliases(p, dc->raliases, seen);
    }
    for (i = 0; cc && i < cc->sec_url->nelts; i++) {
        dc = ap_get_module_config(APR_ARRAY_IDX(cc->sec_url, i,
                                                ap_conf_vector_t *),
                                  &proxy_module);
        if (dc != NULL) {
            lbf_expand_raliases(p, dc->raliases, seen);
        }
    }
}

static int lbf_check_config(apr_pool_t *pconf, apr_pool_t *plog LBF_UNUSED,
                            apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    server_rec *v;
    int bad = 0;

    for (v = s; v != NULL; v = v->next) {
        bad += lbf_check_server(v);
    }
    if (bad > 0) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (v = s; v != NULL; v = v->next) {
        lbf_expand_server(pconf, v, seen);
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* The segment: sizing, creation, carry-over across restarts           */

/* Sum what every farm and every balancer:// needs into lay. */
static void lbf_layout_count(server_rec *s, struct lbf_layout *lay)
{
    int i;

    memset(lay, 0, sizeof(*lay));
    for (i = 0; i < lbf_g->farms->nelts; i++) {
        uint32_t l = (uint32_t)APR_ARRAY_IDX(lbf_g->farms, i,
                                             struct lbf_farm_conf *)
                         ->members->nelts + LBF_SPARE_ROWS;
        lay->l_farms++;
        lay->l_rows += l;
        lay->sched_len += lbf_sched_entries(l);
    }
    for (; s != NULL; s = s->next) {
        proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                     &proxy_module);
        for (i = 0; pc && i < pc->balancers->nelts; i++) {
            proxy_balancer *b = &APR_ARRAY_IDX(pc->balancers, i,
                                               proxy_balancer);
            uint32_t l = (uint32_t)b->workers->nelts + (uint32_t)b->growth + 1;

            if (l > LBF_FARM_MEMBERS_MAX) {
                l = LBF_FARM_MEMBERS_MAX;
            }
            lay->l_farms++;
            lay->l_rows += l;
            lay->sched_len += lbf_sched_entries(l);
        }
    }
}

/* A private proxy_balancer for farm fc, so that proxy_handler retries
 * another member after a connect failure (max_attempts). */
static proxy_balancer *lbf_private_balancer(apr_pool_t *p,
                                            struct lbf_farm_conf *fc)
{
    proxy_balancer *b = apr_pcalloc(p, sizeof(*b));
    int i;

    b->s = apr_pcalloc(p, sizeof(*b->s));
    apr_snprintf(b->s->name, sizeof(b->s->name), "lbfarm://%s", fc->name);
    b->s->max_attempts = fc->members->nelts - 1;
    b->s->max_attempts_set = 1;
    b->workers = apr_array_make(p, fc->members->nelts, sizeof(proxy_worker *));
    for (i = 0; i < fc->members->nelts; i++) {
        *(proxy_worker **)apr_array_push(b->workers) =
            APR_ARRAY_IDX(fc->members, i, struct lbf_member_conf).worker;
    }
    return b;
}

/* Give configured member mc of fc its row.  Returns its index or < 0. */
static int lbf_populate_member(struct lbf_farm_conf *fc,
                               struct lbf_member_conf *mc)
{
    int rc;

    if (mc->retry < 0) {
        mc->retry = fc->retry;
    }
    /* mod_proxy logs this retry when it disables the worker */
    mc->worker->s->retry = apr_time_from_sec(mc->retry);
    mc->worker->s->retry_set = 1;
    rc = lbf_member_add(&lbf_g->shm, fc->fi, mc->name, (uint32_t)mc->weight,
                        (uint32_t)mc->tier, (uint32_t)mc->retry);
    if (rc >= 0) {
        lbf_member_set_cfg_admin(lbf_member_at(&lbf_g->shm,
                                 lbf_farm_at(&lbf_g->shm, fc->fi),
                                 (uint32_t)rc), (uint32_t)mc->admin);
        mc->index = (uint32_t)rc;
        fc->mconf[rc] = mc;
    }
    return rc;
}

/* Build this process's view of a member added at runtime from its row:
 * its worker (connection pool), keys and id.  The caller holds
 * lbf_g->rt_mutex.  NULL when the row cannot be served. */
static struct lbf_member_conf *lbf_runtime_member(struct lbf_farm_conf *fc,
                                                  uint32_t mi,
                                                  const struct lbf_row *row)
{
    apr_pool_t *p = lbf_g->rt_pool;
    struct lbf_member_conf *mc = apr_pcalloc(p, sizeof(*mc));
    const char *norm;

    if (!row->runtime || lbf_member_url(p, row->url, &norm, &mc->host,
                                        &mc->port) != NULL
        || lbf_define_worker(p, norm, &mc->worker) != NULL) {
        return NULL;
    }
    mc->name = apr_pstrdup(p, row->name);
    mc->url = norm;
    mc->weight = (int)row->cfg_weight;
    mc->retry = (int)row->retry_sec;
    mc->index = mi;
    mc->worker->s->retry = apr_time_from_sec(mc->retry);
    mc->worker->s->retry_set = 1;
    ap_proxy_initialize_worker(mc->worker, lbf_g->s, p);
    lbf_push_member_setup(fc, mc);
    lbf_sess_member_setup(fc, mc);
    return mc;
}

struct lbf_member_conf *lbf_member_conf_at(struct lbf_farm_conf *fc,
                                           uint32_t mi)
{
    struct lbf_farm *f;
    struct lbf_row *row;
    struct lbf_member_conf *mc;

    if (mi >= fc->l_rows || lbf_g->shm.base == NULL) {
        return NULL;
    }
    if ((mc = fc->mconf[mi]) != NULL || lbf_g->rt_mutex == NULL) {
        return mc;
    }
    f = lbf_farm_at(&lbf_g->shm, fc->fi);
    if ((row = lbf_member_at(&lbf_g->shm, f, mi)) == NULL) {
        return NULL;
    }
    apr_thread_mutex_lock(lbf_g->rt_mutex);
    if ((mc = fc->mconf[mi]) == NULL) {
        mc = lbf_runtime_member(fc, mi, row);
        __atomic_store_n(&fc->mconf[mi], mc, __ATOMIC_RELEASE);
    }
    apr_thread_mutex_unlock(lbf_g->rt_mutex);
    return mc;
}

struct lbf_member_conf *lbf_member_next(struct lbf_farm_conf *fc,
                                        uint32_t *i)
{
    struct lbf_farm *f = lbf_farm_at(&lbf_g->shm, fc->fi);
    struct lbf_member_conf *mc = NULL;

    while (f != NULL && mc == NULL && *i < f->n_rows) {
        struct lbf_row *row = lbf_member_at(&lbf_g->shm, f, *i);

        mc = atomic_load(&row->admin) == LBF_ADMIN_REMOVED
                 ? ((*i)++, NULL) : lbf_member_conf_at(fc, (*i)++);
    }
    return mc;
}

/* Put every LBFarm into the freshly formatted segment. */
static int lbf_populate_farms(server_rec *s)
{
    int i, j, rc;

    for (i = 0; i < lbf_g->farms->nelts; i++) {
        struct lbf_farm_conf *fc = APR_ARRAY_IDX(lbf_g->farms, i,
                                                 struct lbf_farm_conf *);
        rc = lbf_farm_add(&lbf_g->shm, fc->name, (uint32_t)fc->method,
                          (uint32_t)fc->members->nelts + LBF_SPARE_ROWS);
        if (rc < 0) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00002: farm "
                         "\"%s\": cannot add to segment (%d)", fc->name, rc);
            return rc;
        }
        fc->fi = (uint32_t)rc;
        fc->balancer = lbf_private_balancer(lbf_g->pconf, fc);
        lbf_push_farm_setup(fc, lbf_farm_at(&lbf_g->shm, fc->fi));
        lbf_health_farm_setup(fc, lbf_farm_at(&lbf_g->shm, fc->fi));
        lbf_sess_farm_setup(lbf_g->pconf, fc);
        fc->l_rows = (uint32_t)fc->members->nelts + LBF_SPARE_ROWS;
        fc->mconf = apr_pcalloc(lbf_g->pconf, fc->l_rows * sizeof(*fc->mconf));
        for (j = 0; j < fc->members->nelts; j++) {
            if ((rc = lbf_populate_member(fc, &APR_ARRAY_IDX(fc->members, j,
                                          struct lbf_member_conf))) < 0) {
                return rc;
            }
        }
        lbf_farm_rebuild(&lbf_g->shm, lbf_farm_at(&lbf_g->shm, fc->fi));
    }
    return LBF_OK;
}

/* Row name for balancer member w: "host:port", made unique with "~i". */
static const char *lbf_bal_row_name(apr_pool_t *p, proxy_worker *w, int i,
                                    struct lbf_farm *f, struct lbf_shm *h)
{
    char *name = apr_psprintf(p, "%.20s:%u", w->s->hostname_ex,
                              (unsigned)w->s->port);

    if (lbf_member_find(h, f, name) >= 0) {
        name = apr_psprintf(p, "%.20s~%d", w->s->hostname_ex, i);
    }
    return name;
}

/* Give balancer b (a stock balancer:// of any lbmethod) a farm of rows. */
static int lbf_populate_balancer(apr_pool_t *p, proxy_balancer *b)
{
    struct lbf_shm *h = &lbf_g->shm;
    uint32_t l = (uint32_t)b->workers->nelts + (uint32_t)b->growth + 1;
    char fname[LBF_NAME_SIZE];
    struct lbf_farm *f;
    uint32_t *idx;
    int rc, i, method;

    if (apr_hash_get(lbf_g->bal_farms, b->s->name, APR_HASH_KEY_STRING)) {
        return LBF_OK; /* the same balancer seen again through a vhost */
    }
    apr_snprintf(fname, sizeof(fname), "~%.20s#%08x", b->s->name + 11,
                 (unsigned)ap_proxy_hashfunc(b->s->name, PROXY_HASHFUNC_FNV));
    method = b->lbmethod ? lbf_method_find(b->lbmethod->name) : -1;
    rc = lbf_farm_add(h, fname, method < 0 ? LBF_METHOD_FOREIGN
                                           : (uint32_t)method,
                      l > LBF_FARM_MEMBERS_MAX ? LBF_FARM_MEMBERS_MAX : l);
    if (rc < 0) {
        return rc;
    }
    f = lbf_farm_at(h, (uint32_t)rc);
    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker *w = APR_ARRAY_IDX(b->workers, i, proxy_worker *);

        lbf_member_add(h, (uint32_t)rc, lbf_bal_row_name(p, w, i, f, h),
                       lbf_worker_weight(w), 0, 0);
    }
    lbf_farm_rebuild(h, f);
    idx = apr_palloc(p, sizeof(*idx));
    *idx = (uint32_t)rc;
    apr_hash_set(lbf_g->bal_farms, b->s->name, APR_HASH_KEY_STRING, idx);
    return LBF_OK;
}

/* Create this generation's segment, fill it, carry the old one over. */
static int lbf_shm_setup(apr_pool_t *pconf, server_rec *s)
{
    struct lbf_gen *old = NULL, *gen;
    apr_pool_t *gp;
    struct lbf_layout lay;
    apr_status_t rv;
    server_rec *v;
    int i;

    apr_pool_userdata_get((void **)&old, LBF_GEN_KEY, s->process->pool);
    lbf_layout_count(s, &lay);
    lay.generation = (uint64_t)ap_state_query(AP_SQ_CONFIG_GEN);
    apr_pool_create(&gp, s->process->pool);
    gen = apr_pcalloc(gp, sizeof(*gen));
    gen->pool = gp;
    rv = apr_shm_create(&gen->seg, lbf_shm_size(&lay), NULL, gp);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "LBF00003: cannot create "
                     "a shared segment of %" APR_SIZE_T_FMT " bytes",
                     lbf_shm_size(&lay));
        apr_pool_destroy(gp);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    lbf_shm_format(&gen->shm, apr_shm_baseaddr_get(gen->seg),
                   apr_shm_size_get(gen->seg), &lay);
    lbf_g->shm = gen->shm;
    lbf_g->seg = gen->seg;
    if (lbf_populate_farms(s) != LBF_OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (v = s; v != NULL; v = v->next) {
        proxy_server_conf *pc = ap_get_module_config(v->module_config,
                                                     &proxy_module);
        for (i = 0; pc && i < pc->balancers->nelts; i++) {
            lbf_populate_balancer(pconf, &APR_ARRAY_IDX(pc->balancers, i,
                                                        proxy_balancer));
        }
    }
    if (old != NULL) {
        i = lbf_shm_carry(&gen->shm, &old->shm);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "LBF00004: restart: "
                     "carried the state of %d members over", i);
        apr_pool_destroy(old->pool); /* unmaps here; old children keep it */
    }
    apr_pool_userdata_set(gen, LBF_GEN_KEY, apr_pool_cleanup_null,
                          s->process->pool);
    return OK;
}

static int lbf_post_config(apr_pool_t *pconf, apr_pool_t *plog LBF_UNUSED,
                           apr_pool_t *ptemp LBF_UNUSED, server_rec *s)
{
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    return lbf_shm_setup(pconf, s);
}

static int lbf_pre_config(apr_pool_t *pconf, apr_pool_t *plog LBF_UNUSED,
                          apr_pool_t *ptemp LBF_UNUSED)
{
    lbf_g = apr_pcalloc(pconf, sizeof(*lbf_g));
    lbf_g->pconf = pconf;
    lbf_g->farms = apr_array_make(pconf, 4, sizeof(struct lbf_farm_conf *));
    lbf_g->by_name = apr_hash_make(pconf);
    lbf_g->bal_farms = apr_hash_make(pconf);
    lbf_cur_farm = NULL;
    return OK;
}

/* Check the inherited segment and open our workers' connection pools. */
static void lbf_child_init(apr_pool_t *pchild, server_rec *s)
{
    int i, j, rc;

    if (lbf_g->seg == NULL) {
        return;
    }
    rc = lbf_shm_attach(&lbf_g->shm, apr_shm_baseaddr_get(lbf_g->seg),
                        apr_shm_size_get(lbf_g->seg));
    if (rc != LBF_OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00005: the shared "
                     "segment does not match this build (%d): farms disabled",
                     rc);
        lbf_g->shm.base = NULL;
        return;
    }
    for (i = 0; i < lbf_g->farms->nelts; i++) {
        struct lbf_farm_conf *fc = APR_ARRAY_IDX(lbf_g->farms, i,
                                                 struct lbf_farm_conf *);
        for (j = 0; j < fc->members->nelts; j++) {
            ap_proxy_initialize_worker(APR_ARRAY_IDX(fc->members, j,
                                       struct lbf_member_conf).worker,
                                       s, pchild);
        }
    }
    lbf_g->s = s;
    apr_pool_create(&lbf_g->rt_pool, pchild);
    apr_thread_mutex_create(&lbf_g->rt_mutex, APR_THREAD_MUTEX_DEFAULT,
                            pchild);
    lbf_proxy_child_init(pchild, s);
    lbf_health_child_init(pchild, s);
}

static const command_rec lbf_cmds[] = {
    AP_INIT_RAW_ARGS("<LBFarm", lbf_cmd_farm, NULL, RSRC_CONF,
                     "<LBFarm name> ... </LBFarm>: a farm of members"),
    AP_INIT_RAW_ARGS("LBFarmMember", lbf_cmd_member, NULL, RSRC_CONF,
                     "name URL [weight=1..100] [retry=S] [timeout=S] "
                     "[connectiontimeout=S] [standby]"),
    AP_INIT_TAKE1("LBFarmMethod", lbf_cmd_method, NULL, RSRC_CONF,
                  "weighted | least-load"),
    AP_INIT_TAKE1("LBFarmRetry", lbf_cmd_retry, NULL, RSRC_CONF,
                  "seconds a failed member stays in error (default 60)"),
    AP_INIT_TAKE1("LBFarmPushKey", lbf_cmd_push_key, NULL, RSRC_CONF,
                  "file holding the farm's push secret (two lines: two live "
                  "secrets)"),
    AP_INIT_RAW_ARGS("LBFarmMetric", lbf_cmd_metric, NULL, RSRC_CONF,
                     "name capacity [weight]: a term of the load formula"),
    AP_INIT_TAKE1("LBFarmPushWindow", lbf_cmd_push_time, (void *)0, RSRC_CONF,
                  "seconds a push timestamp may differ from now (30)"),
    AP_INIT_TAKE1("LBFarmMetricExpiry", lbf_cmd_push_time, (void *)1,
                  RSRC_CONF, "age after which pushed load is ignored (15s)"),
    AP_INIT_TAKE1("LBFarmMetricBlackout", lbf_cmd_push_time, (void *)2,
                  RSRC_CONF, "time before a new run of reports counts (2s)"),
    AP_INIT_TAKE2("LBFarmPushRate", lbf_cmd_push_rate, NULL, RSRC_CONF,
                  "pushes per second per member, and burst (5 10)"),
    AP_INIT_FLAG("LBFarmHeartbeat", lbf_cmd_heartbeat, NULL, RSRC_CONF,
                 "accept mod_heartbeat's v=1&ready=&busy= messages (Off)"),
    AP_INIT_TAKE1("LBFarmSessionKey", lbf_cmd_session_key, NULL, RSRC_CONF,
                  "file with the farm's session secret (two lines: rotation)"),
    AP_INIT_RAW_ARGS("LBFarmSticky", lbf_cmd_sticky, NULL, RSRC_CONF,
                     "On|Off [ttl=SECONDS] [cookie=NAME]"),
    AP_INIT_TAKE1("LBFarmRouteCookie", lbf_cmd_route_cookie, NULL, RSRC_CONF,
                  "application cookie or parameter ending in .<member>"),
    AP_INIT_FLAG("LBFarmInstructions", lbf_cmd_instructions, NULL, RSRC_CONF,
                 "obey signed X-LBFarm-Instruction response headers (Off)"),
    AP_INIT_RAW_ARGS("LBFarmHealthCheck", lbf_cmd_health, NULL, RSRC_CONF,
                     "/uri [interval=5] [timeout=2] [expect=200] [rise=2] "
                     "[fall=3]"),
    AP_INIT_TAKE1("LBFarmDownURL", lbf_cmd_fallback, NULL, RSRC_CONF,
                  "where requests go when no member is up"),
    AP_INIT_TAKE1("LBFarmOfflineURL", lbf_cmd_fallback, (void *)1, RSRC_CONF,
                  "where requests go when the farm is offline"),
    AP_INIT_TAKE1("LBFarmState", lbf_cmd_farm_state, NULL, RSRC_CONF,
                  "online | offline"),
    AP_INIT_TAKE1("LBFarmSlowStart", lbf_cmd_slowstart, NULL, RSRC_CONF,
                  "ramp time of a member coming back (0 = none)"),
    AP_INIT_ITERATE("LBFarmErrorStatus", lbf_cmd_error_status, NULL,
                    RSRC_CONF, "member response statuses that put it in "
                    "error"),
    AP_INIT_TAKE1("LBFarmLatencyDecay", lbf_cmd_latency_decay, NULL,
                  RSRC_CONF, "time constant of the latency estimate (2s)"),
    AP_INIT_TAKE12("LBFarmStall", lbf_cmd_stall, NULL, RSRC_CONF,
                   "on | off | K FLOOR: a member answering nothing for "
                   "max(K x p99, FLOOR) gets no new requests"),
    {NULL}
};

static void lbf_register_hooks(apr_pool_t *p)
{
    static const char *const pred[] = {"mod_proxy.c", NULL};

    ap_hook_pre_config(lbf_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(lbf_check_config, pred, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(lbf_post_config, pred, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(lbf_child_init, pred, NULL, APR_HOOK_MIDDLE);
    lbf_proxy_register_hooks(p);
    lbf_status_register_hooks(p);
    lbf_push_register_hooks(p);
    lbf_sess_register_hooks(p);
}

AP_DECLARE_MODULE(lbfarm) = {
    STANDARD20_MODULE_STUFF,
    NULL,                       /* per-directory config creator */
    NULL,                       /* dir config merger */
    NULL,                       /* server config creator */
    NULL,                       /* server config merger */
    lbf_cmds,                   /* command table */
    lbf_register_hooks,         /* set up other request processing hooks */
    AP_MODULE_FLAG_NONE
};
