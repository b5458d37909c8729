# QKERN_JIT_DUMP=<dir>: a GEMM run writes its JIT kernels there, and objdump
# reads them as x86-64 code with the kernel's dot-product instruction in it.
# cmake -DQKERN=<qkern binary> -DOBJDUMP=<objdump> -DDIR=<scratch dir> -P cli_jit_dump_test.cmake
file(REMOVE_RECURSE ${DIR})
file(MAKE_DIRECTORY ${DIR})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env QKERN_JIT_DUMP=${DIR} QKERN_MAX_ISA= QKERN_VERBOSE=1
          ${QKERN} bench --op gemm --m 3 --k 27 --n 100 --repeats 3
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "qkern bench failed (${rc}): ${out}${err}")
endif()
if(NOT out MATCHES "_jit__" AND NOT err MATCHES "_jit__")
  message(FATAL_ERROR "no JIT kernel ran: ${out}${err}")
endif()
file(GLOB dumps ${DIR}/*.bin)
list(LENGTH dumps count)
if(count EQUAL 0)
  message(FATAL_ERROR "QKERN_JIT_DUMP wrote nothing into ${DIR}")
endif()
list(GET dumps 0 first)
execute_process(COMMAND ${OBJDUMP} -D -b binary -mi386:x86-64 ${first} OUTPUT_VARIABLE asm RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT asm MATCHES "vpdpbusd|vpmaddwd")
  message(FATAL_ERROR "objdump of ${first} shows no dot product:\n${asm}")
endif()
message(STATUS "${count} kernels dumped; ${first} disassembles")
