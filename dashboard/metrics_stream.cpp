// dashboard/metrics_stream.cpp: reading metrics.jsonl by byte offset, SSE framing.
#include "dashboard/metrics_stream.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <iterator>
#include <system_error>
#include <thread>

namespace shrike::dashboard {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(250);
constexpr double kKeepAliveSeconds = 5;  // also how soon a vanished browser is noticed

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool is_json_object_line(std::string_view line) {
  const std::size_t first = line.find_first_not_of(" \t\r");
  return first != std::string_view::npos && line[first] == '{' && json::accept(line);
}

std::string read_small_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return in ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string();
}

}  // namespace

MetricsRead read_metrics_lines(const fs::path& file, std::uint64_t offset, std::size_t max_bytes) {
  MetricsRead read;
  std::ifstream in(file, std::ios::binary);
  std::error_code error;
  const std::uint64_t size = in ? fs::file_size(file, error) : 0;
  if (error || !in) {
    read.reset = offset > 0;
    return read;
  }
  if (offset > size) {
    read.reset = true;
    offset = 0;
  } else if (offset > 0) {
    char before = 0;
    in.seekg(static_cast<std::streamoff>(offset - 1));
    if (!in.get(before) || before != '\n') {
      read.reset = true;
      offset = 0;
    }
  }
  read.next_offset = offset;
  // Read a window; grow it when a single line is longer than the window.
  std::uint64_t want = std::min<std::uint64_t>(size - offset, max_bytes);
  std::string buffer;
  while (want > 0) {
    buffer.resize(want);
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(buffer.data(), static_cast<std::streamsize>(want));
    buffer.resize(static_cast<std::size_t>(in.gcount()));
    if (buffer.find('\n') != std::string::npos || offset + buffer.size() >= size) break;
    want = std::min<std::uint64_t>(size - offset, want * 2);
  }
  std::size_t start = 0;
  for (std::size_t newline = buffer.find('\n'); newline != std::string::npos; newline = buffer.find('\n', start)) {
    std::string_view line(buffer.data() + start, newline - start);
    const std::uint64_t end_offset = offset + newline + 1;
    if (is_json_object_line(line)) {
      read.lines.push_back({end_offset, std::string(line)});
    } else if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      ++read.skipped;
    }
    read.next_offset = end_offset;
    start = newline + 1;
  }
  return read;
}

MetricsSnapshot read_metrics_snapshot(const fs::path& file) {
  MetricsSnapshot snapshot;
  json last_train;  // kept only while no epoch record follows it (then it is in-epoch progress)
  for (;;) {
    MetricsRead read = read_metrics_lines(file, snapshot.offset);
    snapshot.skipped += read.skipped;
    for (const MetricsLine& line : read.lines) {
      json record = json::parse(line.text);
      const std::string type = record.value("type", "");
      if (type == "train") {
        last_train = std::move(record);
      } else {
        if (type == "epoch") last_train = nullptr;
        snapshot.records.push_back(std::move(record));
      }
    }
    if (read.next_offset == snapshot.offset) break;
    snapshot.offset = read.next_offset;
  }
  if (!last_train.is_null()) snapshot.records.push_back(std::move(last_train));
  return snapshot;
}

std::string sse_event(std::string_view event, std::string_view data, std::optional<std::uint64_t> id) {
  std::string text;
  if (id) text += fmt::format("id: {}\n", *id);
  text += fmt::format("event: {}\ndata: {}\n\n", event, data);
  return text;
}

std::optional<std::uint64_t> parse_offset(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::vector<std::string> tail_lines(const fs::path& file, int count) {
  constexpr std::uint64_t kWindow = 256 * 1024;
  std::vector<std::string> lines;
  std::ifstream in(file, std::ios::binary);
  std::error_code error;
  const std::uint64_t size = in ? fs::file_size(file, error) : 0;
  if (!in || error || count <= 0) return lines;
  const std::uint64_t start = size > kWindow ? size - kWindow : 0;
  std::string buffer(size - start, '\0');
  in.seekg(static_cast<std::streamoff>(start));
  in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  buffer.resize(static_cast<std::size_t>(in.gcount()));
  std::size_t begin = 0;
  if (start > 0) begin = buffer.find('\n') == std::string::npos ? buffer.size() : buffer.find('\n') + 1;
  for (std::size_t newline; begin < buffer.size(); begin = newline + 1) {
    newline = buffer.find('\n', begin);
    if (newline == std::string::npos) newline = buffer.size();
    std::string line = buffer.substr(begin, newline - begin);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (static_cast<int>(lines.size()) > count) lines.erase(lines.begin(), lines.end() - count);
  return lines;
}

RunEventStream::RunEventStream(fs::path run_dir, std::uint64_t offset) : run_dir_(std::move(run_dir)), offset_(offset) {}

std::string RunEventStream::status_event_if_changed() {
  std::string text = read_small_file(run_dir_ / "status.json");
  if (text.empty() || text == last_status_ || !json::accept(text)) return {};
  last_status_ = text;
  return sse_event("status", json::parse(text).dump());
}

std::string RunEventStream::poll_once() {
  const MetricsRead read = read_metrics_lines(run_dir_ / "metrics.jsonl", offset_);
  std::string text;
  if (read.reset) text += sse_event("reset", "{}");
  for (const MetricsLine& line : read.lines) text += sse_event("record", line.text, line.end_offset);
  offset_ = read.next_offset;
  return text;
}

std::string RunEventStream::next_chunk(const std::atomic<bool>& stopping) {
  if (!started_) {
    started_ = true;
    last_sent_ = monotonic_seconds();
    // retry: how soon the browser reconnects after the server went away (restarts).
    return "retry: 2000\n\n" + status_event_if_changed() + poll_once();
  }
  if (stopping) return {};
  std::string text = poll_once() + status_event_if_changed();
  if (text.empty() && monotonic_seconds() - last_sent_ >= kKeepAliveSeconds) text = ": keep-alive\n\n";
  if (!text.empty()) {
    last_sent_ = monotonic_seconds();
    return text;
  }
  std::this_thread::sleep_for(kPollInterval);
  return {};
}

}  // namespace shrike::dashboard
