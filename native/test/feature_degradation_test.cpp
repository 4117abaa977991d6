// InvFusion's pieces below the network: the Feature Degradation layer (exact un-patch/re-patch, GELU of its
// input for the identity operator and a pass-through map, finite-difference gradients, per-sample operators
// in a batch equal to one at a time), the joint attention layer (ỹ = 0 still takes softmax mass) and the
// gather form of neighbourhood attention against the CPU kernel, the window rule's closed-form key ranges
// against a direct count, and, where LibTorch sees a GPU, the CUDA path against the CPU kernel.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include "core/nn/feature_degradation.h"
#include "core/nn/neighborhood_attention.h"
#include "core/nn/neighborhood_attention_kernel.h"
#include "core/nn/transformer_layer.h"
#include "core/operators/operator.h"
#include "expect.h"

namespace {

using invdiff::nn::FeatureDegradation;
using invdiff::nn::TransformerLayer;

at::Tensor seeded(std::vector<int64_t> shape, uint64_t seed, at::ScalarType type = at::kDouble) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kDouble)).to(type);
}

std::shared_ptr<invdiff::operators::Operator> op(const std::string& family, int64_t batch, int64_t seed, invdiff::Options o = {}) {
  return invdiff::operators::create(family, {1, 4, 4}, batch, seed, 0, o);
}

invdiff::Options rows(int64_t n) {
  invdiff::Options o;
  o.numbers = {{"minRows", double(n)}, {"maxRows", double(n)}};
  return o;
}

// Random weights everywhere but the per-head cosine scales (which must stay positive).
void randomize(torch::nn::Module& m, uint64_t seed) {
  at::NoGradGuard off;
  for (auto& p : m.named_parameters())
    if (p.key() != "scale") p.value().copy_(seeded(p.value().sizes().vec(), seed++) * 0.3);
}

}  // namespace

