add_library(sfactory_warnings INTERFACE)
target_compile_options(sfactory_warnings INTERFACE -Wall -Wextra -Wpedantic
  -Wno-unused-parameter -Wno-missing-field-initializers)
if(SFACTORY_WERROR)
  target_compile_options(sfactory_warnings INTERFACE -Werror)
endif()
