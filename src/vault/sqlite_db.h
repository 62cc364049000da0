// A thin RAII layer over one SQLite connection: open with the vault's durability settings,
// prepared statements with typed binds, and transactions that roll back unless committed.
// Thread safety: a SqliteDb is used by one thread at a time (callers hold their own mutex).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace pgcmk::vault {

class SqliteStatement {
 public:
  SqliteStatement(SqliteStatement&& o) noexcept;
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  SqliteStatement(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Binds are 1-based like SQLite's.
  SqliteStatement& Bind(int index, std::string_view text);
  SqliteStatement& Bind(int index, std::int64_t value);
  SqliteStatement& BindBlob(int index, ByteView blob);
  SqliteStatement& BindNull(int index);
  SqliteStatement& BindOptional(int index, const std::optional<std::int64_t>& value);

  // Steps once: true when a row is available, false when done.
  Result<bool> Step();
  // Runs to completion (for statements without rows).
  Status Run();
  // Makes the statement runnable again (binds are kept until rebound).
  void Reset();

  std::string ColumnText(int col) const;
  std::int64_t ColumnInt(int col) const;
  std::optional<std::int64_t> ColumnOptionalInt(int col) const;
  Bytes ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  friend class SqliteDb;
  // `cache`: where to return the prepared statement on destruction (nullptr = finalize).
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, std::vector<sqlite3_stmt*>* cache)
      : db_(db), stmt_(stmt), cache_(cache) {}
  Status Check(int rc, std::string_view what) const;
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::vector<sqlite3_stmt*>* cache_;
  Status bind_error_;
};

class SqliteDb {
 public:
  // Opens (creating if needed, mode 0600) with journal_mode=WAL, synchronous=FULL, foreign keys on,
  // a busy timeout, and secure_delete on (freed pages holding sealed key material are zeroed).
  static Result<SqliteDb> Open(const std::filesystem::path& path, bool read_only = false);

  SqliteDb(SqliteDb&& o) noexcept;
  SqliteDb& operator=(SqliteDb&& o) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  ~SqliteDb();

  // Statements are cached per SQL text and reused (reset, bindings cleared) after the
  // SqliteStatement is destroyed; the SqliteDb must outlive its statements.
  Result<SqliteStatement> Prepare(std::string_view sql);
  Status Exec(std::string_view sql);  // one or more statements without results

  Status Begin() { return Exec("BEGIN IMMEDIATE"); }
  Status Commit() { return Exec("COMMIT"); }
  void Rollback();  // best effort; errors are ignored because the caller already failed

  sqlite3* raw() { return db_; }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  void FinalizeCached();
  sqlite3* db_ = nullptr;
  std::unique_ptr<std::unordered_map<std::string, std::vector<sqlite3_stmt*>>> cache_ =
      std::make_unique<std::unordered_map<std::string, std::vector<sqlite3_stmt*>>>();
};

// Rolls back on scope exit unless Commit() succeeded.
class SqliteTransaction {
 public:
  static Result<SqliteTransaction> Begin(SqliteDb& db);
  SqliteTransaction(SqliteTransaction&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  SqliteTransaction(const SqliteTransaction&) = delete;
  ~SqliteTransaction();
  Status Commit();

 private:
  explicit SqliteTransaction(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;
};

}  // namespace pgcmk::vault
