/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_session.c -- sticky sessions, moves between farms and the
 * application's signed instructions, in farm mode.  Formats, keys and
 * every decision (which member a session stays on, when a cookie is
 * issued, refreshed or cleared, where moves lead, what an instruction
 * does) live in the core (lbfarm_session.c); this file only translates:
 * it reads cookies and headers in, hands them to the core, writes the
 * Set-Cookie the core's plan names (through the one builder,
 * lbf_cookie_header), logs, and strips X-LBFarm-Instruction from member
 * responses in an output filter so that no client ever sees it.
 */
#include "apr_strings.h"
#include "apr_file_io.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <stdatomic.h>

#include "mod_lbfarm_session.h"
#include "mod_lbfarm_cookie.h"
#include "mod_lbfarm_log.h"
#include "mod_lbfarm_names.h"
#include "lbfarm_conf.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_INSTR_HEADER  "X-LBFarm-Instruction"
#define LBF_FILTER_NAME   "LBFARM_SESSION"
#define LBF_STICKY_NOTE   "lbfarm-sticky" /* r->pool userdata: the
                                             decision of lbf_sess_sticky */
#define LBF_LOG_EVERY     apr_time_from_sec(1)

/* ------------------------------------------------------------------ */
/* Directives                                                          */

const char *lbf_cmd_session_key(cmd_parms *cmd, void *dc LBF_UNUSED,
                                const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    struct lbf_farm_conf *fc;
    char buf[1100], *line, *last;
    apr_file_t *f;
    apr_size_t n = sizeof(buf) - 1;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT,
                      cmd->temp_pool) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "LBFarmSessionKey: cannot read \"%s\"",
                            path);
    }
    apr_file_read(f, buf, &n);
    apr_file_close(f);
    buf[n] = '\0';
    fc->nskeys = 0;
    for (line = apr_strtok(buf, "\r\n", &last); line;
         line = apr_strtok(NULL, "\r\n", &last)) {
        if (*line == '#') {
            continue;
        }
        if (strlen(line) < 16 || fc->nskeys == LBF_PUSH_KEYS_MAX) {
            memset(buf, 0, sizeof(buf));
            return apr_psprintf(cmd->pool, "LBFarmSessionKey: \"%s\" must "
                                "hold one or two secrets of at least 16 "
                                "characters, one per line", path);
        }
        lbf_sess_keys((const uint8_t *)line, strlen(line),
                      &fc->skeys[fc->nskeys++]);
    }
    memset(buf, 0, sizeof(buf));
    return fc->nskeys ? NULL : apr_psprintf(cmd->pool, "LBFarmSessionKey: "
                                            "\"%s\" holds no secret", path);
}

/* One option of LBFarmSticky into fc; an error message or NULL. */
static const char *lbf_sticky_option(cmd_parms *cmd, struct lbf_farm_conf *fc,
                                     const char *w)
{
    uint32_t ttl;
    int ss;

    if (!strncasecmp(w, "ttl=", 4)
        && lbf_parse_uint(w + 4, 1, LBF_SESS_TTL_MAX, &ttl) == 0) {
        fc->sticky_ttl = apr_time_from_sec(ttl);
    }
    else if (!strncasecmp(w, "cookie=", 7) && lbf_name_valid(w + 7)) {
        fc->cookie = w + 7;
    }
    else if (!strncasecmp(w, "samesite=", 9)
             && (ss = lbf_cookie_samesite_parse(w + 9)) >= 0) {
        fc->cookie_pol.samesite = ss;
    }
    else if (!strcasecmp(w, "secure=always") || !strcasecmp(w, "secure=on")) {
        fc->cookie_pol.secure = LBF_SECURE_ALWAYS;
    }
    else if (!strcasecmp(w, "secure=auto")) {
        fc->cookie_pol.secure = LBF_SECURE_TLS;
    }
    else {
        return apr_psprintf(cmd->pool, "LBFarmSticky: invalid option \"%s\" "
                            "(ttl=1..%u, cookie=NAME, samesite=Lax|Strict|"
                            "None, secure=auto|always)", w, LBF_SESS_TTL_MAX);
    }
    return NULL;
}

