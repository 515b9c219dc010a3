#include "agent/images.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "fetcher/input_file.hpp"
#include "fetcher/oci_layout.hpp"
#include "fetcher/reference.hpp"
#include "fetcher/unpacker.hpp"

namespace berth::agent {

namespace {

fetcher::RegistryOptions registry_options(const Config& config) {
  fetcher::RegistryOptions o;
  for (const auto& [host, r] : config.registries) {
    fetcher::RegistryHost h;
    h.insecure = r.insecure;
    h.tls.ca_file = r.ca_file;
    h.tls.client_cert = r.client_cert;
    h.tls.client_key = r.client_key;
    h.username = r.username;
    h.password = r.password;
    h.mirrors = r.mirrors;
    o.hosts[host] = h;
  }
  return o;
}

}  // namespace

fetcher::UnpackLimits unpack_limits(const Config& c) {
  fetcher::UnpackLimits l;
  l.max_bytes = c.unpack_max_mb << 20;
  l.max_entries = c.unpack_max_entries;
  l.max_ratio = c.unpack_max_ratio;
  l.ratio_after_bytes = c.unpack_ratio_after_mb << 20;
  l.min_free_bytes = c.unpack_min_free_mb << 20;
  l.max_bytes_name = "config unpack.max_mb";
  l.max_entries_name = "config unpack.max_entries";
  l.max_ratio_name = "config unpack.max_ratio";
  l.min_free_name = "config unpack.min_free_mb";
  return l;
}

Images::Images(const Config& config, std::unique_ptr<fetcher::ContentStore> store,
               std::unique_ptr<fetcher::RegistryClient> client, std::unique_ptr<fetcher::ArtifactCache> artifacts)
    : config_(config), store_(std::move(store)), client_(std::move(client)), artifacts_(std::move(artifacts)) {
  puller_ = std::make_unique<fetcher::Puller>(*store_, *client_);
  layer_limits_ = unpack_limits(config);
}

Result<std::unique_ptr<Images>> Images::open(const Config& config) {
  // A load interrupted by a crash leaves its temp dir (see load()): nothing else owns it.
  for (const auto& n : fs::list_dir(config.state_dir).value_or(std::vector<std::string>{}))
    if (n.rfind("load-", 0) == 0) (void)fs::remove_tree(config.state_dir + "/" + n);
  BERTH_CHECK(fs::mkdir_p(config.store_dir(), 0711));
  BERTH_TRY_CTX(auto store, fetcher::ContentStore::open(config.store_dir()), "content store");
  auto client = std::make_unique<fetcher::RegistryClient>(registry_options(config));
  fetcher::ArtifactOptions ao;
  ao.cache_max_bytes = config.artifact_cache_mb * 1024 * 1024;
  ao.file_roots = config.fetch_file_roots;
  ao.max_bytes = config.fetch_artifact_max_mb << 20;
  ao.task_max_bytes = config.fetch_task_max_mb << 20;
  ao.file_roots_name = "config fetch.file_roots";
  ao.max_bytes_name = "config fetch.artifact_max_mb";
  ao.task_max_bytes_name = "config fetch.task_max_mb";
  ao.limits = unpack_limits(config);
  BERTH_CHECK(fs::mkdir_p(config.artifacts_dir(), 0700));
  BERTH_TRY_CTX(auto artifacts, fetcher::ArtifactCache::open(config.artifacts_dir(), ao), "artifact cache");
  return std::unique_ptr<Images>(new Images(config, std::move(store), std::move(client), std::move(artifacts)));
}

Result<std::string> Images::key(const std::string& ref) {
  BERTH_TRY(auto parsed, fetcher::parse_reference(ref));
  return parsed.key();
}

Result<fetcher::ImageRecord> Images::pull(const std::string& ref, const fetcher::PullProgressFn& progress) {
  fetcher::PullOptions options;
  options.parallel_layers = static_cast<int>(config_.pull_parallel_layers);
  options.limits = layer_limits_;
  options.stop = stop_.get_token();
  return puller_->pull(ref, options, progress);
}

Result<fetcher::ImageRecord> Images::get(const std::string& ref) const {
  BERTH_TRY(std::string k, key(ref));
  BERTH_TRY(auto rec, store_->get_image(k));
  return with_compressed_size(std::move(rec));
}

Result<std::vector<fetcher::ImageRecord>> Images::list() const {
  BERTH_TRY(auto all, store_->list_images());
  for (auto& rec : all) rec = with_compressed_size(std::move(rec));
  return all;
}

Status Images::remove(const std::string& ref) {
  BERTH_TRY(std::string k, key(ref));
  return store_->remove_image(k);
}

Result<fetcher::GcStats> Images::prune() {
  if (config_.gc_headroom_mb > 0) return store_->gc_for_headroom(config_.gc_headroom_mb * 1024 * 1024);
  return store_->gc();
}

Result<fetcher::ImageRecord> Images::load(const std::string& path, const std::string& record_as,
                                          const std::string& ref_name) {
  fetcher::LoadOptions o;
  o.record_as = record_as;
  o.ref_name = ref_name;
  o.limits = layer_limits_;
  // Only a directory or a regular file, opened without blocking: a FIFO or a device is a 400.
  BERTH_TRY_CTX(fetcher::InputFile in, fetcher::open_input(AT_FDCWD, path, 0, fetcher::InputKind::kFileOrDirectory),
                "load");
  if (in.is_dir) return fetcher::load_oci_layout(*store_, in.fd.get(), path, o);
  // An archive of a layout (tar, optionally compressed): unpacked by the same safe unpacker
  // into a private temp dir, loaded, then removed.
  std::string tmp = config_.state_dir + "/load-XXXXXX";
  if (!::mkdtemp(tmp.data())) return errno_error("load: temp dir");
  auto result = [&]() -> Result<fetcher::ImageRecord> {
    BERTH_TRY(UniqueFd root, fs::open_dir(tmp));
    fetcher::UnpackOptions uo;
    uo.limits = layer_limits_;
    uo.decompressors = fetcher::Decompressors{true, true, true};  // all built in; never an external program
    uo.whiteouts = fetcher::WhiteoutMode::kLiteral;
    uo.keep_owners = false;
    BERTH_CHECK_CTX(fetcher::unpack_fd(in.fd.get(), root.get(), uo), "load " + path);
    return fetcher::load_oci_layout(*store_, tmp, o);
  }();
  (void)fs::remove_tree(tmp);
  return result;
}

Result<TaskImage> Images::acquire(const std::string& task_id, const std::string& ref,
                                  const fetcher::PullProgressFn& progress) {
  BERTH_TRY(std::string k, key(ref));
  if (!store_->get_image(k).has_value()) {
    BERTH_CHECK(pull(ref, progress));
  }
  TaskImage t;
  BERTH_TRY(t.record, store_->acquire(task_id, k));
  auto dirs = fetcher::lower_dirs(*store_, t.record);
  auto config = dirs ? fetcher::load_image_config(*store_, t.record) : Result<fetcher::ImageConfig>(dirs.error());
  if (!config) {
    (void)store_->release(task_id);
    return std::move(config).error();
  }
  t.lower_dirs = std::move(dirs).value();
  t.config = std::move(config).value();
  return t;
}

Status Images::release(const std::string& task_id) { return store_->release(task_id); }

Result<std::vector<std::string>> Images::release_unknown(const std::set<std::string>& known_tasks) {
  std::vector<std::string> released;
  auto names = fs::list_dir(config_.store_dir() + "/leases");
  if (!names) return names.error().sys_errno == ENOENT ? released : Result<std::vector<std::string>>(names.error());
  for (const auto& n : *names) {
    if (n.size() <= 5 || n.compare(n.size() - 5, 5, ".json") != 0) continue;
    std::string task = n.substr(0, n.size() - 5);
    if (known_tasks.count(task)) continue;
    BERTH_CHECK(store_->release(task));
    released.push_back(task);
  }
  return released;
}

Status Images::check_artifact(const fetcher::ArtifactSpec& spec) const { return artifacts_->check(spec); }

Status Images::fetch_artifacts(std::span<const fetcher::ArtifactSpec> specs, int dest_dir_fd) {
  return artifacts_->fetch_all(specs, dest_dir_fd);
}

std::string image_json(const fetcher::ImageRecord& image, bool in_use) {
  json::JsonWriter w;
  w.begin_object().kv("ref", image.ref).kv("manifest_digest", image.manifest_digest.str());
  w.key("index_digest");
  image.index_digest.empty() ? w.null() : w.value(image.index_digest.str());
  w.kv("media_type", image.media_type).kv("config_digest", image.config_digest.str());
  std::vector<std::string> blobs, diff_ids;
  for (const auto& b : image.layer_blobs) blobs.push_back(b.str());
  for (const auto& l : image.layers) diff_ids.push_back(l.str());
  w.kv_strings("layers", blobs).kv_strings("diff_ids", diff_ids);
  w.kv("size", image.compressed_size).kv("unpacked_size", image.size).kv("in_use", in_use).end_object();
  return w.str();
}

fetcher::ImageRecord Images::with_compressed_size(fetcher::ImageRecord rec) const {
  if (rec.compressed_size != 0 || rec.layer_blobs.empty()) return rec;
  auto body = store_->read_blob(rec.manifest_digest);
  auto manifest = body ? fetcher::parse_image_manifest(*body) : Result<fetcher::ImageManifest>(body.error());
  if (manifest)
    for (const auto& l : manifest->layers) rec.compressed_size += static_cast<uint64_t>(l.size);
  return rec;
}

}  // namespace berth::agent
