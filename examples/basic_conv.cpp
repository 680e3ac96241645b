// basic_conv.cpp — the README's example: a 3x3 convolution with bias, checked by hand.
#include <fastconv/fastconv.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  std::vector<float> image = {3, 9, 0, 2, 8, 1, 1, 4, 8};  // N=1, C=1, 3x3
  std::vector<float> kernel = {8, 9, 4, 4};                // K=1, C=1, 2x2
  std::vector<float> bias = {0.06f};
  std::vector<float> out(4);                               // N=1, K=1, 2x2

  auto src = fastconv::make_view(image.data(), {1, 1, 3, 3});
  auto weight = fastconv::make_view(kernel.data(), {1, 1, 2, 2});
  auto b = fastconv::make_view(bias.data(), {1});
  auto dst = fastconv::make_view(out.data(), {1, 1, 2, 2});
  auto params = fastconv::ConvParams(2).stride({1}).padding({0});

  fastconv::ConvPlan plan(fastconv::ConvKind::forward, {src, weight, b, dst}, params);
  plan.run({src, weight, b, dst});  // run as often as needed; const and thread-safe

  std::printf("%s: %g %g / %g %g\n", fastconv::engine_name(plan.engine()), out[0], out[1], out[2], out[3]);
  const bool ok = std::fabs(out[0] - 145.06f) < 1e-4f && std::fabs(out[1] - 108.06f) < 1e-4f &&
                  std::fabs(out[2] - 108.06f) < 1e-4f && std::fabs(out[3] - 121.06f) < 1e-4f;
  return ok ? 0 : 1;  // expect 145.06 108.06 / 108.06 121.06
}
