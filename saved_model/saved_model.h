// TensorFlow 1.x's SavedModel, the export TF Serving and TF's C++ LoadSavedModel read:
// <export_dir>/saved_model.pb (a SavedModel holding one MetaGraphDef with its tags and
// signatures) and <export_dir>/variables/variables.{index,data-00000-of-00001} (a V2 checkpoint).
//
//   saved_model::save(sess, "/tmp/export/1",
//                     {.tags = {saved_model::kServe},
//                      .signatures = {{saved_model::kDefaultServingSignatureDefKey,
//                                      saved_model::predict_signature_def({{"X", X}}, {{"logits", logits}})}}});
//   // in another program:
//   auto bundle = saved_model::load_saved_model("/tmp/export/1", {saved_model::kServe});
//   auto out = saved_model::run_signature(*bundle, saved_model::kDefaultServingSignatureDefKey, {{"X", x}});
//   Tensor logits = out.at("logits");
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "proto/meta_graph.pb.h"
#include "proto/saved_model.pb.h"
#include "runtime/session.h"

namespace fg::saved_model {

// tf.saved_model.tag_constants
inline const std::string kServe = "serve";
inline const std::string kTrain = "train";
// tf.saved_model.signature_constants
inline const std::string kDefaultServingSignatureDefKey = "serving_default";
inline const std::string kPredictMethodName = "tensorflow/serving/predict";
inline const std::string kClassifyMethodName = "tensorflow/serving/classify";
inline const std::string kRegressMethodName = "tensorflow/serving/regress";
// tf.saved_model.constants
inline const std::string kSavedModelFilenamePb = "saved_model.pb";
inline const std::string kVariablesDirectory = "variables";
inline const std::string kVariablesFilename = "variables";
inline const std::string kMainOpKey = "saved_model_main_op";
inline const std::string kLegacyInitOpKey = "legacy_init_op";

// The tensor's name ("X:0"), dtype and static shape (tf.saved_model.build_tensor_info).
tensorflow::TensorInfo build_tensor_info(const Output& tensor);
// A signature of method kPredictMethodName (tf.saved_model.predict_signature_def).
tensorflow::SignatureDef predict_signature_def(const std::map<std::string, Output>& inputs,
                                               const std::map<std::string, Output>& outputs);

struct SaveOptions {
  std::vector<std::string> tags;
  std::map<std::string, tensorflow::SignatureDef> signatures;
  // Run by the loader after the variables are restored (TF's main_op).
  Operation* main_op = nullptr;
  bool clear_devices = false;
};

// Writes the export of `sess` (its graph, collections, the given tags and signatures, and every
// global variable's value). The directory must not exist (AlreadyExists, as in TF's builder), and
// appears whole or not at all: it is written beside its final name and renamed into place.
// Signatures must name tensors of the graph (InvalidArgument naming the key otherwise). Adds a
// Saver's ops to the graph, as TF's builder does.
void save(Session& sess, const std::string& export_dir, const SaveOptions& options);
// tf.saved_model.simple_save: tag "serve", one predict signature under "serving_default".
void simple_save(Session& sess, const std::string& export_dir, const std::map<std::string, Output>& inputs,
                 const std::map<std::string, Output>& outputs);

// True when the directory holds a saved_model.pb (tf.saved_model.loader.maybe_saved_model_directory).
bool maybe_saved_model_directory(const std::string& export_dir);
// The SavedModel proto of saved_model.pb: NotFound without one, DataLoss when it does not parse.
tensorflow::SavedModel read_saved_model(const std::string& export_dir);

// tf.saved_model.loader.load: imports the meta graph whose tags are exactly `tags` into
// sess.graph() (names as saved: the graph should hold nothing of the same names), restores its
// variables from variables/variables, runs its main op, and returns the MetaGraphDef. No meta
// graph with those tags is NotFound listing the tag sets there are.
tensorflow::MetaGraphDef load(Session& sess, const std::set<std::string>& tags, const std::string& export_dir);

// A loaded model with the graph and session it lives in (TF's C++ SavedModelBundle).
struct SavedModelBundle {
  Graph graph;
  std::unique_ptr<Session> session;
  tensorflow::MetaGraphDef meta_graph_def;
};
std::unique_ptr<SavedModelBundle> load_saved_model(const std::string& export_dir, const std::set<std::string>& tags);

// Runs a signature by its keys: `inputs` feed the signature's input tensors, and the result maps
// each requested output key (all of them when `output_keys` is empty) to its value. An unknown
// key, a missing input or a fed value of another dtype is InvalidArgument naming the key.
std::map<std::string, Tensor> run_signature(Session& sess, const tensorflow::SignatureDef& signature,
                                            const std::map<std::string, Tensor>& inputs,
                                            const std::vector<std::string>& output_keys = {});
std::map<std::string, Tensor> run_signature(SavedModelBundle& bundle, const std::string& signature_key,
                                            const std::map<std::string, Tensor>& inputs,
                                            const std::vector<std::string>& output_keys = {});

}  // namespace fg::saved_model
