/* greta_device_open: explicit kinds, AUTO, and the GRETA_BACKEND override. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"

Test(device, cpu_is_always_there) {
  greta_device_t *d;
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &d);
  cr_assert_null(st, "%s", greta_status_message(st));
  cr_expect_str_eq(greta_device_backend_name(d), "cpu");
  cr_expect_str_eq(greta_device_target(d), "cpu");
  greta_device_destroy(d);
}

Test(device, bad_kind_is_refused) {
  greta_device_t *d = (greta_device_t *)1;
  greta_status_t st = greta_device_open((greta_backend_kind_t)7, 0, &d);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
  cr_expect(strstr(greta_status_message(st), "backend kind 7"), "%s", greta_status_message(st));
  cr_expect_null(d);
  greta_status_free(st);
}

Test(device, greta_backend_overrides_auto) {
  setenv("GRETA_BACKEND", "cpu", 1);
  greta_device_t *d;
  greta_status_t st = greta_device_open(GRETA_BACKEND_AUTO, 0, &d);
  cr_assert_null(st, "%s", greta_status_message(st));
  cr_expect_str_eq(greta_device_backend_name(d), "cpu");
  greta_device_destroy(d);

  setenv("GRETA_BACKEND", "tpu", 1);
  st = greta_device_open(GRETA_BACKEND_AUTO, 0, &d);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
  cr_expect(strstr(greta_status_message(st), "GRETA_BACKEND=\"tpu\""), "%s", greta_status_message(st));
  greta_status_free(st);

  /* An explicit kind ignores the variable. */
  st = greta_device_open(GRETA_BACKEND_CPU, 0, &d);
  cr_assert_null(st, "%s", greta_status_message(st));
  greta_device_destroy(d);
  unsetenv("GRETA_BACKEND");
}
