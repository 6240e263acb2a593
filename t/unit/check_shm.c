/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_shm.c -- the segment: size, format, the layout signature, attach
 * (and every refusal), farms and members (indices, fields, every
 * rejection, capacity), the rules of a stock balancer's farm (names,
 * rows added at runtime), lookup, row layout, and the lock-free request
 * accounting of one row.  Damaged segments: check_carry.c.
 */
#define _GNU_SOURCE /* memfd_create */
#include <sys/mman.h>

#include "lbf_unit.h"

/* A 31-byte name (the longest that fits) and a 32-byte one. */
#define NAME31 "abcdefghijklmnopqrstuvwxyz01234"
#define NAME32 "abcdefghijklmnopqrstuvwxyz012345"

_Static_assert(sizeof(NAME31) == LBF_NAME_SIZE, "31 chars + NUL");
_Static_assert(sizeof(NAME32) == LBF_NAME_SIZE + 1, "32 chars + NUL");

/* Format a fresh region for lay; returns its base, len in *len. */
static void *shm_formatted(struct lbf_shm *h, const struct lbf_layout *lay,
                           size_t *len)
{
    void *base;

    *len = lbf_shm_size(lay);
    base = lbf_t_region(*len);
    ck_assert_int_eq(lbf_shm_format(h, base, *len, lay), LBF_OK);
    return base;
}

START_TEST(shm_size_covers_header_farms_rows_and_schedule)
{
    static const struct {
        uint32_t farms, rows;
    } cases[] = {{1, 1}, {1, 8}, {4, 16}, {16, 64}, {2, 1000}};
    size_t i, prev = 0;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_layout lay = lbf_t_layout(cases[i].farms, cases[i].rows);
        size_t need = sizeof(struct lbf_hdr) +
                      lay.l_farms * sizeof(struct lbf_farm) +
                      lay.l_rows * sizeof(struct lbf_row) +
                      lay.sched_len * sizeof(uint16_t);
        size_t got = lbf_shm_size(&lay);

        ck_assert_msg(got >= need, "case %zu: size %zu < %zu", i, got, need);
        ck_assert_msg(got > prev, "case %zu: size did not grow", i);
        prev = got;
    }
}
END_TEST

START_TEST(shm_sched_entries_hold_two_buffers_of_max_period)
{
    static const uint32_t rows[] = {1, 2, 8, 100};
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(rows); i++) {
        ck_assert_uint_ge(lbf_sched_entries(rows[i]),
                          2u * rows[i] * LBF_WEIGHT_MAX);
    }
}
END_TEST

START_TEST(shm_format_rejects_short_region)
{
    struct lbf_layout lay = lbf_t_layout(2, 4);
    size_t len = lbf_shm_size(&lay);
    void *base = lbf_t_region(len);
    struct lbf_shm h;

    ck_assert_int_eq(lbf_shm_format(&h, base, len - 1, &lay), LBF_ENOSPACE);
    ck_assert_int_eq(lbf_shm_format(&h, base, 0, &lay), LBF_ENOSPACE);
    /* nothing was stamped: the region is still not a segment */
    ck_assert_int_eq(lbf_shm_attach(&h, base, len), LBF_EFOREIGN);
}
END_TEST

START_TEST(shm_format_fills_header)
{
    struct lbf_layout lay = lbf_t_layout(3, 5);
    struct lbf_shm h;
    size_t len;
    void *base;

    lay.generation = 42;
    base = shm_formatted(&h, &lay, &len);
    ck_assert_ptr_eq(h.base, base);
    ck_assert_ptr_eq(h.hdr, base);
    ck_assert_uint_eq(h.len, len);
    ck_assert_uint_eq(h.hdr->magic, LBF_SHM_MAGIC);
    ck_assert_uint_eq(h.hdr->version, LBF_SHM_VERSION);
    ck_assert_uint_eq(h.hdr->hdr_size, sizeof(struct lbf_hdr));
    ck_assert_uint_eq(h.hdr->farm_size, sizeof(struct lbf_farm));
    ck_assert_uint_eq(h.hdr->row_size, sizeof(struct lbf_row));
    ck_assert_uint_eq(h.hdr->l_farms, 3);
    ck_assert_uint_eq(h.hdr->l_rows, 15);
    ck_assert_uint_eq(h.hdr->n_farms, 0);
    ck_assert_uint_eq(h.hdr->n_rows, 0);
    ck_assert_uint_eq(h.hdr->sched_len, lay.sched_len);
    ck_assert_uint_eq(h.hdr->sched_used, 0);
    ck_assert_uint_eq(h.hdr->generation, 42);
    ck_assert_uint_le(h.hdr->total_len, len);
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 0);
    ck_assert_uint_eq(atomic_load(&h.hdr->repairs), 0);
    /* the schedule area lies past the rows and inside the segment */
    ck_assert_uint_ge(h.hdr->sched_off, sizeof(struct lbf_hdr) +
                                            3 * sizeof(struct lbf_farm) +
                                            15 * sizeof(struct lbf_row));
    ck_assert_uint_le(h.hdr->sched_off + 2ull * h.hdr->sched_len, len);
}
END_TEST

