// suites.cpp — THE table of benchmark layers; add a layer or a suite by adding a row.
//
// All layers are forward float32 convolutions without bias. Arguments of the builders:
//   conv2d(name, batch, in_channels, out_channels, square input size, square kernel)
//   conv1d(name, batch, in_channels, out_channels, length, kernel)
//   conv3d(name, batch, in_channels, out_channels, {depth, height, width}, cubic kernel)
// followed by .stride(s), .pad(p) (both sides), .dilation(d), .groups(g) or .depthwise().
#include "suites.hpp"

#include <algorithm>

namespace fastconv_bench {
namespace {

constexpr SuiteLayer kSuiteTable[] = {
    // seeds: large images with few channels.
    {"seeds", conv2d("seed_1000", 3, 3, 3, 1000, 3)},
    {"seeds", conv2d("seed_1024_p1", 1, 3, 16, 1024, 3).pad(1)},

    // resnet50: every distinct convolution of torchvision ResNet-50 v1.5 (stride on the 3x3),
    // batch 1, 224x224 input. In each stage resN of width w: "1x1_reduce_first" is the first
    // block's 1x1 from the previous stage's channels to w, "1x1_reduce" the other blocks'
    // 4w -> w, "1x1_expand" w -> 4w, "downsample" the first block's strided shortcut.
    {"resnet50", conv2d("conv1", 1, 3, 64, 224, 7).stride(2).pad(3)},
    {"resnet50", conv2d("res2_1x1_reduce_first", 1, 64, 64, 56, 1)},
    {"resnet50", conv2d("res2_3x3", 1, 64, 64, 56, 3).pad(1)},
    {"resnet50", conv2d("res2_1x1_expand", 1, 64, 256, 56, 1)},
    {"resnet50", conv2d("res2_1x1_reduce", 1, 256, 64, 56, 1)},
    {"resnet50", conv2d("res3_1x1_reduce_first", 1, 256, 128, 56, 1)},
    {"resnet50", conv2d("res3_3x3_s2", 1, 128, 128, 56, 3).stride(2).pad(1)},
    {"resnet50", conv2d("res3_3x3", 1, 128, 128, 28, 3).pad(1)},
    {"resnet50", conv2d("res3_1x1_expand", 1, 128, 512, 28, 1)},
    {"resnet50", conv2d("res3_1x1_reduce", 1, 512, 128, 28, 1)},
    {"resnet50", conv2d("res3_downsample", 1, 256, 512, 56, 1).stride(2)},
    {"resnet50", conv2d("res4_1x1_reduce_first", 1, 512, 256, 28, 1)},
    {"resnet50", conv2d("res4_3x3_s2", 1, 256, 256, 28, 3).stride(2).pad(1)},
    {"resnet50", conv2d("res4_3x3", 1, 256, 256, 14, 3).pad(1)},
    {"resnet50", conv2d("res4_1x1_expand", 1, 256, 1024, 14, 1)},
    {"resnet50", conv2d("res4_1x1_reduce", 1, 1024, 256, 14, 1)},
    {"resnet50", conv2d("res4_downsample", 1, 512, 1024, 28, 1).stride(2)},
    {"resnet50", conv2d("res5_1x1_reduce_first", 1, 1024, 512, 14, 1)},
    {"resnet50", conv2d("res5_3x3_s2", 1, 512, 512, 14, 3).stride(2).pad(1)},
    {"resnet50", conv2d("res5_3x3", 1, 512, 512, 7, 3).pad(1)},
    {"resnet50", conv2d("res5_1x1_expand", 1, 512, 2048, 7, 1)},
    {"resnet50", conv2d("res5_1x1_reduce", 1, 2048, 512, 7, 1)},
    {"resnet50", conv2d("res5_downsample", 1, 1024, 2048, 14, 1).stride(2)},

    // mobile: MobileNetV2 depthwise 3x3 and ResNeXt-50 32x4d grouped 3x3, batch 1.
    {"mobile", conv2d("mbv2_dw_c32_112", 1, 32, 32, 112, 3).pad(1).depthwise()},
    {"mobile", conv2d("mbv2_dw_c96_112_s2", 1, 96, 96, 112, 3).stride(2).pad(1).depthwise()},
    {"mobile", conv2d("mbv2_dw_c144_56", 1, 144, 144, 56, 3).pad(1).depthwise()},
    {"mobile", conv2d("mbv2_dw_c192_28", 1, 192, 192, 28, 3).pad(1).depthwise()},
    {"mobile", conv2d("mbv2_dw_c576_14", 1, 576, 576, 14, 3).pad(1).depthwise()},
    {"mobile", conv2d("mbv2_dw_c960_7", 1, 960, 960, 7, 3).pad(1).depthwise()},
    {"mobile", conv2d("resnext_g32_c128_56", 1, 128, 128, 56, 3).pad(1).groups(32)},
    {"mobile", conv2d("resnext_g32_c256_28", 1, 256, 256, 28, 3).pad(1).groups(32)},
    {"mobile", conv2d("resnext_g32_c512_14", 1, 512, 512, 14, 3).pad(1).groups(32)},
    {"mobile", conv2d("resnext_g32_c1024_7", 1, 1024, 1024, 7, 3).pad(1).groups(32)},

    // misc: dilation, 1-D and 3-D, batch 1.
    {"misc", conv2d("dilated_3x3_d2", 1, 64, 64, 56, 3).dilation(2).pad(2)},
    {"misc", conv1d("audio_1d_k3", 1, 256, 256, 16000, 3).pad(1)},
    {"misc", conv3d("video_3d_k3", 1, 64, 64, {8, 56, 56}, 3).pad(1)},
};

}  // namespace

std::span<const SuiteLayer> suite_table() { return kSuiteTable; }

std::vector<std::string_view> suite_names() {
  std::vector<std::string_view> names;
  for (const SuiteLayer& row : kSuiteTable) {
    if (std::find(names.begin(), names.end(), row.suite) == names.end()) {
      names.push_back(row.suite);
    }
  }
  return names;
}

bool is_suite_name(std::string_view name) {
  const std::vector<std::string_view> names = suite_names();
  return name == kAllSuitesName || std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<Layer> suite_layers(std::string_view name) {
  std::vector<Layer> layers;
  for (const SuiteLayer& row : kSuiteTable) {
    if (name == kAllSuitesName || row.suite == name) layers.push_back(row.layer);
  }
  return layers;
}

}  // namespace fastconv_bench
