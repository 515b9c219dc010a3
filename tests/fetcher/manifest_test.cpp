#include "fetcher/manifest.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "fetcher/auth.hpp"

namespace berth::fetcher {
namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');

TEST(Challenge, BearerWithQuotedParams) {
  auto c = parse_challenges(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push")");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].param("realm"), "https://auth.example.com/token");
  EXPECT_EQ((*c)[0].param("service"), "registry.example.com");
  EXPECT_EQ((*c)[0].param("scope"), "repository:a/b:pull,push");
}

TEST(Challenge, SeveralSchemesTokensAndEscapes) {
  auto c = parse_challenges(R"(Basic realm="Registry \"R\"", charset=UTF-8, Bearer realm=http://t/x ,error="insufficient_scope")");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_EQ((*c)[0].param("realm"), "Registry \"R\"");
  EXPECT_EQ((*c)[0].param("charset"), "UTF-8");
  EXPECT_EQ((*c)[1].param("realm"), "http://t/x");
  EXPECT_EQ((*c)[1].param("error"), "insufficient_scope");
  EXPECT_FALSE(parse_challenges(R"(Bearer realm="unterminated)"));
  EXPECT_FALSE(parse_challenges(""));
}

TEST(Token, ResponseAndCacheExpiry) {
  auto now = std::chrono::steady_clock::now();
  auto t = parse_token_response(R"({"access_token":"abc","expires_in":300})", now);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->value, "abc");
  EXPECT_GT(t->expires, now + std::chrono::seconds(200));
  EXPECT_FALSE(parse_token_response(R"({"nothing":1})", now));
  TokenCache cache;
  cache.put("k", Token{"live", std::chrono::steady_clock::now() + std::chrono::seconds(60)});
  cache.put("old", Token{"dead", std::chrono::steady_clock::now() - std::chrono::seconds(1)});
  EXPECT_EQ(cache.get("k").value_or(""), "live");
  EXPECT_FALSE(cache.get("old"));
  EXPECT_FALSE(cache.get("missing"));
}

// A token server controls expires_in: huge values used to overflow the expiry arithmetic (UB;
// in practice the token came out already expired, or valid for centuries).
TEST(Token, ExpiresInIsClampedWhateverTheServerSends) {
  auto now = std::chrono::steady_clock::now();
  for (const char* v : {"9223372036854775807", "9223372036854775000", "100000000000000000", "-9223372036854775807"}) {
    auto t = parse_token_response(std::string(R"({"token":"t","expires_in":)") + v + "}", now);
    ASSERT_TRUE(t) << v;
    EXPECT_GT(t->expires, now + std::chrono::seconds(30)) << v;
    EXPECT_LE(t->expires, now + kMaxTokenLifetime) << v;
    TokenCache cache;
    cache.put("k", *t);
    EXPECT_EQ(cache.get("k").value_or(""), "t") << v << ": a fresh token is served from the cache";
  }
}

std::string image_manifest(const std::string& mt) {
  return R"({"schemaVersion":2,"mediaType":")" + mt + R"(","config":{"mediaType":"x","digest":")" + kA +
         R"(","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + kB +
         R"(","size":20},{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":")" + kC + R"(","size":30}]})";
}

TEST(Manifest, OciAndDockerSchema2) {
  for (auto mt : {media::kOciManifest, media::kDockerManifest}) {
    std::string body = image_manifest(std::string(mt));
    auto kind = classify_manifest(mt, body);
    ASSERT_TRUE(kind);
    EXPECT_EQ(*kind, ManifestKind::kImage);
    auto m = parse_image_manifest(body);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->config.digest.str(), kA);
    ASSERT_EQ(m->layers.size(), 2u);
    EXPECT_EQ(m->layers[1].size, 30);
  }
  // Content-Type with parameters, and a body-only classification.
  EXPECT_EQ(*classify_manifest(std::string(media::kOciManifest) + "; charset=utf-8", "{}"), ManifestKind::kImage);
  EXPECT_EQ(*classify_manifest("application/json", image_manifest(std::string(media::kOciManifest))), ManifestKind::kImage);
}

TEST(Manifest, Schema1IsRefusedWithAReason) {
  auto k = classify_manifest(media::kDockerSchema1Signed, "{}");
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("schema 1 is not supported"), std::string::npos);
  k = classify_manifest("application/json", R"({"schemaVersion":1,"name":"x","fsLayers":[]})");
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("schema 1"), std::string::npos);
  auto m = parse_image_manifest(R"({"schemaVersion":1})");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("schema 1"), std::string::npos);
}

