/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_lock.c -- the crash-safe locks and the seqlock'd metrics group:
 * plain acquire/release, stealing from an owner that died (inside a write
 * section: the group is repaired and counted; outside: only the recovery
 * is counted), stealing from a live owner only after LBF_LOCK_STALE_USEC,
 * waiting for a live owner that lets go, mutual exclusion across processes
 * and threads, and the metrics write/read round trip, including a reader
 * racing a writer in another process.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include "lbf_unit.h"

/* A segment with one farm of n weight-1 members. */
static struct lbf_farm *lock_farm(struct lbf_shm *h, uint32_t n)
{
    static const uint32_t w[] = {1, 1, 1, 1};

    ck_assert_uint_le(n, LBF_T_NELEMS(w));
    lbf_t_segment(h, 1, n);
    return lbf_t_farm(h, "f", "weighted", w, NULL, n, 0);
}

static uint32_t lock_self(void)
{
    return (uint32_t)getpid();
}

/* Metric i of a set: name "m<i>", value base + i. */
static void lock_metrics(struct lbf_metric *m, uint32_t n, int64_t base)
{
    uint32_t i;

    memset(m, 0, n * sizeof(*m));
    for (i = 0; i < n; i++) {
        snprintf(m[i].name, sizeof(m[i].name), "m%u", i);
        m[i].value = base + i;
    }
}

static void lock_expect_metrics(const struct lbf_row *r, uint64_t want_ts,
                                uint32_t want_n, int64_t base)
{
    struct lbf_metric got[LBF_METRICS_MAX], want[LBF_METRICS_MAX];
    uint64_t ts = 0;
    uint32_t n = 99, i;

    ck_assert_int_eq(lbf_row_read_metrics(r, &ts, &n, got), LBF_OK);
    ck_assert_uint_eq(ts, want_ts);
    ck_assert_uint_eq(n, want_n);
    lock_metrics(want, want_n, base);
    for (i = 0; i < want_n; i++) {
        ck_assert_str_eq(got[i].name, want[i].name);
        ck_assert_int_eq(got[i].value, want[i].value);
    }
}

/* Wait for pid and assert it was killed by sig. */
static void lock_wait_signal(pid_t pid, int sig)
{
    int st = 0;

    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sig,
                  "child %d did not die of signal %d", (int)pid, sig);
}

START_TEST(lock_acquire_and_release_free_lock)
{
    struct lbf_shm h;
    struct lbf_farm *f = lock_farm(&h, 1);
    int i;

    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(lbf_lock_acquire(&f->lock, lock_self()), LBF_LOCKED);
        ck_assert_uint_eq(atomic_load(&f->lock.owner) >> 32, lock_self());
        lbf_lock_release(&f->lock, lock_self());
        ck_assert_uint_eq(atomic_load(&f->lock.owner), 0);
    }
}
END_TEST

START_TEST(lock_write_section_makes_seq_odd_then_even)
{
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 1), 0);
    uint32_t s0 = atomic_load(&r->lock.seq);

    ck_assert_uint_eq(s0 % 2, 0);
    ck_assert_int_eq(lbf_row_lock(&h, r, lock_self()), LBF_LOCKED);
    lbf_write_begin(&r->lock);
    ck_assert_uint_eq(atomic_load(&r->lock.seq), s0 + 1);
    lbf_write_end(&r->lock);
    ck_assert_uint_eq(atomic_load(&r->lock.seq), s0 + 2);
    lbf_row_unlock(r, lock_self());
    ck_assert_uint_eq(atomic_load(&r->lock.owner), 0);
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 0);
    ck_assert_uint_eq(atomic_load(&h.hdr->repairs), 0);
}
END_TEST

