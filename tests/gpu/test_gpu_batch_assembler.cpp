// tests/gpu/test_gpu_batch_assembler.cpp: the GPU data path end to end. On shards of a
// `shrike synth` dataset, batches of training recipes (make_train_recipe, and a
// TrainLoader with recipes_only) go through GpuBatchAssembler; every batch's device
// pixels must equal execute_recipe_cpu of its recipes byte for byte (tolerance: none),
// under mosaic on and off, mixup, rotation, shear, perspective, load-time resizing, HSV
// and flips, for more batches than the staging ring has slots (slot reuse). A recipe of
// the wrong size must be refused. Needs the full build (pipeline/data); without a CUDA
// device it prints "SKIPPED: ..." and exits 77.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/cuda_check.h"
#include "pipeline/core/error.h"
#include "pipeline/data/augment.h"
#include "pipeline/data/batch_loader.h"
#include "pipeline/data/gpu_augment.h"
#include "pipeline/data/shard_build.h"
#include "pipeline/data/shard_reader.h"
#include "pipeline/data/synth_dataset.h"
#include "tests/gpu/gpu_test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace shrike;
using gpu_test::Report;
using Bytes = std::vector<std::uint8_t>;

// A fresh folder under the temporary directory, removed at exit.
struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "shrike-gpu-augment-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern + " failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

// 24 synthetic train images, sharded at 128 pixels.
fs::path make_shards(const fs::path& dir) {
  data::SynthOptions synth;
  synth.out = dir / "synth";
  synth.train = 24;
  synth.val = 0;
  synth.classes = 3;
  synth.seed = 5;
  synth.threads = 2;
  synth.progress = false;
  data::write_synthetic_dataset(synth);
  data::ShardOptions shard;
  shard.data_yaml = synth.out / "data.yaml";
  shard.out = dir / "shards";
  shard.imgsz = 128;
  shard.splits = {"train"};
  shard.threads = 2;
  shard.progress = false;
  data::build_shards(shard);
  return shard.out;
}

