// pipeline/core/error.cpp: errno text for user-facing messages.
#include "pipeline/core/error.h"

#include <cstring>

namespace shrike {

std::string errno_text(int err) {
  char buffer[256];
  // GNU strerror_r returns the message pointer (which may not be `buffer`).
  return std::string(strerror_r(err, buffer, sizeof buffer));
}

}  // namespace shrike
