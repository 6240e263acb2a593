/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_conf.h -- pure parsers behind the directives (no httpd types),
 * so that unit tests and fuzzers reach exactly what the glue runs.
 */
#ifndef LBFARM_CONF_H
#define LBFARM_CONF_H

#include <stddef.h>
#include <stdint.h>

/* Parse a decimal integer in lo..hi: digits only, no sign, no spaces, no
 * overflow.  Returns 0 and sets *out, or -1. */
int lbf_parse_uint(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);

/* Parse 1..19 decimal digits s[0..n) (nothing else) into *out.  Returns 0
 * or -1. */
int lbf_parse_digits(const char *s, size_t n, uint64_t *out);

/* Parse a decimal "123" or "12.345" (at most 3 decimals, no sign) of n
 * bytes into thousandths.  Returns 0, -1 when not such a number, or -2
 * when above max (in whole units). */
int lbf_parse_milli(const char *s, size_t n, int64_t max, int64_t *out);

/* 1 when s is a valid farm or member name: 1..31 characters from
 * [A-Za-z0-9_-], starting with a letter or digit; else 0. */
int lbf_name_valid(const char *s);

/*
 * The farm-reference rule.  A proxy URL "http[s]://HOST[...]" names a farm
 * when HOST could be a farm name (lbf_name_valid: one label of A-Z a-z 0-9
 * _ -, no dot), carries no explicit port, is not all digits and is not
 * "localhost".  Returns 1 and points *host and *hlen at HOST inside url,
 * else 0.  Examples: farm_one in "http://farm_one/app/" names a farm;
 * "http://backend:8080/", "http://app.example/" and a ProxyPassMatch
 * target "http://localhost$1" (known only after substitution) do not.
 */
int lbf_url_farm_ref(const char *url, const char **host, size_t *hlen);

/* The first unquoted word of directive arguments args that starts with
 * '#' (a trailing comment, which httpd does not allow), or NULL.  Words
 * split on blanks; a word opening with a quote runs to its closing quote,
 * as ap_getword_conf reads it. */
const char *lbf_conf_comment(const char *args);

#endif /* LBFARM_CONF_H */