START_TEST(shm_format_reused_region_starts_clean)
{
    static const uint32_t w[] = {2, 1};
    struct lbf_layout lay = lbf_t_layout(2, 2);
    size_t len = lbf_shm_size(&lay);
    unsigned char *base = lbf_t_region(len);
    struct lbf_shm h;
    struct lbf_farm *f;
    uint32_t i;

    memset(base, 0xa5, len);
    ck_assert_int_eq(lbf_shm_format(&h, base, len, &lay), LBF_OK);
    ck_assert_uint_eq(h.hdr->n_farms, 0);
    ck_assert_uint_eq(atomic_load(&h.hdr->recoveries), 0);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 2, 0);
    ck_assert_uint_eq(f->magic, LBF_FARM_MAGIC);
    ck_assert_uint_eq(atomic_load(&f->cursor), 0);
    ck_assert_uint_eq(atomic_load(&f->lock.owner), 0);
    for (i = 0; i < 2; i++) {
        struct lbf_row *r = lbf_t_row(&h, f, i);

        ck_assert_uint_eq(r->magic, LBF_ROW_MAGIC);
        ck_assert_uint_eq(atomic_load(&r->admin), LBF_ADMIN_ENABLED);
        ck_assert_int_eq(atomic_load(&r->inflight), 0);
        ck_assert_uint_eq(atomic_load(&r->requests), 0);
        ck_assert_uint_eq(atomic_load(&r->errors), 0);
        ck_assert_uint_eq(atomic_load(&r->error_until), 0);
        ck_assert_uint_eq(atomic_load(&r->lock.owner), 0);
        ck_assert_uint_eq(atomic_load(&r->lock.seq), 0);
        ck_assert_uint_eq(r->metric_ts, 0);
        ck_assert_uint_eq(r->n_metrics, 0);
    }
}
END_TEST

START_TEST(shm_attach_accepts_formatted_segment)
{
    static const uint32_t w[] = {1, 1, 1};
    struct lbf_layout lay = lbf_t_layout(2, 3);
    struct lbf_shm h, h2;
    size_t len;
    void *base = shm_formatted(&h, &lay, &len);
    struct lbf_farm *f;

    lbf_t_farm(&h, "alpha", "weighted", w, NULL, 3, 0);
    memset(&h2, 0, sizeof(h2));
    ck_assert_int_eq(lbf_shm_attach(&h2, base, len), LBF_OK);
    ck_assert_ptr_eq(h2.hdr, base);
    ck_assert_ptr_eq(h2.base, base);
    ck_assert_uint_eq(h2.len, len);
    ck_assert_int_eq(lbf_farm_find(&h2, "alpha"), 0);
    f = lbf_farm_at(&h2, 0);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(lbf_member_find(&h2, f, "m2"), 2);
}
END_TEST

/* The segment stores offsets, never pointers: a second mapping of the same
 * memory at another address sees and drives the same farm. */
START_TEST(shm_attach_at_other_address_sees_same_farms)
{
    static const uint32_t w[] = {5, 1, 1};
    static const char expect[] = "00102000010200";
    struct lbf_layout lay = lbf_t_layout(1, 3);
    size_t len = lbf_shm_size(&lay);
    int fd = memfd_create("lbf_unit", 0);
    unsigned char *a, *b;
    struct lbf_shm ha, hb;
    struct lbf_farm *fa, *fb;
    struct lbf_pick pa, pb;
    uint64_t rng = LBF_T_SEED;
    uint32_t wm = lbf_t_method("weighted");
    int i;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
    a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert(a != MAP_FAILED && b != MAP_FAILED);
    ck_assert_ptr_ne(a, b);
    close(fd);

    ck_assert_int_eq(lbf_shm_format(&ha, a, len, &lay), LBF_OK);
    fa = lbf_t_farm(&ha, "shared", "weighted", w, NULL, 3, 0);
    ck_assert_int_eq(lbf_shm_attach(&hb, b, len), LBF_OK);
    ck_assert_int_eq(lbf_farm_find(&hb, "shared"), 0);
    fb = lbf_farm_at(&hb, 0);
    ck_assert_int_eq((unsigned char *)fb - b, (unsigned char *)fa - a);
    ck_assert_str_eq(lbf_t_row(&hb, fb, 1)->name, "m1");

    /* alternate the mappings: both follow the one shared schedule */
    lbf_t_pick_init(&pa, &ha, fa, &rng);
    lbf_t_pick_init(&pb, &hb, fb, &rng);
    for (i = 0; i < 14; i++) {
        int got = lbf_pick_take(wm, (i & 1) ? &pb : &pa);

        ck_assert_msg(got == expect[i] - '0', "pick %d = %d, want %c", i, got,
                      expect[i]);
    }
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&ha, fa, 0)->requests), 10);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&hb, fb, 0)->inflight), 10);
}
END_TEST

START_TEST(shm_attach_rejects_foreign_magic)
{
    struct lbf_layout lay = lbf_t_layout(1, 2);
    struct lbf_shm h;
    size_t len;
    unsigned char *base;

    /* all zero */
    len = lbf_shm_size(&lay);
    base = lbf_t_region(len);
    ck_assert_int_eq(lbf_shm_attach(&h, base, len), LBF_EFOREIGN);
    /* garbage */
    memset(base, 0x5a, len);
    ck_assert_int_eq(lbf_shm_attach(&h, base, len), LBF_EFOREIGN);
    /* ours with one magic byte changed */
    base = shm_formatted(&h, &lay, &len);
    base[3] ^= 0x01;
    ck_assert_int_eq(lbf_shm_attach(&h, base, len), LBF_EFOREIGN);
}
END_TEST

