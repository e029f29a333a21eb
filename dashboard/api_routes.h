// dashboard/api_routes.h
//
// The JSON API and file routes of the dashboard (listed in dashboard_server.h) on a
// cpp-httplib server: each handler turns the names in the path into run folders
// through RunsRoot (400 for a name that is not a plain name, 403 for one that
// resolves outside the runs root, 404 when missing) and answers from RunCatalog.
// Authentication happens before any of these run (dashboard_server.cpp).
#pragma once

#include <atomic>

namespace httplib {
class Server;
}

namespace shrike::dashboard {

class RunCatalog;

// `stopping` ends the Server-Sent Event streams when the server shuts down.
void add_api_routes(httplib::Server& server, RunCatalog& catalog, const std::atomic<bool>& stopping);

}  // namespace shrike::dashboard
