// Pulls from the real Distribution registry (docker-registry) on 127.0.0.1, with images the
// tests build and push themselves. Each test starts its own registry and stops it by pid.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "fetcher/pull.hpp"
#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/test_util.hpp"
#include "tests/fixtures/registry_token_server.hpp"
#include "tests/fetcher/flaky_proxy.hpp"

namespace berth::testing {
namespace {

using namespace berth::fetcher;

class RegistryPull : public ::testing::Test {
 protected:
  void start(RegistryOptions ro = {}) {
    auto r = Registry::start(ro);
    ASSERT_TRUE(r) << r.error().message;
    reg_ = std::move(r).value();
    auto s = ContentStore::open(tmp_ / "store", StoreOptions::not_durable());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s).value();
  }
  RegistryHost& host_settings() { return opts_.hosts[reg_->host()]; }
  Result<ImageRecord> pull(const std::string& repo_tag, const PullProgressFn& progress = nullptr) {
    if (!host_settings().insecure && reg_->ca_file().empty() && !reg_->options().tls) host_settings().insecure = true;
    client_ = std::make_unique<RegistryClient>(opts_);
    Puller puller(*store_, *client_);
    return puller.pull(reg_->host() + "/" + repo_tag, PullOptions{}, progress);
  }
  std::string layer_file(const ImageRecord& rec, size_t layer, const std::string& path) {
    return store_->layer_path(rec.layers.at(layer)) + "/" + path;
  }

  TempDir tmp_;
  std::unique_ptr<Registry> reg_;
  std::unique_ptr<ContentStore> store_;
  fetcher::RegistryOptions opts_;
  std::unique_ptr<RegistryClient> client_;
};

std::vector<TestLayer> three_layers() {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 3);
  return {
      {busybox_layer_tar(), Compression::kGzip},
      {TarBuilder().dir("app").file("app/data.bin", big).file("app/run.sh", "#!/bin/sh\necho hi\n", 0755).build(),
       Compression::kGzip},
      {TarBuilder().dir("etc").file("etc/.wh.os-release", "").file("etc/motd", "layer 3\n").build(), Compression::kGzip},
  };
}

