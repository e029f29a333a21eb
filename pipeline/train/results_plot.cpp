// pipeline/train/results_plot.cpp: SVG line charts of results.csv (see results_plot.h).
#include "pipeline/train/results_plot.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "pipeline/core/atomic_file.h"

namespace shrike::train {

namespace {

// Pixel geometry of one chart cell and of its plot area inside it.
constexpr double kCellWidth = 260, kCellHeight = 200;
constexpr double kMarginLeft = 56, kMarginRight = 12, kMarginTop = 26, kMarginBottom = 38;
constexpr double kLegendRowHeight = 22;

// matplotlib's tab10, the colours of the reference's plots.
constexpr std::array<std::string_view, 10> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string_view series_colour(std::size_t index) { return kPalette[index % kPalette.size()]; }

std::string escape_xml(std::string_view text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

bool is_drawable(const PlotPoint& point) { return point.y && std::isfinite(*point.y) && std::isfinite(point.x); }

struct Range {
  double low = 0, high = 0;
  bool empty = true;
  void include(double value) {
    low = empty ? value : std::min(low, value);
    high = empty ? value : std::max(high, value);
    empty = false;
  }
};

// A tick spacing of 1, 2 or 5 times a power of ten giving about `target` intervals.
double nice_step(double span, int target) {
  double raw = span / target;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double residual = raw / magnitude;
  double nice = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10;
  return nice * magnitude;
}

struct Axis {
  double low = 0, high = 1, step = 0.2;
  std::vector<double> ticks() const {
    std::vector<double> values;
    for (double tick = low; tick <= high + step * 1e-6; tick += step) values.push_back(std::round(tick / step) * step);
    return values;
  }
};

// Axis limits snapped to tick multiples; a degenerate range is widened around its value.
Axis nice_axis(Range range, bool integer_ticks) {
  if (range.empty) range = {0, 1, false};
  if (range.high - range.low < 1e-12 * std::max(1.0, std::abs(range.high))) {
    double pad = integer_ticks ? 1 : (range.high == 0 ? 1 : std::abs(range.high) * 0.1);
    range.low -= pad;
    range.high += pad;
  }
  double step = nice_step(range.high - range.low, 4);
  if (integer_ticks) step = std::max(1.0, std::round(step));
  return Axis{std::floor(range.low / step) * step, std::ceil(range.high / step) * step, step};
}

std::string format_tick(double value) { return fmt::format("{:g}", std::abs(value) < 1e-15 ? 0.0 : value); }

// Maps data coordinates into one chart's plot area.
struct Frame {
  double left, top, width, height;
  Axis x, y;
  double px(double value) const { return left + (value - x.low) / (x.high - x.low) * width; }
  double py(double value) const { return top + height - (value - y.low) / (y.high - y.low) * height; }
};

Frame chart_frame(const PlotChart& chart, double origin_x, double origin_y) {
  Range xs, ys;
  for (const PlotSeries& series : chart.series) {
    for (const PlotPoint& point : series.points) {
      if (!is_drawable(point)) continue;
      xs.include(point.x);
      ys.include(*point.y);
    }
  }
  return Frame{origin_x + kMarginLeft, origin_y + kMarginTop, kCellWidth - kMarginLeft - kMarginRight,
               kCellHeight - kMarginTop - kMarginBottom, nice_axis(xs, true), nice_axis(ys, false)};
}

void draw_axes(std::string& svg, const Frame& frame, const PlotChart& chart) {
  double bottom = frame.top + frame.height, right = frame.left + frame.width;
  for (double tick : frame.y.ticks()) {
    double y = frame.py(tick);
    svg += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#e6e6e6"/>)" "\n",
                       frame.left, y, right, y);
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="end" font-size="9">{}</text>)" "\n",
                       frame.left - 4, y + 3, escape_xml(format_tick(tick)));
  }
  for (double tick : frame.x.ticks()) {
    double x = frame.px(tick);
    svg += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#333"/>)" "\n",
                       x, bottom, x, bottom + 4);
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="9">{}</text>)" "\n",
                       x, bottom + 14, escape_xml(format_tick(tick)));
  }
  svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="none" stroke="#333"/>)" "\n",
                     frame.left, frame.top, frame.width, frame.height);
  svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="11">{}</text>)" "\n",
                     frame.left + frame.width / 2, frame.top - 8, escape_xml(chart.title));
  svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="9" fill="#555">{}</text>)" "\n",
                     frame.left + frame.width / 2, bottom + 28, escape_xml(chart.x_label));
}

