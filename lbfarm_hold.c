/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_hold.c -- per-process in-flight slots and the reaper that returns
 * a dead process's requests to their rows.  Protocol and layout: see
 * include/lbfarm_hold.h.
 *
 * Worked example: child 4242 holds rows 3 and 7 (two requests in flight,
 * slots [0] = 4 and [1] = 8) and is killed by SIGKILL.  The next sweep
 * (any child, once per interval) sees kill(4242, 0) fail with ESRCH, wins
 * CAS pid 4242 -> REAPING, exchanges slot[0] and slot[1] with 0, calls
 * release(3) and release(7) -- each row's inflight-- -- and frees the
 * block (pid 0) for the next child to join.  The parent, which waits for
 * 4242 within about a second, does the same by pid (lbf_hold_reap_pid);
 * whichever comes first wins the CAS, the other finds nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lbfarm_hold.h"

static size_t lbf_hold_stride(uint32_t n_slots)
{
    size_t s = sizeof(struct lbf_hold_proc) + (size_t)n_slots * 4u;

    return (s + 63) & ~(size_t)63;
}

static struct lbf_hold_hdr *lbf_hold_hdr_of(void *area)
{
    return area;
}

static struct lbf_hold_proc *lbf_hold_proc_at(void *area, uint32_t i)
{
    struct lbf_hold_hdr *hh = area;

    return (struct lbf_hold_proc *)((unsigned char *)area + sizeof(*hh)
                                    + (size_t)i * hh->stride);
}

size_t lbf_hold_size(uint32_t n_procs, uint32_t n_slots)
{
    if (n_procs == 0 || n_slots == 0 || n_procs > LBF_HOLD_PROCS_MAX
        || n_slots > LBF_HOLD_SLOTS_MAX) {
        return 0;
    }
    return sizeof(struct lbf_hold_hdr)
           + (size_t)n_procs * lbf_hold_stride(n_slots);
}

int lbf_hold_format(void *area, size_t len, uint32_t n_procs,
                    uint32_t n_slots)
{
    struct lbf_hold_hdr *hh = area;
    size_t need = lbf_hold_size(n_procs, n_slots);

    if (need == 0 || len < need) {
        return -1;
    }
    memset(area, 0, need);
    hh->magic = LBF_HOLD_MAGIC;
    hh->n_procs = n_procs;
    hh->n_slots = n_slots;
    hh->stride = (uint32_t)lbf_hold_stride(n_slots);
    return 0;
}

int lbf_hold_check(const void *area, size_t len)
{
    const struct lbf_hold_hdr *hh = area;
    size_t need;

    if (area == NULL || len < sizeof(*hh) || hh->magic != LBF_HOLD_MAGIC) {
        return -1;
    }
    need = lbf_hold_size(hh->n_procs, hh->n_slots);
    if (need == 0 || need > len || hh->stride != lbf_hold_stride(hh->n_slots)) {
        return -1;
    }
    return 0;
}

/* 1 when /proc/<pid>/stat says the process is a zombie or dead. */
static int lbf_hold_zombie(uint32_t pid)
{
    char path[32], buf[256], *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        return 0; /* no /proc: kill() decides */
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    /* "pid (comm) S ...": comm may hold ')' and spaces, the last ')' ends
     * it */
    if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ') {
        return 0;
    }
    return p[2] == 'Z' || p[2] == 'X';
}

int lbf_hold_pid_alive(uint32_t pid)
{
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        return 0;
    }
    return !lbf_hold_zombie(pid);
}

/* The area's geometry, copied from its header and checked against len:
 * 0, or -1 when the header does not describe an area of len bytes. */
struct lbf_hold_geo {
    uint32_t n_procs, n_slots, stride;
};

static int lbf_hold_geo_get(const void *area, size_t len,
                            struct lbf_hold_geo *g)
{
    const struct lbf_hold_hdr *hh = area;

