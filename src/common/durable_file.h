// Durable file updates: write a temporary file, fsync it, rename over the target, fsync the
// directory. After WriteFileAtomically returns OK, a crash at any point leaves either the complete
// new contents or (if it had not returned) the complete old contents — never a mix or an empty
// file.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk {

// `mode` applies to the new file (e.g. 0600 for key files); the temp file is created with it, so
// the contents are never readable with wider permissions, not even for an instant.
Status WriteFileAtomically(const std::filesystem::path& path, ByteView contents,
                           mode_t mode = 0600);

// A crash inside WriteFileAtomically can leave its temporary file (".NAME.tmpXXXXXX", same mode
// as the target, so possibly secret) beside `path`. Removes such leftovers and fsyncs the
// directory. Call it when no other writer of `path` can be running (at startup, under the
// caller's lock): an in-flight update's temporary file would be removed too, and that update
// would then fail (never corrupt the target). Returns how many files were removed.
Result<size_t> RemoveStaleTemporaryFiles(const std::filesystem::path& path);

// fsync(2) on a directory, so that entries created/renamed/removed in it are durable.
Status FsyncDirectory(const std::filesystem::path& dir);

// Reads a whole (small) file. Fails with kResourceExhausted if it exceeds `max_size`.
Result<Bytes> ReadWholeFile(const std::filesystem::path& path, size_t max_size = 64u << 20);

// Reads a whole (small) file straight into locked memory, for key files.
Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, size_t max_size = 1u << 20);

// ReadSecretFile for a file that must be private: not a symlink, a regular file, no group or
// other permission bits — checked on the descriptor that is read (FailedPrecondition otherwise).
Result<SecretBytes> ReadPrivateSecretFile(const std::filesystem::path& path,
                                          size_t max_size = 1u << 20);

// Creates `dir` (and parents) if missing, with `mode` on the leaf, and fsyncs the parent.
Status CreateDirectoryDurably(const std::filesystem::path& dir, mode_t mode = 0700);

}  // namespace pgcmk
