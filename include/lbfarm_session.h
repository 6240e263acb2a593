/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_session.h -- sticky-session cookies and application instructions
 * (pure C core: OpenSSL HMAC, no httpd types).
 *
 * Keys.  A farm's session secret (LBFarmSessionKey) gives two keys:
 *   cookie key = HMAC-SHA256(secret, "lbfarm-cookie")   balancer only
 *   app key    = HMAC-SHA256(secret, "lbfarm-app")      the application's
 * so the application can sign instructions without being able to mint the
 * balancer's session cookies.  Balancers of an HA pair share the secret.
 *
 * Member ids.  A cookie names a member by id = first 8 bytes of
 * HMAC-SHA256(cookie key, "member:" + name), as 16 hex digits: stable
 * across restarts and balancers, and it reveals neither host nor port (it
 * is not a hash of them, and without the key not even of the name).
 *
 * Session cookie value (ASCII, 62 bytes):
 *
 *     1.<mode>.<id 16 hex>.<expiry 8 hex>.<mac 32 hex>
 *
 *   mode: 'w' stick while the member is up, 'a' always this member;
 *   expiry: Unix seconds; mac: first 16 bytes of HMAC-SHA256(cookie key,
 *   farm + "|" + everything before the last '.').  Binding the farm name
 *   means a cookie cannot be transplanted from one farm to another.
 *
 * Instruction header set by the application on a response:
 *
 *     X-LBFarm-Instruction: <action>[;farm=<name>][;ttl=<s>];ts=<unix>;
 *                           sig=<64 hex>        (one line)
 *
 *   action: stick | stick-while-up | unstick | move (move needs farm=);
 *   ttl: optional, seconds the cookie should live (stick, stick-while-up,
 *   move); never longer than the farm's LBFarmSticky ttl;
 *   sig = HMAC-SHA256(app key, member name + "|" + every byte before
 *   ";sig="): bound to the member that answered, and to a time window.
 *
 * Decisions.  Which member a request sticks to, when a cookie is issued,
 * refreshed or cleared, and where move cookies lead are decided here
 * (lbf_sticky_decide, lbf_sess_plan_chosen, lbf_instr_decide,
 * lbf_move_follow); the glue only reads cookies in and writes the
 * Set-Cookie the plan names.  Lifetimes: every cookie lives at most the
 * farm's ttl from the moment it is issued; a session cookie is re-issued
 * (same member, same mode, a full ttl again) once it is past half its
 * ttl, so an active client is not rebalanced when its cookie runs out,
 * and a cookie that claims to live beyond now + ttl (a ttl lowered since
 * it was issued) is re-issued capped.
 */
#ifndef LBFARM_SESSION_H
#define LBFARM_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "lbfarm_shm.h"
#include "lbfarm_method.h"
#include "lbfarm_cookie.h"

#define LBF_SESS_KEY_LEN    32
#define LBF_SESS_ID_HEX     16
#define LBF_SESS_COOKIE_LEN 62   /* without NUL */
#define LBF_INSTR_MAX       256  /* bytes of an instruction header */
#define LBF_INSTR_WINDOW    300  /* seconds an instruction's ts is valid */
#define LBF_SESS_SKEW       60   /* seconds of clock difference between
                                    balancers sharing a secret */
#define LBF_SESS_TTL_MAX    31536000 /* longest ttl, seconds (a year) */
#define LBF_MOVE_HOPS_MAX   32   /* longest chain of moves followed */
#define LBF_STICK_REFUSED   (-2) /* stuck "always" to an unusable member */

enum lbf_sess_mode {
    LBF_STICK_WHILE_UP = 'w',
    LBF_STICK_ALWAYS = 'a'
};

/* Verdicts of lbf_sess_parse; only LBF_SESS_OK may be used. */
enum lbf_sess_rc {
    LBF_SESS_OK = 0,
    LBF_SESS_MALFORMED = 1,   /* not our format (or oversized) */
    LBF_SESS_FORGED = 2,      /* mac does not verify: forged, tampered, or
                                 transplanted from another farm */
    LBF_SESS_EXPIRED = 3
};

struct lbf_sess_keys {
    uint8_t cookie[LBF_SESS_KEY_LEN];
    uint8_t app[LBF_SESS_KEY_LEN];
};

struct lbf_session {
    char mode;                        /* enum lbf_sess_mode */
    char id[LBF_SESS_ID_HEX + 1];     /* member id, hex */
    uint32_t expiry;                  /* Unix seconds */
};

/* Derive the cookie and app keys from a secret of slen bytes. */
void lbf_sess_keys(const uint8_t *secret, size_t slen,
                   struct lbf_sess_keys *k);

/* The id (16 hex + NUL) of member name under k. */
void lbf_sess_member_id(const struct lbf_sess_keys *k, const char *name,
                        char id[LBF_SESS_ID_HEX + 1]);

