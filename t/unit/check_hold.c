/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_hold.c -- per-process in-flight slots (lbfarm_hold.c): a killed
 * process's requests go back to their rows exactly once, whoever reaps,
 * and the area refuses what a child could have scribbled.
 */
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

#include "lbf_unit.h"
#include "lbfarm_hold.h"
#include "lbfarm_shm.h"

#define HO_ROWS 16
#define HO_PROCS 8
#define HO_SLOTS 32

/* What a release callback sees: one in-flight counter per row. */
struct ho_rows {
    _Atomic int32_t inflight[HO_ROWS];
    _Atomic uint32_t releases;
};

static void ho_release(void *ctx, uint32_t row)
{
    struct ho_rows *rows = ctx;

    if (row < HO_ROWS) {
        atomic_fetch_sub(&rows->inflight[row], 1);
    }
    atomic_fetch_add(&rows->releases, 1);
}

/* alive() of the tests: every pid is alive but the ones marked dead. */
static _Atomic uint32_t ho_dead_pid;
static int ho_alive(uint32_t pid)
{
    return pid != atomic_load(&ho_dead_pid);
}

static void *ho_area(uint32_t procs, uint32_t slots, size_t *len)
{
    void *a;

    *len = lbf_hold_size(procs, slots);
    ck_assert_uint_gt(*len, 0);
    a = lbf_t_region(*len);
    ck_assert_int_eq(lbf_hold_format(a, *len, procs, slots), 0);
    return a;
}

START_TEST(hold_size_refuses_zero_and_oversized_counts)
{
    ck_assert_uint_eq(lbf_hold_size(0, 4), 0);
    ck_assert_uint_eq(lbf_hold_size(4, 0), 0);
    ck_assert_uint_eq(lbf_hold_size(LBF_HOLD_PROCS_MAX + 1, 4), 0);
    ck_assert_uint_eq(lbf_hold_size(4, LBF_HOLD_SLOTS_MAX + 1), 0);
    /* 64-byte header, blocks of 64 + 4 * slots rounded up to 64 */
    ck_assert_uint_eq(lbf_hold_size(2, 16), 64 + 2 * 128);
    ck_assert_uint_eq(lbf_hold_size(1, 17), 64 + 192);
}
END_TEST

START_TEST(hold_check_refuses_what_a_child_could_scribble)
{
    size_t len;
    struct lbf_hold_hdr *hh = ho_area(4, 8, &len);
    struct lbf_hold_hdr good = {0};

    memcpy(&good, hh, sizeof(good));
    ck_assert_int_eq(lbf_hold_check(hh, len), 0);
    ck_assert_int_eq(lbf_hold_check(hh, len - 1), -1);
    ck_assert_int_eq(lbf_hold_check(NULL, len), -1);
    hh->magic ^= 1;
    ck_assert_int_eq(lbf_hold_check(hh, len), -1);
    memcpy(hh, &good, sizeof(good));
    hh->n_procs = 50000000;
    ck_assert_int_eq(lbf_hold_check(hh, len), -1);
    memcpy(hh, &good, sizeof(good));
    hh->n_slots = 9; /* same stride, but more slots than were formatted */
    hh->n_procs = 5;
    ck_assert_int_eq(lbf_hold_check(hh, len), -1);
    memcpy(hh, &good, sizeof(good));
    hh->stride = 64;
    ck_assert_int_eq(lbf_hold_check(hh, len), -1);
    memcpy(hh, &good, sizeof(good));
    ck_assert_int_eq(lbf_hold_format(hh, len - 1, 4, 8), -1);
}
END_TEST

START_TEST(hold_take_drop_reuses_the_threads_slot)
{
    size_t len;
    void *a = ho_area(2, 4, &len);
    uint32_t hint = 0, s1, s2;
    int p = lbf_hold_join(a, len, 100, ho_alive, ho_release, NULL);

    ck_assert_int_eq(p, 0);
    s1 = lbf_hold_take(a, p, 5, &hint);
    ck_assert_uint_eq(s1, 0);
    ck_assert_uint_eq(lbf_hold_held(a, p), 1);
    ck_assert_int_eq(lbf_hold_drop(a, p, s1), 1);
    ck_assert_uint_eq(lbf_hold_held(a, p), 0);
    s2 = lbf_hold_take(a, p, 6, &hint);
    ck_assert_uint_eq(s2, s1);
    ck_assert_int_eq(lbf_hold_drop(a, p, s2), 1);
    ck_assert_int_eq(lbf_hold_drop(a, p, s2), 0); /* already empty */
    /* untracked requests: the caller releases its row itself */
    ck_assert_int_eq(lbf_hold_drop(a, p, LBF_HOLD_NONE), 1);
    ck_assert_int_eq(lbf_hold_drop(a, 7, 0), 1); /* no such block */
    ck_assert_uint_eq(lbf_hold_take(a, -1, 5, &hint), LBF_HOLD_NONE);
}
END_TEST

