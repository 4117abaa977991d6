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

// The metadata key of every file's CRC-32 (8 hex digits) over its header without this key and its data,
// verified by load, which leaves it out of the metadata it returns; save computes it (a value the caller
// passes is replaced).
inline constexpr const char* kChecksumKey = "invdiff.crc32";

// Written atomically: temporary file in the same directory, fsync, rename, fsync of the directory. The
// temporary files that writers killed mid-save left in that directory are removed first.
void save(const std::string& path, const NamedTensors& tensors, const Metadata& metadata);

struct Contents {
  NamedTensors tensors;
  Metadata metadata;
};
Contents load(const std::string& path);

}  // namespace invdiff::safetensors
