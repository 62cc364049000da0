#include "storage/volume.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/durable_file.h"
#include "common/status.h"
#include "crypto/hkdf.h"
#include "crypto/random.h"

namespace pgcmk::storage {
namespace {

constexpr char kVolumeMagic[8] = {'P', 'G', 'C', 'M', 'K', 'V', 'O', 'L'};
constexpr char kFileMagic[8] = {'P', 'G', 'C', 'M', 'K', 'F', 'I', 'L'};
constexpr std::size_t kCheckSize = 32;
constexpr std::size_t kFileHeaderUsed = 48;

void PutLe32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t GetLe32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
  return v;
}

Result<SecretBytes> KeyCheckValue(const SecretBytes& dek, ByteView volume_id) {
  return crypto::HkdfSha256(dek, volume_id, AsBytes("pgcmk-fs v1 key check"), kCheckSize);
}

Status CheckDek(const SecretBytes& dek) {
  if (dek.size() != Volume::kDekSize) {
    return Status(StatusCode::kInvalidArgument, "the data encryption key must be 32 bytes");
  }
  return Status::Ok();
}

}  // namespace

Volume::Volume(std::filesystem::path backing_dir, UniqueFd root_fd, std::array<std::uint8_t, 16> id,
               SecretBytes file_key_root)
    : backing_dir_(std::move(backing_dir)),
      root_fd_(std::move(root_fd)),
      volume_id_(id),
      file_key_root_(std::move(file_key_root)) {}

Volume::~Volume() = default;

Result<std::unique_ptr<Volume>> Volume::Create(const std::filesystem::path& backing_dir,
                                               const SecretBytes& dek) {
  PGCMK_RETURN_IF_ERROR(CheckDek(dek));
  std::error_code ec;
  if (!std::filesystem::exists(backing_dir, ec)) {
    PGCMK_RETURN_IF_ERROR(CreateDirectoryDurably(backing_dir, 0700));
  }
  const std::filesystem::path header_path = backing_dir / kHeaderName;
  if (std::filesystem::exists(header_path, ec)) {
    return Err(StatusCode::kAlreadyExists,
               "a volume header already exists in " + backing_dir.string());
  }
  Bytes header(kHeaderSize, 0);
  std::memcpy(header.data(), kVolumeMagic, 8);
  PutLe32(header.data() + 8, kFormatVersion);
  PutLe32(header.data() + 12, static_cast<std::uint32_t>(EncryptedFile::kUnitSize));
  PGCMK_RETURN_IF_ERROR(crypto::FillRandom({header.data() + 16, 16}));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes check, KeyCheckValue(dek, {header.data() + 16, 16}));
  std::memcpy(header.data() + 32, check.reveal().data(), kCheckSize);
  PGCMK_RETURN_IF_ERROR(WriteFileAtomically(header_path, header, 0600));
  return Open(backing_dir, dek);
}

Result<std::unique_ptr<Volume>> Volume::Open(const std::filesystem::path& backing_dir,
                                             const SecretBytes& dek) {
  PGCMK_RETURN_IF_ERROR(CheckDek(dek));
  PGCMK_ASSIGN_OR_RETURN(UniqueFd root,
                         ::pgcmk::OpenFile(backing_dir.c_str(), O_PATH | O_DIRECTORY));
  auto header = ReadWholeFile(backing_dir / kHeaderName, kHeaderSize);
  if (!header) {
    if (header.error().sys_errno() == ENOENT) {
      return Err(StatusCode::kNotFound, "no volume header in " + backing_dir.string() +
                                            " (initialise it with `pgcmk fs init`)");
    }
    return Err(header.error().WithContext("read volume header"));
  }
  const Bytes& h = *header;
  if (h.size() != kHeaderSize || std::memcmp(h.data(), kVolumeMagic, 8) != 0) {
    return Err(StatusCode::kDataLoss, "volume header in " + backing_dir.string() + " is malformed");
  }
  if (GetLe32(h.data() + 8) != kFormatVersion) {
    return Err(StatusCode::kFailedPrecondition,
               "volume format version " + std::to_string(GetLe32(h.data() + 8)) +
                   " is not supported (this build reads version 1)");
  }
  if (GetLe32(h.data() + 12) != EncryptedFile::kUnitSize) {
    return Err(StatusCode::kDataLoss, "volume header has an unsupported data unit size");
  }
  const ByteView id_bytes(h.data() + 16, 16);
  PGCMK_ASSIGN_OR_RETURN(SecretBytes check, KeyCheckValue(dek, id_bytes));
  if (!ConstantTimeEquals(check.reveal(), {h.data() + 32, kCheckSize})) {
    return Err(StatusCode::kFailedPrecondition,
               "wrong key for this volume (" + backing_dir.string() + ")");
  }
  PGCMK_ASSIGN_OR_RETURN(SecretBytes root_key,
                         crypto::HkdfSha256(dek, id_bytes, AsBytes("pgcmk-fs v1 file keys"), 32));
  std::array<std::uint8_t, 16> id;
  std::memcpy(id.data(), id_bytes.data(), 16);
  return std::unique_ptr<Volume>(new Volume(backing_dir, std::move(root), id, std::move(root_key)));
}

