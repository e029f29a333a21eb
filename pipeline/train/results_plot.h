// pipeline/train/results_plot.h
//
// results.svg: the counterpart of the reference's results.png, a grid of small line
// charts of results.csv (train and val box/cls/dfl losses, precision, recall, mAP50,
// mAP50-95, and the three learning rates) against the epoch. SVG because it needs no
// plotting or image library, any browser shows it, and it stays sharp when zoomed.
//
// The charts take several series each, so `shrike compare --plot` overlays runs with
// the same code (one colour per run, a legend on top). Missing values (validation
// cells of val=False epochs, NaN) break a line rather than drop to zero; a single
// point is drawn as a dot.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/train/run_folder.h"

namespace shrike::train {

struct PlotPoint {
  double x = 0;
  std::optional<double> y;  // nullopt (or a non-finite value): a gap in the line
};

struct PlotSeries {
  std::string label;  // the legend entry (a run name); may be empty for a lone series
  std::vector<PlotPoint> points;
};

struct PlotChart {
  std::string title;               // "train/box_loss"
  std::string x_label = "epoch";
  std::vector<PlotSeries> series;  // drawn in order; series i gets colour i of the palette
};

// One SVG document: `charts` in rows of `columns`, each with axes, ticks and tick
// labels; a legend of the series labels when any chart has more than one series.
std::string render_chart_grid_svg(const std::vector<PlotChart>& charts, int columns);

// A run's results, labelled for the legend.
struct LabelledResults {
  std::string label;
  std::vector<ResultsRow> rows;
};

// The 13 results charts (reference order: train losses, precision, recall; val losses,
// mAP50, mAP50-95; then lr/pg0..2), one series per run.
std::vector<PlotChart> results_charts(const std::vector<LabelledResults>& runs);

// Writes results.svg (atomically) for one run, or for several runs overlaid.
void write_results_svg(const std::filesystem::path& path, const std::vector<ResultsRow>& rows);
void write_results_svg(const std::filesystem::path& path, const std::vector<LabelledResults>& runs);

}  // namespace shrike::train