TEST(Manifest, BadDescriptorsAndLayerTypes) {
  auto m = parse_image_manifest(R"({"schemaVersion":2,"config":{"digest":"sha256:xyz","size":1},"layers":[]})");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("config"), std::string::npos);
  m = parse_image_manifest(R"({"schemaVersion":2,"config":{"digest":")" + kA + R"("},"layers":[]})");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("no valid size"), std::string::npos);
  m = parse_image_manifest(R"({"schemaVersion":2,"config":{"digest":")" + kA + R"(","size":1},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":")" +
                           kB + R"(","size":1}]})");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("foreign"), std::string::npos);
}

// Docker's uncompressed layer type (written by `docker save` and some builders) is a layer.
TEST(Manifest, EveryTarLayerMediaTypeIsAccepted) {
  for (auto mt : {media::kOciLayer, media::kOciLayerGzip, media::kOciLayerZstd, media::kDockerLayer,
                  media::kDockerLayerGzip, media::kDockerLayerZstd}) {
    auto m = parse_image_manifest(R"({"schemaVersion":2,"config":{"digest":")" + kA +
                                  R"(","size":1},"layers":[{"mediaType":")" + std::string(mt) + R"(","digest":")" + kB +
                                  R"(","size":1}]})");
    EXPECT_TRUE(m) << mt << ": " << (m ? "" : m.error().message);
  }
  EXPECT_EQ(media::kDockerLayer, "application/vnd.docker.image.rootfs.diff.tar");
}

ImageIndex index_of(std::vector<Platform> ps) {
  ImageIndex idx;
  char c = 'a';
  for (auto& p : ps) {
    Descriptor d;
    d.media_type = std::string(media::kOciManifest);
    d.digest = Digest::from_hex(std::string(64, c++));
    d.size = 100;
    d.platform = p;
    d.has_platform = true;
    idx.manifests.push_back(d);
  }
  return idx;
}

TEST(Platform, SelectsThisMachine) {
  auto host = host_platform();
  EXPECT_EQ(host.os, "linux");
  EXPECT_FALSE(host.architecture.empty());
  auto idx = index_of({{"linux", "arm64", "v8"}, {"linux", "amd64", ""}, {"windows", "amd64", ""}, {"linux", "s390x", ""}});
  auto d = select_platform(idx, {"linux", "amd64", ""});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digest.hex(), std::string(64, 'b'));
  d = select_platform(idx, {"linux", "arm64", "v8"});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digest.hex(), std::string(64, 'a'));
  // Exact variant beats an unqualified entry; an unqualified entry serves any variant.
  idx = index_of({{"linux", "arm", ""}, {"linux", "arm", "v6"}, {"linux", "arm", "v7"}});
  EXPECT_EQ(select_platform(idx, {"linux", "arm", "v7"})->digest.hex(), std::string(64, 'c'));
  EXPECT_EQ(select_platform(idx, {"linux", "arm", "v5"})->digest.hex(), std::string(64, 'a'));
  auto none = select_platform(idx, {"linux", "riscv64", ""});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Code::kNotFound);
  EXPECT_NE(none.error().message.find("linux/arm/v7"), std::string::npos) << none.error().message;
}

TEST(Platform, IndexParsing) {
  std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kA + R"(","size":5,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kB + R"(","size":5,"platform":{"os":"linux","architecture":"amd64"}}]})";
  ASSERT_EQ(*classify_manifest("", body), ManifestKind::kIndex);
  auto idx = parse_image_index(body);
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_EQ(select_platform(*idx, {"linux", "amd64", ""})->digest.str(), kB);
}

TEST(Config, DiffIdsAndRuntimeFields) {
  auto c = parse_image_config(R"({"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh"],"Cmd":["-c","x"],
     "Env":["PATH=/bin"],"WorkingDir":"/w","User":"1000:1000"},"rootfs":{"type":"layers","diff_ids":[")" + kA + R"("]}})");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->diff_ids.size(), 1u);
  EXPECT_EQ(c->entrypoint, std::vector<std::string>{"/bin/sh"});
  EXPECT_EQ(c->user, "1000:1000");
  EXPECT_FALSE(parse_image_config(R"({"rootfs":{}})"));
}

TEST(Digest, ParseAndHash) {
  EXPECT_EQ(Digest::of("").str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_FALSE(Digest::parse("sha256:" + std::string(64, 'A')));
  EXPECT_TRUE(Digest::parse(kA));
}

}  // namespace
}  // namespace berth::fetcher
