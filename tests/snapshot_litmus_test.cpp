// The snapshot-publication litmus tests (stress/rc11/snapshot_litmus.hpp):
// they hold with the orders of detail/orders.hpp, and each fails when one
// of the entries it relies on is weakened to relaxed. That second half is
// the checker's teeth, and the only evidence that the trimmer's clock read
// (S4) must be seq_cst: Relacy and TSan cannot show that weakening.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "snapshot_litmus.hpp"

namespace {

std::string failures(const std::vector<rc11::litmus_result>& results) {
  std::string text;
  for (const auto& r : results) {
    for (const auto& [what, example] : r.violations) text += r.scenario + ": " + what + "\n" + example;
  }
  return text;
}

TEST(snapshot_litmus, holds_with_the_orders_of_the_table) {
  const auto results = rc11::run_snapshot_litmus(rc11::publication_orders::from_table());
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_GT(r.executions, 0u) << r.scenario;
    EXPECT_TRUE(r.violations.empty()) << failures(results);
  }
}

class weakened_entry : public testing::TestWithParam<const char*> {};

TEST_P(weakened_entry, is_caught_by_a_litmus_test) {
  const auto orders = rc11::publication_orders::from_table().with(GetParam(), std::memory_order_relaxed);
  EXPECT_FALSE(failures(rc11::run_snapshot_litmus(orders)).empty())
      << GetParam() << " relaxed breaks no property: the litmus tests lost their teeth";
}

// S10 and S11 (the live count) are not among them: with the clock seq_cst
// these scenarios cannot tell; the Relacy model catches both.
INSTANTIATE_TEST_SUITE_P(rc11, weakened_entry, testing::Values("S1", "S2", "S3", "S4", "S5", "S9"),
                         [](const testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

TEST(snapshot_litmus, trimmer_clock_read_must_be_seq_cst_not_just_acquire) {
  const auto orders = rc11::publication_orders::from_table().with("S4", std::memory_order_acquire);
  const auto results = rc11::run_snapshot_litmus(orders);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].violations.empty()) << "one snapshot: message passing, acquire suffices";
  EXPECT_FALSE(results[1].violations.empty()) << "another snapshot's advance: store buffering needs seq_cst";
}

TEST(snapshot_litmus, rejects_an_entry_it_does_not_use) {
  EXPECT_THROW(rc11::publication_orders::from_table().with("S6", std::memory_order_relaxed), std::invalid_argument);
}

}  // namespace
