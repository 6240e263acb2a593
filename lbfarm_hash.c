/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_hash.c -- the method `hash`: consistent hashing with bounded
 * loads (pure C).  The rules and a worked example are in
 * include/lbfarm_hash.h.
 *
 * The ring.  P = sum of weights x LBF_HASH_VNODES points (fewer per unit
 * above LBF_HASH_POINTS_MAX), each a 32-bit position, sorted.  A key's
 * position is looked up in O(1): the 32-bit space is cut into 2^bits
 * slots (2^bits >= P / 8: small enough to stay in cache) and
 * first[slot] is the first point at or after the slot's start; a key belongs to the first point at or after its own
 * position, found from first[its slot] in about 4 steps along pos[] (one
 * or two cache lines).
 * owner[k] is the member of point k; "the next
 * member in ring order" is owner[k + 1], owner[k + 2], ... skipping
 * members already seen.  A pick is one key hash, three loads and the
 * eligibility of the member found; the in-flight scan for the bound runs
 * only when that member is busy.
 *
 * One ring per farm per process, cached in a list that only grows (one
 * entry per hash farm the process has picked for); the ring pointer in
 * an entry is replaced whole under lbf_hash_mutex and read lock-free.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lbfarm_hash.h"

#define LBF_HASH_K1   0x9e3779b97f4a7c15ull
#define LBF_HASH_K2   0xc2b2ae3d27d4eb4full
#define LBF_HASH_SEED_MEMBER 0x6c62666d656d6272ull /* "lbfmembr" */
#define LBF_HASH_SEED_KEY    0x6c6266686173686bull /* "lbfhashk" */
#define LBF_HASH_BITS_MIN 4
#define LBF_HASH_BITS_MAX 20

/* The splitmix64 finalizer: every input bit reaches every output bit. */
static uint64_t lbf_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t lbf_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = seed ^ ((uint64_t)n * LBF_HASH_K1), w;

    for (; n >= 8; n -= 8, b += 8) {
        memcpy(&w, b, 8);
        h = (h ^ lbf_mix64(w + LBF_HASH_K2)) * LBF_HASH_K1;
        h ^= h >> 29;
    }
    w = 0; /* the tail (its length is in h): fixed-size loads only */
    if (n >= 4) {
        uint32_t lo, hi;

        memcpy(&lo, b, 4);
        memcpy(&hi, b + n - 4, 4); /* overlaps lo when n < 8 */
        w = (uint64_t)hi << 32 | lo;
    }
    else if (n > 0) {
        w = (uint64_t)b[0] << 16 | (uint64_t)b[n / 2] << 8 | b[n - 1];
    }
    h = (h ^ lbf_mix64(w + LBF_HASH_K2 + n)) * LBF_HASH_K1;
    return lbf_mix64(h);
}

/* ---- the ring ---- */

struct lbf_hash_ring {
    uint32_t n_rows;          /* members it was built for */
    uint32_t n_points;
    uint32_t bits;            /* 2^bits slots */
    uint64_t wsig;            /* weights fingerprint (lbf_hash_wsig) */
    uint32_t *first;          /* [2^bits] first point at/after a slot */
    uint32_t *pos;            /* [n_points] position of each point */
    uint16_t *owner;          /* [n_points] member of each point */
};

struct lbf_hash_entry {
    const struct lbf_farm *farm;
    const struct lbf_hdr *hdr;
    _Atomic(struct lbf_hash_ring *) ring;
    _Atomic uint64_t sched;   /* farm->sched the ring was checked at */
    _Atomic uint64_t checked; /* usec of the last weights check */
    _Atomic uint64_t load;    /* first tier's in flight << 32 | weight */
    _Atomic uint64_t load_at; /* usec it was counted; 0 = never */
    struct lbf_hash_entry *next;
};

struct lbf_hash_retired {
    struct lbf_hash_ring *ring;
    uint64_t at;
    struct lbf_hash_retired *next;
};

static pthread_mutex_t lbf_hash_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct lbf_hash_entry *) lbf_hash_entries;
static struct lbf_hash_retired *lbf_hash_retire; /* under the mutex */

