/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_hold.c -- in-flight that a dead child took goes back to its
 * members.  The core (lbfarm_hold.c) keeps, per child process, one slot
 * per request in flight naming the row it took; here:
 *
 *   post_config   the parent sizes the hold area (lbf_hold_layout) in the
 *   (parent)      new segment: a block per ServerLimit process.
 *   child_init    a child joins (claims a block for its pid), starts a
 *                 sweeper thread and, at exit, gives back what it still
 *                 holds (a normal exit -- MaxConnectionsPerChild, graceful
 *                 stop -- has ended its requests; this is for the rest)
 *                 but keeps its block until it is gone.
 *   request       take a slot next to the row's inflight++, empty it next
 *                 to its inflight-- (mod_lbfarm_proxy.c).  A thread-local
 *                 hint makes the claim one CAS on a line only this child
 *                 writes.
 *   sweeper       every LBF_HOLD_SWEEP_USEC one child (a CAS on the area's
 *                 sweep_next) reaps the blocks whose owner is gone or a
 *                 zombie (lbf_hold_pid_alive).
 *   child_status  the parent, right after it waited for a child, reaps
 *   (parent)      that pid's block -- before the pid can go to a new
 *                 child, so pid reuse never hides a dead child.  The
 *                 monitor hook sweeps as a backup.
 *
 * Whoever empties a slot releases its row (an atomic exchange), so a row
 * is released exactly once.  A graceful restart gives each generation its
 * own segment: the new children join the new hold area, the old children
 * keep theirs (and reap each other there); the parent reaps only in the
 * current one, where an old child's pid is never found.  The parent uses
 * its own copy of the area's place and size (struct lbf_shm), never the
 * segment's header.
 */
#include "apr_thread_proc.h"
#include "ap_mpm.h"
#include "mpm_common.h"

#include <stdatomic.h>
#include <unistd.h>

#include "mod_lbfarm_hold.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_HOLD_SWEEP_USEC 200000u         /* one sweep per 200 ms */
#define LBF_HOLD_TICK apr_time_from_msec(50) /* sweeper wake-ups */
#define LBF_HOLD_AREA_MAX (64u << 20)        /* larger: no hold area */

/* This child's block (-1: none, untracked) and its thread's hint. */
static int lbf_hold_me = -1;
static __thread uint32_t lbf_hold_hint;

struct lbf_sweeper {
    apr_thread_t *thread;
    _Atomic int stop;
    server_rec *s;
};

/* Release callback of the core: ctx is the process's segment view. */
static void lbf_hold_release(void *ctx, uint32_t row)
{
    lbf_row_reclaim(ctx, row);
}

void lbf_hold_layout(struct lbf_layout *lay, server_rec *s)
{
    int procs = 0, threads = 0;
    uint64_t slots;

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &procs);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads);
    if (procs < 1) {
        procs = 1;
    }
    slots = 2u * (uint64_t)(threads < 1 ? 1 : threads) + 16u;
    lay->hold_procs = procs > LBF_HOLD_PROCS_MAX ? LBF_HOLD_PROCS_MAX
                                                 : (uint32_t)procs;
    lay->hold_slots = slots > LBF_HOLD_SLOTS_MAX ? LBF_HOLD_SLOTS_MAX
                                                 : (uint32_t)slots;
    if (lbf_hold_size(lay->hold_procs, lay->hold_slots) > LBF_HOLD_AREA_MAX
        || lbf_shm_size(lay) == 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00700: a hold "
                     "area for %u processes of %u slots is too large: the "
                     "in-flight requests of a child that dies are not "
                     "returned (lower ServerLimit or ThreadLimit)",
                     lay->hold_procs, lay->hold_slots);
        lay->hold_procs = 0;
        lay->hold_slots = 0;
    }
}

uint32_t lbf_hold_req_take(const struct lbf_shm *h, const struct lbf_farm *f,
                           uint32_t mi)
{
    if (lbf_hold_me < 0 || h->hold == NULL) {
        return LBF_HOLD_NONE;
    }
    return lbf_hold_take(h->hold, lbf_hold_me, f->first_row + mi,
                         &lbf_hold_hint);
}

int lbf_hold_req_drop(const struct lbf_shm *h, uint32_t slot)
{
    if (lbf_hold_me < 0 || h->hold == NULL || slot == LBF_HOLD_NONE) {
        return 1;
    }
    return lbf_hold_drop(h->hold, lbf_hold_me, slot);
}

