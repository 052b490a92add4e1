/* target_parse: AMD target IDs, NVIDIA sm_XY, cpu, and the error message. */
#include <criterion/criterion.h>
#include <string.h>

#include "target.h"

Test(target, gfx942_gets_mi300x_id) {
  target_t t;
  char err[512];
  cr_assert(target_parse("gfx942", &t, err, sizeof err), "%s", err);
  cr_assert_str_eq(t.id, "gfx942:sramecc+:xnack-");
  cr_assert_str_eq(t.chip, "gfx942");
  cr_assert_eq(t.arch, TARGET_AMD);
  cr_assert_eq(t.wave, 64);
  cr_assert_eq(t.sm, 0);
}

Test(target, full_amd_id_is_canonicalised) {
  target_t t;
  char err[512];
  cr_assert(target_parse("gfx942:xnack-:sramecc+", &t, err, sizeof err), "%s", err);
  cr_assert_str_eq(t.id, "gfx942:sramecc+:xnack-");
  cr_assert(target_parse("gfx942:xnack+", &t, err, sizeof err), "%s", err);
  cr_assert_str_eq(t.id, "gfx942:xnack+");
  cr_assert(target_parse("gfx90a", &t, err, sizeof err), "%s", err);
  cr_assert_str_eq(t.id, "gfx90a");
  cr_assert_str_eq(t.chip, "gfx90a");
}

Test(target, nvidia) {
  target_t t;
  char err[512];
  cr_assert(target_parse("sm_90", &t, err, sizeof err), "%s", err);
  cr_assert_str_eq(t.id, "sm_90");
  cr_assert_eq(t.arch, TARGET_NVIDIA);
  cr_assert_eq(t.wave, 32);
  cr_assert_eq(t.sm, 90);
  cr_assert(target_parse("sm_80", &t, err, sizeof err), "%s", err);
  cr_assert_eq(t.sm, 80);
}

Test(target, cpu) {
  target_t t;
  char err[512];
  cr_assert(target_parse("cpu", &t, err, sizeof err), "%s", err);
  cr_assert_eq(t.arch, TARGET_CPU);
  cr_assert_str_eq(t.id, "cpu");
}

Test(target, bad_targets_say_what_is_accepted) {
  const char *bad[] = {"gfx1100", "sm_70", "tpu", "", "gfx942:foo+", "gfx942:xnack", "gfx942:xnack-:xnack+",
                       "gfx9420"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    target_t t;
    char err[512] = "";
    cr_assert_not(target_parse(bad[i], &t, err, sizeof err), "accepted '%s'", bad[i]);
    cr_assert(strstr(err, "gfx942") && strstr(err, "sm_90") && strstr(err, "cpu"), "message: %s", err);
  }
  target_t t;
  cr_assert_not(target_parse(NULL, &t, NULL, 0));
}
