/* Element types: their sizes and names (greta_dtype_t, greta/greta.h). */
#include "greta/greta.h"

size_t greta_dtype_size(greta_dtype_t dtype) {
  switch (dtype) {
    case GRETA_F32: return 4;
    case GRETA_F16: return 2;
    case GRETA_BF16: return 2;
    case GRETA_I32: return 4;
  }
  return 0;
}

const char *greta_dtype_name(greta_dtype_t dtype) {
  switch (dtype) {
    case GRETA_F32: return "f32";
    case GRETA_F16: return "f16";
    case GRETA_BF16: return "bf16";
    case GRETA_I32: return "i32";
  }
  return "?";
}
