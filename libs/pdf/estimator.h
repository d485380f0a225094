#pragma once
// The one estimator of tokens per page (dry run, planner, budget). Input
// tokens of a page = its text layer's tokens + the page image's tokens for the
// model; the expected output of a page = its text tokens times a safety factor,
// or a fixed allowance for a page with no text layer.

#include <cstdint>
#include <string_view>

#include "libs/pdf/pdf_document.h"

namespace batchscribe::pdf {

struct EstimatorOptions {
  /// UTF-8 bytes of text per token (o200k_base averages ~4 for English prose).
  double bytes_per_token = 4.0;
  /// Expected transcript tokens = text tokens x this (markup, JSON escaping,
  /// tokenizer variance).
  double output_safety_factor = 1.5;
  /// Expected transcript tokens of a page without a text layer (scans).
  int64_t output_tokens_per_blank_page = 800;
  /// JSON around each page in the answer ({"page":N,"text":"..."}).
  int64_t output_tokens_per_page_overhead = 12;
};

/// Text tokens of `bytes` of UTF-8 text.
int64_t TextTokens(int64_t bytes, const EstimatorOptions& options = {});

/// Tokens of one page's image for `model`, from the page size (OpenAI's
/// vision rules; see estimator.cc for the source of each rule).
int64_t PageImageTokens(std::string_view model, const PageInfo& page);

/// Tokens of one `width_px` x `height_px` image for `model` (the rule PageImageTokens
/// applies to the rendered page; public so the rules can be checked against OpenAI's
/// worked examples).
int64_t ImageTokens(std::string_view model, double width_px, double height_px);

/// Input tokens of one page (text + image).
int64_t PageInputTokens(std::string_view model, const PageInfo& page,
                        const EstimatorOptions& options = {});

/// Expected output tokens of one page's transcript.
int64_t PageOutputTokens(const PageInfo& page, const EstimatorOptions& options = {});

}  // namespace batchscribe::pdf
