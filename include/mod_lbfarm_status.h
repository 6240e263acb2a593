/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_status.h -- SetHandler lbfarm-status in the glue
 * (mod_lbfarm_status.c).
 */
#ifndef MOD_LBFARM_STATUS_H
#define MOD_LBFARM_STATUS_H

#include "mod_lbfarm_registry.h"

void lbf_status_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_STATUS_H */
