# check_ops.cmake — ctest: fastconv-bench --op end to end on tiny layers (2-D; 1-D grouped,
# strided and dilated; 3-D), with the real peers:
#   - --op abs_diff_sum,add_max --dir all --compare torch_unfold: every fwd / bwd_d / bwd_w row
#     of fastconv and of the unfold recipe measured (the recipe's result checked first: 0
#     mismatched), every transposed row skipped with a reason; JSON rows carry op and
#     gpairs_per_s; the table has the op and Gpairs/s columns;
#   - --op all: the recipe has every catalog op (abs_diff_sum_adder's gradients skipped);
#   - pad values -inf (add_max) and inf (sub_min), and -inf for the whole catalog (the recipe's
#     mul_max and mul_logsumexp weight gradients skipped: autograd's 0 * inf = NaN);
#   - the torch and onednn peers skip ops other than mul_sum, and without --op compute the
#     convolution as before (no op columns, no torch_unfold by default).
# Skipped when the build has no libtorch (no torch_unfold peer): the output starts with "SKIP: "
# (ctest's SKIP_REGULAR_EXPRESSION; cmake_language(EXIT) needs CMake 3.29).
#   cmake -DBENCH=<fastconv-bench> -DOUT=<directory> -P check_ops.cmake
cmake_minimum_required(VERSION 3.25)  # IN_LIST, string(JSON)
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
set(problems --problem mb2ic4ih7oc6kh3ph1 --problem g2mb2ic4iw11oc6kw3sw2pw1dw2
             --problem mb1ic2id5oc3kd3pd1)
set(quick --engine auto --threads 1 --min-time 0)

include(${CMAKE_CURRENT_LIST_DIR}/run_bench.cmake)  # run_bench()

# Checks every row of the JSON file: keys op and gpairs_per_s present, the op among `ops`, and
# the outcome: skipped for transposed rows, for torch_unfold's rows of the `op:direction` pairs
# in `unfold_skips`, for every row of the peers in `skipping_peers` and for torch_cl's rows of
# 1-D layers (PyTorch has no 1-D channels_last), and for onednn_winograd's rows where oneDNN has
# no Winograd (their reason says so); measured otherwise.
set(adder_gradients "abs_diff_sum_adder:bwd_d;abs_diff_sum_adder:bwd_w")
function(check_rows json ops skipping_peers unfold_skips)
  file(READ ${json} text)
  string(JSON rows LENGTH "${text}")
  if(rows EQUAL 0)
    message(FATAL_ERROR "${json} has no rows")
  endif()
  math(EXPR last "${rows} - 1")
  foreach(index RANGE ${last})
    string(JSON op GET "${text}" ${index} op)
    string(JSON gpairs_per_s TYPE "${text}" ${index} gpairs_per_s)  # fails if the key is missing
    string(JSON library GET "${text}" ${index} library)
    string(JSON direction GET "${text}" ${index} direction)
    string(JSON outcome GET "${text}" ${index} outcome)
    string(JSON reason GET "${text}" ${index} message)
    string(JSON problem GET "${text}" ${index} problem)
    if(NOT op IN_LIST ops)
      message(FATAL_ERROR "row ${index}: op '${op}' not among ${ops}")
    endif()
    set(expected measured)
    if(direction STREQUAL "transposed" OR library IN_LIST skipping_peers OR
       (library STREQUAL "torch_unfold" AND "${op}:${direction}" IN_LIST unfold_skips) OR
       (library STREQUAL "torch_cl" AND problem MATCHES "iw" AND NOT problem MATCHES "ih") OR
       (library STREQUAL "onednn_winograd" AND reason MATCHES "no convolution_winograd"))
      set(expected skipped)
    endif()
    if(NOT outcome STREQUAL expected)
      message(FATAL_ERROR "row ${index} (${library} ${direction} ${op}): ${outcome}, expected "
                          "${expected}: ${reason}")
    endif()
    if(expected STREQUAL "measured" AND NOT gpairs_per_s STREQUAL "NUMBER")
      message(FATAL_ERROR "row ${index} (${library} ${direction} ${op}): gpairs_per_s is ${gpairs_per_s}")
    endif()
    if(expected STREQUAL "skipped" AND NOT reason MATCHES "^skipped: .+")
      message(FATAL_ERROR "row ${index} (${library} ${direction} ${op}): no reason given")
    endif()
  endforeach()
