/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_hold.h -- the glue of the hold area (mod_lbfarm_hold.c): a
 * child's in-flight requests are recorded per process in the segment
 * (include/lbfarm_hold.h), so that when the child dies (SIGKILL, a crash,
 * an exit with requests open) its rows' in-flight counts come back:
 * within ~200 ms from the sweep of a surviving child, within about a
 * second from the parent when it waits for the dead child.
 */
#ifndef MOD_LBFARM_HOLD_H
#define MOD_LBFARM_HOLD_H

#include "mod_lbfarm_registry.h"

/* post_config (parent): size the hold area of a new segment from the MPM
 * (a block per ServerLimit process, 2 x ThreadLimit + 16 slots each) into
 * lay->hold_procs/hold_slots; none when lay would grow too big (logged).
 * Config time, no lock. */
void lbf_hold_layout(struct lbf_layout *lay, server_rec *s);

/* child_init, after the segment is attached: join the hold area, start
 * the sweeper thread, and on exit (pchild cleanup) stop it and give back
 * whatever this child still holds. */
void lbf_hold_child_init(apr_pool_t *pchild, server_rec *s);

/* Request path: the request took member mi of farm f (inflight++ done);
 * returns its slot (LBF_HOLD_NONE when untracked).  Lock-free. */
uint32_t lbf_hold_req_take(const struct lbf_shm *h, const struct lbf_farm *f,
                           uint32_t mi);

/* Request path: the request ends; returns 1 when the caller must do the
 * row's inflight-- (lbf_row_release), 0 when a reaper did already.
 * Lock-free. */
int lbf_hold_req_drop(const struct lbf_shm *h, uint32_t slot);

/* Register the parent's hooks: child_status (reap a child the MPM waited
 * for, by pid) and monitor (a backup sweep). */
void lbf_hold_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_HOLD_H */
