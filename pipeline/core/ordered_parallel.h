// pipeline/core/ordered_parallel.h
//
// Parallel work whose results are consumed in input order: `threads` workers run
// produce(i) for i in [0, n) (any order, at most `window` results ahead of the
// consumer), and the calling thread runs consume(i, result) for i = 0, 1, 2, ...
// This is how `shard` decodes on every core while one thread writes HDF5 (the library
// serialises its calls; see hpc-notes) and the output stays byte-identical whatever
// the thread timing. The first exception from either side stops the workers and is
// rethrown to the caller.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace shrike {

template <typename Produce, typename Consume>
void run_ordered_parallel(std::size_t n, unsigned threads, std::size_t window, Produce produce,
                          Consume consume) {
  using Result = decltype(produce(std::size_t{0}));
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::size_t, Result> ready;
  std::size_t next_to_claim = 0;
  std::size_t next_to_consume = 0;
  std::exception_ptr failure;
  if (threads == 0) threads = 1;
  if (window < threads) window = threads;

  auto worker = [&] {
    for (;;) {
      std::size_t index;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] {
          return failure || next_to_claim >= n || next_to_claim < next_to_consume + window;
        });
        if (failure || next_to_claim >= n) return;
        index = next_to_claim++;
      }
      try {
        Result result = produce(index);
        std::lock_guard lock(mutex);
        ready.emplace(index, std::move(result));
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!failure) failure = std::current_exception();
      }
      changed.notify_all();
    }
  };

  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);

  try {
    while (next_to_consume < n) {
      std::optional<Result> item;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return failure || ready.count(next_to_consume) > 0; });
        if (failure) break;
        auto node = ready.extract(next_to_consume);
        item.emplace(std::move(node.mapped()));
      }
      consume(next_to_consume, std::move(*item));
      {
        std::lock_guard lock(mutex);
        ++next_to_consume;
      }
      changed.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mutex);
    if (!failure) failure = std::current_exception();
  }
  changed.notify_all();
  for (auto& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

// Cores this process may run on (its CPU affinity), at least 1.
unsigned available_cores();

}  // namespace shrike
