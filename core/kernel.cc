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

}  // namespace fg
