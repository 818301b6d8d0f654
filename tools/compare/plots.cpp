#include "plots.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "harness/text.hpp"

extern char** environ;

namespace snapcache::compare {

using bench::format;
namespace {

namespace fs = std::filesystem;

// A gnuplot single-quoted string ('' escapes a quote).
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string file_name_of(const std::string& workload) {
  std::string out;
  for (char c : workload) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Each variant keeps one colour in every plot: a fixed palette for the
// variants the harness knows, a hash of the name for any other.
std::string colour_of(const std::string& variant) {
  static const std::pair<const char*, const char*> known[] = {
      {"query_cache", "#1f77b4"},        {"snapcache", "#1f77b4"},          {"locked_query_cache", "#d62728"},
      {"locked_mutex", "#d62728"},       {"locked_shared", "#ff7f0e"},      {"libcuckoo", "#2ca02c"},
      {"parlayhash", "#9467bd"},         {"tbb_chm", "#8c564b"},            {"libcds_michael_hp", "#e377c2"},
      {"libcds_feldman_hp", "#7f7f7f"},  {"xenium_hm", "#bcbd22"},
  };
  for (const auto& [name, colour] : known) {
    if (variant == name) return colour;
  }
  static const char* const spare[] = {"#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94"};
  std::size_t h = 0;
  for (char c : variant) h = h * 31 + static_cast<unsigned char>(c);
  return spare[h % std::size(spare)];
}

// One line per variant: threads, median, min, max.
struct series {
  std::string variant;
  std::vector<std::array<double, 4>> points;
};

// Per thread count, one row per variant: p50, p99, p99.9 (ns).
struct latency_panel {
  unsigned threads = 0;
  std::vector<std::pair<std::string, std::array<double, 3>>> rows;
};

class script_builder {
 public:
  script_builder(fs::path out_dir, const std::vector<unsigned>& threads)
      : dir_(std::move(out_dir)), data_(dir_ / "plot-data"), threads_(threads) {
    fs::create_directories(data_);
    gp_ << "# Written by snapcache-compare; run: gnuplot " << (dir_ / "plots.gp").string() << "\n";
  }

  // unit: what the series' values count, e.g. "Mops/s".
  void throughput(const std::string& workload, const std::string& title, const std::string& xlabel,
                  const std::string& unit, const std::vector<series>& lines) {
    if (lines.empty()) return;
    const std::string name = "throughput-" + file_name_of(workload);
    const fs::path data = data_ / (name + ".dat");
    std::ofstream f(data);
    for (const series& s : lines) {
      f << "# " << s.variant << "\n# threads median min max (" << unit << ")\n";
      for (const auto& p : s.points) f << p[0] << ' ' << p[1] << ' ' << p[2] << ' ' << p[3] << '\n';
      f << "\n\n";
    }
    const fs::path png = dir_ / (name + ".png");
    gp_ << "\nreset\n" << terminal(900) << "set output " << quoted(png.string()) << "\n"
        << "set title " << quoted(title) << "\n"
        << "set xlabel " << quoted(xlabel) << "\nset ylabel " << quoted(unit + " (median; bars: min-max over repeats)")
        << "\n"
        << "set key outside right\nset grid\nset yrange [0:*]\n"  // the key beside the plot: it covers no line
        << format("set xrange [%g:%g]\n", threads_.front() - 0.5, threads_.back() + 0.5) << "set xtics (";
    for (std::size_t i = 0; i < threads_.size(); ++i) gp_ << (i ? ", " : "") << threads_[i];
    gp_ << ")\nplot ";
    for (std::size_t i = 0; i < lines.size(); ++i) {
      gp_ << (i ? ", \\\n     " : "") << (i ? "''" : quoted(data.string())) << " index " << i
          << " using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb " << quoted(colour_of(lines[i].variant))
          << " title " << quoted(lines[i].variant);
    }
    gp_ << "\n";
    files_.push_back(png.string());
  }

  // one/many: the panel's unit, as in "1 thread" and "2 threads".
  void latency(const std::string& name, const std::string& title, const std::string& one, const std::string& many,
               const std::vector<latency_panel>& panels) {
    std::vector<const latency_panel*> drawn;
    for (const latency_panel& p : panels) {
      if (!p.rows.empty()) drawn.push_back(&p);
    }
    if (drawn.empty()) return;
    const fs::path png = dir_ / (name + ".png");
    gp_ << "\nreset\n" << terminal(120 + 480 * drawn.size()) << "set output " << quoted(png.string()) << "\n"
        << format("set multiplot layout 1,%zu title %s\n", drawn.size(), quoted(title).c_str())
        << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
        << "set logscale y\nset ylabel 'ns (median over repeats)'\nset grid ytics\n"
        // Above the panel, never over a bar.
        << "set key above horizontal\n";
    static const char* const quantiles[] = {"p50", "p99", "p99.9"};
    for (const latency_panel* p : drawn) {
      // A cluster per quantile, a bar per variant in the variant's colour.
      const fs::path data = data_ / format("%s-t%u.dat", name.c_str(), p->threads);
      std::ofstream f(data);
      f << "# quantile, then ns per variant:";
      for (const auto& row : p->rows) f << ' ' << row.first;
      f << '\n';
      for (std::size_t q = 0; q < 3; ++q) {
        f << '"' << quantiles[q] << '"';
        for (const auto& row : p->rows) f << ' ' << row.second[q];
        f << '\n';
      }
      gp_ << "set title " << quoted(format("%u %s", p->threads, (p->threads == 1 ? one : many).c_str())) << "\n"
          << "plot ";
      for (std::size_t i = 0; i < p->rows.size(); ++i) {
        gp_ << (i ? ", " : "") << (i ? "''" : quoted(data.string())) << format(" using %zu", i + 2)
            << (i ? "" : ":xtic(1)") << " lc rgb " << quoted(colour_of(p->rows[i].first)) << " title "
            << quoted(p->rows[i].first);
      }
      gp_ << "\n";
    }
    gp_ << "unset multiplot\n";
    files_.push_back(png.string());
  }

  const std::vector<std::string>& files() const noexcept { return files_; }

  bool write(std::string* error) const {
    const fs::path path = dir_ / "plots.gp";
    std::ofstream f(path);
    f << gp_.str();
    f.flush();
    if (!f) *error = "cannot write " + path.string();
    return static_cast<bool>(f);
  }

  fs::path script() const { return dir_ / "plots.gp"; }

 private:
  // pngcairo draws smoother text and lines; gnuplot-nox has it, a minimal
  // gnuplot may have only the libgd png terminal.
  static std::string terminal(std::size_t width) {
    return format("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                  "  set terminal pngcairo noenhanced size %zu,560\n"
                  "} else {\n"
                  "  set terminal png noenhanced size %zu,560\n"
                  "}\n",
                  width, width);
  }

  fs::path dir_, data_;
  std::vector<unsigned> threads_;
  std::ostringstream gp_;
  std::vector<std::string> files_;
};

void add_seed(script_builder& b, const bench::seed_result& r) {
  std::vector<series> lines;
  std::vector<latency_panel> panels;
  for (unsigned t : r.config.threads) panels.push_back({t, {}});
  for (const std::string& v : bench::cache_variant_names()) {
    series s{v, {}};
    for (const bench::seed_cell& c : r.cells) {
      if (c.variant != v || c.status != bench::cell_status::ok) continue;
      s.points.push_back({double(c.threads), c.ops_per_s.median / 1e3, c.ops_per_s.min / 1e3, c.ops_per_s.max / 1e3});
      for (latency_panel& p : panels) {
        if (p.threads == c.threads && c.p50_ns.median > 0) {
          p.rows.push_back({v, {c.p50_ns.median, c.p99_ns.median, c.p999_ns.median}});
        }
      }
    }
    if (!s.points.empty()) lines.push_back(std::move(s));
  }
  b.throughput("seed", "Query cache seed scenario: throughput vs threads", "threads",
               "thousand iterations/s", lines);
  b.latency("seed-lookup-latency", "Seed scenario: lookup latency while others insert and scan", "thread", "threads",
            panels);
}

void add_grid(script_builder& b, const bench::grid_result& g) {
  std::vector<bench::workload_kind> workloads;
  for (const bench::cell_result& c : g.cells) {
    bool seen = false;
    for (bench::workload_kind w : workloads) seen = seen || w == c.workload;
    if (!seen) workloads.push_back(c.workload);
  }
  std::vector<std::string> variants;
  for (const bench::cell_result& c : g.cells) {
    bool seen = false;
    for (const std::string& v : variants) seen = seen || v == c.variant;
    if (!seen) variants.push_back(c.variant);
  }
  for (bench::workload_kind w : workloads) {
    std::vector<series> lines;
    std::vector<latency_panel> panels;
    for (unsigned t : g.config.threads) panels.push_back({t, {}});
    for (const std::string& v : variants) {
      series s{v, {}};
      for (const bench::cell_result& c : g.cells) {
        if (c.workload != w || c.variant != v || c.status != bench::cell_status::ok) continue;
        s.points.push_back({double(c.threads), c.mops.median, c.mops.min, c.mops.max});
        for (latency_panel& p : panels) {
          if (p.threads == c.threads && c.p50_ns.median > 0) {
            p.rows.push_back({v, {c.p50_ns.median, c.p99_ns.median, c.p999_ns.median}});
          }
        }
      }
      if (!s.points.empty()) lines.push_back(std::move(s));
    }
    const std::string name(bench::workload_name(w));
    const bool scan = bench::is_scan_workload(w);
    std::string xlabel = scan ? "writers" : "threads";
    if (w == bench::workload_kind::c) xlabel += " (+1 scanner)";
    b.throughput(name, "Workload " + name + ": throughput vs threads" + (scan ? " (writers' operations)" : ""), xlabel,
                 "Mops/s", lines);
    if (w == bench::workload_kind::c) {
      b.latency("c-writer-latency", "Workload C: writer latency while a scanner runs", "writer + 1 scanner",
                "writers + 1 scanner", panels);
    }
  }
}

}  // namespace

plot_outcome draw_plots(const std::string& out_dir, const compare_results& r) {
  plot_outcome out;
  std::error_code ec;
  const fs::path dir = fs::absolute(out_dir, ec);
  if (ec) {
    out.message = "cannot resolve " + out_dir + ": " + ec.message();
    return out;
  }
  script_builder b(dir, r.opt.threads);
  if (r.seed) add_seed(b, *r.seed);
  if (r.grid) add_grid(b, *r.grid);
  if (b.files().empty()) {
    out.message = "nothing to plot";
    return out;
  }
  if (!b.write(&out.message)) return out;

  const std::string script = b.script().string();
  char arg0[] = "gnuplot";
  std::vector<char> arg1(script.begin(), script.end());
  arg1.push_back('\0');
  char* argv[] = {arg0, arg1.data(), nullptr};
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv, environ);
  if (err == ENOENT) {
    out.message = "gnuplot not found (Debian: gnuplot-nox): plots skipped; data and script are in " + dir.string();
    return out;
  }
  if (err != 0) {
    out.message = std::string("cannot start gnuplot: ") + std::strerror(err);
    return out;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    out.message = "gnuplot failed on " + script;
    return out;
  }
  out.drawn = true;
  out.files = b.files();
  return out;
}

}  // namespace snapcache::compare
