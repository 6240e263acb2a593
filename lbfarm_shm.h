/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_shm.h -- the shared-memory farm table of mod_lbfarm.
 *
 * Pure C (C11 atomics, no httpd or APR types): the core is handed a region
 * (base, len) and works on it; httpd's glue creates the region with
 * apr_shm_create(), the unit tests with mmap(MAP_SHARED|MAP_ANONYMOUS).
 *
 * Layout of one segment (all offsets from base; no pointer is ever stored):
 *
 *  0        128         128+F*l_farms     sched_off                    len
 *  +--------+-----------+-----------------+--------------------------+
 *  | hdr    | farm[0..] | row[0..l_rows)  | sched[] (uint16 entries) |
 *  +--------+-----------+-----------------+--------------------------+
 *   128 B    128 B each  832 B each        per farm: 2 buffers of
 *                                          sched_cap entries
 *
 *  hdr  : magic "LBF1", layout version, sizes of hdr/farm/row, counts in use
 *         (n_*) and capacity (l_*), generation, recoveries counter.
 *  farm : lock, name, method, first_row + n_rows/l_rows (its members are the
 *         contiguous rows [first_row, first_row + l_rows)), the published
 *         weighted schedule (buffer, period) and the shared schedule cursor.
 *  row  : one member: lock, name, admin state, tier, configured and
 *         effective weight, in-flight, requests, errors, error deadline,
 *         the pushed metrics group (seqlock), push sequence and rate
 *         bucket, the derived load that picks read lock-free, health
 *         check state, its URL, two latency histograms, the
 *         least-time estimate and the stall timestamps.
 *
 * Concurrency contract
 *  - Counters that every process changes (inflight, requests, errors,
 *    sched cursor) are lock-free C11 atomics: never a plain ++ on shm.
 *  - A multi-field group (metrics set, schedule rebuild, state + weight)
 *    is written under the owner's lock inside a seqlock write section
 *    (seq odd while writing).  Readers never lock: they copy and retry
 *    while seq is odd or changed.
 *  - Lock order: a farm lock before a row lock of that farm; never two row
 *    locks; no syscall, log call or allocation while any lock is held.
 *  - Crash safety: a lock word holds the owner's pid and an acquisition
 *    ticket.  A waiter steals the lock when kill(pid, 0) says the owner is
 *    gone, or when the same word stayed held for LBF_LOCK_STALE_USEC (pid
 *    reuse).  If seq is odd after a steal the owner died mid-write: the
 *    group is repaired (reset to a neutral value), seq made even again and
 *    hdr.recoveries counted.  APR's robust mutex would hide EOWNERDEAD;
 *    this scheme detects a torn row on its own.
 *
 * What a graceful restart keeps (lbf_shm_carry): per member, matched by farm
 * and member name, the admin state (only while the configured state= is
 * unchanged) and effective weight (only while the configured weight is
 * unchanged), members added at runtime (unless removed), the farm's admin
 * state (while LBFarmState is unchanged), the requests/errors counters, the last
 * pushed metrics and load, and the push sequence number (a replay stays a
 * replay).  It does not keep in-flight counts (the old generation's
 * children finish their requests against the old segment), error
 * deadlines, nor the weighted cursor (the schedule restarts).
 */
#ifndef LBFARM_SHM_H
#define LBFARM_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LBF_SHM_MAGIC      0x3146424cu /* "LBF1" little-endian */
#define LBF_SHM_VERSION    1u
#define LBF_FARM_MAGIC     0x6d726166u /* "farm" */
#define LBF_ROW_MAGIC      0x776f726du /* "mrow" */

#define LBF_NAME_SIZE      32  /* farm and member names, NUL included */
#define LBF_WEIGHT_MAX     100 /* like mod_proxy's loadfactor */
#define LBF_METRICS_MAX    8   /* pushed metric slots per row */
#define LBF_METRIC_NAME    16
#define LBF_ROWS_MAX       65535 /* schedule entries are uint16 */
#define LBF_FARM_MEMBERS_MAX 4096 /* members (capacity) of one farm */
#define LBF_LOCK_STALE_USEC 500000 /* a lock held this long is dead */
#define LBF_URL_SIZE       128
#define LBF_LAT_BUCKETS    24  /* latency buckets: <= 100us * 2^i */
#define LBF_LAT_WINDOW_SEC 30  /* percentiles cover the last 30..60 s */

