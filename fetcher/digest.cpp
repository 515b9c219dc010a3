#include "fetcher/digest.hpp"

#include <openssl/evp.h>

#include <cstdlib>

namespace berth::fetcher {

bool is_sha256_hex(std::string_view hex) {
  if (hex.size() != 64) return false;
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<Digest> Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return make_error(Code::kInvalidArgument, "digest '" + std::string(text) +
                                                  "' has no algorithm (expected sha256:<hex>)");
  auto algo = text.substr(0, colon);
  auto hex = text.substr(colon + 1);
  if (algo != "sha256")
    return make_error(Code::kInvalidArgument,
                      "digest algorithm '" + std::string(algo) + "' is not supported (only sha256)");
  if (!is_sha256_hex(hex))
    return make_error(Code::kInvalidArgument,
                      "digest '" + std::string(text) + "' is not sha256 followed by 64 lowercase hex digits");
  return Digest(std::string(hex));
}

Digest Digest::of(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.finish();
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  // Allocation failure of a hash context is treated like bad_alloc: the process cannot go on.
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() {
  if (impl_ && impl_->ctx) EVP_MD_CTX_free(impl_->ctx);
}

Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&& o) noexcept {
  if (this != &o) {
    if (impl_ && impl_->ctx) EVP_MD_CTX_free(impl_->ctx);
    impl_ = std::move(o.impl_);
  }
  return *this;
}

void Sha256::update(const void* data, size_t len) {
  if (len) EVP_DigestUpdate(impl_->ctx, data, len);
}

Digest Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &n);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 15]);
  }
  return Digest::from_hex(std::move(hex));
}

}  // namespace berth::fetcher
