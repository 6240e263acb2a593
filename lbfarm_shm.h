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
 *  0        128         128+128*l_farms   sched_off                hold_off len
 *  +--------+-----------+-----------------+----------------------+---------+
 *  | hdr    | farm[0..] | row[0..l_rows)  | sched[] (uint16)     | hold    |
 *  +--------+-----------+-----------------+----------------------+---------+
 *   128 B    128 B each  832 B each        sched_off = end of the  hold_off =
 *                                          rows rounded up to 64;  end of
 *                                          per farm 2 buffers of   sched[]
 *                                          sched_cap entries       rounded
 *                                                                  up to 64
 *
 *  hold : who holds which row (include/lbfarm_hold.h): a 64-byte header,
 *         then hold_procs blocks (one per child process: ServerLimit) of
 *         hold_slots slots (2 x ThreadLimit + 16); a slot holds 1 + the
 *         global row index one in-flight request of that child took.  A
 *         dead child's slots give its rows' in-flight back.  Absent
 *         (hold_off 0) when the glue asks for none (unit tests).
 *
 *  hdr  : magic "LBF1", layout version and layout signature (both checked
 *         by every attach), sizes of hdr/farm/row, counts in use (n_*) and
 *         capacity (l_*), the schedule area, generation, total length,
 *         lock recoveries and repairs, the hold area (offset, blocks,
 *         slots).
 *  farm : magic, method, lock, name, first_row + n_rows/l_rows (its members
 *         are the rows [first_row, first_row + l_rows), farms' rows follow
 *         each other in farm order), its schedule area (sched_off,
 *         sched_cap), the published schedule (buffer, period), the shared
 *         cursor, push expiry and blackout, admin state, slow start, the
 *         fingerprint of its health check, and its cached panic decision.
 *  row  : one member: magic, farm index, lock, name, admin state, tier,
 *         configured and effective weight, in-flight, requests, errors,
 *         error deadline, the pushed metrics group (seqlock), push sequence
 *         and rate bucket, the derived load that picks read lock-free,
 *         health check state and the fingerprint of its check, runtime
 *         flag and URL (members added at runtime), two latency histograms,
 *         the latency estimate and stall state, the outlier-ejection
 *         state (ejection deadline, failure window, probe slot).
 *
 * Layout version.  hdr.version is LBF_SHM_VERSION and hdr.layout is
 * LBF_SHM_LAYOUT, a signature computed at compile time from the offset
 * and size of every field below (LBF_SHM_FIELDS) and the limits that size
 * the segment.  A _Static_assert ties the signature to the version: change
 * a field and the build fails until LBF_SHM_VERSION is bumped and the new
 * signature recorded.  A segment of another version or signature is never
 * attached nor carried.
 *
 * Concurrency contract
 *  - Counters that every process changes (inflight, requests, errors, the
 *    schedule cursor, latency buckets) are lock-free C11 atomics: never a
 *    plain ++ on shm.  Single-word state (admin, weight, health, error
 *    deadline, load) is an atomic of its own; no reader expects two of
 *    them to change together.
 *  - The metrics group (metric_ts, n_metrics, metrics[]) is written under
 *    the row lock inside a seqlock write section (seq odd while writing);
 *    readers never lock: they copy and retry while seq is odd or changed
 *    (lbf_row_read_metrics).  Push bookkeeping (push_seq, rate_*) is
 *    written under the row lock only.
 *  - A schedule is rebuilt under the farm lock into the buffer that is not
 *    published, then published with one atomic store of farm.sched; a
 *    pick loads farm.sched once and reads that buffer without a lock.
 *  - Rows are added under the farm lock (at runtime; config time has no
 *    other process): the row is written whole, then a release fence, then
 *    farm.n_rows++.  The other farm and header fields are written at
 *    config time only, before any child exists.
 *  - hc_pass / hc_fail are written only by the process that claimed the
 *    member's check (one CAS on hc_next).
 *  - row.inflight is raised by the pick and lowered by whoever empties
 *    the request's hold slot: the request at its end, or a reaper when
 *    the child that took it died (lbfarm_hold.h, mod_lbfarm_hold.c).
 *  - Lock order: a farm lock before a row lock of that farm; never two row
 *    locks; no syscall, log call or allocation while any lock is held.
 *  - Crash safety: a lock word holds the owner's pid and an acquisition
 *    ticket.  A waiter steals the lock when kill(pid, 0) says the owner is
 *    gone, or when the same word stayed held for LBF_LOCK_STALE_USEC (pid
 *    reuse).  If a row's seq is odd after a steal the owner died mid-write:
 *    the metrics group is reset to neutral, seq made even again and
 *    hdr.repairs counted (every steal counts hdr.recoveries).  APR's
 *    robust mutex would hide EOWNERDEAD; this scheme detects a torn row on
 *    its own.
 *  - Trust: every child can write every byte of the segment.  The parent
 *    reads the old segment only through lbf_shm_carry_region
 *    (lbfarm_carry.h), which copies it and checks the copy (lbf_shm_check:
 *    magics, version, sizes, every count, offset, string and state it
 *    reads) before using a byte of it; a child checks the segment it
 *    inherits at attach.
 *
 * What a graceful restart keeps (lbf_shm_carry, lbfarm_carry.c): per
 * member, matched by farm and member name, the admin state (only while
 * the configured state= is unchanged) and effective weight (only while
 * the configured weight is unchanged), the health check state -- up or
 * down, the consecutive passes and failures, the last check's status and
 * duration -- (only while the member's check is unchanged: the farm's
 * LBFarmHealthCheck and its options, and the member's URL), members added
 * at runtime (unless removed), the farm's admin state (while LBFarmState
 * is unchanged), the requests/errors counters, the last pushed metrics
 * and load, and the push sequence number (a replay stays a replay).  It
 * does not keep in-flight counts (the old generation's children finish
 * their requests against the old segment) nor the hold area (each
 * generation's children join the hold area of their own segment; the old
 * children reap each other in the old one), error deadlines, ejections
 * and failure counts, when the next check is due (the new generation
 * checks at once), nor the weighted cursor (the schedule restarts).  An
 * old segment that fails
 * lbf_shm_check is not carried at all: the new generation starts fresh.
 */
