#include "libs/queue/task_queue.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

namespace batchscribe::queue {
namespace {

// Times cross the wire as microseconds since the epoch so that the caller's
// clock, not the database's, decides what "now" is.
int64_t Micros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
constexpr const char* kTs = "to_timestamp($%d::double precision / 1000000)";

std::string Ts(int param) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), kTs, param);
  return buf;
}

TimePoint FromEpochSeconds(double seconds) {
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(seconds)));
}

// Array literal for kinds; kinds are plain identifiers chosen by code.
std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += "\"" + items[i] + "\"";
  }
  return out + "}";
}

double UnitRandom() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// The fence: every outcome UPDATE of a task is conditioned on the caller
// still holding its lease, and takes the row lock in the same round trip.
// RETURNING rerun reads the flag under that lock: nobody can set it any more
// (Enqueue's UPDATE only matches running tasks, and waits for this one).
constexpr const char* kFence = " AND lease_token = $2::uuid AND state = 'running' RETURNING rerun";

absl::Status LeaseLost(pqxx::work& tx, const Task& task) {
  tx.abort();
  return absl::FailedPreconditionError("lease lost for task " + std::to_string(task.id));
}

// A task enqueued again while it ran gets a fresh available copy once it ends.
void RequeueIfAsked(pqxx::work& tx, const Task& task, TimePoint now) {
  tx.exec_params(
      "WITH enqueued AS (INSERT INTO tasks (kind, subject, batch_id, payload, max_attempts, "
      "  run_at) SELECT kind, subject, batch_id, payload, max_attempts, " +
          Ts(2) +
          " FROM tasks WHERE id = $1 AND rerun "
          "ON CONFLICT (subject, kind) WHERE state IN ('available', 'running') DO NOTHING "
          "RETURNING kind) "
          "SELECT pg_notify($3, kind) FROM enqueued",
      task.id, Micros(now), kNotifyChannel);
}

}  // namespace

std::chrono::milliseconds Backoff(int attempt, double unit_random) {
  double base = std::min(std::pow(std::max(attempt, 1), 4.0), 3600.0);
  double jitter = 1.0 + 0.2 * (unit_random - 0.5);  // +-10%
  return std::chrono::milliseconds(static_cast<int64_t>(base * jitter * 1000.0));
}

bool Enqueue(pqxx::work& tx, const NewTask& task) {
  const std::string payload = task.payload.dump();
  std::optional<int64_t> run_at;
  if (task.run_at.has_value()) run_at = Micros(*task.run_at);
  // Bounded: each round either inserts, or finds a live task it can leave to
  // see this state (available, or running and told to run again).
  for (int round = 0; round < 3; ++round) {
    auto r = tx.exec_params(
        "WITH enqueued AS (INSERT INTO tasks (kind, subject, batch_id, payload, max_attempts, "
        "  run_at) VALUES ($1, $2, $3, $4::jsonb, $5, coalesce(" +
            Ts(6) +
            ", now())) "
            "ON CONFLICT (subject, kind) WHERE state IN ('available', 'running') DO NOTHING "
            "RETURNING id) "
            "SELECT id, pg_notify($7, $1) FROM enqueued",
        task.kind, task.subject, task.batch_id, payload, task.max_attempts, run_at, kNotifyChannel);
    if (!r.empty()) return true;
    // A live task exists. If it is running it may already have read the state
    // this enqueue is about: ask for one more run after it ends.
    auto asked = tx.exec_params(
        "UPDATE tasks SET rerun = true WHERE subject = $1 AND kind = $2 AND state = 'running'",
        task.subject, task.kind);
    if (asked.affected_rows() > 0) return false;
    // No running one: the live task is available (it will see this state)...
    auto available = tx.exec_params(
        "SELECT 1 FROM tasks WHERE subject = $1 AND kind = $2 AND state = 'available'",
        task.subject, task.kind);
    if (!available.empty()) return false;
    // ...or the running one ended between the two statements: insert again.
  }
  return false;
}

