# Writes OUTPUT defining the shipped default prompt and transcript schema
# (config/transcript.prompt.txt, config/transcript.schema.json). Run with cmake -P.
set(_delim "bs_cfg")
file(READ ${PROMPT} _prompt)
file(READ ${SCHEMA} _schema)
foreach(_text _prompt _schema)
  string(FIND "${${_text}}" ")${_delim}\"" _clash)
  if(NOT _clash EQUAL -1)
    message(FATAL_ERROR "a default config file contains the raw-string delimiter")
  endif()
endforeach()
file(WRITE ${OUTPUT}.tmp
"// Generated from config/ by embed_defaults.cmake. Do not edit.
#include \"services/coordinator/defaults.h\"

namespace batchscribe::coordinator {

std::string_view DefaultPrompt() {
  return R\"${_delim}(${_prompt})${_delim}\";
}

std::string_view DefaultJsonSchema() {
  return R\"${_delim}(${_schema})${_delim}\";
}

}  // namespace batchscribe::coordinator
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