#ifndef LBFARM_SHM_H
#define LBFARM_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lbfarm_hold.h"
#include "lbfarm_lock.h"

#define LBF_SHM_MAGIC      0x3146424cu /* "LBF1" little-endian */
#define LBF_SHM_VERSION    5u  /* bump with every change of the layout */
#define LBF_FARM_MAGIC     0x6d726166u /* "farm" */
#define LBF_ROW_MAGIC      0x776f726du /* "mrow" */

#define LBF_NAME_SIZE      32  /* farm and member names, NUL included */
#define LBF_WEIGHT_MAX     100 /* like mod_proxy's loadfactor */
#define LBF_METRICS_MAX    8   /* pushed metric slots per row */
#define LBF_METRIC_NAME    16
#define LBF_ROWS_MAX       65535 /* schedule entries are uint16 */
#define LBF_FARM_MEMBERS_MAX 4096 /* members (capacity) of one farm */
#define LBF_URL_SIZE       128
#define LBF_LAT_BUCKETS    24  /* latency buckets: <= 100us * 2^i */
#define LBF_LAT_WINDOW_SEC 30  /* percentiles cover the last 30..60 s */
#define LBF_SPARE_ROWS     8   /* rows an <LBFarm> keeps for members added
                                  at runtime */

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
    LBF_EBUSY = -8,     /* a seqlock reader kept seeing a write */
    LBF_EDAMAGED = -9   /* counts, offsets, magics, strings or states
                           that this build never writes: a damaged region */
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

/* Health of a member (row.health), from active checks; carried over a
 * restart while the member's check is unchanged. */
