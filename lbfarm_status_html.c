/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_status_html.c -- the HTML status page; see lbfarm_status_html.h.
 *
 * A page layout, not a list of fields: each farm is a <section> with a
 * chart of its load spread, its forms and a table of its members.  Every
 * string reaches the page through lbf_out_html (lbfarm_out.h).
 */
#include <inttypes.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "lbfarm_status_html.h"

/* The page's only style: a <style> element allowed by its hash.  No
 * style attribute anywhere (CSP would block it): SVG geometry uses
 * presentation attributes (x, y, width, height), colours come from
 * classes. */
static const char lbf_css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#1d2733;"
    "background:#f6f7f9}"
    "h1{font-size:1.4em;margin:0 0 .2em}"
    "h2{font-size:1.15em;margin:0 0 .4em}"
    ".meta,.muted{color:#566173;font-size:.9em}"
    "section{background:#fff;border:1px solid #d8dde4;border-radius:6px;"
    "padding:1em;margin:1em 0;overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;margin-top:.6em}"
    "th,td{text-align:left;padding:.25em .4em;border-bottom:1px solid #e5e8ed;"
    "vertical-align:top;white-space:nowrap}"
    "th{font-weight:600;font-size:.85em;color:#3c4756}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".url{display:block;color:#566173;font-size:.85em}"
    ".st{display:inline-block;padding:0 .5em;border-radius:3px;"
    "font-size:.85em;color:#fff;background:#6b7280}"
    ".st-ok,.st-online{background:#23854a}.st-error{background:#c0392b}"
    ".st-down{background:#7b1f1f}.st-draining{background:#b86e00}"
    ".st-offline{background:#6b7280}.st-standby{background:#3a5ba0}"
    ".st-ejected{background:#8e44ad}.st-stalled{background:#a04000}"
    "svg{display:block;margin:.6em 0;max-width:100%;height:auto}"
    "svg text{font:11px system-ui,sans-serif;fill:#3c4756}"
    "rect.bg{fill:#eef1f5}rect.if{fill:#3a5ba0}"
    "rect.b-ok{fill:#23854a}rect.b-error{fill:#c0392b}"
    "rect.b-down{fill:#7b1f1f}rect.b-draining{fill:#b86e00}"
    "rect.b-offline{fill:#6b7280}rect.b-ejected{fill:#8e44ad}"
    "rect.b-stalled{fill:#a04000}"
    "form{display:inline-flex;gap:.3em;align-items:center;margin:0}"
    "form.add,form.farm{margin:.5em 0}"
    "input.w{width:3.5em}input.u{width:22em}input.m{width:9em}"
    "button.danger{color:#a0241b}";

const char *lbf_status_css(void)
{
    return lbf_css;
}

int lbf_status_css_hash(char out[LBF_CSS_HASH_SIZE])
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    if (SHA256((const unsigned char *)lbf_css, sizeof(lbf_css) - 1, md)
        == NULL) {
        return -1;
    }
    memcpy(out, "sha256-", 7);
    /* 32 bytes give 44 base64 characters and a NUL */
    EVP_EncodeBlock((unsigned char *)out + 7, md, sizeof(md));
    return 0;
}

/* Microseconds as milliseconds with one decimal ("0.4"). */
static void lbf_out_ms(struct lbf_out *o, uint64_t usec)
{
    lbf_out_fmt(o, "%" PRIu64 ".%" PRIu64, usec / 1000, usec % 1000 / 100);
}