START_TEST(shm_attach_rejects_other_version)
{
    static const uint32_t versions[] = {0, LBF_SHM_VERSION + 1, 0xffffffffu};
    struct lbf_layout lay = lbf_t_layout(1, 2);
    struct lbf_shm h;
    size_t len, i;
    void *base = shm_formatted(&h, &lay, &len);
    struct lbf_hdr *hdr = base;

    for (i = 0; i < LBF_T_NELEMS(versions); i++) {
        hdr->version = versions[i];
        ck_assert_int_eq(lbf_shm_attach(&h, base, len), LBF_EVERSION);
    }
    hdr->version = LBF_SHM_VERSION;
    ck_assert_int_eq(lbf_shm_attach(&h, base, len), LBF_OK);
}
END_TEST

START_TEST(shm_attach_rejects_other_sizes)
{
    struct lbf_layout lay = lbf_t_layout(1, 2);
    struct lbf_shm h;
    size_t len;
    struct lbf_hdr *hdr = shm_formatted(&h, &lay, &len);
    uint32_t *fields[3];
    size_t i;

    fields[0] = &hdr->hdr_size;
    fields[1] = &hdr->farm_size;
    fields[2] = &hdr->row_size;
    for (i = 0; i < LBF_T_NELEMS(fields); i++) {
        uint32_t keep = *fields[i];

        *fields[i] = keep - 64;
        ck_assert_msg(lbf_shm_attach(&h, hdr, len) == LBF_ELAYOUT,
                      "size field %zu smaller: accepted", i);
        *fields[i] = keep + 64;
        ck_assert_msg(lbf_shm_attach(&h, hdr, len) == LBF_ELAYOUT,
                      "size field %zu larger: accepted", i);
        *fields[i] = keep;
    }
    ck_assert_int_eq(lbf_shm_attach(&h, hdr, len), LBF_OK);
}
END_TEST

START_TEST(shm_attach_rejects_truncated_region)
{
    struct lbf_layout lay = lbf_t_layout(2, 4);
    struct lbf_shm h;
    size_t len;
    void *base = shm_formatted(&h, &lay, &len);
    size_t total = (size_t)h.hdr->total_len;

    ck_assert_int_eq(lbf_shm_attach(&h, base, total - 1), LBF_ELAYOUT);
    ck_assert_int_eq(lbf_shm_attach(&h, base, total / 2), LBF_ELAYOUT);
    ck_assert_int_eq(lbf_shm_attach(&h, base, sizeof(struct lbf_hdr)),
                     LBF_ELAYOUT);
    ck_assert_int_eq(lbf_shm_attach(&h, base, total), LBF_OK);
}
END_TEST

START_TEST(farm_add_returns_consecutive_indices)
{
    struct lbf_shm h;
    uint32_t ll = lbf_t_method("least-load");
    struct lbf_farm *f;

    lbf_t_segment(&h, 3, 4);
    ck_assert_int_eq(lbf_farm_add(&h, "a", 0, 4), 0);
    ck_assert_int_eq(lbf_farm_add(&h, "b", ll, 2), 1);
    ck_assert_int_eq(lbf_farm_add(&h, NAME31, 0, 1), 2);
    ck_assert_uint_eq(h.hdr->n_farms, 3);
    ck_assert_uint_eq(h.hdr->n_rows, 7);
    f = lbf_farm_at(&h, 1);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->magic, LBF_FARM_MAGIC);
    ck_assert_str_eq(f->name, "b");
    ck_assert_uint_eq(f->method, ll);
    ck_assert_uint_eq(f->l_rows, 2);
    ck_assert_uint_eq(f->n_rows, 0);
    ck_assert_str_eq(lbf_farm_at(&h, 2)->name, NAME31);
}
END_TEST

START_TEST(farm_add_rejects_duplicate_name)
{
    struct lbf_shm h;

    lbf_t_segment(&h, 3, 2);
    ck_assert_int_eq(lbf_farm_add(&h, "web", 0, 2), 0);
    ck_assert_int_eq(lbf_farm_add(&h, "web", 0, 2), LBF_EEXIST);
    ck_assert_int_eq(lbf_farm_add(&h, "web", 1, 1), LBF_EEXIST);
    ck_assert_uint_eq(h.hdr->n_farms, 1);
    /* names are exact: a prefix or another case is another farm */
    ck_assert_int_eq(lbf_farm_add(&h, "we", 0, 1), 1);
    ck_assert_int_eq(lbf_farm_add(&h, "WEB", 0, 1), 2);
}
END_TEST

START_TEST(farm_add_rejects_bad_name_or_capacity)
{
    static const struct {
        const char *name;
        uint32_t l_rows;
    } bad[] = {
        {"", 1},
        {NAME32, 1},
        {"ok", 0},
        {"ok", LBF_FARM_MEMBERS_MAX + 1},
    };
    struct lbf_shm h;
    size_t i;

    lbf_t_segment(&h, 2, 2);
    for (i = 0; i < LBF_T_NELEMS(bad); i++) {
        ck_assert_msg(lbf_farm_add(&h, bad[i].name, 0, bad[i].l_rows) ==
                          LBF_EINVAL,
                      "case %zu not LBF_EINVAL", i);
    }
    ck_assert_uint_eq(h.hdr->n_farms, 0);
    ck_assert_uint_eq(h.hdr->n_rows, 0);
    ck_assert_int_eq(lbf_farm_add(&h, NAME31, 0, 2), 0);
}
END_TEST

