/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_shm.c -- the farm table in a shared region: layout and format,
 * the check of a region anyone may have written and attach, farms and
 * rows, runtime membership (operators, balancer-manager), schedules,
 * request accounting, health and latency of a row, row locks and the
 * seqlock metrics group.  Layout and concurrency rules: see the diagram in
 * lbfarm_shm.h; the locks themselves are lbfarm_lock.c, the carry over a
 * graceful restart lbfarm_carry.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lbfarm_shm.h"
#include "lbfarm_swrr.h"

_Static_assert(LBF_FARM_MEMBERS_MAX <= LBF_SWRR_MEMBERS_MAX,
               "a schedule holds every member of a farm");
_Static_assert(LBF_FARM_MEMBERS_MAX <= LBF_ROWS_MAX,
               "schedule entries (uint16) index every member of a farm");

static size_t lbf_farms_off(void)
{
    return sizeof(struct lbf_hdr);
}

static size_t lbf_rows_off(uint32_t l_farms)
{
    return lbf_farms_off() + (size_t)l_farms * sizeof(struct lbf_farm);
}

/* Schedule area follows the rows, aligned to 64 bytes. */
static size_t lbf_sched_off(uint32_t l_farms, uint32_t l_rows)
{
    size_t off = lbf_rows_off(l_farms)
                 + (size_t)l_rows * sizeof(struct lbf_row);

    return (off + 63) & ~(size_t)63;
}

uint32_t lbf_sched_entries(uint32_t l_rows)
{
    return 2u * l_rows * LBF_WEIGHT_MAX;
}

/* End of the schedule area. */
static size_t lbf_sched_end(uint32_t l_farms, uint32_t l_rows,
                            uint32_t sched_len)
{
    return lbf_sched_off(l_farms, l_rows) + (size_t)sched_len
                                            * sizeof(uint16_t);
}

/* The hold area follows the schedule, aligned to 64 bytes; 0 when there
 * is none (procs 0).  Returns its bytes in *hlen: 0 for counts out of
 * range (or an offset beyond 4 GiB) with procs > 0. */
static size_t lbf_hold_place(uint32_t l_farms, uint32_t l_rows,
                             uint32_t sched_len, uint32_t procs,
                             uint32_t slots, size_t *hlen)
{
    size_t off = (lbf_sched_end(l_farms, l_rows, sched_len) + 63)
                 & ~(size_t)63;

    *hlen = 0;
    if (procs == 0) {
        return 0;
    }
    *hlen = off > UINT32_MAX ? 0 : lbf_hold_size(procs, slots);
    return off;
}

size_t lbf_shm_size(const struct lbf_layout *lay)
{
    size_t hlen, off = lbf_hold_place(lay->l_farms, lay->l_rows,
                                      lay->sched_len, lay->hold_procs,
                                      lay->hold_slots, &hlen);

    if (lay->hold_procs == 0) {
        return lbf_sched_end(lay->l_farms, lay->l_rows, lay->sched_len);
    }
    return hlen == 0 ? 0 : off + hlen;
}

uint32_t lbf_farm_rows(uint32_t members, uint32_t spare)
{
    uint64_t l = (uint64_t)members + spare;

    return l > LBF_FARM_MEMBERS_MAX ? LBF_FARM_MEMBERS_MAX : (uint32_t)l;
}

void lbf_layout_add(struct lbf_layout *lay, uint32_t l_rows)
{
    lay->l_farms++;
    lay->l_rows += l_rows;
    lay->sched_len += lbf_sched_entries(l_rows);
}

static struct lbf_row *lbf_row_at(const struct lbf_shm *h, uint32_t i)
{
    return (struct lbf_row *)(h->base + lbf_rows_off(h->hdr->l_farms)
                              + (size_t)i * sizeof(struct lbf_row));
}

static int lbf_farm_rebuild_locked(struct lbf_shm *h, struct lbf_farm *f);

/* Wall clock in microseconds (the clock request timestamps use). */
static uint64_t lbf_wall_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint16_t *lbf_sched_base(const struct lbf_shm *h)
{
    return (uint16_t *)(h->base + h->hdr->sched_off);
}

int lbf_shm_format(struct lbf_shm *h, void *base, size_t len,
                   const struct lbf_layout *lay)
{
    struct lbf_hdr *hdr = base;
    size_t hlen, hoff = lbf_hold_place(lay->l_farms, lay->l_rows,
                                       lay->sched_len, lay->hold_procs,
                                       lay->hold_slots, &hlen);

    if (lbf_shm_size(lay) == 0 || len < lbf_shm_size(lay)
        || lay->l_rows > LBF_ROWS_MAX) {
        return LBF_ENOSPACE;
    }
    memset(base, 0, lbf_shm_size(lay));
    h->hold = NULL;
    h->hold_len = 0;
    if (lay->hold_procs > 0) {
        lbf_hold_format((unsigned char *)base + hoff, hlen, lay->hold_procs,
                        lay->hold_slots);
        hdr->hold_off = (uint32_t)hoff;
        hdr->hold_procs = lay->hold_procs;
        hdr->hold_slots = lay->hold_slots;
        h->hold = (unsigned char *)base + hoff;
        h->hold_len = hlen;
    }
    hdr->hdr_size = sizeof(struct lbf_hdr);
    hdr->farm_size = sizeof(struct lbf_farm);
    hdr->row_size = sizeof(struct lbf_row);
    hdr->l_farms = lay->l_farms;
    hdr->l_rows = lay->l_rows;
    hdr->sched_off = (uint32_t)lbf_sched_off(lay->l_farms, lay->l_rows);
    hdr->sched_len = lay->sched_len;
    hdr->generation = lay->generation;
    hdr->total_len = lbf_shm_size(lay);
    hdr->version = LBF_SHM_VERSION;
    hdr->layout = LBF_SHM_LAYOUT;
    atomic_thread_fence(memory_order_release);
    hdr->magic = LBF_SHM_MAGIC;
    h->base = base;
    h->len = len;
    h->hdr = hdr;
    h->l_farms = lay->l_farms;
    h->l_rows = lay->l_rows;
    return LBF_OK;
}

