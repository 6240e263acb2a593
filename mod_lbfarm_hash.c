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
#include "lbfarm_cookie.h"
#include "lbfarm_hash.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_HASH_ENV "LBFARM_HASH_KEY"
#define LBF_HASH_NAME_SIZE 64 /* cookie/header/parameter name, NUL incl. */

/* Where a request's hash key comes from (LBFarmHashKey). */
enum lbf_hash_src {
    LBF_HASH_CLIENT = 0,      /* the client address (the default) */
    LBF_HASH_COOKIE = 1,
    LBF_HASH_HEADER = 2,
    LBF_HASH_PATH = 3,
    LBF_HASH_QUERY = 4
};

/* One farm's LBFarmHashKey. */
struct lbf_hash_conf {
    uint32_t src;             /* enum lbf_hash_src */
    uint32_t c_milli;         /* balance=, 0 = the core's default */
    char name[LBF_HASH_NAME_SIZE]; /* cookie, header or parameter */
};

/* This generation's farm -> struct lbf_hash_conf (keyed by the farm's
 * conf pointer); written at config time only, read by any thread. */
static apr_hash_t *lbf_hash_confs;

static apr_status_t lbf_hash_confs_gone(void *data)
{
    (void)data;
    lbf_hash_confs = NULL;
    return APR_SUCCESS;
}

/* fc's key configuration, created (in pconf p) when create is set; NULL
 * when fc has none. */
static struct lbf_hash_conf *lbf_hash_conf_of(apr_pool_t *p,
                                              const struct lbf_farm_conf *fc,
                                              int create)
{
    struct lbf_hash_conf *hc;

    if (lbf_hash_confs == NULL) {
        if (!create) {
            return NULL;
        }
        lbf_hash_confs = apr_hash_make(p);
        apr_pool_cleanup_register(p, NULL, lbf_hash_confs_gone,
                                  apr_pool_cleanup_null);
    }
    hc = apr_hash_get(lbf_hash_confs, &fc, sizeof(fc));
    if (hc == NULL && create) {
        const struct lbf_farm_conf **k = apr_palloc(p, sizeof(*k));

        *k = fc;
        hc = apr_pcalloc(p, sizeof(*hc));
        apr_hash_set(lbf_hash_confs, k, sizeof(*k), hc);
    }
    return hc;
}

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
static const char *lbf_hash_word(cmd_parms *cmd, struct lbf_hash_conf *t,
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
        t->src = !strcasecmp(w, "path") ? LBF_HASH_PATH : LBF_HASH_CLIENT;
        return NULL;
    }
    if (!strncasecmp(w, "balance=", 8)) {
        c = lbf_parse_milli(w + 8);
        if (c < LBF_HASH_C_MIN || c > LBF_HASH_C_MAX) {
            return apr_psprintf(cmd->pool, "LBFarmHashKey: invalid balance "
                                "\"%s\" (a factor 1..100, e.g. 1.25)", w + 8);
        }
        t->c_milli = (uint32_t)c;
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
            t->src = named[i].src;
            apr_cpystrn(t->name, w + len, sizeof(t->name));
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
        if ((err = lbf_hash_word(cmd, lbf_hash_conf_of(cmd->pool, fc, 1),
                                 w)) != NULL) {
            return err;
        }
    }
    return NULL;
}

/* The value of query parameter name in r's query string, copied into
 * r->pool, or NULL. */
static const char *lbf_hash_query(request_rec *r, const char *name)
{
    size_t n;
    const char *v = lbf_query_find(r->args, name, &n);

    return v != NULL ? apr_pstrmemdup(r->pool, v, n) : NULL;
}

/* The key LBFarmHashKey t names in r, or NULL when r lacks it. */
static const char *lbf_hash_from(request_rec *r,
                                 const struct lbf_hash_conf *t)
{
    const char *v = NULL;

    switch (t->src) {
    case LBF_HASH_COOKIE:
        return ap_cookie_read(r, t->name, &v, 0) == APR_SUCCESS
                   && v != NULL && *v != '\0' ? v : NULL;
    case LBF_HASH_HEADER:
        v = apr_table_get(r->headers_in, t->name);
        return v != NULL && *v != '\0' ? v : NULL;
    case LBF_HASH_PATH:
        return r->uri;
    case LBF_HASH_QUERY:
        v = lbf_hash_query(r, t->name);
        return v != NULL && *v != '\0' ? v : NULL;
    default:
        return NULL;
    }
}

void lbf_hash_fill_key(request_rec *r, uint32_t method,
                       const struct lbf_farm_conf *fc, struct lbf_pick *pk)
{
    const struct lbf_hash_conf *t;
    const char *key = NULL;

    if (!lbf_method_uses_key(method)) {
        return;
    }
    if (fc != NULL) {
        if ((t = lbf_hash_conf_of(NULL, fc, 0)) != NULL) {
            key = lbf_hash_from(r, t);
            pk->hash_c_milli = t->c_milli;
        }
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
