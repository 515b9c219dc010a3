#include "fetcher/content_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/fs.hpp"
#include "common/json.hpp"
#include "fetcher/layer_links.hpp"

namespace berth::fetcher {
namespace {

constexpr const char* kBlobDir = "blobs/sha256";
constexpr const char* kLayerDir = "layers";
constexpr const char* kImageDir = "images";
constexpr const char* kLeaseDir = "leases";
constexpr const char* kTmpDir = "tmp";

std::string image_file(const std::string& ref) { return Digest::of(ref).hex() + ".json"; }

bool valid_task_id(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] == '.') return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

Result<uint64_t> tree_size(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno_error("stat " + name);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

// ---- records ----

std::string image_record_json(const ImageRecord& r) {
  json::JsonWriter w;
  w.begin_object().kv("ref", r.ref).kv("manifest_digest", r.manifest_digest.str()).kv("media_type", r.media_type);
  if (!r.index_digest.empty()) w.kv("index_digest", r.index_digest.str());
  w.kv("config_digest", r.config_digest.str()).kv("size", r.size).kv("compressed_size", r.compressed_size);
  std::vector<std::string> layers, blobs;
  for (const auto& d : r.layers) layers.push_back(d.str());
  for (const auto& d : r.layer_blobs) blobs.push_back(d.str());
  w.kv_strings("layers", layers).kv_strings("layer_blobs", blobs).end_object();
  return w.str();
}

Result<ImageRecord> parse_image_record(std::string_view text) {
  BERTH_TRY(auto doc, json::parse(text));
  if (!doc.IsObject()) return make_error(Code::kInternal, "image record is not an object");
  ImageRecord r;
  r.ref = json::get_string(doc, "ref");
  r.media_type = json::get_string(doc, "media_type");
  r.size = json::get_uint(doc, "size");
  r.compressed_size = json::get_uint(doc, "compressed_size");
  BERTH_TRY(r.manifest_digest, Digest::parse(json::get_string(doc, "manifest_digest")));
  BERTH_TRY(r.config_digest, Digest::parse(json::get_string(doc, "config_digest")));
  if (auto idx = json::get_string(doc, "index_digest"); !idx.empty()) {
    BERTH_TRY(r.index_digest, Digest::parse(idx));
  }
  for (const auto& s : json::get_string_array(doc, "layers")) {
    BERTH_TRY(auto d, Digest::parse(s));
    r.layers.push_back(d);
  }
  for (const auto& s : json::get_string_array(doc, "layer_blobs")) {
    BERTH_TRY(auto d, Digest::parse(s));
    r.layer_blobs.push_back(d);
  }
  return r;
}

// ---- BlobWriter ----

BlobWriter::BlobWriter(ContentStore* store, UniqueFd fd, std::string tmp_name)
    : store_(store), fd_(std::move(fd)), tmp_name_(std::move(tmp_name)) {}

BlobWriter::BlobWriter(BlobWriter&& o) noexcept
    : store_(o.store_), fd_(std::move(o.fd_)), tmp_name_(std::move(o.tmp_name_)), hash_(std::move(o.hash_)),
      done_(std::exchange(o.done_, true)) {}

BlobWriter::~BlobWriter() {
  if (!done_) ::unlinkat(store_->root_fd_.get(), tmp_name_.c_str(), 0);
}

Status BlobWriter::write(const void* data, size_t len) {
  hash_.update(data, len);
  return fs::write_all(fd_.get(), data, len);
}

Status BlobWriter::commit(const Digest& expected) {
  Digest actual = hash_.finish();
  done_ = true;
  int root = store_->root_fd_.get();
  if (actual != expected) {
    ::unlinkat(root, tmp_name_.c_str(), 0);
    return make_error(Code::kFailedPrecondition,
                      "digest mismatch: expected " + expected.str() + ", got " + actual.str());
  }
  if (store_->options_.durable && ::fsync(fd_.get()) != 0) {
    int err = errno;
    ::unlinkat(root, tmp_name_.c_str(), 0);
    return errno_error(err, "fsync blob");
  }
  fd_.reset();
  std::string dest = std::string(kBlobDir) + "/" + expected.hex();
  if (::renameat(root, tmp_name_.c_str(), root, dest.c_str()) != 0) {
    int err = errno;
    ::unlinkat(root, tmp_name_.c_str(), 0);
    return errno_error(err, "commit blob " + expected.str());
  }
  if (store_->options_.durable) BERTH_CHECK(store_->fsync_dir(kBlobDir));
  return ok();
}

// ---- LayerWriter ----

LayerWriter::LayerWriter(ContentStore* store, std::string tmp_name, UniqueFd fs_fd)
    : store_(store), tmp_name_(std::move(tmp_name)), fs_fd_(std::move(fs_fd)) {}

LayerWriter::LayerWriter(LayerWriter&& o) noexcept
    : store_(o.store_), tmp_name_(std::move(o.tmp_name_)), fs_fd_(std::move(o.fs_fd_)),
      done_(std::exchange(o.done_, true)) {}

LayerWriter::~LayerWriter() {
  if (!done_) {
    fs_fd_.reset();
    (void)fs::remove_tree_at(store_->root_fd_.get(), tmp_name_);
  }
}

Status LayerWriter::commit(const Digest& expected, const Digest& actual, uint64_t size) {
  int root = store_->root_fd_.get();
  if (expected != actual)
    return make_error(Code::kFailedPrecondition,
                      "layer diff_id mismatch: image config says " + expected.str() + ", content is " + actual.str());
  json::JsonWriter w;
  w.begin_object().kv("diff_id", expected.str()).kv("size", size).end_object();
  BERTH_TRY(UniqueFd dir, fs::open_dir_at(root, tmp_name_));
  BERTH_CHECK(fs::write_file_atomic(dir.get(), "layer.json", w.str()));
  if (store_->options_.durable && ::syncfs(dir.get()) != 0) return errno_error("syncfs before layer commit");
  BERTH_TRY(std::string link, make_layer_link(root, expected.hex(), tmp_name_));
  std::string dest = std::string(kLayerDir) + "/" + expected.hex();
  if (::renameat(root, tmp_name_.c_str(), root, dest.c_str()) != 0) {
    int err = errno;
    remove_link_id(root, link);  // the other committer's link stays
    // Someone committed the same layer meanwhile: theirs is as good as ours.
    if (err != EEXIST && err != ENOTEMPTY) return errno_error(err, "commit layer " + expected.str());
    return ok();  // the destructor removes ours
  }
  done_ = true;
  {
    std::lock_guard lk(store_->tmp_mutex_);
    store_->fresh_layers_.insert(expected.hex());
  }
  if (store_->options_.durable) BERTH_CHECK(store_->fsync_dir(kLayerDir));
  return ok();
}

// ---- IngestLease ----

IngestLease::IngestLease(std::shared_lock<std::shared_mutex> hold, std::function<void()> on_end)
    : hold_(std::move(hold)), on_end_(std::move(on_end)) {}

IngestLease::~IngestLease() {
  if (!hold_.owns_lock()) return;  // moved from
  hold_.unlock();
  if (on_end_) on_end_();
}

// ---- ContentStore ----

ContentStore::ContentStore(std::string root, StoreOptions options, UniqueFd root_fd, UniqueFd lock_fd)
    : root_(std::move(root)), options_(options), root_fd_(std::move(root_fd)), lock_fd_(std::move(lock_fd)) {}

ContentStore::~ContentStore() = default;

Result<std::unique_ptr<ContentStore>> ContentStore::open(const std::string& root, StoreOptions options) {
  BERTH_CHECK_CTX(fs::mkdir_p(root, 0700), "content store");
  BERTH_TRY_CTX(UniqueFd root_fd, fs::open_dir(root), "content store");
  BERTH_TRY(UniqueFd lock, fs::open_at(root_fd.get(), "lock", O_RDWR | O_CREAT | O_NOFOLLOW, 0600));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0)
    return errno_error(errno == EWOULDBLOCK ? EBUSY : errno, "content store " + root + " is in use by another process");
  // Half-written things from a previous life: drop them all.
  BERTH_CHECK_CTX(fs::remove_tree_at(root_fd.get(), kTmpDir), "clean content store tmp");
  for (const char* d : {"blobs", kBlobDir, kLayerDir, kImageDir, kLeaseDir, kTmpDir})
    if (::mkdirat(root_fd.get(), d, 0700) != 0 && errno != EEXIST) return errno_error("create " + root + "/" + d);
  BERTH_CHECK_CTX(repair_layer_links(root_fd.get()), "content store " + root);
  // write_file_atomic leaves <name>.tmp beside a record when killed mid-write.
  for (const char* d : {kImageDir, kLeaseDir}) {
    BERTH_TRY(auto names, fs::list_dir(root + "/" + d));
    for (const auto& n : names)
      if (n.ends_with(".tmp")) ::unlinkat(root_fd.get(), (std::string(d) + "/" + n).c_str(), 0);
  }
  return std::unique_ptr<ContentStore>(new ContentStore(root, options, std::move(root_fd), std::move(lock)));
}

std::string ContentStore::new_tmp_name(std::string_view kind) {
  std::lock_guard lk(tmp_mutex_);
  return std::string(kTmpDir) + "/" + std::string(kind) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(++tmp_counter_);
}

Status ContentStore::fsync_dir(const char* rel) const {
  BERTH_TRY(UniqueFd d, fs::open_dir_at(root_fd_.get(), rel));
  if (::fsync(d.get()) != 0) return errno_error(std::string("fsync ") + rel);
  return ok();
}

bool ContentStore::has_blob(const Digest& d) const {
  return ::faccessat(root_fd_.get(), (std::string(kBlobDir) + "/" + d.hex()).c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

Result<std::string> ContentStore::read_blob(const Digest& d) const {
  return fs::read_file_at(root_fd_.get(), std::string(kBlobDir) + "/" + d.hex());
}

Status ContentStore::put_blob(const Digest& expected, std::string_view data) {
  if (has_blob(expected)) return ok();
  BERTH_TRY(BlobWriter w, begin_blob());
  BERTH_CHECK(w.write(data.data(), data.size()));
  return w.commit(expected);
}

Result<BlobWriter> ContentStore::begin_blob() {
  std::string name = new_tmp_name("blob");
  BERTH_TRY(UniqueFd fd, fs::open_at(root_fd_.get(), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644));
  return BlobWriter(this, std::move(fd), std::move(name));
}

bool ContentStore::has_layer(const Digest& diff_id) const {
  return ::faccessat(root_fd_.get(), (std::string(kLayerDir) + "/" + diff_id.hex() + "/fs").c_str(), F_OK,
                     AT_SYMLINK_NOFOLLOW) == 0;
}

std::string ContentStore::layer_path(const Digest& diff_id) const {
  return root_ + "/" + kLayerDir + "/" + diff_id.hex() + "/fs";
}

Result<std::string> ContentStore::layer_link(const Digest& diff_id) const {
  BERTH_TRY_CTX(std::string id, layer_link_id(root_fd_.get(), diff_id.hex()), "layer " + diff_id.str());
  return root_ + "/" + kLayerLinkDir + "/" + id;
}

uint64_t ContentStore::layer_size(const Digest& diff_id) const {
  auto meta = fs::read_file_at(root_fd_.get(), std::string(kLayerDir) + "/" + diff_id.hex() + "/layer.json");
  if (!meta) return 0;
  auto doc = json::parse(*meta);
  return doc && doc->IsObject() ? json::get_uint(*doc, "size") : 0;
}

Result<LayerWriter> ContentStore::begin_layer() {
  std::string name = new_tmp_name("layer");
  if (::mkdirat(root_fd_.get(), name.c_str(), 0700) != 0) return errno_error("create " + name);
  if (::mkdirat(root_fd_.get(), (name + "/fs").c_str(), 0755) != 0) return errno_error("create " + name + "/fs");
  BERTH_TRY(UniqueFd fs_fd, fs::open_dir_at(root_fd_.get(), name + "/fs"));
  return LayerWriter(this, std::move(name), std::move(fs_fd));
}

Status ContentStore::put_image(const ImageRecord& rec) {
  std::lock_guard lk(meta_mutex_);
  BERTH_TRY(UniqueFd dir, fs::open_dir_at(root_fd_.get(), kImageDir));
  return fs::write_file_atomic(dir.get(), image_file(rec.ref), image_record_json(rec));
}

Result<ImageRecord> ContentStore::get_image(const std::string& ref) const {
  std::lock_guard lk(meta_mutex_);
  auto text = fs::read_file_at(root_fd_.get(), std::string(kImageDir) + "/" + image_file(ref));
  if (!text) {
    if (text.error().sys_errno == ENOENT) return make_error(Code::kNotFound, "image '" + ref + "' is not in the store");
    return std::move(text).error();
  }
  return parse_image_record(*text);
}

Result<std::vector<ImageRecord>> ContentStore::read_records(const char* dir) const {
  BERTH_TRY(auto names, fs::list_dir(root_ + "/" + dir));
  std::vector<ImageRecord> out;
  for (const auto& n : names) {
    if (!n.ends_with(".json")) continue;
    BERTH_TRY(auto text, fs::read_file_at(root_fd_.get(), std::string(dir) + "/" + n));
    BERTH_TRY_CTX(auto rec, parse_image_record(text), std::string(dir) + "/" + n);
    out.push_back(std::move(rec));
  }
  return out;
}

Result<std::vector<ImageRecord>> ContentStore::list_images() const {
  std::lock_guard lk(meta_mutex_);
  return read_records(kImageDir);
}

Status ContentStore::remove_image(const std::string& ref) {
  std::lock_guard lk(meta_mutex_);
  std::string file = std::string(kImageDir) + "/" + image_file(ref);
  auto text = fs::read_file_at(root_fd_.get(), file);
  if (!text) return make_error(Code::kNotFound, "image '" + ref + "' is not in the store");
  BERTH_TRY(auto rec, parse_image_record(*text));
  BERTH_TRY(auto names, fs::list_dir(root_ + "/" + kLeaseDir));
  for (const auto& n : names) {
    if (!n.ends_with(".json")) continue;
    BERTH_TRY(auto lt, fs::read_file_at(root_fd_.get(), std::string(kLeaseDir) + "/" + n));
    BERTH_TRY(auto lease, parse_image_record(lt));
    if (lease.manifest_digest == rec.manifest_digest)
      return make_error(Code::kFailedPrecondition, "image '" + ref + "' is in use by task '" +
                                                       n.substr(0, n.size() - 5) + "'");
  }
  if (::unlinkat(root_fd_.get(), file.c_str(), 0) != 0) return errno_error("remove image record");
  if (options_.durable) BERTH_CHECK(fsync_dir(kImageDir));
  return ok();
}

Result<ImageRecord> ContentStore::acquire(const std::string& task_id, const std::string& ref) {
  if (!valid_task_id(task_id))
    return make_error(Code::kInvalidArgument, "task id '" + task_id + "' must be 1-128 of [A-Za-z0-9._-]");
  BERTH_TRY(auto rec, get_image(ref));
  std::lock_guard lk(meta_mutex_);
  BERTH_TRY(UniqueFd dir, fs::open_dir_at(root_fd_.get(), kLeaseDir));
  BERTH_CHECK(fs::write_file_atomic(dir.get(), task_id + ".json", image_record_json(rec)));
  // The record's mtime is the image's last use, for gc_for_headroom's LRU order.
  ::utimensat(root_fd_.get(), (std::string(kImageDir) + "/" + image_file(ref)).c_str(), nullptr, 0);
  return rec;
}

Status ContentStore::release(const std::string& task_id) {
  if (!valid_task_id(task_id)) return ok();
  std::lock_guard lk(meta_mutex_);
  std::string file = std::string(kLeaseDir) + "/" + task_id + ".json";
  if (::unlinkat(root_fd_.get(), file.c_str(), 0) != 0 && errno != ENOENT) return errno_error("remove lease");
  return ok();
}

Result<int> ContentStore::layer_refs(const Digest& diff_id) const {
  std::lock_guard lk(meta_mutex_);
  int n = 0;
  for (const char* dir : {kImageDir, kLeaseDir}) {
    BERTH_TRY(auto recs, read_records(dir));
    for (const auto& r : recs)
      for (const auto& l : r.layers)
        if (l == diff_id) { ++n; break; }
  }
  return n;
}

Result<std::set<std::string>> ContentStore::referenced_layers(std::set<std::string>* blobs) const {
  std::lock_guard lk(meta_mutex_);
  std::set<std::string> layers;
  for (const char* dir : {kImageDir, kLeaseDir}) {
    BERTH_TRY(auto recs, read_records(dir));
    for (const auto& r : recs) {
      for (const auto& l : r.layers) layers.insert(l.hex());
      if (!blobs) continue;
      blobs->insert(r.manifest_digest.hex());
      blobs->insert(r.config_digest.hex());
      if (!r.index_digest.empty()) blobs->insert(r.index_digest.hex());
      for (const auto& b : r.layer_blobs) blobs->insert(b.hex());
    }
  }
  return layers;
}

Status ContentStore::collect_layers(const std::set<std::string>& keep, const std::vector<std::string>& candidates,
                                    GcStats& stats) {
  for (const auto& l : candidates) {
    if (keep.count(l)) continue;
    std::string rel = std::string(kLayerDir) + "/" + l;
    if (::faccessat(root_fd_.get(), rel.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0) continue;  // already gone
    auto meta = fs::read_file_at(root_fd_.get(), rel + "/layer.json");
    if (meta)
      if (auto doc = json::parse(*meta); doc && doc->IsObject()) stats.freed_bytes += json::get_uint(*doc, "size");
    remove_layer_link(root_fd_.get(), l);  // a crash right after: open() links it again
    // Out of sight first (one rename), then the slow removal; a crash in between leaves only tmp/.
    std::string doomed = new_tmp_name("gc");
    if (::renameat(root_fd_.get(), rel.c_str(), root_fd_.get(), doomed.c_str()) != 0)
      return errno_error("gc: remove layer " + l);
    BERTH_CHECK_CTX(fs::remove_tree_at(root_fd_.get(), doomed), "gc: remove layer " + l);
    ++stats.removed_layers;
  }
  return ok();
}

void ContentStore::collect_uncommitted_ingests() {
  {
    std::lock_guard lk(tmp_mutex_);
    if (fresh_layers_.empty()) return;
  }
  // Another ingest still runs: it may rely on these layers; the last one to end collects.
  std::unique_lock excl(gc_mutex_, std::try_to_lock);
  if (!excl.owns_lock()) return;
  std::vector<std::string> candidates;
  {
    std::lock_guard lk(tmp_mutex_);
    candidates.assign(fresh_layers_.begin(), fresh_layers_.end());
    fresh_layers_.clear();
  }
  auto keep = referenced_layers(nullptr);
  GcStats ignored;
  // A failure leaves the layers for the next gc(): they are garbage, not damage.
  if (keep) (void)collect_layers(*keep, candidates, ignored);
}

IngestLease ContentStore::begin_ingest() {
  return IngestLease(std::shared_lock(gc_mutex_), [this] { collect_uncommitted_ingests(); });
}

Result<GcStats> ContentStore::gc() {
  std::unique_lock excl(gc_mutex_);
  {
    std::lock_guard lk(tmp_mutex_);
    fresh_layers_.clear();  // this collection covers them
  }
  std::set<std::string> keep_blobs;
  BERTH_TRY(auto keep_layers, referenced_layers(&keep_blobs));
  GcStats stats;
  BERTH_TRY(auto blobs, fs::list_dir(root_ + "/" + kBlobDir));
  for (const auto& b : blobs) {
    if (keep_blobs.count(b)) continue;
    std::string rel = std::string(kBlobDir) + "/" + b;
    auto size = tree_size(root_fd_.get(), rel);
    if (::unlinkat(root_fd_.get(), rel.c_str(), 0) != 0) return errno_error("gc: remove blob " + b);
    stats.freed_bytes += size.value_or(0);
    ++stats.removed_blobs;
  }
  BERTH_TRY(auto layers, fs::list_dir(root_ + "/" + kLayerDir));
  BERTH_CHECK(collect_layers(keep_layers, layers, stats));
  return stats;
}

Result<GcStats> ContentStore::gc_for_headroom(uint64_t min_free_bytes) {
  auto free_bytes = [&]() -> Result<uint64_t> {
    if (options_.free_bytes) return options_.free_bytes();
    struct statvfs sv {};
    if (::fstatvfs(root_fd_.get(), &sv) != 0) return errno_error("statvfs " + root_);
    return static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  };
  BERTH_TRY(GcStats total, gc());
  auto add = [&](const GcStats& s) {
    total.removed_layers += s.removed_layers;
    total.removed_blobs += s.removed_blobs;
    total.freed_bytes += s.freed_bytes;
  };
  for (;;) {
    BERTH_TRY(uint64_t free_now, free_bytes());
    if (free_now >= min_free_bytes) return total;
    // Least recently used image first; one held by a task is skipped (remove_image refuses).
    std::vector<std::pair<struct timespec, std::string>> candidates;
    {
      std::lock_guard lk(meta_mutex_);
      BERTH_TRY(auto recs, read_records(kImageDir));
      for (const auto& r : recs) {
        struct stat st {};
        if (::fstatat(root_fd_.get(), (std::string(kImageDir) + "/" + image_file(r.ref)).c_str(), &st, 0) == 0)
          candidates.push_back({st.st_mtim, r.ref});
      }
    }
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.first.tv_sec != b.first.tv_sec ? a.first.tv_sec < b.first.tv_sec : a.first.tv_nsec < b.first.tv_nsec;
    });
    bool removed = false;
    for (const auto& c : candidates) {
      if (remove_image(c.second)) {
        total.removed_images.push_back(c.second);
        removed = true;
        break;
      }
    }
    if (!removed) {
      total.headroom_met = false;
      return total;
    }
    BERTH_TRY(GcStats s, gc());
    add(s);
  }
}

}  // namespace berth::fetcher
