# Sanitizer and fuzzing builds (docs/reliability.md).
#   BASIN_SANITIZE=address,undefined  every target instrumented; recovery is
#     off, so the first report aborts the process and fails its test.
#   BASIN_FUZZ=ON  also coverage-instruments everything for libFuzzer and builds
#     one fuzz_<name> executable per tests/fuzz/<name>.cpp, plus a ctest that
#     replays its seed corpus (tests/fuzz/corpus/<name>/) once.
set(BASIN_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined")
option(BASIN_FUZZ "Build the libFuzzer targets in tests/fuzz (clang)" OFF)

if(BASIN_SANITIZE)
  # -O1 keeps stack traces readable and the build quick; frame pointers for
  # the reports; the CUDA host compiler is left alone (cuda/ is off here).
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${BASIN_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=all>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-O1> $<$<COMPILE_LANGUAGE:CXX>:-g>)
  # clang reports each `omp simd` loop the instrumentation keeps from vectorising.
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wno-pass-failed>)
  endif()
  add_link_options(-fsanitize=${BASIN_SANITIZE})
  # stb_image (Debian's libstb-dev) calls memcpy(NULL, src, 0) for an empty PNG
  # chunk (stbi__getn, found by the image_folder fuzz target): undefined by
  # the letter, harmless in practice, and not basin's code to change. Only
  # that check, only for the file that compiles stb.
  set_source_files_properties(${PROJECT_SOURCE_DIR}/data/stb_impl.cpp PROPERTIES
                              COMPILE_OPTIONS -fno-sanitize=nonnull-attribute)
  message(STATUS "basin: sanitizers ${BASIN_SANITIZE}")
endif()

if(BASIN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "BASIN_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
  message(STATUS "basin: libFuzzer targets from tests/fuzz")
endif()

# Called after the libraries exist.
function(basin_add_fuzz_targets)
  if(NOT BASIN_FUZZ)
    return()
  endif()
  file(GLOB _fuzz_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/fuzz/*.cpp)
  foreach(_source ${_fuzz_sources})
    get_filename_component(_name ${_source} NAME_WE)
    add_executable(fuzz_${_name} ${_source})
    target_link_libraries(fuzz_${_name} PRIVATE basin_apps basin_engine)
    target_include_directories(fuzz_${_name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_link_options(fuzz_${_name} PRIVATE -fsanitize=fuzzer)
    # Replays the seed corpus once: a regression check inside `ctest`.
    add_test(NAME fuzz_${_name}
             COMMAND fuzz_${_name} -runs=0 ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${_name}
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(fuzz_${_name} PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1")
  endforeach()
endfunction()
