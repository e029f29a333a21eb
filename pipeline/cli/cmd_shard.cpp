// pipeline/cli/cmd_shard.cpp: `shrike shard DATA.yaml --out DIR`, options to
// ShardOptions, the run, the summary.
#include <fmt/core.h>

#include <sstream>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/core/progress.h"
#include "pipeline/data/shard_build.h"
#include "pipeline/data/shard_cache.h"

namespace shrike::cli {

namespace po = boost::program_options;

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

CommandSpec shard_spec() {
  CommandSpec spec;
  spec.name = "shard";
  spec.usage = "shrike shard DATA.yaml (--out DIR | --cache-dir DIR) [options]";
  spec.description =
      "Decode, validate and resize a YOLO-format dataset once, into HDF5 shards that\n"
      "training reads without decoding: images turned upright (EXIF), long side = imgsz,\n"
      "labels checked line by line. Samples with problems are skipped and listed (file\n"
      "and line) in the summary and in DIR/problems.txt. The shards appear under DIR only\n"
      "when complete; an interrupted run leaves nothing behind.";
  spec.options.add_options()
      ("data", po::value<std::string>()->required()->value_name("DATA.yaml"), "the dataset's data.yaml (positional)")
      ("out,o", po::value<std::string>()->value_name("DIR"), "folder to create for the shards")
      ("cache-dir", po::value<std::string>()->value_name("DIR"),
       "instead of --out: build into (or reuse) a folder of this cache keyed by the source and "
       "settings; prints the folder. Safe to run from several processes at once.")
      ("imgsz", po::value<int>()->default_value(640)->value_name("S"), "long side of the stored images (multiple of 32)")
      ("shards", po::value<int>()->default_value(0)->value_name("N"), "shard files per split (0: about 1 GiB each)")
      ("splits", po::value<std::string>()->value_name("LIST"), "comma-separated splits to shard (default: all in data.yaml)")
      ("encoding", po::value<std::string>()->default_value("raw")->value_name("E"),
       "raw: decoded pixels (fastest to read); jpeg: re-encoded, several times smaller")
      ("jpeg-quality", po::value<int>()->default_value(95)->value_name("Q"), "quality for --encoding jpeg")
      ("threads", po::value<unsigned>()->default_value(0)->value_name("N"), "decode threads (0: every core this process may use)")
      ("overwrite", po::bool_switch(), "replace an existing shard folder (once the new one is complete)")
      ("quiet,q", po::bool_switch(), "no progress bar");
  spec.positional.add("data", 1);
  spec.epilog =
      "Examples:\n"
      "  shrike shard datasets/coco128/coco128.yaml --out shards/coco128\n"
      "  shrike shard data.yaml --out shards/big --imgsz 1024 --encoding jpeg --shards 64";
  return spec;
}

}  // namespace

int run_shard(const Args& args) {
  CommandSpec spec = shard_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const po::variables_map& v = *values;
  data::ShardOptions options;
  options.data_yaml = v["data"].as<std::string>();
  options.imgsz = v["imgsz"].as<int>();
  options.shards = v["shards"].as<int>();
  options.encoding = data::parse_encoding(v["encoding"].as<std::string>());
  options.jpeg_quality = v["jpeg-quality"].as<int>();
  options.threads = v["threads"].as<unsigned>();
  options.overwrite = v["overwrite"].as<bool>();
  options.progress = !v["quiet"].as<bool>();
  if (v.count("splits")) options.splits = split_list(v["splits"].as<std::string>());
  if (v.count("out") == v.count("cache-dir")) {
    fail_user("give exactly one of --out DIR (a new shard folder) or --cache-dir DIR (a reusable cache). "
              "Run `shrike shard --help`.");
  }
  if (v.count("cache-dir")) {
    options.out = "cache";  // replaced by the cache folder
    data::validate_shard_options(options);
    data::CachedShards cached = data::ensure_shard_cache(options, v["cache-dir"].as<std::string>());
    if (cached.built) {
      fmt::print("{}", data::format_shard_summary(cached.report, 10));
    } else {
      fmt::print("reusing the shard cache (source and settings unchanged)\n");
    }
    fmt::print("shards: {}\n", cached.dir.string());
    return 0;
  }
  options.out = v["out"].as<std::string>();
  data::ShardRunReport report = data::build_shards(options);
  fmt::print("{}", data::format_shard_summary(report, 10));
  return 0;
}

}  // namespace shrike::cli
