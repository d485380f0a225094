#include "services/openai-emulator/model_catalog.h"

#include <array>

namespace batchscribe::emulator {
namespace {

struct KnownModel {
  std::string_view alias;
  std::string_view snapshot;
  int64_t context_tokens;
  int64_t max_output_tokens;
  bool reasoning;
  ImageTokenRule image_tokens;
};

// Limits from openai-batch-api.md section 11. Image rules from the "Calculating
// costs" section of https://platform.openai.com/docs/guides/images-vision; for
// gpt-5-mini/-nano it lists 1.62/2.46 while users measured 1.20/1.50
// (community.openai.com/t/1377015): the documented, higher factors are kept so
// the emulator never under-counts.
constexpr ImageTokenRule kTiles4o = ImageTokenRule::Tiles(85, 170);
constexpr std::array<KnownModel, 9> kModels = {{
    {"gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", 1'047'576, 32'768, false,
     ImageTokenRule::Patches(162)},
    {"gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", 1'047'576, 32'768, false,
     ImageTokenRule::Patches(246)},
    {"gpt-4.1", "gpt-4.1-2025-04-14", 1'047'576, 32'768, false, kTiles4o},
    {"gpt-4o-mini", "gpt-4o-mini-2024-07-18", 128'000, 16'384, false,
     ImageTokenRule::Tiles(2833, 5667)},
    {"gpt-4o", "gpt-4o-2024-08-06", 128'000, 16'384, false, kTiles4o},
    {"gpt-5-mini", "gpt-5-mini-2025-08-07", 272'000, 128'000, true, ImageTokenRule::Patches(162)},
    {"gpt-5-nano", "gpt-5-nano-2025-08-07", 272'000, 128'000, true, ImageTokenRule::Patches(246)},
    {"gpt-5", "gpt-5-2025-08-07", 272'000, 128'000, true, ImageTokenRule::Tiles(70, 140)},
    {"o4-mini", "o4-mini-2025-04-16", 200'000, 100'000, true, ImageTokenRule::Patches(172)},
}};

}  // namespace

ModelInfo LookupModel(std::string_view model) {
  for (const auto& known : kModels) {
    // A dated snapshot of a known alias shares its limits.
    if (model == known.alias || model == known.snapshot) {
      return ModelInfo{std::string(known.snapshot), known.context_tokens, known.max_output_tokens,
                       known.reasoning, known.image_tokens};
    }
  }
  ModelInfo info;
  info.snapshot = std::string(model);
  info.reasoning = model.starts_with("gpt-5") ||
                   (model.size() >= 2 && model[0] == 'o' && model[1] >= '1' && model[1] <= '9');
  return info;
}

}  // namespace batchscribe::emulator
