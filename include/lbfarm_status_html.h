/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_status_html.h -- the HTML status page (pure C core).
 *
 * One HTML document from a snapshot (lbfarm_snapshot.h): every farm and
 * member, SVG bars of the spread, and with a session's nonce the
 * administration forms, which post exactly the fields lbf_admin_parse
 * (lbfarm_admin.h) reads.  No script, no style attribute, one <style>
 * block whose hash goes into the Content-Security-Policy.
 */
#ifndef LBFARM_STATUS_HTML_H
#define LBFARM_STATUS_HTML_H

#include "lbfarm_out.h"
#include "lbfarm_snapshot.h"

/* What the HTML page needs besides the snapshot. */
struct lbf_html_opts {
    const char *action;       /* path the forms post to (raw; escaped) */
    const char *nonce;        /* the session's nonce, or NULL: no forms */
};

/* Render the HTML page: every farm and member, SVG bars of the spread,
 * and (with a nonce) the administration forms.  No script, no style
 * attribute: its only CSS is lbf_status_css() in a <style> element.
 * Writes only through emit. */
void lbf_render_html(const struct lbf_status *st,
                     const struct lbf_html_opts *o, lbf_emit_f *emit,
                     void *ctx);

/* The page's style sheet, exactly as put in its <style> element. */
const char *lbf_status_css(void);

#define LBF_CSS_HASH_SIZE 52  /* "sha256-" + 44 base64 + NUL */

/* out = "sha256-<base64 of SHA-256(lbf_status_css())>", the CSP source
 * that allows the <style> element.  Returns 0, or -1 on a crypto error. */
int lbf_status_css_hash(char out[LBF_CSS_HASH_SIZE]);

#endif /* LBFARM_STATUS_HTML_H */