/* Fingerprint of the member count and effective weights of pk's farm. */
static uint64_t lbf_hash_wsig(const struct lbf_pick *pk, uint32_t n)
{
    uint64_t x = lbf_mix64(n + LBF_HASH_K1);
    uint32_t i;

    for (i = 0; i < n; i++) {
        struct lbf_row *r = lbf_member_at(pk->h, pk->farm, i);
        uint32_t w = r ? atomic_load_explicit(&r->weight,
                                              memory_order_relaxed) : 0;

        x = lbf_mix64(x ^ ((uint64_t)w << 32 | i));
    }
    return x;
}

static int lbf_hash_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void lbf_hash_ring_free(struct lbf_hash_ring *g)
{
    if (g != NULL) {
        free(g->first);
        free(g->pos);
        free(g->owner);
        free(g);
    }
}

/* The points of pk's farm, n members, sorted: position << 32 | member,
 * into a new array (*np entries).  NULL when out of memory. */
static uint64_t *lbf_hash_points(const struct lbf_pick *pk, uint32_t n,
                                 uint32_t *np)
{
    uint64_t sumw = 0, v = LBF_HASH_VNODES, *pts;
    uint32_t i, j = 0, k;

    for (i = 0; i < n; i++) {
        uint32_t w = atomic_load(&lbf_member_at(pk->h, pk->farm, i)->weight);

        sumw += w ? w : 1;
    }
    if (sumw * v > LBF_HASH_POINTS_MAX) {
        v = LBF_HASH_POINTS_MAX / sumw ? LBF_HASH_POINTS_MAX / sumw : 1;
    }
    if ((pts = malloc((size_t)(sumw * v) * sizeof(*pts))) == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const struct lbf_row *r = lbf_member_at(pk->h, pk->farm, i);
        uint32_t w = atomic_load(&((struct lbf_row *)r)->weight);
        uint64_t nh = lbf_hash64(r->name, strnlen(r->name, LBF_NAME_SIZE),
                                 LBF_HASH_SEED_MEMBER);

        for (k = 0; k < (w ? w : 1) * v; k++) {
            pts[j++] = (lbf_mix64(nh + (k + 1) * LBF_HASH_K1) >> 32) << 32
                       | i;
        }
    }
    qsort(pts, j, sizeof(*pts), lbf_hash_cmp);
    *np = j;
    return pts;
}

/* A new ring for pk's farm as it is now, or NULL (no member, no memory). */
static struct lbf_hash_ring *lbf_hash_build(const struct lbf_pick *pk)
{
    uint32_t n = pk->farm->n_rows, np = 0, s, k = 0;
    struct lbf_hash_ring *g;
    uint64_t *pts;

    if (n == 0 || (pts = lbf_hash_points(pk, n, &np)) == NULL) {
        return NULL;
    }
    if ((g = calloc(1, sizeof(*g))) == NULL) {
        free(pts);
        return NULL;
    }
    g->n_rows = n;
    g->n_points = np;
    g->wsig = lbf_hash_wsig(pk, n);
    for (g->bits = LBF_HASH_BITS_MIN;
         g->bits < LBF_HASH_BITS_MAX && (8u << g->bits) < np; g->bits++) {
    }
    g->first = malloc(((size_t)1 << g->bits) * sizeof(*g->first));
    g->owner = malloc((size_t)np * sizeof(*g->owner));
    g->pos = malloc((size_t)np * sizeof(*g->pos));
    if (g->first == NULL || g->owner == NULL || g->pos == NULL) {
        free(pts);
        lbf_hash_ring_free(g);
        return NULL;
    }
    for (s = 0; s < (1u << g->bits); s++) {
        uint64_t start = (uint64_t)s << (32 - g->bits);

        while (k < np && (pts[k] >> 32) < start) {
            k++;
        }
        g->first[s] = k; /* np past the last point: the key wraps to 0 */
    }
    for (k = 0; k < np; k++) {
        g->owner[k] = (uint16_t)(pts[k] & 0xffffu);
        g->pos[k] = (uint32_t)(pts[k] >> 32);
    }
    free(pts);
    return g;
}

/* The cache entry of pk's farm, created on first use; NULL when out of
 * memory.  Lock-free when it exists. */
