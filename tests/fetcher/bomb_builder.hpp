// Decompression bombs for tests, built here with libarchive (no binaries committed), and a way
// to push a one-layer image whose layer is a given compressed blob. The uncompressed bytes are
// never held in memory: the tar is written straight through the compressor.
#pragma once

#include <string>

#include "fetcher/digest.hpp"
#include "tests/fetcher/tar_builder.hpp"
#include "tests/fixtures/registry.hpp"

namespace berth::testing {

// One file of `bytes` zeros: 2 GiB compress to about 66 KB with zstd.
inline std::string zero_bomb(long long bytes, Compression c = Compression::kZstd) {
  return TarBuilder().sized_file("zeros", bytes).build(c);
}

// `count` empty files: 200,000 compress to a few hundred KB.
inline std::string entry_bomb(int count, Compression c = Compression::kGzip) {
  TarBuilder t;
  t.dir("d");
  for (int i = 0; i < count; ++i) t.file("d/" + std::to_string(i), "");
  return t.build(c);
}

// Pushes an image whose only layer is `blob` with `media_type`. The diff_id is made up: a bomb
// is refused long before the unpacker could have checked it.
inline Result<std::string> push_blob_image(Registry& reg, const std::string& repo, const std::string& tag,
                                           const std::string& blob, const std::string& media_type) {
  BERTH_TRY(std::string layer, reg.push_blob(repo, blob));
  std::string config = R"({"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},)"
                       R"("rootfs":{"type":"layers","diff_ids":[")" + fetcher::Digest::of("not checked").str() + R"("]}})";
  BERTH_TRY(std::string config_digest, reg.push_blob(repo, config));
  std::string manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
                         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                         config_digest + R"(","size":)" + std::to_string(config.size()) + R"(},"layers":[{"mediaType":")" +
                         media_type + R"(","digest":")" + layer + R"(","size":)" + std::to_string(blob.size()) + "}]}";
  return reg.push_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", manifest);
}

}  // namespace berth::testing
