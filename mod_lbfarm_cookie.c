/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_cookie.c -- Set-Cookie values for the glue
 * (include/mod_lbfarm_cookie.h); the policy is the core's.
 */
#include "apr_strings.h"
#include "http_protocol.h"
#include "http_ssl.h"

#include "mod_lbfarm_cookie.h"

const char *lbf_cookie_header(request_rec *r,
                              const struct lbf_cookie_policy *pol,
                              const char *name, const char *value,
                              apr_int64_t max_age)
{
    char buf[LBF_COOKIE_MAX];
    int tls = ap_ssl_conn_is_ssl(r->connection)
              || strcmp(ap_http_scheme(r), "https") == 0;

    if (lbf_cookie_format(pol, tls, name, value, "/", (int64_t)max_age,
                          (int64_t)apr_time_sec(r->request_time), buf,
                          sizeof(buf)) < 0) {
        return NULL;
    }
    return apr_pstrdup(r->pool, buf);
}
