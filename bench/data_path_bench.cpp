// bench/data_path_bench.cpp
//
// Why shards: the cost of getting one training sample three ways, side by side on the
// same images, in one run:
//   1. `shrike shard` conversion (decode + validate + resize + write), images/s;
//   2. random-access reads from the shards (what training does), images/s;
//   3. JPEG/PNG decode + resize of the same source files (what a loader without
//      shards does for every sample of every epoch), images/s.
// Reads and decodes run with 1 thread and with every available core. Files are in the
// page cache (they were just written or read): this measures CPU cost, not the disk.
//
// usage: bench_data_path DATA.yaml WORK_DIR [--imgsz 640] [--split train] [--encoding raw|jpeg]
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kernels/resize.h"
#include "pipeline/core/error.h"
#include "pipeline/core/ordered_parallel.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/rank_sampler.h"
#include "pipeline/data/shard_build.h"
#include "pipeline/data/shard_reader.h"

namespace fs = std::filesystem;
using namespace shrike;
using namespace shrike::data;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs work(i) for i in [0, n) on `threads` threads; returns images per second.
template <typename Work>
double images_per_second(std::size_t n, unsigned threads, Work work) {
  std::atomic<std::size_t> next{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++) work(i);
    });
  }
  for (auto& thread : pool) thread.join();
  return static_cast<double>(n) / seconds_since(start);
}

std::size_t decode_and_resize(const std::string& path, int imgsz) {
  RgbImage image = decode_image(read_file_bytes(path), path);
  int h = 0, w = 0;
  stored_size(image.height, image.width, imgsz, &h, &w);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(h) * w * 3);
  kernels::resize_bilinear_u8_cpu(out.data(), {h, w, 3}, image.pixels.data(), {image.height, image.width, 3});
  return out.size();
}

int run(int argc, char** argv) {
  if (argc < 3) {
    fmt::print(stderr, "usage: bench_data_path DATA.yaml WORK_DIR [--imgsz 640] [--split train] [--encoding raw|jpeg]\n");
    return 1;
  }
  ShardOptions options;
  options.data_yaml = argv[1];
  fs::path work = argv[2];
  std::string split = "train";
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--imgsz") options.imgsz = std::stoi(value);
    else if (key == "--split") split = value;
    else if (key == "--encoding") options.encoding = parse_encoding(value);
    else fail_user("unknown option {}", key);
  }
  options.splits = {split};
  options.progress = false;
  options.out = work / fmt::format("shards-{}-{}", options.imgsz, encoding_name(options.encoding));
  options.overwrite = true;
  const unsigned cores = available_cores();

  auto start = std::chrono::steady_clock::now();
  ShardRunReport report = build_shards(options);
  double convert_seconds = seconds_since(start);
  const SplitReport& built = report.splits.at(0);
  double convert_rate = static_cast<double>(built.listed) / convert_seconds;

  ShardSet set(options.out, split);
  const std::size_t n = set.size();
  std::vector<std::uint64_t> order = epoch_permutation(n, 0, 0);
  std::vector<std::string> paths(n);
  for (std::size_t i = 0; i < n; ++i) paths[i] = set.info(i).source_path;
  std::atomic<std::size_t> sink{0};
  auto read_one = [&](std::size_t i) { sink += set.read(order[i]).pixels.size(); };
  auto decode_one = [&](std::size_t i) { sink += decode_and_resize(paths[order[i]], options.imgsz); };
  images_per_second(n, cores, read_one);  // warm the page cache for both paths
  images_per_second(n, cores, decode_one);
  double read_1 = images_per_second(n, 1, read_one);
  double read_n = images_per_second(n, cores, read_one);
  double decode_1 = images_per_second(n, 1, decode_one);
  double decode_n = images_per_second(n, cores, decode_one);

  fmt::print("data path benchmark: {} ({} images of split '{}', imgsz {}, encoding {}, {} cores)\n",
             options.data_yaml.string(), n, split, options.imgsz, encoding_name(options.encoding), cores);
  fmt::print("  stored bytes per image: {:.0f} KiB\n", static_cast<double>(built.stored_bytes) / n / 1024);
  fmt::print("  {:<44} {:>12} {:>12}\n", "", "1 thread", fmt::format("{} threads", cores));
  fmt::print("  {:<44} {:>12} {:>12.1f}\n", "shard conversion (decode+resize+write) img/s", "-", convert_rate);
  fmt::print("  {:<44} {:>12.1f} {:>12.1f}\n", "shard random read img/s", read_1, read_n);
  fmt::print("  {:<44} {:>12.1f} {:>12.1f}\n", "JPEG decode + resize img/s (same images)", decode_1, decode_n);
  fmt::print("  ratio read / decode: {:.1f}x (1 thread), {:.1f}x ({} threads)\n", read_1 / decode_1,
             read_n / decode_n, cores);
  return sink.load() > 0 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return 1;
  }
}
