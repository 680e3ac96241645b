# check_plot.cmake — ctest: fastconv-bench --plot on a tiny sweep writes the three charts as
# valid PNG files. Skipped only when /usr/bin/python3 cannot import matplotlib: the output starts
# with "SKIP: " (ctest's SKIP_REGULAR_EXPRESSION; cmake_language(EXIT) needs CMake 3.29).
#   cmake -DBENCH=<fastconv-bench> -DOUT=<directory> -P check_plot.cmake
execute_process(COMMAND /usr/bin/python3 -c "import matplotlib" RESULT_VARIABLE no_matplotlib
                OUTPUT_QUIET ERROR_QUIET)
if(NOT no_matplotlib EQUAL 0)
  message("SKIP: /usr/bin/python3 has no matplotlib (scripts/setup.sh installs python3-matplotlib)")
  return()
endif()

file(REMOVE_RECURSE ${OUT})
execute_process(
  COMMAND ${BENCH} --problem mb1ic4ih8oc8oh8kh3ph1 --sweep 8:32 --engine all --threads 1
          --min-time 0.01 --plot ${OUT}
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)
message("${output}${errors}")
if(NOT status EQUAL 0)
  message(FATAL_ERROR "fastconv-bench --plot exited with ${status}")
endif()
foreach(chart speedup.png runtime_vs_size.png memory_vs_size.png)
  if(NOT EXISTS ${OUT}/${chart})
    message(FATAL_ERROR "${OUT}/${chart} was not written")
  endif()
  file(READ ${OUT}/${chart} signature LIMIT 8 HEX)
  if(NOT signature STREQUAL "89504e470d0a1a0a")
    message(FATAL_ERROR "${OUT}/${chart} is not a PNG file (starts with ${signature})")
  endif()
  file(SIZE ${OUT}/${chart} size)
  if(size LESS 5000)
    message(FATAL_ERROR "${OUT}/${chart} is only ${size} bytes")
  endif()
endforeach()
if(NOT output MATCHES "chart: ")
  message(FATAL_ERROR "fastconv-bench did not name the charts it wrote")
endif()
