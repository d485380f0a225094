// The hot spot of prepare in isolation: jsonl::Base64Append (the encoder the
// request lines use: two characters per table lookup, output sized once) on a
// buffer of incompressible bytes, in the 192 KiB chunks
// RequestLineBuilder::WriteLine feeds it, beside the encoder it replaced (one
// character per append). Their outputs are checked byte for byte.
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

// The encoder prepare used before issue 8: one table lookup and one
// std::string::operator+= per output character.
void PreviousBase64Append(std::string_view in, std::string& out) {
  size_t i = 0;
  out.reserve(out.size() + jsonl::Base64Size(in.size()));
  auto byte = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
}

template <typename Encode>
double MegabytesPerSecond(const std::string& data, Encode encode, std::string& sink) {
  constexpr size_t kChunk = 3 * 64 * 1024;  // RequestLineBuilder's chunk
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
    PreviousBase64Append(std::string_view(data).substr(0, n), b);
    if (a != b) {
      std::cerr << "previous encoder differs for " << n << " bytes\n";
      return 1;
    }
  }
  std::string sink_a, sink_b;
  const double real = MegabytesPerSecond(data, jsonl::Base64Append, sink_a);
  const double previous = MegabytesPerSecond(data, PreviousBase64Append, sink_b);
  if (sink_a != sink_b) {
    std::cerr << "previous encoder differs on the data\n";
    return 1;
  }
  PrintResult({{"megabytes", megabytes},
               {"base64_append_mb_per_s", real},
               {"previous_mb_per_s", previous}});
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