START_TEST(hold_full_block_serves_untracked_and_counts_it)
{
    size_t len;
    struct lbf_hold_hdr *hh = ho_area(1, 3, &len);
    uint32_t hint = 0, i;
    int p = lbf_hold_join(hh, len, 100, ho_alive, ho_release, NULL);

    for (i = 0; i < 3; i++) {
        ck_assert_uint_ne(lbf_hold_take(hh, p, i, &hint), LBF_HOLD_NONE);
    }
    ck_assert_uint_eq(lbf_hold_take(hh, p, 9, &hint), LBF_HOLD_NONE);
    ck_assert_uint_eq(atomic_load(&hh->untracked), 1);
    ck_assert_uint_eq(lbf_hold_held(hh, p), 3);
}
END_TEST

START_TEST(hold_join_takes_a_dead_owners_block_when_full)
{
    size_t len;
    void *a = ho_area(2, 4, &len);
    struct ho_rows rows;
    uint32_t hint = 0;
    int p1, p2;

    memset(&rows, 0, sizeof(rows));
    p1 = lbf_hold_join(a, len, 101, ho_alive, ho_release, &rows);
    p2 = lbf_hold_join(a, len, 102, ho_alive, ho_release, &rows);
    ck_assert_int_eq(p1, 0);
    ck_assert_int_eq(p2, 1);
    atomic_fetch_add(&rows.inflight[3], 1);
    lbf_hold_take(a, p1, 3, &hint);
    ck_assert_int_eq(lbf_hold_join(a, len, 103, ho_alive, ho_release,
                                   &rows), -1);
    atomic_store(&ho_dead_pid, 101);
    ck_assert_int_eq(lbf_hold_join(a, len, 103, ho_alive, ho_release,
                                   &rows), 0);
    ck_assert_int_eq(atomic_load(&rows.inflight[3]), 0);
    ck_assert_uint_eq(atomic_load(&rows.releases), 1);
    ck_assert_uint_eq(lbf_hold_held(a, 0), 0);
    atomic_store(&ho_dead_pid, 0);
    ck_assert_int_eq(lbf_hold_join(a, len, 0, ho_alive, ho_release, &rows), -1);
}
END_TEST

/* A worker: join, take held slots on rows (counting inflight++ first, as
 * the request path does), then die by SIGKILL holding them. */
static void ho_doomed(void *a, size_t len, struct ho_rows *rows, int held,
                      uint32_t seed)
{
    uint32_t hint = 0, row;
    int p = lbf_hold_join(a, len, (uint32_t)getpid(), lbf_hold_pid_alive,
                          ho_release, rows), i;

    if (p < 0) {
        _exit(3);
    }
    for (i = 0; i < held; i++) {
        row = (seed + (uint32_t)i * 7u) % HO_ROWS;
        atomic_fetch_add(&rows->inflight[row], 1);
        if (lbf_hold_take(a, p, row, &hint) == LBF_HOLD_NONE) {
            _exit(4);
        }
    }
    raise(SIGKILL);
    _exit(5);
}

/* Fork n doomed workers holding held slots each; wait until all died by
 * SIGKILL. */
static void ho_kill_workers(void *a, size_t len, struct ho_rows *rows, int n,
                            int held)
{
    pid_t parent = getpid(), pid;
    int w, st;

    for (w = 0; w < n; w++) {
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            lbf_t_worker_init(parent);
            ho_doomed(a, len, rows, held, (uint32_t)w * 5u);
        }
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                      "worker %d ended with status %d", w, st);
    }
}

