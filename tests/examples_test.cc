// Runs the seed's example programs on real MNIST for a couple of epochs and checks the accuracy
// against the seed's early epochs.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <regex>

#include "tests/test_util.h"

namespace fg {
namespace {

using testing::ExampleRun;
using testing::run_example;

std::string require_mnist() {
  // Built with -DFG_BUILD_EXAMPLES=OFF there is nothing to run.
  if (!std::filesystem::exists(std::string(FG_BINARY_DIR) + "/train_dnn")) return "";
  return testing::require_mnist();
}

TEST(Examples, TrainDnnTwoEpochsOnRealMnist) {
  const std::string dir = require_mnist();
  if (dir.empty()) GTEST_SKIP() << "MNIST not installed";
  const ExampleRun r = run_example("train_dnn", "--epochs 2 --data " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(r.accuracies.size(), 2u) << r.output;
  // The seed printed 0.8142 and 0.8756 for its first two epochs.
  EXPECT_GE(r.accuracies[1], 0.86) << r.output;
}

TEST(Examples, MissingDataIsAClearError) {
  if (!std::filesystem::exists(std::string(FG_BINARY_DIR) + "/train_dnn")) GTEST_SKIP() << "examples not built";
  const ExampleRun r = run_example("train_dnn", "--epochs 1 --data /nonexistent/fg/mnist");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/fg/mnist"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace fg

namespace fg {
namespace {

TEST(Examples, BatchNormTwoEpochsOnRealMnist) {
  const std::string dir = require_mnist();
  if (dir.empty()) GTEST_SKIP() << "MNIST not installed";
  const ExampleRun r = run_example("batch_norm", "--epochs 2 --data " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(r.accuracies.size(), 2u) << r.output;
  // The seed printed 0.8848 and 0.9088.
  EXPECT_GE(r.accuracies[0], 0.86) << r.output;
  EXPECT_GE(r.accuracies[1], 0.89) << r.output;
}

TEST(Examples, BatchNormControlDependenciesPattern) {
  const std::string dir = require_mnist();
  if (dir.empty()) GTEST_SKIP() << "MNIST not installed";
  const ExampleRun r = run_example("batch_norm", "--epochs 1 --control-deps --data " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(r.accuracies.size(), 1u) << r.output;
  // Inference uses the moving averages: they must have been updated by the training op.
  EXPECT_GE(r.accuracies[0], 0.86) << r.output;
}

TEST(Examples, DropoutOneEpochOnRealMnist) {
  const std::string dir = require_mnist();
  if (dir.empty()) GTEST_SKIP() << "MNIST not installed";
  const ExampleRun r = run_example("dropout", "--epochs 1 --data " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(r.accuracies.size(), 1u) << r.output;
  // The seed printed 0.9066 (dropout off while training, as in the seed).
  EXPECT_GE(r.accuracies[0], 0.89) << r.output;
}

}  // namespace
}  // namespace fg
