// pipeline/cli/cmd_serve.cpp: `shrike serve [--host H] [--port P] [--runs DIR]`: the web
// dashboard (dashboard/): projects and runs, live charts, comparison, credits. This
// file owns the command line: the options, refusing a non-loopback address without
// --allow-remote, the token, the start-up lines (the URL to open) and stopping on
// Ctrl-C / SIGTERM.
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "dashboard/access_token.h"
#include "dashboard/dashboard_server.h"
#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/core/interrupt.h"
#include "pipeline/train/run_folder.h"
#include "scheduler/job_registry.h"

namespace shrike::cli {

namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

CommandSpec serve_spec() {
  CommandSpec spec;
  spec.name = "serve";
  spec.usage = "shrike serve [--host 127.0.0.1] [--port 8080] [--runs DIR] [--allow-remote]";
  spec.description =
      "A web dashboard for your runs: projects with each run's state, epoch progress, best\n"
      "mAP50-95 and cost; a page per run with live charts (losses, precision, recall, mAP,\n"
      "learning rates, GPU use), its settings, the last lines of train.log and its weights;\n"
      "runs compared side by side; your credits (balance, holds, charges per run).\n\n"
      "It reads run folders under --runs (laid out <project>/<run>/ as `shrike train` writes\n"
      "them), the job registry ($SHRIKE_HOME/jobs.db) and the ledger, and never writes any of\n"
      "them; it starts without a registry or ledger. Open the printed URL: it carries a random\n"
      "token that every request needs (a login node's loopback is shared by its users); the\n"
      "page keeps it in a cookie. The token is kept in $SHRIKE_HOME/dashboard.token (mode\n"
      "600) so that open pages survive a restart; --new-token replaces it.\n\n"
      "From your own computer, tunnel the port: ssh -L 8080:127.0.0.1:8080 LOGIN_NODE.";
  spec.options.add_options()
      ("host", po::value<std::string>()->default_value("127.0.0.1")->value_name("H"),
       "address to listen on (loopback unless --allow-remote)")
      ("port", po::value<int>()->default_value(8080)->value_name("P"), "TCP port (0: any free port)")
      ("runs", po::value<std::string>()->default_value("runs")->value_name("DIR"),
       "the folder holding the projects (<project>/<run>/)")
      ("allow-remote", po::bool_switch(), "allow a --host that is not loopback (plain HTTP: prefer an SSH tunnel)")
      ("new-token", po::bool_switch(), "replace the kept token with a new random one")
      ("token-file", po::value<std::string>()->value_name("FILE"),
       "where the token is kept (default $SHRIKE_HOME/dashboard.token)");
  spec.epilog =
      "Examples:\n"
      "  shrike serve                                  http://127.0.0.1:8080/?token=...\n"
      "  shrike serve --runs /scratch/$USER/runs --port 8421\n"
      "  shrike serve --host 0.0.0.0 --allow-remote    reachable from other hosts (token still needed)";
  return spec;
}

void print_sources(const dashboard::RunCatalog& catalog) {
  const dashboard::RunsRoot& root = catalog.root();
  if (!root.exists()) {
    fmt::print("  runs      {} (does not exist yet: runs appear once `shrike train project=...` writes there)\n",
               root.dir().string());
  } else {
    std::size_t runs = 0;
    const auto projects = root.project_names();
    for (const std::string& name : projects) runs += root.run_names(root.project(name).path).size();
    fmt::print("  runs      {} ({} project(s), {} run(s))\n", root.dir().string(), projects.size(), runs);
    if (train::is_run_folder(root.dir()) || !train::find_runs(root.dir()).empty()) {
      fmt::print("            note: this folder holds run folders itself; pass the folder above it (the one "
                 "holding projects)\n");
    }
  }
  const std::string access = catalog.ledger().access();
  fmt::print("  ledger    {} ({})\n", catalog.ledger().path().string(),
             access == "none" ? "none yet: nothing charged" : access == "file" ? "read only" : "through shrike-ledger");
  if (!catalog.ledger().config_note().empty()) fmt::print("            note: {}\n", catalog.ledger().config_note());
  fmt::print("  registry  {} ({})\n", catalog.registry().path().string(),
             catalog.registry().present() ? "read only" : "none yet: no Slurm jobs submitted");
}

}  // namespace

int run_serve(const Args& args) {
  CommandSpec spec = serve_spec();
  auto values = parse_options(spec, args);
  if (!values) return kExitOk;
  const std::string host = (*values)["host"].as<std::string>();
  const int port = (*values)["port"].as<int>();
  if (!dashboard::is_loopback_host(host) && !(*values)["allow-remote"].as<bool>()) {
    fail_user("--host {} is not a loopback address: other machines could reach the dashboard. Add "
              "--allow-remote if that is what you want (the token is still required), or tunnel instead: "
              "ssh -L {}:127.0.0.1:{} LOGIN_NODE.", host, port, port);
  }
  const fs::path token_file =
      values->count("token-file") ? fs::path((*values)["token-file"].as<std::string>()) : dashboard::default_token_file();
  const dashboard::TokenSource token = dashboard::load_or_create_token(token_file, (*values)["new-token"].as<bool>());

  dashboard::RunCatalog catalog(dashboard::RunsRoot((*values)["runs"].as<std::string>()), dashboard::LedgerView(),
                                dashboard::RegistryView(scheduler::JobRegistry::default_path()));
  fmt::print("shrike serve: the dashboard of your runs (read only)\n");
  print_sources(catalog);
  dashboard::DashboardServer server(catalog, token.token);
  const int bound = server.bind(host, port);
  if (!token.note.empty()) fmt::print("  token     not kept ({}): a restart prints a new one\n", token.note);
  else fmt::print("  token     {} {}\n", token.created ? "new, kept in" : "kept in", token.file.string());
  fmt::print("\nopen  {}\n", dashboard::dashboard_url(host == "0.0.0.0" || host == "::" ? train::current_hostname() : host,
                                                      bound, token.token));
  fmt::print("(Ctrl-C stops the server)\n");
  std::fflush(stdout);

  std::atomic<bool> done{false};
  std::thread watcher([&server, &done] {
    while (!interrupt_requested() && !done) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server.stop();
  });
  const bool served = server.serve();
  done = true;
  watcher.join();
  if (!interrupt_requested()) fail_user("the server on {}:{} stopped unexpectedly", host, bound);
  fmt::print("shrike serve: stopped{}\n", served ? "" : " (with errors)");
  return kExitOk;
}

}  // namespace shrike::cli
