// finetune_dist: a thin N-API binding of Gloo (Debian libgloo-dev) for data-parallel training.
// One process-wide communicator: init() rendezvouses through Gloo's FileStore (shared directory) or
// RedisStore, connects a full TCP mesh and sets Gloo's timeout; allreduceSum() sums a Float32Array in
// place across ranks (Gloo's ring allreduce), barrier() and broadcast() as Gloo's; these block the JS
// thread. allreduceAsync()/wait() run bucket allreduces in order on one background thread so they
// overlap backward (the caller keeps the Float32Array alive and untouched until wait()).
// Not here: bucketing, averaging, the env contract (src/distributed/).
#include <napi.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/rendezvous/redis_store.h>
#include <gloo/transport/tcp/device.h>

namespace {

std::shared_ptr<gloo::Context> g_ctx;
std::chrono::milliseconds g_timeout(30000);
uint32_t g_tag = 0;

struct Job {
  float* p;
  size_t n;
  uint32_t tag;
  bool done = false;
  std::string err;
};

// Heap objects never destroyed: static destructors must not run while the worker waits on them
// (glibc's pthread_cond_destroy blocks on waiters, so a process could hang at exit).
std::mutex& g_mu = *new std::mutex;
std::condition_variable& g_cv = *new std::condition_variable;
std::deque<std::shared_ptr<Job>> g_queue;
std::map<double, std::shared_ptr<Job>> g_jobs;
double g_next_id = 0;
bool g_stop = false;
std::thread* g_worker = nullptr;  // heap, never destroyed: a process exiting without destroy() does not abort

void run_allreduce(const std::shared_ptr<gloo::Context>& ctx, float* p, size_t n, uint32_t tag) {
  gloo::AllreduceOptions opts(ctx);
  opts.setInput(p, n);
  opts.setOutput(p, n);
  opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
  opts.setTag(tag);
  opts.setTimeout(g_timeout);
  gloo::allreduce(opts);
}

void worker_loop() {
  for (;;) {
    std::shared_ptr<Job> job;
    std::shared_ptr<gloo::Context> ctx;
    {
      std::unique_lock<std::mutex> lock(g_mu);
      g_cv.wait(lock, [] { return g_stop || !g_queue.empty(); });
      if (g_queue.empty()) return;
      job = g_queue.front();
      g_queue.pop_front();
      ctx = g_ctx;
    }
    std::string err;
    try {
      if (!ctx) throw std::runtime_error("communicator destroyed");
      run_allreduce(ctx, job->p, job->n, job->tag);
    } catch (const std::exception& e) {
      err = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(g_mu);
      job->err = err;
      job->done = true;
    }
    g_cv.notify_all();
  }
}

std::shared_ptr<gloo::Context> need(const Napi::Env& env) {
  if (!g_ctx) throw Napi::Error::New(env, "finetune_dist: init() was not called (or destroy() already was)");
  return g_ctx;
}

// init({ rank, size, store: 'file' | 'redis', path?, host?, port?, prefix, hostname, timeoutMs })
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  const int rank = o.Get("rank").As<Napi::Number>().Int32Value();
  const int size = o.Get("size").As<Napi::Number>().Int32Value();
  const std::string kind = o.Get("store").As<Napi::String>().Utf8Value();
  const std::string prefix = o.Get("prefix").As<Napi::String>().Utf8Value();
  const std::string hostname = o.Get("hostname").As<Napi::String>().Utf8Value();
  g_timeout = std::chrono::milliseconds(o.Get("timeoutMs").As<Napi::Number>().Int64Value());
  try {
    std::unique_ptr<gloo::rendezvous::Store> base;
    if (kind == "file") {
      base.reset(new gloo::rendezvous::FileStore(o.Get("path").As<Napi::String>().Utf8Value()));
    } else if (kind == "redis") {
      base.reset(new gloo::rendezvous::RedisStore(o.Get("host").As<Napi::String>().Utf8Value(), o.Get("port").As<Napi::Number>().Int32Value()));
    } else {
      throw Napi::Error::New(env, "finetune_dist: unknown store kind " + kind);
    }
    gloo::rendezvous::PrefixStore store(prefix, *base);
    gloo::transport::tcp::attr attr;
    attr.hostname = hostname;
    auto dev = gloo::transport::tcp::CreateDevice(attr);
    auto ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
    ctx->setTimeout(g_timeout);
    ctx->connectFullMesh(store, dev);
    g_ctx = ctx;
    g_tag = 0;
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("gloo rendezvous failed: ") + e.what());
  }
  return env.Undefined();
}

