// accounting/caller_identity.h
//
// Who is asking: the REAL user (getuid), never the effective one, so that the setuid
// helper acts for the person who ran it; whether they are an accounting admin (root
// or accounting.yaml `admins:`) or Slurm's SlurmUser (the epilog's identity); and,
// inside the setuid helper, which configuration files may be believed: a file named
// by the caller's environment is trusted only when it and its folder are owned by
// root or by the helper's owner and writable by no one else, so a user cannot hand
// the helper their own price list or admin list.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace shrike::accounting {

struct AccountingConfig;

struct Caller {
  uid_t uid = 0;
  std::string user;          // the real user's name ("uid1234" when it has none)
  bool is_root = false;
};

Caller real_caller();
std::string user_name_of(uid_t uid);

// True when the process runs setuid (effective uid differs from the real one).
bool running_setuid();

// Throws UserError unless `path` and its folder are owned by root or the effective uid
// and not writable by group or others (see above). `what` names the file's role.
void require_trusted_file(const std::filesystem::path& path, const std::string& what);

bool caller_is_admin(const Caller& caller, const AccountingConfig& config);
// SlurmUser from slurm.conf (the epilog runs as it); false when Slurm is not configured.
bool caller_is_slurm_user(const Caller& caller);

}  // namespace shrike::accounting
