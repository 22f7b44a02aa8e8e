// Compute kernels of the `petscml` tfjs backend (src/engine): float32 and float64 arrays that
// tfjs owns, read and written in place (no copy). Matrix products go to OpenBLAS (the BLAS PETSc
// itself uses, with its threads); elementwise work is plain loops the compiler vectorizes. Shapes
// are validated in TypeScript, which knows the kernel's name; here only the array kinds and
// lengths are checked again, because a wrong length would read or write out of bounds.
#include "common.h"
#include "pool.h"

#include <algorithm>
#include <cmath>
#include <dlfcn.h>
#include <limits>
#include <new>
#include <type_traits>
#include <cstring>
#include <cstdlib>
#include <sched.h>
#include <string>
#include <vector>

extern "C" {
enum CBLAS_ORDER { CblasRowMajor = 101 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int, int, int, float, const float *, int, const float *, int,
                 float, float *, int);
void cblas_dgemm(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int, int, int, double, const double *, int, const double *,
                 int, double, double *, int);
}

namespace pml {
namespace {

struct Arr {
  void *data = nullptr;
  size_t length = 0;
  bool f64 = false;
};

// A Float32Array or Float64Array of at least `need` elements, or throws (returns false).
bool Take(Napi::Env env, const Napi::Value &v, const char *kernel, const char *what, size_t need, Arr *out) {
  if (!v.IsTypedArray()) {
    pml::ThrowType(env, std::string("petscml engine: ") + kernel + ": " + what + " is not a typed array");
    return false;
  }
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  napi_typedarray_type k = t.TypedArrayType();
  if (k != napi_float32_array && k != napi_float64_array) {
    pml::ThrowType(env, std::string("petscml engine: ") + kernel + ": " + what + " must be float32 or float64");
    return false;
  }
  if (t.ElementLength() < need) {
    pml::ThrowRange(env, std::string("petscml engine: ") + kernel + ": " + what + " has " + std::to_string(t.ElementLength()) +
                                   " elements, needs " + std::to_string(need));
    return false;
  }
  out->f64 = k == napi_float64_array;
  out->length = t.ElementLength();
  out->data = static_cast<uint8_t *>(t.ArrayBuffer().Data()) + t.ByteOffset();
  return true;
}

bool SameKind(Napi::Env env, const char *kernel, std::initializer_list<const Arr *> arrs) {
  bool f64 = (*arrs.begin())->f64;
  for (const Arr *a : arrs) {
    if (a->f64 != f64) {
      pml::ThrowType(env, std::string("petscml engine: ") + kernel + ": operands mix float32 and float64");
      return false;
    }
  }
  return true;
}

size_t Int(const Napi::Value &v) { return static_cast<size_t>(v.As<Napi::Number>().Int64Value()); }

// OpenBLAS runs on one thread; the engine's own threads (pool.h) split the work instead.
using SetThreadsFn = void (*)(int);
SetThreadsFn BlasSetThreads() {
  static SetThreadsFn f = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  return f;
}

// Work below these sizes runs on the calling thread: handing a part to a spinning helper costs
// ~1-3 us, waking a sleeping one ~50 us.
constexpr double kParallelFlops = 2e6;
constexpr size_t kParallelElems = 16384;
// A product is split by rows of C on multiples of this. OpenBLAS's row-major gemm is a
// column-major one on the transposes, stepped through our rows in small blocks with edge kernels
// at the end: a part that starts on a multiple of 12 gets the same kernel calls, so the same bits,
// as those rows get in the whole product (measured for sgemm and dgemm with every kernel family
// this Zen 3 runs: Zen/Haswell 12, Core2 and Barcelona 4, Sandybridge 1). Splits at other rows,
// or by columns (at any alignment up to 96 on Haswell), change the last bits of some elements, and
// would make results depend on the thread count.
constexpr size_t kRowTile = 12;

// [begin, end) of part i of n over `total` items, boundaries on multiples of `align`.
inline void Span(size_t total, int i, int n, size_t align, size_t *b, size_t *e) {
  size_t blocks = (total + align - 1) / align;
  size_t b0 = blocks * i / n, b1 = blocks * (i + 1) / n;
  *b = std::min(total, b0 * align);
  *e = std::min(total, b1 * align);
}

inline int PartsFor(double work, double threshold) {
  int t = Pool::Get().Threads();
  if (t <= 1 || work < threshold) return 1;
  return std::max(1, std::min(t, static_cast<int>(work / (threshold / 2))));
}

// A JS array of sizes, strides or axes.
std::vector<size_t> Sizes(const Napi::Value &v) {
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<size_t> r(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) r[i] = static_cast<size_t>(arr.Get(i).As<Napi::Number>().Int64Value());
  return r;
}

// matmul(a, b, out, batchA, batchB, m, n, k, transA, transB): out[i] = op(a[i or 0]) op(b[i or 0]),
// batch max(batchA, batchB); a batch of 1 is broadcast.
Napi::Value MatMul(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  size_t ba = Int(info[3]), bb = Int(info[4]), m = Int(info[5]), n = Int(info[6]), k = Int(info[7]);
  bool ta = info[8].ToBoolean(), tb = info[9].ToBoolean();
  size_t batch = std::max(ba, bb);
  Arr a, b, c;
  if (!Take(env, info[0], "BatchMatMul", "a", ba * m * k, &a) || !Take(env, info[1], "BatchMatMul", "b", bb * k * n, &b) ||
      !Take(env, info[2], "BatchMatMul", "out", batch * m * n, &c) || !SameKind(env, "BatchMatMul", {&a, &b, &c}))
    return env.Undefined();
  if (m == 0 || n == 0) return env.Undefined();
  const int lda = static_cast<int>(ta ? m : k), ldb = static_cast<int>(tb ? k : n);
  // Rows [r0, r1) of batch item i's product, on the calling thread.
  auto product = [&](size_t i, size_t r0, size_t r1) {
    if (r0 >= r1) return;
    size_t ia = ba == 1 ? 0 : i, ib = bb == 1 ? 0 : i;
    // Row r0 of op(A), wherever transposition put it in memory.
    size_t aOff = ia * m * k + (ta ? r0 : r0 * k), bOff = ib * k * n, cOff = (i * m + r0) * n;
    int rows = static_cast<int>(r1 - r0);
    if (c.f64) {
      double *C = static_cast<double *>(c.data) + cOff;
      if (k == 0) { std::fill(C, C + (r1 - r0) * n, 0.0); return; }
      cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, rows, (int)n, (int)k, 1.0,
                  static_cast<double *>(a.data) + aOff, lda, static_cast<double *>(b.data) + bOff, ldb, 0.0, C, (int)n);
    } else {
      float *C = static_cast<float *>(c.data) + cOff;
      if (k == 0) { std::fill(C, C + (r1 - r0) * n, 0.0f); return; }
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, rows, (int)n, (int)k, 1.0f,
                  static_cast<float *>(a.data) + aOff, lda, static_cast<float *>(b.data) + bOff, ldb, 0.0f, C, (int)n);
    }
  };
  int parts = PartsFor(2.0 * static_cast<double>(batch) * m * n * std::max<size_t>(k, 1), kParallelFlops);
  if (parts > 1 && batch >= static_cast<size_t>(parts)) {
    Pool::Get().For(parts, [&](int p, int np) {
      size_t b0, b1;
      Span(batch, p, np, 1, &b0, &b1);
      for (size_t i = b0; i < b1; i++) product(i, 0, m);
    });
  } else {
    // A batch of a few: each part does its rows of each item. Fewer rows than two tiles: whole.
    parts = std::min<int>(parts, static_cast<int>(m / kRowTile));
    Pool::Get().For(std::max(parts, 1), [&](int p, int np) {
      size_t r0, r1;
      Span(m, p, np, kRowTile, &r0, &r1);
      for (size_t i = 0; i < batch; i++) product(i, r0, r1);
    });
  }
  return env.Undefined();
}

