// scheduler/shell_quote.cpp: single quoting and the character sets of shell_quote.h.
#include "scheduler/shell_quote.h"

#include <fmt/core.h>

#include "pipeline/core/error.h"

namespace shrike::scheduler {

namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// How to show a refused character: printable as itself, others as a code.
std::string shown(char c) {
  if (c >= 0x21 && c < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("character 0x{:02x}", static_cast<unsigned char>(c));
}

// The first character of `value` not allowed by `allowed`, or npos.
template <typename Allowed>
std::size_t first_refused(std::string_view value, Allowed allowed) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!allowed(value[i])) return i;
  }
  return std::string_view::npos;
}

}  // namespace

std::string shell_quote(std::string_view text, std::string_view what) {
  for (char c : text) {
    if (c == '\0' || c == '\n' || c == '\r') {
      fail_user("{} '{}' contains a line break or NUL character; remove it.", what, std::string(text));
    }
  }
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

void check_name(std::string_view value, std::string_view what) {
  if (value.empty()) fail_user("the {} is empty; use letters, digits, '.', '_' and '-'.", what);
  if (value.size() > 100) fail_user("the {} '{}' is longer than 100 characters.", what, std::string(value));
  const std::size_t bad = first_refused(value, [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
  if (bad != std::string_view::npos) {
    fail_user("the {} '{}' contains {}: it becomes a folder name and a Slurm job name, so only letters, digits, "
              "'.', '_' and '-' are allowed. Choose another name.",
              what, std::string(value), shown(value[bad]));
  }
  if (value[0] == '.' || value[0] == '-') {
    fail_user("the {} '{}' starts with '{}'; start it with a letter or digit.", what, std::string(value), value[0]);
  }
}

void check_slurm_value(std::string_view value, std::string_view what, bool constraint_syntax, bool may_be_empty) {
  if (value.empty()) {
    if (may_be_empty) return;
    fail_user("the {} is empty.", what);
  }
  if (value.size() > 200) fail_user("the {} '{}' is longer than 200 characters.", what, std::string(value));
  const std::string_view operators = "&|,!:[]*()";
  const std::size_t bad = first_refused(value, [&](char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-' ||
           (constraint_syntax && operators.find(c) != std::string_view::npos);
  });
  if (bad != std::string_view::npos) {
    fail_user("the {} '{}' contains {}, which cannot go into an #SBATCH line. Allowed: letters, digits, '.', '_', "
              "'-'{}.",
              what, std::string(value), shown(value[bad]), constraint_syntax ? " and & | , ! : [ ] * ( )" : "");
  }
  if (value[0] == '-') fail_user("the {} '{}' starts with '-'.", what, std::string(value));
}

void check_script_path(const std::filesystem::path& path, std::string_view what) {
  const std::string text = path.string();
  if (!path.is_absolute()) fail_internal("{} {} is not absolute", what, text);
  const std::size_t bad = first_refused(text, [](char c) {
    return is_alnum(c) || c == '/' || c == '.' || c == '_' || c == '-' || c == '+' || c == '@' || c == '=' ||
           c == ',' || c == ':';
  });
  if (bad != std::string::npos) {
    fail_user("the {} {} contains {}: Slurm reads it from an #SBATCH line, which cannot quote it. Use a folder "
              "whose path has only letters, digits and / . _ - + @ = , : (for example project=/scratch/me/runs).",
              what, text, shown(text[bad]));
  }
}

}  // namespace shrike::scheduler
