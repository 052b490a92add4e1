/* The GPU backend, written once for HIP and CUDA over gpu_api.h: device
 * memory, copies, and loading a compiled file's code object with every
 * kernel of its plan resolved and its launches checked against the device.
 * Running a step is graph_runner.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "backend_gpu.h"
#include "status.h"

static greta_gpu_backend_t *gpu_backend(greta_backend_t *base) {
  return (greta_gpu_backend_t *)base;
}

static void gpu_destroy(greta_backend_t *base) {
  greta_gpu_backend_t *backend = gpu_backend(base);
  if (!backend) return;
  if (backend->api) backend->api->ops->close(backend->api);
  free(backend);
}

static greta_status_t gpu_alloc(greta_backend_t *base, size_t bytes, void **out_ptr) {
  greta_gpu_api_t *api = gpu_backend(base)->api;
  *out_ptr = NULL;
  /* Drivers refuse zero-byte allocations; an empty space is never read. */
  if (bytes == 0) return NULL;
  greta_status_t status = api->ops->alloc(api, bytes, out_ptr);
  if (status) {
    return greta_status_annotate(status, "allocating %zu bytes on %s", bytes,
                                 base->device_name);
  }
  return NULL;
}

static void gpu_free(greta_backend_t *base, void *ptr) {
  greta_gpu_api_t *api = gpu_backend(base)->api;
  if (ptr) greta_status_free(api->ops->free(api, ptr));
}

static greta_status_t gpu_memory_free(greta_backend_t *base, uint64_t *out_bytes) {
  greta_gpu_api_t *api = gpu_backend(base)->api;
  uint64_t total = 0;
  return api->ops->memory_info(api, out_bytes, &total);
}

static greta_status_t gpu_upload(greta_backend_t *base, void *device, size_t offset,
                                 const void *host, size_t bytes) {
  greta_gpu_api_t *api = gpu_backend(base)->api;
  if (bytes == 0) return NULL;
  return api->ops->copy_to_device(api, (char *)device + offset, host, bytes);
}

static greta_status_t gpu_download(greta_backend_t *base, void *host, const void *device,
                                   size_t offset, size_t bytes) {
  greta_gpu_api_t *api = gpu_backend(base)->api;
  if (bytes == 0) return NULL;
  return api->ops->copy_to_host(api, host, (const char *)device + offset, bytes);
}

static void gpu_program_destroy(greta_program_t *program) {
  if (!program) return;
  greta_gpu_program_release_graphs(program);
  if (program->module) program->api->ops->module_unload(program->api, program->module);
  free(program->functions);
  free(program);
}

/* The largest dynamic shared memory any launch asks of each kernel, to opt
 * in once per kernel where the driver needs it. */
