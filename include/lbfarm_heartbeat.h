/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_heartbeat.h -- the UDP beats of httpd's mod_heartbeat (pure C
 * core: libc only, no httpd or APR types).
 *
 * A member running stock mod_heartbeat sends, once a second from one of
 * its processes (a mod_watchdog singleton), one UDP datagram to the
 * address of its HeartbeatAddress (multicast 239.0.0.1:27999 by habit,
 * any IPv4 address works):
 *
 *     v=1&ready=N&busy=N
 *
 * (ready: idle worker slots of its scoreboard; busy: slots serving or
 * otherwise occupied).  Nothing identifies the sender but the datagram's
 * source address, and nothing authenticates it: beats are accepted only
 * for farms with LBFarmHeartbeat On, only from the address of a member's
 * URL host, and an address shared by several members (several ports) is
 * ambiguous unless the beat carries port=P (mod_heartbeat does not; other
 * senders may).  The load is busy / (ready + busy), parsed by
 * lbf_push_parse_heartbeat (lbfarm_push.h) exactly as the HTTP form.
 */
#ifndef LBFARM_HEARTBEAT_H
#define LBFARM_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#define LBF_HB_DGRAM_MAX  1000  /* bytes of one datagram (mod_heartbeat
                                   sends < 64; mod_heartmonitor reads up
                                   to 1000) */
#define LBF_HB_IP_MAX     16    /* "255.255.255.255" + NUL */
#define LBF_HB_ADDR_MAX   46    /* INET6_ADDRSTRLEN: a source address */

/* Verdicts of lbf_hb_match. */
enum lbf_hb_match_rc {
    LBF_HB_MATCHED = 0,       /* sel[] marks the member(s) of the beat */
    LBF_HB_NOMEMBER = 1,      /* no candidate at that address (and port) */
    LBF_HB_AMBIGUOUS = 2      /* several ports at that address, and the
                                 beat names none */
};

/* A member that may send beats: the host of its URL and its port. */
struct lbf_hb_cand {
    const char *host;         /* IP literal; a host name never matches */
    uint32_t port;
};

/* Parse LBFarmHeartbeatListen's "A.B.C.D:PORT" (dotted-quad IPv4, port
 * 1..65535) into ip (NUL-terminated, canonical form) and *port; *multicast
 * is 1 for 224.0.0.0/4.  Returns 0, or -1 with a message quoting spec in
 * err (always NUL-terminated, errlen > 0). */
int lbf_hb_parse_listen(const char *spec, char ip[LBF_HB_IP_MAX],
                        uint16_t *port, int *multicast, char *err,
                        size_t errlen);

/* Validate one datagram of len bytes (not NUL-terminated) and parse it:
 * 1..LBF_HB_DGRAM_MAX bytes of printable ASCII (a trailing "\n" or "\r\n"
 * is dropped), then lbf_push_parse_heartbeat.  Returns LBF_PUSH_OK with
 * the load in thousandths and the port= field (0: absent), or
 * LBF_PUSH_EBAD with a message in err. */
int lbf_hb_datagram(const void *buf, size_t len, uint32_t *load_milli,
                    uint32_t *port, char *err, size_t errlen);

/* 1 when the IP literals a and b (IPv4 or IPv6, an IPv4-mapped IPv6
 * address equals its IPv4 one) name the same address, else 0 (a host name
 * or garbage never equals anything). */
int lbf_hb_same_addr(const char *a, const char *b);

/* Which of the n candidates c[] sent a beat from address src naming port
 * (0: none).  Candidates at src whose port is port (any port when 0) are
 * the matches; when they have more than one distinct port the beat is
 * ambiguous.  On LBF_HB_MATCHED sel[i] is 1 for every match (the same
 * server may be a member of several farms) and 0 for the others; sel is
 * left as zeros otherwise.  Returns an lbf_hb_match_rc. */
int lbf_hb_match(const struct lbf_hb_cand *c, size_t n, const char *src,
                 uint32_t port, unsigned char *sel);

/* Name of an lbf_hb_match_rc, for logs: "matched", "no member at this
 * address", "ambiguous". */
const char *lbf_hb_match_text(int rc);

#endif /* LBFARM_HEARTBEAT_H */
