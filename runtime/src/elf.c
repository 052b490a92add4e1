#include "elf.h"

#include <string.h>

#include "le.h"
#include "status.h"

/* Field offsets of the ELF64 structures (System V gABI). Read by hand
 * rather than through <elf.h> casts so that nothing depends on alignment. */
enum {
  EHDR_SIZE = 64,
  EHDR_SHOFF = 0x28,
  EHDR_SHENTSIZE = 0x3a,
  EHDR_SHNUM = 0x3c,
  EHDR_SHSTRNDX = 0x3e,
  SHDR_SIZE = 64,
  SHDR_NAME = 0x00,
  SHDR_TYPE = 0x04,
  SHDR_ADDR = 0x10,
  SHDR_OFFSET = 0x18,
  SHDR_SIZE_FIELD = 0x20,
  SHDR_LINK = 0x28,
  SHDR_INFO = 0x2c,
  SHDR_ENTSIZE = 0x38,
  SYM_SIZE = 24,
  SYM_NAME = 0x00,
  SYM_SHNDX = 0x06,
  SYM_VALUE = 0x08,
  SYM_SIZE_FIELD = 0x10,
  SHN_LORESERVE_ = 0xff00,
};

/* True when [offset, offset + length) lies inside a file of `size` bytes. */
static bool in_file(uint64_t offset, uint64_t length, size_t size) {
  return offset <= size && length <= size - offset;
}

bool greta_elf_is_elf(const uint8_t *file, size_t size) {
  return size >= 4 && memcmp(file, "\x7f" "ELF", 4) == 0;
}

greta_status_t greta_elf_open(const uint8_t *file, size_t size, greta_elf_t *out_elf) {
  memset(out_elf, 0, sizeof *out_elf);
  if (size < EHDR_SIZE || !greta_elf_is_elf(file, size))
    return greta_status_make(GRETA_DATA_LOSS, "ELF: expected a 64-byte ELF header, found %zu bytes%s",
                             size, greta_elf_is_elf(file, size) ? "" : " without the ELF magic");
  if (file[4] != 2 || file[5] != 1)
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: expected a 64-bit little-endian file (class 2, data 1), "
                             "found class %u, data %u",
                             file[4], file[5]);
  uint64_t shoff = le_u64(file + EHDR_SHOFF);
  uint16_t shentsize = le_u16(file + EHDR_SHENTSIZE);
  uint16_t shnum = le_u16(file + EHDR_SHNUM);
  if (shentsize != SHDR_SIZE)
    return greta_status_make(GRETA_DATA_LOSS, "ELF: section headers are %u bytes, expected %d",
                             shentsize, SHDR_SIZE);
  if (!in_file(shoff, (uint64_t)shnum * SHDR_SIZE, size))
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: %u section headers at offset %llu run past the file's %zu bytes",
                             shnum, (unsigned long long)shoff, size);
  out_elf->file = file;
  out_elf->size = size;
  out_elf->shoff = shoff;
  out_elf->shnum = shnum;
  out_elf->shstrndx = le_u16(file + EHDR_SHSTRNDX);
  return NULL;
}

static const uint8_t *section_header(const greta_elf_t *elf, uint32_t index) {
  return elf->file + elf->shoff + (uint64_t)index * SHDR_SIZE;
}

const char *greta_elf_string(const greta_elf_t *elf, uint32_t strtab_index, uint64_t offset) {
  if (strtab_index >= elf->shnum) return NULL;
  const uint8_t *h = section_header(elf, strtab_index);
  uint64_t table_offset = le_u64(h + SHDR_OFFSET), table_size = le_u64(h + SHDR_SIZE_FIELD);
  if (!in_file(table_offset, table_size, elf->size) || offset >= table_size) return NULL;
  const char *s = (const char *)elf->file + table_offset + offset;
  return memchr(s, 0, table_size - offset) ? s : NULL;
}

greta_elf_section_t greta_elf_section(const greta_elf_t *elf, uint32_t index) {
  greta_elf_section_t s = {0};
  const uint8_t *h = section_header(elf, index);
  s.type = le_u32(h + SHDR_TYPE);
  s.addr = le_u64(h + SHDR_ADDR);
  s.offset = le_u64(h + SHDR_OFFSET);
  s.size = le_u64(h + SHDR_SIZE_FIELD);
  s.link = le_u32(h + SHDR_LINK);
  s.info = le_u32(h + SHDR_INFO);
  s.entsize = le_u64(h + SHDR_ENTSIZE);
  if (s.type != GRETA_ELF_SHT_NOBITS && in_file(s.offset, s.size, elf->size))
    s.data = elf->file + s.offset;
  s.name = index == elf->shstrndx ? ".shstrtab"
                                  : greta_elf_string(elf, elf->shstrndx, le_u32(h + SHDR_NAME));
  return s;
}

