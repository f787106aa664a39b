// The op families' registration functions, called once from ops/register.cc.
#pragma once

namespace fg {

class OpRegistry;
void register_activation_ops(OpRegistry& r);  // ops/activations.cc
void register_array_ops(OpRegistry& r);       // ops/array.cc
void register_batch_norm_ops(OpRegistry& r);  // ops/batch_norm.cc
void register_broadcast_ops(OpRegistry& r);   // ops/broadcast.cc
void register_control_flow_ops(OpRegistry& r);  // ops/control_flow_ops.cc
void register_cumulative_ops(OpRegistry& r);  // ops/cumulative.cc; gives Prod its gradient
void register_cwise_ops(OpRegistry& r);       // ops/cwise.cc
void register_indexing_ops(OpRegistry& r);    // ops/indexing.cc
void register_io_ops(OpRegistry& r);          // ops/io_ops.cc
void register_matmul_ops(OpRegistry& r);      // ops/matmul.cc
void register_moments_ops(OpRegistry& r);     // ops/moments.cc
void register_nn_loss_ops(OpRegistry& r);     // ops/nn_losses.cc
void register_numerics_ops(OpRegistry& r);    // ops/numerics.cc
void register_random_ops(OpRegistry& r);      // ops/random.cc
void register_reduction_ops(OpRegistry& r);   // ops/reductions.cc
void register_shape_ops(OpRegistry& r);       // ops/shape_ops.cc
void register_softmax_ops(OpRegistry& r);     // ops/softmax.cc
void register_state_ops(OpRegistry& r);       // ops/state.cc
void register_training_ops(OpRegistry& r);    // ops/training.cc

}  // namespace fg
