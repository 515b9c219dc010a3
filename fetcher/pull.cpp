#include "fetcher/pull.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include "fetcher/byte_channel.hpp"

namespace berth::fetcher {

struct Puller::Job {
  Reference ref;
  const PullOptions& options;
  ImageManifest manifest;
  ImageConfig config;
  std::mutex progress_mu;
  const PullProgressFn& progress;
  void report(const LayerProgress& p) {
    if (!progress) return;
    std::lock_guard lk(progress_mu);
    progress(p);
  }
};

Result<ImageRecord> Puller::pull(const std::string& text, const PullOptions& options, const PullProgressFn& progress) {
  BERTH_TRY(Reference ref, parse_reference(text));
  IngestLease lease = store_.begin_ingest();
  const std::string ctx = "pull " + ref.str();

  // By digest the content cannot have changed: a complete record needs no network at all.
  if (!ref.digest.empty()) {
    if (auto have = store_.get_image(ref.key()); have) {
      bool complete = store_.has_blob(have->manifest_digest) && store_.has_blob(have->config_digest);
      for (const auto& l : have->layers) complete = complete && store_.has_layer(l);
      if (complete) return *have;
    }
  }

  BERTH_TRY_CTX(FetchedManifest top, client_.get_manifest(ref, ref.manifest_ref(), options.stop), ctx);
  ImageRecord rec;
  rec.ref = ref.key();
  FetchedManifest image = top;
  BERTH_TRY_CTX(ManifestKind kind, classify_manifest(top.media_type, top.body), ctx);
  if (kind == ManifestKind::kIndex) {
    BERTH_TRY_CTX(ImageIndex index, parse_image_index(top.body), ctx);
    BERTH_TRY_CTX(Descriptor chosen, select_platform(index, options.platform), ctx);
    rec.index_digest = top.digest;
    if (store_.has_blob(chosen.digest)) {
      BERTH_TRY_CTX(std::string body, store_.read_blob(chosen.digest), ctx);
      image = FetchedManifest{chosen.media_type, std::move(body), chosen.digest};
    } else {
      BERTH_TRY_CTX(image, client_.get_manifest(ref, chosen.digest.str(), options.stop), ctx);
    }
    BERTH_TRY_CTX(ManifestKind k2, classify_manifest(image.media_type, image.body), ctx);
    if (k2 != ManifestKind::kImage)
      return make_error(Code::kInvalidArgument, ctx + ": index entry " + chosen.digest.str() + " is not an image manifest");
  }
  Job job{ref, options, {}, {}, {}, progress};
  BERTH_TRY_CTX(job.manifest, parse_image_manifest(image.body), ctx);
  rec.manifest_digest = image.digest;
  rec.media_type = job.manifest.media_type;
  rec.config_digest = job.manifest.config.digest;

  // Warm path: same manifest as recorded and every layer present → nothing to do.
  if (auto have = store_.get_image(rec.ref); have && have->manifest_digest == rec.manifest_digest) {
    bool complete = store_.has_blob(have->config_digest);
    for (const auto& l : have->layers) complete = complete && store_.has_layer(l);
    if (complete && have->index_digest == rec.index_digest) return *have;
  }

  std::string config_body;
  if (store_.has_blob(rec.config_digest)) {
    BERTH_TRY_CTX(config_body, store_.read_blob(rec.config_digest), ctx);
  } else {
    BERTH_TRY_CTX(config_body, client_.fetch_blob_bytes(ref, job.manifest.config, 16 << 20, options.stop), ctx + ": config");
  }
  BERTH_TRY_CTX(job.config, parse_image_config(config_body), ctx);
  if (job.config.diff_ids.size() != job.manifest.layers.size())
    return make_error(Code::kInvalidArgument, ctx + ": the config lists " + std::to_string(job.config.diff_ids.size()) +
                                                  " diff_ids for " + std::to_string(job.manifest.layers.size()) + " layers");

  // Layers, a bounded number at once. Each worker claims the next index.
  const size_t n = job.manifest.layers.size();
  std::atomic<size_t> next{0};
  std::vector<std::optional<Error>> errors(n);
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      auto st = ensure_layer(job, i);
      if (!st) {
        errors[i] = std::move(st).error();
        next.store(n);  // stop claiming new layers; running ones finish
      }
    }
  };
  size_t threads = std::max<size_t>(1, std::min<size_t>(n, static_cast<size_t>(std::max(1, options.parallel_layers))));
  {
    std::vector<std::jthread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
  }
  for (auto& e : errors)
    if (e) return std::move(*e).wrap(ctx);

  // Metadata blobs are stored only now, with the layers in place, so the store never holds a
  // config for which it claims an image but lacks layers.
  if (!rec.index_digest.empty()) BERTH_CHECK_CTX(store_.put_blob(rec.index_digest, top.body), ctx);
  BERTH_CHECK_CTX(store_.put_blob(rec.manifest_digest, image.body), ctx);
  BERTH_CHECK_CTX(store_.put_blob(rec.config_digest, config_body), ctx);
  rec.layers = job.config.diff_ids;
  for (const auto& l : job.manifest.layers) {
    rec.layer_blobs.push_back(l.digest);
    rec.compressed_size += static_cast<uint64_t>(l.size);
  }
  for (const auto& l : rec.layers) rec.size += store_.layer_size(l);
  BERTH_CHECK_CTX(store_.put_image(rec), ctx);
  return rec;
}

