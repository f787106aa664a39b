#include "core/kernel.h"

namespace fg {

Tensor KernelContext::forward_input_or_allocate(int i, DType dtype, const Shape& shape) {
  return forward_any_input_or_allocate({i}, dtype, shape);
}

Tensor KernelContext::forward_any_input_or_allocate(std::initializer_list<int> candidates, DType dtype,
                                                    const Shape& shape) {
  for (int i : candidates) {
    const Tensor& in = inputs_[i];
    if (in.valid() && in.unique() && in.dtype() == dtype && in.num_elements() == shape.num_elements())
      return in.reshaped(shape);
  }
  return Tensor::empty(dtype, shape);
}

Tensor KernelContext::allocate_output(int i, DType dtype, const Shape& shape) {
  outputs_[i] = Tensor::empty(dtype, shape);
  return outputs_[i];
}

namespace {
thread_local KernelDeadness* t_deadness = nullptr;
}  // namespace

KernelDeadness::Scope::Scope(KernelDeadness* d) : previous_(t_deadness) { t_deadness = d; }
KernelDeadness::Scope::~Scope() { t_deadness = previous_; }

bool KernelContext::input_dead(int i) const {
  return t_deadness && t_deadness->input_dead && t_deadness->input_dead[i];
}

void KernelContext::set_output_dead(int i) {
  if (!t_deadness || !t_deadness->output_dead)
    throw Internal(str_cat("'", op_name_, "' left an output dead outside a control-flow plan"));
  t_deadness->output_dead[i] = 1;
}

}  // namespace fg
