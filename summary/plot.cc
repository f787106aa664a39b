#include "summary/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>

#include "core/errors.h"

namespace fg::summary {

namespace {

// Paul Tol's "bright" scheme: distinct for the colour-blind too.
constexpr const char* kColors[] = {"#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#555555"};

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20) out += c;  // XML 1.0 allows no other controls
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) v = 0;
  char buf[32];
  if (std::abs(v) >= 1e5 || (v != 0 && std::abs(v) < 1e-3)) std::snprintf(buf, sizeof buf, "%.3g", v);
  else {
    const int decimals = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

// Round tick positions (1, 2 or 5 times a power of ten) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target, double* step_out) {
  const double raw = (hi - lo) / std::max(target, 1);
  if (!(raw > 0) || !std::isfinite(raw)) {
    *step_out = 1;
    return {lo};
  }
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  // Counted, not accumulated: where the range is tiny next to the values, adding a step to a
  // tick could leave it unchanged.
  std::vector<double> ticks;
  const double first = std::ceil(lo / step - 1e-9) * step;
  for (int k = 0; k <= 4 * target + 4; ++k) {
    const double t = first + k * step;
    if (t > hi + step * 1e-9) break;
    if (ticks.empty() || t != ticks.back()) ticks.push_back(t);
  }
  *step_out = step;
  return ticks;
}

}  // namespace