/* ---- checking a region that anyone may have written ---- */

/* Write one line into why (when given); returns rc. */
static int lbf_refuse(char *why, size_t why_len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int lbf_refuse(char *why, size_t why_len, int rc, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && why_len > 0) {
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* 1 when the n bytes at s hold a string of 1..n-1 bytes. */
static int lbf_str_ok(const char *s, size_t n)
{
    return s[0] != '\0' && memchr(s, '\0', n) != NULL;
}

/* s for a log line when it is a string of plain printable bytes, else
 * "?" (the name of a damaged record is not to be trusted). */
static const char *lbf_str_shown(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n && s[i] != '\0'; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\') {
            return "?";
        }
    }
    return i > 0 && i < n ? s : "?";
}

/* What is wrong with the header hdr (a copy) of a region of len bytes:
 * LBF_OK or the refusal, with why written. */
static int lbf_check_hdr(const struct lbf_hdr *hdr, size_t len, char *why,
                         size_t why_len)
{
    struct lbf_layout lay = {hdr->l_farms, hdr->l_rows, hdr->sched_len, 0,
                             hdr->hold_procs, hdr->hold_slots};
    size_t hlen, hoff = lbf_hold_place(lay.l_farms, lay.l_rows,
                                       lay.sched_len, lay.hold_procs,
                                       lay.hold_slots, &hlen);

    if (hdr->version != LBF_SHM_VERSION || hdr->layout != LBF_SHM_LAYOUT) {
        return lbf_refuse(why, why_len, LBF_EVERSION, "layout version %u "
                          "(signature %#x), this build's is %u (%#x)",
                          hdr->version, hdr->layout, LBF_SHM_VERSION,
                          LBF_SHM_LAYOUT);
    }
    if (hdr->hdr_size != sizeof(struct lbf_hdr)
        || hdr->farm_size != sizeof(struct lbf_farm)
        || hdr->row_size != sizeof(struct lbf_row)) {
        return lbf_refuse(why, why_len, LBF_ELAYOUT, "records of %u/%u/%u "
                          "bytes, this build's are %zu/%zu/%zu",
                          hdr->hdr_size, hdr->farm_size, hdr->row_size,
                          sizeof(struct lbf_hdr), sizeof(struct lbf_farm),
                          sizeof(struct lbf_row));
    }
    if (hdr->l_rows > LBF_ROWS_MAX || hdr->total_len != lbf_shm_size(&lay)
        || hdr->sched_off != lbf_sched_off(lay.l_farms, lay.l_rows)) {
        return lbf_refuse(why, why_len, LBF_EDAMAGED, "header: room for %u "
                          "farms, %u rows, %u schedule entries and a hold "
                          "area of %u x %u slots does not make %llu bytes "
                          "with the schedule at %u", hdr->l_farms,
                          hdr->l_rows, hdr->sched_len, hdr->hold_procs,
                          hdr->hold_slots, (unsigned long long)hdr->total_len,
                          hdr->sched_off);
    }
    if (hdr->hold_off != hoff || (hdr->hold_procs == 0) != (hlen == 0)
        || (hdr->hold_procs == 0 && hdr->hold_slots != 0)) {
        return lbf_refuse(why, why_len, LBF_EDAMAGED, "header: a hold area "
                          "of %u blocks of %u slots at %u, expected at %zu",
                          hdr->hold_procs, hdr->hold_slots, hdr->hold_off,
                          hoff);
    }
    if (len < hdr->total_len) {
        return lbf_refuse(why, why_len, LBF_ELAYOUT, "%zu bytes, its header "
                          "says %llu", len,
                          (unsigned long long)hdr->total_len);
    }
    if (hdr->n_farms > hdr->l_farms || hdr->n_rows > hdr->l_rows
        || hdr->sched_used > hdr->sched_len) {
        return lbf_refuse(why, why_len, LBF_EDAMAGED, "header: %u farms, %u "
                          "rows, %u schedule entries in use of %u, %u, %u",
                          hdr->n_farms, hdr->n_rows, hdr->sched_used,
                          hdr->l_farms, hdr->l_rows, hdr->sched_len);
    }
    return LBF_OK;
}

