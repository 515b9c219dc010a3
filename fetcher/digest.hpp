// Digests of content: "sha256:<64 lowercase hex>". A Digest is always valid once built (parse
// checks the algorithm and the hex); Sha256 is an incremental hasher over OpenSSL EVP used by
// every verifier in the fetcher (blobs while streaming, diff_ids while unpacking, artifacts).
// Sha256 is not thread-safe; one per stream.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::fetcher {

class Digest {
 public:
  Digest() = default;
  // Accepts only "sha256:" followed by 64 lowercase hex digits; anything else is
  // kInvalidArgument saying what was wrong.
  static Result<Digest> parse(std::string_view text);
  static Digest from_hex(std::string hex) { return Digest(std::move(hex)); }
  static Digest of(std::string_view data);

  const std::string& hex() const { return hex_; }
  std::string str() const { return "sha256:" + hex_; }
  bool empty() const { return hex_.empty(); }
  bool operator==(const Digest&) const = default;
  bool operator<(const Digest& o) const { return hex_ < o.hex_; }

 private:
  explicit Digest(std::string hex) : hex_(std::move(hex)) {}
  std::string hex_;
};

bool is_sha256_hex(std::string_view hex);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(const void* data, size_t len);
  // Finishes the hash; the hasher must not be updated afterwards.
  Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::fetcher
