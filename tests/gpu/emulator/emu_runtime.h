// tests/gpu/emulator/emu_runtime.h: runs CUDA kernels on the CPU, a development aid for
// machines without a GPU (not a substitute for a GPU run; see README.md).
// Force-included (-include) before a .cu rewritten by rewrite.py and before the test.
// Each launch runs its blocks one after another; kernels that use __syncthreads or a
// warp intrinsic run every thread of the block as a fiber (ucontext), switching only at
// barriers, others run thread after thread. Warp intrinsics (__shfl*_sync, __ballot_sync,
// __syncwarp) wait for every lane of their mask (lanes = 32 consecutive threads of the
// block) and exchange values; a lane of the mask that exited or waits at __syncthreads,
// a __syncthreads some threads never reach, and a deadlock are reported and abort.
// Device memory is host memory (cudaMalloc fills it with 0xa5); static shared arrays
// start as 0xff bytes in every block; atomics are plain read-modify-writes.
// EMU_ORDER=reverse runs blocks and threads in reverse order (order-dependent races
// change the result). Not modelled: FMA contraction, the GPU's libm (rewrite.py's
// EMU_ULP_NOISE only perturbs results by the documented ulp bounds), memory ordering,
// races inside one barrier interval that do not depend on order, streams (all
// synchronous), launch errors other than bad configurations.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <type_traits>
#include <ucontext.h>
#include <vector>
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#undef __noinline__
#undef __launch_bounds__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__  // empty: libstdc++ spells __attribute__((__noinline__))
#define __shared__ static
#define __launch_bounds__(...)
using std::max;
using std::min;
namespace emu {
enum State { kRunnable, kWaitBlock, kWaitWarp, kDone };
struct Fiber {
  ucontext_t ctx;
  State state = kRunnable;
  unsigned mask = 0, warp_ops = 0;
};
inline uint3 block_idx, thread_idx;
inline dim3 block_dim, grid_dim;
inline bool in_fibers = false;
inline ucontext_t main_ctx;
inline std::vector<Fiber> fibers;
inline std::vector<char> stacks;
inline std::vector<std::uint64_t> exchange;  // [warp][parity][lane]
inline std::vector<unsigned char> dyn_shared;
inline int cur = 0;
inline const std::function<void()>* body = nullptr;
inline const char* kernel_name = "";
inline std::vector<void*> shared_seen;  // static shared arrays poisoned in this block
// EMU_ORDER=reverse runs blocks and threads (between barriers) in reverse order: a
// result that changes reveals a race.
inline const bool reverse_order = [] {
  const char* o = std::getenv("EMU_ORDER");
  return o != nullptr && std::strcmp(o, "reverse") == 0;
}();

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "EMU ERROR in %s (block %u,%u,%u thread %u): %s\n", kernel_name, block_idx.x, block_idx.y,
               block_idx.z, thread_idx.x, what);
  std::abort();
}
inline void poison_shared(void* p, std::size_t bytes) {
  if (std::find(shared_seen.begin(), shared_seen.end(), p) != shared_seen.end()) return;
  shared_seen.push_back(p);
  std::memset(p, 0xff, bytes);
}
inline int order(int i, int n) { return reverse_order ? n - 1 - i : i; }
inline void set_thread(int t) {
  thread_idx = {unsigned(t % block_dim.x), unsigned((t / block_dim.x) % block_dim.y),
                unsigned(t / (block_dim.x * block_dim.y))};
}
inline void trampoline() {
  (*body)();
  fibers[cur].state = kDone;
}
inline void yield(State s, unsigned mask = 0) {
  if (!in_fibers) fail("__syncthreads / warp intrinsic in a kernel rewrite.py classed as non-synchronising");
  fibers[cur].state = s;
  fibers[cur].mask = mask;
  swapcontext(&fibers[cur].ctx, &main_ctx);
}
inline void syncthreads() { yield(kWaitBlock); }

// Lanes of warp w that exist in a block of n threads.
inline unsigned warp_lanes(int w, int n) {
  const int count = std::min(32, n - 32 * w);
  return count == 32 ? 0xffffffffu : ((1u << count) - 1u);
}