std::string plot_scalars_svg(const std::vector<ScalarRun>& runs, const PlotOptions& options) {
  std::vector<std::string> tags = options.tags;
  if (tags.empty()) {
    std::set<std::string> all;
    for (const ScalarRun& r : runs)
      for (const auto& [tag, points] : r.scalars) all.insert(tag);
    tags.assign(all.begin(), all.end());
  }
  std::vector<std::string> drawn;
  for (const auto& tag : tags)
    for (const ScalarRun& r : runs)
      if (r.scalars.count(tag) && !r.scalars.at(tag).empty()) {
        drawn.push_back(tag);
        break;
      }
  if (drawn.empty()) {
    std::string wanted;
    for (const auto& t : tags) wanted += (wanted.empty() ? "" : ", ") + t;
    throw InvalidArgument(str_cat("plot: no run has scalars", tags.empty() ? "" : " for " + wanted));
  }

  const int width = std::max(options.width, 300), panel_h = std::max(options.panel_height, 120);
  const int left = 72, right = 24, top_pad = 34, bottom_pad = 46;
  const int legend_rows = static_cast<int>((runs.size() + 2) / 3);
  const int header = (options.title.empty() ? 10 : 34) + 20 * legend_rows + 6;
  const int height = header + panel_h * static_cast<int>(drawn.size());
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"Helvetica, Arial, sans-serif\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  int y0 = 10;
  if (!options.title.empty()) {
    svg << "<text x=\"" << width / 2 << "\" y=\"26\" font-size=\"16\" text-anchor=\"middle\">"
        << escape_xml(options.title) << "</text>\n";
    y0 = 34;
  }
  // The legend: runs in three columns.
  for (size_t i = 0; i < runs.size(); ++i) {
    const int x = left + static_cast<int>(i % 3) * ((width - left - right) / 3);
    const int y = y0 + 20 * static_cast<int>(i / 3) + 12;
    const char* color = kColors[i % std::size(kColors)];
    svg << "<g class=\"legend\"><line x1=\"" << x << "\" y1=\"" << y - 4 << "\" x2=\"" << x + 22 << "\" y2=\"" << y - 4
        << "\" stroke=\"" << color << "\" stroke-width=\"2.5\"/><text x=\"" << x + 28 << "\" y=\"" << y
        << "\" font-size=\"12\">" << escape_xml(runs[i].name) << "</text></g>\n";
  }

  for (size_t p = 0; p < drawn.size(); ++p) {
    const std::string& tag = drawn[p];
    const int top = header + static_cast<int>(p) * panel_h + top_pad;
    const int plot_h = panel_h - top_pad - bottom_pad, plot_w = width - left - right;
    double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
    for (const ScalarRun& r : runs) {
      auto it = r.scalars.find(tag);
      if (it == r.scalars.end()) continue;
      for (const ScalarPoint& pt : it->second) {
        if (!std::isfinite(pt.value)) continue;
        xmin = std::min(xmin, static_cast<double>(pt.step));
        xmax = std::max(xmax, static_cast<double>(pt.step));
        ymin = std::min(ymin, pt.value);
        ymax = std::max(ymax, pt.value);
      }
    }
    if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;  // only non-finite values
    if (xmax == xmin) xmin -= 0.5, xmax += 0.5;
    if (ymax == ymin) {
      const double pad = std::max(std::abs(ymin) * 0.05, 0.5);
      ymin -= pad;
      ymax += pad;
    } else {
      const double pad = (ymax - ymin) * 0.05;
      ymin -= pad;
      ymax += pad;
    }
    auto px = [&](double x) { return left + (x - xmin) / (xmax - xmin) * plot_w; };
    auto py = [&](double y) { return top + plot_h - (y - ymin) / (ymax - ymin) * plot_h; };

    svg << "<g class=\"panel\" id=\"" << escape_xml("panel-" + tag) << "\">\n"
        << "<text x=\"" << left << "\" y=\"" << top - 12 << "\" font-size=\"14\" font-weight=\"bold\">"
        << escape_xml(tag) << "</text>\n";
    double xstep, ystep;
    for (double t : nice_ticks(ymin, ymax, 5, &ystep))
      svg << "<line x1=\"" << left << "\" y1=\"" << num(py(t)) << "\" x2=\"" << left + plot_w << "\" y2=\""
          << num(py(t)) << "\" stroke=\"#e5e5e5\"/><text x=\"" << left - 6 << "\" y=\"" << num(py(t) + 4)
          << "\" font-size=\"11\" text-anchor=\"end\">" << tick_label(t, ystep) << "</text>\n";
    for (double t : nice_ticks(xmin, xmax, 6, &xstep)) {
      if (xstep < 1 && std::abs(t - std::round(t)) > 1e-9) continue;  // steps are integers
      svg << "<line x1=\"" << num(px(t)) << "\" y1=\"" << top << "\" x2=\"" << num(px(t)) << "\" y2=\""
          << top + plot_h << "\" stroke=\"#f0f0f0\"/><text x=\"" << num(px(t)) << "\" y=\"" << top + plot_h + 16
          << "\" font-size=\"11\" text-anchor=\"middle\">" << tick_label(t, std::max(xstep, 1.0)) << "</text>\n";
    }
    svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_w << "\" height=\"" << plot_h
        << "\" fill=\"none\" stroke=\"#888888\"/>\n"
        << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << top + plot_h + 34
        << "\" font-size=\"12\" text-anchor=\"middle\">step</text>\n";
    for (size_t i = 0; i < runs.size(); ++i) {
      auto it = runs[i].scalars.find(tag);
      if (it == runs[i].scalars.end() || it->second.empty()) continue;
      const char* color = kColors[i % std::size(kColors)];
      // One polyline per stretch of finite values.
      std::vector<std::vector<const ScalarPoint*>> pieces(1);
      for (const ScalarPoint& pt : it->second) {
        if (std::isfinite(pt.value)) pieces.back().push_back(&pt);
        else if (!pieces.back().empty()) pieces.emplace_back();
      }
      for (const auto& piece : pieces) {
        if (piece.empty()) continue;
        svg << "<polyline class=\"run\" data-run=\"" << escape_xml(runs[i].name) << "\" fill=\"none\" stroke=\"" << color
            << "\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"";
        for (size_t k = 0; k < piece.size(); ++k)
          svg << (k ? " " : "") << num(px(static_cast<double>(piece[k]->step))) << "," << num(py(piece[k]->value));
        svg << "\"/>\n";
      }
      if (it->second.size() <= 40)
        for (const ScalarPoint& pt : it->second)
          if (std::isfinite(pt.value))
            svg << "<circle cx=\"" << num(px(static_cast<double>(pt.step))) << "\" cy=\"" << num(py(pt.value))
                << "\" r=\"2.5\" fill=\"" << color << "\"/>\n";
    }
    svg << "</g>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace fg::summary
