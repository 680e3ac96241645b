// test_bench_writers.cpp — fastconv-bench's --json and --csv outputs parse (a small strict JSON
// parser and an RFC 4180 CSV reader here) and carry every column for every row, including rows
// that were skipped or mismatched and texts with quotes, commas and line breaks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "writers.hpp"

namespace fastconv_bench {
namespace {

// ---- a minimal strict JSON parser: a list of flat objects of scalars -----------------------
struct JsonScalar {
  enum class Kind { string, number, boolean, null } kind = Kind::null;
  std::string text;
  double number = 0.0;
};
using JsonObject = std::map<std::string, JsonScalar>;

class JsonReader {
 public:
  explicit JsonReader(std::string text) : text_(std::move(text)) {}

  std::vector<JsonObject> list_of_objects() {
    std::vector<JsonObject> objects;
    expect('[');
    if (!peek_is(']')) {
      do objects.push_back(object());
      while (accept(','));
    }
    expect(']');
    skip_space();
    if (position_ != text_.size()) throw std::runtime_error("trailing text");
    return objects;
  }

 private:
  JsonObject object() {
    JsonObject object;
    expect('{');
    if (!peek_is('}')) {
      do {
        const std::string key = string();
        expect(':');
        if (!object.emplace(key, scalar()).second) throw std::runtime_error("duplicate " + key);
      } while (accept(','));
    }
    expect('}');
    return object;
  }

  JsonScalar scalar() {
    skip_space();
    JsonScalar value;
    if (peek_is('"')) {
      value.kind = JsonScalar::Kind::string;
      value.text = string();
    } else if (literal("null")) {
      value.kind = JsonScalar::Kind::null;
    } else if (literal("true")) {
      value.kind = JsonScalar::Kind::boolean;
      value.text = "true";
    } else if (literal("false")) {
      value.kind = JsonScalar::Kind::boolean;
      value.text = "false";
    } else {
      const std::size_t start = position_;
      while (position_ < text_.size() && (std::isdigit(text_[position_]) ||
                                          std::string_view("+-.eE").find(text_[position_]) !=
                                              std::string_view::npos)) {
        ++position_;
      }
      if (start == position_) throw std::runtime_error("bad value at " + std::to_string(start));
      value.kind = JsonScalar::Kind::number;
      std::size_t used = 0;
      value.number = std::stod(text_.substr(start, position_ - start), &used);
      if (used != position_ - start) throw std::runtime_error("bad number");
    }
    return value;
  }

  std::string string() {
    expect('"');
    std::string value;
    while (position_ < text_.size() && text_[position_] != '"') {
      char c = text_[position_++];
      if (static_cast<unsigned char>(c) < 0x20) throw std::runtime_error("raw control character");
      if (c == '\\') {
        const char escaped = text_.at(position_++);
        if (escaped == 'n') c = '\n';
        else if (escaped == 't') c = '\t';
        else if (escaped == 'u') {
          c = char(std::stoi(text_.substr(position_, 4), nullptr, 16));
          position_ += 4;
        } else if (escaped == '"' || escaped == '\\' || escaped == '/') c = escaped;
        else throw std::runtime_error("bad escape");
      }
      value += c;
    }
    expect('"');
    return value;
  }

  void skip_space() {
    while (position_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[position_]))) {
      ++position_;
    }
  }
  bool peek_is(char c) {
    skip_space();
    return position_ < text_.size() && text_[position_] == c;
  }
  bool accept(char c) {
    if (!peek_is(c)) return false;
    ++position_;
    return true;
  }
  void expect(char c) {
    if (!accept(c)) throw std::runtime_error(std::string("expected ") + c + " at " +
                                             std::to_string(position_));
  }
  bool literal(std::string_view word) {
    if (text_.compare(position_, word.size(), word) != 0) return false;
    position_ += word.size();
    return true;
  }

  std::string text_;
  std::size_t position_ = 0;
};

// ---- RFC 4180 CSV ----------------------------------------------------------------------------
std::vector<std::vector<std::string>> read_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  bool field_started = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n') {
      rows.back().push_back(field);
      field.clear();
      field_started = false;
      rows.emplace_back();
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) throw std::runtime_error("unterminated quoted field");
  if (rows.back().empty() && field.empty()) rows.pop_back();
  return rows;
}

