/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * pickbench.c -- the cost of the core's pick path, and counter exactness.
 *
 *   pickbench pick [seconds [method [members]]]
 *                               ns per pick+take+release for each method at
 *                               8, 100 and 1024 members, in one process and
 *                               in two processes sharing the segment (every
 *                               member starts with latency samples, so
 *                               least-time compares real estimates; hash
 *                               gets a new key every pick, and runs once
 *                               more with every member busy -- 2 in flight
 *                               -- so its bound scans the farm); each
 *                               figure is the median of LBF_BENCH_REPS
 *                               runs of seconds / LBF_BENCH_REPS; method and
 *                               members restrict the table (for a profiler)
 *   pickbench hold [seconds]    ns a request pays for the hold area (a
 *                               slot taken with the row, emptied with its
 *                               release: lbfarm_hold.h), beside a plain
 *                               take/release, 1 and 2 processes
 *   pickbench exact [pairs]     pairs take/release split over 2 processes
 *                               (2 threads each) on one row: lbfarm's
 *                               atomic counters against the stock
 *                               bybusyness pattern (plain ++/-- on shm)
 *   pickbench hashmove [keys]   hash's ring, exactly (no load, no noise):
 *                               for n = 4, 10, 100 members m1..mn of
 *                               weight 1, the share of keys key0..key(K-1)
 *                               that move when m(n+1) is added and when m1
 *                               is then removed, beside the ideal 1/(n+1),
 *                               and the key share per member (max and min
 *                               over the average)
 *   pickbench hashload [picks]  hash's bound, simulated: 4 members, 32
 *                               requests in flight (each pick takes a
 *                               member, the oldest request ends), keys
 *                               uniform over 1000 or 30 % one hot key;
 *                               per member in flight averaged over the
 *                               picks (max over the mean) and the largest
 *                               in flight seen, with c = 1.25 and 100
 *
 * Everything runs on an mmap(MAP_SHARED|MAP_ANONYMOUS) segment formatted by
 * the core, exactly as httpd's children share it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lbfarm_hash.h"
#include "lbfarm_method.h"

/* This thread's CPU time in seconds: on a shared machine, time another
 * process holds the core is not counted; cache-line traffic between the
 * picking processes still is (a stalled load burns CPU time). */
static double lbf_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall clock in seconds: the clock of pick timestamps. */
static double lbf_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Give every member of farm 0 a latency estimate and histogram: 16
 * samples of 200..800 us ending now (what least-time reads). */
static void lbf_bench_latencies(struct lbf_shm *h, uint32_t n)
{
    uint64_t now = (uint64_t)(lbf_wall() * 1e6);
    uint32_t i, k;

    for (i = 0; i < n; i++) {
        struct lbf_row *r = lbf_member_at(h, lbf_farm_at(h, 0), i);

        for (k = 0; k < 16; k++) {
            lbf_row_done(r, 200 + (i * 37 + k * 11) % 600,
                                   now - (16 - k) * 5000);
        }
    }
}

/* In flight every member starts with (the "busy" run of hash). */
static int lbf_bench_busy;

/* A shared segment with one farm of n members named m<first>.., weight
 * 1 + i % 4 of member i when mixed, else 1 each; rebuilt.  The caller
 * may unmap it (h.base, h.len).  Exits when it cannot be made. */
static struct lbf_shm lbf_bench_farm(uint32_t n, uint32_t method,
                                     uint32_t first, int mixed)
{
    struct lbf_layout lay = {.l_farms = 1, .l_rows = n,
                             .sched_len = lbf_sched_entries(n),
                             .generation = 1};
    size_t len = lbf_shm_size(&lay);
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct lbf_shm h;
    uint32_t i;
    char name[32];

    if (base == MAP_FAILED || lbf_shm_format(&h, base, len, &lay) != LBF_OK
        || lbf_farm_add(&h, "bench", method, n) != 0) {
        fprintf(stderr, "pickbench: cannot set up a segment\n");
        exit(1);
    }
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "m%u", first + i);
        lbf_member_add(&h, 0, name, mixed ? 1 + i % 4 : 1, 0, 10);
    }
    lbf_farm_rebuild(&h, lbf_farm_at(&h, 0));
    return h;
}

