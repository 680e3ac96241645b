# check_peers.cmake — ctest: fastconv-bench's peers end to end on tiny layers (issue 20's honest
# peers), with the real libraries:
#   - without --compare every built peer runs: torch, torch_cl, onednn, onednn_blocked,
#     onednn_winograd (the "peers:" line names them all, built or unavailable);
#   - every direction: each peer row of a 2-D and a 3-D layer is measured with its result
#     checked against fastconv's first (a max_abs_error in the JSON, 0 mismatched);
#   - onednn_winograd: measured or skipped on the 3x3 stride-1 16-channel layer (oneDNN decides),
#     skipped on the strided one and the 3-D one with a reason that says why (no
#     convolution_winograd, the failed conditions); torch_cl skipped on a 1-D layer with its
#     reason;
#   - the header (and every JSON row's output_alloc) says how outputs are allocated: in every
#     timed call by default, none with --alloc none (which runs, checked, too).
# Skipped when the build has neither libtorch nor oneDNN: the output starts with "SKIP: ".
#   cmake -DBENCH=<fastconv-bench> -DOUT=<directory> -P check_peers.cmake
cmake_minimum_required(VERSION 3.25)  # IN_LIST, string(JSON)
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
set(winograd_layer mb1ic16ih14oc16oh14kh3ph1)
set(strided_layer mb2ic8ih9oc12oh5kh3sh2ph1)
set(layer_3d mb1ic4id5oc8od5kd3pd1)  # as the table prints them
set(layer_1d mb1ic8iw11oc6ow11kw3pw1)
set(quick --engine auto --threads 1 --min-time 0)

include(${CMAKE_CURRENT_LIST_DIR}/run_bench.cmake)  # run_bench()

run_bench(--problem ${winograd_layer} --problem ${strided_layer} --problem ${layer_3d}
          --problem ${layer_1d} --dir all ${quick} --json ${OUT}/peers.json)
if(NOT output MATCHES "\npeers: ([^\n]*)\n")
  message(FATAL_ERROR "no peers line")
endif()
set(peers_line "${CMAKE_MATCH_1}")
set(built)
foreach(peer torch torch_cl onednn onednn_blocked onednn_winograd)
  if(NOT peers_line MATCHES "(^|, )${peer}( unavailable|,|$)")
    message(FATAL_ERROR "peer ${peer} missing from the default peers: '${peers_line}'")
  endif()
  if(NOT peers_line MATCHES "(^|, )${peer} unavailable")
    list(APPEND built ${peer})
  endif()
endforeach()
if(NOT built)
  message("SKIP: this fastconv-bench has neither libtorch nor oneDNN peers")
  return()
endif()
if(NOT output MATCHES "output allocation: in every timed call, all sides")
  message(FATAL_ERROR "the header does not say that outputs are allocated in the timed calls")
endif()

# Every row: the outcome each peer should have, and a checked result when measured.
file(READ ${OUT}/peers.json text)
string(JSON rows LENGTH "${text}")
math(EXPR last "${rows} - 1")
set(seen)
foreach(index RANGE ${last})
  string(JSON library GET "${text}" ${index} library)
  string(JSON problem GET "${text}" ${index} problem)
  string(JSON direction GET "${text}" ${index} direction)
  string(JSON outcome GET "${text}" ${index} outcome)
  string(JSON reason GET "${text}" ${index} message)
  string(JSON error_type TYPE "${text}" ${index} max_abs_error)
  string(JSON output_alloc GET "${text}" ${index} output_alloc)
  if(NOT output_alloc STREQUAL "call")
    message(FATAL_ERROR "row ${index}: output_alloc '${output_alloc}', expected call")
  endif()
  set(row "row ${index} (${library} ${problem} ${direction}): ${outcome} ${reason}")
  if(library STREQUAL "fastconv")
    if(NOT outcome STREQUAL "measured")
      message(FATAL_ERROR "${row}")
    endif()
    continue()
  endif()
  list(APPEND seen ${library})
  set(expected measured)
  if(library STREQUAL "onednn_winograd" AND NOT problem STREQUAL winograd_layer)
    set(expected skipped)
  elseif(library STREQUAL "torch_cl" AND problem STREQUAL layer_1d)
    set(expected skipped)
  elseif(library STREQUAL "onednn_winograd" AND outcome STREQUAL "skipped")
    set(expected skipped)  # oneDNN's own choice on the eligible layer (e.g. no AVX-512)
  endif()
  if(NOT outcome STREQUAL expected)
    message(FATAL_ERROR "${row}: expected ${expected}")
  endif()
  if(expected STREQUAL "measured" AND NOT error_type STREQUAL "NUMBER")
    message(FATAL_ERROR "${row}: no max_abs_error, the result was not checked")
  endif()
  if(expected STREQUAL "skipped")
    if(library STREQUAL "onednn_winograd" AND
       NOT reason MATCHES "^skipped: onednn_winograd: oneDNN [0-9.]+ has no convolution_winograd for this problem")
      message(FATAL_ERROR "${row}: the reason does not say why")
    endif()
    if(library STREQUAL "onednn_winograd" AND problem STREQUAL strided_layer AND
       NOT reason MATCHES "stride not 1")
      message(FATAL_ERROR "${row}: the reason does not name the stride")
    endif()
    if(library STREQUAL "onednn_winograd" AND problem STREQUAL layer_3d AND NOT reason MATCHES "not 2-D")
      message(FATAL_ERROR "${row}: the reason does not say the layer is not 2-D")
    endif()
    if(library STREQUAL "torch_cl" AND NOT reason MATCHES "no channels_last memory format for 1-D")
      message(FATAL_ERROR "${row}: the reason does not say why")
    endif()
  endif()
endforeach()
foreach(peer ${built})
  if(NOT peer IN_LIST seen)
    message(FATAL_ERROR "no rows of peer ${peer}")
  endif()
endforeach()

# --alloc none: the header says so, and every peer is still checked and timed; a depthwise layer
# too (torch releases memory it had before the reuse allocator through raw_deallocate there).
run_bench(--problem ${winograd_layer} --problem g24mb1ic24ih14oc24oh14kh5ph2 --dir fwd,bwd_d,bwd_w
          ${quick} --alloc none)
if(NOT output MATCHES "output allocation: none timed, all sides")
  message(FATAL_ERROR "the header does not say that no output allocation is timed")
endif()
