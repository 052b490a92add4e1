/* Reading ELF64 little-endian files on the host: the one reader of code
 * objects, for the runtime (finding the plan symbol) and for gretac's
 * statistics (sections, string tables, notes).
 *
 * AMD code objects are ET_DYN with the symbol in .dynsym and its data in
 * .rodata; NVIDIA cubins keep it in .symtab, in .nv.global.init or
 * .nv.constant*. Either way the bytes are at file offset
 * sh_offset + (st_value - sh_addr) of the symbol's section. Every offset is
 * bounds-checked: a malformed file is GRETA_DATA_LOSS (or a NULL pointer
 * below), never a crash. Nothing here allocates; every pointer returned
 * points into the caller's file bytes.
 */
#ifndef GRETA_ELF_H
#define GRETA_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"

enum {
  GRETA_ELF_SHT_SYMTAB = 2,
  GRETA_ELF_SHT_NOTE = 7,
  GRETA_ELF_SHT_NOBITS = 8,
  GRETA_ELF_SHT_DYNSYM = 11,
};

/* An opened file: its bytes (borrowed) and where its section headers are. */
typedef struct greta_elf_s {
  const uint8_t *file;
  size_t size;
  uint64_t shoff;    /* file offset of the section header table */
  uint32_t shnum;    /* section count */
  uint32_t shstrndx; /* index of the section names' string table */
} greta_elf_t;

/* One section header, decoded. */
typedef struct greta_elf_section_s {
  const char *name; /* NULL when its name cannot be read */
  uint32_t type, link, info;
  uint64_t addr, offset, size, entsize;
  const uint8_t *data; /* the section's bytes; NULL for SHT_NOBITS or out of the file */
} greta_elf_section_t;

/* One entry of an SHT_NOTE section. */
typedef struct greta_elf_note_s {
  const uint8_t *name; /* owner ("AMDGPU"), name_size bytes, NUL included */
  uint32_t name_size;
  uint32_t type;
  const uint8_t *desc; /* desc_size bytes */
  uint32_t desc_size;
} greta_elf_note_t;

/* True when `file` starts with the ELF magic. */
bool greta_elf_is_elf(const uint8_t *file, size_t size);

/* Checks the ELF header (magic, 64-bit, little-endian, 64-byte section
 * headers that lie inside the file) and fills *out_elf. GRETA_DATA_LOSS
 * saying what was expected and found otherwise. */
greta_status_t greta_elf_open(const uint8_t *file, size_t size, greta_elf_t *out_elf);

/* Section `index` (< elf->shnum). */
greta_elf_section_t greta_elf_section(const greta_elf_t *elf, uint32_t index);

/* The first section called `name`: true and *out_section, else false. */
bool greta_elf_section_by_name(const greta_elf_t *elf, const char *name,
                               greta_elf_section_t *out_section);

/* The NUL-terminated string at `offset` in string table section
 * `strtab_index`; NULL when it does not lie wholly inside that section. */
const char *greta_elf_string(const greta_elf_t *elf, uint32_t strtab_index, uint64_t offset);

/* Walks the notes of an SHT_NOTE section: start with *at = 0; each call
 * fills *out_note and returns true, until the end or a malformed entry. */
bool greta_elf_next_note(const greta_elf_section_t *section, size_t *at,
                         greta_elf_note_t *out_note);

/* Looks `name` up in the file's .symtab and .dynsym. On success *out_bytes
 * points into `file` and *out_size is the symbol's st_size. GRETA_NOT_FOUND
 * when no such symbol exists. */
greta_status_t greta_elf_find_symbol(const uint8_t *file, size_t size, const char *name,
                                     const uint8_t **out_bytes, size_t *out_size);

#endif /* GRETA_ELF_H */
