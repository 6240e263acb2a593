/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_out.h -- buffered output and the escaper of every output context
 * of the status page (pure C core).
 *
 * A renderer writes through a struct lbf_out, which hands the glue's
 * emitter whole blocks (never an empty one), and every string that comes
 * from outside -- names from the configuration, member URLs typed by an
 * operator, balancer names and hosts, metric names from pushes -- goes
 * through the escaper of its context: lbf_out_html (HTML text and
 * attribute values), lbf_out_json (JSON strings), lbf_out_label
 * (Prometheus label values), lbf_out_word (a word of the text form).
 * None of these takes a lock or allocates.
 */
#ifndef LBFARM_OUT_H
#define LBFARM_OUT_H

#include <stddef.h>
#include <stdint.h>

/* Output sink: the glue writes n bytes of s to the client. */
typedef void lbf_emit_f(void *ctx, const char *s, size_t n);

#define LBF_OUT_SIZE 16384

/* A buffered writer to emit/ctx (on the renderer's stack). */
struct lbf_out {
    lbf_emit_f *emit;
    void *ctx;
    size_t n;
    char buf[LBF_OUT_SIZE];
};

/* Start a writer to emit/ctx. */
void lbf_out_init(struct lbf_out *o, lbf_emit_f *emit, void *ctx);

/* Hand what is buffered to the emitter (nothing when empty). */
void lbf_out_flush(struct lbf_out *o);

/* Append n bytes of s, as they are. */
void lbf_out_put(struct lbf_out *o, const char *s, size_t n);

/* Append a NUL-terminated string as it is (static text only). */
void lbf_out_str(struct lbf_out *o, const char *s);

/* Append printf output; formats carry numbers and static strings only
 * (one call writes well under 1024 bytes). */
void lbf_out_fmt(struct lbf_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append the fixed-point number [-]mag / 10^dec with exactly dec decimals
 * (dec 0..9): (0, 420, 3) is "0.420", (1, 1, 0) is "-1". */
void lbf_out_fixed(struct lbf_out *o, int neg, uint64_t mag, unsigned dec);

/* Append s escaped for HTML text and for a double- or single-quoted
 * attribute value: & < > " ' become entities. */
void lbf_out_html(struct lbf_out *o, const char *s);

/* Append s as a JSON string, quotes included: " and \ are escaped, and
 * every byte outside printable ASCII (and < > &) becomes \u00XX, so the
 * output is valid ASCII JSON whatever the bytes. */
void lbf_out_json(struct lbf_out *o, const char *s);

/* Append s as a Prometheus label value (without the quotes): backslash,
 * double quote and newline are escaped as the exposition format says. */
void lbf_out_label(struct lbf_out *o, const char *s);

/* Append s as one word of the text form: a space, '%', a control byte, a
 * byte outside ASCII and every byte of also (may be NULL) become %XX. */
void lbf_out_word(struct lbf_out *o, const char *s, const char *also);

#endif /* LBFARM_OUT_H */