// ---- the rows written -------------------------------------------------------------------------
std::vector<BenchResult> sample_rows() {
  BenchResult measured;
  measured.layer = "res2_3x3";
  measured.problem = "mb1ic64ih56oc64oh56kh3ph1";
  measured.library = "fastconv";
  measured.engine = "auto";
  measured.engine_label = "auto(im2col)";
  measured.threads = 1;
  measured.gflop = 0.231;
  measured.timing = {.median_ms = 2.5, .min_ms = 2.25, .max_ms = 3.0, .runs = 7, .samples_ms = {}};
  measured.outcome = Outcome::measured;
  measured.workspace_bytes = 1 << 20;
  measured.tensor_bytes = 1'753'088;
  measured.memory = {.peak_bytes = 200 << 20, .increase_bytes = 1 << 20, .exact = true};
  measured.roofline = {.percent_of_peak = 66.5, .percent_of_round_peak = 70.0, .memory_bound = false};
  measured.ratios = {{"torch", 1.5}, {"onednn", std::nan("")}};
  measured.direction = "bwd_d";
  measured.profile.present = true;
  measured.profile.wall_ms = 2.5;
  measured.profile.ms[int(fastconv::profile::Phase::microkernel)] = 2.0;
  measured.profile.ms[kProfileRows - 1] = 0.5;  // threading overhead

  BenchResult mismatch = measured;
  mismatch.library = mismatch.engine = mismatch.engine_label = "torch";
  mismatch.outcome = Outcome::mismatch;
  mismatch.timing = {};
  mismatch.ratios.clear();
  mismatch.profile = {};  // peers are not profiled
  mismatch.max_abs_error = 0.5;
  mismatch.message = "mismatch: \"quoted\", with a comma,\nand a line break\t\x01";

  BenchResult skipped = measured;
  skipped.engine = skipped.engine_label = "depthwise";
  skipped.outcome = Outcome::skipped;
  skipped.timing = {};
  skipped.message = "skipped: depthwise declines";

  BenchResult op = measured;  // a custom inner operation (--op add_max --pad-value -inf)
  op.op = "add_max";
  op.pad_value = -std::numeric_limits<double>::infinity();
  op.gflop = 0.5;
  op.gpairs = 0.25;
  op.timing = {.median_ms = 10.0, .min_ms = 9.0, .max_ms = 11.0, .runs = 5, .samples_ms = {}};
  return {measured, mismatch, skipped, op};
}

const std::vector<std::string> kPeers = {"torch", "onednn"};

MachineFigures sample_machine() {
  MachineFigures machine;
  machine.isa = "avx512";
  machine.peak_gflops_per_core = machine.peak_gflops = 139.0;
  machine.bandwidth_gbs = 9.5;
  return machine;
}

std::vector<std::string> column_names() {
  std::vector<std::string> names;
  for (const Column& column : result_columns(BenchResult{}, kPeers, sample_machine())) {
    names.push_back(column.name);
  }
  return names;
}

TEST(BenchWriters, ColumnsIncludeEverythingIssue5Asks) {
  const std::vector<std::string> names = column_names();
  for (const char* wanted :
       {"layer", "problem", "library", "engine", "threads", "outcome", "gflop", "ms_median",
        "ms_min", "ms_max", "gflops", "percent_of_peak", "percent_of_round_peak", "speedup_over_1_thread",
        "percent_of_bandwidth_roofline",
        "vs_torch", "vs_onednn", "workspace_bytes", "tensor_bytes", "peak_rss_bytes",
        "peak_rss_increase_bytes", "machine_peak_gflops", "machine_bandwidth_gbs", "direction",
        "input_size", "profile_wall_ms", "profile_packing_ms", "profile_transforms_ms",
        "profile_microkernel_ms", "profile_epilogue_ms", "profile_other_ms",
        "profile_threading_overhead_ms", "op", "pad_value", "gpairs", "gpairs_per_s",
        "output_alloc"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), wanted), names.end()) << wanted;
  }
}