// Unary elementwise operations (codes shared with src/engine/kernels.ts).
enum Unary { kNeg, kExp, kLog, kTanh, kSigmoid, kRelu, kSquare, kSqrt, kAbs, kSin, kCos, kElu, kSoftplus, kErf, kRsqrt,
             kReciprocal, kSign, kStep, kLog1p, kExpm1, kUnaryCount };

#define PML_INLINE inline __attribute__((always_inline))

template <class T> PML_INLINE T Apply(int op, T x) {
  switch (op) {
  case kNeg: return -x;
  case kExp: return std::exp(x);
  case kLog: return std::log(x);
  case kTanh: return std::tanh(x);
  case kSigmoid: return T(1) / (T(1) + std::exp(-x));
  case kRelu: return x > T(0) ? x : (std::isnan(x) ? x : T(0));
  case kSquare: return x * x;
  case kSqrt: return std::sqrt(x);
  case kAbs: return std::fabs(x);
  case kSin: return std::sin(x);
  case kCos: return std::cos(x);
  case kElu: return x >= T(0) ? x : std::expm1(x);
  // tfjs's softplus: log(1 + exp(x)) with its own thresholds at float32 epsilon.
  case kSoftplus: {
    const T th = std::log(T(1.1920928955078125e-7)) + T(2);
    if (x > -th) return x;
    if (x < th) return std::exp(x);
    return std::log1p(std::exp(x));
  }
  case kErf: return std::erf(x);
  case kRsqrt: return T(1) / std::sqrt(x);
  case kReciprocal: return T(1) / x;
  case kSign: return x > T(0) ? T(1) : x < T(0) ? T(-1) : T(0); // tfjs: sign(NaN) = 0
  case kStep: return x > T(0) ? T(1) : (std::isnan(x) ? x : T(0));
  case kLog1p: return std::log1p(x);
  case kExpm1: return std::expm1(x);
  }
  return x;
}

