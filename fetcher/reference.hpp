// An image reference: `host[:port]/path[:tag][@sha256:<hex>]`, the grammar of the Distribution
// project minus the implicit "docker.io": berth talks to private registries, so the registry
// host is required (a first component with a '.', a ':' or "localhost"). The tag defaults to
// "latest" when neither tag nor digest is given; when a digest is given it is what gets pulled
// and the tag only names the image record. Plain value type.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::fetcher {

struct Reference {
  std::string registry;    // "registry.internal:5000"
  std::string repository;  // "team/web"
  std::string tag;         // "1.4"; "latest" when nothing was given
  std::string digest;      // "sha256:…" or empty

  // What the registry is asked for: the digest when there is one, else the tag.
  std::string manifest_ref() const { return digest.empty() ? tag : digest; }
  // Canonical text: host/path:tag[@digest]. Parsing it gives back the same Reference.
  std::string str() const;
  // host/path, the name an image record is filed under together with the tag.
  std::string name() const { return registry + "/" + repository; }
  // The key an image record is filed under: name@digest when pulled by digest, else name:tag.
  std::string key() const { return digest.empty() ? name() + ":" + tag : name() + "@" + digest; }
};

// Errors are kInvalidArgument and say which part is wrong and what the grammar allows.
Result<Reference> parse_reference(std::string_view text);

}  // namespace berth::fetcher
