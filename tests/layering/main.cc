// Linked with the whole library of one layer and nothing but the layers below it
// (CMakeLists.txt, layering_link_*): the check is that it links, so that no layer takes a
// symbol from a layer above it. It is never run.
int main() { return 0; }
