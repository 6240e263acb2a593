/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_log.h -- the one rate-limited logger of the httpd glue.
 *
 * A line that an outsider can trigger at will (a refused push, a forged
 * cookie, a dropped instruction, a refused administrative request) must
 * not flood the error log.  Each such call site owns a static state and
 * logs through it at most once per interval per process; the lines it
 * suppressed are counted and reported on the next line that is logged,
 * as " (N more not logged)".  Use the macro:
 *
 *     LBF_LOG_LIMITED(r, APLOG_WARNING, apr_time_from_sec(1),
 *                     "LBF00301: farm %s: forged session cookie ignored",
 *                     fc->name);
 *
 * It expands at the call site, so APLOG_MARK and the file's
 * APLOG_USE_MODULE(lbfarm) apply, and each expansion has its own state.
 * Thread-safe and lock-free (C11 atomics).  Never pass a secret, a key,
 * a signature or a cookie value.
 */
#ifndef MOD_LBFARM_LOG_H
#define MOD_LBFARM_LOG_H

#include <stdatomic.h>

#include "httpd.h"
#include "http_log.h"

/* The state of one call site; zero-initialized (a static) is ready. */
struct lbf_log_limit {
    _Atomic apr_time_t last;          /* when it last logged; 0 never */
    atomic_uint suppressed;           /* lines skipped since */
};

/* 1 when the call site ll may log now (at most once per interval), and
 * then *suppressed holds the number of lines skipped since it last
 * logged; 0 when this line must be skipped (and is counted).  Lock-free;
 * of two threads racing for the same slot exactly one wins. */
int lbf_log_admit(struct lbf_log_limit *ll, apr_interval_time_t interval,
                  unsigned *suppressed);

/* " (N more not logged)" into buf (>= 40 bytes) when n > 0, else "";
 * returns buf. */
const char *lbf_log_more(unsigned n, char *buf, size_t len);

#define LBF_LOG_LIMITED(r, level, interval, fmt, ...)                       \
    do {                                                                    \
        static struct lbf_log_limit lbf_ll_;                                \
        unsigned lbf_ll_n_;                                                 \
        char lbf_ll_buf_[40];                                               \
                                                                            \
        if (lbf_log_admit(&lbf_ll_, (interval), &lbf_ll_n_)) {              \
            ap_log_rerror(APLOG_MARK, (level), 0, (r), fmt "%s",            \
                          __VA_ARGS__,                                      \
                          lbf_log_more(lbf_ll_n_, lbf_ll_buf_,              \
                                       sizeof(lbf_ll_buf_)));               \
        }                                                                   \
    } while (0)

#endif /* MOD_LBFARM_LOG_H */
