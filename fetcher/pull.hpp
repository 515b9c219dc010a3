// Pull: reference → image record in the content store, with every byte verified.
//
//   manifest (by tag or digest) ─► index? select this platform ─► image manifest
//   config blob (stored) ─► diff_ids ─► layers, `parallel_layers` at a time, each:
//     curl thread ─► sha256 verifier ─► ByteChannel ─► libarchive (gunzip/zstd) ─► unpacker
//     ─► diff_id check ─► commit (rename) into layers/
//   image record written last, atomically.
//
// Streaming choice: curl runs in its own thread per layer and writes into a bounded
// ByteChannel; the pull worker thread runs libarchive over it. That keeps libarchive's pull
// model and curl's push model each in their natural shape, with back-pressure and no temp
// file. A layer is visible only after both the compressed digest (end of transfer) and the
// diff_id (end of unpack) matched.
//
// A pull holds an IngestLease for its length and deletes nothing itself: if it fails, the
// layers it committed that no image or task names are collected when no pull or load runs any
// more (content_store.hpp), so a concurrent load or pull that found them present keeps them.
// Transient faults are retried
// inside the pull (with Range resumption), so giving up means the retries were exhausted.
// Layers already in the store are not fetched. Two pulls that need the same layer at the same
// time (in this process) share one fetch: the second waits for the first's result.
// Progress callbacks come from worker threads, one at a time (serialized by the puller).
// Thread-safe: one Puller serves concurrent pulls.
#pragma once

#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>

#include "common/result.hpp"
#include "fetcher/content_store.hpp"
#include "fetcher/manifest.hpp"
#include "fetcher/registry_client.hpp"
#include "fetcher/unpacker.hpp"

namespace berth::fetcher {

struct PullOptions {
  int parallel_layers = 4;
  UnpackLimits limits;
  Platform platform = host_platform();
  size_t channel_bytes = 8 << 20;  // per layer, between network and unpacker
  // Cancels the pull: transfers abort, nothing more is retried, and the pull fails with an
  // error for which is_cancelled() holds (berthd stopping).
  std::stop_token stop;
};

struct LayerProgress {
  enum class State { kWaiting, kFetching, kDone, kPresent, kFailed };
  size_t index = 0;          // position in the manifest
  Digest blob;               // compressed digest
  uint64_t size = 0;         // compressed size
  uint64_t fetched = 0;      // compressed bytes received
  uint64_t written = 0;      // file bytes written by the unpacker
  State state = State::kWaiting;
};
using PullProgressFn = std::function<void(const LayerProgress&)>;

class Puller {
 public:
  Puller(Store& store, RegistryClient& client) : store_(store), client_(client) {}

  // Pulls `ref` and records it under Reference::key(). Errors name the reference and the step.
  Result<ImageRecord> pull(const std::string& ref, const PullOptions& options = {},
                           const PullProgressFn& progress = nullptr);

 private:
  struct Job;
  Status ensure_layer(Job& job, size_t i);
  Status fetch_and_unpack(Job& job, size_t i);

  Store& store_;
  RegistryClient& client_;
  std::mutex inflight_mu_;
  std::map<Digest, std::shared_future<Status>> inflight_;  // by diff_id
};

}  // namespace berth::fetcher
