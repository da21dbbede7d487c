# SPDX-License-Identifier: Apache-2.0
# spate_module(NAME SOURCES ... DEPS ...): one static library `spate_<NAME>` per
# module, with public headers in include/spate/<NAME>/ (design.md, Modules).
function(spate_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(spate_${name} STATIC ${ARG_SOURCES})
  target_include_directories(spate_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                           PRIVATE ${PROJECT_SOURCE_DIR}/src)
  # Warnings first, so that a dependency's interface options (spate_asio's
  # -Wno-... for Asio's headers) come after them and win.
  target_link_libraries(spate_${name} PRIVATE spate_warnings)
  target_link_libraries(spate_${name} PUBLIC ${ARG_DEPS})
  # The libFuzzer targets see coverage of the modules they drive (the asan preset).
  if(SPATE_FUZZ)
    target_compile_options(spate_${name} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()