TaskQueue::TaskQueue(pqxx::connection& conn, const Clock& clock, QueueOptions options)
    : conn_(conn), clock_(clock), options_(std::move(options)) {}

std::vector<Task> TaskQueue::Claim(const std::vector<std::string>& kinds, int limit) {
  const TimePoint now = clock_.Now();
  const int64_t lease_us =
      std::chrono::duration_cast<std::chrono::microseconds>(options_.lease).count();
  pqxx::work tx(conn_);
  auto r = tx.exec_params(
      "UPDATE tasks t SET state = 'running', attempt = t.attempt + 1, "
      "  lease_token = gen_random_uuid(), lease_owner = $1, rerun = false, "
      "  lease_expires_at = " +
          Ts(2) +
          " + make_interval(secs => $3::double precision / 1000000), "
          "  update_time = " +
          Ts(2) +
          " FROM (SELECT id FROM tasks "
          "       WHERE state = 'available' AND run_at <= " +
          Ts(2) +
          "         AND attempt < max_attempts "
          "         AND (cardinality($4::text[]) = 0 OR kind = ANY($4::text[])) "
          "       ORDER BY run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) c "
          "WHERE t.id = c.id "
          "RETURNING t.id, t.kind, t.subject, t.batch_id, t.payload::text, t.attempt, "
          "  t.max_attempts, t.lease_token::text, extract(epoch from t.lease_expires_at)",
      options_.owner, Micros(now), lease_us, TextArray(kinds), limit);
  tx.commit();
  std::vector<Task> tasks;
  tasks.reserve(r.size());
  for (const auto& row : r) {
    Task t;
    t.id = row[0].as<int64_t>();
    t.kind = row[1].as<std::string>();
    t.subject = row[2].as<std::string>();
    t.batch_id = row[3].as<std::string>();
    t.payload = nlohmann::json::parse(row[4].as<std::string>());
    t.attempt = row[5].as<int>();
    t.max_attempts = row[6].as<int>();
    t.lease_token = row[7].as<std::string>();
    t.lease_expires_at = FromEpochSeconds(row[8].as<double>());
    tasks.push_back(std::move(t));
  }
  std::sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.id < b.id; });
  return tasks;
}

bool TaskQueue::Heartbeat(const Task& task) {
  const TimePoint now = clock_.Now();
  const int64_t lease_us =
      std::chrono::duration_cast<std::chrono::microseconds>(options_.lease).count();
  pqxx::work tx(conn_);
  auto r = tx.exec_params(
      "UPDATE tasks SET lease_expires_at = " + Ts(3) +
          " + make_interval(secs => $4::double precision / 1000000), update_time = " + Ts(3) +
          " WHERE id = $1 AND lease_token = $2::uuid AND state = 'running'",
      task.id, task.lease_token, Micros(now), lease_us);
  tx.commit();
  return r.affected_rows() == 1;
}

absl::Status TaskQueue::Complete(const Task& task, const std::function<void(pqxx::work&)>& work) {
  const TimePoint now = clock_.Now();
  pqxx::work tx(conn_);
  // Mark it done first so that `work` may enqueue a successor of the same kind.
  auto fenced = tx.exec_params(
      "UPDATE tasks SET state = 'succeeded', lease_token = NULL, lease_expires_at = NULL, "
      "  last_error = NULL, update_time = " +
          Ts(3) + ", finish_time = " + Ts(3) + " WHERE id = $1" + kFence,
      task.id, task.lease_token, Micros(now));
  if (fenced.empty()) return LeaseLost(tx, task);
  if (work) work(tx);
  if (fenced[0][0].as<bool>()) RequeueIfAsked(tx, task, now);
  tx.commit();
  return absl::OkStatus();
}