// tanh for float32 as a rational function (odd degree 13 over even degree 6, the form Eigen uses),
// a few ulp from the correctly rounded value on the whole line: glibc's tanhf is a scalar call of
// ~25 ns, this is a loop the compiler vectorizes. Inputs beyond +-7.99 round to +-1 in float32.
PML_INLINE float TanhF(float x) {
  const float c = 7.99881172180175781f;
  float xc = x > c ? c : (x < -c ? -c : x);
  float x2 = xc * xc;
  float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  float r = p / q;
  return x != x ? x : r; // NaN stays NaN
}

// exp for float32, vectorizable (glibc's expf is a scalar call): n = round(x / ln 2), r = x - n ln 2
// in two parts (Cody-Waite), a degree-6 polynomial for exp(r) (Cephes' coefficients), and 2^n
// applied in two halves so that subnormal results come out right. Within 2 ulp of the correctly
// rounded value; overflow gives +Inf, underflow 0, NaN stays NaN.
PML_INLINE float ExpF(float x) {
  float xc = x > 88.8f ? 88.8f : (x < -104.0f ? -104.0f : x);
  float t = xc * 1.44269504088896341f;
  float n = (t + 12582912.0f) - 12582912.0f; // round to nearest: 1.5 * 2^23 pushes the fraction out
  int ni = static_cast<int>(n);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = p * r * r + r + 1.0f;
  int n1 = ni / 2, n2 = ni - n1; // each within float's exponent range
  float s1, s2;
  int b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  float v = e * s1 * s2;
  v = x > 88.72283935546875f ? std::numeric_limits<float>::infinity() : v;
  v = x < -103.972084045410f ? 0.0f : v;
  return x != x ? x : v;
}

// exp(x) for 0 <= x <= 40 in double (tanh's large branch): Cody-Waite reduction and Cephes' Pade
// form, within ~1 ulp; 2^n is built from the rounding constant's own bits (integer adds and a
// shift, which vectorize where a double-to-int64 conversion does not, before AVX-512).
PML_INLINE double ExpSmallRangeD(double x) {
  const double shifted = x * 1.4426950408889634073599 + 6755399441055744.0; // 1.5 * 2^52: rounds n
  const double n = shifted - 6755399441055744.0;
  double r = x - n * 6.93145751953125E-1;
  r = r - n * 1.42860682030941723212E-6;
  const double rr = r * r;
  const double px = r * ((1.26177193074810590878E-4 * rr + 3.02994407707441961300E-2) * rr + 9.99999999999999999910E-1);
  const double qx = ((3.00198505138664455042E-6 * rr + 2.52448340349684104192E-3) * rr + 2.27265548208155028766E-1) * rr +
                    2.00000000000000000009E0;
  const double e = 1.0 + 2.0 * (px / (qx - px));
  uint64_t bits;
  std::memcpy(&bits, &shifted, 8);
  // The low bits of `shifted` hold 2^51 + n.
  const uint64_t scaleBits = (bits - (uint64_t(1) << 51) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &scaleBits, 8);
  return e * scale;
}

// tanh in double, vectorizable (glibc's tanh is a scalar call of ~24 ns, most of a float64 MLP's
// gradient): Cephes' rational form below 0.625, 1 - 2 / (exp(2|x|) + 1) above (no cancellation
// there), 1 beyond 20 (tanh rounds to 1 from 19.06). Within a few ulp of the correctly rounded value.
PML_INLINE double TanhD(double x) {
  const double a = std::fabs(x);
  const double z = x * x;
  const double p = (-9.64399179425052238628E-1 * z + -9.92877231001918586564E1) * z + -1.61468768441708447952E3;
  const double q = ((z + 1.12811678491632931402E2) * z + 2.23548839060100448583E3) * z + 4.84406305325125486048E3;
  const double small = x + x * z * (p / q);
  // x == 0 keeps its sign (the sum above gives +0 for -0).
  const double ac = a > 20.0 ? 20.0 : a;
  double big = 1.0 - 2.0 / (ExpSmallRangeD(2.0 * ac) + 1.0);
  big = x < 0 ? -big : big;
  const double r = a < 0.625 ? (x == 0 ? x : small) : big;
  return x != x ? x : r;
}

