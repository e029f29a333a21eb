// scheduler/job_registry.cpp: the jobs table in $SHRIKE_HOME/jobs.db.
#include "scheduler/job_registry.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <system_error>

#include "accounting/sqlite_db.h"
#include "pipeline/core/error.h"
#include "pipeline/core/utc_time.h"

namespace shrike::scheduler {

namespace fs = std::filesystem;
using accounting::Database;
using accounting::ImmediateTransaction;

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  cluster TEXT NOT NULL,
  job_id TEXT NOT NULL,
  array_job_id TEXT NOT NULL DEFAULT '',
  raw_job_id TEXT NOT NULL DEFAULT '',
  account TEXT NOT NULL,
  user TEXT NOT NULL,
  project TEXT NOT NULL,
  run TEXT NOT NULL,
  run_dir TEXT NOT NULL,
  instance TEXT NOT NULL,
  gpus INTEGER NOT NULL,
  nodes INTEGER NOT NULL,
  hold_key TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  elapsed_seconds REAL NOT NULL DEFAULT 0,
  submitted_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  stop_requested INTEGER NOT NULL DEFAULT 0,
  resumed_from TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '',
  imgsz INTEGER NOT NULL DEFAULT 0,
  gflops_per_image REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (cluster, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_account ON jobs (account, state);
CREATE INDEX IF NOT EXISTS jobs_by_run ON jobs (run_dir);
)sql";

constexpr const char* kColumns =
    "cluster, job_id, array_job_id, raw_job_id, account, user, project, run, run_dir, instance, gpus, nodes, "
    "hold_key, state, reason, elapsed_seconds, submitted_at, updated_at, stop_requested, resumed_from, model, imgsz, "
    "gflops_per_image";

const std::set<std::string> kActiveStates = {"pending",  "running",   "configuring", "completing", "requeued",
                                             "requeue_hold", "requeue_fed", "resizing", "suspended", "stopped",
                                             "signaling", "stage_out", "resv_del_hold"};

fs::path home_folder() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_dir != nullptr) return entry->pw_dir;
  fail_user("cannot tell where your home folder is (HOME is not set); set SHRIKE_HOME.");
}

JobRecord read_row(const accounting::Statement& row) {
  JobRecord job;
  int c = 0;
  job.cluster = row.column_text(c++);
  job.job_id = row.column_text(c++);
  job.array_job_id = row.column_text(c++);
  job.raw_job_id = row.column_text(c++);
  job.account = row.column_text(c++);
  job.user = row.column_text(c++);
  job.project = row.column_text(c++);
  job.run = row.column_text(c++);
  job.run_dir = row.column_text(c++);
  job.instance = row.column_text(c++);
  job.gpus = static_cast<int>(row.column_int64(c++));
  job.nodes = static_cast<int>(row.column_int64(c++));
  job.hold_key = row.column_text(c++);
  job.state = row.column_text(c++);
  job.reason = row.column_text(c++);
  job.elapsed_seconds = row.column_double(c++);
  job.submitted_at = row.column_text(c++);
  job.updated_at = row.column_text(c++);
  job.stop_requested = row.column_int64(c++) != 0;
  job.resumed_from = row.column_text(c++);
  job.model = row.column_text(c++);
  job.imgsz = static_cast<int>(row.column_int64(c++));
  job.gflops_per_image = row.column_double(c++);
  return job;
}

}  // namespace

bool is_active_state(const std::string& state) { return kActiveStates.count(state) > 0; }

fs::path JobRegistry::default_path() {
  if (const char* home = std::getenv("SHRIKE_HOME"); home != nullptr && *home != '\0') return fs::path(home) / "jobs.db";
  return home_folder() / ".shrike" / "jobs.db";
}

JobRegistry::JobRegistry(const fs::path& path) : path_(path) {
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error || ::access(path.parent_path().c_str(), W_OK) != 0) {
    fail_user("cannot write the job registry folder {} ({}). Set SHRIKE_HOME to a folder of yours.",
              path.parent_path().string(), error ? error.message() : errno_text(errno));
  }
  db_ = std::make_unique<Database>(path, Database::Mode::read_write_create);
  ImmediateTransaction transaction(*db_);
  accounting::Statement version = db_->prepare("PRAGMA user_version");
  const std::int64_t found = version.step() ? version.column_int64(0) : 0;
  if (found > kSchemaVersion) {
    fail_user("the job registry {} was written by a newer shrike (schema {}, this one knows {}); use that shrike.",
              path.string(), found, kSchemaVersion);
  }
  db_->exec(kSchema);
  db_->exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
  transaction.commit();
}

