/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_directives.c -- the core farm and member directives:
 * <LBFarm>, LBFarmMember (and its options), LBFarmMethod, LBFarmRetry; and
 * check_config's look at mod_proxy's directives: a ProxyPass to a farm
 * that does not exist is refused, a ProxyPassReverse to a farm covers
 * every member.  The directives of the other concerns live with them
 * (mod_lbfarm_push.c, _session.c, _health.c); the command table that
 * names them all is in mod_lbfarm.c.
 */
#include "apr_hash.h"
#include "apr_strings.h"
#include "http_core.h"

#include "mod_lbfarm_directives.h"
#include "mod_lbfarm_push.h"
#include "lbfarm_conf.h"

APLOG_USE_MODULE(lbfarm);

/* ------------------------------------------------------------------ */
/* Directives                                                          */

/* <LBFarm name> ... </LBFarm>: declares a farm, then reads its body. */
const char *lbf_cmd_farm(cmd_parms *cmd, void *dc LBF_UNUSED,
                         const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *end = ap_strrchr_c(arg, '>');
    struct lbf_farm_conf *fc;
    char *name;

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
    fc = lbf_farm_declare(cmd->pool, name,
                          apr_psprintf(cmd->pool, "%s:%d",
                                       cmd->directive->filename,
                                       cmd->directive->line_num));
    if (fc == NULL) {
        return apr_psprintf(cmd->pool, "<LBFarm>: duplicate farm \"%s\"",
                            name);
    }
    lbf_farm_set_current(fc);
    err = ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
    lbf_farm_set_current(NULL);
    if (err == NULL && fc->members->nelts == 0) {
        err = apr_psprintf(cmd->pool, "<LBFarm %s> has no LBFarmMember", name);
    }
    return err;
}

const char *lbf_cmd_method(cmd_parms *cmd, void *dc LBF_UNUSED,
                           const char *arg)
{
    struct lbf_farm_conf *fc;
    int m;

    LBF_FARM_OR_RETURN(cmd, fc);
    if ((m = lbf_method_find(arg)) < 0) {
        return apr_psprintf(cmd->pool, "LBFarmMethod: unknown method \"%s\" "
                            "(known: %s)", arg, lbf_method_list());
    }
    fc->method = m;
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

const char *lbf_cmd_retry(cmd_parms *cmd, void *dc LBF_UNUSED,
                          const char *arg)
{
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    fc->retry_set = 1;
    return lbf_parse_retry(cmd, "LBFarmRetry", arg, &fc->retry);
}

/* LBFarmMember's timeout= or connectiontimeout= (key) of val for mc's
 * worker. */
static const char *lbf_member_timeout(cmd_parms *cmd,
                                      struct lbf_member_conf *mc,
                                      const char *key, const char *val)
{
    apr_interval_time_t t;

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
        return lbf_member_timeout(cmd, mc, key, val);
    }
    else {
        return apr_psprintf(cmd->pool, "LBFarmMember: unknown option \"%s\" "
                            "for member \"%s\" (weight=N, retry=S, "
                            "timeout=S, connectiontimeout=S, standby)",
                            opt, mc->name);
    }
    return NULL;
}

/* The error when farm fc already has a member named name or with URL url,
 * else NULL. */
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

