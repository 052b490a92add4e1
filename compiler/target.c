/* --target parsing: AMD target IDs (chip[:feature±]...), NVIDIA sm_XY, cpu. */
#include "target.h"

#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* AMD chips we generate code for: CDNA (wave64, with MFMA). */
static const char *const amd_chips[] = {"gfx908", "gfx90a", "gfx940", "gfx941", "gfx942"};
static const int nvidia_sms[] = {80, 86, 89, 90};

static greta_status_t target_error(const char *text, const char *why) {
  return greta_status_make(GRETA_INVALID_ARGUMENT,
             "unknown target '%s'%s%s; accepted: gfx942 (MI300X, gfx942:sramecc+:xnack-), "
             "gfx940, gfx941, gfx90a, gfx908 (optionally with :sramecc+/- :xnack+/-), "
             "sm_80, sm_86, sm_89, sm_90, cpu",
             text ? text : "(null)", why ? ": " : "", why ? why : "");
}

/* Parses "gfx942[:sramecc+][:xnack-]" into out. */
static greta_status_t parse_amd(const char *text, target_t *out) {
  const char *colon = strchr(text, ':');
  size_t chip_len = colon ? (size_t)(colon - text) : strlen(text);
  const char *chip = NULL;
  for (size_t i = 0; i < sizeof amd_chips / sizeof amd_chips[0]; i++)
    if (strlen(amd_chips[i]) == chip_len && strncmp(text, amd_chips[i], chip_len) == 0)
      chip = amd_chips[i];
  if (!chip) {
    return target_error(text, "not a supported AMD chip");
  }
  /* Features: 0 = unspecified ("any"), '+' or '-'. */
  char sramecc = 0, xnack = 0;
  const char *p = colon;
  while (p && *p == ':') {
    const char *name = p + 1;
    const char *next = strchr(name, ':');
    size_t len = next ? (size_t)(next - name) : strlen(name);
    char sign = len ? name[len - 1] : 0;
    if (sign != '+' && sign != '-') {
      return target_error(text, "a target feature must end in + or -");
    }
    char *slot = NULL;
    if (len - 1 == 7 && strncmp(name, "sramecc", 7) == 0) slot = &sramecc;
    else if (len - 1 == 5 && strncmp(name, "xnack", 5) == 0) slot = &xnack;
    if (!slot || *slot) {
      return target_error(text, slot ? "feature given twice" : "unknown feature (sramecc, xnack)");
    }
    *slot = sign;
    p = next;
  }
  /* MI300X rejects code objects built for "any" xnack/sramecc: bare gfx942
   * means the MI300X configuration. */
  if (strcmp(chip, "gfx942") == 0 && !sramecc && !xnack) {
    sramecc = '+';
    xnack = '-';
  }
  memset(out, 0, sizeof *out);
  out->arch = TARGET_AMD;
  out->wave = 64;
  /* MI300X; MI250X's GCD (gfx90a) 110; MI100 (gfx908) 120. */
  out->compute_units = strcmp(chip, "gfx90a") == 0 ? 110 : strcmp(chip, "gfx908") == 0 ? 120 : 304;
  snprintf(out->chip, sizeof out->chip, "%s", chip);
  /* Canonical order (LLVM's): sramecc before xnack. */
  int n = snprintf(out->id, sizeof out->id, "%s", chip);
  if (sramecc) n += snprintf(out->id + n, sizeof out->id - (size_t)n, ":sramecc%c", sramecc);
  if (xnack) snprintf(out->id + n, sizeof out->id - (size_t)n, ":xnack%c", xnack);
  return NULL;
}

greta_status_t target_parse(const char *text, target_t *out) {
  if (!text || !*text || strlen(text) >= sizeof out->id) {
    return target_error(text, NULL);
  }
  if (strcmp(text, "cpu") == 0) {
    memset(out, 0, sizeof *out);
    out->arch = TARGET_CPU;
    out->wave = 1;
    out->compute_units = 1;
    strcpy(out->id, "cpu");
    strcpy(out->chip, "cpu");
    return NULL;
  }
  if (strncmp(text, "gfx", 3) == 0) return parse_amd(text, out);
  if (strncmp(text, "sm_", 3) == 0) {
    for (size_t i = 0; i < sizeof nvidia_sms / sizeof nvidia_sms[0]; i++) {
      char name[16];
      snprintf(name, sizeof name, "sm_%d", nvidia_sms[i]);
      if (strcmp(text, name) == 0) {
        memset(out, 0, sizeof *out);
        out->arch = TARGET_NVIDIA;
        out->wave = 32;
        out->sm = nvidia_sms[i];
        out->compute_units = nvidia_sms[i] >= 90 ? 132 : 108; /* H100 / H200, A100 */
        snprintf(out->id, sizeof out->id, "%s", name);
        snprintf(out->chip, sizeof out->chip, "%s", name);
        return NULL;
      }
    }
    return target_error(text, "not a supported NVIDIA architecture");
  }
  return target_error(text, NULL);
}

bool target_wgmma(const target_t *target) {
  const char *off = getenv("GRETA_WGMMA");
  return target->arch == TARGET_NVIDIA && target->sm == 90 && !(off && strcmp(off, "0") == 0);
}