// Releases fibers whose barrier is complete; returns whether any was released.
inline bool release(int n) {
  bool progress = false;
  for (int w = 0; w * 32 < n; ++w) {
    unsigned waiting = 0, mask = 0;
    for (int l = 0; l < 32 && 32 * w + l < n; ++l) {
      const Fiber& f = fibers[32 * w + l];
      if (f.state != kWaitWarp) continue;
      if (waiting != 0 && f.mask != mask) fail("lanes of one warp op disagree on the mask");
      waiting |= 1u << l;
      mask = f.mask;
    }
    if (waiting == 0) continue;
    if ((mask & ~warp_lanes(w, n)) != 0) fail("warp op mask names lanes that do not exist in this block");
    if ((waiting & mask) != mask) {
      for (int l = 0; l < 32; ++l)
        if ((mask >> l & 1) && !(waiting >> l & 1) && fibers[32 * w + l].state != kRunnable) {
          char msg[160];
          std::snprintf(msg, sizeof msg, "warp %d op with mask %08x: lane %d %s", w, mask, l,
                        fibers[32 * w + l].state == kDone ? "has exited" : "waits at __syncthreads");
          fail(msg);
        }
      continue;
    }
    if ((waiting & ~mask) != 0) fail("lane waits on a warp op but is not in its mask");
    for (int l = 0; l < 32; ++l)
      if (waiting >> l & 1) fibers[32 * w + l].state = kRunnable;
    progress = true;
  }
  if (progress) return true;
  int at_barrier = 0, done = 0;
  for (int t = 0; t < n; ++t) at_barrier += fibers[t].state == kWaitBlock, done += fibers[t].state == kDone;
  if (at_barrier == 0) return false;
  if (at_barrier + done != n) return false;
  if (done != 0) fail("__syncthreads reached while other threads of the block have exited");
  for (int t = 0; t < n; ++t) fibers[t].state = kRunnable;
  return true;
}

inline void run_block_fibers(int n) {
  const std::size_t stack = 128 * 1024;
  if (stacks.size() < n * stack) stacks.resize(n * stack);
  fibers.assign(n, Fiber{});
  exchange.assign(std::size_t((n + 31) / 32) * 64, 0);
  for (int t = 0; t < n; ++t) {
    getcontext(&fibers[t].ctx);
    fibers[t].ctx.uc_stack.ss_sp = stacks.data() + t * stack;
    fibers[t].ctx.uc_stack.ss_size = stack;
    fibers[t].ctx.uc_link = &main_ctx;
    makecontext(&fibers[t].ctx, trampoline, 0);
  }
  in_fibers = true;
  for (;;) {
    for (int i = 0; i < n; ++i) {
      const int t = order(i, n);
      if (fibers[t].state != kRunnable) continue;
      cur = t;
      set_thread(t);
      swapcontext(&main_ctx, &fibers[t].ctx);
    }
    int done = 0;
    for (int t = 0; t < n; ++t) done += fibers[t].state == kDone;
    if (done == n) break;
    if (!release(n)) fail("deadlock: threads wait at barriers that can never complete");
  }
  in_fibers = false;
}

inline void launch(const char* name, dim3 grid, dim3 block, std::size_t shared_bytes, const std::function<void()>& fn,
                   bool sync) {
  kernel_name = name;
  const unsigned long long n = 1ull * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || n == 0 || n > 1024 || grid.y > 65535 || grid.z > 65535 ||
      block.z > 64 || shared_bytes > 48 * 1024) {
    std::fprintf(stderr, "EMU ERROR: bad launch of %s: grid %u %u %u block %u %u %u shared %zu\n", name, grid.x,
                 grid.y, grid.z, block.x, block.y, block.z, shared_bytes);
    std::abort();
  }
  grid_dim = grid;
  block_dim = block;
  body = &fn;
  dyn_shared.assign(shared_bytes + 16, 0xa5);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        block_idx = {unsigned(order(bx, grid.x)), unsigned(order(by, grid.y)), unsigned(order(bz, grid.z))};
        shared_seen.clear();
        std::memset(dyn_shared.data(), 0xff, dyn_shared.size());
        if (sync) {
          run_block_fibers(int(n));
        } else {
          for (int i = 0; i < int(n); ++i) set_thread(order(i, int(n))), fn();
        }
      }
}

