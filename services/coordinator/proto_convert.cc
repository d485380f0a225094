#include "services/coordinator/proto_convert.h"

namespace batchscribe::coordinator {

v1::BatchState BatchStateFromDb(std::string_view state) {
  if (state == "PENDING") return v1::BATCH_STATE_PENDING;
  if (state == "RUNNING") return v1::BATCH_STATE_RUNNING;
  if (state == "CANCELLING") return v1::BATCH_STATE_CANCELLING;
  if (state == "SUCCEEDED") return v1::BATCH_STATE_SUCCEEDED;
  if (state == "PARTIALLY_SUCCEEDED") return v1::BATCH_STATE_PARTIALLY_SUCCEEDED;
  if (state == "FAILED") return v1::BATCH_STATE_FAILED;
  if (state == "CANCELLED") return v1::BATCH_STATE_CANCELLED;
  return v1::BATCH_STATE_UNSPECIFIED;
}

std::string_view BatchStateToDb(v1::BatchState state) {
  switch (state) {
    case v1::BATCH_STATE_PENDING:
      return "PENDING";
    case v1::BATCH_STATE_RUNNING:
      return "RUNNING";
    case v1::BATCH_STATE_CANCELLING:
      return "CANCELLING";
    case v1::BATCH_STATE_SUCCEEDED:
      return "SUCCEEDED";
    case v1::BATCH_STATE_PARTIALLY_SUCCEEDED:
      return "PARTIALLY_SUCCEEDED";
    case v1::BATCH_STATE_FAILED:
      return "FAILED";
    case v1::BATCH_STATE_CANCELLED:
      return "CANCELLED";
    default:
      return "";
  }
}

bool IsFinalBatchState(v1::BatchState state) {
  return state == v1::BATCH_STATE_SUCCEEDED || state == v1::BATCH_STATE_PARTIALLY_SUCCEEDED ||
         state == v1::BATCH_STATE_FAILED || state == v1::BATCH_STATE_CANCELLED;
}

v1::DocumentState DocumentStateFromDb(std::string_view state) {
  if (state == "PENDING") return v1::DOCUMENT_STATE_PENDING;
  if (state == "PREPARED") return v1::DOCUMENT_STATE_PREPARED;
  if (state == "SUBMITTED") return v1::DOCUMENT_STATE_SUBMITTED;
  if (state == "SUCCEEDED") return v1::DOCUMENT_STATE_SUCCEEDED;
  if (state == "FAILED") return v1::DOCUMENT_STATE_FAILED;
  if (state == "SKIPPED") return v1::DOCUMENT_STATE_SKIPPED;
  if (state == "CANCELLED") return v1::DOCUMENT_STATE_CANCELLED;
  return v1::DOCUMENT_STATE_UNSPECIFIED;
}

std::string_view DocumentStateToDb(v1::DocumentState state) {
  switch (state) {
    case v1::DOCUMENT_STATE_PENDING:
      return "PENDING";
    case v1::DOCUMENT_STATE_PREPARED:
      return "PREPARED";
    case v1::DOCUMENT_STATE_SUBMITTED:
      return "SUBMITTED";
    case v1::DOCUMENT_STATE_SUCCEEDED:
      return "SUCCEEDED";
    case v1::DOCUMENT_STATE_FAILED:
      return "FAILED";
    case v1::DOCUMENT_STATE_SKIPPED:
      return "SKIPPED";
    case v1::DOCUMENT_STATE_CANCELLED:
      return "CANCELLED";
    default:
      return "";
  }
}

v1::Mode ModeFromDb(std::string_view mode) {
  if (mode == "BATCH") return v1::MODE_BATCH;
  if (mode == "SYNC") return v1::MODE_SYNC;
  return v1::MODE_UNSPECIFIED;
}

std::string_view ModeToDb(v1::Mode mode) { return mode == v1::MODE_SYNC ? "SYNC" : "BATCH"; }

v1::SplitPolicy SplitPolicyFromDb(std::string_view policy) {
  if (policy == "AUTO") return v1::SPLIT_POLICY_AUTO;
  if (policy == "ALLOW") return v1::SPLIT_POLICY_ALLOW;
  if (policy == "NEVER") return v1::SPLIT_POLICY_NEVER;
  return v1::SPLIT_POLICY_UNSPECIFIED;
}

std::string_view SplitPolicyToDb(v1::SplitPolicy policy) {
  switch (policy) {
    case v1::SPLIT_POLICY_ALLOW:
      return "ALLOW";
    case v1::SPLIT_POLICY_NEVER:
      return "NEVER";
    default:
      return "AUTO";
  }
}

void SetTimestamp(int64_t micros, google::protobuf::Timestamp* out) {
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

int64_t TimestampMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

bool IsValidTimestamp(const google::protobuf::Timestamp& ts) {
  // 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, as google/protobuf/timestamp.proto says.
  return ts.seconds() >= -62135596800LL && ts.seconds() <= 253402300799LL && ts.nanos() >= 0 &&
         ts.nanos() <= 999999999;
}

}  // namespace batchscribe::coordinator
