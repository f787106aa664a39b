// The seed's programs with --logdir: their event files (graph, then per-epoch loss and accuracy
// written through the summary ops) read back by the independent reader, every crc checked.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "proto/graph.pb.h"
#include "summary/event_reader.h"
#include "tests/event_file_check.h"
#include "tests/test_util.h"

namespace fg {
namespace {

namespace fs = std::filesystem;
using testing::ExampleRun;
using testing::run_example;

std::string require_mnist() {
  if (!fs::exists(std::string(FG_BINARY_DIR) + "/batch_norm")) return "";
  return testing::require_mnist();
}

TEST(ExamplesLogdir, BatchNormWritesGraphLossAndAccuracy) {
  const std::string data = require_mnist();
  if (data.empty()) GTEST_SKIP() << "MNIST not installed";
  testing::TempDir dir;
  const std::string logdir = dir / "logs";
  const ExampleRun r = run_example("batch_norm", "--epochs 2 --data " + data + " --logdir " + logdir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(r.accuracies.size(), 2u) << r.output;

  const auto files = summary::event_files(logdir);
  ASSERT_EQ(files.size(), 1u);
  const auto events = testing::read_event_file_independently(files[0]);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  // The graph, holding the seed's model and the summary ops.
  tensorflow::GraphDef gd;
  ASSERT_TRUE(gd.ParseFromString(events[1].graph_def));
  std::map<std::string, std::string> types;
  for (const auto& n : gd.node()) types[n.name()] = n.op();
  EXPECT_EQ(types["loss"], "Mean");
  EXPECT_EQ(types["validation/loss"], "ScalarSummary");
  EXPECT_EQ(types["validation/accuracy"], "ScalarSummary");
  EXPECT_EQ(types["Merge/MergeSummary"], "MergeSummary");
  EXPECT_EQ(types["hidden1/kernel"], "VariableV2");
  // One summary per epoch at the global step (55,000 images in batches of 200: 275 a epoch),
  // with the loss and the accuracy the program printed.
  for (int epoch = 0; epoch < 2; ++epoch) {
    const auto& e = events[2 + epoch];
    ASSERT_TRUE(e.has_summary);
    EXPECT_EQ(e.step, 275 * (epoch + 1));
    ASSERT_EQ(e.values.size(), 2u);
    EXPECT_EQ(e.values[0].tag, "validation/loss");
    EXPECT_TRUE(std::isfinite(e.values[0].simple_value));
    EXPECT_GT(e.values[0].simple_value, 0.0f);
    EXPECT_LT(e.values[0].simple_value, 1.0f);
    EXPECT_EQ(e.values[1].tag, "validation/accuracy");
    EXPECT_NEAR(e.values[1].simple_value, r.accuracies[epoch], 0.5e-4);
  }
  EXPECT_LT(events[3].values[0].simple_value, events[2].values[0].simple_value);

  // flowgraph's own reader (what plot_events draws) sees the same two curves.
  const auto runs = summary::load_runs({logdir});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].scalars.size(), 2u);
  EXPECT_EQ(runs[0].scalars.at("validation/accuracy").size(), 2u);
}

TEST(ExamplesLogdir, EachOptimizerIsARunOfItsOwn) {
  const std::string data = require_mnist();
  if (data.empty()) GTEST_SKIP() << "MNIST not installed";
  testing::TempDir dir;
  const std::string logdir = dir / "opt";
  const ExampleRun r = run_example("optimizers", "--only Adam --epochs 1 --data " + data + " --logdir " + logdir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto files = summary::event_files(logdir + "/Adam");
  ASSERT_EQ(files.size(), 1u);
  const auto events = testing::read_event_file_independently(files[0]);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].step, 275);
  ASSERT_EQ(events[2].values.size(), 2u);
  EXPECT_EQ(events[2].values[0].tag, "validation/loss");
  EXPECT_EQ(events[2].values[1].tag, "validation/accuracy");
}

TEST(ExamplesLogdir, ProgramsThatTrainNothingRefuseIt) {
  if (!fs::exists(std::string(FG_BINARY_DIR) + "/he_elu_leaky")) GTEST_SKIP() << "examples not built";
  testing::TempDir dir;
  const ExampleRun r = run_example("he_elu_leaky", "--logdir " + (dir / "logs"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--logdir: this program trains nothing"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "logs"));
}

}  // namespace
}  // namespace fg
