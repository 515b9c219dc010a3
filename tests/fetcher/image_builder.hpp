// Builds test images (busybox-static plus generated files) and pushes them to a test Registry
// with our own upload code: layer blobs, a config with the right diff_ids, an OCI or Docker
// schema2 manifest, optionally an OCI index over several platforms.
#pragma once

#include <string>
#include <vector>

#include "common/fs.hpp"
#include "fetcher/digest.hpp"
#include "tests/fetcher/tar_builder.hpp"
#include "tests/fixtures/registry.hpp"

namespace berth::testing {

struct TestLayer {
  std::string tar;  // uncompressed
  Compression compression = Compression::kGzip;
};

struct PushedImage {
  std::string manifest_digest, config_digest, manifest_body;
  std::vector<std::string> layer_digests, diff_ids;
};

// The stream `tar` through one libarchive write filter (ARCHIVE_FILTER_*), as a raw stream.
inline std::string compress_with(const std::string& tar, int filter) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  archive_write_add_filter(a, filter);
  // No mtime in the gzip header: the same tar always compresses to the same blob (tests
  // recompute blobs to find or corrupt them; a second boundary in between made them differ).
  if (filter == ARCHIVE_FILTER_GZIP) archive_write_set_filter_option(a, "gzip", "timestamp", nullptr);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, nullptr, [](struct archive*, void* ud, const void* b, size_t n) -> la_ssize_t {
    static_cast<std::string*>(ud)->append(static_cast<const char*>(b), n);
    return static_cast<la_ssize_t>(n);
  }, nullptr);
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_pathname(e, "data");
  archive_entry_set_size(e, static_cast<la_int64_t>(tar.size()));
  archive_write_header(a, e);
  archive_write_data(a, tar.data(), tar.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline std::string compress(const std::string& tar, Compression c) {
  switch (c) {
    case Compression::kGzip: return compress_with(tar, ARCHIVE_FILTER_GZIP);
    case Compression::kZstd: return compress_with(tar, ARCHIVE_FILTER_ZSTD);
    case Compression::kXz: return compress_with(tar, ARCHIVE_FILTER_XZ);
    default: return tar;
  }
}

// n pseudo-random bytes: content that compression cannot shrink (slow, large layers).
inline std::string noise(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (auto& c : s) {
    seed = seed * 1103515245 + 12345;
    c = static_cast<char>(seed >> 24);
  }
  return s;
}

inline std::string busybox_layer_tar() {
  auto bb = fs::read_file("/bin/busybox");
  TarBuilder t;
  t.dir("bin").file("bin/busybox", bb.value_or("missing busybox-static"), 0755);
  for (const char* app : {"sh", "ls", "cat", "echo"}) t.symlink(std::string("bin/") + app, "busybox");
  t.dir("etc").file("etc/os-release", "NAME=berth-test\n");
  return t.build();
}

inline const char* layer_media_type(Compression c, bool oci) {
  if (!oci)
    return c == Compression::kNone ? "application/vnd.docker.image.rootfs.diff.tar"
                                   : "application/vnd.docker.image.rootfs.diff.tar.gzip";
  switch (c) {
    case Compression::kGzip: return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::kZstd: return "application/vnd.oci.image.layer.v1.tar+zstd";
    default: return "application/vnd.oci.image.layer.v1.tar";
  }
}

inline Result<PushedImage> push_image(Registry& reg, const std::string& repo, const std::string& tag,
                                      const std::vector<TestLayer>& layers, const std::string& arch = "amd64",
                                      bool oci = true,
                                      const std::string& process_config = R"({"Cmd":["/bin/sh"],"Env":["PATH=/bin"]})") {
  PushedImage img;
  std::string layer_json;
  for (const auto& l : layers) {
    std::string blob = compress(l.tar, l.compression);
    BERTH_TRY(std::string d, reg.push_blob(repo, blob));
    img.layer_digests.push_back(d);
    img.diff_ids.push_back(fetcher::Digest::of(l.tar).str());
    if (!layer_json.empty()) layer_json += ",";
    layer_json += std::string(R"({"mediaType":")") + layer_media_type(l.compression, oci) + R"(","digest":")" + d +
                  R"(","size":)" + std::to_string(blob.size()) + "}";
  }
  std::string diff_ids;
  for (const auto& d : img.diff_ids) diff_ids += (diff_ids.empty() ? "\"" : ",\"") + d + "\"";
  std::string config = R"({"architecture":")" + arch + R"(","os":"linux","config":)" + process_config + R"(,"rootfs":{"type":"layers","diff_ids":[)" +
                       diff_ids + "]}}";
  BERTH_TRY(img.config_digest, reg.push_blob(repo, config));
  std::string mt = oci ? "application/vnd.oci.image.manifest.v1+json" : "application/vnd.docker.distribution.manifest.v2+json";
  std::string cmt = oci ? "application/vnd.oci.image.config.v1+json" : "application/vnd.docker.container.image.v1+json";
  img.manifest_body = R"({"schemaVersion":2,"mediaType":")" + mt + R"(","config":{"mediaType":")" + cmt +
                      R"(","digest":")" + img.config_digest + R"(","size":)" + std::to_string(config.size()) +
                      R"(},"layers":[)" + layer_json + "]}";
  img.manifest_digest = fetcher::Digest::of(img.manifest_body).str();
  BERTH_TRY(std::string served, reg.push_manifest(repo, tag.empty() ? img.manifest_digest : tag, mt, img.manifest_body));
  (void)served;
  return img;
}

// An OCI image layout in `dir` with one image named `name`, written by hand. Returns the
// manifest digest.
inline Result<std::string> write_layout(const std::string& dir, const std::vector<TestLayer>& layers,
                                        const std::string& name) {
  BERTH_CHECK(fs::mkdir_p(dir + "/blobs/sha256"));
  auto put = [&](const std::string& data) -> Result<std::string> {
    auto d = fetcher::Digest::of(data);
    BERTH_CHECK(fs::write_file_atomic(dir + "/blobs/sha256/" + d.hex(), data));
    return d.str();
  };
  std::string layer_json, diff_ids;
  for (const auto& l : layers) {
    std::string blob = compress(l.tar, l.compression);
    BERTH_TRY(std::string d, put(blob));
    layer_json += std::string(layer_json.empty() ? "" : ",") + R"({"mediaType":")" + layer_media_type(l.compression, true) +
                  R"(","digest":")" + d + R"(","size":)" + std::to_string(blob.size()) + "}";
    diff_ids += std::string(diff_ids.empty() ? "\"" : ",\"") + fetcher::Digest::of(l.tar).str() + "\"";
  }
  std::string config = R"({"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[)" +
                       diff_ids + "]}}";
  BERTH_TRY(std::string cd, put(config));
  std::string manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                         cd + R"(","size":)" + std::to_string(config.size()) + R"(},"layers":[)" + layer_json + "]}";
  BERTH_TRY(std::string md, put(manifest));
  BERTH_CHECK(fs::write_file_atomic(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  BERTH_CHECK(fs::write_file_atomic(dir + "/index.json",
                                    R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                                        md + R"(","size":)" + std::to_string(manifest.size()) +
                                        R"(,"annotations":{"org.opencontainers.image.ref.name":")" + name + R"("}}]})"));
  return md;
}

}  // namespace berth::testing
