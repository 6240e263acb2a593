/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_eject.h -- passive outlier ejection, panic mode and recovery
 * probes of a farm (pure C core, lock-free but for one farm lock taken
 * when a member is about to be ejected).
 *
 * The rules (LBFarmEject, LBFarmPanic; README "Outlier ejection"):
 *
 *  - Every finished request of a member counts (lbf_eject_result): a
 *    success, a connect failure (nothing reached the member), or a status
 *    failure (a 5xx).  A status listed in LBFarmErrorStatus keeps its
 *    stock meaning: the member is in error for its retry= at once (an
 *    operator's explicit rule, as mod_proxy's failonstatus).
 *  - A connect failure ejects at once.  Status failures eject after
 *    `consecutive` of them in a row (default 5), or when at least
 *    `rate` % of the requests of the current `window` seconds failed
 *    (default 50 %, over 10 s, once the window holds `volume` requests,
 *    default 10).  A success resets the run of consecutive failures.
 *  - An ejection lasts base x n (default base 5 s), n the times the member
 *    was ejected recently, this one included, and never longer than `max`
 *    (default 300 s).  Every 4 x base (at least one window) without an
 *    ejection takes one off n.
 *  - Never more than `cap` % of a farm's members (default 50 %, at least
 *    one member) are ejected at once: the member that would exceed it is
 *    not ejected.  The decision is a scan of the farm's ejection deadlines
 *    under the farm lock, so two processes deciding at the same moment
 *    cannot both take the last place (ejections that end only lower the
 *    count, so the count can be too high for an instant, never too low).
 *    A connect failure the cap refuses puts the member in error for
 *    `base` instead (as stock mod_proxy would for retry=: nothing reaches
 *    it, so each request sent there would wait for its connect to fail);
 *    an error is not counted by the cap; probes, good answers and passed
 *    checks end it early.
 *  - An ejection ends early when the member answers well (a success: a
 *    recovery probe, a panic request) or passes an active health check
 *    (lbf_eject_clear).
 *  - Panic: when fewer than `panic` % (default 50 %) of the farm's members
 *    that are administratively in are usable, members ejected for status
 *    failures are eligible again -- they answer, so load on possibly bad
 *    members beats a 503.  Members down by health checks, ejected for
 *    connect failures, in their stock retry= error, offline or draining
 *    stay out.  The decision is cached in the farm for LBF_PANIC_TTL_USEC.
 *  - Recovery: a pick that finds nothing usable (lbf_eject_probe) hands
 *    out one probe request per member in error or ejected (not down, not
 *    administratively out) per LBF_PROBE_USEC, claimed by CAS, instead of
 *    waiting for the error or ejection to run out.
 *  - retry=: a member whose retry= (or its farm's LBFarmRetry) was set
 *    explicitly keeps stock semantics -- a connect failure puts it in
 *    error for retry= (lbf_row_set_error); the ejection rules do not
 *    apply to it.  With LBFarmEject off every member has stock semantics.
 *    Probes, and the end of an error by a good answer to a probe or a
 *    passed health check, apply to both.
 *
 * Row fields (struct lbf_row, lbfarm_shm.h): ej_until, ej_win, ej_probe,
 * ej_fails, ej_n, ej_cfg; farm field: panic.  None is carried over a
 * graceful restart: a new generation starts with nobody ejected.
 */
#ifndef LBFARM_EJECT_H
#define LBFARM_EJECT_H

#include <stdint.h>

#include "lbfarm_shm.h"

struct lbf_pick;

/* LBFarmEject of a farm (in struct lbf_tune.eject).  All zero = the
 * defaults below (lbf_eject_conf_resolve). */
struct lbf_eject_conf {
    uint32_t mode;            /* enum lbf_eject_mode */
    uint32_t consecutive;     /* status failures in a row; 0 = rule off */
    uint32_t rate_pct;        /* failure rate over the window; 0 = off */
    uint32_t volume;          /* requests the window needs for the rate */
    uint32_t window_sec;      /* 1..3600 */
    uint32_t base_ms;         /* ejection time per n */
    uint32_t max_ms;          /* longest ejection */
    uint32_t cap_pct;         /* largest share of a farm ejected, 1..100 */
    uint32_t panic_pct;       /* LBFarmPanic; 0 = no panic */
    uint32_t panic_set;       /* 1: LBFarmPanic was given */
};

enum lbf_eject_mode {
    LBF_EJECT_DEFAULT = 0,    /* not configured: the defaults, on */
    LBF_EJECT_ON = 1,         /* LBFarmEject with options */
    LBF_EJECT_OFF = 2         /* LBFarmEject off: stock retry= only */
};

#define LBF_EJ_CONSECUTIVE   5
#define LBF_EJ_RATE_PCT      50
#define LBF_EJ_VOLUME        10
#define LBF_EJ_WINDOW_SEC    10
#define LBF_EJ_BASE_MS       5000u
#define LBF_EJ_MAX_MS        300000u
#define LBF_EJ_CAP_PCT       50
#define LBF_EJ_PANIC_PCT     50
#define LBF_EJ_WINDOW_MAX    3600
#define LBF_EJ_TIME_MAX_MS   3600000u /* base and max: at most 1 h */
#define LBF_EJ_COUNT_MAX     1000000u /* the window's counters: 20 bits */
#define LBF_EJ_N_MAX         255u
#define LBF_PROBE_USEC       1000000u /* one probe per member per second */
#define LBF_PANIC_TTL_USEC   100000u  /* the farm's panic decision */

#define LBF_STATE_EJECTED "ejected"   /* the status pages' state name */

/* ej_n: n in the low 8 bits; LBF_EJ_CONNECT when the last ejection was
 * for a connect failure (panic leaves such a member out). */
#define LBF_EJ_CONNECT       0x100u
/* ej_cfg: LBF_EJ_RETRY_SET when the member keeps stock retry=. */
#define LBF_EJ_RETRY_SET     0x1u

/* What a finished request was (lbf_eject_result). */
enum lbf_outcome {
    LBF_OUT_OK = 0,           /* answered, not a failure */
    LBF_OUT_STATUS = 1,       /* 5xx or a LBFarmErrorStatus */
    LBF_OUT_CONNECT = 2       /* nothing reached the member */
};

/* What lbf_eject_result did. */
enum lbf_eject_rc {
    LBF_EJ_NONE = 0,          /* nothing changed state */
    LBF_EJ_EJECTED = 1,       /* ejected now (*left_ms, n in *n) */
    LBF_EJ_EXTENDED = 2,      /* already ejected: its time starts again */
    LBF_EJ_CAPPED = 3,        /* would have been ejected: the cap said no
                                 (a connect failure: LBF_EJ_ERROR then) */
    LBF_EJ_ERROR = 4,         /* in error: for its retry= (stock), or
                                 for base past the cap (*ms) */
    LBF_EJ_CLEARED = 5        /* a success ended its error or ejection */
};

/* Fill *out from *in: mode DEFAULT becomes ON with every value at its
 * default; ON and OFF keep the values given (LBFarmEject starts from the
 * defaults, so a 0 there means "rule off"); the panic share is the
 * default unless panic_set.  in and out may be the same.  Pure. */
void lbf_eject_conf_resolve(const struct lbf_eject_conf *in,
                            struct lbf_eject_conf *out);

/* Milliseconds left of r's ejection at now (0 when not ejected), and its
 * n in *n (may be NULL).  Lock-free. */
uint64_t lbf_row_eject_left(const struct lbf_row *r, uint64_t now_usec,
                            uint32_t *n);

/* Record one finished request of member r of farm f at now.  conf: the
 * farm's resolved LBFarmEject (NULL = off); error_status: 1 when the
 * status is in LBFarmErrorStatus (then the member is in error for its
 * retry=, as are connect failures under stock semantics).  May take f's lock (after no other
 * lock; the caller holds none) to eject.  Returns enum lbf_eject_rc; on
 * LBF_EJ_EJECTED and _EXTENDED the ejection time in *ms and n in *n. */
int lbf_eject_result(const struct lbf_shm *h, struct lbf_farm *f,
                     struct lbf_row *r, const struct lbf_eject_conf *conf,
                     int outcome, int error_status, uint64_t now_usec,
                     uint32_t *ms, uint32_t *n);

/* A passed health check (or an operator) ends r's ejection and error at
 * now.  Returns 1 when there was one to end.  Lock-free. */
int lbf_eject_clear(struct lbf_row *r, uint64_t now_usec);

/* Mark r as keeping stock retry= semantics (retry_set 1) or not.  Config
 * time. */
void lbf_eject_member_setup(struct lbf_row *r, int retry_set);

/* 1 when the farm of pk is in panic at pk->now (see above; needs
 * pk->tune with panic on).  Lock-free; recomputes the farm's cached
 * decision at most every LBF_PANIC_TTL_USEC. */
int lbf_eject_panic(const struct lbf_pick *pk);

/* 1 when r, not usable at now, is one panic mode lets in: enabled, not
 * draining, healthy, ejected for status failures, not in stock error.
 * Lock-free. */
int lbf_eject_panic_ok(const struct lbf_row *r, uint64_t now_usec);

/* A pick found nothing usable: claim a recovery probe on a member in
 * error or ejected (enabled, not draining, healthy, not pk->exclude, and
 * pk->usable allows it), at most one per member per LBF_PROBE_USEC, by
 * CAS.  Returns its index, or -1.  Only in farm mode (pk->tune set) and
 * never for a peek.  Lock-free; takes nothing. */
int lbf_eject_probe(const struct lbf_pick *pk);

#endif /* LBFARM_EJECT_H */