/* Write the cookie value for (farm, s) into out (>= 64 bytes). */
void lbf_sess_encode(const struct lbf_sess_keys *k, const char *farm,
                     const struct lbf_session *s, char *out, size_t outlen);

/* Parse and verify value[0..len) for farm at now (Unix seconds) under any
 * of nkeys key sets (rotation).  Returns an lbf_sess_rc; *s is set only on
 * LBF_SESS_OK.  Constant-time mac comparison. */
int lbf_sess_parse(const struct lbf_sess_keys *k, int nkeys, const char *farm,
                   const char *value, size_t len, uint32_t now,
                   struct lbf_session *s);

/*
 * Move cookie, set when the application said "move farm=X": later requests
 * that reach farm `from` go to farm X instead.  Value:
 *     2.<to>.<expiry 8 hex>.<mac 32 hex>
 * mac = first 16 bytes of HMAC(cookie key, from + "|" + everything before
 * the last '.').  Returns like lbf_sess_parse; *to receives the target.
 */
void lbf_move_encode(const struct lbf_sess_keys *k, const char *from,
                     const char *to, uint32_t expiry, char *out,
                     size_t outlen);
int lbf_move_parse(const struct lbf_sess_keys *k, int nkeys,
                   const char *from, const char *value, size_t len,
                   uint32_t now, char to[LBF_NAME_SIZE]);

/* ---- application instructions ---- */

enum lbf_instr_action {
    LBF_INSTR_STICK = 1,
    LBF_INSTR_STICK_WHILE_UP = 2,
    LBF_INSTR_UNSTICK = 3,
    LBF_INSTR_MOVE = 4
};

struct lbf_instr {
    int action;                       /* enum lbf_instr_action */
    char farm[LBF_NAME_SIZE];         /* move target */
    uint32_t ttl;                     /* ttl= asked, seconds; 0 = none */
    int64_t ts;
};

/* Parse and verify an instruction header value sent by member for a farm
 * with keys k (nkeys sets), at now (Unix s) within window seconds.
 * Returns 0 and fills *in, or -1 with a reason in err (for the log; never
 * includes the signature). */
int lbf_instr_parse(const struct lbf_sess_keys *k, int nkeys,
                    const char *member, const char *value, uint32_t now,
                    uint32_t window, struct lbf_instr *in, char *err,
                    size_t errlen);

/* Sign an instruction (used by tests and the example application): writes
 * "<text>;sig=<hex>" into out. */
void lbf_instr_sign(const uint8_t app_key[LBF_SESS_KEY_LEN],
                    const char *member, const char *text, char *out,
                    size_t outlen);

/* ---- decisions ---- */

/* A farm's session settings, as the decisions need them (the glue fills
 * one from its configuration; nothing here is kept). */
struct lbf_sess_conf {
    const char *farm;                 /* name: binds the macs */
    const struct lbf_sess_keys *keys; /* nkeys sets; keys[0] signs */
    int nkeys;                        /* 0: no LBFarmSessionKey */
    int sticky;                       /* LBFarmSticky On */
    int instructions;                 /* LBFarmInstructions On */
    uint32_t ttl;                     /* LBFarmSticky ttl=, seconds (> 0) */
};

/* Member lookups over the glue's view of the farm: the member index, or
 * -1.  by_name matches case-insensitively name[0..len). */
struct lbf_sess_lookup {
    int (*by_id)(void *ctx, const char *id);
    int (*by_name)(void *ctx, const char *name, size_t len);
    void *ctx;
};

/* What the request carried (values as read, not NUL-terminated). */
struct lbf_sticky_req {
    const char *cookie;               /* the session cookie, or NULL */
    size_t cookie_len;
    const char *route;                /* the LBFarmRouteCookie value (its
                                         cookie or query parameter), or
                                         NULL */
    size_t route_len;
};

enum lbf_stuck_how {
    LBF_STUCK_NONE = 0,               /* balance as new */
    LBF_STUCK_COOKIE = 1,             /* by a valid session cookie */
    LBF_STUCK_ROUTE = 2               /* by the application's route */
};

struct lbf_sticky {
    int member;        /* member index, -1 (pick one) or LBF_STICK_REFUSED */
    int how;           /* enum lbf_stuck_how */
    int cookie_rc;     /* lbf_sess_rc of the session cookie; -1 when none
                          was considered */
    char mode;         /* of a valid cookie naming a member */
    uint32_t expiry;   /* of that cookie */
    int refresh;       /* 1: stuck by a cookie past half its ttl or beyond
                          now + ttl: re-issue it */
};

/* Decide where the request goes, at pk->now, skipping pk->exclude:
 *  1. a valid session cookie (counted where the farm is sticky or obeys
 *     instructions) naming a member that takes stuck clients: that
 *     member; naming one that does not: LBF_STICK_REFUSED in mode 'a',
 *     else -1 (balance as new) without looking further;
 *  2. else the route value "...<anything>.<member name>" naming a member
 *     that takes stuck clients: that member;
 *  3. else -1.
 * Fills *out.  Reads rows lock-free; takes no lock. */