template <class T> PML_INLINE void UnaryLoop(int op, const T *x, T *y, size_t n) {
  if constexpr (std::is_same_v<T, double>) {
    if (op == kTanh) {
      for (size_t i = 0; i < n; i++) y[i] = TanhD(x[i]);
      return;
    }
  }
  if constexpr (std::is_same_v<T, float>) {
    if (op == kTanh) {
      for (size_t i = 0; i < n; i++) y[i] = TanhF(x[i]);
      return;
    }
    if (op == kExp) {
      for (size_t i = 0; i < n; i++) y[i] = ExpF(x[i]);
      return;
    }
    if (op == kSigmoid) {
      for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + ExpF(-x[i]));
      return;
    }
  }
  switch (op) { // the common ones get loops of their own, which the compiler vectorizes
  case kNeg: for (size_t i = 0; i < n; i++) y[i] = -x[i]; return;
  case kSquare: for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i]; return;
  default: for (size_t i = 0; i < n; i++) y[i] = Apply<T>(op, x[i]);
  }
}

// The loops are compiled twice: for the x86-64 baseline (SSE2) and for x86-64-v3 (AVX2 and FMA);
// the loader picks the clone the CPU runs (an ifunc), so one build serves every machine. Not
// "arch=haswell": GCC dispatches that clone on the CPU model, so AMD Zen (AVX2 and FMA all the
// same) ran the SSE2 loops, at half the speed; x86-64-v3 is dispatched on the CPU's features.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PML_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PML_CLONES
#endif
PML_CLONES void UnaryF32(int op, const float *x, float *y, size_t n) { UnaryLoop<float>(op, x, y, n); }
PML_CLONES void UnaryF64(int op, const double *x, double *y, size_t n) { UnaryLoop<double>(op, x, y, n); }

// unary(op, x, out, n)
Napi::Value UnaryOp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  size_t n = Int(info[3]);
  Arr x, y;
  if (op < 0 || op >= kUnaryCount) PML_THROW(env, "petscml engine: unknown unary op " + std::to_string(op), env.Undefined());
  if (!Take(env, info[1], "unary", "x", n, &x) || !Take(env, info[2], "unary", "out", n, &y) || !SameKind(env, "unary", {&x, &y}))
    return env.Undefined();
  Pool::Get().For(PartsFor(static_cast<double>(n), kParallelElems), [&](int p, int np) {
    size_t b, e;
    Span(n, p, np, 64, &b, &e);
    if (b >= e) return;
    if (x.f64) UnaryF64(op, static_cast<double *>(x.data) + b, static_cast<double *>(y.data) + b, e - b);
    else UnaryF32(op, static_cast<float *>(x.data) + b, static_cast<float *>(y.data) + b, e - b);
  });
  return env.Undefined();
}

enum Binary { kAdd, kSub, kMul, kDiv, kMax, kMin, kPow, kSquaredDiff, kBinaryCount };

template <class T> PML_INLINE T Apply2(int op, T a, T b) {
  switch (op) {
  case kAdd: return a + b;
  case kSub: return a - b;
  case kMul: return a * b;
  case kDiv: return a / b;
  case kMax: return (std::isnan(a) || std::isnan(b)) ? std::numeric_limits<T>::quiet_NaN() : (a > b ? a : b);
  case kMin: return (std::isnan(a) || std::isnan(b)) ? std::numeric_limits<T>::quiet_NaN() : (a < b ? a : b);
  case kPow: return std::pow(a, b);
  // In double, as tfjs computes it: the difference is not rounded to float32 before squaring.
  case kSquaredDiff: { double d = static_cast<double>(a) - static_cast<double>(b); return static_cast<T>(d * d); }
  }
  return a;
}

