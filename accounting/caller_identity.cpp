// accounting/caller_identity.cpp: real uid, names, and the trust check of the setuid helper.
#include "accounting/caller_identity.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include "accounting/accounting_config.h"
#include "accounting/slurm_conf.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

void require_trusted_node(const fs::path& path, const std::string& what) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    fail_user("{} {} cannot be read ({}).", what, path.string(), errno_text(errno));
  }
  const uid_t owner = info.st_uid;
  if (owner != 0 && owner != geteuid()) {
    fail_user("{} {} is owned by uid {}: the ledger helper trusts only files owned by root or by its own "
              "owner (uid {}). Ask the site admin; do not point SHRIKE_CONFIG_DIR or SLURM_CONF at your own "
              "copies when using the site ledger.", what, path.string(), owner, geteuid());
  }
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    fail_user("{} {} is writable by group or others (mode {:o}); the ledger helper will not trust it. "
              "`chmod go-w` it.", what, path.string(), info.st_mode & 07777);
  }
}

}  // namespace

std::string user_name_of(uid_t uid) {
  if (const passwd* entry = getpwuid(uid); entry != nullptr && entry->pw_name != nullptr) return entry->pw_name;
  return fmt::format("uid{}", uid);
}

Caller real_caller() {
  Caller caller;
  caller.uid = getuid();
  caller.user = user_name_of(caller.uid);
  caller.is_root = caller.uid == 0;
  return caller;
}

bool running_setuid() { return getuid() != geteuid(); }

void require_trusted_file(const fs::path& path, const std::string& what) {
  const fs::path absolute = fs::absolute(path);
  require_trusted_node(absolute, what);
  require_trusted_node(absolute.parent_path(), what + "'s folder");
}

bool caller_is_admin(const Caller& caller, const AccountingConfig& config) {
  return caller.is_root || config.is_admin(caller.user);
}

bool caller_is_slurm_user(const Caller& caller) {
  const SlurmConf conf = read_slurm_conf(slurm_conf_path());
  if (conf.source.empty()) return false;
  if (running_setuid()) require_trusted_file(conf.source, "slurm.conf");
  return conf.get("SlurmUser").value_or("root") == caller.user;
}

}  // namespace shrike::accounting
