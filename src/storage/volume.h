// Volume: an encrypted volume over a backing directory, the storage library's entry point.
//
// A volume is a plain directory tree in which every regular file is an EncryptedFile (see
// encrypted_file.h) and the root holds one internal file, the volume header (kHeaderName). Names,
// directory structure, sizes, permissions and timestamps are NOT encrypted (docs/storage.md states
// the threat model). The library has no FUSE in it: the FUSE adapter (src/fuse) and tests drive it
// through backing file descriptors.
//
// Keys. The caller supplies the 32-byte data-encryption key (DEK) as SecretBytes; it is used only
// to derive, with HKDF-SHA256:
//   check value    = HKDF(DEK, salt = volume id, info = "pgcmk-fs v1 key check", 32)
//   file-key root  = HKDF(DEK, salt = volume id, info = "pgcmk-fs v1 file keys", 32)
//   per-file keys  = HKDF(file-key root, salt = file id, info = "pgcmk-fs v1 file", 80)
//                    bytes 0..63: AES-256-XTS key, bytes 64..79: file header check
// The DEK itself is not retained by the Volume (only the file-key root, in SecretBytes).
//
// Volume header (file kHeaderName in the backing root, 4096 bytes, written once by Create):
//   offset size  field
//   0      8     magic "PGCMKVOL"
//   8      4     format version, little-endian (kFormatVersion = 1)
//   12     4     data unit size, little-endian (4096)
//   16     16    volume id (random)
//   32     32    key check value (above)
//   64     4032  zero
//
// Usage (server supervisor):
//   PGCMK_ASSIGN_OR_RETURN(auto volume, storage::Volume::Open(dir, dek));  // or Create once
//   PGCMK_ASSIGN_OR_RETURN(auto mount, fuse::Mount::Start(*volume, mountpoint, {}));
//   ...; mount.Stop();   // then destroy the volume
//
// Thread safety: a Volume is immutable after construction; all methods may be called concurrently.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "storage/encrypted_file.h"

namespace pgcmk::storage {

class Volume {
 public:
  static constexpr std::uint32_t kFormatVersion = 1;
  static constexpr std::size_t kDekSize = 32;
  static constexpr std::size_t kHeaderSize = 4096;
  // The only internal name; it lives in the backing root and is hidden by the adapter.
  static constexpr std::string_view kHeaderName = ".pgcmk-volume";
  // Extended attributes with this prefix are reserved: hidden from listings and refused.
  static constexpr std::string_view kReservedXattrPrefix = "user.pgcmk.";

  // Initialises an empty-or-not backing directory (created with 0700 if missing) as a volume:
  // writes the volume header durably. Fails with kAlreadyExists if a header exists.
  static Result<std::unique_ptr<Volume>> Create(const std::filesystem::path& backing_dir,
                                                const SecretBytes& dek);
  // Opens an existing volume. Fails with kFailedPrecondition "wrong key for this volume" if the
  // key check value does not match, kNotFound if there is no header, kDataLoss if it is malformed.
  static Result<std::unique_ptr<Volume>> Open(const std::filesystem::path& backing_dir,
                                              const SecretBytes& dek);

  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;
  ~Volume();

  const std::filesystem::path& backing_dir() const { return backing_dir_; }
  // An O_PATH|O_DIRECTORY descriptor of the backing root, valid for the Volume's lifetime.
  int root_fd() const { return root_fd_.get(); }
  const std::array<std::uint8_t, 16>& volume_id() const { return volume_id_; }

  // Wraps an open backing file descriptor (a regular file opened O_RDWR, or O_RDONLY for a
  // read-only file). A file of backing size 0 (just created, or created by a crash before its
  // header reached the disk) gets a fresh header if the descriptor is writable and is otherwise
  // read as empty. `known`, when the caller kept the keys of this inode from an earlier open,
  // skips the key derivation if the file id still matches.
  // The caller guarantees at most one live EncryptedFile per backing inode (see encrypted_file.h).
  Result<std::unique_ptr<EncryptedFile>> OpenFile(
      UniqueFd backing_fd, std::shared_ptr<const FileKeys> known = nullptr) const;

  // Convenience for tests and tools: openat(dirfd, name, flags) with O_CREAT/O_EXCL/O_TRUNC
  // honoured, O_APPEND/O_DIRECT dropped and O_RDWR forced, then OpenFile.
  Result<std::unique_ptr<EncryptedFile>> OpenFileAt(int dirfd, const char* name, int flags,
                                                    mode_t mode = 0600) const;

  // True for the volume header's name in the root directory.
  static bool IsInternalName(bool in_root, std::string_view name) {
    return in_root && name == kHeaderName;
  }
  static bool IsReservedXattr(std::string_view name) {
    return name.starts_with(kReservedXattrPrefix);
  }
  // Logical size of a regular file from its backing size (the header block is not counted).
  static off_t LogicalSize(off_t backing_size) {
    return backing_size > static_cast<off_t>(EncryptedFile::kHeaderSize)
               ? backing_size - static_cast<off_t>(EncryptedFile::kHeaderSize)
               : 0;
  }

 private:
  Volume(std::filesystem::path backing_dir, UniqueFd root_fd, std::array<std::uint8_t, 16> id,
         SecretBytes file_key_root);
  Result<std::shared_ptr<const FileKeys>> DeriveFileKeys(const FileId& id) const;

  std::filesystem::path backing_dir_;
  UniqueFd root_fd_;
  std::array<std::uint8_t, 16> volume_id_;
  SecretBytes file_key_root_;
};

}  // namespace pgcmk::storage
