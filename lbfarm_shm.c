/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_shm.c -- the farm table in a shared region: format, attach,
 * rows, crash-safe locks, seqlock groups, graceful-restart carry-over.
 * Layout and concurrency rules: see the diagram in lbfarm_shm.h.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lbfarm_shm.h"
#include "lbfarm_method.h"

#define LBF_SPINS_BEFORE_YIELD 128
#define LBF_YIELDS_BEFORE_CHECK 16

static size_t lbf_farms_off(void)
{
    return sizeof(struct lbf_hdr);
}

static size_t lbf_rows_off(uint32_t l_farms)
{
    return lbf_farms_off() + (size_t)l_farms * sizeof(struct lbf_farm);
}

/* Schedule area follows the rows, aligned to 64 bytes. */
static size_t lbf_sched_off(uint32_t l_farms, uint32_t l_rows)
{
    size_t off = lbf_rows_off(l_farms) + (size_t)l_rows * sizeof(struct lbf_row);
    return (off + 63) & ~(size_t)63;
}

uint32_t lbf_sched_entries(uint32_t l_rows)
{
    return 2u * l_rows * LBF_WEIGHT_MAX;
}

size_t lbf_shm_size(const struct lbf_layout *lay)
{
    return lbf_sched_off(lay->l_farms, lay->l_rows)
           + (size_t)lay->sched_len * sizeof(uint16_t);
}

static struct lbf_row *lbf_row_at(const struct lbf_shm *h, uint32_t i)
{
    return (struct lbf_row *)(h->base + lbf_rows_off(h->hdr->l_farms)
                              + (size_t)i * sizeof(struct lbf_row));
}

static int lbf_farm_rebuild_locked(struct lbf_shm *h, struct lbf_farm *f);

/* Wall clock in microseconds (the clock request timestamps use). */
static uint64_t lbf_wall_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint16_t *lbf_sched_base(const struct lbf_shm *h)
{
    return (uint16_t *)(h->base + h->hdr->sched_off);
}

int lbf_shm_format(struct lbf_shm *h, void *base, size_t len,
                   const struct lbf_layout *lay)
{
    struct lbf_hdr *hdr = base;

    if (len < lbf_shm_size(lay) || lay->l_rows > LBF_ROWS_MAX) {
        return LBF_ENOSPACE;
    }
    memset(base, 0, lbf_shm_size(lay));
    hdr->hdr_size = sizeof(struct lbf_hdr);
    hdr->farm_size = sizeof(struct lbf_farm);
    hdr->row_size = sizeof(struct lbf_row);
    hdr->l_farms = lay->l_farms;
    hdr->l_rows = lay->l_rows;
    hdr->sched_off = (uint32_t)lbf_sched_off(lay->l_farms, lay->l_rows);
    hdr->sched_len = lay->sched_len;
    hdr->generation = lay->generation;
    hdr->total_len = lbf_shm_size(lay);
    hdr->version = LBF_SHM_VERSION;
    atomic_thread_fence(memory_order_release);
    hdr->magic = LBF_SHM_MAGIC;
    h->base = base;
    h->len = len;
    h->hdr = hdr;
    return LBF_OK;
}

int lbf_shm_attach(struct lbf_shm *h, void *base, size_t len)
{
    const struct lbf_hdr *hdr = base;
    struct lbf_layout lay;

    if (len < sizeof(struct lbf_hdr) || hdr->magic != LBF_SHM_MAGIC) {
        return LBF_EFOREIGN;
    }
    if (hdr->version != LBF_SHM_VERSION) {
        return LBF_EVERSION;
    }
    lay.l_farms = hdr->l_farms;
    lay.l_rows = hdr->l_rows;
    lay.sched_len = hdr->sched_len;
    if (hdr->hdr_size != sizeof(struct lbf_hdr)
        || hdr->farm_size != sizeof(struct lbf_farm)
        || hdr->row_size != sizeof(struct lbf_row)
        || hdr->total_len != lbf_shm_size(&lay) || len < hdr->total_len
        || hdr->sched_off != lbf_sched_off(lay.l_farms, lay.l_rows)
        || hdr->n_farms > hdr->l_farms || hdr->n_rows > hdr->l_rows) {
        return LBF_ELAYOUT;
    }
    h->base = base;
    h->len = len;
    h->hdr = (struct lbf_hdr *)hdr;
    return LBF_OK;
}