// The warp exchange: every lane of `mask` publishes `mine`; returns the 32 published values.
inline const std::uint64_t* warp_exchange(unsigned mask, std::uint64_t mine) {
  if (!in_fibers) fail("warp intrinsic in a kernel rewrite.py classed as non-synchronising");
  Fiber& f = fibers[cur];
  const int lane = cur % 32;
  if (!(mask >> lane & 1)) fail("warp op called by a lane outside its mask");
  std::uint64_t* slots = exchange.data() + std::size_t(cur / 32) * 64 + (f.warp_ops++ & 1) * 32;
  slots[lane] = mine;
  yield(kWaitWarp, mask);
  return slots;
}
template <class T>
std::uint64_t bits_of(T v) {
  static_assert(sizeof(T) <= 8);
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T read_lane(const std::uint64_t* slots, unsigned mask, int src) {
  if (!(mask >> src & 1)) fail("shuffle reads a lane outside the mask");
  T v;
  std::memcpy(&v, &slots[src], sizeof(T));
  return v;
}
template <class T>
T shfl(unsigned mask, T v, int src, int width = 32) {
  const int lane = cur % 32;
  const std::uint64_t* s = warp_exchange(mask, bits_of(v));
  return read_lane<T>(s, mask, (lane / width) * width + (src % width));
}
template <class T>
T shfl_xor(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = cur % 32;
  int src = lane ^ lane_mask;
  if (src / width > lane / width) src = lane;
  return read_lane<T>(warp_exchange(mask, bits_of(v)), mask, src);
}
template <class T>
T shfl_down(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = cur % 32;
  const int src = (lane % width) + int(delta) < width ? lane + int(delta) : lane;
  return read_lane<T>(warp_exchange(mask, bits_of(v)), mask, src);
}
template <class T>
T shfl_up(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = cur % 32;
  const int src = (lane % width) >= int(delta) ? lane - int(delta) : lane;
  return read_lane<T>(warp_exchange(mask, bits_of(v)), mask, src);
}
inline unsigned ballot(unsigned mask, int pred) {
  const std::uint64_t* s = warp_exchange(mask, pred != 0);
  unsigned out = 0;
  for (int l = 0; l < 32; ++l)
    if ((mask >> l & 1) && s[l]) out |= 1u << l;
  return out;
}

inline void syncwarp(unsigned mask = 0xffffffffu) { ballot(mask, 0); }
template <class T, class U>
T atomic_rmw(T* p, U v, int op) {
  const T old = *p;
  const T val = static_cast<T>(v);
  switch (op) {
    case 0: *p = old + val; break;
    case 1: *p = val < old ? val : old; break;
    case 2: *p = old < val ? val : old; break;
    case 3: *p = val; break;
  }
  return old;
}
template <class T, class U>
T atomic_cas(T* p, U compare, U v) {
  const T old = *p;
  if (old == static_cast<T>(compare)) *p = static_cast<T>(v);
  return old;
}
template <class To, class From>
To bit_cast(From v) {
  static_assert(sizeof(To) == sizeof(From));
  To out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}
// Deterministic pseudo-random error of up to `ulps` ulp on float results (EMU_ULP_NOISE).
template <class T>
T perturb(T r, std::uint64_t seed, int ulps) {
  if constexpr (!std::is_same_v<T, float>) {
    return r;
  } else {
    if (!std::isfinite(r) || r == 0.0f) return r;
    seed = (seed + 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    seed ^= seed >> 31;
    const int delta = int(seed % (2 * ulps + 1)) - ulps;
    return bit_cast<float>(bit_cast<std::int32_t>(r) + delta);
  }
}
template <class A>
std::uint64_t seed_of(A a) { return bits_of(a); }
#define EMU_NOISY(name, fn, ulps)                                          \
  template <class A>                                                       \
  auto noisy_##name(A a) { return perturb(fn(a), seed_of(a) * 31 + __LINE__, ulps); } \
  template <class A, class B>                                              \
  auto noisy_##name(A a, B b) { return perturb(fn(a, b), seed_of(a) * 131 + seed_of(b), ulps); }
// CUDA's documented maximum errors (CUDA C Programming Guide, single precision).
EMU_NOISY(exp, std::exp, 2) EMU_NOISY(expf, std::exp, 2) EMU_NOISY(log, std::log, 1) EMU_NOISY(logf, std::log, 1)
EMU_NOISY(pow, std::pow, 4) EMU_NOISY(powf, std::pow, 4) EMU_NOISY(atan, std::atan, 2) EMU_NOISY(atanf, std::atan, 2)
#undef EMU_NOISY
inline float fadd(float a, float b) { return a + b; }
inline float fsub(float a, float b) { return a - b; }
inline float fmul(float a, float b) { return a * b; }
inline float fdiv(float a, float b) { return a / b; }
inline float fsqrt(float a) { return std::sqrt(a); }
inline double dadd(double a, double b) { return a + b; }
inline double dmul(double a, double b) { return a * b; }
inline cudaError_t malloc_(void** p, std::size_t b) {
  *p = std::malloc(b ? b : 1);
  std::memset(*p, 0xa5, b);
  return cudaSuccess;
}
}  // namespace emu

#define blockIdx emu::block_idx
#define threadIdx emu::thread_idx
#define blockDim emu::block_dim
#define gridDim emu::grid_dim
#define warpSize 32
#define __syncthreads() emu::syncthreads()
#define __syncwarp emu::syncwarp
#define __shfl_sync emu::shfl
#define __shfl_xor_sync emu::shfl_xor
#define __shfl_down_sync emu::shfl_down
#define __shfl_up_sync emu::shfl_up
#define __ballot_sync emu::ballot
#define __any_sync(m, p) (emu::ballot(m, p) != 0)
#define __all_sync(m, p) (emu::ballot(m, p) == (m))
#define atomicAdd(p, v) emu::atomic_rmw(p, v, 0)
#define atomicMin(p, v) emu::atomic_rmw(p, v, 1)
#define atomicMax(p, v) emu::atomic_rmw(p, v, 2)
#define atomicExch(p, v) emu::atomic_rmw(p, v, 3)
#define atomicCAS(p, c, v) emu::atomic_cas(p, c, v)
#define __popc(x) __builtin_popcount(x)
#define __popcll(x) __builtin_popcountll(x)
#define __trap() emu::fail("__trap()")
#define __ldg(p) (*(p))
#define __float_as_int(x) emu::bit_cast<int>(float(x))
#define __int_as_float(x) emu::bit_cast<float>(int(x))
#define __float_as_uint(x) emu::bit_cast<unsigned>(float(x))
#define __uint_as_float(x) emu::bit_cast<float>(unsigned(x))
#define __fadd_rn(a, b) emu::fadd(a, b)
#define __fsub_rn(a, b) emu::fsub(a, b)
#define __fmul_rn(a, b) emu::fmul(a, b)
#define __fdiv_rn(a, b) emu::fdiv(a, b)
#define __fsqrt_rn(a) emu::fsqrt(a)
#define __dadd_rn(a, b) emu::dadd(a, b)
#define __dmul_rn(a, b) emu::dmul(a, b)
#define cudaMalloc(p, b) emu::malloc_((void**)(p), b)
#define cudaMallocHost(p, b) emu::malloc_((void**)(p), b)
#define cudaMallocAsync(p, b, s) emu::malloc_((void**)(p), b)
#define cudaFree(p) (std::free(p), cudaSuccess)
#define cudaFreeHost(p) (std::free(p), cudaSuccess)
#define cudaFreeAsync(p, s) (std::free(p), cudaSuccess)
#define cudaMemcpy(d, s, b, k) (std::memcpy(d, s, b), cudaSuccess)
#define cudaMemcpyAsync(d, s, b, k, st) (std::memcpy(d, s, b), cudaSuccess)
#define cudaMemset(d, v, b) (std::memset(d, v, b), cudaSuccess)
#define cudaMemsetAsync(d, v, b, st) (std::memset(d, v, b), cudaSuccess)
#define cudaDeviceSynchronize() cudaSuccess
#define cudaStreamSynchronize(s) cudaSuccess
#define cudaGetLastError() cudaSuccess
#define cudaStreamCreate(p) (*(p) = nullptr, cudaSuccess)
#define cudaStreamCreateWithFlags(p, f) (*(p) = nullptr, cudaSuccess)
#define cudaStreamDestroy(s) cudaSuccess
#define cudaEventCreateWithFlags(p, f) (*(p) = nullptr, cudaSuccess)
#define cudaEventRecord(e, s) cudaSuccess
#define cudaEventSynchronize(e) cudaSuccess
#define cudaEventDestroy(e) cudaSuccess
#define cudaGetDevice(p) (*(p) = 0, cudaSuccess)
#define cudaGetErrorName(e) "emu"
#define cudaGetErrorString(e) "emu"
