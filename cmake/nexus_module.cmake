# nexus_module(NAME SOURCES ... DEPS ...): one static library per src/ folder, named nexus_<NAME>.
# DEPS lists what the module may use; docs/architecture.md shows the allowed direction and
# tests/layering_test.sh checks the #include edges against it.
function(nexus_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(nexus_${name} STATIC ${ARG_SOURCES})
  target_include_directories(nexus_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(nexus_${name} PUBLIC ${ARG_DEPS})
endfunction()

# nexus_test(NAME SOURCES ... DEPS ...): a GoogleTest binary registered with CTest.
function(nexus_test name)
  if(NOT NEXUS_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PROPERTIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES ${ARG_PROPERTIES})
endfunction()