/* 1 when name is a usable name: 1..LBF_NAME_SIZE-1 bytes. */
static int lbf_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n < LBF_NAME_SIZE;
}

struct lbf_farm *lbf_farm_at(const struct lbf_shm *h, uint32_t fi)
{
    if (fi >= h->hdr->n_farms) {
        return NULL;
    }
    return (struct lbf_farm *)(h->base + lbf_farms_off()
                               + (size_t)fi * sizeof(struct lbf_farm));
}

struct lbf_row *lbf_member_at(const struct lbf_shm *h,
                              const struct lbf_farm *f, uint32_t mi)
{
    if (f == NULL || mi >= f->n_rows) {
        return NULL;
    }
    return lbf_row_at(h, f->first_row + mi);
}

int lbf_farm_find(const struct lbf_shm *h, const char *name)
{
    uint32_t i;

    for (i = 0; i < h->hdr->n_farms; i++) {
        if (strcmp(lbf_farm_at(h, i)->name, name) == 0) {
            return (int)i;
        }
    }
    return LBF_ENOENT;
}

int lbf_member_find(const struct lbf_shm *h, const struct lbf_farm *f,
                    const char *name)
{
    uint32_t i;

    for (i = 0; i < f->n_rows; i++) {
        if (strcmp(lbf_member_at(h, f, i)->name, name) == 0) {
            return (int)i;
        }
    }
    return LBF_ENOENT;
}

int lbf_farm_add(struct lbf_shm *h, const char *name, uint32_t method,
                 uint32_t l_rows)
{
    struct lbf_hdr *hdr = h->hdr;
    struct lbf_farm *f;
    uint32_t cap = l_rows * LBF_WEIGHT_MAX;

    if (!lbf_name_ok(name) || l_rows == 0 || l_rows > LBF_FARM_MEMBERS_MAX) {
        return LBF_EINVAL;
    }
    if (lbf_farm_find(h, name) >= 0) {
        return LBF_EEXIST;
    }
    if (hdr->n_farms >= hdr->l_farms || hdr->l_rows - hdr->n_rows < l_rows
        || hdr->sched_len - hdr->sched_used < 2 * cap) {
        return LBF_ENOSPACE;
    }
    hdr->n_farms++;
    f = lbf_farm_at(h, hdr->n_farms - 1);
    memset(f, 0, sizeof(*f));
    f->magic = LBF_FARM_MAGIC;
    f->method = method;
    strcpy(f->name, name);
    f->first_row = hdr->n_rows;
    f->l_rows = l_rows;
    f->sched_off = hdr->sched_used;
    f->sched_cap = cap;
    hdr->n_rows += l_rows;
    hdr->sched_used += 2 * cap;
    return (int)(hdr->n_farms - 1);
}

int lbf_member_add(struct lbf_shm *h, uint32_t fi, const char *name,
                   uint32_t weight, uint32_t tier, uint32_t retry_sec)
{
    struct lbf_farm *f = lbf_farm_at(h, fi);
    struct lbf_row *r;

    if (f == NULL || !lbf_name_ok(name) || weight < 1
        || weight > LBF_WEIGHT_MAX) {
        return LBF_EINVAL;
    }
    if (lbf_member_find(h, f, name) >= 0) {
        return LBF_EEXIST;
    }
    if (f->n_rows >= f->l_rows) {
        return LBF_ENOSPACE;
    }
    r = lbf_row_at(h, f->first_row + f->n_rows);
    memset(r, 0, sizeof(*r));
    r->magic = LBF_ROW_MAGIC;
    r->farm = fi;
    strcpy(r->name, name);
    atomic_store(&r->weight, weight);
    r->cfg_weight = weight;
    r->tier = tier;
    r->retry_sec = retry_sec;
    if (f->n_rows == 0 || tier < f->min_tier) {
        f->min_tier = tier;
    }
    /* publish the row before the count that makes it visible */
    atomic_thread_fence(memory_order_release);
    f->n_rows++;
    return (int)(f->n_rows - 1);
}

