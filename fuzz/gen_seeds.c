/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * gen_seeds.c -- writes the signed seeds of fuzz/corpus/{session,instr,
 * route}/ (cookies and instructions signed with the targets' fixed test
 * secrets, which no fuzzer could forge).  Not part of any build:
 *
 *   cc -std=gnu11 -I. -Iinclude -o build/gen_seeds fuzz/gen_seeds.c \
 *       lbfarm_*.c -lcrypto && build/gen_seeds
 *
 * (from the top directory; it writes seed-*.txt files, overwriting).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfarm_session.h"

#define NOW 1700000000u

static void put(const char *target, const char *name, const char *flag,
                const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "fuzz/corpus/%s/seed-%s.txt", target, name);
    if ((f = fopen(path, "w")) == NULL) {
        perror(path);
        exit(1);
    }
    fprintf(f, "%s%s", flag, text);
    fclose(f);
}

static void keys(const char *secret, struct lbf_sess_keys *k)
{
    lbf_sess_keys((const uint8_t *)secret, strlen(secret), k);
}

static void sess(const struct lbf_sess_keys *k, const char *member, char mode,
                 uint32_t exp, char out[64])
{
    struct lbf_session s;

    s.mode = mode;
    lbf_sess_member_id(k, member, s.id);
    s.expiry = exp;
    lbf_sess_encode(k, "web", &s, out, 64);
}

static void session_seeds(void)
{
    struct lbf_sess_keys k0, k1;
    char c[64], m[LBF_NAME_SIZE + 64], hdr[512];

    keys("fuzz-session-secret-0123456789", &k0);
    keys("fuzz-session-secret-rotated-out", &k1);
    sess(&k0, "m0", 'w', NOW + 3600, c);
    put("session", "sess-w", "", c);
    sess(&k1, "m1", 'a', NOW + 60, c);
    put("session", "sess-a-rotated", "", c);
    sess(&k0, "m1", 'a', NOW - 1, c);
    put("session", "sess-expired", "", c);
    lbf_move_encode(&k0, "web", "shop", NOW + 600, m, sizeof(m));
    put("session", "move", "", m);
    lbf_move_encode(&k1, "web", "A_farm-with-a-31-character-name", NOW + 1,
                    m, sizeof(m));
    put("session", "move-long", "", m);
    sess(&k0, "m0", 'w', NOW + 3600, c);
    snprintf(hdr, sizeof(hdr), "a=1; lbf_web=%s ; ROUTEID=x.m1;lbfmv_web=%s",
             c, m);
    put("session", "header", "", hdr);
}

static void instr_seeds(void)
{
    static const char *texts[][2] = {
        {"stick", "stick;ts=1700000000"},
        {"while-up", "stick-while-up;ttl=60;ts=1700000100"},
        {"unstick", "unstick;ts=1699999800"},
        {"move", "move;farm=shop;ts=1700000000"},
        {"move-ttl", "move;farm=web;ttl=7200;ts=1700000299"},
    };
    struct lbf_sess_keys k0, k1;
    char v[LBF_INSTR_MAX + 80], name[64];
    size_t i;

    keys("fuzz-instr-secret-0123456789", &k0);
    keys("fuzz-instr-secret-rotated-out", &k1);
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        put("instr", texts[i][0], "", texts[i][1]);
        lbf_instr_sign(i & 1 ? k1.app : k0.app, "app1", texts[i][1], v,
                       sizeof(v));
        snprintf(name, sizeof(name), "%s-signed", texts[i][0]);
        put("instr", name, "", v);
    }
}

static void route_seeds(void)
{
    struct lbf_sess_keys k;
    char c[64], hdr[256];

    keys("fuzz-session-secret-0123456789", &k);
    sess(&k, "m0", 'w', NOW + 3600, c);
    snprintf(hdr, sizeof(hdr), "lbf_web=%s; ROUTEID=abc.m1", c);
    put("route", "sticky-m0", "\x01", hdr);
    sess(&k, "m2", 'a', NOW + 3600, c);
    snprintf(hdr, sizeof(hdr), "lbf_web=%s", c);
    put("route", "always-offline", "\x03", hdr);
    sess(&k, "m1", 'w', NOW + 100, c);
    snprintf(hdr, sizeof(hdr), "x=y; lbf_web=%s", c);
    put("route", "refresh-m1", "\x01", hdr);
    put("route", "route-only", "\x01", "ROUTEID=session.xyz.M0");
    put("route", "route-excluded", "\x11", "ROUTEID=.m1; lbf_web=junk");
}

int main(void)
{
    session_seeds();
    instr_seeds();
    route_seeds();
    return 0;
}