// Polylines between gaps, and a dot on every point (a lone point stays visible).
void draw_series(std::string& svg, const Frame& frame, const PlotSeries& series, std::string_view colour) {
  std::vector<std::string> runs(1);
  for (const PlotPoint& point : series.points) {
    if (!is_drawable(point)) {
      if (!runs.back().empty()) runs.emplace_back();
      continue;
    }
    runs.back() += fmt::format("{:.1f},{:.1f} ", frame.px(point.x), frame.py(*point.y));
    svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="2" fill="{}"/>)" "\n", frame.px(point.x),
                       frame.py(*point.y), colour);
  }
  for (const std::string& run : runs) {
    if (run.empty()) continue;
    svg += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>)" "\n", run, colour);
  }
}

bool chart_has_data(const PlotChart& chart) {
  return std::any_of(chart.series.begin(), chart.series.end(), [](const PlotSeries& series) {
    return std::any_of(series.points.begin(), series.points.end(), is_drawable);
  });
}

void draw_chart(std::string& svg, const PlotChart& chart, double origin_x, double origin_y) {
  Frame frame = chart_frame(chart, origin_x, origin_y);
  draw_axes(svg, frame, chart);
  if (!chart_has_data(chart)) {
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="10" fill="#999">no data</text>)"
                       "\n", frame.left + frame.width / 2, frame.top + frame.height / 2);
    return;
  }
  for (std::size_t i = 0; i < chart.series.size(); ++i) draw_series(svg, frame, chart.series[i], series_colour(i));
}

// The legend's labels: those of the chart with the most series.
std::vector<std::string> legend_labels(const std::vector<PlotChart>& charts) {
  std::vector<std::string> labels;
  for (const PlotChart& chart : charts) {
    if (chart.series.size() <= labels.size()) continue;
    labels.clear();
    for (const PlotSeries& series : chart.series) labels.push_back(series.label);
  }
  return labels.size() > 1 ? labels : std::vector<std::string>{};
}

void draw_legend(std::string& svg, const std::vector<std::string>& labels) {
  double x = 12;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    svg += fmt::format(R"(<rect x="{:.1f}" y="6" width="12" height="10" fill="{}"/>)" "\n", x, series_colour(i));
    svg += fmt::format(R"(<text x="{:.1f}" y="15" font-size="11">{}</text>)" "\n", x + 16, escape_xml(labels[i]));
    x += 28 + 7.0 * static_cast<double>(labels[i].size());
  }
}

PlotSeries results_column_series(const LabelledResults& run, std::size_t column) {
  PlotSeries series{run.label, {}};
  for (const ResultsRow& row : run.rows) series.points.push_back({double(row.epoch), results_row_cells(row)[column]});
  return series;
}

}  // namespace

std::string render_chart_grid_svg(const std::vector<PlotChart>& charts, int columns) {
  columns = std::max(1, columns);
  std::size_t rows = (charts.size() + columns - 1) / columns;
  std::vector<std::string> labels = legend_labels(charts);
  double legend_height = labels.empty() ? 0 : kLegendRowHeight;
  double width = kCellWidth * columns, height = legend_height + kCellHeight * std::max<std::size_t>(rows, 1);
  std::string svg = fmt::format(
      R"(<?xml version="1.0" encoding="UTF-8"?>)" "\n"
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0:.0f}" height="{1:.0f}" viewBox="0 0 {0:.0f} {1:.0f}" )"
      R"(font-family="sans-serif">)" "\n"
      R"(<rect width="100%" height="100%" fill="white"/>)" "\n",
      width, height);
  draw_legend(svg, labels);
  for (std::size_t i = 0; i < charts.size(); ++i) {
    double origin_x = kCellWidth * static_cast<double>(i % columns);
    double origin_y = legend_height + kCellHeight * static_cast<double>(i / columns);
    draw_chart(svg, charts[i], origin_x, origin_y);
  }
  return svg + "</svg>\n";
}

std::vector<PlotChart> results_charts(const std::vector<LabelledResults>& runs) {
  // Column indices into kResultsColumns, in the reference's panel order plus the learning rates.
  constexpr std::array<std::size_t, 13> kChartColumns = {2, 3, 4, 5, 6, 9, 10, 11, 7, 8, 12, 13, 14};
  std::vector<PlotChart> charts;
  for (std::size_t column : kChartColumns) {
    PlotChart chart{std::string(kResultsColumns[column]), "epoch", {}};
    for (const LabelledResults& run : runs) chart.series.push_back(results_column_series(run, column));
    charts.push_back(std::move(chart));
  }
  return charts;
}

void write_results_svg(const std::filesystem::path& path, const std::vector<LabelledResults>& runs) {
  write_file_atomically(path, render_chart_grid_svg(results_charts(runs), 5));
}

void write_results_svg(const std::filesystem::path& path, const std::vector<ResultsRow>& rows) {
  write_results_svg(path, std::vector<LabelledResults>{{"results", rows}});
}

}  // namespace shrike::train