int lbf_member_add_runtime(struct lbf_shm *h, uint32_t fi, const char *name,
                           const char *url, uint32_t weight,
                           uint32_t retry_sec)
{
    struct lbf_farm *f = lbf_farm_at(h, fi);
    struct lbf_row *r;
    int mi, rc = LBF_OK;

    if (f == NULL || url == NULL || strlen(url) >= LBF_URL_SIZE) {
        return LBF_EINVAL;
    }
    lbf_lock_acquire(&f->lock, (uint32_t)getpid());
    mi = lbf_member_find(h, f, name);
    if (mi >= 0 && atomic_load(&lbf_member_at(h, f, (uint32_t)mi)->admin)
                   != LBF_ADMIN_REMOVED) {
        rc = LBF_EEXIST;
    }
    else if (mi < 0) {
        mi = rc = lbf_member_add(h, fi, name, weight, 0, retry_sec);
    }
    else if (weight < 1 || weight > LBF_WEIGHT_MAX) {
        rc = LBF_EINVAL;
    }
    if (rc >= 0 && (r = lbf_member_at(h, f, (uint32_t)mi)) != NULL) {
        memcpy(r->url, url, strlen(url) + 1); /* length checked above */
        r->runtime = 1;
        r->cfg_weight = weight;
        r->retry_sec = retry_sec;
        atomic_store(&r->weight, weight);
        atomic_store(&r->up_since, lbf_wall_usec());
        atomic_store(&r->admin, LBF_ADMIN_ENABLED);
        rc = lbf_farm_rebuild_locked(h, f);
    }
    lbf_lock_release(&f->lock);
    return rc < 0 ? rc : mi;
}

int lbf_member_remove(struct lbf_shm *h, struct lbf_farm *f, uint32_t mi)
{
    struct lbf_row *r = lbf_member_at(h, f, mi);

    if (r == NULL) {
        return LBF_ENOENT;
    }
    atomic_store(&r->admin, LBF_ADMIN_REMOVED);
    return lbf_farm_rebuild(h, f);
}

/* Build the schedule into the unpublished buffer and publish it.
 * The caller holds f->lock. */
static int lbf_farm_rebuild_locked(struct lbf_shm *h, struct lbf_farm *f)
{
    uint32_t w[LBF_FARM_MEMBERS_MAX];
    uint64_t cur = atomic_load(&f->sched);
    uint32_t buf = (uint32_t)(cur >> 32) ^ 1u;
    uint16_t *out = lbf_sched_base(h) + f->sched_off + buf * f->sched_cap;
    uint32_t i, n = f->n_rows, period;

    if (n > sizeof(w) / sizeof(w[0])) {
        return LBF_EINVAL;
    }
    if (n == 0) {
        atomic_store(&f->sched, (uint64_t)buf << 32);
        return LBF_OK;
    }
    memset(w, 0, n * sizeof(w[0]));
    for (i = 0; i < n; i++) {
        w[i] = atomic_load(&lbf_member_at(h, f, i)->weight);
    }
    period = lbf_swrr_build(w, n, out, f->sched_cap);
    if (period == 0 && n > 0) {
        return LBF_EINVAL;
    }
    atomic_store(&f->sched, ((uint64_t)buf << 32) | period);
    return LBF_OK;
}

int lbf_farm_rebuild(struct lbf_shm *h, struct lbf_farm *f)
{
    uint32_t self = (uint32_t)getpid();
    int rc;

    lbf_lock_acquire(&f->lock, self);
    rc = lbf_farm_rebuild_locked(h, f);
    lbf_lock_release(&f->lock);
    return rc;
}

int lbf_member_set_weight(struct lbf_shm *h, struct lbf_farm *f,
                          uint32_t mi, uint32_t weight)
{
    struct lbf_row *r = lbf_member_at(h, f, mi);

    if (r == NULL) {
        return LBF_ENOENT;
    }
    if (weight < 1 || weight > LBF_WEIGHT_MAX) {
        return LBF_EINVAL;
    }
    atomic_store(&r->weight, weight);
    return lbf_farm_rebuild(h, f);
}

/* Carry one member's persistent fields from src row o to dst row n: admin
 * state, runtime weight, counters, and the push state (a replay stays a
 * replay across a restart; the last report keeps informing picks). */
