// bench/conv_layers.h: the convolution layers of ResNet-50 and MobileNetV2,
// batch 1, 224 x 224 input, as tables for the benchmarks (bench/conv_bench.cc)
// and the `qkern bench --op conv --layer NAME` flag (tools/qkern.cc).
//
// Networks, as torchvision builds them (no FC layers):
//   resnet50     torchvision.models.resnet50: v1.5, the stride of each
//                bottleneck's first block on its 3x3 (conv2) and on the 1x1
//                projection shortcut (downsample.0); 53 convolutions.
//   mobilenetv2  torchvision.models.mobilenet_v2, width 1.0: the 3x3 s2 stem,
//                17 inverted residual blocks (a 1x1 expand where the expansion
//                factor is 6, a depthwise 3x3, a 1x1 project), the final 1x1
//                320 -> 1280; 52 convolutions.
//
// One row per DISTINCT layer (input size, channels, kernel, stride, padding,
// groups); `count` is how many convolutions of the network have exactly that
// geometry, so a network's time is sum(count x time of the row).
//
// Names: "<network>:<module>", the module of the row's FIRST occurrence in
// the network (in forward order):
//   resnet50     the torchvision module path: conv1, layer<L>.<B>.conv<1|2|3>,
//                layer<L>.0.downsample.0 (e.g. "resnet50:layer1.0.conv2").
//                layer1.0.conv3 also stands for layer1.0.downsample.0 (both are
//                1x1 64 -> 256 on 56 x 56, stride 1).
//   mobilenetv2  features.<i> as torchvision numbers them, then the role of the
//                convolution inside the block instead of torchvision's
//                conv.<j>[.0] indices (which shift where a block has no expand):
//                features.0 (the stem), features.<i>.expand, features.<i>.dw,
//                features.<i>.project, features.18 (the last 1x1)
//                (e.g. "mobilenetv2:features.4.dw" is features[4].conv[1][0]).
// Every layer here has a square input, a square kernel, the same stride and
// padding on both axes, and dilation 1.
#ifndef QKERN_BENCH_CONV_LAYERS_H_
#define QKERN_BENCH_CONV_LAYERS_H_

#include <cstdint>

namespace qkern_bench {

struct ConvLayer {
  const char* name;     // "resnet50:layer1.0.conv2"
  int32_t h, w;         // input size (NHWC, batch 1)
  int32_t ic, oc;       // input and output channels
  int32_t kh, kw;       // kernel size
  int32_t stride;       // both axes
  int32_t pad;          // symmetric: top = bottom = left = right
  int32_t groups;       // 1; or ic (== oc): depthwise
  int32_t count;        // convolutions of the network with this geometry

