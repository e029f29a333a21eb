// dashboard/access_token.h
//
// Who may read the dashboard. A login node's loopback is shared by all its users, so
// binding to 127.0.0.1 protects nothing by itself: every request must carry a random
// token (as Jupyter does). `shrike serve` prints a URL ending `?token=...`; the first
// request with it gets the token back as a cookie (HttpOnly: scripts cannot read it;
// SameSite=Strict: other sites cannot make the browser send it), named after the port
// so that two users' servers on one host do not overwrite each other's cookie.
//
// The token is kept in a file readable only by its owner ($SHRIKE_HOME/dashboard.token
// by default), so that a restarted server accepts the pages and bookmarks that are
// still open; `--new-token` replaces it. Tokens are 32 bytes from OpenSSL's RAND_bytes,
// in hex, and compared in constant time.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace shrike::dashboard {

// 64 hex characters from RAND_bytes (InternalError if OpenSSL has no entropy).
std::string random_token();

struct TokenSource {
  std::string token;
  std::filesystem::path file;  // where it is kept; empty when it is kept nowhere
  bool created = false;        // written now (first start, or --new-token)
  std::string note;            // why it could not be kept, for the user
};

// $SHRIKE_HOME/dashboard.token (SHRIKE_HOME defaults to ~/.shrike).
std::filesystem::path default_token_file();

// Reads the token in `file`, or writes a new random one there (mode 0600, replacing an
// old one when `renew`). A file that others may read or write, or that is not a regular
// file of this user's, is refused with a UserError saying how to fix it; a folder that
// cannot be written leaves the token unsaved (a note says so) rather than failing.
TokenSource load_or_create_token(const std::filesystem::path& file, bool renew);

// Constant-time comparison (CRYPTO_memcmp) of a presented token with the real one.
bool token_matches(std::string_view presented, std::string_view token);

// "shrike_token_<port>".
std::string token_cookie_name(int port);
// The value of cookie `name` in a Cookie request header, "" when absent.
std::string cookie_value(std::string_view cookie_header, std::string_view name);
// The Set-Cookie header value that stores `token`.
std::string token_set_cookie(std::string_view name, std::string_view token);

}  // namespace shrike::dashboard
