# The fuzz harnesses (tests/fuzz/*_fuzz.cc), included by the top CMakeLists.txt.
#
# FG_FUZZ=ON (clang; scripts/fuzz.sh configures it with ASan and UBSan): each harness links
# libFuzzer as fuzz_<name>. Otherwise each links a replay main as fuzz_replay_<name>, and ctest
# replays the regression corpus (tests/fuzz/corpus/<name>: every input that ever crashed,
# minimized) and the generated seeds, so every build re-runs them.
option(FG_FUZZ "Build the fuzz harnesses as libFuzzer fuzzers (needs clang)" OFF)

file(GLOB FG_FUZZ_SRCS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/*_fuzz.cc)
add_library(flowgraph_fuzz_util STATIC tests/fuzz/fuzz_util.cc)
target_link_libraries(flowgraph_fuzz_util PUBLIC flowgraph)

add_executable(fuzz_make_seeds tests/fuzz/make_seeds.cc)
target_link_libraries(fuzz_make_seeds PRIVATE flowgraph_fuzz_util)
set(FG_FUZZ_SEEDS ${CMAKE_CURRENT_BINARY_DIR}/fuzz_seeds)
set(FG_FIXTURES_DIR ${CMAKE_CURRENT_SOURCE_DIR}/../shared/fixtures)

if(FG_BUILD_TESTS AND NOT FG_FUZZ)
  add_test(NAME fuzz_seeds COMMAND fuzz_make_seeds ${FG_FUZZ_SEEDS} ${FG_FIXTURES_DIR})
  set_tests_properties(fuzz_seeds PROPERTIES FIXTURES_SETUP fuzz_seeds)
endif()

foreach(src ${FG_FUZZ_SRCS})
  get_filename_component(stem ${src} NAME_WE)
  string(REGEX REPLACE "_fuzz$" "" name ${stem})
  if(FG_FUZZ)
    set(target fuzz_${name})
    add_executable(${target} ${src})
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  else()
    set(target fuzz_replay_${name})
    add_executable(${target} ${src} tests/fuzz/replay_main.cc)
  endif()
  target_include_directories(${target} PRIVATE ${LEVELDB_INCLUDE_DIR})
  target_link_libraries(${target} PRIVATE flowgraph_fuzz_util ${LEVELDB_LIBRARY})
  if(FG_BUILD_TESTS AND NOT FG_FUZZ)
    add_test(NAME fuzz_regression.${name}
             COMMAND ${target} ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/corpus/${name} ${FG_FUZZ_SEEDS}/${name})
    set_tests_properties(fuzz_regression.${name} PROPERTIES FIXTURES_REQUIRED fuzz_seeds TIMEOUT 600)
  endif()
endforeach()
