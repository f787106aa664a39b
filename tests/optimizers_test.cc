// Each optimizer against TF1's update formulas, step by step, plus TF1's slot names.
//
// Problem: loss = 0.5 * sum(c * w^2) with c = [1, 10], so grad = c * w. The reference updates
// below are TF1's documented formulas (training_ops.cc), written out in double precision:
//   GradientDescent: w -= lr g
//   Momentum:        a = mu a + g;  w -= lr a                 (Nesterov: w -= lr g + lr mu a)
//   Adagrad:         a += g^2;      w -= lr g / sqrt(a)        (a starts at 0.1)
//   RMSProp:         ms = rho ms + (1-rho) g^2  (ms starts at 1);  mom = mu mom + lr g / sqrt(ms + eps);  w -= mom
//   centered:        mg = rho mg + (1-rho) g;  denominator sqrt(ms - mg^2 + eps)
//   Adam:            t += 1; lr_t = lr sqrt(1-b2^t)/(1-b1^t); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//                    w -= lr_t m / (sqrt(v) + eps)
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "flowgraph.h"

namespace fg {
namespace {

using Reference = std::function<void(std::vector<double>& w, const std::vector<double>& g, int t)>;

struct Run {
  std::vector<std::vector<double>> steps;  // w after each step
};

Run run_optimizer(train::Optimizer& opt, int steps, Graph& g, Variable& w, Operation** train_op = nullptr) {
  auto c = constant(g, Tensor::from_vector<float>({1, 10}));
  auto loss = 0.5f * reduce_sum(c * square(w.value()));
  Operation* op = opt.minimize(loss);
  if (train_op) *train_op = op;
  Session s(g);
  s.run(global_variables_initializer(g));
  Run r;
  for (int i = 0; i < steps; ++i) {
    s.run(op);
    auto v = s.run(w.value()).to_vector<float>();
    r.steps.push_back({v[0], v[1]});
  }
  return r;
}

void expect_matches_reference(train::Optimizer& opt, const Reference& ref, const char* what) {
  Graph g;
  auto w = variable(constant(g, Tensor::from_vector<float>({1.0f, -2.0f})), {.name = "w"});
  Run r = run_optimizer(opt, 3, g, w);
  std::vector<double> wr = {1.0, -2.0};
  const double c[2] = {1, 10};
  for (int t = 1; t <= 3; ++t) {
    std::vector<double> grad = {c[0] * wr[0], c[1] * wr[1]};
    ref(wr, grad, t);
    for (int i = 0; i < 2; ++i)
      EXPECT_NEAR(r.steps[t - 1][i], wr[i], 1e-5 * std::max(1.0, std::abs(wr[i]))) << what << " step " << t << " elem " << i;
  }
}

TEST(Optimizers, GradientDescentMatchesFormula) {
  train::GradientDescentOptimizer opt(0.05);
  expect_matches_reference(opt, [](auto& w, auto& g, int) { for (int i = 0; i < 2; ++i) w[i] -= 0.05 * g[i]; }, "GD");
}

TEST(Optimizers, MomentumMatchesFormulaAndHandValues) {
  std::vector<double> a(2, 0.0);
  train::MomentumOptimizer opt(0.01, 0.9);
  expect_matches_reference(opt, [&](auto& w, auto& g, int) {
    for (int i = 0; i < 2; ++i) { a[i] = 0.9 * a[i] + g[i]; w[i] -= 0.01 * a[i]; }
  }, "Momentum");
  // By hand, lr 0.1, mu 0.9, w0 = 1, c = 1: 0.9, 0.72, 0.486.
  Graph g;
  auto w = variable(constant(g, Tensor(1.0f)), {.name = "w"});
  train::MomentumOptimizer opt2(0.1, 0.9);
  auto step = opt2.minimize(0.5f * square(w.value()));
  Session s(g);
  s.run(global_variables_initializer(g));
  const float expected[] = {0.9f, 0.72f, 0.486f};
  for (float e : expected) {
    s.run(step);
    EXPECT_NEAR(s.run(w.value()).scalar<float>(), e, 1e-6);
  }
}

TEST(Optimizers, NesterovMatchesFormula) {
  std::vector<double> a(2, 0.0);
  train::MomentumOptimizer opt(0.01, 0.9, {.use_nesterov = true});
  expect_matches_reference(opt, [&](auto& w, auto& g, int) {
    for (int i = 0; i < 2; ++i) { a[i] = 0.9 * a[i] + g[i]; w[i] -= 0.01 * g[i] + 0.01 * 0.9 * a[i]; }
  }, "Nesterov");
}

TEST(Optimizers, AdagradMatchesFormula) {
  std::vector<double> a(2, 0.1);
  train::AdagradOptimizer opt(0.1);
  expect_matches_reference(opt, [&](auto& w, auto& g, int) {
    for (int i = 0; i < 2; ++i) { a[i] += g[i] * g[i]; w[i] -= 0.1 * g[i] / std::sqrt(a[i]); }
  }, "Adagrad");
}

TEST(Optimizers, RMSPropMatchesFormula) {
  std::vector<double> ms(2, 1.0), mom(2, 0.0);
  train::RMSPropOptimizer opt(0.01, {.decay = 0.9, .momentum = 0.5, .epsilon = 1e-10});
  expect_matches_reference(opt, [&](auto& w, auto& g, int) {
    for (int i = 0; i < 2; ++i) {
      ms[i] = 0.9 * ms[i] + 0.1 * g[i] * g[i];
      mom[i] = 0.5 * mom[i] + 0.01 * g[i] / std::sqrt(ms[i] + 1e-10);
      w[i] -= mom[i];
    }
  }, "RMSProp");
}

TEST(Optimizers, CenteredRMSPropMatchesFormula) {
  std::vector<double> ms(2, 1.0), mg(2, 0.0), mom(2, 0.0);
  train::RMSPropOptimizer opt(0.01, {.decay = 0.9, .momentum = 0.0, .epsilon = 1e-10, .centered = true});
  expect_matches_reference(opt, [&](auto& w, auto& g, int) {
    for (int i = 0; i < 2; ++i) {
      ms[i] = 0.9 * ms[i] + 0.1 * g[i] * g[i];
      mg[i] = 0.9 * mg[i] + 0.1 * g[i];
      mom[i] = 0.01 * g[i] / std::sqrt(ms[i] - mg[i] * mg[i] + 1e-10);
      w[i] -= mom[i];
    }
  }, "CenteredRMSProp");
}

TEST(Optimizers, AdamMatchesFormula) {
  std::vector<double> m(2, 0.0), v(2, 0.0);
  train::AdamOptimizer opt(0.1);
  expect_matches_reference(opt, [&](auto& w, auto& g, int t) {
    const double lr_t = 0.1 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
    for (int i = 0; i < 2; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + 1e-8);
    }
  }, "Adam");
}

TEST(Optimizers, SlotNamesFollowTF1) {
  auto names_after = [](auto make_opt) {
    Graph g;
    auto X = placeholder(g, f32, {-1, 3}, "X");
    auto h = layers::dense(X, 2, {.name = "hidden1"});
    auto opt = make_opt();
    opt.minimize(reduce_mean(square(h)));
    std::vector<std::string> r;
    for (const Variable& v : opt.variables()) r.push_back(v.name());
    for (const std::string& n : opt.get_slot_names()) r.push_back("slot:" + n);
    return r;
  };
  EXPECT_EQ(names_after([] { return train::MomentumOptimizer(0.1, 0.9); }),
            (std::vector<std::string>{"hidden1/kernel/Momentum", "hidden1/bias/Momentum", "slot:momentum"}));
  EXPECT_EQ(names_after([] { return train::AdagradOptimizer(0.1); }),
            (std::vector<std::string>{"hidden1/kernel/Adagrad", "hidden1/bias/Adagrad", "slot:accumulator"}));
  EXPECT_EQ(names_after([] { return train::RMSPropOptimizer(0.1); }),
            (std::vector<std::string>{"hidden1/kernel/RMSProp", "hidden1/bias/RMSProp", "hidden1/kernel/RMSProp_1",
                                      "hidden1/bias/RMSProp_1", "slot:momentum", "slot:rms"}));
  EXPECT_EQ(names_after([] { return train::AdamOptimizer(0.1); }),
            (std::vector<std::string>{"beta1_power", "beta2_power", "hidden1/kernel/Adam", "hidden1/bias/Adam",
                                      "hidden1/kernel/Adam_1", "hidden1/bias/Adam_1", "slot:m", "slot:v"}));
}

TEST(Optimizers, OpsAreNamedLikeTF) {
  Graph g;
  auto w = variable(constant(g, Tensor::from_vector<float>({1, 2})), {.name = "w"});
  train::AdamOptimizer opt(0.1);
  Operation* op = opt.minimize(reduce_sum(square(w.value())));
  EXPECT_EQ(op->name(), "Adam");
  EXPECT_NE(g.find_operation("Adam/update_w/ApplyAdam"), nullptr);
  EXPECT_NE(g.find_operation("w/Adam/Initializer/zeros"), nullptr);
  EXPECT_NE(g.find_operation("Adam/beta1"), nullptr);
  EXPECT_EQ(opt.get_slot(w, "m")->name(), "w/Adam");
  EXPECT_FALSE(opt.get_slot(w, "nope").has_value());
  Graph g2;
  auto w2 = variable(constant(g2, Tensor::from_vector<float>({1, 2})), {.name = "w"});
  EXPECT_EQ(train::MomentumOptimizer(0.1, 0.9).minimize(reduce_sum(square(w2.value())))->name(), "Momentum");
  EXPECT_NE(g2.find_operation("Momentum/update_w/ApplyMomentum"), nullptr);
}

TEST(Optimizers, AdamPowersAdvanceOncePerStep) {
  Graph g;
  auto w = variable(constant(g, Tensor::from_vector<float>({1, 2})), {.name = "w"});
  auto w2 = variable(constant(g, Tensor::from_vector<float>({3})), {.name = "w2"});
  train::AdamOptimizer opt(0.1);
  Operation* op = opt.minimize(reduce_sum(square(w.value())) + reduce_sum(square(w2.value())));
  Session s(g);
  s.run(global_variables_initializer(g));
  for (int i = 0; i < 3; ++i) s.run(op);
  const Variable b1 = opt.variables()[0];
  EXPECT_EQ(b1.name(), "beta1_power");
  EXPECT_NEAR(s.run(b1.value()).scalar<float>(), std::pow(0.9, 4), 1e-6);
}

// An ill-conditioned quadratic (condition number 1000): every optimizer must get close.
TEST(Optimizers, ConvergeOnIllConditionedQuadratic) {
  struct Case {
    const char* name;
    std::function<std::unique_ptr<train::Optimizer>()> make;
    int steps;
  };
  const std::vector<Case> cases = {
      {"GD", [] { return std::make_unique<train::GradientDescentOptimizer>(0.0019); }, 5000},
      {"Momentum", [] { return std::make_unique<train::MomentumOptimizer>(0.0015, 0.9); }, 2000},
      {"Nesterov", [] { return std::make_unique<train::MomentumOptimizer>(0.001, 0.9, train::MomentumOptions{.use_nesterov = true}); }, 2000},
      {"Adagrad", [] { return std::make_unique<train::AdagradOptimizer>(0.5); }, 2000},
      {"RMSProp", [] { return std::make_unique<train::RMSPropOptimizer>(0.01); }, 2000},
      {"Adam", [] { return std::make_unique<train::AdamOptimizer>(0.05); }, 2000},
  };
  for (const auto& c : cases) {
    Graph g;
    auto w = variable(constant(g, Tensor::from_vector<float>({1, 1})), {.name = "w"});
    auto scale = constant(g, Tensor::from_vector<float>({1000, 1}));
    auto loss = 0.5f * reduce_sum(scale * square(w.value() - 3.0f));
    auto opt = c.make();
    Operation* op = opt->minimize(loss);
    Session s(g);
    s.run(global_variables_initializer(g));
    for (int i = 0; i < c.steps; ++i) s.run(op);
    auto v = s.run(w.value()).to_vector<float>();
    EXPECT_NEAR(v[0], 3.0f, 0.05) << c.name;
    EXPECT_NEAR(v[1], 3.0f, 0.05) << c.name;
  }
}

TEST(Optimizers, LearningRateMayBeATensor) {
  Graph g;
  auto w = variable(constant(g, Tensor(1.0f)), {.name = "w"});
  auto lr = placeholder(g, f32, {}, "lr");
  auto op = train::GradientDescentOptimizer(lr).minimize(0.5f * square(w.value()));
  Session s(g);
  s.run(global_variables_initializer(g));
  s.run({{lr, Tensor(0.5f)}}, {}, {op});
  EXPECT_NEAR(s.run(w.value()).scalar<float>(), 0.5f, 1e-7);
}

}  // namespace
}  // namespace fg