    if (area == NULL || len < sizeof(*hh)) {
        return -1;
    }
    g->n_procs = hh->n_procs;
    g->n_slots = hh->n_slots;
    g->stride = hh->stride;
    if (hh->magic != LBF_HOLD_MAGIC
        || g->stride != lbf_hold_stride(g->n_slots)
        || lbf_hold_size(g->n_procs, g->n_slots) == 0
        || lbf_hold_size(g->n_procs, g->n_slots) > len) {
        return -1;
    }
    return 0;
}

static struct lbf_hold_proc *lbf_hold_geo_proc(void *area,
                                               const struct lbf_hold_geo *g,
                                               uint32_t i)
{
    return (struct lbf_hold_proc *)((unsigned char *)area
                                    + sizeof(struct lbf_hold_hdr)
                                    + (size_t)i * g->stride);
}

/* Empty every slot of block p, handing each held row to release; returns
 * the slots emptied. */
static uint32_t lbf_hold_empty_slots(const struct lbf_hold_geo *g,
                                     struct lbf_hold_proc *p,
                                     lbf_hold_release_f *release, void *ctx)
{
    uint32_t i, v, n = 0;

    for (i = 0; i < g->n_slots; i++) {
        if (atomic_load_explicit(&p->slot[i], memory_order_relaxed) != 0
            && (v = atomic_exchange(&p->slot[i], 0)) != 0) {
            release(ctx, v - 1);
            n++;
        }
    }
    return n;
}

/* Empty block p (owned by the caller as REAPING), then free it; returns
 * the slots emptied. */
static uint32_t lbf_hold_empty(struct lbf_hold_hdr *hh,
                               const struct lbf_hold_geo *g,
                               struct lbf_hold_proc *p,
                               lbf_hold_release_f *release, void *ctx)
{
    uint32_t n = lbf_hold_empty_slots(g, p, release, ctx);

    atomic_store(&p->pid, 0);
    atomic_fetch_add(&hh->reaped, 1);
    atomic_fetch_add(&hh->reclaimed, n);
    return n;
}

/* Reap the blocks of area (len bytes) owned by exactly pid (pid != 0),
 * or, with pid == 0, those alive() calls dead other than self's. */
static uint32_t lbf_hold_reap_some(void *area, size_t len, uint32_t pid,
                                   uint32_t self, lbf_hold_alive_f *alive,
                                   lbf_hold_release_f *release, void *ctx)
{
    struct lbf_hold_geo g;
    uint32_t i, owner, n = 0;

    if (lbf_hold_geo_get(area, len, &g) != 0) {
        return 0;
    }
    for (i = 0; i < g.n_procs; i++) {
        struct lbf_hold_proc *p = lbf_hold_geo_proc(area, &g, i);

        owner = atomic_load(&p->pid);
        if (owner == 0 || owner == LBF_HOLD_REAPING
            || (pid != 0 ? owner != pid : owner == self || alive(owner))
            || !atomic_compare_exchange_strong(&p->pid, &owner,
                                               LBF_HOLD_REAPING)) {
            continue;
        }
        n += lbf_hold_empty(area, &g, p, release, ctx);
    }
    return n;
}

uint32_t lbf_hold_reap(void *area, size_t len, uint32_t self,
                       lbf_hold_alive_f *alive, lbf_hold_release_f *release,
                       void *ctx)
{
    return lbf_hold_reap_some(area, len, 0, self, alive, release, ctx);
}

uint32_t lbf_hold_reap_pid(void *area, size_t len, uint32_t pid,
                           lbf_hold_release_f *release, void *ctx)
{
    if (pid == 0 || pid == LBF_HOLD_REAPING) {
        return 0;
    }
    return lbf_hold_reap_some(area, len, pid, 0, NULL, release, ctx);
}

uint32_t lbf_hold_leave(void *area, size_t len, int proc, uint32_t pid,
                        lbf_hold_release_f *release, void *ctx)
{
    struct lbf_hold_geo g;
    struct lbf_hold_proc *p;
    uint32_t n;

    if (proc < 0 || lbf_hold_geo_get(area, len, &g) != 0
        || (uint32_t)proc >= g.n_procs) {
        return 0;
    }
    p = lbf_hold_geo_proc(area, &g, (uint32_t)proc);
    if (atomic_load(&p->pid) != pid) {
        return 0;
    }
    n = lbf_hold_empty_slots(&g, p, release, ctx);
    atomic_fetch_add(&((struct lbf_hold_hdr *)area)->reclaimed, n);
    return n;
}