// out[idx] = a[idx with broadcast] op b[...]: shapes of equal rank (padded with 1s in TS), strides
// 0 on broadcast axes. The innermost axis gets the three fast cases: both contiguous, a scalar
// operand, or a row broadcast.
// Rows [o0, o1) of the outer index and columns [i0, i1) of the innermost axis: the parts of a
// parallel call. `idx` has rank - 1 entries (no allocation here: helpers must not throw).
template <class T>
PML_INLINE void BinaryLoop(int op, const T *a, const T *b, T *out, const std::vector<size_t> &shape, const std::vector<size_t> &sa,
                const std::vector<size_t> &sb, size_t o0, size_t o1, size_t i0, size_t i1, size_t *idx) {
  size_t rank = shape.size();
  size_t inner = rank ? shape[rank - 1] : 1;
  size_t ia = rank ? sa[rank - 1] : 1, ib = rank ? sb[rank - 1] : 1;
  size_t offA = 0, offB = 0;
  // The odometer's start: o0 in the mixed radix of the axes before the innermost.
  for (size_t d = rank - 1, rest = o0; rank >= 2 && d-- > 0;) {
    idx[d] = rest % shape[d];
    rest /= shape[d];
    offA += idx[d] * sa[d];
    offB += idx[d] * sb[d];
  }
  if (ia == 1) offA += i0;
  if (ib == 1) offB += i0;
  inner = i1 - i0;
  size_t rowLen = rank ? shape[rank - 1] : 1;
  for (size_t o = o0; o < o1; o++) {
    const T *pa = a + offA, *pb = b + offB;
    T *po = out + o * rowLen + i0;
#define PML_BIN_LOOP(EXPR)                                                                                          \
  if (ia == 1 && ib == 1) { for (size_t i = 0; i < inner; i++) { T x = pa[i], y = pb[i]; po[i] = EXPR; } }         \
  else if (ia == 1) { T y = pb[0]; for (size_t i = 0; i < inner; i++) { T x = pa[i]; po[i] = EXPR; } }             \
  else if (ib == 1) { T x = pa[0]; for (size_t i = 0; i < inner; i++) { T y = pb[i]; po[i] = EXPR; } }             \
  else { T x = pa[0], y = pb[0]; T v = EXPR; for (size_t i = 0; i < inner; i++) po[i] = v; }
    switch (op) {
    case kAdd: PML_BIN_LOOP(x + y) break;
    case kSub: PML_BIN_LOOP(x - y) break;
    case kMul: PML_BIN_LOOP(x * y) break;
    case kDiv: PML_BIN_LOOP(x / y) break;
    default: PML_BIN_LOOP(Apply2<T>(op, x, y)) break;
    }
#undef PML_BIN_LOOP
    // Next outer index (odometer over the axes before the innermost).
    if (rank < 2) continue;
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d]++;
      offA += sa[d];
      offB += sb[d];
      if (idx[d] < shape[d]) break;
      offA -= sa[d] * shape[d];
      offB -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

PML_CLONES void BinaryF32(int op, const float *a, const float *b, float *o, const std::vector<size_t> &shape,
                          const std::vector<size_t> &sa, const std::vector<size_t> &sb, size_t o0, size_t o1, size_t i0,
                          size_t i1, size_t *idx) {
  BinaryLoop<float>(op, a, b, o, shape, sa, sb, o0, o1, i0, i1, idx);
}
PML_CLONES void BinaryF64(int op, const double *a, const double *b, double *o, const std::vector<size_t> &shape,
                          const std::vector<size_t> &sa, const std::vector<size_t> &sb, size_t o0, size_t o1, size_t i0,
                          size_t i1, size_t *idx) {
  BinaryLoop<double>(op, a, b, o, shape, sa, sb, o0, o1, i0, i1, idx);
}

// binary(op, a, b, out, outShape, aStrides, bStrides): strides in elements, 0 where broadcast;
// the innermost stride of an operand is 1 (contiguous) or 0 (broadcast).
Napi::Value BinaryOp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  if (op < 0 || op >= kBinaryCount) PML_THROW(env, "petscml engine: unknown binary op " + std::to_string(op), env.Undefined());
  std::vector<size_t> shape = Sizes(info[4]), sa = Sizes(info[5]), sb = Sizes(info[6]);
  if (sa.size() != shape.size() || sb.size() != shape.size()) PML_THROW(env, "petscml engine: binary: stride ranks differ", env.Undefined());
  size_t total = 1, needA = 1, needB = 1;
  for (size_t d = 0; d < shape.size(); d++) {
    total *= shape[d];
    if (shape[d] == 0) { needA = needB = 0; }
  }
  if (total == 0) return env.Undefined();
  for (size_t d = 0; d < shape.size(); d++) {
    needA += sa[d] * (shape[d] - 1);
    needB += sb[d] * (shape[d] - 1);
  }
  if (!shape.empty() && (sa.back() > 1 || sb.back() > 1)) PML_THROW(env, "petscml engine: binary: innermost stride must be 0 or 1", env.Undefined());
  Arr a, b, o;
  if (!Take(env, info[1], "binary", "a", needA, &a) || !Take(env, info[2], "binary", "b", needB, &b) ||
      !Take(env, info[3], "binary", "out", total, &o) || !SameKind(env, "binary", {&a, &b, &o}))
    return env.Undefined();
  size_t rank = shape.size(), inner = rank ? shape[rank - 1] : 1, outer = total / inner;
  int parts = PartsFor(static_cast<double>(total), kParallelElems);
  // Split the rows of the outer index, or the innermost axis when there are too few rows.
  bool byRows = outer >= static_cast<size_t>(parts) * 4 || inner < 256;
  std::vector<size_t> idx(static_cast<size_t>(parts) * std::max<size_t>(rank, 1)); // each part's odometer
  Pool::Get().For(parts, [&](int p, int np) {
    size_t b0, b1, c0 = 0, c1 = inner, r0 = 0, r1 = outer;
    if (byRows) { Span(outer, p, np, 1, &b0, &b1); r0 = b0; r1 = b1; }
    else { Span(inner, p, np, 64, &b0, &b1); c0 = b0; c1 = b1; }
    if (r0 >= r1 || c0 >= c1) return;
    size_t *id = idx.data() + static_cast<size_t>(p) * std::max<size_t>(rank, 1);
    if (o.f64) BinaryF64(op, static_cast<double *>(a.data), static_cast<double *>(b.data), static_cast<double *>(o.data), shape, sa, sb, r0, r1, c0, c1, id);
    else BinaryF32(op, static_cast<float *>(a.data), static_cast<float *>(b.data), static_cast<float *>(o.data), shape, sa, sb, r0, r1, c0, c1, id);
  });
  return env.Undefined();
}

