/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_hash.c -- the method `hash` (lbfarm_hash.c): a key keeps its
 * member, removing or adding one member moves only about 1/n of keys and
 * only the keys it must, the load bound holds under skewed keys, weights
 * count, unusable members are skipped, and slow start gives a ramping
 * member a reduced, growing share of its keys (in farm and balancer://
 * mode).
 */
#include <pthread.h>

#include "lbf_unit.h"
#include "lbfarm_hash.h"

#define H_KEYS 10000

static const uint32_t h_w10[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

/* "key-<i>" into buf; returns its length. */
static uint32_t h_key(char *buf, size_t len, uint32_t i)
{
    return (uint32_t)snprintf(buf, len, "key-%u", i);
}

/* The member hash would pick for key i now, without taking it. */
static int h_peek(struct lbf_pick *pk, uint32_t i)
{
    char k[32];

    pk->key = k;
    pk->key_len = h_key(k, sizeof(k), i);
    return lbf_pick_peek(lbf_t_method("hash"), pk);
}

/* Members of H_KEYS keys into out[]. */
static void h_assign(struct lbf_pick *pk, int *out)
{
    uint32_t i;

    for (i = 0; i < H_KEYS; i++) {
        out[i] = h_peek(pk, i);
        ck_assert_int_ge(out[i], 0);
    }
}

static struct lbf_farm *h_farm(struct lbf_shm *h, const uint32_t *w,
                               const uint32_t *tier, uint32_t n,
                               uint32_t cap)
{
    lbf_t_segment(h, 1, cap);
    return lbf_t_farm(h, "hashfarm", "hash", w, tier, n, cap);
}

START_TEST(hash_is_registered_and_reads_keys)
{
    int mi = lbf_method_find("hash");

    ck_assert_int_ge(mi, 0);
    ck_assert(lbf_method_uses_key((uint32_t)mi));
    ck_assert(!lbf_method_uses_key(lbf_t_method("least-load")));
    ck_assert(!lbf_method_uses_key(LBF_METHOD_FOREIGN));
    ck_assert_ptr_nonnull(strstr(lbf_method_list(), "hash"));
}
END_TEST

START_TEST(hash64_is_stable_and_seeded)
{
    ck_assert_uint_eq(lbf_hash64("abc", 3, 1), lbf_hash64("abc", 3, 1));
    ck_assert_uint_ne(lbf_hash64("abc", 3, 1), lbf_hash64("abc", 3, 2));
    ck_assert_uint_ne(lbf_hash64("abc", 3, 1), lbf_hash64("abd", 3, 1));
    ck_assert_uint_ne(lbf_hash64("", 0, 1), lbf_hash64("\0", 1, 1));
    ck_assert_uint_ne(lbf_hash64("12345678a", 9, 1),
                      lbf_hash64("12345678b", 9, 1));
}
END_TEST

START_TEST(hash_same_key_same_member)
{
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, h_w10, NULL, 10, 10);
    uint64_t rng = LBF_T_SEED;
    struct lbf_pick pk;
    uint32_t i, r;
    char k[32];

    lbf_t_pick_init(&pk, &h, f, &rng);
    for (i = 0; i < 500; i++) {
        int first = -1;

        pk.key = k;
        pk.key_len = h_key(k, sizeof(k), i);
        for (r = 0; r < 5; r++) {
            int mi = lbf_pick_take(lbf_t_method("hash"), &pk);

            ck_assert_int_ge(mi, 0);
            ck_assert_int_eq(mi, first < 0 ? mi : first);
            first = mi;
            ck_assert_int_eq(mi, lbf_hash_owner(&pk, k, pk.key_len));
            lbf_row_release(lbf_t_row(&h, f, (uint32_t)mi), 0);
        }
    }
}
END_TEST

START_TEST(hash_spreads_keys_evenly)
{
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, h_w10, NULL, 10, 10);
    uint64_t rng = LBF_T_SEED;
    static int a[H_KEYS];
    uint32_t cnt[10] = {0}, i;
    struct lbf_pick pk;

    lbf_t_pick_init(&pk, &h, f, &rng);
    h_assign(&pk, a);
    for (i = 0; i < H_KEYS; i++) {
        cnt[a[i]]++;
    }
    for (i = 0; i < 10; i++) { /* 160 points each: within +-30 % */
        ck_assert_msg(cnt[i] >= 700 && cnt[i] <= 1300, "m%u has %u keys", i,
                      cnt[i]);
    }
}
END_TEST

