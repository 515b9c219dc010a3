#include "cgroups/pressure.hpp"

#include <charconv>
#include <string>

#include "cgroups/file_format.hpp"

namespace berth::cgroups::pressure {
namespace {

Result<double> parse_double(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return make_error(Code::kInternal, "not a number: '" + std::string(s) + "'");
  return v;
}

// "avg10=0.00 avg60=0.00 avg300=0.00 total=0"
Result<Line> parse_line(std::string_view fields) {
  Line line;
  bool seen[4] = {};
  while (!fields.empty()) {
    size_t sp = fields.find(' ');
    std::string_view field = fields.substr(0, sp);
    fields = sp == std::string_view::npos ? std::string_view() : fields.substr(sp + 1);
    if (field.empty()) continue;
    size_t eq = field.find('=');
    if (eq == std::string_view::npos)
      return make_error(Code::kInternal, "malformed field '" + std::string(field) + "'");
    std::string_view key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key == "avg10") {
      BERTH_TRY(line.avg10, parse_double(value));
      seen[0] = true;
    } else if (key == "avg60") {
      BERTH_TRY(line.avg60, parse_double(value));
      seen[1] = true;
    } else if (key == "avg300") {
      BERTH_TRY(line.avg300, parse_double(value));
      seen[2] = true;
    } else if (key == "total") {
      BERTH_TRY(line.total_usec, parse_u64(value));
      seen[3] = true;
    }  // unknown keys: a newer kernel's addition, not an error
  }
  if (!(seen[0] && seen[1] && seen[2] && seen[3]))
    return make_error(Code::kInternal, "pressure line lacks avg10, avg60, avg300 or total");
  return line;
}

}  // namespace

const char* file_name(Resource r) {
  switch (r) {
    case Resource::kCpu: return "cpu.pressure";
    case Resource::kMemory: return "memory.pressure";
    case Resource::kIo: return "io.pressure";
  }
  return "cpu.pressure";
}

Result<Pressure> parse(std::string_view text) {
  Pressure p;
  bool have_some = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view row = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (row.empty()) continue;
    size_t sp = row.find(' ');
    std::string_view kind = row.substr(0, sp);
    std::string_view rest = sp == std::string_view::npos ? std::string_view() : row.substr(sp + 1);
    if (kind == "some") {
      BERTH_TRY_CTX(p.some, parse_line(rest), "'some'");
      have_some = true;
    } else if (kind == "full") {
      BERTH_TRY_CTX(Line full, parse_line(rest), "'full'");
      p.full = full;
    } else {
      return make_error(Code::kInternal, "unknown pressure line '" + std::string(row) + "'");
    }
  }
  if (!have_some) return make_error(Code::kInternal, "no 'some' line in pressure file");
  return p;
}

Result<Pressure> read(const Cgroup& cg, Resource r) {
  BERTH_TRY(std::string text, cg.read(file_name(r)));
  return with_context(parse(text), cg.path() + "/" + file_name(r));
}

}  // namespace berth::cgroups::pressure
