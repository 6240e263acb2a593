/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_session.c -- sticky sessions, moves between farms and the
 * application's signed instructions, in farm mode.  Formats and keys live
 * in the core (lbfarm_session.c); this file reads cookies, writes
 * Set-Cookie, and strips X-LBFarm-Instruction from member responses in an
 * output filter so that no client ever sees it.
 */
#include "apr_strings.h"
#include "apr_file_io.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <stdatomic.h>

#include "mod_lbfarm_session.h"
#include "lbfarm_conf.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_INSTR_HEADER  "X-LBFarm-Instruction"
#define LBF_INSTR_WINDOW  300        /* seconds an instruction is valid */
#define LBF_FILTER_NAME   "LBFARM_SESSION"

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

/* LBFarmSticky On|Off [ttl=SECONDS] [cookie=NAME] */
const char *lbf_cmd_sticky(cmd_parms *cmd, void *dc LBF_UNUSED,
                           const char *args)
{
    const char *w;
    struct lbf_farm_conf *fc;
    uint32_t ttl;

    LBF_FARM_OR_RETURN(cmd, fc);
    w = ap_getword_conf(cmd->pool, &args);
    if (strcasecmp(w, "on") && strcasecmp(w, "off")) {
        return "LBFarmSticky: expected On or Off, then ttl=S, cookie=NAME";
    }
    fc->sticky = !strcasecmp(w, "on");
    while (*(w = ap_getword_conf(cmd->pool, &args))) {
        if (!strncasecmp(w, "ttl=", 4)
            && lbf_parse_uint(w + 4, 1, 31536000, &ttl) == 0) {
            fc->sticky_ttl = apr_time_from_sec(ttl);
        }
        else if (!strncasecmp(w, "cookie=", 7) && lbf_name_valid(w + 7)) {
            fc->cookie = w + 7;
        }
        else {
            return apr_psprintf(cmd->pool, "LBFarmSticky: invalid option "
                                "\"%s\" (ttl=1..31536000, cookie=NAME)", w);
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
    fc->route_param = apr_pstrcat(cmd->pool, arg, "=", NULL);
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

/* The member whose session id is id, or NULL. */
static struct lbf_member_conf *lbf_member_by_id(struct lbf_farm_conf *fc,
                                                const char *id)
{
    struct lbf_member_conf *mc;
    uint32_t i = 0;

    while ((mc = lbf_member_next(fc, &i)) != NULL) {
        if (!strcmp(mc->sess_id, id)) {
            return mc;
        }
    }
    return NULL;
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

static struct lbf_farm_conf *lbf_farm_named(const char *name)
{
    char key[LBF_NAME_SIZE];

    apr_cpystrn(key, name, sizeof(key));
    ap_str_tolower(key);
    return apr_hash_get(lbf_global_get()->by_name, key, APR_HASH_KEY_STRING);
}

struct lbf_farm_conf *lbf_sess_route_farm(request_rec *r,
                                          struct lbf_farm_conf *fc)
{
    struct lbf_global *g = lbf_global_get();
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    apr_hash_t *seen = NULL; /* made on the first move followed */
    int hops;

    /* each hop follows a valid move cookie, at most as many hops as there
     * are farms; reaching a farm already passed ends the chain there, so
     * A to B to A comes back to A */
    for (hops = 0; hops < g->farms->nelts && fc->nskeys; hops++) {
        char to[LBF_NAME_SIZE];
        struct lbf_farm_conf *next;
        size_t len;
        const char *v = lbf_req_cookie(r, fc->move_cookie, &len);

        if (v == NULL || lbf_move_parse(fc->skeys, fc->nskeys, fc->name, v,
                                        len, now, to) != LBF_SESS_OK
            || (next = lbf_farm_named(to)) == NULL || next == fc) {
            break;
        }
        if (seen == NULL) {
            seen = apr_hash_make(r->pool);
        }
        apr_hash_set(seen, fc->name, APR_HASH_KEY_STRING, fc);
        fc = next;
        if (apr_hash_get(seen, fc->name, APR_HASH_KEY_STRING) != NULL) {
            break;
        }
    }
    return fc;
}

/* The member named by the application's own session cookie or parameter
 * ("...<anything>.<member name>"), or -1. */
static int lbf_route_member(request_rec *r, struct lbf_farm_conf *fc)
{
    const char *v = NULL, *dot;
    struct lbf_member_conf *mc;
    size_t len = 0;
    uint32_t i = 0;

    if (fc->route_cookie == NULL) {
        return -1;
    }
    v = lbf_req_cookie(r, fc->route_cookie, &len);
    if (v == NULL && r->args) {
        const char *pat = fc->route_param;
        const char *a = ap_strstr_c(r->args, pat);

        if (a && (a == r->args || a[-1] == '&')) {
            v = a + strlen(pat);
            len = strcspn(v, "&");
        }
    }
    for (dot = v ? v + len : NULL; dot && dot > v && dot[-1] != '.'; dot--) {
        continue;
    }
    while (dot && dot > v && (mc = lbf_member_next(fc, &i)) != NULL) {
        if (strlen(mc->name) == (size_t)(v + len - dot)
            && !strncasecmp(mc->name, dot, strlen(mc->name))) {
            return (int)mc->index;
        }
    }
    return -1;
}

int lbf_sess_sticky(request_rec *r, struct lbf_farm_conf *fc,
                    const struct lbf_pick *pk)
{
    struct lbf_member_conf *mc = NULL;
    struct lbf_session s;
    const char *v;
    size_t len;
    int mi;

    /* a session cookie counts where the balancer issues them (sticky) or
     * where the application may have asked for one (instructions) */
    if ((fc->sticky || fc->instructions) && fc->nskeys
        && (v = lbf_req_cookie(r, fc->cookie, &len)) != NULL
        && lbf_sess_parse(fc->skeys, fc->nskeys, fc->name, v, len,
                          (uint32_t)(pk->now / APR_USEC_PER_SEC), &s)
               == LBF_SESS_OK
        && (mc = lbf_member_by_id(fc, s.id)) != NULL) {
        struct lbf_row *row = lbf_member_at(pk->h, pk->farm, mc->index);

        if (row && mc->index != pk->exclude
            && lbf_row_sticky_ok(row, pk->now)) {
            return (int)mc->index;
        }
        return s.mode == LBF_STICK_ALWAYS ? LBF_STICK_REFUSED : -1;
    }
    mi = lbf_route_member(r, fc);
    if (mi >= 0 && (uint32_t)mi != pk->exclude
        && lbf_row_sticky_ok(lbf_member_at(pk->h, pk->farm, (uint32_t)mi),
                             pk->now)) {
        return mi;
    }
    return -1;
}

/* The Set-Cookie value of a session on member mi of fc in mode. */
static const char *lbf_session_cookie(request_rec *r,
                                      struct lbf_farm_conf *fc, int mi,
                                      char mode)
{
    struct lbf_session s;
    char val[LBF_SESS_COOKIE_LEN + 8];

    s.mode = mode;
    memcpy(s.id, lbf_member_conf_at(fc, (uint32_t)mi)->sess_id,
           sizeof(s.id));
    s.expiry = (uint32_t)apr_time_sec(apr_time_now() + fc->sticky_ttl);
    lbf_sess_encode(&fc->skeys[0], fc->name, &s, val, sizeof(val));
    return apr_psprintf(r->pool, "%s=%s; Path=/; Max-Age=%" APR_TIME_T_FMT
                        "; HttpOnly; SameSite=Lax%s", fc->cookie, val,
                        apr_time_sec(fc->sticky_ttl),
                        ap_http_scheme(r)[4] == 's' ? "; Secure" : "");
}

void lbf_sess_chosen(request_rec *r, struct lbf_req *q,
                     struct lbf_farm_conf *fc, int mi, int stuck)
{
    q->fc = fc;
    q->set_cookie = NULL;
    if (fc->sticky && fc->nskeys && !stuck) {
        q->set_cookie = lbf_session_cookie(r, fc, mi, LBF_STICK_WHILE_UP);
    }
    if (!q->filter_added) {
        ap_add_output_filter(LBF_FILTER_NAME, q, r, r->connection);
        q->filter_added = 1;
    }
}

/* Log a dropped instruction at most once a second per process. */
static void lbf_log_instr(request_rec *r, const char *member, const char *why)
{
    static _Atomic apr_time_t last;
    apr_time_t now = apr_time_now(), prev = atomic_load(&last);

    if (now - prev >= apr_time_from_sec(1)
        && atomic_compare_exchange_strong(&last, &prev, now)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "LBF00050: dropped "
                      "an instruction from member %s: %s", member, why);
    }
}

/* Obey one verified instruction in: set q->set_cookie accordingly. */
static void lbf_obey(request_rec *r, struct lbf_req *q,
                     const struct lbf_instr *in)
{
    struct lbf_farm_conf *fc = q->fc;
    char val[LBF_NAME_SIZE + 64];

    switch (in->action) {
    case LBF_INSTR_STICK:
    case LBF_INSTR_STICK_WHILE_UP:
        q->set_cookie = lbf_session_cookie(r, fc, (int)q->member,
                                           in->action == LBF_INSTR_STICK
                                           ? LBF_STICK_ALWAYS
                                           : LBF_STICK_WHILE_UP);
        break;
    case LBF_INSTR_UNSTICK:
        q->set_cookie = apr_psprintf(r->pool, "%s=; Path=/; Max-Age=0",
                                     fc->cookie);
        break;
    default:
        if (lbf_farm_named(in->farm) == NULL) {
            lbf_log_instr(r, lbf_member_conf_at(fc, q->member)->name,
                          "move to no farm");
            return;
        }
        lbf_move_encode(&fc->skeys[0], fc->name, in->farm,
                        (uint32_t)apr_time_sec(apr_time_now()
                                               + fc->sticky_ttl),
                        val, sizeof(val));
        q->set_cookie = apr_psprintf(r->pool, "%s=%s; Path=/; Max-Age=%"
                                     APR_TIME_T_FMT "; HttpOnly; "
                                     "SameSite=Lax", fc->move_cookie, val,
                                     apr_time_sec(fc->sticky_ttl));
    }
}

/* Strip the instruction headers of r's response; obey a valid one. */
static void lbf_instructions(request_rec *r, struct lbf_req *q)
{
    const char *v = apr_table_get(r->headers_out, LBF_INSTR_HEADER);
    const char *member;
    struct lbf_instr in;
    char err[96];

    if (v == NULL) {
        v = apr_table_get(r->err_headers_out, LBF_INSTR_HEADER);
    }
    apr_table_unset(r->headers_out, LBF_INSTR_HEADER);
    apr_table_unset(r->err_headers_out, LBF_INSTR_HEADER);
    if (v == NULL || q->fc == NULL) {
        return;
    }
    member = lbf_member_conf_at(q->fc, q->member)->name;
    if (!q->fc->instructions || !q->fc->nskeys) {
        lbf_log_instr(r, member, "instructions are off for this farm");
        return;
    }
    if (lbf_instr_parse(q->fc->skeys, q->fc->nskeys, member, v,
                        (uint32_t)apr_time_sec(apr_time_now()),
                        LBF_INSTR_WINDOW, &in, err, sizeof(err)) != 0) {
        lbf_log_instr(r, member, err);
        return;
    }
    lbf_obey(r, q, &in);
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
