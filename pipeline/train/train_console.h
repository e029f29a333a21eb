// pipeline/train/train_console.h
//
// What the user watches in the terminal, in the reference's format: the per-iteration
// line "Epoch  mem  box_loss  cls_loss  dfl_loss  Instances  Size" with running mean
// losses, a progress bar and images/s (redrawn on a terminal; a plain line every few
// seconds otherwise, for logs and Slurm output files), and the validation header.
// Every line but the redrawn bar also goes to the log sink (the run folder's
// train.log); lines printed before the sink exists are kept and written when it is set.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace shrike::train {

class TrainConsole {
 public:
  explicit TrainConsole(std::FILE* stream = stdout);
  // Ranks other than 0 of a data-parallel job print nothing.
  void set_silent(bool silent) { silent_ = silent; }

  static std::string header();
  // Called after each iteration; draws when it is time.
  void progress(int epoch, int epochs, std::size_t batch, std::size_t batches, const double losses[3],
                std::size_t instances, int imgsz, double images_per_second);
  // Ends the epoch's line (prints the final state of the bar).
  void end_epoch();
  void line(const std::string& text);  // any other line (keeps the bar tidy)
  // Where the lines are also logged (train.log); flushes the lines kept so far.
  void set_log_sink(std::function<void(std::string_view)> sink);

  // Resident memory of this process in GB (the reference's GPU_mem column on CPU).
  static double resident_gb();

 private:
  std::FILE* stream_;
  bool terminal_;
  bool drawn_ = false;
  bool silent_ = false;
  std::string last_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::function<void(std::string_view)> log_sink_;
  std::vector<std::string> unlogged_;  // lines from before the sink was set
  void log(const std::string& text);
};

}  // namespace shrike::train