START_TEST(hold_reap_returns_killed_workers_requests_exactly)
{
    size_t len;
    void *a = ho_area(HO_PROCS, HO_SLOTS, &len);
    struct ho_rows *rows = lbf_t_region(sizeof(*rows));
    int r, total = 0;

    ho_kill_workers(a, len, rows, 6, 20);
    for (r = 0; r < HO_ROWS; r++) {
        total += atomic_load(&rows->inflight[r]);
    }
    ck_assert_int_eq(total, 6 * 20);
    ck_assert_uint_eq(lbf_hold_reap(a, len, (uint32_t)getpid(),
                                    lbf_hold_pid_alive, ho_release, rows),
                      6 * 20);
    for (r = 0; r < HO_ROWS; r++) {
        ck_assert_int_eq(atomic_load(&rows->inflight[r]), 0);
    }
    ck_assert_uint_eq(atomic_load(&((struct lbf_hold_hdr *)a)->reaped), 6);
    ck_assert_uint_eq(lbf_hold_reap(a, len, 0, lbf_hold_pid_alive, ho_release,
                                    rows), 0);
}
END_TEST

/* Reaper child: reap once after the start flag, exit 0. */
static void ho_reaper(void *a, size_t len, struct ho_rows *rows,
                      _Atomic int *go)
{
    while (!atomic_load(go)) {
        sched_yield();
    }
    lbf_hold_reap(a, len, (uint32_t)getpid(), lbf_hold_pid_alive, ho_release,
                  rows);
    _exit(0);
}

START_TEST(hold_concurrent_reapers_release_each_row_once)
{
    size_t len;
    void *a = ho_area(HO_PROCS, HO_SLOTS, &len);
    struct ho_rows *rows = lbf_t_region(sizeof(*rows));
    _Atomic int *go = lbf_t_region(sizeof(*go));
    pid_t parent = getpid(), pids[4];
    int w, r;

    ho_kill_workers(a, len, rows, HO_PROCS, HO_SLOTS);
    for (w = 0; w < 4; w++) {
        pids[w] = fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0) {
            lbf_t_worker_init(parent);
            ho_reaper(a, len, rows, go);
        }
    }
    atomic_store(go, 1);
    for (w = 0; w < 4; w++) {
        lbf_t_wait_ok(pids[w], "reaper");
    }
    for (r = 0; r < HO_ROWS; r++) {
        ck_assert_int_eq(atomic_load(&rows->inflight[r]), 0);
    }
    ck_assert_uint_eq(atomic_load(&rows->releases), HO_PROCS * HO_SLOTS);
}
END_TEST

START_TEST(hold_sweep_due_has_one_winner_per_interval)
{
    size_t len;
    void *a = ho_area(1, 1, &len);

    ck_assert_int_eq(lbf_hold_sweep_due(a, 1000, 500), 1);
    ck_assert_int_eq(lbf_hold_sweep_due(a, 1000, 500), 0);
    ck_assert_int_eq(lbf_hold_sweep_due(a, 1499, 500), 0);
    ck_assert_int_eq(lbf_hold_sweep_due(a, 1500, 500), 1);
}
END_TEST

START_TEST(hold_owner_and_reaper_release_a_row_once)
{
    size_t len;
    void *a = ho_area(2, 4, &len);
    struct ho_rows rows;
    uint32_t hint = 0, s1, s2;
    int p;

    memset(&rows, 0, sizeof(rows));
    p = lbf_hold_join(a, len, 200, ho_alive, ho_release, &rows);
    atomic_fetch_add(&rows.inflight[4], 2);
    s1 = lbf_hold_take(a, p, 4, &hint);
    s2 = lbf_hold_take(a, p, 4, &hint);
    ck_assert_uint_ne(s1, s2);
    /* a reaper that wrongly thinks 200 is dead: it releases both ... */
    atomic_store(&ho_dead_pid, 200);
    ck_assert_uint_eq(lbf_hold_reap(a, len, 1, ho_alive, ho_release, &rows),
                      2);
    atomic_store(&ho_dead_pid, 0);
    /* ... and the owner finishing its requests does not release again */
    ck_assert_int_eq(lbf_hold_drop(a, p, s1), 0);
    ck_assert_int_eq(lbf_hold_drop(a, p, s2), 0);
    ck_assert_int_eq(atomic_load(&rows.inflight[4]), 0);
    ck_assert_uint_eq(atomic_load(&rows.releases), 2);
}
END_TEST