static struct lbf_hash_entry *lbf_hash_entry(const struct lbf_pick *pk)
{
    struct lbf_hash_entry *e;

    for (e = atomic_load_explicit(&lbf_hash_entries, memory_order_acquire);
         e != NULL; e = e->next) {
        if (e->farm == pk->farm && e->hdr == pk->h->hdr) {
            return e;
        }
    }
    pthread_mutex_lock(&lbf_hash_mutex);
    for (e = atomic_load(&lbf_hash_entries); e != NULL; e = e->next) {
        if (e->farm == pk->farm && e->hdr == pk->h->hdr) {
            break;
        }
    }
    if (e == NULL && (e = calloc(1, sizeof(*e))) != NULL) {
        e->farm = pk->farm;
        e->hdr = pk->h->hdr;
        e->next = atomic_load(&lbf_hash_entries);
        atomic_store_explicit(&lbf_hash_entries, e, memory_order_release);
    }
    pthread_mutex_unlock(&lbf_hash_mutex);
    return e;
}

/* Under lbf_hash_mutex: free the rings retired long enough ago. */
static void lbf_hash_reap_locked(uint64_t now)
{
    struct lbf_hash_retired **p = &lbf_hash_retire, *d;

    while ((d = *p) != NULL) {
        if (now > d->at + (uint64_t)LBF_HASH_RETIRE_SEC * 1000000u) {
            *p = d->next;
            lbf_hash_ring_free(d->ring);
            free(d);
        }
        else {
            p = &d->next;
        }
    }
}

/* Make e's ring match pk's farm: rebuilt when the member count or the
 * weights differ, else only re-stamped with the farm's schedule word.
 * Takes lbf_hash_mutex.  Returns the ring to use (may be the old one when
 * out of memory, NULL when there is none). */
static struct lbf_hash_ring *lbf_hash_refresh(struct lbf_hash_entry *e,
                                              const struct lbf_pick *pk)
{
    struct lbf_hash_ring *g, *fresh;
    uint64_t sched = atomic_load(&pk->farm->sched);
    struct lbf_hash_retired *d;

    pthread_mutex_lock(&lbf_hash_mutex);
    g = atomic_load(&e->ring);
    if (g == NULL || g->n_rows != pk->farm->n_rows
        || g->wsig != lbf_hash_wsig(pk, pk->farm->n_rows)) {
        if ((fresh = lbf_hash_build(pk)) != NULL) {
            if (g != NULL && (d = malloc(sizeof(*d))) != NULL) {
                d->ring = g;
                d->at = pk->now;
                d->next = lbf_hash_retire;
                lbf_hash_retire = d;
            } /* else: leaked rather than freed under a reader */
            atomic_store_explicit(&e->ring, fresh, memory_order_release);
            g = fresh;
        }
        lbf_hash_reap_locked(pk->now);
    }
    atomic_store(&e->sched, sched);
    atomic_store(&e->checked, pk->now);
    pthread_mutex_unlock(&lbf_hash_mutex);
    return g;
}

/* The ring of pk's farm, checked against the segment (cheaply on every
 * pick, the weights once per LBF_HASH_CHECK_USEC).  NULL when none. */
static const struct lbf_hash_ring *lbf_hash_ring(const struct lbf_pick *pk,
                                                 struct lbf_hash_entry **ep)
{
    struct lbf_hash_entry *e = *ep = lbf_hash_entry(pk);
    struct lbf_hash_ring *g;
    uint64_t checked;

    if (e == NULL) {
        return NULL;
    }
    g = atomic_load_explicit(&e->ring, memory_order_acquire);
    checked = atomic_load_explicit(&e->checked, memory_order_relaxed);
    if (g == NULL || g->n_rows != pk->farm->n_rows
        || atomic_load_explicit(&e->sched, memory_order_relaxed)
           != atomic_load_explicit(&pk->farm->sched, memory_order_relaxed)
        || (pk->now > checked + LBF_HASH_CHECK_USEC
            && atomic_compare_exchange_strong(&e->checked, &checked,
                                              pk->now))) {
        return lbf_hash_refresh(e, pk);
    }
    return g;
}

