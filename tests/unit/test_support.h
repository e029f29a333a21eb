// tests/unit/test_support.h
//
// What many unit tests need: a fresh temporary folder removed afterwards, writing a
// small file, running the real `shrike` binary and capturing its exit code and output.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace shrike::test {

// A new empty folder under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Writes `content` to `path`, creating parent folders.
void write_text(const std::filesystem::path& path, const std::string& content);
std::string read_text(const std::filesystem::path& path);

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// A PNG file of `pixels` (height, width, channels) with libpng's simplified API;
// channels 1 (grey), 3 (RGB) or 4 (RGBA); `sixteen_bit` stores 16-bit samples.
std::vector<unsigned char> encode_png(const std::vector<unsigned char>& pixels, int height, int width,
                                      int channels, bool sixteen_bit = false);

// Deterministic pseudo-random bytes (for test images).
std::vector<unsigned char> random_bytes(std::size_t count, unsigned seed);
// A smooth RGB test pattern (gradients and blocks) that survives JPEG well.
std::vector<unsigned char> pattern_rgb(int height, int width, unsigned seed);

void write_bytes(const std::filesystem::path& path, const std::vector<unsigned char>& bytes);

// A committed reference fixture: tests/reference/fixtures/<name>.
std::filesystem::path fixture_path(const std::string& name);
// A float dataset of an open HDF5 file (a fixture), flattened, as doubles.
std::vector<double> read_hdf5_doubles(std::int64_t file, const std::string& dataset);

// |a - b| / |b| in the L2 norm, over b.size() elements (b is the reference).
double rel_l2(const float* a, const std::vector<double>& b);

// Runs the built `shrike` with `args` (each shell-quoted) and captures its output.
CommandResult run_shrike(const std::vector<std::string>& args);

}  // namespace shrike::test