/* Return codes of the core (0 = success). */
enum lbf_rc {
    LBF_OK = 0,
    LBF_ENOSPACE = -1,  /* region too small, or capacity reached */
    LBF_EFOREIGN = -2,  /* not our magic: not an lbfarm segment */
    LBF_EVERSION = -3,  /* our magic, another layout version */
    LBF_ELAYOUT = -4,   /* sizes in the header do not match this build */
    LBF_EINVAL = -5,    /* bad argument (name too long, weight 0, ...) */
    LBF_EEXIST = -6,    /* duplicate farm or member name */
    LBF_ENOENT = -7,    /* no such farm or member */
    LBF_EBUSY = -8      /* a seqlock reader kept seeing a write */
};

/* Administrative state of a member (row.admin) or a farm (farm.admin),
 * set by configuration or an operator; survives restarts.  It beats
 * health and pushed state: an offline member stays out however healthy. */
enum lbf_admin {
    LBF_ADMIN_ENABLED = 0,    /* health and pushes decide */
    LBF_ADMIN_OFFLINE = 1,    /* no requests at all */
    LBF_ADMIN_DRAIN = 2,      /* only clients already stuck to it */
    LBF_ADMIN_REMOVED = 3     /* removed at runtime: a dead row, reused
                                 if a member of that name is added again */
};

/* Health of a member (row.health), from active checks; not carried over
 * a restart. */
enum lbf_health {
    LBF_HEALTH_UP = 0,
    LBF_HEALTH_DOWN = 1
};

/* One lock: owner word (pid << 32 | ticket; 0 = free) and seqlock. */
struct lbf_lock {
    _Atomic uint64_t owner;
    _Atomic uint32_t seq;     /* odd while a write section is open */
    uint32_t ticket;          /* next ticket; written only by the owner */
};

struct lbf_metric {
    char name[LBF_METRIC_NAME];
    int64_t value;            /* fixed point, 1/1000 units */
};

struct lbf_hdr {
    uint32_t magic;           /* LBF_SHM_MAGIC */
    uint32_t version;         /* LBF_SHM_VERSION */
    uint32_t hdr_size;        /* sizeof(struct lbf_hdr) */
    uint32_t farm_size;       /* sizeof(struct lbf_farm) */
    uint32_t row_size;        /* sizeof(struct lbf_row) */
    uint32_t n_farms;         /* farms in use */
    uint32_t l_farms;         /* farm capacity */
    uint32_t n_rows;          /* rows handed out to farms */
    uint32_t l_rows;          /* row capacity */
    uint32_t sched_off;       /* byte offset of the schedule area */
    uint32_t sched_len;       /* schedule area entries */
    uint32_t sched_used;      /* entries handed out to farms */
    uint64_t generation;      /* restart generation that formatted it */
    uint64_t total_len;       /* bytes of the whole segment */
    _Atomic uint32_t recoveries; /* locks stolen from dead owners */
    _Atomic uint32_t repairs;    /* torn groups repaired after a steal */
    uint8_t reserved[56];
};

struct lbf_farm {
    uint32_t magic;           /* LBF_FARM_MAGIC */
    uint32_t method;          /* index into lbf_methods[] */
    struct lbf_lock lock;     /* guards the schedule rebuild */
    char name[LBF_NAME_SIZE];
    uint32_t first_row;       /* members: rows [first_row, +l_rows) */
    uint32_t n_rows;          /* members in use */
    uint32_t l_rows;          /* member capacity */
    uint32_t sched_off;       /* first entry of buffer 0 in sched[] */
    uint32_t sched_cap;       /* entries per buffer */
    uint32_t min_tier;        /* lowest tier among members */
    _Atomic uint64_t sched;   /* published schedule: buf << 32 | period */
    _Atomic uint64_t cursor;  /* shared position in the schedule */
    uint32_t expiry_ms;       /* pushed load older than this is ignored */
    uint32_t blackout_ms;     /* a new run of reports is trusted after */
    _Atomic uint32_t admin;   /* enum lbf_admin of the whole farm */
    uint32_t slowstart_ms;    /* ramp time of a member coming back */
    uint32_t cfg_admin;       /* admin state from the configuration */
    uint8_t reserved[12];
};

