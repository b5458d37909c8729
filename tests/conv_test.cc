// tests/conv_test.cc: QConv2d on every ISA against the direct convolution of
// reference/conv_ref.h, byte for byte (ConvTester), every path, and every
// bad argument.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "qkern/conv.hpp"
#include "qkern/parallel.hpp"
#include "reference/conv_ref.h"
#include "tests/conv_tester.h"
#include "tests/test_util.h"

#if QKERN_HAVE_JIT
#include "jit/jit.h"
#endif

namespace qkern {
namespace test {
namespace {

using ConvTest = IsaTest;

#ifdef QKERN_TEST_EMULATED
#define QKERN_SKIP_THREADS_UNDER_EMULATION() \
  GTEST_SKIP() << "threads: qemu-user hangs in pthread_create; tested natively"
#else
#define QKERN_SKIP_THREADS_UNDER_EMULATION() (void)0
#endif

// Channel counts around vector widths and K groups, every square kernel
// size's path, on a prime-sized image.
TEST_P(ConvTest, ChannelsAndKernels) {
  for (int64_t ic : {1, 3, 7, 16, 17, 64}) {
    for (int64_t oc : {1, 3, 7, 16, 17, 64}) {
      for (int64_t k : {1, 2, 3, 5, 7}) {
        SCOPED_TRACE(testing::Message() << "ic " << ic << " oc " << oc << " k " << k);
        ConvTester().hw(7, 11).channels(ic, oc).kernel(k, k).pad(k / 2, k / 2, (k - 1) / 2, (k - 1) / 2)
            .seed(static_cast<uint32_t>(ic * 1000 + oc * 10 + k)).Test();
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Every KH x KW in 1..7 with strides and dilations 1..3 and asymmetric padding.
TEST_P(ConvTest, GeometrySweep) {
  for (int64_t kh = 1; kh <= 7; ++kh) {
    for (int64_t kw = 1; kw <= 7; ++kw) {
      for (int64_t s = 1; s <= 3; ++s) {
        for (int64_t d = 1; d <= 3; ++d) {
          const int64_t h = 13, w = 11, pt = kh % 3, pl = kw % 2, pb = (kh + 1) % 3, pr = 2 - kw % 3;
          if (ref::conv_out_dim(h, pt, pb, kh, d, s) <= 0 || ref::conv_out_dim(w, pl, pr, kw, 4 - d, 4 - s) <= 0) continue;
          SCOPED_TRACE(testing::Message() << "k " << kh << "x" << kw << " s " << s << " d " << d);
          ConvTester().hw(h, w).channels(3, 5).kernel(kh, kw).stride(s, 4 - s).dilation(d, 4 - d)
              .pad(pt, pl, pb, pr).za(77).seed(static_cast<uint32_t>(kh * 1000 + kw * 100 + s * 10 + d)).Test();
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

// Strides larger than the kernel, padding larger than the kernel, 1-pixel images.
TEST_P(ConvTest, EdgeGeometry) {
  ConvTester().hw(9, 10).channels(4, 6).kernel(2, 2).stride(3, 5).Test();
  ConvTester().hw(3, 3).channels(5, 3).kernel(3, 3).pad(4, 3, 5, 2).Test();
  ConvTester().hw(1, 1).channels(8, 9).kernel(1, 1).Test();
  ConvTester().hw(1, 1).channels(8, 9).kernel(3, 3).pad(1, 1, 1, 1).Test();
  ConvTester().hw(1, 1).channels(32, 32).groups(32).kernel(5, 5).pad(2, 2, 2, 2).Test();
  ConvTester().hw(2, 17).channels(3, 2).kernel(1, 7).pad(0, 6, 0, 0).stride(1, 2).Test();
}

// Where create() takes the direct path: x86 ISAs with the JIT on.
bool DirectIsa(Isa isa) {
#if QKERN_HAVE_JIT
  isa = FamilyIsa(isa);  // avx512_amx: avx512_vnni's direct kernels
  return jit::enabled() && (isa == Isa::kAvx2 || isa == Isa::kAvx512 || isa == Isa::kAvx512Vnni);
#else
  (void)isa;
  return false;
#endif
}

TEST_P(ConvTest, PathsAreChosen) {
  const ConvPath wide = DirectIsa(isa()) ? ConvPath::kDirect : ConvPath::kIm2col;
  ConvTester().hw(5, 6).channels(16, 24).kernel(1, 1).expect_path(ConvPath::kGemm1x1).Test();
  ConvTester().hw(5, 6).channels(16, 24).kernel(1, 1).stride(2, 2).expect_path(ConvPath::kIm2col).Test();
  ConvTester().hw(5, 6).channels(16, 24).kernel(1, 1).pad(1, 0, 0, 0).expect_path(ConvPath::kIm2col).Test();
  ConvTester().hw(5, 6).channels(16, 24).kernel(3, 3).expect_path(wide).Test();  // runs im2col: rows < 24
  // avx512_amx: wide channels run im2col into the AMX GEMM where it has one (N > 32).
  ConvTester().hw(5, 6).channels(16, 40).kernel(3, 3)
      .expect_path(isa() == Isa::kAvx512Amx ? ConvPath::kIm2col : wide).Test();
  ConvTester().hw(5, 6).channels(18, 24).kernel(3, 3).expect_path(ConvPath::kIm2col).Test();  // IC % 4 != 0
  ConvTester().hw(5, 6).channels(16, 24).kernel(3, 3).dilation(1, 2).expect_path(ConvPath::kIm2col).Test();
  ConvTester().hw(5, 6).channels(1024, 8).kernel(3, 3).expect_path(ConvPath::kIm2col).Test();  // K x NR > 128 KiB
  ConvTester().hw(5, 6).channels(16, 16).groups(16).kernel(3, 3).expect_path(ConvPath::kDepthwise).Test();
  // A channel multiplier of 2 is a grouped GEMM, not the depthwise kernel.
  ConvTester().hw(5, 6).channels(8, 16).groups(8).kernel(3, 3).expect_path(ConvPath::kIm2col).Test();
  ConvTester().hw(5, 6).channels(8, 16).groups(2).kernel(1, 1).expect_path(ConvPath::kGemm1x1).Test();
}

// Depthwise 3x3 and 5x5 at strides 1 and 2 (the fast cases) over channel
// counts around the vector widths, plus other sizes and dilations.
TEST_P(ConvTest, Depthwise) {
  for (int64_t c : {2, 3, 15, 16, 17, 31, 32, 33, 64, 100}) {
    for (int64_t k : {3, 5}) {
      for (int64_t s : {1, 2}) {
        SCOPED_TRACE(testing::Message() << "c " << c << " k " << k << " s " << s);
        ConvTester().hw(11, 9).channels(c, c).groups(c).kernel(k, k).stride(s, s).pad(k / 2, k / 2, k / 2, k / 2)
            .za(200).expect_path(ConvPath::kDepthwise).seed(static_cast<uint32_t>(c * 100 + k * 10 + s)).Test();
        if (HasFatalFailure()) return;
        ConvTester().hw(11, 9).channels(c, c).groups(c).kernel(k, k).stride(s, s).pad(0, 1, 2, 0)
            .a_signed(true).za(-100).output(GemmOutput::kInt32).seed(static_cast<uint32_t>(c + k + s)).Test();
        if (HasFatalFailure()) return;
      }
    }
  }
  ConvTester().hw(13, 12).channels(24, 24).groups(24).kernel(7, 2).dilation(2, 3).pad(3, 1, 2, 2).Test();
  ConvTester().hw(6, 40).channels(20, 20).groups(20).kernel(1, 1).Test();
  // More pixels than one run of the kernel, and a batch.
  ConvTester().batch(2).hw(30, 31).channels(48, 48).groups(48).kernel(3, 3).pad(1, 1, 1, 1).Test();
}

// 3x3 depthwise at stride_w 1, dilation_w 1: avx512_vnni's tap-quad row
// kernel (vpermb + vpdpbusd) on interior runs, the pointer kernel at the
// borders. Runs of odd and even lengths, channel blocks with tails, pixel
// strides, dilation_h and stride_h, both activation types at extreme zero
// points, full-range data, every output kind.
TEST_P(ConvTest, DepthwiseTapQuads) {
  for (int64_t c : {2, 5, 16, 24, 32, 47, 144}) {
    for (int64_t w : {3, 4, 9, 40}) {
      SCOPED_TRACE(testing::Message() << "c " << c << " w " << w);
      ConvTester().hw(6, w).channels(c, c).groups(c).kernel(3, 3).pad(1, 1, 1, 1).za(255)
          .expect_path(ConvPath::kDepthwise).seed(static_cast<uint32_t>(c * 7 + w)).Test();
      if (HasFatalFailure()) return;
      ConvTester().hw(7, w).channels(c, c).groups(c).kernel(3, 3).a_signed(true).za(-128).x_pixel_stride(c + 13)
          .output(GemmOutput::kInt32).seed(static_cast<uint32_t>(c + w)).Test();
      if (HasFatalFailure()) return;
    }
  }
  for (ConvData d : {ConvData::kMaxPositive, ConvData::kMaxNegative, ConvData::kAlternating}) {
    for (bool s8 : {false, true}) {
      ConvTester().hw(5, 37).channels(33, 33).groups(33).kernel(3, 3).pad(0, 1, 1, 0).a_signed(s8)
          .za(s8 ? 127 : 0).data(d).output(GemmOutput::kInt32).Test();
      if (HasFatalFailure()) return;
    }
  }
  ConvTester().hw(12, 21).channels(40, 40).groups(40).kernel(3, 3).dilation(2, 1).stride(2, 1).pad(2, 1, 2, 1)
      .output(GemmOutput::kFloat).Test();
  ConvTester().batch(2).hw(9, 30).channels(64, 64).groups(64).kernel(3, 3).pad(1, 1, 1, 1).a_signed(true)
      .za(3).y_pixel_stride(70).Test();
  // The kernel is named where it runs.
  QConv2dParams p;
  std::vector<int8_t> wts(32 * 9, 3);
  std::vector<float> ws(32, 0.01f);
  p.input_channels = p.output_channels = p.groups = 32;
  p.kernel_h = p.kernel_w = 3;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  p.weights = wts.data();
  p.weight_scale = ws.data();
  QConv2d conv;
  ASSERT_TRUE(QConv2d::create(p, &conv).ok());
  EXPECT_EQ(conv.kernel().find("dpbusd_quads") != std::string::npos, FamilyIsa(isa()) == Isa::kAvx512Vnni) << conv.kernel();
  p.stride_w = 2;  // not at stride_w 2
  ASSERT_TRUE(QConv2d::create(p, &conv).ok());
  EXPECT_EQ(conv.kernel().find("dpbusd_quads"), std::string::npos) << conv.kernel();
}

TEST_P(ConvTest, Groups) {
  for (int64_t g : {2, 3, 4}) {
    for (int64_t k : {1, 3}) {
      SCOPED_TRACE(testing::Message() << "groups " << g << " k " << k);
      ConvTester().hw(7, 8).channels(6 * g, 5 * g).groups(g).kernel(k, k).pad(k / 2, k / 2, k / 2, k / 2).Test();
      if (HasFatalFailure()) return;
      ConvTester().hw(7, 8).channels(g, 3 * g).groups(g).kernel(k, k).stride(2, 1).a_signed(true).za(5).Test();
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(ConvTest, OutputsAndTypes) {
  struct Shape {
    int64_t ic, oc, k, groups;
  };
  for (const Shape& s : {Shape{5, 9, 3, 1}, Shape{10, 7, 1, 1}, Shape{17, 17, 3, 17}}) {
    for (bool a_signed : {false, true}) {
      for (GemmOutput out : {GemmOutput::kRequantized, GemmOutput::kInt32, GemmOutput::kFloat}) {
        for (RequantScheme scheme : {RequantScheme::kFp32, RequantScheme::kFixedPoint}) {
          for (bool out_signed : {false, true}) {
            for (bool per_channel : {false, true}) {
              for (ConvWeightLayout layout : {ConvWeightLayout::kOHWI, ConvWeightLayout::kOIHW}) {
                for (bool bias : {false, true}) {
                  SCOPED_TRACE(testing::Message()
                               << "ic " << s.ic << " a_signed " << a_signed << " out " << int(out) << " scheme "
                               << int(scheme) << " out_signed " << out_signed << " per_channel " << per_channel
                               << " oihw " << int(layout) << " bias " << bias);
                  ConvTester()
                      .hw(6, 7).channels(s.ic, s.oc).groups(s.groups).kernel(s.k, s.k).pad(s.k / 2, s.k / 2, 0, 0)
                      .a_signed(a_signed).za(a_signed ? -3 : 131)
                      .output(out).scheme(scheme).out_signed(out_signed).zo(out_signed ? -5 : 120)
                      .per_channel(per_channel).layout(layout).bias(bias)
                      .Test();
                  if (HasFatalFailure()) return;
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST_P(ConvTest, ZeroPointsAndClamps) {
  for (int64_t groups : {1, 12}) {
    for (int32_t za : {0, 255}) {
      ConvTester().hw(6, 5).channels(12, 12).groups(groups).kernel(3, 3).pad(1, 1, 1, 1).za(za).zo(255).Test();
      ConvTester().hw(6, 5).channels(12, 12).groups(groups).kernel(3, 3).pad(1, 1, 1, 1).za(za).zo(0).clamp(10, 200).Test();
    }
    for (int32_t za : {-128, 127}) {
      ConvTester().hw(6, 5).channels(12, 12).groups(groups).kernel(3, 3).pad(1, 1, 1, 1).a_signed(true).za(za)
          .out_signed(true).zo(-128).clamp(0, 6).Test();
    }
  }
}

// Batch > 1 and pixel strides wider than the channels, on every path; the
// gaps of the output must stay untouched.
TEST_P(ConvTest, BatchAndPixelStrides) {
  ConvTester().batch(3).hw(5, 7).channels(6, 10).kernel(1, 1).x_pixel_stride(9).y_pixel_stride(13).Test();
  ConvTester().batch(3).hw(5, 7).channels(6, 10).kernel(3, 3).pad(1, 1, 1, 1).x_pixel_stride(8).y_pixel_stride(11).Test();
  ConvTester().batch(3).hw(5, 7).channels(6, 10).groups(2).kernel(3, 3).x_pixel_stride(8).y_pixel_stride(11).Test();
  ConvTester().batch(3).hw(5, 7).channels(20, 20).groups(20).kernel(3, 3).pad(1, 1, 1, 1)
      .x_pixel_stride(23).y_pixel_stride(21).output(GemmOutput::kFloat).Test();
}

// Full-range data that maximizes |acc|, at the largest K (65793 = KH*KW*IC/groups).
TEST_P(ConvTest, AdversarialFullRange) {
  for (ConvData d : {ConvData::kMaxPositive, ConvData::kMaxNegative, ConvData::kAlternating}) {
    for (int32_t za : {0, 255}) {
      ConvTester().hw(5, 5).channels(64, 9).kernel(3, 3).pad(1, 1, 1, 1).za(za).data(d).output(GemmOutput::kInt32).Test();
      ConvTester().hw(5, 5).channels(33, 33).groups(33).kernel(5, 5).pad(2, 2, 2, 2).za(za).data(d).Test();
      ConvTester().hw(2, 3).channels(7310, 2).kernel(3, 3).pad(1, 1, 1, 1).za(za).data(d).output(GemmOutput::kInt32).Test();  // K 65790
    }
  }
  ConvTester().hw(3, 3).channels(65793, 2).kernel(1, 1).za(255).data(ConvData::kMaxNegative).output(GemmOutput::kInt32).Test();
}

// The direct path (x86 JIT, <= 4 input channels, groups 1, unit dilation_w):
// first-layer shapes, every channel count it takes, OC around the tiles'
// widths, strides, dilation_h, padding on every side, rows wider than one
// staged chunk (128 pixels), pixel strides, batches, both activation types
// and every output; byte for byte against the reference, and the path
// checked where it must be taken (fixed-point outputs have no JIT epilogue:
// those run im2col, also checked here).
TEST_P(ConvTest, DirectPath) {
  const ConvPath want = DirectIsa(isa()) ? ConvPath::kDirect : ConvPath::kIm2col;
  // MobileNetV2 features.0 and ResNet-50 conv1 on small images.
  ConvTester().hw(23, 19).channels(3, 32).kernel(3, 3).stride(2, 2).pad(1, 1, 1, 1).expect_path(want).Test();
  ConvTester().hw(29, 31).channels(3, 64).kernel(7, 7).stride(2, 2).pad(3, 3, 3, 3).expect_path(want).Test();
  for (int64_t ic = 1; ic <= 4; ++ic) {
    for (int64_t oc : {1, 7, 16, 17, 32, 33, 64, 65, 130}) {
      for (int64_t k : {2, 3, 5, 7}) {
        SCOPED_TRACE(testing::Message() << "ic " << ic << " oc " << oc << " k " << k);
        const int64_t s = 1 + (oc + k) % 3;
        ConvTester().hw(9 + k, 13).channels(ic, oc).kernel(k, k).stride(s, s).pad(k / 2, k - 1, (k - 1) / 2, 1)
            .za(static_cast<int32_t>(37 * k + oc) % 256).expect_path(want)
            .seed(static_cast<uint32_t>(ic * 1000 + oc * 10 + k)).Test();
        if (HasFatalFailure()) return;
      }
    }
  }
  // Rectangular kernels, dilation_h, a stride wider than the kernel.
  ConvTester().hw(17, 15).channels(3, 20).kernel(3, 5).stride(1, 2).dilation(2, 1).pad(2, 0, 1, 3).expect_path(want).Test();
  ConvTester().hw(12, 30).channels(2, 9).kernel(1, 7).stride(3, 4).pad(0, 3, 0, 3).expect_path(want).Test();
  ConvTester().hw(10, 21).channels(4, 12).kernel(2, 2).stride(5, 3).expect_path(want).Test();
  // Rows of 300 and 150 output pixels: several staged chunks per row.
  ConvTester().hw(3, 300).channels(3, 24).kernel(3, 3).pad(1, 1, 1, 1).expect_path(want).Test();
  ConvTester().batch(2).hw(9, 301).channels(3, 40).kernel(7, 7).stride(2, 2).pad(3, 3, 3, 3).expect_path(want).Test();
  // Pixel strides and batches; the gaps of the output stay untouched.
  ConvTester().batch(3).hw(8, 9).channels(3, 10).kernel(3, 3).pad(1, 1, 1, 1).x_pixel_stride(4).y_pixel_stride(13)
      .expect_path(want).Test();
  ConvTester().batch(2).hw(7, 6).channels(1, 17).kernel(5, 5).stride(2, 1).pad(2, 2, 2, 2).x_pixel_stride(3)
      .y_pixel_stride(20).output(GemmOutput::kFloat).expect_path(want).Test();
  // Both activation types, every output, per-channel and per-tensor scales.
  for (bool a_signed : {false, true}) {
    for (GemmOutput out : {GemmOutput::kRequantized, GemmOutput::kInt32, GemmOutput::kFloat}) {
      for (RequantScheme scheme : {RequantScheme::kFp32, RequantScheme::kFixedPoint}) {
        for (bool out_signed : {false, true}) {
          for (bool per_channel : {false, true}) {
            SCOPED_TRACE(testing::Message() << "a_signed " << a_signed << " out " << int(out) << " scheme "
                                            << int(scheme) << " out_signed " << out_signed << " per_channel "
                                            << per_channel);
            const bool fixed = out == GemmOutput::kRequantized && scheme == RequantScheme::kFixedPoint;
            ConvTester().hw(11, 10).channels(3, 21).kernel(3, 3).stride(2, 2).pad(1, 1, 1, 1)
                .a_signed(a_signed).za(a_signed ? -7 : 200).output(out).scheme(scheme).out_signed(out_signed)
                .zo(out_signed ? -5 : 120).per_channel(per_channel).bias(true)
                .expect_path(fixed ? ConvPath::kIm2col : want).Test();
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
  // Wide channels (IC % 4 == 0, not 1x1): rows of >= 24 output pixels run
  // the direct kernels (the K loops over rows and, past 24 k steps a row,
  // within them), narrower ones im2col on the same packed weights. On
  // avx512_amx, OC > 32 (a GEMM with the AMX kernel) runs im2col.
  const auto wide = [&](int64_t oc) { return isa() == Isa::kAvx512Amx && oc > 32 ? ConvPath::kIm2col : want; };
  for (int64_t ic : {8, 16, 64, 128}) {
    for (int64_t oc : {8, 64, 72}) {
      for (int64_t s = 1; s <= 2; ++s) {
        SCOPED_TRACE(testing::Message() << "ic " << ic << " oc " << oc << " s " << s);
        ConvTester().hw(5, 24 * s + 3).channels(ic, oc).kernel(3, 3).stride(s, s).pad(1, 1, 1, 1)
            .za(static_cast<int32_t>(ic + oc) % 256).expect_path(wide(oc)).seed(static_cast<uint32_t>(ic + oc + s)).Test();
        if (HasFatalFailure()) return;
        ConvTester().hw(4, 23).channels(ic, oc).kernel(3, 3).stride(s, 1).pad(1, 1, 1, 1).expect_path(wide(oc)).Test();
        if (HasFatalFailure()) return;
      }
    }
  }
  ConvTester().batch(2).hw(6, 150).channels(32, 48).kernel(5, 3).pad(2, 1, 2, 1).a_signed(true).za(-9)
      .output(GemmOutput::kInt32).x_pixel_stride(36).y_pixel_stride(50).expect_path(wide(48)).Test();
  ConvTester().hw(7, 40).channels(64, 64).kernel(3, 3).pad(1, 1, 1, 1).data(ConvData::kMaxNegative).za(255)
      .output(GemmOutput::kInt32).expect_path(wide(64)).Test();
  // Full-range data and zero points at both ends, clamps.
  for (ConvData d : {ConvData::kMaxPositive, ConvData::kMaxNegative, ConvData::kAlternating}) {
    for (int32_t za : {0, 255}) {
      ConvTester().hw(9, 9).channels(4, 33).kernel(7, 7).pad(3, 3, 3, 3).za(za).data(d).output(GemmOutput::kInt32)
          .expect_path(want).Test();
      ConvTester().hw(9, 9).channels(3, 16).kernel(3, 3).pad(1, 1, 1, 1).za(za).data(d).zo(0).clamp(10, 200)
          .expect_path(want).Test();
    }
    for (int32_t za : {-128, 127}) {
      ConvTester().hw(9, 9).channels(3, 16).kernel(5, 5).pad(2, 2, 2, 2).a_signed(true).za(za).data(d)
          .out_signed(true).zo(-128).clamp(0, 6).expect_path(want).Test();
    }
  }
}

// Several tiles of the im2col buffer: K = 3*3*64 = 576 gives 455 rows a tile.
TEST_P(ConvTest, ManyTiles) {
  ConvTester().hw(40, 30).channels(64, 20).kernel(3, 3).pad(1, 1, 1, 1).Test();
  ConvTester().batch(2).hw(23, 29).channels(3, 8).kernel(7, 7).stride(2, 2).pad(3, 3, 3, 3).Test();
}

TEST_P(ConvTest, Threads) {
  QKERN_SKIP_THREADS_UNDER_EMULATION();
  ThreadPool pool(3);
  ConvTester().hw(40, 30).channels(64, 20).kernel(3, 3).pad(1, 1, 1, 1).pool(pool.parallel_for()).Test();
  ConvTester().batch(2).hw(30, 31).channels(48, 48).groups(48).kernel(3, 3).pad(1, 1, 1, 1).pool(pool.parallel_for()).Test();
  ConvTester().hw(20, 20).channels(32, 40).groups(4).kernel(1, 1).pool(pool.parallel_for()).Test();
}

TEST_P(ConvTest, ConcurrentRuns) {
  QKERN_SKIP_THREADS_UNDER_EMULATION();
  QConv2dParams p;
  p.input_channels = 16;
  p.output_channels = 24;
  p.kernel_h = p.kernel_w = 3;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  p.activation_zero_point = 100;
  p.activation_scale = 0.1f;
  p.output_scale = 2.0f;
  std::vector<int8_t> w(static_cast<size_t>(24 * 9 * 16));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(i * 37);
  std::vector<float> scale(24, 0.02f);
  p.weights = w.data();
  p.weight_scale = scale.data();
  QConv2d conv;
  ASSERT_TRUE(QConv2d::create(p, &conv).ok());
  const int64_t h = 17, wd = 19;
  std::vector<uint8_t> x(static_cast<size_t>(h * wd * 16));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i * 13);
  std::vector<uint8_t> expected(static_cast<size_t>(h * wd * 24));
  ref::conv2d(p, x.data(), 1, h, wd, 16, expected.data(), 24);
  std::vector<std::vector<uint8_t>> out(4, std::vector<uint8_t>(expected.size()));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 20; ++r) (void)conv.run(x.data(), 1, h, wd, out[static_cast<size_t>(t)].data());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& o : out) EXPECT_EQ(o, expected);
}

QKERN_INSTANTIATE_ISA_TEST(ConvTest);

// ------------------------------------------------------------ bad input

class ConvErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    p_.input_channels = 4;
    p_.output_channels = 6;
    p_.kernel_h = p_.kernel_w = 3;
    w_.assign(6 * 9 * 4, 1);
    scales_.assign(6, 0.5f);
    p_.weights = w_.data();
    p_.weight_scale = scales_.data();
    p_.activation_scale = 0.1f;
    p_.output_scale = 0.2f;
  }
  // create() fails with `code` and a message starting with `arg`, leaving the QConv2d as it was.
  void ExpectCreateError(const QConv2dParams& p, StatusCode code, const std::string& arg) {
    QConv2d c;
    const Status s = QConv2d::create(p, &c);
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_EQ(s.message().rfind(arg, 0), 0u) << s.message();
    EXPECT_FALSE(c.valid());
  }
  std::vector<int8_t> w_;
  std::vector<float> scales_;
  QConv2dParams p_;
};

TEST_F(ConvErrors, Create) {
  const auto bad = StatusCode::kInvalidArgument, range = StatusCode::kOutOfRange;
  QConv2dParams p = p_;
  p.input_channels = 0;
  ExpectCreateError(p, range, "input_channels:");
  p = p_, p.output_channels = -1;
  ExpectCreateError(p, range, "output_channels:");
  p = p_, p.kernel_h = 0;
  ExpectCreateError(p, range, "kernel_h:");
  p = p_, p.kernel_w = int64_t{1} << 40;
  ExpectCreateError(p, range, "kernel_w:");
  p = p_, p.stride_h = 0;
  ExpectCreateError(p, range, "stride_h:");
  p = p_, p.stride_w = -2;
  ExpectCreateError(p, range, "stride_w:");
  p = p_, p.dilation_h = 0;
  ExpectCreateError(p, range, "dilation_h:");
  p = p_, p.dilation_w = 0;
  ExpectCreateError(p, range, "dilation_w:");
  p = p_, p.pad_top = -1;
  ExpectCreateError(p, range, "pad_top:");
  p = p_, p.pad_right = INT64_MAX;
  ExpectCreateError(p, range, "pad_right:");
  p = p_, p.groups = 0;
  ExpectCreateError(p, range, "groups:");
  p = p_, p.groups = 3;
  ExpectCreateError(p, bad, "input_channels:");
  p = p_, p.groups = 4;
  ExpectCreateError(p, bad, "output_channels:");
  p = p_, p.kernel_h = 200, p.kernel_w = 200;  // K = 160000 > kQGemmMaxK
  ExpectCreateError(p, range, "kernel_h:");
  p = p_, p.kernel_h = int64_t{1} << 29, p.kernel_w = int64_t{1} << 29;  // K overflows int64 if multiplied naively
  ExpectCreateError(p, range, "kernel_h:");
  p = p_, p.weights = nullptr;
  ExpectCreateError(p, bad, "weights:");
  p = p_, p.weight_layout = static_cast<ConvWeightLayout>(5);
  ExpectCreateError(p, bad, "weight_layout:");
  p = p_, p.activation_zero_point = 256;
  ExpectCreateError(p, range, "activation_zero_point:");
  p = p_, p.weight_scale = nullptr;
  ExpectCreateError(p, bad, "weight_scale:");
  p = p_, p.output_scale = 0.0f;
  ExpectCreateError(p, range, "output_scale:");
  p = p_, p.output_zero_point = 300;
  ExpectCreateError(p, range, "output_zero_point:");
  p = p_, p.output = static_cast<GemmOutput>(9);
  ExpectCreateError(p, bad, "output:");
  EXPECT_EQ(QConv2d::create(p_, nullptr).code(), bad);
}

TEST_F(ConvErrors, Run) {
  QConv2d conv;
  ASSERT_TRUE(QConv2d::create(p_, &conv).ok());
  const int64_t h = 5, w = 6;  // 3x3, no padding: 3 x 4 outputs
  std::vector<uint8_t> x(static_cast<size_t>(h * w * 4), 7), y(3 * 4 * 6 + 64, 0xcd);
  const std::vector<uint8_t> untouched = y;
  auto expect = [&](Status s, StatusCode code, const std::string& arg) {
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_EQ(s.message().rfind(arg, 0), 0u) << s.message();
    EXPECT_EQ(y, untouched);
  };
  const auto bad = StatusCode::kInvalidArgument, range = StatusCode::kOutOfRange;
  expect(conv.run(x.data(), -1, h, w, y.data()), bad, "batch:");
  expect(conv.run(x.data(), 1, 0, w, y.data()), range, "h:");
  expect(conv.run(x.data(), 1, h, -4, y.data()), range, "w:");
  expect(conv.run(x.data(), 1, 2, w, y.data()), range, "h:");  // the kernel is larger than the input
  expect(conv.run(x.data(), 1, h, 2, y.data()), range, "w:");
  expect(conv.run(x.data(), 1, h, w, y.data(), 3), bad, "x_pixel_stride:");
  expect(conv.run(x.data(), 1, h, w, y.data(), 0, 5), bad, "y_pixel_stride:");
  expect(conv.run(nullptr, 1, h, w, y.data()), bad, "x:");
  expect(conv.run(x.data(), 1, h, w, nullptr), bad, "y:");
  expect(conv.run(x.data(), INT64_MAX / 4, h, w, y.data()), StatusCode::kOverflow, "x_pixel_stride:");
  EXPECT_TRUE(conv.run(nullptr, 0, h, w, nullptr).ok());  // an empty batch is a no-op
  QConv2d empty;
  expect(empty.run(x.data(), 1, h, w, y.data()), bad, "conv:");
  int64_t oh = 0, ow = 0;
  ASSERT_TRUE(conv.output_size(h, w, &oh, &ow).ok());
  EXPECT_EQ(oh, 3);
  EXPECT_EQ(ow, 4);
}

}  // namespace
}  // namespace test
}  // namespace qkern
