/* RoPE's inverse frequencies, one function for every backend and for the
 * compiler (which bakes them into GPU kernels as a table): what the CPU
 * reference computes and what a kernel reads are the same f32 bits. */
#ifndef GRETA_ROPE_FREQ_H
#define GRETA_ROPE_FREQ_H

#include <stdint.h>

#include "plan.h"

/* inv_freq[i] for pair i < head_dim / 2 of a launch with RoPE attributes
 * (theta; rope_factor, rope_low_freq_factor, rope_high_freq_factor,
 * rope_original_max when rope_factor is not 0), in f32 exactly as
 * transformers computes it on the CPU: _compute_default_rope_parameters, then
 * _compute_llama3_parameters (bit-identical on tests/fixtures/hf_import/
 * rope_inv_freq.txt). The plan verifier has checked the attributes. */
float greta_rope_inv_freq(const greta_op_attrs_t *attrs, int64_t head_dim, int64_t i);

#endif /* GRETA_ROPE_FREQ_H */