struct lbf_row {
    uint32_t magic;           /* LBF_ROW_MAGIC */
    uint32_t farm;            /* farm index */
    struct lbf_lock lock;     /* guards the metrics group below */
    char name[LBF_NAME_SIZE];
    _Atomic uint32_t admin;   /* enum lbf_admin; survives restarts */
    _Atomic uint32_t weight;  /* effective weight, 1..LBF_WEIGHT_MAX */
    uint32_t cfg_weight;      /* weight from the configuration */
    uint32_t tier;            /* 0 = regular; higher = standby tiers */
    uint32_t retry_sec;       /* seconds in error after a failure */
    _Atomic int32_t inflight; /* requests being served now */
    _Atomic uint64_t requests;   /* requests handed to the member */
    _Atomic uint64_t errors;     /* failures (connect, 5xx from proxy) */
    _Atomic uint64_t error_until; /* usec since epoch; 0 = usable */
    /* metrics group: written under lock.seq; read with lbf_row_read() */
    uint64_t metric_ts;       /* usec of the last push; 0 = none */
    uint32_t n_metrics;
    uint32_t pad0;
    struct lbf_metric metrics[LBF_METRICS_MAX];
    /* push bookkeeping: written under lock only (lbfarm_push.c) */
    uint64_t push_seq;        /* last accepted sequence number */
    uint64_t rate_ts;         /* usec of the last token-bucket refill */
    uint32_t rate_tokens;     /* bucket content, thousandths of a push */
    /* what picks read, lock-free: the load derived from the last push */
    _Atomic uint32_t load_milli;  /* 0..1000 */
    _Atomic uint64_t load_ts;     /* usec of that push; 0 = none */
    _Atomic uint64_t load_since;  /* usec the current run of fresh
                                     reports began (for the blackout) */
    /* life cycle (lbfarm_health.c) */
    _Atomic uint32_t health;      /* enum lbf_health */
    _Atomic uint32_t drain_req;   /* 1: the member asked to be drained */
    _Atomic uint64_t up_since;    /* usec it became usable again (slow
                                     start); 0 = usable since start-up */
    _Atomic uint64_t hc_next;     /* usec the next check is due; claimed
                                     by CAS, so one process checks */
    uint32_t hc_pass;             /* consecutive passes (claimer only) */
    uint32_t hc_fail;             /* consecutive failures (claimer only) */
    _Atomic uint32_t hc_status;   /* last check: HTTP status, 0 = no
                                     answer */
    _Atomic uint32_t hc_ms;       /* last check's duration */
    uint32_t runtime;             /* 1: added at runtime (an operator) */
    char url[LBF_URL_SIZE];       /* member URL, for processes that must
                                     build a worker for a runtime member */
    /* latency: two histograms of alternating LBF_LAT_WINDOW_SEC windows */
    struct lbf_lat {
        _Atomic uint64_t epoch;   /* window number it counts, now/window */
        _Atomic uint32_t bucket[LBF_LAT_BUCKETS];
    } lat[2];
    uint32_t cfg_admin;           /* admin state from the configuration */
    /* latency estimate and stall detection (lbfarm_leasttime.c; the rules
     * are in include/lbfarm_method.h).  Lock-free: lt_est is replaced whole
     * by CAS, the others by plain atomic stores.  Not carried over a
     * restart: a new generation learns them again. */
    _Atomic uint64_t lt_est;      /* float usec << 32 | time << 4 | count */
    _Atomic uint64_t done_ts;     /* usec of the last completed request or
                                     passed health check; 0 = none */
    _Atomic uint64_t busy_ts;     /* usec in-flight last rose from 0 */
    _Atomic uint32_t lt_decay_ms; /* EWMA time constant; 0 = default */
    _Atomic uint32_t stall_cfg;   /* k << 24 | floor ms; 0 = off */
    uint8_t reserved[56];
};

_Static_assert(sizeof(struct lbf_hdr) == 128, "hdr is 128 bytes");
_Static_assert(sizeof(struct lbf_farm) == 128, "farm is 128 bytes");
_Static_assert(sizeof(struct lbf_row) == 832, "row is 832 bytes");
_Static_assert(sizeof(struct lbf_row) % 64 == 0, "rows fill cache lines");
_Static_assert(offsetof(struct lbf_hdr, magic) == 0, "magic first");
_Static_assert(offsetof(struct lbf_hdr, version) == 4, "version second");
_Static_assert(offsetof(struct lbf_row, lock) == 8, "row lock at 8");
_Static_assert(offsetof(struct lbf_row, lt_est) % 8 == 0, "lt_est aligned");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics lock-free");