/* LBFarmSticky On|Off [ttl=SECONDS] [cookie=NAME] [samesite=Lax|Strict|None]
 * [secure=auto|always] */
const char *lbf_cmd_sticky(cmd_parms *cmd, void *dc LBF_UNUSED,
                           const char *args)
{
    const char *err, *w;
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    w = ap_getword_conf(cmd->pool, &args);
    if (strcasecmp(w, "on") && strcasecmp(w, "off")) {
        return "LBFarmSticky: expected On or Off, then ttl=S, cookie=NAME, "
               "samesite=Lax|Strict|None, secure=auto|always";
    }
    fc->sticky = !strcasecmp(w, "on");
    while (*(w = ap_getword_conf(cmd->pool, &args))) {
        if ((err = lbf_sticky_option(cmd, fc, w)) != NULL) {
            return err;
        }
    }
    return NULL;
}

const char *lbf_cmd_route_cookie(cmd_parms *cmd, void *dc LBF_UNUSED,
                                 const char *arg)
{
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (!lbf_name_valid(arg)) {
        return apr_psprintf(cmd->pool, "LBFarmRouteCookie: invalid cookie "
                            "name \"%s\"", arg);
    }
    fc->route_cookie = arg;
    return NULL;
}

const char *lbf_cmd_instructions(cmd_parms *cmd, void *dc LBF_UNUSED, int on)
{
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    fc->instructions = on;
    return NULL;
}

/* Member ids and cookie names of farm fc (post_config). */
void lbf_sess_farm_setup(apr_pool_t *p, struct lbf_farm_conf *fc)
{
    int i;

    if (fc->cookie == NULL) {
        fc->cookie = apr_pstrcat(p, "lbf_", fc->name, NULL);
    }
    fc->move_cookie = apr_pstrcat(p, "lbfmv_", fc->name, NULL);
    if (fc->sticky_ttl == 0) {
        fc->sticky_ttl = apr_time_from_sec(3600);
    }
    for (i = 0; i < fc->members->nelts; i++) {
        lbf_sess_member_setup(fc, &APR_ARRAY_IDX(fc->members, i,
                                                 struct lbf_member_conf));
    }
}

void lbf_sess_member_setup(struct lbf_farm_conf *fc,
                           struct lbf_member_conf *mc)
{
    if (fc->nskeys) {
        lbf_sess_member_id(&fc->skeys[0], mc->name, mc->sess_id);
    }
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

/* Value of cookie name in the request, or NULL; *len its length. */
static const char *lbf_req_cookie(request_rec *r, const char *name,
                                  size_t *len)
{
    const char *h = apr_table_get(r->headers_in, "Cookie");

    return h ? lbf_cookie_find(h, name, len) : NULL;
}

/* The core's view of fc's session settings. */
static void lbf_sess_conf_of(const struct lbf_farm_conf *fc,
                             struct lbf_sess_conf *c)
{
    c->farm = fc->name;
    c->keys = fc->skeys;
    c->nkeys = fc->nskeys;
    c->sticky = fc->sticky;
    c->instructions = fc->instructions;
    c->ttl = (uint32_t)apr_time_sec(fc->sticky_ttl);
}

static uint32_t lbf_now_sec(void)
{
    return (uint32_t)apr_time_sec(apr_time_now());
}

/* lbf_farm_find_f / lbf_farm_hop_f over the configured farms; ctx: r. */
static const void *lbf_move_find(void *ctx LBF_UNUSED, const char *name)
{
    return lbf_farm_by_name(name, strlen(name));
}

static void lbf_move_hop(void *ctx, const void *farm,
                         struct lbf_move_hop *hop)
{
    const struct lbf_farm_conf *fc = farm;

