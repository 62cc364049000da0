// EncryptedFile: one regular file of a Volume, AES-256-XTS over 4 KiB data units.
//
// Backing file layout (all offsets in bytes):
//   [0, 4096)              file header (below)
//   [4096 + 4096*i, ...)   data unit i = plaintext bytes [4096*i, 4096*(i+1)) encrypted with
//                          AES-256-XTS under the file's own key, tweak = XtsTweakForUnit(i)
// The backing size is always 4096 + logical size: the cipher is length-preserving, the last unit
// may be partial (XTS ciphertext stealing for >= 16 bytes, the crypto layer's short-unit scheme
// for 1..15 bytes). Logical offset N lives at backing offset N + 4096, so an 8 KiB PostgreSQL page
// is exactly two units and a write of whole units needs no read-modify-write.
//
// File header (4096 bytes):
//   offset size  field
//   0      8     magic "PGCMKFIL"
//   8      4     format version, little-endian (1)
//   12     4     data unit size, little-endian (4096)
//   16     16    file id (random at creation; the keys derive from it, so the identity survives
//                rename, hard links and copying the backing tree)
//   32     16    header check (HKDF output, see volume.h): a wrong key or a damaged id -> kDataLoss
//   48     4048  zero
//
// Holes: a 16-byte ciphertext block that is all zero reads as 16 zero bytes (a hole, a
// preallocated range, or a torn write into one). Encryption of real data yields an all-zero block
// with probability 2^-128, so data is never misread in practice. A partial tail block and a tail
// unit under 16 bytes have no such rule; the file always writes its tail unit explicitly, so a
// tail is never a hole. Extending a file (truncate up, write past EOF, fallocate) re-encrypts the
// old partial tail unit and writes the new tail unit; whole units in between stay holes.
//
// Thread safety: all methods may be called concurrently on one object. Reads, whole-unit
// overwrites inside the file and whole-unit appends to a file whose size is a multiple of the unit
// run in parallel (shared lock); writes that need read-modify-write of a partial unit, create or
// extend a partial tail unit, truncate or fallocate take the object's exclusive lock. The
// caller must not keep two live EncryptedFile objects for one backing inode (the FUSE adapter keeps
// one per inode), since the size and the lock live in the object.
//
// Read-ahead: a large read (>= 64 KiB) that continues the previous one asks the kernel
// (posix_fadvise WILLNEED) to read the next 8 MiB of the backing file into its page cache. Only
// ciphertext is read ahead; this class caches no plaintext, so a read always decrypts what the
// backing file holds at that moment.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>

#include "common/bytes.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "crypto/aes_xts.h"

namespace pgcmk::storage {

using FileId = std::array<std::uint8_t, 16>;

// The per-file key material, derived once per file id; immutable, shareable between opens.
struct FileKeys {
  FileId id;
  std::array<std::uint8_t, 16> header_check;
  crypto::XtsCipher cipher;
};

class EncryptedFile {
 public:
  static constexpr std::size_t kUnitSize = 4096;
  static constexpr std::size_t kHeaderSize = 4096;
  static constexpr std::uint32_t kFormatVersion = 1;

  EncryptedFile(const EncryptedFile&) = delete;
  EncryptedFile& operator=(const EncryptedFile&) = delete;
  ~EncryptedFile();

  // Reads up to out.size() bytes at `offset`; returns the count (short only at end of file).
  Result<size_t> Read(MutableByteView out, std::uint64_t offset) const;
  // Writes all of `data` at `offset`, extending the file (with zeros in any gap) if needed.
  // Backing errors keep their errno (ENOSPC stays ENOSPC).
  Status Write(ByteView data, std::uint64_t offset);
  // Sets the logical size; may cut into the middle of a unit or extend with zeros.
  Status Truncate(std::uint64_t size);
  // fallocate(2) modes: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
  // FALLOC_FL_ZERO_RANGE[|KEEP_SIZE]. Others fail with kUnimplemented / EOPNOTSUPP.
  Status Fallocate(int mode, std::uint64_t offset, std::uint64_t length);
  // fsync(2) or fdatasync(2) of the backing file.
  Status Sync(bool data_only);

  std::uint64_t size() const { return size_.load(std::memory_order_acquire); }
  int backing_fd() const { return fd_.get(); }
  const std::shared_ptr<const FileKeys>& keys() const { return keys_; }

 private:
  friend class Volume;
  EncryptedFile(UniqueFd fd, std::shared_ptr<const FileKeys> keys, std::uint64_t size);

  // Both require mu_ held (shared or exclusive as documented in the .cc).
  Status DecryptUnits(MutableByteView buf, std::uint64_t first_unit, std::uint64_t file_size) const;
  Status EncryptUnits(ByteView in, MutableByteView out, std::uint64_t first_unit,
                      std::uint64_t file_size) const;
  Status WriteLocked(ByteView data, std::uint64_t offset);
  // On sequential reads, asks the kernel to read the backing file ahead of the reader.
  void ReadAheadBacking(std::uint64_t start, std::uint64_t end, std::uint64_t file_size) const;
  static constexpr std::uint64_t kReadAheadWindow = 8u << 20;
  static constexpr std::uint64_t kReadAheadMinRequest = 64u << 10;
  static constexpr std::uint64_t kReadAheadSlack = 2u << 20;
  Status TruncateLocked(std::uint64_t new_size);
  Status ZeroRangeLocked(std::uint64_t offset, std::uint64_t length, bool punch);

  UniqueFd fd_;
  std::shared_ptr<const FileKeys> keys_;
  mutable std::shared_mutex mu_;
  std::atomic<std::uint64_t> size_;
  mutable std::atomic<std::uint64_t> next_read_{0};         // end of the last read
  mutable std::atomic<std::uint64_t> read_ahead_until_{0};  // backing read-ahead issued up to
};

}  // namespace pgcmk::storage
