// qkern/qkern.hpp: the whole C++ API. No intrinsics, Highway or Xbyak here.
#ifndef QKERN_QKERN_HPP_
#define QKERN_QKERN_HPP_

#include "qkern/isa.hpp"
#include "qkern/codebook.hpp"
#include "qkern/conv.hpp"
#include "qkern/gemm.hpp"
#include "qkern/lut_gemm.hpp"
#include "qkern/parallel.hpp"
#include "qkern/quantize.hpp"
#include "qkern/status.hpp"

#endif  // QKERN_QKERN_HPP_