START_TEST(hash_remove_moves_only_its_keys)
{
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, h_w10, NULL, 10, 10);
    uint64_t rng = LBF_T_SEED;
    static int before[H_KEYS], after[H_KEYS], back[H_KEYS];
    uint32_t i, moved = 0, gone = 0, spread[10] = {0};
    struct lbf_pick pk;

    lbf_t_pick_init(&pk, &h, f, &rng);
    h_assign(&pk, before);
    lbf_row_set_admin(lbf_t_row(&h, f, 3), LBF_ADMIN_OFFLINE, pk.now);
    h_assign(&pk, after);
    for (i = 0; i < H_KEYS; i++) {
        if (after[i] != before[i]) {
            moved++;
            ck_assert_int_eq(before[i], 3); /* only m3's keys move */
            spread[after[i]]++;
        }
        gone += before[i] == 3;
        ck_assert_int_ne(after[i], 3);
    }
    ck_assert_uint_eq(moved, gone);
    ck_assert_uint_le(moved, H_KEYS / 10 + H_KEYS * 5 / 100);
    for (i = 0, gone = 0; i < 10; i++) {
        gone += spread[i] > 0; /* its keys spread over the others */
    }
    ck_assert_uint_ge(gone, 7);
    /* back online: every key returns to its member */
    lbf_row_set_admin(lbf_t_row(&h, f, 3), LBF_ADMIN_ENABLED, pk.now);
    f->slowstart_ms = 0;
    h_assign(&pk, back);
    ck_assert_int_eq(memcmp(back, before, sizeof(before)), 0);
}
END_TEST

START_TEST(hash_add_moves_about_one_in_n_plus_one)
{
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, h_w10, NULL, 10, 11);
    uint64_t rng = LBF_T_SEED;
    static int before[H_KEYS], after[H_KEYS];
    uint32_t i, moved = 0;
    struct lbf_pick pk;

    lbf_t_pick_init(&pk, &h, f, &rng);
    h_assign(&pk, before);
    ck_assert_int_eq(lbf_member_add(&h, 0, "m10", 1, 0, 60), 10);
    ck_assert_int_eq(lbf_farm_rebuild(&h, f), LBF_OK);
    h_assign(&pk, after);
    for (i = 0; i < H_KEYS; i++) {
        if (after[i] != before[i]) {
            moved++;
            ck_assert_int_eq(after[i], 10); /* moves only to the new one */
        }
    }
    ck_assert_uint_gt(moved, H_KEYS / 11 / 2);
    ck_assert_uint_le(moved, H_KEYS / 11 + H_KEYS * 5 / 100);
}
END_TEST

/* Skewed keys (half the requests one hot key, a quarter four warm keys),
 * taken and never released: after every pick no member carries more than
 * ceil(c x total / n), the bound of Mirrokni et al.  A count reused
 * within LBF_HASH_LOAD_USEC only lags behind a growing total (a stricter
 * bound): checked too, with every pick at the same time. */
