// accounting/sqlite_db.h
//
// A thin RAII layer over the SQLite C API for the ledger: a connection, prepared
// statements with typed binds and columns, and transactions that roll back unless
// committed. Every call is checked; a failure names the call, the SQL and SQLite's
// message. Nothing here knows about credits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace shrike::accounting {

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds by 1-based position; returns *this so binds chain.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind_null(int index);
  Statement& bind_optional(int index, const std::optional<std::string>& value);

  // Advances: true when a row is available, false when done. Throws on errors
  // (a UNIQUE violation included: callers check existence first inside a transaction).
  bool step();
  // step() for statements that return no rows.
  void run();
  void reset();

  std::int64_t column_int64(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;  // "" for NULL
  bool column_is_null(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Database {
 public:
  enum class Mode { read_write_create, read_only };
  Database(const std::filesystem::path& path, Mode mode);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  Statement prepare(std::string_view sql) { return Statement(db_, sql); }
  std::int64_t last_insert_rowid() const;
  int changes() const;
  sqlite3* handle() const { return db_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back by the destructor unless commit() ran. IMMEDIATE
// takes the write lock up front, so two settlers never both read "not yet charged"
// (the second waits on busy_timeout, then sees the first one's commit).
class ImmediateTransaction {
 public:
  explicit ImmediateTransaction(Database& db);
  ~ImmediateTransaction();
  ImmediateTransaction(const ImmediateTransaction&) = delete;
  ImmediateTransaction& operator=(const ImmediateTransaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool open_ = true;
};

// A read snapshot (BEGIN DEFERRED ... COMMIT) so multi-query reports see one state.
class ReadTransaction {
 public:
  explicit ReadTransaction(Database& db);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Database& db_;
};

}  // namespace shrike::accounting