/* A process-local view of a segment; base differs per process. */
struct lbf_shm {
    unsigned char *base;
    size_t len;
    struct lbf_hdr *hdr;
};

/* What the glue wants in a new segment. */
struct lbf_layout {
    uint32_t l_farms;
    uint32_t l_rows;
    uint32_t sched_len;       /* total schedule entries (both buffers) */
    uint64_t generation;
};

/* Bytes needed for a layout (header, farms, rows, schedule). */
size_t lbf_shm_size(const struct lbf_layout *lay);

/* Schedule entries one farm of l_rows members needs (two buffers). */
uint32_t lbf_sched_entries(uint32_t l_rows);

/* Format a zeroed or reused region of len bytes; fills *h.  Returns LBF_OK
 * or LBF_ENOSPACE when len < lbf_shm_size(lay).  No lock: the region must
 * not be shared yet. */
int lbf_shm_format(struct lbf_shm *h, void *base, size_t len,
                   const struct lbf_layout *lay);

/* Attach to a formatted region.  Refuses a foreign magic (LBF_EFOREIGN),
 * another layout version (LBF_EVERSION) and mismatched sizes or a region
 * shorter than the header says (LBF_ELAYOUT).  Takes no lock. */
int lbf_shm_attach(struct lbf_shm *h, void *base, size_t len);

/* Add a farm with capacity for l_rows (1..LBF_FARM_MEMBERS_MAX) members;
 * returns its index (>= 0) or LBF_EINVAL / LBF_EEXIST / LBF_ENOSPACE.  Config time only. */
int lbf_farm_add(struct lbf_shm *h, const char *name, uint32_t method,
                 uint32_t l_rows);

/* Add a member to farm fi: returns its member index within the farm or
 * LBF_EINVAL (weight outside 1..LBF_WEIGHT_MAX, bad name) / LBF_EEXIST /
 * LBF_ENOSPACE.  Does not rebuild the schedule (lbf_farm_rebuild does).
 * Config time, or under the farm lock at runtime. */
int lbf_member_add(struct lbf_shm *h, uint32_t fi, const char *name,
                   uint32_t weight, uint32_t tier, uint32_t retry_sec);

/* Accessors; NULL when out of range. */
struct lbf_farm *lbf_farm_at(const struct lbf_shm *h, uint32_t fi);
struct lbf_row *lbf_member_at(const struct lbf_shm *h,
                              const struct lbf_farm *f, uint32_t mi);
int lbf_farm_find(const struct lbf_shm *h, const char *name);
int lbf_member_find(const struct lbf_shm *h, const struct lbf_farm *f,
                    const char *name);

/* Add a member at runtime (an operator's action): under the farm lock,
 * reuses a removed row of that name or takes a spare one, stores url, and
 * rebuilds the schedule.  Returns the member index, or LBF_EINVAL (name,
 * url longer than LBF_URL_SIZE - 1, weight) / LBF_EEXIST (a live member of
 * that name) / LBF_ENOSPACE (no spare row). */
int lbf_member_add_runtime(struct lbf_shm *h, uint32_t fi, const char *name,
                           const char *url, uint32_t weight,
                           uint32_t retry_sec);

/* Remove member mi at runtime: it takes no request any more (admin
 * REMOVED) and the schedule is rebuilt.  Takes the farm lock. */
int lbf_member_remove(struct lbf_shm *h, struct lbf_farm *f, uint32_t mi);

/* Count one request of usec microseconds that ended at now_usec into r's
 * current latency window.  Lock-free. */
void lbf_row_record_latency(struct lbf_row *r, uint64_t usec,
                            uint64_t now_usec);

/* p50, p95 and p99 in microseconds (upper bounds of their buckets) over
 * the current and the previous window at now; 0 when nothing was
 * counted.  Returns the number of requests counted. */
uint64_t lbf_row_latency(const struct lbf_row *r, uint64_t now_usec,
                         uint64_t pct_usec[3]);

/* Recompute the farm's smooth weighted round-robin schedule from the
 * effective weights and publish it atomically.  Takes the farm lock. */
int lbf_farm_rebuild(struct lbf_shm *h, struct lbf_farm *f);

/* Set a member's effective weight (1..LBF_WEIGHT_MAX) and rebuild the
 * schedule.  Takes the farm lock (inside lbf_farm_rebuild). */
