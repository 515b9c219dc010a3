// The content store: everything pulled, under one root directory.
//
//   <root>/lock                      flock: one process owns a store at a time
//   <root>/blobs/sha256/<hex>        manifests, indexes, configs (verified bytes)
//   <root>/layers/<diff_id hex>/fs   one unpacked layer, an overlay lowerdir
//   <root>/layers/<hex>/layer.json   {"diff_id","size"} written before the commit rename
//   <root>/layers/<hex>/link, <root>/l/<id>   a short name per layer (layer_links.hpp)
//   <root>/images/<sha256(ref)>.json image record: ref → manifest digest, config, layers
//   <root>/leases/<task id>.json     a task's hold on an image's content
//   <root>/tmp/                      everything half-written; emptied by open()
//
// Invariants: a name outside tmp/ appears only by rename(2) after its content is complete and
// verified (blob: digest matched; layer: diff_id matched), and goes away only by rename into
// tmp/ or unlink. So kill -9 at any instant leaves a store whose visible part is consistent; the
// next open() removes tmp/. Image records and leases are written with write_file_atomic.
// Reference counts are not stored (a stored counter can drift when a process dies between two
// writes): a layer's count is derived from the image records and leases that name it, and GC
// removes what none names.
//
// Only GC deletes content. A pull or a load holds an IngestLease for its length (a shared
// hold; GC takes the store exclusively), so GC never removes a layer that an ingest has
// committed, or found present, but not yet recorded in an image. An ingest that fails does not
// delete anything: its lease ends, and the layers committed under leases that no image or task
// names are collected as soon as no ingest runs (by whichever lease ends last, or the next gc).
//
// Threading: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "fetcher/digest.hpp"
#include "fetcher/store_interfaces.hpp"

namespace berth::fetcher {

struct StoreOptions {
  // fsync blobs and records, syncfs before committing a layer. Off only in tests/benchmarks
  // that do not care about power loss (kill -9 consistency does not depend on it).
  bool durable = true;
  // Free bytes on the store's file system; a seam for tests. Default: statvfs of the root.
  std::function<Result<uint64_t>()> free_bytes;

  static StoreOptions not_durable() {
    StoreOptions o;
    o.durable = false;
    return o;
  }
};

struct ImageRecord {
  std::string ref;                // as pulled: "host/repo:tag" or "host/repo@sha256:…"
  Digest index_digest;            // empty unless the ref named an index
  Digest manifest_digest;
  std::string media_type;         // of the manifest
  Digest config_digest;
  std::vector<Digest> layers;     // diff_ids, lowest first
  std::vector<Digest> layer_blobs;  // compressed digests, same order
  uint64_t size = 0;              // unpacked bytes of all layers
  // Sum of the layer blobs' sizes (the manifest's descriptors). 0 in records written before it
  // was kept: compressed_size_from_manifest() recomputes it.
  uint64_t compressed_size = 0;
};

struct GcStats {
  uint64_t removed_layers = 0;
  uint64_t removed_blobs = 0;
  uint64_t freed_bytes = 0;
  std::vector<std::string> removed_images;  // by gc_for_headroom only
  bool headroom_met = true;
};

class ContentStore;

// A pull's or a load's hold on the store: see the header comment. Move-only; ending it (the
// destructor) collects layers committed meanwhile that nothing names, if no other ingest runs.
class IngestLease {
 public:
  // `hold` keeps GC out; `on_end` runs after it is released (once, not for a moved-from lease).
  IngestLease(std::shared_lock<std::shared_mutex> hold, std::function<void()> on_end);
  IngestLease(IngestLease&&) noexcept = default;
  IngestLease& operator=(IngestLease&&) = delete;
  ~IngestLease();

 private:
  std::shared_lock<std::shared_mutex> hold_;
  std::function<void()> on_end_;
};

// A blob being written: bytes go to a file under tmp/ while being hashed; commit() renames it
// into blobs/ only if the digest matches. Destroying an uncommitted writer removes the file.
class BlobWriter {
 public:
  BlobWriter(BlobWriter&&) noexcept;
  BlobWriter& operator=(BlobWriter&&) = delete;
  ~BlobWriter();
  Status write(const void* data, size_t len);
  // kFailedPrecondition on a digest mismatch; nothing becomes visible then.
  Status commit(const Digest& expected);

