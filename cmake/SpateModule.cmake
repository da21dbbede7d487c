# SPDX-License-Identifier: Apache-2.0
# spate_module(NAME SOURCES ... DEPS ...): one static library `spate_<NAME>` per
# module, with public headers in include/spate/<NAME>/ (design.md, Modules).
function(spate_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(spate_${name} STATIC ${ARG_SOURCES})
  # Six sources to a translation unit (CMake's unity build): shared headers
  # and templates are compiled once a unit, not once a file; the modules took
  # ~1,050 CPU seconds of the release build and now ~430. So a helper two files
  # of a module need lives in the module's module_shared.h, never once in each
  # file's anonymous namespace (the compiler refuses the second definition).
  # GCC's -Wsubobject-linkage fires on every file but the unit's first (a
  # coroutine frame holding an anonymous-namespace type): off for these.
  set_target_properties(spate_${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 6)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(spate_${name} PRIVATE -Wno-subobject-linkage)
  endif()
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
