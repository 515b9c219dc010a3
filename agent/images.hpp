// Images: berthd's side of the fetcher — the content store under <state_dir>/store, the
// registry client built from the config's per-host settings, the puller, and the artifact
// cache. It turns an image reference into what a task needs (its read-only layers, newest
// first, and its config) and holds a lease on the image for as long as the task exists.
// Thread-safe: the fetcher's objects are; this class adds no state of its own beyond them.
#pragma once

#include <memory>
#include <set>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "common/result.hpp"
#include "fetcher/artifact.hpp"
#include "fetcher/content_store.hpp"
#include "fetcher/image.hpp"
#include "fetcher/pull.hpp"
#include "fetcher/registry_client.hpp"

namespace berth::agent {

struct TaskImage {
  fetcher::ImageRecord record;
  std::vector<std::string> lower_dirs;  // newest layer first, as overlayfs wants them
  fetcher::ImageConfig config;
};

class Images {
 public:
  static Result<std::unique_ptr<Images>> open(const Config& config);

  // The canonical key of a reference ("host/repo:tag"); kInvalidArgument for a bad one.
  static Result<std::string> key(const std::string& ref);

  Result<fetcher::ImageRecord> pull(const std::string& ref, const fetcher::PullProgressFn& progress = nullptr);
  Result<fetcher::ImageRecord> get(const std::string& ref) const;
  Result<std::vector<fetcher::ImageRecord>> list() const;
  Status remove(const std::string& ref);  // kFailedPrecondition while a task uses it
  Result<fetcher::GcStats> prune();
  Result<fetcher::ImageRecord> load(const std::string& layout_dir, const std::string& record_as,
                                    const std::string& ref_name);

  // For a task: pulls when absent, then leases the image to `task_id`.
  Result<TaskImage> acquire(const std::string& task_id, const std::string& ref,
                            const fetcher::PullProgressFn& progress = nullptr);
  Status release(const std::string& task_id);
  // Drops the leases of tasks that no longer exist (berthd died between lease and record).
  Result<std::vector<std::string>> release_unknown(const std::set<std::string>& known_tasks);

  // A launch's artifacts: checked before anything is created (4xx naming the config key),
  // then fetched within the per-artifact and per-task budgets.
  Status check_artifact(const fetcher::ArtifactSpec& spec) const;
  Status fetch_artifacts(std::span<const fetcher::ArtifactSpec> specs, int dest_dir_fd);

  // berthd is stopping: every pull in flight (API pulls and pulls for launches) aborts its
  // transfers and retries and fails soon with a "cancelled" error; later pulls fail at once.
  // What they committed is collected by the store (content_store.hpp). Thread-safe.
  void cancel_pulls() { stop_.request_stop(); }

 private:
  Images(const Config& config, std::unique_ptr<fetcher::ContentStore> store,
         std::unique_ptr<fetcher::RegistryClient> client, std::unique_ptr<fetcher::ArtifactCache> artifacts);

  // Records written before compressed_size was kept get it from their manifest.
  fetcher::ImageRecord with_compressed_size(fetcher::ImageRecord rec) const;

  const Config& config_;
  std::unique_ptr<fetcher::ContentStore> store_;
  std::unique_ptr<fetcher::RegistryClient> client_;
  std::unique_ptr<fetcher::Puller> puller_;
  std::unique_ptr<fetcher::ArtifactCache> artifacts_;
  fetcher::UnpackLimits layer_limits_;  // from the config's "unpack" keys
  std::stop_source stop_;
};

// The config's "unpack" budgets, named by their config keys.
fetcher::UnpackLimits unpack_limits(const Config& config);

// The image as the API shows it (docs/API.md "Images"): layers are the layer blob digests,
// diff_ids the uncompressed digests, both base first; size the compressed bytes of all layers,
// unpacked_size the bytes unpacked.
std::string image_json(const fetcher::ImageRecord& image, bool in_use);

}  // namespace berth::agent
