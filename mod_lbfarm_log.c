/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_log.c -- the rate-limited logger (include/mod_lbfarm_log.h).
 */
#include <stdio.h>

#include "apr_time.h"

#include "mod_lbfarm_log.h"

int lbf_log_admit(struct lbf_log_limit *ll, apr_interval_time_t interval,
                  unsigned *suppressed)
{
    apr_time_t now = apr_time_now(), prev = atomic_load(&ll->last);

    if ((prev != 0 && now - prev < interval && now >= prev)
        || !atomic_compare_exchange_strong(&ll->last, &prev, now)) {
        atomic_fetch_add(&ll->suppressed, 1);
        return 0;
    }
    *suppressed = atomic_exchange(&ll->suppressed, 0);
    return 1;
}

const char *lbf_log_more(unsigned n, char *buf, size_t len)
{
    if (n == 0) {
        buf[0] = '\0';
    }
    else {
        snprintf(buf, len, " (%u more not logged)", n);
    }
    return buf;
}