/* Reap the dead in the current segment's area (any process); self is
 * not reaped.  Logs what came back. */
static void lbf_hold_sweep(server_rec *s, const char *who)
{
    struct lbf_global *g = lbf_global_get();
    uint32_t n;

    if (g == NULL || g->shm.hold == NULL) {
        return;
    }
    n = lbf_hold_reap(g->shm.hold, g->shm.hold_len, (uint32_t)getpid(),
                      lbf_hold_pid_alive, lbf_hold_release, &g->shm);
    if (n > 0) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "LBF00701: %s returned "
                     "%u in-flight requests of dead children to their "
                     "members", who, n);
    }
}

static void *APR_THREAD_FUNC lbf_hold_sweeper(apr_thread_t *t, void *data)
{
    struct lbf_sweeper *sw = data;
    struct lbf_global *g = lbf_global_get();

    while (!atomic_load(&sw->stop)) {
        apr_sleep(LBF_HOLD_TICK);
        if (lbf_hold_sweep_due(g->shm.hold, (uint64_t)apr_time_now(),
                               LBF_HOLD_SWEEP_USEC)) {
            lbf_hold_sweep(sw->s, "a child's sweep");
        }
    }
    (void)t; /* return, not apr_thread_exit(): no unwinding of our frames */
    return NULL;
}

/* pchild cleanup: stop the sweeper, give back what this child holds. */
static apr_status_t lbf_hold_child_exit(void *data)
{
    struct lbf_sweeper *sw = data;
    struct lbf_global *g = lbf_global_get();
    apr_status_t rv;
    uint32_t n;

    atomic_store(&sw->stop, 1);
    if (sw->thread != NULL) {
        apr_thread_join(&rv, sw->thread);
    }
    /* the block stays this process's until it is gone (the parent frees
     * it): a thread still ending a request finds its slot empty */
    n = lbf_hold_leave(g->shm.hold, g->shm.hold_len, lbf_hold_me,
                       (uint32_t)getpid(), lbf_hold_release, &g->shm);
    if (n > 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, sw->s, "LBF00702: child "
                     "exits with %u requests in flight: returned to their "
                     "members", n);
    }
    return APR_SUCCESS;
}

void lbf_hold_child_init(apr_pool_t *pchild, server_rec *s)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_sweeper *sw;

    if (g->shm.hold == NULL) {
        return;
    }
    lbf_hold_me = lbf_hold_join(g->shm.hold, g->shm.hold_len,
                                (uint32_t)getpid(), lbf_hold_pid_alive,
                                lbf_hold_release, &g->shm);
    if (lbf_hold_me < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00703: no free "
                     "block in the hold area: this child's requests are "
                     "not returned if it dies");
    }
    sw = apr_pcalloc(pchild, sizeof(*sw));
    sw->s = s;
    if (apr_thread_create(&sw->thread, NULL, lbf_hold_sweeper, sw, pchild)
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "LBF00704: cannot start "
                     "the in-flight sweeper thread in this child");
        sw->thread = NULL;
    }
    apr_pool_cleanup_register(pchild, sw, lbf_hold_child_exit,
                              apr_pool_cleanup_null);
}

/* Parent: the MPM waited for child pid; its block goes back now. */
static void lbf_hold_child_status(server_rec *s, pid_t pid,
                                  ap_generation_t gen, int slot,
                                  mpm_child_status state)
{
    struct lbf_global *g = lbf_global_get();
    uint32_t n;

    (void)gen;
    (void)slot;
    if (state != MPM_CHILD_EXITED || g == NULL || g->shm.hold == NULL
        || pid <= 0) {
        return;
    }
    n = lbf_hold_reap_pid(g->shm.hold, g->shm.hold_len, (uint32_t)pid,
                          lbf_hold_release, &g->shm);
    if (n > 0) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "LBF00705: child %"
                     APR_PID_T_FMT " died with %u requests in flight: "
                     "returned to their members", pid, n);
    }
}

/* Parent: a backup sweep (the MPM calls monitor every few seconds). */
static int lbf_hold_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    lbf_hold_sweep(s, "the parent's sweep");
    return DECLINED;
}

void lbf_hold_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_status(lbf_hold_child_status, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(lbf_hold_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}
