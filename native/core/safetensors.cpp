#include "core/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace invdiff::safetensors {
namespace {

struct DtypeName {
  at::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {at::kFloat, "F32"}, {at::kDouble, "F64"}, {at::kHalf, "F16"}, {at::kBFloat16, "BF16"},
    {at::kLong, "I64"},  {at::kInt, "I32"},    {at::kShort, "I16"}, {at::kChar, "I8"},
    {at::kByte, "U8"},   {at::kBool, "BOOL"},
};

const char* dtypeName(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw std::invalid_argument(std::string("safetensors: dtype ") + c10::toString(t) + " cannot be saved");
}

at::ScalarType dtypeFromName(const std::string& name, const std::string& path) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  throw std::runtime_error("safetensors: " + path + " holds dtype '" + name + "', which invdiff does not read");
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " '" + path + "': " + std::strerror(errno));
}

void writeAll(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("safetensors: cannot write", path);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

// A JSON reader just large enough for safetensors headers: objects, arrays, strings, integers.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  void expect(char c) {
    skipSpace();
    if (i_ >= s_.size() || s_[i_] != c) error(std::string("expected '") + c + "'");
    ++i_;
  }
  bool peekIs(char c) {
    skipSpace();
    return i_ < s_.size() && s_[i_] == c;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) error("unterminated escape");
        char e = s_[i_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'u': {
            if (i_ + 4 > s_.size()) error("bad \\u escape");
            const unsigned code = std::stoul(s_.substr(i_, 4), nullptr, 16);
            i_ += 4;
            appendUtf8(out, code);
            break;
          }
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    expect('"');
    return out;
  }
  int64_t integer() {
    skipSpace();
    size_t start = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-')) ++i_;
    if (start == i_) error("expected an integer");
    return std::stoll(s_.substr(start, i_ - start));
  }
  std::vector<int64_t> integers() {
    std::vector<int64_t> out;
    expect('[');
    if (peekIs(']')) return ++i_, out;
    do out.push_back(integer());
    while (comma());
    expect(']');
    return out;
  }
  bool comma() {
    if (peekIs(',')) return ++i_, true;
    return false;
  }
  [[noreturn]] void error(const std::string& what) {
    throw std::runtime_error("safetensors: malformed header in '" + path_ + "' at byte " + std::to_string(i_) + ": " + what);
  }

 private:
  void skipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  static void appendUtf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }
  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

std::string directoryOf(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void save(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<at::Tensor> blobs;
  std::ostringstream header;
  header << '{';
  bool first = true;
  if (!metadata.empty()) {
    header << "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it) {
      if (it != metadata.begin()) header << ',';
      header << quote(it->first) << ':' << quote(it->second);
    }
    header << '}';
    first = false;
  }
  int64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") throw std::invalid_argument("safetensors: '__metadata__' is reserved, not a tensor name");
    at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
    const int64_t bytes = static_cast<int64_t>(cpu.nbytes());
    header << (first ? "" : ",") << quote(name) << ":{\"dtype\":\"" << dtypeName(cpu.scalar_type()) << "\",\"shape\":[";
    for (int64_t d = 0; d < cpu.dim(); ++d) header << (d ? "," : "") << cpu.size(d);
    header << "],\"data_offsets\":[" << offset << ',' << offset + bytes << "]}";
    offset += bytes;
    first = false;
    blobs.push_back(std::move(cpu));
  }
  header << '}';
  std::string json = header.str();
  json.append((8 - json.size() % 8) % 8, ' ');  // the format pads the header to 8-byte alignment

  std::random_device rd;
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("safetensors: cannot create", tmp);
  try {
    uint64_t n = json.size();
    unsigned char len[8];
    for (int b = 0; b < 8; ++b) len[b] = static_cast<unsigned char>(n >> (8 * b));
    writeAll(fd, reinterpret_cast<const char*>(len), 8, tmp);
    writeAll(fd, json.data(), json.size(), tmp);
    for (const auto& blob : blobs) writeAll(fd, static_cast<const char*>(blob.data_ptr()), blob.nbytes(), tmp);
    if (::fsync(fd) != 0) fail("safetensors: cannot fsync", tmp);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail("safetensors: cannot close", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail("safetensors: cannot rename into", path);
  }
  // The rename is durable only once the directory entry is on disk.
  const std::string dir = directoryOf(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail("safetensors: cannot open directory", dir);
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) fail("safetensors: cannot fsync directory", dir);
}

Contents load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("safetensors: cannot open", path);
  unsigned char len[8];
  if (!in.read(reinterpret_cast<char*>(len), 8)) throw std::runtime_error("safetensors: '" + path + "' is too short to be a safetensors file");
  uint64_t headerSize = 0;
  for (int b = 0; b < 8; ++b) headerSize |= static_cast<uint64_t>(len[b]) << (8 * b);
  in.seekg(0, std::ios::end);
  const uint64_t fileSize = static_cast<uint64_t>(in.tellg());
  if (headerSize > fileSize - 8) throw std::runtime_error("safetensors: '" + path + "' declares a header larger than the file");
  std::string json(headerSize, '\0');
  in.seekg(8);
  in.read(json.data(), static_cast<std::streamsize>(headerSize));
  const uint64_t dataStart = 8 + headerSize;
  const uint64_t dataSize = fileSize - dataStart;

  Contents out;
  HeaderParser p(json, path);
  p.expect('{');
  if (!p.peekIs('}')) {
    do {
      const std::string name = p.string();
      p.expect(':');
      p.expect('{');
      if (name == "__metadata__") {
        if (!p.peekIs('}')) {
          do {
            std::string key = p.string();
            p.expect(':');
            out.metadata[key] = p.string();
          } while (p.comma());
        }
        p.expect('}');
        continue;
      }
      std::string dtype;
      std::vector<int64_t> shape, offsets;
      do {
        const std::string field = p.string();
        p.expect(':');
        if (field == "dtype") dtype = p.string();
        else if (field == "shape") shape = p.integers();
        else if (field == "data_offsets") offsets = p.integers();
        else p.error("unknown field '" + field + "' of tensor '" + name + "'");
      } while (p.comma());
      p.expect('}');
      if (offsets.size() != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || static_cast<uint64_t>(offsets[1]) > dataSize)
        p.error("tensor '" + name + "' has data_offsets outside the file");
      at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtypeFromName(dtype, path)));
      if (static_cast<int64_t>(t.nbytes()) != offsets[1] - offsets[0])
        p.error("tensor '" + name + "' has " + std::to_string(offsets[1] - offsets[0]) + " bytes for shape of " + std::to_string(t.nbytes()));
      in.seekg(static_cast<std::streamoff>(dataStart + offsets[0]));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
      if (!in) throw std::runtime_error("safetensors: cannot read tensor '" + name + "' from '" + path + "'");
      out.tensors.emplace_back(name, std::move(t));
    } while (p.comma());
  }
  p.expect('}');
  return out;
}

}  // namespace invdiff::safetensors
