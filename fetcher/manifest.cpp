#include "fetcher/manifest.hpp"

#include <sys/utsname.h>

#include "common/json.hpp"

namespace berth::fetcher {

std::string media::accept_header() {
  return "Accept: " + std::string(kOciIndex) + ", " + std::string(kOciManifest) + ", " +
         std::string(kDockerList) + ", " + std::string(kDockerManifest);
}

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

Platform host_platform() {
  Platform p{"linux", "", ""};
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") p.architecture = "amd64";
  else if (m == "aarch64" || m == "arm64") { p.architecture = "arm64"; p.variant = "v8"; }
  else if (m == "armv7l") { p.architecture = "arm"; p.variant = "v7"; }
  else if (m == "armv6l") { p.architecture = "arm"; p.variant = "v6"; }
  else if (m == "i686" || m == "i386") p.architecture = "386";
  else if (m == "ppc64le") p.architecture = "ppc64le";
  else if (m == "s390x") p.architecture = "s390x";
  else if (m == "riscv64") p.architecture = "riscv64";
  else p.architecture = m;
  return p;
}

namespace {

Error bad_manifest(const std::string& why) {
  return make_error(Code::kInvalidArgument, "malformed manifest: " + why);
}

Error schema1_refused() {
  return make_error(Code::kInvalidArgument,
                    "Docker image manifest schema 1 is not supported (deprecated, unverifiable); "
                    "re-push the image with a current client so the registry serves schema 2 or OCI");
}

Result<Descriptor> parse_descriptor(const rapidjson::Value& v, const char* what) {
  if (!v.IsObject()) return bad_manifest(std::string(what) + " is not an object");
  Descriptor d;
  d.media_type = json::get_string(v, "mediaType");
  std::string digest = json::get_string(v, "digest");
  auto parsed = Digest::parse(digest);
  if (!parsed) return bad_manifest(std::string(what) + ": " + parsed.error().message);
  d.digest = *parsed;
  if (!v.HasMember("size") || !v["size"].IsInt64() || v["size"].GetInt64() < 0)
    return bad_manifest(std::string(what) + " " + digest + " has no valid size");
  d.size = v["size"].GetInt64();
  d.urls = json::get_string_array(v, "urls");
  if (v.HasMember("platform") && v["platform"].IsObject()) {
    const auto& p = v["platform"];
    d.platform = Platform{json::get_string(p, "os"), json::get_string(p, "architecture"),
                          json::get_string(p, "variant")};
    d.has_platform = true;
  }
  return d;
}

}  // namespace

Result<ManifestKind> classify_manifest(std::string_view content_type, std::string_view body) {
  // Content-Type may carry parameters ("; charset=utf-8").
  std::string_view ct = content_type.substr(0, content_type.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  if (ct == media::kDockerSchema1 || ct == media::kDockerSchema1Signed) return schema1_refused();
  if (ct == media::kOciManifest || ct == media::kDockerManifest) return ManifestKind::kImage;
  if (ct == media::kOciIndex || ct == media::kDockerList) return ManifestKind::kIndex;
  BERTH_TRY(auto doc, json::parse(body));
  if (!doc.IsObject()) return bad_manifest("not a JSON object");
  if (json::get_int(doc, "schemaVersion") == 1) return schema1_refused();
  std::string mt = json::get_string(doc, "mediaType");
  if (mt == media::kOciManifest || mt == media::kDockerManifest) return ManifestKind::kImage;
  if (mt == media::kOciIndex || mt == media::kDockerList) return ManifestKind::kIndex;
  // OCI allows omitting mediaType: decide by shape.
  if (doc.HasMember("manifests")) return ManifestKind::kIndex;
  if (doc.HasMember("config") && doc.HasMember("layers")) return ManifestKind::kImage;
  return make_error(Code::kInvalidArgument,
                    "unsupported manifest media type '" + std::string(ct.empty() ? mt : ct) + "'");
}

Result<ImageManifest> parse_image_manifest(std::string_view body) {
  BERTH_TRY(auto doc, json::parse(body));
  if (!doc.IsObject()) return bad_manifest("not a JSON object");
  if (json::get_int(doc, "schemaVersion") == 1) return schema1_refused();
  if (json::get_int(doc, "schemaVersion") != 2) return bad_manifest("schemaVersion is not 2");
  ImageManifest m;
  m.media_type = json::get_string(doc, "mediaType", std::string(media::kOciManifest));
  if (!doc.HasMember("config")) return bad_manifest("no config descriptor");
  BERTH_TRY(m.config, parse_descriptor(doc["config"], "config"));
  if (!doc.HasMember("layers") || !doc["layers"].IsArray()) return bad_manifest("no layers array");
  for (const auto& l : doc["layers"].GetArray()) {
    BERTH_TRY(auto d, parse_descriptor(l, "layer"));
    BERTH_CHECK(check_layer_media_type(d.media_type));
    m.layers.push_back(std::move(d));
  }
  return m;
}

Result<ImageIndex> parse_image_index(std::string_view body) {
  BERTH_TRY(auto doc, json::parse(body));
  if (!doc.IsObject()) return bad_manifest("not a JSON object");
  ImageIndex idx;
  idx.media_type = json::get_string(doc, "mediaType", std::string(media::kOciIndex));
  if (!doc.HasMember("manifests") || !doc["manifests"].IsArray()) return bad_manifest("index has no manifests array");
  for (const auto& e : doc["manifests"].GetArray()) {
    BERTH_TRY(auto d, parse_descriptor(e, "index entry"));
    idx.manifests.push_back(std::move(d));
  }
  return idx;
}

Result<Descriptor> select_platform(const ImageIndex& index, const Platform& want) {
  const Descriptor* fallback = nullptr;
  std::string available;
  for (const auto& d : index.manifests) {
    // Entries that are not image manifests (attestations, nested indexes) are not runnable.
    if (!d.media_type.empty() && d.media_type != media::kOciManifest && d.media_type != media::kDockerManifest)
      continue;
    if (!d.has_platform) continue;
    if (!available.empty()) available += ", ";
    available += d.platform.str();
    if (d.platform.os != want.os || d.platform.architecture != want.architecture) continue;
    if (d.platform.variant == want.variant) return d;
    // arm64 images often omit "v8"; an unqualified entry runs on any variant of the arch.
    if (d.platform.variant.empty() && !fallback) fallback = &d;
  }
  if (fallback) return *fallback;
  return make_error(Code::kNotFound, "no image for platform " + want.str() + " in the index (it has: " +
                                         (available.empty() ? "none" : available) + ")");
}

Result<ImageConfig> parse_image_config(std::string_view body) {
  BERTH_TRY(auto doc, json::parse(body));
  if (!doc.IsObject()) return make_error(Code::kInvalidArgument, "malformed image config: not a JSON object");
  ImageConfig c;
  c.platform = Platform{json::get_string(doc, "os"), json::get_string(doc, "architecture"),
                        json::get_string(doc, "variant")};
  if (!doc.HasMember("rootfs") || !doc["rootfs"].IsObject() || !doc["rootfs"].HasMember("diff_ids") ||
      !doc["rootfs"]["diff_ids"].IsArray())
    return make_error(Code::kInvalidArgument, "malformed image config: no rootfs.diff_ids");
  for (const auto& d : doc["rootfs"]["diff_ids"].GetArray()) {
    if (!d.IsString()) return make_error(Code::kInvalidArgument, "malformed image config: diff_id not a string");
    BERTH_TRY_CTX(auto parsed, Digest::parse(d.GetString()), "malformed image config");
    c.diff_ids.push_back(parsed);
  }
  if (doc.HasMember("config") && doc["config"].IsObject()) {
    const auto& cfg = doc["config"];
    c.entrypoint = json::get_string_array(cfg, "Entrypoint");
    c.cmd = json::get_string_array(cfg, "Cmd");
    c.env = json::get_string_array(cfg, "Env");
    c.working_dir = json::get_string(cfg, "WorkingDir");
    c.user = json::get_string(cfg, "User");
  }
  return c;
}

Status check_layer_media_type(std::string_view mt) {
  if (mt.empty() || mt == media::kOciLayer || mt == media::kOciLayerGzip || mt == media::kOciLayerZstd ||
      mt == media::kDockerLayer || mt == media::kDockerLayerGzip || mt == media::kDockerLayerZstd)
    return ok();
  if (mt.find("nondistributable") != std::string_view::npos || mt.find("foreign") != std::string_view::npos)
    return make_error(Code::kInvalidArgument, "layer media type '" + std::string(mt) +
                                                  "' is a foreign/non-distributable layer, which berth does not fetch");
  return make_error(Code::kInvalidArgument, "layer media type '" + std::string(mt) + "' is not a tar layer");
}

}  // namespace berth::fetcher
