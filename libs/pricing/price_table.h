#pragma once
// Prices per model, in USD per 1M tokens at the standard (synchronous) rate.
// The Batch API costs exactly half of the standard rate for every token class
// (openai-batch-api.md §11), so only standard prices are stored.
//
// Price file format (--price_table), JSON:
//   {
//     "models": {
//       "gpt-4.1-mini": {"input": 0.40, "cached_input": 0.10, "output": 1.60},
//       "my-finetune":  {"input": 1.00, "output": 4.00}
//     }
//   }
// Prices are standard USD per 1M tokens; `cached_input` defaults to `input`.
// Optional integers `context_tokens` and `max_output_tokens` give the model's
// limits (used to plan parts of long documents and as the default
// max_completion_tokens).
// Entries are added to the built-in defaults and replace a default of the same
// name. Model names are 1-64 characters of [A-Za-z0-9._:-], not starting with
// '.', because they are also a folder name in the storage layout.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace batchscribe::pricing {

/// Standard USD per 1M tokens.
struct ModelPrice {
  double input = 0;
  double cached_input = 0;
  double output = 0;
  /// The model's context window in tokens (input + output); 0 = unknown.
  std::int64_t context_tokens = 0;
  /// The largest max_completion_tokens the model accepts; 0 = unknown. The
  /// default max_completion_tokens of a batch, and the output budget of a part.
  std::int64_t max_output_tokens = 0;
};

/// max_completion_tokens when neither the request nor the model table gives one.
inline constexpr std::int64_t kFallbackMaxOutputTokens = 16000;

class PriceTable;

/// The default max_completion_tokens of a batch for `model`: the model's
/// output cap from the table, else kFallbackMaxOutputTokens. The coordinator
/// stores it at submit and the dry run plans with it.
std::int64_t DefaultMaxCompletionTokens(const PriceTable& prices, std::string_view model);

/// Tokens as OpenAI reports them: `input_tokens` includes the cached ones.
struct TokenUsage {
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t output_tokens = 0;
};

/// How the tokens were bought.
enum class PricingMode {
  kBatch,  // Batch API: 50% of standard
  kSync,   // chat completions: standard
};

/// Fraction of the standard price charged in `mode`.
double PriceFactor(PricingMode mode);

/// OK when `model` is usable as a model name (see the file comment).
absl::Status ValidateModelName(std::string_view model);

class PriceTable {
 public:
  /// The built-in prices of gpt-4.1-mini, gpt-4.1, gpt-4o-mini, gpt-5-mini and gpt-5-nano.
  static PriceTable Defaults();
  /// Defaults plus the entries of a JSON document in the format above.
  static absl::StatusOr<PriceTable> FromJson(std::string_view json);
  /// FromJson on the content of `path`.
  static absl::StatusOr<PriceTable> LoadFile(const std::filesystem::path& path);

  /// The price of `model`. A dated snapshot ("gpt-4.1-mini-2025-04-14") falls back
  /// to the price of its base name when it has no entry of its own.
  std::optional<ModelPrice> Find(std::string_view model) const;
  bool IsKnownModel(std::string_view model) const { return Find(model).has_value(); }
  /// Known model names, sorted.
  std::vector<std::string> Models() const;

  /// USD charged for `usage` of `model` in `mode`; NOT_FOUND for an unknown model.
  absl::StatusOr<double> Cost(std::string_view model, const TokenUsage& usage,
                              PricingMode mode) const;
  /// USD the same usage costs through synchronous calls (the standard rate).
  absl::StatusOr<double> SyncEquivalentCost(std::string_view model, const TokenUsage& usage) const {
    return Cost(model, usage, PricingMode::kSync);
  }

  /// Sets or replaces one entry.
  absl::Status Set(std::string_view model, const ModelPrice& price);

 private:
  std::map<std::string, ModelPrice, std::less<>> prices_;
};

/// Cost of `usage` at `price` in `mode`, in USD.
double CostOf(const ModelPrice& price, const TokenUsage& usage, PricingMode mode);

}  // namespace batchscribe::pricing
