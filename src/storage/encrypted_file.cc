#include "storage/encrypted_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/status.h"

namespace pgcmk::storage {
namespace {

constexpr std::uint64_t kUnit = EncryptedFile::kUnitSize;
constexpr std::uint64_t kHeader = EncryptedFile::kHeaderSize;
constexpr std::size_t kBlock = 16;

bool IsZero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

bool IsZeroBlock(const std::uint8_t* p) {
  std::uint64_t a, b;
  std::memcpy(&a, p, 8);
  std::memcpy(&b, p + 8, 8);
  return (a | b) == 0;
}

// Whether any of the first `blocks` 16-byte blocks at p is all zero. Branch-free so that the
// common case (no hole) costs one pass that the compiler can vectorise.
bool HasZeroBlock(const std::uint8_t* p, std::size_t blocks) {
  bool found = false;
  for (std::size_t b = 0; b < blocks; ++b) found |= IsZeroBlock(p + b * kBlock);
  return found;
}

// Length of unit `index` in a file of `file_size` bytes (0 past the end).
std::uint64_t UnitLength(std::uint64_t index, std::uint64_t file_size) {
  const std::uint64_t start = index * kUnit;
  if (start >= file_size) return 0;
  return std::min(kUnit, file_size - start);
}

// Scratch space for one request; FUSE worker threads reuse theirs.
Bytes& ScratchBuffer(std::size_t size) {
  thread_local Bytes buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer;
}

Status NoKeys() {
  return Status(StatusCode::kPermissionDenied, "file is empty and was opened read-only", EBADF);
}

}  // namespace

EncryptedFile::EncryptedFile(UniqueFd fd, std::shared_ptr<const FileKeys> keys, std::uint64_t size)
    : fd_(std::move(fd)), keys_(std::move(keys)), size_(size) {}

EncryptedFile::~EncryptedFile() = default;

// `buf` holds the ciphertext of consecutive units starting at `first_unit`, each unit as long as
// it is in a file of `file_size` bytes; decrypts in place. All-zero 16-byte blocks are holes.
Status EncryptedFile::DecryptUnits(MutableByteView buf, std::uint64_t first_unit,
                                   std::uint64_t file_size) const {
  if (!keys_) return NoKeys();
  std::size_t pos = 0;
  for (std::uint64_t unit = first_unit; pos < buf.size(); ++unit) {
    const std::size_t len = static_cast<std::size_t>(UnitLength(unit, file_size));
    if (len == 0 || pos + len > buf.size()) {
      return Status(StatusCode::kInternal, "unit layout does not match the buffer");
    }
    std::uint8_t* p = buf.data() + pos;
    if (len < kBlock) {
      PGCMK_RETURN_IF_ERROR(
          keys_->cipher.Decrypt(crypto::XtsTweakForUnit(unit), {p, len}, {p, len}));
      pos += len;
      continue;
    }
    // Which whole 16-byte blocks are holes (never the partial last block: see the header).
    const std::size_t full_blocks = len / kBlock;
    if (!HasZeroBlock(p, full_blocks)) {
      PGCMK_RETURN_IF_ERROR(
          keys_->cipher.Decrypt(crypto::XtsTweakForUnit(unit), {p, len}, {p, len}));
      pos += len;
      continue;
    }
    std::bitset<kUnit / kBlock> zero;
    for (std::size_t b = 0; b < full_blocks; ++b) zero[b] = IsZeroBlock(p + b * kBlock);
    if (zero.count() == full_blocks && IsZero(p + full_blocks * kBlock, len % kBlock)) {
      pos += len;  // a whole hole: the plaintext is the zeros already there
      continue;
    }
    PGCMK_RETURN_IF_ERROR(keys_->cipher.Decrypt(crypto::XtsTweakForUnit(unit), {p, len}, {p, len}));
    if (zero.any()) {
      for (std::size_t b = 0; b < full_blocks; ++b) {
        if (zero[b]) std::memset(p + b * kBlock, 0, kBlock);
      }
    }
    pos += len;
  }
  return Status::Ok();
}

// Encrypts the plaintext `in` of consecutive units starting at `first_unit` into `out` (the same
// size; may be the same buffer).
Status EncryptedFile::EncryptUnits(ByteView in, MutableByteView out, std::uint64_t first_unit,
                                   std::uint64_t file_size) const {
  if (!keys_) return NoKeys();
  if (in.size() != out.size()) return Status(StatusCode::kInternal, "buffer sizes differ");
  std::size_t pos = 0;
  for (std::uint64_t unit = first_unit; pos < out.size(); ++unit) {
    const std::size_t len = static_cast<std::size_t>(UnitLength(unit, file_size));
    if (len == 0 || pos + len > out.size()) {
      return Status(StatusCode::kInternal, "unit layout does not match the buffer");
    }
    PGCMK_RETURN_IF_ERROR(keys_->cipher.Encrypt(crypto::XtsTweakForUnit(unit),
                                                {in.data() + pos, len}, {out.data() + pos, len}));
    pos += len;
  }
  return Status::Ok();
}

Result<size_t> EncryptedFile::Read(MutableByteView out, std::uint64_t offset) const {
  std::shared_lock lock(mu_);
  const std::uint64_t size = size_.load(std::memory_order_relaxed);
  if (offset >= size || out.empty()) return 0;
  const std::uint64_t n = std::min<std::uint64_t>(out.size(), size - offset);
  const std::uint64_t first = offset / kUnit;
  const std::uint64_t last = (offset + n - 1) / kUnit;
  const std::uint64_t span_start = first * kUnit;
  const std::uint64_t span_end = std::min((last + 1) * kUnit, size);
  const std::size_t span = static_cast<std::size_t>(span_end - span_start);

  const bool direct = offset == span_start && n == span;
  std::uint8_t* buf = direct ? out.data() : ScratchBuffer(span).data();
  PGCMK_ASSIGN_OR_RETURN(
      size_t got, PreadFull(fd_.get(), {buf, span}, static_cast<off_t>(kHeader + span_start)));
  if (got != span) {
    return Err(StatusCode::kDataLoss, "backing file is shorter than the encrypted file", EIO);
  }
  ReadAheadBacking(span_start, span_end, size);
  PGCMK_RETURN_IF_ERROR(DecryptUnits({buf, span}, first, size));
  if (!direct) std::memcpy(out.data(), buf + (offset - span_start), n);
  return static_cast<size_t>(n);
}

// The backing file's own read-ahead is not enough behind FUSE: the kernel sends a sequential
// reader's requests (128-256 KiB each) to several worker threads, whose preads arrive slightly out
// of order and keep resetting the backing file's read-ahead window, so every request waits for the
// disk. Asking for the next window explicitly keeps the disk busy ahead of the reader. Only the
// ciphertext is read ahead, into the backing page cache: nothing here can serve stale plaintext.
void EncryptedFile::ReadAheadBacking(std::uint64_t start, std::uint64_t end,
                                     std::uint64_t file_size) const {
  const std::uint64_t previous_end = next_read_.exchange(end, std::memory_order_relaxed);
  // Sequential: a large request (the kernel sends those only for a reader it considers
  // sequential) near where the previous one ended. Small random reads never trigger it.
  if (end - start < kReadAheadMinRequest) return;
  if (start + kReadAheadSlack < previous_end || start > previous_end + kReadAheadSlack) {
    read_ahead_until_.store(end, std::memory_order_relaxed);  // a jump: start again from here
    return;
  }
  std::uint64_t issued = read_ahead_until_.load(std::memory_order_relaxed);
  const std::uint64_t from = std::max(issued, end);
  if (from >= end + kReadAheadWindow / 2 || from >= file_size) return;
  const std::uint64_t to = std::min(from + kReadAheadWindow, file_size);
  if (!read_ahead_until_.compare_exchange_strong(issued, to, std::memory_order_relaxed)) return;
  // Advice only: an error here changes nothing but speed.
  (void)::posix_fadvise(fd_.get(), static_cast<off_t>(kHeader + from),
                        static_cast<off_t>(to - from), POSIX_FADV_WILLNEED);
}

Status EncryptedFile::Write(ByteView data, std::uint64_t offset) {
  if (data.empty()) return Status::Ok();
  {
    // Fast path: whole units, no read-modify-write, so concurrent writers and readers may
    // proceed (shared lock). Either an overwrite of whole units (or of the whole tail unit) inside
    // the file, or an append of whole units to a file whose size is a multiple of the unit (the
    // writeback cache's large sequential writes): units between the old end and `offset` stay
    // holes, and the size only grows, which no other shared-lock holder depends on.
    std::shared_lock lock(mu_);
    const std::uint64_t size = size_.load(std::memory_order_acquire);
    const std::uint64_t end = offset + data.size();
    const bool overwrite = end <= size && (end % kUnit == 0 || end == size);
    const bool append = end > size && size % kUnit == 0 && end % kUnit == 0;
    if (offset % kUnit == 0 && (overwrite || append)) {
      MutableByteView buf(ScratchBuffer(data.size()).data(), data.size());
      PGCMK_RETURN_IF_ERROR(EncryptUnits(data, buf, offset / kUnit, std::max(size, end)));
      PGCMK_RETURN_IF_ERROR(PwriteAll(fd_.get(), buf, static_cast<off_t>(kHeader + offset)));
      std::uint64_t current = size_.load(std::memory_order_relaxed);
      while (current < end &&
             !size_.compare_exchange_weak(current, end, std::memory_order_release)) {
      }
      return Status::Ok();
    }
  }
  std::unique_lock lock(mu_);
  return WriteLocked(data, offset);
}

// Requires mu_ held exclusively.
Status EncryptedFile::WriteLocked(ByteView data, std::uint64_t offset) {
  if (!keys_) return NoKeys();
  std::uint64_t size = size_.load(std::memory_order_relaxed);
  if (offset > size && size % kUnit != 0) {
    // The old partial tail unit must be re-encrypted at its new length first.
    PGCMK_RETURN_IF_ERROR(TruncateLocked(offset));
    size = offset;
  }
  const std::uint64_t end = offset + data.size();
  const std::uint64_t new_size = std::max(size, end);
  const std::uint64_t first = offset / kUnit;
  const std::uint64_t last = (end - 1) / kUnit;
  const std::uint64_t span_start = first * kUnit;
  const std::uint64_t span_end = std::min((last + 1) * kUnit, new_size);
  const std::size_t span = static_cast<std::size_t>(span_end - span_start);
  Bytes& scratch = ScratchBuffer(span);
  MutableByteView buf(scratch.data(), span);
  std::memset(buf.data(), 0, span);

  // Old plaintext of a unit that the write covers only in part.
  auto load_unit = [&](std::uint64_t unit) -> Status {
    const std::uint64_t old_len = UnitLength(unit, size);
    if (old_len == 0) return Status::Ok();
    std::uint8_t* p = buf.data() + (unit - first) * kUnit;
    PGCMK_ASSIGN_OR_RETURN(
        size_t got, PreadFull(fd_.get(), {p, old_len}, static_cast<off_t>(kHeader + unit * kUnit)));
    if (got != old_len) {
      return Status(StatusCode::kDataLoss, "backing file is shorter than the encrypted file", EIO);
    }
    return DecryptUnits({p, old_len}, unit, size);
  };
  if (offset > span_start) PGCMK_RETURN_IF_ERROR(load_unit(first));
  if (end < span_end && (last != first || offset == span_start)) {
    PGCMK_RETURN_IF_ERROR(load_unit(last));
  }
  std::memcpy(buf.data() + (offset - span_start), data.data(), data.size());
  PGCMK_RETURN_IF_ERROR(EncryptUnits(buf, buf, first, new_size));
  PGCMK_RETURN_IF_ERROR(PwriteAll(fd_.get(), buf, static_cast<off_t>(kHeader + span_start)));
  size_.store(new_size, std::memory_order_release);
  return Status::Ok();
}

Status EncryptedFile::Truncate(std::uint64_t size) {
  std::unique_lock lock(mu_);
  return TruncateLocked(size);
}

// Requires mu_ held exclusively.
Status EncryptedFile::TruncateLocked(std::uint64_t new_size) {
  const std::uint64_t size = size_.load(std::memory_order_relaxed);
  if (new_size == size) return Status::Ok();
  auto ftruncate_to = [&](std::uint64_t logical) -> Status {
    if (::ftruncate(fd_.get(), static_cast<off_t>(kHeader + logical)) != 0) {
      return Status::FromErrno(errno, "ftruncate backing file");
    }
    return Status::Ok();
  };
  if (!keys_) return NoKeys();
  std::uint8_t unit_buf[kUnit];

  if (new_size < size) {
    const std::uint64_t cut_len = new_size % kUnit;
    if (cut_len == 0) {
      PGCMK_RETURN_IF_ERROR(ftruncate_to(new_size));
      size_.store(new_size, std::memory_order_release);
      return Status::Ok();
    }
    // The unit cut in the middle: decrypt at its old length, re-encrypt the prefix that remains.
    const std::uint64_t unit = new_size / kUnit;
    const std::uint64_t old_len = UnitLength(unit, size);
    PGCMK_ASSIGN_OR_RETURN(size_t got, PreadFull(fd_.get(), {unit_buf, old_len},
                                                 static_cast<off_t>(kHeader + unit * kUnit)));
    if (got != old_len) {
      return Status(StatusCode::kDataLoss, "backing file is shorter than the encrypted file", EIO);
    }
    PGCMK_RETURN_IF_ERROR(DecryptUnits({unit_buf, old_len}, unit, size));
    PGCMK_RETURN_IF_ERROR(ftruncate_to(new_size));
    size_.store(new_size, std::memory_order_release);
    PGCMK_RETURN_IF_ERROR(EncryptUnits({unit_buf, cut_len}, {unit_buf, cut_len}, unit, new_size));
    return PwriteAll(fd_.get(), {unit_buf, cut_len}, static_cast<off_t>(kHeader + unit * kUnit));
  }

  // Growing. First the old partial tail unit, at its new length.
  std::uint64_t current = size;
  if (size % kUnit != 0) {
    const std::uint64_t unit = size / kUnit;
    const std::uint64_t old_len = size % kUnit;
    const std::uint64_t grown_len = UnitLength(unit, new_size);
    PGCMK_ASSIGN_OR_RETURN(size_t got, PreadFull(fd_.get(), {unit_buf, old_len},
                                                 static_cast<off_t>(kHeader + unit * kUnit)));
    if (got != old_len) {
      return Status(StatusCode::kDataLoss, "backing file is shorter than the encrypted file", EIO);
    }
    PGCMK_RETURN_IF_ERROR(DecryptUnits({unit_buf, old_len}, unit, size));
    std::memset(unit_buf + old_len, 0, grown_len - old_len);
    current = unit * kUnit + grown_len;
    PGCMK_RETURN_IF_ERROR(
        EncryptUnits({unit_buf, grown_len}, {unit_buf, grown_len}, unit, current));
    PGCMK_RETURN_IF_ERROR(
        PwriteAll(fd_.get(), {unit_buf, grown_len}, static_cast<off_t>(kHeader + unit * kUnit)));
    size_.store(current, std::memory_order_release);
  }
  if (current == new_size) return Status::Ok();
  // Whole units between `current` (now unit-aligned) and the new tail stay holes; a new partial
  // tail unit is written explicitly because a tail is never a hole.
  const std::uint64_t tail_len = new_size % kUnit;
  if (tail_len != 0) {
    const std::uint64_t unit = new_size / kUnit;
    std::memset(unit_buf, 0, tail_len);
    PGCMK_RETURN_IF_ERROR(EncryptUnits({unit_buf, tail_len}, {unit_buf, tail_len}, unit, new_size));
    PGCMK_RETURN_IF_ERROR(
        PwriteAll(fd_.get(), {unit_buf, tail_len}, static_cast<off_t>(kHeader + unit * kUnit)));
  } else {
    PGCMK_RETURN_IF_ERROR(ftruncate_to(new_size));
  }
  size_.store(new_size, std::memory_order_release);
  return Status::Ok();
}

// Requires mu_ held exclusively. Makes [offset, offset+length) read as zeros without changing the
// size: partial units and the tail unit are rewritten, whole units are punched or zeroed in the
// backing file (an all-zero ciphertext block reads as zeros).
Status EncryptedFile::ZeroRangeLocked(std::uint64_t offset, std::uint64_t length, bool punch) {
  const std::uint64_t size = size_.load(std::memory_order_relaxed);
  const std::uint64_t end = std::min(offset + length, size);
  if (offset >= end) return Status::Ok();
  static const std::uint8_t kZeros[kUnit] = {};
  std::uint64_t pos = offset;
  // Head: up to the next unit boundary.
  if (pos % kUnit != 0) {
    const std::uint64_t n = std::min(end, (pos / kUnit + 1) * kUnit) - pos;
    PGCMK_RETURN_IF_ERROR(WriteLocked({kZeros, n}, pos));
    pos += n;
  }
  // Whole units; the file's partial tail unit is rewritten instead.
  std::uint64_t whole_end = end / kUnit * kUnit;
  if (whole_end > pos) {
    const int mode = (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;
    if (::fallocate(fd_.get(), mode, static_cast<off_t>(kHeader + pos),
                    static_cast<off_t>(whole_end - pos)) != 0) {
      return Status::FromErrno(errno, "fallocate backing file");
    }
    pos = whole_end;
  }
  if (pos < end) PGCMK_RETURN_IF_ERROR(WriteLocked({kZeros, end - pos}, pos));
  return Status::Ok();
}

Status EncryptedFile::Fallocate(int mode, std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return Status(StatusCode::kInvalidArgument, "fallocate of length 0", EINVAL);
  std::unique_lock lock(mu_);
  if (!keys_) return NoKeys();
  const std::uint64_t end = offset + length;
  switch (mode) {
    case 0:
    case FALLOC_FL_KEEP_SIZE:
      // Reserve the blocks first so that ENOSPC leaves the size unchanged. Preallocated blocks read
      // as zeros in the backing file, which is a hole here.
      if (::fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(kHeader + offset),
                      static_cast<off_t>(length)) != 0) {
        return Status::FromErrno(errno, "fallocate backing file");
      }
      if (mode == 0 && end > size_.load(std::memory_order_relaxed)) return TruncateLocked(end);
      return Status::Ok();
    case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
      return ZeroRangeLocked(offset, length, /*punch=*/true);
    case FALLOC_FL_ZERO_RANGE:
    case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
      PGCMK_RETURN_IF_ERROR(ZeroRangeLocked(offset, length, /*punch=*/false));
      if (mode == FALLOC_FL_ZERO_RANGE && end > size_.load(std::memory_order_relaxed)) {
        return TruncateLocked(end);
      }
      return Status::Ok();
    default:
      return Status(StatusCode::kUnimplemented, "fallocate mode not supported", EOPNOTSUPP);
  }
}

Status EncryptedFile::Sync(bool data_only) {
  const int rc = data_only ? ::fdatasync(fd_.get()) : ::fsync(fd_.get());
  if (rc != 0) return Status::FromErrno(errno, data_only ? "fdatasync" : "fsync");
  return Status::Ok();
}

}  // namespace pgcmk::storage
