// The hot spot of prepare in isolation: jsonl::Base64Append (the encoder the
// request lines use) on a buffer of incompressible bytes, in the 48 KiB
// chunks RequestLineBuilder::WriteLine feeds it, beside a candidate encoder
// that sizes the output once and writes two characters per table lookup. The
// candidate is here only to show what the change proposed for libs/jsonl
// would gain; its output is checked byte for byte against the real one.
//
//   bench-base64 [--megabytes 256]

#include <CLI/CLI.hpp>
#include <cstring>
#include <iostream>
#include <random>
#include <string>

#include "bench/support/bench_support.h"
#include "libs/jsonl/request_line.h"

namespace batchscribe::bench {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Every 12-bit value as its two base64 characters.
struct PairTable {
  char pairs[4096][2];
  PairTable() {
    for (int v = 0; v < 4096; ++v) {
      pairs[v][0] = kAlphabet[v >> 6];
      pairs[v][1] = kAlphabet[v & 63];
    }
  }
};

void CandidateBase64Append(std::string_view in, std::string& out) {
  static const PairTable table;
  const size_t old = out.size();
  out.resize(old + jsonl::Base64Size(in.size()));
  char* dst = out.data() + old;
  const auto* src = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];
    std::memcpy(dst, table.pairs[v >> 12], 2);
    std::memcpy(dst + 2, table.pairs[v & 4095], 2);
    dst += 4;
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    const uint32_t v = (src[i] << 16) | (rest == 2 ? src[i + 1] << 8 : 0);
    dst[0] = kAlphabet[(v >> 18) & 63];
    dst[1] = kAlphabet[(v >> 12) & 63];
    dst[2] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    dst[3] = '=';
  }
}

template <typename Encode>
double MegabytesPerSecond(const std::string& data, Encode encode, std::string& sink) {
  constexpr size_t kChunk = 3 * 16 * 1024;  // RequestLineBuilder's chunk
  std::string out;
  out.reserve(jsonl::Base64Size(kChunk));
  size_t checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t off = 0; off < data.size(); off += kChunk) {
    out.clear();
    encode(std::string_view(data).substr(off, kChunk), out);
    checksum += static_cast<unsigned char>(out[out.size() / 2]);
  }
  const double seconds = SecondsSince(start);
  sink = std::to_string(checksum);
  return static_cast<double>(data.size()) / seconds / 1e6;
}

int Run(int megabytes) {
  std::string data(static_cast<size_t>(megabytes) << 20, '\0');
  std::mt19937_64 rng(1);
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(&data[i], &v, 8);
  }
  // Same output, including the padded tails of 1 and 2 bytes.
  for (size_t n : {0, 1, 2, 3, 4, 5, 47, 48, 49}) {
    std::string a, b;
    jsonl::Base64Append(std::string_view(data).substr(0, n), a);
    CandidateBase64Append(std::string_view(data).substr(0, n), b);
    if (a != b) {
      std::cerr << "candidate encoder differs for " << n << " bytes\n";
      return 1;
    }
  }
  std::string sink_a, sink_b;
  const double real = MegabytesPerSecond(data, jsonl::Base64Append, sink_a);
  const double candidate = MegabytesPerSecond(data, CandidateBase64Append, sink_b);
  if (sink_a != sink_b) {
    std::cerr << "candidate encoder differs on the data\n";
    return 1;
  }
  PrintResult({{"megabytes", megabytes},
               {"base64_append_mb_per_s", real},
               {"candidate_mb_per_s", candidate}});
  return 0;
}

}  // namespace
}  // namespace batchscribe::bench

int main(int argc, char** argv) {
  CLI::App app{"jsonl::Base64Append throughput"};
  int megabytes = 256;
  app.add_option("--megabytes", megabytes, "bytes to encode, in MiB");
  CLI11_PARSE(app, argc, argv);
  return batchscribe::bench::Run(megabytes);
}
