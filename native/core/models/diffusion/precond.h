// EDM preconditioning (papers.md §4.1, §2.6), shared by every diffusion denoiser:
// D(x; σ) = c_skip·x + c_out·F(c_in·x, c_noise), with c_skip = σ_d²/(σ² + σ_d²), c_out = σσ_d/√(σ² + σ_d²),
// c_in = 1/√(σ² + σ_d²) and c_noise = ¼ ln σ. The networks F see c_noise as given (never take its log again).
#pragma once
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

namespace invdiff::diffusion {

// The images every diffusion denoiser takes: N×channels×H×W with H and W multiples of `multiple`.
inline void checkImages(const std::string& kind, const at::Tensor& x, int64_t channels, int64_t multiple) {
  if (!x.defined() || x.dim() != 4 || x.size(1) != channels)
    throw std::invalid_argument(kind + ": argument 'x' expected N×" + std::to_string(channels) + "×H×W images, got " +
                                (x.defined() ? "shape " + c10::str(x.sizes()) : std::string("none")));
  if (x.size(2) % multiple || x.size(3) % multiple)
    throw std::invalid_argument(kind + ": image height and width must be multiples of " + std::to_string(multiple) + ", got " + c10::str(x.sizes()) +
                                " (pad the images)");
}

// Option 'imageSize': the side a denoiser is built and trained for, which its imageShape reports.
inline void checkImageSize(const std::string& kind, int64_t size, int64_t multiple) {
  if (size < 1 || size % multiple)
    throw std::invalid_argument(kind + ": option 'imageSize' must be a positive multiple of " + std::to_string(multiple) + ", got " + std::to_string(size));
}

struct Precond {
  // σ for a batch x of n images: one value or one per image, positive and finite, shaped n×1×1×1.
  Precond(const std::string& kind, const at::Tensor& sigma, const at::Tensor& x, double sigmaData) : sigmaData_(sigmaData) {
    const int64_t n = x.size(0);
    if (!sigma.defined() || (sigma.numel() != 1 && sigma.numel() != n))
      throw std::invalid_argument(kind + ": argument 'sigma' expected one value or one per image (" + std::to_string(n) + "), got " +
                                  (sigma.defined() ? std::to_string(sigma.numel()) : std::string("none")));
    sigma_ = sigma.to(x.options()).reshape({-1}).expand({n}).reshape({n, 1, 1, 1});
    if (!(sigma_ > 0).all().item<bool>() || !at::isfinite(sigma_).all().item<bool>())
      throw std::invalid_argument(kind + ": argument 'sigma' must be positive and finite");
    variance_ = sigma_ * sigma_ + sigmaData * sigmaData;
  }
  const at::Tensor& sigma() const { return sigma_; }
  at::Tensor cIn() const { return variance_.rsqrt(); }
  at::Tensor cSkip() const { return (sigmaData_ * sigmaData_) / variance_; }
  at::Tensor cOut() const { return sigma_ * sigmaData_ * variance_.rsqrt(); }
  // One value per image.
  at::Tensor cNoise() const { return sigma_.reshape({-1}).log() / 4; }
  at::Tensor output(const at::Tensor& x, const at::Tensor& f) const { return x * cSkip() + f * cOut(); }

 private:
  double sigmaData_;
  at::Tensor sigma_, variance_;
};

}  // namespace invdiff::diffusion
