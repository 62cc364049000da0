#include "server/key_health.h"

#include <gtest/gtest.h>

namespace pgcmk::server {
namespace {

using kms::FailureKind;
using std::chrono::seconds;
const KeyHealth::Clock::time_point t0{};

TEST(KeyHealthTest, DefinitiveFailureTakesTheServerOfflineAtOnce) {
  KeyHealth h(seconds(300));
  auto d = h.OnFailure(FailureKind::kDefinitive, /*serving=*/true, t0);
  EXPECT_TRUE(d.inaccessible);
  EXPECT_TRUE(d.first_failure);
}

TEST(KeyHealthTest, TransientFailureIsServedThroughTheGracePeriodThenNot) {
  KeyHealth h(seconds(10));
  auto d = h.OnFailure(FailureKind::kTransient, true, t0);
  EXPECT_FALSE(d.inaccessible);
  EXPECT_TRUE(d.first_failure);
  d = h.OnFailure(FailureKind::kTransient, true, t0 + seconds(9));
  EXPECT_FALSE(d.inaccessible);
  EXPECT_FALSE(d.first_failure) << "recorded once per run of failures";
  EXPECT_EQ(d.failing_for, seconds(9));
  d = h.OnFailure(FailureKind::kTransient, true, t0 + seconds(10));
  EXPECT_TRUE(d.inaccessible);
}

TEST(KeyHealthTest, TransientFailureWithoutADekIsInaccessible) {
  KeyHealth h(seconds(300));
  EXPECT_TRUE(h.OnFailure(FailureKind::kTransient, /*serving=*/false, t0).inaccessible);
}

TEST(KeyHealthTest, ASuccessResetsTheGraceClockAndReportsRecovery) {
  KeyHealth h(seconds(10));
  EXPECT_FALSE(h.OnSuccess().recovered);
  h.OnFailure(FailureKind::kTransient, true, t0);
  EXPECT_TRUE(h.OnSuccess().recovered);
  EXPECT_FALSE(h.failing());
  auto d = h.OnFailure(FailureKind::kTransient, true, t0 + seconds(11));
  EXPECT_FALSE(d.inaccessible) << "the grace period restarts after a success";
  EXPECT_TRUE(d.first_failure);
  EXPECT_TRUE(h.OnFailure(FailureKind::kTransient, true, t0 + seconds(21)).inaccessible);
}

TEST(KeyHealthTest, ZeroGraceMeansNoGrace) {
  KeyHealth h(seconds(0));
  EXPECT_TRUE(h.OnFailure(FailureKind::kTransient, true, t0).inaccessible);
}

TEST(KeyHealthTest, ADefinitiveFailureDuringGraceEndsIt) {
  KeyHealth h(seconds(60));
  EXPECT_FALSE(h.OnFailure(FailureKind::kTransient, true, t0).inaccessible);
  EXPECT_TRUE(h.OnFailure(FailureKind::kDefinitive, true, t0 + seconds(1)).inaccessible);
}

}  // namespace
}  // namespace pgcmk::server
