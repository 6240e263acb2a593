/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_main.c -- runs every unit suite of the pure core in one binary,
 * basic to complex: the SWRR builder, the segment, the method table, the
 * two methods, locks and seqlocks, graceful-restart carry, then fork()ed
 * workers hammering one shared farm; then the suites of the other core
 * files that are linked in.  Exit status: 0 when all pass.
 */
#include <stdlib.h>

#include "lbf_unit.h"

typedef Suite *lbf_suite_f(void);

Suite *lbf_suite_cookie(void) __attribute__((weak)); /* check_cookie.c */
Suite *lbf_suite_hash(void) __attribute__((weak));   /* check_hash.c */
Suite *lbf_suite_eject(void) __attribute__((weak));  /* check_eject.c */

/* Weakly declared in lbf_unit.h: NULL when that file is not linked. */
static lbf_suite_f *const lbf_optional[] = {
    lbf_suite_conf,
    lbf_suite_cookie,
    lbf_suite_push,
    lbf_suite_session,
    lbf_suite_snapshot,
    lbf_suite_render,
    lbf_suite_status_html,
    lbf_suite_admin,
    lbf_suite_heartbeat,
    lbf_suite_query,
    lbf_suite_hold,
    lbf_suite_hash,
    lbf_suite_eject,
};

int main(void)
{
    SRunner *sr = srunner_create(lbf_suite_swrr());
    size_t i;
    int failed;

    srunner_add_suite(sr, lbf_suite_shm());
    srunner_add_suite(sr, lbf_suite_methods());
    srunner_add_suite(sr, lbf_suite_weighted());
    srunner_add_suite(sr, lbf_suite_leastload());
    srunner_add_suite(sr, lbf_suite_leasttime());
    srunner_add_suite(sr, lbf_suite_lock());
    srunner_add_suite(sr, lbf_suite_carry());
    srunner_add_suite(sr, lbf_suite_stress());
    for (i = 0; i < sizeof(lbf_optional) / sizeof(lbf_optional[0]); i++) {
        if (lbf_optional[i] != NULL) {
            srunner_add_suite(sr, lbf_optional[i]());
        }
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
