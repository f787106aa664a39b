// Training-curve pictures: summary::plot_scalars_svg (one panel per tag, one line per run, a legend,
// gaps at non-finite values) and tools/plot_events over log directories.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "summary/event_reader.h"
#include "summary/file_writer.h"
#include "summary/plot.h"
#include "tests/test_util.h"
#include "tests/xml_check.h"

namespace fg::summary {
namespace {

namespace fs = std::filesystem;
using testing::slurp;
using testing::TempDir;

ScalarRun make_run(const std::string& name, const std::map<std::string, std::vector<double>>& series) {
  ScalarRun r;
  r.name = name;
  for (const auto& [tag, values] : series)
    for (size_t i = 0; i < values.size(); ++i) r.scalars[tag].push_back({static_cast<int64_t>(i) * 100, 0, values[i]});
  return r;
}

std::vector<const testing::XmlElement*> elements(const testing::XmlCheck& x, const std::string& name) {
  std::vector<const testing::XmlElement*> out;
  for (const auto& e : x.elements)
    if (e.name == name) out.push_back(&e);
  return out;
}

// The polyline's points as (x, y) pairs.
std::vector<std::pair<double, double>> points_of(const testing::XmlElement& e) {
  std::vector<std::pair<double, double>> pts;
  std::istringstream in(e.attrs.at("points"));
  std::string pair;
  while (in >> pair) {
    const auto comma = pair.find(',');
    pts.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return pts;
}

TEST(PlotEvents, OnePanelPerTagOneLinePerRun) {
  const std::vector<ScalarRun> runs = {make_run("bn", {{"loss", {2.3, 1.1, 0.7, 0.5}}, {"accuracy", {0.5, 0.8, 0.9, 0.95}}}),
                                 make_run("plain <&>", {{"loss", {2.3, 1.5, 1.0}}})};
  const std::string svg = plot_scalars_svg(runs, {.title = "MNIST"});
  const auto x = testing::check_xml(svg);
  ASSERT_EQ(x.error, "") << svg;
  EXPECT_EQ(x.elements[0].name, "svg");
  // Panels in tag order (sorted), each titled; the legend names every run (escaped).
  const auto texts = x.texts_of("text");
  EXPECT_NE(std::find(texts.begin(), texts.end(), "accuracy"), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "loss"), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "plain <&>"), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "MNIST"), texts.end());
  const auto lines = elements(x, "polyline");
  ASSERT_EQ(lines.size(), 3u);  // accuracy: bn; loss: bn and plain
  EXPECT_EQ(lines[0]->attrs.at("data-run"), "bn");
  EXPECT_EQ(lines[2]->attrs.at("data-run"), "plain <&>");
  EXPECT_EQ(points_of(*lines[1]).size(), 4u);
  EXPECT_EQ(points_of(*lines[2]).size(), 3u);
  // A run keeps its colour in every panel.
  EXPECT_EQ(lines[0]->attrs.at("stroke"), lines[1]->attrs.at("stroke"));
  EXPECT_NE(lines[1]->attrs.at("stroke"), lines[2]->attrs.at("stroke"));
  // Steps go right, a falling loss goes down the page (SVG's y grows downwards).
  const auto loss = points_of(*lines[1]);
  for (size_t i = 1; i < loss.size(); ++i) {
    EXPECT_GT(loss[i].first, loss[i - 1].first);
    EXPECT_GT(loss[i].second, loss[i - 1].second);
  }
  // Both loss lines start at the same value and step: the same point.
  EXPECT_EQ(points_of(*lines[2])[0], loss[0]);
  // Only the tags asked for, in that order.
  const auto only = testing::check_xml(plot_scalars_svg(runs, {.tags = {"loss"}}));
  ASSERT_EQ(only.error, "");
  EXPECT_EQ(elements(only, "polyline").size(), 2u);
  const auto only_texts = only.texts_of("text");
  EXPECT_EQ(std::count(only_texts.begin(), only_texts.end(), "accuracy"), 0);
}

TEST(PlotEvents, NonFiniteValuesBreakTheLineAndNothingToDrawIsAnError) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<ScalarRun> runs = {make_run("r", {{"loss", {1, 2, nan, 3, 4, std::numeric_limits<double>::infinity()}}})};
  const auto x = testing::check_xml(plot_scalars_svg(runs));
  ASSERT_EQ(x.error, "");
  const auto lines = elements(x, "polyline");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(points_of(*lines[0]).size(), 2u);
  EXPECT_EQ(points_of(*lines[1]).size(), 2u);
  for (const auto* l : lines)
    for (const auto& [px, py] : points_of(*l)) EXPECT_TRUE(std::isfinite(px) && std::isfinite(py));
  // One point, or all points equal: still a picture with finite coordinates.
  const auto flat = testing::check_xml(plot_scalars_svg({make_run("r", {{"c", {5}}})}));
  ASSERT_EQ(flat.error, "");
  EXPECT_EQ(elements(flat, "circle").size(), 1u);
  testing::expect_error([&] { plot_scalars_svg({make_run("r", {})}); }, Code::kInvalidArgument, {"no run has scalars"});
  testing::expect_error([&] { plot_scalars_svg(runs, {.tags = {"accuracy"}}); }, Code::kInvalidArgument,
                        {"accuracy"});
}

TEST(PlotEvents, ToolDrawsRunsOfALogDirectory) {
  if (!fs::exists(std::string(FG_BINARY_DIR) + "/plot_events")) GTEST_SKIP() << "tools not built";
  TempDir dir;
  for (const std::string run : {"bn", "plain"}) {
    FileWriter w(dir / ("logs/" + run));
    for (int step = 0; step < 20; ++step) {
      tensorflow::Summary s = scalar_value("loss", 2.0 / (step + 1) + (run == "bn" ? 0 : 0.3));
      *s.add_value() = scalar_value("accuracy", 1.0 - 0.5 / (step + 1)).value(0);
      w.add_summary(s, step * 50);
    }
  }
  auto r = testing::run_built_program("plot_events", "'" + dir / "logs" + "' -o '" + dir / "curves.svg" + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 runs"), std::string::npos) << r.output;
  const auto x = testing::check_xml(slurp(dir / "curves.svg"));
  ASSERT_EQ(x.error, "");
  const auto lines = elements(x, "polyline");
  ASSERT_EQ(lines.size(), 4u);
  std::set<std::string> runs;
  for (const auto* l : lines) {
    runs.insert(l->attrs.at("data-run"));
    EXPECT_EQ(points_of(*l).size(), 20u);
  }
  EXPECT_EQ(runs, (std::set<std::string>{"bn", "plain"}));

  r = testing::run_built_program("plot_events", "'" + dir / "logs/bn" + "' '" + dir / "logs/plain" +
                                                    "' --tags loss --title 'two runs' -o '" + dir / "loss.svg" + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto loss = testing::check_xml(slurp(dir / "loss.svg"));
  ASSERT_EQ(loss.error, "");
  EXPECT_EQ(elements(loss, "polyline").size(), 2u);

  r = testing::run_built_program("plot_events", "'" + dir / "nowhere" + "' -o '" + dir / "x.svg" + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("nowhere"), std::string::npos) << r.output;
  r = testing::run_built_program("plot_events", "'" + dir / "logs" + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("-o OUTPUT.svg is required"), std::string::npos) << r.output;
  r = testing::run_built_program("plot_events", "'" + dir / "logs" + "' --tags nope -o '" + dir / "x.svg" + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(fs::exists(dir / "x.svg"));
}

}  // namespace
}  // namespace fg::summary