static void lbf_row_carry(struct lbf_row *n, const struct lbf_row *o)
{
    struct lbf_row *src = (struct lbf_row *)o;

    if (o->cfg_admin == n->cfg_admin) {
        atomic_store(&n->admin, atomic_load(&src->admin));
    }
    if (o->cfg_weight == n->cfg_weight) {
        atomic_store(&n->weight, atomic_load(&src->weight));
    }
    atomic_store(&n->requests, atomic_load(&src->requests));
    atomic_store(&n->errors, atomic_load(&src->errors));
    if (lbf_row_read_metrics(o, &n->metric_ts, &n->n_metrics,
                             n->metrics) != LBF_OK) {
        n->metric_ts = 0;
        n->n_metrics = 0;
    }
    n->push_seq = o->push_seq;
    atomic_store(&n->load_milli, atomic_load(&src->load_milli));
    atomic_store(&n->load_since, atomic_load(&src->load_since));
    atomic_store(&n->load_ts, atomic_load(&src->load_ts));
}

/* Re-add to farm fi of dst the live members that an operator added at
 * runtime to the old farm of and that the new configuration lacks. */
static void lbf_carry_runtime(struct lbf_shm *dst, uint32_t fi,
                              const struct lbf_shm *src,
                              const struct lbf_farm *of)
{
    struct lbf_farm *nf = lbf_farm_at(dst, fi);
    uint32_t mi;

    for (mi = 0; mi < of->n_rows; mi++) {
        const struct lbf_row *o = lbf_member_at(src, of, mi);

        if (o->runtime && atomic_load(&((struct lbf_row *)o)->admin)
                              != LBF_ADMIN_REMOVED
            && lbf_member_find(dst, nf, o->name) < 0) {
            lbf_member_add_runtime(dst, fi, o->name, o->url, o->cfg_weight,
                                   o->retry_sec);
        }
    }
}

int lbf_shm_carry(struct lbf_shm *dst, const struct lbf_shm *src)
{
    uint32_t fi, mi;
    int carried = 0;

    for (fi = 0; fi < dst->hdr->n_farms; fi++) {
        struct lbf_farm *nf = lbf_farm_at(dst, fi);
        int ofi = lbf_farm_find(src, nf->name);
        const struct lbf_farm *of;

        if (ofi < 0) {
            continue;
        }
        of = lbf_farm_at(src, (uint32_t)ofi);
        lbf_carry_runtime(dst, fi, src, of);
        for (mi = 0; mi < nf->n_rows; mi++) {
            struct lbf_row *nr = lbf_member_at(dst, nf, mi);
            int omi = lbf_member_find(src, of, nr->name);

            if (omi >= 0) {
                lbf_row_carry(nr, lbf_member_at(src, of, (uint32_t)omi));
                carried++;
            }
        }
        if (of->cfg_admin == nf->cfg_admin) {
            atomic_store(&nf->admin,
                         atomic_load(&((struct lbf_farm *)of)->admin));
        }
        lbf_farm_rebuild(dst, nf);
    }
    return carried;
}

/* ---- latency histograms (lock-free) ---- */

/* Bucket of a latency: 0 for <= 100 us, i for <= 100 us * 2^i. */
static uint32_t lbf_lat_bucket(uint64_t usec)
{
    uint32_t b = 0;
    uint64_t bound = 100;

    while (usec > bound && b < LBF_LAT_BUCKETS - 1) {
        bound <<= 1;
        b++;
    }
    return b;
}

void lbf_row_record_latency(struct lbf_row *r, uint64_t usec,
                            uint64_t now_usec)
{
    uint64_t epoch = now_usec / (LBF_LAT_WINDOW_SEC * 1000000ull);
    struct lbf_lat *l = &r->lat[epoch & 1];
    uint64_t seen = atomic_load(&l->epoch);
    uint32_t i;

    if (seen != epoch && atomic_compare_exchange_strong(&l->epoch, &seen,
                                                        epoch)) {
        /* first request of a new window: it starts empty (a request of
         * the old window racing with this loses at most its count) */
        for (i = 0; i < LBF_LAT_BUCKETS; i++) {
            atomic_store_explicit(&l->bucket[i], 0, memory_order_relaxed);
        }
    }
    atomic_fetch_add_explicit(&l->bucket[lbf_lat_bucket(usec)], 1,
                              memory_order_relaxed);
    lbf_lt_sample(r, usec, now_usec);  /* least-time's estimate */
    lbf_row_progress(r, now_usec);     /* it answered: not stalled */
}

