// pipeline/data/hdf5_check.cpp: checked HDF5 calls, handles and typed helpers.
#include "pipeline/data/hdf5_check.h"

#include <fmt/core.h>

#include <filesystem>
#include <mutex>

#include "pipeline/core/error.h"

namespace shrike::data {

namespace {

herr_t keep_innermost(unsigned, const H5E_error2_t* error, void* client) {
  auto* message = static_cast<std::string*>(client);
  if (message->empty() && error->desc != nullptr) {
    *message = fmt::format("{} (in {})", error->desc, error->func_name ? error->func_name : "?");
  }
  return 0;
}

}  // namespace

void silence_hdf5_error_printing() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

void throw_hdf5_error(const char* call, const std::string& context) {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &message);
  H5Eclear2(H5E_DEFAULT);
  fail_user("{} failed on {}: {}", call, context, message.empty() ? "no HDF5 message" : message);
}

void H5Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    default: break;
  }
  id_ = H5I_INVALID_HID;
}

H5Handle open_hdf5_readonly(const std::string& path, const std::string& what) {
  silence_hdf5_error_printing();
  if (!std::filesystem::exists(path)) fail_user("{} {} does not exist", what, path);
  H5Handle access(H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), path));
  H5_CHECK(H5Pset_file_locking(access, false, true), path);
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, access));
  if (file.get() < 0) fail_user("{} {} is not a readable HDF5 file", what, path);
  return file;
}

void write_dataset(hid_t parent, const char* name, hid_t type, const std::vector<hsize_t>& dims,
                   const void* data, const std::string& context) {
  H5Handle space(dims.empty() ? H5_CHECK(H5Screate(H5S_SCALAR), context)
                              : H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), context));
  H5Handle create(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), context));
  H5_CHECK(H5Pset_obj_track_times(create, false), context);  // same input, same bytes
  H5Handle dataset(H5_CHECK(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, create, H5P_DEFAULT), context));
  hsize_t elements = 1;
  for (hsize_t d : dims) elements *= d;
  if (elements > 0) H5_CHECK(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), context);
}

std::vector<hsize_t> dataset_dims(hid_t parent, const char* name, const std::string& context) {
  H5Handle dataset(H5_CHECK(H5Dopen2(parent, name, H5P_DEFAULT), context + " dataset " + name));
  H5Handle space(H5_CHECK(H5Dget_space(dataset), context));
  int rank = H5_CHECK(H5Sget_simple_extent_ndims(space), context);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr), context);
  return dims;
}

void read_dataset(hid_t parent, const char* name, hid_t memory_type, void* out, const std::string& context) {
  H5Handle dataset(H5_CHECK(H5Dopen2(parent, name, H5P_DEFAULT), context + " dataset " + name));
  H5Handle space(H5_CHECK(H5Dget_space(dataset), context));
  if (H5_CHECK(H5Sget_simple_extent_npoints(space), context) == 0) return;
  H5_CHECK(H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), context + " dataset " + name);
}

void write_string_attribute(hid_t object, const char* name, const std::string& value, const std::string& context) {
  H5Handle type(H5_CHECK(H5Tcopy(H5T_C_S1), context));
  H5_CHECK(H5Tset_size(type, value.empty() ? 1 : value.size()), context);
  H5_CHECK(H5Tset_strpad(type, H5T_STR_NULLPAD), context);
  H5Handle space(H5_CHECK(H5Screate(H5S_SCALAR), context));
  H5Handle attribute(H5_CHECK(H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT), context));
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5_CHECK(H5Awrite(attribute, type, padded.data()), context);
}

void write_int_attribute(hid_t object, const char* name, std::int64_t value, const std::string& context) {
  H5Handle space(H5_CHECK(H5Screate(H5S_SCALAR), context));
  H5Handle attribute(H5_CHECK(H5Acreate2(object, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), context));
  H5_CHECK(H5Awrite(attribute, H5T_NATIVE_INT64, &value), context);
}

std::vector<std::string> read_strings_attribute(hid_t object, const char* name, const std::string& context) {
  std::string where = context + " attribute " + name;
  H5Handle attribute(H5_CHECK(H5Aopen(object, name, H5P_DEFAULT), where));
  H5Handle type(H5_CHECK(H5Aget_type(attribute), where));
  if (H5Tget_class(type) != H5T_STRING) fail_user("{}: expected a string", where);
  H5Handle space(H5_CHECK(H5Aget_space(attribute), where));
  const auto count = static_cast<std::size_t>(H5_CHECK(H5Sget_simple_extent_npoints(space), where));
  std::vector<std::string> values;
  if (H5Tis_variable_str(type) > 0) {  // as h5py writes str attributes
    H5Handle memory(H5_CHECK(H5Tcopy(H5T_C_S1), where));
    H5_CHECK(H5Tset_size(memory, H5T_VARIABLE), where);
    H5_CHECK(H5Tset_cset(memory, H5Tget_cset(type)), where);
    std::vector<char*> pointers(count, nullptr);
    H5_CHECK(H5Aread(attribute, memory, pointers.data()), where);
    for (char* p : pointers) values.emplace_back(p != nullptr ? p : "");
    H5_CHECK(H5Dvlen_reclaim(memory, space, H5P_DEFAULT, pointers.data()), where);
    return values;
  }
  const std::size_t size = H5Tget_size(type);
  std::string buffer(size * count, '\0');
  H5_CHECK(H5Aread(attribute, type, buffer.data()), where);
  for (std::size_t i = 0; i < count; ++i) {
    std::string value = buffer.substr(i * size, size);
    value.resize(std::min(value.find('\0'), value.size()));
    values.push_back(value);
  }
  return values;
}

std::string read_string_attribute(hid_t object, const char* name, const std::string& context) {
  std::vector<std::string> values = read_strings_attribute(object, name, context);
  if (values.size() != 1) fail_user("{} attribute {}: expected one string, found {}", context, name, values.size());
  return values.front();
}

std::int64_t read_int_attribute(hid_t object, const char* name, const std::string& context) {
  std::string where = context + " attribute " + name;
  H5Handle attribute(H5_CHECK(H5Aopen(object, name, H5P_DEFAULT), where));
  std::int64_t value = 0;
  H5_CHECK(H5Aread(attribute, H5T_NATIVE_INT64, &value), where);
  return value;
}

}  // namespace shrike::data
