// Solves that leave the event loop free (Tao.solveAsync): TaoSolve runs on a thread of its own,
// and every callback it makes into JavaScript (objective, gradient, Hessian products, monitors,
// and the clean-ups that touch JS objects) is marshalled to the JavaScript thread through a
// thread-safe function, while the solver thread waits. PETSc is used by one thread at a time:
// the solver thread between callbacks, the JavaScript thread inside them; outside its callbacks,
// JavaScript may not call PETSc until the solve ends (RefusedWhileAsync).
#include "wrap.h"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace pml {
namespace {

std::thread::id g_jsThread;

struct Item {
  std::function<PetscErrorCode()> fn;
  PetscErrorCode result = 0;
  bool done = false;
  struct Job *job = nullptr; // set on the completion: it runs the job's `done`, nobody waits for it
};

struct Job {
  napi_threadsafe_function tsfn = nullptr;
  std::thread thread;
  std::function<PetscErrorCode()> work;
  std::function<void(napi_env, PetscErrorCode)> done;
  PetscErrorCode ierr = 0;
  bool abandoned = false;
};

std::mutex g_mu;
std::condition_variable g_cv;
Job *g_job = nullptr;       // the solve in flight (one per process)
Item *g_waiting = nullptr;  // the callback the solver thread waits for
int g_marshalled = 0;       // > 0 while a marshalled callback runs on the JavaScript thread
bool g_abandoned = false;   // the process is exiting: callbacks fail at once

void Finish(Item *item, PetscErrorCode r) {
  std::lock_guard<std::mutex> lk(g_mu);
  item->result = r;
  item->done = true;
  if (g_waiting == item) g_waiting = nullptr;
  g_cv.notify_all();
}

void CallJs(napi_env env, napi_value, void *, void *data) {
  Item *item = static_cast<Item *>(data);
  if (item->job) {
    Job *job = item->job;
    delete item;
    if (job->abandoned) return; // joined by AbandonAsync; the process is exiting
    job->thread.join();
    g_job = nullptr;
    napi_release_threadsafe_function(job->tsfn, napi_tsfn_release);
    if (env) {
      Napi::HandleScope scope{Napi::Env(env)};
      job->done(env, job->ierr);
    }
    delete job;
    return;
  }
  if (!env) { // the environment is going away
    Finish(item, PETSC_ERR_ORDER);
    return;
  }
  Napi::HandleScope scope{Napi::Env(env)};
  g_marshalled++;
  PetscErrorCode r = item->fn();
  g_marshalled--;
  // The callbacks stash their exceptions; one left pending here would reach Node as uncaught.
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    StashException(Napi::Env(env));
    if (!r) r = PETSC_ERR_USER;
  }
  Finish(item, r);
}

} // namespace

void SetJsThread() { g_jsThread = std::this_thread::get_id(); }
bool OffJsThread() { return std::this_thread::get_id() != g_jsThread; }
bool AsyncSolveRunning() { return g_job != nullptr; }

PetscErrorCode OnJsThread(const std::function<PetscErrorCode()> &fn) {
  if (!OffJsThread()) return fn();
  Item item;
  item.fn = fn;
  {
    std::unique_lock<std::mutex> lk(g_mu);
    if (g_abandoned || !g_job) return PETSC_ERR_ORDER;
    g_waiting = &item;
  }
  if (napi_call_threadsafe_function(g_job->tsfn, &item, napi_tsfn_blocking) != napi_ok) return PETSC_ERR_ORDER;
  std::unique_lock<std::mutex> lk(g_mu);
  g_cv.wait(lk, [&] { return item.done; });
  return item.result;
}

bool RefusedWhileAsync(napi_env env, const char *what) {
  if (!g_job || g_marshalled > 0 || OffJsThread()) return false;
  Throw(env, std::string("petscml: ") + what + ": a solveAsync() is running; PETSc can be used from JavaScript only inside its " +
                 "callbacks until it ends (await it first)");
  return true;
}

bool StartAsync(napi_env env, std::function<PetscErrorCode()> work, std::function<void(napi_env, PetscErrorCode)> done) {
  if (g_job) {
    Throw(env, "petscml: Tao.solveAsync: another solveAsync() is running (one at a time per process)");
    return false;
  }
  Job *job = new Job;
  job->work = std::move(work);
  job->done = std::move(done);
  napi_value name;
  napi_create_string_utf8(env, "petscml solveAsync", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, nullptr, CallJs, &job->tsfn) != napi_ok) {
    delete job;
    Throw(env, "petscml: Tao.solveAsync: could not create the callback channel");
    return false;
  }
  g_job = job;
  g_abandoned = false;
  job->thread = std::thread([job] {
    job->ierr = job->work();
    Item *last = new Item;
    last->job = job;
    napi_call_threadsafe_function(job->tsfn, last, napi_tsfn_blocking);
  });
  return true;
}

void AbandonAsync() {
  Job *job = g_job;
  if (!job) return;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_abandoned = true;
    if (g_waiting) {
      g_waiting->result = PETSC_ERR_ORDER;
      g_waiting->done = true;
      g_waiting = nullptr;
    }
    g_cv.notify_all();
  }
  // The solver thread fails at its next callback and ends; its completion is dropped.
  job->abandoned = true;
  if (job->thread.joinable()) job->thread.join();
  g_job = nullptr;
}

} // namespace pml