static greta_status_t program_check_launches(greta_program_t *program, const greta_plan_t *plan,
                                             const int *max_threads, const int *static_shared,
                                             uint32_t *max_dynamic) {
  const greta_gpu_device_info_t *info = &program->api->info;
  for (uint32_t e = 0; e < plan->n_entries; ++e) {
    const greta_plan_entry_t *entry = &plan->entries[e];
    for (uint32_t l = 0; l < entry->n_launches; ++l) {
      const greta_plan_launch_t *launch = &entry->launches[l];
      if (launch->kernel >= plan->n_kernels) {
        return greta_status_make(GRETA_DATA_LOSS,
                                 "entry '%s' launch %u: kernel index %u out of range (%u kernels)",
                                 entry->name, l, launch->kernel, plan->n_kernels);
      }
      const char *kernel = plan->kernels[launch->kernel];
      const uint32_t *block = launch->block;
      uint64_t threads = (uint64_t)block[0] * block[1] * block[2];
      int limit = max_threads[launch->kernel] < info->max_threads_per_block
                      ? max_threads[launch->kernel]
                      : info->max_threads_per_block;
      if (threads == 0 || threads > (uint64_t)limit) {
        return greta_status_make(
            GRETA_INVALID_ARGUMENT,
            "entry '%s' launch %u (kernel '%s', op %s): block %ux%ux%u = %llu threads, but %s"
            " allows 1..%d threads per block (device %d, kernel %d)",
            entry->name, l, kernel, greta_op_name(launch->op), block[0], block[1], block[2],
            (unsigned long long)threads, info->name, limit, info->max_threads_per_block,
            max_threads[launch->kernel]);
      }
      uint64_t shared = (uint64_t)static_shared[launch->kernel] + launch->shared_bytes;
      if (shared > (uint64_t)info->max_shared_per_block_optin) {
        return greta_status_make(
            GRETA_INVALID_ARGUMENT,
            "entry '%s' launch %u (kernel '%s', op %s): %llu bytes of shared memory (%d static"
            " + %u dynamic), but %s allows %d per block",
            entry->name, l, kernel, greta_op_name(launch->op), (unsigned long long)shared,
            static_shared[launch->kernel], launch->shared_bytes, info->name,
            info->max_shared_per_block_optin);
      }
      if (launch->n_args > GRETA_PLAN_MAX_ARGS) {
        return greta_status_make(GRETA_DATA_LOSS, "entry '%s' launch %u: %u arguments (max %d)",
                                 entry->name, l, launch->n_args, GRETA_PLAN_MAX_ARGS);
      }
      for (uint32_t a = 0; a < launch->n_args; ++a) {
        if (launch->args[a].space > GRETA_SPACE_KV) {
          return greta_status_make(GRETA_DATA_LOSS,
                                   "entry '%s' launch %u (kernel '%s'): argument %u names"
                                   " memory space %u, which does not exist",
                                   entry->name, l, kernel, a, launch->args[a].space);
        }
      }
      if (launch->shared_bytes > max_dynamic[launch->kernel]) {
        max_dynamic[launch->kernel] = launch->shared_bytes;
      }
    }
  }
  return NULL;
}