enum lbf_health {
    LBF_HEALTH_UP = 0,
    LBF_HEALTH_DOWN = 1
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
    uint32_t layout;          /* LBF_SHM_LAYOUT */
    uint32_t hold_off;        /* byte offset of the hold area; 0 = none */
    uint32_t hold_procs;      /* its process blocks (lbfarm_hold.h) */
    uint32_t hold_slots;      /* slots per block */
    uint8_t reserved[40];
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
    uint32_t hc_conf;         /* lbf_hc_conf of its health check; 0 none */
    _Atomic uint64_t panic;   /* panic decision (lbfarm_eject.c): valid
                                 until usec << 1 | in panic */
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
    /* life cycle (mod_lbfarm_health.c) */
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
    uint32_t hc_conf;             /* the check it gets: farm's check and
                                     member URL; 0 = none (not carried) */
    /* latency: two histograms of alternating LBF_LAT_WINDOW_SEC windows */
    struct lbf_lat {
        _Atomic uint64_t epoch;   /* window number it counts, now/window */
        _Atomic uint32_t bucket[LBF_LAT_BUCKETS];
    } lat[2];
    uint32_t cfg_admin;           /* admin state from the configuration */
    uint32_t pad1;                /* lt_est is 8-byte aligned */
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
    /* outlier ejection and recovery probes (lbfarm_eject.c; the rules are
     * in include/lbfarm_eject.h).  Lock-free atomics; ej_until and ej_n
     * are set under the farm lock when a member is ejected (the cap).
     * Not carried over a restart. */
    _Atomic uint64_t ej_until;    /* usec the last ejection ends (kept
                                     after: the decay of n); ejected while
                                     now < ej_until */
    _Atomic uint64_t ej_win;      /* failure window: epoch << 40 |
                                     requests << 20 | failures */
    _Atomic uint64_t ej_probe;    /* usec the next recovery probe is due */
    _Atomic uint32_t ej_fails;    /* consecutive status failures */
    _Atomic uint32_t ej_n;        /* times ejected recently | LBF_EJ_CONNECT */
    uint32_t ej_cfg;              /* LBF_EJ_RETRY_SET; config time */
    uint8_t reserved[20];
};

_Static_assert(sizeof(struct lbf_hdr) == 128, "hdr is 128 bytes");
_Static_assert(sizeof(struct lbf_farm) == 128, "farm is 128 bytes");
_Static_assert(sizeof(struct lbf_row) == 832, "row is 832 bytes");
_Static_assert(sizeof(struct lbf_row) % 64 == 0, "rows fill cache lines");
_Static_assert(offsetof(struct lbf_hdr, magic) == 0, "magic first");
_Static_assert(offsetof(struct lbf_hdr, version) == 4, "version second");
_Static_assert(offsetof(struct lbf_row, lock) == 8, "row lock at 8");
_Static_assert(offsetof(struct lbf_row, lt_est) % 8 == 0, "lt_est aligned");
_Static_assert(offsetof(struct lbf_row, ej_until) % 8 == 0,
               "ej_until aligned");
_Static_assert(offsetof(struct lbf_farm, panic) % 8 == 0, "panic aligned");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics lock-free");

/*
 * The layout's signature.  Every field of every record in the segment, in
 * order, as X(struct, field); nested records are one field of their
 * parent and have lists of their own.  The lists are checked complete
 * (their sizes add up to the record: no field left out, no hidden
 * padding), so adding, removing, moving, resizing or renaming a field
 * changes LBF_SHM_LAYOUT or stops the build here.
 */
#define LBF_LOCK_FIELDS(X) X(lbf_lock, owner) X(lbf_lock, seq)            \
    X(lbf_lock, ticket)
#define LBF_METRIC_FIELDS(X) X(lbf_metric, name) X(lbf_metric, value)
#define LBF_LAT_FIELDS(X) X(lbf_lat, epoch) X(lbf_lat, bucket)
#define LBF_HDR_FIELDS(X) X(lbf_hdr, magic) X(lbf_hdr, version)           \
    X(lbf_hdr, hdr_size) X(lbf_hdr, farm_size) X(lbf_hdr, row_size)       \
    X(lbf_hdr, n_farms) X(lbf_hdr, l_farms) X(lbf_hdr, n_rows)            \
    X(lbf_hdr, l_rows) X(lbf_hdr, sched_off) X(lbf_hdr, sched_len)        \
    X(lbf_hdr, sched_used) X(lbf_hdr, generation) X(lbf_hdr, total_len)   \
    X(lbf_hdr, recoveries) X(lbf_hdr, repairs) X(lbf_hdr, layout)         \
    X(lbf_hdr, hold_off) X(lbf_hdr, hold_procs) X(lbf_hdr, hold_slots)    \
    X(lbf_hdr, reserved)
