// Fused variable-update kernels used by the optimizers (TF's training_ops): each updates a
// variable and its slots in one pass over memory, parallel over elements.
//
//   Output up = apply_gradient_descent(w, lr, grad);                     // w -= lr * grad
//   Output up = apply_momentum(w, accum, lr, grad, momentum, /*nesterov=*/false);
//   Output rows = sparse_apply_adagrad(emb, accum, lr, row_grads, ids);  // rows ids of emb and accum
#pragma once
#include <string>

#include "graph/graph.h"

namespace fg {

Output apply_gradient_descent(const Variable& var, const Output& alpha, const Output& delta,
                              const std::string& name = "");
// accum = momentum * accum + grad; var -= lr * accum  (Nesterov: var -= lr * (grad + momentum * accum))
Output apply_momentum(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                      const Output& momentum, bool use_nesterov, const std::string& name = "");
// accum += grad^2; var -= lr * grad / sqrt(accum)
Output apply_adagrad(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                     const std::string& name = "");
// ms = rho ms + (1 - rho) grad^2; mom = momentum mom + lr grad / sqrt(ms + epsilon); var -= mom
Output apply_rms_prop(const Variable& var, const Variable& ms, const Variable& mom, const Output& lr,
                      const Output& rho, const Output& momentum, const Output& epsilon, const Output& grad,
                      const std::string& name = "");
// As RMSProp with mg = rho mg + (1 - rho) grad and sqrt(ms - mg^2 + epsilon) as the denominator.
Output apply_centered_rms_prop(const Variable& var, const Variable& mg, const Variable& ms, const Variable& mom,
                               const Output& lr, const Output& rho, const Output& momentum, const Output& epsilon,
                               const Output& grad, const std::string& name = "");
// lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// var -= lr_t m / (sqrt(v) + epsilon)
Output apply_adam(const Variable& var, const Variable& m, const Variable& v, const Output& beta1_power,
                  const Output& beta2_power, const Output& lr, const Output& beta1, const Output& beta2,
                  const Output& epsilon, const Output& grad, const std::string& name = "");

// TF's SparseApply* ops, what TF1's optimizers write for an IndexedSlices gradient (an embedding's):
// the dense op's update applied to rows `indices` (int32/int64 [N]) of the variable and its slots,
// `grad` holding those N rows ([N] + var.shape[1:]). Rows are updated in index order, so a
// repeated index applies twice. An index out of [0, var.shape[0]) is InvalidArgument, and the
// variable is left as it was.
Output sparse_apply_momentum(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                             const Output& indices, const Output& momentum, bool use_nesterov,
                             const std::string& name = "");
Output sparse_apply_adagrad(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                            const Output& indices, const std::string& name = "");
Output sparse_apply_rms_prop(const Variable& var, const Variable& ms, const Variable& mom, const Output& lr,
                             const Output& rho, const Output& momentum, const Output& epsilon, const Output& grad,
                             const Output& indices, const std::string& name = "");
Output sparse_apply_centered_rms_prop(const Variable& var, const Variable& mg, const Variable& ms, const Variable& mom,
                                      const Output& lr, const Output& rho, const Output& momentum,
                                      const Output& epsilon, const Output& grad, const Output& indices,
                                      const std::string& name = "");
Output sparse_apply_adadelta(const Variable& var, const Variable& accum, const Variable& accum_update,
                             const Output& lr, const Output& rho, const Output& epsilon, const Output& grad,
                             const Output& indices, const std::string& name = "");
Output sparse_apply_proximal_gradient_descent(const Variable& var, const Output& alpha, const Output& l1,
                                              const Output& l2, const Output& grad, const Output& indices,
                                              const std::string& name = "");
Output sparse_apply_proximal_adagrad(const Variable& var, const Variable& accum, const Output& lr, const Output& l1,
                                     const Output& l2, const Output& grad, const Output& indices,
                                     const std::string& name = "");
// global_step is an int64 scalar.
Output sparse_apply_adagrad_da(const Variable& var, const Variable& gradient_accumulator,
                               const Variable& gradient_squared_accumulator, const Output& grad,
                               const Output& indices, const Output& lr, const Output& l1, const Output& l2,
                               const Output& global_step, const std::string& name = "");
Output sparse_apply_ftrl(const Variable& var, const Variable& accum, const Variable& linear, const Output& grad,
                         const Output& indices, const Output& lr, const Output& l1, const Output& l2,
                         const Output& lr_power, const std::string& name = "");
Output sparse_apply_ftrl_v2(const Variable& var, const Variable& accum, const Variable& linear, const Output& grad,
                            const Output& indices, const Output& lr, const Output& l1, const Output& l2,
                            const Output& l2_shrinkage, const Output& lr_power, const std::string& name = "");

}  // namespace fg