Status Puller::ensure_layer(Job& job, size_t i) {
  const Digest& diff_id = job.config.diff_ids[i];
  const Descriptor& d = job.manifest.layers[i];
  LayerProgress p{i, d.digest, static_cast<uint64_t>(d.size), 0, 0, LayerProgress::State::kPresent};
  if (store_.has_layer(diff_id)) {
    job.report(p);
    return ok();
  }
  std::promise<Status> promise;
  std::shared_future<Status> theirs;
  {
    std::lock_guard lk(inflight_mu_);
    if (auto it = inflight_.find(diff_id); it != inflight_.end()) {
      theirs = it->second;
    } else if (store_.has_layer(diff_id)) {
      // Committed by another pull between our first look and taking the lock (it commits
      // before leaving inflight_, so this second look under the lock closes the gap).
      job.report(p);
      return ok();
    } else {
      inflight_[diff_id] = promise.get_future().share();
    }
  }
  if (theirs.valid()) {
    p.state = LayerProgress::State::kWaiting;
    job.report(p);
    Status st = theirs.get();
    if (st && store_.has_layer(diff_id)) {
      p.state = LayerProgress::State::kPresent;
      job.report(p);
      return ok();
    }
    // The other pull failed (maybe for a reason that does not apply to us): try ourselves.
    return fetch_and_unpack(job, i);
  }
  Status st = fetch_and_unpack(job, i);
  {
    std::lock_guard lk(inflight_mu_);
    inflight_.erase(diff_id);
  }
  promise.set_value(st);
  return st;
}

Status Puller::fetch_and_unpack(Job& job, size_t i) {
  const Digest& diff_id = job.config.diff_ids[i];
  const Descriptor& d = job.manifest.layers[i];
  const std::string ctx = "layer " + std::to_string(i) + " (" + d.digest.str() + ")";
  LayerProgress p{i, d.digest, static_cast<uint64_t>(d.size), 0, 0, LayerProgress::State::kFetching};
  job.report(p);
  BERTH_TRY_CTX(Decompressors decompressors, layer_decompressors(d.media_type), ctx);
  BERTH_TRY_CTX(LayerWriter layer, store_.begin_layer(), ctx);

  ByteChannel channel(job.options.channel_bytes);
  std::atomic<uint64_t> fetched{0}, written{0};
  std::atomic<bool> unpack_stopped{false};
  Status fetch_status = ok();
  std::jthread fetcher([&] {
    fetch_status = client_.fetch_blob(
        job.ref, d,
        [&](const char* data, size_t len) -> Status {
          if (!channel.write(data, len)) {
            unpack_stopped = true;
            return make_error(Code::kInternal, "unpacking stopped");
          }
          return ok();
        },
        [&](uint64_t f) {
          fetched = f;
          LayerProgress q = p;
          q.fetched = f;
          q.written = written;
          job.report(q);
        },
        job.options.stop);
    channel.close_write(fetch_status ? std::nullopt : std::optional<Error>(fetch_status.error()));
  });

  UnpackOptions uo;
  uo.limits = job.options.limits;
  uo.decompressors = decompressors;
  auto stats = unpack([&](void* buf, size_t len) { return channel.read(buf, len); }, layer.root_fd(), uo,
                      [&](uint64_t w) { written = w; });
  if (stats) {
    // Let the transfer run to its end so the compressed digest gets checked.
    char sink[65536];
    for (;;) {
      auto r = channel.read(sink, sizeof sink);
      if (!r || *r == 0) break;
    }
  }
  channel.close_read();
  fetcher.join();
  p.fetched = fetched;
  p.written = written;
  // An unpack that stopped (a budget, ENOSPC) ends the transfer with "unpacking stopped": then
  // the unpack's own error is the cause and is what the client sees.
  if (!fetch_status && !unpack_stopped) {
    p.state = LayerProgress::State::kFailed;
    job.report(p);
    return std::move(fetch_status).error().wrap(ctx);
  }
  if (!stats) {
    p.state = LayerProgress::State::kFailed;
    job.report(p);
    return std::move(stats).error().wrap(ctx + ": unpack");
  }
  if (!fetch_status) {
    p.state = LayerProgress::State::kFailed;
    job.report(p);
    return std::move(fetch_status).error().wrap(ctx);
  }
  BERTH_CHECK_CTX(layer.commit(diff_id, stats->diff_id, written), ctx);
  p.state = LayerProgress::State::kDone;
  job.report(p);
  return ok();
}

}  // namespace berth::fetcher
