// Graph pictures: summary::graph_to_dot (name scopes as nested clusters, shapes on data edges,
// control edges dashed, closed scopes at a depth) and tools/graph_viz, whose DOT Graphviz parses
// and whose SVG is well-formed and names every scope.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include "graph/graph_io.h"
#include "ops/array.h"
#include "ops/math.h"
#include "summary/file_writer.h"
#include "summary/graph_dot.h"
#include "tests/seed_models.h"
#include "tests/test_util.h"
#include "tests/xml_check.h"
#include "train/meta_graph.h"

namespace fg::summary {
namespace {

namespace fs = std::filesystem;
using testing::slurp;
using testing::spit;
using testing::TempDir;

bool have_dot() { return testing::run_command("dot -V").exit_code == 0; }

// Skips without Graphviz, except where the environment says it is required (scripts/test.sh).
#define REQUIRE_DOT()                                                                             \
  do {                                                                                            \
    if (!have_dot()) {                                                                            \
      if (std::getenv("FG_REQUIRE_GRAPHVIZ")) FAIL() << "Graphviz's dot is required but missing"; \
      GTEST_SKIP() << "Graphviz's dot is not installed";                                          \
    }                                                                                             \
  } while (0)

// The text between a cluster's opening line and its matching closing brace.
std::string cluster_body(const std::string& dot, const std::string& scope) {
  const std::string open = "subgraph \"cluster_" + scope + "\" {";
  const size_t start = dot.find(open);
  if (start == std::string::npos) return "";
  int depth = 0;
  for (size_t i = start + open.size() - 1; i < dot.size(); ++i) {
    if (dot[i] == '"') {  // skip quoted strings
      for (++i; i < dot.size() && dot[i] != '"'; ++i)
        if (dot[i] == '\\') ++i;
      continue;
    }
    if (dot[i] == '{') ++depth;
    if (dot[i] == '}' && --depth == 0) return dot.substr(start, i - start + 1);
  }
  return "";
}

// How many lines declare node `id` (edges name nodes too, but never with a tooltip).
int node_lines(const std::string& dot, const std::string& id) {
  int n = 0;
  std::istringstream in(dot);
  for (std::string line; std::getline(in, line);) {
    const size_t start = line.find_first_not_of(' ');
    if (start != std::string::npos && line.compare(start, id.size() + 10, "\"" + id + "\" [label=") == 0 &&
        line.find("tooltip=") != std::string::npos)
      ++n;
  }
  return n;
}

// Every name scope of the graph: "dnn", "dnn/hidden1", ...
std::set<std::string> scopes_of(const tensorflow::GraphDef& gd) {
  std::set<std::string> scopes;
  for (const auto& n : gd.node()) {
    const std::string& name = n.name();
    for (size_t p = name.find('/'); p != std::string::npos; p = name.find('/', p + 1)) scopes.insert(name.substr(0, p));
  }
  return scopes;
}

tensorflow::GraphDef small_graph() {
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  {
    auto dnn = g.name_scope("dnn");
    auto h = layers::dense(X, 300, {.activation = nn::relu, .name = "hidden1"});
    auto out = layers::dense(h, 10, {.name = "outputs"});
    auto deps = g.control_dependencies({out.op()});
    no_op(g, "after");
  }
  return to_graph_def(g, {.add_shapes = true});
}

TEST(GraphViz, ScopesAreNestedClustersWithShapesAndControlEdges) {
  const auto gd = small_graph();
  const std::string dot = graph_to_dot(gd);
  const std::string dnn = cluster_body(dot, "dnn");
  ASSERT_FALSE(dnn.empty()) << dot;
  const std::string hidden1 = cluster_body(dot, "dnn/hidden1");
  ASSERT_FALSE(hidden1.empty()) << dot;
  // dnn/hidden1 is drawn inside dnn, and its ops inside it.
  EXPECT_NE(dnn.find(hidden1), std::string::npos);
  EXPECT_NE(hidden1.find("\"op:dnn/hidden1/MatMul\""), std::string::npos) << hidden1;
  EXPECT_EQ(cluster_body(dot, "dnn/outputs").find("\"op:dnn/hidden1/MatMul\""), std::string::npos);
  // Every node is drawn once, X outside every cluster.
  for (const auto& n : gd.node()) EXPECT_EQ(node_lines(dot, "op:" + n.name()), 1) << n.name();
  EXPECT_EQ(node_lines(dnn, "op:X"), 0);
  // X feeds MatMul a ?x784 tensor; "after" waits for the output layer's BiasAdd (dashed).
  EXPECT_NE(dot.find("\"op:X\" -> \"op:dnn/hidden1/MatMul\" [label=\"?\xc3\x97" "784\"]"), std::string::npos) << dot;
  EXPECT_TRUE(std::regex_search(dot, std::regex(R"("op:dnn/outputs/BiasAdd" -> "op:dnn/after" \[style=dashed)")))
      << dot;
  // Without shapes.
  EXPECT_EQ(graph_to_dot(gd, {.edge_shapes = false}).find("784\"]"), std::string::npos);
}

TEST(GraphViz, ScopesBelowTheDepthAreClosedBoxes) {
  const auto gd = small_graph();
  const std::string dot = graph_to_dot(gd, {.max_depth = 1});
  EXPECT_EQ(dot.find("\"op:dnn/"), std::string::npos) << dot;
  EXPECT_EQ(dot.find("cluster_"), std::string::npos) << dot;
  int in_dnn = 0;
  for (const auto& n : gd.node()) in_dnn += n.name().rfind("dnn/", 0) == 0;
  EXPECT_NE(dot.find("\"scope:dnn\" [label=\"dnn\\n(" + std::to_string(in_dnn) + " ops)\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"op:X\" -> \"scope:dnn\""), std::string::npos) << dot;
  // Depth 2: dnn is a cluster, hidden1 and outputs closed boxes inside it.
  const std::string two = graph_to_dot(gd, {.max_depth = 2});
  const std::string dnn = cluster_body(two, "dnn");
  EXPECT_NE(dnn.find("\"scope:dnn/hidden1\" ["), std::string::npos) << two;
  EXPECT_NE(dnn.find("\"scope:dnn/outputs\" ["), std::string::npos) << two;
}

TEST(GraphViz, HostileNamesAreQuotedAndMissingInputsDrawn) {
  tensorflow::GraphDef gd;
  auto* n = gd.add_node();
  n->set_name("we\"ird\\name/x");
  n->set_op("Op\"Type");
  n->add_input("nowhere:99999999999999999999");
  n->add_input("^gone");
  const std::string dot = graph_to_dot(gd);
  EXPECT_NE(dot.find("\"op:we\\\"ird\\\\name/x\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"op:gone\" [label=\"gone\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("(not in the graph)"), std::string::npos) << dot;
  if (!have_dot()) return;
  TempDir dir;
  spit(dir / "g.dot", dot);
  const auto r = testing::run_command("dot -Tcanon '" + dir / "g.dot" + "' -o /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.output << dot;
}

// The seed's batch-norm graph through the installed-style tool: DOT that dot parses, an SVG that
// is well-formed and names each scope, at full depth and closed at depth 1.
TEST(GraphViz, ToolDrawsTheSeedBatchNormGraph) {
  if (!fs::exists(std::string(FG_BINARY_DIR) + "/graph_viz")) GTEST_SKIP() << "tools not built";
  REQUIRE_DOT();
  TempDir dir;
  Graph g;
  testing::build_batch_norm_mlp(g);
  const std::string meta = dir / "bn.meta";
  const auto written = train::export_meta_graph(g, meta);
  const auto scopes = scopes_of(written.graph_def());
  ASSERT_TRUE(scopes.count("batch_normalization"));
  ASSERT_TRUE(scopes.count("gradients"));

  auto r = testing::run_built_program("graph_viz", "'" + meta + "' -o '" + dir / "bn.dot" + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = testing::run_command("dot -Tcanon '" + dir / "bn.dot" + "' -o /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.output;

  r = testing::run_built_program("graph_viz", "'" + meta + "' -o '" + dir / "bn.svg" + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto svg = testing::check_xml(slurp(dir / "bn.svg"));
  ASSERT_EQ(svg.error, "");
  ASSERT_FALSE(svg.elements.empty());
  EXPECT_EQ(svg.elements[0].name, "svg");
  const auto titles = svg.texts_of("title");
  const std::set<std::string> title_set(titles.begin(), titles.end());
  for (const auto& scope : scopes) EXPECT_TRUE(title_set.count("cluster_" + scope)) << scope;
  const auto texts = svg.texts_of("text");
  const std::set<std::string> text_set(texts.begin(), texts.end());
  EXPECT_TRUE(text_set.count("batch_normalization_2"));
  EXPECT_TRUE(text_set.count("FusedBatchNorm") || text_set.count("hidden1"));
  for (const auto& n : written.graph_def().node()) EXPECT_TRUE(title_set.count("op:" + n.name())) << n.name();

  // Depth 1: one box per top-level scope.
  r = testing::run_built_program("graph_viz", "'" + meta + "' --depth 1 -o '" + dir / "top.svg" + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto top = testing::check_xml(slurp(dir / "top.svg"));
  ASSERT_EQ(top.error, "");
  const auto top_titles = top.texts_of("title");
  const std::set<std::string> top_set(top_titles.begin(), top_titles.end());
  for (const auto& scope : scopes)
    if (scope.find('/') == std::string::npos) EXPECT_TRUE(top_set.count("scope:" + scope)) << scope;
  EXPECT_FALSE(top_set.count("op:gradients/Shape"));
}

TEST(GraphViz, ToolReadsEventFilesAndSavedFormatsAndSaysWhatIsWrong) {
  if (!fs::exists(std::string(FG_BINARY_DIR) + "/graph_viz")) GTEST_SKIP() << "tools not built";
  TempDir dir;
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  {
    auto s = g.name_scope("scaled");
    identity(x * 2.0f, "y");
  }
  {
    FileWriter w(dir / "logs", g);
  }
  auto r = testing::run_built_program("graph_viz", "'" + dir / "logs" + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("subgraph \"cluster_scaled\""), std::string::npos) << r.output;
  // A text GraphDef.
  spit(dir / "g.pbtxt", "node { name: \"a\" op: \"NoOp\" } node { name: \"s/b\" op: \"NoOp\" input: \"^a\" }");
  r = testing::run_built_program("graph_viz", "'" + dir / "g.pbtxt" + "' -o '" + dir / "g.dot" + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(slurp(dir / "g.dot").find("\"op:a\" -> \"op:s/b\" [style=dashed"), std::string::npos);

  r = testing::run_built_program("graph_viz", "'" + dir / "missing.pb" + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing.pb"), std::string::npos) << r.output;
  r = testing::run_built_program("graph_viz", "'" + dir / "g.pbtxt" + "' -o '" + dir / "noext" + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("extension"), std::string::npos) << r.output;
  // Without Graphviz, a picture format says what to install (and leaves no file).
  r = testing::run_command("PATH=/nonexistent '" + std::string(FG_BINARY_DIR) + "/graph_viz' '" + dir / "g.pbtxt" +
                           "' -o '" + dir / "g.svg" + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("Debian package graphviz"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "g.svg"));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

}  // namespace
}  // namespace fg::summary