START_TEST(farm_add_reports_full_segment)
{
    struct lbf_layout lay;
    struct lbf_shm h;
    size_t len;

    /* farm slots: two farms fit, the third does not */
    lay = lbf_t_layout(2, 2);
    shm_formatted(&h, &lay, &len);
    ck_assert_int_eq(lbf_farm_add(&h, "a", 0, 2), 0);
    ck_assert_int_eq(lbf_farm_add(&h, "b", 0, 2), 1);
    ck_assert_int_eq(lbf_farm_add(&h, "c", 0, 1), LBF_ENOSPACE);
    ck_assert_uint_eq(h.hdr->n_farms, 2);

    /* rows: 6 in all, 4 taken, a farm of 3 does not fit, one of 2 does */
    lay.l_farms = 4;
    lay.l_rows = 6;
    lay.sched_len = lbf_sched_entries(6);
    shm_formatted(&h, &lay, &len);
    ck_assert_int_eq(lbf_farm_add(&h, "a", 0, 4), 0);
    ck_assert_int_eq(lbf_farm_add(&h, "b", 0, 3), LBF_ENOSPACE);
    ck_assert_int_eq(lbf_farm_add(&h, "b", 0, 2), 1);
    ck_assert_int_eq(lbf_farm_add(&h, "c", 0, 1), LBF_ENOSPACE);
    ck_assert_uint_eq(h.hdr->n_rows, 6);

    /* schedule area: room for farms of 2 members only */
    lay.l_farms = 4;
    lay.l_rows = 10;
    lay.sched_len = lbf_sched_entries(2);
    shm_formatted(&h, &lay, &len);
    ck_assert_int_eq(lbf_farm_add(&h, "a", 0, 3), LBF_ENOSPACE);
    ck_assert_int_eq(lbf_farm_add(&h, "a", 0, 2), 0);
    ck_assert_int_eq(lbf_farm_add(&h, "b", 0, 1), LBF_ENOSPACE);
}
END_TEST

START_TEST(member_add_fills_row)
{
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r;

    lbf_t_segment(&h, 2, 4);
    ck_assert_int_eq(lbf_farm_add(&h, "one", 0, 4), 0);
    ck_assert_int_eq(lbf_farm_add(&h, "two", 0, 4), 1);
    ck_assert_int_eq(lbf_member_add(&h, 1, "web1", 7, 0, 30), 0);
    ck_assert_int_eq(lbf_member_add(&h, 1, "spare", 3, 1, 0), 1);
    f = lbf_farm_at(&h, 1);
    ck_assert_uint_eq(f->n_rows, 2);
    r = lbf_t_row(&h, f, 1);
    ck_assert_uint_eq(r->magic, LBF_ROW_MAGIC);
    ck_assert_uint_eq(r->farm, 1);
    ck_assert_str_eq(r->name, "spare");
    ck_assert_uint_eq(atomic_load(&r->admin), LBF_ADMIN_ENABLED);
    ck_assert_uint_eq(atomic_load(&r->weight), 3);
    ck_assert_uint_eq(r->cfg_weight, 3);
    ck_assert_uint_eq(r->tier, 1);
    ck_assert_uint_eq(r->retry_sec, 0);
    r = lbf_t_row(&h, f, 0);
    ck_assert_str_eq(r->name, "web1");
    ck_assert_uint_eq(atomic_load(&r->weight), 7);
    ck_assert_uint_eq(r->retry_sec, 30);
    ck_assert_uint_eq(f->min_tier, 0);
    ck_assert_uint_eq(lbf_farm_at(&h, 0)->n_rows, 0);
}
END_TEST

START_TEST(member_add_rejects_duplicate_name)
{
    struct lbf_shm h;

    lbf_t_segment(&h, 2, 3);
    ck_assert_int_eq(lbf_farm_add(&h, "one", 0, 3), 0);
    ck_assert_int_eq(lbf_farm_add(&h, "two", 0, 3), 1);
    ck_assert_int_eq(lbf_member_add(&h, 0, "m1", 1, 0, 60), 0);
    ck_assert_int_eq(lbf_member_add(&h, 0, "m1", 2, 0, 60), LBF_EEXIST);
    ck_assert_uint_eq(lbf_farm_at(&h, 0)->n_rows, 1);
    /* the same name in another farm is another member */
    ck_assert_int_eq(lbf_member_add(&h, 1, "m1", 1, 0, 60), 0);
}
END_TEST

START_TEST(member_add_rejects_bad_name)
{
    static const char *const bad[] = {"", NAME32};
    struct lbf_shm h;
    size_t i;

    lbf_t_segment(&h, 1, 2);
    ck_assert_int_eq(lbf_farm_add(&h, "f", 0, 2), 0);
    for (i = 0; i < LBF_T_NELEMS(bad); i++) {
        ck_assert_int_eq(lbf_member_add(&h, 0, bad[i], 1, 0, 60), LBF_EINVAL);
    }
    ck_assert_int_eq(lbf_member_add(&h, 0, NAME31, 1, 0, 60), 0);
    ck_assert_str_eq(lbf_t_row(&h, lbf_farm_at(&h, 0), 0)->name, NAME31);
}
END_TEST

