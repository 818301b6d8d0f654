// PNG plots of a run, drawn by gnuplot as a child process.
//
// The problem. A table of medians hides the shape that matters — how each
// variant scales with threads, and how far writer latency's tail moves
// while scans run — and a plotting library would be one more dependency to
// build against. gnuplot is one package (gnuplot-nox), run as a program.
//
// The mechanism. The run's medians (and min-max spread) are written as data
// files under DIR/plot-data/ and a script DIR/plots.gp that draws:
//   throughput-<workload>.png  median throughput vs threads, a line per
//                              variant, bars for the min-max over repeats
//                              (seed, A, B, A-zipf, C, C-noscan: those run);
//   c-writer-latency.png       workload C's writer p50/p99/p99.9 while the
//                              scanner runs, a panel per writer count;
//   seed-lookup-latency.png    the seed scenario's lookup p50/p99/p99.9.
// The script picks the pngcairo terminal when gnuplot has it, else png.
// `gnuplot DIR/plots.gp` is then spawned (found on PATH). Without gnuplot the
// data and script stay for later and the run goes on: not an error.
#pragma once

#include <string>
#include <vector>

#include "results.hpp"

namespace snapcache::compare {

struct plot_outcome {
  bool drawn = false;               // gnuplot ran and succeeded
  std::vector<std::string> files;   // PNGs the script draws
  std::string message;              // why nothing was drawn, if so
};

plot_outcome draw_plots(const std::string& out_dir, const compare_results& results);

}  // namespace snapcache::compare
