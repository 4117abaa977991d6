// CUDA kernels of neighbourhood attention (see neighborhood_attention.h): the per-token arithmetic is the CPU
// kernel's (core/nn/neighborhood_attention_kernel.h), so the C++ tests compare the two devices directly.
#include "core/cuda/neighborhood_attention.h"

#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

namespace invdiff::cuda {
namespace {

using nn::na::Shape;

// The key/value pointers of one call, passed by value to the kernels.
template <class T>
struct Sets {
  const T* p[nn::na::kMaxDeviceSets];
  __host__ __device__ const T* operator[](int64_t i) const { return p[i]; }
};

template <class T>
Sets<T> setsOf(at::TensorList list) {
  TORCH_CHECK(list.size() <= static_cast<size_t>(nn::na::kMaxDeviceSets), "neighbourhood attention on CUDA takes at most ",
              nn::na::kMaxDeviceSets, " key/value sets");
  Sets<T> s{};
  for (size_t i = 0; i < list.size(); ++i) s.p[i] = list[i].data_ptr<T>();
  return s;
}

constexpr int kThreads = 128;
unsigned blocksFor(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

template <class T>
__global__ void forwardKernel(Shape g, const T* q, Sets<T> k, Sets<T> v, T scale, T* out, T* weights) {
  const int64_t query = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (query < g.tokens()) nn::na::forwardQuery(g, q, k, v, scale, out, weights, query);
}

template <class T>
__global__ void backwardQueryKernel(Shape g, Sets<T> k, Sets<T> v, const T* dOut, const T* weights, T scale, T* dScores, T* dq) {
  const int64_t query = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (query < g.tokens()) nn::na::backwardQuery(g, k, v, dOut, weights, scale, dScores, dq, query);
}

// Runs after backwardQueryKernel on the same stream: dScores is complete.
template <class T>
__global__ void backwardKeyKernel(Shape g, const T* q, const T* dOut, const T* weights, const T* dScores, T scale, int64_t set, T* dk, T* dv) {
  const int64_t key = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (key < g.tokens()) nn::na::backwardKey(g, q, dOut, weights, dScores, scale, set, dk, dv, key);
}

}  // namespace

void neighborhoodAttentionForward(const Shape& g, const at::Tensor& query, at::TensorList keys, at::TensorList values, double scale,
                                  at::Tensor& out, at::Tensor& weights) {
  const c10::cuda::CUDAGuard guard(query.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "neighborhoodAttentionCuda", [&] {
    forwardKernel<scalar_t><<<blocksFor(g.tokens()), kThreads, 0, stream>>>(g, query.data_ptr<scalar_t>(), setsOf<scalar_t>(keys), setsOf<scalar_t>(values),
                                                                          static_cast<scalar_t>(scale), out.data_ptr<scalar_t>(), weights.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void neighborhoodAttentionBackward(const Shape& g, const at::Tensor& query, at::TensorList keys, at::TensorList values, const at::Tensor& dOut,
                                   const at::Tensor& weights, double scale, at::Tensor& dScores, at::Tensor& dq, std::vector<at::Tensor>& dk,
                                   std::vector<at::Tensor>& dv) {
  const c10::cuda::CUDAGuard guard(query.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "neighborhoodAttentionBackwardCuda", [&] {
    const scalar_t s = static_cast<scalar_t>(scale);
    backwardQueryKernel<scalar_t><<<blocksFor(g.tokens()), kThreads, 0, stream>>>(g, setsOf<scalar_t>(keys), setsOf<scalar_t>(values), dOut.data_ptr<scalar_t>(),
                                                                                weights.data_ptr<scalar_t>(), s, dScores.data_ptr<scalar_t>(), dq.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    for (int64_t set = 0; set < g.sets; ++set) {
      backwardKeyKernel<scalar_t><<<blocksFor(g.tokens()), kThreads, 0, stream>>>(g, query.data_ptr<scalar_t>(), dOut.data_ptr<scalar_t>(), weights.data_ptr<scalar_t>(),
                                                                                dScores.data_ptr<scalar_t>(), s, set, dk[set].data_ptr<scalar_t>(), dv[set].data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
}

}  // namespace invdiff::cuda