#define LBF_FARM_FIELDS(X) X(lbf_farm, magic) X(lbf_farm, method)         \
    X(lbf_farm, lock) X(lbf_farm, name) X(lbf_farm, first_row)            \
    X(lbf_farm, n_rows) X(lbf_farm, l_rows) X(lbf_farm, sched_off)        \
    X(lbf_farm, sched_cap) X(lbf_farm, min_tier) X(lbf_farm, sched)       \
    X(lbf_farm, cursor) X(lbf_farm, expiry_ms) X(lbf_farm, blackout_ms)   \
    X(lbf_farm, admin) X(lbf_farm, slowstart_ms) X(lbf_farm, cfg_admin)   \
    X(lbf_farm, hc_conf) X(lbf_farm, panic)
#define LBF_ROW_FIELDS(X) X(lbf_row, magic) X(lbf_row, farm)              \
    X(lbf_row, lock) X(lbf_row, name) X(lbf_row, admin) X(lbf_row, weight) \
    X(lbf_row, cfg_weight) X(lbf_row, tier) X(lbf_row, retry_sec)         \
    X(lbf_row, inflight) X(lbf_row, requests) X(lbf_row, errors)          \
    X(lbf_row, error_until) X(lbf_row, metric_ts) X(lbf_row, n_metrics)   \
    X(lbf_row, pad0) X(lbf_row, metrics) X(lbf_row, push_seq)             \
    X(lbf_row, rate_ts) X(lbf_row, rate_tokens) X(lbf_row, load_milli)    \
    X(lbf_row, load_ts) X(lbf_row, load_since) X(lbf_row, health)         \
    X(lbf_row, drain_req) X(lbf_row, up_since) X(lbf_row, hc_next)        \
    X(lbf_row, hc_pass) X(lbf_row, hc_fail) X(lbf_row, hc_status)         \
    X(lbf_row, hc_ms) X(lbf_row, runtime) X(lbf_row, url)                 \
    X(lbf_row, hc_conf) X(lbf_row, lat) X(lbf_row, cfg_admin)             \
    X(lbf_row, pad1) X(lbf_row, lt_est) X(lbf_row, done_ts) X(lbf_row, busy_ts)            \
    X(lbf_row, lt_decay_ms) X(lbf_row, stall_cfg) X(lbf_row, ej_until)   \
    X(lbf_row, ej_win) X(lbf_row, ej_probe) X(lbf_row, ej_fails)          \
    X(lbf_row, ej_n) X(lbf_row, ej_cfg) X(lbf_row, reserved)
#define LBF_HOLD_HDR_FIELDS(X) X(lbf_hold_hdr, magic)                      \
    X(lbf_hold_hdr, n_procs) X(lbf_hold_hdr, n_slots)                     \
    X(lbf_hold_hdr, stride) X(lbf_hold_hdr, sweep_next)                   \
    X(lbf_hold_hdr, reclaimed) X(lbf_hold_hdr, reaped)                    \
    X(lbf_hold_hdr, untracked) X(lbf_hold_hdr, reserved)
/* the flexible slot[] follows; its entry size is a limit below */
#define LBF_HOLD_PROC_FIELDS(X) X(lbf_hold_proc, pid)                     \
    X(lbf_hold_proc, reserved)
#define LBF_SHM_FIELDS(X) LBF_LOCK_FIELDS(X) LBF_METRIC_FIELDS(X)          \
    LBF_LAT_FIELDS(X) LBF_HDR_FIELDS(X) LBF_FARM_FIELDS(X) LBF_ROW_FIELDS(X) \
    LBF_HOLD_HDR_FIELDS(X) LBF_HOLD_PROC_FIELDS(X)

/* Each field's place in the lists: its identity in the signature. */
enum lbf_shm_field {
#define LBF_FIELD_ENUM(s, f) LBF_FIELD_##s##_##f,
    LBF_SHM_FIELDS(LBF_FIELD_ENUM)
#undef LBF_FIELD_ENUM
    LBF_FIELD_COUNT
};

#define LBF_FIELD_SIZE(s, f) sizeof(((struct s *)0)->f)
#define LBF_FIELD_SUM(s, f) + LBF_FIELD_SIZE(s, f)
#define LBF_SIG_TERM(k, v)                                                \
    ((uint64_t)((k) + 1) * 0x9e3779b97f4a7c15ull * ((uint64_t)(v) + 1))
