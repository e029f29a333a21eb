// dashboard/web_assets.h
//
// The page's files (dashboard/web/: HTML, CSS, JavaScript) and Debian's Chart.js
// (libjs-chart.js), compiled into the binary by embed_web_assets.cmake at build time,
// so the browser fetches nothing from the internet and nothing has to be installed
// beside `shrike`. The generated web_assets.cpp defines web_assets().
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace shrike::dashboard {

struct WebAsset {
  std::string_view name;  // "index.html", "app.js", "chart.umd.js" ...
  const unsigned char* data;
  std::size_t size;
  std::string_view bytes() const { return {reinterpret_cast<const char*>(data), size}; }
};

std::span<const WebAsset> web_assets();
// The asset called `name`, or nullptr.
const WebAsset* find_web_asset(std::string_view name);
// Content-Type from the name's extension (html, css, js, svg, json; else octet-stream).
std::string_view content_type_of(std::string_view name);

}  // namespace shrike::dashboard
