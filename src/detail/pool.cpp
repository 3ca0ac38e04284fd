// pool.cpp — the per-thread cache of small blocks behind Values' heap parts, and the process-wide
// cache of large blocks behind big bytes values and message buffers.
//
// Each block is an ordinary operator-new allocation, so any thread may free it; the cache only
// keeps up to `cap` freed blocks per size class for the next allocation of that class. Decoding
// a message builds many small containers and the previous message's are freed, so almost every
// allocation hits the cache. Sanitizer builds bypass it (every block straight to the system
// allocator) so that ASan still sees each use after free.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <string>
#include <sys/mman.h>
#include <vector>

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
  if (bytes >= large_block_min) return large_allocate(bytes);
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
  if (bytes >= large_block_min) {
    large_deallocate(p, bytes);
    return;
  }
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

// ---------------------------------------------------------------------------------------------
// Large blocks
//
// A fresh page costs a fault on first touch, and on a virtual machine that is several
// microseconds per 4 KiB page: a 1 MB message copied into new memory three times spent more time
// in page faults than in the copies and the network together. glibc returns big freed blocks to
// the system (mmap'd ones at once), so every message paid again. Blocks of at least
// `large_block_min` bytes are therefore mapped here, advised to use transparent huge pages (one
// fault per 2 MiB) and kept after use in a small process-wide cache: the next message of a
// similar size reuses warm memory. The cache holds at most `cache_blocks` blocks and
// `cache_bytes` bytes; a block unused for `cache_age` is unmapped at the next cache operation.
// ---------------------------------------------------------------------------------------------

namespace {

constexpr std::size_t small_page = 4096;
constexpr std::size_t huge_page = std::size_t{2} << 20;
constexpr std::size_t cache_blocks = 8;
constexpr std::size_t cache_bytes = std::size_t{256} << 20;
constexpr auto cache_age = std::chrono::seconds(10);

struct CachedBlock {
  void* p;
  std::size_t size;
  std::chrono::steady_clock::time_point freed;
};

struct LargeCache {
  std::mutex mutex;
  std::vector<CachedBlock> blocks;
  std::size_t bytes = 0;
};

LargeCache& large_cache() {
  static auto* cache = new LargeCache;  // never destroyed: blocks may be freed at exit
  return *cache;
}

// The mapped size of a block of n bytes, a size class: powers of two below 2 MiB, whole huge
// pages from there on (so that messages of about the same size reuse each other's blocks).
std::size_t mapped_size(std::size_t n) {
  if (n >= huge_page) return (n + huge_page - 1) / huge_page * huge_page;
  std::size_t size = small_page;
  while (size < n)
    size *= 2;
  return size;
}

// Huge page boundaries: the first at or after an address, the last at or before one.
constexpr std::uintptr_t huge_page_up(std::uintptr_t address) {
  return (address + huge_page - 1) & ~(huge_page - 1);
}
constexpr std::uintptr_t huge_page_down(std::uintptr_t address) {
  return address & ~(huge_page - 1);
}

void* map_block(std::size_t size) {
  if (size < huge_page) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
  // Over-map by a huge page and trim, so that the block starts on a huge page boundary.
  const std::size_t span = size + huge_page;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = huge_page_up(base);
  if (aligned > base) ::munmap(raw, aligned - base);
  const std::uintptr_t end = base + span;
  if (end > aligned + size) ::munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  void* p = reinterpret_cast<void*>(aligned);
  ::madvise(p, size, MADV_HUGEPAGE);  // best effort: THP may be off
  return p;
}

// Takes out (for unmapping outside the lock) the oldest blocks beyond the cache's limits and
// those unused for too long. Blocks are kept oldest first.
void evict(LargeCache& c, std::vector<CachedBlock>& out) {
  const auto now = std::chrono::steady_clock::now();
  std::size_t n = 0;
  while (n < c.blocks.size() && (c.blocks.size() - n > cache_blocks || c.bytes > cache_bytes ||
                                 now - c.blocks[n].freed > cache_age)) {
    c.bytes -= c.blocks[n].size;
    out.push_back(c.blocks[n]);
    ++n;
  }
  c.blocks.erase(c.blocks.begin(), c.blocks.begin() + static_cast<std::ptrdiff_t>(n));
}

void unmap_all(const std::vector<CachedBlock>& blocks) {
  for (const CachedBlock& b : blocks)
    ::munmap(b.p, b.size);
}

}  // namespace

