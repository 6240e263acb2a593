/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_hash.h -- consistent hashing with bounded loads (pure C core;
 * the method `hash`, lbfarm_hash.c).
 *
 * After Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded
 * Loads" (2016): a request key goes to its member on a ring unless that
 * member would carry more than its bound, then to the next member in ring
 * order.  The rules, exactly:
 *
 *  - ring: every member of the farm (usable or not) has LBF_HASH_VNODES
 *    points per unit of effective weight, at hash(member name, k); a key
 *    hashes to a position and belongs to the first point at or after it.
 *    The points depend only on the names and weights in the segment, so
 *    every process builds the same ring.
 *  - skip: a member that cannot take the request (down, offline, drain,
 *    in error, stalled, excluded after a failure, or of a later tier than
 *    the best one that has a usable member) is passed over in ring order.
 *    Removing one of n members moves only its keys, about 1/n; adding one
 *    moves about 1/(n+1), the keys of its new points.
 *  - bound: member i takes the key when inflight_i + 1 <=
 *    ceil(c x (T + 1) x w_i / W), T the in-flight total and W the weight
 *    total of the usable members of its tier; c is LBF_HASH_C_MILLI / 1000
 *    (1.25) unless pk->hash_c_milli says otherwise.  An idle member
 *    always passes, so the in-flight count (a scan of the farm, O(n)) runs
 *    only for a member that is busy, and a process reuses its count of
 *    the first tier for LBF_HASH_LOAD_USEC (200 us): under a burst the
 *    count lags (T only grows then, so the bound is stricter), after a
 *    burst a member may exceed it by what completed within 200 us.
 *  - slow start: a member in its ramp (lbf_ramp, thousandths) takes the
 *    keys whose second hash (16 bits, scaled to 1000) is below the ramp;
 *    the others go on in ring order as while it was away.  Its keys come
 *    back in a fixed order as the ramp grows, each key moving once.
 *
 * Worked example: members m0, m1, m2 of weight 1, c = 1.25, in flight
 * 3, 0, 0 (T = 3, W = 3).  A key whose ring member is m0: 3 + 1 = 4 >
 * ceil(1.25 x 4 / 3) = 2, so it goes to the next member in ring order,
 * m1 or m2 (both idle, both pass).  With in flight 1, 1, 1 the bound is
 * ceil(1.25 x 4 / 3) = 2 and every key stays on its member.
 *
 * Where the ring lives: in each process (not in the segment), built on
 * the first hash pick of a farm and rebuilt when its member count, its
 * published schedule word (every weight change republishes it) or -- once
 * a second -- its weights fingerprint changes.  A ring is immutable once
 * published; a replaced one is freed LBF_HASH_RETIRE_SEC later, long after
 * any pick that read it has finished.
 */
#ifndef LBFARM_HASH_H
#define LBFARM_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "lbfarm_method.h"

#define LBF_HASH_VNODES      160    /* ring points per weight unit */
#define LBF_HASH_POINTS_MAX  (1u << 19) /* above, fewer points per unit */
#define LBF_HASH_C_MILLI     1250   /* c = 1.25 */
#define LBF_HASH_C_MIN       1000   /* c >= 1 */
#define LBF_HASH_C_MAX       100000 /* c <= 100 */
#define LBF_HASH_RETIRE_SEC  60
#define LBF_HASH_CHECK_USEC  1000000u /* weights fingerprint, once a second */
#define LBF_HASH_LOAD_USEC   200u   /* a process reuses its count of the
                                       first tier's in flight this long */

/* 64-bit keyed non-cryptographic hash of the n bytes at p (a multiply-
 * xorshift mix over 8-byte words and a finalizer).  Stable across
 * processes, builds and restarts.  Pure. */
uint64_t lbf_hash64(const void *p, size_t n, uint64_t seed);

/* hash's pick, for the method table: pk->key / key_len is the request key
 * (NULL: the empty key).  Returns the member index or -1.  Lock-free,
 * except that the first pick after a membership change builds the ring
 * under a process-local mutex. */
int lbf_pick_hash(const struct lbf_method *m, const struct lbf_pick *pk);

/* The member the ring assigns key (n bytes) to, ignoring usability and
 * load: what the key maps to when every member is usable and idle.  For
 * tests and the status of a key.  Returns the member index or -1. */
int lbf_hash_owner(const struct lbf_pick *pk, const char *key, size_t n);

#endif /* LBFARM_HASH_H */