/* What is wrong with farm f (a copy) of header hdr, whose rows must start
 * at row and its schedule area at sched (where the previous farm's end),
 * or NULL. */
static const char *lbf_farm_fault(const struct lbf_hdr *hdr,
                                  const struct lbf_farm *f, uint32_t row,
                                  uint32_t sched)
{
    uint64_t st = f->sched;

    if (f->magic != LBF_FARM_MAGIC) {
        return "bad magic";
    }
    if (!lbf_str_ok(f->name, LBF_NAME_SIZE)) {
        return "its name is not a string of 1..31 bytes";
    }
    if (f->l_rows == 0 || f->l_rows > LBF_FARM_MEMBERS_MAX
        || f->first_row != row || f->l_rows > hdr->n_rows - row) {
        return "its rows are not the ones after the previous farm's";
    }
    if (f->n_rows > f->l_rows) {
        return "more members in use than rows";
    }
    if (f->sched_cap != f->l_rows * LBF_WEIGHT_MAX || f->sched_off != sched
        || 2ull * f->sched_cap > hdr->sched_used - sched) {
        return "its schedule area is not the one after the previous farm's";
    }
    if ((st >> 32) > 1 || (uint32_t)st > f->sched_cap) {
        return "its published schedule lies outside its area";
    }
    if (f->admin > LBF_ADMIN_REMOVED || f->cfg_admin > LBF_ADMIN_REMOVED) {
        return "unknown admin state";
    }
    return NULL;
}

/* What is wrong with member row r (a copy) of farm fi, or NULL. */
static const char *lbf_row_fault(const struct lbf_row *r, uint32_t fi)
{
    uint32_t i;

    if (r->magic != LBF_ROW_MAGIC) {
        return "bad magic";
    }
    if (r->farm != fi) {
        return "it belongs to another farm";
    }
    if (!lbf_str_ok(r->name, LBF_NAME_SIZE)) {
        return "its name is not a string of 1..31 bytes";
    }
    if (memchr(r->url, '\0', LBF_URL_SIZE) == NULL) {
        return "its URL is not NUL-terminated";
    }
    if (r->admin > LBF_ADMIN_REMOVED || r->cfg_admin > LBF_ADMIN_REMOVED
        || r->health > LBF_HEALTH_DOWN || r->runtime > 1) {
        return "unknown admin state, health or runtime flag";
    }
    if (r->weight < 1 || r->weight > LBF_WEIGHT_MAX || r->cfg_weight < 1
        || r->cfg_weight > LBF_WEIGHT_MAX) {
        return "weight outside 1..100";
    }
    if (r->n_metrics > LBF_METRICS_MAX || r->load_milli > 1000) {
        return "more than 8 metrics, or a load above 1000";
    }
    for (i = 0; i < r->n_metrics; i++) {
        if (memchr(r->metrics[i].name, '\0', LBF_METRIC_NAME) == NULL) {
            return "a metric name is not NUL-terminated";
        }
    }
    return NULL;
}

/* Check farm fi (and its member rows) of the region at base with header
 * hdr (a copy); *row and *sched: where its rows and schedule area must
 * start, moved past them.  LBF_OK or LBF_EDAMAGED with why written. */
static int lbf_check_farm(const unsigned char *base,
                          const struct lbf_hdr *hdr, uint32_t fi,
                          uint32_t *row, uint32_t *sched, char *why,
                          size_t why_len)
{
    struct lbf_farm f;
    struct lbf_row r;
    const char *fault;
    uint32_t mi = 0;

    /* copies: a region being written cannot change under the checks */
    memcpy(&f, base + lbf_farms_off() + (size_t)fi * sizeof(f), sizeof(f));
    atomic_thread_fence(memory_order_acquire); /* rows before n_rows */
    fault = lbf_farm_fault(hdr, &f, *row, *sched);
    for (; fault == NULL && mi < f.n_rows; mi++) {
        memcpy(&r, base + lbf_rows_off(hdr->l_farms)
                   + (size_t)(f.first_row + mi) * sizeof(r), sizeof(r));
        fault = lbf_row_fault(&r, fi);
    }
    if (fault != NULL && mi > 0) {
        return lbf_refuse(why, why_len, LBF_EDAMAGED, "farm %u \"%s\" row "
                          "%u \"%s\": %s", fi,
                          lbf_str_shown(f.name, LBF_NAME_SIZE), mi - 1,
                          lbf_str_shown(r.name, LBF_NAME_SIZE), fault);
    }
    if (fault != NULL) {
        return lbf_refuse(why, why_len, LBF_EDAMAGED, "farm %u \"%s\" (%u "
                          "members in use, %u rows from row %u): %s", fi,
                          lbf_str_shown(f.name, LBF_NAME_SIZE), f.n_rows,
                          f.l_rows, f.first_row, fault);
    }
    *row += f.l_rows;
    *sched += 2 * f.sched_cap;
    return LBF_OK;
}

/* Check the hold area that header hdr (a copy, checked) places: its own
 * header agrees with hdr's counts.  LBF_OK or LBF_EDAMAGED. */
