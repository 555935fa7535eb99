# kpi_add_test(name source lib...): a GoogleTest executable next to its code, registered with
# ctest under the label `unit` and made a dependency of the target `unit_tests`. The sanitizer
# build builds exactly that target and runs exactly that label.
function(kpi_add_test name source)
  if(NOT KPI_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE ${ARGN} GTest::gtest GTest::gtest_main)
  # A unit test past two minutes fails (bounded-time properties rely on it).
  gtest_discover_tests(${name} PROPERTIES LABELS unit TIMEOUT 120 DISCOVERY_TIMEOUT 60)
  if(NOT TARGET unit_tests)
    add_custom_target(unit_tests)
  endif()
  add_dependencies(unit_tests ${name})
endfunction()