    hop->farm = fc->name;
    hop->keys = fc->skeys;
    hop->nkeys = fc->nskeys;
    hop->ttl = (uint32_t)apr_time_sec(fc->sticky_ttl);
    hop->cookie = fc->nskeys ? lbf_req_cookie(ctx, fc->move_cookie,
                                              &hop->len)
                             : NULL;
}

/* The farm request r goes to when it reached fc: the end of the chain of
 * its valid move cookies (lbf_move_follow decides).  Logs forged move
 * cookies (LBF00302, rate-limited).  Takes no lock. */
struct lbf_farm_conf *lbf_sess_route_farm(request_rec *r,
                                          struct lbf_farm_conf *fc)
{
    int forged = 0;
    const void *to = lbf_move_follow(fc, lbf_now_sec(),
                                     (uint32_t)lbf_global_get()->farms->nelts,
                                     lbf_move_find, lbf_move_hop, r, &forged);

    if (forged) {
        LBF_LOG_LIMITED(r, APLOG_WARNING, LBF_LOG_EVERY, "LBF00302: farm %s: "
                        "%d forged move cookie(s) ignored (mac does not "
                        "verify)", fc->name, forged);
    }
    return (struct lbf_farm_conf *)to;
}

/* struct lbf_sess_lookup over fc (ctx): members by session id (a scan:
 * only after a cookie's mac verified) and by name (the O(1) index). */
static int lbf_lookup_id(void *ctx, const char *id)
{
    struct lbf_member_conf *mc;
    uint32_t i = 0;

    while ((mc = lbf_member_next(ctx, &i)) != NULL) {
        if (!strcmp(mc->sess_id, id)) {
            return (int)mc->index;
        }
    }
    return -1;
}

static int lbf_lookup_name(void *ctx, const char *name, size_t len)
{
    return lbf_member_named(ctx, name, len);
}

/* The application's route value (LBFarmRouteCookie's cookie, else its
 * query parameter), or NULL. */
static const char *lbf_route_value(request_rec *r,
                                   const struct lbf_farm_conf *fc,
                                   size_t *len)
{
    const char *v;

    if (fc->route_cookie == NULL) {
        return NULL;
    }
    if ((v = lbf_req_cookie(r, fc->route_cookie, len)) != NULL) {
        return v;
    }
    return lbf_query_find(r->args, fc->route_cookie, len);
}

/* The member of fc that r is stuck to at pk (lbf_sticky_decide decides
 * from its session cookie and route value): its index, -1 (pick one) or
 * LBF_STICK_REFUSED.  Keeps the decision in r->pool for lbf_sess_chosen;
 * logs a forged session cookie (LBF00301, rate-limited).  Reads rows
 * lock-free; may take the runtime-member mutex (lbf_member_conf_at). */
int lbf_sess_sticky(request_rec *r, struct lbf_farm_conf *fc,
                    const struct lbf_pick *pk)
{
    struct lbf_sticky *st = apr_palloc(r->pool, sizeof(*st));
    struct lbf_sess_lookup lk = {lbf_lookup_id, lbf_lookup_name, fc};
    struct lbf_sticky_req rq;
    struct lbf_sess_conf c;

    memset(&rq, 0, sizeof(rq));
    lbf_sess_conf_of(fc, &c);
    rq.cookie = lbf_req_cookie(r, fc->cookie, &rq.cookie_len);
    rq.route = lbf_route_value(r, fc, &rq.route_len);
    lbf_sticky_decide(&c, &rq, &lk, pk, st);
    if (st->cookie_rc == LBF_SESS_FORGED) {
        LBF_LOG_LIMITED(r, APLOG_WARNING, LBF_LOG_EVERY, "LBF00301: farm %s: "
                        "forged session cookie %s ignored (mac does not "
                        "verify)", fc->name, fc->cookie);
    }
    apr_pool_userdata_setn(st, LBF_STICKY_NOTE, NULL, r->pool);
    return st->member;
}

/* The Set-Cookie that plan p asks for member mi of fc, or NULL. */
static const char *lbf_plan_cookie(request_rec *r, struct lbf_farm_conf *fc,
                                   uint32_t mi,
                                   const struct lbf_cookie_plan *p)
{
    struct lbf_member_conf *mc = lbf_member_conf_at(fc, mi);
    char val[LBF_NAME_SIZE + 64];
    struct lbf_sess_conf c;

    lbf_sess_conf_of(fc, &c);
    if (p->kind == LBF_PLAN_NONE
        || lbf_sess_plan_value(&c, p, mc ? mc->sess_id : NULL,
                               (uint32_t)apr_time_sec(r->request_time), val,
                               sizeof(val)) != 0) {
        return NULL;
    }
    return lbf_cookie_header(r, &fc->cookie_pol,
                             p->kind == LBF_PLAN_MOVE ? fc->move_cookie
                                                      : fc->cookie, val,
                             p->kind == LBF_PLAN_CLEAR ? 0 : p->max_age);
}

/* Member mi of fc serves r (stuck: lbf_sess_sticky chose it): plan the
 * response's Set-Cookie from the kept decision (a new session, a
 * refresh, or none; lbf_sess_plan_chosen decides), and add the output
 * filter that strips and obeys instructions.  Takes no lock. */
void lbf_sess_chosen(request_rec *r, struct lbf_req *q,
                     struct lbf_farm_conf *fc, int mi, int stuck)
{
    struct lbf_sticky fallback, *st = NULL;
    struct lbf_cookie_plan p;
    struct lbf_sess_conf c;
    void *note = NULL;