START_TEST(hash_bound_holds_under_skewed_keys)
{
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, h_w10, NULL, 10, 10);
    uint64_t rng = LBF_T_SEED, gen = 7;
    uint32_t i, m, total = 0, hot_home;
    struct lbf_pick pk;
    char k[32];

    lbf_t_pick_init(&pk, &h, f, &rng);
    hot_home = (uint32_t)lbf_hash_owner(&pk, "key-0", 5);
    for (i = 0; i < 2000; i++) {
        uint32_t u = (uint32_t)(lbf_rng_next(&gen) % 100), max = 0;
        int mi;

        pk.now += LBF_HASH_LOAD_USEC; /* requests spread in time: each
                                         pick counts the farm afresh */
        pk.key = k;
        pk.key_len = h_key(k, sizeof(k), u < 50 ? 0
                           : u < 75 ? 1 + u % 4 : 100 + (uint32_t)i);
        mi = lbf_pick_take(lbf_t_method("hash"), &pk);
        ck_assert_int_ge(mi, 0);
        total++;
        for (m = 0; m < 10; m++) {
            uint32_t in = (uint32_t)atomic_load(&lbf_t_row(&h, f,
                                                           m)->inflight);
            max = in > max ? in : max;
        }
        ck_assert_msg(max <= (total * 5 + 39) / 40 + 1, "pick %u: max %u "
                      "over ceil(1.25 x %u / 10)", i, max, total);
    }
    /* same time, the count reused: still within the bound */
    for (i = 0; i < 300; i++) {
        uint32_t max = 0;

        pk.key = k;
        pk.key_len = h_key(k, sizeof(k), i % 3);
        ck_assert_int_ge(lbf_pick_take(lbf_t_method("hash"), &pk), 0);
        total++;
        for (m = 0; m < 10; m++) {
            uint32_t in = (uint32_t)atomic_load(&lbf_t_row(&h, f,
                                                           m)->inflight);
            max = in > max ? in : max;
        }
        ck_assert_uint_le(max, (total * 5 + 39) / 40 + 1);
    }
    /* the hot key's member is full, not overfull */
    ck_assert_uint_ge(atomic_load(&lbf_t_row(&h, f, hot_home)->inflight),
                      (int)(total / 10));
}
END_TEST

/* include/lbfarm_hash.h's worked example: in flight 3, 0, 0. */
START_TEST(hash_worked_example_passes_a_full_member)
{
    static const uint32_t w3[3] = {1, 1, 1};
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, w3, NULL, 3, 3);
    uint64_t rng = LBF_T_SEED;
    struct lbf_pick pk;
    uint32_t i;
    char k[32];
    int home;

    lbf_t_pick_init(&pk, &h, f, &rng);
    for (i = 0; lbf_hash_owner(&pk, k, h_key(k, sizeof(k), i)) != 0; i++) {
    }
    pk.key = k;
    pk.key_len = (uint32_t)strlen(k);
    atomic_store(&lbf_t_row(&h, f, 0)->inflight, 3);
    home = lbf_pick_peek(lbf_t_method("hash"), &pk);
    ck_assert_int_ne(home, 0);
    ck_assert_int_ge(home, 1);
    atomic_store(&lbf_t_row(&h, f, 0)->inflight, 1);
    atomic_store(&lbf_t_row(&h, f, 1)->inflight, 1);
    atomic_store(&lbf_t_row(&h, f, 2)->inflight, 1);
    pk.now += LBF_HASH_LOAD_USEC;
    ck_assert_int_eq(lbf_pick_peek(lbf_t_method("hash"), &pk), 0);
    /* 2 + 1 > ceil(1.25 x (2 + 1) / 3) = 2 */
    atomic_store(&lbf_t_row(&h, f, 0)->inflight, 2);
    atomic_store(&lbf_t_row(&h, f, 1)->inflight, 0);
    atomic_store(&lbf_t_row(&h, f, 2)->inflight, 0);
    pk.now += LBF_HASH_LOAD_USEC;
    ck_assert_int_ne(lbf_pick_peek(lbf_t_method("hash"), &pk), 0);
}
END_TEST

START_TEST(hash_weights_count)
{
    static const uint32_t w[4] = {1, 2, 3, 4};
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, w, NULL, 4, 4);
    uint64_t rng = LBF_T_SEED;
    static int a[H_KEYS];
    uint32_t cnt[4] = {0}, i;
    struct lbf_pick pk;

    lbf_t_pick_init(&pk, &h, f, &rng);
    h_assign(&pk, a);
    for (i = 0; i < H_KEYS; i++) {
        cnt[a[i]]++;
    }
    for (i = 0; i < 4; i++) { /* share w/10, within 4 points */
        ck_assert_msg(cnt[i] >= (w[i] * 10 - 4) * H_KEYS / 100
                      && cnt[i] <= (w[i] * 10 + 4) * H_KEYS / 100,
                      "m%u (weight %u) has %u keys", i, w[i], cnt[i]);
    }
    /* a weight change rebuilds the ring: m0 at weight 4 gains keys, and
     * only m0 gains */
    ck_assert_int_eq(lbf_member_set_weight(&h, f, 0, 4), LBF_OK);
    {
        static int b[H_KEYS];
        uint32_t m0 = 0;

        h_assign(&pk, b);
        for (i = 0; i < H_KEYS; i++) {
            if (b[i] != a[i]) {
                ck_assert_int_eq(b[i], 0);
            }
            m0 += b[i] == 0;
        }
        ck_assert_uint_gt(m0, 2 * cnt[0]);
    }
}
END_TEST