  constexpr int64_t oh() const { return (h + 2 * pad - kh) / stride + 1; }
  constexpr int64_t ow() const { return (w + 2 * pad - kw) / stride + 1; }
  constexpr bool depthwise() const { return groups > 1 && groups == ic && groups == oc; }
  // Multiply-adds counted as 2 ops: 2 * OH * OW * OC * KH * KW * IC / groups.
  constexpr double ops() const {
    return 2.0 * static_cast<double>(oh()) * static_cast<double>(ow()) * oc * kh * kw *
           (ic / groups);
  }
};

// ---------------------------------------------------------------- ResNet-50

// name                              h    w    ic    oc  kh kw  s  p  g  count
constexpr ConvLayer kResNet50[] = {
    {"resnet50:conv1",                224, 224,    3,   64, 7, 7, 2, 3, 1, 1},
    // layer1: 3 bottlenecks, width 64, 56 x 56
    {"resnet50:layer1.0.conv1",        56,  56,   64,   64, 1, 1, 1, 0, 1, 1},
    {"resnet50:layer1.0.conv2",        56,  56,   64,   64, 3, 3, 1, 1, 1, 3},
    {"resnet50:layer1.0.conv3",        56,  56,   64,  256, 1, 1, 1, 0, 1, 4},  // + downsample.0
    {"resnet50:layer1.1.conv1",        56,  56,  256,   64, 1, 1, 1, 0, 1, 2},
    // layer2: 4 bottlenecks, width 128, 56 -> 28
    {"resnet50:layer2.0.conv1",        56,  56,  256,  128, 1, 1, 1, 0, 1, 1},
    {"resnet50:layer2.0.conv2",        56,  56,  128,  128, 3, 3, 2, 1, 1, 1},
    {"resnet50:layer2.0.conv3",        28,  28,  128,  512, 1, 1, 1, 0, 1, 4},
    {"resnet50:layer2.0.downsample.0", 56,  56,  256,  512, 1, 1, 2, 0, 1, 1},
    {"resnet50:layer2.1.conv1",        28,  28,  512,  128, 1, 1, 1, 0, 1, 3},
    {"resnet50:layer2.1.conv2",        28,  28,  128,  128, 3, 3, 1, 1, 1, 3},
    // layer3: 6 bottlenecks, width 256, 28 -> 14
    {"resnet50:layer3.0.conv1",        28,  28,  512,  256, 1, 1, 1, 0, 1, 1},
    {"resnet50:layer3.0.conv2",        28,  28,  256,  256, 3, 3, 2, 1, 1, 1},
    {"resnet50:layer3.0.conv3",        14,  14,  256, 1024, 1, 1, 1, 0, 1, 6},
    {"resnet50:layer3.0.downsample.0", 28,  28,  512, 1024, 1, 1, 2, 0, 1, 1},
    {"resnet50:layer3.1.conv1",        14,  14, 1024,  256, 1, 1, 1, 0, 1, 5},
    {"resnet50:layer3.1.conv2",        14,  14,  256,  256, 3, 3, 1, 1, 1, 5},
    // layer4: 3 bottlenecks, width 512, 14 -> 7
    {"resnet50:layer4.0.conv1",        14,  14, 1024,  512, 1, 1, 1, 0, 1, 1},
    {"resnet50:layer4.0.conv2",        14,  14,  512,  512, 3, 3, 2, 1, 1, 1},
    {"resnet50:layer4.0.conv3",         7,   7,  512, 2048, 1, 1, 1, 0, 1, 3},
    {"resnet50:layer4.0.downsample.0", 14,  14, 1024, 2048, 1, 1, 2, 0, 1, 1},
    {"resnet50:layer4.1.conv1",         7,   7, 2048,  512, 1, 1, 1, 0, 1, 2},
    {"resnet50:layer4.1.conv2",         7,   7,  512,  512, 3, 3, 1, 1, 1, 2},
};

// -------------------------------------------------------------- MobileNetV2

// Blocks (expansion t, output c, repeats n, first stride s): (1, 16, 1, 1),
// (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
// (6, 320, 1, 1) = features.1 .. features.17.
// name                                 h    w   ic    oc  kh kw  s  p    g  count
constexpr ConvLayer kMobileNetV2[] = {
    {"mobilenetv2:features.0",          224, 224,   3,   32, 3, 3, 2, 1,   1, 1},
    {"mobilenetv2:features.1.dw",       112, 112,  32,   32, 3, 3, 1, 1,  32, 1},
    {"mobilenetv2:features.1.project",  112, 112,  32,   16, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.2.expand",   112, 112,  16,   96, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.2.dw",       112, 112,  96,   96, 3, 3, 2, 1,  96, 1},
    {"mobilenetv2:features.2.project",   56,  56,  96,   24, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.3.expand",    56,  56,  24,  144, 1, 1, 1, 0,   1, 2},  // 3, 4
    {"mobilenetv2:features.3.dw",        56,  56, 144,  144, 3, 3, 1, 1, 144, 1},
    {"mobilenetv2:features.3.project",   56,  56, 144,   24, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.4.dw",        56,  56, 144,  144, 3, 3, 2, 1, 144, 1},
    {"mobilenetv2:features.4.project",   28,  28, 144,   32, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.5.expand",    28,  28,  32,  192, 1, 1, 1, 0,   1, 3},  // 5, 6, 7
    {"mobilenetv2:features.5.dw",        28,  28, 192,  192, 3, 3, 1, 1, 192, 2},  // 5, 6
    {"mobilenetv2:features.5.project",   28,  28, 192,   32, 1, 1, 1, 0,   1, 2},  // 5, 6
    {"mobilenetv2:features.7.dw",        28,  28, 192,  192, 3, 3, 2, 1, 192, 1},
    {"mobilenetv2:features.7.project",   14,  14, 192,   64, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.8.expand",    14,  14,  64,  384, 1, 1, 1, 0,   1, 4},  // 8 .. 11
    {"mobilenetv2:features.8.dw",        14,  14, 384,  384, 3, 3, 1, 1, 384, 4},  // 8 .. 11
    {"mobilenetv2:features.8.project",   14,  14, 384,   64, 1, 1, 1, 0,   1, 3},  // 8 .. 10
    {"mobilenetv2:features.11.project",  14,  14, 384,   96, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.12.expand",   14,  14,  96,  576, 1, 1, 1, 0,   1, 3},  // 12 .. 14
    {"mobilenetv2:features.12.dw",       14,  14, 576,  576, 3, 3, 1, 1, 576, 2},  // 12, 13
    {"mobilenetv2:features.12.project",  14,  14, 576,   96, 1, 1, 1, 0,   1, 2},  // 12, 13
    {"mobilenetv2:features.14.dw",       14,  14, 576,  576, 3, 3, 2, 1, 576, 1},
    {"mobilenetv2:features.14.project",   7,   7, 576,  160, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.15.expand",    7,   7, 160,  960, 1, 1, 1, 0,   1, 3},  // 15 .. 17
    {"mobilenetv2:features.15.dw",        7,   7, 960,  960, 3, 3, 1, 1, 960, 3},  // 15 .. 17
    {"mobilenetv2:features.15.project",   7,   7, 960,  160, 1, 1, 1, 0,   1, 2},  // 15, 16
    {"mobilenetv2:features.17.project",   7,   7, 960,  320, 1, 1, 1, 0,   1, 1},
    {"mobilenetv2:features.18",           7,   7, 320, 1280, 1, 1, 1, 0,   1, 1},
};

struct ConvNetwork {
  const char* name;  // "resnet50": the prefix of its layers' names, before ':'
  const ConvLayer* layers;
  int32_t size;      // rows
  int32_t convs;     // convolutions in the network: the sum of the counts
};

template <int32_t N>
constexpr int32_t sum_of_counts(const ConvLayer (&layers)[N]) {
  int32_t s = 0;
  for (int32_t i = 0; i < N; ++i) s += layers[i].count;
  return s;
}

// True when no two rows have the same geometry (they would be one row with the sum of the counts).
template <int32_t N>
constexpr bool rows_distinct(const ConvLayer (&l)[N]) {
  for (int32_t i = 0; i < N; ++i) {
    for (int32_t j = i + 1; j < N; ++j) {
      if (l[i].h == l[j].h && l[i].w == l[j].w && l[i].ic == l[j].ic && l[i].oc == l[j].oc &&
          l[i].kh == l[j].kh && l[i].kw == l[j].kw && l[i].stride == l[j].stride &&
          l[i].pad == l[j].pad && l[i].groups == l[j].groups) {
        return false;
      }
    }
  }
  return true;
}

template <int32_t N>
constexpr bool rows_valid(const ConvLayer (&l)[N]) {
  for (int32_t i = 0; i < N; ++i) {
    if (l[i].count < 1 || l[i].groups < 1 || l[i].ic % l[i].groups != 0 ||
        l[i].oc % l[i].groups != 0 || (l[i].groups > 1 && !l[i].depthwise()) || l[i].oh() < 1 ||
        l[i].ow() < 1) {
      return false;
    }
  }
  return true;
}

static_assert(sum_of_counts(kResNet50) == 53, "ResNet-50 has 53 convolutions (4 projections)");
static_assert(sum_of_counts(kMobileNetV2) == 52, "MobileNetV2 has 52 convolutions");
static_assert(rows_distinct(kResNet50) && rows_distinct(kMobileNetV2),
              "a geometry is listed twice");
static_assert(rows_valid(kResNet50) && rows_valid(kMobileNetV2), "a row is not a valid layer");

constexpr ConvNetwork kConvNetworks[] = {
    {"resnet50", kResNet50, static_cast<int32_t>(sizeof(kResNet50) / sizeof(kResNet50[0])),
     sum_of_counts(kResNet50)},
    {"mobilenetv2", kMobileNetV2,
     static_cast<int32_t>(sizeof(kMobileNetV2) / sizeof(kMobileNetV2[0])),
     sum_of_counts(kMobileNetV2)},
};

}  // namespace qkern_bench

#endif  // QKERN_BENCH_CONV_LAYERS_H_
