// tests/unit/test_support.cpp: temp folders, small files, running the shrike binary.
#include "tests/unit/test_support.h"

#include <png.h>
#include "pipeline/data/hdf5_check.h"
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace shrike::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "shrike-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void write_text(const fs::path& path, const std::string& content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

namespace {
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}
}  // namespace

CommandResult run_shrike(const std::vector<std::string>& args) {
  std::string command = shell_quote(SHRIKE_BINARY);
  for (const auto& arg : args) {
    command.push_back(' ');
    command += shell_quote(arg);
  }
  command += " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string output;
  std::array<char, 4096> buffer;
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, output};
}

std::vector<unsigned char> encode_png(const std::vector<unsigned char>& pixels, int height, int width,
                                      int channels, bool sixteen_bit) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  std::vector<png_uint_16> wide;
  const void* data = pixels.data();
  if (sixteen_bit) {
    image.format |= PNG_FORMAT_FLAG_LINEAR;
    wide.resize(pixels.size());
    for (std::size_t i = 0; i < pixels.size(); ++i) wide[i] = static_cast<png_uint_16>(pixels[i] * 257);
    data = wide.data();
  }
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, data, 0, nullptr)) {
    throw std::runtime_error(std::string("png size: ") + image.message);
  }
  std::vector<unsigned char> out(size);
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, data, 0, nullptr)) {
    throw std::runtime_error(std::string("png write: ") + image.message);
  }
  out.resize(size);
  return out;
}

std::vector<unsigned char> random_bytes(std::size_t count, unsigned seed) {
  std::vector<unsigned char> out(count);
  unsigned long long state = seed * 2654435761ull + 1;
  for (auto& byte : out) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    byte = static_cast<unsigned char>(state >> 56);
  }
  return out;
}

std::vector<unsigned char> pattern_rgb(int height, int width, unsigned seed) {
  std::vector<unsigned char> out(static_cast<std::size_t>(height) * width * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      unsigned char* p = &out[(static_cast<std::size_t>(y) * width + x) * 3];
      p[0] = static_cast<unsigned char>((x * 255) / std::max(1, width - 1));
      p[1] = static_cast<unsigned char>((y * 255) / std::max(1, height - 1));
      p[2] = static_cast<unsigned char>((((x / 16) + (y / 16) + seed) % 2) ? 200 : 40);
    }
  }
  return out;
}

void write_bytes(const fs::path& path, const std::vector<unsigned char>& bytes) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

fs::path fixture_path(const std::string& name) {
  return fs::path(SHRIKE_SOURCE_DIR) / "tests/reference/fixtures" / name;
}

std::vector<double> read_hdf5_doubles(std::int64_t file, const std::string& dataset) {
  std::vector<hsize_t> dims = data::dataset_dims(file, dataset.c_str(), "fixture");
  std::size_t n = 1;
  for (hsize_t d : dims) n *= d;
  std::vector<double> out(n);
  data::read_dataset(file, dataset.c_str(), H5T_NATIVE_DOUBLE, out.data(), "fixture");
  return out;
}

double rel_l2(const float* a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

}  // namespace shrike::test
