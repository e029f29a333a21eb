// pipeline/train/tensorboard_writer.cpp: CRC-32C, a minimal protobuf encoder/decoder
// for Event/Summary, TFRecord framing, and the event file writer and reader.
#include "pipeline/train/tensorboard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "pipeline/core/error.h"
#include "pipeline/train/run_folder.h"

namespace shrike::train {

namespace fs = std::filesystem;

// ---- CRC-32C --------------------------------------------------------------------------

static std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    table[byte] = crc;
  }
  return table;
}

std::uint32_t crc32c(const void* data, std::size_t size) {
  static const std::array<std::uint32_t, 256> table = make_crc32c_table();
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::uint32_t masked_crc32c(const void* data, std::size_t size) {
  std::uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

// ---- protobuf wire format ---------------------------------------------------------------

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

static void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7F) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

static void put_little_endian(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xFF);
}

static void put_key(std::string& out, std::uint32_t field, WireType type) { put_varint(out, (field << 3) | type); }

static void put_double(std::string& out, std::uint32_t field, double value) {
  put_key(out, field, kFixed64);
  put_little_endian(out, std::bit_cast<std::uint64_t>(value), 8);
}

static void put_float(std::string& out, std::uint32_t field, float value) {
  put_key(out, field, kFixed32);
  put_little_endian(out, std::bit_cast<std::uint32_t>(value), 4);
}

static void put_bytes(std::string& out, std::uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

std::string encode_file_version_event(double wall_time) {
  std::string event;
  put_double(event, 1, wall_time);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string encode_scalar_event(std::string_view tag, float value, std::int64_t step, double wall_time) {
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  put_float(summary_value, 2, value);
  std::string summary;
  put_bytes(summary, 1, summary_value);
  std::string event;
  put_double(event, 1, wall_time);
  put_key(event, 2, kVarint);
  put_varint(event, static_cast<std::uint64_t>(step));
  put_bytes(event, 5, summary);
  return event;
}

std::string frame_tfrecord(std::string_view data) {
  std::string record;
  put_little_endian(record, data.size(), 8);
  std::uint32_t length_crc = masked_crc32c(record.data(), 8);
  put_little_endian(record, length_crc, 4);
  record += data;
  put_little_endian(record, masked_crc32c(data.data(), data.size()), 4);
  return record;
}

// ---- decoding -------------------------------------------------------------------------

// One field of a message: its number, wire type, and value (integer or bytes).
struct WireField {
  std::uint32_t number = 0;
  WireType type = kVarint;
  std::uint64_t integer = 0;  // varint, fixed32, fixed64
  std::string_view bytes;     // length-delimited
};

class WireReader {
 public:
  explicit WireReader(std::string_view message) : rest_(message) {}

  // The next field, or nullopt at the end; throws UserError on malformed input.
  std::optional<WireField> next() {
    if (rest_.empty()) return std::nullopt;
    std::uint64_t key = varint();
    WireField field;
    field.number = static_cast<std::uint32_t>(key >> 3);
    field.type = static_cast<WireType>(key & 7);
    switch (field.type) {
      case kVarint: field.integer = varint(); break;
      case kFixed64: field.integer = little_endian(8); break;
      case kFixed32: field.integer = little_endian(4); break;
      case kLengthDelimited: field.bytes = take(varint()); break;
      default: fail_user("protobuf field {} has unsupported wire type {}", field.number, key & 7);
    }
    return field;
  }

 private:
  std::string_view take(std::uint64_t count) {
    if (count > rest_.size()) fail_user("protobuf message ends inside a field");
    std::string_view taken = rest_.substr(0, count);
    rest_.remove_prefix(count);
    return taken;
  }
  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      auto byte = static_cast<unsigned char>(take(1)[0]);
      value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail_user("protobuf varint longer than 10 bytes");
  }
  std::uint64_t little_endian(int bytes) {
    std::string_view raw = take(bytes);
    std::uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= static_cast<std::uint64_t>(static_cast<unsigned char>(raw[i])) << (8 * i);
    return value;
  }

  std::string_view rest_;
};

// Appends every Summary.Value with a simple_value to `scalars`.
static void decode_summary(std::string_view summary, std::int64_t step, double wall_time,
                           std::vector<ScalarEvent>& scalars) {
  WireReader reader(summary);
  while (auto field = reader.next()) {
    if (field->number != 1 || field->type != kLengthDelimited) continue;
    ScalarEvent scalar{"", step, 0, wall_time};
    bool has_value = false;
    WireReader value_reader(field->bytes);
    while (auto value_field = value_reader.next()) {
      if (value_field->number == 1) scalar.tag = std::string(value_field->bytes);
      if (value_field->number == 2 && value_field->type == kFixed32) {
        scalar.value = std::bit_cast<float>(static_cast<std::uint32_t>(value_field->integer));
        has_value = true;
      }
    }
    if (has_value) scalars.push_back(std::move(scalar));
  }
}

static void decode_event(std::string_view event, TfEventsFile& file) {
  double wall_time = 0;
  std::int64_t step = 0;
  std::optional<std::string_view> summary;
  WireReader reader(event);
  while (auto field = reader.next()) {
    if (field->number == 1 && field->type == kFixed64) wall_time = std::bit_cast<double>(field->integer);
    if (field->number == 2 && field->type == kVarint) step = static_cast<std::int64_t>(field->integer);
    if (field->number == 3 && field->type == kLengthDelimited) file.file_version = std::string(field->bytes);
    if (field->number == 5 && field->type == kLengthDelimited) summary = field->bytes;
  }
  if (summary) decode_summary(*summary, step, wall_time, file.scalars);
}

static std::uint32_t read_u32_le(const char* bytes) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return value;
}

