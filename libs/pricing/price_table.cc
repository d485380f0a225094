#include "libs/pricing/price_table.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace batchscribe::pricing {
namespace {

bool IsModelChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':';
}

// "gpt-4.1-mini-2025-04-14" -> "gpt-4.1-mini"; nullopt when there is no date suffix.
std::optional<std::string_view> StripSnapshotDate(std::string_view model) {
  constexpr std::string_view kShape = "-dddd-dd-dd";
  if (model.size() <= kShape.size()) return std::nullopt;
  std::string_view tail = model.substr(model.size() - kShape.size());
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    bool digit = tail[i] >= '0' && tail[i] <= '9';
    if (kShape[i] == 'd' ? !digit : tail[i] != kShape[i]) return std::nullopt;
  }
  return model.substr(0, model.size() - kShape.size());
}

absl::StatusOr<double> ReadPrice(const nlohmann::json& entry, const char* key,
                                 const std::string& model) {
  auto it = entry.find(key);
  if (it == entry.end() || !it->is_number()) {
    return absl::InvalidArgumentError("price table: models." + model + "." + key +
                                      " must be a number");
  }
  double value = it->get<double>();
  if (!std::isfinite(value) || value < 0) {
    return absl::InvalidArgumentError("price table: models." + model + "." + key +
                                      " must be a non-negative number");
  }
  return value;
}

}  // namespace

double PriceFactor(PricingMode mode) { return mode == PricingMode::kBatch ? 0.5 : 1.0; }

absl::Status ValidateModelName(std::string_view model) {
  if (model.empty() || model.size() > 64) {
    return absl::InvalidArgumentError("model name must be 1-64 characters");
  }
  if (model.front() == '.') return absl::InvalidArgumentError("model name starts with '.'");
  for (char c : model) {
    if (!IsModelChar(c)) {
      return absl::InvalidArgumentError("model name has a character outside [A-Za-z0-9._:-]");
    }
  }
  return absl::OkStatus();
}

PriceTable PriceTable::Defaults() {
  PriceTable table;
  // Standard USD per 1M input / cached input / output tokens (openai-batch-api.md §11),
  // then the context window and the output cap from each model's page
  // (platform.openai.com/docs/models/<model>: gpt-4.1 family 1,047,576 / 32,768;
  // gpt-4o-mini 128,000 / 16,384; gpt-5 family 400,000 / 128,000).
  table.prices_["gpt-4.1-mini"] = {0.40, 0.10, 1.60, 1'047'576, 32'768};
  table.prices_["gpt-4.1"] = {2.00, 0.50, 8.00, 1'047'576, 32'768};
  table.prices_["gpt-4o-mini"] = {0.15, 0.075, 0.60, 128'000, 16'384};
  table.prices_["gpt-5-mini"] = {0.25, 0.025, 2.00, 400'000, 128'000};
  table.prices_["gpt-5-nano"] = {0.05, 0.005, 0.40, 400'000, 128'000};
  return table;
}

absl::StatusOr<PriceTable> PriceTable::FromJson(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("price table: not valid JSON");
  if (!doc.is_object() || !doc.contains("models") || !doc["models"].is_object()) {
    return absl::InvalidArgumentError("price table: expected an object with a \"models\" object");
  }
  PriceTable table = Defaults();
  for (const auto& [model, entry] : doc["models"].items()) {
    if (!entry.is_object()) {
      return absl::InvalidArgumentError("price table: models." + model + " must be an object");
    }
    ModelPrice price;
    auto input = ReadPrice(entry, "input", model);
    if (!input.ok()) return input.status();
    auto output = ReadPrice(entry, "output", model);
    if (!output.ok()) return output.status();
    price.input = *input;
    price.output = *output;
    price.cached_input = price.input;
    if (entry.contains("cached_input")) {
      auto cached = ReadPrice(entry, "cached_input", model);
      if (!cached.ok()) return cached.status();
      price.cached_input = *cached;
    }
    for (auto [key, field] : {std::pair{"context_tokens", &price.context_tokens},
                              std::pair{"max_output_tokens", &price.max_output_tokens}}) {
      if (!entry.contains(key)) continue;
      const auto& v = entry[key];
      if (!v.is_number_integer() || v.get<int64_t>() < 0) {
        return absl::InvalidArgumentError("price table: models." + model + "." + key +
                                          " must be a non-negative integer");
      }
      *field = v.get<int64_t>();
    }
    if (absl::Status s = table.Set(model, price); !s.ok()) return s;
  }
  return table;
}

absl::StatusOr<PriceTable> PriceTable::LoadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("price table: cannot read " + path.string());
  std::ostringstream content;
  content << in.rdbuf();
  return FromJson(content.str());
}

absl::Status PriceTable::Set(std::string_view model, const ModelPrice& price) {
  if (absl::Status s = ValidateModelName(model); !s.ok()) {
    return absl::InvalidArgumentError("price table: " + std::string(model) + ": " +
                                      std::string(s.message()));
  }
  prices_[std::string(model)] = price;
  return absl::OkStatus();
}

std::optional<ModelPrice> PriceTable::Find(std::string_view model) const {
  if (auto it = prices_.find(model); it != prices_.end()) return it->second;
  if (auto base = StripSnapshotDate(model)) {
    if (auto it = prices_.find(*base); it != prices_.end()) return it->second;
  }
  return std::nullopt;
}

std::vector<std::string> PriceTable::Models() const {
  std::vector<std::string> names;
  for (const auto& [name, price] : prices_) names.push_back(name);
  return names;
}

double CostOf(const ModelPrice& price, const TokenUsage& usage, PricingMode mode) {
  std::int64_t cached = std::min(usage.cached_input_tokens, usage.input_tokens);
  std::int64_t uncached = usage.input_tokens - cached;
  double standard = (static_cast<double>(uncached) * price.input +
                     static_cast<double>(cached) * price.cached_input +
                     static_cast<double>(usage.output_tokens) * price.output) /
                    1e6;
  return standard * PriceFactor(mode);
}

absl::StatusOr<double> PriceTable::Cost(std::string_view model, const TokenUsage& usage,
                                        PricingMode mode) const {
  auto price = Find(model);
  if (!price) return absl::NotFoundError("no price for model " + std::string(model));
  return CostOf(*price, usage, mode);
}

std::int64_t DefaultMaxCompletionTokens(const PriceTable& prices, std::string_view model) {
  const auto price = prices.Find(model);
  return price && price->max_output_tokens > 0 ? price->max_output_tokens
                                               : kFallbackMaxOutputTokens;
}

}  // namespace batchscribe::pricing
