// problem_parser.hpp — benchmark problems from oneDNN benchdnn-style strings, from problem files
// and from size sweeps: the inverse of problem_string() (layer.hpp).
//
// Grammar (benchdnn's convolution descriptor, oneDNN tests/benchdnn/doc/driver_conv.md):
//   gX mbX icX idX ihX iwX ocX odX ohX owX kdX khX kwX sdX shX swX pdX phX pwX ddX dhX dwX nNAME
// X is a decimal number. Keys come in any order, each at most once; '_' between keys is ignored
// ("g1mb1_ic3ih224_oc64oh112_kh7sh2ph3"). The name, if any, comes last and runs to the end of
// the string, optionally in double quotes: n"res4_3x3" or nres4_3x3 (names hold no whitespace,
// '"' or '#').
//   - ic, oc and, per spatial axis used, its input size and kernel size are required;
//   - g defaults to 1, mb to 2 (benchdnn's default), strides to 1, dilations to 1;
//   - an axis is used when its input, output or kernel size is given, or its stride, padding or
//     dilation with a non-default value. d used: 3-D (with neither h nor w given: cubic, the
//     d values copied to h and w; with only one of them: an error). Else h used: 2-D (w not
//     given: square, the h values copied to every w value not given). Else w used: 1-D;
//   - padding defaults to 0, except when the output size is given without padding: then it is
//     deduced as benchdnn does (((out - 1) * stride - in + extent) / 2), and the output must be
//     reachable with that padding on both sides (Layer has symmetric padding only, so a string
//     that implies asymmetric padding is rejected);
//   - a given output size must equal the one computed, out = (in + 2 pad - extent) / stride + 1
//     with extent = dilation * (kernel - 1) + 1 (PyTorch's floor convention).
// DILATION: as problem_string() prints it, d<axis> is the dilation itself (PyTorch's: "dh2"
// reads every second row); benchdnn's d<axis> is zero-based (its dh1 is our dh2).
//
// Every invalid input throws ProblemError, whose message names the offending token or values
// and quotes the whole string (and for files the file name and line number).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "layer.hpp"

namespace fastconv_bench {

class ProblemError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A Layer and the storage of its name. layer.name views *name_storage, which is immutable and
// shared by all copies, so copying or moving a ParsedProblem keeps layer.name valid; a Layer
// copied out of it stays valid as long as one ParsedProblem holding the name is alive.
struct ParsedProblem {
  Layer layer;
  std::shared_ptr<const std::string> name_storage;

  // A problem named `name` (copied into owned storage) with the shape of `shape`.
  ParsedProblem(std::string name, const Layer& shape);
  std::string_view name() const { return layer.name; }
};

// Parses one problem string. The name is the one given (n...) or else the canonical
// problem_string() of the parsed layer. Throws ProblemError.
ParsedProblem parse_problem(std::string_view text);

// problem_string(layer) followed by "n<name>" when the name is not empty and differs from the
// problem string itself; parse_problem() reads it back with the same name.
std::string named_problem_string(const Layer& layer);

// One problem per line; '#' starts a comment, blank lines are skipped, leading and trailing
// whitespace is ignored. Throws ProblemError naming "<path>:<line>" for a bad line, for a file
// that cannot be read and for a file without any problem.
std::vector<ParsedProblem> read_problem_file(const std::filesystem::path& path);

// `base` with its spatial size set to from, from * factor, from * factor^2, ... up to `to`
// (each size rounded, at least one more than the previous; `to` itself is included only when
// reached). Every used spatial axis of the base's input that is > 1 is set to the size (all
// used axes when none is > 1); kernel, stride, padding, dilation, channels and batch stay.
// Names are "<base name>_s<size>" (the base's problem string when it has no name).
// Throws ProblemError for from < 1, to < from, factor <= 1 and for a size the kernel does not
// fit, naming the size.
std::vector<ParsedProblem> sweep_problems(const Layer& base, std::int64_t from, std::int64_t to,
                                          double factor = 2.0);

}  // namespace fastconv_bench