static int lbf_check_hold(const unsigned char *base,
                          const struct lbf_hdr *hdr, char *why,
                          size_t why_len)
{
    struct lbf_hold_hdr hh;
    size_t hlen = lbf_hold_size(hdr->hold_procs, hdr->hold_slots);

    if (hdr->hold_procs == 0) {
        return LBF_OK;
    }
    memcpy(&hh, base + hdr->hold_off, sizeof(hh));
    if (lbf_hold_check(&hh, hlen) != 0 || hh.n_procs != hdr->hold_procs
        || hh.n_slots != hdr->hold_slots) {
        return lbf_refuse(why, why_len, LBF_EDAMAGED, "hold area: magic "
                          "%#x, %u blocks of %u slots (stride %u), the "
                          "header says %u of %u", hh.magic, hh.n_procs,
                          hh.n_slots, hh.stride, hdr->hold_procs,
                          hdr->hold_slots);
    }
    return LBF_OK;
}

int lbf_shm_check(const void *base, size_t len, char *why, size_t why_len)
{
    struct lbf_hdr hdr;
    uint32_t fi, row = 0, sched = 0;
    int rc;

    if (len < sizeof(hdr) || ((const struct lbf_hdr *)base)->magic
                             != LBF_SHM_MAGIC) {
        return lbf_refuse(why, why_len, LBF_EFOREIGN, "not an lbfarm "
                          "segment (%zu bytes, magic %#x)", len,
                          len < sizeof(hdr) ? 0u
                          : ((const struct lbf_hdr *)base)->magic);
    }
    memcpy(&hdr, base, sizeof(hdr));
    if ((rc = lbf_check_hdr(&hdr, len, why, why_len)) != LBF_OK) {
        return rc;
    }
    for (fi = 0; fi < hdr.n_farms; fi++) {
        rc = lbf_check_farm(base, &hdr, fi, &row, &sched, why, why_len);
        if (rc != LBF_OK) {
            return rc;
        }
    }
    if (row != hdr.n_rows || sched != hdr.sched_used) {
        return lbf_refuse(why, why_len, LBF_EDAMAGED, "header: %u rows and "
                          "%u schedule entries in use, its farms hold %u "
                          "and %u", hdr.n_rows, hdr.sched_used, row, sched);
    }
    return lbf_check_hold(base, &hdr, why, why_len);
}

int lbf_shm_attach(struct lbf_shm *h, void *base, size_t len)
{
    int rc = lbf_shm_check(base, len, NULL, 0);

    if (rc != LBF_OK) {
        return rc;
    }
    h->base = base;
    h->len = len;
    h->hdr = base;
    h->l_farms = h->hdr->l_farms;
    h->l_rows = h->hdr->l_rows;
    h->hold = h->hdr->hold_procs == 0 ? NULL
              : (unsigned char *)base + h->hdr->hold_off;
    h->hold_len = lbf_hold_size(h->hdr->hold_procs, h->hdr->hold_slots);
    return LBF_OK;
}

/* 1 when name is a usable name: 1..LBF_NAME_SIZE-1 bytes. */
static int lbf_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n < LBF_NAME_SIZE;
}

struct lbf_farm *lbf_farm_at(const struct lbf_shm *h, uint32_t fi)
{
    if (fi >= h->hdr->n_farms) {
        return NULL;
    }
    return (struct lbf_farm *)(h->base + lbf_farms_off()
                               + (size_t)fi * sizeof(struct lbf_farm));
}

struct lbf_row *lbf_member_at(const struct lbf_shm *h,
                              const struct lbf_farm *f, uint32_t mi)
{
    if (f == NULL || mi >= f->n_rows) {
        return NULL;
    }
    return lbf_row_at(h, f->first_row + mi);
}

int lbf_farm_find(const struct lbf_shm *h, const char *name)
{
    uint32_t i;

    for (i = 0; i < h->hdr->n_farms; i++) {
        if (strcmp(lbf_farm_at(h, i)->name, name) == 0) {
            return (int)i;
        }
    }
    return LBF_ENOENT;
}

int lbf_member_find(const struct lbf_shm *h, const struct lbf_farm *f,
                    const char *name)
{
    uint32_t i;

    for (i = 0; i < f->n_rows; i++) {
        if (strcmp(lbf_member_at(h, f, i)->name, name) == 0) {
            return (int)i;
        }
    }
    return LBF_ENOENT;
}

int lbf_farm_add(struct lbf_shm *h, const char *name, uint32_t method,
                 uint32_t l_rows)
{
    struct lbf_hdr *hdr = h->hdr;
    struct lbf_farm *f;
    uint32_t cap = l_rows * LBF_WEIGHT_MAX;

    if (!lbf_name_ok(name) || l_rows == 0 || l_rows > LBF_FARM_MEMBERS_MAX) {
        return LBF_EINVAL;
    }
    if (lbf_farm_find(h, name) >= 0) {
        return LBF_EEXIST;
    }
    if (hdr->n_farms >= hdr->l_farms || hdr->l_rows - hdr->n_rows < l_rows
        || hdr->sched_len - hdr->sched_used < 2 * cap) {
        return LBF_ENOSPACE;
    }
    hdr->n_farms++;
    f = lbf_farm_at(h, hdr->n_farms - 1);
    memset(f, 0, sizeof(*f));
    f->magic = LBF_FARM_MAGIC;
    f->method = method;
    strcpy(f->name, name);
    f->first_row = hdr->n_rows;
    f->l_rows = l_rows;
    f->sched_off = hdr->sched_used;
    f->sched_cap = cap;
    hdr->n_rows += l_rows;
    hdr->sched_used += 2 * cap;
    return (int)(hdr->n_farms - 1);
}

