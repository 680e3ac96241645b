// fastconv-bench's problem parser: round trips with problem_string() over every suite layer,
// hand-written problems (1-D, 3-D, non-square, stride, dilation, groups, names, benchdnn's
// defaults and deduced padding), one error case per rule, problem files and size sweeps.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "layer.hpp"
#include "problem_parser.hpp"
#include "suites.hpp"

namespace {

namespace fb = fastconv_bench;
using Sizes = std::vector<std::int64_t>;

Sizes used(const fb::Layer& layer, const fastconv::SpatialArray& values) {
  return Sizes(values.begin(), values.begin() + layer.spatial_dims);
}

// Every field but the name.
void expect_same_shape(const fb::Layer& actual, const fb::Layer& expected) {
  ASSERT_EQ(actual.spatial_dims, expected.spatial_dims);
  EXPECT_EQ(actual.batch, expected.batch);
  EXPECT_EQ(actual.in_channels, expected.in_channels);
  EXPECT_EQ(actual.out_channels, expected.out_channels);
  EXPECT_EQ(actual.group_count, expected.group_count);
  EXPECT_EQ(used(actual, actual.input), used(expected, expected.input));
  EXPECT_EQ(used(actual, actual.kernel), used(expected, expected.kernel));
  EXPECT_EQ(used(actual, actual.strides), used(expected, expected.strides));
  EXPECT_EQ(used(actual, actual.paddings), used(expected, expected.paddings));
  EXPECT_EQ(used(actual, actual.dilations), used(expected, expected.dilations));
}

// Expects ProblemError whose message quotes `text` and contains every one of `words`.
::testing::AssertionResult rejects(std::string_view text, const std::vector<std::string>& words) {
  try {
    const fb::ParsedProblem problem = fb::parse_problem(text);
    return ::testing::AssertionFailure() << "accepted as " << fb::problem_string(problem.layer);
  } catch (const fb::ProblemError& error) {
    const std::string message = error.what();
    std::vector<std::string> expected = words;
    expected.push_back("\"" + std::string(text) + "\"");
    for (const std::string& word : expected) {
      if (message.find(word) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks '" << word << "': " << message;
    }
    return ::testing::AssertionSuccess();
  }
}

TEST(ProblemParser, RoundTripsEverySuiteLayer) {
  for (const fb::SuiteLayer& row : fb::suite_table()) {
    SCOPED_TRACE(row.layer.name);
    const std::string text = fb::problem_string(row.layer);
    const fb::ParsedProblem parsed = fb::parse_problem(text);
    EXPECT_EQ(fb::problem_string(parsed.layer), text);
    expect_same_shape(parsed.layer, row.layer);
    EXPECT_EQ(parsed.name(), text);  // no name given: the canonical string

    const fb::ParsedProblem named = fb::parse_problem(fb::named_problem_string(row.layer));
    EXPECT_EQ(named.name(), row.layer.name);
    expect_same_shape(named.layer, row.layer);
  }
}

TEST(ProblemParser, SquareTwoDimensional) {
  const fb::ParsedProblem parsed = fb::parse_problem("mb1ic256ih14oc256oh14kh3ph1");
  expect_same_shape(parsed.layer, fb::conv2d("", 1, 256, 256, 14, 3).pad(1));
}

TEST(ProblemParser, Groups) {
  const fb::ParsedProblem parsed = fb::parse_problem("g32mb1ic128ih56oc128oh56kh3ph1");
  expect_same_shape(parsed.layer, fb::conv2d("", 1, 128, 128, 56, 3).pad(1).groups(32));
  const fb::ParsedProblem depthwise = fb::parse_problem("g96mb1ic96ih112oc96oh56kh3sh2ph1");
  expect_same_shape(depthwise.layer,
                    fb::conv2d("", 1, 96, 96, 112, 3).stride(2).pad(1).depthwise());
}

TEST(ProblemParser, OneDimensionalUsesW) {
  const fb::ParsedProblem parsed = fb::parse_problem("mb1ic256iw16000oc256ow16000kw3pw1");
  expect_same_shape(parsed.layer, fb::conv1d("", 1, 256, 256, 16000, 3).pad(1));
}

TEST(ProblemParser, ThreeDimensionalCubicAndNot) {
  const fb::ParsedProblem cubic = fb::parse_problem("mb1ic8id10oc4kd3");
  expect_same_shape(cubic.layer, fb::conv3d("", 1, 8, 4, {10, 10, 10}, 3));
  EXPECT_EQ(fb::problem_string(cubic.layer), "mb1ic8id10oc4od8kd3");

  const fb::ParsedProblem video =
      fb::parse_problem("mb1ic64id8ih56iw56oc64od8oh56ow56kd3kh3kw3pd1ph1pw1");
  expect_same_shape(video.layer, fb::conv3d("", 1, 64, 64, {8, 56, 56}, 3).pad(1));
}

TEST(ProblemParser, NonSquareStrideAndPadding) {
  const fb::ParsedProblem parsed = fb::parse_problem("mb1ic3ih20iw30oc8oh10ow15kh3kw5sh2sw2ph1pw2");
  fb::Layer expected = fb::conv_layer("", 2, 1, 3, 8, {20, 30, 1}, {3, 5, 1}).stride(2);
  expected.paddings = {1, 2, 0};
  expect_same_shape(parsed.layer, expected);
  EXPECT_EQ(fb::problem_string(parsed.layer), "mb1ic3ih20iw30oc8oh10ow15kh3kw5sh2sw2ph1pw2");
}

TEST(ProblemParser, DilationIsThePyTorchValue) {
  const fb::ParsedProblem parsed = fb::parse_problem("mb1ic64ih56oc64oh56kh3ph2dh2");
  expect_same_shape(parsed.layer, fb::conv2d("", 1, 64, 64, 56, 3).pad(2).dilation(2));
}

TEST(ProblemParser, BenchdnnDefaultsSeparatorsAndNames) {
  // oneDNN's own example: no mb (benchdnn's default 2), '_' separators, quoted name.
  const fb::ParsedProblem alexnet =
      fb::parse_problem("ic3ih227iw227_oc96oh55ow55_kh11kw11_sh4sw4ph0pw0_n\"alexnet:conv1\"");
  expect_same_shape(alexnet.layer, fb::conv2d("", 2, 3, 96, 227, 11).stride(4));
  EXPECT_EQ(alexnet.name(), "alexnet:conv1");

  // Any key order; g1 and default stride / dilation given explicitly.
  const fb::ParsedProblem reordered = fb::parse_problem("oc64_kh3_g1_ic64_mb1_ph1_ih56_sh1_dh1");
  expect_same_shape(reordered.layer, fb::conv2d("", 1, 64, 64, 56, 3).pad(1));

  EXPECT_EQ(fb::parse_problem("mb1ic4ih8oc4kh3nres_small").name(), "res_small");
  EXPECT_EQ(fb::parse_problem("mb1ic4ih8oc4kh3_nres_small").name(), "res_small");
  EXPECT_EQ(fb::parse_problem("mb1ic4ih8oc4kh3n\"res:small\"").name(), "res:small");
  const fb::ParsedProblem unnamed = fb::parse_problem("ic4_ih8_oc4_kh3");
  EXPECT_EQ(unnamed.name(), "mb2ic4ih8oc4oh6kh3");
}

TEST(ProblemParser, PaddingDeducedFromTheOutputAsBenchdnn) {
  EXPECT_EQ(fb::parse_problem("mb1ic64ih56oc64oh56kh3").layer.paddings[0], 1);
  EXPECT_EQ(fb::parse_problem("mb1ic64ih56oc64oh56kh5dh2").layer.paddings[0], 4);
  // (27 - 1) * 2 - 56 + 3 = -1: benchdnn pads 0 (and drops the last row, as floor does).
  const fb::ParsedProblem strided = fb::parse_problem("mb1ic1ih56oc1oh27kh3sh2");
  EXPECT_EQ(strided.layer.paddings[0], 0);
  EXPECT_EQ(fb::output_spatial(strided.layer), (Sizes{27, 27}));
}

TEST(ProblemParser, CopiesAndMovesKeepTheName) {
  std::vector<fb::ParsedProblem> problems;
  for (int index = 0; index < 40; ++index) {  // reallocations move the elements
    problems.push_back(fb::parse_problem("mb1ic4ih8oc4kh3nlayer" + std::to_string(index)));
  }
  fb::ParsedProblem copy = problems[7];
  fb::ParsedProblem moved = std::move(problems[8]);
  problems.clear();
  EXPECT_EQ(copy.name(), "layer7");
  EXPECT_EQ(moved.name(), "layer8");
  copy = moved;
  EXPECT_EQ(copy.layer.name, "layer8");
}

TEST(ProblemParserErrors, SyntaxErrorsNameTheToken) {
  EXPECT_TRUE(rejects("", {"empty"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3xyz", {"unknown key 'xyz'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3 ", {"unknown key ' '"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3;", {"unknown key ';'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3.5", {"unknown key '.'"}));
  EXPECT_TRUE(rejects("--dir=FWD_D", {"unknown key '--dir=FWD'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14_14oc3kh3", {"number '14' without a key"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh", {"missing number after 'kh'"}));
  EXPECT_TRUE(rejects("mb1icih14oc3kh3", {"missing number after 'ic'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3ph-1", {"negative value for 'ph'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14ih14oc3kh3", {"duplicate key 'ih'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3n\"name\"x", {"trailing characters 'x'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3n\"name", {"unterminated"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3n", {"empty name"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3nres 4", {"invalid character ' '", "res 4"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3n\"res 4\"", {"invalid character ' '", "res 4"}));
  EXPECT_TRUE(
      rejects("mb1ic3ih99999999999999999999oc3kh3", {"overflow", "ih99999999999999999999"}));
}

TEST(ProblemParserErrors, ZeroSizes) {
  const std::pair<const char*, const char*> cases[] = {
      {"mb0ic3ih14oc3kh3", "'mb0'"},    {"mb1ic0ih14oc3kh3", "'ic0'"},
      {"mb1ic3ih0oc3kh3", "'ih0'"},     {"mb1ic3ih14oc0kh3", "'oc0'"},
      {"mb1ic3ih14oc3kh0", "'kh0'"},    {"mb1ic3ih14oc3kh3sh0", "'sh0'"},
      {"mb1ic3ih14oc3kh3dh0", "'dh0'"}, {"g0mb1ic3ih14oc3kh3", "'g0'"},
      {"mb1ic3ih14oc3oh0kh3", "'oh0'"}};
  for (const auto& [text, token] : cases) {
    EXPECT_TRUE(rejects(text, {token, "at least 1"})) << text;
  }
  // Padding 0 is fine.
  EXPECT_EQ(fb::parse_problem("mb1ic3ih14oc3kh3ph0").layer.paddings[0], 0);
}

TEST(ProblemParserErrors, ShapeErrorsNameTheValues) {
  EXPECT_TRUE(rejects("g3mb1ic4ih14oc6kh3", {"'ic4' is not a multiple of 'g3'"}));
  EXPECT_TRUE(rejects("g2mb1ic4ih14oc3kh3", {"'oc3' is not a multiple of 'g2'"}));
  EXPECT_TRUE(rejects("mb1ic3ih4oc3kh5", {"kh5", "larger than the padded input ih4 + 2*ph0"}));
  EXPECT_TRUE(rejects("mb1ic3ih4oc3kh3dh2", {"kh3", "extent 5", "dh2", "ih4"}));
  EXPECT_TRUE(rejects("mb1ic3iw4oc3kw4ow2pw0", {"'ow2'", "output size 1", "iw4 kw4 sw1 pw0 dw1"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3oh13kh3ph1", {"'oh13'", "output size 14"}));
  EXPECT_TRUE(rejects("mb1ic3ih56oc3oh20kh3", {"'oh20'", "output size 54"}));
  EXPECT_TRUE(rejects("mb1ic3ih56oc3oh28kh3sh2", {"'oh28'", "asymmetric", "0 before, 1 after"}));
  EXPECT_TRUE(rejects("mb1ic3ih56oc3oh55kh3", {"'oh55'", "asymmetric"}));
  EXPECT_TRUE(rejects("mb1ih14oc3kh3", {"missing 'ic'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14kh3", {"missing 'oc'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3", {"missing 'kh'"}));
  EXPECT_TRUE(rejects("mb1ic3oc3kh3", {"missing 'ih'"}));
  EXPECT_TRUE(rejects("mb1ic3ih14oc3kh3kw1", {"missing 'iw'"}));
  EXPECT_TRUE(rejects("mb1ic3oc3", {"no spatial axis"}));
  EXPECT_TRUE(rejects("mb1ic3id4ih4oc3kd1kh1", {"3-D", "only the h axis"}));
  EXPECT_TRUE(rejects("mb4294967296ic4294967296ih1oc1kh1", {"overflow", "src of 4294967296 x"}));
}

// Random mutations of valid strings: every outcome is a layer that round-trips or ProblemError.
TEST(ProblemParserErrors, MutatedStringsParseOrThrowProblemError) {
  constexpr std::string_view kAlphabet = "gmbicdhwoksp_n\"0123456789-x ";
  std::mt19937 random(12345);
  int accepted = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const auto& table = fb::suite_table();
    std::string text = fb::named_problem_string(table[random() % table.size()].layer);
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int edit = 0; edit < edits; ++edit) {
      const std::size_t position = random() % (text.size() + 1);
      const char c = kAlphabet[random() % kAlphabet.size()];
      switch (random() % 3) {
        case 0:
          text.insert(position, 1, c);
          break;
        case 1:
          if (position < text.size()) text.erase(position, 1);
          break;
        default:
          if (position < text.size()) text[position] = c;
          break;
      }
    }
    try {
      const fb::ParsedProblem parsed = fb::parse_problem(text);
      const std::string canonical = fb::problem_string(parsed.layer);
      expect_same_shape(fb::parse_problem(canonical).layer, parsed.layer);
      ++accepted;
    } catch (const fb::ProblemError&) {
    }
  }
  EXPECT_GT(accepted, 0);
}

class ProblemFile : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& contents) {
    const std::filesystem::path path =
        std::filesystem::path(::testing::TempDir()) /
        (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".txt");
    std::ofstream(path) << contents;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& path : paths_) std::filesystem::remove(path);
  }

 private:
  std::vector<std::filesystem::path> paths_;
};

TEST_F(ProblemFile, ReadsProblemsSkippingCommentsAndBlankLines) {
  const auto path = write(
      "# ResNet-50 stage 4\n"
      "\n"
      "mb1ic256ih14oc256oh14kh3ph1nres4_3x3   # the 3x3\r\n"
      "   \t\n"
      "  g32mb1ic128ih56oc128oh56kh3ph1\n"
      "mb1ic256iw16000oc256ow16000kw3pw1");  // no final newline
  const std::vector<fb::ParsedProblem> problems = fb::read_problem_file(path);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].name(), "res4_3x3");
  EXPECT_EQ(problems[1].name(), "g32mb1ic128ih56oc128oh56kh3ph1");
  EXPECT_EQ(problems[2].layer.spatial_dims, 1);
}

TEST_F(ProblemFile, BadLineNamesFileAndLineNumber) {
  const auto path = write(
      "# comment\n"
      "mb1ic256ih14oc256oh14kh3ph1\n"
      "\n"
      "mb1ic256ih14oc256oh14kq3ph1\n");
  try {
    fb::read_problem_file(path);
    FAIL() << "no error";
  } catch (const fb::ProblemError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(path.string() + ":4:"), std::string::npos) << message;
    EXPECT_NE(message.find("unknown key 'kq'"), std::string::npos) << message;
  }
}

TEST_F(ProblemFile, MissingOrEmptyFile) {
  const auto empty = write("# only comments\n\n");
  EXPECT_THROW(
      {
        try {
          fb::read_problem_file(empty);
        } catch (const fb::ProblemError& error) {
          EXPECT_NE(std::string(error.what()).find("no problem"), std::string::npos);
          throw;
        }
      },
      fb::ProblemError);
  EXPECT_THROW(fb::read_problem_file(empty.string() + ".does_not_exist"), fb::ProblemError);
}

Sizes swept_sizes(const std::vector<fb::ParsedProblem>& problems, int axis) {
  Sizes sizes;
  for (const fb::ParsedProblem& problem : problems) sizes.push_back(problem.layer.input[axis]);
  return sizes;
}

TEST(SweepProblems, DoublesTheSpatialSize) {
  const fb::Layer base = fb::conv2d("res4_3x3", 1, 256, 256, 14, 3).pad(1);
  const std::vector<fb::ParsedProblem> problems = fb::sweep_problems(base, 16, 2048, 2.0);
  EXPECT_EQ(swept_sizes(problems, 0), (Sizes{16, 32, 64, 128, 256, 512, 1024, 2048}));
  EXPECT_EQ(swept_sizes(problems, 1), swept_sizes(problems, 0));
  EXPECT_EQ(problems.front().name(), "res4_3x3_s16");
  EXPECT_EQ(problems.back().name(), "res4_3x3_s2048");
  for (const fb::ParsedProblem& problem : problems) {
    fb::Layer expected = base;
    expected.input = {problem.layer.input[0], problem.layer.input[0], 1};
    expect_same_shape(problem.layer, expected);
    // Every swept problem is a valid problem string.
    expect_same_shape(fb::parse_problem(fb::problem_string(problem.layer)).layer, problem.layer);
  }
}

TEST(SweepProblems, RoundingStepsAndTheLastSize) {
  const fb::Layer base = fb::conv1d("audio", 1, 4, 4, 100, 3);
  EXPECT_EQ(swept_sizes(fb::sweep_problems(base, 10, 40, 1.5), 0), (Sizes{10, 15, 23, 35}));
  EXPECT_EQ(swept_sizes(fb::sweep_problems(base, 3, 7, 1.01), 0), (Sizes{3, 4, 5, 6, 7}));
  EXPECT_EQ(swept_sizes(fb::sweep_problems(base, 16, 100, 2.0), 0), (Sizes{16, 32, 64}));
  EXPECT_EQ(swept_sizes(fb::sweep_problems(base, 5, 5, 2.0), 0), (Sizes{5}));
}

TEST(SweepProblems, OnlyAxesLargerThanOne) {
  const fb::Layer strip = fb::conv_layer("strip", 2, 1, 4, 4, {1, 10, 1}, {1, 3, 1});
  const std::vector<fb::ParsedProblem> problems = fb::sweep_problems(strip, 8, 32);
  EXPECT_EQ(swept_sizes(problems, 0), (Sizes{1, 1, 1}));
  EXPECT_EQ(swept_sizes(problems, 1), (Sizes{8, 16, 32}));

  const fb::Layer video = fb::conv3d("video", 1, 8, 8, {8, 56, 56}, 3).pad(1);
  for (const fb::ParsedProblem& problem : fb::sweep_problems(video, 4, 16)) {
    const std::int64_t size = problem.layer.input[0];
    EXPECT_EQ(used(problem.layer, problem.layer.input), (Sizes{size, size, size}));
  }
  // An unnamed base is named by its problem string.
  const fb::Layer unnamed = fb::conv2d("", 1, 4, 4, 8, 1);
  EXPECT_EQ(fb::sweep_problems(unnamed, 2, 2).front().name(), "mb1ic4ih8oc4oh8kh1_s2");
}

TEST(SweepProblems, Errors) {
  const fb::Layer base = fb::conv2d("k5", 1, 1, 1, 8, 5);
  EXPECT_THROW(fb::sweep_problems(base, 0, 8), fb::ProblemError);
  EXPECT_THROW(fb::sweep_problems(base, 16, 8), fb::ProblemError);
  EXPECT_THROW(fb::sweep_problems(base, 8, 16, 1.0), fb::ProblemError);
  EXPECT_THROW(fb::sweep_problems(base, 8, 16, -2.0), fb::ProblemError);
  try {
    fb::sweep_problems(base, 2, 16);
    FAIL() << "no error";
  } catch (const fb::ProblemError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("size 2"), std::string::npos) << message;
    EXPECT_NE(message.find("kh5"), std::string::npos) << message;
  }
}

}  // namespace
