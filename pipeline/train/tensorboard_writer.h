// pipeline/train/tensorboard_writer.h
//
// TensorBoard scalar event files, written by our own code so that `tensorboard --logdir
// runs/` shows shrike runs next to PyTorch ones (DESIGN.md § Run folder; the format is
// in shared/reference/hpc-notes.md § TensorBoard event files).
//
// File: events.out.tfevents.<10-digit unix time>.<hostname>, one per writer (a resumed
// run opens a new one; TensorBoard merges every tfevents file of a folder).
// Record (TFRecord framing):
//   uint64 length (LE) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
//   mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8
// First record: Event{1: wall_time (double), 3: file_version = "brain.Event:2"}.
// Scalar:       Event{1: wall_time, 2: step (int64), 5: Summary{1: Value{1: tag, 2: simple_value (float)}}}.
//
// Why no protobuf: the two messages above need four wire types' worth of encoding
// (varint, fixed64, fixed32, length-delimited), about forty lines; libprotobuf plus
// TensorFlow's event.proto/summary.proto would add a code generator and a link
// dependency to the trainer for that.
// Why our own CRC-32C: Debian 12 has no package of Google's crc32c library
// (`apt-cache search crc32c` finds only python3-crc32c); a 256-entry table-driven
// CRC (Castagnoli, reflected polynomial 0x82F63B78) is a dozen lines and event files
// are a few kilobytes per epoch, so speed does not matter.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace shrike::train {

// CRC-32C (Castagnoli) of `size` bytes; crc32c("123456789") == 0xe3069283.
std::uint32_t crc32c(const void* data, std::size_t size);
// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
std::uint32_t masked_crc32c(const void* data, std::size_t size);

// The serialized Event messages (protobuf wire format).
std::string encode_file_version_event(double wall_time);
std::string encode_scalar_event(std::string_view tag, float value, std::int64_t step, double wall_time);
// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
std::string frame_tfrecord(std::string_view data);

class TensorBoardWriter {
 public:
  // Creates a new event file in `dir` (events.out.tfevents.<unix time>.<host>, with
  // ".1", ".2" ... appended if a writer of this second and host already made one) and
  // writes the file_version record.
  static TensorBoardWriter open(const std::filesystem::path& dir,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  TensorBoardWriter(TensorBoardWriter&&) noexcept;
  TensorBoardWriter& operator=(TensorBoardWriter&&) noexcept;
  ~TensorBoardWriter();

  const std::filesystem::path& path() const { return path_; }

  // Appends one scalar (e.g. tag "train/box_loss", step = 1-based epoch).
  void add_scalar(std::string_view tag, float value, std::int64_t step,
                  std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  // fsyncs the file (after every epoch's scalars). Each record is already written
  // with one write(2) when added, so TensorBoard sees it at once.
  void flush();

 private:
  TensorBoardWriter(std::filesystem::path path, int fd);
  void append_record(std::string_view data);

  std::filesystem::path path_;
  int fd_ = -1;
};

// ---- reading, for tests and `shrike monitor` ----------------------------------------

struct ScalarEvent {
  std::string tag;
  std::int64_t step = 0;
  float value = 0;
  double wall_time = 0;
};

struct TfEventsFile {
  std::vector<std::string> records;  // every record's data, both CRCs checked
  std::string file_version;          // from the first record ("brain.Event:2")
  std::vector<ScalarEvent> scalars;  // every simple_value in the file, in order
};

// Reads an event file. A record cut short at the end of the file (a writer killed
// mid-record) is ignored, as TensorBoard does; a CRC mismatch throws UserError.
TfEventsFile read_tfevents(const std::filesystem::path& path);

}  // namespace shrike::train
