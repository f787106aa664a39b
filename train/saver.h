// tf.train.Saver: TF V2 checkpoints of a graph's variables.
//
//   train::Saver saver(g);                                   // every GLOBAL_VARIABLE, keeps 5
//   std::string path = saver.save(sess, "/tmp/run/model.ckpt", {.global_step = 100});
//   // -> "/tmp/run/model.ckpt-100" (.index, .data-00000-of-00001, .meta) and /tmp/run/checkpoint
//   saver.restore(sess2, train::latest_checkpoint("/tmp/run"));
//
//   train::Saver some(g.get_variables(GraphKeys::GLOBAL_VARIABLES, "hidden[123]"));
//   train::Saver renamed({{"old/kernel", kernel_var}});     // checkpoint name -> variable
//
// Like TF, constructing a Saver adds its ops to the graph ("save/Const", "save/SaveV2",
// "save/RestoreV2", "save/Assign_N", "save/restore_all"), so the SaverDef in a written .meta
// names real nodes that TF and flowgraph both run: fed a prefix at save/Const:0, fetching
// save/control_dependency:0 writes the checkpoint and running save/restore_all restores it,
// also in graphs TF wrote. save() and restore() do the same work directly through the Session's
// variable storage, restore all or nothing, save() also writing the .meta and `checkpoint` file.
//
// Thread-safety: save/restore/accessors lock an internal mutex, so one Saver may be shared
// between threads. A save that runs while another thread trains records each variable as it
// was at one instant, but not all variables at the same instant (as in TF).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "proto/saver.pb.h"
#include "train/checkpoint_state.h"  // latest_checkpoint
#include "ops/tensor_bundle.h"     // checkpoint_exists

namespace fg {
class Session;
}

namespace fg::train {

struct SaverOptions {
  int max_to_keep = 5;                          // 0 or less: keep every checkpoint
  float keep_checkpoint_every_n_hours = 10000;  // also keep one checkpoint per this period
  std::string name = "save";                    // name scope of the saver's ops
};

struct SaveOptions {
  std::optional<int64_t> global_step;  // appended to the prefix: "model.ckpt-100"
  bool write_meta_graph = true;        // prefix.meta with this saver's SaverDef
  bool write_state = true;             // update the directory's `checkpoint` file
};

class Saver {
 public:
  // Every variable of GraphKeys::GLOBAL_VARIABLES; InvalidArgument if there are none.
  explicit Saver(Graph& g, const SaverOptions& options = {});
  // These variables, named by their op names ("dnn/hidden1/kernel").
  explicit Saver(const std::vector<Variable>& var_list, const SaverOptions& options = {});
  // Checkpoint names chosen by the caller (TF's dict var_list).
  explicit Saver(const std::map<std::string, Variable>& var_map, const SaverOptions& options = {});
  // A Saver over a SaverDef whose ops already exist in `g` (import_meta_graph): which
  // checkpoint name feeds which variable is read from its restore op's Assign nodes.
  static Saver from_saver_def(Graph& g, const tensorflow::SaverDef& saver_def);

  Saver(Saver&&) noexcept;
  Saver& operator=(Saver&&) noexcept;
  ~Saver();

  // Writes the checkpoint; returns its prefix. Checkpoints beyond max_to_keep are deleted
  // (after the state file stops naming them). Uninitialized variables: FailedPrecondition.
  std::string save(Session& sess, const std::string& prefix, const SaveOptions& options = {});
  // Restores exactly this saver's variables, all or none: a name missing from the checkpoint
  // is NotFound, another dtype or shape InvalidArgument (naming variable and file), a
  // damaged file DataLoss. First rolls back what a killed save left in the directory.
  void restore(Session& sess, const std::string& prefix);

  const tensorflow::SaverDef& saver_def() const;
  // Checkpoint name -> variable, sorted by name.
  const std::map<std::string, Variable>& variables() const;
  // Prefixes written by this saver and not yet deleted, oldest first.
  std::vector<std::string> last_checkpoints() const;
  Graph& graph() const;

 private:
  struct Impl;
  Saver() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fg::train
