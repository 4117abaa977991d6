#include "core/safetensors.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

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

// A JSON reader just large enough for safetensors headers (objects, arrays, strings, non-negative integers)
// and as strict as JSON: what the format's own loader would refuse is an error here too.
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
    while (true) {
      if (i_ >= s_.size()) error("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("a control character inside a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) error("unterminated escape");
      switch (const char e = s_[i_++]) {
        case '"': case '\\': case '/': out += e; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': appendUtf8(out, codePoint()); break;
        default: error(std::string("unknown escape '\\") + e + "'");
      }
    }
  }
  // Shapes and offsets: decimal digits without a sign or a leading zero, within int64.
  int64_t count() {
    skipSpace();
    const size_t start = i_;
    int64_t v = 0;
    for (; i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; ++i_) {
      const int d = s_[i_] - '0';
      if (v > (std::numeric_limits<int64_t>::max() - d) / 10) error("an integer too large");
      v = v * 10 + d;
    }
    if (start == i_) error("expected a non-negative integer");
    if (i_ - start > 1 && s_[start] == '0') error("an integer with a leading zero");
    return v;
  }
  std::vector<int64_t> counts() {
    std::vector<int64_t> out;
    expect('[');
    if (peekIs(']')) return ++i_, out;
    do out.push_back(count());
    while (comma());
    expect(']');
    return out;
  }
  bool comma() {
    if (peekIs(',')) return ++i_, true;
    return false;
  }
  // Only the padding spaces may follow the header's object.
  void end() {
    skipSpace();
    if (i_ != s_.size()) error("bytes after the header's closing '}'");
  }
  [[noreturn]] void error(const std::string& what) {
    throw std::runtime_error("safetensors: malformed header in '" + path_ + "' at byte " + std::to_string(i_) + ": " + what);
  }

 private:
  void skipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  unsigned hex4() {
    if (i_ + 4 > s_.size()) error("a \\u escape needs four hex digits");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (d < 0) error("a \\u escape needs four hex digits");
      v = v * 16 + static_cast<unsigned>(d);
    }
    return v;
  }
  // Characters beyond U+FFFF arrive as a surrogate pair of escapes (RFC 8259 §7).
  unsigned codePoint() {
    const unsigned code = hex4();
    if (code >= 0xDC00 && code < 0xE000) error("a lone low surrogate in a \\u escape");
    if (code < 0xD800 || code >= 0xDC00) return code;
    if (s_.compare(i_, 2, "\\u") != 0) error("a lone high surrogate in a \\u escape");
    i_ += 2;
    const unsigned low = hex4();
    if (low < 0xDC00 || low >= 0xE000) error("a high surrogate without its low half");
    return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
  }
  static void appendUtf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }
  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

// The header is UTF-8 text (the format's loader refuses anything else); names that are not would reach JS
// with replacement characters, where two of them could become one.
bool validUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    unsigned code = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 0x2) return false;
      code = (code << 6) | (d & 0x3F);
    }
    const unsigned least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < least[n] || code > 0x10FFFF || (code >= 0xD800 && code < 0xE000)) return false;  // overlong, out of range, surrogate
    i += n;
  }
  return true;
}

// CRC-32 as zlib computes it (reflected, polynomial 0xEDB88320): a damaged byte anywhere shows.
class Crc32 {
 public:
  void update(const void* data, size_t n) {
    static const auto table = [] {
      std::array<uint32_t, 256> t{};
      for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
      }
      return t;
    }();
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) crc_ = table[(crc_ ^ p[i]) & 0xFF] ^ (crc_ >> 8);
  }
  std::string hex() const {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", crc_ ^ 0xFFFFFFFFu);
    return buf;
  }

 private:
  uint32_t crc_ = 0xFFFFFFFFu;
};

// What the header says of one tensor; the writer's and the checksum's view alike.
struct Entry {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// The header as this writer lays it out (no padding). The checksum covers it without its own key, so the
// reader rebuilds it from what it parsed: a changed byte of metadata, a name, a shape or an offset shows.
std::string headerJson(const Metadata& metadata, const std::vector<Entry>& entries) {
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
  for (const auto& e : entries) {
    header << (first ? "" : ",") << quote(e.name) << ":{\"dtype\":\"" << dtypeName(e.dtype) << "\",\"shape\":[";
    for (size_t d = 0; d < e.shape.size(); ++d) header << (d ? "," : "") << e.shape[d];
    header << "],\"data_offsets\":[" << e.begin << ',' << e.end << "]}";
    first = false;
  }
  header << '}';
  return header.str();
}

Metadata withoutChecksum(Metadata m) {
  m.erase(kChecksumKey);
  return m;
}

// Temporary files are '<target>.tmp-<pid>-<random>'; the pid, or -1 for any other name.
long writerPid(const std::string& name) {
  const auto at = name.rfind(".tmp-");
  if (at == std::string::npos || at == 0) return -1;
  const std::string rest = name.substr(at + 5);
  const auto dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == rest.size() || dash > 9) return -1;
  for (size_t i = 0; i < rest.size(); ++i)
    if (i != dash && (rest[i] < '0' || rest[i] > '9')) return -1;
  return std::stol(rest.substr(0, dash));
}

