// A counter-based standard normal generator. Element n of the draw keyed by a seed is a pure function of
// (seed, n): a draw is the same on any number of threads and any chunking, and needs no state or lock.
// Uniform words come from SplitMix64's output function over its Weyl sequence (word j of element n sits at
// counter n + j·2⁴⁰, so the words every element uses first are consecutive states of one SplitMix64
// stream); normals come from a 128-layer ziggurat (Marsaglia & Tsang 2000) that takes the layer, the sign
// and the abscissa from separate bits of the word (Doornik 2005), so 98.8% of draws cost one word and one
// multiply. Free of LibTorch so a CUDA kernel can include it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace invdiff::samplers {

// Layer right edges x[0..128] (x[0] is the base layer's virtual width, x[1] = R, x[128] = 0) and the
// density f(x) = exp(−x²/2) at each edge.
struct ZigguratTables {
  double x[129];
  double f[129];
  static constexpr double R = 3.442619855899;          // start of the tail
  static constexpr double V = 9.91256303526217e-3;     // area of each layer
  ZigguratTables() {
    x[0] = V / std::exp(-0.5 * R * R);
    x[1] = R;
    for (int i = 1; i < 127; ++i) x[i + 1] = std::sqrt(-2 * std::log(V / x[i] + std::exp(-0.5 * x[i] * x[i])));
    x[128] = 0;
    for (int i = 0; i < 129; ++i) f[i] = std::exp(-0.5 * x[i] * x[i]);
  }
  static const ZigguratTables& get() {
    static const ZigguratTables tables;
    return tables;
  }
};

class CounterNormal {
 public:
  explicit CounterNormal(uint64_t seed) : base_(mix(seed * kGamma + 0x243F6A8885A308D3ull)), t_(ZigguratTables::get()) {}

  // out[i] = scale · (element first + i), for i < count. Block by block: a tight loop over every element's
  // first word that pipelines across elements and notes the misses, then the misses (1.2%).
  template <class T>
  void fill(T* out, uint64_t first, int64_t count, double scale) const {
    constexpr int64_t kBlock = 256;
    uint16_t misses[kBlock];
    for (int64_t s = 0; s < count; s += kBlock) {
      const int64_t e = std::min(count, s + kBlock);
      int m = 0;
      for (int64_t i = s; i < e; ++i) {
        const uint64_t u = word(first + i, 0);
        const double x = abscissa(u);
        out[i] = static_cast<T>(scale * sign(u) * x);
        misses[m] = static_cast<uint16_t>(i - s);
        m += x >= t_.x[(u & 127) + 1];
      }
      for (int k = 0; k < m; ++k) {
        const int64_t i = s + misses[k];
        out[i] = static_cast<T>(scale * rejected(first + i, word(first + i, 0)));
      }
    }
  }

 private:
  static constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t word(uint64_t n, uint64_t j) const { return mix(base_ + (n + (j << 40)) * kGamma); }
  // Word bits: 0–6 the layer, 7 the sign, 11–63 the position within the layer.
  double abscissa(uint64_t u) const { return uniform(u) * t_.x[u & 127]; }
  static double sign(uint64_t u) { return 1.0 - 2.0 * static_cast<double>((u >> 7) & 1); }  // branch-free: a coin flip

  // Element n when its first word u fell outside its layer's rectangle (1.2% of elements): the tail, a wedge
  // test, or more words of the element's own sequence.
  double rejected(uint64_t n, uint64_t u) const {
    const ZigguratTables& t = t_;
    for (uint64_t j = 1;; u = word(n, j++)) {
      const int layer = static_cast<int>(u & 127);
      const double x = abscissa(u);
      if (x < t.x[layer + 1]) return sign(u) * x;
      if (layer == 0) {  // the tail beyond R, by Marsaglia's exponential rejection
        for (;;) {
          const double a = -std::log(uniformOpen(word(n, j++))) / ZigguratTables::R;
          const double b = -std::log(uniformOpen(word(n, j++)));
          if (2 * b >= a * a) return sign(u) * (ZigguratTables::R + a);
        }
      }
      // The wedge between the layer's rectangle and the curve.
      const double y = t.f[layer] + uniform(word(n, j++)) * (t.f[layer + 1] - t.f[layer]);
      if (y < std::exp(-0.5 * x * x)) return sign(u) * x;
    }
  }
  // [0, 1) from the top 53 bits (the low byte carries the layer and sign).
  // (Converted as signed: x86 has no fast unsigned 64-bit conversion.)
  static double uniform(uint64_t u) { return static_cast<double>(static_cast<int64_t>(u >> 11)) * 0x1.0p-53; }
  // (0, 1], for logarithms.
  static double uniformOpen(uint64_t u) { return static_cast<double>(static_cast<int64_t>(u >> 11) + 1) * 0x1.0p-53; }

  uint64_t base_;
  const ZigguratTables& t_;
};

}  // namespace invdiff::samplers
