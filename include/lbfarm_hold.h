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
 *  - A process joins once (child_init): it first empties any block that
 *    still carries its own pid (a predecessor of that pid that died
 *    unreaped), then claims a free block by CAS 0 -> pid, reclaiming dead
 *    owners' blocks when none is free.
 *  - A request that took a row (inflight++) claims a free slot of its own
 *    process by CAS 0 -> row+1.  When it ends it takes the slot back by an
 *    atomic exchange with 0 and does inflight-- only when the exchange
 *    returned its row: whoever empties a slot (owner or reaper) releases
 *    that row, so a row is released exactly once even if a reaper wrongly
 *    judged the owner dead.  Only the owning process claims its slots, so
 *    a claim scans from a per-thread hint and rarely retries.
 *  - A reaper (any process, or the parent) finds a block whose owner pid
 *    is gone, takes it by CAS pid -> LBF_HOLD_REAPING (one reaper wins),
 *    empties every slot with an atomic exchange and hands each row index
 *    to a release callback (the row's inflight--), then frees the block.
 *    The parent reaps by exact pid when it has waited for a child
 *    (lbf_hold_reap_pid), before that pid can be handed to a new child.
 *  - A process killed between inflight++ and the slot claim (or between
 *    emptying a slot and inflight--) leaves a count one off; the window is
 *    a few instructions, and a lost slot never makes a count negative.
 *  - Trust: the reapers take the area's length from their own view and
 *    copy the geometry (counts, stride) into locals checked against it, so
 *    a scribbled header makes a reap do nothing rather than stray.
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

/* The default liveness test: 0 when kill(pid, 0) fails with ESRCH, or
 * /proc/<pid>/stat shows a zombie (it was killed and its parent has not
 * waited yet: none of its threads runs again); else 1. */
int lbf_hold_pid_alive(uint32_t pid);

/* Join as process pid (> 0, < LBF_HOLD_REAPING) an area of len bytes:
 * empty blocks still owned by pid (a dead predecessor of that pid), claim
 * a free block, else reclaim dead owners' blocks (through release) and
 * retry once.  Returns the block index, or -1 when every block has a live
 * owner or the area is damaged (the process then serves untracked).
 * Lock-free; call once per process. */
int lbf_hold_join(void *area, size_t len, uint32_t pid,
                  lbf_hold_alive_f *alive, lbf_hold_release_f *release,
                  void *ctx);

/* Record that one request of block proc holds global row index row: claim
 * a free slot, scanning from *hint (a per-thread cursor, updated).
 * Returns the slot index, or LBF_HOLD_NONE when all slots are in use
 * (counted in hdr.untracked) or proc < 0.  Lock-free. */
uint32_t lbf_hold_take(void *area, int proc, uint32_t row, uint32_t *hint);

/* End the hold in slot of block proc (from lbf_hold_take).  Returns 1
 * when the caller must release the row (inflight--): the slot still held
 * it, or the request was untracked (LBF_HOLD_NONE, or a bad proc/slot);
 * 0 when a reaper emptied the slot and released the row already.  Call
 * before the row's inflight--.  Lock-free. */
int lbf_hold_drop(void *area, int proc, uint32_t slot);

/* Reclaim every block of an area of len bytes whose owner alive() says is
 * gone, except self's: each held row goes to release(ctx, row) exactly
 * once even with several reapers at once.  Returns the number of slots
 * reclaimed (0 for a damaged area).  Lock-free. */
uint32_t lbf_hold_reap(void *area, size_t len, uint32_t self,
                       lbf_hold_alive_f *alive, lbf_hold_release_f *release,
                       void *ctx);

/* Reclaim every block owned by pid, whether it runs or not: the parent
 * after it waited for child pid, or a process leaving (its own pid) with
 * requests still open.  Returns the slots reclaimed.  Lock-free. */
uint32_t lbf_hold_reap_pid(void *area, size_t len, uint32_t pid,
                           lbf_hold_release_f *release, void *ctx);

/* A process pid leaving (its exit cleanup) with requests of block proc
 * perhaps still open: empty its slots through release, but keep the
 * block -- a thread still finishing a request then finds its slot empty
 * and releases nothing, and the block is freed only once the process is
 * gone (the parent's lbf_hold_reap_pid, or a sweep).  Returns the slots
 * emptied; 0 when proc is not pid's block.  Lock-free. */
uint32_t lbf_hold_leave(void *area, size_t len, int proc, uint32_t pid,
                        lbf_hold_release_f *release, void *ctx);

/* Claim the sweep due at now (the next one interval_usec later): 1 when
 * the caller won and should call lbf_hold_reap, else 0. */
int lbf_hold_sweep_due(void *area, uint64_t now_usec,
                       uint64_t interval_usec);

/* Slots of block proc in use now, by a scan (0 for a free block). */
uint32_t lbf_hold_held(const void *area, int proc);

#endif /* LBFARM_HOLD_H */
