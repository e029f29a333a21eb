// accounting/ledger_backup.cpp: sqlite3_backup_* into a temporary file, then rename.
#include "accounting/ledger_backup.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <fmt/core.h>

#include <chrono>
#include <thread>

#include "accounting/ledger.h"
#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

int backup_ledger(Ledger& ledger, const fs::path& destination) {
  const fs::path temporary = temporary_sibling(destination);
  fs::remove(temporary);
  int pages = 0;
  {
    Database copy(temporary, Database::Mode::read_write_create);
    ::chmod(temporary.c_str(), 0600);
    sqlite3_backup* backup = sqlite3_backup_init(copy.handle(), "main", ledger.db().handle(), "main");
    if (backup == nullptr) {
      fail_internal("sqlite3_backup_init({} -> {}) failed: {}", ledger.path().string(), temporary.string(),
                    sqlite3_errmsg(copy.handle()));
    }
    int code = SQLITE_OK;
    do {
      code = sqlite3_backup_step(backup, 256);
      if (code == SQLITE_BUSY || code == SQLITE_LOCKED) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (code == SQLITE_OK || code == SQLITE_BUSY || code == SQLITE_LOCKED);
    pages = sqlite3_backup_pagecount(backup);
    sqlite3_backup_finish(backup);
    if (code != SQLITE_DONE) {
      fs::remove(temporary);
      fail_internal("sqlite3_backup_step({} -> {}) failed: {}", ledger.path().string(), temporary.string(),
                    sqlite3_errstr(code));
    }
    {
      Statement check = copy.prepare("PRAGMA integrity_check");
      if (!check.step() || check.column_text(0) != "ok") {
        fs::remove(temporary);
        fail_internal("the backup {} failed its integrity check: {}", temporary.string(), check.column_text(0));
      }
    }  // finalized before the journal mode changes
    copy.exec("PRAGMA journal_mode = DELETE");  // a single self-contained file
  }
  fsync_path(temporary);
  rename_durably(temporary, destination);
  return pages;
}

}  // namespace shrike::accounting
