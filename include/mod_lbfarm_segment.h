/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_segment.h -- the shared segment's life cycle in the glue
 * (mod_lbfarm_segment.c): sized and created by the parent at post_config,
 * filled with the configured farms and stock balancers, the previous
 * generation's state carried over, then attached by every child.
 */
#ifndef MOD_LBFARM_SEGMENT_H
#define MOD_LBFARM_SEGMENT_H

#include "mod_lbfarm_registry.h"

/* post_config (second pass): create this generation's segment, fill it
 * from the registry and the balancers of every server, carry the old
 * generation's state over when that one is sound (else log why once and
 * start fresh).  Returns OK, or HTTP_INTERNAL_SERVER_ERROR (logged) when
 * the segment cannot be made. */
int lbf_segment_create(apr_pool_t *pconf, server_rec *s);

/* child_init: attach the inherited segment.  Returns 1 when the farms can
 * serve, 0 when there is no segment or it is refused (logged; the farms
 * are then disabled in this child). */
int lbf_segment_attach(server_rec *s);

/* Parent, monitor hook (httpd runs it every 10 s): log the row locks taken
 * over from dead owners and the torn metrics groups reset since the last
 * call (LBF00810, warn): one line per 10 s at most.  Reads two
 * counters of the segment lock-free; takes no lock. */
void lbf_segment_watch(server_rec *s);

#endif /* MOD_LBFARM_SEGMENT_H */
