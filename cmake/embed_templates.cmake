# Writes OUT: a C file holding each of FILES as a string, looked up by its
# file name through template_source("gemm.h").
# DIR: take every *.h in it (a list in -DFILES= would be split into
# separate arguments by add_custom_command).
if(DIR)
  file(GLOB FILES ${DIR}/*.h)
endif()
file(WRITE ${OUT} "/* Generated from templates/: do not edit. */\n#include <stddef.h>\n#include <string.h>\n")
set(table "")
set(i 0)
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  file(APPEND ${OUT} "static const char t${i}[] = {${hex}0};\n")
  string(APPEND table "  {\"${name}\", t${i}},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(APPEND ${OUT} "static const struct { const char *name, *text; } table[] = {\n${table}  {NULL, NULL}};\n")
file(APPEND ${OUT} "const char *template_source(const char *name) {\n  for (int i = 0; table[i].name; i++)\n    if (strcmp(table[i].name, name) == 0) return table[i].text;\n  return NULL;\n}\n")
