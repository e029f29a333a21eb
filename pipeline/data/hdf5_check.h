// pipeline/data/hdf5_check.h
//
// H5_CHECK(call): every HDF5 call is checked. HDF5's own error printing is turned off
// (it prints a stack to stderr from any thread); instead a failure throws with the
// call, the file it concerns and the innermost message of HDF5's error stack.
// Also: RAII for hid_t handles, and the small typed read/write helpers the shard
// writer and reader share.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shrike::data {

// Throws UserError: "<call> failed on <context>: <HDF5 message>".
[[noreturn]] void throw_hdf5_error(const char* call, const std::string& context);
// Turns off HDF5's automatic error printing for this process (idempotent).
void silence_hdf5_error_printing();

// An owned HDF5 identifier (file, group, dataset, dataspace, type, property list,
// attribute), closed with the right H5*close on destruction.
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(hid_t id) : id_(id) {}
  ~H5Handle() { reset(); }
  H5Handle(H5Handle&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  H5Handle& operator=(H5Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      other.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Opens an existing file read-only with HDF5's file locking off: shrike's files are
// immutable once renamed into place, locking fails on many parallel file systems, and
// every read-only open in the process must use the same locking setting (HDF5 refuses
// a second open of a file with another). UserError naming `path` and `what` it should
// be ("shard", "weights file") when it is missing or not HDF5.
H5Handle open_hdf5_readonly(const std::string& path, const std::string& what);

// Writes a 1-D or 2-D contiguous dataset `name` (dims given) from `data`.
void write_dataset(hid_t parent, const char* name, hid_t type, const std::vector<hsize_t>& dims,
                   const void* data, const std::string& context);
// Reads a whole dataset whose element type converts to `memory_type`; returns element
// count and fills `out` (resized by the caller from dataset_dims()).
std::vector<hsize_t> dataset_dims(hid_t parent, const char* name, const std::string& context);
void read_dataset(hid_t parent, const char* name, hid_t memory_type, void* out, const std::string& context);

void write_string_attribute(hid_t object, const char* name, const std::string& value, const std::string& context);
void write_int_attribute(hid_t object, const char* name, std::int64_t value, const std::string& context);
// A string attribute, fixed-length or variable-length (as h5py writes them).
std::string read_string_attribute(hid_t object, const char* name, const std::string& context);
// A string or an array of strings.
std::vector<std::string> read_strings_attribute(hid_t object, const char* name, const std::string& context);
std::int64_t read_int_attribute(hid_t object, const char* name, const std::string& context);

}  // namespace shrike::data

// `context` must be a std::string or const char* in scope naming the file.
#define H5_CHECK(call, context)                                            \
  ([&]() {                                                                 \
    auto shrike_h5_result_ = (call);                                       \
    if (shrike_h5_result_ < 0) ::shrike::data::throw_hdf5_error(#call, context); \
    return shrike_h5_result_;                                              \
  }())