JobRegistry::~JobRegistry() = default;

void JobRegistry::add(const std::vector<JobRecord>& jobs) {
  ImmediateTransaction transaction(*db_);
  const std::string now = utc_timestamp_now();
  for (const JobRecord& job : jobs) {
    accounting::Statement insert = db_->prepare(
        std::string("INSERT OR REPLACE INTO jobs (") + kColumns +
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
        "?22, ?23)");
    insert.bind(1, job.cluster).bind(2, job.job_id).bind(3, job.array_job_id).bind(4, job.raw_job_id);
    insert.bind(5, job.account).bind(6, job.user).bind(7, job.project).bind(8, job.run).bind(9, job.run_dir);
    insert.bind(10, job.instance).bind(11, job.gpus).bind(12, job.nodes).bind(13, job.hold_key);
    insert.bind(14, job.state).bind(15, job.reason).bind(16, job.elapsed_seconds);
    insert.bind(17, job.submitted_at.empty() ? now : job.submitted_at).bind(18, now);
    insert.bind(19, job.stop_requested ? 1 : 0).bind(20, job.resumed_from).bind(21, job.model);
    insert.bind(22, job.imgsz).bind(23, job.gflops_per_image);
    insert.run();
  }
  transaction.commit();
}

std::vector<JobRecord> JobRegistry::query(const std::string& where, const std::vector<std::string>& params) const {
  accounting::Statement select =
      db_->prepare(std::string("SELECT ") + kColumns + " FROM jobs " + where);
  for (std::size_t i = 0; i < params.size(); ++i) select.bind(static_cast<int>(i + 1), params[i]);
  std::vector<JobRecord> jobs;
  while (select.step()) jobs.push_back(read_row(select));
  return jobs;
}

std::vector<JobRecord> JobRegistry::find(const std::string& id) const {
  std::vector<JobRecord> jobs = query("WHERE job_id = ?1 OR raw_job_id = ?1 ORDER BY submitted_at", {id});
  if (!jobs.empty()) return jobs;
  return query("WHERE array_job_id = ?1 ORDER BY job_id", {id});
}

std::optional<JobRecord> JobRegistry::latest_for_run(const std::string& run_dir) const {
  std::vector<JobRecord> jobs = query("WHERE run_dir = ?1 ORDER BY submitted_at DESC, rowid DESC LIMIT 1", {run_dir});
  if (jobs.empty()) return std::nullopt;
  return jobs.front();
}

std::vector<JobRecord> JobRegistry::list(const std::string& account) const {
  if (account.empty()) return query("ORDER BY submitted_at DESC, rowid DESC", {});
  return query("WHERE account = ?1 ORDER BY submitted_at DESC, rowid DESC", {account});
}

std::vector<JobRecord> JobRegistry::active() const {
  std::vector<JobRecord> active;
  for (JobRecord& job : list()) {
    if (is_active_state(job.state)) active.push_back(std::move(job));
  }
  return active;
}

void JobRegistry::update_state(const JobRecord& job, const std::string& state, const std::string& reason,
                               double elapsed_seconds, const std::string& raw_job_id) {
  ImmediateTransaction transaction(*db_);
  accounting::Statement update = db_->prepare(
      "UPDATE jobs SET state = ?1, reason = ?2, elapsed_seconds = ?3, "
      "raw_job_id = CASE WHEN ?4 = '' THEN raw_job_id ELSE ?4 END, updated_at = ?5 WHERE cluster = ?6 AND job_id = ?7");
  update.bind(1, state).bind(2, reason).bind(3, elapsed_seconds).bind(4, raw_job_id).bind(5, utc_timestamp_now());
  update.bind(6, job.cluster).bind(7, job.job_id);
  update.run();
  transaction.commit();
}

void JobRegistry::mark_stop_requested(const JobRecord& job, const std::string& reason) {
  ImmediateTransaction transaction(*db_);
  accounting::Statement update = db_->prepare(
      "UPDATE jobs SET stop_requested = 1, reason = ?1, updated_at = ?2 WHERE cluster = ?3 AND job_id = ?4");
  update.bind(1, reason).bind(2, utc_timestamp_now()).bind(3, job.cluster).bind(4, job.job_id);
  update.run();
  transaction.commit();
}

}  // namespace shrike::scheduler
