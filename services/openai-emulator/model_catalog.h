#pragma once
// What the emulator knows about models: the snapshot an alias resolves to and
// the limits that make requests fail the way they would at OpenAI.

#include <cstdint>
#include <string>
#include <string_view>

#include "services/openai-emulator/image_tokens.h"

namespace batchscribe::emulator {

struct ModelInfo {
  /// The dated snapshot responses name, e.g. gpt-4.1-mini-2025-04-14.
  std::string snapshot;
  /// Input context in tokens; more prompt tokens -> context_length_exceeded.
  int64_t context_tokens = 128'000;
  /// Largest accepted max_completion_tokens.
  int64_t max_output_tokens = 16'384;
  /// Reasoning models (gpt-5*, o*) spend reasoning tokens, accept only the
  /// default temperature and reject `max_tokens`.
  bool reasoning = false;
  /// How the image of each PDF page is metered (image_tokens.h).
  ImageTokenRule image_tokens;
};

/// Looks a model name up; unknown names are accepted as their own snapshot
/// with conservative limits, so tests may use any model name.
ModelInfo LookupModel(std::string_view model);

}  // namespace batchscribe::emulator
