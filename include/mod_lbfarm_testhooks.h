/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_testhooks.h -- test-only handlers (mod_lbfarm_testhooks.c),
 * compiled only when the module is built with -DLBF_TEST_HOOKS (the
 * Makefile's test-module and asan-module; never the installed module).
 */
#ifndef MOD_LBFARM_TESTHOOKS_H
#define MOD_LBFARM_TESTHOOKS_H

#include "mod_lbfarm_registry.h"

#ifdef LBF_TEST_HOOKS
/* SetHandler lbfarm-test-segment: writes one field of this child's live
 * segment, as a buggy or hostile child could (t/08_carry_guard.t).
 * Query: what=version|row_size|n_rows|farm_magic|row_magic [&farm=NAME]
 * [&value=N]; the farm's fields are those of farm NAME (its first row for
 * row_magic).  Answers 200 "set WHAT VALUE", 400 for anything else.
 * SetHandler lbfarm-test-lock: ?farm=F&member=M&what=hold[&secs=S]
 * [&torn=1] takes M's row lock (lbf_row_lock; with torn=1 a write
 * section opened too), answers "held pid N" at once and keeps the lock S
 * seconds (30; at most 120) before it lets go (t/60_fault_lock.t kills
 * the child first); what=forge&pid=P writes an owner word naming P (a
 * live process that does not hold it: pid reuse) and returns. */
void lbf_test_register_hooks(apr_pool_t *p);
#endif

#endif /* MOD_LBFARM_TESTHOOKS_H */
