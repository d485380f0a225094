#pragma once
// Stitching the answers of a document's parts into its one transcript (pure:
// JSON in, JSON out, unit-tested in tests/worker/stitch_test.cc).
//
// With a schema that has a per-page array (a top-level array property whose
// items are objects with an integer "page" property, like the shipped
// transcript schema's "pages"), each part's answer must hold exactly one entry
// per page of its range; the transcript is the first part's answer (title,
// language, ...) with that array replaced by every part's entries in page
// order, renumbered 1..N in the document's numbering (a part's PDF starts at
// its own page 1, so the model numbers it from 1). With any other schema
// (split only when the batch's split_policy is ALLOW) the transcript is
//   {"parts":[{"first_page":1,"last_page":40,"answer":{...}}, ...]}.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/pdf/document_planner.h"

namespace batchscribe::worker {

/// The name of the schema's per-page array property, or nullopt (shared with
/// the planner and the dry run).
using pdf::PageArrayProperty;

/// OK when `answer` (a part's parsed answer) holds exactly one `array` entry
/// per page of first..last; else FAILED_PRECONDITION saying how many it has.
absl::Status CheckPartAnswer(const nlohmann::json& answer, const std::string& array, int first,
                             int last);

struct PartAnswer {
  int first_page = 1;
  int last_page = 1;
  nlohmann::json answer;
};

/// The document's transcript from all its parts. `array` empty: the generic
/// {"parts":[...]} form. INVALID_ARGUMENT when the parts do not cover
/// 1..page_count exactly once in order (gaps, overlaps), or an answer lacks
/// the array.
absl::StatusOr<std::string> StitchTranscript(std::vector<PartAnswer> parts,
                                             const std::string& array, int page_count);

}  // namespace batchscribe::worker