// reduce(op, x, out, outer, mid, inner): out[o, i] = op over m of x[o, m, i] (0 sum, 1 max, 2 min,
// 3 mean). Sums accumulate in double, as the reduction order then matters less than float32's.
// Rows [o0, o1) and columns [i0, i1) of the output, with accumulators for columns [i0, i1): each
// output's sum runs over m in the same order however the work is split.
template <class T>
void ReduceLoop(int op, const T *x, T *out, size_t mid, size_t inner, size_t o0, size_t o1, size_t i0, size_t i1, double *acc) {
  for (size_t o = o0; o < o1; o++) {
    const T *px = x + o * mid * inner;
    if (op == 0 || op == 3) {
      std::fill(acc, acc + (i1 - i0), 0.0);
      for (size_t m = 0; m < mid; m++) {
        const T *row = px + m * inner;
        for (size_t i = i0; i < i1; i++) acc[i - i0] += row[i];
      }
      for (size_t i = i0; i < i1; i++) out[o * inner + i] = static_cast<T>(op == 3 ? acc[i - i0] / static_cast<double>(mid) : acc[i - i0]);
    } else {
      for (size_t i = i0; i < i1; i++) {
        T best = px[i];
        for (size_t m = 1; m < mid; m++) {
          T v = px[m * inner + i];
          if (std::isnan(v) || std::isnan(best)) { best = std::numeric_limits<T>::quiet_NaN(); continue; }
          if (op == 1 ? v > best : v < best) best = v;
        }
        out[o * inner + i] = best;
      }
    }
  }
}

// Sums along a contiguous axis (a loss's mean over every element): one double chain would be
// latency-bound (a 64,000-element mean took 0.24 ms), so each row is cut into fixed blocks of
// kSumBlock elements summed in kLanes independent lanes, and the block sums are added in order.
// The blocks do not depend on the thread count, so neither does the result.
constexpr size_t kSumBlock = 4096;
constexpr size_t kLanes = 8;

