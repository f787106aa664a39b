// flowgraph: TensorFlow 1.x's graph-building, training and checkpoint workflow in C++20.
//
//   #include <flowgraph/flowgraph.h>
//   using namespace fg;
//   Graph g;
//   auto X = placeholder(g, f32, {-1, 784}, "X");
//   auto y = placeholder(g, i32, {-1}, "y");
//   auto logits = layers::dense(layers::dense(X, 300, {.activation = nn::relu, .name = "hidden1"}), 10,
//                               {.name = "outputs"});
//   auto loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, "loss");
//   auto training_op = train::GradientDescentOptimizer(0.01).minimize(loss);
//   Session sess(g);
//   sess.run(global_variables_initializer(g));
//   sess.run({{X, xb}, {y, yb}}, {}, {training_op});
#pragma once

#include "core/dtype.h"
#include "core/errors.h"
#include "core/random.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "data/mnist.h"
#include "graph/control_flow.h"
#include "graph/gradients.h"
#include "graph/graph.h"
#include "graph/graph_io.h"
#include "layers/core.h"
#include "layers/dropout.h"
#include "layers/normalization.h"
#include "layers/regularizers.h"
#include "ops/array.h"
#include "ops/clip_ops.h"
#include "ops/control_flow_ops.h"
#include "ops/cumulative.h"
#include "ops/indexing.h"
#include "ops/io_ops.h"
#include "ops/initializers.h"
#include "ops/losses.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/nn_losses.h"
#include "ops/numerics.h"
#include "ops/random.h"
#include "ops/register.h"
#include "ops/shape_ops.h"
#include "ops/state.h"
#include "ops/tensor_bundle.h"
#include "ops/training.h"
#include "runtime/session.h"
#include "saved_model/saved_model.h"
#include "summary/event_reader.h"
#include "summary/file_writer.h"
#include "summary/record_io.h"
#include "train/checkpoint_listing.h"
#include "train/checkpoint_state.h"
#include "train/learning_rate_decay.h"
#include "train/meta_graph.h"
#include "train/optimizer.h"
#include "train/saver.h"
