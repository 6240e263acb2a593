/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_hold.h -- who holds which row: per-process in-flight slots, so
 * that the requests of a process that died (SIGKILL, segfault, an exit
 * with requests open) return to their rows' in-flight counts.
 *
 * Pure C (C11 atomics).  The area lives in the shared segment; it stores
 * row indexes, never pointers.
 *
 *  0         64        64+S          64+2S                64+n_procs*S
 *  +---------+---------+-------------+-----+---------------+
 *  | hdr     | proc[0] | proc[1]     | ... | proc[n-1]     |
 *  +---------+---------+-------------+-----+---------------+
 *  hdr  : magic, n_procs, n_slots, stride S, sweep deadline, counters.
 *  proc : owner pid (0 = free, LBF_HOLD_REAPING while being reclaimed),
 *         requests not tracked for want of a free slot, then n_slots
 *         slots; a slot holds 1 + the global index of the row that one
 *         in-flight request of that process holds (0 = free).
 *
 * Protocol (all lock-free):
 *  - A process joins once (child_init): it claims a free proc block by
 *    CAS 0 -> pid, reclaiming a dead owner's block when none is free.
 *  - A request that took a row (inflight++) claims a free slot of its own
 *    process by CAS 0 -> row+1; when it releases the row it frees the
 *    slot first, then inflight--.  Only the owning process writes its
 *    slots, so a claim scans from a per-thread hint and rarely retries.
 *  - A reaper (any process, or the parent) finds a block whose owner pid
 *    is gone, takes it by CAS pid -> LBF_HOLD_REAPING (one reaper wins),
 *    empties every slot with an atomic exchange and hands each row index
 *    to a release callback (the row's inflight--), then frees the block.
 *  - A process killed between inflight++ and the slot claim (or between
 *    freeing a slot and inflight--) leaves a count one off; the window is
 *    a few instructions, and a lost slot never makes a count negative.
 */
#ifndef LBFARM_HOLD_H
#define LBFARM_HOLD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LBF_HOLD_MAGIC    0x646c6f68u /* "hold" */
#define LBF_HOLD_REAPING  UINT32_MAX  /* proc.pid while being reclaimed */
#define LBF_HOLD_NONE     UINT32_MAX  /* no slot: the request is untracked */
#define LBF_HOLD_PROCS_MAX 20000      /* MPM ServerLimit caps at 20000 */
#define LBF_HOLD_SLOTS_MAX 20000      /* ThreadLimit caps at 20000 */

struct lbf_hold_hdr {
    uint32_t magic;              /* LBF_HOLD_MAGIC */
    uint32_t n_procs;            /* proc blocks */
    uint32_t n_slots;            /* slots per block */
    uint32_t stride;             /* bytes per block, a multiple of 64 */
    _Atomic uint64_t sweep_next; /* usec the next sweep is due (claimed
                                    by CAS: one sweeper at a time) */
    _Atomic uint64_t reclaimed;  /* slots returned from dead processes */
    _Atomic uint64_t reaped;     /* dead processes' blocks reclaimed */
    _Atomic uint64_t untracked;  /* requests that found no free slot */
    uint8_t reserved[16];
};

struct lbf_hold_proc {
    _Atomic uint32_t pid;        /* owner; 0 free; LBF_HOLD_REAPING */
    uint8_t reserved[60];
    _Atomic uint32_t slot[];     /* n_slots of them */
};

_Static_assert(sizeof(struct lbf_hold_hdr) == 64, "hold hdr is 64 bytes");
_Static_assert(sizeof(struct lbf_hold_proc) == 64, "proc head is 64 bytes");

/* Called by a reaper for each row index a dead process held. */
typedef void lbf_hold_release_f(void *ctx, uint32_t row);

/* 1 when process pid exists (or may: EPERM), 0 when it is gone. */
typedef int lbf_hold_alive_f(uint32_t pid);

/* Bytes an area of n_procs blocks of n_slots slots needs (a multiple of
 * 64), or 0 when a count is 0 or over its maximum. */
size_t lbf_hold_size(uint32_t n_procs, uint32_t n_slots);

/* Format len bytes at area (not shared yet: no lock).  Returns 0, or -1
 * when len < lbf_hold_size() or a count is out of range. */
int lbf_hold_format(void *area, size_t len, uint32_t n_procs,
                    uint32_t n_slots);

/* Validate an area anything could have written: magic, counts within
 * their maxima, stride and size consistent with len.  Returns 0 or -1. */
int lbf_hold_check(const void *area, size_t len);

/* The default liveness test: kill(pid, 0). */
int lbf_hold_pid_alive(uint32_t pid);

/* Join as process pid (> 0, < LBF_HOLD_REAPING): claim a free block,
 * else reclaim dead owners' blocks (through release) and retry once.
 * Returns the block index, or -1 when every block has a live owner (the
 * process then serves untracked).  Lock-free; call once per process. */
int lbf_hold_join(void *area, uint32_t pid, lbf_hold_alive_f *alive,
                  lbf_hold_release_f *release, void *ctx);

/* Record that one request of block proc holds global row index row: claim
 * a free slot, scanning from *hint (a per-thread cursor, updated).
 * Returns the slot index, or LBF_HOLD_NONE when all slots are in use
 * (counted in hdr.untracked) or proc < 0.  Lock-free. */
uint32_t lbf_hold_take(void *area, int proc, uint32_t row, uint32_t *hint);

/* Free slot of block proc (from lbf_hold_take; LBF_HOLD_NONE is
 * ignored).  Call before the row's inflight--.  Lock-free. */
void lbf_hold_drop(void *area, int proc, uint32_t slot);

/* Reclaim every block whose owner alive() says is gone, except self's:
 * each held row goes to release(ctx, row) exactly once even with several
 * reapers at once.  Returns the number of slots reclaimed.  Lock-free. */
uint32_t lbf_hold_reap(void *area, uint32_t self, lbf_hold_alive_f *alive,
                       lbf_hold_release_f *release, void *ctx);

/* Claim the sweep due at now (the next one interval_usec later): 1 when
 * the caller won and should call lbf_hold_reap, else 0. */
int lbf_hold_sweep_due(void *area, uint64_t now_usec,
                       uint64_t interval_usec);

/* Slots of block proc in use now, by a scan (0 for a free block). */
uint32_t lbf_hold_held(const void *area, int proc);

#endif /* LBFARM_HOLD_H */