/* Claim a free block of area (geometry g) for pid: its index or -1. */
static int lbf_hold_claim(void *area, const struct lbf_hold_geo *g,
                          uint32_t pid)
{
    uint32_t i, free_pid;

    for (i = 0; i < g->n_procs; i++) {
        struct lbf_hold_proc *p = lbf_hold_geo_proc(area, g, i);

        free_pid = 0;
        if (atomic_load_explicit(&p->pid, memory_order_relaxed) == 0
            && atomic_compare_exchange_strong(&p->pid, &free_pid, pid)) {
            return (int)i;
        }
    }
    return -1;
}

int lbf_hold_join(void *area, size_t len, uint32_t pid,
                  lbf_hold_alive_f *alive, lbf_hold_release_f *release,
                  void *ctx)
{
    struct lbf_hold_geo g;
    int i;

    if (pid == 0 || pid == LBF_HOLD_REAPING
        || lbf_hold_geo_get(area, len, &g) != 0) {
        return -1;
    }
    lbf_hold_reap_pid(area, len, pid, release, ctx);
    if ((i = lbf_hold_claim(area, &g, pid)) < 0) {
        lbf_hold_reap(area, len, pid, alive, release, ctx);
        i = lbf_hold_claim(area, &g, pid);
    }
    return i;
}

uint32_t lbf_hold_take(void *area, int proc, uint32_t row, uint32_t *hint)
{
    struct lbf_hold_hdr *hh = lbf_hold_hdr_of(area);
    struct lbf_hold_proc *p;
    uint32_t k, i, zero;

    if (proc < 0 || (uint32_t)proc >= hh->n_procs || row == UINT32_MAX) {
        return LBF_HOLD_NONE;
    }
    p = lbf_hold_proc_at(area, (uint32_t)proc);
    for (k = 0; k < hh->n_slots; k++) {
        i = (*hint + k) % hh->n_slots;
        zero = 0;
        if (atomic_load_explicit(&p->slot[i], memory_order_relaxed) == 0
            && atomic_compare_exchange_strong(&p->slot[i], &zero, row + 1)) {
            *hint = i;
            return i;
        }
    }
    atomic_fetch_add_explicit(&hh->untracked, 1, memory_order_relaxed);
    return LBF_HOLD_NONE;
}

int lbf_hold_drop(void *area, int proc, uint32_t slot)
{
    struct lbf_hold_hdr *hh = lbf_hold_hdr_of(area);
    struct lbf_hold_proc *p;

    if (proc < 0 || (uint32_t)proc >= hh->n_procs || slot >= hh->n_slots) {
        return 1;
    }
    p = lbf_hold_proc_at(area, (uint32_t)proc);
    return atomic_exchange(&p->slot[slot], 0) != 0;
}

int lbf_hold_sweep_due(void *area, uint64_t now_usec, uint64_t interval_usec)
{
    struct lbf_hold_hdr *hh = lbf_hold_hdr_of(area);
    uint64_t due = atomic_load_explicit(&hh->sweep_next, memory_order_relaxed);

    return now_usec >= due
           && atomic_compare_exchange_strong(&hh->sweep_next, &due,
                                             now_usec + interval_usec);
}

uint32_t lbf_hold_held(const void *area, int proc)
{
    const struct lbf_hold_hdr *hh = area;
    struct lbf_hold_proc *p;
    uint32_t i, n = 0;

    if (proc < 0 || (uint32_t)proc >= hh->n_procs) {
        return 0;
    }
    p = lbf_hold_proc_at((void *)area, (uint32_t)proc);
    for (i = 0; i < hh->n_slots; i++) {
        n += atomic_load_explicit(&p->slot[i], memory_order_relaxed) != 0;
    }
    return n;
}