template <class T> double BlockSum(const T *x, size_t n) {
  double lane[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t l = 0; l < kLanes; l++) lane[l] += x[i + l];
  for (size_t l = 0; i < n; i++, l++) lane[l] += x[i];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

Napi::Value WholeSums(Napi::Env env, int op, const Arr &x, const Arr &o, size_t outer, size_t mid, int parts) {
  size_t blocks = (mid + kSumBlock - 1) / kSumBlock, total = outer * blocks;
  std::vector<double> sums;
  try {
    sums.resize(total);
  } catch (const std::bad_alloc &) {
    PML_THROW(env, "petscml engine: reduce: out of memory for " + std::to_string(total) + " block sums", env.Undefined());
  }
  Pool::Get().For(std::min<int>(parts, static_cast<int>(std::max<size_t>(total, 1))), [&](int p, int np) {
    size_t b0, b1;
    Span(total, p, np, 1, &b0, &b1);
    for (size_t b = b0; b < b1; b++) {
      size_t row = b / blocks, first = (b % blocks) * kSumBlock, n = std::min(kSumBlock, mid - first);
      size_t at = row * mid + first;
      sums[b] = o.f64 ? BlockSum(static_cast<const double *>(x.data) + at, n) : BlockSum(static_cast<const float *>(x.data) + at, n);
    }
  });
  for (size_t row = 0; row < outer; row++) {
    double s = 0;
    for (size_t b = 0; b < blocks; b++) s += sums[row * blocks + b];
    if (op == 3) s /= static_cast<double>(mid);
    if (o.f64) static_cast<double *>(o.data)[row] = s;
    else static_cast<float *>(o.data)[row] = static_cast<float>(s);
  }
  return env.Undefined();
}

Napi::Value ReduceOp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  size_t outer = Int(info[3]), mid = Int(info[4]), inner = Int(info[5]);
  if (op < 0 || op > 3) PML_THROW(env, "petscml engine: unknown reduction " + std::to_string(op), env.Undefined());
  if (mid == 0 && op != 0) PML_THROW(env, "petscml engine: reduce: max/min/mean of an empty axis", env.Undefined());
  Arr x, o;
  if (!Take(env, info[1], "reduce", "x", outer * mid * inner, &x) || !Take(env, info[2], "reduce", "out", outer * inner, &o) ||
      !SameKind(env, "reduce", {&x, &o}))
    return env.Undefined();
  int parts = PartsFor(static_cast<double>(outer) * mid * inner, kParallelElems);
  if (inner == 1 && (op == 0 || op == 3)) return WholeSums(env, op, x, o, outer, mid, parts);
  // Split the output's rows, or its columns when there are too few rows.
  bool byRows = outer >= static_cast<size_t>(parts);
  if (!byRows) parts = std::min<int>(parts, static_cast<int>((inner + 63) / 64));
  // The accumulators are the one allocation proportional to the data here: failing it is an
  // error for the caller, not an abort.
  std::vector<double> acc;
  try {
    acc.resize(byRows ? static_cast<size_t>(parts) * inner : inner);
  } catch (const std::bad_alloc &) {
    PML_THROW(env, "petscml engine: reduce: out of memory for " + std::to_string(inner) + " accumulators", env.Undefined());
  }
  Pool::Get().For(parts, [&](int p, int np) {
    size_t r0 = 0, r1 = outer, c0 = 0, c1 = inner;
    if (byRows) Span(outer, p, np, 1, &r0, &r1);
    else Span(inner, p, np, 64, &c0, &c1);
    if (r0 >= r1 || c0 >= c1) return;
    double *ac = acc.data() + (byRows ? static_cast<size_t>(p) * inner : c0);
    if (o.f64) ReduceLoop<double>(op, static_cast<double *>(x.data), static_cast<double *>(o.data), mid, inner, r0, r1, c0, c1, ac);
    else ReduceLoop<float>(op, static_cast<float *>(x.data), static_cast<float *>(o.data), mid, inner, r0, r1, c0, c1, ac);
  });
  return env.Undefined();
}

// transpose(x, out, shape, perm): out = x with its axes permuted (out axis d is x axis perm[d]).
template <class T> void TransposeLoop(const T *x, T *out, const std::vector<size_t> &shape, const std::vector<size_t> &perm) {
  size_t rank = shape.size();
  std::vector<size_t> xs(rank), os(rank), ostride(rank);
  size_t s = 1;
  for (size_t d = rank; d-- > 0;) { xs[d] = s; s *= shape[d]; }
  for (size_t d = 0; d < rank; d++) { os[d] = shape[perm[d]]; ostride[d] = xs[perm[d]]; }
  size_t total = s;
  if (total == 0) return;
  if (rank == 2 && perm[0] == 1) { // the common case, blocked for the cache
    size_t R = shape[0], C = shape[1];
    const size_t B = 32;
    for (size_t i0 = 0; i0 < R; i0 += B)
      for (size_t j0 = 0; j0 < C; j0 += B)
        for (size_t i = i0; i < std::min(R, i0 + B); i++)
          for (size_t j = j0; j < std::min(C, j0 + B); j++) out[j * R + i] = x[i * C + j];
    return;
  }
  std::vector<size_t> idx(rank, 0);
  size_t off = 0;
  size_t inner = os[rank - 1], istride = ostride[rank - 1];
  for (size_t o = 0; o < total; o += inner) {
    for (size_t i = 0; i < inner; i++) out[o + i] = x[off + i * istride];
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d]++;
      off += ostride[d];
      if (idx[d] < os[d]) break;
      off -= ostride[d] * os[d];
      idx[d] = 0;
    }
  }
}

