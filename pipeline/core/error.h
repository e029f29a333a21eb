// pipeline/core/error.h
//
// The two kinds of failure shrike reports, and the exit codes the CLI maps them to:
//  - UserError (exit 1): bad input the user can fix. The message says what was wrong,
//    where (file, line, key) and what to do; it is printed as "error: <message>".
//  - InternalError (exit 2): a bug or an environment failure we did not anticipate.
// Anything else that escapes a command (std::exception) is also reported as exit 2.
#pragma once

#include <fmt/core.h>

#include <stdexcept>
#include <string>

namespace shrike {

enum ExitCode : int { kExitOk = 0, kExitUserError = 1, kExitInternal = 2, kExitInterrupted = 130 };

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& message) : std::runtime_error(message) {}
};

// Thrown when the user interrupted (SIGINT/SIGTERM) a long command; exit 130.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

template <typename... Args>
[[noreturn]] void fail_user(fmt::format_string<Args...> format, Args&&... args) {
  throw UserError(fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void fail_internal(fmt::format_string<Args...> format, Args&&... args) {
  throw InternalError(fmt::format(format, std::forward<Args>(args)...));
}

// The text of errno `err` ("No such file or directory"), for messages that also say
// which file and what to do.
std::string errno_text(int err);

}  // namespace shrike
