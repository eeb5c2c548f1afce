add_library(sfactory_warnings INTERFACE)
target_compile_options(sfactory_warnings INTERFACE -Wall -Wextra -Wpedantic
  -Wno-unused-parameter -Wno-missing-field-initializers)
if(SFACTORY_WERROR)
  target_compile_options(sfactory_warnings INTERFACE -Werror)
endif()

# Clang's static check of the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED
# annotations (GCC ignores them). CI runs one such build (scripts/test.sh).
if(SFACTORY_THREAD_SAFETY)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SFACTORY_THREAD_SAFETY needs clang (-DCMAKE_CXX_COMPILER=clang++), "
                        "not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  target_compile_options(sfactory_warnings INTERFACE -Wthread-safety -Werror=thread-safety)
endif()
