#include "server/key_health.h"

namespace pgcmk::server {

KeyHealth::Decision KeyHealth::OnSuccess() {
  Decision d;
  d.recovered = failing_;
  failing_ = false;
  transient_since_.reset();
  return d;
}

KeyHealth::Decision KeyHealth::OnFailure(kms::FailureKind kind, bool serving,
                                         Clock::time_point now) {
  Decision d;
  d.first_failure = !failing_;
  failing_ = true;
  if (kind != kms::FailureKind::kTransient || !serving) {
    transient_since_.reset();
    d.inaccessible = true;
    return d;
  }
  if (!transient_since_) transient_since_ = now;
  d.failing_for = std::chrono::duration_cast<std::chrono::seconds>(now - *transient_since_);
  d.inaccessible = d.failing_for >= grace_;
  return d;
}

}  // namespace pgcmk::server