START_TEST(hold_reap_pid_takes_exactly_that_pids_block)
{
    size_t len;
    void *a = ho_area(3, 4, &len);
    struct ho_rows rows;
    uint32_t hint = 0;
    int p1, p2;

    memset(&rows, 0, sizeof(rows));
    p1 = lbf_hold_join(a, len, 301, ho_alive, ho_release, &rows);
    p2 = lbf_hold_join(a, len, 302, ho_alive, ho_release, &rows);
    atomic_fetch_add(&rows.inflight[1], 1);
    atomic_fetch_add(&rows.inflight[2], 1);
    lbf_hold_take(a, p1, 1, &hint);
    lbf_hold_take(a, p2, 2, &hint);
    /* the parent waited for 301: alive or not, its block is reaped */
    ck_assert_uint_eq(lbf_hold_reap_pid(a, len, 301, ho_release, &rows), 1);
    ck_assert_int_eq(atomic_load(&rows.inflight[1]), 0);
    ck_assert_int_eq(atomic_load(&rows.inflight[2]), 1);
    ck_assert_uint_eq(lbf_hold_reap_pid(a, len, 301, ho_release, &rows), 0);
    ck_assert_uint_eq(lbf_hold_reap_pid(a, len, 0, ho_release, &rows), 0);
    ck_assert_uint_eq(lbf_hold_reap_pid(a, len, LBF_HOLD_REAPING, ho_release,
                                        &rows), 0);
    /* a new process that got pid 302 again finds its predecessor's block
     * and returns what it held before taking a block of its own */
    ck_assert_int_ge(lbf_hold_join(a, len, 302, ho_alive, ho_release, &rows),
                     0);
    ck_assert_int_eq(atomic_load(&rows.inflight[2]), 0);
    ck_assert_uint_eq(atomic_load(&rows.releases), 2);
}
END_TEST

START_TEST(hold_reap_of_a_scribbled_area_does_nothing)
{
    size_t len;
    struct lbf_hold_hdr *hh = ho_area(2, 4, &len);
    struct ho_rows rows;
    uint32_t hint = 0;
    int p;

    memset(&rows, 0, sizeof(rows));
    p = lbf_hold_join(hh, len, 401, ho_alive, ho_release, &rows);
    lbf_hold_take(hh, p, 1, &hint);
    atomic_store(&ho_dead_pid, 401);
    hh->n_procs = 50000000; /* what a child could write */
    ck_assert_uint_eq(lbf_hold_reap(hh, len, 1, ho_alive, ho_release, &rows),
                      0);
    ck_assert_uint_eq(lbf_hold_reap_pid(hh, len, 401, ho_release, &rows), 0);
    ck_assert_int_eq(lbf_hold_join(hh, len, 402, ho_alive, ho_release,
                                   &rows), -1);
    hh->n_procs = 2;
    ck_assert_uint_eq(lbf_hold_reap(hh, len - 1, 1, ho_alive, ho_release,
                                    &rows), 0); /* len from the caller */
    ck_assert_uint_eq(lbf_hold_reap(hh, len, 1, ho_alive, ho_release, &rows),
                      1);
    atomic_store(&ho_dead_pid, 0);
}
END_TEST

START_TEST(hold_pid_alive_sees_a_zombie_as_dead)
{
    pid_t pid = fork();
    int i, st;

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(0);
    }
    /* not waited for: a zombie, which kill(pid, 0) still finds */
    for (i = 0; i < 2000 && lbf_hold_pid_alive((uint32_t)pid); i++) {
        usleep(1000);
    }
    ck_assert_int_eq(kill(pid, 0), 0);
    ck_assert_int_eq(lbf_hold_pid_alive((uint32_t)pid), 0);
    ck_assert_int_eq(lbf_hold_pid_alive((uint32_t)getpid()), 1);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_int_eq(lbf_hold_pid_alive((uint32_t)pid), 0);
}
END_TEST

/* A segment of one farm of 4 rows with a hold area of 3 blocks of 8. */
static struct lbf_hdr *ho_segment(struct lbf_shm *h, size_t *len)
{
    struct lbf_layout lay = lbf_t_layout(1, 4);
    void *base;

