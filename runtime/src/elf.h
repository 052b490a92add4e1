/* Finds a symbol's bytes in an ELF64 little-endian file, on the host.
 *
 * AMD code objects are ET_DYN with the symbol in .dynsym and its data in
 * .rodata; NVIDIA cubins keep it in .symtab, in .nv.global.init or
 * .nv.constant*. Either way the bytes are at file offset
 * sh_offset + (st_value - sh_addr) of the symbol's section. Every offset is
 * bounds-checked: a malformed file is GRETA_DATA_LOSS, never a crash.
 */
#ifndef GRETA_ELF_H
#define GRETA_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"

/* True when `file` starts with the ELF magic. */
bool greta_elf_is_elf(const uint8_t *file, size_t size);

/* Looks `name` up in the file's .symtab and .dynsym. On success *out_bytes
 * points into `file` and *out_size is the symbol's st_size. GRETA_NOT_FOUND
 * when no such symbol exists. */
greta_status_t greta_elf_find_symbol(const uint8_t *file, size_t size, const char *name,
                                     const uint8_t **out_bytes, size_t *out_size);

#endif /* GRETA_ELF_H */
