// The engine's worker threads: one call's work split into parts, part 0 on the calling (JS) thread,
// the others on helpers that spin briefly between calls and then sleep.
//
// Why not OpenBLAS's own threads: measured inside a Node.js f+g (2 cores, Zen 3), OpenBLAS's
// second thread bought 10-15%, against 1.9x on the same products in a loop of products alone; its
// threads go back to sleep between products, and tfjs dispatches ~40 kernels between them. Here a
// product is split by rows into single-threaded sgemm calls, each part's result bitwise what the
// whole product gives for those rows (see kRowTile), and large elementwise loops and reductions
// use the same threads, so that both cores work through the whole call, not only inside sgemm.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace pml {

class Pool {
public:
  using Task = void (*)(void *ctx, int part, int parts);

  static Pool &Get() {
    static Pool *p = new Pool(); // never destroyed: helpers must not outlive a static destructor
    return *p;
  }

  int Threads() const { return threads_; }

  // n threads in all (the caller included), at least 1. Helpers are started on first use.
  void SetThreads(int n) {
    threads_ = std::max(1, std::min(n, kMaxThreads));
  }

  // Runs task(ctx, i, parts) for i in [0, parts); parts is capped at Threads(). Returns when all
  // parts are done. Not reentrant: only the JS thread calls it.
  void Run(int parts, Task task, void *ctx) {
    parts = std::max(1, std::min(parts, threads_));
    if (parts == 1) {
      task(ctx, 0, 1);
      return;
    }
    if (!Start(parts - 1)) {
      // Fewer threads than asked for could be made: use those there are from now on.
      threads_ = static_cast<int>(helpers_.size()) + 1;
      parts = std::min(parts, threads_);
      if (parts == 1) {
        task(ctx, 0, 1);
        return;
      }
    }
    task_ = task;
    ctx_ = ctx;
    parts_ = parts;
    // Every helper answers every call, those beyond `parts` with nothing to do: a helper never
    // lags into the next call's fields.
    pending_.store(static_cast<int>(helpers_.size()), std::memory_order_seq_cst);
    gen_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
    task(ctx, 0, parts);
    while (pending_.load(std::memory_order_acquire) != 0) Pause();
  }

  template <class F> void For(int parts, F &&f) {
    Run(parts, [](void *c, int i, int n) { (*static_cast<F *>(c))(i, n); }, &f);
  }

private:
  static constexpr int kMaxThreads = 64;
  // How long a helper spins for the next call before it sleeps: longer than tfjs's dispatch
  // between two kernels (~10-40 us), short enough not to hold a core when the JS thread is idle.
  static constexpr std::chrono::microseconds kSpin{200};

  Pool() = default; // one thread until InitEngine sets the starting count

  static inline void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  // Helpers for parts 1..need; false where a thread cannot be made.
  bool Start(int need) {
    while (static_cast<int>(helpers_.size()) < need) {
      int id = static_cast<int>(helpers_.size()) + 1;
      try {
        // The generation now, read here: a thread that starts after the first call was posted
        // must still answer it.
        unsigned long gen = gen_.load(std::memory_order_acquire);
        helpers_.emplace_back([this, id, gen] { Loop(id, gen); });
        helpers_.back().detach();
      } catch (...) {
        // emplace_back left the vector as it was; every thread in it is running and answers calls.
        return false;
      }
    }
    return true;
  }

  void Loop(int id, unsigned long seen) {
    for (;;) {
      auto t0 = std::chrono::steady_clock::now();
      int n = 0;
      while (gen_.load(std::memory_order_acquire) == seen) {
        Pause();
        if (++n % 256 == 0 && std::chrono::steady_clock::now() - t0 > kSpin) {
          std::unique_lock<std::mutex> lk(mu_);
          sleeping_.fetch_add(1, std::memory_order_seq_cst);
          cv_.wait(lk, [&] { return gen_.load(std::memory_order_seq_cst) != seen; });
          sleeping_.fetch_sub(1, std::memory_order_seq_cst);
          break;
        }
      }
      seen = gen_.load(std::memory_order_acquire);
      if (id < parts_) task_(ctx_, id, parts_);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  int threads_ = 1;
  std::vector<std::thread> helpers_;
  std::atomic<unsigned long> gen_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  Task task_ = nullptr;
  void *ctx_ = nullptr;
  int parts_ = 1;
};

} // namespace pml
