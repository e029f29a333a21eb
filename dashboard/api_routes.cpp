// dashboard/api_routes.cpp: the API handlers (see api_routes.h and dashboard_server.h).
#include "dashboard/api_routes.h"

#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <memory>

#include "dashboard/metrics_stream.h"
#include "dashboard/run_catalog.h"
#include "dashboard/web_assets.h"

namespace shrike::dashboard {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kNamePattern = "([^/]+)";
constexpr int kDefaultLogLines = 60;
constexpr int kMaxLogLines = 2000;

void send_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, {{"error", message}}, status);
}

// A lookup that failed, as an HTTP answer. Returns true when it did fail.
bool answer_failed_lookup(const Resolved& found, const std::string& what, httplib::Response& res) {
  switch (found.result) {
    case Lookup::found:
      return false;
    case Lookup::bad_name:
      send_error(res, 400, what + ": not a plain file or folder name");
      return true;
    case Lookup::outside_root:
      send_error(res, 403, what + ": outside the runs folder");
      return true;
    case Lookup::not_found:
      break;
  }
  send_error(res, 404, what + ": not found");
  return true;
}

std::string pattern(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '*' ? std::string(kNamePattern) : std::string(1, c);
  return out;
}

// Handler of a route under /api/projects/P/runs/R: resolves the run, then calls `handle`.
template <typename Handle>
httplib::Server::Handler run_handler(RunCatalog& catalog, Handle handle) {
  return [&catalog, handle](const httplib::Request& req, httplib::Response& res) {
    const Resolved run = catalog.root().run(req.matches[1].str(), req.matches[2].str());
    if (answer_failed_lookup(run, "run " + req.matches[1].str() + "/" + req.matches[2].str(), res)) return;
    handle(req, res, run.path);
  };
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) names.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return names;
}

void send_file(const fs::path& file, const std::string& name, httplib::Response& res) {
  auto in = std::make_shared<std::ifstream>(file, std::ios::binary);
  std::error_code error;
  const auto size = fs::file_size(file, error);
  if (!*in || error) return send_error(res, 404, name + ": cannot be read");
  std::string safe_name = fs::path(name).filename().string();
  std::replace_if(safe_name.begin(), safe_name.end(), [](char c) { return c == '"' || c == ';'; }, '_');
  const bool text = content_type_of(name).starts_with("text/") || name.ends_with(".json") ||
                    name.ends_with(".jsonl") || name.ends_with(".svg");
  res.set_header("Content-Disposition", (text ? "inline; filename=\"" : "attachment; filename=\"") + safe_name + "\"");
  res.set_content_provider(
      size, std::string(content_type_of(name)),
      [in](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
        std::vector<char> buffer(std::min<std::size_t>(length, 1 << 16));
        in->seekg(static_cast<std::streamoff>(offset));
        in->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const auto got = static_cast<std::size_t>(in->gcount());
        return got > 0 && sink.write(buffer.data(), got);
      });
}

void add_run_routes(httplib::Server& server, RunCatalog& catalog, const std::atomic<bool>& stopping) {
  const std::string run = pattern("/api/projects/*/runs/*");
  server.Get(run, run_handler(catalog, [&catalog](const auto&, auto& res, const fs::path& dir) {
    send_json(res, catalog.run(dir));
  }));
  server.Get(run + "/metrics", run_handler(catalog, [](const auto&, auto& res, const fs::path& dir) {
    const MetricsSnapshot snapshot = read_metrics_snapshot(dir / "metrics.jsonl");
    send_json(res, {{"records", snapshot.records}, {"offset", snapshot.offset}, {"skipped_lines", snapshot.skipped}});
  }));
  server.Get(run + "/log", run_handler(catalog, [](const httplib::Request& req, auto& res, const fs::path& dir) {
    int lines = kDefaultLogLines;
    if (req.has_param("lines")) {
      const auto parsed = parse_offset(req.get_param_value("lines"));
      if (!parsed) return send_error(res, 400, "lines: not a number");
      lines = static_cast<int>(std::min<std::uint64_t>(*parsed, kMaxLogLines));
    }
    send_json(res, {{"lines", tail_lines(dir / "train.log", lines)}});
  }));
  server.Get(run + "/files/(weights/[^/]+|[^/]+)",
             run_handler(catalog, [&catalog](const httplib::Request& req, auto& res, const fs::path& dir) {
               const std::string relative = req.matches[3].str();
               const Resolved file = catalog.root().file_in_run(dir, relative);
               if (answer_failed_lookup(file, relative, res)) return;
               send_file(file.path, relative, res);
             }));
  server.Get(run + "/events",
             run_handler(catalog, [&stopping](const httplib::Request& req, auto& res, const fs::path& dir) {
               std::optional<std::uint64_t> offset = std::uint64_t{0};
               if (req.has_header("Last-Event-ID")) {
                 offset = parse_offset(req.get_header_value("Last-Event-ID"));
               } else if (req.has_param("from")) {
                 offset = parse_offset(req.get_param_value("from"));
               }
               if (!offset) return send_error(res, 400, "from / Last-Event-ID: not a byte offset");
               auto stream = std::make_shared<RunEventStream>(dir, *offset);
               res.set_header("Cache-Control", "no-store");
               res.set_header("X-Accel-Buffering", "no");
               res.set_chunked_content_provider(
                   "text/event-stream", [stream, &stopping](std::size_t, httplib::DataSink& sink) {
                     const std::string chunk = stream->next_chunk(stopping);
                     if (chunk.empty()) return !stopping.load();
                     return sink.write(chunk.data(), chunk.size());
                   });
             }));
}

}  // namespace

void add_api_routes(httplib::Server& server, RunCatalog& catalog, const std::atomic<bool>& stopping) {
  server.Get("/api/overview", [&catalog](const auto&, auto& res) { send_json(res, catalog.overview()); });
  server.Get("/api/credits", [&catalog](const auto&, auto& res) { send_json(res, catalog.credits()); });
  server.Get(pattern("/api/projects/*"), [&catalog](const httplib::Request& req, httplib::Response& res) {
    const Resolved project = catalog.root().project(req.matches[1].str());
    if (answer_failed_lookup(project, "project " + req.matches[1].str(), res)) return;
    send_json(res, catalog.project(req.matches[1].str(), project.path));
  });
  server.Get(pattern("/api/projects/*/compare"), [&catalog](const httplib::Request& req, httplib::Response& res) {
    const std::string project = req.matches[1].str();
    const Resolved project_dir = catalog.root().project(project);
    if (answer_failed_lookup(project_dir, "project " + project, res)) return;
    std::vector<std::string> names = split_names(req.get_param_value("runs"));
    if (names.empty()) names = catalog.root().run_names(project_dir.path);
    std::vector<fs::path> dirs;
    for (const std::string& name : names) {
      const Resolved run = catalog.root().run(project, name);
      if (answer_failed_lookup(run, "run " + project + "/" + name, res)) return;
      dirs.push_back(run.path);
    }
    send_json(res, catalog.compare(dirs));
  });
  add_run_routes(server, catalog, stopping);
  server.Get("/api/.*", [](const httplib::Request& req, httplib::Response& res) {
    send_error(res, 404, "no such API: " + req.path);
  });
}

}  // namespace shrike::dashboard