START_TEST(member_add_rejects_weight_outside_1_to_100)
{
    static const struct {
        uint32_t weight;
        int ok;
    } cases[] = {
        {0, 0},
        {1, 1},
        {50, 1},
        {LBF_WEIGHT_MAX, 1},
        {LBF_WEIGHT_MAX + 1, 0},
        {1000, 0},
        {0xffffffffu, 0},
    };
    struct lbf_shm h;
    size_t i;
    int next = 0;

    lbf_t_segment(&h, 1, 8);
    ck_assert_int_eq(lbf_farm_add(&h, "f", 0, 8), 0);
    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        char name[16];
        int rc;

        snprintf(name, sizeof(name), "w%u", cases[i].weight);
        rc = lbf_member_add(&h, 0, name, cases[i].weight, 0, 60);
        if (cases[i].ok) {
            ck_assert_msg(rc == next, "weight %u: rc %d", cases[i].weight, rc);
            next++;
        }
        else {
            ck_assert_msg(rc == LBF_EINVAL, "weight %u: rc %d", cases[i].weight,
                          rc);
        }
    }
    ck_assert_uint_eq(lbf_farm_at(&h, 0)->n_rows, 3);
}
END_TEST

START_TEST(member_add_reports_full_farm)
{
    struct lbf_shm h;
    struct lbf_farm *f0, *f1;

    lbf_t_segment(&h, 2, 2);
    ck_assert_int_eq(lbf_farm_add(&h, "one", 0, 2), 0);
    ck_assert_int_eq(lbf_farm_add(&h, "two", 0, 2), 1);
    ck_assert_int_eq(lbf_member_add(&h, 1, "x", 1, 0, 60), 0);
    ck_assert_int_eq(lbf_member_add(&h, 0, "a", 1, 0, 60), 0);
    ck_assert_int_eq(lbf_member_add(&h, 0, "b", 1, 0, 60), 1);
    ck_assert_int_eq(lbf_member_add(&h, 0, "c", 1, 0, 60), LBF_ENOSPACE);
    f0 = lbf_farm_at(&h, 0);
    f1 = lbf_farm_at(&h, 1);
    ck_assert_uint_eq(f0->n_rows, 2);
    /* the full farm did not spill into its neighbour's rows */
    ck_assert_str_eq(lbf_t_row(&h, f1, 0)->name, "x");
    ck_assert_uint_eq(f1->n_rows, 1);
}
END_TEST

START_TEST(member_add_rejects_unknown_farm)
{
    struct lbf_shm h;

    lbf_t_segment(&h, 2, 2);
    ck_assert_int_eq(lbf_farm_add(&h, "one", 0, 2), 0);
    ck_assert_int_lt(lbf_member_add(&h, 1, "a", 1, 0, 60), 0);
    ck_assert_int_lt(lbf_member_add(&h, 7, "a", 1, 0, 60), 0);
    ck_assert_int_lt(lbf_member_add(&h, UINT32_MAX, "a", 1, 0, 60), 0);
    ck_assert_uint_eq(h.hdr->n_rows, 2);
}
END_TEST

START_TEST(farm_find_and_member_find_match_exact_names)
{
    static const uint32_t w[] = {1, 2, 3};
    struct lbf_shm h;
    struct lbf_farm *f;

    lbf_t_segment(&h, 3, 3);
    lbf_t_farm(&h, "alpha", "weighted", w, NULL, 3, 0);
    f = lbf_t_farm(&h, "beta", "least-load", w, NULL, 2, 0);
    ck_assert_int_eq(lbf_farm_find(&h, "alpha"), 0);
    ck_assert_int_eq(lbf_farm_find(&h, "beta"), 1);
    ck_assert_int_lt(lbf_farm_find(&h, "gamma"), 0);
    ck_assert_int_lt(lbf_farm_find(&h, "alph"), 0);
    ck_assert_int_lt(lbf_farm_find(&h, "alphaa"), 0);
    ck_assert_int_lt(lbf_farm_find(&h, ""), 0);
    ck_assert_int_eq(lbf_member_find(&h, f, "m0"), 0);
    ck_assert_int_eq(lbf_member_find(&h, f, "m1"), 1);
    /* m2 exists in alpha only */
    ck_assert_int_lt(lbf_member_find(&h, f, "m2"), 0);
    ck_assert_int_eq(lbf_member_find(&h, lbf_farm_at(&h, 0), "m2"), 2);
}
END_TEST

