// dashboard/job_registry_view.cpp: the jobs table of jobs.db, read only.
#include "dashboard/job_registry_view.h"

#include <system_error>

#include "accounting/sqlite_db.h"

namespace shrike::dashboard {

namespace fs = std::filesystem;

RegistryView::RegistryView(fs::path path) : path_(std::move(path)) {}

bool RegistryView::present() const {
  std::error_code error;
  return fs::is_regular_file(path_, error);
}

std::vector<JobView> RegistryView::jobs(std::string& note) const {
  std::vector<JobView> jobs;
  if (!present()) return jobs;
  try {
    accounting::Database db(path_, accounting::Database::Mode::read_only);
    accounting::Statement select = db.prepare(
        "SELECT cluster, job_id, account, project, run, run_dir, instance, state, reason, submitted_at, updated_at, "
        "gpus, nodes, elapsed_seconds FROM jobs ORDER BY submitted_at DESC, job_id DESC");
    while (select.step()) {
      JobView job;
      int c = 0;
      for (std::string* text : {&job.cluster, &job.job_id, &job.account, &job.project, &job.run, &job.run_dir,
                                &job.instance, &job.state, &job.reason, &job.submitted_at, &job.updated_at}) {
        *text = select.column_text(c++);
      }
      job.gpus = static_cast<int>(select.column_int64(c++));
      job.nodes = static_cast<int>(select.column_int64(c++));
      job.elapsed_seconds = select.column_double(c++);
      jobs.push_back(std::move(job));
    }
  } catch (const std::exception& error) {
    note = "job registry " + path_.string() + ": " + error.what();
  }
  return jobs;
}

nlohmann::json job_view_json(const JobView& job) {
  return {{"cluster", job.cluster},   {"job_id", job.job_id},     {"account", job.account},
          {"instance", job.instance}, {"gpus", job.gpus},         {"nodes", job.nodes},
          {"state", job.state},       {"reason", job.reason},     {"submitted_at", job.submitted_at},
          {"updated_at", job.updated_at}, {"elapsed_seconds", job.elapsed_seconds}};
}

}  // namespace shrike::dashboard