int lbf_member_add(struct lbf_shm *h, uint32_t fi, const char *name,
                   uint32_t weight, uint32_t tier, uint32_t retry_sec)
{
    struct lbf_farm *f = lbf_farm_at(h, fi);
    struct lbf_row *r;

    if (f == NULL || !lbf_name_ok(name) || weight < 1
        || weight > LBF_WEIGHT_MAX) {
        return LBF_EINVAL;
    }
    if (lbf_member_find(h, f, name) >= 0) {
        return LBF_EEXIST;
    }
    if (f->n_rows >= f->l_rows) {
        return LBF_ENOSPACE;
    }
    r = lbf_row_at(h, f->first_row + f->n_rows);
    memset(r, 0, sizeof(*r));
    r->magic = LBF_ROW_MAGIC;
    r->farm = fi;
    strcpy(r->name, name);
    atomic_store(&r->weight, weight);
    r->cfg_weight = weight;
    r->tier = tier;
    r->retry_sec = retry_sec;
    if (f->n_rows == 0 || tier < f->min_tier) {
        f->min_tier = tier;
    }
    /* publish the row before the count that makes it visible */
    atomic_thread_fence(memory_order_release);
    f->n_rows++;
    return (int)(f->n_rows - 1);
}

int lbf_member_add_runtime(struct lbf_shm *h, uint32_t fi, const char *name,
                           const char *url, uint32_t weight,
                           uint32_t retry_sec)
{
    struct lbf_farm *f = lbf_farm_at(h, fi);
    uint64_t now = lbf_wall_usec(); /* no syscall under the lock */
    uint32_t self = (uint32_t)getpid();
    struct lbf_row *r;
    int mi, rc = LBF_OK;

    if (f == NULL || url == NULL || strlen(url) >= LBF_URL_SIZE) {
        return LBF_EINVAL;
    }
    lbf_lock_acquire(&f->lock, self);
    mi = lbf_member_find(h, f, name);
    if (mi >= 0 && atomic_load(&lbf_member_at(h, f, (uint32_t)mi)->admin)
                   != LBF_ADMIN_REMOVED) {
        rc = LBF_EEXIST;
    }
    else if (mi < 0) {
        mi = rc = lbf_member_add(h, fi, name, weight, 0, retry_sec);
    }
    else if (weight < 1 || weight > LBF_WEIGHT_MAX) {
        rc = LBF_EINVAL;
    }
    if (rc >= 0 && (r = lbf_member_at(h, f, (uint32_t)mi)) != NULL) {
        memcpy(r->url, url, strlen(url) + 1); /* length checked above */
        r->runtime = 1;
        r->cfg_weight = weight;
        r->retry_sec = retry_sec;
        lbf_member_set_hc_url(f, r, url);
        atomic_store(&r->weight, weight);
        atomic_store(&r->up_since, now);
        atomic_store(&r->admin, LBF_ADMIN_ENABLED);
        rc = lbf_farm_rebuild_locked(h, f);
    }
    lbf_lock_release(&f->lock, self);
    return rc < 0 ? rc : mi;
}

int lbf_member_remove(struct lbf_shm *h, struct lbf_farm *f, uint32_t mi)
{
    struct lbf_row *r = lbf_member_at(h, f, mi);

    if (r == NULL) {
        return LBF_ENOENT;
    }
    atomic_store(&r->admin, LBF_ADMIN_REMOVED);
    return lbf_farm_rebuild(h, f);
}

/* ---- the farm of a stock balancer:// ---- */

void lbf_balancer_farm_name(char out[LBF_NAME_SIZE], const char *name,
                            uint32_t hash)
{
    snprintf(out, LBF_NAME_SIZE, "~%.20s#%08x", name, (unsigned)hash);
}

void lbf_balancer_member_name(const struct lbf_shm *h,
                              const struct lbf_farm *f, const char *host,
                              uint32_t port, uint32_t i,
                              char out[LBF_NAME_SIZE])
{
    snprintf(out, LBF_NAME_SIZE, "%.20s:%u", host, (unsigned)port);
    if (lbf_member_find(h, f, out) >= 0) {
        snprintf(out, LBF_NAME_SIZE, "%.20s~%u", host, (unsigned)i);
    }
}

int lbf_farm_grow(struct lbf_shm *h, uint32_t fi, uint32_t n)
{
    struct lbf_farm *f = lbf_farm_at(h, fi);
    uint32_t self = (uint32_t)getpid(), i, was;
    int rc;

    if (f == NULL) {
        return LBF_ENOENT;
    }
    lbf_lock_acquire(&f->lock, self);
    was = f->n_rows;
    for (i = was; i < n; i++) {
        char name[LBF_NAME_SIZE];

        snprintf(name, sizeof(name), "+%u", (unsigned)i);
        if (lbf_member_add(h, fi, name, 1, 0, 0) < 0) {
            break;
        }
    }
    if (f->n_rows != was) {
        lbf_farm_rebuild_locked(h, f);
    }
    rc = (int)f->n_rows;
    lbf_lock_release(&f->lock, self);
    return rc;
}

