// tests/unit/test_optimizer.cpp: the optimizer, LR schedule and EMA against things
// that are not shrike:
//  - the optimizer kernels against plain double-precision loops written here;
//  - the `auto` rule, groups and weight-decay scaling against hand-computed cases;
//  - ten SGD / AdamW steps of the tiny model against the PyTorch reference
//    (tests/reference/fixtures/tiny_{sgd,adamw}.expected.h5, make_fixtures.py);
//  - one EMA update against tiny_ema.expected.h5;
//  - the warmup / LR / momentum / accumulate schedule against schedule.json (torch
//    SGD + LambdaLR replaying the 8.3 trainer, schedule_reference.py).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <random>

#include "kernels/optimizer_update.h"
#include "tests/unit/test_support.h"
#include "pipeline/core/error.h"
#include "pipeline/data/hdf5_check.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/train/debug_step.h"
#include "pipeline/train/ema.h"
#include "pipeline/train/lr_schedule.h"
#include "pipeline/train/optimizer.h"

namespace shrike::train {
namespace {

namespace fs = std::filesystem;
using data::H5Handle;
using kernels::UpdateSpan;

double read_double_attribute(hid_t object, const char* name) {
  H5Handle attribute(H5Aopen(object, name, H5P_DEFAULT));
  double value = 0;
  H5_CHECK(H5Aread(attribute, H5T_NATIVE_DOUBLE, &value), std::string("fixture attribute ") + name);
  return value;
}

template <typename A, typename B>
double rel_l2(const A* a, const B* b, std::size_t n) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

std::vector<float> random_floats(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> out(n);
  for (float& x : out) x = normal(rng);
  return out;
}

// ---------------------------------------------------------------- kernels vs double
// Random spans of three groups covering [0, n) in order, some longer than a tile.
std::vector<UpdateSpan> random_spans(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> length(1, 50000);
  std::vector<UpdateSpan> spans;
  for (std::size_t at = 0; at < n;) {
    const std::size_t count = std::min(length(rng), n - at);
    spans.push_back({at, count, static_cast<std::uint32_t>(rng() % 3)});
    at += count;
  }
  return kernels::tile_spans(spans, 4096);
}

std::vector<std::uint32_t> group_per_element(const std::vector<UpdateSpan>& spans, std::size_t n) {
  std::vector<std::uint32_t> group(n, 99);
  for (const UpdateSpan& s : spans) std::fill_n(group.begin() + static_cast<long>(s.offset), s.count, s.group);
  return group;
}

TEST(OptimizerKernels, TilesCoverEverySpanOnce) {
  const std::vector<UpdateSpan> spans = random_spans(300001, 1);
  std::size_t at = 0;
  for (const UpdateSpan& s : spans) {
    EXPECT_EQ(s.offset, at);
    EXPECT_LE(s.count, 4096u);
    at += s.count;
  }
  EXPECT_EQ(at, 300001u);
}

TEST(OptimizerKernels, SgdMatchesDoubleLoopOverSteps) {
  const std::size_t n = 200003;
  const std::vector<UpdateSpan> spans = random_spans(n, 2);
  const std::vector<std::uint32_t> group = group_per_element(spans, n);
  for (bool nesterov : {true, false}) {
    std::vector<float> p = random_floats(n, 3), buf(n, 0.0f);
    std::vector<double> p64(p.begin(), p.end()), buf64(n, 0.0);
    for (int step = 0; step < 4; ++step) {
      const std::vector<float> g = random_floats(n, 10 + step, 0.1f);
      const std::vector<kernels::SgdGroup> groups = {{0.1 - 0.01 * step, 0.8 + 0.03 * step, 0.0},
                                                     {0.01, 0.8 + 0.03 * step, 5e-2},
                                                     {0.02, 0.8 + 0.03 * step, 0.0}};
      kernels::sgd_update_cpu(p.data(), g.data(), buf.data(), spans, groups, nesterov, step == 0);
      for (std::size_t i = 0; i < n; ++i) {  // torch.optim.SGD's definition, in double
        const kernels::SgdGroup& h = groups[group[i]];
        const double grad = g[i] + h.weight_decay * p64[i];
        buf64[i] = step == 0 ? grad : h.momentum * buf64[i] + grad;
        p64[i] -= h.lr * (nesterov ? grad + h.momentum * buf64[i] : buf64[i]);
      }
    }
    EXPECT_LT(rel_l2(buf.data(), buf64.data(), n), 1e-6) << "nesterov " << nesterov;
    EXPECT_LT(rel_l2(p.data(), p64.data(), n), 1e-6) << "nesterov " << nesterov;
  }
}

TEST(OptimizerKernels, AdamAndAdamWMatchDoubleLoopWithBiasCorrection) {
  const std::size_t n = 150001;
  const std::vector<UpdateSpan> spans = random_spans(n, 4);
  const std::vector<std::uint32_t> group = group_per_element(spans, n);
  const std::vector<kernels::AdamGroup> groups = {{1e-3, 0.0}, {2e-3, 0.05}, {5e-4, 0.0}};
  for (bool decoupled : {true, false}) {
    // Small weights, so that rounding p itself (ulp ~1e-9) stays far below the motion (~1e-3).
    std::vector<float> p = random_floats(n, 5, 0.01f), m(n, 0.0f), v(n, 0.0f);
    std::vector<double> p64(p.begin(), p.end()), m64(n, 0.0), v64(n, 0.0), moved(n, 0.0);
    const std::vector<float> p0 = p;
    for (int step = 1; step <= 5; ++step) {
      const std::vector<float> g = random_floats(n, 20 + step, 0.01f);
      kernels::AdamSettings settings{0.937, 0.999, 1e-8, decoupled, step};
      kernels::adam_update_cpu(p.data(), g.data(), m.data(), v.data(), spans, groups, settings);
      for (std::size_t i = 0; i < n; ++i) {  // torch.optim.Adam / AdamW, in double
        const kernels::AdamGroup& h = groups[group[i]];
        double grad = g[i];
        if (decoupled) p64[i] *= 1.0 - h.lr * h.weight_decay;
        else grad += h.weight_decay * p64[i];
        m64[i] = 0.937 * m64[i] + (1 - 0.937) * grad;
        v64[i] = 0.999 * v64[i] + (1 - 0.999) * grad * grad;
        const double m_hat = m64[i] / (1 - std::pow(0.937, step));
        const double v_hat = v64[i] / (1 - std::pow(0.999, step));
        p64[i] -= h.lr * m_hat / (std::sqrt(v_hat) + 1e-8);
      }
    }
    std::vector<double> update(n), update64(n);  // compare the motion, not the (large) values
    for (std::size_t i = 0; i < n; ++i) {
      update[i] = static_cast<double>(p[i]) - p0[i];
      update64[i] = p64[i] - p0[i];
    }
    EXPECT_LT(rel_l2(update.data(), update64.data(), n), 1e-5) << "decoupled " << decoupled;
    EXPECT_LT(rel_l2(m.data(), m64.data(), n), 1e-6);
    EXPECT_LT(rel_l2(v.data(), v64.data(), n), 1e-6);
  }
}

TEST(OptimizerKernels, NormClipAndEmaMatchDouble) {
  const std::size_t n = 3 * 65536 + 17;  // several blocks and a tail
  std::vector<float> x = random_floats(n, 6);
  double exact = 0;
  for (float v : x) exact += static_cast<double>(v) * v;
  EXPECT_NEAR(kernels::sum_squares_cpu(x.data(), n), exact, 1e-12 * exact);

  EXPECT_DOUBLE_EQ(kernels::clip_factor(20.0, 10.0), 10.0 / (20.0 + 1e-6));
  EXPECT_EQ(kernels::clip_factor(5.0, 10.0), 1.0);
  EXPECT_DOUBLE_EQ(kernels::clip_factor(10.0, 10.0), 10.0 / (10.0 + 1e-6));  // just below 1: torch scales too
  std::vector<float> g = {30.0f, 40.0f};  // norm 50 -> scaled to norm ~10
  EXPECT_DOUBLE_EQ(clip_grad_norm(g, 10.0), 50.0);
  EXPECT_FLOAT_EQ(g[0], static_cast<float>(30.0 * 10.0 / (50.0 + 1e-6)));
  std::vector<float> small = {3.0f, 4.0f};  // norm 5: untouched
  EXPECT_DOUBLE_EQ(clip_grad_norm(small, 10.0), 5.0);
  EXPECT_EQ(small[1], 4.0f);

  std::vector<float> ema = random_floats(n, 7), model = random_floats(n, 8);
  std::vector<double> ema64(ema.begin(), ema.end());
  const double d = 0.9999 * (1 - std::exp(-42.0 / 2000));
  kernels::ema_update_cpu(ema.data(), model.data(), n, d);
  for (std::size_t i = 0; i < n; ++i) ema64[i] = d * ema64[i] + (1 - d) * model[i];
  EXPECT_LT(rel_l2(ema.data(), ema64.data(), n), 2e-7);
}

// ---------------------------------------------------------------- settings, groups
OptimizerSettings auto_settings(std::int64_t images, int batch, int epochs, int nc) {
  OptimizerSettings s;
  s.num_train_images = images;
  s.batch = batch;
  s.epochs = epochs;
  s.nc = nc;
  return s;
}

TEST(OptimizerSettings, AutoRuleHandComputed) {
  // coco128, batch 16, 100 epochs: ceil(128 / 64) * 100 = 200 iterations -> AdamW,
  // lr = round(0.01 / 84, 6) = 0.000119 (0.00011904...).
  ResolvedOptimizer r = resolve_optimizer(auto_settings(128, 16, 100, 80));
  EXPECT_EQ(r.kind, OptimizerKind::kAdamW);
  EXPECT_DOUBLE_EQ(r.lr, 0.000119);
  EXPECT_DOUBLE_EQ(r.momentum, 0.9);
  EXPECT_DOUBLE_EQ(r.beta2, 0.999);
  EXPECT_EQ(r.warmup_bias_lr, 0.0);
  EXPECT_DOUBLE_EQ(resolve_optimizer(auto_settings(128, 16, 100, 4)).lr, 0.00125);  // 0.01 / 8
  EXPECT_DOUBLE_EQ(resolve_optimizer(auto_settings(128, 16, 100, 1)).lr, 0.002);    // 0.01 / 5
  EXPECT_DOUBLE_EQ(auto_adamw_lr(20), 0.000417);                                    // 0.01 / 24 = 0.00041666..
  // COCO: ceil(118287 / 64) * 100 = 184,900 iterations -> SGD lr 0.01 momentum 0.9.
  r = resolve_optimizer(auto_settings(118287, 64, 100, 80));
  EXPECT_EQ(r.kind, OptimizerKind::kSgd);
  EXPECT_DOUBLE_EQ(r.lr, 0.01);
  EXPECT_DOUBLE_EQ(r.momentum, 0.9);
  EXPECT_EQ(r.warmup_bias_lr, 0.0);
  // The boundary: 6400 images / max(16, 64) = 100 per epoch; 100 epochs = 10000 (not > 10000).
  EXPECT_EQ(resolve_optimizer(auto_settings(6400, 16, 100, 80)).kind, OptimizerKind::kAdamW);
  EXPECT_EQ(resolve_optimizer(auto_settings(6400, 16, 101, 80)).kind, OptimizerKind::kSgd);
  EXPECT_EQ(resolve_optimizer(auto_settings(6401, 16, 100, 80)).kind, OptimizerKind::kSgd);  // ceil: 101 per epoch
  EXPECT_EQ(resolve_optimizer(auto_settings(6400, 128, 101, 80)).kind, OptimizerKind::kAdamW);  // 50 per epoch
}

TEST(OptimizerSettings, ExplicitChoicesAccumulateAndDecayScaling) {
  OptimizerSettings s;
  s.optimizer = "SGD";
  s.lr0 = 0.02;
  s.momentum = 0.95;
  s.warmup_bias_lr = 0.1;
  ResolvedOptimizer r = resolve_optimizer(s);
  EXPECT_EQ(r.kind, OptimizerKind::kSgd);
  EXPECT_EQ(r.lr, 0.02);
  EXPECT_EQ(r.momentum, 0.95);
  EXPECT_EQ(r.warmup_bias_lr, 0.1);
  EXPECT_EQ(r.accumulate, 4);                // 64 / 16
  EXPECT_DOUBLE_EQ(r.weight_decay, 5e-4);    // 5e-4 * 16 * 4 / 64
  s.optimizer = "AdamW";
  s.batch = 24;                              // 64 / 24 = 2.67 -> 3; 5e-4 * 72 / 64
  r = resolve_optimizer(s);
  EXPECT_EQ(r.kind, OptimizerKind::kAdamW);
  EXPECT_EQ(r.momentum, 0.95);  // beta1
  EXPECT_EQ(r.accumulate, 3);
  EXPECT_DOUBLE_EQ(r.weight_decay, 5.625e-4);
  s.optimizer = "Adam";
  s.batch = 48;  // 1.33 -> 1; 5e-4 * 48 / 64
  r = resolve_optimizer(s);
  EXPECT_EQ(r.kind, OptimizerKind::kAdam);
  EXPECT_EQ(r.accumulate, 1);
  EXPECT_DOUBLE_EQ(r.weight_decay, 3.75e-4);
  s.batch = 128;  // 0.5 -> max(round(0.5), 1) = 1; decay doubles
  r = resolve_optimizer(s);
  EXPECT_EQ(r.accumulate, 1);
  EXPECT_DOUBLE_EQ(r.weight_decay, 1e-3);
  EXPECT_EQ(nominal_accumulate(32, 80), 2);  // 2.5: Python rounds half to even
  EXPECT_EQ(nominal_accumulate(16, 56), 4);  // 3.5 -> 4
}

void expect_user_error(const OptimizerSettings& s, const std::string& fragment) {
  try {
    resolve_optimizer(s);
    ADD_FAILURE() << "no error; expected one mentioning " << fragment;
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(OptimizerSettings, BadSettingsAreUserErrors) {
  OptimizerSettings s;
  s.optimizer = "RMSProp";
  expect_user_error(s, "use one of auto, SGD, Adam, AdamW");
  s.optimizer = "SGD";
  s.lr0 = 0;
  expect_user_error(s, "lr0 = 0 must be > 0");
  s.lr0 = 0.01;
  s.momentum = 1.0;
  expect_user_error(s, "momentum = 1 must be in (0, 1) for SGD");
  s.momentum = 0.937;
  s.weight_decay = -1;
  expect_user_error(s, "weight_decay");
  s.weight_decay = 5e-4;
  s.batch = 0;
  expect_user_error(s, "batch = 0");
  expect_user_error(OptimizerSettings{}, "optimizer=auto needs the training-set size");
}

model::LoadedModel load_tiny() { return model::load_model(test::fixture_path("tiny.weights.h5").string()); }

// build_optimizer's rule, by name and module type: "bias" in the name -> pg0, a
// BatchNorm weight -> pg2, any other weight -> pg1.
int reference_group(const model::TensorEntry& e) {
  if (e.name.find("bias") != std::string::npos) return 0;
  return e.role == model::TensorRole::kNormWeight ? 2 : 1;
}

TEST(Optimizer, GroupsFollowBuildOptimizerAndApplyPerGroupHyper) {
  model::LoadedModel tiny = load_tiny();
  model::ParamStore& store = tiny.model->params();
  ResolvedOptimizer config;  // SGD
  config.lr = 0.01;
  config.momentum = 0.9;
  config.weight_decay = 0.05;
  Optimizer opt(store, config);
  std::size_t counts[3] = {0, 0, 0};
  for (const model::TensorEntry& e : store.entries()) {
    if (model::is_trainable(e.role)) counts[reference_group(e)] += e.numel;
  }
  for (int g = 0; g < 3; ++g) EXPECT_EQ(opt.group_numel(g), counts[g]) << "pg" << g;
  EXPECT_EQ(counts[0] + counts[1] + counts[2], store.trainable_numel());
  opt.set_lr(0, 0.1);
  opt.set_lr(2, 0.001);
  const std::vector<float> before(store.trainable().begin(), store.trainable().end());
  const std::vector<float> grads = random_floats(store.trainable_numel(), 9, 0.01f);
  opt.step(store.trainable(), grads);
  const double lr[3] = {0.1, 0.01, 0.001}, wd[3] = {0, 0.05, 0};
  for (int i = 0; i < static_cast<int>(store.entries().size()); ++i) {  // per tensor, first step: buf = g
    const model::TensorEntry& e = store.entry(i);
    if (!model::is_trainable(e.role)) continue;
    const int g = reference_group(e);
    double worst = 0;
    for (std::size_t k = e.offset; k < e.offset + e.numel; ++k) {
      const double grad = grads[k] + wd[g] * before[k];
      const double expected = before[k] - lr[g] * (grad + 0.9 * grad);
      worst = std::max(worst, std::fabs(store.trainable()[k] - expected) / (std::fabs(expected) + 1e-3));
    }
    EXPECT_LT(worst, 1e-6) << e.name;
  }
  EXPECT_EQ(opt.step_count(), 1);
  EXPECT_EQ(opt.state_names(), std::vector<std::string>{"momentum_buffer"});
  EXPECT_EQ(opt.state("momentum_buffer").size(), store.trainable_numel());
}

// A checkpoint's view: copying the named state and step count into a fresh optimizer
// continues bit for bit; Adam's betas are not scheduled (set_momentum is a no-op).
TEST(Optimizer, StateRoundTripContinuesExactly) {
  model::LoadedModel tiny = load_tiny();
  model::ParamStore& store = tiny.model->params();
  ResolvedOptimizer config;
  config.kind = OptimizerKind::kAdamW;
  Optimizer a(store, config), b(store, config);
  EXPECT_EQ(a.state_names(), (std::vector<std::string>{"exp_avg", "exp_avg_sq"}));
  std::vector<float> pa(store.trainable().begin(), store.trainable().end()), pb = pa;
  for (int step = 0; step < 3; ++step) {
    const std::vector<float> g = random_floats(pa.size(), 30 + step, 0.01f);
    if (step == 2) {  // "resume": b's state into a fresh optimizer
      Optimizer c(store, config);
      for (const std::string& name : b.state_names()) std::ranges::copy(b.state(name), c.state(name).begin());
      c.set_step_count(b.step_count());
      c.set_momentum(0.5);
      c.step(pb, g);
    } else {
      b.step(pb, g);
    }
    a.step(pa, g);
  }
  EXPECT_EQ(pa, pb);
}

// ---------------------------------------------------------------- tiny runs vs PyTorch
struct TinyRun {
  std::vector<std::array<double, 4>> losses;  // [box, cls, dfl, total] per step
  std::vector<double> grad_norms;
  std::vector<float> after_step1, final_state;  // float_state() snapshots
  std::vector<std::int64_t> final_counters;
};

// steps x (zero_grads, forward-backward, clip at 10, step) at a fixed lr, as make_fixtures.py's train_tiny.
TinyRun run_tiny(OptimizerKind kind, double lr, int steps = 10) {
  model::LoadedModel tiny = load_tiny();
  model::ParamStore& store = tiny.model->params();
  const ParityBatch batch = read_parity_batch(test::fixture_path("tiny.batch.h5"));
  ResolvedOptimizer config;
  config.kind = kind;
  config.lr = lr;
  config.momentum = 0.937;
  config.weight_decay = 5e-4;
  Optimizer opt(store, config);
  TinyRun run;
  for (int step = 0; step < steps; ++step) {
    store.zero_grads();
    const StepLoss loss = detect_forward_backward(*tiny.model, batch.images.data(), batch.shape, batch.targets);
    run.losses.push_back({loss.box, loss.cls, loss.dfl, loss.total});
    run.grad_norms.push_back(clip_grad_norm(store.grads(), 10.0));
    opt.step(store);
    if (step == 0) run.after_step1.assign(store.float_state().begin(), store.float_state().end());
  }
  run.final_state.assign(store.float_state().begin(), store.float_state().end());
  run.final_counters.assign(store.counters().begin(), store.counters().end());
  return run;
}

// Worst per-tensor relative L2 of a float_state() snapshot against `/group/<name>`;
// also checks the counters when given.
double worst_state_error(hid_t file, const std::string& group, const model::ParamStore& store,
                         const std::vector<float>& state, const std::vector<std::int64_t>* counters,
                         std::string* worst_name) {
  double worst = 0;
  for (const model::TensorEntry& e : store.entries()) {
    const std::vector<double> ref = test::read_hdf5_doubles(file, group + "/" + e.name);
    if (e.role == model::TensorRole::kCounter) {
      if (counters) {
        EXPECT_EQ((*counters)[e.offset], static_cast<std::int64_t>(ref[0])) << e.name;
      }
      continue;
    }
    EXPECT_EQ(ref.size(), e.numel) << e.name;
    const double error = rel_l2(state.data() + e.offset, ref.data(), e.numel);
    if (error > worst) {
      worst = error;
      *worst_name = e.name;
    }
  }
  return worst;
}

// Everything a tiny run is compared on, printed for the record.
struct TinyErrors {
  std::vector<double> loss;  // per step, relative L2 over [box, cls, dfl, total]
  std::vector<double> norm;  // per step, relative
  double first = 0, last = 0;  // worst per-tensor relative L2 of /after_step1, /final
  std::string first_name, last_name;
};

void print_errors(const char* what, const std::vector<double>& errors) {
  std::printf("%s:", what);
  for (double e : errors) std::printf(" %.1e", e);
  std::printf("\n");
}

TinyErrors compare_tiny(const std::string& expected, const TinyRun& run, const char* label) {
  data::silence_hdf5_error_printing();
  H5Handle file(H5Fopen(test::fixture_path(expected).c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  EXPECT_GE(file.get(), 0) << expected;
  const std::vector<double> losses = test::read_hdf5_doubles(file, "loss_trajectory");  // (10, 4)
  const std::vector<double> norms = test::read_hdf5_doubles(file, "grad_norm_trajectory");
  TinyErrors out;
  for (std::size_t k = 0; k < run.losses.size(); ++k) {
    out.loss.push_back(rel_l2(run.losses[k].data(), losses.data() + 4 * k, 4));
    out.norm.push_back(std::fabs(run.grad_norms[k] - norms[k]) / norms[k]);
  }
  model::LoadedModel tiny = load_tiny();
  const model::ParamStore& store = tiny.model->params();
  out.first = worst_state_error(file, "after_step1", store, run.after_step1, nullptr, &out.first_name);
  out.last = worst_state_error(file, "final", store, run.final_state, &run.final_counters, &out.last_name);
  print_errors((std::string(label) + " loss rel err per step").c_str(), out.loss);
  print_errors((std::string(label) + " grad-norm rel err per step").c_str(), out.norm);
  std::printf("%s state: after step 1 worst %.2e (%s), final worst %.2e (%s)\n", label, out.first,
              out.first_name.c_str(), out.last, out.last_name.c_str());
  return out;
}

TEST(TinyTraining, AdamWTenStepsMatchPyTorch) {
  const TinyErrors errors = compare_tiny("tiny_adamw.expected.h5", run_tiny(OptimizerKind::kAdamW, 0.001), "AdamW");
  // The gradient carries fp32 noise of a few 1e-5 (test_parity) that the steps
  // compound; the gradient norm, a sum over every element, moves most: measured up
  // to 2.3e-4 at step 8 (and the summation order differs between AVX-512 and AVX2
  // builds), hence 1e-3 for the norms and 1e-4 for the losses.
  for (std::size_t k = 0; k < errors.loss.size(); ++k) {
    EXPECT_LT(errors.loss[k], 1e-4) << "step " << k + 1;
    EXPECT_LT(errors.norm[k], 1e-3) << "step " << k + 1;
  }
  EXPECT_LT(errors.first, 1e-4) << errors.first_name;
  EXPECT_LT(errors.last, 1e-3) << errors.last_name;
}

// The 10-step SGD run is chaotic even in float64 (README: 1e-7 weight perturbations
// move the loss ~1e-2 by step 9; fp32 and fp64 assignments part from step 8). The
// gradient norm is more sensitive still: perturbing shrike's own starting weights by
// 1e-7 (relative) moved its step-3 norm by 3e-3 and its step-9 norm by 30 %. So the
// first step's state is held to 1e-4, the first three losses to 3e-4, the norms of steps
// 1, 2, 3 to 1e-4, 1e-3, 3e-2; later losses and norms are only printed (float64
// PyTorch itself drifts 8e-2 from float32 PyTorch by step 10), and /final is held to
// 20 % as a gross-error check (of the momentum rule, say). Weight decay
// (5e-4 at lr 0.01 moves a weight by 5e-6 per step) is invisible at any of these
// bounds: Optimizer.GroupsFollowBuildOptimizerAndApplyPerGroupHyper holds it.
// Measured step-3 loss and step-1..3 norms for three summation orders, all equally
// close to float64 at step 1 (test_parity): NCHW engine 3.0e-5 and 8.8e-6, 6.1e-5,
// 2.7e-3; NHWC 1.2e-4 and 2.4e-5, 1.6e-4, 1.1e-2; NHWC with batch norm and SiLU fused
// (the engine today) 3.3e-5 and 9.9e-6, 6.3e-5, 3.0e-3.
TEST(TinyTraining, SgdFirstStepsMatchPyTorch) {
  const TinyErrors errors = compare_tiny("tiny_sgd.expected.h5", run_tiny(OptimizerKind::kSgd, 0.01), "SGD");
  for (std::size_t k = 0; k < errors.loss.size(); ++k) {
    if (k < 3) {
      EXPECT_LT(errors.loss[k], 3e-4) << "step " << k + 1;
    }
  }
  EXPECT_LT(errors.norm[0], 1e-4);
  EXPECT_LT(errors.norm[1], 1e-3);
  EXPECT_LT(errors.norm[2], 3e-2);
  EXPECT_LT(errors.first, 1e-4) << errors.first_name;
  EXPECT_LT(errors.last, 0.2) << errors.last_name;
}

// ---------------------------------------------------------------- EMA vs PyTorch
// Reads `/group/<name>` into a float_state() / counters() layout.
void read_state(hid_t file, const std::string& group, const model::ParamStore& store, std::span<float> floats,
                std::span<std::int64_t> counters) {
  for (const model::TensorEntry& e : store.entries()) {
    const std::vector<double> ref = test::read_hdf5_doubles(file, group + "/" + e.name);
    ASSERT_EQ(ref.size(), e.numel) << e.name;
    for (std::size_t k = 0; k < e.numel; ++k) {
      if (e.role == model::TensorRole::kCounter) counters[e.offset + k] = static_cast<std::int64_t>(ref[k]);
      else floats[e.offset + k] = static_cast<float>(ref[k]);
    }
  }
}

TEST(ModelEma, OneUpdateMatchesPyTorchToRounding) {
  model::LoadedModel tiny = load_tiny();
  model::ParamStore& store = tiny.model->params();
  data::silence_hdf5_error_printing();
  H5Handle file(H5Fopen(test::fixture_path("tiny_ema.expected.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_GE(file.get(), 0);
  read_state(file, "model", store, store.float_state(), store.counters());
  ModelEma ema(store, data::read_int_attribute(file, "updates_before", "fixture"));
  EXPECT_EQ(ema.counters()[0], store.counters()[0]);  // copied at construction
  read_state(file, "ema_before", store, ema.float_state(), ema.counters());
  const double d = ema.update(store);
  EXPECT_EQ(ema.updates(), data::read_int_attribute(file, "updates_after", "fixture"));
  EXPECT_NEAR(d, read_double_attribute(file, "decay"), 1e-15);
  std::vector<float> expected(ema.float_state().size());
  std::vector<std::int64_t> expected_counters(ema.counters().size());
  read_state(file, "ema_after", store, expected, expected_counters);
  EXPECT_EQ(std::vector<std::int64_t>(ema.counters().begin(), ema.counters().end()), expected_counters);
  double worst = 0;
  std::size_t exact = 0;
  for (const model::TensorEntry& e : store.entries()) {
    if (e.role == model::TensorRole::kCounter) continue;
    const double error = rel_l2(ema.float_state().data() + e.offset, expected.data() + e.offset, e.numel);
    EXPECT_LT(error, 1e-6) << e.name;
    worst = std::max(worst, error);
    for (std::size_t k = e.offset; k < e.offset + e.numel; ++k) exact += ema.float_state()[k] == expected[k];
  }
  std::printf("EMA: worst per-tensor rel L2 %.2e; %zu of %zu values bit-identical\n", worst, exact, expected.size());
}

// ---------------------------------------------------------------- schedule vs torch replay
ScheduleSettings schedule_settings(const nlohmann::json& j) {
  ScheduleSettings s;
  s.epochs = j.at("epochs");
  s.batches_per_epoch = j.at("batches_per_epoch");
  s.batch = j.at("batch");
  s.nbs = j.at("nbs");
  s.lr0 = j.at("lr0");
  s.lrf = j.at("lrf");
  s.cos_lr = j.at("cos_lr");
  s.warmup_epochs = j.at("warmup_epochs");
  s.warmup_bias_lr = j.at("warmup_bias_lr");
  s.warmup_momentum = j.at("warmup_momentum");
  s.momentum = s.optimizer_momentum = j.at("momentum");
  return s;
}

void expect_close(double ours, double ref, const std::string& what) {
  EXPECT_NEAR(ours, ref, 1e-12 * std::max(1.0, std::fabs(ref))) << what;
}

TEST(LrSchedule, ReproducesTheTrainerReplay) {
  std::ifstream in(test::fixture_path("schedule.json"));
  const nlohmann::json doc = nlohmann::json::parse(in);
  int runs = 0;
  for (const auto& [name, run] : doc.at("runs").items()) {
    const ScheduleSettings s = schedule_settings(run.at("settings"));
    EXPECT_EQ(warmup_iterations(s), run.at("settings").at("warmup_iterations").get<std::int64_t>()) << name;
    const double wd = scaled_weight_decay(run.at("settings").at("weight_decay"), s.batch,
                                          nominal_accumulate(s.batch, s.nbs), s.nbs);
    expect_close(wd, run.at("settings").at("weight_decay_scaled"), name + " weight decay");
    OptimizerStepGate gate;
    for (const nlohmann::json& it : run.at("iterations")) {
      const std::int64_t ni = it.at("ni");
      const int epoch = it.at("epoch");
      const std::string where = name + " ni " + std::to_string(ni);
      EXPECT_EQ(last_optimizer_step_before(ni, s), gate.last_opt_step()) << where;
      const SchedulePoint p = schedule_at(ni, epoch, s);
      expect_close(p.lr[0], it.at("lr_pg0"), where + " lr pg0");
      expect_close(p.lr[1], it.at("lr_pg1"), where + " lr pg1");
      expect_close(p.lr[2], it.at("lr_pg2"), where + " lr pg2");
      expect_close(p.momentum, it.at("momentum"), where + " momentum");
      EXPECT_EQ(p.accumulate, it.at("accumulate").get<int>()) << where;
      EXPECT_EQ(gate.after_iteration(ni, p.accumulate), it.at("optimizer_step").get<bool>()) << where;
    }
    for (const nlohmann::json& e : run.at("epochs")) {
      const int epoch = e.at("epoch");
      const std::string where = name + " epoch " + std::to_string(epoch);
      expect_close(lr_factor(epoch, s), e.at("lf"), where + " lf");
      for (int g = 0; g < 3; ++g) expect_close(s.lr0 * lr_factor(epoch, s), e.at("lr_at_epoch_start")[g], where);
      const SchedulePoint last = schedule_at(s.batches_per_epoch * (epoch + 1) - 1, epoch, s);
      for (int g = 0; g < 3; ++g) {
        expect_close(last.lr[static_cast<std::size_t>(g)], e.at("logged_lr_at_epoch_end")[g], where + " logged");
      }
    }
    ++runs;
  }
  EXPECT_EQ(runs, 4);
}

TEST(LrSchedule, NoWarmupKeepsTheOptimizerMomentum) {
  ScheduleSettings s;
  s.warmup_epochs = 0;
  s.optimizer_momentum = 0.9;  // optimizer=auto's SGD
  EXPECT_EQ(warmup_iterations(s), -1);
  const SchedulePoint p = schedule_at(0, 0, s);
  EXPECT_FALSE(p.warming_up);
  EXPECT_EQ(p.momentum, 0.9);
  EXPECT_EQ(p.accumulate, 4);
  EXPECT_DOUBLE_EQ(p.lr[0], s.lr0);
}

}  // namespace
}  // namespace shrike::train