const char *lbf_cmd_member(cmd_parms *cmd, void *dc LBF_UNUSED,
                           const char *args)
{
    const char *err, *name, *url, *norm = NULL, *opt;
    struct lbf_farm_conf *fc;
    struct lbf_member_conf mc;

    LBF_FARM_OR_RETURN(cmd, fc);
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
    if ((err = lbf_member_dup(cmd, fc, name, norm)) != NULL) {
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
    if (fc->members->nelts >= LBF_FARM_MEMBERS_MAX - LBF_SPARE_ROWS) {
        return "LBFarmMember: too many members in one farm";
    }
    *(struct lbf_member_conf *)apr_array_push(fc->members) = mc;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Configuration checks (check_config: also run by apache2 -t)         */

/* 1 when ProxyPass target a goes to a Unix socket ("unix:/path|http://
 * any/"): mod_proxy keeps the URL after '|' in a->real, and its host is
 * ignored, so it names no farm. */
static int lbf_alias_uds(apr_pool_t *p, proxy_server_conf *pc,
                         const struct proxy_alias *a)
{
    proxy_worker *w = ap_proxy_get_worker_ex(p, NULL, pc, a->real,
                                             AP_PROXY_WORKER_IS_PREFIX);

    return w != NULL && w->s->uds_path[0] != '\0';
}

/* Warn of a ProxyPass whose host could name a farm but no farm has that
 * name (it goes to that host, as stock: never refused); mark the farm a
 * "unix:/path|http://farm/" ProxyPass shares its name with (uds_alias).  Only a target
 * whose host is written out can be checked: a ProxyPassMatch "$1" or an
 * interpolated "${VAR}" host is known only at request time (where
 * lbf_farm_by_host reads the substituted URL), and lbf_url_farm_ref does
 * not take it for a farm name. */
static void lbf_warn_alias(server_rec *s, apr_pool_t *p,
                           proxy_server_conf *pc, const struct proxy_alias *a)
{
    struct lbf_farm_conf *fc;
    const char *host;
    apr_size_t hlen;

    if (a == NULL || a->real == NULL || !lbf_url_farm_ref(a->real, &host,
                                                          &hlen)) {
        return;
    }
    fc = lbf_farm_by_name(host, hlen);
    if (lbf_alias_uds(p, pc, a)) {
        if (fc != NULL) {
            fc->uds_alias = 1; /* its requests ask lbf_url_uds */
        }
        return;
    }
    if (fc != NULL) {
        return;
    }
    /* stock httpd accepts it (a Docker or Kubernetes service name is such
     * a host): proxied as mod_proxy would, with a word in case of a typo */
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00001: ProxyPass "
                 "\"%s\" \"%s\": no LBFarm named \"%.*s\", so it goes to "
                 "the host \"%.*s\" as stock mod_proxy would (define "
                 "<LBFarm %.*s> if you meant a farm; write a port, e.g. "
                 "\"%.*s:80\", to say you meant the host)", a->fake, a->real,
                 (int)hlen, host, (int)hlen, host, (int)hlen, host,
                 (int)hlen, host);
}

/* Warn of the ProxyPass of server s (server level and <Location>
 * sections) whose host looks like a farm that does not exist. */
static void lbf_warn_server(server_rec *s, apr_pool_t *p)
{
    proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                 &proxy_module);
    core_server_config *cc = ap_get_core_module_config(s->module_config);
    int i;

    for (i = 0; pc && i < pc->aliases->nelts; i++) {
        lbf_warn_alias(s, p, pc, &APR_ARRAY_IDX(pc->aliases, i,
                                                struct proxy_alias));
    }
    for (i = 0; pc && cc && i < cc->sec_url->nelts; i++) {
        ap_conf_vector_t *v = APR_ARRAY_IDX(cc->sec_url, i,
                                            ap_conf_vector_t *);
        proxy_dir_conf *dc = ap_get_module_config(v, &proxy_module);

        if (dc != NULL) {
            lbf_warn_alias(s, p, pc, dc->alias);
        }
    }
}

/* Where ProxyPass a sends local path: its target URL ("!" for an
 * exclusion), or NULL when a does not match path.  As mod_proxy's
 * ap_proxy_trans_match, without its slash folding. */
static const char *lbf_alias_apply(apr_pool_t *p, const struct proxy_alias *a,
                                   const char *path)
{
    ap_regmatch_t m[AP_MAX_REG_MATCH];
    size_t n;

    if (a == NULL || a->real == NULL || a->fake == NULL) {
        return NULL;
    }
    if (a->regex != NULL) {
        if (ap_regexec(a->regex, path, AP_MAX_REG_MATCH, m, 0) != 0) {
            return NULL;
        }
        return !strcmp(a->real, "!") ? a->real
               : ap_pregsub(p, a->real, path, AP_MAX_REG_MATCH, m);
    }
    n = strlen(a->fake);
    if (strncmp(path, a->fake, n) != 0
        || (n > 0 && a->fake[n - 1] != '/' && path[n] != '\0'
            && path[n] != '/')) {
        return NULL;
    }
    return !strcmp(a->real, "!") ? a->real
           : apr_pstrcat(p, a->real, path + n, NULL);
}

/* The URL local path goes to in server s, as mod_proxy's proxy_trans
 * decides: the ProxyPass of the last <Location> that matches it, else the
 * first matching server-level ProxyPass.  NULL when it is not proxied. */
static const char *lbf_proxied_to(apr_pool_t *p, server_rec *s,
                                  const char *path)
{
    proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                 &proxy_module);
    core_server_config *cc = ap_get_core_module_config(s->module_config);
    const char *to = NULL, *t;
    int i;

    for (i = 0; cc && i < cc->sec_url->nelts; i++) {
        proxy_dir_conf *dc = ap_get_module_config(
            APR_ARRAY_IDX(cc->sec_url, i, ap_conf_vector_t *), &proxy_module);

        if (dc && (t = lbf_alias_apply(p, dc->alias, path)) != NULL) {
            to = t;
        }
    }
    for (i = 0; to == NULL && pc && i < pc->aliases->nelts; i++) {
        to = lbf_alias_apply(p, &APR_ARRAY_IDX(pc->aliases, i,
                                               struct proxy_alias), path);
    }
    return to != NULL && strcmp(to, "!") ? to : NULL;
}

/* Log and count farm fc's LBFarmDownURL or LBFarmOfflineURL (directive
 * what, value url) when server s proxies that page back to fc: served
 * when fc cannot serve, it would fail the same way (httpd stops the
 * recursion with a bare 503). */
