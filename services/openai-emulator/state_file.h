#pragma once
// The state file of a persistent emulator (--state_dir): one JSON document,
// replaced atomically (temp file, fsync, rename, fsync of the folder), so a
// crash leaves either the old or the new state, never a torn one.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <filesystem>
#include <optional>

#include "services/openai-emulator/json.h"

namespace batchscribe::emulator {

/// Writes `state` to `path` atomically.
absl::Status WriteStateFile(const std::filesystem::path& path, const Json& state);

/// Reads `path`; nullopt when it does not exist, an error when it is corrupt.
absl::StatusOr<std::optional<Json>> ReadStateFile(const std::filesystem::path& path);

}  // namespace batchscribe::emulator
