// What a CPU kernel sees: its inputs, attrs, outputs and (for state ops) variable slots.
//
//   void relu_kernel(KernelContext& ctx) {
//     const Tensor& x = ctx.input(0);
//     Tensor y = ctx.forward_input_or_allocate(0, x.dtype(), x.shape());  // in place when x is ours
//     ...
//     ctx.set_output(0, y);
//   }
//
// The executor adds the node's name to any fg::Error a kernel throws.
#pragma once
#include <atomic>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/attr.h"
#include "core/tensor.h"

namespace fg {

// A variable's storage in a session. Readers copy `value` under `mu`; writers replace or update it
// under `mu` (in place only when no reader holds the buffer), so a step that read the old value
// keeps it intact.
struct VariableSlot {
  std::mutex mu;
  Tensor value;
  std::string name;
};

// A variable's current value, shared with the slot (the VariableV2 kernel's, and the Session's
// own shortcut for variable reads).
inline Tensor read_variable(VariableSlot& slot) {
  std::lock_guard lock(slot.mu);
  FG_CHECK(slot.value.valid(), FailedPrecondition, "Attempting to use uninitialized value ", slot.name);
  return slot.value;
}

class KernelContext {
 public:
  KernelContext(const std::string& op_name, const AttrMap& attrs, std::vector<Tensor>& inputs,
                std::vector<VariableSlot*>& refs, std::vector<Tensor>& outputs, std::atomic<uint64_t>* counter)
      : op_name_(op_name), attrs_(attrs), inputs_(inputs), refs_(refs), outputs_(outputs), counter_(counter) {}

  const std::string& op_name() const { return op_name_; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const Tensor& input(int i) const { return inputs_[i]; }
  // The input's buffer when nothing else holds it and its size matches; otherwise a new tensor.
  Tensor forward_input_or_allocate(int i, DType dtype, const Shape& shape);
  // The same over several inputs: the first of `candidates` whose buffer qualifies, else a new one.
  Tensor forward_any_input_or_allocate(std::initializer_list<int> candidates, DType dtype, const Shape& shape);
  Tensor allocate_output(int i, DType dtype, const Shape& shape);
  void set_output(int i, Tensor t) { outputs_[i] = std::move(t); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }

  // Slot behind a reference input (Assign's `ref`, ApplyGradientDescent's `var`, ...).
  VariableSlot& ref(int i) const { return *refs_.at(i); }

  template <typename T>
  const T& attr(std::string_view name) const {
    auto it = attrs_.find(name);
    if (it == attrs_.end() || !std::holds_alternative<T>(it->second))
      throw Internal(str_cat("kernel for '", op_name_, "' expects attr '", name, "'"));
    return std::get<T>(it->second);
  }
  // Per-node counter that survives across runs (random ops advance it to draw fresh numbers).
  std::atomic<uint64_t>& counter() const { return *counter_; }

  // Control flow, in plans that hold a switch-like op (graph/op_registry.h). A merge-like op sees
  // which inputs are dead (their tensors are empty); a switch-like op leaves an output dead, so
  // that the ops reading it do not run. The flags live in a KernelDeadness the Session sets for
  // the call (KernelDeadness::Scope), so that plain plans pay nothing for them.
  bool input_dead(int i) const;
  void set_output_dead(int i);

 private:
  const std::string& op_name_;
  const AttrMap& attrs_;
  std::vector<Tensor>& inputs_;
  std::vector<VariableSlot*>& refs_;
  std::vector<Tensor>& outputs_;
  std::atomic<uint64_t>* counter_;
};

// A control-flow step's dead flags, per input and per output, for its kernel's KernelContext.
struct KernelDeadness {
  const char* input_dead = nullptr;  // null: no input is dead
  char* output_dead = nullptr;

  // Makes `d` the flags of kernel calls on this thread until destroyed (then the previous ones).
  class Scope {
   public:
    explicit Scope(KernelDeadness* d);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    KernelDeadness* previous_;
  };
};

using Kernel = void (*)(KernelContext&);

}  // namespace fg