Result<std::shared_ptr<const FileKeys>> Volume::DeriveFileKeys(const FileId& id) const {
  PGCMK_ASSIGN_OR_RETURN(SecretBytes okm,
                         crypto::HkdfSha256(file_key_root_, id, AsBytes("pgcmk-fs v1 file"), 80));
  std::array<std::uint8_t, 16> check;
  std::memcpy(check.data(), okm.reveal().data() + 64, 16);
  okm.Truncate(crypto::XtsCipher::kKeySize);
  PGCMK_ASSIGN_OR_RETURN(crypto::XtsCipher cipher, crypto::XtsCipher::Create(okm));
  return std::make_shared<const FileKeys>(FileKeys{id, check, std::move(cipher)});
}

Result<std::unique_ptr<EncryptedFile>> Volume::OpenFile(
    UniqueFd backing_fd, std::shared_ptr<const FileKeys> known) const {
  struct stat st;
  if (::fstat(backing_fd.get(), &st) != 0) return Err(Status::FromErrno(errno, "fstat"));
  if (!S_ISREG(st.st_mode)) {
    return Err(StatusCode::kInvalidArgument, "not a regular file",
               S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
  }
  const int flags = ::fcntl(backing_fd.get(), F_GETFL);
  if (flags < 0) return Err(Status::FromErrno(errno, "fcntl"));
  const bool writable = (flags & O_ACCMODE) != O_RDONLY;
  const std::uint64_t backing_size = static_cast<std::uint64_t>(st.st_size);

  std::uint8_t header[kFileHeaderUsed] = {};
  bool fresh = backing_size == 0;
  if (backing_size > 0) {
    if (backing_size < EncryptedFile::kHeaderSize) {
      return Err(StatusCode::kDataLoss, "encrypted file header is truncated", EIO);
    }
    PGCMK_ASSIGN_OR_RETURN(size_t got, PreadFull(backing_fd.get(), header, 0));
    if (got != sizeof(header)) {
      return Err(StatusCode::kDataLoss, "encrypted file header is truncated", EIO);
    }
    // A header-sized file of zeros: created, then a crash before the header reached the disk.
    bool all_zero = true;
    for (std::uint8_t b : header) all_zero = all_zero && b == 0;
    fresh = all_zero && backing_size == EncryptedFile::kHeaderSize;
  }
  if (fresh) {
    if (!writable)
      return std::unique_ptr<EncryptedFile>(new EncryptedFile(std::move(backing_fd), nullptr, 0));
    FileId id;
    PGCMK_RETURN_IF_ERROR(crypto::FillRandom(id));
    PGCMK_ASSIGN_OR_RETURN(std::shared_ptr<const FileKeys> keys, DeriveFileKeys(id));
    Bytes block(EncryptedFile::kHeaderSize, 0);
    std::memcpy(block.data(), kFileMagic, 8);
    PutLe32(block.data() + 8, EncryptedFile::kFormatVersion);
    PutLe32(block.data() + 12, static_cast<std::uint32_t>(EncryptedFile::kUnitSize));
    std::memcpy(block.data() + 16, id.data(), 16);
    std::memcpy(block.data() + 32, keys->header_check.data(), 16);
    PGCMK_RETURN_IF_ERROR(PwriteAll(backing_fd.get(), block, 0));
    return std::unique_ptr<EncryptedFile>(
        new EncryptedFile(std::move(backing_fd), std::move(keys), 0));
  }
  if (std::memcmp(header, kFileMagic, 8) != 0 ||
      GetLe32(header + 8) != EncryptedFile::kFormatVersion ||
      GetLe32(header + 12) != EncryptedFile::kUnitSize) {
    return Err(StatusCode::kDataLoss, "encrypted file header is malformed", EIO);
  }
  FileId id;
  std::memcpy(id.data(), header + 16, 16);
  std::shared_ptr<const FileKeys> keys;
  if (known && known->id == id) {
    keys = std::move(known);
  } else {
    PGCMK_ASSIGN_OR_RETURN(keys, DeriveFileKeys(id));
  }
  if (!ConstantTimeEquals(keys->header_check, {header + 32, 16})) {
    return Err(StatusCode::kDataLoss, "encrypted file header check failed (damaged or other key)",
               EIO);
  }
  return std::unique_ptr<EncryptedFile>(new EncryptedFile(
      std::move(backing_fd), std::move(keys), backing_size - EncryptedFile::kHeaderSize));
}

Result<std::unique_ptr<EncryptedFile>> Volume::OpenFileAt(int dirfd, const char* name, int flags,
                                                          mode_t mode) const {
  const int backing_flags =
      (flags & ~(O_ACCMODE | O_APPEND | O_DIRECT | O_TRUNC)) | O_RDWR | O_CLOEXEC;
  int fd;
  do {
    fd = ::openat(dirfd, name, backing_flags, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Err(Status::FromErrno(errno, std::string("open ") + name));
  PGCMK_ASSIGN_OR_RETURN(std::unique_ptr<EncryptedFile> file, OpenFile(UniqueFd(fd)));
  if ((flags & O_TRUNC) != 0) PGCMK_RETURN_IF_ERROR(file->Truncate(0));
  return file;
}

}  // namespace pgcmk::storage
