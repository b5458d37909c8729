# tools/cli_json_test.cmake: runs `qkern bench ... --json` once per run and checks the object it
# prints with CMake's JSON parser (a regular expression cannot tell that the output parses).
#
#   cmake -DQKERN=<qkern executable> [-DEMULATOR="<command and flags>"]
#         -DRUNS="<args of run 1>|<args of run 2>|..." -DKERNEL_REGEX=<regex> -P cli_json_test.cmake
#
# Each run must exit 0 and print one JSON object whose "check" is "ok" and whose "kernel"
# matches KERNEL_REGEX, in which "@ACT@" and "@BITS@" stand for the run's --act (default u8) and
# --bits (default 4) values. EMULATOR is the cross-compiling emulator (qemu-user), if any.
cmake_minimum_required(VERSION 3.25)
foreach(var QKERN RUNS KERNEL_REGEX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "cli_json_test.cmake: -D${var}=... is required")
  endif()
endforeach()
separate_arguments(emulator UNIX_COMMAND "${EMULATOR}")
string(REPLACE "|" ";" runs "${RUNS}")
foreach(run IN LISTS runs)
  separate_arguments(args UNIX_COMMAND "${run}")
  execute_process(COMMAND ${emulator} "${QKERN}" ${args}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "qkern ${run}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "qkern ${run}: exit status ${rc}\n${err}")
  endif()
  string(JSON check ERROR_VARIABLE json_error GET "${out}" check)
  if(json_error)
    message(FATAL_ERROR "qkern ${run}: the output is not a JSON object with \"check\": ${json_error}")
  endif()
  string(JSON kernel ERROR_VARIABLE json_error GET "${out}" kernel)
  if(json_error)
    message(FATAL_ERROR "qkern ${run}: no \"kernel\" in the JSON object: ${json_error}")
  endif()
  if(NOT check STREQUAL "ok")
    message(FATAL_ERROR "qkern ${run}: \"check\" is \"${check}\", not \"ok\"")
  endif()
  set(act u8)
  set(bits 4)
  if(run MATCHES "--act[ =]([a-z0-9]+)")
    set(act "${CMAKE_MATCH_1}")
  endif()
  if(run MATCHES "--bits[ =]([0-9]+)")
    set(bits "${CMAKE_MATCH_1}")
  endif()
  string(REPLACE "@ACT@" "${act}" regex "${KERNEL_REGEX}")
  string(REPLACE "@BITS@" "${bits}" regex "${regex}")
  if(NOT kernel MATCHES "${regex}")
    message(FATAL_ERROR "qkern ${run}: kernel '${kernel}' does not match '${regex}'")
  endif()
endforeach()
