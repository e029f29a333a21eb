// accounting/sqlite_db.cpp: checked SQLite calls.
#include "accounting/sqlite_db.h"

#include <sqlite3.h>

#include <fmt/core.h>

#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace {

// Waits this long for another writer (a concurrent settle) before giving up.
constexpr int kBusyTimeoutMs = 60'000;

[[noreturn]] void fail_sqlite(sqlite3* db, std::string_view call, std::string_view sql, int code) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    fail_user("the ledger stayed locked by another process for {} s ({} failed: {}). Retry; if it "
              "persists, look for a hung `shrike accounting` process.", kBusyTimeoutMs / 1000, call, message);
  }
  if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM || code == SQLITE_AUTH) {
    fail_user("{} failed on the ledger: {} (SQL: {}). Check the ledger file's owner and mode, or run as "
              "the ledger's owner.", call, message, sql);
  }
  fail_internal("{} failed: {} (code {}, SQL: {})", call, message, code, sql);
}

}  // namespace

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db), sql_(sql) {
  const int code = sqlite3_prepare_v2(db_, sql_.data(), static_cast<int>(sql_.size()), &stmt_, nullptr);
  if (code != SQLITE_OK) fail_sqlite(db_, "sqlite3_prepare_v2", sql_, code);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::int64_t value) {
  const int code = sqlite3_bind_int64(stmt_, index, value);
  if (code != SQLITE_OK) fail_sqlite(db_, fmt::format("sqlite3_bind_int64(#{})", index), sql_, code);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  const int code = sqlite3_bind_double(stmt_, index, value);
  if (code != SQLITE_OK) fail_sqlite(db_, fmt::format("sqlite3_bind_double(#{})", index), sql_, code);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  const int code = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  if (code != SQLITE_OK) fail_sqlite(db_, fmt::format("sqlite3_bind_text(#{})", index), sql_, code);
  return *this;
}

Statement& Statement::bind_null(int index) {
  const int code = sqlite3_bind_null(stmt_, index);
  if (code != SQLITE_OK) fail_sqlite(db_, fmt::format("sqlite3_bind_null(#{})", index), sql_, code);
  return *this;
}

Statement& Statement::bind_optional(int index, const std::optional<std::string>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

bool Statement::step() {
  const int code = sqlite3_step(stmt_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  fail_sqlite(db_, "sqlite3_step", sql_, code);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::column_int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }
bool Statement::column_is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::string Statement::column_text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  return text != nullptr ? std::string(reinterpret_cast<const char*>(text)) : std::string();
}

Database::Database(const std::filesystem::path& path, Mode mode) : path_(path) {
  const int flags = mode == Mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int code = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (code != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
    sqlite3_close(db_);
    db_ = nullptr;
    fail_user("cannot open the ledger {}: {}. Check that the folder exists and that you may {} it "
              "(SHRIKE_LEDGER or accounting.yaml `ledger:` name it).",
              path.string(), message, mode == Mode::read_only ? "read" : "write");
  }
  sqlite3_extended_result_codes(db_, 0);
  const int busy = sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  if (busy != SQLITE_OK) fail_sqlite(db_, "sqlite3_busy_timeout", "", busy);
}

Database::~Database() { sqlite3_close(db_); }

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* error = nullptr;
  const int code = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (code != SQLITE_OK) {
    sqlite3_free(error);
    fail_sqlite(db_, "sqlite3_exec", text, code);
  }
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

ImmediateTransaction::ImmediateTransaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

ImmediateTransaction::~ImmediateTransaction() {
  if (open_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void ImmediateTransaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

ReadTransaction::ReadTransaction(Database& db) : db_(db) { db_.exec("BEGIN DEFERRED"); }
ReadTransaction::~ReadTransaction() { sqlite3_exec(db_.handle(), "COMMIT", nullptr, nullptr, nullptr); }

}  // namespace shrike::accounting
