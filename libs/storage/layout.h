#pragma once
// The storage layout of docs/CONTRACTS.md, in one place:
//   <storage_root>/transcripts/<model>/<document_id>.json
//   <storage_root>/batches/<batch_id>/shards/<shard_id>/{input,output,errors}.jsonl
// Callers pass validated names (model from the price table, ids checked by
// ValidateDocumentId and the batch/shard id rules), so each is one path component.

#include <filesystem>
#include <string>
#include <string_view>

namespace batchscribe::storage {

/// "transcripts/<model>/<document_id>.json": the transcript path relative to
/// the storage root, as recorded in documents.transcript_path.
std::string TranscriptRelativePath(std::string_view model, std::string_view document_id);

/// <storage_root>/transcripts/<model>/<document_id>.json
std::filesystem::path TranscriptPath(const std::filesystem::path& storage_root,
                                     std::string_view model, std::string_view document_id);

/// True when the transcript of `document_id` for `model` exists as a regular file.
bool TranscriptExists(const std::filesystem::path& storage_root, std::string_view model,
                      std::string_view document_id);

/// <storage_root>/batches/<batch_id>/shards/<shard_id>
std::filesystem::path ShardDir(const std::filesystem::path& storage_root, std::string_view batch_id,
                               std::string_view shard_id);

/// "batches/<batch_id>/parts/<document_id>/p0001-0040.json": the answer of one
/// part of a document sent in parts, relative to the storage root, kept until
/// the document's transcript is stitched (and after: it was paid for).
std::string PartAnswerRelativePath(std::string_view batch_id, std::string_view document_id,
                                   int first_page, int last_page);

/// The three files of a shard folder.
inline constexpr std::string_view kShardInputFile = "input.jsonl";
inline constexpr std::string_view kShardOutputFile = "output.jsonl";
inline constexpr std::string_view kShardErrorsFile = "errors.jsonl";

}  // namespace batchscribe::storage
