// fastconv-bench's command line: problems given as strings or a file, --sweep, and the flags
// added for the fast engines; every malformed value is a UsageError naming the flag.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "cli.hpp"
#include "fastconv/inner_op.hpp"

namespace fastconv_bench {
namespace {

Options parse(std::vector<const char*> arguments) { return parse_command_line(arguments); }

std::string usage_error(std::vector<const char*> arguments) {
  try {
    parse(arguments);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "no error";
}

TEST(BenchCli, ProblemsAccumulateAndSweepParses) {
  const Options options = parse({"--problem", "mb1ic3ih64oc16oh64kh3ph1", "--problem=mb1ic8iw100oc8ow100kw3",
                                 "--problem-file", "layers.txt", "--sweep", "16:2048:4",
                                 "--packed-weights", "--scaling"});
  EXPECT_EQ(options.problems, (std::vector<std::string>{"mb1ic3ih64oc16oh64kh3ph1",
                                                        "mb1ic8iw100oc8ow100kw3"}));
  EXPECT_EQ(options.problem_file, "layers.txt");
  ASSERT_TRUE(options.sweep.has_value());
  EXPECT_EQ(options.sweep->from, 16);
  EXPECT_EQ(options.sweep->to, 2048);
  EXPECT_DOUBLE_EQ(options.sweep->factor, 4.0);
  EXPECT_TRUE(options.packed_weights);
  EXPECT_TRUE(options.scaling);
  const Options defaults = parse({"--problem", "x", "--sweep=8:64"});
  EXPECT_DOUBLE_EQ(defaults.sweep->factor, 2.0);
  EXPECT_FALSE(defaults.packed_weights);
  EXPECT_FALSE(defaults.scaling);
  EXPECT_NE(usage_error({"--scaling=yes"}).find("--scaling takes no value"), std::string::npos);
}

TEST(BenchCli, BadSweepsAndMissingProblemsAreUsageErrors) {
  for (const char* bad : {"16", "16:", ":64", "a:b", "64:16", "0:16", "16:64:1", "16:64:x",
                          "16:64:2:3", "16:99999999999999999999"}) {
    const std::string message = usage_error({"--problem", "x", "--sweep", bad});
    EXPECT_NE(message.find("--sweep expects FROM:TO[:FACTOR]"), std::string::npos) << bad;
    EXPECT_NE(message.find(bad), std::string::npos) << message;
  }
  EXPECT_NE(usage_error({"--sweep", "16:64"}).find("--problem"), std::string::npos);
  EXPECT_NE(usage_error({"--problem"}).find("--problem expects a value"), std::string::npos);
  EXPECT_NE(usage_error({"--problem-file="}).find("--problem-file expects a file name"),
            std::string::npos);
}

TEST(BenchCli, DirectionsProfileAndPlot) {
  EXPECT_EQ(parse({}).directions, (std::vector<Direction>{Direction::forward}));
  EXPECT_EQ(parse({"--dir", "bwd_w,fwd,bwd_w"}).directions,
            (std::vector<Direction>{Direction::backward_weights, Direction::forward}));
  EXPECT_EQ(parse({"--dir=all"}).directions,
            (std::vector<Direction>{Direction::forward, Direction::backward_data,
                                    Direction::backward_weights, Direction::transposed}));
  EXPECT_EQ(parse({"--dir", "transposed"}).directions,
            (std::vector<Direction>{Direction::transposed}));
  const Options options = parse({"--profile", "--plot", "charts"});
  EXPECT_TRUE(options.profile);
  EXPECT_EQ(options.plot_dir, "charts");
  EXPECT_FALSE(parse({}).profile);
  EXPECT_TRUE(parse({}).plot_dir.empty());
}

TEST(BenchCli, BadDirectionsProfileAndPlotAreUsageErrors) {
  for (const char* bad : {"forward", "fwd,", ",fwd", "bwd", "fwd,bwd_x", "ALL", ""}) {
    const std::string message = usage_error({"--dir", bad});
    EXPECT_NE(message.find("--dir expects a comma-separated list of fwd,bwd_d,bwd_w,transposed"),
              std::string::npos)
        << bad << ": " << message;
  }
  EXPECT_NE(usage_error({"--dir", "fwd,sideways"}).find("got 'sideways'"), std::string::npos);
  EXPECT_NE(usage_error({"--dir"}).find("--dir expects a value"), std::string::npos);
  EXPECT_NE(usage_error({"--profile=yes"}).find("--profile takes no value"), std::string::npos);
  EXPECT_NE(usage_error({"--packed-weights=1"}).find("--packed-weights takes no value"),
            std::string::npos);
  EXPECT_NE(usage_error({"--plot"}).find("--plot expects a value"), std::string::npos);
  EXPECT_NE(usage_error({"--plot="}).find("--plot expects a directory name"), std::string::npos);
}

TEST(BenchCli, EnginesTakeAListOrAll) {
  // Without --engine: the library's own pick, what a user's call runs.
  EXPECT_EQ(parse({}).engines, (std::vector<fastconv::Engine>{fastconv::Engine::automatic}));
  EXPECT_EQ(parse({"--engine", "auto,im2col,auto"}).engines,
            (std::vector<fastconv::Engine>{fastconv::Engine::automatic, fastconv::Engine::im2col}));
  EXPECT_EQ(parse({"--engine=implicit_gemm"}).engines,
            (std::vector<fastconv::Engine>{fastconv::Engine::implicit_gemm}));
  EXPECT_EQ(parse({"--engine", "all"}).engines.size(), std::size(fastconv::kAllEngines));
  for (const char* bad : {"fast", "auto,", "auto,fast", ""}) {
    const std::string message = usage_error({"--engine", bad});
    EXPECT_NE(message.find("--engine expects auto|"), std::string::npos) << bad << ": " << message;
  }
  EXPECT_NE(usage_error({"--engine", "auto,fast"}).find("got 'fast'"), std::string::npos);
}

TEST(BenchCli, HelpExplainsDirectionsProfileAndPlot) {
  const std::string help = usage_text();
  for (const char* wanted : {"--dir LIST", "bwd_d", "bwd_w", "transposed", "FORWARD layer",
                             "--profile", "threading overhead", "--plot DIR", "matplotlib"}) {
    EXPECT_NE(help.find(wanted), std::string::npos) << wanted;
  }
}

// --op: catalog names (from the library's catalog, not a copy), "all", duplicates dropped in the
// given order; the default is the convolution alone, without the op columns.
TEST(BenchCli, OpsTakeCatalogNamesOrAll) {
  const Options defaults = parse({});
  EXPECT_EQ(defaults.ops, (std::vector<std::string>{"mul_sum"}));
  EXPECT_FALSE(defaults.ops_given);
  EXPECT_FALSE(defaults.inner_ops_requested());
  EXPECT_EQ(defaults.pad_value, 0.0);

  const Options two = parse({"--op", "abs_diff_sum,add_max,abs_diff_sum"});
  EXPECT_EQ(two.ops, (std::vector<std::string>{"abs_diff_sum", "add_max"}));
  EXPECT_TRUE(two.ops_given);
  EXPECT_TRUE(two.inner_ops_requested());
  EXPECT_EQ(parse({"--op=mul_sum"}).ops, (std::vector<std::string>{"mul_sum"}));
  EXPECT_TRUE(parse({"--op=mul_sum"}).inner_ops_requested());
  EXPECT_EQ(parse({"--op", "all"}).ops, fastconv::InnerOp::catalog_names());
  for (const std::string& name : fastconv::InnerOp::catalog_names()) {
    EXPECT_EQ(parse({"--op", name.c_str()}).ops, (std::vector<std::string>{name}));
  }
}

TEST(BenchCli, UnknownOpsAreUsageErrorsListingTheCatalog) {
  for (const char* bad : {"adder", "abs_diff_sum,", ",add_max", "ALL", "mul_sum,max", ""}) {
    const std::string message = usage_error({"--op", bad});
    EXPECT_NE(message.find("--op expects a comma-separated list of the catalog's operations ("),
              std::string::npos)
        << bad << ": " << message;
    for (const std::string& name : fastconv::InnerOp::catalog_names()) {
      EXPECT_NE(message.find(name), std::string::npos) << name << " missing in: " << message;
    }
  }
  EXPECT_NE(usage_error({"--op", "mul_sum,max"}).find("got 'max'"), std::string::npos);
  EXPECT_NE(usage_error({"--op"}).find("--op expects a value"), std::string::npos);
}

TEST(BenchCli, PadValueTakesNumbersAndInfinities) {
  EXPECT_EQ(parse({"--pad-value", "-inf"}).pad_value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse({"--pad-value=inf"}).pad_value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse({"--pad-value", "+inf"}).pad_value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse({"--pad-value", "-1.5"}).pad_value, -1.5);
  EXPECT_EQ(parse({"--pad-value", "+2"}).pad_value, 2.0);
  // A pad value alone makes mul_sum a custom operation: the op columns are shown.
  EXPECT_TRUE(parse({"--pad-value", "0"}).inner_ops_requested());
  for (const char* bad : {"nan", "-nan", "x", "1.5.2", "", "+-1", "1e", "--1"}) {
    const std::string message = usage_error({"--pad-value", bad});
    EXPECT_NE(message.find("--pad-value expects a number, inf or -inf"), std::string::npos)
        << bad << ": " << message;
  }
}

// torch_unfold is selectable with --compare and on by default only for runs with --op or
// --pad-value: the plain convolution's runs keep their peers.
TEST(BenchCli, TorchUnfoldPeer) {
  EXPECT_EQ(*parse({"--compare", "torch_unfold,torch"}).compare,
            (std::vector<std::string>{"torch_unfold", "torch"}));
  EXPECT_NE(usage_error({"--compare", "unfold"})
                .find("none|torch|torch_cl|onednn|onednn_blocked|onednn_winograd|torch_unfold"),
            std::string::npos);
  const Options plain = parse({});
  EXPECT_TRUE(peer_on_by_default("torch", plain));
  EXPECT_TRUE(peer_on_by_default("onednn", plain));
  EXPECT_FALSE(peer_on_by_default("torch_unfold", plain));
  const Options ops = parse({"--op", "sub_min"});
  EXPECT_TRUE(peer_on_by_default("torch", ops));
  EXPECT_TRUE(peer_on_by_default("torch_unfold", ops));
  EXPECT_TRUE(peer_on_by_default("torch_unfold", parse({"--pad-value", "-inf"})));
}

TEST(BenchCli, HelpExplainsOpsPadValueAndTheUnfoldRecipe) {
  const std::string help = usage_text();
  for (const char* wanted : {"--op LIST", "--pad-value V", "-inf", "Gpairs/s", "torch_unfold",
                             "forward + backward", "autograd", "abs_diff_sum_adder",
                             "transposed form", "torch and onednn compute"}) {
    EXPECT_NE(help.find(wanted), std::string::npos) << wanted;
  }
  for (const std::string& name : fastconv::InnerOp::catalog_names()) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
}

// Issue 20's peers: torch_cl, onednn_blocked and onednn_winograd are known, selectable and on by
// default beside torch and onednn (every peer but the unfold recipe), in the registry's order.
TEST(BenchCli, TunedPeersAreOnByDefault) {
  const std::vector<std::string> all{"torch",          "torch_cl",        "onednn",
                                     "onednn_blocked", "onednn_winograd", "torch_unfold"};
  EXPECT_EQ(std::vector<std::string>(std::begin(kPeerNames), std::end(kPeerNames)), all);
  const Options plain = parse({});
  EXPECT_FALSE(plain.compare.has_value());  // every built-in peer on by default
  for (const char* peer : {"torch", "torch_cl", "onednn", "onednn_blocked", "onednn_winograd"}) {
    EXPECT_TRUE(peer_on_by_default(peer, plain)) << peer;
  }
  EXPECT_EQ(*parse({"--compare", "onednn_winograd,torch_cl,onednn_blocked"}).compare,
            (std::vector<std::string>{"onednn_winograd", "torch_cl", "onednn_blocked"}));
  EXPECT_NE(usage_error({"--compare", "onednn_wino"}).find("got 'onednn_wino'"), std::string::npos);
}

// --alloc: call (the default: every side allocates its output in the timed call) or none.
TEST(BenchCli, AllocCallOrNone) {
  EXPECT_TRUE(parse({}).allocate_outputs);
  EXPECT_TRUE(parse({"--alloc", "call"}).allocate_outputs);
  EXPECT_FALSE(parse({"--alloc=none"}).allocate_outputs);
  for (const char* bad : {"", "all", "None", "output"}) {
    const std::string message = usage_error({"--alloc", bad});
    EXPECT_NE(message.find("--alloc expects call or none"), std::string::npos) << bad << ": " << message;
  }
  EXPECT_NE(usage_error({"--alloc"}).find("--alloc expects a value"), std::string::npos);
}

TEST(BenchCli, HelpExplainsTheTunedPeersAndAlloc) {
  const std::string help = usage_text();
  for (const char* wanted : {"torch_cl", "channels_last", "NoGradGuard", "onednn_blocked",
                             "reordered once", "onednn_winograd", "convolution_winograd",
                             "--alloc call|none", "out= for convolutions", "The header says which"}) {
    EXPECT_NE(help.find(wanted), std::string::npos) << wanted;
  }
}

}  // namespace
}  // namespace fastconv_bench
