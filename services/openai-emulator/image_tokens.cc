#include "services/openai-emulator/image_tokens.h"

#include <algorithm>
#include <cmath>

namespace batchscribe::emulator {
namespace {

// Scaled sizes land on whole tiles/patches up to rounding: 44.0000001 is 44.
constexpr double kSlack = 1e-6;

int64_t CeilCount(double length, double unit) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(length / unit - kSlack)));
}

int64_t TileTokens(const ImageTokenRule& rule, double w, double h) {
  if (const double longest = std::max(w, h); longest > 2048) {
    w *= 2048 / longest;
    h *= 2048 / longest;
  }
  // Only ever scaled down: a small image is not enlarged to 768 px.
  if (const double shortest = std::min(w, h); shortest > 768) {
    w *= 768 / shortest;
    h *= 768 / shortest;
  }
  return rule.base_tokens + rule.tile_tokens * CeilCount(w, 512) * CeilCount(h, 512);
}

int64_t PatchTokens(const ImageTokenRule& rule, double w, double h) {
  constexpr double kPatch = 32;
  constexpr int64_t kMaxPatches = 1536;
  int64_t patches = CeilCount(w, kPatch) * CeilCount(h, kPatch);
  if (patches > kMaxPatches) {
    // The documented shrink: fit the budget, then shrink again so the tighter
    // side covers a whole number of patches.
    double r = std::sqrt(kPatch * kPatch * kMaxPatches / (w * h));
    const double w_patches = w * r / kPatch;
    const double h_patches = h * r / kPatch;
    r *= std::min(std::floor(w_patches) / w_patches, std::floor(h_patches) / h_patches);
    patches = std::min(kMaxPatches, CeilCount(w * r, kPatch) * CeilCount(h * r, kPatch));
  }
  return (patches * rule.multiplier_percent + 99) / 100;
}

}  // namespace

int64_t ImageTokens(const ImageTokenRule& rule, int64_t width_px, int64_t height_px) {
  const double w = static_cast<double>(std::max<int64_t>(1, width_px));
  const double h = static_cast<double>(std::max<int64_t>(1, height_px));
  return rule.kind == ImageTokenRule::Kind::kTiles ? TileTokens(rule, w, h)
                                                   : PatchTokens(rule, w, h);
}

int64_t PageImageTokens(const ImageTokenRule& rule, double width_pt, double height_pt) {
  if (!(width_pt > 0 && height_pt > 0 && std::isfinite(width_pt) && std::isfinite(height_pt))) {
    width_pt = 612;
    height_pt = 792;
  }
  // 1 pt = 1/72 inch; absurd sizes are clamped before they can overflow.
  const auto px = [](double pt) { return std::llround(std::min(pt, 1e6) * kPageRenderDpi / 72); };
  return ImageTokens(rule, px(width_pt), px(height_pt));
}

}  // namespace batchscribe::emulator
