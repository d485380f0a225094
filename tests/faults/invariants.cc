#include "tests/faults/invariants.h"

#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>

#include "libs/jsonl/schema_validator.h"
#include "tests/faults/stack.h"

namespace batchscribe::testing {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::set<std::string> kTerminalDocumentStates = {"SUCCEEDED", "FAILED", "SKIPPED",
                                                       "CANCELLED"};

struct Document {
  std::string batch_id;
  std::string document_id;
  std::string state;
  std::string error;
  std::string transcript_path;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// Reports at most a few failures of one kind, then how many more there were.
class FailureList {
 public:
  explicit FailureList(std::string what) : what_(std::move(what)) {}
  ~FailureList() {
    if (count_ > 0) {
      ADD_FAILURE() << what_ << ": " << count_ << " violation(s), e.g.:" << examples_;
    }
  }
  void Add(const std::string& example) {
    if (++count_ <= 5) examples_ += "\n  " + example;
  }
  int count() const { return count_; }

 private:
  std::string what_;
  int count_ = 0;
  std::string examples_;
};

std::string Str(const pqxx::field& field) { return field.is_null() ? "" : field.as<std::string>(); }

}  // namespace

std::map<std::string, int> DocumentStates(const std::string& database_url) {
  std::map<std::string, int> out;
  pqxx::connection conn(database_url);
  pqxx::read_transaction tx(conn);
  for (const auto& row : tx.exec("SELECT state, count(*) FROM documents GROUP BY state")) {
    out[row[0].as<std::string>()] = row[1].as<int>();
  }
  return out;
}

std::map<std::string, DocumentRow> DocumentRows(const std::string& database_url) {
  std::map<std::string, DocumentRow> out;
  pqxx::connection conn(database_url);
  pqxx::read_transaction tx(conn);
  for (const auto& row :
       tx.exec("SELECT document_id, batch_id, state, coalesce(error, ''), attempts "
               "FROM documents ORDER BY batch_id, document_id")) {
    out.emplace(row[0].as<std::string>(),
                DocumentRow{row[1].as<std::string>(), row[2].as<std::string>(),
                            row[3].as<std::string>(), row[4].as<int>()});
  }
  return out;
}

void CheckInvariants(const std::string& database_url, const fs::path& storage_root,
                     const json& emulator_stats, const InvariantOptions& options,
                     std::ostream& out) {
  json stats = emulator_stats;  // a copy: missing keys read as null, not as a crash
  pqxx::connection conn(database_url);
  pqxx::read_transaction tx(conn);

  // ---- Documents and batches ------------------------------------------------
  std::map<std::string, std::string> batch_state;
  std::map<std::string, std::string> batch_schema;
  std::map<std::string, std::string> batch_model;
  std::map<std::string, std::pair<int64_t, int64_t>> batch_tokens;
  for (const auto& row :
       tx.exec("SELECT id, state, json_schema, model, input_tokens, output_tokens FROM batches")) {
    const std::string id = row[0].as<std::string>();
    batch_state[id] = row[1].as<std::string>();
    batch_schema[id] = row[2].as<std::string>();
    batch_model[id] = row[3].as<std::string>();
    batch_tokens[id] = {row[4].as<int64_t>(), row[5].as<int64_t>()};
  }
  std::vector<Document> documents;
  std::map<std::string, int> ids_seen;
  for (const auto& row :
       tx.exec("SELECT batch_id, document_id, state, error, transcript_path, input_tokens, "
               "output_tokens FROM documents ORDER BY batch_id, document_id")) {
    Document d{row[0].as<std::string>(),
               row[1].as<std::string>(),
               row[2].as<std::string>(),
               Str(row[3]),
               Str(row[4]),
               row[5].as<int64_t>(),
               row[6].as<int64_t>()};
    ++ids_seen[d.document_id];
    documents.push_back(std::move(d));
  }
  for (const auto& [id, n] : ids_seen) {
    // The harness gives every document of a run its own id, so that the
    // emulator's per-custom_id accounting maps to exactly one document.
    ASSERT_EQ(n, 1) << "document id " << id << " is used by " << n << " batches of this run";
  }

  std::map<std::string, int> by_state;
  std::map<std::string, std::map<std::string, int>> batch_counts;
  {
    FailureList not_terminal("documents not in a terminal state");
    FailureList unexplained("FAILED documents without a reason");
    FailureList bad_transcripts("SUCCEEDED documents without a valid transcript");
    std::map<std::string, std::optional<jsonl::SchemaValidator>> validators;
    for (const Document& d : documents) {
      ++by_state[d.state];
      ++batch_counts[d.batch_id][d.state];
      if (kTerminalDocumentStates.count(d.state) == 0) {
        not_terminal.Add(d.batch_id + "/" + d.document_id + " is " + d.state);
      }
      if (d.state == "FAILED" && d.error.empty()) unexplained.Add(d.batch_id + "/" + d.document_id);
      if (d.state != "SUCCEEDED") continue;
      const std::string expected_path =
          "transcripts/" + batch_model[d.batch_id] + "/" + d.document_id + ".json";
      if (d.transcript_path != expected_path) {
        bad_transcripts.Add(d.document_id + ": transcript_path '" + d.transcript_path +
                            "' instead of '" + expected_path + "'");
        continue;
      }
      const std::string text = ReadFileText(storage_root / d.transcript_path);
      if (text.empty()) {
        bad_transcripts.Add(d.document_id + ": " + d.transcript_path + " is missing or empty");
        continue;
      }
      auto& validator = validators[d.batch_id];
      if (!validator) {
        auto created = jsonl::SchemaValidator::Create(batch_schema[d.batch_id]);
        ASSERT_TRUE(created.ok()) << created.status();
        validator.emplace(*std::move(created));
      }
      if (absl::Status s = validator->Validate(text); !s.ok()) {
        bad_transcripts.Add(d.document_id + ": " + std::string(s.message()));
        continue;
      }
      if (options.check_markers && text.find(CorpusMarker(d.document_id)) == std::string::npos) {
        bad_transcripts.Add(d.document_id +
                            ": the transcript is not its PDF's text: " + text.substr(0, 200));
      }
    }
    FailureList wrong_batch_state("batch states that disagree with their documents");
    for (const auto& [id, state] : batch_state) {
      const auto& counts = batch_counts[id];
      auto count = [&](const char* s) {
        auto it = counts.find(s);
        return it == counts.end() ? 0 : it->second;
      };
      int total = 0;
      for (const auto& [s, n] : counts) total += n;
      const int good = count("SUCCEEDED") + count("SKIPPED");
      std::string expected;
      if (state == "CANCELLED" || state == "CANCELLING") {
        expected = state;
      } else if (good == total) {
        expected = "SUCCEEDED";
      } else if (good == 0) {
        expected = "FAILED";
      } else {
        expected = "PARTIALLY_SUCCEEDED";
      }
      if (state != expected) {
        wrong_batch_state.Add(id + " is " + state + ", its documents say " + expected);
      }
    }
    out << "checked: " << documents.size() << " documents in " << batch_state.size()
        << " batches are terminal (";
    for (const auto& [s, n] : by_state) out << s << "=" << n << " ";
    out << "), every FAILED one has a reason, every SUCCEEDED one has a transcript that "
           "validates against its batch's schema"
        << (options.check_markers ? " and carries its own PDF's text" : "")
        << ", every batch state agrees with its documents\n";
  }

  // ---- Shards and OpenAI batches ------------------------------------------
  struct Shard {
    std::string openai_batch_id;
    std::set<std::string> abandoned;
  };
  std::map<std::string, Shard> shards;  // "<batch>/<shard>"
  for (const auto& row : tx.exec("SELECT batch_id, shard_id, coalesce(openai_batch_id, ''), "
                                 "array_to_string(abandoned_openai_batch_ids, ',') FROM shards")) {
    Shard s;
    s.openai_batch_id = row[2].as<std::string>();
    std::string abandoned = row[3].as<std::string>();
    for (std::size_t start = 0; start < abandoned.size();) {
      std::size_t comma = abandoned.find(',', start);
      if (comma == std::string::npos) comma = abandoned.size();
      if (comma > start) s.abandoned.insert(abandoned.substr(start, comma - start));
      start = comma + 1;
    }
    shards[row[0].as<std::string>() + "/" + row[1].as<std::string>()] = std::move(s);
  }
  std::map<std::string, std::vector<json>> openai_by_shard;
  int openai_batches = 0;
  for (const json& b : stats["batches"]["list"]) {
    ++openai_batches;
    const json& metadata = b["metadata"];
    if (!metadata.is_object() || !metadata.contains("batchscribe_batch")) continue;
    openai_by_shard[metadata.value("batchscribe_batch", "") + "/" +
                    metadata.value("batchscribe_shard", "")]
        .push_back(b);
  }
  {
    FailureList orphans("OpenAI batches whose shard is unknown");
    FailureList doubles("shards with more than one OpenAI batch that ran");
    FailureList unaccounted("OpenAI batches the shard does not account for");
    FailureList unknown_ids("shards naming an OpenAI batch the emulator never created");
    int ran = 0;
    for (const auto& [key, list] : openai_by_shard) {
      auto shard = shards.find(key);
      if (shard == shards.end()) {
        orphans.Add(key + " (" + list.front().value("id", "") + ")");
        continue;
      }
      std::vector<std::string> executed;
      for (const json& b : list) {
        const std::string id = b.value("id", "");
        // "failed" is the status of a batch rejected at validation (it never
        // ran a line); every other status means its lines ran or could run.
        if (!b["status"].is_string() || b["status"] != "failed") executed.push_back(id);
        if (id != shard->second.openai_batch_id && shard->second.abandoned.count(id) == 0) {
          unaccounted.Add(key + ": " + id + " (status " + b["status"].dump() + ")");
        }
      }
      ran += static_cast<int>(executed.size());
      if (executed.size() > 1) {
        std::string ids;
        for (const auto& id : executed) ids += " " + id;
        doubles.Add(key + ":" + ids);
      }
    }
    for (const auto& [key, shard] : shards) {
      if (shard.openai_batch_id.empty()) continue;
      bool known = false;
      for (const json& b : openai_by_shard[key])
        known |= b.value("id", "") == shard.openai_batch_id;
      if (!known) unknown_ids.Add(key + ": " + shard.openai_batch_id);
    }
    out << "checked: " << shards.size() << " shards, " << openai_batches
        << " OpenAI batches created (" << ran
        << " ran): no shard had two OpenAI batches that ran, every OpenAI batch belongs to a "
           "shard that records it\n";
  }

  // ---- Request lines per custom_id -----------------------------------------
  {
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> rows;  // doc -> shards
    for (const auto& row :
         tx.exec("SELECT document_id, shard_id, coalesce(outcome, '') FROM shard_documents "
                 "ORDER BY document_id, shard_id")) {
      rows[row[0].as<std::string>()].emplace_back(row[1].as<std::string>(),
                                                  row[2].as<std::string>());
    }
    FailureList resent("custom_ids sent again after they succeeded");
    FailureList overrun("custom_ids executed more often than they were put into shards");
    FailureList never_ran("SUCCEEDED documents the emulator never executed");
    json executed = stats["lines"]["executed"];
    if (!executed.is_object()) executed = json::object();
    int64_t executions = 0;
    for (const auto& [id, n] : executed.items()) {
      const int64_t times = n.get<int64_t>();
      executions += times;
      // A part's custom_id is "<document_id>~p0001-0100"; a document's parts
      // travel in the document's shard.
      const auto& placed = rows[id.substr(0, id.find('~'))];
      if (times > static_cast<int64_t>(placed.size())) {
        overrun.Add(id + " executed " + std::to_string(times) + " times, in " +
                    std::to_string(placed.size()) + " shard(s)");
      }
    }
    for (const auto& [id, placed] : rows) {
      int successes = 0;
      for (const auto& [shard, outcome] : placed) {
        if (successes > 0) {
          resent.Add(id + " was put into " + shard + " after it had succeeded");
        }
        if (outcome == "SUCCEEDED") ++successes;
      }
      if (successes > 1) resent.Add(id + " succeeded " + std::to_string(successes) + " times");
    }
    for (const Document& d : documents) {
      if (d.state == "SUCCEEDED" &&
          (!executed.contains(d.document_id) || executed[d.document_id].get<int64_t>() < 1)) {
        never_ran.Add(d.document_id);
      }
    }
    out << "checked: " << executions << " request lines executed for " << executed.size()
        << " custom_ids: none after it succeeded, none more often than it was sent\n";

    // The retry rule (README, Guarantees): a line that failed for a reason an
    // identical line cannot fix is changed (split) or given up, never re-sent.
    FailureList resent_unchanged(
        "request lines sent again unchanged after a deterministic failure (length, 4xx, "
        "refusal, content filter)");
    const json& lines = stats["lines"];
    if (lines.contains("resent_after_deterministic_failure")) {
      for (const auto& [id, n] : lines["resent_after_deterministic_failure"].items()) {
        resent_unchanged.Add(id + " re-sent " + std::to_string(n.get<int64_t>()) + " time(s)");
      }
    } else {
      resent_unchanged.Add("the emulator's stats have no lines.resent_after_deterministic_failure");
    }
    out << "checked: " << lines.value("deterministic_failures", int64_t{0})
        << " lines answered with a deterministic failure (length, 4xx, refusal, content "
           "filter), none re-sent unchanged\n";

    // Without injected faults nothing fails transiently, so nothing may run twice.
    const bool no_faults =
        !stats.contains("faults_fired") || stats["faults_fired"].empty();
    if (no_faults) {
      FailureList twice("request lines executed twice in a run without injected faults");
      for (const auto& [id, n] : executed.items()) {
        if (n.get<int64_t>() > 1) twice.Add(id + " executed " + std::to_string(n.get<int64_t>()));
      }
      out << "checked: no injected faults fired, and no request line was executed twice\n";
    }
  }

  // ---- Tokens -------------------------------------------------------------
  {
    int64_t billed_in = 0;
    int64_t billed_out = 0;
    for (const auto& [model, modes] : stats["tokens_billed"].items()) {
      if (!modes.is_object() || !modes.contains("batch")) continue;
      billed_in += modes["batch"].value("input_tokens", int64_t{0});
      billed_out += modes["batch"].value("output_tokens", int64_t{0});
    }
    int64_t recorded_in = 0;
    int64_t recorded_out = 0;
    int64_t unreadable_in = 0;
    int64_t unreadable_out = 0;
    std::map<std::string, std::pair<int64_t, int64_t>> per_batch;
    for (const Document& d : documents) {
      recorded_in += d.input_tokens;
      recorded_out += d.output_tokens;
      per_batch[d.batch_id].first += d.input_tokens;
      per_batch[d.batch_id].second += d.output_tokens;
      if (options.billed_unreadable_once.count(d.document_id) > 0) {
        unreadable_in += d.input_tokens;
        unreadable_out += d.output_tokens;
      }
    }
    EXPECT_EQ(billed_in, recorded_in + unreadable_in)
        << "input tokens billed by the emulator vs recorded in documents (+ " << unreadable_in
        << " billed on unreadable lines)";
    EXPECT_EQ(billed_out, recorded_out + unreadable_out)
        << "output tokens billed by the emulator vs recorded in documents (+ " << unreadable_out
        << " billed on unreadable lines)";
    FailureList totals("batches whose token totals differ from their documents'");
    for (const auto& [id, tokens] : batch_tokens) {
      if (tokens != per_batch[id]) {
        totals.Add(id + ": batch " + std::to_string(tokens.first) + "/" +
                   std::to_string(tokens.second) + ", documents " +
                   std::to_string(per_batch[id].first) + "/" +
                   std::to_string(per_batch[id].second));
      }
    }
    out << "checked: tokens billed by the emulator " << billed_in << " in / " << billed_out
        << " out = recorded in the database " << recorded_in << " / " << recorded_out;
    if (unreadable_in + unreadable_out > 0) {
      out << " + " << unreadable_in << " / " << unreadable_out << " billed on "
          << options.billed_unreadable_once.size() << " garbled line(s)";
    }
    out << "; batch totals = sum of their documents\n";
  }

  // ---- Tasks --------------------------------------------------------------
  {
    std::map<std::string, int> tasks;
    for (const auto& row : tx.exec("SELECT state, count(*) FROM tasks GROUP BY state")) {
      tasks[row[0].as<std::string>()] = row[1].as<int>();
    }
    FailureList running("tasks still running after every batch ended");
    for (const auto& row : tx.exec("SELECT id, kind, subject, coalesce(lease_owner, '') FROM tasks "
                                   "WHERE state = 'running'")) {
      running.Add(row[0].as<std::string>() + " " + row[1].as<std::string>() + " " +
                  row[2].as<std::string>() + " held by " + row[3].as<std::string>());
    }
    out << "checked: tasks by state (";
    for (const auto& [s, n] : tasks) out << s << "=" << n << " ";
    out << "): none left running\n";
  }
}

StuckTaskWatch::StuckTaskWatch(std::string database_url, std::chrono::milliseconds slack)
    : database_url_(std::move(database_url)), slack_(slack), thread_([this] { Run(); }) {}

StuckTaskWatch::~StuckTaskWatch() { Finish(); }

std::vector<std::string> StuckTaskWatch::Finish() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  return violations_;
}

void StuckTaskWatch::Run() {
  std::unique_ptr<pqxx::connection> conn;
  while (!stop_) {
    try {
      if (!conn || !conn->is_open()) {
        conn = std::make_unique<pqxx::connection>(database_url_ + "?connect_timeout=2");
      }
      pqxx::read_transaction tx(*conn);
      auto r = tx.exec_params(
          "SELECT id, kind, subject, coalesce(lease_owner, ''), "
          "  extract(epoch FROM now() - lease_expires_at)::bigint FROM tasks "
          "WHERE state = 'running' AND lease_expires_at < now() - make_interval(secs => $1)",
          static_cast<double>(slack_.count()) / 1000.0);
      ++samples_;
      std::lock_guard lock(mu_);
      for (const auto& row : r) {
        if (violations_.size() < 20) {
          violations_.push_back("task " + row[0].as<std::string>() + " " +
                                row[1].as<std::string>() + " " + row[2].as<std::string>() + " of " +
                                row[3].as<std::string>() + " still running " +
                                row[4].as<std::string>() + " s after its lease expired");
        }
      }
    } catch (const std::exception&) {
      conn.reset();  // the database is being restarted: nothing to sample
    }
    for (int i = 0; i < 5 && !stop_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace batchscribe::testing
