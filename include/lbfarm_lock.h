/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_lock.h -- crash-safe locks between processes, and seqlock write
 * sections (pure C, C11 atomics).  A lock lives in shared memory (every
 * farm and every row of lbfarm_shm.h has one); its word holds the owner's
 * pid and an acquisition ticket, so that a waiter can tell a dead or stuck
 * owner and take the lock over (lbfarm_shm.h: "Crash safety").
 */
#ifndef LBFARM_LOCK_H
#define LBFARM_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

#define LBF_LOCK_STALE_USEC 500000 /* a lock held this long is dead */

/* One lock: owner word (pid << 32 | ticket; 0 = free) and seqlock. */
struct lbf_lock {
    _Atomic uint64_t owner;
    _Atomic uint32_t seq;     /* odd while a write section is open */
    uint32_t ticket;          /* next ticket; written only by the owner */
};

/* Result of lbf_lock_acquire. */
enum lbf_lock_rc {
    LBF_LOCKED = 0,       /* taken normally */
    LBF_LOCK_STOLEN = 1   /* the previous owner was dead; check seq */
};

/* Acquire lk for this process (pid self, > 0).  Spins, then yields;
 * steals from an owner that is dead, or whose word stayed the same for
 * LBF_LOCK_STALE_USEC (pid reuse).  Never fails.  The caller must not
 * already hold it. */
int lbf_lock_acquire(struct lbf_lock *lk, uint32_t self);

/* Release lk, which self acquired.  When the lock was stolen from self
 * meanwhile (self stalled past LBF_LOCK_STALE_USEC), the word names its
 * new owner and is left alone: a robbed owner cannot unlock the thief. */
void lbf_lock_release(struct lbf_lock *lk, uint32_t self);

/* Open and close a seqlock write section (seq odd while open); the caller
 * holds lk. */
void lbf_write_begin(struct lbf_lock *lk);
void lbf_write_end(struct lbf_lock *lk);

/* Monotonic clock in microseconds, for lock staleness. */
uint64_t lbf_mono_usec(void);

/* A spinning waiter's pause. */
static inline void lbf_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif /* LBFARM_LOCK_H */
