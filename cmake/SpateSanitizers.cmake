# SPDX-License-Identifier: Apache-2.0
# ASan+UBSan for the whole build with SPATE_SANITIZE (the `asan` preset) or
# SPATE_FUZZ (the `fuzz` preset, which adds libFuzzer to the fuzz targets).
if(SPATE_SANITIZE OR SPATE_FUZZ)
  add_compile_options(-fsanitize=address,undefined -fsanitize-address-use-after-scope -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(SPATE_SANITIZED=1)
  # clang 14's -fsanitize=function cannot place its prologue data on split
  # coroutine functions ("Cannot represent a difference across sections"),
  # and the fuzz preset builds the coroutine modules with clang.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_compile_options(-fno-sanitize=function)
  endif()
endif()
