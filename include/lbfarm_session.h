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
 *     X-LBFarm-Instruction: <action>[;farm=<name>];ts=<unix>;sig=<64 hex>
 *
 *   action: stick | stick-while-up | unstick | move (move needs farm=);
 *   sig = HMAC-SHA256(app key, member name + "|" + every byte before
 *   ";sig="): bound to the member that answered, and to a time window.
 */
#ifndef LBFARM_SESSION_H
#define LBFARM_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "lbfarm_shm.h"

#define LBF_SESS_KEY_LEN    32
#define LBF_SESS_ID_HEX     16
#define LBF_SESS_COOKIE_LEN 62   /* without NUL */
#define LBF_INSTR_MAX       256  /* bytes of an instruction header */

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

/* Find cookie name's value in a Cookie header (NULL-safe); returns a
 * pointer into hdr and its length in *len, or NULL. */
const char *lbf_cookie_find(const char *hdr, const char *name, size_t *len);

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

#endif /* LBFARM_SESSION_H */
