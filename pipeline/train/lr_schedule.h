// pipeline/train/lr_schedule.h
//
// The Ultralytics 8.3 trainer's learning-rate schedule as pure functions of
// (iteration, epoch, settings), so a resumed run recomputes exactly what the
// uninterrupted one had (spec § 3 "Training loop"; fixture tests/reference/fixtures/
// schedule.json, replayed by schedule_reference.py with torch SGD + LambdaLR):
//  - per epoch, every group's lr is lr0 * lf(epoch), lf linear or cosine;
//  - warmup over iterations ni in [0, nw] (8.3: `ni <= nw`), nw =
//    max(round(warmup_epochs * batches_per_epoch), 100): accumulate from 1 to
//    nbs / batch, pg0 (biases) lr from warmup_bias_lr and pg1 / pg2 from 0 to
//    lr0 * lf(epoch), SGD momentum from warmup_momentum to momentum, each as
//    np.interp does it; after warmup the values reached at ni = nw stay;
//  - the optimizer steps after iteration ni when ni - last_opt_step >= accumulate.
// The last rule depends on the history; OptimizerStepGate keeps it for the loop and
// last_optimizer_step_before() recomputes it from nothing for a resumed run.
#pragma once

#include <array>
#include <cstdint>

namespace shrike::train {

struct ScheduleSettings {
  int epochs = 100;
  std::int64_t batches_per_epoch = 1;  // nb, per rank = per global batch
  int batch = 16;                      // global batch
  int nbs = 64;                        // nominal batch size
  double lr0 = 0.01;                   // the optimizer's initial lr (optimizer=auto: the fitted one)
  double lrf = 0.01;
  bool cos_lr = false;
  double warmup_epochs = 3.0;
  double warmup_bias_lr = 0.1;         // 0 when optimizer=auto resolved it so
  double warmup_momentum = 0.8;
  double momentum = 0.937;             // the `momentum` key: where the warmup takes SGD momentum
  double optimizer_momentum = 0.937;   // the momentum the optimizer was built with (auto: 0.9),
                                       // in force when there is no warmup at all
};

// What one iteration trains with.
struct SchedulePoint {
  std::array<double, 3> lr{};  // pg0 (biases), pg1 (decayed weights), pg2 (BN weights)
  double momentum = 0;         // SGD momentum (Adam-family betas are not scheduled)
  int accumulate = 1;          // iterations per optimizer step
  bool warming_up = false;     // ni <= nw
};

// lf(epoch): linear max(1 - e/E, 0) * (1 - lrf) + lrf, or cosine
// max((1 - cos(e*pi/E)) / 2, 0) * (lrf - 1) + 1.
double lr_factor(int epoch, const ScheduleSettings& s);

// nw = max(round(warmup_epochs * batches_per_epoch), 100), or -1 when warmup_epochs <= 0.
std::int64_t warmup_iterations(const ScheduleSettings& s);

// accumulate outside the warmup: max(round(nbs / batch), 1) (round half to even).
int nominal_accumulate(int batch, int nbs);

// The lrs, momentum and accumulate in force for iteration ni (ni = i + nb * epoch).
SchedulePoint schedule_at(std::int64_t ni, int epoch, const ScheduleSettings& s);

// np.interp(x, [0, x1], [y0, y1]) for 0 <= x, with numpy's arithmetic (exact ends).
double interp_from_zero(double x, double x1, double y0, double y1);

// Whether the optimizer steps after iteration ni: ni - last_opt_step >= accumulate.
bool optimizer_steps(std::int64_t ni, std::int64_t last_opt_step, int accumulate);

// The loop's step rule with its one piece of history.
class OptimizerStepGate {
 public:
  explicit OptimizerStepGate(std::int64_t last_opt_step = -1) : last_opt_step_(last_opt_step) {}
  // True when the optimizer steps after iteration ni (and remembers it).
  bool after_iteration(std::int64_t ni, int accumulate);
  std::int64_t last_opt_step() const { return last_opt_step_; }

 private:
  std::int64_t last_opt_step_;
};

// last_opt_step as an uninterrupted run has it when iteration ni is about to run:
// replays the rule over [0, ni) (integers only; cheap). A resumed run starts its gate
// from this, so it steps where the uninterrupted run did (the reference restarts at -1
// and steps on the first resumed batch).
std::int64_t last_optimizer_step_before(std::int64_t ni, const ScheduleSettings& s);

}  // namespace shrike::train
