#include "libs/pdf/estimator.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace batchscribe::pdf {
namespace {

// Every rule below is from OpenAI's "Images and vision" guide, section
// "Calculating costs":
// https://developers.openai.com/api/docs/guides/images-vision#calculating-costs
// (formerly https://platform.openai.com/docs/guides/images-vision#calculating-costs).

// How the API turns a PDF page into an image is not documented (the file-inputs
// guide only says each page's text and an image of it are given to the model).
// Assumption: the page is rendered with its aspect ratio kept and its long side
// at 2048 px. That is the largest image the tile rule looks at (it first fits
// into 2048x2048, so nothing is lost above it) and, for the patch rule, at or
// above its 1536-patch budget for any page shape, i.e. the upper estimate: a
// Letter page is 1583x2048 px, as if rendered at ~186 DPI.
constexpr double kRenderLongSidePx = 2048;

// The tile rule: fit into 2048x2048, then scale so the shortest side is 768 px
// (both only ever shrink), count 512 px tiles; tokens = base + per_tile x tiles.
constexpr double kTileFitPx = 2048;       // images-vision#calculating-costs
constexpr double kTileShortSidePx = 768;  // images-vision#calculating-costs
constexpr double kTileSidePx = 512;       // images-vision#calculating-costs

// The patch rule: count 32 px patches; above 1536 the image is shrunk to fit
// the budget (then again so its width is a whole number of patches); tokens =
// patches (at most 1536) x the model's multiplier.
constexpr double kPatchSidePx = 32;     // images-vision#calculating-costs
constexpr int64_t kPatchBudget = 1536;  // images-vision#calculating-costs

struct ImageRule {
  std::string_view model_prefix;
  bool patches;     // patch rule, else tile rule
  double base;      // tile rule: tokens always added
  double per_unit;  // tile rule: tokens per tile; patch rule: multiplier
};

// Longest matching prefix wins, so dated snapshots ("gpt-4o-mini-2024-07-18")
// find their family and "gpt-4o-mini" is not taken for "gpt-4o".
constexpr ImageRule kRules[] = {
    // Tile rule, images-vision#calculating-costs: 85 base + 170 per tile.
    {"gpt-4o", false, 85, 170},
    {"gpt-4.1", false, 85, 170},
    {"gpt-4.5", false, 85, 170},
    {"gpt-5", false, 85, 170},
    // Tile rule, images-vision#calculating-costs: gpt-4o-mini 2833 base + 5667 per tile.
    {"gpt-4o-mini", false, 2833, 5667},
    // Patch rule, images-vision#calculating-costs: multiplier per model.
    {"gpt-4.1-mini", true, 0, 1.62},  // images-vision#calculating-costs
    {"gpt-4.1-nano", true, 0, 2.46},  // images-vision#calculating-costs
    {"o4-mini", true, 0, 1.72},       // images-vision#calculating-costs
    {"gpt-5-mini", true, 0, 1.62},    // images-vision#calculating-costs
    {"gpt-5-nano", true, 0, 2.46},    // images-vision#calculating-costs
};
constexpr ImageRule kUnknownModel = {"", false, 85, 170};

// ceil(length / unit), tolerant of the rounding error of the scalings above
// (1408 px must be 44 patches, not 45).
int64_t Units(double length, double unit) {
  return static_cast<int64_t>(std::ceil(length / unit - 1e-9));
}

const ImageRule& RuleFor(std::string_view model) {
  if (model.starts_with("ft:")) model.remove_prefix(3);  // fine-tuned: ft:<base>:<org>...
  const ImageRule* best = &kUnknownModel;
  for (const ImageRule& rule : kRules) {
    if (model.starts_with(rule.model_prefix) &&
        rule.model_prefix.size() > best->model_prefix.size()) {
      best = &rule;
    }
  }
  return *best;
}

int64_t TileTokens(const ImageRule& rule, double width, double height) {
  const double fit = std::min(1.0, kTileFitPx / std::max(width, height));
  width *= fit;
  height *= fit;
  const double shrink = std::min(1.0, kTileShortSidePx / std::min(width, height));
  width *= shrink;
  height *= shrink;
  const int64_t tiles = Units(width, kTileSidePx) * Units(height, kTileSidePx);
  return static_cast<int64_t>(std::ceil(rule.base + rule.per_unit * static_cast<double>(tiles)));
}

int64_t PatchTokens(const ImageRule& rule, double width, double height) {
  int64_t patches = Units(width, kPatchSidePx) * Units(height, kPatchSidePx);
  if (patches > kPatchBudget) {
    const double shrink = std::sqrt(static_cast<double>(kPatchBudget) * kPatchSidePx *
                                    kPatchSidePx / (width * height));
    width *= shrink;
    height *= shrink;
    const double whole = std::floor(width / kPatchSidePx) / (width / kPatchSidePx);
    width *= whole;
    height *= whole;
    patches = std::min(kPatchBudget, Units(width, kPatchSidePx) * Units(height, kPatchSidePx));
  }
  return static_cast<int64_t>(std::ceil(static_cast<double>(patches) * rule.per_unit - 1e-9));
}

}  // namespace

int64_t TextTokens(int64_t bytes, const EstimatorOptions& options) {
  if (bytes <= 0) return 0;
  return static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / options.bytes_per_token));
}

int64_t ImageTokens(std::string_view model, double width_px, double height_px) {
  if (!(width_px >= 1) || !(height_px >= 1)) return 0;  // also NaN
  const ImageRule& rule = RuleFor(model);
  return rule.patches ? PatchTokens(rule, width_px, height_px)
                      : TileTokens(rule, width_px, height_px);
}

int64_t PageImageTokens(std::string_view model, const PageInfo& page) {
  double width = page.width_pt;
  double height = page.height_pt;
  if (!(width > 0) || !(height > 0)) {
    const PageInfo letter;
    width = letter.width_pt;
    height = letter.height_pt;
  }
  const double scale = kRenderLongSidePx / std::max(width, height);
  return ImageTokens(model, std::max(1.0, std::round(width * scale)),
                     std::max(1.0, std::round(height * scale)));
}

int64_t PageInputTokens(std::string_view model, const PageInfo& page,
                        const EstimatorOptions& options) {
  return TextTokens(page.text_bytes, options) + PageImageTokens(model, page);
}

int64_t PageOutputTokens(const PageInfo& page, const EstimatorOptions& options) {
  if (page.text_bytes > 0) {
    return static_cast<int64_t>(
               std::ceil(static_cast<double>(TextTokens(page.text_bytes, options)) *
                         options.output_safety_factor)) +
           options.output_tokens_per_page_overhead;
  }
  return options.output_tokens_per_blank_page + options.output_tokens_per_page_overhead;
}

}  // namespace batchscribe::pdf