bool greta_elf_section_by_name(const greta_elf_t *elf, const char *name,
                               greta_elf_section_t *out_section) {
  for (uint32_t i = 0; i < elf->shnum; i++) {
    greta_elf_section_t s = greta_elf_section(elf, i);
    if (s.name && strcmp(s.name, name) == 0) {
      *out_section = s;
      return true;
    }
  }
  return false;
}

bool greta_elf_next_note(const greta_elf_section_t *section, size_t *at,
                         greta_elf_note_t *out_note) {
  /* Note: u32 namesz, u32 descsz, u32 type, name and desc each padded to 4. */
  const uint64_t size = section->size;
  if (!section->data || *at > size || size - *at < 12) return false;
  const uint8_t *p = section->data + *at;
  uint64_t name_size = le_u32(p), desc_size = le_u32(p + 4);
  uint64_t name_at = *at + 12, desc_at = name_at + ((name_size + 3) & ~(uint64_t)3);
  if (name_size > size || desc_size > size || desc_at > size || desc_size > size - desc_at)
    return false;
  out_note->name = section->data + name_at;
  out_note->name_size = (uint32_t)name_size;
  out_note->type = le_u32(p + 8);
  out_note->desc = section->data + desc_at;
  out_note->desc_size = (uint32_t)desc_size;
  *at = (size_t)(desc_at + ((desc_size + 3) & ~(uint64_t)3));
  return true;
}

/* Section `index` of a file being searched for a symbol: out of range or
 * with bytes outside the file is an error here. */
static greta_status_t read_section(const greta_elf_t *elf, uint32_t index,
                                   greta_elf_section_t *out) {
  if (index >= elf->shnum)
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: section index %u is out of range (the file has %u sections)",
                             index, elf->shnum);
  *out = greta_elf_section(elf, index);
  if (out->type != GRETA_ELF_SHT_NOBITS && !out->data)
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: section %u spans bytes [%llu, +%llu) but the file has %zu bytes",
                             index, (unsigned long long)out->offset,
                             (unsigned long long)out->size, elf->size);
  return NULL;
}

/* Searches one symbol table section for `name`. Sets *found when it is. */
static greta_status_t search_table(const greta_elf_t *elf, const greta_elf_section_t *table,
                                   const char *name, bool *found, const uint8_t **out_bytes,
                                   size_t *out_size) {
  if (table->entsize != SYM_SIZE)
    return greta_status_make(GRETA_DATA_LOSS,
                             "ELF: symbol table entries are %llu bytes, expected %d",
                             (unsigned long long)table->entsize, SYM_SIZE);
  greta_elf_section_t strtab = {0};
  GRETA_RETURN_IF_ERROR(read_section(elf, table->link, &strtab));
  if (strtab.type == GRETA_ELF_SHT_NOBITS)
    return greta_status_make(GRETA_DATA_LOSS, "ELF: the symbol names' section has no bytes");
  size_t name_len = strlen(name);
  const uint8_t *strings = strtab.data;
  for (uint64_t s = 0; s < table->size / SYM_SIZE; s++) {
    const uint8_t *sym = table->data + s * SYM_SIZE;
    uint32_t name_offset = le_u32(sym + SYM_NAME);
    /* The name plus its NUL must lie inside the string table. */
    if (name_offset >= strtab.size || strtab.size - name_offset < name_len + 1) continue;
    if (memcmp(strings + name_offset, name, name_len + 1) != 0) continue;

    uint16_t shndx = le_u16(sym + SYM_SHNDX);
    uint64_t value = le_u64(sym + SYM_VALUE);
    uint64_t sym_size = le_u64(sym + SYM_SIZE_FIELD);
    if (shndx == 0 || shndx >= SHN_LORESERVE_)
      return greta_status_make(GRETA_DATA_LOSS,
                               "ELF: symbol %s is not defined in a section (index %u)", name,
                               shndx);
    greta_elf_section_t data = {0};
    GRETA_RETURN_IF_ERROR(read_section(elf, shndx, &data));
    if (data.type == GRETA_ELF_SHT_NOBITS)
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
    *out_bytes = data.data + (value - data.addr);
    *out_size = (size_t)sym_size;
    return NULL;
  }
  return NULL;
}

greta_status_t greta_elf_find_symbol(const uint8_t *file, size_t size, const char *name,
                                     const uint8_t **out_bytes, size_t *out_size) {
  *out_bytes = NULL;
  *out_size = 0;
  greta_elf_t elf;
  GRETA_RETURN_IF_ERROR(greta_elf_open(file, size, &elf));
  for (uint32_t i = 0; i < elf.shnum; i++) {
    greta_elf_section_t table;
    GRETA_RETURN_IF_ERROR(read_section(&elf, i, &table));
    if (table.type != GRETA_ELF_SHT_SYMTAB && table.type != GRETA_ELF_SHT_DYNSYM) continue;
    bool found = false;
    GRETA_RETURN_IF_ERROR(search_table(&elf, &table, name, &found, out_bytes, out_size));
    if (found) return NULL;
  }
  return greta_status_make(GRETA_NOT_FOUND, "ELF: no symbol named %s in .symtab or .dynsym", name);
}