START_TEST(hash_skips_unusable_and_later_tiers)
{
    static const uint32_t w[4] = {1, 1, 1, 1};
    static const uint32_t tier[4] = {0, 0, 0, 1};
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, w, tier, 4, 4);
    uint64_t rng = LBF_T_SEED;
    static int a[H_KEYS];
    uint32_t i;
    struct lbf_pick pk;

    lbf_t_pick_init(&pk, &h, f, &rng);
    atomic_store(&lbf_t_row(&h, f, 1)->health, LBF_HEALTH_DOWN);
    lbf_row_set_error(lbf_t_row(&h, f, 2), pk.now);
    h_assign(&pk, a);
    for (i = 0; i < H_KEYS; i++) {
        ck_assert_int_eq(a[i], 0); /* the standby waits while m0 is up */
    }
    lbf_row_set_admin(lbf_t_row(&h, f, 0), LBF_ADMIN_DRAIN, pk.now);
    h_assign(&pk, a);
    for (i = 0; i < H_KEYS; i++) {
        ck_assert_int_eq(a[i], 3); /* then it takes every key */
    }
    pk.exclude = 3;
    ck_assert_int_eq(h_peek(&pk, 1), -1);
}
END_TEST

/* A member in its slow start takes the keys whose fraction is below its
 * ramp: about ramp x its share, a growing set (no key leaves it again). */
START_TEST(hash_ramp_reduces_share)
{
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, h_w10, NULL, 10, 10);
    uint64_t rng = LBF_T_SEED;
    static int full[H_KEYS], r20[H_KEYS], r60[H_KEYS];
    uint32_t i, own = 0, n20 = 0, n60 = 0;
    struct lbf_pick pk;

    lbf_t_pick_init(&pk, &h, f, &rng);
    h_assign(&pk, full);
    f->slowstart_ms = 10000;
    atomic_store(&lbf_t_row(&h, f, 4)->up_since, pk.now - 2 * LBF_T_SEC);
    h_assign(&pk, r20);
    atomic_store(&lbf_t_row(&h, f, 4)->up_since, pk.now - 6 * LBF_T_SEC);
    h_assign(&pk, r60);
    for (i = 0; i < H_KEYS; i++) {
        own += full[i] == 4;
        n20 += r20[i] == 4;
        n60 += r60[i] == 4;
        ck_assert(r20[i] != 4 || full[i] == 4); /* only its own keys */
        ck_assert(r20[i] != 4 || r60[i] == 4);  /* a key back stays back */
        ck_assert(full[i] == 4 || r20[i] == full[i]); /* others unmoved */
    }
    ck_assert_msg(n20 * 100 >= own * 12 && n20 * 100 <= own * 28,
                  "ramp 0.2: %u of %u keys", n20, own);
    ck_assert_msg(n60 * 100 >= own * 50 && n60 * 100 <= own * 70,
                  "ramp 0.6: %u of %u keys", n60, own);
}
END_TEST

/* The glue's callback of balancer:// mode refuses member 1 (mod_proxy has
 * it in error): it is marked away; the first pick that finds it usable
 * again starts its slow start.  Any method: least-load here. */
static int h_refuse;

static int h_usable(void *uctx, uint32_t mi)
{
    (void)uctx;
    return (int)mi == h_refuse ? -1 : 0;
}

