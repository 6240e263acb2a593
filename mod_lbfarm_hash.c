/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_hash.c -- the request key of the method `hash` (the ring and
 * the bound are in the core: lbfarm_hash.c, include/lbfarm_hash.h):
 *
 *   LBFarmHashKey cookie=NAME | header=NAME | path | query=NAME | client
 *                 [balance=C]
 *
 * Farm mode reads the farm's LBFarmHashKey (default client); a request
 * that lacks the cookie, header or parameter is keyed by its client
 * address.  balancer:// mode (no farm directives) uses the request's
 * environment variable LBFARM_HASH_KEY when set (SetEnvIf, RewriteRule
 * [E=...]), else the client address.
 */
#include "apr_strings.h"
#include "util_cookies.h"

#include "mod_lbfarm_method.h"
#include "lbfarm_hash.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_HASH_ENV "LBFARM_HASH_KEY"

/* Parse a factor "1", "1.25", "2.5" into thousandths; -1 when malformed. */
static long lbf_parse_milli(const char *s)
{
    long v = 0, scale = 1000;

    if (!apr_isdigit(*s)) {
        return -1;
    }
    for (; apr_isdigit(*s) && v < 1000000; s++) {
        v = v * 10 + (*s - '0');
    }
    v *= 1000;
    if (*s == '.') {
        for (s++; apr_isdigit(*s) && scale > 1; s++) {
            scale /= 10;
            v += (*s - '0') * scale;
        }
    }
    return *s == '\0' ? v : -1;
}

/* One word of LBFarmHashKey into t; NULL or the error. */
static const char *lbf_hash_word(cmd_parms *cmd, struct lbf_tune *t,
                                 const char *w)
{
    static const struct {
        const char *prefix;
        uint32_t src;
    } named[] = {{"cookie=", LBF_HASH_COOKIE}, {"header=", LBF_HASH_HEADER},
                 {"query=", LBF_HASH_QUERY}};
    size_t i, len;
    long c;

    if (!strcasecmp(w, "client") || !strcasecmp(w, "path")) {
        t->hash_src = !strcasecmp(w, "path") ? LBF_HASH_PATH : LBF_HASH_CLIENT;
        return NULL;
    }
    if (!strncasecmp(w, "balance=", 8)) {
        c = lbf_parse_milli(w + 8);
        if (c < LBF_HASH_C_MIN || c > LBF_HASH_C_MAX) {
            return apr_psprintf(cmd->pool, "LBFarmHashKey: invalid balance "
                                "\"%s\" (a factor 1..100, e.g. 1.25)", w + 8);
        }
        t->hash_c_milli = (uint32_t)c;
        return NULL;
    }
    for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        len = strlen(named[i].prefix);
        if (!strncasecmp(w, named[i].prefix, len)) {
            if (w[len] == '\0' || strlen(w + len) >= LBF_HASH_NAME_SIZE
                || strpbrk(w + len, " \t;,=&\"") != NULL) {
                return apr_psprintf(cmd->pool, "LBFarmHashKey: invalid "
                                    "name \"%s\" in \"%s\" (1..%d "
                                    "characters, no spaces ; , = & \")",
                                    w + len, w, LBF_HASH_NAME_SIZE - 1);
            }
            t->hash_src = named[i].src;
            apr_cpystrn(t->hash_name, w + len, sizeof(t->hash_name));
            return NULL;
        }
    }
    return apr_psprintf(cmd->pool, "LBFarmHashKey: unknown key \"%s\" "
                        "(cookie=NAME, header=NAME, path, query=NAME, "
                        "client; balance=C)", w);
}

const char *lbf_cmd_hash_key(cmd_parms *cmd, void *dc LBF_UNUSED,
                             const char *args)
{
    struct lbf_farm_conf *fc;
    const char *w, *err;
    int keys = 0;

    LBF_FARM_OR_RETURN(cmd, fc);
    while (*(w = ap_getword_conf(cmd->temp_pool, &args)) != '\0') {
        keys += strncasecmp(w, "balance=", 8) != 0;
        if (keys > 1) {
            return apr_psprintf(cmd->pool, "LBFarmHashKey: one key only, "
                                "\"%s\" is a second one", w);
        }
        if ((err = lbf_hash_word(cmd, &fc->tune, w)) != NULL) {
            return err;
        }
    }
    return NULL;
}

/* The value of query parameter name in args (NULL-safe), or NULL. */
static const char *lbf_hash_query(apr_pool_t *p, const char *args,
                                  const char *name)
{
    size_t n = strlen(name);
    const char *a = args, *end;

    while (a != NULL && *a != '\0') {
        if (!strncmp(a, name, n) && a[n] == '=') {
            a += n + 1;
            end = strchr(a, '&');
            return end ? apr_pstrmemdup(p, a, (apr_size_t)(end - a)) : a;
        }
        a = strchr(a, '&');
        a = a ? a + 1 : NULL;
    }
    return NULL;
}

/* The key LBFarmHashKey t names in r, or NULL when r lacks it. */
static const char *lbf_hash_from(request_rec *r, const struct lbf_tune *t)
{
    const char *v = NULL;

    switch (t->hash_src) {
    case LBF_HASH_COOKIE:
        return ap_cookie_read(r, t->hash_name, &v, 0) == APR_SUCCESS
                   && v != NULL && *v != '\0' ? v : NULL;
    case LBF_HASH_HEADER:
        v = apr_table_get(r->headers_in, t->hash_name);
        return v != NULL && *v != '\0' ? v : NULL;
    case LBF_HASH_PATH:
        return r->uri;
    case LBF_HASH_QUERY:
        v = lbf_hash_query(r->pool, r->args, t->hash_name);
        return v != NULL && *v != '\0' ? v : NULL;
    default:
        return NULL;
    }
}

void lbf_hash_fill_key(request_rec *r, uint32_t method,
                       const struct lbf_tune *t, struct lbf_pick *pk)
{
    const char *key = NULL;

    if (!lbf_method_uses_key(method)) {
        return;
    }
    if (t != NULL) {
        key = lbf_hash_from(r, t);
    }
    else {
        key = apr_table_get(r->subprocess_env, LBF_HASH_ENV);
        key = key != NULL && *key != '\0' ? key : NULL;
    }
    if (key == NULL) {
        key = r->useragent_ip ? r->useragent_ip : "";
        ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r, "LBF00750: hash key "
                      "missing: keyed by the client address %s", key);
    }
    pk->key = key;
    pk->key_len = (uint32_t)strlen(key);
}
