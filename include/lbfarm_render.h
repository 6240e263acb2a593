/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_render.h -- the text, JSON and Prometheus forms of the farm table,
 * all three rendered from ONE table of member fields (pure C core).
 *
 * Each row of the table (struct lbf_field) names one fact about a member
 * in each form -- its key in the text line, its key (and sub-object) in
 * JSON, its Prometheus family -- and reads it from a snapshot.  A field
 * added to the table appears in all three forms; there is no per-form list
 * of fields.  What the forms add around the fields (the text header, the
 * JSON farm objects, the Prometheus farm and process families) is the
 * same as before.
 *
 * Per member:
 *   text        member FARM NAME key=value ... (table order, one line;
 *               FARM, NAME and string values as lbf_out_word words)
 *   JSON        {"name":NAME,"key":value,...} inside its farm's "members";
 *               fields with a group sit in "group":{...}, or "group":null
 *               when none of them has a value
 *   Prometheus  family{farm="F",member="M"[,label="..."]} value, one
 *               HELP/TYPE pair per family (fields next to each other in the
 *               table may share a family, told apart by a fixed label)
 * A value a member does not have (no pushed load, no health check yet, an
 * empty latency window) is null in JSON and has no Prometheus sample; the
 * text line keeps its field and writes the raw value (-1 for load_age_ms
 * and hc_status, 0 otherwise).
 */
#ifndef LBFARM_RENDER_H
#define LBFARM_RENDER_H

#include "lbfarm_out.h"
#include "lbfarm_snapshot.h"

enum lbf_field_kind {
    LBF_FK_NUM = 1, /* [-]mag, dec decimals (prom_dec in Prometheus) */
    LBF_FK_BOOL,    /* text and Prometheus 0/1, JSON false/true */
    LBF_FK_ENUM,    /* one word of values[]; Prometheus: one sample per
                       value, label=value, 1 for the member's, else 0 */
    LBF_FK_STR,     /* a string; Prometheus: an info sample, value 1,
                       labelled label="the string" */
    LBF_FK_METRICS  /* the pushed metrics: text name:value,...; JSON
                       {"name":value,...}; Prometheus one sample each,
                       labelled label="name" */
};

/* One value of one member, as a field's getter reads it. */
struct lbf_val {
    int has;          /* 0: the member has no such value now */
    int neg;          /* NUM: negative */
    uint64_t mag;     /* NUM magnitude, BOOL 0/1 */
    const char *str;  /* ENUM, STR: never NULL */
};

typedef void lbf_field_get_f(const struct lbf_snap *s, struct lbf_val *v);

/* One row of the field table. */
struct lbf_field {
    const char *text;          /* key in the text line */
    const char *json;          /* key in the JSON member object */
    const char *group;         /* JSON sub-object holding it, or NULL */
    const char *prom;          /* Prometheus family */
    const char *prom_type;     /* "gauge" or "counter" (ends in _total) */
    const char *help;          /* its HELP text */
    const char *label;         /* Prometheus label: ENUM, STR, METRICS,
                                  or a NUM's fixed label (label_value) */
    const char *label_value;   /* NUM: value of label, or NULL */
    const char *const *values; /* ENUM: every value, NULL-terminated */
    enum lbf_field_kind kind;
    unsigned char dec;         /* NUM, METRICS: decimals in text, JSON */
    unsigned char prom_dec;    /* ... in Prometheus (ms -> s: dec + 3) */
    lbf_field_get_f *get;      /* required */
};

/* The field table: *n rows in render order (static, read only). */
const struct lbf_field *lbf_render_fields(size_t *n);

/* Render as text: "# lbfarm generation=G farms=F members=N", then one
 * line per member as above.  Writes only through emit. */
void lbf_render_text(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx);

/* Render as one JSON object: generation, time_ms, lock_recoveries,
 * lock_repairs, and farms [{name, kind, method, state, members [...]}].
 * Writes only through emit. */
void lbf_render_json(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx);

/* Render as Prometheus text exposition format 0.0.4: lbfarm_generation,
 * lbfarm_lock_recoveries_total, lbfarm_farm_offline, lbfarm_farm_members,
 * then the member families of the table.  Writes only through emit. */
void lbf_render_prom(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx);

#endif /* LBFARM_RENDER_H */
