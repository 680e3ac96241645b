// suites.hpp — the embedded benchmark suites.
//
// Every layer of every suite is one row of ONE table in suites.cpp; a suite is the set of rows
// carrying its name, in table order. The pseudo-suite "all" is the whole table.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "layer.hpp"

namespace fastconv_bench {

struct SuiteLayer {
  std::string_view suite;
  Layer layer;
};

inline constexpr std::string_view kAllSuitesName = "all";

std::span<const SuiteLayer> suite_table();
std::vector<std::string_view> suite_names();             // table order, without "all"
bool is_suite_name(std::string_view name);               // a suite of the table, or "all"
std::vector<Layer> suite_layers(std::string_view name);  // empty for an unknown name

}  // namespace fastconv_bench