/* <input type="hidden" name="NAME" value="VALUE"> (value escaped). */
static void lbf_html_hidden(struct lbf_out *o, const char *name,
                            const char *value)
{
    lbf_out_fmt(o, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    lbf_out_html(o, value);
    lbf_out_str(o, "\">");
}

/* <form method="post" action="A"> with the nonce and farm fields. */
static void lbf_html_form_open(struct lbf_out *o,
                               const struct lbf_html_opts *op,
                               const char *cls, const char *farm)
{
    lbf_out_fmt(o, "<form method=\"post\" class=\"%s\" action=\"", cls);
    lbf_out_html(o, op->action);
    lbf_out_str(o, "\">");
    lbf_html_hidden(o, "nonce", op->nonce);
    lbf_html_hidden(o, "farm", farm);
}

/* The actions cell of member s: state, weight, remove. */
static void lbf_html_member_form(struct lbf_out *o,
                                 const struct lbf_html_opts *op,
                                 const struct lbf_snap *s)
{
    static const char *const opt[] = {"up", "offline", "drain"};
    uint32_t k;

    lbf_out_str(o, "<td>");
    lbf_html_form_open(o, op, "act", s->farm);
    lbf_html_hidden(o, "member", s->name);
    lbf_out_str(o, "<select name=\"state\" aria-label=\"state\">");
    for (k = 0; k < 3; k++) {
        lbf_out_fmt(o, "<option value=\"%s\"%s>%s</option>", opt[k],
                    s->admin == k ? " selected" : "", opt[k]);
    }
    lbf_out_fmt(o, "</select><button name=\"action\" value=\"member-state\">"
                "Set</button><input class=\"w\" type=\"number\" "
                "name=\"weight\" min=\"1\" max=\"%d\" value=\"%" PRIu32 "\" "
                "aria-label=\"weight\"><button name=\"action\" "
                "value=\"member-weight\">Weigh</button><button "
                "name=\"action\" value=\"member-remove\" class=\"danger\">"
                "Remove</button></form></td>", LBF_WEIGHT_MAX, s->weight);
}

/* The name, state, weight and counter cells of member s. */
static void lbf_html_member_head(struct lbf_out *o, const struct lbf_snap *s)
{
    lbf_out_str(o, "<td><b>");
    lbf_out_html(o, s->name);
    lbf_out_str(o, "</b><span class=\"url\">");
    lbf_out_html(o, s->url);
    lbf_out_fmt(o, "</span></td><td><span class=\"st st-%s\">%s</span>",
                s->state, s->state);
    if (s->error_left_ms) {
        lbf_out_fmt(o, " <span class=\"muted\">%" PRIu64 " s left</span>",
                    (s->error_left_ms + 999) / 1000);
    }
    else if (s->eject_left_ms) {
        lbf_out_fmt(o, " <span class=\"muted\">%" PRIu64 " s left, n=%"
                    PRIu32 "</span>", (s->eject_left_ms + 999) / 1000,
                    s->eject_n);
    }
    if (s->tier) {
        lbf_out_fmt(o, " <span class=\"st st-standby\">standby %" PRIu32
                    "</span>", s->tier);
    }
    lbf_out_fmt(o, "%s</td><td class=\"n\">%" PRIu32 " / %" PRIu32 "</td>"
                "<td class=\"n\">%" PRId32 "</td><td class=\"n\">%" PRIu64
                "</td><td class=\"n\">%" PRIu64 "</td>",
                s->runtime ? " <span class=\"muted\">runtime</span>" : "",
                s->weight, s->cfg_weight, s->inflight, s->requests,
                s->errors);
}

/* The load, headroom, health-check and latency cells of member s; the
 * pushed metrics go into the load cell's title. */
static void lbf_html_member_load(struct lbf_out *o, const struct lbf_snap *s)
{
    uint32_t k;

    lbf_out_str(o, "<td class=\"n\" title=\"");
    for (k = 0; k < s->n_metrics; k++) {
        lbf_out_html(o, s->metrics[k].name);
        lbf_out_fmt(o, "=%" PRId64 ".%03" PRId64 " ",
                    s->metrics[k].value / 1000,
                    (s->metrics[k].value % 1000 + 1000) % 1000);
    }
    lbf_out_str(o, "\">");
    if (s->load_age_ms >= 0) {
        lbf_out_fmt(o, "%" PRIu32 ".%03" PRIu32 " <span class=\"muted\">"
                    "%" PRId64 ".%" PRId64 " s ago</span>",
                    s->load_milli / 1000, s->load_milli % 1000,
                    s->load_age_ms / 1000, s->load_age_ms % 1000 / 100);
    }
    else {
        lbf_out_str(o, "&ndash;");
    }
    lbf_out_fmt(o, "</td><td class=\"n\">%" PRIu32 ".%03" PRIu32 "</td><td>",
                s->headroom_milli / 1000, s->headroom_milli % 1000);
    if (!s->hc_checked) {
        lbf_out_str(o, "&ndash;");
    }
    else if (s->hc_status == 0) {
        lbf_out_fmt(o, "no answer (%" PRIu32 " ms)", s->hc_ms);
    }
    else {
        lbf_out_fmt(o, "%" PRIu32 " in %" PRIu32 " ms", s->hc_status,
                    s->hc_ms);
    }
    lbf_out_str(o, "</td><td class=\"n\">");
    if (s->lat_count == 0) {
        lbf_out_str(o, "&ndash;");
    }
    for (k = 0; k < 3 && s->lat_count > 0; k++) {
        lbf_out_str(o, k ? " / " : "");
        lbf_out_ms(o, s->lat_us[k]);
    }
    if (s->lat_count > 0) {
        lbf_out_fmt(o, " ms <span class=\"muted\">(%" PRIu64 ")</span>",
                    s->lat_count);
    }
    lbf_out_str(o, "</td>");
}

/* One table row for member s. */
static void lbf_html_member(struct lbf_out *o, const struct lbf_html_opts *op,
                            const struct lbf_farm_snap *fs,
                            const struct lbf_snap *s)
{
    lbf_out_str(o, "<tr data-member=\"");
    lbf_out_html(o, s->name);
    lbf_out_str(o, "\">");
    lbf_html_member_head(o, s);
    lbf_html_member_load(o, s);
    if (fs->adminable && op->nonce) {
        lbf_html_member_form(o, op, s);
    }
    lbf_out_str(o, "</tr>");
}

#define LBF_SVG_W      720    /* chart width, px */
#define LBF_SVG_LABEL  170    /* horizontal bars: label column */
#define LBF_SVG_BAR    430    /* horizontal bars: bar length at 100 % */
#define LBF_SVG_ROWS   40     /* above this many members: columns */

/* Totals of a farm's members for the charts. */
struct lbf_spread {
    uint64_t total, max_req;
    uint64_t max_if;
};

/* Sum and maxima over the members of fs. */
static void lbf_spread_of(const struct lbf_status *st,
                          const struct lbf_farm_snap *fs,
                          struct lbf_spread *sp)
{
    size_t j;

    memset(sp, 0, sizeof(*sp));
    for (j = 0; j < fs->n; j++) {
        const struct lbf_snap *s = &st->members[fs->first + j];
        uint64_t inf = s->inflight > 0 ? (uint64_t)s->inflight : 0;

        sp->total += s->requests;
        sp->max_req = s->requests > sp->max_req ? s->requests : sp->max_req;
        sp->max_if = inf > sp->max_if ? inf : sp->max_if;
    }
}

/* <title>NAME: R requests (P %), I in flight</title> */
static void lbf_svg_title(struct lbf_out *o, const struct lbf_snap *s,
                          const struct lbf_spread *sp)
{
    uint64_t pm = sp->total ? s->requests * 1000 / sp->total : 0;

    lbf_out_str(o, "<title>");
    lbf_out_html(o, s->name);
    lbf_out_fmt(o, ": %" PRIu64 " requests (%" PRIu64 ".%" PRIu64 " %%), %"
                PRId32 " in flight</title>", s->requests, pm / 10, pm % 10,
                s->inflight);
}

/* One member as a labelled horizontal bar pair at row y. */
static void lbf_svg_row(struct lbf_out *o, const struct lbf_snap *s,
                        const struct lbf_spread *sp, unsigned y)
{
    uint64_t inf = s->inflight > 0 ? (uint64_t)s->inflight : 0;
    uint64_t wr = sp->max_req ? s->requests * LBF_SVG_BAR / sp->max_req : 0;
    uint64_t wi = sp->max_if ? inf * LBF_SVG_BAR / sp->max_if : 0;
    uint64_t pm = sp->total ? s->requests * 1000 / sp->total : 0;

    lbf_out_fmt(o, "<text x=\"0\" y=\"%u\">", y + 10);
    lbf_out_html(o, s->name);
    lbf_out_fmt(o, "</text><rect class=\"bg\" x=\"%d\" y=\"%u\" width=\"%d\" "
                "height=\"10\"/><rect class=\"b-%s\" x=\"%d\" y=\"%u\" "
                "width=\"%" PRIu64 "\" height=\"10\">", LBF_SVG_LABEL, y,
                LBF_SVG_BAR, s->state, LBF_SVG_LABEL, y, wr);
    lbf_svg_title(o, s, sp);
    lbf_out_fmt(o, "</rect><rect class=\"if\" x=\"%d\" y=\"%u\" width=\""
                "%" PRIu64 "\" height=\"4\"/><text x=\"%d\" y=\"%u\">%"
                PRIu64 ".%" PRIu64 " %% &#183; %" PRId32 " in flight</text>",
                LBF_SVG_LABEL, y + 12, wi, LBF_SVG_LABEL + LBF_SVG_BAR + 8,
                y + 10, pm / 10, pm % 10, s->inflight);
}

/* One member as a column pair (requests above, in flight below) at
 * column i of n; positions in thousandths of a pixel. */
static void lbf_svg_col(struct lbf_out *o, const struct lbf_snap *s,
                        const struct lbf_spread *sp, size_t i, size_t n)
{
    uint64_t x = (uint64_t)i * LBF_SVG_W * 1000 / n;
    uint64_t w = (uint64_t)LBF_SVG_W * 1000 / n;
    uint64_t inf = s->inflight > 0 ? (uint64_t)s->inflight : 0;
    uint64_t hr = sp->max_req ? s->requests * 60000 / sp->max_req : 0;
    uint64_t hi = sp->max_if ? inf * 24000 / sp->max_if : 0;

    lbf_out_fmt(o, "<rect class=\"b-%s\" x=\"%" PRIu64 ".%03" PRIu64 "\" y=\""
                "%" PRIu64 ".%03" PRIu64 "\" width=\"%" PRIu64 ".%03" PRIu64
                "\" height=\"%" PRIu64 ".%03" PRIu64 "\">", s->state,
                x / 1000, x % 1000, (76000 - hr) / 1000, (76000 - hr) % 1000,
                w / 1000, w % 1000, hr / 1000, hr % 1000);
    lbf_svg_title(o, s, sp);
    lbf_out_fmt(o, "</rect><rect class=\"if\" x=\"%" PRIu64 ".%03" PRIu64
                "\" y=\"%" PRIu64 ".%03" PRIu64 "\" width=\"%" PRIu64 ".%03"
                PRIu64 "\" height=\"%" PRIu64 ".%03" PRIu64 "\"/>",
                x / 1000, x % 1000, (108000 - hi) / 1000,
                (108000 - hi) % 1000, w / 1000, w % 1000, hi / 1000,
                hi % 1000);
}

/* The farm's load-spread chart: horizontal bars with names up to
 * LBF_SVG_ROWS members, a strip of columns above. */
static void lbf_html_svg(struct lbf_out *o, const struct lbf_status *st,
                         const struct lbf_farm_snap *fs)
{
    int rows = fs->n <= LBF_SVG_ROWS;
    unsigned h = rows ? 18 + 20 * (unsigned)fs->n : 112;
    struct lbf_spread sp;
    size_t j;

    lbf_spread_of(st, fs, &sp);
    lbf_out_fmt(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                "height=\"%u\" viewBox=\"0 0 %d %u\" role=\"img\" "
                "aria-label=\"load spread\"><text x=\"0\" y=\"11\">requests "
                "share per member (bar; %" PRIu64 " in all) and in flight "
                "(thin bar)</text>", LBF_SVG_W, h, LBF_SVG_W, h, sp.total);
    for (j = 0; j < fs->n; j++) {
        if (rows) {
            lbf_svg_row(o, &st->members[fs->first + j], &sp,
                        18 + 20 * (unsigned)j);
        }
        else {
            lbf_svg_col(o, &st->members[fs->first + j], &sp, j, fs->n);
        }
    }
    lbf_out_str(o, "</svg>");
}

/* Farm-wide forms: online/offline and "add a member". */
static void lbf_html_farm_forms(struct lbf_out *o,
                                const struct lbf_html_opts *op,
                                const struct lbf_farm_snap *fs)
{
    lbf_html_form_open(o, op, "farm", fs->name);
    lbf_html_hidden(o, "state", fs->offline ? "online" : "offline");
    lbf_out_fmt(o, "<button name=\"action\" value=\"farm-state\">%s</button>"
                "</form> ", fs->offline ? "Bring the farm online"
                                        : "Take the farm offline");
    lbf_html_form_open(o, op, "add", fs->name);
    lbf_out_fmt(o, "<input class=\"m\" name=\"member\" required "
                "placeholder=\"name\" aria-label=\"new member name\" "
                "pattern=\"[A-Za-z0-9][A-Za-z0-9_\\-]{0,30}\"><input "
                "class=\"u\" name=\"url\" required placeholder=\"http://"
                "host:port[/path]\" aria-label=\"new member URL\"><input "
                "class=\"w\" type=\"number\" name=\"weight\" min=\"1\" "
                "max=\"%d\" value=\"1\" aria-label=\"weight\"><button "
                "name=\"action\" value=\"member-add\">Add member</button>"
                "</form>", LBF_WEIGHT_MAX);
}

/* One <section> per farm: title, chart, forms, member table. */
static void lbf_html_farm(struct lbf_out *o, const struct lbf_status *st,
                          const struct lbf_html_opts *op,
                          const struct lbf_farm_snap *fs)
{
    const char *fst = fs->offline ? "offline" : "online";
    int forms = fs->adminable && op->nonce != NULL;
    size_t j;

    lbf_out_str(o, "<section class=\"farm\" data-farm=\"");
    lbf_out_html(o, fs->name);
    lbf_out_str(o, "\"><h2>");
    lbf_out_html(o, fs->name);
    lbf_out_fmt(o, " <span class=\"st st-%s\">%s</span> <span class=\"muted\""
                ">%s &#183; %s &#183; %zu members</span></h2>", fst, fst,
                fs->adminable ? "farm" : "balancer://", fs->method, fs->n);
    if (forms) {
        lbf_html_farm_forms(o, op, fs);
    }
    if (fs->n > 0) {
        lbf_html_svg(o, st, fs);
    }
    lbf_out_fmt(o, "<table><thead><tr><th>member</th><th>state</th><th>"
                "weight<br>now / conf</th><th>in flight</th><th>"
                "requests</th><th>errors</th><th>pushed load</th><th>"
                "headroom</th><th>health check</th><th>latency p50 / p95 / "
                "p99</th>%s</tr></thead><tbody>",
                forms ? "<th>actions</th>" : "");
    for (j = 0; j < fs->n; j++) {
        lbf_html_member(o, op, fs, &st->members[fs->first + j]);
    }
    lbf_out_str(o, "</tbody></table></section>");
}

void lbf_render_html(const struct lbf_status *st,
                     const struct lbf_html_opts *o, lbf_emit_f *emit,
                     void *ctx)
{
    struct lbf_out out;
    size_t i;

    lbf_out_init(&out, emit, ctx);
    lbf_out_str(&out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                "charset=\"utf-8\"><meta name=\"viewport\" content=\"width="
                "device-width,initial-scale=1\"><meta name=\"referrer\" "
                "content=\"same-origin\"><title>lbfarm status</title><style>");
    lbf_out_str(&out, lbf_css);
    lbf_out_fmt(&out, "</style></head><body><h1>lbfarm status</h1><p class="
                "\"meta\">generation %" PRIu64 " &#183; %zu farms &#183; "
                "%zu members &#183; lock recoveries %" PRIu32 " &#183; also "
                "as <a href=\"?format=text\">text</a>, <a href=\"?format=json"
                "\">JSON</a>, <a href=\"?format=prometheus\">Prometheus</a>"
                "</p>", st->generation, st->n_farms, st->n_members,
                st->recoveries);
    if (o->nonce == NULL) {
        lbf_out_str(&out, "<p class=\"muted\">Read only: no session.</p>");
    }
    for (i = 0; i < st->n_farms; i++) {
        lbf_html_farm(&out, st, o, &st->farms[i]);
    }
    lbf_out_str(&out, "</body></html>\n");
    lbf_out_flush(&out);
}

