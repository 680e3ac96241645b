// plot.cpp — finding plot.py, checking python3 + matplotlib, writing the JSON and running it.
#include "plot.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <system_error>

#include "writers.hpp"

extern char** environ;

namespace fastconv_bench {
namespace {

namespace fs = std::filesystem;

fs::path find_plot_script() {
  std::error_code error;
  const fs::path executable = fs::read_symlink("/proc/self/exe", error);
  std::vector<fs::path> candidates;
  if (!error) {
    candidates.push_back(executable.parent_path() / "plot.py");
    candidates.push_back(executable.parent_path().parent_path() / "share" / "fastconv" / "plot.py");
  }
  for (const fs::path& candidate : candidates) {
    if (fs::is_regular_file(candidate, error)) return candidate;
  }
  std::string searched;
  for (const fs::path& candidate : candidates) searched += " " + candidate.string();
  throw std::runtime_error("--plot: plot.py not found (looked for" + searched + ")");
}

}  // namespace

int run_program(const std::string& program, const std::vector<std::string>& arguments) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  pid_t child = 0;
  if (posix_spawn(&child, program.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(child, &status, 0) != child) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Plotter::Plotter(fs::path directory) : directory_(std::move(directory)) {
  script_ = find_plot_script();
  if (access(kPlotPython, X_OK) != 0) {
    throw std::runtime_error(std::string("--plot needs ") + kPlotPython +
                             " (Debian: apt-get install python3 python3-matplotlib)");
  }
  if (run_program(kPlotPython, {script_.string(), "--check"}) != 0) {
    throw std::runtime_error(std::string("--plot needs matplotlib for ") + kPlotPython +
                             " (Debian: apt-get install python3-matplotlib)");
  }
  std::error_code error;
  fs::create_directories(directory_, error);
  if (error || !fs::is_directory(directory_)) {
    throw std::runtime_error("--plot: cannot create directory '" + directory_.string() + "'" +
                             (error ? ": " + error.message() : ""));
  }
}

std::vector<std::string> Plotter::plot(std::span<const BenchResult> results,
                                       std::span<const std::string> peer_names,
                                       const MachineFigures& machine, const PlotInfo& info) const {
  const fs::path json = directory_ / "results.json";
  {
    std::ofstream file(json);
    write_json(file, results, peer_names, machine);
    if (!file) throw std::runtime_error("--plot: cannot write '" + json.string() + "'");
  }
  std::vector<std::string> arguments = {script_.string(), "--input", json.string(),
                                        "--output", directory_.string(),
                                        "--threads", std::to_string(info.threads)};
  if (info.sweep) arguments.push_back("--sweep");
  const int status = run_program(kPlotPython, arguments);
  if (status != 0) {
    throw std::runtime_error("--plot: " + script_.string() + " failed (exit status " +
                             std::to_string(status) + ")");
  }
  std::vector<std::string> charts = {(directory_ / "speedup.png").string()};
  if (info.sweep) {
    charts.push_back((directory_ / "runtime_vs_size.png").string());
    charts.push_back((directory_ / "memory_vs_size.png").string());
  }
  return charts;
}

}  // namespace fastconv_bench
