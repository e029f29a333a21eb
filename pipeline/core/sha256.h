// pipeline/core/sha256.h
//
// SHA-256 digests (OpenSSL's EVP interface) for shard checksums and cache keys.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace shrike {

// Incremental digest: update() any number of times, then hex() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  // Lowercase hex of the digest. Call once.
  std::string hex();

 private:
  void* context_;  // EVP_MD_CTX*
};

std::string sha256_hex(std::string_view data);
// Digest of a file's content, read in large blocks. Throws UserError if unreadable.
std::string sha256_file_hex(const std::filesystem::path& path);

}  // namespace shrike
