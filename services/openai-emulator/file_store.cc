#include "services/openai-emulator/file_store.h"

#include <unistd.h>

#include <algorithm>

namespace batchscribe::emulator {
namespace fs = std::filesystem;

Json FileRecord::ToApiJson() const {
  Json out = Json::object();
  out["id"] = id;
  out["object"] = "file";
  out["bytes"] = bytes;
  out["created_at"] = created_at;
  out["expires_at"] = expires_at ? Json(*expires_at) : Json(nullptr);
  out["filename"] = filename;
  out["purpose"] = purpose;
  out["status"] = "processed";
  out["status_details"] = nullptr;
  return out;
}

Json FileRecord::ToStateJson() const {
  Json out = ToApiJson();
  out["sequence"] = sequence;
  return out;
}

FileRecord FileRecord::FromStateJson(const Json& json) {
  FileRecord r;
  r.id = json.at("id").get<std::string>();
  r.bytes = json.at("bytes").get<int64_t>();
  r.created_at = json.at("created_at").get<int64_t>();
  if (json.contains("expires_at") && !json["expires_at"].is_null()) {
    r.expires_at = json["expires_at"].get<int64_t>();
  }
  r.filename = json.at("filename").get<std::string>();
  r.purpose = json.at("purpose").get<std::string>();
  r.sequence = json.value("sequence", int64_t{0});
  return r;
}

FileStore::FileStore(fs::path dir, IdGenerator* ids, const Clock* clock)
    : dir_(std::move(dir)), ids_(ids), clock_(clock) {}

absl::Status FileStore::Init() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return absl::InternalError("creating " + dir_.string() + ": " + ec.message());
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!files_.count(name)) fs::remove(entry.path(), ec);
  }
  return absl::OkStatus();
}

fs::path FileStore::NewTempPath() {
  std::lock_guard<std::mutex> lock(mu_);
  return dir_ / (".tmp-" + std::to_string(getpid()) + "-" + std::to_string(next_temp_++) + "-" +
                 ids_->RequestId());
}

absl::StatusOr<FileRecord> FileStore::Adopt(const fs::path& temp_path, std::string filename,
                                            std::string purpose,
                                            std::optional<int64_t> expires_at) {
  FileRecord record;
  record.id = ids_->FileId();
  std::error_code ec;
  record.bytes = static_cast<int64_t>(fs::file_size(temp_path, ec));
  if (ec) return absl::InternalError("stat " + temp_path.string() + ": " + ec.message());
  fs::rename(temp_path, dir_ / record.id, ec);
  if (ec) return absl::InternalError("rename into the file store: " + ec.message());
  record.created_at = clock_->NowSeconds();
  record.expires_at = expires_at;
  record.filename = std::move(filename);
  record.purpose = std::move(purpose);
  std::lock_guard<std::mutex> lock(mu_);
  record.sequence = next_sequence_++;
  files_[record.id] = record;
  return record;
}

bool FileStore::IsLive(const FileRecord& record, int64_t now_seconds) const {
  return !record.expires_at || *record.expires_at > now_seconds;
}

std::optional<FileRecord> FileStore::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(id);
  if (it == files_.end() || !IsLive(it->second, clock_->NowSeconds())) return std::nullopt;
  return it->second;
}

std::vector<FileRecord> FileStore::List() const {
  std::vector<FileRecord> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = clock_->NowSeconds();
    for (const auto& [id, record] : files_) {
      if (IsLive(record, now)) out.push_back(record);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const FileRecord& a, const FileRecord& b) { return a.sequence < b.sequence; });
  return out;
}

bool FileStore::Remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(id);
  if (it == files_.end()) return false;
  const bool live = IsLive(it->second, clock_->NowSeconds());
  files_.erase(it);
  std::error_code ec;
  // Readers that already opened the file keep reading it; the name goes now.
  fs::remove(dir_ / id, ec);
  return live;
}

fs::path FileStore::PathOf(const std::string& id) const { return dir_ / id; }

int FileStore::PurgeExpired() {
  std::vector<std::string> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = clock_->NowSeconds();
    for (const auto& [id, record] : files_) {
      if (!IsLive(record, now)) expired.push_back(id);
    }
  }
  for (const auto& id : expired) Remove(id);
  return static_cast<int>(expired.size());
}

Json FileStore::ToState() const {
  std::lock_guard<std::mutex> lock(mu_);
  Json files = Json::array();
  for (const auto& [id, record] : files_) files.push_back(record.ToStateJson());
  return Json{{"next_sequence", next_sequence_}, {"files", files}};
}

void FileStore::LoadState(const Json& state) {
  std::lock_guard<std::mutex> lock(mu_);
  files_.clear();
  next_sequence_ = state.value("next_sequence", int64_t{1});
  if (state.contains("files")) {
    for (const auto& f : state["files"]) {
      FileRecord record = FileRecord::FromStateJson(f);
      files_[record.id] = record;
      next_sequence_ = std::max(next_sequence_, record.sequence + 1);
    }
  }
}

void FileStore::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code ec;
  for (const auto& [id, record] : files_) fs::remove(dir_ / id, ec);
  files_.clear();
}

}  // namespace batchscribe::emulator