TEST_F(RegistryPull, PlainHttpPullThenWarmPull) {
  start();
  auto pushed = push_image(*reg_, "team/app", "v1", three_layers());
  ASSERT_TRUE(pushed) << pushed.error().message;
  std::mutex mu;
  std::map<size_t, LayerProgress> last;
  int fetching_events = 0;
  auto rec = pull("team/app:v1", [&](const LayerProgress& p) {
    std::lock_guard lk(mu);
    last[p.index] = p;
    if (p.state == LayerProgress::State::kFetching) ++fetching_events;
  });
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->ref, reg_->host() + "/team/app:v1");
  EXPECT_EQ(rec->manifest_digest.str(), pushed->manifest_digest);
  ASSERT_EQ(rec->layers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rec->layers[i].str(), pushed->diff_ids[i]);
    EXPECT_EQ(last[i].state, LayerProgress::State::kDone);
    EXPECT_EQ(last[i].fetched, last[i].size);
  }
  EXPECT_GT(last[1].written, 3u << 20);
  EXPECT_EQ(*fs::read_file(layer_file(*rec, 1, "app/run.sh")), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(fs::read_file(layer_file(*rec, 0, "bin/busybox"))->size(), fs::read_file("/bin/busybox")->size());
  if (is_root()) {
    struct stat st {};
    ASSERT_EQ(::lstat(layer_file(*rec, 2, "etc/os-release").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the whiteout is an overlay whiteout";
  }
  EXPECT_TRUE(store_->has_blob(rec->config_digest));
  EXPECT_TRUE(store_->has_blob(rec->manifest_digest));
  EXPECT_TRUE(fs::list_dir(tmp_ / "store/tmp")->empty());
  auto stored = store_->get_image(reg_->host() + "/team/app:v1");
  ASSERT_TRUE(stored);

  // Warm: everything present → no layer fetched, one manifest round trip.
  int refetched = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto again = pull("team/app:v1", [&](const LayerProgress& p) {
    if (p.state == LayerProgress::State::kFetching) ++refetched;
  });
  auto warm = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(refetched, 0);
  std::cout << "[ warm pull ] " << std::chrono::duration<double, std::milli>(warm).count() << " ms\n";

  // By digest, too.
  auto by_digest = pull("team/app@" + pushed->manifest_digest);
  ASSERT_TRUE(by_digest) << by_digest.error().message;
  EXPECT_EQ(by_digest->ref, reg_->host() + "/team/app@" + pushed->manifest_digest);
  // Pulled by digest and complete: no registry needed any more.
  ASSERT_TRUE(reg_->stop());
  auto offline = pull("team/app@" + pushed->manifest_digest);
  ASSERT_TRUE(offline) << offline.error().message;
  auto by_tag = pull("team/app:v1");
  ASSERT_FALSE(by_tag) << "a tag may have moved: it is always asked for";
  EXPECT_EQ(by_tag.error().code, Code::kUnavailable);
}

TEST_F(RegistryPull, TlsWithAPrivateCa) {
  RegistryOptions ro;
  ro.tls = true;
  start(ro);
  ASSERT_TRUE(push_image(*reg_, "tls/app", "1", {{busybox_layer_tar(), Compression::kGzip}}));
  // Without the CA: the certificate is not trusted, a configuration error, no retries.
  auto bad = pull("tls/app:1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kFailedPrecondition) << bad.error().message;
  EXPECT_NE(bad.error().message.find("certificate"), std::string::npos) << bad.error().message;
  host_settings().tls.ca_file = reg_->ca_file();
  auto rec = pull("tls/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_TRUE(fs::exists(layer_file(*rec, 0, "bin/busybox")));
}

TEST_F(RegistryPull, BasicAuthAndNoCredentialsInErrors) {
  RegistryOptions ro;
  ro.basic_auth = true;
  start(ro);
  ASSERT_TRUE(push_image(*reg_, "private/app", "1", {{busybox_layer_tar(), Compression::kGzip}}));
  auto none = pull("private/app:1");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Code::kPermissionDenied);
  EXPECT_NE(none.error().message.find("requires credentials"), std::string::npos) << none.error().message;

  host_settings().username = reg_->options().username;
  host_settings().password = "wrong-password-XYZ";
  auto wrong = pull("private/app:1");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Code::kPermissionDenied);
  EXPECT_EQ(wrong.error().message.find("wrong-password-XYZ"), std::string::npos) << wrong.error().message;
  EXPECT_NE(wrong.error().message.find("rejected the credentials"), std::string::npos) << wrong.error().message;

  host_settings().password = reg_->options().password;
  auto rec = pull("private/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_TRUE(fs::exists(layer_file(*rec, 0, "etc/os-release")));
}

TEST_F(RegistryPull, CorruptBlobOnRegistryDiskFailsAndLeavesTheStoreUnchanged) {
  start();
  auto pushed = push_image(*reg_, "bad/app", "1", three_layers());
  ASSERT_TRUE(pushed);
  // Flip bytes in the middle of the big layer's compressed data, keeping its size.
  std::string path = reg_->blob_data_path(pushed->layer_digests[1]);
  auto data = fs::read_file(path);
  ASSERT_TRUE(data);
  std::string corrupt = *data;
  for (size_t i = corrupt.size() / 2; i < corrupt.size() / 2 + 64; ++i) corrupt[i] ^= 0x5a;
  ASSERT_TRUE(fs::write_file_atomic(path, corrupt));
  auto before = listing(tmp_ / "store");
  auto rec = pull("bad/app:1");
  ASSERT_FALSE(rec);
  std::cout << "[ error ] " << rec.error().message << "\n";
  EXPECT_TRUE(rec.error().message.find("does not match its digest") != std::string::npos ||
              rec.error().message.find("unpack") != std::string::npos)
      << rec.error().message;
  EXPECT_EQ(before, listing(tmp_ / "store")) << "a failed pull must leave nothing visible";
  EXPECT_FALSE(store_->get_image(reg_->host() + "/bad/app:1"));

  // Corrupt only the tail so gzip may decode fine but the digest cannot match.
  ASSERT_TRUE(fs::write_file_atomic(path, *data));
  std::string tail = *data;
  tail[tail.size() - 1] ^= 0x01;
  ASSERT_TRUE(fs::write_file_atomic(path, tail));
  rec = pull("bad/app:1");
  ASSERT_FALSE(rec);
  EXPECT_EQ(before, listing(tmp_ / "store"));
}

TEST_F(RegistryPull, ZstdAndUncompressedLayers) {
  start();
  auto pushed = push_image(*reg_, "zstd/app", "1",
                           {{busybox_layer_tar(), Compression::kZstd},
                            {TarBuilder().file("z/plain", "no compression").build(), Compression::kNone}});
  ASSERT_TRUE(pushed) << pushed.error().message;
  auto rec = pull("zstd/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_TRUE(fs::exists(layer_file(*rec, 0, "bin/busybox")));
  EXPECT_EQ(*fs::read_file(layer_file(*rec, 1, "z/plain")), "no compression");
}

TEST_F(RegistryPull, DockerSchema2WithAnUncompressedLayer) {
  start();
  auto pushed = push_image(*reg_, "dtar/app", "1",
                           {{busybox_layer_tar(), Compression::kGzip},
                            {TarBuilder().file("plain/file", "uncompressed docker layer").build(), Compression::kNone}},
                           "amd64", /*oci=*/false);
  ASSERT_TRUE(pushed) << pushed.error().message;
  ASSERT_NE(pushed->manifest_body.find("\"application/vnd.docker.image.rootfs.diff.tar\""), std::string::npos);
  auto rec = pull("dtar/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(*fs::read_file(layer_file(*rec, 1, "plain/file")), "uncompressed docker layer");
}

TEST_F(RegistryPull, OciIndexPicksThisPlatform) {
  start();
  std::string index = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)";
  bool first = true;
  for (auto [arch, variant] : {std::pair{"arm64", "v8"}, std::pair{"amd64", ""}, std::pair{"s390x", ""}}) {
    auto img = push_image(*reg_, "multi/app", "",
                          {{TarBuilder().file("arch", arch).build(), Compression::kGzip}}, arch);
    ASSERT_TRUE(img) << img.error().message;
    index += std::string(first ? "" : ",") + R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
             img->manifest_digest + R"(","size":)" + std::to_string(img->manifest_body.size()) +
             R"(,"platform":{"os":"linux","architecture":")" + arch + R"(")" +
             (std::string(variant).empty() ? "" : std::string(R"(,"variant":")") + variant + "\"") + "}}";
    first = false;
  }
  index += "]}";
  ASSERT_TRUE(reg_->push_manifest("multi/app", "1", "application/vnd.oci.image.index.v1+json", index));
  auto rec = pull("multi/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->index_digest, Digest::of(index));
  EXPECT_EQ(*fs::read_file(layer_file(*rec, 0, "arch")), host_platform().architecture);
}

TEST_F(RegistryPull, DockerSchema2PushedBySkopeo) {
  start();
  // An OCI layout on disk, then skopeo converts and pushes it as Docker schema2.
  std::string layout = tmp_ / "layout";
  std::string tar = busybox_layer_tar();
  std::string gz = compress(tar, Compression::kGzip);
  ASSERT_TRUE(fs::mkdir_p(layout + "/blobs/sha256"));
  auto put = [&](const std::string& data) {
    auto d = Digest::of(data);
    EXPECT_TRUE(fs::write_file_atomic(layout + "/blobs/sha256/" + d.hex(), data));
    return d.str();
  };
  std::string layer = put(gz);
  std::string config = R"({"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[")" +
                       Digest::of(tar).str() + R"("]}})";
  std::string cd = put(config);
  std::string manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                         cd + R"(","size":)" + std::to_string(config.size()) +
                         R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + layer +
                         R"(","size":)" + std::to_string(gz.size()) + "}]}";
  std::string md = put(manifest);
  ASSERT_TRUE(fs::write_file_atomic(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  ASSERT_TRUE(fs::write_file_atomic(layout + "/index.json",
                                    R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                                        md + R"(","size":)" + std::to_string(manifest.size()) +
                                        R"(,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]})"));
  auto st = run_shell("skopeo copy --quiet --format v2s2 --dest-tls-verify=false oci:" + layout + ":v1 docker://" +
                      reg_->host() + "/docker/app:v1");
  ASSERT_TRUE(st) << st.error().message;
  auto rec = pull("docker/app:v1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->media_type, "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_TRUE(fs::exists(layer_file(*rec, 0, "bin/busybox")));
}

TEST_F(RegistryPull, ConcurrentPullsOfTheSameImageFetchEachLayerOnce) {
  start();
  auto pushed = push_image(*reg_, "con/app", "1", three_layers());
  ASSERT_TRUE(pushed);
  host_settings().insecure = true;
  RegistryClient client(opts_);
  Puller puller(*store_, client);
  std::mutex mu;
  std::map<std::string, int> fetches;
  auto progress = [&](const LayerProgress& p) {
    if (p.state != LayerProgress::State::kFetching || p.fetched != 0) return;
    std::lock_guard lk(mu);
    ++fetches[p.blob.str()];
  };
  std::vector<std::thread> ts;
  std::atomic<int> okays{0};
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      auto r = puller.pull(reg_->host() + "/con/app:1", PullOptions{}, progress);
      if (r) ++okays;
      else ADD_FAILURE() << r.error().message;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(okays, 4);
  ASSERT_EQ(fetches.size(), 3u);
  for (const auto& [blob, n] : fetches) EXPECT_EQ(n, 1) << blob;
}

TEST_F(RegistryPull, RegistryStoppedMidPullThenALaterPullSucceeds) {
  start();
  std::string big(24 << 20, '\0');
  uint32_t x = 12345;
  for (auto& c : big) { x = x * 1103515245 + 12345; c = static_cast<char>(x >> 24); }  // incompressible
  ASSERT_TRUE(push_image(*reg_, "stop/app", "1", {{TarBuilder().file("big", big).build(), Compression::kGzip}}));
  opts_.max_attempts = 2;
  opts_.backoff = std::chrono::milliseconds(50);
  std::atomic<bool> stopped{false};
  auto rec = pull("stop/app:1", [&](const LayerProgress& p) {
    if (p.fetched > (1 << 20) && !stopped.exchange(true)) (void)reg_->stop();
  });
  ASSERT_TRUE(stopped);
  ASSERT_FALSE(rec);
  std::cout << "[ error ] " << rec.error().message << "\n";
  EXPECT_EQ(rec.error().code, Code::kUnavailable) << rec.error().message;
  EXPECT_TRUE(fs::list_dir(tmp_ / "store/layers")->empty());
  EXPECT_TRUE(fs::list_dir(tmp_ / "store/tmp")->empty());
  ASSERT_TRUE(reg_->restart());
  rec = pull("stop/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(fs::read_file(layer_file(*rec, 0, "big"))->size(), big.size());
}

TEST_F(RegistryPull, MissingImageAndTag) {
  start();
  auto rec = pull("nothing/here:1");
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Code::kNotFound);
  EXPECT_NE(rec.error().message.find("MANIFEST_UNKNOWN"), std::string::npos) << rec.error().message;
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

TEST_F(RegistryPull, BearerTokenAuthWithATokenServerAndTokenCaching) {
  start();
  ASSERT_TRUE(push_image(*reg_, "tok/app", "1", {{busybox_layer_tar(), Compression::kGzip}}));
  ASSERT_TRUE(push_image(*reg_, "tok/app", "2", {{TarBuilder().file("two", "2").build(), Compression::kGzip}}));
  auto ts = TokenServer::start(reg_->dir(), "tokuser", "tok-pass-77");
  ASSERT_TRUE(ts) << ts.error().message;
  RegistryOptions locked;
  locked.token_realm = (*ts)->realm();
  locked.token_service = TokenServer::kService;
  locked.token_issuer = TokenServer::kIssuer;
  locked.token_cert = (*ts)->cert_file();
  ASSERT_TRUE(reg_->reconfigure(locked));
  host_settings().insecure = true;

  // No credentials: the token server refuses; the message says what to configure.
  auto none = pull("tok/app:1");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Code::kPermissionDenied) << none.error().message;
  EXPECT_NE(none.error().message.find("refused the credentials"), std::string::npos) << none.error().message;

  host_settings().username = "tokuser";
  host_settings().password = "tok-pass-77";
  client_ = std::make_unique<RegistryClient>(opts_);
  Puller puller(*store_, *client_);
  int before = (*ts)->requests();
  auto rec = puller.pull(reg_->host() + "/tok/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_TRUE(fs::exists(layer_file(*rec, 0, "bin/busybox")));
  // Same client, same scope: the cached token serves the second image.
  auto rec2 = puller.pull(reg_->host() + "/tok/app:2");
  ASSERT_TRUE(rec2) << rec2.error().message;
  EXPECT_EQ((*ts)->requests() - before, 1) << "one token for both pulls (cached until expiry)";
  EXPECT_EQ(rec2->ref, reg_->host() + "/tok/app:2");
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

TEST_F(RegistryPull, MirrorsInOrderAndRangeResumeAfterACutConnection) {
  start();
  std::string big(4 << 20, '\0');
  uint32_t x = 7;
  for (auto& c : big) { x = x * 1103515245 + 12345; c = static_cast<char>(x >> 24); }
  auto pushed = push_image(*reg_, "mirror/app", "1", {{TarBuilder().file("big", big).build(), Compression::kGzip}});
  ASSERT_TRUE(pushed);
  int port = std::stoi(reg_->host().substr(reg_->host().rfind(':') + 1));
  FlakyProxy proxy(port, 1 << 20);  // cuts the first blob response after 1 MiB (headers included)
  // Mirrors in order: a dead one (nothing listens), then the flaky proxy, then the origin.
  std::string dead = "127.0.0.1:1";
  opts_.hosts[dead].insecure = true;
  opts_.hosts[proxy.host()].insecure = true;
  host_settings().insecure = true;
  host_settings().mirrors = {dead, proxy.host()};
  opts_.max_attempts = 2;
  opts_.backoff = std::chrono::milliseconds(10);
  auto rec = pull("mirror/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(fs::read_file(layer_file(*rec, 0, "big"))->size(), big.size());
  EXPECT_TRUE(proxy.cut());
  bool resumed = false;
  for (const auto& r : proxy.requests())
    if (r.find("/blobs/" + pushed->layer_digests[0]) != std::string::npos && r.find("Range: bytes=") != std::string::npos)
      resumed = true;
  EXPECT_TRUE(resumed) << "the retry after the cut asked for the rest with Range";
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

// A registry served over https that names a plain-http token realm: the credentials must not
// travel there (they would cross the network in clear). Allowed only for an insecure registry.
TEST_F(RegistryPull, CredentialsAreNeverSentToAPlainHttpTokenRealmOfASecureRegistry) {
  RegistryOptions ro;
  ro.tls = true;
  start(ro);
  ASSERT_TRUE(push_image(*reg_, "realm/app", "1", {{busybox_layer_tar(), Compression::kGzip}},
                         "amd64", true));
  auto ts = TokenServer::start(reg_->dir(), "tokuser", "tok-pass-77");
  ASSERT_TRUE(ts) << ts.error().message;
  RegistryOptions locked = ro;
  locked.token_realm = (*ts)->realm();  // http://127.0.0.1:PORT/token
  locked.token_service = TokenServer::kService;
  locked.token_issuer = TokenServer::kIssuer;
  locked.token_cert = (*ts)->cert_file();
  ASSERT_TRUE(reg_->reconfigure(locked));
  host_settings().tls.ca_file = reg_->ca_file();
  host_settings().username = "tokuser";
  host_settings().password = "tok-pass-77";

  auto rec = pull("realm/app:1");
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Code::kPermissionDenied) << rec.error().message;
  EXPECT_NE(rec.error().message.find("not https"), std::string::npos) << rec.error().message;
  EXPECT_NE(rec.error().message.find("insecure"), std::string::npos) << "says what to change: " << rec.error().message;
  EXPECT_EQ(rec.error().message.find("tok-pass-77"), std::string::npos);
  EXPECT_EQ((*ts)->requests(), 0) << "no request, so no credentials, reached the http realm";
  EXPECT_TRUE(fs::list_dir(tmp_ / "store/layers")->empty());
}

}  // namespace
}  // namespace berth::testing
