#include "cli/commands.hpp"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "cli/command_context.hpp"
#include "cli/format.hpp"
#include "cli/stats.hpp"

namespace berth::cli {
namespace {

std::string container_path(const std::string& id) { return "/v1/containers/" + url_encode(id); }

// Copies a follow=1 log stream to `to` as it arrives.
Status copy_logs(Client& client, const std::string& target, std::ostream& to) {
  auto r = client.stream("GET", target, "", [&](std::string_view chunk) {
    to.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    to.flush();
    return to.good();  // our own output went away (`| head`): stop following
  });
  if (!r.has_value()) return r.error();
  return ok();
}

// A launch that failed after berthd made its record leaves it (state failed) and names it in
// the error reply; --rm removes it like the record of a task that ran.
void remove_failed_launch(Context& ctx, const std::string& reply_body) {
  auto doc = json::parse(reply_body);
  if (!doc.has_value() || !doc->IsObject() || !doc->HasMember("error") || !(*doc)["error"].IsObject()) return;
  std::string id = json::get_string((*doc)["error"], "id");
  if (id.empty()) return;
  auto removed = ctx.client.request("DELETE", container_path(id));
  if (!removed.has_value()) fail(ctx, removed.error());
  else if (removed->status / 100 != 2) fail(ctx, error_from_reply(removed->status, removed->body).wrap("rm " + id));
}

int cmd_run(Context& ctx, const Args& args) {
  auto opts = parse_run(args, [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
  if (!opts.has_value()) return fail(ctx, opts.error(), kExitBerthError);
  RunOptions o = std::move(opts).value();
  if (!o.rootfs.empty()) o.rootfs = absolute_path(o.rootfs);

  auto reply = ctx.client.request("POST", "/v1/containers", run_spec_json(o));
  if (!reply.has_value()) return fail(ctx, reply.error(), kExitBerthError);
  if (reply->status / 100 != 2) {
    Error launch_error = error_from_reply(reply->status, reply->body);
    if (o.remove) remove_failed_launch(ctx, reply->body);
    return fail(ctx, launch_error, kExitBerthError);
  }
  auto created = json::parse(reply->body);
  if (!created.has_value()) return fail(ctx, created.error().wrap("reply to run"), kExitBerthError);
  std::string id = json::get_string(*created, "id");
  if (id.empty()) return fail(ctx, make_error(Code::kInternal, "berthd replied without an id"), kExitBerthError);
  if (o.detach) {
    if (ctx.json) ctx.out << json::to_string(*created) << "\n";
    else ctx.out << id << "\n";
    return 0;
  }

  // Attached: follow both streams until the task ended and all its output was sent.
  Status out_status = ok(), err_status = ok();
  std::thread out_thread([&] {
    Client c(ctx.client.socket_path());
    out_status = copy_logs(c, logs_target(id, "stdout", true, std::nullopt), ctx.out);
  });
  std::thread err_thread([&] {
    Client c(ctx.client.socket_path());
    err_status = copy_logs(c, logs_target(id, "stderr", true, std::nullopt), ctx.err);
  });
  auto record = ctx.client.call("GET", container_path(id) + "/wait");
  out_thread.join();
  err_thread.join();
  if (!out_status.has_value()) fail(ctx, out_status.error().wrap("logs of " + id));
  if (!err_status.has_value()) fail(ctx, err_status.error().wrap("logs of " + id));
  if (!record.has_value()) return fail(ctx, record.error().wrap("wait for " + id), kExitBerthError);
  int code = exit_code_of(*record);
  if (json::get_string(*record, "reason") == "launch_failed")
    fail(ctx, make_error(Code::kInvalidArgument, format_exit(*record)));
  if (o.remove) {
    auto removed = ctx.client.request("DELETE", container_path(id));
    if (!removed.has_value()) fail(ctx, removed.error());
    else if (removed->status / 100 != 2)
      fail(ctx, error_from_reply(removed->status, removed->body).wrap("rm " + id));
  }
  return code;
}

int cmd_ps(Context& ctx, const Args& args) {
  auto opts = parse_ps(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  auto list = ctx.client.call("GET", opts->all ? "/v1/containers" : "/v1/containers?state=running");
  if (!list.has_value()) return fail(ctx, list.error());
  if (ctx.json) {
    ctx.out << json::to_string(*list) << "\n";
  } else if (opts->quiet) {
    if (list->IsObject() && list->HasMember("containers") && (*list)["containers"].IsArray())
      for (const auto& c : (*list)["containers"].GetArray()) ctx.out << json::get_string(c, "id") << "\n";
  } else {
    ctx.out << format_ps(*list, now_ms());
  }
  return 0;
}

int cmd_endpoints(Context& ctx, const Args& args) {
  if (!args.empty())
    return usage_error(ctx.err, make_error(Code::kInvalidArgument, "endpoints: takes no arguments, got '" + args[0] + "'"));
  auto list = ctx.client.call("GET", "/v1/endpoints");
  if (!list.has_value()) return fail(ctx, list.error());
  ctx.out << (ctx.json ? json::to_string(*list) + "\n" : format_endpoints(*list));
  return 0;
}

int cmd_inspect(Context& ctx, const Args& args) {
  auto id = parse_single_id("inspect", args);
  if (!id.has_value()) return usage_error(ctx.err, id.error());
  auto c = ctx.client.call("GET", container_path(*id));
  if (!c.has_value()) return fail(ctx, c.error());
  ctx.out << (ctx.json ? json::to_string(*c) + "\n" : pretty_json(*c));
  return 0;
}

int cmd_logs(Context& ctx, const Args& args) {
  auto opts = parse_logs(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  std::ostream& to = opts->stderr_stream ? ctx.err : ctx.out;
  Status st = copy_logs(ctx.client,
                        logs_target(opts->id, opts->stderr_stream ? "stderr" : "stdout",
                                    opts->follow, opts->tail),
                        to);
  if (!st.has_value()) return fail(ctx, st.error());
  return 0;
}

int cmd_kill(Context& ctx, const Args& args) {
  auto opts = parse_kill(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  auto c = ctx.client.call("POST", container_path(opts->id) + "/kill", kill_body(*opts));
  if (!c.has_value()) return fail(ctx, c.error());
  if (ctx.json) ctx.out << json::to_string(*c) << "\n";
  else ctx.out << json::get_string(*c, "id", opts->id) << "\n";
  return 0;
}

int cmd_wait(Context& ctx, const Args& args) {
  auto id = parse_single_id("wait", args);
  if (!id.has_value()) return usage_error(ctx.err, id.error());
  auto rec = ctx.client.call("GET", container_path(*id) + "/wait");
  if (!rec.has_value()) return fail(ctx, rec.error(), kExitBerthError);
  int code = exit_code_of(*rec);
  if (ctx.json) ctx.out << json::to_string(*rec) << "\n";
  else ctx.out << code << "\n";
  return code;
}

// Prints the command's output as it came back and exits with its code (128+signal when
// killed); a timeout or truncated output is said on stderr.
int cmd_exec(Context& ctx, const Args& args) {
  auto opts = parse_exec(args, [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  auto res = ctx.client.call("POST", container_path(opts->id) + "/exec", exec_body(*opts));
  if (!res.has_value()) return fail(ctx, res.error().wrap("exec in " + opts->id), kExitBerthError);
  const auto& doc = *res;
  if (ctx.json) {
    ctx.out << json::to_string(doc) << "\n";
  } else {
    ctx.out << json::get_string(doc, "stdout");
    ctx.err << json::get_string(doc, "stderr");
    for (const char* s : {"stdout", "stderr"})
      if (json::get_bool(doc, (std::string(s) + "_truncated").c_str()))
        ctx.err << "berth: the command's " << s << " was truncated (berthd keeps the first 1 MiB)\n";
  }
  if (json::get_bool(doc, "timed_out")) ctx.err << "berth: the command timed out and was killed\n";
  if (doc.HasMember("exit_code") && doc["exit_code"].IsInt()) return doc["exit_code"].GetInt();
  return 128 + static_cast<int>(json::get_int(doc, "signal", 0));
}

int cmd_rm(Context& ctx, const Args& args) {
  auto opts = parse_rm(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  int rc = 0;
  for (const auto& id : opts->ids) {
    auto r = ctx.client.request("DELETE", container_path(id) + (opts->force ? "?force=1" : ""));
    if (!r.has_value()) return fail(ctx, r.error());
    if (r->status / 100 != 2) {
      rc = fail(ctx, error_from_reply(r->status, r->body).wrap("rm " + id));
      continue;
    }
    ctx.out << id << "\n";
  }
  return rc;
}

int cmd_events(Context& ctx, const Args& args) {
  auto opts = parse_events(args);
  if (!opts.has_value()) return usage_error(ctx.err, opts.error());
  std::string target = "/v1/events";
  if (opts->since) target += "?since=" + std::to_string(*opts->since);
  std::string pending;
  auto r = ctx.client.stream("GET", target, "", [&](std::string_view chunk) {
    pending.append(chunk);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.empty()) continue;
      auto ev = json::parse(line);
      if (ctx.json || !ev.has_value()) ctx.out << line << "\n";
      else ctx.out << format_event(*ev) << "\n";
    }
    ctx.out.flush();
    return ctx.out.good();
  });
  if (!r.has_value()) return fail(ctx, r.error());
  return 0;
}

int cmd_info(Context& ctx, const Args& args) {
  if (auto st = parse_no_args("info", args); !st.has_value()) return usage_error(ctx.err, st.error());
  auto info = ctx.client.call("GET", "/v1/info");
  if (!info.has_value()) return fail(ctx, info.error());
  ctx.out << (ctx.json ? json::to_string(*info) + "\n" : format_info(*info));
  return 0;
}

// berth stats [--no-stream] [--interval SECONDS]: a live table of running tasks' usage next to
// their limits, redrawn each interval; --no-stream prints one table (two samples a second
// apart, for CPU%); --json prints GET /v1/stats once.
int cmd_stats(Context& ctx, const Args& args) {
  bool stream = true;
  double interval = 2.0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--no-stream") {
      stream = false;
    } else if (args[i] == "--interval" && i + 1 < args.size()) {
      char* end = nullptr;
      interval = std::strtod(args[++i].c_str(), &end);
      if (*end != '\0' || interval < 0.1)
        return usage_error(ctx.err, make_error(Code::kInvalidArgument, "stats: --interval wants seconds >= 0.1"));
    } else {
      return usage_error(ctx.err, make_error(Code::kInvalidArgument, "stats: unknown argument '" + args[i] +
                                                                         "' (usage: berth stats [--no-stream] [--interval S])"));
    }
  }
  auto first = ctx.client.call("GET", "/v1/stats");
  if (!first.has_value()) return fail(ctx, first.error());
  if (ctx.json) {
    ctx.out << json::to_string(*first) << "\n";
    return 0;
  }
  auto prev = cpu_usage_by_id(*first);
  double wait_s = stream ? interval : 1.0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(wait_s * 1000)));
    auto next = ctx.client.call("GET", "/v1/stats");
    if (!next.has_value()) return fail(ctx, next.error());
    if (stream) ctx.out << "\033[H\033[2J";
    ctx.out << format_stats(*next, prev, wait_s);
    ctx.out.flush();
    if (!stream || !ctx.out.good()) return 0;
    prev = cpu_usage_by_id(*next);
  }
}

}  // namespace

int run_cli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err, Terminal terminal) {
  auto g = parse_global(argv);
  if (!g.has_value()) {
    err << "berth: " << g.error().message << "\n" << usage();
    return kExitUsage;
  }
  if (g->help) {
    out << usage();
    return 0;
  }
  if (g->version) {
    out << "berth 0.1.0\n";
    return 0;
  }
  Context ctx{Client(g->socket.empty() ? default_socket_path() : g->socket), g->json, terminal, out, err};
  const std::string& cmd = g->command;
  int rc;
  if (cmd == "run") rc = cmd_run(ctx, g->args);
  else if (cmd == "ps") rc = cmd_ps(ctx, g->args);
  else if (cmd == "inspect") rc = cmd_inspect(ctx, g->args);
  else if (cmd == "endpoints") rc = cmd_endpoints(ctx, g->args);
  else if (cmd == "logs") rc = cmd_logs(ctx, g->args);
  else if (cmd == "kill") rc = cmd_kill(ctx, g->args);
  else if (cmd == "wait") rc = cmd_wait(ctx, g->args);
  else if (cmd == "rm") rc = cmd_rm(ctx, g->args);
  else if (cmd == "exec") rc = cmd_exec(ctx, g->args);
  else if (cmd == "events") rc = cmd_events(ctx, g->args);
  else if (cmd == "info") rc = cmd_info(ctx, g->args);
  else if (cmd == "stats") rc = cmd_stats(ctx, g->args);
  else if (cmd == "pull") rc = cmd_pull(ctx, g->args);
  else if (cmd == "images") rc = cmd_images(ctx, g->args);
  else if (cmd == "rmi") rc = cmd_rmi(ctx, g->args);
  else if (cmd == "prune") rc = cmd_prune(ctx, g->args);
  else if (cmd == "load") rc = cmd_load(ctx, g->args);
  else {
    err << "berth: unknown command '" << cmd << "' (see 'berth --help')\n";
    return kExitUsage;
  }
  out.flush();
  err.flush();
  return rc;
}

}  // namespace berth::cli