START_TEST(metrics_round_trip_exactly)
{
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 1), 0);
    struct lbf_metric m[LBF_METRICS_MAX + 1];
    uint32_t s0;

    /* nothing pushed yet */
    lock_expect_metrics(r, 0, 0, 0);

    lock_metrics(m, 3, -7);
    ck_assert_int_eq(lbf_row_write_metrics(&h, r, lock_self(), 1111, 3, m),
                     LBF_OK);
    lock_expect_metrics(r, 1111, 3, -7);

    lock_metrics(m, LBF_METRICS_MAX, 1000000000000ll);
    s0 = atomic_load(&r->lock.seq);
    ck_assert_int_eq(
        lbf_row_write_metrics(&h, r, lock_self(), 2222, LBF_METRICS_MAX, m),
        LBF_OK);
    lock_expect_metrics(r, 2222, LBF_METRICS_MAX, 1000000000000ll);
    ck_assert_uint_eq(atomic_load(&r->lock.seq) % 2, 0);
    ck_assert_uint_gt(atomic_load(&r->lock.seq), s0);
    ck_assert_uint_eq(atomic_load(&r->lock.owner), 0);

    /* too many: rejected, the previous set stays */
    lock_metrics(m, LBF_METRICS_MAX + 1, 5);
    ck_assert_int_eq(
        lbf_row_write_metrics(&h, r, lock_self(), 3333, LBF_METRICS_MAX + 1, m),
        LBF_EINVAL);
    lock_expect_metrics(r, 2222, LBF_METRICS_MAX, 1000000000000ll);
    ck_assert_uint_eq(atomic_load(&r->lock.owner), 0);

    /* an empty set clears */
    ck_assert_int_eq(lbf_row_write_metrics(&h, r, lock_self(), 4444, 0, m),
                     LBF_OK);
    lock_expect_metrics(r, 4444, 0, 0);
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 0);
}
END_TEST

START_TEST(row_lock_repairs_group_of_owner_killed_mid_write)
{
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 2), 1);
    struct lbf_metric m[LBF_METRICS_MAX], got[LBF_METRICS_MAX];
    pid_t parent = getpid(), pid;
    uint64_t t0, took, ts;
    uint32_t n;
    int rc;

    lock_metrics(m, 4, 10);
    ck_assert_int_eq(lbf_row_write_metrics(&h, r, lock_self(), 77, 4, m),
                     LBF_OK);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lbf_t_worker_init(parent);
        lbf_row_lock(&h, r, lock_self());
        lbf_write_begin(&r->lock);
        /* half a write: a torn group */
        r->metric_ts = 999;
        r->n_metrics = 6;
        memset(r->metrics, 0x7f, 2 * sizeof(r->metrics[0]));
        raise(SIGKILL);
        _exit(3);
    }
    lock_wait_signal(pid, SIGKILL);
    ck_assert_uint_eq(atomic_load(&r->lock.owner) >> 32, (uint32_t)pid);
    ck_assert_uint_eq(atomic_load(&r->lock.seq) % 2, 1);

    /* a reader never returns the torn group: it gives up, quickly */
    t0 = lbf_mono_usec();
    ck_assert_int_eq(lbf_row_read_metrics(r, &ts, &n, got), LBF_EBUSY);
    ck_assert_uint_lt(lbf_mono_usec() - t0, 1000000);

    t0 = lbf_mono_usec();
    rc = lbf_row_lock(&h, r, lock_self());
    took = lbf_mono_usec() - t0;
    ck_assert_int_eq(rc, LBF_LOCK_STOLEN);
    /* kill(pid, 0) finds the owner gone: no need to wait for staleness */
    ck_assert_msg(took < LBF_LOCK_STALE_USEC / 2,
                  "steal from a dead owner took %llu us",
                  (unsigned long long)took);
    ck_assert_uint_eq(atomic_load(&r->lock.owner) >> 32, lock_self());
    ck_assert_uint_eq(atomic_load(&r->lock.seq) % 2, 0);
    ck_assert_uint_eq(r->n_metrics, 0);
    ck_assert_uint_eq(atomic_load(&h.hdr->repairs), 1);
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 1);
    lbf_row_unlock(r, lock_self());

    ck_assert_int_eq(lbf_row_read_metrics(r, &ts, &n, got), LBF_OK);
    ck_assert_uint_eq(n, 0);
    /* the row works normally again */
    ck_assert_int_eq(lbf_row_write_metrics(&h, r, lock_self(), 78, 2, m),
                     LBF_OK);
    lock_expect_metrics(r, 78, 2, 10);
    ck_assert_uint_eq(atomic_load(&h.hdr->repairs), 1);
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 1);
}
END_TEST