/* A shared segment with one farm of n members (weights 1..4), latency
 * samples in every member and lbf_bench_busy in flight each. */
static struct lbf_shm lbf_bench_segment(uint32_t n, uint32_t method)
{
    struct lbf_shm h = lbf_bench_farm(n, method, 0, 1);
    uint32_t i;

    lbf_bench_latencies(&h, n);
    for (i = 0; i < n; i++) {
        atomic_store(&lbf_member_at(&h, lbf_farm_at(&h, 0), i)->inflight,
                     lbf_bench_busy);
    }
    return h;
}

/* Picks per second of one process for secs seconds. */
static double lbf_pick_rate(struct lbf_shm *h, uint32_t method, double secs)
{
    struct lbf_pick pk;
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid(), count = 0;
    static char keys[256][16];
    double t0 = lbf_now(), t;
    int i, mi;

    for (i = 0; i < 256; i++) { /* request keys, for methods that read one */
        snprintf(keys[i], sizeof(keys[i]), "user%08x",
                 (unsigned)i * 2654435761u);
    }
    memset(&pk, 0, sizeof(pk));
    pk.h = h;
    pk.farm = lbf_farm_at(h, 0);
    pk.rng = &rng;
    pk.exclude = LBF_NO_MEMBER;
    do {
        pk.now = (uint64_t)(lbf_wall() * 1e6);
        for (i = 0; i < 4096; i++) {
            pk.key = keys[i & 255];
            pk.key_len = 12;
            if ((mi = lbf_pick_take(method, &pk)) >= 0) {
                lbf_row_release(lbf_member_at(h, pk.farm, (uint32_t)mi), 0);
            }
        }
        count += 4096;
    } while ((t = lbf_now() - t0) < secs);
    return (double)count / t;
}

/* Total picks per second of procs processes on one segment. */
static double lbf_pick_rate_procs(uint32_t n, uint32_t method, int procs,
                                  double secs)
{
    struct lbf_shm h = lbf_bench_segment(n, method);
    double *rates = mmap(NULL, sizeof(double) * (size_t)procs,
                         PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                         -1, 0);
    double total = 0;
    pid_t pids[8];
    int p;

    for (p = 0; p < procs; p++) {
        if ((pids[p] = fork()) == 0) {
            rates[p] = lbf_pick_rate(&h, method, secs);
            _exit(0);
        }
    }
    for (p = 0; p < procs; p++) {
        waitpid(pids[p], NULL, 0);
        total += rates[p];
    }
    munmap(rates, sizeof(double) * (size_t)procs);
    munmap(h.base, h.len);
    return total;
}

#define LBF_BENCH_REPS 5

/* The median rate of LBF_BENCH_REPS runs of secs / LBF_BENCH_REPS each: a
 * run that another process's cache traffic slowed does not move it. */
static double lbf_pick_rate_median(uint32_t n, uint32_t method, int procs,
                                   double secs)
{
    double v[LBF_BENCH_REPS], t;
    int i, j;

    for (i = 0; i < LBF_BENCH_REPS; i++) {
        t = lbf_pick_rate_procs(n, method, procs, secs / LBF_BENCH_REPS);
        for (j = i; j > 0 && v[j - 1] > t; j--) {
            v[j] = v[j - 1];
        }
        v[j] = t;
    }
    return v[LBF_BENCH_REPS / 2];
}

/* The table for every method (or only `only`) at 8, 100 and 1024 members
 * (or only `size`, when not 0). */
