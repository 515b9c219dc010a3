#include "fetcher/oci_layout.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <unistd.h>

#include "common/json.hpp"
#include "fetcher/input_file.hpp"

namespace berth::fetcher {
namespace {

constexpr size_t kMaxMetadataBlob = 16 << 20;

// Every file of a layout is opened as an input (only regular files, the last component never
// followed, nothing outside the layout): a FIFO or a device planted in it cannot block berthd.
Result<UniqueFd> open_layout_file(int dir_fd, const std::string& name) {
  BERTH_TRY(InputFile in, open_input(dir_fd, name, RESOLVE_BENEATH, InputKind::kFile));
  return std::move(in.fd);
}

Result<std::string> read_small_file(int fd, const std::string& what) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read " + what);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxMetadataBlob)
      return make_error(Code::kInvalidArgument, what + " is larger than " + std::to_string(kMaxMetadataBlob) + " bytes");
  }
  return data;
}

Result<std::string> read_blob_file(int blobs_fd, const Descriptor& d) {
  auto fd = open_layout_file(blobs_fd, d.digest.hex());
  if (!fd) {
    if (fd.error().code == Code::kNotFound) return make_error(Code::kNotFound, "layout has no blob " + d.digest.str());
    return std::move(fd).error().wrap("blob");
  }
  BERTH_TRY(std::string data, read_small_file(fd->get(), "blob " + d.digest.str()));
  if (Digest::of(data) != d.digest)
    return make_error(Code::kFailedPrecondition, "blob " + d.digest.str() + " does not match its digest");
  return data;
}

Status load_layer(LayerIngester& store, int blobs_fd, const Descriptor& d, const Digest& diff_id,
                  const UnpackLimits& limits) {
  BERTH_TRY_CTX(UniqueFd fd, open_layout_file(blobs_fd, d.digest.hex()), "layer blob");
  BERTH_TRY(Decompressors decompressors, layer_decompressors(d.media_type));
  BERTH_TRY(LayerWriter layer, store.begin_layer());
  Sha256 compressed;
  uint64_t seen = 0;
  ReadFn read = [&](void* buf, size_t len) -> Result<size_t> {
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error("read layer " + d.digest.str());
      compressed.update(buf, static_cast<size_t>(n));
      seen += static_cast<uint64_t>(n);
      return static_cast<size_t>(n);
    }
  };
  UnpackOptions uo;
  uo.limits = limits;
  uo.decompressors = decompressors;
  BERTH_TRY_CTX(UnpackStats stats, unpack(read, layer.root_fd(), uo), "layer " + d.digest.str());
  // Whatever the decompressor did not need still belongs to the blob's digest.
  char buf[65536];
  for (;;) {
    BERTH_TRY(size_t n, read(buf, sizeof buf));
    if (n == 0) break;
  }
  if (compressed.finish() != d.digest || seen != static_cast<uint64_t>(d.size))
    return make_error(Code::kFailedPrecondition, "layer " + d.digest.str() + " does not match its digest or size");
  return layer.commit(diff_id, stats.diff_id, stats.uncompressed_bytes);
}

}  // namespace

Result<ImageRecord> load_oci_layout(Store& store, const std::string& dir, const LoadOptions& options) {
  BERTH_TRY_CTX(InputFile in, open_input(AT_FDCWD, dir, 0, InputKind::kDirectory), "load");
  return load_oci_layout(store, in.fd.get(), dir, options);
}

