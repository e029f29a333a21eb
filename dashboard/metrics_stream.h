// dashboard/metrics_stream.h
//
// Live updates from a run folder's append-only files, as Server-Sent Events. A run's
// metrics.jsonl only grows (DESIGN.md § Run folder: append-only, a torn last line is
// skipped by readers), so a byte offset is a complete cursor: every record is sent as
// one event whose id is the offset just past its line, and a browser that reconnects
// (server restart, network) sends that id back as Last-Event-ID and gets exactly what
// it missed. An offset that no longer falls on a line boundary (the file was replaced,
// or a torn line was cut off and rewritten) restarts the stream from 0 with a "reset"
// event, so the page rebuilds rather than mixing two histories. Only complete
// (newline-terminated) lines are sent; complete lines that are not JSON are skipped.
// status.json changes are sent as "status" events (no id: the cursor is metrics.jsonl).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace shrike::dashboard {

struct MetricsLine {
  std::uint64_t end_offset = 0;  // the byte just past the line's newline (the event id)
  std::string text;              // the line without its newline (valid JSON)
};

struct MetricsRead {
  std::vector<MetricsLine> lines;
  std::uint64_t next_offset = 0;  // where the next read starts
  bool reset = false;             // `offset` was not a line boundary of the file: read from 0
  int skipped = 0;                // complete lines that were not JSON objects
};

// Complete lines of `file` from `offset`, reading at most `max_bytes` (at least one
// whole line when one is longer). A missing file reads as empty.
MetricsRead read_metrics_lines(const std::filesystem::path& file, std::uint64_t offset,
                               std::size_t max_bytes = 1 << 20);

// The records a page needs to draw a run from scratch: every epoch, system and event
// record, and the newest train record when no epoch record followed it (the in-epoch
// progress), with the offset to stream from.
struct MetricsSnapshot {
  nlohmann::json records = nlohmann::json::array();
  std::uint64_t offset = 0;
  int skipped = 0;
};
MetricsSnapshot read_metrics_snapshot(const std::filesystem::path& file);

// One SSE event: "id: ID\nevent: EVENT\ndata: DATA\n\n" (data must be one line).
std::string sse_event(std::string_view event, std::string_view data, std::optional<std::uint64_t> id = std::nullopt);

// A Last-Event-ID or ?from= value: a decimal byte offset; nullopt when it is not one.
std::optional<std::uint64_t> parse_offset(std::string_view text);

// The last `count` lines of a text file (reads at most the last 256 KiB); empty if missing.
std::vector<std::string> tail_lines(const std::filesystem::path& file, int count);

// One SSE connection following a run folder. next_chunk() is called over and over by
// the HTTP layer: it returns the text to send now (records, a status change, a
// keep-alive comment every few seconds), waiting up to `wait` for something new;
// an empty string means nothing to send yet.
class RunEventStream {
 public:
  RunEventStream(std::filesystem::path run_dir, std::uint64_t offset);
  std::string next_chunk(const std::atomic<bool>& stopping);

 private:
  std::string poll_once();
  std::string status_event_if_changed();

  std::filesystem::path run_dir_;
  std::uint64_t offset_;
  std::string last_status_;
  bool started_ = false;
  double last_sent_ = 0;  // monotonic seconds
};

}  // namespace shrike::dashboard
