// The image commands: pull (with its progress display), images, rmi, prune, load.
#include "cli/command_context.hpp"
#include "cli/format.hpp"
#include "cli/pull_progress.hpp"

namespace berth::cli {

int cmd_pull(Context& ctx, const Args& args) {
  auto opts = parse_pull(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  using Mode = PullDisplay::Mode;
  PullDisplay display(ctx.json ? Mode::kJson : ctx.terminal.is_tty ? Mode::kTerminal : Mode::kPlain,
                      ctx.terminal.columns);
  json::JsonWriter body;
  body.begin_object().kv("ref", opts->ref).end_object();
  auto r = ctx.client.stream("POST", "/v1/images/pull", body.str(), [&](std::string_view chunk) {
    ctx.out << display.feed(chunk);
    ctx.out.flush();
    return ctx.out.good();  // our output went away: stop watching (berthd finishes the pull)
  });
  ctx.out << display.finish();
  ctx.out.flush();
  if (!r.has_value()) return fail(ctx, r.error());
  if (!display.finished())
    return fail(ctx, make_error(Code::kUnavailable, "pull " + opts->ref +
                                                        ": the stream ended before the pull did "
                                                        "(see 'berth images' for whether it arrived)"));
  if (!display.pulled()) return fail(ctx, make_error(Code::kInternal, display.error_message()));
  return 0;
}

int cmd_images(Context& ctx, const Args& args) {
  auto opts = parse_images(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  auto list = ctx.client.call("GET", "/v1/images");
  if (!list.has_value()) return fail(ctx, list.error());
  if (ctx.json) {
    ctx.out << json::to_string(*list) << "\n";
  } else if (opts->quiet) {
    if (list->IsObject() && list->HasMember("images") && (*list)["images"].IsArray())
      for (const auto& img : (*list)["images"].GetArray()) ctx.out << json::get_string(img, "ref") << "\n";
  } else {
    ctx.out << format_images(*list);
  }
  return 0;
}

int cmd_rmi(Context& ctx, const Args& args) {
  auto opts = parse_rmi(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  int rc = 0;
  for (const auto& ref : opts->refs) {
    auto r = ctx.client.request("DELETE", "/v1/images/" + url_encode(ref));
    if (!r.has_value()) return fail(ctx, r.error());
    if (r->status / 100 != 2) {
      rc = fail(ctx, error_from_reply(r->status, r->body).wrap("rmi " + ref));
      continue;
    }
    ctx.out << ref << "\n";
  }
  return rc;
}

int cmd_prune(Context& ctx, const Args& args) {
  if (auto st = parse_no_args("prune", args); !st.has_value()) return usage_error(ctx.err, st.error());
  auto stats = ctx.client.call("POST", "/v1/images/prune");
  if (!stats.has_value()) return fail(ctx, stats.error());
  ctx.out << (ctx.json ? json::to_string(*stats) + "\n" : format_prune(*stats));
  return 0;
}

int cmd_load(Context& ctx, const Args& args) {
  auto opts = parse_load(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  LoadOptions o = std::move(opts).value();
  o.dir = absolute_path(o.dir);
  auto image = ctx.client.call("POST", "/v1/images/load", load_body(o));
  if (!image.has_value()) return fail(ctx, image.error());
  ctx.out << (ctx.json ? json::to_string(*image) + "\n" : "loaded " + image_summary(*image) + "\n");
  return 0;
}

}  // namespace berth::cli