static int lbf_check_fallback(apr_pool_t *p, server_rec *s,
                              const struct lbf_farm_conf *fc,
                              const char *what, const char *url)
{
    const char *to, *host;
    apr_size_t hlen;

    if (url == NULL || url[0] != '/'
        || (to = lbf_proxied_to(p, s, url)) == NULL
        || !lbf_url_farm_ref(to, &host, &hlen)
        || lbf_farm_by_name(host, hlen) != fc) {
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00802: <LBFarm %s> at %s: "
                 "%s \"%s\" is proxied back to the farm%s (to \"%s\"): it "
                 "is served when the farm cannot serve, so it would fail "
                 "too; exclude it (ProxyPass \"%s\" !) or serve it from "
                 "elsewhere", fc->name, fc->where, what, url,
                 s->is_virtual ? apr_psprintf(p, " in the <VirtualHost> at "
                                              "%s:%u", s->defn_name,
                                              s->defn_line_number)
                               : "", to, url);
    return 1;
}

/* Log and count what can never work in farm fc as configured; warn
 * about what it sets and ignores. */
static int lbf_check_farm(apr_pool_t *p, server_rec *s,
                          const struct lbf_farm_conf *fc)
{
    int bad = 0;
    server_rec *v;

    if (fc->nskeys == 0 && (fc->sticky || fc->instructions)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00800: <LBFarm %s> at "
                     "%s: %s needs LBFarmSessionKey (the secret that signs "
                     "%s): add \"LBFarmSessionKey /path/to/secret\" to the "
                     "farm", fc->name, fc->where,
                     fc->sticky && fc->instructions
                         ? "LBFarmSticky On and LBFarmInstructions On"
                         : fc->sticky ? "LBFarmSticky On"
                                      : "LBFarmInstructions On",
                     fc->sticky ? "the session cookies"
                                : "the application's instructions");
        bad++;
    }
    for (v = s; v != NULL; v = v->next) {
        bad += lbf_check_fallback(p, v, fc, "LBFarmDownURL", fc->down_url);
        bad += lbf_check_fallback(p, v, fc, "LBFarmOfflineURL",
                                  fc->offline_url);
    }
    lbf_push_check_farm(p, s, fc);
    return bad;
}

/* Log and count a balancer:// of server s that uses one of our lbmethods
 * while mod_proxy_balancer is not loaded: nothing would call the method,
 * and every request to the balancer would fail. */
static int lbf_check_balancers(server_rec *s)
{
    proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                 &proxy_module);
    int i;

    if (ap_find_linked_module("mod_proxy_balancer.c") != NULL) {
        return 0;
    }
    for (i = 0; pc && i < pc->balancers->nelts; i++) {
        proxy_balancer *b = &APR_ARRAY_IDX(pc->balancers, i, proxy_balancer);

        if (b->lbmethod && lbf_method_find(b->lbmethod->name) >= 0) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00804: %s uses "
                         "lbmethod=%s but mod_proxy_balancer is not loaded, "
                         "so every request to it would fail: load it (Debian: "
                         "a2enmod proxy_balancer), or use an <LBFarm>",
                         b->s->name, b->lbmethod->name);
            return 1;
        }
    }
    return 0;
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

        if (!lbf_url_farm_ref(a.real, &host, &hlen)
            || (fc = lbf_farm_by_name(host, hlen)) == NULL) {
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

int lbf_conf_check(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    struct lbf_global *g = lbf_global_get();
    server_rec *v;
    int i, bad = 0;

    for (v = s; v != NULL; v = v->next) {
        lbf_warn_server(v, ptemp);
        bad += lbf_check_balancers(v);
    }
    for (i = 0; i < g->farms->nelts; i++) {
        bad += lbf_check_farm(ptemp, s, APR_ARRAY_IDX(g->farms, i,
                                                      struct lbf_farm_conf *));
    }
    if (bad > 0) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (v = s; v != NULL; v = v->next) {
        lbf_expand_server(pconf, v, seen);
    }
    return OK;
}

/* Log and count every directive of ours under d with a trailing comment. */
static int lbf_comments_tree(server_rec *s, const ap_directive_t *d)
{
    const char *c;
    int bad = 0;

    for (; d != NULL; d = d->next) {
        const char *name = d->directive + (d->directive[0] == '<');

        if (!strncasecmp(name, "LBFarm", 6) && d->args != NULL
            && (c = lbf_conf_comment(d->args)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00805: %s:%d: "
                         "%s %s: a comment after the arguments (\"%s\"): "
                         "httpd reads it as arguments, as for its own "
                         "directives; put the comment on a line of its own",
                         d->filename, d->line_num, d->directive, d->args, c);
            bad++;
        }
        bad += lbf_comments_tree(s, d->first_child);
    }
    return bad;
}

int lbf_conf_check_comments(void)
{
    return lbf_comments_tree(NULL, ap_conftree) ? HTTP_INTERNAL_SERVER_ERROR
                                                : OK;
}
