# One INTERFACE target carries every warning, sanitizer and feature flag; each
# target links it instead of touching global flags (curl PickyWarnings.cmake).
add_library(wiggly_options INTERFACE)
target_compile_options(wiggly_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wformat=2 -Wvla -Wno-unused-parameter)
target_compile_definitions(wiggly_options INTERFACE _POSIX_C_SOURCE=200809L)
if(WIGGLY_WERROR)
  target_compile_options(wiggly_options INTERFACE -Werror)
endif()
if(WIGGLY_SANITIZE)
  target_compile_options(wiggly_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(wiggly_options INTERFACE -fsanitize=address,undefined)
endif()
if(WIGGLY_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "WIGGLY_FUZZ needs clang: cmake -DCMAKE_C_COMPILER=clang")
  endif()
  target_compile_options(wiggly_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(wiggly_options INTERFACE -fsanitize=address,undefined)
endif()
