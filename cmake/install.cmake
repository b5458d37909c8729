# `cmake --install <build> [--prefix P]`: the public headers, libqkern.so.0 and
# libqkern.a, a CMake package (find_package(qkern CONFIG) -> qkern::qkern, the
# shared library, and qkern::qkern_static) and qkern.pc for pkg-config.
include(CMakePackageConfigHelpers)

install(DIRECTORY include/qkern DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
install(TARGETS qkern qkern_shared EXPORT qkernTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(QKERN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/qkern)
install(EXPORT qkernTargets NAMESPACE qkern:: DESTINATION ${QKERN_CMAKE_DIR})
configure_package_config_file(cmake/qkernConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/qkernConfig.cmake INSTALL_DESTINATION ${QKERN_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/qkernConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/qkernConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/qkernConfigVersion.cmake
        DESTINATION ${QKERN_CMAKE_DIR})
# qkern.pc finds the prefix from its own location, so `cmake --install --prefix P`
# (chosen after configuring) gives a correct file.
file(RELATIVE_PATH QKERN_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" QKERN_PC_TO_PREFIX "${QKERN_PC_TO_PREFIX}")
configure_file(cmake/qkern.pc.in ${CMAKE_CURRENT_BINARY_DIR}/qkern.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/qkern.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