uint64_t lbf_row_latency(const struct lbf_row *r, uint64_t now_usec,
                         uint64_t pct_usec[3])
{
    static const uint32_t pct[3] = {50, 95, 99};
    struct lbf_row *w = (struct lbf_row *)r;
    uint64_t epoch = now_usec / (LBF_LAT_WINDOW_SEC * 1000000ull);
    uint64_t sum[LBF_LAT_BUCKETS] = {0}, total = 0, acc = 0;
    uint32_t i, k, p = 0;

    for (k = 0; k < 2; k++) {
        uint64_t e = atomic_load(&w->lat[k].epoch);

        if (e == epoch || e + 1 == epoch) {
            for (i = 0; i < LBF_LAT_BUCKETS; i++) {
                sum[i] += atomic_load_explicit(&w->lat[k].bucket[i],
                                               memory_order_relaxed);
            }
        }
    }
    for (i = 0; i < LBF_LAT_BUCKETS; i++) {
        total += sum[i];
    }
    pct_usec[0] = pct_usec[1] = pct_usec[2] = 0;
    for (i = 0; i < LBF_LAT_BUCKETS && total > 0 && p < 3; i++) {
        acc += sum[i];
        while (p < 3 && acc * 100 >= total * pct[p]) {
            pct_usec[p++] = 100ull << i;
        }
    }
    return total;
}

/* ---- request accounting ---- */

void lbf_row_take(struct lbf_row *r)
{
    atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->requests, 1, memory_order_relaxed);
}

void lbf_row_begin(struct lbf_row *r, uint64_t now_usec)
{
    /* the request that lifts the count from 0 starts a busy period.  A
     * reader between the add and the store may pair inflight 1 with the
     * previous period's start and call the member stalled for that one
     * look: it sends that one request elsewhere, nothing more (a store
     * before the add would stall on the locked add instead, every time) */
    if (atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed)
        <= 0) {
        atomic_store_explicit(&r->busy_ts, now_usec, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&r->requests, 1, memory_order_relaxed);
}

void lbf_row_progress(struct lbf_row *r, uint64_t now_usec)
{
    if (atomic_load_explicit(&r->done_ts, memory_order_relaxed) < now_usec) {
        atomic_store_explicit(&r->done_ts, now_usec, memory_order_relaxed);
    }
    /* visible before the in-flight decrement that follows a completion */
    atomic_thread_fence(memory_order_release);
}

void lbf_row_release(struct lbf_row *r, int failed)
{
    atomic_fetch_sub_explicit(&r->inflight, 1, memory_order_relaxed);
    if (failed) {
        atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
    }
}

void lbf_row_set_error(struct lbf_row *r, uint64_t now_usec)
{
    if (r->retry_sec > 0) {
        atomic_store(&r->error_until,
                     now_usec + (uint64_t)r->retry_sec * 1000000u);
    }
}

void lbf_row_clear_error(struct lbf_row *r)
{
    if (atomic_load_explicit(&r->error_until, memory_order_relaxed) != 0) {
        atomic_store(&r->error_until, 0);
    }
}

/* 1 when r is healthy and out of error at now; an error deadline that
 * just passed is cleared and starts the slow-start ramp. */
static int lbf_row_alive(struct lbf_row *r, uint64_t now_usec)
{
    uint64_t until = atomic_load_explicit(&r->error_until,
                                          memory_order_relaxed);

    if (atomic_load_explicit(&r->health, memory_order_relaxed)
        != LBF_HEALTH_UP) {
        return 0;
    }
    if (until == 0) {
        return 1;
    }
    if (until > now_usec) {
        return 0;
    }
    if (atomic_compare_exchange_strong(&r->error_until, &until, 0)) {
        atomic_store(&r->up_since, now_usec); /* back from error */
    }
    return 1;
}

int lbf_row_usable(const struct lbf_row *r, uint64_t now_usec)
{
    struct lbf_row *w = (struct lbf_row *)r;

    return atomic_load_explicit(&w->admin, memory_order_relaxed)
               == LBF_ADMIN_ENABLED
           && atomic_load_explicit(&w->drain_req, memory_order_relaxed) == 0
           && lbf_row_alive(w, now_usec);
}

int lbf_row_sticky_ok(const struct lbf_row *r, uint64_t now_usec)
{
    struct lbf_row *w = (struct lbf_row *)r;

    uint32_t admin = atomic_load_explicit(&w->admin, memory_order_relaxed);

    return (admin == LBF_ADMIN_ENABLED || admin == LBF_ADMIN_DRAIN)
           && lbf_row_alive(w, now_usec);
}