START_TEST(row_lock_steals_from_owner_dead_outside_write_section)
{
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 1), 0);
    struct lbf_metric m[LBF_METRICS_MAX];
    pid_t parent = getpid(), pid;
    uint64_t t0, took;
    uint32_t seq;
    int rc;

    lock_metrics(m, 3, 500);
    ck_assert_int_eq(lbf_row_write_metrics(&h, r, lock_self(), 55, 3, m),
                     LBF_OK);
    seq = atomic_load(&r->lock.seq);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lbf_t_worker_init(parent);
        lbf_row_lock(&h, r, lock_self());
        _exit(0); /* forgets to unlock */
    }
    lbf_t_wait_ok(pid, "lock holder");
    ck_assert_uint_eq(atomic_load(&r->lock.owner) >> 32, (uint32_t)pid);

    t0 = lbf_mono_usec();
    rc = lbf_row_lock(&h, r, lock_self());
    took = lbf_mono_usec() - t0;
    ck_assert_int_eq(rc, LBF_LOCK_STOLEN);
    /* kill(pid, 0) finds the owner gone: no need to wait for staleness */
    ck_assert_msg(took < LBF_LOCK_STALE_USEC / 2,
                  "steal from a dead owner took %llu us",
                  (unsigned long long)took);
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 1);
    ck_assert_uint_eq(atomic_load(&h.hdr->repairs), 0);
    ck_assert_uint_eq(atomic_load(&r->lock.seq), seq);
    lbf_row_unlock(r, lock_self());
    /* nothing was torn: the metrics survive */
    lock_expect_metrics(r, 55, 3, 500);
}
END_TEST

START_TEST(lock_acquire_steals_farm_lock_from_dead_owner)
{
    struct lbf_shm h;
    struct lbf_farm *f = lock_farm(&h, 2);
    pid_t parent = getpid(), pid;
    uint64_t t0;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lbf_t_worker_init(parent);
        lbf_lock_acquire(&f->lock, lock_self());
        raise(SIGKILL);
        _exit(3);
    }
    lock_wait_signal(pid, SIGKILL);
    t0 = lbf_mono_usec();
    ck_assert_int_eq(lbf_lock_acquire(&f->lock, lock_self()), LBF_LOCK_STOLEN);
    ck_assert_uint_lt(lbf_mono_usec() - t0, LBF_LOCK_STALE_USEC / 2);
    lbf_lock_release(&f->lock, lock_self());
    /* and the farm can rebuild (which takes the lock) */
    ck_assert_int_eq(lbf_member_set_weight(&h, f, 0, 3), LBF_OK);
    ck_assert_uint_eq(atomic_load(&f->lock.owner), 0);
}
END_TEST

START_TEST(lock_steals_from_live_owner_only_after_stale_period)
{
    /* a live pid in the owner word that never lets go (pid reuse) */
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 1), 0);
    uint64_t t0, took;

    atomic_store(&r->lock.owner, ((uint64_t)getppid() << 32) | 7u);
    t0 = lbf_mono_usec();
    ck_assert_int_eq(lbf_lock_acquire(&r->lock, lock_self()), LBF_LOCK_STOLEN);
    took = lbf_mono_usec() - t0;
    ck_assert_msg(took >= LBF_LOCK_STALE_USEC * 8 / 10 && took < 3000000,
                  "stole a live lock after %llu us", (unsigned long long)took);
    ck_assert_uint_eq(atomic_load(&r->lock.owner) >> 32, lock_self());
    /* the robbed owner wakes and unlocks: the thief keeps the lock */
    lbf_lock_release(&r->lock, (uint32_t)getppid());
    ck_assert_uint_eq(atomic_load(&r->lock.owner) >> 32, lock_self());
    lbf_lock_release(&r->lock, lock_self());
    ck_assert_uint_eq(atomic_load(&r->lock.owner), 0);
}
END_TEST

#define HOLD_USEC 100000 /* well below LBF_LOCK_STALE_USEC */

struct hold_shared {
    _Atomic int held;        /* holder -> test: lock taken */
    _Atomic uint64_t let_go; /* holder: monotonic usec just before unlock */
};