START_TEST(farm_at_and_member_at_refuse_out_of_range)
{
    static const uint32_t w[] = {1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;

    lbf_t_segment(&h, 2, 4);
    f = lbf_t_farm(&h, "a", "weighted", w, NULL, 2, 4);
    ck_assert_ptr_null(lbf_farm_at(&h, 2));
    ck_assert_ptr_null(lbf_farm_at(&h, UINT32_MAX));
    ck_assert_ptr_nonnull(lbf_member_at(&h, f, 1));
    ck_assert_ptr_null(lbf_member_at(&h, f, 4));
    ck_assert_ptr_null(lbf_member_at(&h, f, UINT32_MAX));
}
END_TEST

START_TEST(rows_are_disjoint_aligned_and_inside_segment)
{
    static const uint32_t w[] = {1, 1, 1, 1};
    struct lbf_shm h;
    struct lbf_farm *f[3];
    const unsigned char *lo, *hi;
    const unsigned char *seen[12];
    uint32_t n = 0, fi, mi, k;

    lbf_t_segment(&h, 3, 4);
    f[0] = lbf_t_farm(&h, "a", "weighted", w, NULL, 4, 0);
    f[1] = lbf_t_farm(&h, "b", "weighted", w, NULL, 4, 0);
    f[2] = lbf_t_farm(&h, "c", "weighted", w, NULL, 4, 0);
    lo = h.base + sizeof(struct lbf_hdr) + 3 * sizeof(struct lbf_farm);
    hi = h.base + h.hdr->sched_off;
    for (fi = 0; fi < 3; fi++) {
        for (mi = 0; mi < 4; mi++) {
            const unsigned char *p =
                (const unsigned char *)lbf_t_row(&h, f[fi], mi);

            ck_assert(p >= lo && p + sizeof(struct lbf_row) <= hi);
            ck_assert_uint_eq((size_t)(p - h.base) % 64, 0);
            for (k = 0; k < n; k++) {
                ck_assert(p + sizeof(struct lbf_row) <= seen[k] ||
                          seen[k] + sizeof(struct lbf_row) <= p);
            }
            seen[n++] = p;
        }
    }
}
END_TEST

START_TEST(row_take_and_release_count_exactly)
{
    static const uint32_t w[] = {1};
    struct lbf_shm h;
    struct lbf_row *r;
    int i;

    lbf_t_segment(&h, 1, 1);
    r = lbf_t_row(&h, lbf_t_farm(&h, "f", "weighted", w, NULL, 1, 0), 0);
    for (i = 0; i < 5; i++) {
        lbf_row_take(r);
    }
    ck_assert_int_eq(atomic_load(&r->inflight), 5);
    ck_assert_uint_eq(atomic_load(&r->requests), 5);
    lbf_row_release(r, 0);
    lbf_row_release(r, 1);
    lbf_row_release(r, 1);
    ck_assert_int_eq(atomic_load(&r->inflight), 2);
    ck_assert_uint_eq(atomic_load(&r->requests), 5);
    ck_assert_uint_eq(atomic_load(&r->errors), 2);
}
END_TEST

START_TEST(row_usable_follows_admin_and_error_deadline)
{
    static const uint32_t w[] = {1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r, *r0;

    lbf_t_segment(&h, 1, 2);
    ck_assert_int_eq(lbf_farm_add(&h, "f", 0, 2), 0);
    ck_assert_int_eq(lbf_member_add(&h, 0, "retry60", w[0], 0, 60), 0);
    ck_assert_int_eq(lbf_member_add(&h, 0, "retry0", w[1], 0, 0), 1);
    f = lbf_farm_at(&h, 0);
    r = lbf_t_row(&h, f, 0);
    r0 = lbf_t_row(&h, f, 1);

    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW), 1);
    lbf_row_set_error(r, LBF_T_NOW);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW), 0);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW + 59 * LBF_T_SEC), 0);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW + 61 * LBF_T_SEC), 1);
    lbf_row_clear_error(r);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW), 1);
    ck_assert_uint_eq(atomic_load(&r->error_until), 0);

    /* retry 0: a failure never takes the member out */
    lbf_row_set_error(r0, LBF_T_NOW);
    ck_assert_int_eq(lbf_row_usable(r0, LBF_T_NOW), 1);

    atomic_store(&r->admin, LBF_ADMIN_OFFLINE);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW), 0);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW + 3600 * LBF_T_SEC), 0);
    atomic_store(&r->admin, LBF_ADMIN_ENABLED);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW), 1);
}
END_TEST

START_TEST(member_set_weight_validates_and_keeps_cfg_weight)
{
    static const uint32_t w[] = {5, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r;

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 2, 0);
    r = lbf_t_row(&h, f, 0);
    ck_assert_int_eq(lbf_member_set_weight(&h, f, 0, 0), LBF_EINVAL);
    ck_assert_int_eq(lbf_member_set_weight(&h, f, 0, LBF_WEIGHT_MAX + 1),
                     LBF_EINVAL);
    ck_assert_int_lt(lbf_member_set_weight(&h, f, 2, 3), 0);
    ck_assert_uint_eq(atomic_load(&r->weight), 5);
    ck_assert_int_eq(lbf_member_set_weight(&h, f, 0, LBF_WEIGHT_MAX), LBF_OK);
    ck_assert_uint_eq(atomic_load(&r->weight), LBF_WEIGHT_MAX);
    ck_assert_uint_eq(r->cfg_weight, 5);
    ck_assert_uint_eq(atomic_load(&f->lock.owner), 0);
}
END_TEST

/* The layout signature the header stores is the one recorded with the
 * version (a build that changed the layout without recording it does not
 * compile; built with -DLBF_SHM_LAYOUT_UNRECORDED, this prints it). */
