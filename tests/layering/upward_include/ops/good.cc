// An ops-layer source including only its own layer and those below it: accepted.
#include "graph/op_registry.h"
#include "ops/array.h"
#include "proto/graph.pb.h"
