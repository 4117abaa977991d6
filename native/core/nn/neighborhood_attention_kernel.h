// The arithmetic of neighbourhood attention for one query (forward, backward) or one key (backward), shared
// by the CPU loop (neighborhood_attention.cpp) and the CUDA kernels (core/cuda/neighborhood_attention.cu):
// one definition, so the device computes what the CPU tests check. Plain pointers and integers only.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define INVDIFF_HOST_DEVICE __host__ __device__
#else
#define INVDIFF_HOST_DEVICE
#endif

namespace invdiff::nn::na {

// Key/value sets one call takes on a device (InvFusion's joint form uses two); the CPU takes any number.
constexpr int kMaxDeviceSets = 4;

// Contiguous (planes = batch·heads, height, width, dim) tensors; the attention weights are
// (planes·height·width, sets·κ²), slot (set·κ + a)·κ + b holding the key at window offset (a, b).
struct Shape {
  int64_t planes, height, width, dim, kernel, sets;
  INVDIFF_HOST_DEVICE int64_t window() const { return sets * kernel * kernel; }
  INVDIFF_HOST_DEVICE int64_t tokens() const { return planes * height * width; }
};

// NATTEN's window rule on one axis of length L (no dilation): query i's window starts at clamp(i − κ//2, 0, L − κ).
INVDIFF_HOST_DEVICE inline int64_t windowStart(int64_t i, int64_t length, int64_t kernel) {
  const int64_t s = i - kernel / 2;
  return s < 0 ? 0 : (s > length - kernel ? length - kernel : s);
}
// The starts never decrease and step by at most one, so the queries whose windows hold key r form one range
// [firstQuery, endQuery): a key's gradient is a sum over it, with no write shared between keys.
INVDIFF_HOST_DEVICE inline int64_t firstQuery(int64_t r, int64_t kernel) { return r < kernel ? 0 : r - kernel / 2; }
INVDIFF_HOST_DEVICE inline int64_t endQuery(int64_t r, int64_t length, int64_t kernel) {
  return r >= length - kernel ? length : r + kernel / 2 + 1;
}

INVDIFF_HOST_DEVICE inline float expOf(float x) { return expf(x); }
INVDIFF_HOST_DEVICE inline double expOf(double x) { return exp(x); }

// Eight partial sums let the compiler fill SIMD lanes: it may not reorder a single running sum without
// -ffast-math.
template <class T>
INVDIFF_HOST_DEVICE T dot(const T* a, const T* b, int64_t n) {
  T lane[8] = {};
  int64_t t = 0;
  for (; t + 8 <= n; t += 8)
    for (int u = 0; u < 8; ++u) lane[u] += a[t + u] * b[t + u];
  T sum = 0;
  for (; t < n; ++t) sum += a[t] * b[t];
  for (int u = 0; u < 8; ++u) sum += lane[u];
  return sum;
}

template <class T>
INVDIFF_HOST_DEVICE void axpy(T* y, T alpha, const T* x, int64_t n) {
  for (int64_t t = 0; t < n; ++t) y[t] += alpha * x[t];
}

// f(slot, set, key) for every key of `query`'s window, in slot order (keys and queries index tokens).
template <class F>
INVDIFF_HOST_DEVICE void forEachKey(const Shape& g, int64_t query, F f) {
  const int64_t j = query % g.width, i = (query / g.width) % g.height, plane = query / (g.width * g.height);
  const int64_t r0 = windowStart(i, g.height, g.kernel), c0 = windowStart(j, g.width, g.kernel);
  int64_t slot = 0;
  for (int64_t set = 0; set < g.sets; ++set)
    for (int64_t r = r0; r < r0 + g.kernel; ++r)
      for (int64_t c = c0; c < c0 + g.kernel; ++c) f(slot++, set, (plane * g.height + r) * g.width + c);
}

// out = Σ_slots P·v with P = softmax over every slot of the window (all key sets in one softmax, §2.4);
// P is kept in `weights` for the backward pass.
template <class T, class Sets>
INVDIFF_HOST_DEVICE void forwardQuery(const Shape& g, const T* q, const Sets& k, const Sets& v, T scale, T* out, T* weights, int64_t query) {
  const int64_t d = g.dim, n = g.window();
  const T* qv = q + query * d;
  T* p = weights + query * n;
  forEachKey(g, query, [&](int64_t slot, int64_t set, int64_t key) { p[slot] = scale * dot(qv, k[set] + key * d, d); });
  T largest = p[0];
  for (int64_t s = 1; s < n; ++s) largest = p[s] > largest ? p[s] : largest;
  T total = 0;
  for (int64_t s = 0; s < n; ++s) total += p[s] = expOf(p[s] - largest);
  for (int64_t s = 0; s < n; ++s) p[s] /= total;
  T* o = out + query * d;
  for (int64_t t = 0; t < d; ++t) o[t] = 0;
  forEachKey(g, query, [&](int64_t slot, int64_t set, int64_t key) { axpy(o, p[slot], v[set] + key * d, d); });
}

// Per query: dP = dO·vᵀ, dS = P ⊙ (dP − Σ P ⊙ dP) (the softmax's Jacobian), dq = scale·Σ dS·k.
template <class T, class Sets>
INVDIFF_HOST_DEVICE void backwardQuery(const Shape& g, const Sets& k, const Sets& v, const T* dOut, const T* weights, T scale, T* dScores, T* dq,
                                       int64_t query) {
  const int64_t d = g.dim, n = g.window();
  const T* p = weights + query * n;
  const T* go = dOut + query * d;
  T* ds = dScores + query * n;
  T mean = 0;
  forEachKey(g, query, [&](int64_t slot, int64_t set, int64_t key) {
    ds[slot] = dot(go, v[set] + key * d, d);
    mean += p[slot] * ds[slot];
  });
  for (int64_t s = 0; s < n; ++s) ds[s] = p[s] * (ds[s] - mean);
  T* gq = dq + query * d;
  for (int64_t t = 0; t < d; ++t) gq[t] = 0;
  forEachKey(g, query, [&](int64_t slot, int64_t set, int64_t key) { axpy(gq, scale * ds[slot], k[set] + key * d, d); });
}

// Per key of one set, over the queries whose windows hold it: dk = scale·Σ dS·q and dv = Σ P·dO.
template <class T>
INVDIFF_HOST_DEVICE void backwardKey(const Shape& g, const T* q, const T* dOut, const T* weights, const T* dScores, T scale, int64_t set, T* dk,
                                     T* dv, int64_t key) {
  const int64_t d = g.dim, n = g.window(), kk = g.kernel;
  const int64_t c = key % g.width, r = (key / g.width) % g.height, plane = key / (g.width * g.height);
  T* gk = dk + key * d;
  T* gv = dv + key * d;
  for (int64_t t = 0; t < d; ++t) gk[t] = gv[t] = 0;
  const int64_t j0 = firstQuery(c, kk), j1 = endQuery(c, g.width, kk);
  for (int64_t i = firstQuery(r, kk); i < endQuery(r, g.height, kk); ++i) {
    const int64_t row = (set * kk + r - windowStart(i, g.height, kk)) * kk + c;  // the slot's row part, for every j
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t query = (plane * g.height + i) * g.width + j;
      const int64_t slot = query * n + row - windowStart(j, g.width, kk);
      axpy(gk, scale * dScores[slot], q + query * d, d);
      axpy(gv, weights[slot], dOut + query * d, d);
    }
  }
}

}  // namespace invdiff::nn::na