void featureDegradationTests() {
  {  // un-patch and re-patch are exact inverses, and un-patch splits channels as (P, P, K, C)
    const at::Tensor tokens = seeded({2, 3, 5, 2 * 2 * 3 * 1}, 1);
    const at::Tensor stack = invdiff::nn::unpatchStack(tokens, 2, 1);
    EXPECT(stack.sizes() == at::IntArrayRef({2, 3, 1, 6, 10}), "un-patch gives (B, K, C, h·P, w·P)");
    EXPECT(at::equal(invdiff::nn::repatchStack(stack, 2), tokens), "re-patch(un-patch(a)) == a exactly");
    // token (i, j), channel ((p·P + q)·K + k)·C + c is pixel (i·P + p, j·P + q) of image k
    EXPECT(stack[1][2][0][1 * 2 + 1][4 * 2 + 0].item<double>() == tokens[1][1][4][((1 * 2 + 0) * 3 + 2) * 1].item<double>(), "channel order (P, P, K, C)");
  }

  {  // identity operator and a pass-through channel map: FD(a) = GELU(a)
    FeatureDegradation fd(8, 2, 1, "test");  // K = 8/(2²·1) = 2
    {
      at::NoGradGuard off;
      fd.mix->weight.zero_();
      fd.mix->weight.narrow(1, 1, 2).copy_(at::eye(2));  // input 0 is y, which the map drops
      fd.mix->bias.zero_();
    }
    const auto identity = op("denoising", 1, 0);
    const at::Tensor a = seeded({3, 2, 2, 8}, 2, at::kFloat), y = seeded({3, 1, 4, 4}, 3, at::kFloat);
    EXPECT(at::allclose(fd.forward(a, *identity, y), at::gelu(a), 1e-6, 1e-6), "FD returns GELU of its input for A = I and a pass-through map");
  }

  {  // gradients by finite differences (float64) through A, the map, GELU and A⁺ of a matrix operator
    FeatureDegradation fd(8, 2, 1, "test");
    fd.to(at::kDouble);
    randomize(fd, 10);
    const auto A = op("matrix", 2, 5, rows(6));
    const at::Tensor a = seeded({2, 2, 2, 8}, 4).requires_grad_(true), y = seeded({2, 6}, 5), w = seeded({2, 2, 2, 8}, 6);
    const at::Tensor loss = (fd.forward(a, *A, y) * w).sum();
    const auto grads = torch::autograd::grad({loss}, {a, fd.mix->weight});
    double worst = 0;
    at::NoGradGuard off;
    for (int64_t i = 0; i < a.numel(); i += 5) {
      const double h = 1e-6, saved = a.view({-1})[i].item<double>();
      a.view({-1})[i].fill_(saved + h);
      const double up = (fd.forward(a, *A, y) * w).sum().item<double>();
      a.view({-1})[i].fill_(saved - h);
      const double down = (fd.forward(a, *A, y) * w).sum().item<double>();
      a.view({-1})[i].fill_(saved);
      worst = std::max(worst, std::abs((up - down) / (2 * h) - grads[0].view({-1})[i].item<double>()));
    }
    EXPECT(worst < 1e-6, "FD input gradients match central differences");
    EXPECT(grads[1].abs().sum().item<double>() > 0, "the channel map receives a gradient");
  }

  {  // per-sample operators in a batch equal each sample's own operator
    FeatureDegradation fd(8, 2, 1, "test");
    randomize(fd, 20);
    const auto batched = op("matrix", 3, 7, rows(5));
    const at::Tensor a = seeded({3, 2, 2, 8}, 8, at::kFloat), y = seeded({3, 5}, 9, at::kFloat);
    const at::Tensor together = fd.forward(a, *batched, y);
    bool same = true;
    for (int64_t b = 0; b < 3; ++b) {
      const auto single = op("matrix", 1, 7 + b, rows(5));
      same = same && at::allclose(together.narrow(0, b, 1), fd.forward(a.narrow(0, b, 1), *single, y.narrow(0, b, 1)), 1e-5, 1e-6);
    }
    EXPECT(same, "a batch of per-sample operators gives each sample its own FD result");
    bool refused = false;
    try {
      FeatureDegradation bad(10, 2, 1, "level 0");
    } catch (const std::invalid_argument& e) {
      refused = std::string(e.what()).find("level 0") != std::string::npos && std::string(e.what()).find("multiple of") != std::string::npos;
    }
    EXPECT(refused, "a width that is not a multiple of P²·C is refused, naming the level");
  }

  {  // joint attention with ỹ = 0: the extra keys W_jk[x_n; 0] still take softmax mass, so the layer differs
     // from the same layer without the joint part (their shared weights copied)
    const invdiff::nn::TransformerLayerConfig joint{32, 16, 16, 48, 3, true, 0}, plain{32, 16, 16, 48, 3, false, 0};
    TransformerLayer a(joint), b(plain);
    randomize(a, 30);
    {
      at::NoGradGuard off;
      auto pa = a.named_parameters(), pb = b.named_parameters();
      for (auto& p : pb) p.value().copy_(pa[p.key()]);
    }
    const at::Tensor x = seeded({2, 4, 4, 32}, 31, at::kFloat), cond = seeded({2, 16}, 32, at::kFloat);
    const at::Tensor positions = invdiff::nn::gridPositions(4, 4, x.options());
    const at::Tensor withZero = a.forward(x, positions, cond, at::zeros_like(x));
    EXPECT(at::equal(withZero, a.forward(x, positions, cond)), "an absent ỹ is ỹ = 0");
    EXPECT(!at::allclose(withZero, b.forward(x, positions, cond), 1e-4, 1e-4), "ỹ = 0 is not self-attention: the joint keys take softmax mass");
    // global attention (window 0) and a window covering the whole 3×3 grid agree
    const invdiff::nn::TransformerLayerConfig global{32, 16, 16, 48, 0, true, 0};
    TransformerLayer g(global);
    {
      at::NoGradGuard off;
      auto pa = a.named_parameters(), pg = g.named_parameters();
      for (auto& p : pg) p.value().copy_(pa[p.key()]);
    }
    const at::Tensor small = x.narrow(1, 0, 3).narrow(2, 0, 3).contiguous();
    const at::Tensor pos3 = invdiff::nn::gridPositions(3, 3, x.options()), yt = seeded({2, 3, 3, 32}, 33, at::kFloat);
    const at::Tensor windowed = a.forward(small, pos3, cond, yt), everywhere = g.forward(small, pos3, cond, yt);
    const double gap = (windowed - everywhere).abs().max().item<double>() / everywhere.abs().max().item<double>();
    EXPECT(gap < 1e-5, "a 3×3 window on a 3×3 grid equals global joint attention");
  }

  {  // the gather form other devices run equals the CPU kernel, outputs and gradients, joint form and borders
    const std::vector<int64_t> shape{2, 2, 6, 5, 4};  // κ = 3 on 6×5: clamped windows on every border
    std::vector<at::Tensor> in;
    for (uint64_t s = 0; s < 5; ++s) in.push_back(seeded(shape, 40 + s).requires_grad_(true));
    const std::vector<at::Tensor> keys{in[1], in[3]}, values{in[2], in[4]};
    const at::Tensor kernel = invdiff::nn::neighborhoodAttention(in[0], keys, values, 3);
    const at::Tensor gathered = invdiff::nn::neighborhoodAttentionByGather(in[0], keys, values, 3);
    EXPECT((kernel - gathered).abs().max().item<double>() < 1e-12, "gather and CPU kernel agree (float64, joint)");
    const at::Tensor weight = seeded(shape, 50);
    const auto gk = torch::autograd::grad({(kernel * weight).sum()}, in), gg = torch::autograd::grad({(gathered * weight).sum()}, in);
    double worst = 0;
    for (size_t i = 0; i < in.size(); ++i) worst = std::max(worst, (gk[i] - gg[i]).abs().max().item<double>());
    EXPECT(worst < 1e-12, "gather and CPU kernel give the same gradients for query, keys and values");
  }

  {  // the queries whose windows hold key r, in closed form (what the backward pass walks), against a count
    bool same = true;
    for (int64_t length = 1; length <= 12; ++length)
      for (int64_t kernel = 1; kernel <= length; kernel += 2)
        for (int64_t r = 0; r < length; ++r) {
          int64_t first = length, end = 0;
          for (int64_t i = 0; i < length; ++i) {
            const int64_t start = invdiff::nn::na::windowStart(i, length, kernel);
            if (start <= r && r < start + kernel) first = std::min(first, i), end = i + 1;
          }
          same = same && first == invdiff::nn::na::firstQuery(r, kernel) && end == invdiff::nn::na::endQuery(r, length, kernel);
        }
    EXPECT(same, "firstQuery/endQuery match the queries whose windows hold each key (L = 1..12, every odd κ ≤ L)");
  }

  if (at::hasCUDA()) {  // the CUDA path (its kernels, or the gather form where the build has none) equals the CPU kernel
#if INVDIFF_CUDA_KERNELS
    std::printf("neighbourhood attention on CUDA: this build's kernels\n");
#else
    std::printf("neighbourhood attention on CUDA: gathered windows (no CUDA kernels built)\n");
#endif
    const std::vector<int64_t> shape{2, 3, 9, 7, 32};  // κ = 7 on 9×7: clamped windows; head dim 32 as in cpu32
    for (const at::ScalarType type : {at::kDouble, at::kFloat}) {
      std::vector<at::Tensor> cpu, gpu;
      for (uint64_t s = 0; s < 5; ++s) {
        cpu.push_back(seeded(shape, 60 + s, type).requires_grad_(true));
        gpu.push_back(cpu.back().detach().to(at::kCUDA).requires_grad_(true));
      }
      const at::Tensor weight = seeded(shape, 70, type);
      const at::Tensor a = invdiff::nn::neighborhoodAttention(cpu[0], {cpu[1], cpu[3]}, {cpu[2], cpu[4]}, 7);
      const at::Tensor b = invdiff::nn::neighborhoodAttention(gpu[0], {gpu[1], gpu[3]}, {gpu[2], gpu[4]}, 7);
      const double tol = type == at::kDouble ? 1e-10 : 1e-4;
      EXPECT((a - b.cpu()).abs().max().item<double>() < tol, type == at::kDouble ? "CUDA equals the CPU kernel (float64, joint form)" : "CUDA equals the CPU kernel (float32, joint form)");
      const auto ga = torch::autograd::grad({(a * weight).sum()}, cpu), gb = torch::autograd::grad({(b * weight.to(at::kCUDA)).sum()}, gpu);
      double worst = 0;
      for (size_t i = 0; i < cpu.size(); ++i) worst = std::max(worst, (ga[i] - gb[i].cpu()).abs().max().item<double>());
      EXPECT(worst < tol * 10, "CUDA gives the CPU kernel's gradients for query, keys and values");
    }
  }
}