Bytes download(const std::uint8_t* device, std::size_t bytes, cudaStream_t stream) {
  Bytes host(bytes);
  CUDA_CHECK(cudaMemcpyAsync(host.data(), device, bytes, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

std::size_t count_mismatches(const Bytes& got, const Bytes& expected) {
  if (got.size() != expected.size()) return std::max(got.size(), expected.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < got.size(); ++i) n += got[i] != expected[i];
  return n;
}

// The batch's device pixels against execute_recipe_cpu of each recipe.
void compare_batch(Report& report, const std::string& name, const Bytes& got,
                   const std::vector<data::TrainRecipe>& recipes) {
  Bytes expected;
  for (const data::TrainRecipe& r : recipes) {
    const data::TrainSample sample = data::execute_recipe_cpu(r);
    expected.insert(expected.end(), sample.pixels.begin(), sample.pixels.end());
  }
  const std::size_t mismatches = count_mismatches(got, expected);
  report.check(name, mismatches == 0, std::to_string(mismatches) + " of " + std::to_string(expected.size()) +
                                          " bytes differ");
}

struct Case {
  std::string name;
  data::AugmentSettings settings;
  bool mosaic_allowed;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  data::AugmentSettings a;
  a.imgsz = 128;
  out.push_back({"defaults", a, true});
  a.degrees = 30, a.shear = 8, a.perspective = 0.0008, a.translate = 0.25, a.scale = 0.8, a.flipud = 0.5;
  a.mixup = 0.7;
  out.push_back({"strong + mixup", a, true});
  out.push_back({"strong, mosaic closed", a, false});
  data::AugmentSettings b;
  b.imgsz = 96;  // sources resized from the 128-pixel shards
  b.mosaic = 0.5, b.mixup = 1.0, b.degrees = 10;
  out.push_back({"imgsz 96, half mosaic", b, true});
  data::AugmentSettings c;
  c.imgsz = 128;
  c.translate = c.scale = 0.0;  // identity warp without mosaic
  out.push_back({"identity warp", c, false});
  return out;
}

void run(Report& report, const data::ShardSet& shards) {
  cudaStream_t stream = nullptr;
  CUDA_CHECK(cudaStreamCreate(&stream));
  {
    int batch_number = 0;
    for (const Case& k : cases()) {
      data::GpuBatchAssembler assembler(k.settings.imgsz, stream, 2);
      const std::size_t image_bytes = static_cast<std::size_t>(k.settings.imgsz) * k.settings.imgsz * 3;
      for (int epoch = 0; epoch < 3; ++epoch) {  // 3 batches through a ring of 2
        std::vector<data::TrainRecipe> recipes;
        for (std::uint64_t index = epoch; index < shards.size(); index += 3) {
          recipes.push_back(data::make_train_recipe(shards, index, 21, epoch, k.settings, k.mosaic_allowed));
        }
        const std::uint8_t* out = assembler.assemble(recipes);
        compare_batch(report, k.name + " epoch " + std::to_string(epoch),
                      download(out, recipes.size() * image_bytes, stream), recipes);
        ++batch_number;
      }
    }
    std::printf("%d batches compared\n", batch_number);
  }
  {
    // Several batches in flight before any is read: each output stays valid for `ring` calls.
    data::AugmentSettings a;
    a.imgsz = 128;
    a.mixup = 0.5;
    data::GpuBatchAssembler assembler(128, stream, 3);
    std::vector<std::vector<data::TrainRecipe>> batches(3);
    std::vector<const std::uint8_t*> outputs;
    for (std::size_t b = 0; b < batches.size(); ++b) {
      for (std::uint64_t i = 0; i < 8; ++i) {
        batches[b].push_back(data::make_train_recipe(shards, (b * 8 + i) % shards.size(), 2, 0, a, true));
      }
      outputs.push_back(assembler.assemble(batches[b]));
    }
    for (std::size_t b = 0; b < batches.size(); ++b) {
      compare_batch(report, "in flight, batch " + std::to_string(b), download(outputs[b], 8 * 128 * 128 * 3, stream),
                    batches[b]);
    }
    // A recipe of another size is refused.
    bool refused = false;
    try {
      data::AugmentSettings small = a;
      small.imgsz = 64;
      assembler.assemble({data::make_train_recipe(shards, 0, 2, 0, small, true)});
    } catch (const InternalError&) {
      refused = true;
    }
    report.check("a 64-pixel recipe in a 128-pixel assembler is refused", refused);
  }
  {
    // The loader's recipes_only batches through the assembler equal the pixel mode's images.
    data::TrainLoaderOptions o;
    o.augment.imgsz = 128;
    o.augment.mixup = 0.3;
    o.batch = 8;
    o.seed = 4;
    o.workers = 2;
    data::TrainLoaderOptions pixels_options = o;
    o.recipes_only = true;
    data::TrainLoader recipes_loader(shards, o), pixel_loader(shards, pixels_options);
    recipes_loader.start_epoch(1);
    pixel_loader.start_epoch(1);
    data::GpuBatchAssembler assembler(128, stream, 2);
    while (auto batch = recipes_loader.next()) {
      auto expected = pixel_loader.next();
      const Bytes pixels = download(assembler.assemble(batch->recipes), batch->recipes.size() * 128 * 128 * 3, stream);
      std::vector<float> images(expected->images.size());
      for (std::size_t slot = 0; slot < batch->recipes.size(); ++slot) {
        data::hwc_u8_to_nchw_f32(images.data(), slot, pixels.data() + slot * 128 * 128 * 3, 128, 128);
      }
      report.check("loader batch " + std::to_string(batch->number) + " recipes == pixels",
                   images == expected->images && batch->targets == expected->targets);
    }
  }
  CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace

int main() {
  if (!gpu_test::have_device()) return 77;
  Report report;
  try {
    TempDir dir;
    const data::ShardSet shards(make_shards(dir.path), "train");
    run(report, shards);
  } catch (const std::exception& e) {
    report.check("exception", false, e.what());
  }
  return report.finish();
}