#define LBF_FIELD_SIG(s, f)                                               \
    + LBF_SIG_TERM(LBF_FIELD_##s##_##f,                                   \
                   offsetof(struct s, f) * 4096u + LBF_FIELD_SIZE(s, f))

_Static_assert(0 LBF_LOCK_FIELDS(LBF_FIELD_SUM) == sizeof(struct lbf_lock),
               "LBF_LOCK_FIELDS lists every field of struct lbf_lock");
_Static_assert(0 LBF_METRIC_FIELDS(LBF_FIELD_SUM)
               == sizeof(struct lbf_metric),
               "LBF_METRIC_FIELDS lists every field of struct lbf_metric");
_Static_assert(0 LBF_LAT_FIELDS(LBF_FIELD_SUM) == sizeof(struct lbf_lat),
               "LBF_LAT_FIELDS lists every field of struct lbf_lat");
_Static_assert(0 LBF_HDR_FIELDS(LBF_FIELD_SUM) == sizeof(struct lbf_hdr),
               "LBF_HDR_FIELDS lists every field of struct lbf_hdr");
_Static_assert(0 LBF_FARM_FIELDS(LBF_FIELD_SUM) == sizeof(struct lbf_farm),
               "LBF_FARM_FIELDS lists every field of struct lbf_farm");
_Static_assert(0 LBF_ROW_FIELDS(LBF_FIELD_SUM) == sizeof(struct lbf_row),
               "LBF_ROW_FIELDS lists every field of struct lbf_row");
_Static_assert(0 LBF_HOLD_HDR_FIELDS(LBF_FIELD_SUM)
               == sizeof(struct lbf_hold_hdr),
               "LBF_HOLD_HDR_FIELDS lists every field of struct lbf_hold_hdr");
_Static_assert(0 LBF_HOLD_PROC_FIELDS(LBF_FIELD_SUM)
               == sizeof(struct lbf_hold_proc),
               "LBF_HOLD_PROC_FIELDS lists every field of struct "
               "lbf_hold_proc");

/* The fields, and the limits that size the segment or give its values
 * their meaning, folded into 32 bits. */
#define LBF_SHM_SIG64                                                     \
    (0 LBF_SHM_FIELDS(LBF_FIELD_SIG)                                      \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 0, LBF_WEIGHT_MAX)                  \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 1, LBF_FARM_MEMBERS_MAX)            \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 2, LBF_ROWS_MAX)                    \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 3, LBF_LAT_WINDOW_SEC)              \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 4, sizeof(uint16_t))                \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 5, LBF_FARM_MAGIC)                  \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 6, LBF_ROW_MAGIC)                   \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 7, LBF_HOLD_MAGIC)                  \
     + LBF_SIG_TERM(LBF_FIELD_COUNT + 8, sizeof(_Atomic uint32_t)))
#define LBF_SHM_LAYOUT ((uint32_t)(LBF_SHM_SIG64 ^ (LBF_SHM_SIG64 >> 32)))

/* LBF_SHM_LAYOUT as recorded when LBF_SHM_VERSION was last bumped.  When
 * the assertion below fails: bump LBF_SHM_VERSION, then record the new
 * signature here (`make unit CC="cc -DLBF_SHM_LAYOUT_UNRECORDED"` builds
 * without the assertion, and the test shm_layout_signature_is_recorded
 * prints the value). */
#define LBF_SHM_LAYOUT_RECORDED 0xe7f5d553u
#ifndef LBF_SHM_LAYOUT_UNRECORDED
_Static_assert(LBF_SHM_LAYOUT == LBF_SHM_LAYOUT_RECORDED,
               "the segment layout changed: bump LBF_SHM_VERSION and record "
               "the new LBF_SHM_LAYOUT in LBF_SHM_LAYOUT_RECORDED");
#endif

/* A process-local view of a segment; base differs per process.  hold,
 * hold_len, l_farms and l_rows are this process's own copies, taken when it
 * formatted the segment or attached it after lbf_shm_check: the parent
 * never rereads them from the segment, which children may scribble. */