void* large_allocate(std::size_t n) {
  if (!pool_enabled) return ::operator new(n);
  const std::size_t size = mapped_size(n);
  LargeCache& c = large_cache();
  std::vector<CachedBlock> stale;
  void* found = nullptr;
  {
    std::lock_guard lock(c.mutex);
    for (std::size_t i = c.blocks.size(); i-- > 0;) {  // the most recently used first
      if (c.blocks[i].size == size) {
        found = c.blocks[i].p;
        c.bytes -= size;
        c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    evict(c, stale);
  }
  unmap_all(stale);
  return found != nullptr ? found : map_block(size);
}

void large_deallocate(void* p, std::size_t n) noexcept {
  if (p == nullptr) return;
  if (!pool_enabled) {
    ::operator delete(p);
    return;
  }
  const std::size_t size = mapped_size(n);
  if (size > cache_bytes / 2) {
    ::munmap(p, size);
    return;
  }
  LargeCache& c = large_cache();
  std::vector<CachedBlock> stale;
  try {
    stale.reserve(cache_blocks + 1);
  } catch (const std::bad_alloc&) {
    ::munmap(p, size);
    return;
  }
  {
    std::lock_guard lock(c.mutex);
    if (c.blocks.capacity() < cache_blocks + 1) {
      try {
        c.blocks.reserve(cache_blocks + 1);  // once: pushing back below cannot throw
      } catch (const std::bad_alloc&) {
        ::munmap(p, size);
        return;
      }
    }
    c.blocks.push_back({p, size, std::chrono::steady_clock::now()});
    c.bytes += size;
    evict(c, stale);
  }
  unmap_all(stale);
}

// ---------------------------------------------------------------------------------------------
// Recycled strings
// ---------------------------------------------------------------------------------------------

namespace {

constexpr std::size_t recycled_max = std::size_t{128} << 20;  // per string
constexpr std::size_t recycled_total = std::size_t{256} << 20;
constexpr std::size_t spare_slots = 4;

// Spare strings, newest last; shared by all threads (a daemon's pool threads take turns with
// a connection), aged out like the large blocks.
struct Spares {
  std::mutex mutex;
  struct Slot {
    std::string s;
    std::chrono::steady_clock::time_point freed;
  };
  std::vector<Slot> slots;
  std::atomic<std::size_t> count{0};  // slots.size(), read without the lock
};

Spares& spares() {
  static auto* s = new Spares;  // never destroyed: threads may recycle at exit
  return *s;
}

// Moves out (to free outside the lock) the spares unused for too long.
void age_out(Spares& sp, std::vector<std::string>& out) {
  const auto now = std::chrono::steady_clock::now();
  while (!sp.slots.empty() && now - sp.slots.front().freed > cache_age) {
    out.push_back(std::move(sp.slots.front().s));
    sp.slots.erase(sp.slots.begin());
  }
}

// Asks for huge pages over the part of a fresh string's memory that covers whole huge pages
// (before anything is written there: only untouched pages become huge ones).
void advise_huge(std::string& s) {
  const auto begin = reinterpret_cast<std::uintptr_t>(s.data());
  const std::uintptr_t end = begin + s.capacity();
  const std::uintptr_t from = huge_page_up(begin);
  const std::uintptr_t to = huge_page_down(end);
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
}

}  // namespace

std::string take_buffer_sized_or_empty(std::size_t capacity);

std::string take_buffer(std::size_t capacity) {
  std::string out = take_buffer_sized_or_empty(capacity);
  out.clear();
  if (out.capacity() >= capacity && out.capacity() > 0) return out;
  out.reserve(capacity);
  if (pool_enabled && capacity >= 2 * huge_page) advise_huge(out);
  return out;
}

std::string take_buffer_sized(std::size_t size) {
  std::string out = take_buffer_sized_or_empty(size);
  if (out.capacity() < size) {
    out = std::string();
    out.reserve(size);
    if (pool_enabled && size >= 2 * huge_page) advise_huge(out);
  }
  out.resize(size);  // shrinking a spare writes nothing; growing fills only what is new
  return out;
}

// A spare that fits (as it was, contents and size included), or an empty string.
std::string take_buffer_sized_or_empty(std::size_t capacity) {
  std::string out;
  std::vector<std::string> old;
  Spares& sp = spares();
  if (pool_enabled && (capacity == 0 || capacity >= large_block_min) &&
      sp.count.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock(sp.mutex);
    age_out(sp, old);
    // the newest that fits without wasting more than the request again; any for capacity 0
    for (std::size_t i = sp.slots.size(); i-- > 0;) {
      const std::size_t cap = sp.slots[i].s.capacity();
      if (capacity == 0 || (cap >= capacity && cap <= 2 * capacity)) {
        out = std::move(sp.slots[i].s);
        sp.slots.erase(sp.slots.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    sp.count.store(sp.slots.size(), std::memory_order_relaxed);
  }
  return out;
}

void recycle_buffer(std::string&& buffer) noexcept {
  // the caller's string is left empty whatever happens to its memory
  std::string kept = std::move(buffer);
  buffer = std::string();
  const std::size_t cap = kept.capacity();
  if (!pool_enabled || cap < large_block_min || cap > recycled_max) return;
  std::vector<std::string> old;
  try {
    old.reserve(spare_slots + 1);
    Spares& sp = spares();
    std::lock_guard lock(sp.mutex);
    if (sp.slots.capacity() < spare_slots + 1) sp.slots.reserve(spare_slots + 1);
    age_out(sp, old);
    std::size_t total = cap;
    for (const Spares::Slot& slot : sp.slots)
      total += slot.s.capacity();
    while (!sp.slots.empty() && (sp.slots.size() >= spare_slots || total > recycled_total)) {
      total -= sp.slots.front().s.capacity();
      old.push_back(std::move(sp.slots.front().s));
      sp.slots.erase(sp.slots.begin());
    }
    sp.slots.push_back({std::move(kept), std::chrono::steady_clock::now()});
    sp.count.store(sp.slots.size(), std::memory_order_relaxed);
  } catch (...) {
    // no room to keep it: it is freed as usual
  }
}

}  // namespace pyro::detail
