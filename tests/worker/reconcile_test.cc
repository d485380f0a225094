// Reconcile-before-create against a scripted OpenAI client: the shard's batch
// is found by metadata across pages, failed batches are skipped, and paging
// stops at batches older than the shard.

#include <gtest/gtest.h>

#include <deque>

#include "services/worker/openai_reconcile.h"

namespace batchscribe::worker {
namespace {

using openai::BatchList;
using openai::BatchObject;

// Serves ListBatches from a fixed newest-first list; everything else is unused.
class ListingClient : public openai::OpenAiClient {
 public:
  explicit ListingClient(std::vector<BatchObject> batches) : batches_(std::move(batches)) {}
  int pages = 0;

  absl::StatusOr<BatchList> ListBatches(const std::string& after, int limit) override {
    ++pages;
    size_t start = 0;
    if (!after.empty()) {
      while (start < batches_.size() && batches_[start].id != after) ++start;
      ++start;
    }
    BatchList list;
    for (size_t i = start; i < batches_.size() && static_cast<int>(list.data.size()) < limit; ++i) {
      list.data.push_back(batches_[i]);
    }
    list.has_more = start + list.data.size() < batches_.size();
    list.last_id = list.data.empty() ? "" : list.data.back().id;
    return list;
  }
  absl::StatusOr<openai::FileObject> UploadBatchFile(const std::filesystem::path&,
                                                     const std::string&) override {
    return absl::InternalError("this fake only lists batches");
  }
  absl::StatusOr<BatchObject> CreateBatch(const openai::CreateBatchRequest&) override {
    return absl::InternalError("this fake only lists batches");
  }
  absl::StatusOr<BatchObject> RetrieveBatch(const std::string&) override {
    return absl::InternalError("this fake only lists batches");
  }
  absl::StatusOr<BatchObject> CancelBatch(const std::string&) override {
    return absl::InternalError("this fake only lists batches");
  }
  absl::Status DownloadFileContent(const std::string&, const std::filesystem::path&) override {
    return absl::InternalError("this fake only lists batches");
  }
  absl::Status DeleteFile(const std::string&) override {
    return absl::InternalError("this fake only lists batches");
  }
  absl::StatusOr<nlohmann::json> CreateChatCompletion(const std::string&) override {
    return absl::InternalError("this fake only lists batches");
  }

 private:
  std::vector<BatchObject> batches_;
};

BatchObject Batch(const std::string& id, int64_t created, const std::string& batch,
                  const std::string& shard, const std::string& status = "in_progress") {
  BatchObject b;
  b.id = id;
  b.created_at = created;
  b.status = status;
  if (!batch.empty()) b.metadata = ShardMetadata(batch, shard);
  return b;
}

std::vector<BatchObject> Newest(int count, int64_t newest_created) {
  std::vector<BatchObject> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(Batch("batch_other_" + std::to_string(i), newest_created - i, "other", "s0001"));
  }
  return out;
}

TEST(ReconcileTest, FindsTheShardsBatchOnALaterPage) {
  auto batches = Newest(250, 10'000);
  batches.push_back(Batch("batch_mine", 9'000, "b1", "s0002"));
  ListingClient client(batches);
  auto found = FindShardBatch(client, "b1", "s0002", 5'000);
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, "batch_mine");
  EXPECT_EQ(client.pages, 3);
}

TEST(ReconcileTest, IgnoresFailedAndAbandonedBatchesAndOtherShards) {
  ListingClient client({Batch("batch_failed", 100, "b1", "s0001", "failed"),
                        Batch("batch_gone", 99, "b1", "s0001", "expired"),
                        Batch("batch_other_shard", 98, "b1", "s0002"),
                        Batch("batch_other_batch", 97, "b2", "s0001")});
  auto found = FindShardBatch(client, "b1", "s0001", 0, {"batch_gone"});
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
}

TEST(ReconcileTest, StopsAtBatchesOlderThanTheShard) {
  auto batches = Newest(1000, 10'000);
  ListingClient client(batches);
  // Only the first page holds batches created after 9'950.
  auto found = FindShardBatch(client, "b1", "s0001", 9'950);
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  EXPECT_EQ(client.pages, 2);
}

}  // namespace
}  // namespace batchscribe::worker
