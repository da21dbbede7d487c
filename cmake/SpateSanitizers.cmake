# SPDX-License-Identifier: Apache-2.0
# ASan+UBSan for the whole build when SPATE_SANITIZE is on (the `asan` preset).
if(SPATE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(SPATE_SANITIZED=1)
endif()
