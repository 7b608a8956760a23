# One fuzz.* test: FUZZER for SECONDS from the seeds in SEEDS, in WORK.
# libFuzzer adds the inputs it finds to its first corpus directory, so it
# gets a copy: the checkout is never written.
foreach(v FUZZER SEEDS WORK SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: -D${v}= is required")
  endif()
endforeach()
file(GLOB seeds "${SEEDS}/*")
if(NOT seeds)
  message(FATAL_ERROR "no seed inputs in ${SEEDS}")
endif()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/corpus")
file(COPY ${seeds} DESTINATION "${WORK}/corpus")
# -close_fd_mask=2: what the code under test writes to stderr (framing.c
# logs every refusal) is dropped; libFuzzer's and the sanitizers' reports
# still show.
execute_process(
  COMMAND "${FUZZER}" -max_total_time=${SECONDS} -timeout=10 -close_fd_mask=2
    -print_final_stats=1 "-artifact_prefix=${WORK}/" "${WORK}/corpus"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB found "${WORK}/crash-*" "${WORK}/leak-*" "${WORK}/timeout-*" "${WORK}/oom-*")
  message(FATAL_ERROR "${FUZZER} failed (${rc}); the input: ${found}")
endif()