START_TEST(lock_waits_for_live_owner_that_lets_go)
{
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 1), 0);
    struct hold_shared *sh = lbf_t_region(sizeof(*sh));
    pid_t parent = getpid(), pid;
    uint64_t got_at;
    int i, rc;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lbf_t_worker_init(parent);
        lbf_row_lock(&h, r, lock_self());
        atomic_store(&sh->held, 1);
        usleep(HOLD_USEC);
        atomic_store(&sh->let_go, lbf_mono_usec());
        lbf_row_unlock(r, lock_self());
        _exit(0);
    }
    for (i = 0; i < 5000 && !atomic_load(&sh->held); i++) {
        usleep(1000);
    }
    ck_assert_int_eq(atomic_load(&sh->held), 1);
    rc = lbf_row_lock(&h, r, lock_self());
    got_at = lbf_mono_usec(); /* CLOCK_MONOTONIC is system wide */
    lbf_row_unlock(r, lock_self());
    lbf_t_wait_ok(pid, "lock holder");
    /* taken normally, and only once the live holder had let go */
    ck_assert_int_eq(rc, LBF_LOCKED);
    ck_assert_uint_ne(atomic_load(&sh->let_go), 0);
    ck_assert_msg(got_at >= atomic_load(&sh->let_go),
                  "got the lock %llu us before its holder let go",
                  (unsigned long long)(atomic_load(&sh->let_go) - got_at));
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 0);
}
END_TEST

#define EXCL_PROCS 2
#define EXCL_THREADS 2
#define EXCL_ITERS 25000

struct excl_arg {
    struct lbf_shm *h;
    struct lbf_row *r;
};

/* A plain, non-atomic read-modify-write of the row's reserved bytes,
 * widened (and now and then yielding the CPU while holding the lock) so
 * that a broken lock would lose updates even on a busy machine. */
static void *excl_thread(void *p)
{
    struct excl_arg *a = p;
    uint32_t self = lock_self();
    int i;

    for (i = 0; i < EXCL_ITERS; i++) {
        uint64_t v;
        volatile int spin;

        lbf_row_lock(a->h, a->r, self);
        memcpy(&v, a->r->reserved, sizeof(v));
        for (spin = 0; spin < 20; spin++) {
        }
        if (i % 256 == 0) {
            sched_yield(); /* let the others run while we hold it */
        }
        v++;
        memcpy(a->r->reserved, &v, sizeof(v));
        lbf_row_unlock(a->r, self);
    }
    return NULL;
}

START_TEST(lock_excludes_across_processes_and_threads)
{
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 1), 0);
    struct excl_arg arg = {&h, r};
    pid_t parent = getpid(), pids[EXCL_PROCS];
    uint64_t total;
    int p;

    _Static_assert(sizeof(r->reserved) >= sizeof(uint64_t), "room");
    memset(r->reserved, 0, sizeof(r->reserved));
    for (p = 0; p < EXCL_PROCS; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            pthread_t th[EXCL_THREADS];
            int t;

            lbf_t_worker_init(parent);
            for (t = 0; t < EXCL_THREADS; t++) {
                if (pthread_create(&th[t], NULL, excl_thread, &arg) != 0) {
                    _exit(2);
                }
            }
            for (t = 0; t < EXCL_THREADS; t++) {
                pthread_join(th[t], NULL);
            }
            _exit(0);
        }
    }
    for (p = 0; p < EXCL_PROCS; p++) {
        lbf_t_wait_ok(pids[p], "lock worker");
    }
    memcpy(&total, r->reserved, sizeof(total));
    ck_assert_uint_eq(total, (uint64_t)EXCL_PROCS * EXCL_THREADS * EXCL_ITERS);
    ck_assert_uint_eq(atomic_load(&r->lock.owner), 0);
    /* nobody died: nothing may have been stolen */
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 0);
}
END_TEST

#define RACE_MAX_WRITES 20000000 /* the writer's bound if never stopped */
#define RACE_READ_USEC 300000    /* how long the reader races it */

struct race_shared {
    _Atomic int stop;      /* reader -> writer: enough */
    _Atomic int started;   /* writer -> reader: writing now */
    _Atomic uint64_t last; /* writer: ts of its last write */
};

