// GoogleTest's main for the tests run under mpirun: MPI starts first, only rank 0 prints the
// progress, and a failure on any rank ends the whole job at once (MPI_Abort, with the failure on
// stderr), so that no rank waits forever in a collective that the failing rank skipped.
#include <gtest/gtest.h>

#include "dist/dist.h"

namespace {

class AbortOnFailure : public ::testing::EmptyTestEventListener {
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    fg::dist::abort(fg::str_cat("test failed at ", r.file_name() ? r.file_name() : "?", ":", r.line_number(), ": ",
                                r.summary()));
  }
};

}  // namespace

int main(int argc, char** argv) {
  fg::dist::init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (fg::dist::rank() != 0) delete listeners.Release(listeners.default_result_printer());
  listeners.Append(new AbortOnFailure);
  return RUN_ALL_TESTS();
}