void lbf_farm_set_admin(struct lbf_farm *f, uint32_t admin)
{
    atomic_store(&f->admin, admin);
}

void lbf_member_set_cfg_admin(struct lbf_row *r, uint32_t admin)
{
    r->cfg_admin = admin;
    atomic_store(&r->admin, admin);
}

void lbf_row_set_admin(struct lbf_row *r, uint32_t admin, uint64_t now_usec)
{
    uint32_t old = atomic_exchange(&r->admin, admin);

    if (old == LBF_ADMIN_OFFLINE && admin != LBF_ADMIN_OFFLINE) {
        atomic_store(&r->up_since, now_usec);
    }
}

int lbf_hc_claim(struct lbf_row *r, uint64_t now_usec, uint64_t interval_usec)
{
    uint64_t due = atomic_load(&r->hc_next);

    return due <= now_usec
           && atomic_compare_exchange_strong(&r->hc_next, &due,
                                             now_usec + interval_usec);
}

int lbf_row_health_result(struct lbf_row *r, int ok, uint32_t rise,
                          uint32_t fall, uint64_t now_usec)
{
    uint32_t h = atomic_load(&r->health);

    if (ok) {
        r->hc_fail = 0;
        if (++r->hc_pass >= rise && h == LBF_HEALTH_DOWN) {
            atomic_store(&r->up_since, now_usec);
            atomic_store(&r->health, LBF_HEALTH_UP);
            return 1;
        }
    }
    else {
        r->hc_pass = 0;
        if (++r->hc_fail >= fall && h == LBF_HEALTH_UP) {
            atomic_store(&r->health, LBF_HEALTH_DOWN);
            return 1;
        }
    }
    return 0;
}

/* ---- locks ---- */

uint64_t lbf_mono_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline void lbf_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
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

void lbf_lock_release(struct lbf_lock *lk)
{
    atomic_store_explicit(&lk->owner, 0, memory_order_release);
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

int lbf_row_lock(struct lbf_shm *h, struct lbf_row *r, uint32_t self)
{
    int rc = lbf_lock_acquire(&r->lock, self);

    if (rc == LBF_LOCK_STOLEN) {
        atomic_fetch_add(&h->hdr->recoveries, 1);
        if (atomic_load(&r->lock.seq) & 1u) {
            /* the dead owner was writing the metrics group: neutral */
            r->metric_ts = 0;
            r->n_metrics = 0;
            memset(r->metrics, 0, sizeof(r->metrics));
            atomic_store(&r->load_ts, 0); /* neutral until the next push */
            atomic_fetch_add_explicit(&r->lock.seq, 1, memory_order_release);
            atomic_fetch_add(&h->hdr->repairs, 1);
        }
    }
    return rc;
}

void lbf_row_unlock(struct lbf_row *r)
{
    lbf_lock_release(&r->lock);
}

#define LBF_READ_TRIES 64

int lbf_row_read_metrics(const struct lbf_row *r, uint64_t *ts,
                         uint32_t *n, struct lbf_metric *out)
{
    struct lbf_lock *lk = (struct lbf_lock *)&r->lock;
    int tries;

    for (tries = 0; tries < LBF_READ_TRIES; tries++) {
        uint32_t s1 = atomic_load_explicit(&lk->seq, memory_order_acquire);
        uint32_t cnt;

        if (s1 & 1u) {
            lbf_cpu_relax();
            continue;
        }
        *ts = r->metric_ts;
        cnt = r->n_metrics;
        if (cnt > LBF_METRICS_MAX) {
            cnt = LBF_METRICS_MAX;
        }
        memcpy(out, r->metrics, cnt * sizeof(*out));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&lk->seq, memory_order_relaxed) == s1) {
            *n = cnt;
            return LBF_OK;
        }
    }
    return LBF_EBUSY;
}

int lbf_row_write_metrics(struct lbf_shm *h, struct lbf_row *r,
                          uint32_t self, uint64_t ts, uint32_t n,
                          const struct lbf_metric *m)
{
    if (n > LBF_METRICS_MAX) {
        return LBF_EINVAL;
    }
    lbf_row_lock(h, r, self);
    lbf_write_begin(&r->lock);
    r->metric_ts = ts;
    r->n_metrics = n;
    memcpy(r->metrics, m, n * sizeof(*m));
    lbf_write_end(&r->lock);
    lbf_row_unlock(r);
    return LBF_OK;
}
