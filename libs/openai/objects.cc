#include "libs/openai/objects.h"

#include <absl/status/status.h>

namespace batchscribe::openai {
namespace {

using nlohmann::json;

std::string Text(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int64_t Integer(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return 0;
  return it->get<int64_t>();
}

absl::Status RequireObject(const json& value, const char* what) {
  if (!value.is_object()) {
    return absl::InternalError(std::string("OpenAI returned a malformed ") + what + " object");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FileObject> FileObject::FromJson(const json& value) {
  if (auto status = RequireObject(value, "file"); !status.ok()) return status;
  FileObject file;
  file.id = Text(value, "id");
  if (file.id.empty()) return absl::InternalError("OpenAI file object without id");
  file.bytes = Integer(value, "bytes");
  file.filename = Text(value, "filename");
  file.purpose = Text(value, "purpose");
  file.status = Text(value, "status");
  return file;
}

bool IsTerminalBatchStatus(const std::string& status) {
  return status == "failed" || status == "completed" || status == "expired" ||
         status == "cancelled";
}

bool BatchObject::IsTerminal() const { return IsTerminalBatchStatus(status); }

std::string BatchObject::Metadata(const std::string& key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? "" : it->second;
}

absl::StatusOr<BatchObject> BatchObject::FromJson(const json& value) {
  if (auto status = RequireObject(value, "batch"); !status.ok()) return status;
  BatchObject batch;
  batch.id = Text(value, "id");
  if (batch.id.empty()) return absl::InternalError("OpenAI batch object without id");
  batch.status = Text(value, "status");
  batch.endpoint = Text(value, "endpoint");
  batch.input_file_id = Text(value, "input_file_id");
  batch.output_file_id = Text(value, "output_file_id");
  batch.error_file_id = Text(value, "error_file_id");
  batch.created_at = Integer(value, "created_at");
  if (auto it = value.find("metadata"); it != value.end() && it->is_object()) {
    for (auto& [k, v] : it->items())
      batch.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  if (auto it = value.find("errors"); it != value.end() && it->is_object()) {
    if (auto data = it->find("data"); data != it->end() && data->is_array()) {
      for (const auto& e : *data) {
        if (!e.is_object()) continue;
        BatchError error;
        error.code = Text(e, "code");
        error.message = Text(e, "message");
        error.param = Text(e, "param");
        if (auto line = e.find("line"); line != e.end() && line->is_number()) {
          error.line = line->get<int64_t>();
        }
        batch.errors.push_back(std::move(error));
      }
    }
  }
  if (auto it = value.find("request_counts"); it != value.end() && it->is_object()) {
    batch.request_counts.total = Integer(*it, "total");
    batch.request_counts.completed = Integer(*it, "completed");
    batch.request_counts.failed = Integer(*it, "failed");
  }
  return batch;
}

absl::StatusOr<BatchList> BatchList::FromJson(const json& value) {
  if (auto status = RequireObject(value, "list"); !status.ok()) return status;
  BatchList list;
  if (auto it = value.find("data"); it != value.end() && it->is_array()) {
    for (const auto& item : *it) {
      auto batch = BatchObject::FromJson(item);
      if (!batch.ok()) return batch.status();
      list.data.push_back(*std::move(batch));
    }
  }
  if (auto it = value.find("has_more"); it != value.end() && it->is_boolean()) {
    list.has_more = it->get<bool>();
  }
  list.last_id = Text(value, "last_id");
  if (list.last_id.empty() && !list.data.empty()) list.last_id = list.data.back().id;
  return list;
}

}  // namespace batchscribe::openai
