#include "cli/format.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace batchscribe::cli {

namespace v1 = batchscribe::v1;

namespace {

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string StripPrefix(const std::string& name, std::string_view prefix) {
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace

std::string StateName(v1::BatchState state) {
  return StripPrefix(v1::BatchState_Name(state), "BATCH_STATE_");
}

std::string StateName(v1::DocumentState state) {
  return StripPrefix(v1::DocumentState_Name(state), "DOCUMENT_STATE_");
}

std::string ModeName(v1::Mode mode) {
  if (mode == v1::MODE_UNSPECIFIED) return "-";
  return StripPrefix(v1::Mode_Name(mode), "MODE_");
}

absl::StatusOr<v1::DocumentState> ParseDocumentState(std::string_view text) {
  std::string name = Upper(text);
  if (name.rfind("DOCUMENT_STATE_", 0) != 0) name = "DOCUMENT_STATE_" + name;
  v1::DocumentState state;
  if (!v1::DocumentState_Parse(name, &state) || state == v1::DOCUMENT_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "unknown document state '" + std::string(text) +
        "' (pending, prepared, submitted, succeeded, failed, skipped, cancelled)");
  }
  return state;
}

absl::StatusOr<v1::Mode> ParseMode(std::string_view text) {
  const std::string name = Upper(text);
  if (name == "BATCH") return v1::MODE_BATCH;
  if (name == "SYNC") return v1::MODE_SYNC;
  return absl::InvalidArgumentError("--mode must be batch or sync, got '" + std::string(text) +
                                    "'");
}

std::string BatchName(std::string_view id_or_name) {
  if (id_or_name.rfind("batches/", 0) == 0) return std::string(id_or_name);
  return "batches/" + std::string(id_or_name);
}

std::string BatchId(std::string_view name) {
  if (name.rfind("batches/", 0) == 0) name.remove_prefix(8);
  return std::string(name);
}

std::string FormatUsd(double usd) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "$%.4f", usd);
  return buf;
}

std::string FormatCount(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  static const char* const kUnits[] = {"KB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1000 && unit < 3) {
    value /= 1000;
    ++unit;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  return buf;
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  const std::time_t t = static_cast<std::time_t>(ts.seconds());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return buf;
}

Table::Table(std::vector<std::string> header, std::vector<bool> right_aligned)
    : header_(std::move(header)), right_(std::move(right_aligned)) {
  right_.resize(header_.size(), false);
}

void Table::AddRow(std::vector<std::string> row) {
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) width[c] = header_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const bool last = c + 1 == row.size();
      const std::string pad(width[c] - row[c].size(), ' ');
      if (right_[c]) {
        line += pad + row[c];
      } else {
        line += row[c];
        if (!last) line += pad;
      }
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  };
  print_row(header_);
  for (const auto& row : rows_) print_row(row);
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return "{}";
  return out;
}

std::string FormatCounts(const v1::DocumentCounts& c) {
  return "pending " + FormatCount(c.pending()) + "  prepared " + FormatCount(c.prepared()) +
         "  submitted " + FormatCount(c.submitted()) + "  succeeded " + FormatCount(c.succeeded()) +
         "  failed " + FormatCount(c.failed()) + "  skipped " + FormatCount(c.skipped()) +
         "  cancelled " + FormatCount(c.cancelled());
}

std::string FormatPages(const v1::PageCounts& p) {
  std::string out = "pages " + FormatCount(p.pages_succeeded()) + "/" + FormatCount(p.pages()) +
                    "  parts " + FormatCount(p.parts_succeeded()) + "/" + FormatCount(p.parts());
  if (p.split_documents() > 0) {
    out += " (" + FormatCount(p.split_documents()) + " document" +
           (p.split_documents() == 1 ? "" : "s") + " split)";
  }
  return out;
}

void PrintBatch(std::ostream& out, const v1::Batch& b) {
  out << b.name();
  if (!b.display_name().empty()) out << "  \"" << b.display_name() << "\"";
  out << "\n";
  out << "  state:      " << StateName(b.state()) << "\n";
  out << "  model:      " << b.model() << " (" << ModeName(b.mode()) << ", max "
      << FormatCount(b.max_completion_tokens()) << " completion tokens per request)\n";
  out << "  documents:  " << FormatCount(b.counts().total())
      << " total: " << FormatCounts(b.counts()) << "\n";
  // Pages and parts are known once the worker planned the documents.
  const v1::PageCounts& p = b.pages();
  out << "  pages:      " << FormatCount(p.pages_succeeded()) << "/" << FormatCount(p.pages())
      << " succeeded, in " << FormatCount(p.parts_succeeded()) << "/" << FormatCount(p.parts())
      << " parts";
  if (p.split_documents() > 0) {
    out << " (" << FormatCount(p.split_documents()) << " document"
        << (p.split_documents() == 1 ? "" : "s") << " split)";
  }
  out << "; split policy " << StripPrefix(v1::SplitPolicy_Name(b.split_policy()), "SPLIT_POLICY_")
      << "\n";
  out << "  usage:      " << FormatCount(b.usage().input_tokens()) << " input tokens ("
      << FormatCount(b.usage().cached_input_tokens()) << " cached), "
      << FormatCount(b.usage().output_tokens()) << " output tokens\n";
  out << "  cost:       " << FormatUsd(b.cost_usd())
      << " (synchronous: " << FormatUsd(b.sync_equivalent_cost_usd()) << ", saved "
      << FormatUsd(b.sync_equivalent_cost_usd() - b.cost_usd()) << ")";
  if (b.max_cost_usd() > 0) out << "  budget " << FormatUsd(b.max_cost_usd());
  out << "\n";
  out << "  created:    " << FormatTimestamp(b.create_time()) << "   updated "
      << FormatTimestamp(b.update_time()) << "   ended " << FormatTimestamp(b.end_time()) << "\n";
  if (!b.request_id().empty()) out << "  request_id: " << b.request_id() << "\n";
  if (!b.labels().empty()) {
    std::vector<std::string> labels;
    for (const auto& [k, v] : b.labels()) labels.push_back(k + "=" + v);
    std::sort(labels.begin(), labels.end());
    out << "  labels:    ";
    for (const auto& l : labels) out << " " << l;
    out << "\n";
  }
  if (b.shards_size() > 0) {
    out << "  shards:\n";
    Table table({"    SHARD", "STATE", "DOCS", "INPUT", "OPENAI BATCH", "OPENAI STATUS", "ERROR"},
                {false, false, true, true, false, false, false});
    for (const auto& s : b.shards()) {
      table.AddRow({"    " + s.shard_id(), s.state(), FormatCount(s.document_count()),
                    FormatBytes(s.input_bytes()),
                    s.openai_batch_id().empty() ? "-" : s.openai_batch_id(),
                    s.openai_status().empty() ? "-" : s.openai_status(), s.error()});
    }
    table.Print(out);
  }
  if (b.last_errors_size() > 0) {
    out << "  last errors:\n";
    for (const auto& e : b.last_errors()) out << "    - " << e << "\n";
  }
}

}  // namespace batchscribe::cli
