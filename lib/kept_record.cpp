#include "snapcache/detail/kept_record.hpp"

namespace snapcache::detail {

thread_local constinit kept_record* tl_spare_record = nullptr;
thread_local constinit bool tl_spare_exited = false;

namespace {
// Frees the calling thread's spare record at thread exit.
struct spare_owner {
  bool active = false;
  ~spare_owner() {
    delete tl_spare_record;
    tl_spare_record = nullptr;
    tl_spare_exited = true;
  }
};
thread_local spare_owner tl_spare_owner;
}  // namespace

void refill_spare_record() {
  auto* r = new kept_record{0, nullptr, nullptr, nullptr, 0};  // may throw: nothing changed
  if (!tl_spare_exited) tl_spare_owner.active = true;  // registers the exit cleanup
  tl_spare_record = r;
}

void give_back_record(kept_record* record) noexcept {
  if (tl_spare_record != nullptr || tl_spare_exited) {
    delete record;
    return;
  }
  tl_spare_owner.active = true;  // registers the exit cleanup
  tl_spare_record = record;
}

void drop_spare_record_after_exit() noexcept {
  if (!tl_spare_exited) return;
  delete tl_spare_record;
  tl_spare_record = nullptr;
}

}  // namespace snapcache::detail
