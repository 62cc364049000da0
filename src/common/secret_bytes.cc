#include "common/secret_bytes.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
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

// Maps `size` bytes for secrets: excluded from core dumps and fork children, locked in memory.
// Returns nullptr if the mapping fails; *locked tells whether mlock succeeded.
std::uint8_t* MapSecretMemory(std::size_t size, bool* locked) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  (void)madvise(p, size, MADV_DONTDUMP);  // best effort: the process also disables dumps
  (void)madvise(p, size, MADV_DONTFORK);  // best effort: children never need our secrets
  *locked = mlock(p, size) == 0;
  return static_cast<std::uint8_t*>(p);  // mmap memory is already zero
}

// The pool of small secrets: per size class (32, 64, ..., 4096 bytes) a free list threaded
// through the free slots themselves, refilled from 64 KiB slabs of locked memory that are never
// unmapped (a vault keeps a steady working set; peak usage bounds the locked memory). Free slots
// are all zero except for the list pointer, which is cleared when the slot is handed out.
//
// Thread safety: one mutex per size class. Fork: the slabs are MADV_DONTFORK, so a child forgets
// them (pthread_atfork) and starts with an empty pool.
class SecretPool {
 public:
  static constexpr std::size_t kMinSlot = 32;
  static constexpr int kClasses = 8;  // 32 << 7 == 4096 == SecretBytes::kMaxPooledSize
  static constexpr std::size_t kSlabSize = 64 * 1024;

  // Leaked on purpose: secrets in static objects may be destroyed after any static pool would be.
  static SecretPool& Instance() {
    static SecretPool* pool = [] {
      auto* p = new SecretPool();
      (void)pthread_atfork(&SecretPool::BeforeFork, &SecretPool::AfterForkInParent,
                           &SecretPool::AfterForkInChild);
      return p;
    }();
    return *pool;
  }

  // The class of a value of `size` bytes (1..kMaxPooledSize) and its slot size.
  static int ClassOf(std::size_t size) {
    int c = 0;
    while ((kMinSlot << c) < size) ++c;
    return c;
  }
  static std::size_t SlotSize(int c) { return kMinSlot << c; }

  // A zeroed slot of class `c`, or nullptr if no memory could be mapped. *lock_failed is set when
  // a new slab had to be mapped and could not be locked.
  std::uint8_t* Allocate(int c, bool* lock_failed) {
    std::lock_guard l(classes_[c].mu);
    FreeSlot*& head = classes_[c].free;
    if (head == nullptr) {
      bool locked = false;
      std::uint8_t* slab = MapSecretMemory(kSlabSize, &locked);
      if (slab == nullptr) return nullptr;
      if (!locked) *lock_failed = true;
      mapped_bytes_.fetch_add(kSlabSize, std::memory_order_relaxed);
      const std::size_t slot = SlotSize(c);
      for (std::size_t off = kSlabSize; off >= slot; off -= slot) {
        auto* f = reinterpret_cast<FreeSlot*>(slab + off - slot);
        f->next = head;
        head = f;
      }
    }
    FreeSlot* f = head;
    head = f->next;
    f->next = nullptr;  // the slot is now all zero
    return reinterpret_cast<std::uint8_t*>(f);
  }

  // Wipes the slot and returns it to its class.
  void Free(std::uint8_t* p, int c) {
    SecureZero(p, SlotSize(c));
    std::lock_guard l(classes_[c].mu);
    auto* f = reinterpret_cast<FreeSlot*>(p);
    f->next = classes_[c].free;
    classes_[c].free = f;
  }

  std::size_t mapped_bytes() const { return mapped_bytes_.load(std::memory_order_relaxed); }

 private:
  struct FreeSlot {
    FreeSlot* next;
  };
  struct SizeClass {
    std::mutex mu;
    FreeSlot* free = nullptr;
  };

  static void BeforeFork() {
    for (auto& c : Instance().classes_) c.mu.lock();
  }
  static void AfterForkInParent() {
    for (auto& c : Instance().classes_) c.mu.unlock();
  }
  static void AfterForkInChild() {
    SecretPool& p = Instance();
    for (auto& c : p.classes_) {
      c.free = nullptr;  // the slabs are not mapped in the child
      c.mu.unlock();
    }
    p.mapped_bytes_.store(0, std::memory_order_relaxed);
  }

  SizeClass classes_[kClasses];
  std::atomic<std::size_t> mapped_bytes_{0};
};

static_assert((SecretPool::kMinSlot << (SecretPool::kClasses - 1)) == SecretBytes::kMaxPooledSize);

}  // namespace

std::size_t SecretBytes::PoolBytesMappedForTesting() {
  return SecretPool::Instance().mapped_bytes();
}

SecretBytes::SecretBytes(std::size_t size) {
  if (size == 0) return;
  bool lock_failed = false;
  if (size <= kMaxPooledSize) {
    const int c = SecretPool::ClassOf(size);
    data_ = SecretPool::Instance().Allocate(c, &lock_failed);
    if (data_ == nullptr) throw std::bad_alloc();
    capacity_ = SecretPool::SlotSize(c);
  } else {
    const std::size_t page = PageSize();
    const std::size_t capacity = (size + page - 1) / page * page;
    bool locked = false;
    data_ = MapSecretMemory(capacity, &locked);
    if (data_ == nullptr) throw std::bad_alloc();
    lock_failed = !locked;
    capacity_ = capacity;
  }
  if (lock_failed) lock_failures_.fetch_add(1, std::memory_order_relaxed);
  size_ = size;
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
  if (capacity_ <= kMaxPooledSize) {
    SecretPool::Instance().Free(data_, SecretPool::ClassOf(capacity_));
  } else {
    SecureZero(data_, capacity_);
    (void)munlock(data_, capacity_);  // nothing useful to do on failure; the pages are wiped
    (void)munmap(data_, capacity_);
  }
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
