#pragma once
// What a page image costs a vision model. A PDF part reaches the model as the
// text layer plus one image per page, and OpenAI meters images by their size
// with one of two per-model rules (the "Calculating costs" section of
// https://platform.openai.com/docs/guides/images-vision):
//
//  * tiles (gpt-4o, gpt-4.1, gpt-4o-mini, gpt-5): fit the image in 2048x2048,
//    scale its shortest side down to 768 px, then base + tile tokens per
//    512 px square (85 + 170 for gpt-4o/gpt-4.1, 2833 + 5667 for gpt-4o-mini,
//    70 + 140 for gpt-5);
//  * patches (gpt-4.1-mini 1.62, gpt-4.1-nano 2.46, o4-mini 1.72, gpt-5-mini
//    1.62, gpt-5-nano 2.46): count 32 px patches, scale the image down to fit
//    1536 patches when it needs more, then multiply by the model's factor.
//
// Page-render assumption (OpenAI does not document it): each page is rendered
// at 150 DPI, so a US Letter page (612 x 792 pt) is a 1275 x 1650 px image.

#include <cstdint>

namespace batchscribe::emulator {

/// How one model meters an image.
struct ImageTokenRule {
  enum class Kind { kTiles, kPatches };
  Kind kind = Kind::kTiles;
  /// Tiles: tokens per image and per 512 px tile.
  int64_t base_tokens = 85;
  int64_t tile_tokens = 170;
  /// Patches: tokens = ceil(patches * multiplier_percent / 100).
  int64_t multiplier_percent = 100;

  static constexpr ImageTokenRule Tiles(int64_t base, int64_t tile) {
    return ImageTokenRule{Kind::kTiles, base, tile, 100};
  }
  static constexpr ImageTokenRule Patches(int64_t multiplier_percent) {
    return ImageTokenRule{Kind::kPatches, 0, 0, multiplier_percent};
  }
};

/// The DPI pages are assumed to be rendered at.
inline constexpr double kPageRenderDpi = 150;

/// Tokens of a `width_px` x `height_px` image ("detail": "high").
int64_t ImageTokens(const ImageTokenRule& rule, int64_t width_px, int64_t height_px);

/// Tokens of the image of a `width_pt` x `height_pt` page rendered at
/// kPageRenderDpi. A page without a usable size counts as US Letter.
int64_t PageImageTokens(const ImageTokenRule& rule, double width_pt, double height_pt);

}  // namespace batchscribe::emulator
