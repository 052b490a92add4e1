/* First-fit interval packing. Buffers are placed in order of their first
 * use; each goes at the lowest aligned offset where it overlaps no placed
 * buffer whose lifetime intersects its own. Quadratic, which is fine for the
 * few thousand values of a whole model. */
#include "memplan.h"

#include <stdlib.h>

#include "xalloc.h"

static uint64_t align_up(uint64_t x) { return (x + MEMPLAN_ALIGN - 1) / MEMPLAN_ALIGN * MEMPLAN_ALIGN; }

static const memplan_buffer_t *sort_base;
static int by_first_use(const void *a, const void *b) {
  const memplan_buffer_t *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
  if (x->first != y->first) return x->first < y->first ? -1 : 1;
  if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

static int lifetimes_meet(const memplan_buffer_t *a, const memplan_buffer_t *b) {
  return a->first <= b->last && b->first <= a->last;
}

uint64_t memplan_assign(memplan_buffer_t *buffers, int count) {
  int *order = xmalloc(sizeof(int) * (size_t)(count + 1));
  for (int i = 0; i < count; i++) order[i] = i;
  sort_base = buffers;
  qsort(order, (size_t)count, sizeof(int), by_first_use);

  uint64_t arena = 0;
  for (int n = 0; n < count; n++) {
    memplan_buffer_t *b = &buffers[order[n]];
    uint64_t offset = 0;
    /* Move past every conflicting placed buffer until a pass finds none. */
    for (int moved = 1; moved;) {
      moved = 0;
      for (int m = 0; m < n; m++) {
        const memplan_buffer_t *p = &buffers[order[m]];
        if (!lifetimes_meet(b, p)) continue;
        if (offset < p->offset + align_up(p->bytes) && p->offset < offset + align_up(b->bytes)) {
          offset = p->offset + align_up(p->bytes);
          moved = 1;
        }
      }
    }
    b->offset = offset;
    if (offset + align_up(b->bytes) > arena) arena = offset + align_up(b->bytes);
  }
  free(order);
  return arena;
}
