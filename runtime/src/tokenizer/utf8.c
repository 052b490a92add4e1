/* UTF-8 as Rust reads it: validation, lossy conversion (one U+FFFD per
 * maximal invalid subpart, as String::from_utf8_lossy), White_Space. */
#include "status.h"
#include "tokenizer.h"

size_t utf8_char_len(uint8_t lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/* How many bytes of the sequence starting at s[0] are a valid prefix of a
 * character (0 when s[0] cannot start one), and its full length. */
static size_t valid_run(const uint8_t *s, size_t n, size_t *out_need) {
  uint8_t b = s[0];
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (b < 0x80) {
    *out_need = 1;
    return 1;
  } else if (b >= 0xC2 && b <= 0xDF) {
    need = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    *out_need = 1;
    return 0;
  }
  *out_need = need;
  size_t i = 1;
  if (i < n && s[i] >= lo && s[i] <= hi) {
    for (i = 2; i < need && i < n && s[i] >= 0x80 && s[i] <= 0xBF; i++) {
    }
  }
  return i;
}

size_t utf8_valid_prefix(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t need, got = valid_run(s + i, n - i, &need);
    if (got != need) return i;
    i += need;
  }
  return n;
}

uint32_t utf8_decode(const uint8_t *s, size_t n, size_t *len) {
  size_t k = utf8_char_len(s[0]);
  if (k > n) k = n;
  *len = k;
  if (k == 1) return s[0];
  uint32_t c = s[0] & (0x7F >> k);
  for (size_t i = 1; i < k; i++) c = (c << 6) | (s[i] & 0x3F);
  return c;
}

greta_status_t utf8_lossy_append(tok_buf_t *out, const uint8_t *bytes, size_t n, bool final,
                                 size_t *out_used) {
  static const char replacement[] = "\xEF\xBF\xBD";
  *out_used = 0;
  if (n == 0) return NULL;
  size_t i = 0, run = 0; /* bytes[run..i) are valid, not yet copied */
  while (i < n) {
    if (bytes[i] < 0x80) {
      i++;
      continue;
    }
    size_t need, got = valid_run(bytes + i, n - i, &need);
    if (got == need) {
      i += need;
      continue;
    }
    if (i + got == n && got > 0 && !final) break; /* incomplete: wait for more */
    GRETA_RETURN_IF_ERROR(tok_buf_append(out, bytes + run, i - run));
    GRETA_RETURN_IF_ERROR(tok_buf_append(out, replacement, 3));
    i += got ? got : 1;
    run = i;
  }
  GRETA_RETURN_IF_ERROR(tok_buf_append(out, bytes + run, i - run));
  *out_used = i;
  return NULL;
}

bool utf8_is_white_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}
