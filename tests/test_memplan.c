/* compiler/lower/memplan.c: buffers alive at the same time never overlap. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "memplan.h"

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void check_placement(const memplan_buffer_t *b, int n, uint64_t arena) {
  for (int i = 0; i < n; i++) {
    cr_assert_eq(b[i].offset % MEMPLAN_ALIGN, 0, "buffer %d at %llu is not aligned", i,
                 (unsigned long long)b[i].offset);
    cr_assert_leq(b[i].offset + b[i].bytes, arena, "buffer %d ends past the arena", i);
    for (int j = 0; j < i; j++) {
      int live_together = b[i].first <= b[j].last && b[j].first <= b[i].last;
      int overlap = b[i].offset < b[j].offset + b[j].bytes && b[j].offset < b[i].offset + b[i].bytes;
      cr_assert(!(live_together && overlap), "buffers %d [%d,%d] and %d [%d,%d] overlap", i,
                b[i].first, b[i].last, j, b[j].first, b[j].last);
    }
  }
}

Test(memplan, chain_reuses_memory) {
  /* a -> b -> c -> d: each value dies when the next is made, so two slots do. */
  memplan_buffer_t b[4];
  for (int i = 0; i < 4; i++) b[i] = (memplan_buffer_t){.bytes = 1000, .first = i, .last = i + 1};
  uint64_t arena = memplan_assign(b, 4);
  check_placement(b, 4, arena);
  cr_expect_eq(arena, 2 * 1024, "a chain needs two aligned slots, got %llu", (unsigned long long)arena);
}

Test(memplan, all_live_needs_the_sum) {
  memplan_buffer_t b[3] = {{.bytes = 256, .first = 0, .last = 9},
                           {.bytes = 512, .first = 1, .last = 9},
                           {.bytes = 100, .first = 2, .last = 9}};
  uint64_t arena = memplan_assign(b, 3);
  check_placement(b, 3, arena);
  cr_expect_eq(arena, 256 + 512 + 256);
}

Test(memplan, random_lifetimes_never_collide) {
  uint64_t s = 88172645463325252ull;
  for (int round = 0; round < 200; round++) {
    int n = 1 + (int)(rnd(&s) % 60);
    memplan_buffer_t *b = calloc((size_t)n, sizeof *b);
    uint64_t peak_bound = 0;
    for (int i = 0; i < n; i++) {
      b[i].first = (int)(rnd(&s) % 40);
      b[i].last = b[i].first + (int)(rnd(&s) % 10);
      b[i].bytes = 1 + rnd(&s) % 5000;
      peak_bound += (b[i].bytes + MEMPLAN_ALIGN - 1) / MEMPLAN_ALIGN * MEMPLAN_ALIGN;
    }
    uint64_t arena = memplan_assign(b, n);
    check_placement(b, n, arena);
    cr_assert_leq(arena, peak_bound, "never worse than giving every buffer its own space");
    free(b);
  }
}
