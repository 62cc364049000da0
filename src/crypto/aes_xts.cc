#include "crypto/aes_xts.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "crypto/openssl_handles.h"

namespace pgcmk::crypto {
namespace {

using internal::CipherCtxPtr;

constexpr size_t kBlock = 16;

// Contexts are cached in a fixed array of slots owned by the cipher. A thread starts at its own
// slot (so in the steady state each thread reuses "its" context and the key schedule never runs
// again) and claims it with one uncontended atomic exchange. Owning the contexts in the cipher
// rather than in thread_local storage means destroying the cipher frees every key schedule at once,
// instead of leaving copies behind in threads that outlive it.
constexpr size_t kSlots = 64;

size_t ThreadSlotHint() {
  static std::atomic<size_t> next_thread{0};
  thread_local const size_t hint = next_thread.fetch_add(1, std::memory_order_relaxed) % kSlots;
  return hint;
}

bool Overlaps(ByteView in, MutableByteView out) {
  if (in.empty()) return false;
  const auto* a = in.data();
  const auto* b = out.data();
  if (a == b) return false;  // exact in-place is allowed
  return a < b + out.size() && b < a + in.size();
}

}  // namespace

struct XtsCipher::Impl {
  struct alignas(64) Slot {
    std::atomic<bool> busy{false};
    EVP_CIPHER_CTX* enc = nullptr;
    EVP_CIPHER_CTX* dec = nullptr;
  };

  CipherCtxPtr enc_template;
  CipherCtxPtr dec_template;
  std::mutex template_mu;  // guards copies of the templates (rare: first use of a slot)
  Slot slots[kSlots];

  ~Impl() {
    for (Slot& s : slots) {
      EVP_CIPHER_CTX_free(s.enc);  // the provider wipes the key schedule on free
      EVP_CIPHER_CTX_free(s.dec);
    }
  }

  // A fresh context with the template's key schedule (no key setup runs).
  CipherCtxPtr CopyTemplate(bool encrypt) {
    std::lock_guard lock(template_mu);
    CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return nullptr;
    if (EVP_CIPHER_CTX_copy(ctx.get(), encrypt ? enc_template.get() : dec_template.get()) != 1) {
      return nullptr;
    }
    return ctx;
  }

  // Calls fn(ctx) with a cached context for the direction, claimed for the duration of the call.
  template <typename Fn>
  Status WithContext(bool encrypt, Fn&& fn) {
    const size_t hint = ThreadSlotHint();
    for (size_t i = 0; i < kSlots; ++i) {
      Slot& slot = slots[(hint + i) % kSlots];
      if (slot.busy.load(std::memory_order_relaxed) ||
          slot.busy.exchange(true, std::memory_order_acquire)) {
        continue;
      }
      EVP_CIPHER_CTX*& ctx = encrypt ? slot.enc : slot.dec;
      if (ctx == nullptr) ctx = CopyTemplate(encrypt).release();
      Status status = ctx != nullptr ? fn(ctx)
                                     : internal::OpenSslError(StatusCode::kInternal,
                                                              "XTS context setup failed");
      slot.busy.store(false, std::memory_order_release);
      return status;
    }
    // More concurrent callers than slots: use a one-off copy.
    CipherCtxPtr ctx = CopyTemplate(encrypt);
    if (!ctx) return internal::OpenSslError(StatusCode::kInternal, "XTS context setup failed");
    return fn(ctx.get());
  }

  // Runs one XTS pass (length >= 16) with a cached context.
  Status Run(bool encrypt, const std::uint8_t* tweak, const std::uint8_t* in, std::uint8_t* out,
             size_t len) {
    return WithContext(encrypt,
                       [&](EVP_CIPHER_CTX* ctx) { return RunWith(ctx, tweak, in, out, len); });
  }

  static Status RunWith(EVP_CIPHER_CTX* ctx, const std::uint8_t* tweak, const std::uint8_t* in,
                        std::uint8_t* out, size_t len) {
    // EVP_Cipher goes straight to the provider's one-shot cipher function; for XTS a call is one
    // whole data unit, so EVP_CipherUpdate's buffering checks would be pure overhead.
    if (EVP_CipherInit_ex2(ctx, nullptr, nullptr, tweak, -1, nullptr) != 1 ||
        EVP_Cipher(ctx, out, in, static_cast<unsigned int>(len)) != static_cast<int>(len)) {
      return internal::OpenSslError(StatusCode::kInternal, "XTS operation failed");
    }
    return Status::Ok();
  }

  // The short-unit scheme (see aes_xts.h): XOR with XTS-Encrypt(key, tweak', 0^16).
  Status ShortUnit(const XtsTweak& tweak, ByteView in, MutableByteView out) {
    if ((tweak[15] & 0x80) != 0) {
      return Status(StatusCode::kInvalidArgument,
                    "XTS tweak for a unit shorter than 16 bytes must have bit 7 of byte 15 clear");
    }
    XtsTweak short_tweak = tweak;
    short_tweak[15] |= 0x80;
    std::uint8_t zeros[kBlock] = {};
    std::uint8_t keystream[kBlock];
    Status status = Run(/*encrypt=*/true, short_tweak.data(), zeros, keystream, kBlock);
    if (status.ok()) {
      for (size_t i = 0; i < in.size(); ++i) out[i] = in[i] ^ keystream[i];
    }
    OPENSSL_cleanse(keystream, sizeof(keystream));
    return status;
  }

