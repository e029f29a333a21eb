// dashboard/web_assets.cpp: lookups over the generated asset table.
#include "dashboard/web_assets.h"

namespace shrike::dashboard {

const WebAsset* find_web_asset(std::string_view name) {
  for (const WebAsset& asset : web_assets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

std::string_view content_type_of(std::string_view name) {
  const auto ends_with = [&](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  if (ends_with(".json") || ends_with(".jsonl")) return "application/json";
  if (ends_with(".csv") || ends_with(".yaml") || ends_with(".log") || ends_with(".txt")) {
    return "text/plain; charset=utf-8";
  }
  return "application/octet-stream";
}

}  // namespace shrike::dashboard
