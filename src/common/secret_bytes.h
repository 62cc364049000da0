// SecretBytes: the only home for key material and other secrets.
//
// Contract:
//  - Move-only. The bytes live in memory that is mlock'd (never swapped) and marked MADV_DONTDUMP
//    (excluded from core dumps). If mlock fails (RLIMIT_MEMLOCK), the bytes are still zeroized on
//    destruction and the failure is counted in SecretBytes::LockFailures() for diagnostics.
//  - Small values (up to kMaxPooledSize bytes) come from a process-wide pool of locked slabs
//    (64 KiB mappings, mapped, advised and locked once, never unmapped), in power-of-two slots
//    aligned to their size; larger values get a page-aligned mapping of their own. Only secrets
//    share those pages. A slot is zeroized before it returns to the pool.
//  - All of it is marked MADV_DONTFORK: a fork() child does not inherit the bytes. Only fork+exec
//    is supported (the child must not touch, move or destroy any SecretBytes created before the
//    fork: the address is unmapped there, and may later be reused by an unrelated mapping). Code
//    that forks and keeps running in the child (daemonising, gtest "fast" death tests) must create
//    its secrets after the fork; the child starts with an empty pool.
//  - Zeroized (explicit_bzero, not optimised away) on destruction and when moved from.
//  - Never printable: there is no operator<<, no implicit conversion, and ToString-like helpers do
//    not exist. Reading the bytes is the explicit, greppable call `.reveal()` /
//    `.reveal_mutable()`.
//  - Equality is constant-time in the contents (the length is not secret).
//  - Not thread-safe for concurrent mutation; concurrent reads are fine.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.h"

namespace pgcmk {

class SecretBytes {
 public:
  SecretBytes() = default;
  // Allocates `size` zero bytes.
  explicit SecretBytes(std::size_t size);
  // Copies `bytes` into locked memory. The caller remains responsible for wiping its own copy.
  static SecretBytes CopyFrom(ByteView bytes);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // An explicit copy; named so that every duplication of a secret can be found.
  SecretBytes Clone() const;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The only ways to touch the bytes.
  ByteView reveal() const { return {data_, size_}; }
  MutableByteView reveal_mutable() { return {data_, size_}; }

  // Shrinks the logical size (the tail is wiped). `new_size` must be <= size().
  void Truncate(std::size_t new_size);

  // Constant-time comparison of contents; different lengths compare unequal.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b);

  static std::size_t LockFailures() { return lock_failures_.load(std::memory_order_relaxed); }

  // Values up to this size are carved from the locked pool; larger ones are mapped on their own.
  static constexpr std::size_t kMaxPooledSize = 4096;
  // Bytes of pool slabs mapped so far (they are kept for reuse; for tests and diagnostics).
  static std::size_t PoolBytesMappedForTesting();

 private:
  void Release() noexcept;

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;  // slot size (pooled) or bytes mapped (a multiple of the page size)
  static std::atomic<std::size_t> lock_failures_;
};

// Constant-time equality of two byte ranges (time depends only on the lengths).
bool ConstantTimeEquals(ByteView a, ByteView b);

// Overwrites memory in a way the compiler may not elide.
void SecureZero(void* data, std::size_t size);

}  // namespace pgcmk
