// A graph-layer source that includes a header of the ops layer above it: the layering.includes
// check must reject this tree (test layering.includes_catch_an_upward_include).
#include "core/tensor.h"
#include "graph/graph.h"
#include "ops/array.h"