/* Build the schedule into the unpublished buffer and publish it.
 * The caller holds f->lock. */
static int lbf_farm_rebuild_locked(struct lbf_shm *h, struct lbf_farm *f)
{
    uint32_t w[LBF_FARM_MEMBERS_MAX];
    uint64_t cur = atomic_load(&f->sched);
    uint32_t buf = (uint32_t)(cur >> 32) ^ 1u;
    uint16_t *out = lbf_sched_base(h) + f->sched_off + buf * f->sched_cap;
    uint32_t i, n = f->n_rows, period;

    if (n > sizeof(w) / sizeof(w[0])) {
        return LBF_EINVAL;
    }
    if (n == 0) {
        atomic_store(&f->sched, (uint64_t)buf << 32);
        return LBF_OK;
    }
    memset(w, 0, n * sizeof(w[0]));
    for (i = 0; i < n; i++) {
        w[i] = atomic_load(&lbf_member_at(h, f, i)->weight);
    }
    period = lbf_swrr_build(w, n, out, f->sched_cap);
    if (period == 0 && n > 0) {
        return LBF_EINVAL;
    }
    atomic_store(&f->sched, ((uint64_t)buf << 32) | period);
    return LBF_OK;
}

int lbf_farm_rebuild(struct lbf_shm *h, struct lbf_farm *f)
{
    uint32_t self = (uint32_t)getpid();
    int rc;

    lbf_lock_acquire(&f->lock, self);
    rc = lbf_farm_rebuild_locked(h, f);
    lbf_lock_release(&f->lock, self);
    return rc;
}

int lbf_member_set_weight(struct lbf_shm *h, struct lbf_farm *f,
                          uint32_t mi, uint32_t weight)
{
    struct lbf_row *r = lbf_member_at(h, f, mi);

    if (r == NULL) {
        return LBF_ENOENT;
    }
    if (weight < 1 || weight > LBF_WEIGHT_MAX) {
        return LBF_EINVAL;
    }
    atomic_store(&r->weight, weight);
    return lbf_farm_rebuild(h, f);
}

/* ---- latency histograms (lock-free) ---- */

/* Bucket of a latency: 0 for <= 100 us, i for <= 100 us * 2^i. */
static uint32_t lbf_lat_bucket(uint64_t usec)
{
    uint32_t b = 0;
    uint64_t bound = 100;

    while (usec > bound && b < LBF_LAT_BUCKETS - 1) {
        bound <<= 1;
        b++;
    }
    return b;
}

void lbf_row_record_latency(struct lbf_row *r, uint64_t usec,
                            uint64_t now_usec)
{
    uint64_t epoch = now_usec / (LBF_LAT_WINDOW_SEC * 1000000ull);
    struct lbf_lat *l = &r->lat[epoch & 1];
    uint64_t seen = atomic_load(&l->epoch);
    uint32_t i;

    if (seen != epoch && atomic_compare_exchange_strong(&l->epoch, &seen,
                                                        epoch)) {
        /* first request of a new window: it starts empty (a request of
         * the old window racing with this loses at most its count) */
        for (i = 0; i < LBF_LAT_BUCKETS; i++) {
            atomic_store_explicit(&l->bucket[i], 0, memory_order_relaxed);
        }
    }
    atomic_fetch_add_explicit(&l->bucket[lbf_lat_bucket(usec)], 1,
                              memory_order_relaxed);
}

uint64_t lbf_row_latency(const struct lbf_row *r, uint64_t now_usec,
                         uint64_t pct_usec[3])
{
    static const uint32_t pct[3] = {50, 95, 99};
    struct lbf_row *w = (struct lbf_row *)r;
    uint64_t epoch = now_usec / (LBF_LAT_WINDOW_SEC * 1000000ull);
    uint64_t sum[LBF_LAT_BUCKETS] = {0}, total = 0, acc = 0;
    uint32_t i, k, p = 0;

    for (k = 0; k < 2; k++) {
        uint64_t e = atomic_load(&w->lat[k].epoch);

        if (e == epoch || e + 1 == epoch) {
            for (i = 0; i < LBF_LAT_BUCKETS; i++) {
                sum[i] += atomic_load_explicit(&w->lat[k].bucket[i],
                                               memory_order_relaxed);
            }
        }
    }
    for (i = 0; i < LBF_LAT_BUCKETS; i++) {
        total += sum[i];
    }
    pct_usec[0] = pct_usec[1] = pct_usec[2] = 0;
    for (i = 0; i < LBF_LAT_BUCKETS && total > 0 && p < 3; i++) {
        acc += sum[i];
        while (p < 3 && acc * 100 >= total * pct[p]) {
            pct_usec[p++] = 100ull << i;
        }
    }
    return total;
}

/* ---- request accounting ---- */

