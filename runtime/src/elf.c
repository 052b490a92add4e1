#include "elf.h"

#include <string.h>

#include "status.h"

/* Field offsets of the ELF64 structures (System V gABI). Read by hand
 * rather than through <elf.h> casts so that nothing depends on alignment. */
enum {
  EHDR_SIZE = 64,
  EHDR_SHOFF = 0x28,
  EHDR_SHENTSIZE = 0x3a,
  EHDR_SHNUM = 0x3c,
  SHDR_SIZE = 64,
  SHDR_TYPE = 0x04,
  SHDR_ADDR = 0x10,
  SHDR_OFFSET = 0x18,
  SHDR_SIZE_FIELD = 0x20,
  SHDR_LINK = 0x28,
  SHDR_ENTSIZE = 0x38,
  SYM_SIZE = 24,
  SYM_NAME = 0x00,
  SYM_SHNDX = 0x06,
  SYM_VALUE = 0x08,
  SYM_SIZE_FIELD = 0x10,
  SHT_SYMTAB_ = 2,
  SHT_NOBITS_ = 8,
  SHT_DYNSYM_ = 11,
  SHN_LORESERVE_ = 0xff00,
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* True when [offset, offset + length) lies inside a file of `size` bytes. */
static bool in_file(uint64_t offset, uint64_t length, size_t size) {
  return offset <= size && length <= size - offset;
}

bool greta_elf_is_elf(const uint8_t *file, size_t size) {
  return size >= 4 && memcmp(file, "\x7f" "ELF", 4) == 0;
}

typedef struct section_s {
  uint32_t type;
  uint64_t addr, offset, size, entsize;
  uint32_t link;
} section_t;

static greta_status_t read_section(const uint8_t *file, size_t size, uint64_t shoff,
                                   uint32_t index, uint32_t count, section_t *out) {
  if (index >= count)
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: section index %u is out of range (the file has %u sections)",
                             index, count);
  const uint8_t *sh = file + shoff + (uint64_t)index * SHDR_SIZE;
  out->type = rd32(sh + SHDR_TYPE);
  out->addr = rd64(sh + SHDR_ADDR);
  out->offset = rd64(sh + SHDR_OFFSET);
  out->size = rd64(sh + SHDR_SIZE_FIELD);
  out->link = rd32(sh + SHDR_LINK);
  out->entsize = rd64(sh + SHDR_ENTSIZE);
  if (out->type != SHT_NOBITS_ && !in_file(out->offset, out->size, size))
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: section %u spans bytes [%llu, +%llu) but the file has %zu bytes",
                             index, (unsigned long long)out->offset,
                             (unsigned long long)out->size, size);
  return NULL;
}

/* Searches one symbol table section for `name`. Sets *found when it is. */
static greta_status_t search_table(const uint8_t *file, size_t size, uint64_t shoff,
                                   uint32_t shnum, const section_t *table, const char *name,
                                   bool *found, const uint8_t **out_bytes, size_t *out_size) {
  if (table->entsize != SYM_SIZE)
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: symbol table entries are %llu bytes, expected %d",
                             (unsigned long long)table->entsize, SYM_SIZE);
  section_t strtab;
  GRETA_RETURN_IF_ERROR(read_section(file, size, shoff, table->link, shnum, &strtab));
  if (strtab.type == SHT_NOBITS_)
    return greta_status_make(GRETA_DATA_LOSS, "ELF: the symbol names' section has no bytes");
  size_t name_len = strlen(name);
  const uint8_t *strings = file + strtab.offset;
  for (uint64_t s = 0; s < table->size / SYM_SIZE; s++) {
    const uint8_t *sym = file + table->offset + s * SYM_SIZE;
    uint32_t name_offset = rd32(sym + SYM_NAME);
    /* The name plus its NUL must lie inside the string table. */
    if (name_offset >= strtab.size || strtab.size - name_offset < name_len + 1) continue;
    if (memcmp(strings + name_offset, name, name_len + 1) != 0) continue;

    uint16_t shndx = rd16(sym + SYM_SHNDX);
    uint64_t value = rd64(sym + SYM_VALUE);
    uint64_t sym_size = rd64(sym + SYM_SIZE_FIELD);
    if (shndx == 0 || shndx >= SHN_LORESERVE_)
      return greta_status_make(GRETA_DATA_LOSS,
                               "ELF: symbol %s is not defined in a section (index %u)", name,
                               shndx);
    section_t data;
    GRETA_RETURN_IF_ERROR(read_section(file, size, shoff, shndx, shnum, &data));
    if (data.type == SHT_NOBITS_)
      return greta_status_make(GRETA_DATA_LOSS,
                               "ELF: symbol %s lies in a section with no bytes in the file",
                               name);
    if (value < data.addr || value - data.addr > data.size ||
        sym_size > data.size - (value - data.addr))
      return greta_status_make(
          GRETA_DATA_LOSS,
          "ELF: symbol %s (address %#llx, %llu bytes) lies outside its section "
          "(address %#llx, %llu bytes)",
          name, (unsigned long long)value, (unsigned long long)sym_size,
          (unsigned long long)data.addr, (unsigned long long)data.size);
    *found = true;
    *out_bytes = file + data.offset + (value - data.addr);
    *out_size = (size_t)sym_size;
    return NULL;
  }
  return NULL;
}

greta_status_t greta_elf_find_symbol(const uint8_t *file, size_t size, const char *name,
                                     const uint8_t **out_bytes, size_t *out_size) {
  *out_bytes = NULL;
  *out_size = 0;
  if (size < EHDR_SIZE || !greta_elf_is_elf(file, size))
    return greta_status_make(GRETA_DATA_LOSS, "ELF: expected a 64-byte ELF header, found %zu bytes%s",
                             size, greta_elf_is_elf(file, size) ? "" : " without the ELF magic");
  if (file[4] != 2 || file[5] != 1)
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: expected a 64-bit little-endian file (class 2, data 1), "
                             "found class %u, data %u",
                             file[4], file[5]);
  uint64_t shoff = rd64(file + EHDR_SHOFF);
  uint16_t shentsize = rd16(file + EHDR_SHENTSIZE);
  uint16_t shnum = rd16(file + EHDR_SHNUM);
  if (shentsize != SHDR_SIZE)
    return greta_status_make(GRETA_DATA_LOSS, "ELF: section headers are %u bytes, expected %d",
                             shentsize, SHDR_SIZE);
  if (!in_file(shoff, (uint64_t)shnum * SHDR_SIZE, size))
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: %u section headers at offset %llu run past the file's %zu bytes",
                             shnum, (unsigned long long)shoff, size);
  for (uint32_t i = 0; i < shnum; i++) {
    section_t table;
    GRETA_RETURN_IF_ERROR(read_section(file, size, shoff, i, shnum, &table));
    if (table.type != SHT_SYMTAB_ && table.type != SHT_DYNSYM_) continue;
    bool found = false;
    GRETA_RETURN_IF_ERROR(
        search_table(file, size, shoff, shnum, &table, name, &found, out_bytes, out_size));
    if (found) return NULL;
  }
  return greta_status_make(GRETA_NOT_FOUND, "ELF: no symbol named %s in .symtab or .dynsym", name);
}
