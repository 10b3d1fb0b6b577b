# Helpers shared by every folder's CMakeLists.txt, in the spirit of absl_cc_library/absl_cc_test:
# one library per concept, its tests beside it.

# Warnings for the project's own targets only (no global flags).
function(perennial_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>
                                           $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
endfunction()

# perennial_cc_library(NAME name SRCS a.cc b.cc DEPS dep1 dep2 [PRIVATE_DEPS d])
# Headers are included root-relative ("learner/model/clip.h"), so the repository root is the
# public include directory of every library. (Generated headers bring their own directory, see
# proto/; keeping the build directory off the include path lets ccache share objects between
# build directories and clones.)
function(perennial_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  set_target_properties(${ARG_NAME} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  perennial_warnings(${ARG_NAME})
endfunction()

# perennial_cc_test(NAME name SRCS a_test.cc DEPS lib [LABELS l])
# Tests run from the repository root so that fixture paths such as tests/fixtures/... resolve.
function(perennial_cc_test)
  if(NOT PERENNIAL_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  perennial_warnings(${ARG_NAME})
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  if(ARG_LABELS)
    set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
