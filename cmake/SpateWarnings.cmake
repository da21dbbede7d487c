# SPDX-License-Identifier: Apache-2.0
# The strict warning set (style.md §3.1), applied to every Spate target.
add_library(spate_warnings INTERFACE)
target_compile_options(spate_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wnull-dereference
  -Wimplicit-fallthrough -Wformat=2)
if(SPATE_WERROR)
  target_compile_options(spate_warnings INTERFACE -Werror)
endif()
