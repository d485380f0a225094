#pragma once
// Wall-clock time for the emulator, injectable so lifecycle tests control it.

#include <chrono>
#include <cstdint>

namespace batchscribe::emulator {

/// Source of the current time in Unix milliseconds. Batch timestamps and every
/// lifecycle deadline derive from it; deadlines survive restarts because they
/// are wall-clock values.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
  int64_t NowSeconds() const { return NowMs() / 1000; }
};

/// The real clock.
class SystemClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace batchscribe::emulator