struct lbf_shm {
    unsigned char *base;
    size_t len;
    struct lbf_hdr *hdr;
    void *hold;               /* the hold area, or NULL (none) */
    size_t hold_len;          /* its bytes */
    uint32_t l_farms;         /* farm capacity */
    uint32_t l_rows;          /* row capacity */
};

/* What the glue wants in a new segment. */
struct lbf_layout {
    uint32_t l_farms;
    uint32_t l_rows;
    uint32_t sched_len;       /* total schedule entries (both buffers) */
    uint64_t generation;
    uint32_t hold_procs;      /* hold area: process blocks (0 = none) */
    uint32_t hold_slots;      /* and slots per block (lbfarm_hold.h) */
};

/* Bytes needed for a layout (header, farms, rows, schedule, hold area),
 * or 0 when the hold area's counts are out of range or it would start
 * beyond 4 GiB. */
size_t lbf_shm_size(const struct lbf_layout *lay);

/* Schedule entries one farm of l_rows members needs (two buffers). */
uint32_t lbf_sched_entries(uint32_t l_rows);

/* Rows a farm gets for `members` members and `spare` more that may come
 * at runtime: their sum, at most LBF_FARM_MEMBERS_MAX.  An <LBFarm> keeps
 * LBF_SPARE_ROWS; a stock balancer its growth + 1.  Pure. */
uint32_t lbf_farm_rows(uint32_t members, uint32_t spare);

/* Count one farm of l_rows rows into lay: a farm, its rows and the
 * schedule entries they need.  Pure. */
void lbf_layout_add(struct lbf_layout *lay, uint32_t l_rows);

/* Format a zeroed or reused region of len bytes; fills *h.  Returns LBF_OK
 * or LBF_ENOSPACE when len < lbf_shm_size(lay).  No lock: the region must
 * not be shared yet. */
int lbf_shm_format(struct lbf_shm *h, void *base, size_t len,
                   const struct lbf_layout *lay);

/* Attach to a formatted region after lbf_shm_check has found it sound;
 * fills *h.  Returns LBF_OK or lbf_shm_check's refusal.  Takes no lock. */
int lbf_shm_attach(struct lbf_shm *h, void *base, size_t len);

/*
 * Check that the region [base, base + len) is a segment of this build that
 * the core can read without going astray, whoever wrote it: the header's
 * magic (LBF_EFOREIGN), version and layout signature (LBF_EVERSION),
 * record sizes and length against len (LBF_ELAYOUT); then every count,
 * offset and capacity of the header and of each farm in use, the magic of
 * each farm and of each member row in use, the NUL termination of every
 * name and URL, and every state and weight the carry copies
 * (LBF_EDAMAGED).  Returns LBF_OK or the first refusal, with one line
 * saying what and where in why (why_len bytes, NUL-terminated; why may
 * be NULL).  Reads only inside the region; takes no lock.  A region that
 * other processes are writing may change after it was checked: the
 * parent checks a private copy (lbf_shm_carry_region).
 */
int lbf_shm_check(const void *base, size_t len, char *why, size_t why_len);

/* Add a farm with capacity for l_rows (1..LBF_FARM_MEMBERS_MAX) members;
 * returns its index (>= 0) or LBF_EINVAL / LBF_EEXIST / LBF_ENOSPACE.
 * Config time only. */
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

/* ---- the farm of a stock balancer:// (mod_proxy_balancer) ---- */

/* Name of the farm of stock balancer `name` (without "balancer://") whose
 * full name hashes to hash: "~" + name cut to 20 bytes + "#" + hash in 8
 * hex digits, into out.  A configured farm name never starts with "~".
 * Pure. */
void lbf_balancer_farm_name(char out[LBF_NAME_SIZE], const char *name,
                            uint32_t hash);

/* Row name of the balancer's member number i at host:port: "host:port"
 * with host cut to 20 bytes, or "host~i" when farm f already has a member
 * of that name; into out.  Reads f's rows; config time. */
void lbf_balancer_member_name(const struct lbf_shm *h,
                              const struct lbf_farm *f, const char *host,
                              uint32_t port, uint32_t i,
                              char out[LBF_NAME_SIZE]);

