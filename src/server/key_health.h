// KeyHealth: what the supervisor does after each key check — the grace-period rules, kept apart
// from processes and sockets so that they are unit-tested (key_health_test.cc).
//
//   success                          -> serve; `recovered` on the first success after failures
//   definitive failure               -> Inaccessible at once
//   transient failure, no DEK held   -> Inaccessible (nothing to serve with)
//   transient failure while serving  -> keep serving until the vault has been unreachable for the
//                                       grace period (counted from the first failure of the run;
//                                       any success resets it), then Inaccessible
// `first_failure` marks the first failure of a run, so that it is recorded once, not every check.
// Not thread-safe; the supervisor's loop owns it.
#pragma once

#include <chrono>
#include <optional>

#include "kms/kms_client.h"

namespace pgcmk::server {

class KeyHealth {
 public:
  using Clock = std::chrono::steady_clock;

  struct Decision {
    bool inaccessible = false;
    bool first_failure = false;
    bool recovered = false;
    std::chrono::seconds failing_for{0};  // transient failures: time since the first of the run
  };

  explicit KeyHealth(std::chrono::seconds grace) : grace_(grace) {}
  void set_grace(std::chrono::seconds grace) { grace_ = grace; }
  std::chrono::seconds grace() const { return grace_; }
  bool failing() const { return failing_; }

  Decision OnSuccess();
  Decision OnFailure(kms::FailureKind kind, bool serving, Clock::time_point now);

 private:
  std::chrono::seconds grace_;
  bool failing_ = false;
  std::optional<Clock::time_point> transient_since_;
};

}  // namespace pgcmk::server