    lay.hold_procs = 3;
    lay.hold_slots = 8;
    *len = lbf_shm_size(&lay);
    base = lbf_t_region(*len);
    ck_assert_int_eq(lbf_shm_format(h, base, *len, &lay), LBF_OK);
    return base;
}

START_TEST(hold_area_sits_after_the_schedule_and_attaches)
{
    struct lbf_layout lay = lbf_t_layout(1, 4);
    struct lbf_shm h, c;
    size_t len, plain = lbf_shm_size(&lay);
    struct lbf_hdr *hdr = ho_segment(&h, &len);

    ck_assert_uint_eq(hdr->hold_off, (plain + 63) & ~(size_t)63);
    ck_assert_uint_eq(hdr->total_len, hdr->hold_off + lbf_hold_size(3, 8));
    ck_assert_uint_eq(len, hdr->total_len);
    ck_assert_ptr_eq(h.hold, (unsigned char *)hdr + hdr->hold_off);
    ck_assert_uint_eq(h.hold_len, lbf_hold_size(3, 8));
    ck_assert_int_eq(lbf_hold_check(h.hold, h.hold_len), 0);
    ck_assert_int_eq(lbf_shm_attach(&c, hdr, len), LBF_OK);
    ck_assert_ptr_eq(c.hold, h.hold);
    ck_assert_uint_eq(c.hold_len, h.hold_len);
    ck_assert_uint_eq(c.l_rows, 4);
    /* counts beyond the maxima make no size at all */
    lay.hold_procs = LBF_HOLD_PROCS_MAX + 1;
    lay.hold_slots = 8;
    ck_assert_uint_eq(lbf_shm_size(&lay), 0);
    ck_assert_int_eq(lbf_shm_format(&c, hdr, len, &lay), LBF_ENOSPACE);
    /* a segment without one (what the unit tests build) has none */
    lbf_t_segment(&c, 1, 4);
    ck_assert_ptr_null(c.hold);
    ck_assert_uint_eq(c.hdr->hold_off, 0);
}
END_TEST

START_TEST(hold_check_refuses_scribbled_hold_fields)
{
    struct lbf_shm h;
    size_t len;
    struct lbf_hdr *hdr = ho_segment(&h, &len);
    struct lbf_hold_hdr *hh = h.hold;
    uint32_t *fields[] = {&hdr->hold_off, &hdr->hold_procs,
                          &hdr->hold_slots, &hh->magic, &hh->n_procs,
                          &hh->n_slots, &hh->stride};
    uint32_t bad[] = {1, 50000000, 0};
    char why[200];
    size_t i, k;

    ck_assert_int_eq(lbf_shm_check(hdr, len, why, sizeof(why)), LBF_OK);
    for (i = 0; i < LBF_T_NELEMS(fields); i++) {
        for (k = 0; k < LBF_T_NELEMS(bad); k++) {
            uint32_t keep = *fields[i];

            *fields[i] = keep == bad[k] ? keep + 1 : bad[k];
            why[0] = '\0';
            ck_assert_msg(lbf_shm_check(hdr, len, why, sizeof(why))
                          == LBF_EDAMAGED, "field %zu = %u passed", i,
                          *fields[i]);
            ck_assert_msg(strstr(why, "hold") != NULL, "why: %s", why);
            *fields[i] = keep;
        }
    }
    ck_assert_int_eq(lbf_shm_check(hdr, len, why, sizeof(why)), LBF_OK);
}
END_TEST

/* The release callback of the glue: lbf_row_reclaim on the segment. */
static void ho_seg_release(void *ctx, uint32_t row)
{
    lbf_row_reclaim(ctx, row);
}