START_TEST(shm_layout_signature_is_recorded)
{
    struct lbf_layout lay = lbf_t_layout(1, 2);
    struct lbf_shm h;
    size_t len;

    shm_formatted(&h, &lay, &len);
    ck_assert_msg(LBF_SHM_LAYOUT == LBF_SHM_LAYOUT_RECORDED,
                  "LBF_SHM_LAYOUT is %#010x, recorded %#010x: bump "
                  "LBF_SHM_VERSION and record it", (unsigned)LBF_SHM_LAYOUT,
                  (unsigned)LBF_SHM_LAYOUT_RECORDED);
    ck_assert_uint_eq(h.hdr->layout, LBF_SHM_LAYOUT);
    ck_assert_uint_eq(h.hdr->version, LBF_SHM_VERSION);
    ck_assert_uint_ge(LBF_SHM_VERSION, 2); /* a row grew: 1 is gone */
}
END_TEST

START_TEST(shm_attach_rejects_other_layout_signature)
{
    static const uint32_t flips[] = {1u, 0x80000000u, 0xffffffffu};
    struct lbf_layout lay = lbf_t_layout(1, 2);
    struct lbf_shm h;
    size_t len, i;
    struct lbf_hdr *hdr = shm_formatted(&h, &lay, &len);
    char why[160];

    for (i = 0; i < LBF_T_NELEMS(flips); i++) {
        hdr->layout = LBF_SHM_LAYOUT ^ flips[i];
        ck_assert_int_eq(lbf_shm_attach(&h, hdr, len), LBF_EVERSION);
        ck_assert_int_eq(lbf_shm_check(hdr, len, why, sizeof(why)),
                         LBF_EVERSION);
        ck_assert_msg(strstr(why, "layout version") != NULL, "why: %s", why);
    }
    hdr->layout = LBF_SHM_LAYOUT;
    ck_assert_int_eq(lbf_shm_attach(&h, hdr, len), LBF_OK);
}
END_TEST

/* A segment in use -- members added at runtime and removed, metrics,
 * health, a grown balancer farm -- passes the check that attach and
 * carry make. */
START_TEST(shm_check_accepts_a_segment_in_use)
{
    static const uint32_t w[] = {3, 1, 2};
    struct lbf_metric m = {"cpu", 250};
    struct lbf_shm h;
    struct lbf_farm *f, *b;
    char why[160] = "";

    lbf_t_segment(&h, 2, 6);
    f = lbf_t_farm(&h, "web", "weighted", w, NULL, 3, 6);
    ck_assert_int_eq(lbf_member_add_runtime(&h, 0, "rt", "http://10.0.0.1:80",
                                            2, 60), 3);
    ck_assert_int_eq(lbf_member_remove(&h, f, 1), LBF_OK);
    ck_assert_int_eq(lbf_row_write_metrics(&h, lbf_t_row(&h, f, 0), 1,
                                           LBF_T_NOW, 1, &m), LBF_OK);
    atomic_store(&lbf_t_row(&h, f, 2)->health, LBF_HEALTH_DOWN);
    ck_assert_int_eq(lbf_farm_add(&h, "~bal#00000001", 0, 4), 1);
    b = lbf_farm_at(&h, 1);
    ck_assert_int_eq(lbf_farm_grow(&h, 1, 3), 3);
    ck_assert_int_eq(lbf_shm_check(h.base, h.len, why, sizeof(why)), LBF_OK);
    ck_assert_str_eq(why, "");
    ck_assert_uint_eq(b->n_rows, 3);
}
END_TEST

START_TEST(farm_rows_adds_spare_rows_up_to_the_maximum)
{
    struct lbf_layout lay;

    ck_assert_uint_eq(lbf_farm_rows(3, LBF_SPARE_ROWS), 3 + LBF_SPARE_ROWS);
    ck_assert_uint_eq(lbf_farm_rows(0, 1), 1);
    ck_assert_uint_eq(lbf_farm_rows(LBF_FARM_MEMBERS_MAX - 2, 8),
                      LBF_FARM_MEMBERS_MAX);
    ck_assert_uint_eq(lbf_farm_rows(UINT32_MAX, UINT32_MAX),
                      LBF_FARM_MEMBERS_MAX);
    memset(&lay, 0, sizeof(lay));
    lbf_layout_add(&lay, 5);
    lbf_layout_add(&lay, 2);
    ck_assert_uint_eq(lay.l_farms, 2);
    ck_assert_uint_eq(lay.l_rows, 7);
    ck_assert_uint_eq(lay.sched_len, lbf_sched_entries(5)
                                     + lbf_sched_entries(2));
}
END_TEST

START_TEST(balancer_names_follow_the_documented_rules)
{
    static const uint32_t w[] = {1};
    char name[LBF_NAME_SIZE];
    struct lbf_shm h;
    struct lbf_farm *f;

    lbf_balancer_farm_name(name, "app", 0xbeefu);
    ck_assert_str_eq(name, "~app#0000beef");
    lbf_balancer_farm_name(name, "a-very-long-balancer-name-indeed", 1);
    ck_assert_str_eq(name, "~a-very-long-balancer#00000001");
    lbf_t_segment(&h, 1, 4);
    f = lbf_t_farm(&h, "~app#0000beef", "weighted", w, NULL, 1, 4);
    lbf_balancer_member_name(&h, f, "10.0.0.1", 8080, 1, name);
    ck_assert_str_eq(name, "10.0.0.1:8080");
    ck_assert_int_eq(lbf_member_add(&h, 0, name, 1, 0, 0), 1);
    /* the same host and port again: the member's number makes it unique */
    lbf_balancer_member_name(&h, f, "10.0.0.1", 8080, 2, name);
    ck_assert_str_eq(name, "10.0.0.1~2");
    lbf_balancer_member_name(&h, f, "backend-host-name-longer-than-20",
                             80, 3, name);
    ck_assert_str_eq(name, "backend-host-name-lo:80");
}
END_TEST

