// pool.cpp — the per-thread cache of small blocks behind Values' heap parts.
//
// Each block is an ordinary operator-new allocation, so any thread may free it; the cache only
// keeps up to `cap` freed blocks per size class for the next allocation of that class. Decoding
// a message builds many small containers and the previous message's are freed, so almost every
// allocation hits the cache. Sanitizer builds bypass it (every block straight to the system
// allocator) so that ASan still sees each use after free.
#include <cstddef>
#include <new>

#include "pyro/value.hpp"

namespace pyro::detail {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool pool_enabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool pool_enabled = false;
#else
constexpr bool pool_enabled = true;
#endif
#else
constexpr bool pool_enabled = true;
#endif

constexpr std::size_t granule = 16;
constexpr std::size_t max_block = 512;
constexpr std::size_t classes = max_block / granule;
constexpr unsigned cap = 256;  // freed blocks kept per class and thread

struct FreeBlock {
  FreeBlock* next;
};

struct Cache {
  FreeBlock* heads[classes] = {};
  unsigned counts[classes] = {};
  ~Cache();
};

// Set when this thread's cache is gone (thread exit); later frees go to operator delete.
thread_local bool cache_gone = false;
thread_local Cache cache;

Cache::~Cache() {
  cache_gone = true;
  for (std::size_t c = 0; c < classes; ++c) {
    while (FreeBlock* b = heads[c]) {
      heads[c] = b->next;
      ::operator delete(b);
    }
  }
}

std::size_t class_of(std::size_t bytes) {
  return (bytes - 1) / granule;
}

}  // namespace

void* pool_allocate(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (!pool_enabled || bytes > max_block || cache_gone) return ::operator new(bytes);
  const std::size_t c = class_of(bytes);
  if (FreeBlock* b = cache.heads[c]) {
    cache.heads[c] = b->next;
    --cache.counts[c];
    return b;
  }
  return ::operator new((c + 1) * granule);
}

void pool_deallocate(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes == 0) bytes = 1;
  if (!pool_enabled || bytes > max_block || cache_gone) {
    ::operator delete(p);
    return;
  }
  const std::size_t c = class_of(bytes);
  if (cache.counts[c] >= cap) {
    ::operator delete(p);
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  b->next = cache.heads[c];
  cache.heads[c] = b;
  ++cache.counts[c];
}

}  // namespace pyro::detail
