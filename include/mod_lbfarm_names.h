/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_names.h -- members by name in O(1), per process: the push
 * handler finds the member a push names, and sessions the member a route
 * cookie names, without scanning the farm (a forged push must cost the
 * same in a 1000-member farm as in a 2-member one).  Built over the
 * segment's rows in child_init with the core's lbf_name_index
 * (include/lbfarm_push.h); members added at runtime join on the first
 * lookup that sees them.
 */
#ifndef MOD_LBFARM_NAMES_H
#define MOD_LBFARM_NAMES_H

#include "mod_lbfarm.h"

/* child_init hook (registered by lbf_push_register_hooks, after the
 * module's own child_init attached the segment): one index per farm,
 * from pchild. */
void lbf_names_child_init(apr_pool_t *pchild, server_rec *s);

/* The index of the live (not removed) member of fc named name[0..len),
 * any case, or -1.  Lock-free, but takes this process's index mutex when
 * members were added at runtime since the last lookup. */
int lbf_member_named(struct lbf_farm_conf *fc, const char *name, size_t len);

#endif /* MOD_LBFARM_NAMES_H */
