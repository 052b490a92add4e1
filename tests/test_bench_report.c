/* bench/report.py, which turns the GPU machine's raw.json into the tables of
 * docs/benchmarks.md: its --selftest builds the gemm7b section from made-up
 * rows and checks that cuBLAS is compared with greta's GEMM launch alone
 * (the step also holds rms_scale) and that a profile without exactly one
 * matmul launch leaves a note instead of a ratio. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

Test(bench_report, gemm7b_section_selftest) {
  if (system("command -v python3 >/dev/null 2>&1") != 0)
    cr_skip_test("python3 not installed (scripts/bootstrap.sh installs it)");
  char *out = NULL;
  int rc = support_run("python3 " GRETA_SOURCE_DIR "/bench/report.py --selftest", &out);
  cr_expect_eq(rc, 0, "report.py --selftest exited %d:\n%s", rc, out);
  cr_expect(strstr(out, "selftest: ok"), "selftest output:\n%s", out);
  free(out);
}
