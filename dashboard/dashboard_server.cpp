// dashboard/dashboard_server.cpp: server set-up, the token check, security headers and
// the page's assets; the API handlers are in api_routes.cpp.
#include "dashboard/dashboard_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>

#include <httplib.h>

#include <fmt/core.h>

#include <cstring>
#include <iostream>

#include "dashboard/access_token.h"
#include "dashboard/api_routes.h"
#include "dashboard/web_assets.h"
#include "pipeline/core/error.h"

namespace shrike::dashboard {

namespace {

// SSE streams hold a thread each for as long as a page is open.
constexpr std::size_t kWorkerThreads = 48;

bool is_loopback_address(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (address->sa_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

const httplib::Headers& security_headers() {
  // Everything the page loads comes from this server; nothing may frame it, and the
  // token in the first URL must not leak through a Referer header.
  static const httplib::Headers headers = {
      {"Content-Security-Policy",
       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-store"},
  };
  return headers;
}

bool wants_html(const httplib::Request& req) {
  return req.path.rfind("/api/", 0) != 0 && req.get_header_value("Accept").find("text/html") != std::string::npos;
}

void refuse(const httplib::Request& req, httplib::Response& res, int status, const std::string& why) {
  res.status = status;
  if (wants_html(req)) {
    res.set_content(fmt::format("<!doctype html><meta charset=utf-8><title>shrike</title><p>{}</p><p>Open the "
                                "address that <code>shrike serve</code> printed when it started (it ends with "
                                "<code>?token=...</code>).</p>", why),
                    "text/html; charset=utf-8");
  } else {
    res.set_content(nlohmann::json{{"error", why}}.dump(), "application/json");
  }
}

// The path with the query string removed (the token must not stay in the address bar).
std::string location_without_token(const httplib::Request& req) {
  std::string query;
  for (const auto& [key, value] : req.params) {
    if (key == "token") continue;
    query.push_back(query.empty() ? '?' : '&');
    query.append(httplib::detail::encode_query_param(key)).append("=").append(httplib::detail::encode_query_param(value));
  }
  return req.path + query;
}

std::string presented_token(const httplib::Request& req, const std::string& cookie_name) {
  const std::string cookie = cookie_value(req.get_header_value("Cookie"), cookie_name);
  if (!cookie.empty()) return cookie;
  const std::string authorization = req.get_header_value("Authorization");
  for (const char* scheme : {"Bearer ", "token "}) {
    if (authorization.rfind(scheme, 0) == 0) return authorization.substr(std::strlen(scheme));
  }
  return {};
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (host.empty() || ::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool loopback = found != nullptr;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    loopback = loopback && is_loopback_address(entry->ai_addr);
  }
  ::freeaddrinfo(found);
  return loopback;
}

std::string dashboard_url(const std::string& host, int port, const std::string& token) {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}/?token={}", v6 ? "[" : "", host, v6 ? "]" : "", port, token);
}

struct DashboardServer::Impl {
  Impl(RunCatalog& catalog_in, std::string token_in) : catalog(catalog_in), token(std::move(token_in)) {}

  RunCatalog& catalog;
  std::string token;
  std::string cookie_name;
  std::atomic<bool> stopping{false};
  httplib::Server server;

  httplib::Server::HandlerResponse authenticate(const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      refuse(req, res, 405, "the dashboard only reads: " + req.method + " is not allowed");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.has_param("token")) {
      if (!token_matches(req.get_param_value("token"), token)) {
        refuse(req, res, 403, "wrong token");
        return httplib::Server::HandlerResponse::Handled;
      }
      res.set_header("Set-Cookie", token_set_cookie(cookie_name, token));
      if (req.path.rfind("/api/", 0) != 0) {  // a page: drop the token from the address bar
        res.set_redirect(location_without_token(req), 303);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (token_matches(presented_token(req, cookie_name), token)) return httplib::Server::HandlerResponse::Unhandled;
    refuse(req, res, 401, "this dashboard needs its access token");
    return httplib::Server::HandlerResponse::Handled;
  }

  void add_page_routes() {
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
      const WebAsset* page = find_web_asset("index.html");
      res.set_content(page->bytes().data(), page->size, std::string(content_type_of(page->name)));
    });
    server.Get("/assets/([^/]+)", [](const httplib::Request& req, httplib::Response& res) {
      const WebAsset* asset = find_web_asset(req.matches[1].str());
      if (asset == nullptr || asset->name == "index.html") {
        res.status = 404;
        res.set_content("no such asset", "text/plain");
        return;
      }
      res.set_content(asset->bytes().data(), asset->size, std::string(content_type_of(asset->name)));
    });
  }

  void configure() {
    // SO_REUSEADDR (restart at once after a stop) but not cpp-httplib's SO_REUSEPORT, with
    // which a second server of the same user would silently share the port.
    server.set_socket_options([](socket_t sock) {
      const int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
    server.set_default_headers(security_headers());
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return authenticate(req, res);
    });
    server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
      std::string what = "unknown error";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& caught) {
        what = caught.what();
      } catch (...) {
      }
      std::cerr << fmt::format("shrike serve: {} {}: {}\n", req.method, req.path, what);
      res.status = 500;
      res.set_content(nlohmann::json{{"error", what}}.dump(), "application/json");
    });
    add_page_routes();
    add_api_routes(server, catalog, stopping);
  }
};

DashboardServer::DashboardServer(RunCatalog& catalog, std::string token)
    : impl_(std::make_unique<Impl>(catalog, std::move(token))) {
  ::signal(SIGPIPE, SIG_IGN);  // a browser that goes away must not end the server
  impl_->configure();
}

DashboardServer::~DashboardServer() = default;

int DashboardServer::bind(const std::string& host, int port) {
  if (port < 0 || port > 65535) fail_user("--port {} is not a TCP port (0-65535; 0 picks a free one)", port);
  const int bound = port == 0 ? impl_->server.bind_to_any_port(host) : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    fail_user("cannot listen on {}:{} ({}). Is another server using the port? Choose another with --port, or "
              "--port 0 for any free one.", host, port, errno_text(errno));
  }
  port_ = bound;
  impl_->cookie_name = token_cookie_name(bound);
  return bound;
}

bool DashboardServer::serve() { return impl_->server.listen_after_bind(); }

void DashboardServer::stop() {
  impl_->stopping = true;
  impl_->server.stop();
}

}  // namespace shrike::dashboard
