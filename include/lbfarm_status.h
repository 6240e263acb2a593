/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_status.h -- snapshot and render the farm table (pure C core).
 *
 * Collect, render, emit: lbf_snap_farm() and lbf_snap_member() copy one
 * farm or one row with atomic loads and a seqlock read (no lock is taken,
 * none is held while output is written); the renderers are pure functions
 * of the snapshot (struct lbf_status) writing through an emitter the glue
 * supplies.  Four forms: text (one line per member), JSON, Prometheus text
 * exposition 0.0.4, and an HTML page (no script, no style attribute, one
 * <style> block whose hash goes into the Content-Security-Policy).
 *
 * The administration side is pure too: the form parser and validator
 * (lbf_admin_parse), the per-session nonce (lbf_status_nonce) and the
 * same-origin rule (lbf_same_origin); the glue applies a parsed request
 * with the lbfarm_shm.h calls.
 */
#ifndef LBFARM_STATUS_H
#define LBFARM_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "lbfarm_shm.h"

/* One member as seen at one instant. */
struct lbf_snap {
    char farm[LBF_NAME_SIZE];
    char name[LBF_NAME_SIZE];
    const char *method;       /* static string of the core */
    const char *state;        /* "ok", "error", "down", "draining",
                                 "offline" */
    uint32_t admin;           /* enum lbf_admin */
    uint32_t weight;          /* effective */
    uint32_t cfg_weight;
    uint32_t tier;            /* 0 regular, > 0 standby tier */
    int32_t inflight;
    uint64_t requests;
    uint64_t errors;
    uint64_t error_left_ms;   /* time left in error, 0 when usable */
    uint32_t load_milli;      /* last pushed load, thousandths */
    int64_t load_age_ms;      /* its age; -1 when never pushed */
    uint32_t headroom_milli;  /* what pushed-metric uses now (1000 =
                                 neutral: none, stale or in blackout) */
    int hc_checked;           /* 1 when a health check has run */
    uint32_t hc_status;       /* its HTTP status, 0 = no answer */
    uint32_t hc_ms;           /* its duration */
    uint64_t lat_count;       /* requests in the latency window */
    uint64_t lat_us[3];       /* p50, p95, p99 (bucket upper bounds) */
    uint32_t runtime;         /* 1: added by an operator at runtime */
    char url[LBF_URL_SIZE];   /* member URL ("" when unknown) */
    uint32_t n_metrics;       /* last pushed metrics */
    struct lbf_metric metrics[LBF_METRICS_MAX];
};

/* One farm as seen at one instant; its members are snapshots
 * [first, first + n) of the status' member array. */
struct lbf_farm_snap {
    char name[LBF_NAME_SIZE];
    const char *method;       /* static string of the core */
    uint32_t offline;         /* farm admin state is offline */
    uint32_t adminable;       /* 1: an <LBFarm> the page may administer
                                 (0: a balancer://, read only) */
    size_t first, n;
};

/* Everything one page shows. */
struct lbf_status {
    uint64_t generation;
    uint64_t now_usec;
    uint32_t recoveries;      /* locks stolen from dead owners */
    uint32_t repairs;         /* torn groups repaired */
    struct lbf_farm_snap *farms;
    size_t n_farms;
    struct lbf_snap *members;
    size_t n_members;
};

/* Copy member mi of farm f at now_usec into *s (url left empty when the
 * row holds none).  Lock-free.  Returns 1, or 0 when mi is no row or a
 * removed one (*s zeroed). */
int lbf_snap_member(const struct lbf_shm *h, const struct lbf_farm *f,
                    uint32_t mi, uint64_t now_usec, struct lbf_snap *s);

/* Copy farm f's name, method and admin state into *fs (first, n and
 * adminable are the caller's).  Lock-free. */
void lbf_snap_farm(const struct lbf_farm *f, struct lbf_farm_snap *fs);

/* Output sink: the glue writes n bytes of s to the client. */
typedef void lbf_emit_f(void *ctx, const char *s, size_t n);

/* Render as text, one line per member:
 *   member FARM NAME method=M state=S weight=W cfg_weight=C tier=T
 *          inflight=I requests=R errors=E error_left_ms=L load=0.LLL
 *          load_age_ms=A headroom=0.HHH hc_status=H hc_ms=D
 *          lat_n=N p50_us=X p95_us=Y p99_us=Z
 * preceded by "# lbfarm generation=G farms=F members=N" (hc_status is -1
 * when no check ran; a space, '%', control or non-ASCII byte of FARM or
 * NAME is written %XX, so that every line splits on spaces). */
void lbf_render_text(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx);

