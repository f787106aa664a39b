// Checks that a graph (or a .meta's stripped_op_list) is one TensorFlow 1.x can load, against
// TF's own op definitions kept in tests/data/tf1_op_defs.pbtxt (TF 1.10),
// tests/data/tf1_later_op_defs.pbtxt (what later 1.x releases added or changed) and, for the
// graphs of flowgraph's optional layers only, tests/data/tf1_contrib_op_defs.pbtxt (TF 1.x
// contrib's ops, such as tf.contrib.mpi_collectives'):
//
//   const tensorflow::MetaGraphDef meta = train::to_meta_graph_def(g);
//   testing::expect_graph_is_tf(meta.graph_def());          // every node: TF's op, args, attrs
//   testing::expect_stripped_op_list_is_tf(meta);           // every OpDef written: TF's
//   auto v = testing::tf_graph_violations(gd, testing::TfOpDefs::tf1_10());  // strictly 1.10
#pragma once
#include <map>
#include <string>
#include <vector>

#include "proto/graph.pb.h"
#include "proto/meta_graph.pb.h"
#include "proto/op_def.pb.h"

namespace fg::testing {

// TF's definitions of op types, each type with one or more definitions (the 1.10 one first, then
// later 1.x ones): a node or OpDef is TF's when it agrees with any of them.
class TfOpDefs {
 public:
  // The definitions TF 1.10 registers: a graph that passes loads in TF 1.10 and later 1.x.
  static const TfOpDefs& tf1_10();
  // TF 1.10's plus those of later 1.x releases (a graph TF 1.12 wrote uses Cast's Truncate).
  static const TfOpDefs& tf1_any();
  // tf1_any's plus TF 1.x contrib's (dist/'s MPIAllreduce): for graphs that use a contrib module.
  static const TfOpDefs& tf1_with_contrib();

  // Reads text-format OpList files; a later file adds definitions to the types of earlier ones.
  static TfOpDefs from_files(const std::vector<std::string>& paths);

  // nullptr-free list, empty when TF registers no such type.
  const std::vector<tensorflow::OpDef>& find(const std::string& type) const;
  size_t num_types() const { return defs_.size(); }

 private:
  std::map<std::string, std::vector<tensorflow::OpDef>> defs_;
};

// One line per problem, naming the node (or op) and what TF's definition says instead; empty when
// every node is TF's: the op type is registered, attrs are exactly TF's (leading-underscore
// internal attrs like _class or _output_shapes aside) with values of the right kind, in the
// allowed values and above the minimum, the data inputs are as many as the arg list says
// (number_attr and type_list_attr resolved), their dtypes and ref-ness match what the producing
// node's definition gives, and control inputs come last.
std::vector<std::string> tf_graph_violations(const tensorflow::GraphDef& gd,
                                             const TfOpDefs& defs = TfOpDefs::tf1_any());

// The same for a meta graph's stripped_op_list: it lists each op type of the graph once, and
// each OpDef equals one of TF's in arg names, types, list attrs and ref-ness, attr names, types,
// defaults and minimums (descriptions and flags like is_stateful aside); allowed values it
// declares are among TF's.
std::vector<std::string> tf_stripped_op_list_violations(const tensorflow::MetaGraphDef& meta,
                                                        const TfOpDefs& defs = TfOpDefs::tf1_any());

// gtest wrappers: one failure listing every violation.
void expect_graph_is_tf(const tensorflow::GraphDef& gd, const TfOpDefs& defs = TfOpDefs::tf1_any());
void expect_stripped_op_list_is_tf(const tensorflow::MetaGraphDef& meta, const TfOpDefs& defs = TfOpDefs::tf1_any());

}  // namespace fg::testing