/* Every write k publishes ts k with 1 + k % 8 metrics all of value k, so
 * a torn copy shows as n or a value that does not match ts. */
START_TEST(metrics_reader_never_sees_torn_group)
{
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 1), 0);
    struct race_shared *sh = lbf_t_region(sizeof(*sh));
    pid_t parent = getpid(), pid;
    uint64_t ok = 0, busy = 0, t0;
    int i;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct lbf_metric m[LBF_METRICS_MAX];
        uint64_t k;

        lbf_t_worker_init(parent);
        lock_metrics(m, LBF_METRICS_MAX, 0);
        atomic_store(&sh->started, 1);
        for (k = 1; k <= RACE_MAX_WRITES && !atomic_load(&sh->stop); k++) {
            uint32_t n = 1 + (uint32_t)(k % LBF_METRICS_MAX), j;

            /* no formatting here: keep the writer inside write sections
             * as much of its time as possible */
            for (j = 0; j < n; j++) {
                m[j].value = (int64_t)k;
            }
            if (lbf_row_write_metrics(&h, r, lock_self(), k, n, m) != LBF_OK) {
                _exit(2);
            }
            atomic_store(&sh->last, k);
        }
        _exit(0);
    }
    for (i = 0; i < 5000 && !atomic_load(&sh->started); i++) {
        usleep(1000);
    }
    t0 = lbf_mono_usec();
    while (lbf_mono_usec() - t0 < RACE_READ_USEC) {
        struct lbf_metric got[LBF_METRICS_MAX];
        uint64_t ts;
        uint32_t n, j;
        int rc, k;

        for (k = 0; k < 1000; k++) {
            rc = lbf_row_read_metrics(r, &ts, &n, got);
            if (rc == LBF_EBUSY) {
                busy++;
                continue;
            }
            ck_assert_int_eq(rc, LBF_OK);
            ok++;
            if (ts == 0) {
                ck_assert_uint_eq(n, 0);
                continue;
            }
            ck_assert_msg(n == 1 + ts % LBF_METRICS_MAX,
                          "torn read: ts %llu with %u metrics",
                          (unsigned long long)ts, n);
            for (j = 0; j < n; j++) {
                ck_assert_msg(got[j].value == (int64_t)ts,
                              "torn read: ts %llu metric %u = %lld",
                              (unsigned long long)ts, j,
                              (long long)got[j].value);
            }
        }
    }
    atomic_store(&sh->stop, 1);
    lbf_t_wait_ok(pid, "metrics writer");
    ck_assert_uint_gt(ok, 0);
    (void)busy; /* allowed: a reader may give up while a write is open */
    {
        struct lbf_metric got[LBF_METRICS_MAX];
        uint64_t ts = 0, last = atomic_load(&sh->last);
        uint32_t n = 0, j;

        ck_assert_uint_gt(last, 0);
        ck_assert_int_eq(lbf_row_read_metrics(r, &ts, &n, got), LBF_OK);
        ck_assert_uint_eq(ts, last);
        ck_assert_uint_eq(n, 1 + last % LBF_METRICS_MAX);
        for (j = 0; j < n; j++) {
            ck_assert_int_eq(got[j].value, (int64_t)last);
        }
    }
}
END_TEST

/*
 * The same property without needing a second CPU: a CPU-time timer
 * interrupts the reader at arbitrary points -- often in the middle of its
 * copy -- and the signal handler writes a whole new group.  Only the
 * reader's re-check of seq can notice that the copy straddled a write.
 * (Everything the handler calls is lock-free or async-signal-safe, and
 * the reader holds no lock.)
 */
static struct lbf_shm *lbf_irq_h;
static struct lbf_row *lbf_irq_r;
static struct lbf_metric lbf_irq_m[LBF_METRICS_MAX];
static volatile uint64_t lbf_irq_k;
static volatile int lbf_irq_fail;

static void lock_irq_writer(int sig)
{
    uint64_t k = lbf_irq_k + 1;
    uint32_t n = 1 + (uint32_t)(k % LBF_METRICS_MAX), j;

    (void)sig;
    for (j = 0; j < n; j++) {
        lbf_irq_m[j].value = (int64_t)k;
    }
    if (lbf_row_write_metrics(lbf_irq_h, lbf_irq_r, lock_self(), k, n,
                              lbf_irq_m) != LBF_OK) {
        lbf_irq_fail = 1;
    }
    lbf_irq_k = k;
}

