// Manifests, indexes and image configs as the fetcher needs them. Parsing is strict where a
// mistake would pull the wrong bytes (digests, sizes, media types) and lenient elsewhere
// (unknown fields are ignored). Docker schema1 is recognised only to be refused with a message
// that says so. Platform selection picks this machine's os/architecture/variant from an index.
// Plain value types; no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "fetcher/digest.hpp"

namespace berth::fetcher {

namespace media {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";  // uncompressed
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd";
inline constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
// The Accept header for manifest requests: everything we can use, nothing we would refuse.
std::string accept_header();
}  // namespace media

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64"
  std::string variant;       // "v8", often empty
  std::string str() const;
};

// This machine, in OCI terms (uname machine → GOARCH names).
Platform host_platform();

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = -1;
  std::vector<std::string> urls;
  Platform platform;  // only meaningful inside an index
  bool has_platform = false;
};


struct ImageManifest {
  std::string media_type;  // kOciManifest or kDockerManifest
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct ImageIndex {
  std::string media_type;  // kOciIndex or kDockerList
  std::vector<Descriptor> manifests;
};

enum class ManifestKind { kImage, kIndex };

// Classifies a manifest body by the Content-Type the registry sent, falling back to the body's
// own mediaType / schemaVersion. Schema1 → kInvalidArgument explaining it is not supported.
Result<ManifestKind> classify_manifest(std::string_view content_type, std::string_view body);
Result<ImageManifest> parse_image_manifest(std::string_view body);
Result<ImageIndex> parse_image_index(std::string_view body);

// The entry for `want` in `index`: same os and architecture; if want.variant is set, an entry
// with that variant wins over one without. kNotFound lists the platforms the index has.
Result<Descriptor> select_platform(const ImageIndex& index, const Platform& want);

// The parts of an image config berth uses.
struct ImageConfig {
  Platform platform;
  std::vector<Digest> diff_ids;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
};
Result<ImageConfig> parse_image_config(std::string_view body);

// Layer compression as named by the media type. libarchive detects the filter from the bytes
// anyway; this only refuses media types that are not layers at all.
Status check_layer_media_type(std::string_view media_type);

}  // namespace berth::fetcher
