// dashboard/access_token.cpp: token generation, the token file and cookie parsing.
#include "dashboard/access_token.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"

namespace shrike::dashboard {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kTokenBytes = 32;

bool is_token_text(const std::string& text) {
  if (text.size() != 2 * kTokenBytes) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The file exists: it must be ours, regular, and closed to group and others.
std::string read_token_file(const fs::path& file) {
  struct stat info {};
  if (::lstat(file.c_str(), &info) != 0) {
    fail_user("cannot read the dashboard token file {}: {}", file.string(), errno_text(errno));
  }
  if (!S_ISREG(info.st_mode) || info.st_uid != ::geteuid() || (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    fail_user("the dashboard token file {} must be a regular file of yours that only you may read (mode 600); "
              "it is not, so others could know the token. Remove it (a new one is made) or run "
              "`chmod 600 {}`.", file.string(), file.string());
  }
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  if (!is_token_text(token)) {
    fail_user("the dashboard token file {} does not hold a token (64 hex characters). Remove it, or start "
              "with --new-token, and a new one is written.", file.string());
  }
  return token;
}

// Writes a fresh token readable only by us; returns the reason when it cannot.
std::string write_token_file(const fs::path& file, const std::string& token) {
  std::error_code error;
  fs::create_directories(file.parent_path(), error);
  if (error) return fmt::format("cannot create {} ({})", file.parent_path().string(), error.message());
  const fs::path temporary = temporary_sibling(file);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fmt::format("cannot write {} ({})", temporary.string(), errno_text(errno));
  const std::string line = token + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    fs::remove(temporary, error);
    return fmt::format("cannot write {} ({})", temporary.string(), errno_text(errno));
  }
  try {
    rename_durably(temporary, file);
  } catch (const UserError& failure) {
    fs::remove(temporary, error);
    return failure.what();
  }
  return {};
}

fs::path home_folder() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_dir != nullptr) return entry->pw_dir;
  return {};
}

}  // namespace

std::string random_token() {
  std::array<unsigned char, kTokenBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    fail_internal("RAND_bytes({}) failed: {}", bytes.size(), ERR_error_string(ERR_get_error(), nullptr));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char byte : bytes) {
    token += kHex[byte >> 4];
    token += kHex[byte & 15];
  }
  return token;
}

fs::path default_token_file() {
  if (const char* home = std::getenv("SHRIKE_HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / "dashboard.token";
  }
  const fs::path home = home_folder();
  return home.empty() ? fs::path() : home / ".shrike" / "dashboard.token";
}

TokenSource load_or_create_token(const fs::path& file, bool renew) {
  TokenSource source;
  std::error_code error;
  if (!file.empty() && !renew && fs::exists(fs::symlink_status(file, error))) {
    source.token = read_token_file(file);
    source.file = file;
    return source;
  }
  source.token = random_token();
  if (file.empty()) {
    source.note = "no home folder to keep the token in (set SHRIKE_HOME)";
    return source;
  }
  const std::string problem = write_token_file(file, source.token);
  if (problem.empty()) {
    source.file = file;
    source.created = true;
  } else {
    source.note = problem;
  }
  return source;
}

bool token_matches(std::string_view presented, std::string_view token) {
  return presented.size() == token.size() && !token.empty() &&
         CRYPTO_memcmp(presented.data(), token.data(), token.size()) == 0;
}

std::string token_cookie_name(int port) { return "shrike_token_" + std::to_string(port); }

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const std::size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const std::size_t equals = pair.find('=');
    if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
      std::string_view value = pair.substr(equals + 1);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      return std::string(value);
    }
  }
  return {};
}

std::string token_set_cookie(std::string_view name, std::string_view token) {
  return fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict", name, token);
}

}  // namespace shrike::dashboard