/* balancer-manager added members: rows "+<index>" of weight 1 until the
 * farm holds n, the schedule rebuilt with them, capacity respected. */
START_TEST(farm_grow_adds_rows_for_balancer_members)
{
    static const uint32_t w[] = {2, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    uint64_t st;

    lbf_t_segment(&h, 1, 5);
    f = lbf_t_farm(&h, "~b#00000000", "weighted", w, NULL, 2, 5);
    ck_assert_uint_eq((uint32_t)atomic_load(&f->sched), 3);
    ck_assert_int_eq(lbf_farm_grow(&h, 0, 2), 2);   /* nothing to add */
    ck_assert_int_eq(lbf_farm_grow(&h, 0, 4), 4);
    ck_assert_str_eq(lbf_t_row(&h, f, 2)->name, "+2");
    ck_assert_str_eq(lbf_t_row(&h, f, 3)->name, "+3");
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 3)->weight), 1);
    ck_assert_uint_eq(lbf_t_row(&h, f, 3)->retry_sec, 0);
    st = atomic_load(&f->sched);
    ck_assert_uint_eq((uint32_t)st, 5);              /* 2 + 1 + 1 + 1 */
    ck_assert_int_eq(lbf_farm_grow(&h, 0, 9), 5);   /* capacity 5 */
    ck_assert_int_eq(lbf_farm_grow(&h, 7, 9), LBF_ENOENT);
    ck_assert_uint_eq(atomic_load(&f->lock.owner), 0);
    ck_assert_int_eq(lbf_shm_check(h.base, h.len, NULL, 0), LBF_OK);
}
END_TEST

Suite *lbf_suite_shm(void)
{
    Suite *s = suite_create("shm");
    TCase *seg = tcase_create("segment");
    TCase *tab = tcase_create("table");
    TCase *row = tcase_create("row");

    tcase_add_test(seg, shm_size_covers_header_farms_rows_and_schedule);
    tcase_add_test(seg, shm_sched_entries_hold_two_buffers_of_max_period);
    tcase_add_test(seg, shm_format_rejects_short_region);
    tcase_add_test(seg, shm_format_fills_header);
    tcase_add_test(seg, shm_format_reused_region_starts_clean);
    tcase_add_test(seg, shm_attach_accepts_formatted_segment);
    tcase_add_test(seg, shm_attach_at_other_address_sees_same_farms);
    tcase_add_test(seg, shm_attach_rejects_foreign_magic);
    tcase_add_test(seg, shm_attach_rejects_other_version);
    tcase_add_test(seg, shm_attach_rejects_other_sizes);
    tcase_add_test(seg, shm_attach_rejects_truncated_region);
    tcase_add_test(seg, shm_layout_signature_is_recorded);
    tcase_add_test(seg, shm_attach_rejects_other_layout_signature);
    tcase_add_test(seg, shm_check_accepts_a_segment_in_use);
    tcase_set_timeout(seg, LBF_T_TIMEOUT);
    suite_add_tcase(s, seg);

    tcase_add_test(tab, farm_add_returns_consecutive_indices);
    tcase_add_test(tab, farm_add_rejects_duplicate_name);
    tcase_add_test(tab, farm_add_rejects_bad_name_or_capacity);
    tcase_add_test(tab, farm_add_reports_full_segment);
    tcase_add_test(tab, member_add_fills_row);
    tcase_add_test(tab, member_add_rejects_duplicate_name);
    tcase_add_test(tab, member_add_rejects_bad_name);
    tcase_add_test(tab, member_add_rejects_weight_outside_1_to_100);
    tcase_add_test(tab, member_add_reports_full_farm);
    tcase_add_test(tab, member_add_rejects_unknown_farm);
    tcase_add_test(tab, farm_find_and_member_find_match_exact_names);
    tcase_add_test(tab, farm_at_and_member_at_refuse_out_of_range);
    tcase_add_test(tab, rows_are_disjoint_aligned_and_inside_segment);
    tcase_add_test(tab, farm_rows_adds_spare_rows_up_to_the_maximum);
    tcase_add_test(tab, balancer_names_follow_the_documented_rules);
    tcase_add_test(tab, farm_grow_adds_rows_for_balancer_members);
    tcase_set_timeout(tab, LBF_T_TIMEOUT);
    suite_add_tcase(s, tab);

    tcase_add_test(row, row_take_and_release_count_exactly);
    tcase_add_test(row, row_usable_follows_admin_and_error_deadline);
    tcase_add_test(row, member_set_weight_validates_and_keeps_cfg_weight);
    tcase_set_timeout(row, LBF_T_TIMEOUT);
    suite_add_tcase(s, row);
    return s;
}
