// pipeline/core/sha256.cpp: OpenSSL EVP SHA-256, every call checked.
#include "pipeline/core/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "pipeline/core/error.h"

namespace shrike {

namespace {
EVP_MD_CTX* ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }
}  // namespace

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr || EVP_DigestInit_ex(ctx(context_), EVP_sha256(), nullptr) != 1) {
    fail_internal("EVP_DigestInit_ex(sha256) failed");
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx(context_)); }

void Sha256::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(ctx(context_), data, size) != 1) fail_internal("EVP_DigestUpdate failed");
}

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx(context_), digest, &length) != 1) {
    fail_internal("EVP_DigestFinal_ex failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 digest;
  digest.update(data);
  return digest.hex();
}

std::string sha256_file_hex(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) fail_user("cannot read {}: {}", path.string(), errno_text(errno));
  Sha256 digest;
  std::vector<char> block(1 << 20);
  while (std::size_t n = std::fread(block.data(), 1, block.size(), file.get())) {
    digest.update(block.data(), n);
  }
  if (std::ferror(file.get())) fail_user("cannot read {}: I/O error", path.string());
  return digest.hex();
}

}  // namespace shrike