#define IRQ_WANT 100         /* interruptions to see before stopping */
#define IRQ_MAX_USEC 5000000 /* wall-clock bound on a very busy box */

START_TEST(metrics_reader_retries_when_write_lands_mid_copy)
{
    struct lbf_shm h;
    struct lbf_row *r = lbf_t_row(&h, lock_farm(&h, 1), 0);
    struct sigaction sa;
    struct sigevent sev;
    struct itimerspec its;
    timer_t tid;
    uint64_t ok = 0, t0;

    lbf_irq_h = &h;
    lbf_irq_r = r;
    lock_metrics(lbf_irq_m, LBF_METRICS_MAX, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = lock_irq_writer;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    ck_assert_int_eq(timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &tid), 0);
    memset(&its, 0, sizeof(its));
    its.it_value.tv_nsec = 20000;
    its.it_interval.tv_nsec = 20000;
    ck_assert_int_eq(timer_settime(tid, 0, &its, NULL), 0);

    t0 = lbf_mono_usec();
    while (lbf_irq_k < IRQ_WANT && lbf_mono_usec() - t0 < IRQ_MAX_USEC) {
        struct lbf_metric got[LBF_METRICS_MAX];
        uint64_t ts;
        uint32_t n, j;
        int k;

        for (k = 0; k < 1000; k++) {
            if (lbf_row_read_metrics(r, &ts, &n, got) != LBF_OK) {
                continue; /* cannot happen here: writes never stay open */
            }
            ok++;
            if (ts == 0) {
                continue;
            }
            if (n != 1 + ts % LBF_METRICS_MAX) {
                timer_delete(tid);
                ck_abort_msg("torn read: ts %llu with %u metrics",
                             (unsigned long long)ts, n);
            }
            for (j = 0; j < n; j++) {
                if (got[j].value != (int64_t)ts) {
                    timer_delete(tid);
                    ck_abort_msg("torn read: ts %llu metric %u = %lld",
                                 (unsigned long long)ts, j,
                                 (long long)got[j].value);
                }
            }
        }
    }
    ck_assert_int_eq(timer_delete(tid), 0);
    ck_assert_int_eq(lbf_irq_fail, 0);
    ck_assert_uint_gt(ok, 0);
    /* the interruptions really happened (CPU-time timers tick coarsely,
     * and a busy box gives the reader little CPU) */
    ck_assert_uint_ge(lbf_irq_k, 20);
}
END_TEST

Suite *lbf_suite_lock(void)
{
    Suite *s = suite_create("lock");
    TCase *basic = tcase_create("basic");
    TCase *rec = tcase_create("recovery");
    TCase *conc = tcase_create("concurrency");

    tcase_add_test(basic, lock_acquire_and_release_free_lock);
    tcase_add_test(basic, lock_write_section_makes_seq_odd_then_even);
    tcase_add_test(basic, metrics_round_trip_exactly);
    tcase_set_timeout(basic, LBF_T_TIMEOUT);
    suite_add_tcase(s, basic);

    tcase_add_test(rec, row_lock_repairs_group_of_owner_killed_mid_write);
    tcase_add_test(rec, row_lock_steals_from_owner_dead_outside_write_section);
    tcase_add_test(rec, lock_acquire_steals_farm_lock_from_dead_owner);
    tcase_add_test(rec, lock_steals_from_live_owner_only_after_stale_period);
    tcase_add_test(rec, lock_waits_for_live_owner_that_lets_go);
    tcase_set_timeout(rec, LBF_T_TIMEOUT);
    suite_add_tcase(s, rec);

    tcase_add_test(conc, lock_excludes_across_processes_and_threads);
    tcase_add_test(conc, metrics_reader_never_sees_torn_group);
    tcase_add_test(conc, metrics_reader_retries_when_write_lands_mid_copy);
    tcase_set_timeout(conc, LBF_T_TIMEOUT);
    suite_add_tcase(s, conc);
    return s;
}