Napi::Value TransposeOp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<size_t> shape = Sizes(info[2]), perm = Sizes(info[3]);
  if (perm.size() != shape.size() || shape.empty()) PML_THROW(env, "petscml engine: transpose: perm and shape ranks differ", env.Undefined());
  std::vector<bool> seen(perm.size(), false);
  for (size_t p : perm) {
    if (p >= perm.size() || seen[p]) PML_THROW(env, "petscml engine: transpose: perm is not a permutation", env.Undefined());
    seen[p] = true;
  }
  size_t total = 1;
  for (size_t d : shape) total *= d;
  Arr x, o;
  if (!Take(env, info[0], "Transpose", "x", total, &x) || !Take(env, info[1], "Transpose", "out", total, &o) || !SameKind(env, "Transpose", {&x, &o}))
    return env.Undefined();
  if (o.f64) TransposeLoop<double>(static_cast<double *>(x.data), static_cast<double *>(o.data), shape, perm);
  else TransposeLoop<float>(static_cast<float *>(x.data), static_cast<float *>(o.data), shape, perm);
  return env.Undefined();
}

// setThreads(n): the engine's thread count (the calling thread included); returns the count.
Napi::Value SetThreads(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) PML_THROW(env, "petscml engine: setThreads: expected a thread count", env.Undefined());
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1) || n != std::floor(n)) PML_THROW(env, "petscml engine: setThreads: the thread count must be a whole number >= 1, got " + std::to_string(n), env.Undefined());
  Pool::Get().SetThreads(static_cast<int>(std::min(n, 1024.0)));
  return Napi::Number::New(env, Pool::Get().Threads());
}

Napi::Value GetThreads(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), Pool::Get().Threads()); }

// A positive whole number from the environment, or 0.
long EnvCount(const char *name) {
  const char *v = std::getenv(name);
  if (!v || !*v) return 0;
  char *end = nullptr;
  long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 1 ? std::min(n, 1024L) : 0;
}

// The thread count a process starts with: the first of PETSCML_NUM_THREADS, OPENBLAS_NUM_THREADS
// and OMP_NUM_THREADS that is a positive whole number, else the CPUs this process may run on,
// shared among the MPI ranks on its node (Open MPI's or MPICH's count of them): ranks x threads
// beyond the cores would slow every rank. OPENBLAS_NUM_THREADS does not count where src/native.ts
// set it itself for OpenBLAS's start (PETSCML_BLAS_THREADS_FORCED).
int InitialThreads() {
  bool forced = std::getenv("PETSCML_BLAS_THREADS_FORCED") != nullptr;
  for (const char *name : {"PETSCML_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (forced && std::string(name) == "OPENBLAS_NUM_THREADS") continue;
    if (long n = EnvCount(name)) return static_cast<int>(n);
  }
  int cpus = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus < 1) cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  long local = EnvCount("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (!local) local = EnvCount("MPI_LOCALNRANKS");
  return std::max(1, cpus / static_cast<int>(std::max(1L, local)));
}

// The kernel family OpenBLAS runs (its name for it, e.g. "Haswell", "SkylakeX"), or null where
// the BLAS is not OpenBLAS (Debian's reference BLAS selected through update-alternatives).
Napi::Value BlasCore(const Napi::CallbackInfo &info) {
  using CoreNameFn = char *(*)();
  static CoreNameFn f = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char *name = f ? f() : nullptr;
  return name ? Napi::String::New(info.Env(), name) : info.Env().Null();
}

} // namespace

void InitEngine(Napi::Env env, Napi::Object exports) {
  Napi::Object e = Napi::Object::New(env);
  e.Set("matmul", Napi::Function::New(env, MatMul));
  e.Set("unary", Napi::Function::New(env, UnaryOp));
  e.Set("binary", Napi::Function::New(env, BinaryOp));
  e.Set("reduce", Napi::Function::New(env, ReduceOp));
  e.Set("transpose", Napi::Function::New(env, TransposeOp));
  e.Set("setThreads", Napi::Function::New(env, SetThreads));
  e.Set("threads", Napi::Function::New(env, GetThreads));
  e.Set("blasCore", Napi::Function::New(env, BlasCore));
  if (SetThreadsFn set = BlasSetThreads()) set(1);
  Pool::Get().SetThreads(InitialThreads());
  exports.Set("engine", e);
}

} // namespace pml