int lbf_member_set_weight(struct lbf_shm *h, struct lbf_farm *f,
                          uint32_t mi, uint32_t weight);

/* Copy what survives a graceful restart from old into new, matching farms
 * and members by name; rebuilds the schedules it touched.  Returns the
 * number of members carried over. */
int lbf_shm_carry(struct lbf_shm *dst, const struct lbf_shm *src);

/* ---- request accounting (lock-free) ---- */

/* A request was handed to the member: inflight++ and requests++. */
void lbf_row_take(struct lbf_row *r);

/* The request ended: inflight--; errors++ when failed. */
void lbf_row_release(struct lbf_row *r, int failed);

/* Put the member in error until now + retry_sec (retry 0 = not at all). */
void lbf_row_set_error(struct lbf_row *r, uint64_t now_usec);

/* Clear the error deadline (a successful request or an admin action). */
void lbf_row_clear_error(struct lbf_row *r);

/* 1 when the member takes new clients at now: admin enabled, not asking
 * to be drained, healthy, not in error.  A member whose error time just
 * ran out is marked as coming back (up_since = now, for slow start). */
int lbf_row_usable(const struct lbf_row *r, uint64_t now_usec);

/* 1 when the member takes a client already stuck to it: as usable, but
 * draining (admin or requested) is allowed. */
int lbf_row_sticky_ok(const struct lbf_row *r, uint64_t now_usec);

/* Set a whole farm's admin state (LBF_ADMIN_ENABLED or _OFFLINE). */
void lbf_farm_set_admin(struct lbf_farm *f, uint32_t admin);

/* Configure the admin state (state=): sets cfg_admin and admin.  Config
 * time only. */
void lbf_member_set_cfg_admin(struct lbf_row *r, uint32_t admin);

/* Set the admin state (enum lbf_admin); leaving offline starts the slow
 * start ramp.  Lock-free. */
void lbf_row_set_admin(struct lbf_row *r, uint32_t admin, uint64_t now_usec);

/* Record one health check result (ok or not) at now for a farm with rise
 * passes to go up and fall failures to go down.  Call only from the
 * process that claimed the check (lbf_hc_claim).  Returns 1 when the
 * health changed. */
int lbf_row_health_result(struct lbf_row *r, int ok, uint32_t rise,
                          uint32_t fall, uint64_t now_usec);

/* Claim the check of r due at now (next due interval_usec later): 1 when
 * this caller won and must run it, 0 when not due or another process won. */
int lbf_hc_claim(struct lbf_row *r, uint64_t now_usec, uint64_t interval_usec);

/* ---- locks ---- */

/* Result of lbf_lock_acquire. */
enum lbf_lock_rc {
    LBF_LOCKED = 0,       /* taken normally */
    LBF_LOCK_STOLEN = 1   /* the previous owner was dead; check seq */
};

/* Acquire lk for this process (pid self, > 0).  Spins, then yields;
 * steals from a dead or stale owner (see the header comment).  Never
 * fails.  The caller must not already hold it. */
int lbf_lock_acquire(struct lbf_lock *lk, uint32_t self);
void lbf_lock_release(struct lbf_lock *lk);

/* Seqlock write section; the caller holds lk. */
void lbf_write_begin(struct lbf_lock *lk);
void lbf_write_end(struct lbf_lock *lk);

/* Take a row's lock; when the previous owner died inside a write section,
 * reset the metrics group and count the repair.  Returns like
 * lbf_lock_acquire.  Lock order: after the farm lock, if any. */
int lbf_row_lock(struct lbf_shm *h, struct lbf_row *r, uint32_t self);
void lbf_row_unlock(struct lbf_row *r);

/* Copy the row's metrics group consistently without locking.  Returns
 * LBF_OK, or LBF_EBUSY when a write stayed open through all retries (a
 * dead writer: the next lbf_row_lock repairs it). */
int lbf_row_read_metrics(const struct lbf_row *r, uint64_t *ts,
                         uint32_t *n, struct lbf_metric *out);

/* Replace the row's metrics group (n <= LBF_METRICS_MAX) under its lock. */
int lbf_row_write_metrics(struct lbf_shm *h, struct lbf_row *r,
                          uint32_t self, uint64_t ts, uint32_t n,
                          const struct lbf_metric *m);

/* Monotonic clock in microseconds, for lock staleness. */
uint64_t lbf_mono_usec(void);

#endif /* LBFARM_SHM_H */
