// Variables and their updates: tf.Variable, tf.get_variable, tf.assign, initializers of TF1.
//
//   Variable w = variable(random_normal(g, {3, 2}), {.name = "w"});     // w, w/Assign, w/read
//   Variable k = get_variable(g, "kernel", {.shape = {784, 300}});       // "<var scope>/kernel", glorot_uniform
//   { auto s = g.variable_scope("", {.reuse = true}); auto same = get_variable(g, "hidden/kernel"); }
//   Output up = assign(w, new_value);
//   sess.run(global_variables_initializer(g));
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace fg {

// Makes an initial value of (shape, dtype); called inside the "<variable>/Initializer" scope.
using Initializer = std::function<Output(Graph& g, const Shape& shape, DType dtype)>;

struct VariableOptions {
  std::string name;  // default "Variable"; under the current name scope, uniquified
  bool trainable = true;
  std::vector<std::string> collections;  // default: GLOBAL_VARIABLES (+ TRAINABLE_VARIABLES)
  bool validate_shape = true;
};
// tf.Variable(initial_value).
Variable variable(const Output& initial_value, const VariableOptions& options = {});

struct GetVariableOptions {
  std::optional<Shape> shape;          // required when creating
  DType dtype = DType::kFloat;
  Initializer initializer;             // default glorot_uniform (TF1's get_variable default)
  bool trainable = true;
  std::vector<std::string> collections;
};
// tf.get_variable: name is relative to the current variable scope. Creating an existing name
// without reuse is InvalidArgument ("Variable hidden1/kernel already exists"); reusing a missing
// one is InvalidArgument ("... does not exist, or was not created with tf.get_variable()").
Variable get_variable(Graph& g, const std::string& name, const GetVariableOptions& options = {});

// The variable `full_name` exactly (no scopes applied), created at the root name scope the way
// get_variable creates one; for slot variables and other variables named after another.
Variable create_variable(Graph& g, const std::string& full_name, const Shape& shape, DType dtype,
                         const Initializer& initializer, bool trainable,
                         const std::vector<std::string>& collections = {});

Output assign(const Variable& ref, const Output& value, const std::string& name = "");
Output assign_add(const Variable& ref, const Output& value, const std::string& name = "");
Output assign_sub(const Variable& ref, const Output& value, const std::string& name = "");

// tf.scatter_update, scatter_add, scatter_sub, scatter_mul, scatter_div, scatter_min, scatter_max
// (TF's Scatter* ops): row indices[i...] of the variable is set to, or combined with,
// updates[i...]; updates have shape indices.shape + var.shape[1:], or are a scalar for every row.
// Rows apply in index order: a repeated index applies each of its updates (scatter_update's last
// wins). An index out of [0, var.shape[0]) is InvalidArgument and leaves the variable as it was.
//
//   Output up = scatter_add(emb, ids, rows);   // emb[ids[i]] += rows[i]
Output scatter_update(const Variable& ref, const Output& indices, const Output& updates, const std::string& name = "");
Output scatter_add(const Variable& ref, const Output& indices, const Output& updates, const std::string& name = "");
Output scatter_sub(const Variable& ref, const Output& indices, const Output& updates, const std::string& name = "");
Output scatter_mul(const Variable& ref, const Output& indices, const Output& updates, const std::string& name = "");
Output scatter_div(const Variable& ref, const Output& indices, const Output& updates, const std::string& name = "");
Output scatter_min(const Variable& ref, const Output& indices, const Output& updates, const std::string& name = "");
Output scatter_max(const Variable& ref, const Output& indices, const Output& updates, const std::string& name = "");

std::vector<Variable> global_variables(const Graph& g);
std::vector<Variable> trainable_variables(const Graph& g);
// A NoOp named "init" grouping the variables' initializers.
Operation* variables_initializer(Graph& g, const std::vector<Variable>& vars, const std::string& name = "init");
Operation* global_variables_initializer(Graph& g);

}  // namespace fg
