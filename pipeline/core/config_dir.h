// pipeline/core/config_dir.h
//
// Where site configuration lives (DESIGN.md § Where state lives): SHRIKE_CONFIG_DIR
// when set, else the configs/ folder of the source tree this binary was built from.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace shrike {

inline std::filesystem::path config_dir() {
  if (const char* dir = std::getenv("SHRIKE_CONFIG_DIR"); dir != nullptr && *dir != '\0') return dir;
  return SHRIKE_SOURCE_CONFIG_DIR;
}

}  // namespace shrike
