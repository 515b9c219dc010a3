// The content store's concerns as small interfaces, the way containerd splits core/content and
// core/snapshots: each names one to three operations, and code asks for the narrowest one it
// needs (lower_dirs reads layers, load_image_config reads blobs). `Store` combines them into
// what berthd holds; ContentStore (content_store.hpp) is the on-disk implementation, and every
// implementation passes the one conformance suite in tests/fetcher/store_conformance_test.cpp.
//
//   blobs    BlobReader (has, read)            BlobIngester (begin under a temp name, put)
//            — written through BlobWriter: bytes in, commit(expected digest), visible only then
//   layers   LayerReader (has, path, link)     LayerIngester (begin, size)
//            — written through LayerWriter: unpack into root_fd(), commit(expected diff_id)
//   images   ImageRecords (put, get, list)     ImageRemover (remove)
//   leases   TaskLeases (acquire, release)     IngestLeases (begin_ingest)
//   GC       Collector (gc, gc_for_headroom, layer_refs)
//
// Invariants every implementation keeps: nothing is visible before its commit, and a commit
// checks the digest it was given; only the Collector deletes content, and never content that an
// image record, a task lease or a running ingest (pull or load) may rely on.
// Threading: every method of every interface is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "fetcher/digest.hpp"

namespace berth::fetcher {

class BlobWriter;
class LayerWriter;
class IngestLease;
struct ImageRecord;
struct GcStats;

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual bool has_blob(const Digest& d) const = 0;
  virtual Result<std::string> read_blob(const Digest& d) const = 0;
};

class BlobIngester {
 public:
  virtual ~BlobIngester() = default;
  virtual Result<BlobWriter> begin_blob() = 0;
  // begin_blob + write + commit(expected) for bytes already in memory; present: ok.
  virtual Status put_blob(const Digest& expected, std::string_view data) = 0;
};

class LayerReader {
 public:
  virtual ~LayerReader() = default;
  virtual bool has_layer(const Digest& diff_id) const = 0;
  virtual std::string layer_path(const Digest& diff_id) const = 0;
  virtual Result<std::string> layer_link(const Digest& diff_id) const = 0;
};

class LayerIngester {
 public:
  virtual ~LayerIngester() = default;
  virtual Result<LayerWriter> begin_layer() = 0;
  virtual uint64_t layer_size(const Digest& diff_id) const = 0;  // unpacked bytes; 0 if unknown
};

class ImageRecords {
 public:
  virtual ~ImageRecords() = default;
  virtual Status put_image(const ImageRecord& rec) = 0;
  virtual Result<ImageRecord> get_image(const std::string& ref) const = 0;  // kNotFound
  virtual Result<std::vector<ImageRecord>> list_images() const = 0;
};

class ImageRemover {
 public:
  virtual ~ImageRemover() = default;
  // kNotFound; kFailedPrecondition naming the task while a lease holds the image.
  virtual Status remove_image(const std::string& ref) = 0;
};

class TaskLeases {
 public:
  virtual ~TaskLeases() = default;
  // Holds everything `ref` needs for `task_id` (replacing its previous lease).
  virtual Result<ImageRecord> acquire(const std::string& task_id, const std::string& ref) = 0;
  virtual Status release(const std::string& task_id) = 0;  // unknown id: ok
};

class IngestLeases {
 public:
  virtual ~IngestLeases() = default;
  // Held by a pull or load for its whole length; see content_store.hpp.
  virtual IngestLease begin_ingest() = 0;
};

class Collector {
 public:
  virtual ~Collector() = default;
  virtual Result<GcStats> gc() = 0;
  virtual Result<GcStats> gc_for_headroom(uint64_t min_free_bytes) = 0;
  virtual Result<int> layer_refs(const Digest& diff_id) const = 0;  // records + leases naming it
};

// Everything berthd needs from a store.
class Store : public BlobReader,
              public BlobIngester,
              public LayerReader,
              public LayerIngester,
              public ImageRecords,
              public ImageRemover,
              public TaskLeases,
              public IngestLeases,
              public Collector {};

}  // namespace berth::fetcher