  // Consecutive units with plain64 tweaks; one context claim for the whole run.
  Status ProcessUnits(bool encrypt, std::uint64_t first_unit, size_t unit_size, ByteView in,
                      MutableByteView out) {
    if (in.size() != out.size()) {
      return Status(StatusCode::kInvalidArgument, "XTS input and output sizes differ");
    }
    if (unit_size < kBlock || unit_size > kMaxUnitSize) {
      return Status(StatusCode::kInvalidArgument, "XTS unit size must be 16 bytes..1 MiB");
    }
    if (Overlaps(in, out)) {
      return Status(StatusCode::kInvalidArgument, "XTS input and output partially overlap");
    }
    const size_t full_bytes = in.size() - in.size() % unit_size;
    const size_t tail = in.size() - full_bytes;
    // Full units, plus a final partial unit of 16 bytes or more, go through the claimed context.
    const size_t batched = tail >= kBlock ? in.size() : full_bytes;
    if (batched > 0) {
      Status status = WithContext(encrypt, [&](EVP_CIPHER_CTX* ctx) {
        std::uint64_t unit = first_unit;
        for (size_t off = 0; off < batched; off += unit_size, ++unit) {
          const size_t len = std::min(unit_size, batched - off);
          const XtsTweak tweak = XtsTweakForUnit(unit);
          Status s = RunWith(ctx, tweak.data(), in.data() + off, out.data() + off, len);
          if (!s.ok()) return s;
        }
        return Status::Ok();
      });
      if (!status.ok()) return status;
    }
    if (tail > 0 && tail < kBlock) {
      const XtsTweak tweak = XtsTweakForUnit(first_unit + full_bytes / unit_size);
      return ShortUnit(tweak, in.subspan(full_bytes), out.subspan(full_bytes));
    }
    return Status::Ok();
  }

  Status Process(bool encrypt, const XtsTweak& tweak, ByteView in, MutableByteView out) {
    if (in.size() != out.size()) {
      return Status(StatusCode::kInvalidArgument, "XTS input and output sizes differ");
    }
    if (in.size() > kMaxUnitSize) {
      return Status(StatusCode::kInvalidArgument, "XTS data unit too large");
    }
    if (Overlaps(in, out)) {
      return Status(StatusCode::kInvalidArgument, "XTS input and output partially overlap");
    }
    if (in.empty()) return Status::Ok();
    if (in.size() < kBlock) return ShortUnit(tweak, in, out);
    return Run(encrypt, tweak.data(), in.data(), out.data(), in.size());
  }
};

Result<XtsCipher> XtsCipher::Create(const SecretBytes& key) {
  if (key.size() != kKeySize) {
    return Err(StatusCode::kInvalidArgument, "XTS key must be 64 bytes");
  }
  const ByteView k = key.reveal();
  if (CRYPTO_memcmp(k.data(), k.data() + kKeySize / 2, kKeySize / 2) == 0) {
    return Err(StatusCode::kInvalidArgument, "XTS key halves must differ");
  }
  auto impl = std::make_unique<Impl>();
  impl->enc_template.reset(EVP_CIPHER_CTX_new());
  impl->dec_template.reset(EVP_CIPHER_CTX_new());
  if (!impl->enc_template || !impl->dec_template ||
      EVP_EncryptInit_ex2(impl->enc_template.get(), EVP_aes_256_xts(), k.data(), nullptr,
                          nullptr) != 1 ||
      EVP_DecryptInit_ex2(impl->dec_template.get(), EVP_aes_256_xts(), k.data(), nullptr,
                          nullptr) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "XTS key setup failed"));
  }
  return XtsCipher(std::move(impl));
}

XtsCipher::XtsCipher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
XtsCipher::XtsCipher(XtsCipher&&) noexcept = default;
XtsCipher& XtsCipher::operator=(XtsCipher&&) noexcept = default;
XtsCipher::~XtsCipher() = default;

Status XtsCipher::Encrypt(const XtsTweak& tweak, ByteView in, MutableByteView out) const {
  if (!impl_) return Status(StatusCode::kFailedPrecondition, "XTS cipher was moved from");
  return impl_->Process(/*encrypt=*/true, tweak, in, out);
}

Status XtsCipher::Decrypt(const XtsTweak& tweak, ByteView in, MutableByteView out) const {
  if (!impl_) return Status(StatusCode::kFailedPrecondition, "XTS cipher was moved from");
  return impl_->Process(/*encrypt=*/false, tweak, in, out);
}

Status XtsCipher::EncryptUnits(std::uint64_t first_unit, size_t unit_size, ByteView in,
                               MutableByteView out) const {
  if (!impl_) return Status(StatusCode::kFailedPrecondition, "XTS cipher was moved from");
  return impl_->ProcessUnits(/*encrypt=*/true, first_unit, unit_size, in, out);
}

Status XtsCipher::DecryptUnits(std::uint64_t first_unit, size_t unit_size, ByteView in,
                               MutableByteView out) const {
  if (!impl_) return Status(StatusCode::kFailedPrecondition, "XTS cipher was moved from");
  return impl_->ProcessUnits(/*encrypt=*/false, first_unit, unit_size, in, out);
}

}  // namespace pgcmk::crypto
