#include "saved_model/saved_model.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "graph/graph_io.h"
#include "graph/tensor_proto.h"
#include "ops/checkpoint_files.h"
#include "train/meta_graph.h"
#include "train/saver.h"

namespace fg::saved_model {

namespace fs = std::filesystem;

namespace {

std::string variables_prefix(const std::string& dir) {
  return (fs::path(dir) / kVariablesDirectory / kVariablesFilename).string();
}

std::string tags_string(const google::protobuf::RepeatedPtrField<std::string>& tags) {
  std::string s = "{";
  for (const auto& t : tags) s += (s.size() > 1 ? ", " : "") + t;
  return s + "}";
}

// Moves `from` to `to` only if `to` does not exist (a rename over an empty directory would
// silently replace it).
void rename_no_replace(const std::string& from, const std::string& to) {
#ifdef RENAME_NOREPLACE
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return;
  if (errno == EEXIST) throw AlreadyExists(str_cat("SavedModel export directory ", to, " already exists"));
  if (errno != EINVAL && errno != ENOSYS) train::internal::throw_io(str_cat("cannot rename ", from, " to"), to, errno);
#endif
  FG_CHECK(!fs::exists(to), AlreadyExists, "SavedModel export directory ", to, " already exists");
  if (::rename(from.c_str(), to.c_str()) != 0) train::internal::throw_io(str_cat("cannot rename ", from, " to"), to, errno);
}

}  // namespace

tensorflow::TensorInfo build_tensor_info(const Output& tensor) {
  FG_CHECK(tensor, InvalidArgument, "build_tensor_info: an empty Output");
  tensorflow::TensorInfo info;
  info.set_name(tensor.name());
  info.set_dtype(dtype_to_proto(tensor.dtype()));
  *info.mutable_tensor_shape() = shape_to_proto(tensor.shape());
  return info;
}

tensorflow::SignatureDef predict_signature_def(const std::map<std::string, Output>& inputs,
                                               const std::map<std::string, Output>& outputs) {
  FG_CHECK(!inputs.empty(), InvalidArgument, "predict_signature_def: inputs cannot be empty");
  FG_CHECK(!outputs.empty(), InvalidArgument, "predict_signature_def: outputs cannot be empty");
  tensorflow::SignatureDef sig;
  for (const auto& [key, t] : inputs) (*sig.mutable_inputs())[key] = build_tensor_info(t);
  for (const auto& [key, t] : outputs) (*sig.mutable_outputs())[key] = build_tensor_info(t);
  sig.set_method_name(kPredictMethodName);
  return sig;
}

void save(Session& sess, const std::string& export_dir, const SaveOptions& options) {
  Graph& g = sess.graph();
  FG_CHECK(!fs::exists(export_dir), AlreadyExists, "SavedModel export directory ", export_dir, " already exists");
  for (const auto& [key, sig] : options.signatures)
    for (const auto* part : {&sig.inputs(), &sig.outputs()})
      for (const auto& [name, info] : *part) {
        FG_CHECK(info.encoding_case() == tensorflow::TensorInfo::kName, InvalidArgument, "SavedModel signature '",
                 key, "': '", name, "' is not a dense tensor");
        try {
          g.get_tensor_by_name(info.name());
        } catch (const Error&) {
          throw InvalidArgument(str_cat("SavedModel signature '", key, "': '", name, "' names tensor '", info.name(),
                                        "', which is not in the graph"));
        }
      }
  if (options.main_op) g.add_to_collection(kMainOpKey, options.main_op);

  const fs::path final_dir = fs::path(export_dir).lexically_normal();
  const fs::path parent = final_dir.has_parent_path() ? final_dir.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw FailedPrecondition(str_cat("cannot create directory ", parent.string(), ": ", ec.message()));
  const std::string tmp = final_dir.string() + ".saving-" + train::internal::new_temp_tag();
  fs::create_directories(fs::path(tmp) / kVariablesDirectory, ec);
  if (ec) throw FailedPrecondition(str_cat("cannot create directory ", tmp, ": ", ec.message()));
  try {
    tensorflow::MetaGraphDef meta;
    const auto vars = g.get_variables(GraphKeys::GLOBAL_VARIABLES);
    if (!vars.empty()) {
      // TF's builder gives its saver the name scope "save" too.
      train::Saver saver(vars, {.max_to_keep = 0});
      saver.save(sess, variables_prefix(tmp), {.write_meta_graph = false, .write_state = false});
      meta = train::to_meta_graph_def(g, {.saver_def = saver.saver_def(), .clear_devices = options.clear_devices});
    } else {
      meta = train::to_meta_graph_def(g, {.clear_devices = options.clear_devices});
    }
    for (const auto& tag : options.tags) meta.mutable_meta_info_def()->add_tags(tag);
    for (const auto& [key, sig] : options.signatures) (*meta.mutable_signature_def())[key] = sig;
    tensorflow::SavedModel sm;
    sm.set_saved_model_schema_version(1);
    *sm.add_meta_graphs() = std::move(meta);
    train::write_file_atomic((fs::path(tmp) / kSavedModelFilenamePb).string(), serialize_deterministic(sm));
    train::internal::fsync_dir(tmp);
    rename_no_replace(tmp, final_dir.string());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  train::internal::fsync_dir(parent.string());
}

void simple_save(Session& sess, const std::string& export_dir, const std::map<std::string, Output>& inputs,
                 const std::map<std::string, Output>& outputs) {
  save(sess, export_dir,
       {.tags = {kServe}, .signatures = {{kDefaultServingSignatureDefKey, predict_signature_def(inputs, outputs)}}});
}

bool maybe_saved_model_directory(const std::string& export_dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(export_dir) / kSavedModelFilenamePb, ec);
}

tensorflow::SavedModel read_saved_model(const std::string& export_dir) {
  const std::string path = (fs::path(export_dir) / kSavedModelFilenamePb).string();
  std::ifstream f(path, std::ios::binary);
  FG_CHECK(f, NotFound, "SavedModel file does not exist at: ", path);
  const std::string bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  tensorflow::SavedModel sm;
  FG_CHECK(!f.bad() && !bytes.empty() && sm.ParseFromString(bytes), DataLoss, "'", path,
           "' is not a valid SavedModel (truncated or corrupt, ", bytes.size(), " bytes)");
  return sm;
}

tensorflow::MetaGraphDef load(Session& sess, const std::set<std::string>& tags, const std::string& export_dir) {
  const tensorflow::SavedModel sm = read_saved_model(export_dir);
  const tensorflow::MetaGraphDef* found = nullptr;
  std::string available;
  for (const auto& meta : sm.meta_graphs()) {
    const auto& t = meta.meta_info_def().tags();
    if (std::set<std::string>(t.begin(), t.end()) == tags) {
      found = &meta;
      break;
    }
    available += (available.empty() ? "" : ", ") + tags_string(t);
  }
  if (!found) {
    std::string wanted = "{";
    for (const auto& t : tags) wanted += (wanted.size() > 1 ? ", " : "") + t;
    throw NotFound(str_cat("Could not find meta graph def matching supplied tags: ", wanted, "} in ", export_dir,
                           "; it holds the tag sets: ", available.empty() ? "none" : available));
  }
  Graph& g = sess.graph();
  std::optional<train::Saver> saver;
  try {
    saver = train::import_meta_graph(g, *found);
  } catch (const Error& e) {
    throw_error(e.code(), str_cat(e.what(), " (in SavedModel ", export_dir, ")"));
  }
  if (saver) saver->restore(sess, variables_prefix(export_dir));
  for (const std::string& key : {kMainOpKey, kLegacyInitOpKey}) {
    const auto ops = g.get_collection(key);
    if (ops.empty()) continue;
    sess.run(Targets(ops));
    break;  // TF runs the main op, or else the legacy init op
  }
  return *found;
}

std::unique_ptr<SavedModelBundle> load_saved_model(const std::string& export_dir, const std::set<std::string>& tags) {
  auto bundle = std::make_unique<SavedModelBundle>();
  bundle->session = std::make_unique<Session>(bundle->graph);
  bundle->meta_graph_def = load(*bundle->session, tags, export_dir);
  return bundle;
}

std::map<std::string, Tensor> run_signature(Session& sess, const tensorflow::SignatureDef& signature,
                                            const std::map<std::string, Tensor>& inputs,
                                            const std::vector<std::string>& output_keys) {
  const Graph& g = sess.graph();
  auto keys_of = [](const auto& map) {
    std::string s;
    for (const auto& [k, v] : map) s += (s.empty() ? "'" : ", '") + k + "'";
    return s;
  };
  FeedDict feeds;
  for (const auto& [key, value] : inputs) {
    auto it = signature.inputs().find(key);
    FG_CHECK(it != signature.inputs().end(), InvalidArgument, "run_signature: no input '", key,
             "' in the signature (its inputs: ", keys_of(signature.inputs()), ")");
    FG_CHECK(dtype_to_proto(value.dtype()) == it->second.dtype(), InvalidArgument, "run_signature: input '", key,
             "' must be ", proto_dtype_name(it->second.dtype()), ", got ", dtype_name(value.dtype()));
    feeds.emplace_back(g.get_tensor_by_name(it->second.name()), value);
  }
  for (const auto& [key, info] : signature.inputs())
    FG_CHECK(inputs.count(key), InvalidArgument, "run_signature: input '", key, "' (tensor ", info.name(),
             ") is not given");
  std::vector<std::string> keys = output_keys;
  if (keys.empty())
    for (const auto& [key, info] : signature.outputs()) keys.push_back(key);
  std::vector<Output> fetches;
  for (const auto& key : keys) {
    auto it = signature.outputs().find(key);
    FG_CHECK(it != signature.outputs().end(), InvalidArgument, "run_signature: no output '", key,
             "' in the signature (its outputs: ", keys_of(signature.outputs()), ")");
    fetches.push_back(g.get_tensor_by_name(it->second.name()));
  }
  const std::vector<Tensor> values = sess.run(feeds, fetches);
  std::map<std::string, Tensor> result;
  for (size_t i = 0; i < keys.size(); ++i) result.emplace(keys[i], values[i]);
  return result;
}

std::map<std::string, Tensor> run_signature(SavedModelBundle& bundle, const std::string& signature_key,
                                            const std::map<std::string, Tensor>& inputs,
                                            const std::vector<std::string>& output_keys) {
  const auto& sigs = bundle.meta_graph_def.signature_def();
  auto it = sigs.find(signature_key);
  if (it == sigs.end()) {
    std::string have;
    for (const auto& [k, v] : sigs) have += (have.empty() ? "'" : ", '") + k + "'";
    throw NotFound(str_cat("the SavedModel has no signature '", signature_key, "' (it has: ", have.empty() ? "none" : have, ")"));
  }
  return run_signature(*bundle.session, it->second, inputs, output_keys);
}

}  // namespace fg::saved_model