// allreduceSum(Float32Array): in place.
Napi::Value AllreduceSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ctx = need(env);
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  if (a.ElementLength() == 0) return env.Undefined();
  try {
    run_allreduce(ctx, a.Data(), a.ElementLength(), g_tag++);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("gloo allreduce failed (a peer rank died or timed out): ") + e.what());
  }
  return env.Undefined();
}

// broadcast(Float64Array, root): in place.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ctx = need(env);
  Napi::Float64Array a = info[0].As<Napi::Float64Array>();
  const int root = info[1].As<Napi::Number>().Int32Value();
  try {
    gloo::BroadcastOptions opts(ctx);
    opts.setOutput(a.Data(), a.ElementLength());
    opts.setRoot(root);
    opts.setTag(g_tag++);
    opts.setTimeout(g_timeout);
    gloo::broadcast(opts);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("gloo broadcast failed (a peer rank died or timed out): ") + e.what());
  }
  return env.Undefined();
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ctx = need(env);
  try {
    gloo::BarrierOptions opts(ctx);
    opts.setTag(g_tag++);
    opts.setTimeout(g_timeout);
    gloo::barrier(opts);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("gloo barrier failed (a peer rank died or timed out): ") + e.what());
  }
  return env.Undefined();
}

// allreduceAsync(Float32Array) -> job id: queued behind earlier jobs on the background thread.
Napi::Value AllreduceAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  need(env);
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  auto job = std::make_shared<Job>();
  job->p = a.Data();
  job->n = a.ElementLength();
  job->tag = g_tag++;  // assigned on the JS thread, so every rank numbers its collectives alike
  double id;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!g_worker) {
      g_stop = false;
      g_worker = new std::thread(worker_loop);
    }
    id = g_next_id++;
    g_jobs[id] = job;
    if (job->n == 0) job->done = true; else g_queue.push_back(job);
  }
  g_cv.notify_all();
  return Napi::Number::New(env, id);
}

// wait(id): blocks until that job is done; throws its error.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double id = info[0].As<Napi::Number>().DoubleValue();
  std::shared_ptr<Job> job;
  {
    std::unique_lock<std::mutex> lock(g_mu);
    auto it = g_jobs.find(id);
    if (it == g_jobs.end()) throw Napi::Error::New(env, "finetune_dist: wait() on an unknown allreduce job");
    job = it->second;
    g_cv.wait(lock, [&] { return job->done; });
    g_jobs.erase(id);
  }
  if (!job->err.empty()) throw Napi::Error::New(env, "gloo allreduce failed (a peer rank died or timed out): " + job->err);
  return env.Undefined();
}

// Stops the background thread (after its queued jobs, each bounded by Gloo's timeout) and drops the context.
void Shutdown() {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_stop = true;
  }
  g_cv.notify_all();
  if (g_worker) {
    g_worker->join();
    delete g_worker;
    g_worker = nullptr;
  }
  g_ctx.reset();
}

void CleanupHook(void*) { Shutdown(); }

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  napi_add_env_cleanup_hook(env, CleanupHook, nullptr);  // also when a rank exits on an error without destroy()
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("allreduceSum", Napi::Function::New(env, AllreduceSum));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast));
  exports.Set("allreduceAsync", Napi::Function::New(env, AllreduceAsync));
  exports.Set("wait", Napi::Function::New(env, Wait));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("destroy", Napi::Function::New(env, Destroy));
  return exports;
}

}  // namespace

NODE_API_MODULE(finetune_dist, InitModule)
