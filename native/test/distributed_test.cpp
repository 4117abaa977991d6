// The c10d process group without Node: two ranks in one process (one thread each, as two processes would
// run them) rendezvous, all-reduce and broadcast over Gloo; where LibTorch has CUDA and NCCL (scripts/gpu-check),
// a one-rank group runs the same collectives on a CUDA tensor, the NCCL path no CPU build compiles.
#include <random>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "core/distributed/process_group.h"
#include "expect.h"

namespace dist = invdiff::distributed;

namespace {

// A port per run, so parallel test runs on one machine do not meet.
int64_t freePort() {
  std::random_device device;
  return std::uniform_int_distribution<int64_t>(20000, 39999)(device);
}

}  // namespace

void distributedTests() {
  {  // Gloo: rank r holds r + 1; the sum is 3 on both, then rank 1's value is broadcast
    const int64_t port = freePort();
    at::Tensor sums[2], broadcasts[2];
    std::thread ranks[2];
    for (int64_t r = 0; r < 2; ++r)
      ranks[r] = std::thread([&, r] {
        dist::GroupOptions o;
        o.rank = r;
        o.worldSize = 2;
        o.masterPort = port;
        o.timeout = std::chrono::seconds(30);
        dist::ProcessGroup group(o);
        sums[r] = at::full({4}, static_cast<double>(r + 1));
        group.wait(group.allReduce(sums[r], dist::ReduceOp::Sum));
        broadcasts[r] = at::full({3}, static_cast<double>(10 * r));
        group.wait(group.broadcast(broadcasts[r], 1));
        group.wait(group.barrier());
      });
    for (auto& t : ranks) t.join();
    for (int r = 0; r < 2; ++r) {
      EXPECT(sums[r].eq(3).all().item<bool>(), "Gloo all-reduce sums the two ranks' tensors");
      EXPECT(broadcasts[r].eq(10).all().item<bool>(), "Gloo broadcast copies rank 1's tensor to both");
    }
  }
#ifdef INVDIFF_NCCL
  if (at::hasCUDA()) {  // NCCL: one rank on the GPU (two ranks may not share one device)
    dist::GroupOptions o;
    o.masterPort = freePort();
    o.timeout = std::chrono::seconds(60);
    dist::ProcessGroup group(o);
    at::Tensor t = at::arange(8, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA));
    group.wait(group.allReduce(t, dist::ReduceOp::Avg));
    EXPECT(t.is_cuda() && t.cpu().equal(at::arange(8, at::kFloat)), "NCCL all-reduce (average over one rank) keeps the CUDA tensor's values");
    group.wait(group.broadcast(t, 0));
    EXPECT(t.cpu().equal(at::arange(8, at::kFloat)), "NCCL broadcast from rank 0");
    std::printf("distributed: NCCL path run on the GPU\n");
  } else {
    std::printf("distributed: NCCL compiled, no GPU to run it on\n");
  }
#else
  std::printf("distributed: this LibTorch has no CUDA/NCCL; Gloo only\n");
#endif
}
