/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_out.c -- buffered output and escapers; see lbfarm_out.h.
 *
 * Names are restricted at configuration time, but balancer:// rows carry
 * host names and URLs carry paths, so no escaper relies on that.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lbfarm_out.h"

void lbf_out_init(struct lbf_out *o, lbf_emit_f *emit, void *ctx)
{
    o->emit = emit;
    o->ctx = ctx;
    o->n = 0;
}

void lbf_out_flush(struct lbf_out *o)
{
    if (o->n > 0) {
        o->emit(o->ctx, o->buf, o->n);
        o->n = 0;
    }
}

void lbf_out_put(struct lbf_out *o, const char *s, size_t n)
{
    if (n > LBF_OUT_SIZE - o->n) {
        lbf_out_flush(o);
        if (n > LBF_OUT_SIZE) {
            o->emit(o->ctx, s, n);
            return;
        }
    }
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

void lbf_out_str(struct lbf_out *o, const char *s)
{
    lbf_out_put(o, s, strlen(s));
}

void lbf_out_fmt(struct lbf_out *o, const char *fmt, ...)
{
    va_list ap;
    int len;

    if (LBF_OUT_SIZE - o->n < 1024) {
        lbf_out_flush(o);
    }
    va_start(ap, fmt);
    len = vsnprintf(o->buf + o->n, LBF_OUT_SIZE - o->n, fmt, ap);
    va_end(ap);
    if (len > 0) {
        o->n += (size_t)len < LBF_OUT_SIZE - o->n ? (size_t)len
                                                  : LBF_OUT_SIZE - o->n - 1;
    }
}

void lbf_out_fixed(struct lbf_out *o, int neg, uint64_t mag, unsigned dec)
{
    char buf[32], *p = buf + sizeof(buf);
    unsigned i = 0;

    dec = dec > 9 ? 9 : dec;
    /* digits from the right: dec decimals, the point, then the rest */
    do {
        if (dec > 0 && i == dec) {
            *--p = '.';
        }
        *--p = (char)('0' + mag % 10);
        mag /= 10;
        i++;
    } while (mag > 0 || i <= dec);
    if (neg) {
        *--p = '-';
    }
    lbf_out_put(o, p, (size_t)(buf + sizeof(buf) - p));
}

/* Append the run [run, s) unescaped, then the escape e. */
static void lbf_out_esc(struct lbf_out *o, const char *run, const char *s,
                        const char *e, size_t elen)
{
    lbf_out_put(o, run, (size_t)(s - run));
    lbf_out_put(o, e, elen);
}

void lbf_out_html(struct lbf_out *o, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *e = NULL;

        switch (*s) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: continue;
        }
        lbf_out_esc(o, run, s, e, strlen(e));
        run = s + 1;
    }
    lbf_out_put(o, run, (size_t)(s - run));
}

void lbf_out_json(struct lbf_out *o, const char *s)
{
    const char *run = s;
    char esc[8];

    lbf_out_put(o, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<'
            && c != '>' && c != '&') {
            continue;
        }
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            lbf_out_esc(o, run, s, esc, 2);
        }
        else {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            lbf_out_esc(o, run, s, esc, 6);
        }
        run = s + 1;
    }
    lbf_out_put(o, run, (size_t)(s - run));
    lbf_out_put(o, "\"", 1);
}

void lbf_out_label(struct lbf_out *o, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *e = NULL;

        switch (*s) {
        case '\\': e = "\\\\"; break;
        case '"': e = "\\\""; break;
        case '\n': e = "\\n"; break;
        default: continue;
        }
        lbf_out_esc(o, run, s, e, 2);
        run = s + 1;
    }
    lbf_out_put(o, run, (size_t)(s - run));
}

void lbf_out_word(struct lbf_out *o, const char *s, const char *also)
{
    const char *run = s;
    char esc[4];

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c > 0x20 && c < 0x7f && c != '%'
            && (also == NULL || strchr(also, c) == NULL)) {
            continue;
        }
        snprintf(esc, sizeof(esc), "%%%02X", c);
        lbf_out_esc(o, run, s, esc, 3);
        run = s + 1;
    }
    lbf_out_put(o, run, (size_t)(s - run));
}
