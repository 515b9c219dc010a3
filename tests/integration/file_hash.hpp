// sha256 of a file's contents, hex: the escape tests compare berth's binaries before and after
// a task tried to rewrite them.
#pragma once

#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <string>

namespace berth::testing {

inline std::string sha256_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    static const char* k = "0123456789abcdef";
    hex += k[md[i] >> 4];
    hex += k[md[i] & 15];
  }
  return hex;
}

}  // namespace berth::testing
