#pragma once
// Conversions between database values and API enums/timestamps. States are
// upper-case text in the database (docs/CONTRACTS.md) and enums in the API.

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "batchscribe/v1/batch_service.pb.h"

namespace batchscribe::coordinator {

namespace v1 = ::batchscribe::v1;

/// "PENDING" -> BATCH_STATE_PENDING; UNSPECIFIED for an unknown text.
v1::BatchState BatchStateFromDb(std::string_view state);
std::string_view BatchStateToDb(v1::BatchState state);
/// True for SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED and CANCELLED.
bool IsFinalBatchState(v1::BatchState state);

v1::DocumentState DocumentStateFromDb(std::string_view state);
/// "" for UNSPECIFIED or an unknown value.
std::string_view DocumentStateToDb(v1::DocumentState state);

/// "BATCH"/"SYNC" <-> MODE_BATCH/MODE_SYNC.
v1::Mode ModeFromDb(std::string_view mode);
std::string_view ModeToDb(v1::Mode mode);

/// "AUTO"/"ALLOW"/"NEVER" <-> SPLIT_POLICY_AUTO/ALLOW/NEVER; UNSPECIFIED is
/// stored as AUTO, an unknown text reads as UNSPECIFIED.
v1::SplitPolicy SplitPolicyFromDb(std::string_view policy);
std::string_view SplitPolicyToDb(v1::SplitPolicy policy);

/// Microseconds since the epoch <-> Timestamp.
void SetTimestamp(int64_t micros, google::protobuf::Timestamp* out);
int64_t TimestampMicros(const google::protobuf::Timestamp& ts);
/// OK when seconds/nanos are in the range Timestamp allows.
bool IsValidTimestamp(const google::protobuf::Timestamp& ts);

}  // namespace batchscribe::coordinator
