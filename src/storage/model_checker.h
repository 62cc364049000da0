// ModelChecker: an fsx-like randomized test driver. It applies random sequences of unaligned
// writes, truncates, extensions past EOF, holes, punched ranges, reopens, renames and hard links to
// a filesystem under test and to an in-memory model, and compares contents and sizes after every
// step. Used against the storage library directly (src/storage/model_test.cc) and against a real
// mount (tests/storage/mount_test.cc). Test-only; header-only so that it carries no link
// dependencies.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace pgcmk::storage {

// The operations a filesystem under test offers, by file name in one flat directory.
class FsUnderTest {
 public:
  virtual ~FsUnderTest() = default;
  virtual Status Create(const std::string& name) = 0;  // O_CREAT|O_EXCL, empty
  virtual Status Write(const std::string& name, std::uint64_t offset, ByteView data) = 0;
  // Reads [offset, offset + length) (short at EOF).
  virtual Result<Bytes> Read(const std::string& name, std::uint64_t offset,
                             std::uint64_t length) = 0;
  virtual Result<std::uint64_t> Size(const std::string& name) = 0;
  virtual Status Truncate(const std::string& name, std::uint64_t size) = 0;
  virtual Status PunchHole(const std::string& name, std::uint64_t offset, std::uint64_t length) = 0;
  virtual Status Reopen(const std::string& name) = 0;  // drop any cached handle
  virtual Status Rename(const std::string& from, const std::string& to) = 0;  // may replace `to`
  virtual Status Link(const std::string& from, const std::string& to) = 0;
  virtual Status Unlink(const std::string& name) = 0;
  virtual Status Sync(const std::string& name) = 0;
  // Drops every handle and cache (e.g. unmount and mount again).
  virtual Status Restart() { return Status::Ok(); }
};

class ModelChecker {
 public:
  struct Options {
    int steps = 2000;
    std::uint64_t max_size = 160 * 1024;
    int max_files = 6;
    // Every `restart_every` steps (0: never) the checker calls FsUnderTest::Restart and then
    // compares every file: through a mount this drops the kernel's caches, so the contents come
    // back from the encrypted backing files.
    int restart_every = 0;
    // Also writes of 32..96 whole units, mostly at unit-aligned offsets (the size of the
    // writeback cache's flushes, which take the library's shared-lock path). Raise max_size.
    bool large_writes = false;
  };

  ModelChecker(FsUnderTest& fs, std::uint64_t seed, Options options)
      : fs_(fs), rng_(seed), seed_(seed), options_(options) {}

  // Runs the sequence; on the first divergence returns an error naming the seed, the step and the
  // recent operations.
  Status Run() {
    for (int step = 0; step < options_.steps; ++step) {
      Status s = Step();
      if (s.ok() && step % 64 == 63) s = CheckAll();
      if (s.ok() && options_.restart_every > 0 &&
          step % options_.restart_every == options_.restart_every - 1) {
        Log("restart");
        s = fs_.Restart();
        if (s.ok()) s = CheckAll();
      }
      if (!s.ok()) return Failure(step, s);
    }
    Status s = CheckAll();
    if (!s.ok()) return Failure(options_.steps, s);
    return Status::Ok();
  }

 private:
  using Content = std::shared_ptr<Bytes>;

  Status Failure(int step, const Status& s) {
    std::string msg = "model divergence with seed " + std::to_string(seed_) + " at step " +
                      std::to_string(step) + ": " + s.ToString() + "\nrecent operations:\n";
    for (const std::string& op : log_) msg += "  " + op + "\n";
    return Status(StatusCode::kInternal, msg);
  }

  void Log(std::string op) {
    log_.push_back(std::move(op));
    if (log_.size() > 24) log_.pop_front();
  }

  std::uint64_t Uniform(std::uint64_t lo, std::uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }

  std::string PickName() {
    auto it = names_.begin();
    std::advance(it, static_cast<long>(Uniform(0, names_.size() - 1)));
    return it->first;
  }

  std::uint64_t PickOffset(std::uint64_t size) {
    constexpr std::uint64_t u = 4096;
    switch (Uniform(0, 5)) {
      case 0:
        return Uniform(0, size / u + 1) * u;  // aligned
      case 1:
        return size;  // append
      case 2:
        return size + Uniform(1, 3 * u);  // past EOF: a gap
      case 3:
        return size > 16 ? size - Uniform(1, 16) : 0;  // into the tail
      default:
        return Uniform(0, size + 64);
    }
  }

  std::uint64_t PickLength() {
    constexpr std::uint64_t u = 4096;
    if (options_.large_writes && Uniform(0, 7) == 0) return Uniform(32, 96) * u;
    switch (Uniform(0, 6)) {
      case 0:
        return Uniform(1, 15);
      case 1:
        return Uniform(16, 200);
      case 2:
        return u;
      case 3:
        return 2 * u;
      case 4:
        return Uniform(1, 3 * u + 17);
      case 5:
        return Uniform(1, 40000);
      default:
        return Uniform(1, 5000);
    }
  }

  Status Expect(bool cond, const std::string& what) {
    return cond ? Status::Ok() : Status(StatusCode::kDataLoss, what);
  }

