#include "common/secret_bytes.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>

namespace pgcmk {

std::atomic<std::size_t> SecretBytes::lock_failures_{0};

void SecureZero(void* data, std::size_t size) {
  if (data == nullptr || size == 0) return;
  // explicit_bzero is specified not to be optimised away.
  explicit_bzero(data, size);
}

bool ConstantTimeEquals(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = diff | static_cast<std::uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

namespace {
std::size_t PageSize() {
  static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}
}  // namespace

SecretBytes::SecretBytes(std::size_t size) {
  if (size == 0) return;
  const std::size_t page = PageSize();
  capacity_ = (size + page - 1) / page * page;
  void* p = mmap(nullptr, capacity_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // Exclude from core dumps and from fork children; keep out of swap.
  (void)madvise(p, capacity_, MADV_DONTDUMP);  // best effort: the process also disables dumps
  (void)madvise(p, capacity_, MADV_DONTFORK);  // best effort: children never need our secrets
  if (mlock(p, capacity_) != 0) lock_failures_.fetch_add(1, std::memory_order_relaxed);
  data_ = static_cast<std::uint8_t*>(p);
  size_ = size;  // mmap memory is already zero
}

SecretBytes SecretBytes::CopyFrom(ByteView bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.capacity_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = other.data_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.capacity_ = 0;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Release(); }

void SecretBytes::Release() noexcept {
  if (data_ == nullptr) return;
  SecureZero(data_, capacity_);
  (void)munlock(data_, capacity_);  // nothing useful to do on failure; the pages are wiped
  (void)munmap(data_, capacity_);
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
}

SecretBytes SecretBytes::Clone() const { return CopyFrom(reveal()); }

void SecretBytes::Truncate(std::size_t new_size) {
  if (new_size >= size_) return;
  SecureZero(data_ + new_size, size_ - new_size);
  size_ = new_size;
}

bool operator==(const SecretBytes& a, const SecretBytes& b) {
  return ConstantTimeEquals(a.reveal(), b.reveal());
}

}  // namespace pgcmk
