# Finds libexif (Debian libexif-dev), used to read the EXIF orientation of JPEGs.
# Defines the imported target LibExif::LibExif.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_LIBEXIF QUIET libexif)
endif()
find_path(LibExif_INCLUDE_DIR libexif/exif-data.h HINTS ${PC_LIBEXIF_INCLUDE_DIRS})
find_library(LibExif_LIBRARY NAMES exif HINTS ${PC_LIBEXIF_LIBRARY_DIRS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibExif REQUIRED_VARS LibExif_LIBRARY LibExif_INCLUDE_DIR)
if(LibExif_FOUND AND NOT TARGET LibExif::LibExif)
  add_library(LibExif::LibExif UNKNOWN IMPORTED)
  set_target_properties(LibExif::LibExif PROPERTIES IMPORTED_LOCATION ${LibExif_LIBRARY}
                        INTERFACE_INCLUDE_DIRECTORIES ${LibExif_INCLUDE_DIR})
endif()