START_TEST(balancer_member_back_starts_its_ramp)
{
    static const uint32_t w[3] = {1, 1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    uint64_t rng = LBF_T_SEED;
    struct lbf_pick pk;
    uint32_t i, got = 0;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "bal", "least-load", w, NULL, 3, 3);
    f->slowstart_ms = 10000;
    lbf_t_pick_init(&pk, &h, f, &rng);
    pk.usable = h_usable;
    h_refuse = 1;
    ck_assert_int_ne(lbf_pick_peek(lbf_t_method("least-load"), &pk), 1);
    ck_assert_uint_eq(lbf_ramp(&pk, lbf_t_row(&h, f, 1)), 1000);
    h_refuse = -1;
    pk.now += LBF_T_SEC;
    lbf_pick_peek(lbf_t_method("least-load"), &pk);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 1)->up_since), pk.now);
    ck_assert_uint_eq(lbf_ramp(&pk, lbf_t_row(&h, f, 1)), LBF_RAMP_MIN);
    for (i = 0; i < 3000; i++) { /* idle farm: ~1/3 x 0.1 of picks */
        got += lbf_pick_peek(lbf_t_method("least-load"), &pk) == 1;
    }
    ck_assert_msg(got < 3000 / 3 / 4, "ramping member got %u of 3000", got);
    pk.now += 10 * LBF_T_SEC;
    ck_assert_uint_eq(lbf_ramp(&pk, lbf_t_row(&h, f, 1)), 1000);
}
END_TEST

/* Threads of fork()ed processes pick with hash while one of them changes
 * weights (every change rebuilds each process's ring under its pickers):
 * every pick is a member, and every taken row is released exactly. */
struct h_hammer {
    struct lbf_shm *h;
    struct lbf_farm *f;
    uint32_t seed;
    uint32_t bad;
};

static void *h_hammer_thread(void *p)
{
    struct h_hammer *a = p;
    uint64_t rng = LBF_T_SEED ^ a->seed;
    struct lbf_pick pk;
    uint32_t i;
    char k[32];

    lbf_t_pick_init(&pk, a->h, a->f, &rng);
    for (i = 0; i < 20000; i++) {
        int mi;

        pk.now += 50;
        pk.key = k;
        pk.key_len = h_key(k, sizeof(k),
                           (uint32_t)(lbf_rng_next(&rng) % 500));
        mi = lbf_pick_take(lbf_t_method("hash"), &pk);
        if (mi < 0 || mi >= 10) {
            a->bad++;
            continue;
        }
        if (a->seed == 1 && i % 1000 == 0) {
            lbf_member_set_weight(a->h, a->f, i / 1000 % 10,
                                  1 + i / 1000 % 3);
        }
        lbf_row_release(lbf_t_row(a->h, a->f, (uint32_t)mi), 0);
    }
    return NULL;
}

START_TEST(hash_rings_rebuild_under_concurrent_picks)
{
    struct lbf_shm h;
    struct lbf_farm *f = h_farm(&h, h_w10, NULL, 10, 10);
    pid_t parent = getpid(), pids[2];
    uint32_t p, i;

    for (p = 0; p < 2; p++) {
        if ((pids[p] = fork()) == 0) {
            struct h_hammer a[2] = {{&h, f, p * 2 + 1, 0},
                                    {&h, f, p * 2 + 2, 0}};
            pthread_t t;

            lbf_t_worker_init(parent);
            pthread_create(&t, NULL, h_hammer_thread, &a[1]);
            h_hammer_thread(&a[0]);
            pthread_join(t, NULL);
            _exit(a[0].bad + a[1].bad == 0 ? 0 : 1);
        }
    }
    for (p = 0; p < 2; p++) {
        lbf_t_wait_ok(pids[p], "hash picker");
    }
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(atomic_load(&lbf_t_row(&h, f, i)->inflight), 0);
    }
}
END_TEST

Suite *lbf_suite_hash(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("hash");

    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    tcase_add_test(tc, hash_is_registered_and_reads_keys);
    tcase_add_test(tc, hash64_is_stable_and_seeded);
    tcase_add_test(tc, hash_same_key_same_member);
    tcase_add_test(tc, hash_spreads_keys_evenly);
    tcase_add_test(tc, hash_remove_moves_only_its_keys);
    tcase_add_test(tc, hash_add_moves_about_one_in_n_plus_one);
    tcase_add_test(tc, hash_bound_holds_under_skewed_keys);
    tcase_add_test(tc, hash_worked_example_passes_a_full_member);
    tcase_add_test(tc, hash_weights_count);
    tcase_add_test(tc, hash_skips_unusable_and_later_tiers);
    tcase_add_test(tc, hash_ramp_reduces_share);
    tcase_add_test(tc, balancer_member_back_starts_its_ramp);
    tcase_add_test(tc, hash_rings_rebuild_under_concurrent_picks);
    suite_add_tcase(s, tc);
    return s;
}
