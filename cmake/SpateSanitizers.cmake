# SPDX-License-Identifier: Apache-2.0
# ASan+UBSan for the whole build with SPATE_SANITIZE or SPATE_FUZZ. The `asan`
# preset sets both: one clang build for the unit and simulation tests and the
# libFuzzer targets (-fsanitize=fuzzer; the modules get fuzzer-no-link).
if(SPATE_SANITIZE OR SPATE_FUZZ)
  add_compile_options(-fsanitize=address,undefined -fsanitize-address-use-after-scope -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(SPATE_SANITIZED=1)
  # clang 14's -fsanitize=function cannot place its prologue data on split
  # coroutine functions ("Cannot represent a difference across sections"),
  # and the asan preset builds the coroutine modules with clang.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_compile_options(-fno-sanitize=function)
  endif()
endif()