static int lbf_bench_pick(double secs, const char *only, uint32_t size)
{
    static const uint32_t sizes[] = {8, 100, 1024};
    uint32_t m, s;

    printf("%-14s %8s %12s %12s %10s\n", "method", "members", "ns/pick 1p",
           "ns/pick 2p*", "2p/1p");
    for (m = 0; lbf_methods[m] != NULL; m++) {
        if (only != NULL && strcmp(only, lbf_methods[m]->name) != 0) {
            continue;
        }
        for (s = 0; s < 3; s++) {
            double one, two;

            if (size != 0 && size != sizes[s]) {
                continue;
            }
            one = lbf_pick_rate_median(sizes[s], m, 1, secs);
            two = lbf_pick_rate_median(sizes[s], m, 2, secs);

            printf("%-14s %8u %12.1f %12.1f %10.2f\n", lbf_methods[m]->name,
                   sizes[s], 1e9 / one, 2e9 / two, two / one);
        }
    }
    lbf_bench_busy = 2; /* hash with busy members: the bound's scan */
    m = (uint32_t)lbf_method_find("hash");
    for (s = 0; s < 3; s++) {
        double one = lbf_pick_rate_procs(sizes[s], m, 1, secs);
        double two = lbf_pick_rate_procs(sizes[s], m, 2, secs);

        printf("%-14s %8u %12.1f %12.1f %10.2f\n", "hash (busy)", sizes[s],
               1e9 / one, 2e9 / two, two / one);
    }
    lbf_bench_busy = 0;
    printf("ns are CPU time of the picking thread (a busy machine does not "
           "inflate them),\nmedians of %d runs.\n* ns of one process's CPU time per pick with "
           "two processes picking at once;\n  2p/1p is the throughput of two "
           "processes over one (2.0 = perfect scaling).\n", LBF_BENCH_REPS);
    return 0;
}

/* ---- counter exactness ---- */

struct lbf_exact_arg {
    struct lbf_row *row;
    volatile long *stock;     /* the stock pattern: plain ++/-- */
    long pairs;
};

static void *lbf_exact_thread(void *p)
{
    struct lbf_exact_arg *a = p;
    long i;

    for (i = 0; i < a->pairs; i++) {
        lbf_row_take(a->row);
        (*a->stock)++;                 /* proxy_balancer_pre_request */
        lbf_row_release(a->row, 0);
        (*a->stock)--;                 /* decrement_busy_count */
    }
    return NULL;
}

/* ---- the hold area's cost on the request path ---- */

/* ns per take+release pair of row 0 of h for secs seconds, with a hold
 * slot (block proc of the hold area) when hold is set. */
static double lbf_hold_pair_ns(struct lbf_shm *h, int hold, int proc,
                               double secs)
{
    struct lbf_row *r = lbf_member_at(h, lbf_farm_at(h, 0), 0);
    uint32_t hint = 0, slot = LBF_HOLD_NONE;
    uint64_t count = 0;
    double t0 = lbf_now(), t;
    int i;

    do {
        for (i = 0; i < 4096; i++) {
            lbf_row_take(r);
            if (hold) {
                slot = lbf_hold_take(h->hold, proc, 0, &hint);
            }
            if (!hold || lbf_hold_drop(h->hold, proc, slot)) {
                lbf_row_release(r, 0);
            }
        }
        count += 4096;
    } while ((t = lbf_now() - t0) < secs);
    return t * 1e9 / (double)count;
}

/* The same in procs processes at once (each its own block, as children
 * are); returns the mean ns per pair. */
static double lbf_hold_procs_ns(struct lbf_shm *h, int hold, int procs,
                                double secs)
{
    double *ns = mmap(NULL, sizeof(double) * 2, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0), sum = 0;
    pid_t pids[2];
    int p;

    for (p = 0; p < procs; p++) {
        if ((pids[p] = fork()) == 0) {
            int me = lbf_hold_join(h->hold, h->hold_len, (uint32_t)getpid(),
                                   lbf_hold_pid_alive, NULL, NULL);

            ns[p] = lbf_hold_pair_ns(h, hold, me, secs);
            lbf_hold_reap_pid(h->hold, h->hold_len, (uint32_t)getpid(),
                              NULL, NULL);
            _exit(0);
        }
    }
    for (p = 0; p < procs; p++) {
        waitpid(pids[p], NULL, 0);
        sum += ns[p];
    }
    munmap(ns, sizeof(double) * 2);
    return sum / procs;
}

