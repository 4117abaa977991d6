// The safetensors format (readable by Python's safetensors and PyTorch users): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {..}}, then raw data.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace invdiff::safetensors {

using Metadata = std::map<std::string, std::string>;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Written atomically: temporary file in the same directory, fsync, rename, fsync of the directory.
void save(const std::string& path, const NamedTensors& tensors, const Metadata& metadata);

struct Contents {
  NamedTensors tensors;
  Metadata metadata;
};
Contents load(const std::string& path);

}  // namespace invdiff::safetensors
