/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_heartbeat.c -- libFuzzer target for mod_heartbeat's UDP beats
 * (lbfarm_heartbeat.h).  Every input is used three ways:
 *
 *  1. as one datagram, the exact bytes (no NUL added, so ASan sees a read
 *     past the end), through lbf_hb_datagram: a success needs 1..1000
 *     bytes of printable ASCII (plus an optional trailing "\n" or "\r\n")
 *     and must equal lbf_push_parse_heartbeat on the stripped bytes, with
 *     load <= 1000 and port <= 65535; then lbf_push_apply_load on a small
 *     segment (restored before every input) writes exactly that load and
 *     the burst ends on the rate limit;
 *  2. as LBFarmHeartbeatListen's argument (a C string, cut at the first
 *     NUL): a success gives a canonical dotted quad that inet_pton reads,
 *     a port 1..65535, multicast exactly for 224.0.0.0/4, and its own
 *     "ip:port" parses back to the same; a failure quotes nothing past
 *     the message buffer;
 *  3. as a source address (first line) and members "host port" (the next
 *     lines, at most 16): lbf_hb_match must agree with a reference written
 *     here from the header's rule (same address, port when named, one
 *     distinct port or ambiguous).
 *
 * err is always NUL-terminated within errlen and printable.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbfarm_heartbeat.h"
#include "lbfarm_method.h"
#include "lbfarm_push.h"

#include "fz_check.h"

#define FZ_CANDS 16
#define FZ_NOW 1700000000000000ull

static const struct lbf_push_policy fz_policy = {
    .window_sec = 30, .rate_per_sec = 5, .burst = 3};

static struct lbf_shm fz_h;
static struct lbf_farm *fz_farm;
static unsigned char *fz_pristine;
static size_t fz_len;

/* Format once: farm "hb" (pushed-metric) of two members. */
static void fz_init(void)
{
    struct lbf_layout lay;
    void *base;

    memset(&lay, 0, sizeof(lay));
    lay.l_farms = 1;
    lay.l_rows = 2;
    lay.sched_len = lbf_sched_entries(2);
    lay.generation = 1;
    fz_len = lbf_shm_size(&lay);
    base = aligned_alloc(64, (fz_len + 63) / 64 * 64);
    fz_pristine = malloc(fz_len);
    FZ_CHECK(base != NULL && fz_pristine != NULL);
    memset(base, 0, fz_len);
    FZ_CHECK(lbf_shm_format(&fz_h, base, fz_len, &lay) == LBF_OK);
    FZ_CHECK(lbf_farm_add(&fz_h, "hb",
                          (uint32_t)lbf_method_find("pushed-metric"), 2)
             == 0);
    FZ_CHECK(lbf_member_add(&fz_h, 0, "h0", 1, 0, 60) == 0);
    FZ_CHECK(lbf_member_add(&fz_h, 0, "h1", 1, 0, 60) == 1);
    fz_farm = lbf_farm_at(&fz_h, 0);
    FZ_CHECK(lbf_farm_rebuild(&fz_h, fz_farm) == LBF_OK);
    fz_farm->expiry_ms = 15000;
    memcpy(fz_pristine, base, fz_len);
}

static void fz_check_err(const char *err, size_t errlen)
{
    const char *end = memchr(err, '\0', errlen);
    const char *p;

    FZ_CHECK(end != NULL);
    for (p = err; p < end; p++) {
        FZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e);
    }
}

/* 1. One datagram. */
static void fz_datagram(const uint8_t *data, size_t size)
{
    uint32_t load = 7777, port = 7777, load2, port2;
    char err[160], err2[160];
    size_t n = size, i;
    int rc = lbf_hb_datagram(data, size, &load, &port, err, sizeof(err));
    struct lbf_row *r;

    fz_check_err(err, sizeof(err));
    if (rc != LBF_PUSH_OK) {
        FZ_CHECK(rc == LBF_PUSH_EBAD && err[0] != '\0');
        return;
    }
    FZ_CHECK(err[0] == '\0' && load <= 1000 && port <= 65535);
    FZ_CHECK(size <= LBF_HB_DGRAM_MAX);
    if (n > 0 && data[n - 1] == '\n') {
        n -= (n > 1 && data[n - 2] == '\r') ? 2 : 1;
    }
    FZ_CHECK(n > 0);
    for (i = 0; i < n; i++) {
        FZ_CHECK(data[i] > 0x20 && data[i] < 0x7f);
    }
    FZ_CHECK(lbf_push_parse_heartbeat((const char *)data, n, &load2, &port2,
                                      err2, sizeof(err2)) == LBF_PUSH_OK);
    FZ_CHECK(load2 == load && port2 == port);
    /* the receiver's apply: exactly this load, then the rate limit */
    memcpy(fz_h.base, fz_pristine, fz_len);
    r = lbf_member_at(&fz_h, fz_farm, port % 2);
    for (i = 0; i < fz_policy.burst; i++) {
        FZ_CHECK(lbf_push_apply_load(&fz_h, r, (uint32_t)getpid(), load,
                                     FZ_NOW, &fz_policy) == LBF_PUSH_OK);
    }
    FZ_CHECK(atomic_load(&r->load_milli) == load);
    FZ_CHECK(atomic_load(&r->load_ts) == FZ_NOW);
    FZ_CHECK(lbf_push_apply_load(&fz_h, r, (uint32_t)getpid(), 0, FZ_NOW,
                                 &fz_policy) == LBF_PUSH_ERATE);
    FZ_CHECK(atomic_load(&r->load_milli) == load);
    FZ_CHECK(atomic_load(&r->requests) == 0);
}

