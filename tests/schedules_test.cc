// Learning-rate schedules at chosen steps, against TF1's formulas evaluated by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "flowgraph.h"

namespace fg {
namespace {

class Schedules : public ::testing::Test {
 protected:
  Graph g;
  Variable step = train::get_or_create_global_step(g);
  float at(const Output& lr, int64_t t) {
    Session s(g);
    // Any tensor can be fed: feed the step's snapshot instead of assigning the variable.
    return s.run({{step.value(), Tensor(t)}}, lr).scalar<float>();
  }
};

TEST_F(Schedules, GlobalStepIsTF1s) {
  EXPECT_EQ(step.name(), "global_step");
  EXPECT_EQ(step.dtype(), i64);
  EXPECT_FALSE(step.trainable);
  EXPECT_NE(g.find_operation("global_step/Initializer/zeros"), nullptr);
  EXPECT_EQ(train::get_or_create_global_step(g), step);
  EXPECT_EQ(g.get_variables(GraphKeys::GLOBAL_STEP).size(), 1u);
  EXPECT_TRUE(trainable_variables(g).empty());
}

TEST_F(Schedules, ExponentialDecay) {
  auto lr = train::exponential_decay(0.1, step.value(), 10000, 0.1);
  EXPECT_EQ(lr.op()->name(), "ExponentialDecay");
  EXPECT_NEAR(at(lr, 0), 0.1f, 1e-7);
  EXPECT_NEAR(at(lr, 5000), 0.1 * std::pow(0.1, 0.5), 1e-7);
  EXPECT_NEAR(at(lr, 10000), 0.01f, 1e-8);
  auto stair = train::exponential_decay(0.1, step.value(), 10000, 0.1, true);
  EXPECT_NEAR(at(stair, 9999), 0.1f, 1e-7);
  EXPECT_NEAR(at(stair, 15000), 0.01f, 1e-8);
}

TEST_F(Schedules, InverseTimeNaturalExpPolynomial) {
  auto inv = train::inverse_time_decay(0.1, step.value(), 1, 0.5);
  EXPECT_NEAR(at(inv, 2), 0.05f, 1e-7);
  auto inv_stair = train::inverse_time_decay(0.1, step.value(), 3, 0.5, true);
  EXPECT_NEAR(at(inv_stair, 2), 0.1f, 1e-7);
  EXPECT_NEAR(at(inv_stair, 3), 0.1f / 1.5f, 1e-7);
  auto nat = train::natural_exp_decay(0.1, step.value(), 10, 1.0);
  EXPECT_NEAR(at(nat, 10), 0.1 * std::exp(-1.0), 1e-7);
  auto poly = train::polynomial_decay(0.1, step.value(), 100, 0.01, 2.0);
  EXPECT_NEAR(at(poly, 50), 0.09 * 0.25 + 0.01, 1e-7);
  EXPECT_NEAR(at(poly, 200), 0.01f, 1e-8);
  auto cyc = train::polynomial_decay(0.1, step.value(), 100, 0.01, 2.0, true);
  EXPECT_NEAR(at(cyc, 150), 0.09 * 0.0625 + 0.01, 1e-7);
  EXPECT_NEAR(at(cyc, 0), 0.1f, 1e-7);
}

TEST_F(Schedules, PiecewiseConstant) {
  auto lr = train::piecewise_constant(step.value(), {100, 200}, {1.0, 0.5, 0.1});
  EXPECT_EQ(at(lr, 0), 1.0f);
  EXPECT_EQ(at(lr, 100), 1.0f);
  EXPECT_EQ(at(lr, 101), 0.5f);
  EXPECT_EQ(at(lr, 200), 0.5f);
  EXPECT_EQ(at(lr, 201), 0.1f);
  EXPECT_THROW(train::piecewise_constant(step.value(), {100}, {1.0}), InvalidArgument);
  EXPECT_THROW(train::exponential_decay(0.1, step.value(), 0, 0.1), InvalidArgument);
}

TEST_F(Schedules, PowerScheduleFromPrimitives) {
  // The seed's power scheduling: lr0 * (1 + t / r)^-c with lr0 0.01, r 1000, c 1.
  auto t = cast(step.value(), f32);
  auto lr = 0.01f * pow(1.0f + t / 1000.0f, scalar_constant(g, -1.0, f32));
  EXPECT_NEAR(at(lr, 1000), 0.005f, 1e-8);
  EXPECT_NEAR(at(lr, 3000), 0.0025f, 1e-8);
}

TEST_F(Schedules, MinimizeAdvancesTheStepAndTheRate) {
  auto w = variable(constant(g, Tensor(1.0f)), {.name = "w"});
  auto lr = train::exponential_decay(0.1, step.value(), 1, 0.5, true);
  auto op = train::MomentumOptimizer(lr, 0.0).minimize(0.5f * square(w.value()), {.global_step = step});
  Session s(g);
  s.run(global_variables_initializer(g));
  // w <- w - lr_t * w with lr_t = 0.1, 0.05, 0.025
  double expect = 1.0;
  for (double lr_t : {0.1, 0.05, 0.025}) {
    s.run(op);
    expect -= lr_t * expect;
  }
  EXPECT_EQ(s.run(step.value()).scalar<int64_t>(), 3);
  EXPECT_NEAR(s.run(w.value()).scalar<float>(), expect, 1e-6);
}

}  // namespace
}  // namespace fg