void lbf_row_take(struct lbf_row *r)
{
    atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->requests, 1, memory_order_relaxed);
}

void lbf_row_begin(struct lbf_row *r, uint64_t now_usec)
{
    /* the request that lifts the count from 0 starts a busy period.  A
     * reader between the add and the store may pair inflight 1 with the
     * previous period's start and call the member stalled for that one
     * look: it sends that one request elsewhere, nothing more (a store
     * before the add would stall on the locked add instead, every time) */
    if (atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed)
        <= 0) {
        atomic_store_explicit(&r->busy_ts, now_usec, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&r->requests, 1, memory_order_relaxed);
}

void lbf_row_progress(struct lbf_row *r, uint64_t now_usec)
{
    if (atomic_load_explicit(&r->done_ts, memory_order_relaxed) < now_usec) {
        atomic_store_explicit(&r->done_ts, now_usec, memory_order_relaxed);
    }
    /* visible before the in-flight decrement that follows a completion */
    atomic_thread_fence(memory_order_release);
}

void lbf_row_release(struct lbf_row *r, int failed)
{
    atomic_fetch_sub_explicit(&r->inflight, 1, memory_order_relaxed);
    if (failed) {
        atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
    }
}

void lbf_row_reclaim(const struct lbf_shm *h, uint32_t ri)
{
    struct lbf_row *r;
    int32_t v;

    if (ri >= h->l_rows) {
        return;
    }
    r = (struct lbf_row *)(h->base + lbf_rows_off(h->l_farms)
                           + (size_t)ri * sizeof(*r));
    v = atomic_load_explicit(&r->inflight, memory_order_relaxed);
    while (v > 0 && !atomic_compare_exchange_weak(&r->inflight, &v, v - 1)) {
    }
}

void lbf_row_set_error(struct lbf_row *r, uint64_t now_usec)
{
    if (r->retry_sec > 0) {
        atomic_store(&r->error_until,
                     now_usec + (uint64_t)r->retry_sec * 1000000u);
    }
}

int lbf_row_ejected(const struct lbf_row *r, uint64_t now_usec)
{
    return atomic_load_explicit(&((struct lbf_row *)r)->ej_until,
                                memory_order_relaxed) > now_usec;
}

uint64_t lbf_row_error_left_ms(const struct lbf_row *r, uint64_t now_usec)
{
    uint64_t until = atomic_load_explicit(&r->error_until,
                                          memory_order_relaxed);

    return until > now_usec ? (until - now_usec) / 1000 : 0;
}

void lbf_row_clear_error(struct lbf_row *r)
{
    if (atomic_load_explicit(&r->error_until, memory_order_relaxed) != 0) {
        atomic_store(&r->error_until, 0);
    }
}

/* 1 when r is healthy, not ejected and out of error at now; an error
 * deadline that just passed is cleared and starts the slow-start ramp. */
static int lbf_row_alive(struct lbf_row *r, uint64_t now_usec)
{
    uint64_t until = atomic_load_explicit(&r->error_until,
                                          memory_order_relaxed);

    if (atomic_load_explicit(&r->health, memory_order_relaxed)
        != LBF_HEALTH_UP || lbf_row_ejected(r, now_usec)) {
        return 0;
    }
    if (until == 0) {
        return 1;
    }
    if (until > now_usec) {
        return 0;
    }
    if (atomic_compare_exchange_strong(&r->error_until, &until, 0)) {
        atomic_store(&r->up_since, now_usec); /* back from error */
    }
    return 1;
}

int lbf_row_usable(const struct lbf_row *r, uint64_t now_usec)
{
    struct lbf_row *w = (struct lbf_row *)r;

    return atomic_load_explicit(&w->admin, memory_order_relaxed)
               == LBF_ADMIN_ENABLED
           && atomic_load_explicit(&w->drain_req, memory_order_relaxed) == 0
           && lbf_row_alive(w, now_usec);
}

int lbf_row_sticky_ok(const struct lbf_row *r, uint64_t now_usec)
{
    struct lbf_row *w = (struct lbf_row *)r;

    uint32_t admin = atomic_load_explicit(&w->admin, memory_order_relaxed);

    return (admin == LBF_ADMIN_ENABLED || admin == LBF_ADMIN_DRAIN)
           && lbf_row_alive(w, now_usec);
}

void lbf_farm_set_admin(struct lbf_farm *f, uint32_t admin)
{
    atomic_store(&f->admin, admin);
}

void lbf_member_set_cfg_admin(struct lbf_row *r, uint32_t admin)
{
    r->cfg_admin = admin;
    atomic_store(&r->admin, admin);
}

void lbf_row_set_admin(struct lbf_row *r, uint32_t admin, uint64_t now_usec)
{
    uint32_t old = atomic_exchange(&r->admin, admin);

    if (old == LBF_ADMIN_OFFLINE && admin != LBF_ADMIN_OFFLINE) {
        atomic_store(&r->up_since, now_usec);
    }
}

int lbf_hc_claim(struct lbf_row *r, uint64_t now_usec, uint64_t interval_usec)
{
    uint64_t due = atomic_load(&r->hc_next);

    return due <= now_usec
           && atomic_compare_exchange_strong(&r->hc_next, &due,
                                             now_usec + interval_usec);
}

