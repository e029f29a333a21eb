// scheduler/shell_quote.h
//
// What makes a value safe to put in a batch script. Two defences, used together:
//  - validation: names (run, project, account, job name) and Slurm directive values
//    (partition, GRES type, constraint) and paths in `#SBATCH` lines may only use a
//    small character set, because `#SBATCH` lines are parsed by sbatch, not by a shell,
//    and cannot be quoted. A value outside the set is a UserError naming it, the
//    offending character and what is allowed (`x'; rm -rf ~; '` and `$(id)` are refused).
//  - quoting: every value that reaches a shell command line in the script body is
//    single-quoted (shell_quote), which bash never expands, whatever the text.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace shrike::scheduler {

// 'text' with each ' written as '\'' : inert in bash, whatever `text` holds. Throws
// UserError naming `what` for text containing NUL or a newline (nothing we render may).
std::string shell_quote(std::string_view text, std::string_view what = "value");

// A name that becomes a folder name, a job name or a Slurm value: 1-100 characters of
// A-Z a-z 0-9 . _ -, not starting with '.' or '-'. `what` names it in the error
// ("run name (name=)").
void check_name(std::string_view value, std::string_view what);

// A Slurm directive value (partition, account, GRES type, constraint): letters, digits
// and . _ - plus, for constraints, the operators & | , ! : [ ] * ( ). Empty is allowed
// only when `may_be_empty`.
void check_slurm_value(std::string_view value, std::string_view what, bool constraint_syntax, bool may_be_empty);

// An absolute path that goes into an `#SBATCH` line (the output file) or must stay
// readable in the script: letters, digits and / . _ - + @ = , : only (no spaces, quotes,
// '$', '%' (a Slurm filename pattern) or newlines).
void check_script_path(const std::filesystem::path& path, std::string_view what);

}  // namespace shrike::scheduler
