# tests/unit/system_stats.cmake (included from tests/CMakeLists.txt): the "system" record
# figures (pipeline/train/system_stats.h, gpu_stats.h). test_system_stats links only what
# it uses (no test_support.cpp), so bench/pack-gpu-carry.sh can carry it small to a GPU
# machine. The fake NVML is built as fake_nvml/libnvidia-ml.so.1 in its own folder: the
# tests load it by path, and once more through LD_LIBRARY_PATH as a driver's would be.
add_library(shrike_fake_nvml SHARED unit/fake_nvml.cpp)
set_target_properties(shrike_fake_nvml PROPERTIES OUTPUT_NAME nvidia-ml SOVERSION 1
                      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fake_nvml)
add_executable(test_system_stats unit/test_system_stats.cpp)
target_link_libraries(test_system_stats PRIVATE shrike_train GTest::gtest_main)
target_compile_definitions(test_system_stats PRIVATE SHRIKE_FAKE_NVML="$<TARGET_FILE:shrike_fake_nvml>")
add_dependencies(test_system_stats shrike_fake_nvml)
gtest_discover_tests(test_system_stats PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
add_test(NAME unit.system_stats_fake_nvml_on_library_path
         COMMAND test_system_stats --gtest_filter=NvmlOnLibraryPath.*)
set_tests_properties(unit.system_stats_fake_nvml_on_library_path PROPERTIES LABELS unit SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
                     ENVIRONMENT "LD_LIBRARY_PATH=${CMAKE_CURRENT_BINARY_DIR}/fake_nvml;SHRIKE_FAKE_NVML_ON_PATH=1")
