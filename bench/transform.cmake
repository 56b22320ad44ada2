# Transform benchmark: bench/transform_bench.sh runs `wiggly run` under
# own_usage, which reports the CPU and peak RSS of that one process apart
# from its children (the transform's Python processes).
add_executable(own_usage ${CMAKE_CURRENT_LIST_DIR}/own_usage.c)
target_link_libraries(own_usage PRIVATE wiggly_options)
