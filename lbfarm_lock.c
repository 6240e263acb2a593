/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_lock.c -- crash-safe locks between processes and seqlock write
 * sections.  Acquiring: a CAS of the owner word from 0, spinning, then
 * yielding; every LBF_YIELDS_BEFORE_CHECK yields the waiter asks whether
 * the owner still runs (kill(pid, 0)) and whether the word changed within
 * LBF_LOCK_STALE_USEC, and steals the lock from a dead or stale owner.
 * The caller learns of a steal (LBF_LOCK_STOLEN) and repairs what the
 * dead owner may have left half-written (lbf_row_lock in lbfarm_shm.c).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include "lbfarm_lock.h"

#define LBF_SPINS_BEFORE_YIELD 128
#define LBF_YIELDS_BEFORE_CHECK 16

uint64_t lbf_mono_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* 1 when the owner recorded in word cannot be running any more. */
static int lbf_owner_dead(uint64_t word)
{
    pid_t pid = (pid_t)(word >> 32);

    return pid > 0 && kill(pid, 0) == -1 && errno == ESRCH;
}

/* Try to move the lock from seen (a dead or stale owner) to mine. */
static int lbf_lock_steal(struct lbf_lock *lk, uint64_t seen, uint64_t mine)
{
    return atomic_compare_exchange_strong(&lk->owner, &seen, mine);
}

int lbf_lock_acquire(struct lbf_lock *lk, uint32_t self)
{
    uint64_t mine = (uint64_t)self << 32, seen = 0, seen_since = 0;
    unsigned spins = 0;

    for (;;) {
        uint64_t expect = 0, cur;

        if (atomic_compare_exchange_weak(&lk->owner, &expect, mine | 1u)) {
            break;
        }
        if (++spins < LBF_SPINS_BEFORE_YIELD) {
            lbf_cpu_relax();
            continue;
        }
        sched_yield();
        if (spins % LBF_YIELDS_BEFORE_CHECK != 0) {
            continue;
        }
        cur = atomic_load(&lk->owner);
        if (cur == 0 || (cur >> 32) == self) {
            continue; /* free now, or another thread of ours holds it */
        }
        if (cur != seen) {
            seen = cur;
            seen_since = lbf_mono_usec();
        }
        if (lbf_owner_dead(cur)
            || lbf_mono_usec() - seen_since > LBF_LOCK_STALE_USEC) {
            if (lbf_lock_steal(lk, cur, mine | 1u)) {
                lk->ticket++;
                return LBF_LOCK_STOLEN;
            }
        }
    }
    lk->ticket++;
    /* the ticket makes every acquisition's word distinct for staleness */
    atomic_store(&lk->owner, mine | (uint32_t)(lk->ticket << 1 | 1u));
    return LBF_LOCKED;
}

void lbf_lock_release(struct lbf_lock *lk, uint32_t self)
{
    uint64_t cur = atomic_load_explicit(&lk->owner, memory_order_relaxed);

    /* only one thread of self holds it: the word is ours unless stolen */
    if ((cur >> 32) == self) {
        atomic_compare_exchange_strong_explicit(&lk->owner, &cur, 0,
                                                memory_order_release,
                                                memory_order_relaxed);
    }
}

void lbf_write_begin(struct lbf_lock *lk)
{
    atomic_fetch_add_explicit(&lk->seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

void lbf_write_end(struct lbf_lock *lk)
{
    atomic_fetch_add_explicit(&lk->seq, 1, memory_order_release);
}