static greta_status_t program_resolve(greta_program_t *program, const greta_plan_t *plan) {
  greta_gpu_api_t *api = program->api;
  int *max_threads = calloc(plan->n_kernels + 1, sizeof *max_threads);
  int *static_shared = calloc(plan->n_kernels + 1, sizeof *static_shared);
  uint32_t *max_dynamic = calloc(plan->n_kernels + 1, sizeof *max_dynamic);
  greta_status_t status = NULL;
  if (!max_threads || !static_shared || !max_dynamic) {
    status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (uint32_t k = 0; k < plan->n_kernels && !status; ++k) {
    status = api->ops->function_get(api, program->module, plan->kernels[k],
                                    &program->functions[k]);
    if (status) {
      status = greta_status_annotate(status,
                                     "kernel '%s' (plan kernel %u) is not in the code object",
                                     plan->kernels[k], k);
      break;
    }
    status = api->ops->function_limits(api, program->functions[k], &max_threads[k],
                                       &static_shared[k]);
    if (status) status = greta_status_annotate(status, "kernel '%s'", plan->kernels[k]);
  }
  if (!status) {
    status = program_check_launches(program, plan, max_threads, static_shared, max_dynamic);
  }
  for (uint32_t k = 0; k < plan->n_kernels && !status; ++k) {
    if ((int64_t)static_shared[k] + max_dynamic[k] > api->info.max_shared_per_block) {
      status = api->ops->function_allow_shared(api, program->functions[k], (int)max_dynamic[k]);
      if (status) status = greta_status_annotate(status, "kernel '%s'", plan->kernels[k]);
    }
  }
done:
  free(max_threads);
  free(static_shared);
  free(max_dynamic);
  return status;
}

static greta_status_t gpu_program_create(greta_backend_t *base, const uint8_t *file, size_t size,
                                         const greta_plan_t *plan, const greta_spaces_t *spaces,
                                         greta_program_t **out_program) {
  greta_gpu_api_t *api = gpu_backend(base)->api;
  *out_program = NULL;
  if (!file || size == 0) {
    return greta_status_make(GRETA_INVALID_ARGUMENT, "program_create: empty code object");
  }
  if (!spaces || !spaces->params) {
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "program_create: no device parameter block in the spaces");
  }
  greta_program_t *program = calloc(1, sizeof *program);
  if (!program) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  program->api = api;
  program->spaces = *spaces;
  const char *no_graph = getenv("GRETA_NO_GRAPH");
  program->use_graphs = !(no_graph && strcmp(no_graph, "1") == 0);
  program->n_functions = plan->n_kernels;
  program->functions = calloc(plan->n_kernels + 1, sizeof *program->functions);
  greta_status_t status = NULL;
  if (!program->functions) {
    status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (!status) {
    /* The vendor loaders take the compiled file unchanged: an AMD code
     * object or a cubin, with the plan inside as a data symbol. */
    status = api->ops->module_load(api, file, &program->module);
    if (status) {
      status = greta_status_annotate(status, "loading the %zu-byte code object (target %s) on %s",
                                     size, plan->target ? plan->target : "?", base->device_name);
    }
  }
  if (!status) status = program_resolve(program, plan);
  if (status) {
    gpu_program_destroy(program);
    return status;
  }
  *out_program = program;
  return NULL;
}

static greta_status_t gpu_program_run(greta_program_t *program, const greta_plan_entry_t *entry,
                                      int64_t tokens, int64_t pos) {
  return greta_gpu_program_run(program, entry, tokens, pos);
}

static greta_status_t gpu_program_time(greta_program_t *program, const greta_plan_entry_t *entry,
                                       int64_t tokens, int64_t pos, int repeats,
                                       double *out_ms) {
  return greta_gpu_program_time(program, entry, tokens, pos, repeats, out_ms);
}

static greta_status_t gpu_program_profile(greta_program_t *program,
                                          const greta_plan_entry_t *entry, int64_t tokens,
                                          int64_t pos, int repeats, double *out_ms) {
  return greta_gpu_program_profile(program, entry, tokens, pos, repeats, out_ms);
}

static greta_status_t gpu_program_time_except(greta_program_t *program,
                                              const greta_plan_entry_t *entry, int64_t tokens,
                                              int64_t pos, uint32_t skip, int repeats,
                                              double *out_ms) {
  return greta_gpu_program_time_except(program, entry, tokens, pos, skip, repeats, out_ms);
}

static const greta_backend_vtable_t gpu_vtable = {
    .destroy = gpu_destroy,
    .alloc = gpu_alloc,
    .free = gpu_free,
    .memory_free = gpu_memory_free,
    .upload = gpu_upload,
    .download = gpu_download,
    .program_create = gpu_program_create,
    .program_destroy = gpu_program_destroy,
    .program_run = gpu_program_run,
    .program_time = gpu_program_time,
    .program_profile = gpu_program_profile,
    .program_time_except = gpu_program_time_except,
};

typedef greta_status_t (*gpu_open_fn)(int ordinal, greta_gpu_api_t **out_api);

static greta_status_t gpu_backend_create(gpu_open_fn open, int ordinal,
                                         greta_backend_t **out_backend) {
  *out_backend = NULL;
  greta_gpu_api_t *api = NULL;
  GRETA_RETURN_IF_ERROR(open(ordinal, &api));
  greta_gpu_backend_t *backend = calloc(1, sizeof *backend);
  if (!backend) {
    api->ops->close(api);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  }
  backend->api = api;
  backend->base.vtable = &gpu_vtable;
  backend->base.kind_name = api->kind_name;
  _Static_assert(sizeof backend->base.device_name >= sizeof api->info.name, "name fits");
  memcpy(backend->base.device_name, api->info.name, sizeof api->info.name);
  _Static_assert(sizeof backend->base.target >= sizeof api->info.target, "target fits");
  memcpy(backend->base.target, api->info.target, sizeof api->info.target);
  *out_backend = &backend->base;
  return NULL;
}

greta_status_t greta_backend_hip_create(int ordinal, greta_backend_t **out_backend) {
  return gpu_backend_create(greta_gpu_hip_open, ordinal, out_backend);
}

greta_status_t greta_backend_cuda_create(int ordinal, greta_backend_t **out_backend) {
  return gpu_backend_create(greta_gpu_cuda_open, ordinal, out_backend);
}