 private:
  friend class ContentStore;
  BlobWriter(ContentStore* store, UniqueFd fd, std::string tmp_name);
  ContentStore* store_;
  UniqueFd fd_;
  std::string tmp_name_;
  Sha256 hash_;
  bool done_ = false;
};

// A layer being unpacked into tmp/<name>/fs. commit() renames it to layers/<diff_id> only if
// the diff_id computed while unpacking equals the one the image config expects.
class LayerWriter {
 public:
  LayerWriter(LayerWriter&&) noexcept;
  LayerWriter& operator=(LayerWriter&&) = delete;
  ~LayerWriter();
  int root_fd() const { return fs_fd_.get(); }
  Status commit(const Digest& expected_diff_id, const Digest& actual_diff_id, uint64_t size);

 private:
  friend class ContentStore;
  LayerWriter(ContentStore* store, std::string tmp_name, UniqueFd fs_fd);
  ContentStore* store_;
  std::string tmp_name_;
  UniqueFd fs_fd_;
  bool done_ = false;
};

// The on-disk Store (store_interfaces.hpp) laid out as above.
class ContentStore final : public Store {
 public:
  // Creates the layout if needed, takes the store lock, empties tmp/.
  static Result<std::unique_ptr<ContentStore>> open(const std::string& root, StoreOptions options = {});
  ~ContentStore();

  const std::string& root() const { return root_; }

  bool has_blob(const Digest& d) const override;
  Result<std::string> read_blob(const Digest& d) const override;
  Status put_blob(const Digest& expected, std::string_view data) override;
  Result<BlobWriter> begin_blob() override;

  bool has_layer(const Digest& diff_id) const override;
  // Absolute path of a committed layer's tree.
  std::string layer_path(const Digest& diff_id) const override;
  // "<root>/l/<id>": a short symlink to the layer's tree, for overlay lowerdirs of many layers
  // (layer_links.hpp).
  Result<std::string> layer_link(const Digest& diff_id) const override;
  Result<LayerWriter> begin_layer() override;
  // Unpacked file bytes of a committed layer (0 if unknown).
  uint64_t layer_size(const Digest& diff_id) const override;

  Status put_image(const ImageRecord& rec) override;
  Result<ImageRecord> get_image(const std::string& ref) const override;
  Result<std::vector<ImageRecord>> list_images() const override;
  // kFailedPrecondition naming the task when a lease holds the image's manifest.
  Status remove_image(const std::string& ref) override;

  // A task's hold on everything an image needs, so GC keeps it while the task runs even if the
  // image record is removed. Acquiring again for the same task replaces the lease.
  Result<ImageRecord> acquire(const std::string& task_id, const std::string& ref) override;
  Status release(const std::string& task_id) override;  // unknown id: ok
  // How many image records and leases name this layer.
  Result<int> layer_refs(const Digest& diff_id) const override;

  Result<GcStats> gc() override;
  // gc(), then, while free space is below `min_free_bytes`, removes the least recently used
  // image that no task holds (use = pull or acquire) and collects again. headroom_met says
  // whether it got there; images in use are never removed.
  Result<GcStats> gc_for_headroom(uint64_t min_free_bytes) override;
  // Held by a pull or load for its whole length (see the header comment).
  IngestLease begin_ingest() override;

 private:
  friend class BlobWriter;
  friend class LayerWriter;
  // Removes the layers in `candidates` that no image record or lease names; the caller holds
  // gc_mutex_ exclusively.
  Status collect_layers(const std::set<std::string>& keep, const std::vector<std::string>& candidates,
                        GcStats& stats);
  Result<std::set<std::string>> referenced_layers(std::set<std::string>* blobs) const;
  void collect_uncommitted_ingests();
  ContentStore(std::string root, StoreOptions options, UniqueFd root_fd, UniqueFd lock_fd);
  std::string new_tmp_name(std::string_view kind);
  Status fsync_dir(const char* rel) const;
  Result<std::vector<ImageRecord>> read_records(const char* dir) const;

  std::string root_;
  StoreOptions options_;
  UniqueFd root_fd_;
  UniqueFd lock_fd_;
  std::shared_mutex gc_mutex_;
  mutable std::mutex meta_mutex_;  // images/ and leases/
  std::mutex tmp_mutex_;
  uint64_t tmp_counter_ = 0;
  // Layers committed by ingests since the last collection (hex diff_ids; guarded by tmp_mutex_).
  std::set<std::string> fresh_layers_;
};

std::string image_record_json(const ImageRecord& rec);
Result<ImageRecord> parse_image_record(std::string_view json);

}  // namespace berth::fetcher
