#pragma once
// A small structured reader over a fuzzer's bytes (like libFuzzer's
// FuzzedDataProvider, which is not available to the g++ replay build): every
// read consumes bytes from the front and returns something valid when the
// input runs out, so each input maps to exactly one structured case.
// FUZZ_CHECK aborts with a message: an invariant broken on some input is a
// crash the fuzzer reports and the replay test fails on.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(condition, message)                                                       \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n  %s\n", __FILE__, __LINE__, \
                   #condition, std::string(message).c_str());                                \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

namespace batchscribe::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return data_.empty(); }

  uint8_t Byte() {
    if (data_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(data_.front());
    data_.remove_prefix(1);
    return b;
  }
  bool Bool() { return Byte() & 1; }
  /// A value in [lo, hi] (inclusive).
  int64_t Int(int64_t lo, int64_t hi) {
    uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    uint64_t v = 0;
    for (uint64_t covered = 0; covered < range && !data_.empty(); covered = (covered << 8) | 0xff) {
      v = (v << 8) | Byte();
    }
    return range == UINT64_MAX ? static_cast<int64_t>(v)
                               : lo + static_cast<int64_t>(v % (range + 1));
  }
  /// Any 64-bit pattern reinterpreted as a double (NaN, infinities, ...).
  double Double() {
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | Byte();
    double d;
    static_assert(sizeof(d) == sizeof(bits));
    __builtin_memcpy(&d, &bits, sizeof(d));
    return d;
  }
  /// Up to `max` bytes: a length byte pair, then that many bytes.
  std::string String(size_t max) {
    size_t n = static_cast<size_t>(Int(0, static_cast<int64_t>(max)));
    n = std::min(n, data_.size());
    std::string out(data_.substr(0, n));
    data_.remove_prefix(n);
    return out;
  }
  /// One of `choices`.
  template <typename T>
  const T& Pick(const std::vector<T>& choices) {
    return choices[static_cast<size_t>(Int(0, static_cast<int64_t>(choices.size()) - 1))];
  }
  /// Everything left.
  std::string Rest() {
    std::string out(data_);
    data_ = {};
    return out;
  }

 private:
  std::string_view data_;
};

}  // namespace batchscribe::fuzz
