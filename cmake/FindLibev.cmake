# Debian's libev-dev ships no pkg-config file; find it by hand.
#   Libev_FOUND, target Libev::libev
find_path(Libev_INCLUDE_DIR NAMES ev.h PATH_SUFFIXES libev)
find_library(Libev_LIBRARY NAMES ev)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libev REQUIRED_VARS Libev_LIBRARY Libev_INCLUDE_DIR)
if(Libev_FOUND AND NOT TARGET Libev::libev)
  add_library(Libev::libev UNKNOWN IMPORTED)
  set_target_properties(Libev::libev PROPERTIES
    IMPORTED_LOCATION "${Libev_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Libev_INCLUDE_DIR}")
endif()
mark_as_advanced(Libev_INCLUDE_DIR Libev_LIBRARY)
