// The command-line tools' TensorFlow flag spellings: inspect_checkpoint's --file_name,
// --tensor_name, --all_tensors, --all_tensor_names and --printoptions, and the flag parser they
// share (--name=value, --name value, --noname for booleans).
#include <gtest/gtest.h>

#include <filesystem>

#include "ops/array.h"
#include "ops/state.h"
#include "runtime/session.h"
#include "tests/test_util.h"
#include "tools/tool_flags.h"
#include "train/saver.h"

namespace fg {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string small_checkpoint(const TempDir& dir) {
  Graph g;
  variable(constant(g, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3})), {.name = "layer/w"});
  variable(constant(g, Tensor::from_vector<int64_t>({7})), {.name = "step"});
  Session sess(g);
  sess.run(global_variables_initializer(g));
  return train::Saver(g).save(sess, dir / "model.ckpt");
}

TEST(Tools, InspectCheckpointTakesTensorFlowsFlags) {
  if (!fs::exists(std::string(FG_BINARY_DIR) + "/inspect_checkpoint")) GTEST_SKIP() << "tools not built";
  TempDir dir;
  const std::string prefix = small_checkpoint(dir);
  auto run = [](const std::string& args) { return testing::run_built_program("inspect_checkpoint", args); };

  auto r = run("--file_name=" + prefix);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "layer/w (DT_FLOAT) [2,3]\nstep (DT_INT64) [1]\n");
  EXPECT_EQ(run(prefix + ".index").output, r.output);  // a file name for the prefix

  r = run("--file_name=" + prefix + " --all_tensor_names");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "tensor_name:  layer/w\ntensor_name:  step\n");

  r = run("--file_name " + prefix + " --tensor_name=layer/w");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("tensor_name:  layer/w\n", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("min: 1  max: 6  mean: 3.5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("6"), std::string::npos) << r.output;

  // --all_tensors prints each tensor; threshold=2 cuts the values short.
  r = run("--file_name=" + prefix + " --all_tensors --printoptions threshold=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("tensor_name:  layer/w\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tensor_name:  step\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("..."), std::string::npos) << r.output;
  EXPECT_EQ(run("--file_name=" + prefix + " --all_tensors").output.find("..."), std::string::npos);

  // Misuse says what is wrong.
  r = run("--file_name=" + prefix + " --printoptions precision=3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("only threshold=N"), std::string::npos) << r.output;
  r = run("");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--file_name=checkpoint_file_name"), std::string::npos) << r.output;
  r = run("--file_name=" + prefix + " --tensor_name=nope");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("nope"), std::string::npos) << r.output;
}

TEST(Tools, FlagsParseLikeAbslFlags) {
  std::string s;
  bool b = false, c = true;
  long long n = 0;
  tools::Flags flags("t", "test");
  flags.add("s", &s, "");
  flags.add("b", &b, "");
  flags.add("c", &c, "");
  flags.add("n", &n, "");
  flags.alias("size", "n");
  std::vector<std::string> args = {"t", "--s=a=b", "pos", "-b", "--noc", "--size", "12", "--", "--s=x"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  const auto positional = flags.parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(s, "a=b");
  EXPECT_TRUE(b);
  EXPECT_FALSE(c);
  EXPECT_EQ(n, 12);
  EXPECT_EQ(positional, (std::vector<std::string>{"pos", "--s=x"}));
  EXPECT_TRUE(flags.was_set("b"));
  EXPECT_TRUE(flags.was_set("n"));
  EXPECT_EQ(tools::split_list("a, b,,c"), (std::vector<std::string>{"a", "b", "c"}));
  // Bad values exit with status 2 and the usage.
  auto parse_one = [&](std::string arg) {
    std::string program = "t";
    std::vector<char*> v = {program.data(), arg.data()};
    flags.parse(2, v.data());
  };
  EXPECT_EXIT(parse_one("--n=x"), ::testing::ExitedWithCode(2), "--n takes an integer");
  EXPECT_EXIT(parse_one("--b=maybe"), ::testing::ExitedWithCode(2), "takes true or false");
  EXPECT_EXIT(parse_one("--nope"), ::testing::ExitedWithCode(2), "unknown flag --nope");
}

}  // namespace
}  // namespace fg
