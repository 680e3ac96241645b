// FASTCONV_VERBOSE=1: creating a plan prints the problem, the engine `auto` chose with the
// microkernel it will run (for every engine that has microkernels) and why the engines before it
// declined; without the variable nothing is printed.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace {

namespace fc = fastconv;
using Shape = std::vector<std::int64_t>;

// The line a forward float32 plan for src * weight prints with FASTCONV_VERBOSE set to `verbose`.
std::string plan_message(const char* verbose, const Shape& src_shape, const Shape& weight_shape,
                         const Shape& dst_shape, const fc::ConvParams& params) {
  const auto shapes_of = [](const Shape& shape) {
    return fc::TensorView::contiguous(nullptr, fc::DType::float32, shape);
  };
  setenv("FASTCONV_VERBOSE", verbose, 1);
  testing::internal::CaptureStderr();
  const fc::ConvPlan plan(fc::ConvKind::forward,
                          {.src = shapes_of(src_shape), .weight = shapes_of(weight_shape), .dst = shapes_of(dst_shape)},
                          params);
  std::string message = testing::internal::GetCapturedStderr();
  unsetenv("FASTCONV_VERBOSE");
  return message;
}

struct Case {
  Shape src, weight, dst;
  fc::ConvParams params;
  std::vector<std::string> expected;  // substrings of the message
};

TEST(Verbose, NamesTheEngineItsMicrokernelAndTheDeclines) {
  const fc::ConvParams same = fc::ConvParams(2).padding({1, 1});
  const std::vector<Case> cases = {
      {{1, 3, 40, 40}, {16, 3, 3, 3}, {1, 16, 40, 40}, same,
       {"engine=few_channels", "kernel=f32_fewch_", "depthwise: declined (not depthwise"}},
      {{1, 8, 20, 20}, {8, 1, 3, 3}, {1, 8, 20, 20}, fc::ConvParams(2).padding({1, 1}).groups(8),
       {"engine=depthwise", "kernel=depthwise plane kernels__", "depthwise: chosen"}},
      {{1, 32, 14, 14}, {64, 32, 1, 1}, {1, 64, 14, 14}, fc::ConvParams(2),
       {"engine=pointwise", "kernel=f32_gemm_", "few_channels: declined"}},
      {{1, 32, 14, 14}, {32, 32, 5, 5}, {1, 32, 14, 14}, fc::ConvParams(2).padding({2, 2}),
       {"engine=implicit_gemm", "kernel=f32_igemm_", "pointwise: declined", "winograd: declined (kernel width 5"}},
  };
  for (const Case& c : cases) {
    const std::string message = plan_message("1", c.src, c.weight, c.dst, c.params);
    EXPECT_EQ(message.rfind("fastconv: conv_forward float32", 0), 0u) << message;
    for (const std::string& expected : c.expected)
      EXPECT_NE(message.find(expected), std::string::npos) << "missing '" << expected << "' in: " << message;
    EXPECT_EQ(plan_message("0", c.src, c.weight, c.dst, c.params), "");
  }
}

}  // namespace