static int lbf_bench_hold(double secs)
{
    struct lbf_layout lay = {.l_farms = 1, .l_rows = 2,
                             .sched_len = lbf_sched_entries(2),
                             .generation = 1, .hold_procs = 16,
                             .hold_slots = 2 * 25 + 16};
    size_t len = lbf_shm_size(&lay);
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct lbf_shm h;
    int procs;

    if (base == MAP_FAILED || lbf_shm_format(&h, base, len, &lay) != LBF_OK
        || lbf_farm_add(&h, "bench", 1, 2) != 0
        || lbf_member_add(&h, 0, "m0", 1, 0, 10) != 0) {
        fprintf(stderr, "pickbench: cannot set up a segment\n");
        return 1;
    }
    printf("%-6s %16s %16s %12s\n", "procs", "ns take+release",
           "ns with a hold", "ns the hold");
    for (procs = 1; procs <= 2; procs++) {
        double plain = lbf_hold_procs_ns(&h, 0, procs, secs);
        double held = lbf_hold_procs_ns(&h, 1, procs, secs);

        printf("%-6d %16.1f %16.1f %12.1f\n", procs, plain, held,
               held - plain);
    }
    printf("CPU ns per request of one process (both processes on one row: "
           "its line bounces,\nthe hold slots are each process's own).\n");
    munmap(base, len);
    return 0;
}

static int lbf_bench_exact(long pairs)
{
    struct lbf_shm h = lbf_bench_segment(1, 1);
    struct lbf_row *row = lbf_member_at(&h, lbf_farm_at(&h, 0), 0);
    volatile long *stock = (volatile long *)(void *)row->reserved;
    pid_t pids[2];
    int p;

    *stock = 0;
    for (p = 0; p < 2; p++) {
        if ((pids[p] = fork()) == 0) {
            struct lbf_exact_arg a = {row, stock, pairs / 4};
            pthread_t t;

            pthread_create(&t, NULL, lbf_exact_thread, &a);
            lbf_exact_thread(&a);
            pthread_join(t, NULL);
            _exit(0);
        }
    }
    for (p = 0; p < 2; p++) {
        waitpid(pids[p], NULL, 0);
    }
    printf("%ld take/release pairs over 2 processes x 2 threads:\n", pairs);
    printf("  lbfarm in-flight after: %d (requests counted %llu)\n",
           atomic_load(&row->inflight),
           (unsigned long long)atomic_load(&row->requests));
    printf("  stock bybusyness pattern (plain ++/-- in shm) after: %ld\n",
           *stock);
    return atomic_load(&row->inflight) == 0 ? 0 : 1;
}

/* ---- hash: keys moved on add/remove, and the bound ---- */

/* A segment with one hash farm of members m<first>..m<first + n - 1>,
 * weight 1 each.  Never unmapped: the hash ring cache is keyed by the
 * farm's address, which a new mapping could reuse. */
static struct lbf_shm lbf_hash_segment(uint32_t first, uint32_t n)
{
    return lbf_bench_farm(n, (uint32_t)lbf_method_find("hash"), first, 0);
}

/* The owner (member name's number) of keys key0..key(nk-1) in h, into
 * own; per-member key counts into cnt (n entries, zeroed here). */
static void lbf_hash_owners(struct lbf_shm *h, long nk, uint32_t *own,
                            long *cnt, uint32_t n)
{
    struct lbf_pick pk;
    uint64_t rng = 1;
    char key[32];
    long k;
    int mi;

    memset(&pk, 0, sizeof(pk));
    memset(cnt, 0, sizeof(*cnt) * n);
    pk.h = h;
    pk.farm = lbf_farm_at(h, 0);
    pk.rng = &rng;
    pk.exclude = LBF_NO_MEMBER;
    pk.now = (uint64_t)(lbf_wall() * 1e6);
    for (k = 0; k < nk; k++) {
        int len = snprintf(key, sizeof(key), "key%ld", k);

        mi = lbf_hash_owner(&pk, key, (size_t)len);
        own[k] = mi < 0 ? 0
                 : (uint32_t)atol(lbf_member_at(h, pk.farm,
                                                (uint32_t)mi)->name + 1);
        if (mi >= 0) {
            cnt[mi]++;
        }
    }
}

/* Keys whose owner differs between a and b; *stray gets those of them
 * that neither came from nor went to member number only. */
static long lbf_moved(const uint32_t *a, const uint32_t *b, long nk,
                      uint32_t only, long *stray)
{
    long k, m = 0;

    for (k = 0; k < nk; k++) {
        if (a[k] != b[k]) {
            m++;
            *stray += a[k] != only && b[k] != only;
        }
    }
    return m;
}

