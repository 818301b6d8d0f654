#include "snapcache/detail/slot_table.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace snapcache::detail {

unsigned char sizing_marker_byte = 0;

void advise_huge_pages(void* memory, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes < huge_page_size) return;
  // Advice only: where transparent huge pages are off, nothing changes.
  (void)madvise(memory, bytes / huge_page_size * huge_page_size, MADV_HUGEPAGE);
#else
  (void)memory;
  (void)bytes;
#endif
}

}  // namespace snapcache::detail