/* 2. LBFarmHeartbeatListen's argument. */
static void fz_listen(const uint8_t *data, size_t size)
{
    char spec[80], ip[LBF_HB_IP_MAX], ip2[LBF_HB_IP_MAX], again[40];
    char err[200];
    uint16_t port = 0, port2 = 0;
    int mc = -1, mc2 = -1;
    struct in_addr a;
    size_t n = size < sizeof(spec) - 1 ? size : sizeof(spec) - 1;

    memcpy(spec, data, n);
    spec[n] = '\0';
    if (lbf_hb_parse_listen(spec, ip, &port, &mc, err, sizeof(err)) != 0) {
        fz_check_err(err, sizeof(err));
        FZ_CHECK(err[0] != '\0');
        return;
    }
    FZ_CHECK(err[0] == '\0' && port >= 1);
    FZ_CHECK(inet_pton(AF_INET, ip, &a) == 1);
    FZ_CHECK(mc == ((ntohl(a.s_addr) >> 28) == 0xe));
    FZ_CHECK(strchr(spec, ':') != NULL);
    snprintf(again, sizeof(again), "%s:%u", ip, (unsigned)port);
    FZ_CHECK(lbf_hb_parse_listen(again, ip2, &port2, &mc2, err,
                                 sizeof(err)) == 0);
    FZ_CHECK(strcmp(ip, ip2) == 0 && port == port2 && mc == mc2);
}

/* 3. Source and candidates, against a reference of the rule. */
static void fz_match(const uint8_t *data, size_t size)
{
    char buf[1024], *line, *save = NULL;
    struct lbf_hb_cand c[FZ_CANDS];
    unsigned char sel[FZ_CANDS];
    const char *src;
    uint32_t port, want_port = 0;
    size_t n = 0, i, hits = 0;
    int rc, ambiguous = 0, want;
    size_t len = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;

    memcpy(buf, data, len);
    buf[len] = '\0';
    if ((line = strtok_r(buf, "\n", &save)) == NULL) {
        return;
    }
    src = line;
    port = (uint32_t)(len % 3 == 0 ? 0 : len % 70000);
    while (n < FZ_CANDS && (line = strtok_r(NULL, "\n", &save)) != NULL) {
        char *sp = strchr(line, ' ');

        c[n].port = sp ? (uint32_t)strtoul(sp + 1, NULL, 10) : 80;
        if (sp) {
            *sp = '\0';
        }
        c[n++].host = line;
    }
    rc = lbf_hb_match(c, n, src, port, sel);
    for (i = 0; i < n; i++) {
        if (lbf_hb_same_addr(c[i].host, src)
            && (port == 0 || c[i].port == port)) {
            ambiguous |= hits > 0 && c[i].port != want_port;
            want_port = c[i].port;
            hits++;
        }
    }
    want = hits == 0 ? LBF_HB_NOMEMBER
         : ambiguous ? LBF_HB_AMBIGUOUS : LBF_HB_MATCHED;
    FZ_CHECK(rc == want);
    FZ_CHECK(rc != LBF_HB_AMBIGUOUS || port == 0);
    for (i = 0; i < n; i++) {
        int is = rc == LBF_HB_MATCHED && lbf_hb_same_addr(c[i].host, src)
                 && (port == 0 || c[i].port == port);

        FZ_CHECK(sel[i] == is);
    }
    FZ_CHECK(strlen(lbf_hb_match_text(rc)) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_pristine == NULL) {
        fz_init();
    }
    fz_datagram(data, size);
    fz_listen(data, size);
    fz_match(data, size);
    return 0;
}
