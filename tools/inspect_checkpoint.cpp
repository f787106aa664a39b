// Lists or prints the tensors of a TF V2 checkpoint, like TF's inspect_checkpoint, whose flag
// spellings it takes too.
//
//   inspect_checkpoint /tmp/model.ckpt                      # "name (DT_FLOAT) [784,300]" lines
//   inspect_checkpoint /tmp/model.ckpt --tensor dnn/hidden1/bias [--max N]
//   inspect_checkpoint --file_name=/tmp/model.ckpt --tensor_name=dnn/hidden1/bias
//   inspect_checkpoint --file_name=/tmp/model.ckpt --all_tensor_names      # names only
//   inspect_checkpoint --file_name=/tmp/model.ckpt --all_tensors --printoptions threshold=5
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "tools/tool_flags.h"
#include "tools/tool_util.h"
#include "train/checkpoint_listing.h"
#include "ops/tensor_bundle.h"

using namespace fg;

namespace {

int run(int argc, char** argv) {
  std::string file_name, tensor_name, printoptions;
  long long max_values = 20;
  bool all_tensors = false, all_tensor_names = false;
  tools::Flags flags("inspect_checkpoint",
                     "Lists a V2 checkpoint's tensors (\"name (DT_FLOAT) [784,300]\"), or prints one or all of\n"
                     "them with statistics. PREFIX is the checkpoint prefix (the .index file without it).",
                     "[PREFIX]");
  flags.add("file_name", &file_name, "checkpoint prefix (TF's spelling; or give PREFIX)");
  flags.add("tensor_name", &tensor_name, "print this tensor");
  flags.alias("tensor", "tensor_name");
  flags.add("all_tensors", &all_tensors, "print every tensor");
  flags.add("all_tensor_names", &all_tensor_names, "print every tensor's name");
  flags.add("max", &max_values, "values printed per tensor (default 20)");
  flags.add("printoptions", &printoptions, "numpy-style printing: threshold=N (values printed per tensor)");
  const auto positional = flags.parse(argc, argv);
  if (positional.size() > 1 || (positional.size() == 1 && !file_name.empty()))
    flags.fail("give the checkpoint once, as PREFIX or --file_name");
  if (positional.size() == 1) file_name = positional[0];
  if (file_name.empty())
    flags.fail("Usage: inspect_checkpoint --file_name=checkpoint_file_name [--tensor_name=tensor_to_print] "
               "[--all_tensors] [--all_tensor_names] [--printoptions]");
  for (const auto& option : tools::split_list(printoptions)) {
    const auto eq = option.find('=');
    const std::string key = option.substr(0, eq), value = eq == std::string::npos ? "" : option.substr(eq + 1);
    if (key != "threshold") flags.fail("--printoptions: only threshold=N is supported, not '" + option + "'");
    char* end = nullptr;
    max_values = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || max_values < 0) flags.fail("--printoptions: threshold takes a count, not '" + value + "'");
  }
  // Shell completion offers the file names, so accept those in place of the prefix.
  for (const std::string suffix : {".index", ".data-00000-of-00001"})
    if (tools::ends_with(file_name, suffix) && file_name.size() > suffix.size())
      file_name.resize(file_name.size() - suffix.size());

  if (all_tensors || all_tensor_names) {
    train::BundleReader reader(file_name);
    for (const std::string& name : reader.keys()) {
      if (name.empty() || reader.entry(name).slices_size() > 0) continue;  // the header; sliced parts
      if (all_tensors) std::cout << train::format_checkpoint_tensor(file_name, name, max_values);
      else std::cout << "tensor_name:  " << name << "\n";
    }
  } else if (!tensor_name.empty()) {
    std::cout << train::format_checkpoint_tensor(file_name, tensor_name, max_values);
  } else {
    std::cout << train::format_checkpoint_listing(file_name);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return fg::tools::main_reporting_errors("inspect_checkpoint", argc, argv, run); }