    apr_pool_userdata_get(&note, LBF_STICKY_NOTE, r->pool);
    if ((st = note) == NULL || (st->member != mi && st->member >= 0)) {
        memset(&fallback, 0, sizeof(fallback)); /* not stuck, or by route */
        fallback.member = mi;
        fallback.how = stuck ? LBF_STUCK_ROUTE : LBF_STUCK_NONE;
        st = &fallback;
    }
    else if (st->member < 0) {
        st->member = mi; /* picked: the cookie did not decide */
    }
    lbf_sess_conf_of(fc, &c);
    lbf_sess_plan_chosen(&c, st, &p);
    q->fc = fc;
    q->set_cookie = lbf_plan_cookie(r, fc, (uint32_t)mi, &p);
    if (!q->filter_added) {
        ap_add_output_filter(LBF_FILTER_NAME, q, r, r->connection);
        q->filter_added = 1;
    }
}

/* lbf_instr_decide's farm_known: a configured farm. */
static int lbf_farm_known(void *ctx LBF_UNUSED, const char *name)
{
    return lbf_farm_by_name(name, strlen(name)) != NULL;
}

/* Strip the instruction headers of r's response; obey a valid one (its
 * cookie replaces the one planned when the member was chosen). */
static void lbf_instructions(request_rec *r, struct lbf_req *q)
{
    const char *v = apr_table_get(r->headers_out, LBF_INSTR_HEADER);
    struct lbf_member_conf *mc;
    struct lbf_cookie_plan p;
    struct lbf_sess_conf c;
    char err[96];

    if (v == NULL) {
        v = apr_table_get(r->err_headers_out, LBF_INSTR_HEADER);
    }
    apr_table_unset(r->headers_out, LBF_INSTR_HEADER);
    apr_table_unset(r->err_headers_out, LBF_INSTR_HEADER);
    if (v == NULL || q->fc == NULL
        || (mc = lbf_member_conf_at(q->fc, q->member)) == NULL) {
        return;
    }
    lbf_sess_conf_of(q->fc, &c);
    if (lbf_instr_decide(&c, mc->name, v, lbf_now_sec(), lbf_farm_known,
                         NULL, &p, err, sizeof(err)) != 0) {
        LBF_LOG_LIMITED(r, APLOG_WARNING, LBF_LOG_EVERY, "LBF00050: dropped "
                        "an instruction from member %s: %s", mc->name, err);
        return;
    }
    q->set_cookie = lbf_plan_cookie(r, q->fc, q->member, &p);
}

/* Output filter: runs once, before the headers go out. */
static apr_status_t lbf_session_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    struct lbf_req *q = f->ctx;

    lbf_instructions(f->r, q);
    if (q->set_cookie != NULL) {
        apr_table_add(f->r->err_headers_out, "Set-Cookie", q->set_cookie);
    }
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

void lbf_sess_register_hooks(apr_pool_t *p LBF_UNUSED)
{
    ap_register_output_filter(LBF_FILTER_NAME, lbf_session_filter, NULL,
                              AP_FTYPE_CONTENT_SET);
}
