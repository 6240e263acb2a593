/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_main.c -- runs every unit suite of the pure core in one binary,
 * basic to complex: the SWRR builder, the segment, the method table, the
 * two methods, locks and seqlocks, graceful-restart carry, then fork()ed
 * workers hammering one shared farm.  Exit status: 0 when all pass.
 */
#include <stdlib.h>

#include "lbf_unit.h"

int main(void)
{
    SRunner *sr = srunner_create(lbf_suite_swrr());
    int failed;

    srunner_add_suite(sr, lbf_suite_shm());
    srunner_add_suite(sr, lbf_suite_methods());
    srunner_add_suite(sr, lbf_suite_weighted());
    srunner_add_suite(sr, lbf_suite_leastload());
    srunner_add_suite(sr, lbf_suite_lock());
    srunner_add_suite(sr, lbf_suite_carry());
    srunner_add_suite(sr, lbf_suite_stress());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
