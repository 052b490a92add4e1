/* target_parse: AMD target IDs, NVIDIA sm_XY, cpu, and the error message. */
#include <criterion/criterion.h>
#include <string.h>

#include "target.h"

/* Parses `text`, which must be accepted. */
static void parse_ok(const char *text, target_t *t) {
  greta_status_t s = target_parse(text, t);
  cr_assert(!s, "%s: %s", text, greta_status_message(s));
}

Test(target, gfx942_gets_mi300x_id) {
  target_t t;
  parse_ok("gfx942", &t);
  cr_assert_str_eq(t.id, "gfx942:sramecc+:xnack-");
  cr_assert_str_eq(t.chip, "gfx942");
  cr_assert_eq(t.arch, TARGET_AMD);
  cr_assert_eq(t.wave, 64);
  cr_assert_eq(t.sm, 0);
}

Test(target, full_amd_id_is_canonicalised) {
  target_t t;
  parse_ok("gfx942:xnack-:sramecc+", &t);
  cr_assert_str_eq(t.id, "gfx942:sramecc+:xnack-");
  parse_ok("gfx942:xnack+", &t);
  cr_assert_str_eq(t.id, "gfx942:xnack+");
  parse_ok("gfx90a", &t);
  cr_assert_str_eq(t.id, "gfx90a");
  cr_assert_str_eq(t.chip, "gfx90a");
}

Test(target, nvidia) {
  target_t t;
  parse_ok("sm_90", &t);
  cr_assert_str_eq(t.id, "sm_90");
  cr_assert_eq(t.arch, TARGET_NVIDIA);
  cr_assert_eq(t.wave, 32);
  cr_assert_eq(t.sm, 90);
  parse_ok("sm_80", &t);
  cr_assert_eq(t.sm, 80);
}

Test(target, cpu) {
  target_t t;
  parse_ok("cpu", &t);
  cr_assert_eq(t.arch, TARGET_CPU);
  cr_assert_str_eq(t.id, "cpu");
}

Test(target, bad_targets_say_what_is_accepted) {
  const char *bad[] = {"gfx1100", "sm_70", "tpu", "", "gfx942:foo+", "gfx942:xnack", "gfx942:xnack-:xnack+",
                       "gfx9420"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    target_t t;
    greta_status_t s = target_parse(bad[i], &t);
    cr_assert(s, "accepted '%s'", bad[i]);
    const char *err = greta_status_message(s);
    cr_assert(strstr(err, "gfx942") && strstr(err, "sm_90") && strstr(err, "cpu"), "message: %s", err);
    greta_status_free(s);
  }
  target_t t;
  greta_status_t s = target_parse(NULL, &t);
  cr_assert(s);
  greta_status_free(s);
}
