# Writes OUTPUT, a C++ file defining batchscribe::db::EmbeddedMigrations() from the
# .sql files in INPUTS ('|'-separated, sorted by name). Run with cmake -P at build time.
set(_delim "bs_sql")
string(REPLACE "|" ";" _files "${INPUTS}")
set(_body "")
foreach(f ${_files})
  get_filename_component(_name ${f} NAME_WE)
  file(READ ${f} _sql)
  string(FIND "${_sql}" ")${_delim}\"" _clash)
  if(NOT _clash EQUAL -1)
    message(FATAL_ERROR "${f} contains the raw-string delimiter )${_delim}\"")
  endif()
  string(APPEND _body "      {\"${_name}\", R\"${_delim}(${_sql})${_delim}\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp
"// Generated from libs/db/migrations/*.sql by embed_migrations.cmake. Do not edit.
#include \"libs/db/migrations.h\"

namespace batchscribe::db {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
${_body}  };
  return *migrations;
}

}  // namespace batchscribe::db
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