/* ---- the pick ---- */

/* Members already visited by one walk: a short list, then a bitmap. */
struct lbf_hash_seen {
    uint32_t n;
    int big;
    uint16_t list[8];
    uint64_t bits[LBF_FARM_MEMBERS_MAX / 64];
};

/* 1 when m was seen before; marks it seen. */
static int lbf_hash_seen(struct lbf_hash_seen *s, uint32_t m)
{
    uint32_t i;

    if (!s->big) {
        for (i = 0; i < s->n; i++) {
            if (s->list[i] == m) {
                return 1;
            }
        }
        if (s->n < 8) {
            s->list[s->n++] = (uint16_t)m;
            return 0;
        }
        memset(s->bits, 0, sizeof(s->bits));
        for (i = 0; i < s->n; i++) {
            s->bits[s->list[i] >> 6] |= 1ull << (s->list[i] & 63);
        }
        s->big = 1;
    }
    if (s->bits[m >> 6] & (1ull << (m & 63))) {
        return 1;
    }
    s->bits[m >> 6] |= 1ull << (m & 63);
    s->n++;
    return 0;
}

/* One walk of the ring for one tier. */
struct lbf_hash_walk {
    const struct lbf_pick *pk;
    struct lbf_hash_entry *e;
    const struct lbf_hash_ring *g;
    uint64_t c_milli;
    uint32_t frac;            /* the key's slow-start fraction, 0..999 */
    int tier;                 /* the tier this walk serves */
    int stats;                /* 1: total and weight below are counted */
    uint64_t total, wsum;     /* in flight and weight of that tier */
    int other;                /* lowest other eligible tier seen, or -1 */
    int ramped;               /* first member skipped by its ramp, or -1 */
    int over;                 /* first member over its bound, or -1 */
};

/* The first tier's in-flight and weight totals as this process counted
 * them less than LBF_HASH_LOAD_USEC ago, into w: 1, else 0. */
static int lbf_hash_load_cached(struct lbf_hash_walk *w)
{
    uint64_t at, v;

    if (w->e == NULL || w->tier != (int)w->pk->farm->min_tier) {
        return 0;
    }
    at = atomic_load_explicit(&w->e->load_at, memory_order_relaxed);
    if (at == 0 || w->pk->now < at || w->pk->now - at >= LBF_HASH_LOAD_USEC) {
        return 0;
    }
    v = atomic_load_explicit(&w->e->load, memory_order_relaxed);
    w->total = v >> 32;
    w->wsum = v & 0xffffffffu;
    return 1;
}

/* In flight of r, never negative. */
static uint64_t lbf_hash_inflight(const struct lbf_row *r)
{
    int32_t in = atomic_load_explicit(&((struct lbf_row *)r)->inflight,
                                      memory_order_relaxed);

    return in > 0 ? (uint64_t)in : 0;
}

/* 1 when the member of row r is within its bound: inflight + 1 <=
 * ceil(c x (T + 1) x w / W) over the walk's tier.  Scans the farm once per
 * walk, and only for a busy member. */
static int lbf_hash_within(struct lbf_hash_walk *w, const struct lbf_row *r)
{
    uint64_t in = lbf_hash_inflight(r);
    uint32_t i, n = w->pk->farm->n_rows;

    if (in == 0) {
        return 1; /* an idle member is always within its bound */
    }
    if (!w->stats && lbf_hash_load_cached(w)) {
        w->stats = 1;
    }
    if (!w->stats) {
        for (i = 0; i < n; i++) {
            if (lbf_member_tier(w->pk, i) == w->tier) {
                const struct lbf_row *o = lbf_member_at(w->pk->h,
                                                        w->pk->farm, i);

                w->total += lbf_hash_inflight(o);
                w->wsum += atomic_load(&((struct lbf_row *)o)->weight);
            }
        }
        w->stats = 1;
        if (w->tier == (int)w->pk->farm->min_tier && w->e != NULL
            && w->total < UINT32_MAX) {
            atomic_store_explicit(&w->e->load, w->total << 32 | w->wsum,
                                  memory_order_relaxed);
            atomic_store_explicit(&w->e->load_at, w->pk->now,
                                  memory_order_relaxed);
        }
    }
    return (unsigned __int128)in * w->wsum * 1000u
           < (unsigned __int128)w->c_milli * (w->total + 1)
                 * atomic_load(&((struct lbf_row *)r)->weight);
}