absl::StatusOr<bool> TaskQueue::Fail(const Task& task, const Failure& failure,
                                     const std::function<void(pqxx::work&, bool)>& work) {
  const TimePoint now = clock_.Now();
  pqxx::work tx(conn_);
  const bool final = failure.permanent || task.attempt >= task.max_attempts;
  pqxx::result fenced;
  if (final) {
    fenced = tx.exec_params(
        "UPDATE tasks SET state = 'failed', lease_token = NULL, lease_expires_at = NULL, "
        "  last_error = $3, update_time = " +
            Ts(4) + ", finish_time = " + Ts(4) + " WHERE id = $1" + kFence,
        task.id, task.lease_token, failure.error, Micros(now));
  } else {
    auto delay = failure.retry_after.value_or(std::chrono::milliseconds(static_cast<int64_t>(
        Backoff(task.attempt, UnitRandom()).count() * options_.backoff_scale)));
    fenced = tx.exec_params(
        "UPDATE tasks SET state = 'available', lease_token = NULL, lease_owner = NULL, "
        "  lease_expires_at = NULL, last_error = $3, run_at = " +
            Ts(4) + ", update_time = " + Ts(5) + " WHERE id = $1" + kFence,
        task.id, task.lease_token, failure.error, Micros(now + delay), Micros(now));
  }
  if (fenced.empty()) return LeaseLost(tx, task);
  if (work) work(tx, final);
  if (final && fenced[0][0].as<bool>()) RequeueIfAsked(tx, task, now);
  tx.commit();
  return final;
}

absl::Status TaskQueue::Snooze(const Task& task, std::chrono::milliseconds delay,
                               const std::function<void(pqxx::work&)>& work,
                               const std::string& note) {
  const TimePoint now = clock_.Now();
  pqxx::work tx(conn_);
  // A snooze is not an attempt: give back the one the claim took.
  auto fenced = tx.exec_params(
      "UPDATE tasks SET state = 'available', attempt = GREATEST(attempt - 1, 0), "
      "  lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL, rerun = false, "
      "  last_error = NULLIF($3, ''), run_at = " +
          Ts(4) + ", update_time = " + Ts(5) + " WHERE id = $1" + kFence,
      task.id, task.lease_token, note, Micros(now + delay), Micros(now));
  if (fenced.empty()) return LeaseLost(tx, task);
  if (work) work(tx);
  tx.commit();
  return absl::OkStatus();
}

int RescueExpiredLeases(pqxx::connection& conn, TimePoint now) {
  pqxx::work tx(conn);
  auto r = tx.exec_params(
      "UPDATE tasks SET "
      "  state = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'available' END, "
      "  finish_time = CASE WHEN attempt >= max_attempts THEN " +
          Ts(1) +
          " END, "
          "  last_error = 'lease expired (held by ' || coalesce(lease_owner, '?') || ')', "
          "  lease_token = NULL, lease_expires_at = NULL, run_at = " +
          Ts(1) + ", update_time = " + Ts(1) +
          " WHERE id IN (SELECT id FROM tasks WHERE state = 'running' AND lease_expires_at < " +
          Ts(1) + " FOR UPDATE SKIP LOCKED) RETURNING kind, state",
      Micros(now));
  for (const auto& row : r) {
    if (row[1].as<std::string>() == "available") {
      tx.exec_params("SELECT pg_notify($1, $2)", kNotifyChannel, row[0].as<std::string>());
    }
  }
  tx.commit();
  return static_cast<int>(r.size());
}

class TaskWakeup::Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& conn, bool& flag)
      : pqxx::notification_receiver(conn, kNotifyChannel), flag_(flag) {}
  void operator()(const std::string&, int) override { flag_ = true; }

 private:
  bool& flag_;
};

TaskWakeup::TaskWakeup(pqxx::connection& conn) : conn_(conn) {
  receiver_ = std::make_unique<Receiver>(conn_, notified_);
}

TaskWakeup::~TaskWakeup() = default;

bool TaskWakeup::Wait(std::chrono::milliseconds timeout) {
  notified_ = false;
  conn_.get_notifs();
  if (notified_) return true;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  conn_.await_notification(secs.count(), usecs.count());
  return notified_;
}

}  // namespace batchscribe::queue