/* max and min of cnt[0..n) over their mean. */
static void lbf_spread(const long *cnt, uint32_t n, double *mx, double *mn)
{
    long hi = cnt[0], lo = cnt[0], sum = 0;
    uint32_t i;

    for (i = 0; i < n; i++) {
        sum += cnt[i];
        hi = cnt[i] > hi ? cnt[i] : hi;
        lo = cnt[i] < lo ? cnt[i] : lo;
    }
    *mx = sum ? (double)hi * n / (double)sum : 0;
    *mn = sum ? (double)lo * n / (double)sum : 0;
}

static int lbf_bench_hashmove(long nk)
{
    static const uint32_t sizes[] = {4, 10, 100};
    uint32_t *a = malloc(sizeof(*a) * (size_t)nk);
    uint32_t *b = malloc(sizeof(*b) * (size_t)nk);
    uint32_t *c = malloc(sizeof(*c) * (size_t)nk);
    long *cnt = malloc(sizeof(*cnt) * 128), ma, mr, stray = 0;
    double mx, mn, ideal;
    int s, bad = 0;

    if (a == NULL || b == NULL || c == NULL || cnt == NULL) {
        return 1;
    }
    printf("%ld keys \"key0\"..; members m1..mn of weight 1 (%d ring points "
           "each)\n", nk, LBF_HASH_VNODES);
    printf("%-8s %14s %14s %14s %14s %14s\n", "n", "add m(n+1)",
           "remove m1", "ideal 1/(n+1)", "keys max/avg", "keys min/avg");
    for (s = 0; s < 3; s++) {
        uint32_t n = sizes[s];
        struct lbf_shm ha = lbf_hash_segment(1, n);
        struct lbf_shm hb = lbf_hash_segment(1, n + 1);
        struct lbf_shm hc = lbf_hash_segment(2, n);

        lbf_hash_owners(&hc, nk, c, cnt, n);
        lbf_hash_owners(&hb, nk, b, cnt, n + 1);
        lbf_hash_owners(&ha, nk, a, cnt, n);
        lbf_spread(cnt, n, &mx, &mn);
        ma = lbf_moved(a, b, nk, n + 1, &stray);
        mr = lbf_moved(b, c, nk, 1, &stray);
        ideal = 100.0 / (n + 1);
        printf("%-8u %13.2f%% %13.2f%% %13.2f%% %14.3f %14.3f\n", n,
               100.0 * ma / nk, 100.0 * mr / nk, ideal, mx, mn);
        bad |= 100.0 * ma / nk > ideal + 5 || 100.0 * mr / nk > ideal + 5;
    }
    printf("moved: keys whose member changed (goal <= 1/(n+1) + 5 %%); "
           "moves that neither\nwent to the added member nor left the "
           "removed one: %ld\n", stray);
    bad |= stray != 0;
    free(a);
    free(b);
    free(c);
    free(cnt);
    return bad;
}

#define LBF_HL_N      4
#define LBF_HL_FLIGHT 32

/* One simulated run: picks picks with the bound c_milli, keys from 1000
 * (share hot of them the key "hot"); prints one line. */
