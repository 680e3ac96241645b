# run_bench.cmake — included by the fastconv-bench check scripts (cmake -P, BENCH set).
# run_bench(ARGN) runs fastconv-bench with ARGN and sets `output` (its stdout) in the caller;
# fails unless the exit status is 0 and the summary says 0 failed, 0 mismatched.
function(run_bench)
  execute_process(COMMAND ${BENCH} ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out
                  ERROR_VARIABLE errors)
  message("fastconv-bench ${ARGN}\n${out}${errors}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "fastconv-bench exited with ${status}")
  endif()
  if(NOT out MATCHES " 0 failed, 0 mismatched")
    message(FATAL_ERROR "fastconv-bench reported failures or mismatches")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()
