/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_cookie.h -- the one Set-Cookie builder of mod_lbfarm, and the
 * Cookie header reader (pure C core: libc only, no httpd types).
 *
 * Every cookie the module sets goes through lbf_cookie_format(), so one
 * policy applies to all of them:
 *
 *   name=value; Path=/; Max-Age=N; Expires=<IMF date>; HttpOnly;
 *   SameSite=Lax|Strict|None[; Secure]
 *
 *  - HttpOnly always: no script of the site needs to read a balancer
 *    cookie.
 *  - SameSite: the policy's (Lax unless configured; the status page's
 *    session uses Strict).  None is only valid with Secure (browsers drop
 *    it otherwise), so None implies Secure.
 *  - Secure: when the request came over TLS, or always when the policy
 *    says so (TLS terminated in front of httpd).
 *  - Max-Age and Expires together (Expires for old clients): a lifetime
 *    in seconds from now; 0 deletes the cookie (Expires in 1970);
 *    LBF_COOKIE_SESSION sets neither (a browser-session cookie).
 *
 * Example (tls = 0, policy {Lax, TLS}, max_age 3600, now 1700000000):
 *   lbf_web=1.w...; Path=/; Max-Age=3600;
 *   Expires=Tue, 14 Nov 2023 23:13:20 GMT; HttpOnly; SameSite=Lax
 */
#ifndef LBFARM_COOKIE_H
#define LBFARM_COOKIE_H

#include <stddef.h>
#include <stdint.h>

enum lbf_samesite {
    LBF_SAMESITE_LAX = 0,       /* the default */
    LBF_SAMESITE_STRICT = 1,
    LBF_SAMESITE_NONE = 2       /* implies Secure */
};

enum lbf_cookie_secure {
    LBF_SECURE_TLS = 0,         /* Secure when the request came over TLS */
    LBF_SECURE_ALWAYS = 1       /* Secure on every cookie */
};

/* What a zeroed policy means: SameSite=Lax, Secure over TLS. */
struct lbf_cookie_policy {
    int samesite;               /* enum lbf_samesite */
    int secure;                 /* enum lbf_cookie_secure */
};

#define LBF_COOKIE_SESSION (-1) /* max_age: no Max-Age, no Expires */
#define LBF_COOKIE_MAX     512  /* bytes of a Set-Cookie value we build */

/*
 * Write the Set-Cookie value of cookie name=value under pol into out
 * (outlen bytes, NUL-terminated).  tls: 1 when the request came over TLS.
 * path: NULL for "/".  max_age: seconds (0 deletes) or LBF_COOKIE_SESSION;
 * now: Unix seconds, for Expires.  name must be an RFC 6265 token, value
 * cookie-octets only (no quote, comma, semicolon, backslash, space or
 * control), path printable ASCII without ';'.  Returns the length, or -1
 * (nothing usable in out) when an argument is invalid or out is too small.
 * No lock; thread-safe.
 */
int lbf_cookie_format(const struct lbf_cookie_policy *pol, int tls,
                      const char *name, const char *value, const char *path,
                      int64_t max_age, int64_t now, char *out,
                      size_t outlen);

/* Parse a SameSite option value ("Lax", "Strict", "None", any case):
 * the enum lbf_samesite, or -1. */
int lbf_cookie_samesite_parse(const char *s);

/* The attribute spelling of an enum lbf_samesite ("Lax" for unknown). */
const char *lbf_cookie_samesite_name(int samesite);

/* Find cookie name's value in a Cookie header (NULL-safe): a pointer into
 * hdr and its length in *len (trailing blanks trimmed), or NULL.  The
 * name must match exactly (case-sensitive, whole name). */
const char *lbf_cookie_find(const char *hdr, const char *name, size_t *len);

/* Find parameter name's value in a query string args (NULL-safe, not
 * decoded): a pointer into args and its length in *len, or NULL.  Only a
 * whole parameter name matches ("xname=" is not "name="); the first such
 * parameter wins. */
const char *lbf_query_find(const char *args, const char *name, size_t *len);

#endif /* LBFARM_COOKIE_H */