endfunction()

# 1. The issue's pair of ops in every direction against the unfold recipe.
execute_process(COMMAND ${BENCH} --problem mb1ic1ih4oc1kh3 --compare torch_unfold --op mul_sum
                        ${quick} OUTPUT_VARIABLE probe ERROR_VARIABLE probe_errors)
if(probe MATCHES "torch_unfold unavailable")
  message("SKIP: this fastconv-bench has no torch_unfold peer (built without libtorch)")
  return()
endif()
run_bench(${problems} ${quick} --op abs_diff_sum,add_max --dir all --compare torch_unfold
          --json ${OUT}/pair.json)
check_rows(${OUT}/pair.json "abs_diff_sum;add_max" "" "")
foreach(column " op " "Gpairs/s" "vs torch_unfold")
  if(NOT output MATCHES "${column}")
    message(FATAL_ERROR "the table has no '${column}' column")
  endif()
endforeach()
if(NOT output MATCHES "a transposed convolution is the adjoint")
  message(FATAL_ERROR "transposed rows do not give the library's reason")
endif()

# 2. Every catalog op has a recipe.
run_bench(${problems} ${quick} --op all --dir fwd,bwd_d,bwd_w --compare torch_unfold
          --json ${OUT}/all.json)
execute_process(COMMAND ${BENCH} --op unknown_op ERROR_VARIABLE usage_error)  # lists the catalog
string(REGEX MATCH "operations \\(([a-z_, ]+)\\) or all" catalog_line "${usage_error}")
string(REPLACE ", " ";" catalog "${CMAKE_MATCH_1}")
list(LENGTH catalog catalog_size)
if(catalog_size LESS 8)
  message(FATAL_ERROR "--op's error does not list the catalog: '${usage_error}'")
endif()
check_rows(${OUT}/all.json "${catalog}" "" "${adder_gradients}")

# 3. Pad values: max-plus dilation with -inf, min-plus erosion with inf.
run_bench(${problems} ${quick} --op add_max --pad-value -inf --dir fwd,bwd_d,bwd_w
          --compare torch_unfold --json ${OUT}/dilation.json)
check_rows(${OUT}/dilation.json "add_max" "" "")
if(NOT output MATCHES "pad value -inf")
  message(FATAL_ERROR "the header does not name the pad value")
endif()
run_bench(${problems} ${quick} --op sub_min --pad-value inf --dir fwd,bwd_d,bwd_w
          --compare torch_unfold --json ${OUT}/erosion.json)
check_rows(${OUT}/erosion.json "sub_min" "" "")
run_bench(${problems} ${quick} --op all --pad-value -inf --dir fwd,bwd_d,bwd_w
          --compare torch_unfold --json ${OUT}/all_minus_inf.json)
check_rows(${OUT}/all_minus_inf.json "${catalog}" ""
           "${adder_gradients};mul_max:bwd_w;mul_logsumexp:bwd_w")

# 4. The convolution peers skip other ops and compute mul_sum as before.
run_bench(${problems} ${quick} --op abs_diff_sum --dir fwd,bwd_d,bwd_w --compare torch,onednn
          --json ${OUT}/convolution_peers.json)
set(built_peers)
foreach(peer torch onednn)
  if(NOT output MATCHES "${peer} unavailable")
    list(APPEND built_peers ${peer})
  endif()
endforeach()
check_rows(${OUT}/convolution_peers.json "abs_diff_sum" "${built_peers}" "")
if(built_peers AND NOT output MATCHES "computes only the plain convolution")
  message(FATAL_ERROR "the torch / onednn rows do not say why they are skipped")
endif()
run_bench(${problems} ${quick} --dir fwd,bwd_d,bwd_w --json ${OUT}/plain.json)
check_rows(${OUT}/plain.json "mul_sum" "" "")
foreach(absent "Gpairs/s" "torch_unfold" " op ")
  if(output MATCHES "${absent}")
    message(FATAL_ERROR "a run without --op shows '${absent}'")
  endif()
endforeach()
