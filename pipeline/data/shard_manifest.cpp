// pipeline/data/shard_manifest.cpp: manifest.json to and from nlohmann::json.
#include "pipeline/data/shard_manifest.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "pipeline/core/error.h"

namespace shrike::data {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json split_to_json(const SplitManifest& split) {
  json shards = json::array();
  for (const auto& shard : split.shards) {
    shards.push_back({{"file", shard.file}, {"images", shard.images}, {"boxes", shard.boxes},
                      {"bytes", shard.bytes}, {"sha256", shard.sha256}});
  }
  json out = {{"images", split.images}, {"boxes", split.boxes}, {"backgrounds", split.backgrounds},
              {"skipped", split.skipped}, {"data_bytes", split.data_bytes},
              {"sources", split.sources}, {"shards", shards}};
  if (!split.same_as.empty()) out["same_as"] = split.same_as;
  return out;
}

SplitManifest split_from_json(const json& in) {
  SplitManifest split;
  split.images = in.at("images");
  split.boxes = in.at("boxes");
  split.backgrounds = in.value("backgrounds", std::size_t{0});
  split.skipped = in.value("skipped", std::size_t{0});
  split.data_bytes = in.value("data_bytes", std::uint64_t{0});
  split.sources = in.value("sources", std::vector<std::string>{});
  split.same_as = in.value("same_as", std::string{});
  for (const auto& shard : in.at("shards")) {
    split.shards.push_back({shard.at("file"), shard.at("images"), shard.at("boxes"),
                            shard.value("bytes", std::uint64_t{0}), shard.value("sha256", std::string{})});
  }
  return split;
}

}  // namespace


std::string manifest_to_json(const ShardManifest& manifest) {
  json splits = json::object();
  for (const auto& [name, split] : manifest.splits) splits[name] = split_to_json(split);
  json out = {{"format", "shrike-shards"},
              {"version", manifest.version},
              {"imgsz", manifest.imgsz},
              {"encoding", manifest.encoding},
              {"names", manifest.names},
              {"data_yaml", manifest.data_yaml},
              {"source_fingerprint", manifest.source_fingerprint},
              {"created", manifest.created},
              {"shrike_version", manifest.shrike_version},
              {"git_commit", manifest.git_commit},
              {"splits", splits}};
  return out.dump(2) + "\n";
}

ShardManifest read_manifest(const fs::path& dir) {
  fs::path file = dir / kManifestFile;
  std::ifstream in(file);
  if (!in) {
    fail_user("{} has no {}: it is not a shard folder. Create one with `shrike shard DATA.yaml "
              "--out {}`.", dir.string(), kManifestFile, dir.string());
  }
  try {
    json root = json::parse(in);
    if (root.value("format", std::string{}) != "shrike-shards") {
      fail_user("{}: 'format' is not \"shrike-shards\"; this is not a shrike shard manifest.", file.string());
    }
    ShardManifest manifest;
    manifest.version = root.at("version");
    if (manifest.version != 1) {
      fail_user("{}: manifest version {} is newer than this shrike understands (1); upgrade shrike "
                "or re-shard.", file.string(), manifest.version);
    }
    manifest.imgsz = root.at("imgsz");
    manifest.encoding = root.at("encoding");
    manifest.names = root.at("names").get<std::vector<std::string>>();
    manifest.data_yaml = root.value("data_yaml", std::string{});
    manifest.source_fingerprint = root.value("source_fingerprint", std::string{});
    manifest.created = root.value("created", std::string{});
    manifest.shrike_version = root.value("shrike_version", std::string{});
    manifest.git_commit = root.value("git_commit", std::string{});
    for (const auto& [name, split] : root.at("splits").items()) manifest.splits[name] = split_from_json(split);
    return manifest;
  } catch (const json::exception& error) {
    fail_user("{} is damaged ({}). Re-create the shards with `shrike shard ... --overwrite`.",
              file.string(), error.what());
  }
}

}  // namespace shrike::data