#define LBF_FNV_BASIS 2166136261u
#define LBF_FNV_PRIME 16777619u

/* FNV-1a of the n bytes at p, continuing from h. */
static uint32_t lbf_fnv(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ b[i]) * LBF_FNV_PRIME;
    }
    return h;
}

/* FNV-1a of v's four bytes (least significant first), continuing from h. */
static uint32_t lbf_fnv_u32(uint32_t h, uint32_t v)
{
    const unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                                (unsigned char)(v >> 16),
                                (unsigned char)(v >> 24)};

    return lbf_fnv(h, b, sizeof(b));
}

uint32_t lbf_hc_conf(const char *uri, uint32_t interval_ms,
                     uint32_t timeout_ms, uint32_t expect, uint32_t rise,
                     uint32_t fall)
{
    uint32_t h;

    if (uri == NULL) {
        return 0;
    }
    h = lbf_fnv(LBF_FNV_BASIS, uri, strlen(uri) + 1);
    h = lbf_fnv_u32(lbf_fnv_u32(h, interval_ms), timeout_ms);
    h = lbf_fnv_u32(lbf_fnv_u32(lbf_fnv_u32(h, expect), rise), fall);
    return h != 0 ? h : 1;
}

void lbf_farm_set_hc_conf(struct lbf_farm *f, uint32_t hc_conf)
{
    f->hc_conf = hc_conf;
}

void lbf_member_set_hc_url(const struct lbf_farm *f, struct lbf_row *r,
                           const char *url)
{
    uint32_t h;

    if (f->hc_conf == 0 || url == NULL) {
        r->hc_conf = 0;
        return;
    }
    h = lbf_fnv(lbf_fnv_u32(LBF_FNV_BASIS, f->hc_conf), url, strlen(url));
    r->hc_conf = h != 0 ? h : 1;
}

int lbf_row_health_result(struct lbf_row *r, int ok, uint32_t rise,
                          uint32_t fall, uint64_t now_usec)
{
    uint32_t h = atomic_load(&r->health);

    if (ok) {
        r->hc_fail = 0;
        if (++r->hc_pass >= rise && h == LBF_HEALTH_DOWN) {
            atomic_store(&r->up_since, now_usec);
            atomic_store(&r->health, LBF_HEALTH_UP);
            return 1;
        }
    }
    else {
        r->hc_pass = 0;
        if (++r->hc_fail >= fall && h == LBF_HEALTH_UP) {
            atomic_store(&r->health, LBF_HEALTH_DOWN);
            return 1;
        }
    }
    return 0;
}

/* ---- row locks and the metrics group ---- */

int lbf_row_lock(struct lbf_shm *h, struct lbf_row *r, uint32_t self)
{
    int rc = lbf_lock_acquire(&r->lock, self);

    if (rc == LBF_LOCK_STOLEN) {
        atomic_fetch_add(&h->hdr->recoveries, 1);
        if (atomic_load(&r->lock.seq) & 1u) {
            /* the dead owner was writing the metrics group: neutral */
            r->metric_ts = 0;
            r->n_metrics = 0;
            memset(r->metrics, 0, sizeof(r->metrics));
            atomic_store(&r->load_ts, 0); /* neutral until the next push */
            atomic_fetch_add_explicit(&r->lock.seq, 1, memory_order_release);
            atomic_fetch_add(&h->hdr->repairs, 1);
        }
    }
    return rc;
}

void lbf_row_unlock(struct lbf_row *r, uint32_t self)
{
    lbf_lock_release(&r->lock, self);
}

#define LBF_READ_TRIES 64

int lbf_row_read_metrics(const struct lbf_row *r, uint64_t *ts,
                         uint32_t *n, struct lbf_metric *out)
{
    struct lbf_lock *lk = (struct lbf_lock *)&r->lock;
    int tries;

    for (tries = 0; tries < LBF_READ_TRIES; tries++) {
        uint32_t s1 = atomic_load_explicit(&lk->seq, memory_order_acquire);
        uint32_t cnt;

        if (s1 & 1u) {
            lbf_cpu_relax();
            continue;
        }
        *ts = r->metric_ts;
        cnt = r->n_metrics;
        if (cnt > LBF_METRICS_MAX) {
            cnt = LBF_METRICS_MAX;
        }
        memcpy(out, r->metrics, cnt * sizeof(*out));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&lk->seq, memory_order_relaxed) == s1) {
            *n = cnt;
            return LBF_OK;
        }
    }
    return LBF_EBUSY;
}

int lbf_row_write_metrics(struct lbf_shm *h, struct lbf_row *r,
                          uint32_t self, uint64_t ts, uint32_t n,
                          const struct lbf_metric *m)
{
    if (n > LBF_METRICS_MAX) {
        return LBF_EINVAL;
    }
    lbf_row_lock(h, r, self);
    lbf_write_begin(&r->lock);
    r->metric_ts = ts;
    r->n_metrics = n;
    memcpy(r->metrics, m, n * sizeof(*m));
    lbf_write_end(&r->lock);
    lbf_row_unlock(r, self);
    return LBF_OK;
}