static void lbf_hashload_run(long picks, uint32_t c_milli, double hot)
{
    static struct lbf_shm h;
    static int made;
    struct lbf_pick pk;
    uint64_t rng = 0x9E3779B97F4A7C15ull, sum[LBF_HL_N] = {0};
    int q[LBF_HL_FLIGHT], head = 0, used = 0, peak = 0, mi;
    long p, served[LBF_HL_N] = {0};
    double mx = 0, mn, avg[LBF_HL_N];
    char key[32];
    uint32_t i;

    if (!made) {
        h = lbf_hash_segment(1, LBF_HL_N);
        made = 1;
    }
    memset(&pk, 0, sizeof(pk));
    pk.h = &h;
    pk.farm = lbf_farm_at(&h, 0);
    pk.rng = &rng;
    pk.exclude = LBF_NO_MEMBER;
    pk.hash_c_milli = c_milli;
    pk.now = (uint64_t)(lbf_wall() * 1e6);
    srand(7);
    for (p = 0; p < picks; p++) {
        pk.now += 1000; /* 1 ms apart: every pick counts the farm afresh */
        if (hot > 0 && rand() < hot * RAND_MAX) {
            snprintf(key, sizeof(key), "hot");
        }
        else {
            snprintf(key, sizeof(key), "key%d", rand() % 1000);
        }
        pk.key = key;
        pk.key_len = (uint32_t)strlen(key);
        if (used == LBF_HL_FLIGHT) { /* the oldest request ends */
            lbf_row_release(lbf_member_at(&h, pk.farm,
                                          (uint32_t)q[head]), 0);
            used--;
            head = (head + 1) % LBF_HL_FLIGHT;
        }
        if ((mi = lbf_pick_take((uint32_t)lbf_method_find("hash"),
                                &pk)) < 0) {
            continue;
        }
        q[(head + used++) % LBF_HL_FLIGHT] = mi;
        served[mi]++;
        for (i = 0; i < LBF_HL_N; i++) {
            int f = atomic_load(&lbf_member_at(&h, pk.farm, i)->inflight);

            sum[i] += (uint64_t)f;
            peak = f > peak ? f : peak;
        }
    }
    while (used > 0) {
        lbf_row_release(lbf_member_at(&h, pk.farm, (uint32_t)q[head]), 0);
        used--;
        head = (head + 1) % LBF_HL_FLIGHT;
    }
    for (i = 0; i < LBF_HL_N; i++) {
        avg[i] = (double)sum[i] / (double)picks;
    }
    {
        long c2[LBF_HL_N];
        double smx;

        for (i = 0; i < LBF_HL_N; i++) {
            c2[i] = (long)(avg[i] * 1000);
        }
        lbf_spread(c2, LBF_HL_N, &mx, &mn);
        lbf_spread(served, LBF_HL_N, &smx, &mn);
        printf("%-6.2f %-8s %12.3f %12.3f %12d %12.3f\n", c_milli / 1000.0,
               hot > 0 ? "30% hot" : "uniform", mx, smx, peak,
               (double)peak / ((double)LBF_HL_FLIGHT / LBF_HL_N));
    }
}

static int lbf_bench_hashload(long picks)
{
    printf("%ld picks, %d members, %d requests in flight (avg %d per "
           "member)\n", picks, LBF_HL_N, LBF_HL_FLIGHT,
           LBF_HL_FLIGHT / LBF_HL_N);
    printf("%-6s %-8s %12s %12s %12s %12s\n", "c", "keys",
           "inflight max", "served max", "peak", "peak/avg");
    printf("%-6s %-8s %12s %12s %12s %12s\n", "", "", "/avg", "/avg",
           "inflight", "");
    lbf_hashload_run(picks, 1250, 0);
    lbf_hashload_run(picks, 1250, 0.3);
    lbf_hashload_run(picks, 100000, 0);
    lbf_hashload_run(picks, 100000, 0.3);
    printf("c = 100: practically unbounded (plain consistent hashing).  The "
           "bound lets a\nmember take a key while in flight + 1 <= ceil(c x "
           "(T + 1) / n): with T = 31\nthat is 10 = 1.25 x 8 exactly.\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "pick") == 0) {
        return lbf_bench_pick(argc > 2 ? atof(argv[2]) : 1.0,
                              argc > 3 ? argv[3] : NULL,
                              argc > 4 ? (uint32_t)atol(argv[4]) : 0);
    }
    if (argc >= 2 && strcmp(argv[1], "hold") == 0) {
        return lbf_bench_hold(argc > 2 ? atof(argv[2]) : 1.0);
    }
    if (argc >= 2 && strcmp(argv[1], "exact") == 0) {
        return lbf_bench_exact(argc > 2 ? atol(argv[2]) : 1000000);
    }
    if (argc >= 2 && strcmp(argv[1], "hashmove") == 0) {
        return lbf_bench_hashmove(argc > 2 ? atol(argv[2]) : 100000);
    }
    if (argc >= 2 && strcmp(argv[1], "hashload") == 0) {
        return lbf_bench_hashload(argc > 2 ? atol(argv[2]) : 100000);
    }
    fprintf(stderr, "usage: pickbench pick [seconds [method [members]]] | "
            "hold [seconds] | exact [pairs] | hashmove [keys] | "
            "hashload [picks]\n");
    return 2;
}