void lbf_sticky_decide(const struct lbf_sess_conf *c,
                       const struct lbf_sticky_req *rq,
                       const struct lbf_sess_lookup *lk,
                       const struct lbf_pick *pk, struct lbf_sticky *out);

/* 1 when a session cookie of that expiry, seen at now, must be re-issued
 * for a farm of ttl seconds: at or past half its life (expiry - now <=
 * ttl / 2), or claiming more than ttl (+ LBF_SESS_SKEW) from now. */
int lbf_sess_needs_refresh(uint32_t expiry, uint32_t now, uint32_t ttl);

/* The lifetime, in seconds, of a cookie for a farm of ttl seconds when
 * want seconds were asked (0: none asked): min(want, ttl), ttl if 0. */
uint32_t lbf_sess_lifetime(uint32_t ttl, uint32_t want);

/* What Set-Cookie a response must carry. */
enum lbf_plan_kind {
    LBF_PLAN_NONE = 0,
    LBF_PLAN_SESSION = 1,             /* the session cookie */
    LBF_PLAN_CLEAR = 2,               /* delete the session cookie */
    LBF_PLAN_MOVE = 3                 /* the move cookie */
};

struct lbf_cookie_plan {
    int kind;                         /* enum lbf_plan_kind */
    char mode;                        /* SESSION: enum lbf_sess_mode */
    uint32_t max_age;                 /* SESSION, MOVE: seconds, <= ttl */
    char to[LBF_NAME_SIZE];           /* MOVE: the target farm */
};

/* The cookie a request served after decision st must carry: a sticky
 * farm gives a new client (not stuck by a cookie or a route) a 'w'
 * session for ttl; a client stuck by a cookie that needs a refresh gets
 * it re-issued in its own mode for ttl; else none. */
void lbf_sess_plan_chosen(const struct lbf_sess_conf *c,
                          const struct lbf_sticky *st,
                          struct lbf_cookie_plan *p);

/* Decide what the instruction header value (NUL-terminated) sent by
 * member asks for farm c at now: verifies it (lbf_instr_parse, window
 * LBF_INSTR_WINDOW) and plans the cookie: stick -> session 'a', stick-
 * while-up -> session 'w', unstick -> clear, move -> move cookie to a
 * farm farm_known(ctx, name) says exists; lifetimes by lbf_sess_lifetime.
 * Returns 0 with *p, or -1 with the reason in err (for the log: never a
 * signature or key).  Refused when the farm obeys no instructions. */
int lbf_instr_decide(const struct lbf_sess_conf *c, const char *member,
                     const char *value, uint32_t now,
                     int (*farm_known)(void *ctx, const char *name),
                     void *ctx, struct lbf_cookie_plan *p, char *err,
                     size_t errlen);

/* The cookie value plan p needs, for member id (SESSION) at now, into out
 * (>= LBF_NAME_SIZE + 64 bytes): a session or move cookie signed with
 * c->keys[0], or "" for CLEAR.  Returns 0, or -1 (no key, NONE, or out
 * too small). */
int lbf_sess_plan_value(const struct lbf_sess_conf *c,
                        const struct lbf_cookie_plan *p, const char *id,
                        uint32_t now, char *out, size_t outlen);

/* One farm as a move chain sees it. */
struct lbf_move_hop {
    const char *farm;                 /* its name: binds the move mac */
    const struct lbf_sess_keys *keys; /* its session keys (nkeys sets) */
    int nkeys;
    uint32_t ttl;                     /* its LBFarmSticky ttl */
    const char *cookie;               /* its move cookie in the request, or
                                         NULL */
    size_t len;
};

/* Farms by name (case-insensitive) or NULL, and a farm's hop. */
typedef const void *lbf_farm_find_f(void *ctx, const char *name);
typedef void lbf_farm_hop_f(void *ctx, const void *farm,
                            struct lbf_move_hop *hop);

/* Follow the request's move cookies from farm start at now, at most
 * max_hops (capped at LBF_MOVE_HOPS_MAX) hops: each hop needs a valid
 * move cookie of the current farm (not expired, not valid beyond now +
 * its ttl + LBF_SESS_SKEW) naming another existing farm; reaching a farm
 * already passed ends the chain there (A to B to A ends at A).  Returns
 * the farm the request goes to; *forged (may be NULL) counts move cookies
 * whose mac did not verify. */
const void *lbf_move_follow(const void *start, uint32_t now,
                            uint32_t max_hops, lbf_farm_find_f *find,
                            lbf_farm_hop_f *hop, void *ctx, int *forged);

#endif /* LBFARM_SESSION_H */
