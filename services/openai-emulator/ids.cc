#include "services/openai-emulator/ids.h"

namespace batchscribe::emulator {
namespace {
constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr char kHex[] = "0123456789abcdef";
}  // namespace

IdGenerator::IdGenerator() {
  std::random_device rd;
  std::seed_seq seq{rd(), rd(), rd(), rd()};
  rng_.seed(seq);
}

std::string IdGenerator::Random(const char* alphabet, int alphabet_size, int length) {
  std::lock_guard<std::mutex> lock(mu_);
  std::uniform_int_distribution<int> pick(0, alphabet_size - 1);
  std::string out;
  out.reserve(length);
  for (int i = 0; i < length; ++i) out += alphabet[pick(rng_)];
  return out;
}

std::string IdGenerator::FileId() { return "file-" + Random(kAlnum, 62, 22); }
std::string IdGenerator::BatchId() { return "batch_" + Random(kHex, 16, 32); }
std::string IdGenerator::BatchRequestId() { return "batch_req_" + Random(kHex, 16, 32); }
std::string IdGenerator::RequestId() { return "req_" + Random(kHex, 16, 32); }
std::string IdGenerator::ChatCompletionId() { return "chatcmpl-" + Random(kAlnum, 62, 29); }

}  // namespace batchscribe::emulator