Result<ImageRecord> load_oci_layout(Store& store, int root_fd, const std::string& dir,
                                    const LoadOptions& options) {
  const std::string ctx = "load " + dir;
  IngestLease lease = store.begin_ingest();
  if (::faccessat(root_fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) != 0)
    return make_error(Code::kInvalidArgument, ctx + ": not an OCI image layout (no oci-layout file)");
  BERTH_TRY_CTX(InputFile blobs, open_input(root_fd, "blobs/sha256", RESOLVE_BENEATH, InputKind::kDirectory), ctx);
  BERTH_TRY_CTX(UniqueFd index_fd, open_layout_file(root_fd, "index.json"), ctx);
  BERTH_TRY_CTX(std::string index_text, read_small_file(index_fd.get(), "index.json"), ctx);
  BERTH_TRY_CTX(auto doc, json::parse(index_text), ctx + ": index.json");
  if (!doc.IsObject() || !doc.HasMember("manifests") || !doc["manifests"].IsArray())
    return make_error(Code::kInvalidArgument, ctx + ": index.json has no manifests");

  // Pick the entry by its ref.name annotation.
  const rapidjson::Value* entry = nullptr;
  size_t count = doc["manifests"].Size();
  for (const auto& m : doc["manifests"].GetArray()) {
    std::string name;
    if (m.HasMember("annotations") && m["annotations"].IsObject())
      name = json::get_string(m["annotations"], "org.opencontainers.image.ref.name");
    if (options.ref_name.empty() ? count == 1 : name == options.ref_name) entry = &m;
  }
  if (!entry)
    return make_error(Code::kNotFound, ctx + (options.ref_name.empty() ? ": the layout holds " + std::to_string(count) +
                                                                              " images; name one"
                                                                        : ": no image named '" + options.ref_name + "'"));
  // The entry as a one-element index, so descriptor parsing stays in one place.
  std::string wrapped = "{\"manifests\":[" + json::to_string(*entry) + "]}";
  BERTH_TRY_CTX(ImageIndex top_index, parse_image_index(wrapped), ctx + ": index.json");
  Descriptor top = top_index.manifests.at(0);
  BERTH_TRY_CTX(std::string top_body, read_blob_file(blobs.fd.get(), top), ctx);

  ImageRecord rec;
  rec.ref = options.record_as;
  std::string image_body = top_body;
  Digest image_digest = top.digest;
  BERTH_TRY_CTX(ManifestKind kind, classify_manifest(top.media_type, top_body), ctx);
  if (kind == ManifestKind::kIndex) {
    BERTH_TRY_CTX(ImageIndex idx, parse_image_index(top_body), ctx);
    BERTH_TRY_CTX(Descriptor chosen, select_platform(idx, options.platform), ctx);
    BERTH_TRY_CTX(image_body, read_blob_file(blobs.fd.get(), chosen), ctx);
    rec.index_digest = top.digest;
    image_digest = chosen.digest;
  }
  BERTH_TRY_CTX(ImageManifest manifest, parse_image_manifest(image_body), ctx);
  BERTH_TRY_CTX(std::string config_body, read_blob_file(blobs.fd.get(), manifest.config), ctx + ": config");
  BERTH_TRY_CTX(ImageConfig config, parse_image_config(config_body), ctx);
  if (config.diff_ids.size() != manifest.layers.size())
    return make_error(Code::kInvalidArgument, ctx + ": config and manifest disagree on the number of layers");

  // Nothing is taken back on failure: only GC deletes (content_store.hpp), so a pull that
  // found one of these layers present meanwhile keeps it.
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    const Descriptor& d = manifest.layers[i];
    LayerProgress p{i, d.digest, static_cast<uint64_t>(d.size), 0, 0, LayerProgress::State::kPresent};
    auto report = [&](LayerProgress::State s) {
      p.state = s;
      if (options.progress) options.progress(p);
    };
    if (store.has_layer(config.diff_ids[i])) {
      report(LayerProgress::State::kPresent);
      continue;
    }
    report(LayerProgress::State::kFetching);
    auto st = load_layer(store, blobs.fd.get(), d, config.diff_ids[i], options.limits);
    report(st ? LayerProgress::State::kDone : LayerProgress::State::kFailed);
    BERTH_CHECK_CTX(st, ctx);
  }
  if (!rec.index_digest.empty()) BERTH_CHECK_CTX(store.put_blob(rec.index_digest, top_body), ctx);
  BERTH_CHECK_CTX(store.put_blob(image_digest, image_body), ctx);
  BERTH_CHECK_CTX(store.put_blob(manifest.config.digest, config_body), ctx);
  rec.manifest_digest = image_digest;
  rec.media_type = manifest.media_type;
  rec.config_digest = manifest.config.digest;
  rec.layers = config.diff_ids;
  for (const auto& l : manifest.layers) {
    rec.layer_blobs.push_back(l.digest);
    rec.compressed_size += static_cast<uint64_t>(l.size);
  }
  for (const auto& l : rec.layers) rec.size += store.layer_size(l);
  BERTH_CHECK_CTX(store.put_image(rec), ctx);
  return rec;
}

}  // namespace berth::fetcher
