/* A backend is a device that can hold memory and run a plan's launches.
 *
 * Each backend is a const vtable plus a private struct whose first member is
 * greta_backend_t. The session (session.c) owns the memory spaces and calls
 * the backend; backends know nothing of weights or inputs.
 */
#ifndef GRETA_BACKEND_H
#define GRETA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"
#include "plan.h"

typedef struct greta_backend_s greta_backend_t;
typedef struct greta_program_s greta_program_t; /* backend-private */

/* Device addresses of the spaces a step's kernels see. */
typedef struct greta_spaces_s {
  void *params;  /* int32_t[2] on the device: T, pos */
  void *arena;
  void *weights;
  void *kv;
} greta_spaces_t;

typedef struct greta_backend_vtable_s {
  void (*destroy)(greta_backend_t *backend);
  /* Device memory. `*out_ptr` is a device address (host memory for the CPU). */
  greta_status_t (*alloc)(greta_backend_t *backend, size_t bytes, void **out_ptr);
  void (*free)(greta_backend_t *backend, void *ptr);
  /* Free device memory in bytes (for the check before allocating). */
  greta_status_t (*memory_free)(greta_backend_t *backend, uint64_t *out_bytes);
  /* Synchronous copies between host and device[offset .. offset + bytes). */
  greta_status_t (*upload)(greta_backend_t *backend, void *device, size_t offset,
                           const void *host, size_t bytes);
  greta_status_t (*download)(greta_backend_t *backend, void *host, const void *device,
                             size_t offset, size_t bytes);
  /* Loads the code object `file` (the whole compiled file) for `plan`,
   * resolving every kernel, bound to `spaces` for its whole life. */
  greta_status_t (*program_create)(greta_backend_t *backend, const uint8_t *file,
                                   size_t size, const greta_plan_t *plan,
                                   const greta_spaces_t *spaces,
                                   greta_program_t **out_program);
  void (*program_destroy)(greta_program_t *program);
  /* Writes {T, pos} into spaces->params, runs `entry` for T tokens at pos
   * and waits for it to finish. */
  greta_status_t (*program_run)(greta_program_t *program, const greta_plan_entry_t *entry,
                                int64_t tokens, int64_t pos);
  /* Optional (NULL: the session times program_run with the host clock).
   * Runs `entry` as program_run does, once untimed and then `repeats` times,
   * writing each timed run's device time in milliseconds to out_ms[0 .. repeats). */
  greta_status_t (*program_time)(greta_program_t *program, const greta_plan_entry_t *entry,
                                 int64_t tokens, int64_t pos, int repeats, double *out_ms);
  /* Runs `entry`'s launches in order, each `repeats` times back to back
   * (outputs never alias inputs, so a repeat recomputes the same values),
   * writing launch i's repeat r time in ms to out_ms[i * repeats + r]. */
  greta_status_t (*program_profile)(greta_program_t *program, const greta_plan_entry_t *entry,
                                    int64_t tokens, int64_t pos, int repeats, double *out_ms);
  /* Runs `entry` with launch `skip` left out (skip >= n_launches: none),
   * `repeats` times, writing each run's time in ms to out_ms[0 .. repeats)
   * (device time of a graph replay on a GPU). The buffers are left as that
   * partial step leaves them: the caller runs a whole step afterwards. */
  greta_status_t (*program_time_except)(greta_program_t *program, const greta_plan_entry_t *entry,
                                        int64_t tokens, int64_t pos, uint32_t skip, int repeats,
                                        double *out_ms);
} greta_backend_vtable_t;

struct greta_backend_s {
  const greta_backend_vtable_t *vtable;
  const char *kind_name; /* "cpu", "hip", "cuda" */
  char device_name[256];
  char target[64];       /* full target ID: "gfx942:sramecc+:xnack-", "sm_90", "cpu" */
};

/* Constructors, one per backend. GPU ones return GRETA_UNAVAILABLE with the
 * libraries tried when no driver or device is present. */
greta_status_t greta_backend_cpu_create(greta_backend_t **out_backend);
greta_status_t greta_backend_hip_create(int ordinal, greta_backend_t **out_backend);
greta_status_t greta_backend_cuda_create(int ordinal, greta_backend_t **out_backend);

/* Runs one launch on the CPU, reading and writing through `spaces`. The CPU
 * backend is built on this; tests call it to check kernels one by one. */
greta_status_t greta_cpu_run_launch(const greta_plan_launch_t *launch,
                                    const greta_spaces_t *spaces, int64_t tokens,
                                    int64_t pos);

#endif /* GRETA_BACKEND_H */