TEST(BenchWriters, JsonParsesWithEveryColumn) {
  std::ostringstream out;
  write_json(out, sample_rows(), kPeers, sample_machine());
  std::vector<JsonObject> objects;
  ASSERT_NO_THROW(objects = JsonReader(out.str()).list_of_objects()) << out.str();
  ASSERT_EQ(objects.size(), 4u);
  const std::vector<std::string> names = column_names();
  for (const JsonObject& object : objects) {
    EXPECT_EQ(object.size(), names.size());
    for (const std::string& name : names) EXPECT_EQ(object.count(name), 1u) << name;
  }
  EXPECT_EQ(objects[0].at("engine_label").text, "auto(im2col)");
  EXPECT_DOUBLE_EQ(objects[0].at("ms_median").number, 2.5);
  EXPECT_DOUBLE_EQ(objects[0].at("vs_torch").number, 1.5);
  EXPECT_EQ(objects[0].at("vs_onednn").kind, JsonScalar::Kind::null);
  EXPECT_DOUBLE_EQ(objects[0].at("workspace_bytes").number, double(1 << 20));
  EXPECT_EQ(objects[1].at("outcome").text, "mismatch");
  EXPECT_EQ(objects[1].at("message").text, sample_rows()[1].message);
  EXPECT_EQ(objects[1].at("ms_median").kind, JsonScalar::Kind::null);
  EXPECT_EQ(objects[2].at("outcome").text, "skipped");
  EXPECT_EQ(objects[0].at("direction").text, "bwd_d");
  EXPECT_DOUBLE_EQ(objects[0].at("profile_microkernel_ms").number, 2.0);
  EXPECT_DOUBLE_EQ(objects[0].at("profile_threading_overhead_ms").number, 0.5);
  EXPECT_DOUBLE_EQ(objects[0].at("profile_packing_ms").number, 0.0);
  EXPECT_EQ(objects[1].at("profile_microkernel_ms").kind, JsonScalar::Kind::null);  // not profiled
  // The inner operation and its pair-operations: gpairs / median seconds, null when not measured.
  EXPECT_EQ(objects[0].at("op").text, "mul_sum");  // a BenchResult's default
  EXPECT_EQ(objects[0].at("pad_value").text, "0");
  EXPECT_EQ(objects[3].at("op").text, "add_max");
  EXPECT_EQ(objects[3].at("pad_value").text, "-inf");  // a string: JSON has no infinities
  EXPECT_DOUBLE_EQ(objects[3].at("gpairs").number, 0.25);
  EXPECT_DOUBLE_EQ(objects[3].at("gpairs_per_s").number, 25.0);  // 0.25 G / 10 ms
  EXPECT_DOUBLE_EQ(objects[3].at("gflops").number, 50.0);
  EXPECT_EQ(objects[1].at("gpairs_per_s").kind, JsonScalar::Kind::null);
  EXPECT_EQ(objects[2].at("gpairs_per_s").kind, JsonScalar::Kind::null);
}

TEST(BenchWriters, CsvParsesWithEveryColumn) {
  std::ostringstream out;
  write_csv(out, sample_rows(), kPeers, sample_machine());
  std::vector<std::vector<std::string>> rows;
  ASSERT_NO_THROW(rows = read_csv(out.str())) << out.str();
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0], column_names());
  for (const std::vector<std::string>& row : rows) EXPECT_EQ(row.size(), rows[0].size());
  auto field = [&](std::size_t row, const std::string& name) {
    const auto column = std::find(rows[0].begin(), rows[0].end(), name) - rows[0].begin();
    return rows[row].at(std::size_t(column));
  };
  EXPECT_EQ(field(1, "ms_median"), "2.5");
  EXPECT_EQ(field(1, "vs_torch"), "1.5");
  EXPECT_EQ(field(1, "vs_onednn"), "");
  EXPECT_EQ(field(2, "outcome"), "mismatch");
  EXPECT_EQ(field(2, "message"), sample_rows()[1].message);
  EXPECT_EQ(field(2, "ms_median"), "");
  EXPECT_EQ(field(3, "outcome"), "skipped");
  EXPECT_EQ(field(4, "op"), "add_max");
  EXPECT_EQ(field(4, "pad_value"), "-inf");
  EXPECT_EQ(field(4, "gpairs_per_s"), "25");
  EXPECT_EQ(field(3, "gpairs_per_s"), "");
}

}  // namespace
}  // namespace fastconv_bench