// Removes the temporary files of writers that died mid-save (SIGKILL, power loss) from dir. A file goes
// only when its pid names no process and nobody holds its lock: every writer locks its file while it
// writes, which also protects writers whose pid this process cannot see (another pid namespace).
void removeDeadWritersFiles(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;  // best effort: the save itself reports a directory it cannot use
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const long pid = writerPid(name);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    stale.push_back(dir + "/" + name);
  }
  ::closedir(d);
  for (const auto& file : stale) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) ::unlink(file.c_str());
    ::close(fd);
  }
}

std::string directoryOf(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void save(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<at::Tensor> blobs;
  std::vector<Entry> entries;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") throw std::invalid_argument("safetensors: '__metadata__' is reserved, not a tensor name");
    at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
    dtypeName(cpu.scalar_type());  // refuses dtypes the format lacks before anything is written
    const uint64_t bytes = cpu.nbytes();
    entries.push_back({name, cpu.scalar_type(), cpu.sizes().vec(), offset, offset + bytes});
    offset += bytes;
    blobs.push_back(std::move(cpu));
  }
  Metadata stored = withoutChecksum(metadata);
  Crc32 crc;
  const std::string unsummed = headerJson(stored, entries);
  crc.update(unsummed.data(), unsummed.size());
  for (const auto& blob : blobs) crc.update(blob.data_ptr(), blob.nbytes());
  stored[kChecksumKey] = crc.hex();
  std::string json = headerJson(stored, entries);
  json.append((8 - json.size() % 8) % 8, ' ');  // the format pads the header to 8-byte alignment

  const std::string dir = directoryOf(path);
  removeDeadWritersFiles(dir);
  std::random_device rd;
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("safetensors: cannot create", tmp);
  try {
    // Held until close: the mark of a live writer for removeDeadWritersFiles in other processes.
    if (::flock(fd, LOCK_EX) != 0) fail("safetensors: cannot lock", tmp);
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
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail("safetensors: cannot open directory", dir);
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) fail("safetensors: cannot fsync directory", dir);
}

namespace {

// Python's safetensors refuses headers above this size; so does this reader.
constexpr uint64_t kMaxHeader = 100'000'000;

// One tensor's {dtype, shape, data_offsets}, checked before anything is allocated for it.
Entry readEntry(HeaderParser& p, const std::string& name, uint64_t dataSize, const std::string& path) {
  Entry e{name};
  bool dtype = false, shape = false, offsets = false;
  do {
    const std::string field = p.string();
    p.expect(':');
    if (field == "dtype" && !dtype) {
      e.dtype = dtypeFromName(p.string(), path);
      dtype = true;
    } else if (field == "shape" && !shape) {
      e.shape = p.counts();
      shape = true;
    } else if (field == "data_offsets" && !offsets) {
      const auto range = p.counts();
      if (range.size() != 2 || range[1] < range[0]) p.error("tensor '" + name + "' has data_offsets that are not [begin, end]");
      e.begin = static_cast<uint64_t>(range[0]);
      e.end = static_cast<uint64_t>(range[1]);
      offsets = true;
    } else {
      p.error("tensor '" + name + "' has " + (field == "dtype" || field == "shape" || field == "data_offsets" ? "a second" : "an unknown") + " field '" + field + "'");
    }
  } while (p.comma());
  p.expect('}');
  if (!dtype || !shape || !offsets) p.error("tensor '" + name + "' needs dtype, shape and data_offsets");
  if (e.end > dataSize) p.error("tensor '" + name + "' has data_offsets outside the file (its data section holds " + std::to_string(dataSize) + " bytes)");
  uint64_t bytes = c10::elementSize(e.dtype);
  for (int64_t d : e.shape) {
    if (d != 0 && bytes > dataSize / static_cast<uint64_t>(d)) p.error("tensor '" + name + "' has a shape larger than the file");
    bytes *= static_cast<uint64_t>(d);
  }
  if (bytes != e.end - e.begin)
    p.error("tensor '" + name + "' needs " + std::to_string(bytes) + " bytes for its shape and dtype, its data_offsets span " + std::to_string(e.end - e.begin));
  return e;
}

[[noreturn]] void invalid(const std::string& path, const std::string& what) { throw std::runtime_error("safetensors: '" + path + "' " + what); }

// As the format's own loader: in order of their offsets the tensors' bytes tile the data section exactly,
// so no two tensors share bytes, none are skipped and nothing follows the last.
void checkTiling(const std::vector<Entry>& entries, uint64_t dataSize, const std::string& path) {
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return std::tie(a->begin, a->end) < std::tie(b->begin, b->end); });
  uint64_t next = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : order) {
    if (e->begin < next) invalid(path, "has tensors '" + previous->name + "' and '" + e->name + "' sharing bytes (overlapping data_offsets)");
    if (e->begin > next) invalid(path, "has " + std::to_string(e->begin - next) + " unused bytes before tensor '" + e->name + "' (a hole in the data)");
    next = e->end;
    previous = e;
  }
  if (next != dataSize) invalid(path, "has " + std::to_string(dataSize - next) + " bytes after the last tensor's data");
}

}  // namespace

