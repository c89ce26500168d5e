# cmake/revision.cmake: writes OUT (a header defining TRIREME_REVISION, the short git commit of
# SRC, or "XXXX" outside a git tree, as Galera's build does) only when the value changed, so a
# commit rebuilds the provider's version string and nothing else.
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY ${SRC}
                RESULT_VARIABLE rc OUTPUT_VARIABLE rev ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0 OR rev STREQUAL "")
  set(rev XXXX)
endif()
set(text "#define TRIREME_REVISION \"${rev}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
