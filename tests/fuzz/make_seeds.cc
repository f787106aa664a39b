// Writes the fuzz harnesses' seed corpora: files flowgraph writes itself (a model's GraphDef and
// meta-graph, its checkpoint, tensors of every dtype, IDX files), plus the TF fixtures' files when
// their directory is given. scripts/fuzz.sh fuzzes from them; ctest replays them.
//
//   fuzz_make_seeds OUT_DIR [FIXTURES_DIR]     -> OUT_DIR/<harness>/<seed>
#include <cstdio>
#include <filesystem>

#include "graph/graph_io.h"
#include "graph/tensor_proto.h"
#include "layers/core.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/numerics.h"
#include "ops/state.h"
#include "proto/graph.pb.h"
#include "tests/fuzz/fuzz_util.h"
#include "train/meta_graph.h"
#include "train/optimizer.h"
#include "train/saver.h"
#include "ops/tensor_bundle.h"

namespace fs = std::filesystem;
using namespace fg;

namespace {

fs::path out_dir;

void seed(const std::string& harness, const std::string& name, std::string_view bytes) {
  fs::create_directories(out_dir / harness);
  fuzz::write_file((out_dir / harness / name).string(), bytes);
}

// A small model with most of what a real graph holds: placeholders, variables with
// initializers, a dense layer, a loss, gradients, an optimizer, numerics checks, array ops.
void build_model(Graph& g) {
  Output X = placeholder(g, f32, {-1, 4}, "X");
  Output y = placeholder(g, i32, {-1}, "y");
  Output training = placeholder_with_default(g, false, {}, "training");
  Output hidden = layers::dense(X, 3, {.activation = nn::relu, .name = "hidden"});
  Output logits = layers::dense(hidden, 2, {.name = "outputs"});
  Output loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, false, "loss");
  train::GradientDescentOptimizer(0.1).minimize(check_numerics(loss, "loss"));
  Output dims = constant(g, Tensor::from_vector<int32_t>({2, 3}), "dims");
  Output filled = fill(dims, constant(g, Tensor(1.5f)), "fill");
  reshape(filled, {3, -1}, "reshape");
  expand_dims(cast(filled, i64, "cast"), 0, "expand");
  shape(logits, i64, "shape");
  identity(training, "flag");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR [FIXTURES_DIR]\n");
    return 2;
  }
  out_dir = argv[1];
  const fs::path fixtures = argc > 2 ? fs::path(argv[2]) : fs::path();
  fuzz::init();

  // Tensors of every dtype, as raw content and as typed values (padded: TF's zeros).
  const std::vector<Tensor> tensors{
      Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}), Tensor(2.5f), Tensor(-1.0),
      Tensor::from_vector<double>({1e300, -0.0}), Tensor::from_vector<int32_t>({7, -8, 9}), Tensor(int64_t{1} << 40),
      Tensor::from_vector<int64_t>({3, 4}, {2, 1}), Tensor::from_vector<uint8_t>({0, 255, 128}), Tensor(true),
      Tensor::from_vector<bool>({true, false}), Tensor(f32, {0, 3})};
  int k = 0;
  for (const Tensor& t : tensors) seed("tensor_proto", str_cat("t", k++), tensor_to_proto(t).SerializeAsString());
  tensorflow::TensorProto zeros;
  zeros.set_dtype(tensorflow::DT_FLOAT);
  zeros.mutable_tensor_shape()->add_dim()->set_size(3);
  zeros.mutable_tensor_shape()->add_dim()->set_size(3);
  zeros.add_float_val(0);
  seed("tensor_proto", "padded", zeros.SerializeAsString());

  // A model's GraphDef (with and without shapes) and meta-graph, and its checkpoint.
  Graph g;
  build_model(g);
  train::Saver saver(g);
  seed("graph_def", "model", g.to_graph_def().SerializeAsString());
  seed("graph_def", "model_shapes", to_graph_def(g, {.add_shapes = true}).SerializeAsString());
  seed("meta_graph", "model", train::to_meta_graph_def(g).SerializeAsString());

  // IDX files: images [3, 2, 2] and labels [3].
  std::string idx3{0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
  for (int i = 0; i < 12; ++i) idx3.push_back(static_cast<char>(i * 20));
  seed("idx", "images", idx3);
  seed("idx", "labels", std::string{0, 0, 8, 1, 0, 0, 0, 3, 1, 7, 9});

  // The base checkpoint the checkpoint harnesses keep fixed, and its entries framed.
  const std::string prefix = fuzz::scratch_dir() + "/seeds/model";
  fuzz::write_base_checkpoint(prefix);
  const std::string index = fuzz::read_file(train::index_filename(prefix));
  const std::string data = fuzz::read_file(train::data_filename(prefix));
  seed("checkpoint_index", "base", index);
  seed("checkpoint_data", "base", data);
  {
    train::BundleReader r(prefix);
    tensorflow::BundleHeaderProto h;
    h.set_num_shards(1);
    h.set_endianness(tensorflow::BundleHeaderProto::LITTLE);
    h.mutable_version()->set_producer(1);
    std::string framed;
    fuzz::put_chunk(framed, h.SerializeAsString());
    const auto keys = r.keys();
    fuzz::put_u8(framed, static_cast<uint8_t>(keys.size()));
    for (const auto& name : keys) {
      fuzz::put_chunk(framed, name);
      fuzz::put_chunk(framed, r.entry(name).SerializeAsString());
      fuzz::put_u8(framed, 1);
    }
    framed += data;
    seed("checkpoint_entries", "base", framed);
  }

  // TF's own files, when the fixtures are at hand.
  if (!fixtures.empty() && fs::is_directory(fixtures)) {
    for (const auto& dir : fs::directory_iterator(fixtures)) {
      for (const auto& f : fs::directory_iterator(dir.path())) {
        const std::string name = dir.path().filename().string() + "_" + f.path().filename().string();
        const std::string ext = f.path().extension().string();
        if (ext == ".index") seed("checkpoint_index", name, fuzz::read_file(f.path().string()));
        if (ext == ".meta") {
          const std::string bytes = fuzz::read_file(f.path().string());
          seed("meta_graph", name, bytes);
          tensorflow::MetaGraphDef meta;
          if (meta.ParseFromString(bytes)) seed("graph_def", name, meta.graph_def().SerializeAsString());
        }
      }
    }
  }
  std::printf("seeds written to %s\n", out_dir.c_str());
  return 0;
}
