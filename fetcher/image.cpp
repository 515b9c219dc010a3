#include "fetcher/image.hpp"

namespace berth::fetcher {

Result<std::vector<std::string>> lower_dirs(const LayerReader& store, const ImageRecord& image) {
  std::vector<std::string> out;
  for (auto it = image.layers.rbegin(); it != image.layers.rend(); ++it) {
    if (!store.has_layer(*it))
      return make_error(Code::kFailedPrecondition,
                        "image '" + image.ref + "' is missing layer " + it->str() + "; pull it again");
    BERTH_TRY_CTX(std::string link, store.layer_link(*it), "image '" + image.ref + "'");
    out.push_back(std::move(link));
  }
  if (out.empty()) return make_error(Code::kInvalidArgument, "image '" + image.ref + "' has no layers");
  return out;
}

Result<ImageConfig> load_image_config(const BlobReader& store, const ImageRecord& image) {
  BERTH_TRY_CTX(std::string body, store.read_blob(image.config_digest), "image '" + image.ref + "' config");
  return parse_image_config(body);
}

Result<Process> resolve_process(const ImageConfig& image, const ProcessOverrides& spec) {
  Process p;
  std::vector<std::string> entry = spec.entrypoint ? *spec.entrypoint : image.entrypoint;
  std::vector<std::string> cmd = spec.command ? *spec.command : (spec.entrypoint ? std::vector<std::string>{} : image.cmd);
  p.argv = entry;
  p.argv.insert(p.argv.end(), cmd.begin(), cmd.end());
  if (p.argv.empty())
    return make_error(Code::kInvalidArgument, "nothing to run: the image has no Entrypoint or Cmd; set \"command\"");
  p.env = image.env;
  for (const auto& kv : spec.env) {
    std::string key = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (auto& e : p.env)
      if (e.substr(0, e.find('=')) == key) {
        e = kv;
        replaced = true;
      }
    if (!replaced) p.env.push_back(kv);
  }
  p.working_dir = spec.working_dir ? *spec.working_dir : (image.working_dir.empty() ? "/" : image.working_dir);
  p.user = spec.user ? *spec.user : image.user;
  return p;
}

}  // namespace berth::fetcher
