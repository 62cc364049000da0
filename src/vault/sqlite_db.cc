#include "vault/sqlite_db.h"

#include <sys/stat.h>

#include <utility>

#include "common/status.h"

namespace pgcmk::vault {

namespace {
Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  if (primary == SQLITE_FULL) return Status(StatusCode::kIoError, msg, ENOSPC);
  if (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN)
    return Status(StatusCode::kIoError, msg);
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    return Status(StatusCode::kDataLoss, msg);
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return Status(StatusCode::kUnavailable, msg);
  }
  if (primary == SQLITE_CONSTRAINT) return Status(StatusCode::kAlreadyExists, msg);
  return Status(StatusCode::kInternal, msg);
}
}  // namespace

SqliteStatement::SqliteStatement(SqliteStatement&& o) noexcept
    : db_(o.db_),
      stmt_(std::exchange(o.stmt_, nullptr)),
      cache_(o.cache_),
      bind_error_(std::move(o.bind_error_)) {}

SqliteStatement::~SqliteStatement() {
  if (stmt_ == nullptr) return;
  if (cache_ != nullptr && cache_->size() < 8) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    cache_->push_back(stmt_);
    return;
  }
  sqlite3_finalize(stmt_);
}

Status SqliteStatement::Check(int rc, std::string_view what) const {
  if (rc == SQLITE_OK) return Status::Ok();
  return SqliteError(db_, rc, what);
}

SqliteStatement& SqliteStatement::Bind(int index, std::string_view text) {
  int rc =
      sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  if (bind_error_.ok()) bind_error_ = Check(rc, "bind");
  return *this;
}
SqliteStatement& SqliteStatement::Bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_error_.ok()) bind_error_ = Check(rc, "bind");
  return *this;
}
SqliteStatement& SqliteStatement::BindBlob(int index, ByteView blob) {
  int rc =
      sqlite3_bind_blob(stmt_, index, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  if (bind_error_.ok()) bind_error_ = Check(rc, "bind");
  return *this;
}
SqliteStatement& SqliteStatement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (bind_error_.ok()) bind_error_ = Check(rc, "bind");
  return *this;
}
SqliteStatement& SqliteStatement::BindOptional(int index, const std::optional<std::int64_t>& v) {
  return v ? Bind(index, *v) : BindNull(index);
}

Result<bool> SqliteStatement::Step() {
  if (!bind_error_.ok()) return Err(bind_error_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Err(SqliteError(db_, rc, "sqlite step"));
}

Status SqliteStatement::Run() {
  while (true) {
    auto r = Step();
    if (!r) return r.error();
    if (!*r) return Status::Ok();
  }
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  bind_error_ = Status::Ok();
}

std::string SqliteStatement::ColumnText(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}
std::int64_t SqliteStatement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
std::optional<std::int64_t> SqliteStatement::ColumnOptionalInt(int col) const {
  if (ColumnIsNull(col)) return std::nullopt;
  return ColumnInt(col);
}
Bytes SqliteStatement::ColumnBlob(int col) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return {};
  return Bytes(p, p + n);
}
bool SqliteStatement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Result<SqliteDb> SqliteDb::Open(const std::filesystem::path& path, bool read_only) {
  sqlite3* raw = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  // The database holds sealed key material and the audit log: no group or world access.
  mode_t old_umask = ::umask(077);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  ::umask(old_umask);
  SqliteDb db(raw);
  if (rc != SQLITE_OK) return Err(SqliteError(raw, rc, "open " + path.string()));
  sqlite3_busy_timeout(raw, 10000);
  if (!read_only) {
    PGCMK_RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=WAL"));
  }
  PGCMK_RETURN_IF_ERROR(
      db.Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;"));
  return db;
}

SqliteDb::SqliteDb(SqliteDb&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), cache_(std::move(o.cache_)) {}
SqliteDb& SqliteDb::operator=(SqliteDb&& o) noexcept {
  if (this != &o) {
    FinalizeCached();
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = std::exchange(o.db_, nullptr);
    cache_ = std::move(o.cache_);
  }
  return *this;
}
SqliteDb::~SqliteDb() {
  FinalizeCached();
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

void SqliteDb::FinalizeCached() {
  if (!cache_) return;
  for (auto& [sql, stmts] : *cache_) {
    for (sqlite3_stmt* st : stmts) sqlite3_finalize(st);
  }
  cache_->clear();
}

Result<SqliteStatement> SqliteDb::Prepare(std::string_view sql) {
  auto& slot = (*cache_)[std::string(sql)];
  if (!slot.empty()) {
    sqlite3_stmt* st = slot.back();
    slot.pop_back();
    return SqliteStatement(db_, st, &slot);
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Err(SqliteError(db_, rc, "prepare"));
  return SqliteStatement(db_, stmt, &slot);
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string s(sql);
  char* errmsg = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &errmsg);
  if (errmsg != nullptr) sqlite3_free(errmsg);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "exec");
  return Status::Ok();
}

void SqliteDb::Rollback() {
  // Ignored on purpose: the transaction already failed, and SQLite rolls back on error anyway.
  (void)Exec("ROLLBACK");
}

Result<SqliteTransaction> SqliteTransaction::Begin(SqliteDb& db) {
  PGCMK_RETURN_IF_ERROR(db.Begin());
  return SqliteTransaction(&db);
}
SqliteTransaction::~SqliteTransaction() {
  if (db_ != nullptr) db_->Rollback();
}
Status SqliteTransaction::Commit() {
  Status s = db_->Commit();
  if (s.ok()) db_ = nullptr;
  return s;
}

}  // namespace pgcmk::vault