Contents load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("safetensors: cannot open", path);
  unsigned char len[8];
  if (!in.read(reinterpret_cast<char*>(len), 8)) invalid(path, "is too short to be a safetensors file");
  uint64_t headerSize = 0;
  for (int b = 0; b < 8; ++b) headerSize |= static_cast<uint64_t>(len[b]) << (8 * b);
  in.seekg(0, std::ios::end);
  const uint64_t fileSize = static_cast<uint64_t>(in.tellg());
  if (headerSize > fileSize - 8) invalid(path, "declares a header larger than the file");
  if (headerSize > kMaxHeader) invalid(path, "declares a header of " + std::to_string(headerSize) + " bytes, more than the format allows");
  std::string json(headerSize, '\0');
  in.seekg(8);
  in.read(json.data(), static_cast<std::streamsize>(headerSize));
  if (!in) invalid(path, "cannot be read");
  if (!validUtf8(json)) invalid(path, "has a header that is not UTF-8 text");
  const uint64_t dataStart = 8 + headerSize;
  const uint64_t dataSize = fileSize - dataStart;

  Contents out;
  std::vector<Entry> entries;
  std::set<std::string> names;
  bool metadata = false;
  HeaderParser p(json, path);
  if (json.empty() || json[0] != '{') p.error("a header starts with '{'");
  p.expect('{');
  if (!p.peekIs('}')) {
    do {
      const std::string name = p.string();
      p.expect(':');
      p.expect('{');
      if (name == "__metadata__") {
        if (metadata) p.error("a second '__metadata__'");
        metadata = true;
        if (!p.peekIs('}')) {
          do {
            std::string key = p.string();
            p.expect(':');
            if (!out.metadata.emplace(key, p.string()).second) p.error("metadata key '" + key + "' appears twice");
          } while (p.comma());
        }
        p.expect('}');
        continue;
      }
      if (!names.insert(name).second) p.error("tensor '" + name + "' appears twice");
      entries.push_back(readEntry(p, name, dataSize, path));
    } while (p.comma());
  }
  p.expect('}');
  p.end();
  checkTiling(entries, dataSize, path);

  // Only now is memory allocated, and no more than the file holds. The data is read in file order, so the
  // checksum runs over it as the writer wrote it; the tensors keep the header's order.
  const auto sum = out.metadata.find(kChecksumKey);
  Crc32 crc;
  if (sum != out.metadata.end()) {
    const std::string unsummed = headerJson(withoutChecksum(out.metadata), entries);
    crc.update(unsummed.data(), unsummed.size());
  }
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return entries[a].begin < entries[b].begin; });
  std::vector<at::Tensor> read(entries.size());
  for (size_t i : order) {
    const Entry& e = entries[i];
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
    in.seekg(static_cast<std::streamoff>(dataStart + e.begin));
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
    if (!in) invalid(path, "cannot be read at tensor '" + e.name + "'");
    crc.update(t.data_ptr(), t.nbytes());
    read[i] = std::move(t);
  }
  // Files of other writers, and of invdiff before checksums, have none; they load as before.
  if (sum != out.metadata.end() && sum->second != crc.hex())
    invalid(path, "fails its checksum (" + std::string(kChecksumKey) + " " + sum->second + ", the contents give " + crc.hex() +
                      "): the file is damaged or was changed after it was written");
  if (sum != out.metadata.end()) out.metadata.erase(sum);  // the metadata is what the writer's caller gave
  for (size_t i = 0; i < entries.size(); ++i) out.tensors.emplace_back(entries[i].name, std::move(read[i]));
  return out;
}

}  // namespace invdiff::safetensors
