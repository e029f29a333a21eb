// dashboard/dashboard_server.h
//
// `shrike serve`: the HTTP server (cpp-httplib) behind the dashboard. It serves the page
// (web_assets.h), the JSON API over the run folders, the job registry and the ledger
// (run_catalog.h), live run updates as Server-Sent Events (metrics_stream.h) and the
// run folders' files (weights, exports, logs) for download. Every request must carry
// the access token (access_token.h); every path a request names is checked by
// runs_root.h. It only reads: nothing it serves is ever written by it.
//
// API (all GET; names are single path components, see runs_root.h):
//   /api/overview                              projects and their runs
//   /api/projects/P                            one project's runs
//   /api/projects/P/runs/R                     one run: state, progress, settings, files, cost
//   /api/projects/P/runs/R/metrics             records to draw its charts, and the offset to stream from
//   /api/projects/P/runs/R/events[?from=N]     SSE: records after byte N (or Last-Event-ID), status changes
//   /api/projects/P/runs/R/log[?lines=N]       the last lines of train.log
//   /api/projects/P/runs/R/files/F             a file of the run (F: a name, or weights/NAME)
//   /api/projects/P/compare[?runs=A,B]         runs side by side (all of the project's by default)
//   /api/credits                               the user's accounts: balance, holds, charges per run
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "dashboard/run_catalog.h"

namespace shrike::dashboard {

// 127.0.0.0/8, ::1 (and its IPv4-mapped form), "localhost", or a host name whose every
// address is one of those.
bool is_loopback_host(const std::string& host);

class DashboardServer {
 public:
  // `catalog` must outlive the server.
  DashboardServer(RunCatalog& catalog, std::string token);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  // Binds `host`:`port` (port 0: any free port); returns the port bound. UserError when
  // the address is taken or cannot be bound, naming it and what to do.
  int bind(const std::string& host, int port);
  // Serves until stop() (from another thread); returns false when serving failed.
  bool serve();
  void stop();

  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// "http://HOST:PORT/?token=TOKEN" ([HOST] for IPv6 literals).
std::string dashboard_url(const std::string& host, int port, const std::string& token);

}  // namespace shrike::dashboard