/* Render as one JSON object (every string escaped; see
 * notes/status-readme.md for the fields). */
void lbf_render_json(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx);

/* Render as Prometheus text exposition format 0.0.4: HELP and TYPE lines,
 * counters ending in _total, labels farm="..",member=".." escaped. */
void lbf_render_prom(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx);

/* What the HTML page needs besides the snapshot. */
struct lbf_html_opts {
    const char *action;       /* path the forms post to (raw; escaped) */
    const char *nonce;        /* the session's nonce, or NULL: no forms */
};

/* Render the HTML page: every farm and member, SVG bars of the spread,
 * and (with a nonce) the administration forms.  No script, no style
 * attribute: its only CSS is lbf_status_css() in a <style> element. */
void lbf_render_html(const struct lbf_status *st,
                     const struct lbf_html_opts *o, lbf_emit_f *emit,
                     void *ctx);

/* The page's style sheet, exactly as put in its <style> element. */
const char *lbf_status_css(void);

#define LBF_CSS_HASH_SIZE 52  /* "sha256-" + 44 base64 + NUL */

/* out = "sha256-<base64 of SHA-256(lbf_status_css())>", the CSP source
 * that allows the <style> element.  Returns 0, or -1 on a crypto error. */
int lbf_status_css_hash(char out[LBF_CSS_HASH_SIZE]);

/* ---- administration ---- */

#define LBF_SID_HEX      32   /* session id: 16 random bytes in hex */
#define LBF_NONCE_HEX    64   /* HMAC-SHA256 in hex */
#define LBF_ADMIN_KEY    32   /* bytes of the server's nonce key */
#define LBF_ADMIN_BODY_MAX 4096 /* bytes of a POST body */

/* 1 when sid is exactly LBF_SID_HEX lowercase hex digits, else 0. */
int lbf_status_sid_valid(const char *sid);

/* out = hex(HMAC-SHA256(key, "lbfarm-status-nonce:" + sid)), the nonce of
 * session sid.  Returns 0, or -1 on a crypto error. */
int lbf_status_nonce(const uint8_t key[LBF_ADMIN_KEY], const char *sid,
                     char out[LBF_NONCE_HEX + 1]);

/* 1 when nonce (any string, may be NULL) equals the nonce of sid, in
 * constant time; 0 otherwise. */
int lbf_status_nonce_ok(const uint8_t key[LBF_ADMIN_KEY], const char *sid,
                        const char *nonce);

/* Same-origin rule of a state-changing request to scheme://host (host as
 * in the Host header, with or without its port): the Origin header, or
 * the Referer when Origin is absent (NULL), must name that origin; a
 * default port (80 for http, 443 for https) may be written or not.
 * Returns 1 when it does, 0 when not or when both are absent. */
int lbf_same_origin(const char *scheme, const char *host, const char *origin,
                    const char *referer);

/* What an administrative POST asks. */
enum lbf_admin_action {
    LBF_ACT_MEMBER_STATE = 1, /* farm, member, state up|offline|drain */
    LBF_ACT_MEMBER_WEIGHT,    /* farm, member, weight 1..100 */
    LBF_ACT_FARM_STATE,       /* farm, state online|offline */
    LBF_ACT_MEMBER_ADD,       /* farm, member, url [weight] */
    LBF_ACT_MEMBER_REMOVE     /* farm, member */
};

/* A parsed administrative POST; strings point into the body passed to
 * lbf_admin_parse (decoded in place). */
struct lbf_admin_req {
    enum lbf_admin_action action;
    const char *nonce;
    const char *farm;
    const char *member;       /* NULL for LBF_ACT_FARM_STATE */
    const char *url;          /* LBF_ACT_MEMBER_ADD only (not normalized) */
    uint32_t state;           /* enum lbf_admin (member or farm state) */
    uint32_t weight;          /* LBF_ACT_MEMBER_WEIGHT, LBF_ACT_MEMBER_ADD */
};

/* Parse and check an application/x-www-form-urlencoded body of len bytes
 * (decoded in place; body[len] must be writable).  Fields: action, nonce,
 * farm, member, state, weight, url; a field the action does not use is
 * ignored, an unknown or repeated field is an error, and so is a value of
 * the wrong shape (names: lbf_name_valid; weight 1..100; url printable
 * ASCII, < LBF_URL_SIZE bytes).  The nonce is only extracted (may be
 * NULL), never checked here.  Returns 0, or -1 with err (errlen bytes)
 * set to "<field>: <problem>". */
int lbf_admin_parse(char *body, size_t len, struct lbf_admin_req *q,
                    char *err, size_t errlen);

#endif /* LBFARM_STATUS_H */