/* Give farm fi a row for every member index below n: balancer-manager
 * added members at runtime.  The new rows are named "+<index>", weight 1,
 * tier 0, no retry; the schedule is rebuilt.  Takes the farm lock.
 * Returns the farm's member count (below n when its capacity ran out), or
 * LBF_ENOENT. */
int lbf_farm_grow(struct lbf_shm *h, uint32_t fi, uint32_t n);

/* Count one request of usec microseconds that ended at now_usec into r's
 * current latency window.  Lock-free. */
void lbf_row_record_latency(struct lbf_row *r, uint64_t usec,
                            uint64_t now_usec);

/* A request was handed to r at now_usec: inflight++ and requests++, and
 * when inflight rises from 0 the start of r's busy period.  Lock-free. */
void lbf_row_begin(struct lbf_row *r, uint64_t now_usec);

/* r made progress at now_usec (a request completed, a health check
 * passed): it is not stalled for the next bound.  Lock-free. */
void lbf_row_progress(struct lbf_row *r, uint64_t now_usec);

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

/* ---- request accounting (lock-free) ---- */

/* A request was handed to the member: inflight++ and requests++. */
void lbf_row_take(struct lbf_row *r);

/* The request ended: inflight--; errors++ when failed. */
void lbf_row_release(struct lbf_row *r, int failed);

/* A reaper returns one request of a dead process: inflight-- of the row
 * of global index ri (never below 0; an ri beyond h's own row capacity is
 * ignored).  Lock-free; what the hold area's release callback does. */
void lbf_row_reclaim(const struct lbf_shm *h, uint32_t ri);

/* Put the member in error until now + retry_sec (retry 0 = not at all). */
void lbf_row_set_error(struct lbf_row *r, uint64_t now_usec);

/* 1 when r is ejected at now (its ej_until is ahead: lbfarm_eject.h
 * has the rules).  Lock-free, one relaxed load. */
int lbf_row_ejected(const struct lbf_row *r, uint64_t now_usec);

/* Milliseconds r stays in error after now (0 when it is usable).
 * Lock-free. */
uint64_t lbf_row_error_left_ms(const struct lbf_row *r, uint64_t now_usec);

/* Clear the error deadline (a successful request or an admin action). */
void lbf_row_clear_error(struct lbf_row *r);

/* 1 when the member takes new clients at now: admin enabled, not asking
 * to be drained, healthy, not ejected (lbfarm_eject.h), not in error.  A member whose error time just
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

/* Fingerprint of a farm's health check: its URI and options.  Never 0;
 * 0 stands for no check (uri NULL).  Pure. */
uint32_t lbf_hc_conf(const char *uri, uint32_t interval_ms,
                     uint32_t timeout_ms, uint32_t expect, uint32_t rise,
                     uint32_t fall);

/* Record farm f's check (lbf_hc_conf).  Config time, before its members
 * are added. */
void lbf_farm_set_hc_conf(struct lbf_farm *f, uint32_t hc_conf);

/* Record which check member r of farm f gets: f's check, of the member at
 * url.  A graceful restart carries r's health only while this stays the
 * same (lbf_member_add_runtime records it itself).  Config time. */
void lbf_member_set_hc_url(const struct lbf_farm *f, struct lbf_row *r,
                           const char *url);

/* ---- row locks and the metrics group (locks: lbfarm_lock.h) ---- */

/* Take a row's lock; when the previous owner died inside a write section,
 * reset the metrics group and count the repair.  Returns like
 * lbf_lock_acquire.  Lock order: after the farm lock, if any. */
int lbf_row_lock(struct lbf_shm *h, struct lbf_row *r, uint32_t self);
void lbf_row_unlock(struct lbf_row *r, uint32_t self);

/* Copy the row's metrics group consistently without locking.  Returns
 * LBF_OK, or LBF_EBUSY when a write stayed open through all retries (a
 * dead writer: the next lbf_row_lock repairs it). */
int lbf_row_read_metrics(const struct lbf_row *r, uint64_t *ts,
                         uint32_t *n, struct lbf_metric *out);

/* Replace the row's metrics group (n <= LBF_METRICS_MAX) under its lock. */
int lbf_row_write_metrics(struct lbf_shm *h, struct lbf_row *r,
                          uint32_t self, uint64_t ts, uint32_t n,
                          const struct lbf_metric *m);

#endif /* LBFARM_SHM_H */
