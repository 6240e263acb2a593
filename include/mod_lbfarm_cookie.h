/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_cookie.h -- Set-Cookie in the httpd glue: the request's TLS
 * state and clock handed to the one builder, lbf_cookie_format()
 * (include/lbfarm_cookie.h).  Every cookie the module sets goes through
 * lbf_cookie_header().
 */
#ifndef MOD_LBFARM_COOKIE_H
#define MOD_LBFARM_COOKIE_H

#include "httpd.h"

#include "lbfarm_cookie.h"

/* The Set-Cookie value of name=value for r under pol (NULL: Lax, Secure
 * over TLS), Path=/, living max_age seconds (0 deletes it,
 * LBF_COOKIE_SESSION: until the browser closes), allocated from r->pool;
 * NULL when the name or value is not valid in a cookie.  Secure is set
 * when r came over TLS (mod_ssl) or the policy says always.  Thread-safe;
 * takes no lock. */
const char *lbf_cookie_header(request_rec *r,
                              const struct lbf_cookie_policy *pol,
                              const char *name, const char *value,
                              apr_int64_t max_age);

#endif /* MOD_LBFARM_COOKIE_H */