static std::uint64_t read_u64_le(const char* bytes) {
  return read_u32_le(bytes) | (static_cast<std::uint64_t>(read_u32_le(bytes + 4)) << 32);
}

// The records' data, both CRCs checked; a record cut short at the end is dropped.
static std::vector<std::string> split_tfrecords(const std::string& content, const fs::path& path) {
  std::vector<std::string> records;
  std::size_t offset = 0;
  while (content.size() - offset >= 12) {
    const char* header = content.data() + offset;
    std::uint64_t length = read_u64_le(header);
    if (read_u32_le(header + 8) != masked_crc32c(header, 8)) {
      fail_user("{}: record at byte {} has a bad length CRC (the file is damaged)", path.string(), offset);
    }
    if (content.size() - offset - 12 < length + 4) break;  // cut short: a writer killed mid-record
    std::string_view data(header + 12, length);
    if (read_u32_le(header + 12 + length) != masked_crc32c(data.data(), data.size())) {
      fail_user("{}: record at byte {} has a bad data CRC (the file is damaged)", path.string(), offset);
    }
    records.emplace_back(data);
    offset += 12 + length + 4;
  }
  return records;
}

TfEventsFile read_tfevents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_user("cannot read {}: {}", path.string(), errno_text(errno));
  std::ostringstream content;
  content << in.rdbuf();
  TfEventsFile file;
  file.records = split_tfrecords(content.str(), path);
  for (const std::string& record : file.records) {
    try {
      decode_event(record, file);
    } catch (const UserError& e) {
      fail_user("{}: an event is not a valid protobuf message: {}", path.string(), e.what());
    }
  }
  return file;
}

// ---- the writer ---------------------------------------------------------------------

// The host name with any '/' replaced, safe inside a file name.
static std::string hostname_for_file_name() {
  std::string host = current_hostname();
  std::replace(host.begin(), host.end(), '/', '_');
  return host;
}

static double unix_seconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

TensorBoardWriter TensorBoardWriter::open(const fs::path& dir, std::chrono::system_clock::time_point now) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::string base = fmt::format("events.out.tfevents.{:010d}.{}", seconds, hostname_for_file_name());
  for (int attempt = 0; attempt < 1000; ++attempt) {
    fs::path path = dir / (attempt == 0 ? base : fmt::format("{}.{}", base, attempt));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) fail_user("cannot create the TensorBoard event file {}: {}", path.string(), errno_text(errno));
    TensorBoardWriter writer(path, fd);
    writer.append_record(encode_file_version_event(unix_seconds(now)));
    return writer;
  }
  fail_user("{} already holds 1000 event files named {}*; remove old ones", dir.string(), base);
}

TensorBoardWriter::TensorBoardWriter(fs::path path, int fd) : path_(std::move(path)), fd_(fd) {}

TensorBoardWriter::TensorBoardWriter(TensorBoardWriter&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

TensorBoardWriter& TensorBoardWriter::operator=(TensorBoardWriter&& other) noexcept {
  std::swap(path_, other.path_);
  std::swap(fd_, other.fd_);
  return *this;
}

TensorBoardWriter::~TensorBoardWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void TensorBoardWriter::add_scalar(std::string_view tag, float value, std::int64_t step,
                                   std::chrono::system_clock::time_point now) {
  append_record(encode_scalar_event(tag, value, step, unix_seconds(now)));
}

void TensorBoardWriter::append_record(std::string_view data) {
  std::string record = frame_tfrecord(data);
  std::string_view rest = record;
  while (!rest.empty()) {
    ssize_t written = ::write(fd_, rest.data(), rest.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) fail_user("cannot write the TensorBoard event file {}: {}", path_.string(), errno_text(errno));
    rest.remove_prefix(static_cast<std::size_t>(written));
  }
}

void TensorBoardWriter::flush() {
  if (fd_ >= 0 && ::fsync(fd_) != 0 && errno != EINVAL) {
    fail_user("cannot sync the TensorBoard event file {}: {}", path_.string(), errno_text(errno));
  }
}

}  // namespace shrike::train