START_TEST(hold_reclaim_lowers_the_row_once_never_below_zero)
{
    struct lbf_shm h;
    size_t len;
    struct lbf_farm *f;
    struct lbf_row *r;
    uint32_t hint = 0, i;
    int p;

    ho_segment(&h, &len);
    ck_assert_int_ge(lbf_farm_add(&h, "f", lbf_t_method("least-load"), 4), 0);
    f = lbf_farm_at(&h, 0);
    ck_assert_int_eq(lbf_member_add(&h, 0, "m0", 1, 0, 0), 0);
    ck_assert_int_eq(lbf_member_add(&h, 0, "m1", 1, 0, 0), 1);
    r = lbf_member_at(&h, f, 1);
    p = lbf_hold_join(h.hold, h.hold_len, 501, ho_alive, ho_seg_release, &h);
    for (i = 0; i < 3; i++) {
        lbf_row_take(r);
        lbf_hold_take(h.hold, p, f->first_row + 1, &hint);
    }
    ck_assert_int_eq(atomic_load(&r->inflight), 3);
    ck_assert_uint_eq(lbf_hold_reap_pid(h.hold, h.hold_len, 501,
                                        ho_seg_release, &h), 3);
    ck_assert_int_eq(atomic_load(&r->inflight), 0);
    lbf_row_reclaim(&h, f->first_row + 1);  /* never below 0 */
    ck_assert_int_eq(atomic_load(&r->inflight), 0);
    lbf_row_reclaim(&h, 4);                  /* beyond the rows: ignored */
    lbf_row_reclaim(&h, UINT32_MAX);
    ck_assert_int_eq(atomic_load(&lbf_member_at(&h, f, 0)->inflight), 0);
}
END_TEST

START_TEST(hold_leave_empties_but_keeps_the_block)
{
    size_t len;
    void *a = ho_area(2, 4, &len);
    struct ho_rows rows;
    uint32_t hint = 0, s1;
    int p;

    memset(&rows, 0, sizeof(rows));
    p = lbf_hold_join(a, len, 601, ho_alive, ho_release, &rows);
    atomic_fetch_add(&rows.inflight[6], 1);
    s1 = lbf_hold_take(a, p, 6, &hint);
    ck_assert_uint_eq(lbf_hold_leave(a, len, p, 999, ho_release, &rows), 0);
    ck_assert_uint_eq(lbf_hold_leave(a, len, p, 601, ho_release, &rows), 1);
    ck_assert_int_eq(atomic_load(&rows.inflight[6]), 0);
    /* a thread ending its request after the exit cleanup: nothing more */
    ck_assert_int_eq(lbf_hold_drop(a, p, s1), 0);
    ck_assert_uint_eq(atomic_load(&rows.releases), 1);
    /* the block is still 601's: no other process can claim it yet */
    ck_assert_int_eq(lbf_hold_join(a, len, 602, ho_alive, ho_release, &rows),
                     1);
    ck_assert_int_eq(lbf_hold_join(a, len, 603, ho_alive, ho_release, &rows),
                     -1);
    /* once the parent waited for 601, it is free */
    ck_assert_uint_eq(lbf_hold_reap_pid(a, len, 601, ho_release, &rows), 0);
    ck_assert_int_eq(lbf_hold_join(a, len, 603, ho_alive, ho_release, &rows),
                     0);
    ck_assert_uint_eq(lbf_hold_leave(a, len, -1, 603, ho_release, &rows), 0);
}
END_TEST

Suite *lbf_suite_hold(void)
{
    Suite *s = suite_create("hold");
    TCase *tc = tcase_create("hold");

    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    tcase_add_test(tc, hold_size_refuses_zero_and_oversized_counts);
    tcase_add_test(tc, hold_check_refuses_what_a_child_could_scribble);
    tcase_add_test(tc, hold_take_drop_reuses_the_threads_slot);
    tcase_add_test(tc, hold_full_block_serves_untracked_and_counts_it);
    tcase_add_test(tc, hold_join_takes_a_dead_owners_block_when_full);
    tcase_add_test(tc, hold_reap_returns_killed_workers_requests_exactly);
    tcase_add_test(tc, hold_concurrent_reapers_release_each_row_once);
    tcase_add_test(tc, hold_sweep_due_has_one_winner_per_interval);
    tcase_add_test(tc, hold_owner_and_reaper_release_a_row_once);
    tcase_add_test(tc, hold_reap_pid_takes_exactly_that_pids_block);
    tcase_add_test(tc, hold_reap_of_a_scribbled_area_does_nothing);
    tcase_add_test(tc, hold_pid_alive_sees_a_zombie_as_dead);
    tcase_add_test(tc, hold_area_sits_after_the_schedule_and_attaches);
    tcase_add_test(tc, hold_check_refuses_scribbled_hold_fields);
    tcase_add_test(tc, hold_reclaim_lowers_the_row_once_never_below_zero);
    tcase_add_test(tc, hold_leave_empties_but_keeps_the_block);
    suite_add_tcase(s, tc);
    return s;
}