  Status CheckFile(const std::string& name) {
    const Bytes& want = *names_.at(name);
    PGCMK_ASSIGN_OR_RETURN(std::uint64_t size, fs_.Size(name));
    PGCMK_RETURN_IF_ERROR(Expect(
        size == want.size(),
        name + ": size " + std::to_string(size) + " != model " + std::to_string(want.size())));
    PGCMK_ASSIGN_OR_RETURN(Bytes got, fs_.Read(name, 0, want.size() + 100));
    if (got != want) {
      std::size_t i = 0;
      while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
      return Status(StatusCode::kDataLoss, name + ": content differs from the model at byte " +
                                               std::to_string(i) + " (read " +
                                               std::to_string(got.size()) + " bytes)");
    }
    // A random range too, to exercise unaligned reads.
    if (!want.empty()) {
      const std::uint64_t off = Uniform(0, want.size() - 1);
      const std::uint64_t len = Uniform(1, 9000);
      PGCMK_ASSIGN_OR_RETURN(Bytes part, fs_.Read(name, off, len));
      const std::uint64_t n = std::min<std::uint64_t>(len, want.size() - off);
      PGCMK_RETURN_IF_ERROR(
          Expect(part.size() == n && std::equal(part.begin(), part.end(), want.begin() + off),
                 name + ": range read differs at offset " + std::to_string(off)));
    }
    return Status::Ok();
  }

  Status CheckAll() {
    for (const auto& [name, content] : names_) PGCMK_RETURN_IF_ERROR(CheckFile(name));
    return Status::Ok();
  }

  Status Step() {
    if (names_.empty()) return CreateOne();
    const std::uint64_t dice = Uniform(0, 99);
    const std::string name = PickName();
    Bytes& content = *names_.at(name);
    if (dice < 40) {
      std::uint64_t off = PickOffset(content.size());
      std::uint64_t len = PickLength();
      if (len >= 32 * 4096 && Uniform(0, 1) == 0) off = off / 4096 * 4096;  // mostly whole units
      if (off + len > options_.max_size) {
        off = Uniform(0, options_.max_size / 2);
        len = std::min<std::uint64_t>(len, options_.max_size - off);
      }
      Bytes data(len);
      for (auto& b : data) b = static_cast<std::uint8_t>(rng_());
      if (Uniform(0, 9) == 0) std::fill(data.begin(), data.end(), 0);  // zero pages are data too
      Log("write " + name + " off=" + std::to_string(off) + " len=" + std::to_string(len));
      PGCMK_RETURN_IF_ERROR(fs_.Write(name, off, data));
      if (content.size() < off + len) content.resize(off + len, 0);
      std::copy(data.begin(), data.end(), content.begin() + static_cast<long>(off));
    } else if (dice < 55) {
      std::uint64_t size = Uniform(0, 3) == 0
                               ? Uniform(0, 3) * 4096
                               : Uniform(0, std::min<std::uint64_t>(options_.max_size,
                                                                    content.size() * 2 + 3 * 4096));
      Log("truncate " + name + " size=" + std::to_string(size));
      PGCMK_RETURN_IF_ERROR(fs_.Truncate(name, size));
      content.resize(size, 0);
    } else if (dice < 62) {
      if (content.empty()) return CheckFile(name);
      const std::uint64_t off = Uniform(0, content.size() - 1);
      const std::uint64_t len = Uniform(1, 3 * 4096 + 100);
      Log("punch " + name + " off=" + std::to_string(off) + " len=" + std::to_string(len));
      PGCMK_RETURN_IF_ERROR(fs_.PunchHole(name, off, len));
      const std::uint64_t end = std::min<std::uint64_t>(off + len, content.size());
      std::fill(content.begin() + static_cast<long>(off), content.begin() + static_cast<long>(end),
                0);
    } else if (dice < 70) {
      Log("reopen " + name);
      PGCMK_RETURN_IF_ERROR(fs_.Reopen(name));
    } else if (dice < 77) {
      const bool replace = names_.size() > 1 && Uniform(0, 1) == 0;
      std::string to = replace ? PickName() : NewName();
      if (to == name) return Status::Ok();
      Log("rename " + name + " -> " + to);
      PGCMK_RETURN_IF_ERROR(fs_.Rename(name, to));
      names_[to] = names_.at(name);
      names_.erase(name);
      return CheckFile(to);
    } else if (dice < 82) {
      if (static_cast<int>(names_.size()) >= options_.max_files) return Status::Ok();
      const std::string to = NewName();
      Log("link " + name + " -> " + to);
      PGCMK_RETURN_IF_ERROR(fs_.Link(name, to));
      names_[to] = names_.at(name);
      return CheckFile(to);
    } else if (dice < 87) {
      if (names_.size() <= 1) return CreateOne();
      Log("unlink " + name);
      PGCMK_RETURN_IF_ERROR(fs_.Unlink(name));
      names_.erase(name);
      return Status::Ok();
    } else if (dice < 92) {
      if (static_cast<int>(names_.size()) >= options_.max_files) return Status::Ok();
      return CreateOne();
    } else if (dice < 95) {
      Log("sync " + name);
      PGCMK_RETURN_IF_ERROR(fs_.Sync(name));
    }
    // Every name that shares this content (hard links) must agree.
    for (const auto& [other, c] : names_) {
      if (c == names_.at(name)) PGCMK_RETURN_IF_ERROR(CheckFile(other));
    }
    return Status::Ok();
  }

  std::string NewName() { return "f" + std::to_string(next_name_++); }

  Status CreateOne() {
    const std::string name = NewName();
    Log("create " + name);
    PGCMK_RETURN_IF_ERROR(fs_.Create(name));
    names_[name] = std::make_shared<Bytes>();
    return CheckFile(name);
  }

  FsUnderTest& fs_;
  std::mt19937_64 rng_;
  std::uint64_t seed_;
  Options options_;
  std::map<std::string, Content> names_;
  std::deque<std::string> log_;
  int next_name_ = 0;
};

}  // namespace pgcmk::storage