/* Walk the ring from point k for w->tier: the first member of that tier
 * that is eligible, lets the key through its ramp and is within its
 * bound; -1 when none (w->other, ramped, over say what was seen). */
static int lbf_hash_walk(struct lbf_hash_walk *w, uint32_t k)
{
    const struct lbf_hash_ring *g = w->g;
    struct lbf_hash_seen seen;
    uint32_t steps, n = w->pk->farm->n_rows;

    seen.n = 0;
    seen.big = 0;
    for (steps = 0; steps < g->n_points && seen.n < n; steps++) {
        uint32_t m = g->owner[k];
        const struct lbf_row *r;
        int t;

        k = k + 1 < g->n_points ? k + 1 : 0;
        if (m >= n || lbf_hash_seen(&seen, m)
            || (t = lbf_member_tier(w->pk, m)) < 0) {
            continue;
        }
        if (t != w->tier) {
            w->other = w->other < 0 || t < w->other ? t : w->other;
            continue;
        }
        r = lbf_member_at(w->pk->h, w->pk->farm, m);
        if (w->frac >= lbf_ramp(w->pk, r)) {
            w->ramped = w->ramped < 0 ? (int)m : w->ramped;
            continue; /* slow start: not this key yet */
        }
        if (lbf_hash_within(w, r)) {
            return (int)m;
        }
        w->over = w->over < 0 ? (int)m : w->over;
    }
    return -1;
}

/* The ring point a key hash h belongs to: the first at or after its
 * position (exact: the slots only say where to start looking, so the
 * mapping does not depend on how many slots the ring has). */
static uint32_t lbf_hash_point(const struct lbf_hash_ring *g, uint64_t h)
{
    uint32_t p = (uint32_t)(h >> 32), k = g->first[p >> (32 - g->bits)];

    while (k < g->n_points && g->pos[k] < p) {
        k++;
    }
    return k < g->n_points ? k : 0;
}

int lbf_pick_hash(const struct lbf_method *m, const struct lbf_pick *pk)
{
    struct lbf_hash_entry *e;
    const struct lbf_hash_ring *g = lbf_hash_ring(pk, &e);
    uint64_t h = lbf_hash64(pk->key ? pk->key : "", pk->key ? pk->key_len : 0,
                            LBF_HASH_SEED_KEY);
    struct lbf_hash_walk w;
    int pick;

    (void)m;
    if (g == NULL) {
        return -1;
    }
    memset(&w, 0, sizeof(w));
    w.pk = pk;
    w.e = e;
    w.g = g;
    w.c_milli = pk->hash_c_milli ? pk->hash_c_milli : LBF_HASH_C_MILLI;
    w.frac = (uint32_t)(((h & 0xffffu) * 1000u) >> 16);
    w.tier = (int)pk->farm->min_tier;
    w.other = w.ramped = w.over = -1;
    if ((pick = lbf_hash_walk(&w, lbf_hash_point(g, h))) >= 0) {
        return pick;
    }
    if (w.ramped < 0 && w.over < 0 && w.other >= 0) {
        /* nobody of the first tier is eligible: the best later tier */
        w.tier = w.other;
        w.stats = 0;
        w.total = w.wsum = 0;
        if ((pick = lbf_hash_walk(&w, lbf_hash_point(g, h))) >= 0) {
            return pick;
        }
    }
    /* every eligible member is ramping or (counts moving under us) over
     * its bound: the first one in ring order anyway */
    return w.ramped >= 0 ? w.ramped : w.over;
}

int lbf_hash_owner(const struct lbf_pick *pk, const char *key, size_t n)
{
    struct lbf_hash_entry *e;
    const struct lbf_hash_ring *g = lbf_hash_ring(pk, &e);

    if (g == NULL) {
        return -1;
    }
    return g->owner[lbf_hash_point(g, lbf_hash64(key, n,
                                                 LBF_HASH_SEED_KEY))];
}
